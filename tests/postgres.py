"""A throwaway PostgreSQL server for tests.

    server = Postgres()            # initdb into a fresh temporary folder
    server.start()                 # on a free loopback port; returns once it accepts connections
    url = server.url(schema)       # postgresql://edigw:<password>@127.0.0.1:<port>/edigw, tables in ``schema``
    server.stop(); server.start()  # a restart: same port, same data
    server.close()                 # stop and remove everything

The server is Debian's (package ``postgresql``: ``initdb``, ``pg_ctl`` and
``postgres`` under /usr/lib/postgresql/<version>/bin, or on the PATH). It
listens on 127.0.0.1 only, with its unix socket in its own folder; logins use
a password (scram-sha-256), so that the tests can check that it never shows.
Durability is switched off (``fsync``, ``synchronous_commit``): a test server
needs to be fast, not to survive a power cut.

PostgreSQL refuses to run as root: as root (CI containers), every server
command runs as an unprivileged user (``postgres`` when it exists, else
``nobody``) through ``runuser`` or ``setpriv``, and the folder is created
outside pytest's root-only temporary tree and given to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _binary(name: str) -> str:
    """``name`` from the newest /usr/lib/postgresql/<version>/bin, else from the PATH."""
    def version(path: str) -> tuple[int, ...]:
        number = Path(path).parts[-3]
        return tuple(int(p) for p in number.split(".") if p.isdigit())

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise PostgresUnavailable(f"{name} is missing (Debian package postgresql; `make test` installs it)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    user = "edigw"
    database = "edigw"

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _binary("initdb"), _binary("pg_ctl")
        self.password = "pw-" + secrets.token_hex(8)
        self.port = free_port()
        self._as: list[str] = []
        owner = None
        if os.geteuid() == 0:
            name = next((n for n in ("postgres", "nobody") if _has_user(n)), None)
            if name is None:
                raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to run "
                                          "the server as")
            owner = pwd.getpwnam(name)
            if shutil.which("runuser"):
                self._as = ["runuser", "-u", name, "--"]
            elif shutil.which("setpriv"):
                self._as = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
            else:
                raise PostgresUnavailable("running as root and neither runuser nor setpriv is there to run the "
                                          "server as an unprivileged user")
        self.workdir = Path(tempfile.mkdtemp(prefix="edigw-postgres-"))
        if owner is not None:
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
        self.data = self.workdir / "data"
        self.log = self.workdir / "server.log"
        passwordfile = self.workdir / "password"
        passwordfile.write_text(self.password + "\n")
        if owner is not None:
            os.chown(passwordfile, owner.pw_uid, owner.pw_gid)
        self._run([self.initdb, "--pgdata", str(self.data), "--username", self.user,
                   "--pwfile", str(passwordfile), "--auth-host", "scram-sha-256", "--auth-local", "trust",
                   "--encoding", "UTF8", "--locale", "C", "--no-sync"], "initdb")
        passwordfile.unlink()
        self._started = False
        self._created = False

    def _run(self, args: list[str], what: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir, env={**os.environ, "LC_ALL": "C"})
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def url(self, schema: str | None = None) -> str:
        """The URL to reach the test database as its (password-protected) owner, with new tables
        going to ``schema`` when given (see :meth:`create_schema`)."""
        url = f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"
        return url + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def start(self, timeout: float = 30) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.workdir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
                   "-c shared_buffers=32MB")
        self._run([self.pg_ctl, "start", "--pgdata", str(self.data), "--log", str(self.log), "--wait",
                   "--timeout", str(int(timeout)), "--silent", "-o", options], "pg_ctl start", timeout + 10)
        self._started = True
        if not self._created:
            import psycopg

            with psycopg.connect(self.url().rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self.database}")
            self._created = True

    def create_schema(self, name: str) -> str:
        """A new, empty schema ``name``; the URL whose tables go there."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: open sessions are ended, as in an orderly restart)."""
        if self._started:
            self._run([self.pg_ctl, "stop", "--pgdata", str(self.data), "--mode", mode, "--wait", "--silent"],
                      "pg_ctl stop")
            self._started = False

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True

