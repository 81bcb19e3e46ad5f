"""Polling a partner's SFTP server: each stable file in its folder becomes a document.

A file is taken when it is *stable*:

* by default, its size and modification time were the same on polls at
  least ``min_age`` seconds apart (so a file still being uploaded is left
  alone; the first sight of a file never takes it);
* with ``done_suffix`` (say ``.done``), when ``<name>.done`` exists beside it,
  the partner's signal that the file is complete; the marker is deleted
  with the file.

Taking a file: it is downloaded (into memory, spilling to a temporary file
when large) while its SHA-256 is computed, checked not to have changed
meanwhile, and handed to ``deliver`` with the idempotency key
``sftp:<user>@<host>:<port>:<absolute path>:<size>:<mtime>:<sha256>``. Only
after ``deliver`` returned (the document is durably taken in) is the file
moved to ``processed`` (a name already there gets a time stamp in front) or
deleted, as configured. A restart between the two finds the file again and
delivers it with the same key, which intake recognises: the file is taken
in once, then moved.

``deliver`` raising a TransientError leaves the file where it is, for the
next poll. Any other error means it cannot be taken in as it is: the file is
moved to ``failed`` when configured, else left in place and not tried again
until it changes (or the gateway restarts).

Connection problems are transient: the poller reconnects on its next poll,
waiting longer after each failure (doubling, up to ``max_backoff``). A host
key that is not the pinned one is logged as an error on every attempt and
nothing is read from that server.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

import paramiko
import structlog

from adapters.base import Deliver, Inbound
from adapters.sftp.client import SftpConnection, classify, connect
from adapters.sftp.config import PollConfig
from gateway.errors import TerminalError, TransientError
from gateway.inbound.document import Document

log = structlog.get_logger("adapters.sftp.poll")

SPOOL_IN_MEMORY = 8 * 1024 * 1024
CHUNK = 256 * 1024

Signature = tuple[int, int]  # (size, mtime) as the listing shows them


class SftpPoller(Inbound):
    def __init__(self, config: PollConfig, *, partner_id: str | None,
                 connector: Callable[[PollConfig], SftpConnection] = connect,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.partner_id = partner_id
        self._connect = connector
        self._clock = clock
        self._conn: SftpConnection | None = None
        self._inbox: str | None = None  # the inbox's absolute path on the server
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> size, mtime, since when
        self._taken: dict[str, Signature] = {}  # taken in, not yet moved away (the move failed)
        self._set_aside: dict[str, Signature] = {}  # refused and left in place: not tried again unchanged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def start(self, deliver: Deliver) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(deliver,), name=f"sftp-poll-{self.config.host}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._drop()

    def _loop(self, deliver: Deliver) -> None:
        delay = self.config.interval
        while not self._stop.is_set():
            try:
                self.poll_once(deliver)
                delay = self.config.interval
            except TransientError as exc:
                delay = min(max(delay * 2, self.config.interval), self.config.max_backoff)
                log.warning("SFTP poll failed, trying again", server=self.config.address, error=str(exc),
                            retry_in=delay)
            except TerminalError as exc:
                delay = self.config.max_backoff
                log.error("SFTP poll refused; fix the configuration", server=self.config.address, error=str(exc),
                          retry_in=delay)
            except Exception:  # a bug: keep polling; the traceback is logged
                delay = self.config.max_backoff
                log.exception("SFTP poll failed", server=self.config.address)
            self._stop.wait(delay)

    # -- polling -----------------------------------------------------------------------------------
    def poll_once(self, deliver: Deliver) -> int:
        """Take in every stable file once; how many were taken. Connection problems raise TransientError."""
        conn = self._connection()
        try:
            return self._poll(conn, deliver)
        except (TransientError, TerminalError):
            if not conn.alive:
                self._drop()
            raise
        except Exception as exc:
            self._drop()
            raise classify(exc, f"polling sftp://{self.config.address}/{self.config.inbox}") from None

    def _connection(self) -> SftpConnection:
        if self._conn is not None and self._conn.alive:
            return self._conn
        self._drop()
        conn = self._connect(self.config)
        try:
            sftp = conn.sftp
            self._inbox = sftp.normalize(self.config.inbox)
            folders = [self.config.processed_folder] if self.config.after == "move" else []
            for folder in folders + ([self.config.failed] if self.config.failed else []):
                try:
                    sftp.stat(folder)
                except OSError:
                    try:
                        sftp.mkdir(folder)
                    except OSError as exc:
                        log.warning("SFTP folder missing and not creatable", server=self.config.address,
                                    folder=folder, error=str(exc))
        except BaseException as exc:
            conn.close()
            if isinstance(exc, Exception):
                raise classify(exc, f"sftp://{self.config.address}/{self.config.inbox}") from None
            raise
        self._conn = conn
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
            self._conn = None

    def _poll(self, conn: SftpConnection, deliver: Deliver) -> int:
        config = self.config
        files = {a.filename: a for a in conn.sftp.listdir_attr(self._inbox)
                 if a.st_mode is not None and stat.S_ISREG(a.st_mode) and not a.filename.startswith(".")}
        suffix = config.done_suffix
        markers = {n for n in files if n.endswith(suffix)} if suffix else set()
        candidates = {n: a for n, a in files.items() if n not in markers and fnmatch.fnmatchcase(n, config.pattern)}
        for remembered in (self._seen, self._taken, self._set_aside):
            for gone in set(remembered) - set(candidates):
                del remembered[gone]
        now = self._clock()
        taken = 0
        for name, attrs in sorted(candidates.items()):
            if self._stop.is_set():
                break
            sig = (attrs.st_size or 0, attrs.st_mtime or 0)
            if self._set_aside.get(name) == sig:
                continue
            marker = f"{name}{suffix}" if suffix else None
            if self._taken.get(name) == sig:  # taken in before; only moving it away failed
                self._finish(conn, name, marker)
                continue
            if marker is not None:
                if marker not in markers:
                    continue
            else:
                seen = self._seen.get(name)
                if seen is None or seen[:2] != sig:
                    self._seen[name] = (*sig, now)
                    continue
                if now - seen[2] < config.min_age:
                    continue
            outcome = self._take(conn, name, sig, marker, deliver)
            if outcome is None:  # deliver could not take it in now: leave the rest for later too
                break
            taken += outcome
        return taken

    def _take(self, conn: SftpConnection, name: str, sig: Signature, marker: str | None,
              deliver: Deliver) -> int | None:
        path = self._path(name)
        try:
            spool, digest, size = _download(conn.sftp, path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # gone between the listing and now
                self._seen.pop(name, None)
                return 0
            raise
        with spool:
            now = conn.sftp.stat(path)
            if size != sig[0] or (now.st_size, now.st_mtime) != sig:
                log.info("SFTP file changed while being read: taken later", server=self.config.address, file=path)
                self._seen.pop(name, None)
                return 0
            key = f"sftp:{self.config.address}:{path}:{sig[0]}:{sig[1]}:{digest}"
            doc = Document(spool, received_at=datetime.now(timezone.utc), transport="sftp",
                           partner_id=self.partner_id, raw_ref=f"sha256:{digest}", idempotency_key=key)
            try:
                deliver(doc)
            except TransientError as exc:
                log.warning("SFTP file not taken in: left for a retry", server=self.config.address, file=path,
                            error=str(exc))
                return None
            except Exception as exc:  # will fail again as it is: set aside, keep polling
                if isinstance(exc, TerminalError):
                    log.error("SFTP file refused", server=self.config.address, file=path, error=str(exc))
                else:
                    log.exception("SFTP file could not be taken in", server=self.config.address, file=path,
                                  error=f"{type(exc).__name__}: {exc}")
                self._refuse(conn, name, sig, marker)
                return 0
        log.info("SFTP file taken in", server=self.config.address, file=path, size=size, raw_ref=f"sha256:{digest}")
        self._seen.pop(name, None)
        self._taken[name] = sig
        self._finish(conn, name, marker)
        return 1

    def _finish(self, conn: SftpConnection, name: str, marker: str | None) -> None:
        """Move the taken file to ``processed`` or delete it, and delete its marker."""
        path = self._path(name)
        try:
            if self.config.after == "delete":
                conn.sftp.remove(path)
                moved_to = None
            else:
                moved_to = self._move(conn, name, self.config.processed_folder)
            if marker is not None:
                _remove_quietly(conn.sftp, self._path(marker))
        except (OSError, paramiko.SSHException, EOFError) as exc:
            log.warning("SFTP file taken in but not moved away: tried again on the next poll",
                        server=self.config.address, file=path, error=str(exc) or type(exc).__name__)
            if not conn.alive:
                raise
            return
        self._taken.pop(name, None)
        log.info("SFTP file moved away", server=self.config.address, file=path, to=moved_to or "(deleted)")

    def _refuse(self, conn: SftpConnection, name: str, sig: Signature, marker: str | None) -> None:
        if self.config.failed:
            try:
                moved_to = self._move(conn, name, self.config.failed)
                if marker is not None:
                    _remove_quietly(conn.sftp, self._path(marker))
                log.info("SFTP file moved to failed", server=self.config.address, to=moved_to)
                return
            except OSError as exc:
                log.warning("SFTP file not moved to failed", server=self.config.address, file=name, error=str(exc))
        self._set_aside[name] = sig  # left in place, not tried again until it changes or a restart

    def _move(self, conn: SftpConnection, name: str, folder: str) -> str:
        target = _join(folder, name)
        if _exists(conn.sftp, target):
            target = _join(folder, f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{name}")
        conn.sftp.rename(self._path(name), target)
        return target

    def _path(self, name: str) -> str:
        return _join(self._inbox or self.config.inbox, name)


def _download(sftp: paramiko.SFTPClient, path: str):
    """The file's bytes in a spooled temporary file (rewound), their SHA-256 and their count."""
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    size = 0
    try:
        with sftp.open(path, "rb") as remote:
            remote.prefetch()
            while block := remote.read(CHUNK):
                digest.update(block)
                spool.write(block)
                size += len(block)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, digest.hexdigest(), size


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
        return True
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder.rstrip('/')}/{name}"
