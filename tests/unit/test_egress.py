"""Egress: an event becomes queued documents, once per event, partner and route."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway.archive import LocalArchive
from gateway.outbound.egress import Egress
from gateway.errors import TerminalError
from gateway.state.memory import MemoryStore

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
EVENT = {"event_id": "3f1e6f0a-0000-5000-8000-000000000001", "order_number": "PO-1"}


@dataclass
class Doc:
    data: bytes
    message_type: str
    control_refs: dict = field(default_factory=dict)
    expects_ack: bool = True


@dataclass
class FakePlan:
    partner_id: str
    name: str
    fail: bool = False
    calls: list = field(default_factory=list)

    def render(self, numbers, now):
        self.calls.append(now)
        if self.fail:
            raise TerminalError("no order_number in the event, needed by BGM at line 12")
        number = numbers("UNB0020")
        return Doc(f"UNB+{number}'".encode(), "ORDRSP", {"UNB0020": str(number)})


def egress(tmp_path, plans, dead=None):
    store = MemoryStore()
    return store, Egress(store, LocalArchive(tmp_path), lambda event_type, record: plans, dead_letters=dead)


def test_an_event_is_rendered_once_per_partner_and_route_even_when_read_again(tmp_path):
    a, b = FakePlan("brasserie", "ordrsp"), FakePlan("kontor", "ordrsp")
    store, e = egress(tmp_path, [a, b])
    first = e.handle("OrderResponded", EVENT, now=NOW)
    assert [q.document.partner_id for q in first] == ["brasserie", "kontor"]
    again = e.handle("OrderResponded", EVENT, now=NOW)  # redelivered after a crash before the commit
    assert [q.document for q in again] == [None, None]
    assert len(a.calls) == len(b.calls) == 1  # not rendered again: no control number used twice
    docs = store.find_outbound()
    assert len(docs) == 2 and {d.control_ref for d in docs} == {"1"}  # numbered per partner
    assert docs[0].details["event_id"] == EVENT["event_id"] and docs[0].kind == "ORDRSP"
    assert e.archive.path(docs[0].raw_ref).read_bytes() == b"UNB+1'"


def test_a_render_error_becomes_a_dead_letter_and_the_others_go_on(tmp_path):
    dead = []
    store, e = egress(tmp_path, [FakePlan("brasserie", "ordrsp", fail=True), FakePlan("kontor", "ordrsp")],
                      dead=dead.extend)
    done = e.handle("OrderResponded", EVENT, now=NOW)
    assert [q.plan.partner_id for q in done] == ["kontor"]
    [letter] = dead
    assert letter.event_type == "DeadLetter" and letter.record["stage"] == "render"
    assert "BGM at line 12" in letter.record["error"] and letter.record["partner_id"] == "brasserie"
    assert letter.record["message_ref"] == EVENT["event_id"]


def test_an_event_no_route_takes_queues_nothing(tmp_path):
    store, e = egress(tmp_path, [])
    assert e.handle("ParcelScanned", EVENT, now=NOW) == [] and store.find_outbound() == []
