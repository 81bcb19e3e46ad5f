"""Sending documents by SFTP: uploaded to a partner's server, or placed into a hosted account's outbox.

Either way the partner never sees a partial file: the bytes are written under
a temporary name and renamed to the final name once complete.

:class:`SftpSender` (``channels.sftp.push``) uploads ``<temp_prefix><name><temp_suffix>``
into the partner's folder, checks its size, then renames it: with the OpenSSH
``posix-rename@openssh.com`` extension where the server has it, else a
plain SFTP rename. :class:`HostedOutbox` writes into the account's hidden
``.outgoing/`` folder, fsyncs, and links the file into ``outbox/``.

The file name is the route's ``filename`` (an attribute or a mapping key),
else ``edigw-<first 16 hex digits of the SHA-256>.<edi|xml>``, so that sending
the same document again finds it already there. An existing file of that
name with the same bytes counts as delivered (a retry after a crash between
the rename and recording the delivery); with different bytes the send fails
terminally, unless ``overwrite`` is set: a partner's file that has not been
collected is never replaced silently.

Errors: the server unreachable, the connection dropped, a timeout, a generic
SFTP failure (disk full) -> TransientError; no such folder, permission
denied, a host key mismatch, a refused login, a name conflict -> TerminalError.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import paramiko
import structlog

from adapters.base import Outbound
from adapters.sftp.client import SftpConnection, classify, connect
from adapters.sftp.config import PushConfig
from adapters.sftp.hosted import OUTBOX, OUTGOING
from gateway.archive import fsync_dir
from gateway.errors import TerminalError, TransientError

log = structlog.get_logger("adapters.sftp.outbound")

CHUNK = 32 * 1024


def file_name(document: bytes, route: object) -> str:
    """The name the document gets at the partner: the route's ``filename``, else one from its hash."""
    name = route.get("filename") if isinstance(route, Mapping) else getattr(route, "filename", None)
    if name is None:
        kind = "xml" if document.lstrip()[:1] == b"<" else "edi"
        return f"edigw-{hashlib.sha256(document).hexdigest()[:16]}.{kind}"
    name = str(name)
    if not name or "/" in name or "\\" in name or "\0" in name or name.startswith(".") or len(name) > 255:
        raise TerminalError(f"not a usable file name for SFTP: {name!r}")
    return name


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder.rstrip('/')}/{name}"


class SftpSender(Outbound):
    """Upload each document to the partner's server (a new connection per send)."""

    def __init__(self, config: PushConfig, *, connector: Callable[[PushConfig], SftpConnection] = connect) -> None:
        self.config = config
        self._connect = connector

    def send(self, document: bytes, route: object) -> None:
        name = file_name(document, route)
        config = self.config
        final = _join(config.folder, name)
        temp = _join(config.folder, f"{config.temp_prefix}{name}{config.temp_suffix}")
        where = f"sftp://{config.address}/{final.lstrip('/')}"
        with self._connect(config) as conn:
            try:
                if self._already_there(conn, final, document, where):
                    return
                self._upload(conn.sftp, temp, document)
                self._rename(conn.sftp, temp, final)
            except Exception as exc:
                self._clean_up(conn, temp)
                raised = classify(exc, f"sending to {where}")
                if raised is exc:
                    raise
                raise raised from None
        log.info("document sent by SFTP", to=where, size=len(document))

    def _already_there(self, conn: SftpConnection, final: str, document: bytes, where: str) -> bool:
        try:
            existing = conn.sftp.stat(final)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        if existing.st_size == len(document):
            with conn.sftp.open(final, "rb") as stream:
                stream.prefetch(len(document))
                if stream.read() == document:
                    log.info("document already at the partner: counted as sent", to=where)
                    return True
        if not self.config.overwrite:
            raise TerminalError(f"{where}: a different file of that name is already there "
                                f"(not collected yet?); not replaced")
        return False

    @staticmethod
    def _upload(sftp: paramiko.SFTPClient, temp: str, document: bytes) -> None:
        with sftp.open(temp, "wb") as stream:
            stream.set_pipelined(True)
            for start in range(0, len(document), CHUNK):
                stream.write(document[start:start + CHUNK])
        size = sftp.stat(temp).st_size  # the close was confirmed; is all of it there?
        if size != len(document):
            raise TransientError(f"upload of {temp} incomplete: {size} of {len(document)} bytes on the server")

    def _rename(self, sftp: paramiko.SFTPClient, temp: str, final: str) -> None:
        try:
            sftp.posix_rename(temp, final)  # atomic, and replaces (overwrite was checked above)
            return
        except OSError as exc:
            if exc.errno is not None or "unsupported" not in str(exc).lower():
                raise
        if self.config.overwrite:  # plain SFTP rename refuses an existing target
            try:
                sftp.remove(final)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        sftp.rename(temp, final)

    @staticmethod
    def _clean_up(conn: SftpConnection, temp: str) -> None:
        if not conn.alive:
            return
        try:
            conn.sftp.remove(temp)
        except Exception:  # noqa: BLE001 - best effort: the partner ignores temporary names anyway
            pass


class HostedOutbox(Outbound):
    """Place each document into a hosted account's ``outbox/`` (all or nothing)."""

    def __init__(self, home: Path, *, overwrite: bool = False) -> None:
        self.home = Path(home)
        self.overwrite = overwrite

    def send(self, document: bytes, route: object) -> None:
        name = file_name(document, route)
        outbox, staging = self.home / OUTBOX, self.home / OUTGOING
        final = outbox / name
        try:
            staging.mkdir(parents=True, exist_ok=True)
            if not outbox.is_dir() or outbox.is_symlink():
                raise TerminalError(f"hosted SFTP outbox {outbox} is missing (is the account configured?)")
            temp = staging / f"{secrets.token_hex(8)}.{name}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(document)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(temp, final)  # never replaces: fails if the name is taken
                except FileExistsError:
                    if final.read_bytes() == document:
                        log.info("document already in the outbox: counted as sent", file=str(final))
                        return
                    if not self.overwrite:
                        raise TerminalError(f"the outbox already holds a different {name} (not collected yet?); "
                                            f"not replaced") from None
                    os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)
            fsync_dir(outbox)
        except OSError as exc:
            raise TransientError(f"cannot place {name} into {outbox}: {exc}") from None
        log.info("document placed in the SFTP outbox", file=str(final), size=len(document))

