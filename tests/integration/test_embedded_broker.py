"""The embedded broker that does not come up: one line saying why, no colour codes, no Rust backtrace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.broker import Broker, BrokerUnavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port():
    """A loopback port somebody else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_port_in_use_is_one_line_naming_the_port(taken_port):
    broker = Broker(port=taken_port)
    try:
        with pytest.raises(BrokerUnavailable) as raised:
            broker.start(timeout=20)
    finally:
        broker.close()
    text = str(raised.value)
    assert "\n" not in text and "\x1b" not in text and "backtrace" not in text, text
    assert text.startswith("tansu exited (status ") and text.endswith(f"port {taken_port} is in use by another program")


def test_the_log_is_named_when_it_outlives_the_broker(taken_port, tmp_path):
    (tmp_path / "tansu.log").write_text("an earlier run: all fine\n")
    broker = Broker(port=taken_port, workdir=tmp_path)
    with pytest.raises(BrokerUnavailable) as raised:
        broker.start(timeout=20)
    broker.close()
    assert str(raised.value).endswith(f"port {taken_port} is in use by another program (log: {tmp_path / 'tansu.log'})")


def test_other_failures_give_the_logs_telling_line_without_colours(tmp_path):
    broker = Broker(binary="/bin/true", workdir=tmp_path)  # replaced by a script below
    script = tmp_path / "fake-tansu"
    script.write_text("#!/bin/sh\n"
                      "echo 'tansu broker 0.6.0'\n"
                      "printf '\\033[2m2026-12-03T10:32:00.602873Z\\033[0m \\033[31mERROR\\033[0m "
                      "\\033[2mtansu_broker::broker\\033[0m: storage: disk full\\n'\n"
                      "exit 3\n")
    script.chmod(0o755)
    broker.binary = str(script)
    with pytest.raises(BrokerUnavailable) as raised:
        broker.start(timeout=20)
    broker.close()
    assert str(raised.value) == ("tansu exited (status 3): ERROR tansu_broker::broker: storage: disk full "
                                 f"(log: {tmp_path / 'tansu.log'})")


def test_edigw_run_on_a_port_in_use_exits_2_with_one_line(taken_port, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(f"kafka: {{embedded_port: {taken_port}}}\n"
                      f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n"
                      f"state: {tmp_path / 'state.db'}\narchive: {tmp_path / 'archive'}\n"
                      "http: {port: 0}\nsftp: {port: 0}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "run", "--config", str(config),
                          "--inbox", str(tmp_path / "inbox")], capture_output=True, cwd=ROOT, env=env, timeout=90)
    err = run.stderr.decode()
    assert run.returncode == 2, err
    assert err.count("\n") == 1 and "\x1b" not in err and "Traceback" not in err, err
    assert err.startswith(f"edigw: cannot start the embedded broker on 127.0.0.1:{taken_port} ")
    assert err.endswith(f"port {taken_port} is in use by another program\n"), err
