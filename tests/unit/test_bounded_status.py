"""A document with thousands of problems keeps a bounded status: the first 1,000 of each list
and the totals; every dead letter is still published; acknowledgements list 1,000 messages."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings, strategies as st

from bench import generate
from gateway.acks import AckSettings, AckTracker
from gateway.acks.judge import Judged, JudgedList
from gateway.acks.report import ACCEPTED, REJECTED
from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.inbound.intake import Intake
from gateway.inbound.pipeline import Outcome
from gateway.model import Group, Interchange, Segment
from gateway.sinks.memory import MemorySink
from gateway.state.base import FAILED
from gateway.state.sqlite import SqliteStore
from gateway.syntax import read
from gateway.syntax.refs import RefSet

ROOT = Path(__file__).resolve().parents[2]


def make(tmp_path):
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    return Intake(LocalArchive(tmp_path / "archive"), store, parts.pipeline), parts


def test_a_document_with_more_than_1000_errors_keeps_1000_and_the_total(tmp_path):
    data = re.sub(rb"UNT\+\d+\+", b"UNT+99+", generate.edifact_orders(1200, lines=1, seed=11))
    intake, parts = make(tmp_path)
    receipt = intake.take(data, channel="http")
    outcome = intake.process(receipt)
    assert outcome.dead_letter_count == 1200 and len(outcome.dead_letters) == Outcome.SUMMARY_LIMIT
    # every dead letter went to the broker, not only the listed ones
    dead = parts.sink.topic("edigw.deadletter")
    assert len(dead) == 1200 and len({e.event_id for e in dead}) == 1200
    done = intake.store.get_receipt(receipt.id)
    assert done.status == FAILED
    assert len(done.details["errors"]) == 1000 and done.details["errors_total"] == 1200
    assert done.details["errors"][0]["code"] == "MESSAGE_SEGMENT_COUNT_MISMATCH"
    assert done.details["messages"] == 1200


def test_a_duplicate_of_more_than_1000_messages_lists_1000_skipped_and_the_total(tmp_path):
    data = generate.edifact_orders(1100, lines=1, seed=12)
    intake, _ = make(tmp_path)
    intake.process(intake.take(data, channel="http"))
    again = intake.take(data, channel="sftp")
    outcome = intake.process(again)
    assert outcome.skipped_count == 1100 and len(outcome.skipped) == 1000
    details = intake.store.get_receipt(again.id).details
    assert len(details["skipped"]) == 1000 and details["skipped_total"] == 1100


def test_a_small_document_has_no_totals(tmp_path):
    data = re.sub(rb"UNT\+\d+\+", b"UNT+99+", generate.edifact_orders(5, lines=1, seed=13))
    intake, _ = make(tmp_path)
    receipt = intake.take(data, channel="http")
    intake.process(receipt)
    details = intake.store.get_receipt(receipt.id).details
    assert len(details["errors"]) == 5 and "errors_total" not in details


def _acknowledge(data: bytes, **settings):
    tracker = AckTracker()
    numbers = iter(range(1, 100))
    acks = []
    for item in read(data):
        if isinstance(item, Interchange):
            acks = tracker.acknowledge(item, settings=AckSettings(**settings), numbers=lambda kind: next(numbers))
        else:
            tracker.note(item)
    return acks


def test_a_997_of_1500_sets_answers_each_and_its_json_lists_1000_with_the_totals():
    (ack,) = _acknowledge(generate.x12_850(1500, lines=1, seed=14))
    text = ack.data.decode("ascii")
    assert text.count("AK2*850*") == 1500 and text.count("AK5*A") == 1500 and "AK9*A*1500*1500*1500" in text
    got = ack.to_json()
    assert len(got["answers"]["messages"]) == 1000 and got["answers"]["messages_total"] == 1500
    assert len(got["verdicts"]) == 1000 and got["verdicts_total"] == 1501  # the group's and each set's
    assert got["answers"]["messages"][:2] == ["0001", "0002"]


def test_a_997_of_a_few_sets_lists_every_one_without_totals():
    (ack,) = _acknowledge(generate.x12_850(3, lines=1, seed=15))
    got = ack.to_json()
    assert got["answers"]["messages"] == ["0001", "0002", "0003"] and "messages_total" not in got["answers"]
    assert "verdicts_total" not in got and len(got["verdicts"]) == 4


# -- the compact structures behind it, held to the plain ones ----------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 40).map(str), st.integers(0, 40).map(lambda n: f"{n:04d}"),
                          st.sampled_from(["A1", "x", "", "٣"])), max_size=80))
def test_refset_answers_as_a_set_of_strings(refs):
    seen: set[str] = set()
    compact = RefSet()
    for ref in refs:
        assert compact.add(ref) == (ref not in seen)
        seen.add(ref)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 60).map(lambda n: f"{n:04d}"), st.integers(0, 60).map(str),
                          st.just("A1")), max_size=120),
       st.integers(1, 5))  # fmt: skip
def test_refset_with_small_batches_answers_as_a_set_of_strings(refs, pending):
    """The same, with the increasing references folded into the runs every few adds."""
    seen: set[str] = set()
    compact = RefSet()
    old = RefSet.PENDING
    RefSet.PENDING = pending
    try:
        for ref in sorted(refs) + refs:  # (sorted: long increasing stretches, then anything)
            assert compact.add(ref) == (ref not in seen), ref
            seen.add(ref)
    finally:
        RefSet.PENDING = old


def test_refset_keeps_sequential_numbers_in_one_run():
    refs = RefSet()
    assert all(refs.add(f"{n:06d}") for n in range(1, 100_001))
    assert not refs.add("000001") and not refs.add("100000")  # (each folds what waits into the runs)
    assert refs._runs[6] == ([1], [100_000]) and not refs._pending
    assert refs.add("100001")
    assert all(refs.add(f"{n:06d}") for n in range(200_000, 200_010, 2))  # gaps: a run each
    assert refs.add("150000")  # (folds the batch in)
    assert refs._runs[6] == ([1, 150_000, 200_000, 200_002, 200_004, 200_006, 200_008],
                             [100_001, 150_000, 200_000, 200_002, 200_004, 200_006, 200_008])  # fmt: skip


_GROUPS = [Group("PO", str(i), "S", "R", "004010", Segment("GS", [])) for i in range(2)]


@st.composite
def _judged(draw):
    ref = draw(st.one_of(st.integers(0, 30).map(str), st.integers(0, 30).map(lambda n: f"{n:04d}"),
                         st.sampled_from(["A", "0x1"])))
    clean = draw(st.booleans())
    return Judged(draw(st.sampled_from(["850", "855"])), ref, draw(st.sampled_from([None, *_GROUPS])),
                  draw(st.sampled_from([(), ("004010",)])), ACCEPTED if clean else REJECTED,
                  () if clean else ("5",), (), None)


@settings(max_examples=200, deadline=None)
@given(st.lists(_judged(), max_size=60))
def test_judgedlist_gives_back_what_was_appended_in_order(items):
    compact = JudgedList(items)
    assert len(compact) == len(items) and bool(compact) == bool(items)
    back = list(compact)
    assert [(j.type, j.ref, j.group, j.identifier, j.status, j.codes) for j in back] == \
        [(j.type, j.ref, j.group, j.identifier, j.status, j.codes) for j in items]
    assert set(compact.statuses()) == {j.status for j in items}


def _ack_requested(data: bytes) -> bytes:
    """UNB 0031 = 1: the sender asks for a CONTRL."""
    return re.sub(rb"(UNB\+[^']*\+\d{6}:\d{4}\+\d+)'", rb"\1++++1'", data, count=1)


def test_a_contrl_of_1500_messages_answers_each_and_its_json_lists_1000_with_the_totals():
    (ack,) = _acknowledge(_ack_requested(generate.edifact_orders(1500, lines=1, seed=16)))
    text = ack.data.decode("latin-1")
    assert ack.kind == "CONTRL" and text.count("UCM+") == 1500 and "UCI+" in text
    assert re.search(rb"UNT\+1503\+", ack.data)  # UNH, UCI, 1,500 UCM, UNT
    got = ack.to_json()
    assert len(got["answers"]["messages"]) == 1000 and got["answers"]["messages_total"] == 1500
    assert len(got["verdicts"]) == 1000 and got["verdicts_total"] == 1501  # the interchange's and each message's


def test_a_contrl_of_a_few_messages_lists_every_one():
    (ack,) = _acknowledge(_ack_requested(generate.edifact_orders(3, lines=1, seed=17)))
    got = ack.to_json()
    assert got["answers"]["messages"] == ["1", "2", "3"] and "messages_total" not in got["answers"]
    assert [v["level"] for v in got["verdicts"]] == ["interchange", "message", "message", "message"]
