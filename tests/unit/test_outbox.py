"""The outbox dispatcher: queued documents go out through the partner's channel, with retries,
sent by one of several dispatchers sharing a store."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from adapters.base import Outbound
from gateway.archive import LocalArchive
from gateway.errors import TerminalError, TransientError
from gateway.outbound.outbox import Dispatcher
from gateway.state.base import CONFIRMED, DELIVERY_FAILED, OVERDUE, QUEUED, SENT, OutboundDocument
from gateway.state.memory import MemoryStore
from gateway.state.postgres import PostgresStore
from gateway.state.sqlite import SqliteStore

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
    store, archive = MemoryStore(), LocalArchive(tmp_path)

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
    counted = dispatcher.metrics.render().decode()
    assert 'edigw_outbound_total{kind="997",partner="acme",status="retry"} 1.0' in counted
    assert 'edigw_outbound_total{kind="997",partner="acme",status="sent"} 1.0' in counted


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


# -- several dispatchers sharing a store -----------------------------------------------------

def test_a_document_leased_by_another_dispatcher_waits_until_the_lease_runs_out(outbox):
    store, archive, queue = outbox
    doc = queue()
    assert store.claim_outbound(doc.id, "crashed", until=T0 + timedelta(minutes=5), now=T0) is not None
    channel = Recorder()
    dispatcher = Dispatcher(store, archive, {"acme": channel}, lease=300)
    assert dispatcher.owner != Dispatcher(store, archive, {}).owner
    assert dispatcher.deliver_due(T0 + timedelta(minutes=4)) == 0 and channel.sent == []
    assert status(store, doc).status == QUEUED
    assert dispatcher.deliver_due(T0 + timedelta(minutes=5)) == 1  # its owner died mid-send: sent again
    assert status(store, doc).status == SENT
    # recording the result ended this dispatcher's lease, which would have run until T0 + 10 min
    store.update_outbound(status(store, doc).with_status(QUEUED), keep_lease=True)
    assert store.claim_outbound(doc.id, "other", until=T0 + timedelta(minutes=9), now=T0 + timedelta(minutes=6))


def test_the_lease_holds_while_facts_are_recorded_mid_send(outbox):
    store, archive, queue = outbox
    doc = queue(kind="ORDRSP")
    taken: list = []

    class Prying(Recorder):
        def send(self, document, route):
            route.prepared("<msg-1@edigw>", {"mdn": "pending"})
            taken.append(store.claim_outbound(doc.id, "other", until=T0 + timedelta(minutes=5), now=T0))
            return super().send(document, route)

    Dispatcher(store, archive, {"acme": Prying()}).deliver_due(T0)
    assert taken == [None] and status(store, doc).status == SENT


def test_a_document_another_dispatcher_tried_meanwhile_waits_for_its_next_attempt(outbox):
    store, archive, queue = outbox
    doc = queue()
    channel = Recorder()
    dispatcher = Dispatcher(store, archive, {"acme": channel})
    listed = store.find_outbound

    def stale_listing(**kw):
        # what this dispatcher listed before another one failed to send it and set a later attempt
        found = listed(**kw)
        store.update_outbound(doc.with_status(QUEUED, details={
            "attempts": 1, "next_attempt": (T0 + timedelta(seconds=5)).isoformat()}))
        return found

    store.find_outbound = stale_listing
    assert dispatcher.deliver_due(T0) == 0 and channel.sent == []
    store.find_outbound = listed
    assert store.claim_outbound(doc.id, "other", until=T0 + timedelta(minutes=5), now=T0) is not None  # released


class SlowChannel(Outbound):
    """A partner's channel that takes a while, shared by the dispatchers of every instance."""

    def __init__(self, received: list[bytes]) -> None:
        self.received = received
        self.count = 0

    def send(self, document: bytes, route) -> None:
        time.sleep(0.005)
        self.received.append(document)  # list.append is atomic
        self.count += 1


@pytest.fixture(params=["sqlite", "postgres"])
def shared_stores(request, tmp_path):
    """Two store objects on one database, as two gateway instances have."""
    if request.param == "sqlite":
        stores = [SqliteStore(tmp_path / "state.db") for _ in range(2)]
    else:
        url = request.getfixturevalue("postgres").create_schema("shared")
        stores = [PostgresStore(url) for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


def test_two_dispatchers_sharing_a_store_send_every_document_exactly_once(shared_stores, tmp_path):
    documents = [f"ISA*{i:03d}~".encode() for i in range(50)]
    archive = LocalArchive(tmp_path / "archive")  # a volume both instances see
    created = datetime.now(timezone.utc)
    for i, data in enumerate(documents):
        raw_ref, _ = archive.put(data)
        shared_stores[0].add_outbound(OutboundDocument(
            id=f"doc-{i:03d}", partner_id="acme", kind="997", raw_ref=raw_ref, created_at=created,
            control_ref=f"{i:09d}"))
    received: list[bytes] = []
    channels = [SlowChannel(received) for _ in shared_stores]
    dispatchers = [Dispatcher(store, LocalArchive(tmp_path / "archive"), {"acme": channel})
                   for store, channel in zip(shared_stores, channels)]
    barrier = threading.Barrier(len(dispatchers))
    errors: list[BaseException] = []

    def run(dispatcher: Dispatcher) -> None:
        try:
            barrier.wait(10)
            dispatcher.deliver_due()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    twice = [data for data, n in Counter(received).items() if n > 1]
    assert not twice, f"{len(twice)} documents sent more than once"
    assert sorted(received) == documents
    assert all(channel.count for channel in channels)  # both were at work at once
    assert {d.status for d in shared_stores[1].find_outbound(limit=100)} == {SENT}
