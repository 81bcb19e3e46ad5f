"""The inbound pipeline with an in-memory sink: stages, Skip, dead letters."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.errors import TransientError
from gateway.inbound.pipeline import Document, Skip
from gateway.sinks.memory import MemorySink

ROOT = Path(__file__).resolve().parents[2]
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
RECEIVED = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


@pytest.fixture()
def parts():
    return build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())


def run(parts, data: bytes, **kw):
    return parts.pipeline.process(Document(data, received_at=RECEIVED, receipt_id="r-1", raw_ref="sha256:x", **kw))


def test_events_are_encoded_by_the_pipeline_and_published(parts):
    outcome = run(parts, ORDERS)
    [event] = outcome.events
    assert event.value is not None and event.value[:2] == b"\xc3\x01"  # single-object encoding
    assert parts.encoder.decode(event.value) == ("OrderCreated", parts.encoder.decode(event.value)[1])
    assert parts.sink.events == [event] and len(outcome.deliveries) == 1


def test_skip_is_an_explicit_signal_not_an_error(parts):
    def skip_all(unit):
        raise Skip("duplicate interchange")

    parts.pipeline.stages.insert(0, skip_all)
    outcome = run(parts, ORDERS)
    assert outcome.skipped == [("1", "duplicate interchange")]
    assert outcome.events == [] and outcome.dead_letters == [] and parts.sink.events == []


@pytest.mark.parametrize(
    "change, stage, code",
    [
        ((b"UNT+22+1", b"UNT+21+1"), "syntax", "MESSAGE_SEGMENT_COUNT_MISMATCH"),
        ((b"5412345000013:14", b"9999999999999:14"), "partner", "PARTNER_UNKNOWN"),
        ((b"ORDERS:D:96A", b"ORDERS:D:01B"), "mapping", "ROUTE_MISSING"),
        ((b"BGM+220+PO-45001+9", b"BGM+220"), "mapping", "MAPPING_REQUIRED_MISSING"),
        # content validation finds it before the mapping does (test_inbound_validation.py: and with policy ignore)
        ((b"QTY+21:12:PCE", b"QTY+21:twelve:PCE"), "validation", "ELEMENT_NOT_NUMERIC"),
        ((b"UNB+UNOC", b"XYZ+UNOC"), "syntax", "INTERCHANGE_HEADER_INVALID"),
        ((b"UNA:+.? '", b"HELLO"), "syntax", "NOT_EDI"),
    ],
)
def test_each_failure_becomes_one_dead_letter(parts, change, stage, code):
    outcome = run(parts, ORDERS.replace(*change))
    assert outcome.events == []
    [dead] = outcome.dead_letters
    r = dead.record
    assert (r["stage"], r["reason_code"]) == (stage, code)
    assert r["raw_ref"] == "sha256:x" and r["source"]["receipt_id"] == "r-1" and r["position"]
    assert dead.topic == "edigw.deadletter" and parts.sink.events == [dead]
    parts.schemas.validate("DeadLetter", r)


def test_interchange_errors_are_recorded_but_good_messages_still_published(parts):
    outcome = run(parts, ORDERS.replace(b"UNZ+1+ORD000123", b"UNZ+2+ORD000123"))
    assert len(outcome.events) == 1
    [dead] = outcome.dead_letters
    assert dead.record["reason_code"] == "INTERCHANGE_COUNT_MISMATCH" and dead.record["message_ref"] is None


def test_the_envelope_must_name_the_authenticated_partner(parts):
    outcome = run(parts, ORDERS, partner_id="acme-retail")
    [dead] = outcome.dead_letters
    assert dead.record["reason_code"] == "PARTNER_MISMATCH" and "brasserie-du-parc" in dead.record["error"]
    assert run(parts, ORDERS, partner_id="brasserie-du-parc").events


def test_dead_letter_ids_are_stable_across_retries(parts):
    bad = ORDERS.replace(b"UNT+22+1", b"UNT+21+1")
    assert run(parts, bad).dead_letters[0].event_id == run(parts, bad).dead_letters[0].event_id


def test_a_transient_sink_failure_propagates_for_a_retry(parts):
    parts.sink.fail_next(TransientError("broker down"), 1)
    with pytest.raises(TransientError):
        run(parts, ORDERS)
    again = run(parts, ORDERS)  # the retry publishes the same event id
    assert len(again.events) == 1


class WarmedSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.warmed: list[list[str]] = []

    def warm(self, topics):
        self.warmed.append(list(topics))


def test_warm_looks_up_every_routed_topic_and_builds_the_validators_patterns():
    from gateway.syntax import read
    from gateway.validation.validator import definition_for

    sink = WarmedSink()
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=sink)
    [message] = [m for m in read(ORDERS) if m.__class__.__name__ == "Message"]
    directory_, _ = definition_for(message)
    directory_.fast.clear()  # a cache: what earlier tests built in this process is built again
    parts.pipeline.warm()
    [topics] = sink.warmed
    assert "edigw.deadletter" in topics and "edigw.order-created" in topics
    assert topics == sorted(set(topics))
    assert any(key[0] == "ORDERS" for key in directory_.fast)  # built for the EDIFACT ORDERS routes
    outcome = run(parts, ORDERS)  # and the pipeline works as before
    assert outcome.published == 1 and sink.events == outcome.events


class PreparingSink(MemorySink):
    """A sink that, like KafkaSink, builds its wire form in the encode stage."""

    def prepare(self, event):
        event.prepared = (event.value, event.key, sorted(event.headers.items()))


@pytest.mark.parametrize("keep", [True, False])
def test_a_batch_waiting_for_the_sink_keeps_only_what_is_sent_unless_kept(keep):
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=PreparingSink())
    outcome = parts.pipeline.process(Document(ORDERS, received_at=RECEIVED, receipt_id="r-1", raw_ref="sha256:x"),
                                     keep=keep)
    [event] = parts.sink.events
    assert outcome.published == 1 and outcome.summary[0]["event_id"] == event.event_id
    value, key, headers = event.prepared
    _, record = parts.encoder.decode(value)  # what is sent is the whole record, either way
    assert record["event_id"] == event.event_id and record["order_number"] and dict(headers)["ce_id"]
    if keep:  # outcome.events: the records as mapped
        assert outcome.events == [event] and event.record["order_number"] == record["order_number"]
        assert event.headers["ce_id"] == event.event_id
    else:  # only what names it
        assert event.record == {"event_id": record["event_id"]} and event.headers == {}


class InFlightSink(MemorySink):
    """Records when each batch is sent and when it is waited for."""

    def __init__(self, fail_wait: int | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []
        self.fail_wait = fail_wait

    def send(self, events):
        number = sum(1 for call, _ in self.calls if call == "send") + 1
        self.calls.append(("send", number))
        sink = self

        class Handle:
            def wait(self):
                sink.calls.append(("wait", number))
                if number == sink.fail_wait:
                    raise TransientError("broker gone")
                return sink.publish(events)

        return Handle()


def test_the_next_batch_is_sent_before_the_last_is_confirmed():
    from bench.generate import edifact_orders

    sink = InFlightSink()
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=sink)
    parts.pipeline.batch_size = 2
    batches = []
    outcome = parts.pipeline.process(Document(edifact_orders(5, lines=1, seed=21), receipt_id="r-1"),
                                     on_events=lambda batch: batches.append([e.event_id for e in batch]))
    assert outcome.messages == outcome.published == 5 and not outcome.dead_letters
    # at most one batch waits for the broker while the next is read, mapped and sent
    assert sink.calls == [("send", 1), ("send", 2), ("wait", 1), ("send", 3), ("wait", 2), ("wait", 3)]
    assert [len(b) for b in batches] == [2, 2, 1]  # each batch reported once confirmed, in order
    assert sum(batches, []) == [e.event_id for e in sink.events] == [e.event_id for e in outcome.events]


def test_a_batch_that_fails_its_wait_fails_the_document_for_a_retry():
    from bench.generate import edifact_orders

    sink = InFlightSink(fail_wait=1)
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=sink)
    parts.pipeline.batch_size = 2
    with pytest.raises(TransientError, match="broker gone"):
        parts.pipeline.process(Document(edifact_orders(5, lines=1, seed=22), receipt_id="r-1"))
    assert sink.calls == [("send", 1), ("send", 2), ("wait", 1)]  # nothing more is sent
