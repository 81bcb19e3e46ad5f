"""A real OpenSSH server for tests, and what a test needs around it.

    server = Sshd(workdir)         # own sshd_config, host key and client key in workdir
                                   # (sftp_flags="-R": a read-only SFTP server)
    server.start()                 # on a free loopback port; returns once it accepts connections
    ... server.port, server.host_key_line, server.client_key, server.user ...
    server.stop(); server.start()  # an outage, then the same port, host key and client key again
    server.close()

sshd runs in the foreground (``-D -e``) as the current user, with its own
configuration: public-key login only, for the current user, from the
client key generated here; ``StrictModes no`` and ``UsePAM no`` so that
nothing of the machine's set-up matters; SFTP by ``internal-sftp``. Run as
root (as in CI containers), sshd insists on its privilege-separation folder
``/run/sshd``, which Debian's service creates at boot; it is created here
when missing. Its log is ``<workdir>/sshd.log``.

:class:`FolderEvents` records what the file system sees happen in a folder
(Linux inotify): the order of creations, writes and renames, without
polling and without timing luck.

:func:`sftp_batch` runs the OpenSSH ``sftp`` client in batch mode.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import getpass
import os
import select
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP = shutil.which("sftp") or "/usr/bin/sftp"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


class SshdUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A fresh key pair without passphrase: ``path`` and ``path.pub``."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)], check=True)
    return path


class Sshd:
    def __init__(self, workdir: Path, *, sftp_flags: str = "") -> None:
        if not Path(SSHD).exists():
            raise SshdUnavailable(f"{SSHD} is missing (Debian package openssh-server)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = keygen(self.workdir / "ssh_host_ed25519_key")
        self.client_key = keygen(self.workdir / "client_key")
        (self.workdir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        self.config = self.workdir / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            "PidFile none",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            f"Subsystem sftp internal-sftp {sftp_flags}".rstrip(),
            "LogLevel VERBOSE",
            "",
        ]))
        self.log = self.workdir / "sshd.log"
        self._process: subprocess.Popen | None = None

    @property
    def host_key_line(self) -> str:
        """The server's key as a known_hosts line (``[127.0.0.1]:port type base64``)."""
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}"

    def start(self, timeout: float = 10.0) -> None:
        if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SshdUnavailable(f"sshd refuses its configuration: {check.stderr.strip()}")
        with self.log.open("ab") as log:
            self._process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SshdUnavailable(f"sshd exited ({self._process.returncode}): {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SshdUnavailable(f"sshd did not listen on 127.0.0.1:{self.port} within {timeout}s")

    def stop(self) -> None:
        """Stop the listener (sessions already open end with their own processes)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    close = stop


def sftp_batch(port: int, user: str, commands: str, *, workdir: Path, key: Path | None = None,
               known_hosts: Path | None = None, strict: str = "accept-new", limit_kbit: int | None = None,
               extra: list[str] = (), env: dict | None = None, timeout: float = 30.0,
               popen: bool = False):
    """``sftp -b`` with ``commands`` against 127.0.0.1:port; the CompletedProcess (or the Popen)."""
    batch = workdir / f"batch-{time.monotonic_ns()}"
    batch.write_text(commands)
    args = [SFTP, "-F", "/dev/null", "-P", str(port),
            "-o", f"UserKnownHostsFile={known_hosts or workdir / 'known_hosts'}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"StrictHostKeyChecking={strict}",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", *extra]
    if key is not None:
        args += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                 "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]
    if limit_kbit is not None:
        args += ["-l", str(limit_kbit)]
    args += ["-b", str(batch), f"{user}@127.0.0.1"]
    environment = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    environment.update(env or {})
    if popen:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
                                cwd=workdir)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=environment, cwd=workdir)


# -- inotify ---------------------------------------------------------------------------------

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = (
    0x002, 0x008, 0x040, 0x080, 0x100, 0x200)
_NAMES = {IN_MODIFY: "modify", IN_CLOSE_WRITE: "close_write", IN_MOVED_FROM: "moved_from",
          IN_MOVED_TO: "moved_to", IN_CREATE: "create", IN_DELETE: "delete"}
_HEADER = struct.Struct("iIII")


class FolderEvents:
    """Record ``(event, name)`` for everything that happens in ``folder`` (Linux inotify)."""

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = sum(_NAMES)
        if libc.inotify_add_watch(self._fd, str(folder).encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        self.events: list[tuple[str, str]] = []

    def read(self, wait: float = 0.2) -> list[tuple[str, str]]:
        """Every event so far (waiting up to ``wait`` seconds for late ones)."""
        while select.select([self._fd], [], [], wait)[0]:
            data = os.read(self._fd, 65536)
            offset = 0
            while offset < len(data):
                _, mask, _, length = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size: offset + _HEADER.size + length].rstrip(b"\0").decode()
                offset += _HEADER.size + length
                for bit, label in _NAMES.items():
                    if mask & bit:
                        self.events.append((label, name))
        return self.events

    def close(self) -> None:
        os.close(self._fd)
