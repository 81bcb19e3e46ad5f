"""The hosted SFTP server: partners log in and drop documents into ``inbox/``.

Each partner account sees only its own home, a virtual tree of two folders::

    /inbox/    write-only: every file uploaded here is a document
    /outbox/   documents the gateway placed for the partner: list, download, delete

On disk a home is ``<homes>/<username>/`` with ``inbox/``, ``outbox/`` and two
hidden staging folders the partner never sees: ``.incoming/`` (uploads being
written) and ``.outgoing/`` (documents being placed into the outbox).

Taking a document in
    An upload is written to a staging file, never under its own name. When
    the client closes the file, the staging file is handed to ``deliver``;
    the close is answered OK only after ``deliver`` returned (the document
    is archived and its receipt committed), and with an error when it
    raised (the partner still has the file and sends it again; nothing was
    kept). An upload cut off before its close (the connection dropped, the
    client was killed) is deleted and never taken in. Once taken in the
    file is gone from the inbox: ``ls inbox`` shows nothing of it, though a
    ``stat`` in the same session still answers with its size, for clients
    that check an upload that way (paramiko's ``put`` does).

    Clients that upload under a temporary name and then rename (WinSCP's
    ``.filepart``, or ``.part``, ``.tmp`` or a leading dot; see
    ``partial_suffixes``) are served too: such a file is kept at its close,
    and taken in when renamed to its final name; the answer to the rename is
    then the one that says whether it was taken in. A partial never renamed
    is dropped at the end of the session.

Confinement
    Every path is resolved against the virtual root: ``..`` above the root,
    anything other than the two folders and the files directly inside them,
    symbolic links (never followed, never created), sub-folders and writing
    into ``outbox/`` or reading from ``inbox/`` are refused.

The host key is generated on first start into ``host_key`` and reused after;
its fingerprint is logged at start, for partners to pin.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import paramiko
import structlog
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_SUCCEEDED
from paramiko.message import Message
from paramiko.sftp import (CMD_CLOSE, CMD_EXTENDED, CMD_RENAME, SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED,
                           SFTP_PERMISSION_DENIED)
from paramiko.sftp_attr import SFTPAttributes
from paramiko.sftp_handle import SFTPHandle
from paramiko.sftp_server import SFTPServer
from paramiko.sftp_si import SFTPServerInterface

from adapters.base import Deliver, Inbound
from adapters.sftp.config import USERNAME, HostedAccount, SftpServerConfig
from adapters.sftp.keys import DUMMY_HASH, load_or_create_host_key, parse_public_key, verify_password
from gateway.errors import ConfigError, TerminalError, TransientError
from gateway.inbound.document import Document

log = structlog.get_logger("adapters.sftp.hosted")

INBOX, OUTBOX, INCOMING, OUTGOING = "inbox", "outbox", ".incoming", ".outgoing"
_WRITE = os.O_WRONLY | os.O_RDWR
_MAX_NAME = 255


# -- accounts and their homes ---------------------------------------------------------------

@dataclass(frozen=True)
class Account:
    partner_id: str
    username: str
    keys: tuple[bytes, ...] = ()  # public key blobs
    password_hashes: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, partner_id: str, account: HostedAccount) -> Account:
        username = account.username or partner_id
        if not USERNAME.match(username):
            raise ConfigError(f"partner {partner_id!r}: {username!r} cannot be an SFTP user name "
                              f"(letters, digits, '.', '_', '-'); set channels.sftp.account.username")
        return cls(partner_id=partner_id, username=username,
                   keys=tuple(parse_public_key(line).asbytes() for line in account.authorized_keys),
                   password_hashes=tuple(account.password_hashes))

    @property
    def methods(self) -> str:
        return ",".join(m for m, on in (("publickey", self.keys), ("password", self.password_hashes)) if on)


def account_home(homes: Path, username: str) -> Path:
    return homes / username


def prepare_home(home: Path) -> None:
    """Create a home's folders (refusing symbolic links among them) and drop uploads a crash cut off."""
    for name in (INBOX, OUTBOX, INCOMING, OUTGOING):
        folder = home / name
        folder.mkdir(parents=True, exist_ok=True)
        if folder.is_symlink() or not folder.is_dir():
            raise ConfigError(f"SFTP home {home}: {name} must be a folder, not a link")
    for leftover in (home / INCOMING).iterdir():  # never answered OK, so the partner sends them again
        leftover.unlink(missing_ok=True)


# -- the server -------------------------------------------------------------------------------

class HostedSftpServer(Inbound):
    def __init__(self, config: SftpServerConfig, accounts: Iterable[Account]) -> None:
        self.config = config
        self.accounts: dict[str, Account] = {}
        for account in accounts:
            if account.username in self.accounts:
                raise ConfigError(f"SFTP user name {account.username!r} is used by partners "
                                  f"{self.accounts[account.username].partner_id!r} and {account.partner_id!r}")
            self.accounts[account.username] = account
        self.homes = Path(config.homes)
        self.host_key: paramiko.PKey | None = None
        self._deliver: Deliver | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: set[paramiko.Transport] = set()
        self._lock = threading.Condition()
        self._in_flight = 0
        self._stopping = False
        self.port: int | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self, deliver: Deliver) -> None:
        key, created = load_or_create_host_key(Path(self.config.host_key), self.config.host_key_type)
        self.host_key = key
        for account in self.accounts.values():
            prepare_home(account_home(self.homes, account.username))
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        listener = socket.create_server((self.config.host, self.config.port), family=family)
        listener.settimeout(0.5)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._deliver = deliver
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, name="sftp-accept", daemon=True)
        self._thread.start()
        log.info("SFTP server listening", host=self.config.host, port=self.port, host_key=key.fingerprint,
                 host_key_type=key.get_name(), host_key_created=created, accounts=sorted(self.accounts))

    def stop(self) -> None:
        """Refuse new uploads, wait (up to ``stop_timeout``) for those being taken in, then disconnect all."""
        with self._lock:
            self._stopping = True
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread at once
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=self.config.stop_timeout)
            transports, self._transports = self._transports, set()
        for transport in transports:
            transport.close()
        log.info("SFTP server stopped", port=self.port)

    def outbox(self, partner_id: str):
        """The :class:`~adapters.sftp.outbound.HostedOutbox` of the partner's account."""
        from adapters.sftp.outbound import HostedOutbox

        for account in self.accounts.values():
            if account.partner_id == partner_id:
                return HostedOutbox(account_home(self.homes, account.username))
        raise KeyError(f"no SFTP account for partner {partner_id!r}")

    # -- connections --------------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._transports = {t for t in self._transports if t.is_active()}
                connected = len(self._transports)
            if connected >= self.config.max_connections:
                log.warning("SFTP connection refused: too many connections", peer=f"{peer[0]}:{peer[1]}",
                            max_connections=self.config.max_connections)
                sock.close()
                continue
            threading.Thread(target=self._serve, args=(sock, peer), name="sftp-connection", daemon=True).start()

    def _serve(self, sock: socket.socket, peer: tuple) -> None:
        sock.settimeout(None)
        transport = paramiko.Transport(sock)
        with self._lock:
            if self._stopping:
                transport.close()
                return
            self._transports.add(transport)
        auth = _Auth(self, transport, f"{peer[0]}:{peer[1]}")
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", _SftpServer, _Session)
        try:
            transport.start_server(server=auth)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.info("SFTP connection failed before login", peer=auth.peer, error=str(exc) or type(exc).__name__)
            transport.close()
            return
        deadline = time.monotonic() + self.config.auth_timeout
        while transport.is_active() and not transport.is_authenticated():
            if time.monotonic() > deadline:
                log.info("SFTP connection closed: no login in time", peer=auth.peer)
                transport.close()
                return
            transport.join(0.2)

    # -- taking documents in -------------------------------------------------------------------
    @contextlib.contextmanager
    def answering(self):
        """Around a request that may take a document in, until its answer is sent: stop() waits for it."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _take(self, account: Account, name: str, staged: Path) -> tuple[int, str]:
        """Hand a complete upload to deliver; the SFTP status to answer with."""
        try:
            if self._stopping or self._deliver is None:
                return SFTP_FAILURE, "the server is stopping: not taken in, send it again later"
            with staged.open("rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                doc = Document(stream, received_at=datetime.now(timezone.utc), transport="sftp",
                               partner_id=account.partner_id)
                self._deliver(doc)
        except TransientError as exc:
            log.warning("SFTP upload not taken in, the partner must send it again", partner=account.partner_id,
                        file=name, error=str(exc))
            return SFTP_FAILURE, "not taken in (temporary problem): send it again later"
        except TerminalError as exc:
            log.warning("SFTP upload refused", partner=account.partner_id, file=name, error=str(exc))
            return SFTP_FAILURE, f"refused: {exc}"
        except Exception as exc:
            log.exception("SFTP upload could not be taken in", partner=account.partner_id, file=name,
                          error=f"{type(exc).__name__}: {exc}")
            return SFTP_FAILURE, "not taken in: send it again later"
        finally:
            staged.unlink(missing_ok=True)
        log.info("SFTP upload taken in", partner=account.partner_id, file=name, size=size)
        return SFTP_OK, ""


class _Auth(paramiko.ServerInterface):
    """Logging in: per-account public keys and password hashes; sessions only for SFTP."""

    def __init__(self, hosted: HostedSftpServer, transport: paramiko.Transport, peer: str) -> None:
        self.hosted = hosted
        self.transport = transport
        self.peer = peer
        self.failures = 0

    @property
    def account(self) -> Account | None:
        username = self.transport.get_username() if self.transport.is_authenticated() else None
        return self.hosted.accounts.get(username) if username else None

    def get_allowed_auths(self, username: str) -> str:
        account = self.hosted.accounts.get(username)
        return account.methods if account is not None else "publickey,password"

    def check_auth_none(self, username: str) -> int:
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        account = self.hosted.accounts.get(username)
        blob = key.asbytes()
        if account is not None and any(_equal(blob, known) for known in account.keys):
            return AUTH_SUCCESSFUL  # paramiko verifies the signature before the login counts
        return self._failed(username, "publickey", key.fingerprint)

    def check_auth_password(self, username: str, password: str) -> int:
        account = self.hosted.accounts.get(username)
        hashes = account.password_hashes if account is not None and account.password_hashes else (DUMMY_HASH,)
        matched = False
        for encoded in hashes:  # every hash is checked: the time does not tell which one matched
            matched |= verify_password(password, encoded)
        if matched and account is not None and account.password_hashes:
            return AUTH_SUCCESSFUL
        return self._failed(username, "password")

    def _failed(self, username: str, method: str, key: str | None = None) -> int:
        self.failures += 1
        log.info("SFTP login refused", peer=self.peer, username=username, method=method,
                 **({"key": key} if key else {}))
        if self.failures >= self.hosted.config.max_auth_tries:
            log.warning("SFTP connection closed: too many failed logins", peer=self.peer, username=username)
            threading.Thread(target=self.transport.close, daemon=True).start()
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# -- the SFTP session -------------------------------------------------------------------------

class _Refused(Exception):
    def __init__(self, code: int = SFTP_PERMISSION_DENIED) -> None:
        super().__init__(code)
        self.code = code


def _parts(path: str | bytes) -> tuple[str, ...]:
    """The virtual path's parts under the root; ``..`` above the root is refused."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    if "\0" in path:
        raise _Refused()
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise _Refused()
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


class _SftpServer(SFTPServer):
    """paramiko's SFTP server, with the answer to a close taken from the upload's delivery.

    paramiko answers every close with OK and, when the session ends, closes
    the files still open the same way; here a close of an upload is answered
    with what delivery said, and an upload still open at the end of the
    session is dropped, not delivered.
    """

    def _process(self, t, request_number, msg):
        if t not in (CMD_CLOSE, CMD_RENAME, CMD_EXTENDED):  # only these can take a document in
            return super()._process(t, request_number, msg)
        with self.server.hosted.answering():  # stop() waits until the answer is sent
            if t == CMD_CLOSE:
                peek = Message(msg.asbytes())
                peek.get_int()
                handle = peek.get_binary()
                upload = self.file_table.get(handle)
                if isinstance(upload, _Upload):
                    del self.file_table[handle]
                    code, text = upload.commit()
                    self._send_status(request_number, code, text or None)
                    return None
            return super()._process(t, request_number, msg)

    def finish_subsystem(self):
        for handle in self.file_table.values():
            if isinstance(handle, _Upload):
                handle.abort()
        super().finish_subsystem()


def _attrs(st: os.stat_result, name: str) -> SFTPAttributes:
    attrs = SFTPAttributes.from_stat(st, name)
    attrs.st_uid = attrs.st_gid = 0  # nothing about the host's users
    return attrs


class _Session(SFTPServerInterface):
    """One SFTP session of a logged-in account, confined to its home."""

    def __init__(self, server: _Auth, *args, **kwargs) -> None:
        super().__init__(server, *args, **kwargs)
        self.auth = server
        self.hosted = server.hosted
        account = server.account
        if account is None:  # cannot happen: channels open only after a login
            raise paramiko.SSHException("SFTP session without a login")
        self.account = account
        self.home = account_home(self.hosted.homes, account.username)
        self.partials: dict[str, Path] = {}  # closed partial uploads of this session, by name
        self.taken: dict[str, SFTPAttributes] = {}  # uploads taken in during this session, by name

    # -- paths ----------------------------------------------------------------------------
    def _where(self, path) -> tuple[str, str | None]:
        """``(folder, name)``: ("", None) for the root, (folder, None) for a folder, else a file in it."""
        parts = _parts(path)
        if not parts:
            return "", None
        if parts[0] not in (INBOX, OUTBOX) or len(parts) > 2:
            raise _Refused()
        if len(parts) == 1:
            return parts[0], None
        name = parts[1]
        if len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME:
            raise _Refused(SFTP_FAILURE)
        return parts[0], name

    def _is_partial(self, name: str) -> bool:
        return name.startswith(".") or any(name.endswith(s) for s in self.hosted.config.partial_suffixes)

    def _outbox_file(self, name: str) -> tuple[Path, os.stat_result]:
        if name.startswith("."):
            raise _Refused(SFTP_NO_SUCH_FILE)
        real = self.home / OUTBOX / name
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            raise _Refused(SFTP_NO_SUCH_FILE) from None
        if not stat.S_ISREG(st.st_mode):  # links and anything else are not documents
            raise _Refused(SFTP_PERMISSION_DENIED if stat.S_ISLNK(st.st_mode) else SFTP_NO_SUCH_FILE)
        return real, st

    def _folder_attrs(self, folder: str) -> SFTPAttributes:
        return _attrs(os.lstat(self.home / folder if folder else self.home), folder or "/")

    # -- the interface -----------------------------------------------------------------------
    def canonicalize(self, path):
        try:
            return "/" + "/".join(_parts(path))
        except _Refused:
            raise PermissionError("the path leaves the home folder") from None

    def session_ended(self) -> None:
        for staged in self.partials.values():
            staged.unlink(missing_ok=True)
        if self.partials:
            log.info("SFTP partial uploads dropped: never renamed to a final name", partner=self.account.partner_id,
                     files=sorted(self.partials))
        self.partials.clear()

    def list_folder(self, path):
        try:
            folder, name = self._where(path)
            if name is not None:
                return SFTP_NO_SUCH_FILE
            if folder == "":
                return [self._folder_attrs(INBOX), self._folder_attrs(OUTBOX)]
            if folder == INBOX:
                return [_attrs(os.stat(p), n) for n, p in sorted(self.partials.items())]
            out = []
            with os.scandir(self.home / OUTBOX) as entries:
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                        out.append(_attrs(entry.stat(follow_symlinks=False), entry.name))
            return sorted(out, key=lambda a: a.filename)
        except _Refused as refused:
            return refused.code

    def stat(self, path):
        try:
            folder, name = self._where(path)
            if name is None:
                return self._folder_attrs(folder)
            if folder == INBOX:
                if name in self.partials:
                    return _attrs(os.stat(self.partials[name]), name)
                return self.taken.get(name, SFTP_NO_SUCH_FILE)
            return _attrs(self._outbox_file(name)[1], name)
        except _Refused as refused:
            return refused.code

    lstat = stat

    def open(self, path, flags, attr):
        try:
            folder, name = self._where(path)
            if name is None:
                return SFTP_PERMISSION_DENIED
            writing = bool(flags & _WRITE)
            if folder == OUTBOX:
                if writing or flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND):
                    return SFTP_PERMISSION_DENIED
                real, _ = self._outbox_file(name)
                return _Download(os.open(real, os.O_RDONLY | os.O_NOFOLLOW), name)
            if not writing:
                return SFTP_PERMISSION_DENIED  # the inbox is for sending only
            if flags & os.O_APPEND:
                return SFTP_OP_UNSUPPORTED  # no resuming: a document is sent whole
            if name in self.partials:  # a partial of this session written again (or resumed at an offset)
                if flags & os.O_EXCL:
                    return SFTP_FAILURE
                staged = self.partials.pop(name)
                fd = os.open(staged, os.O_RDWR | os.O_NOFOLLOW | (os.O_TRUNC if flags & os.O_TRUNC else 0))
            else:
                if not flags & os.O_CREAT:
                    return SFTP_NO_SUCH_FILE
                staged = self.home / INCOMING / f"{secrets.token_hex(12)}.upload"
                fd = os.open(staged, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            self.taken.pop(name, None)
            return _Upload(self, name, staged, fd)
        except _Refused as refused:
            return refused.code
        except OSError as exc:
            log.warning("SFTP open failed", partner=self.account.partner_id, path=str(path), error=str(exc))
            return SFTPServer.convert_errno(exc.errno)

    def remove(self, path):
        try:
            folder, name = self._where(path)
            if name is None:
                return SFTP_PERMISSION_DENIED
            if folder == INBOX:
                staged = self.partials.pop(name, None)
                if staged is None:
                    return SFTP_NO_SUCH_FILE
                staged.unlink(missing_ok=True)
                return SFTP_OK
            real, _ = self._outbox_file(name)
            real.unlink()
            log.info("SFTP outbox document deleted by the partner", partner=self.account.partner_id, file=name)
            return SFTP_OK
        except _Refused as refused:
            return refused.code
        except FileNotFoundError:
            return SFTP_NO_SUCH_FILE

    def rename(self, oldpath, newpath):
        """Only a partial upload in the inbox can be renamed; to a final name, it is taken in."""
        try:
            old_folder, old = self._where(oldpath)
            new_folder, new = self._where(newpath)
        except _Refused as refused:
            return refused.code
        if old_folder != INBOX or new_folder != INBOX or old is None or new is None:
            return SFTP_PERMISSION_DENIED
        if old not in self.partials:
            return SFTP_NO_SUCH_FILE
        if new in self.partials:
            return SFTP_FAILURE
        if self._is_partial(new):
            self.partials[new] = self.partials.pop(old)
            return SFTP_OK
        staged = self.partials[old]
        st = os.stat(staged)
        code, _ = self.hosted._take(self.account, new, staged)
        del self.partials[old]  # taken in, or dropped (the partner was told and sends it again)
        if code == SFTP_OK:
            self.taken[new] = _attrs(st, new)
        return code

    posix_rename = rename

    def chattr(self, path, attr):
        try:
            folder, name = self._where(path)
        except _Refused as refused:
            return refused.code
        # times and modes a client sets after an upload are accepted and ignored
        return SFTP_OK if folder == INBOX and name is not None else SFTP_PERMISSION_DENIED

    def mkdir(self, path, attr):
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path):
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path, path):
        return SFTP_PERMISSION_DENIED

    def readlink(self, path):
        return SFTP_PERMISSION_DENIED


class _Download(SFTPHandle):
    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self.fd = fd
        self.filename = name

    def read(self, offset, length):
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno)

    def write(self, offset, data):
        return SFTP_PERMISSION_DENIED

    def stat(self):
        return _attrs(os.fstat(self.fd), self.filename)

    def chattr(self, attr):
        return SFTP_PERMISSION_DENIED

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Upload(SFTPHandle):
    """A file being written into the inbox: a staging file until the client closes it."""

    def __init__(self, session: _Session, name: str, staged: Path, fd: int) -> None:
        super().__init__()
        self.session = session
        self.filename = name
        self.staged = staged
        self.fd = fd
        self.too_large = False

    def write(self, offset, data):
        limit = self.session.hosted.config.max_upload_bytes
        if offset + len(data) > limit:
            self.too_large = True
            return SFTP_FAILURE
        try:
            os.pwrite(self.fd, data, offset)
        except OSError as exc:
            log.warning("SFTP upload write failed", partner=self.session.account.partner_id, file=self.filename,
                        error=str(exc))
            return SFTPServer.convert_errno(exc.errno)
        return SFTP_OK

    def read(self, offset, length):
        return os.pread(self.fd, length, offset)

    def stat(self):
        return _attrs(os.fstat(self.fd), self.filename)

    def chattr(self, attr):
        return SFTP_OK  # times and modes are not kept

    def commit(self) -> tuple[int, str]:
        """The client closed the file: take it in (or keep it, if it is a partial)."""
        os.close(self.fd)
        self.fd = -1
        session = self.session
        if self.too_large:
            self.staged.unlink(missing_ok=True)
            limit = session.hosted.config.max_upload_bytes
            log.warning("SFTP upload refused: too large", partner=session.account.partner_id, file=self.filename,
                        max_upload_bytes=limit)
            return SFTP_FAILURE, f"refused: larger than {limit} bytes"
        if session._is_partial(self.filename):
            session.partials[self.filename] = self.staged
            return SFTP_OK, ""
        st = os.stat(self.staged)
        code, text = session.hosted._take(session.account, self.filename, self.staged)
        if code == SFTP_OK:
            session.taken[self.filename] = _attrs(st, self.filename)
        return code, text

    def abort(self) -> None:
        """The session ended with the file still open: an upload cut off is never taken in."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.staged.unlink(missing_ok=True)
        log.info("SFTP upload cut off before its close: dropped", partner=self.session.account.partner_id,
                 file=self.filename)

    def close(self):
        if self.fd >= 0:
            self.abort()
