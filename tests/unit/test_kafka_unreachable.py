"""A broker nobody can reach: errors name it and say why; librdkafka's own lines are rate-limited warnings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog

from gateway.errors import TransientError
from gateway.events import SchemaSet, SingleObjectEncoder
from gateway.sinks.kafka import ClientLogHandler, KafkaSink, tidy
from tests.unit.test_sinks import parcel

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
REFUSED = ("[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
           "Connection refused (after 0ms in state CONNECT)")


@pytest.fixture(scope="module")
def encoder() -> SingleObjectEncoder:
    return SingleObjectEncoder(SchemaSet.load(SCHEMAS))


def test_publish_to_nobody_names_the_broker_and_why_and_logs_it_once(encoder, capfd, monkeypatch):
    # the process-wide handler shows a line once a minute: an earlier test that met 127.0.0.1:1
    # must not have used this test's one showing up
    from gateway.sinks.kafka import client_log

    for handler in client_log.handlers:
        if isinstance(handler, ClientLogHandler):
            monkeypatch.setattr(handler, "_seen", {})
    sink = KafkaSink("127.0.0.1:1", encoder, timeout=1)
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(TransientError) as raised:
            sink.publish([parcel(1)])
    finally:
        sink.close()
    assert str(raised.value) == ("kafka: cannot reach the broker at 127.0.0.1:1: Connection refused "
                                 "(1 of 1 events unconfirmed after 1 s)")
    warnings = [e for e in logs if e["event"].startswith("kafka client:")]
    # librdkafka tried dozens of times; the gateway's log says so once (a minute)
    assert [e["event"] for e in warnings] == ["kafka client: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 "
                                              "failed: Connection refused"], logs
    assert warnings[0]["log_level"] == "warning" and warnings[0]["facility"] == "FAIL"
    assert warnings[0]["rdkafka_level"] == "error"
    out, err = capfd.readouterr()
    assert "Connection refused" not in err and "Connection refused" not in out  # no raw librdkafka lines


def test_reach_says_so_before_anything_is_published(encoder):
    sink = KafkaSink("127.0.0.1:1", encoder, timeout=30)
    try:
        with pytest.raises(TransientError) as raised:
            sink.reach(timeout=0.5)
        assert not sink.ping(timeout=0.2)
    finally:
        sink.close()
    assert str(raised.value) == "kafka: cannot reach the broker at 127.0.0.1:1: Connection refused (no answer within 0.5 s)"


def test_client_lines_are_logged_once_per_interval_with_the_repeats_counted():
    now = [0.0]
    logger = logging.Logger("librdkafka-test")  # as confluent-kafka calls a `logger`
    logger.addHandler(ClientLogHandler(interval=60, clock=lambda: now[0]))

    def line(text: str, level: int = logging.ERROR) -> None:
        logger.log(level, "%s [%s] %s", "FAIL", "edigw#producer-1", text)

    with structlog.testing.capture_logs() as logs:
        for _ in range(50):
            line(REFUSED)
        line("[thrd:main]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
             "(after 3ms in state CONNECT, 4 identical error(s) suppressed)")
        line("[thrd:main]: something else entirely")
        line("[thrd:main]: only information", logging.INFO)
        now[0] = 61.0
        line(REFUSED)
    assert [(e["event"], e.get("repeated")) for e in logs] == [
        ("kafka client: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused", None),
        ("kafka client: something else entirely", None),
        ("kafka client: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused", 50),
    ]
    assert tidy(REFUSED) == "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"


def test_a_broker_that_does_not_answer_is_said_to_not_answer(encoder):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        servers = f"127.0.0.1:{silent.getsockname()[1]}"
        sink = KafkaSink(servers, encoder, timeout=30)
        try:
            with pytest.raises(TransientError) as raised:
                sink.reach(timeout=0.5)
        finally:
            sink.close()
    assert str(raised.value) == f"kafka: no answer from the broker at {servers} within 0.5 s"


def test_the_command_line_silences_librdkafka_only_while_a_command_runs(capsys, monkeypatch):
    from gateway.cli import main

    root = SCHEMAS.parent
    client = logging.getLogger("gateway.kafka.client")
    seen = []
    real = KafkaSink.reach

    def spy(self, timeout):
        seen.append(client.disabled)
        return real(self, 0.2)

    monkeypatch.setattr(KafkaSink, "reach", spy)
    code = main(["publish", str(root / "samples/x12/856_4010.x12"), "--bootstrap-servers", "127.0.0.1:1",
                 "--mappings", str(root / "mappings"), "--schemas", str(SCHEMAS)])
    assert code == 2 and seen == [True]
    assert capsys.readouterr().err == ("edigw: kafka: cannot reach the broker at 127.0.0.1:1: Connection refused "
                                       "(no answer within 0.2 s)\n")
    assert not client.disabled  # a gateway run later in the same process still logs them
