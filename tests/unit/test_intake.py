"""Durable intake: archive, receipts, duplicates, idempotency, recovery."""

from __future__ import annotations

import socket

import hashlib
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.archive import LocalArchive, TooLarge
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.errors import TransientError
from gateway.inbound.intake import Intake
from gateway.inbound.document import Document
from gateway.sinks.memory import MemorySink
from gateway.state.base import DUPLICATE, FAILED, PUBLISHED, RECEIVED
from gateway.state.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
IFTSTA = (ROOT / "samples/edifact/iftsta_d96a.edi").read_bytes()


def make(tmp_path, sink=None):
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=sink or MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    return Intake(LocalArchive(tmp_path / "archive"), store, parts.pipeline, max_bytes=1_000_000), parts


def test_take_archives_the_bytes_and_commits_a_pending_receipt(tmp_path):
    intake, _ = make(tmp_path)
    receipt = intake.take(ORDERS, channel="http", partner_id="brasserie-du-parc")
    assert receipt.raw_ref == "sha256:" + hashlib.sha256(ORDERS).hexdigest()
    assert intake.archive.path(receipt.raw_ref).read_bytes() == ORDERS
    assert intake.store.get_receipt(receipt.id).status == RECEIVED
    assert list((tmp_path / "archive" / "tmp").iterdir()) == []


def test_process_publishes_and_records_the_result(tmp_path):
    intake, parts = make(tmp_path)
    receipt = intake.take(ORDERS, channel="http")
    outcome = intake.process(receipt)
    done = intake.store.get_receipt(receipt.id)
    assert (done.status, done.events, done.interchange_ref) == (PUBLISHED, 1, "ORD000123")
    assert done.partner_id == "brasserie-du-parc"  # named by the envelope
    assert outcome.published == 1 and parts.sink.events[0].record["source"]["receipt_id"] == receipt.id
    # the time each stage took, for /metrics
    assert {"read", "identify_partner", "skip_duplicates", "map_events", "encode_events", "publish"} <= set(
        outcome.seconds) and all(s >= 0 for s in outcome.seconds.values())
    assert 'edigw_stage_seconds_count{stage="map_events"} 1.0' in intake.metrics.render().decode()
    assert intake.store.find_receipts(ref="ORD000123")[0].id == receipt.id


def test_the_same_interchange_again_is_a_duplicate_and_publishes_nothing(tmp_path):
    intake, parts = make(tmp_path)
    intake.process(intake.take(ORDERS, channel="sftp"))
    again = intake.take(ORDERS, channel="sftp")
    outcome = intake.process(again)
    assert outcome.published == 0 and outcome.skipped and not outcome.dead_letters
    record = intake.store.get_receipt(again.id)
    assert record.status == DUPLICATE and "duplicate of interchange ORD000123" in record.error
    assert len(parts.sink.events) == 1
    # the first receipt replayed (a recovery, say) is not its own duplicate
    first = intake.store.find_receipts(status=PUBLISHED)[0]
    assert intake.process(first).published == 1


def test_an_idempotency_key_gives_back_the_earlier_receipt(tmp_path):
    intake, _ = make(tmp_path)
    a = intake.take(ORDERS, channel="http", partner_id="brasserie-du-parc", idempotency_key="k-1")
    b = intake.take(ORDERS, channel="http", partner_id="brasserie-du-parc", idempotency_key="k-1")
    assert a.id == b.id and len(intake.store.find_receipts()) == 1


def test_a_document_that_cannot_become_events_is_failed_with_its_reason(tmp_path):
    intake, parts = make(tmp_path)
    receipt = intake.take(ORDERS.replace(b"UNT+22+1", b"UNT+21+1"), channel="http")
    intake.process(receipt)
    record = intake.store.get_receipt(receipt.id)
    assert record.status == FAILED and record.error.startswith("MESSAGE_SEGMENT_COUNT_MISMATCH")
    assert parts.sink.events[0].record["raw_ref"] == receipt.raw_ref  # the dead letter points at the bytes


def test_a_transient_failure_leaves_the_receipt_pending_and_recover_finishes_it(tmp_path):
    sink = MemorySink()
    intake, _ = make(tmp_path, sink)
    receipt = intake.take(IFTSTA, channel="http")
    sink.fail_next(TransientError("broker down"), 1)
    with pytest.raises(TransientError):
        intake.process(receipt)
    assert intake.store.get_receipt(receipt.id).status == RECEIVED
    assert intake.recover() == 1
    assert intake.store.get_receipt(receipt.id).status == PUBLISHED


def test_after_a_crash_a_new_gateway_recovers_with_the_same_event_ids(tmp_path):
    first, parts = make(tmp_path)
    receipt = first.take(IFTSTA, channel="as2")
    direct = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    expected = [e.event_id for e in direct.pipeline.process(Document(IFTSTA, receipt_id=receipt.id)).events]
    first.store.close()  # the process dies here: nothing was processed
    second, parts2 = make(tmp_path)
    assert [r.id for r in second.store.pending()] == [receipt.id]
    assert second.recover() == 1
    assert [e.event_id for e in parts2.sink.events] == expected
    assert second.store.get_receipt(receipt.id).status == PUBLISHED


def test_too_large_is_refused_and_nothing_is_kept(tmp_path):
    intake, _ = make(tmp_path)
    with pytest.raises(TooLarge):
        intake.take(b"x" * 1_000_001, channel="http")
    assert intake.store.find_receipts() == [] and list((tmp_path / "archive" / "tmp").iterdir()) == []


def test_a_partner_s_997_is_matched_to_the_document_it_acknowledges(tmp_path):
    """The 997 sample from ACME answers group 4120, set 0001 (an 855): the outbound record says accepted."""
    from gateway.state.base import SENT, OutboundDocument
    from gateway.state.memory import MemoryStore

    store = MemoryStore()
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    intake = Intake(LocalArchive(tmp_path / "archive"), store, parts.pipeline)
    raw_ref, _ = intake.archive.put(b"ISA*...855...~")
    sent = OutboundDocument(id="855-out", partner_id="acme-retail", kind="855", raw_ref=raw_ref, created_at=T0,
                            status=SENT, details={"expects_ack": True,
                                                  "control_refs": {"ISA13": "000004120", "GS06": "4120",
                                                                   "ST02": "0001"}})
    other = OutboundDocument(id="856-out", partner_id="acme-retail", kind="856", raw_ref=raw_ref, created_at=T0,
                             status=SENT, details={"expects_ack": True,
                                                   "control_refs": {"ISA13": "000004121", "GS06": "4121",
                                                                    "ST02": "0001"}})
    store.add_outbound(sent)
    store.add_outbound(other)
    receipt = intake.take((ROOT / "samples/x12/997_4010.x12").read_bytes(), channel="sftp")
    outcome = intake.process(receipt)
    assert outcome.published == 1  # it still becomes AcknowledgementReceived
    answered = {d.id: d.details.get("acknowledgement") for d in store.find_outbound()}
    assert answered["856-out"] is None
    assert answered["855-out"]["status"] == "accepted" and answered["855-out"]["kind"] == "997"
    assert answered["855-out"]["receipt_id"] == receipt.id


def _acks(intake, receipt_id):
    from gateway.syntax import parse

    out = []
    for doc in sorted(intake.store.find_outbound(receipt_id=receipt_id), key=lambda d: d.kind):
        with intake.archive.open(doc.raw_ref) as stream:
            out.append((doc.kind, doc.details["status"], parse(stream.read())))
    return out


def test_a_duplicate_x12_interchange_gets_a_ta1_with_note_025_and_no_997(tmp_path):
    intake, _ = make(tmp_path)
    po = (ROOT / "samples/x12/850_4010.x12").read_bytes()
    first = intake.take(po, channel="sftp")
    intake.process(first)
    assert [(kind, status) for kind, status, _ in _acks(intake, first.id)] == [("997", "accepted")]
    again = intake.take(po, channel="sftp")
    outcome = intake.process(again)
    assert intake.store.get_receipt(again.id).status == DUPLICATE
    [(kind, status, ack)] = _acks(intake, again.id)
    assert (kind, status) == ("TA1", "rejected")
    [ta1] = ack[0].control_segments
    assert ta1.elements[0] == "000000905" and ta1.elements[3:5] == ["R", "025"]
    assert [a["kind"] for a in outcome.acknowledgements] == ["TA1"]


def test_a_duplicate_edifact_interchange_gets_a_contrl_rejecting_it_with_code_26(tmp_path):
    intake, _ = make(tmp_path)
    orders = ORDERS.replace(b"++ORDERS'", b"++ORDERS++1'", 1)  # UNB 0031 = 1: a CONTRL is asked for
    assert orders != ORDERS
    first = intake.take(orders, channel="sftp")
    intake.process(first)
    [(_, status, _)] = _acks(intake, first.id)
    assert status == "accepted"
    again = intake.take(orders, channel="sftp")
    intake.process(again)
    [(kind, status, ack)] = _acks(intake, again.id)
    assert (kind, status) == ("CONTRL", "rejected")
    segments = ack[0].messages[0].segments
    assert [s.tag for s in segments] == ["UNH", "UCI", "UNT"]  # no message is answered
    assert segments[1].elements[0] == "ORD000123" and segments[1].elements[3:6] == ["4", "26", "UNB"]


def test_beyond_the_backlog_nothing_more_is_taken_in_until_it_drains(tmp_path):
    from gateway.inbound.intake import BacklogFull

    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    intake = Intake(LocalArchive(tmp_path / "archive"), SqliteStore(tmp_path / "state.db"), parts.pipeline,
                    max_backlog=2)
    first = intake.take(ORDERS, channel="sftp")
    intake.take(IFTSTA, channel="sftp")
    time.sleep(1.05)  # counted at most once a second
    with pytest.raises(BacklogFull, match="2 documents are waiting to be published"):
        intake.take(b"UNA:+.? 'UNB+UNOC:3+A+B+261120:0930+9'UNZ+0+9'", channel="sftp")
    assert len(intake.store.find_receipts()) == 2 and intake.backlog() == 2
    intake.process(first)
    time.sleep(1.05)
    assert intake.backlog() == 1 and intake.take(b"UNB+UNOC:3+A+B+261120:0930+9'UNZ+0+9'", channel="sftp")


def test_two_intakes_on_one_store_never_process_the_same_receipt_at_once(tmp_path):
    """A restarted instance's recovery must leave receipts another live instance is processing to it,
    and take up those of an instance that died holding them once their lease has run out."""
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    archive = LocalArchive(tmp_path / "archive")
    live = Intake(archive, store, parts.pipeline, lease=timedelta(seconds=0.5))
    other_parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    restarted = Intake(archive, store, other_parts.pipeline, lease=timedelta(seconds=0.5))
    receipt = live.take(ORDERS, channel="http")
    now = datetime.now(timezone.utc)
    assert store.claim_receipt(receipt.id, live.owner, until=now + live.lease, now=now)  # live is on it
    assert restarted.recover() == 1 and other_parts.sink.events == []  # looked at, left alone
    assert store.get_receipt(receipt.id).status == RECEIVED
    time.sleep(0.6)  # live died holding it: its lease runs out
    restarted.recover()
    assert store.get_receipt(receipt.id).status == PUBLISHED and len(other_parts.sink.events) == 1
    assert live.process(receipt).published == 0 and parts.sink.events == []  # done meanwhile: not again


def test_an_instance_restarted_under_its_name_takes_up_what_it_held_at_once(tmp_path):
    """Killed mid-document and started again (same instance name: host and HTTP port by default),
    an instance does not wait for its own lease to run out; another instance does."""
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas", state=str(tmp_path / "state.db"),
                           archive=str(tmp_path / "archive"))
    assert config.instance() == f"{socket.gethostname()}:8080"
    assert GatewayConfig(instance_id="gw-0").instance() == "gw-0"
    assert GatewayConfig(http={"port": 0}).instance() is None  # instances on one host would share it
    parts = build(config, sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    died = Intake.configured(config, store, parts.pipeline)
    receipt = died.take(ORDERS, channel="http")
    now = datetime.now(timezone.utc)
    assert store.claim_receipt(receipt.id, died.owner, until=now + timedelta(minutes=5), now=now)  # then killed
    other_parts = build(config, sink=MemorySink())
    other = Intake.configured(config.model_copy(update={"instance_id": "another"}), store, other_parts.pipeline)
    other.recover()
    assert store.get_receipt(receipt.id).status == RECEIVED and other_parts.sink.events == []
    again_parts = build(config, sink=MemorySink())
    again = Intake.configured(config, store, again_parts.pipeline)
    again.recover()
    assert store.get_receipt(receipt.id).status == PUBLISHED and len(again_parts.sink.events) == 1


def test_a_failed_attempt_releases_the_receipt_at_once(tmp_path):
    intake, parts = make(tmp_path)
    receipt = intake.take(ORDERS, channel="http")
    original = intake.archive.open
    intake.archive.open = lambda ref: (_ for _ in ()).throw(TransientError("the archive is down"))
    with pytest.raises(TransientError):
        intake.process(receipt)
    intake.archive.open = original
    now = datetime.now(timezone.utc)
    assert intake.store.claim_receipt(receipt.id, "another instance", until=now + timedelta(minutes=5), now=now)


def test_an_instance_started_again_takes_up_at_once_what_it_was_processing_when_it_died(tmp_path):
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas", state=str(tmp_path / "state.db"),
                           archive=str(tmp_path / "archive"), instance_id="gw-1")
    store = SqliteStore(config.state)
    first = Intake.configured(config, store, build(config, sink=MemorySink()).pipeline)
    receipt = first.take(ORDERS, channel="http")
    now = datetime.now(timezone.utc)
    assert first.owner == "gw-1" and store.claim_receipt(receipt.id, "gw-1", until=now + first.lease, now=now)
    # killed while processing it; started again with the same instance id, before the lease ran out
    again = Intake.configured(config, store, build(config, sink=MemorySink()).pipeline)
    assert again.recover() == 1 and store.get_receipt(receipt.id).status == PUBLISHED
    other = GatewayConfig(http={"port": 8181})
    assert other.instance().endswith(":8181") and other.instance() != GatewayConfig().instance()
