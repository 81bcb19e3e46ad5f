"""Watch a folder: each stable file becomes a document; then it is moved away.

A file is taken only when its size and modification time have not changed
for ``min_age`` seconds, so a file still being copied in is left alone. After
the pipeline has handled it, it moves to ``processed/``, or to ``failed/``
when nothing of it could be published (every message a dead letter) or
handling it failed with an unexpected error; so a restart never takes it in
twice, and a file that cannot be handled is never retried in a loop. A file
only waits in the inbox for a retry when the failure was transient (the
broker is down). A name already taken in ``processed/`` or ``failed/`` gets a
time stamp, so nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict

from adapters.base import Deliver, Inbound
from gateway.errors import TransientError
from gateway.inbound.document import Document

log = structlog.get_logger("adapters.folder")


def sha256_ref(path: Path) -> str:
    """A content reference to the raw document (``sha256:<hex>``), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


class FolderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    poll_interval: float = 0.5
    min_age: float = 1.0
    partner: str | None = None  # when the folder belongs to one partner


class FolderInbound(Inbound):
    def __init__(self, config: FolderConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[Path, tuple[int, float, float]] = {}

    def start(self, deliver: Deliver) -> None:
        for sub in ("", "processed", "failed"):
            (self.config.path / sub).mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, args=(deliver,), name="folder-inbound", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def poll_once(self, deliver: Deliver) -> int:
        """Take in every stable file once; how many were taken."""
        now = time.monotonic()
        taken = 0
        listing = sorted(p for p in self.config.path.iterdir() if p.is_file() and not p.name.startswith("."))
        for gone in set(self._seen) - set(listing):  # deleted or moved away before it settled
            del self._seen[gone]
        for path in listing:
            stat = path.stat()
            seen = self._seen.get(path)
            if seen is None or seen[:2] != (stat.st_size, stat.st_mtime):
                self._seen[path] = (stat.st_size, stat.st_mtime, now)
                continue
            if now - seen[2] < self.config.min_age:
                continue
            self._take(path, deliver)
            self._seen.pop(path, None)
            taken += 1
        return taken

    def _take(self, path: Path, deliver: Deliver) -> None:
        received = datetime.now(timezone.utc)
        raw_ref = sha256_ref(path)
        with path.open("rb") as stream:
            doc = Document(stream, received_at=received, transport="file", partner_id=self.config.partner,
                           raw_ref=raw_ref)
            try:
                outcome = deliver(doc)
            except TransientError as exc:
                log.warning("document left in the inbox for a retry", file=path.name, error=str(exc))
                return
            except Exception as exc:  # anything else will fail again: set the file aside, keep watching
                log.exception("document could not be handled", file=path.name, raw_ref=raw_ref,
                              error=f"{type(exc).__name__}: {exc}")
                outcome = None
        failed = outcome is None or (outcome.dead_letters and not outcome.published)
        target = self._free_name(self.config.path / ("failed" if failed else "processed"), path.name, received)
        path.replace(target)
        log.info("document taken in", file=path.name, moved_to=f"{target.parent.name}/{target.name}",
                 raw_ref=raw_ref)

    @staticmethod
    def _free_name(folder: Path, name: str, received: datetime) -> Path:
        target = folder / name
        if target.exists():
            target = folder / f"{received:%Y%m%dT%H%M%S%f}-{name}"
        return target

    def _loop(self, deliver: Deliver) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(deliver)
            except Exception:  # keep watching; the error is logged with its traceback
                log.exception("folder poll failed", path=str(self.config.path))
            self._stop.wait(self.config.poll_interval)
