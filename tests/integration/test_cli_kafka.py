"""`edigw publish` and `edigw events tail` as a user runs them, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def edigw(*args: str, servers: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDIGW_KAFKA_BOOTSTRAP_SERVERS": servers}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, cwd=ROOT, env=env,
                          timeout=120)


def test_publish_then_tail_gives_the_event_back(broker):
    run = edigw("publish", "samples/x12/856_4010.x12", "--config", str(ROOT / "tests" / "cli-topics.yaml"),
                servers=broker.bootstrap)
    assert run.returncode == 0, run.stderr.decode()
    assert "1 event(s) published to cli.shipments" in run.stdout.decode()
    tail = edigw("events", "tail", "cli.shipments", "--from-beginning", "--max", "1", "--timeout", "60",
                 "--config", str(ROOT / "tests" / "cli-topics.yaml"), servers=broker.bootstrap)
    assert tail.returncode == 0, tail.stderr.decode()
    [line] = tail.stdout.decode().splitlines()
    got = json.loads(line)
    assert got["event_type"] == "ShipmentCreated" and got["key"] == "SH-5521"
    assert got["headers"]["ce_type"] == "edigw.events.ShipmentCreated"
    assert got["headers"]["ce_source"] == "urn:edigw:partner:widget-supply"
    assert [p["sscc"] for p in got["event"]["packages"]] == ["000123450000552113", "000123450000552120"]


def test_publish_reports_a_dead_letter_in_one_line(broker, tmp_path):
    bad = tmp_path / "bad.x12"
    bad.write_bytes((ROOT / "samples/x12/856_4010.x12").read_bytes().replace(b"SE*", b"SE*9", 1))
    run = edigw("publish", str(bad), servers=broker.bootstrap)
    assert run.returncode == 1
    err = run.stderr.decode()
    assert "Traceback" not in err and err.count("\n") == 1
    assert "syntax: MESSAGE_SEGMENT_COUNT_MISMATCH" in err


def test_publish_without_kafka_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "publish", "samples/x12/856_4010.x12"],
                         capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert run.returncode == 2
    assert run.stderr.decode().startswith("edigw: no Kafka to publish to")
