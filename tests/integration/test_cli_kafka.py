"""`edigw publish` and `edigw events tail` as a user runs them, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.broker import Broker

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


def _one_line(run: subprocess.CompletedProcess) -> str:
    err = run.stderr.decode()
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_publish_to_an_unreachable_broker_is_one_line_naming_it_soon():
    started = time.monotonic()
    run = edigw("publish", "samples/edifact/orders_d96a.edi", servers="127.0.0.1:1")
    assert run.returncode == 2
    assert _one_line(run) == ("edigw: kafka: cannot reach the broker at 127.0.0.1:1: Connection refused "
                              "(no answer within 5 s)\n")  # not ~140 lines of librdkafka's "FAIL ... refused"
    assert time.monotonic() - started < 20  # not publish_timeout (30 s) on top
    assert run.stdout == b""


def test_publish_takes_bootstrap_servers_like_replay_and_tail(broker):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    run = subprocess.run([sys.executable, "-m", "gateway.cli", "publish", "samples/x12/856_4010.x12",
                          "--config", str(ROOT / "tests" / "cli-topics.yaml"), "--bootstrap-servers", broker.bootstrap],
                         capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert "1 event(s) published to cli.shipments" in run.stdout.decode()
    nobody = edigw("publish", "samples/x12/856_4010.x12", "--bootstrap-servers", "127.0.0.1:1",
                   servers=broker.bootstrap)  # the option wins over the environment
    assert nobody.returncode == 2 and "cannot reach the broker at 127.0.0.1:1" in _one_line(nobody)


def test_tail_without_a_broker_is_one_line_and_exit_2():
    run = edigw("events", "tail", "edigw.order-created", "--bootstrap-servers", "127.0.0.1:1", servers="")
    assert run.returncode == 2 and run.stdout == b""
    assert _one_line(run) == ("edigw: kafka: cannot reach the broker at 127.0.0.1:1: Connection refused "
                              "(no answer within 5 s)\n")


def test_tail_that_loses_its_broker_says_so_once_and_goes_on():
    config = str(ROOT / "tests" / "cli-topics.yaml")
    with Broker() as own:  # stopped below: not the session's broker
        published = edigw("publish", "samples/x12/856_4010.x12", "--config", config, servers=own.bootstrap)
        assert published.returncode == 0, published.stderr.decode()
        env = {**os.environ, "EDIGW_KAFKA_BOOTSTRAP_SERVERS": own.bootstrap}
        tail = subprocess.Popen([sys.executable, "-m", "gateway.cli", "events", "tail", "cli.shipments",
                                 "--from-beginning", "--timeout", "8", "--config", config],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        try:
            first = tail.stdout.readline()  # the event: the tail is connected and reading
            assert json.loads(first)["event_type"] == "ShipmentCreated"
            own.stop(kill=True)
            out, err = tail.communicate(timeout=60)
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
    assert tail.returncode == 0 and out == b""  # it ended as --timeout says, after 8 s without an event
    lines = err.decode().splitlines()  # one line, though librdkafka retried many times
    assert len(lines) == 1 and lines[0].startswith(f"edigw: kafka: lost the broker at {own.bootstrap}: "), lines
    assert lines[0].endswith("; waiting for it (Ctrl-C to stop)")  # "Connection refused", or "Disconnected"


def test_tail_decodes_with_the_config_s_schemas_not_the_working_folder_s(broker, tmp_path):
    """A deployment whose schemas have evolved past the ones in ./schemas: events written with the
    config's schemas carry their fingerprints, which only the config's schemas can decode."""
    schemas = tmp_path / "evolved-schemas"
    schemas.mkdir()
    for avsc in (ROOT / "schemas").glob("*.avsc"):
        (schemas / avsc.name).write_text(avsc.read_text(encoding="utf-8"), encoding="utf-8")
    raw = json.loads((schemas / "ShipmentCreated.avsc").read_text(encoding="utf-8"))
    raw["fields"].append({"name": "carrier_service", "type": ["null", "string"], "default": None,
                          "doc": "A field ./schemas does not have."})
    (schemas / "ShipmentCreated.avsc").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"kafka:\n  topics: {{ShipmentCreated: cli.evolved}}\nmappings: {ROOT / 'mappings'}\n"
                      f"schemas: evolved-schemas\n")
    run = edigw("publish", "samples/x12/856_4010.x12", "--config", str(config), servers=broker.bootstrap)
    assert run.returncode == 0, run.stderr.decode()
    for how in ("--config", "EDIGW_CONFIG"):  # run from the project folder, which has its own ./schemas
        args = ["--config", str(config)] if how == "--config" else []
        env = {**os.environ, "EDIGW_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
               **({"EDIGW_CONFIG": str(config)} if how == "EDIGW_CONFIG" else {})}
        tail = subprocess.run([sys.executable, "-m", "gateway.cli", "events", "tail", "cli.evolved", "--from-beginning",
                               "--max", "1", "--timeout", "60", *args], capture_output=True, cwd=ROOT, env=env,
                              timeout=120)
        assert tail.returncode == 0, (how, tail.stderr.decode())
        [line] = tail.stdout.decode().splitlines()
        event = json.loads(line)["event"]
        assert event["shipment_number"] == "SH-5521" and event["carrier_service"] is None, how
    # with ./schemas the same event cannot be decoded: the test tells the two apart
    wrong = edigw("events", "tail", "cli.evolved", "--from-beginning", "--max", "1", "--timeout", "30",
                  servers=broker.bootstrap)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr.decode()
    assert "unknown schema fingerprint" in wrong.stderr.decode(), wrong.stderr.decode()
