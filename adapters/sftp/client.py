"""Connecting to a partner's SSH server as an SFTP client, with its host key pinned.

:func:`connect` opens the connection, checks the server's host key against
the configured pins before anything is sent (a mismatch raises
:class:`HostKeyMismatch`, logged as an error with both fingerprints), logs in
with the configured key or password and returns an :class:`SftpConnection`.

Errors are sorted by the gateway's rule: the server cannot be reached, the
connection drops, an operation times out -> :class:`TransientError`; a
host key that does not match, a refused login -> :class:`TerminalError`
(retrying cannot help until someone changes the configuration).
"""

from __future__ import annotations

import errno
import os
import socket

import paramiko
import structlog

from adapters.sftp.config import RemoteServer
from adapters.sftp.keys import load_private_key
from gateway.errors import TerminalError, TransientError

log = structlog.get_logger("adapters.sftp.client")


class HostKeyMismatch(TerminalError):
    """The server's host key is not one of the pinned keys: possibly not the partner's server."""


class LoginRefused(TerminalError):
    """The server refused the configured credentials."""


class SftpConnection:
    """An SFTP session on its own SSH connection; close it when done (or use ``with``)."""

    def __init__(self, transport: paramiko.Transport, sftp: paramiko.SFTPClient, remote: RemoteServer) -> None:
        self.transport = transport
        self.sftp = sftp
        self.remote = remote

    @property
    def alive(self) -> bool:
        return self.transport.is_active()

    def close(self) -> None:
        try:
            self.sftp.close()
        finally:
            self.transport.close()

    def __enter__(self) -> SftpConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(remote: RemoteServer) -> SftpConnection:
    """Connect, verify the host key, log in and open SFTP (TransientError / TerminalError on failure)."""
    pins = remote.pins
    try:
        sock = socket.create_connection((remote.host, remote.port), timeout=remote.connect_timeout)
    except OSError as exc:
        raise TransientError(f"SFTP server {remote.address} unreachable: {exc}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = remote.connect_timeout
        algorithms = [a for pin in pins for a in pin.algorithms]
        if algorithms and all(pin.key_type for pin in pins):  # ask for the pinned key types only
            transport.get_security_options().key_types = tuple(dict.fromkeys(algorithms))
        try:
            transport.start_client(timeout=remote.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransientError(f"SFTP server {remote.address}: SSH negotiation failed: "
                                 f"{exc or type(exc).__name__}") from None
        key = transport.get_remote_server_key()
        if not any(key.fingerprint == pin.fingerprint for pin in pins):
            log.error("SFTP HOST KEY MISMATCH: the server is not the one pinned; not logging in",
                      server=remote.address, offered=f"{key.get_name()} {key.fingerprint}",
                      pinned=[pin.fingerprint for pin in pins])
            raise HostKeyMismatch(f"SFTP server {remote.address} offered host key {key.get_name()} "
                                  f"{key.fingerprint}, which is not pinned ({', '.join(p.fingerprint for p in pins)})")
        _login(transport, remote)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransientError(f"SFTP server {remote.address}: cannot open an SFTP session: {exc}") from None
        sftp.get_channel().settimeout(remote.timeout)
        return SftpConnection(transport, sftp, remote)
    except BaseException:
        transport.close()
        raise


def _login(transport: paramiko.Transport, remote: RemoteServer) -> None:
    try:
        if remote.private_key is not None or remote.private_key_env is not None:
            key = _private_key(remote)
            try:
                transport.auth_publickey(remote.username, key)
                return
            except paramiko.AuthenticationException:
                if remote.password_env is None:
                    raise
        transport.auth_password(remote.username, _env(remote.password_env, "password_env"))
    except paramiko.AuthenticationException as exc:
        raise LoginRefused(f"SFTP server {remote.address} refused the login: {exc}") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise TransientError(f"SFTP server {remote.address}: login failed: {exc or type(exc).__name__}") from None


def _private_key(remote: RemoteServer) -> paramiko.PKey:
    passphrase = _env(remote.passphrase_env, "passphrase_env") if remote.passphrase_env else None
    try:
        if remote.private_key is not None:
            return load_private_key(path=remote.private_key, passphrase=passphrase)
        return load_private_key(text=_env(remote.private_key_env, "private_key_env"), passphrase=passphrase)
    except (OSError, ValueError, paramiko.SSHException) as exc:
        where = str(remote.private_key) if remote.private_key is not None else f"${remote.private_key_env}"
        raise TerminalError(f"the private key for {remote.address} ({where}) cannot be read: "
                            f"{type(exc).__name__}") from None


def _env(name: str | None, key: str) -> str:
    value = os.environ.get(name or "")
    if not value:
        raise TerminalError(f"{key}: the environment variable {name} is not set")
    return value


def classify(exc: BaseException, what: str) -> Exception:
    """An SFTP operation's error as the gateway sees it: missing or forbidden -> terminal, else transient."""
    if isinstance(exc, (TerminalError, TransientError)):
        return exc
    if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
        reason = "no such file or folder" if exc.errno == errno.ENOENT else "permission denied"
        return TerminalError(f"{what}: {reason}")
    return TransientError(f"{what}: {exc or type(exc).__name__}")
