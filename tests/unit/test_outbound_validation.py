"""Outbound content validation: a rendered document that its partner's guide refuses is not sent."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.outbound.egress import Egress
from gateway.outbound.outbox import Dispatcher
from gateway.outbound.render import load_routes
from gateway.sinks.memory import MemorySink
from gateway.state.base import DELIVERY_FAILED, QUEUED
from gateway.state.memory import MemoryStore
from gateway.validation.documents import checker, errors_in

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
EVENT = ROOT / "samples" / "outbound" / "acme-retail.po-acknowledgement.event.json"


def gateway(tmp_path: Path, *, with_prices: bool = True, po104_mandatory: bool = True):
    """The outbound side with the shipped partner files: ACME's guide has PO104 (the unit price) mandatory.
    ``with_prices=False``: the sample event as a producer that does not know the line unit_price sends it."""
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    guide = mappings / "guides" / "acme-retail.yaml"
    assert "      PO104: {mandatory: true}" in guide.read_text()
    if not po104_mandatory:
        guide.write_text(guide.read_text().replace("      PO104: {mandatory: true}", "      # PO104 optional"))
    parts = build(GatewayConfig(mappings=mappings, schemas=ROOT / "schemas"), sink=MemorySink())
    routes = load_routes(mappings, parts.schemas)
    store, dead = MemoryStore(), []
    egress = Egress(store, LocalArchive(tmp_path / "archive"), routes.plan, dead_letters=dead.extend,
                    check=checker(parts.partners))
    item = json.loads(EVENT.read_text())
    if not with_prices:
        for line in item["event"]["lines"]:
            del line["unit_price"]  # the field's default (null) applies
    return egress, store, dead, item["event_type"], parts.schemas.from_json(item["event_type"], item["event"])


class Channel:
    def __init__(self):
        self.sent = []

    def __getattr__(self, name):  # any way of sending counts
        return lambda *a, **k: self.sent.append((name, a, k))


def test_the_sample_855_carries_po104_and_passes_acmes_guide(tmp_path):
    egress, store, dead, event_type, record = gateway(tmp_path)
    [queued] = egress.handle(event_type, record, now=NOW)
    assert queued.document.status == QUEUED and dead == []
    data = egress.archive.path(queued.document.raw_ref).read_bytes()
    assert checker(egress_partners(tmp_path))("acme-retail", data) == []  # the standard and ACME's guide
    po1 = [s.strip() for s in data.decode().split("~") if s.strip().startswith("PO1*")]
    assert [s.split("*")[4] for s in po1] == ["12.75", "88.00"]
    channel = Channel()
    assert Dispatcher(store, egress.archive, {"acme-retail": channel}).deliver_due(NOW) == 1
    assert len(channel.sent) == 1


def egress_partners(tmp_path: Path):
    return build(GatewayConfig(mappings=tmp_path / "mappings", schemas=ROOT / "schemas"), sink=MemorySink()).partners


def test_an_855_with_an_empty_po104_that_the_guide_makes_mandatory_is_not_sent(tmp_path):
    egress, store, dead, event_type, record = gateway(tmp_path, with_prices=False)
    assert egress.handle(event_type, record, now=NOW) == []  # nothing queued
    [doc] = store.find_outbound()
    assert doc.status == DELIVERY_FAILED and doc.kind == "855"
    assert "PO104" in doc.details["error"] and doc.details["error"].startswith("not valid for acme-retail: ")
    assert {f["code"] for f in doc.details["findings"]} == {"ELEMENT_MISSING"}
    assert len(doc.details["findings"]) == 2  # both lines
    [letter] = dead
    r = letter.record
    assert (r["stage"], r["reason_code"], r["partner_id"]) == ("validation", "ELEMENT_MISSING", "acme-retail")
    assert "PO104" in r["error"] and r["raw_ref"] == doc.raw_ref and "element 4" in r["position"]
    # what was rendered is kept (nothing is lost), and no dispatcher sends it
    assert errors_in(egress.archive.path(doc.raw_ref).read_bytes())  == []  # fine by the standard alone
    channel = Channel()
    assert Dispatcher(store, egress.archive, {"acme-retail": channel}).deliver_due(NOW) == 0
    assert channel.sent == [] and store.find_outbound(status=QUEUED) == []
    # read again (a redelivered event): not rendered, not queued again
    assert [q.document for q in egress.handle(event_type, record, now=NOW)] == [None]


def test_the_same_855_is_queued_when_the_guide_does_not_ask_for_po104(tmp_path):
    egress, store, dead, event_type, record = gateway(tmp_path, with_prices=False, po104_mandatory=False)
    [queued] = egress.handle(event_type, record, now=NOW)
    assert queued.document.status == QUEUED and dead == []


def test_a_document_invalid_by_the_standard_is_refused_for_any_partner():
    data = (b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *261125*0000*U*00401*000000001*0*P*>~"
            b"GS*PR*A*B*20261125*0000*1*X*004010~ST*855*0001~BAK*00*AC*PO-1~SE*3*0001~GE*1*1~IEA*1*000000001~")
    [issue] = checker(None)("anyone", data)
    assert (issue.code, issue.location.tag, issue.location.element) == ("ELEMENT_MISSING", "BAK", 4)
