"""The composition root: the one place that builds concrete classes.

Everything else receives what it needs as arguments; nothing in the package
does I/O at import time. Later channels (HTTP, SFTP, AS2), the state store and
the Kafka sink are wired here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from gateway.errors import GatewayError
from gateway.model import Interchange, Message
from gateway.syntax import read

log = structlog.get_logger("gateway")


@dataclass
class Gateway:
    """What ``edigw run`` starts. For now: the syntax layer over a folder of documents."""

    samples: Path

    def run(self) -> int:
        files = sorted(p for p in self.samples.rglob("*") if p.is_file() and p.suffix in {".edi", ".x12", ".xml"})
        log.info("gateway starting", samples=str(self.samples), documents=len(files))
        failed = 0
        for path in files:
            failed += not self.read_one(path)
        log.info("gateway done", documents=len(files), with_errors=failed)
        return 0

    def read_one(self, path: Path) -> bool:
        """Read one document message by message, logging a line per message and interchange."""
        try:
            with path.open("rb") as stream:
                ok = True
                for item in read(stream):
                    if isinstance(item, Message):
                        log.info("message read", file=path.name, type=item.type, ref=item.ref,
                                 version=item.version, segments=len(item.segments))
                    elif isinstance(item, Interchange):
                        issues = item.all_issues()
                        ok = ok and item.ok
                        log.info("interchange read", file=path.name, syntax=item.syntax, sender=item.sender,
                                 recipient=item.recipient, control_ref=item.control_ref,
                                 messages=item.message_count, issues=[str(i) for i in issues])
                return ok
        except GatewayError as exc:
            log.error("document rejected", file=path.name, error=str(exc))
            return False


def build(samples: Path) -> Gateway:
    return Gateway(samples=samples)
