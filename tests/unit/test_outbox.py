"""The outbox dispatcher: queued documents go out through the partner's channel, with retries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.base import Outbound
from gateway.archive import Archive
from gateway.errors import TerminalError, TransientError
from gateway.outbox import Dispatcher
from gateway.state.base import CONFIRMED, DELIVERY_FAILED, OVERDUE, QUEUED, SENT, OutboundDocument
from gateway.state.memory import MemoryStore

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


class Recorder(Outbound):
    """A fake channel: records what it was given, or fails as told."""

    def __init__(self, *failures: Exception, facts: dict | None = None) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[bytes, str]] = []
        self.facts = facts

    def send(self, document: bytes, route) -> dict | None:
        if route.prepared is not None and self.facts:
            route.prepared("<msg-1@edigw>", self.facts)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((document, route.filename))
        return self.facts


@pytest.fixture
def outbox(tmp_path):
    store, archive = MemoryStore(), Archive(tmp_path)

    def queue(partner="acme", kind="997", data=b"ISA*...~", control_ref="000000007") -> OutboundDocument:
        raw_ref, _ = archive.put(data)
        doc = OutboundDocument(id=f"{partner}-{kind}-{control_ref}", partner_id=partner, kind=kind, raw_ref=raw_ref,
                               created_at=T0, control_ref=control_ref, receipt_id="r1")
        store.add_outbound(doc)
        return doc

    return store, archive, queue


def status(store, doc) -> OutboundDocument:
    [found] = [d for d in store.find_outbound() if d.id == doc.id]
    return found


def test_a_queued_document_is_sent_once_with_its_bytes_and_a_name(outbox):
    store, archive, queue = outbox
    doc = queue(data=b"ISA*997~")
    channel = Recorder()
    dispatcher = Dispatcher(store, archive, {"acme": channel})
    assert dispatcher.deliver_due(T0) == 1
    assert channel.sent == [(b"ISA*997~", "997-000000007.x12")]
    assert status(store, doc).status == SENT and status(store, doc).details["attempts"] == 1
    assert dispatcher.deliver_due(T0) == 0 and len(channel.sent) == 1  # never twice


def test_transient_failures_back_off_then_give_up(outbox):
    store, archive, queue = outbox
    doc = queue()
    channel = Recorder(*(TransientError("connection refused") for _ in range(3)))
    dispatcher = Dispatcher(store, archive, {"acme": channel}, attempts=3, first_delay=10)
    assert dispatcher.deliver_due(T0) == 0
    waiting = status(store, doc)
    assert waiting.status == QUEUED and waiting.details["next_attempt"] == (T0 + timedelta(seconds=10)).isoformat()
    assert "connection refused" in waiting.details["error"]
    assert dispatcher.deliver_due(T0 + timedelta(seconds=5)) == 0 and channel.failures  # not due yet: not tried
    dispatcher.deliver_due(T0 + timedelta(seconds=10))  # second attempt fails; the next waits 20 s
    assert status(store, doc).details["next_attempt"] == (T0 + timedelta(seconds=30)).isoformat()
    dispatcher.deliver_due(T0 + timedelta(seconds=30))  # third and last
    failed = status(store, doc)
    assert failed.status == DELIVERY_FAILED and failed.details["error"].startswith("gave up after 3 attempts")


def test_a_transient_failure_then_success_is_sent(outbox):
    store, archive, queue = outbox
    doc = queue()
    channel = Recorder(TransientError("timeout"))
    dispatcher = Dispatcher(store, archive, {"acme": channel}, first_delay=1)
    dispatcher.deliver_due(T0)
    assert dispatcher.deliver_due(T0 + timedelta(seconds=1)) == 1
    sent = status(store, doc)
    assert sent.status == SENT and sent.details["attempts"] == 2 and "error" not in sent.details


def test_a_terminal_failure_is_recorded_at_once_and_dead_lettered(outbox):
    from pathlib import Path

    from gateway.events import SchemaSet

    store, archive, queue = outbox
    doc = queue()
    published = []
    dispatcher = Dispatcher(store, archive, {"acme": Recorder(TerminalError("no such folder /in"))},
                            publish=published.extend, dead_letter_topic="edigw.deadletter")
    dispatcher.deliver_due(T0)
    failed = status(store, doc)
    assert failed.status == DELIVERY_FAILED and failed.details["error"] == "no such folder /in"
    [letter] = published
    assert letter.topic == "edigw.deadletter" and letter.record["stage"] == "deliver"
    assert "no such folder /in" in letter.record["error"] and letter.record["raw_ref"] == doc.raw_ref
    SchemaSet.load(Path(__file__).resolve().parents[2] / "schemas").validate("DeadLetter", letter.record)


def test_documents_of_a_partner_without_a_channel_wait(outbox):
    store, archive, queue = outbox
    doc = queue(partner="nobody")
    assert Dispatcher(store, archive, {}).deliver_due(T0) == 0
    assert status(store, doc).status == QUEUED and status(store, doc).details == {}


def test_mdn_facts_are_recorded_before_sending_and_a_missing_mdn_becomes_overdue(outbox):
    store, archive, queue = outbox
    doc = queue(kind="ORDRSP")
    deadline = (T0 + timedelta(hours=1)).isoformat()
    facts = {"mdn": "pending", "mdn_deadline": deadline, "mic": {"digest": "abc=", "algorithm": "sha-256"}}
    channel = Recorder(TransientError("HTTP 503"), facts=facts)
    dispatcher = Dispatcher(store, archive, {"acme": channel}, first_delay=1)
    dispatcher.deliver_due(T0)  # failed, but the message id was recorded first
    assert store.find_outbound(external_ref="<msg-1@edigw>")[0].id == doc.id
    dispatcher.deliver_due(T0 + timedelta(seconds=1))
    assert status(store, doc).status == SENT
    assert dispatcher.mark_overdue(T0 + timedelta(minutes=59)) == 0
    assert dispatcher.mark_overdue(T0 + timedelta(hours=2)) == 1
    late = status(store, doc)
    assert late.status == OVERDUE and late.details["error"] == f"no MDN by {deadline}"


def test_a_synchronous_mdn_that_says_yes_confirms(outbox):
    store, archive, queue = outbox
    doc = queue(kind="INVOIC")
    Dispatcher(store, archive, {"acme": Recorder(facts={"mdn": "ok"})}).deliver_due(T0)
    assert status(store, doc).status == CONFIRMED


def test_a_functional_acknowledgement_not_received_in_time_is_overdue_with_an_event(outbox):
    from pathlib import Path

    from gateway.events import SchemaSet

    store, archive, queue = outbox
    doc = queue(kind="855")
    store.update_outbound(doc.with_status(QUEUED, details={
        "expects_ack": True, "control_refs": {"ISA13": "000004120", "GS06": "4120", "ST02": "0001"}}))
    published = []
    dispatcher = Dispatcher(store, archive, {"acme": Recorder()}, ack_deadline=lambda p: timedelta(hours=24),
                            publish=published.extend, overdue_topic="edigw.acknowledgement-overdue")
    dispatcher.deliver_due(T0)
    assert dispatcher.mark_overdue(T0 + timedelta(hours=23)) == 0
    assert dispatcher.mark_overdue(T0 + timedelta(hours=25)) == 1
    assert dispatcher.mark_overdue(T0 + timedelta(hours=26)) == 0  # said once
    late = status(store, doc)
    assert late.status == SENT and late.details["acknowledgement"]["status"] == "overdue"
    [event] = published
    assert event.topic == "edigw.acknowledgement-overdue" and event.key == "acme"
    assert event.record["acknowledged_interchange_ref"] == "000004120"
    assert event.record["deadline"] == T0 + timedelta(hours=24)
    SchemaSet.load(Path(__file__).resolve().parents[2] / "schemas").validate("AcknowledgementOverdue", event.record)


def test_an_answered_document_is_never_overdue(outbox):
    store, archive, queue = outbox
    doc = queue(kind="855")
    store.update_outbound(doc.with_status(QUEUED, details={"expects_ack": True}))
    dispatcher = Dispatcher(store, archive, {"acme": Recorder()}, ack_deadline=lambda p: timedelta(hours=1))
    dispatcher.deliver_due(T0)
    sent = status(store, doc)
    store.update_outbound(sent.with_status(SENT, details={**sent.details, "acknowledgement": {"status": "accepted"}}))
    assert dispatcher.mark_overdue(T0 + timedelta(hours=5)) == 0
