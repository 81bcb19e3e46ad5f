"""Order to cash, document to document, for each sample partner: what a partner sends and what it gets back.

The chain for each pair of the stories in ``samples/README.md``: the inbound
sample document -> its events (the golden ``.events.json``) -> that very event
as ``samples/outbound/<partner>.<route>.event.json`` -> the route's document
(the golden beside it) -> read back with the sending partner's inbound rules
-> the same event. The steps are golden-checked one by one in
``test_golden_events.py`` and ``test_render_samples.py``; here they are chained,
and the fields that carry a document's meaning across both ways are asserted by
name: the order date (BAK04, DTM+171), the confirmed unit price (PO104,
PRI+AAA), the currency, and the state or province of an address (N402, NAD
3229).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.events.schemas import SchemaSet
from gateway.inbound.document import Document
from gateway.outbound.render import load_routes, numbering, render
from gateway.sinks.memory import MemorySink
from gateway.syntax import parse
from gateway.validation.documents import checker

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
SCHEMAS = SchemaSet.load(ROOT / "schemas")
ENVELOPE = ("event_id", "received_at", "source")

# inbound sample -> (receiving partner, route, the outbound sample's stem, its first control number)
CHAINS = {
    "x12/850_4010.x12": ("widget-supply", "purchase-order", "widget-supply.purchase-order", 701),
    "x12/855_4010.x12": ("acme-retail", "po-acknowledgement", "acme-retail.po-acknowledgement", 801),
    "x12/856_4010.x12": ("acme-retail", "ship-notice", "acme-retail.ship-notice", 802),
    "x12/810_4010.x12": ("acme-retail", "invoice", "acme-retail.invoice", 803),
    "edifact/orders_d96a.edi": ("kontor-elektronik", "orders", "kontor-elektronik.orders", 601),
    "edifact/ordrsp_d96a.edi": ("brasserie-du-parc", "ordrsp", "brasserie-du-parc.ordrsp", 501),
    "edifact/desadv_d96a.edi": ("brasserie-du-parc", "desadv", "brasserie-du-parc.desadv", 502),
    "edifact/invoic_d96a.edi": ("brasserie-du-parc", "invoic", "brasserie-du-parc.invoic", 503),
}
EXTENSION = {"x12": ".x12", "edifact": ".edi"}


@pytest.fixture(scope="module")
def gateway():
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    return parts, load_routes(ROOT / "mappings", parts.schemas)


def events_of(parts, data: bytes) -> list[dict]:
    outcome = parts.pipeline.process(Document(data, received_at=NOW, receipt_id="golden"))
    assert outcome.dead_letters == [], [d.record["error"] for d in outcome.dead_letters]
    return [SCHEMAS.to_json(e.event_type, e.record) for e in outcome.events]


def business(event: dict) -> dict:
    return {k: v for k, v in event.items() if k not in ENVELOPE}


def rendered(routes, partner: str, route_name: str, event_type: str, event: dict, first: int):
    route = routes.get(partner, route_name)
    record = SCHEMAS.from_json(event_type, event)
    assert route.takes(record)
    return render(record, route, numbers=numbering(first), now=NOW)


def segments(data: bytes) -> list:
    [ic] = parse(data)
    [message] = ic.messages
    return message.segments


def addresses(event: dict) -> list[dict]:
    return [event[k]["address"] for k in ("buyer", "supplier", "ship_to", "ship_from", "seller")
            if event.get(k) and event[k].get("address")]


@pytest.mark.parametrize("sample", sorted(CHAINS), ids=str)
def test_inbound_document_to_events_to_outbound_document_and_back(gateway, sample):
    parts, routes = gateway
    partner, route_name, stem, first = CHAINS[sample]
    # 1. the partner's document -> its events: the golden
    events = events_of(parts, (SAMPLES / sample).read_bytes())
    golden_events = json.loads((SAMPLES / (sample + ".events.json")).read_text(encoding="utf-8"))
    assert events == [g["event"] for g in golden_events]
    [event] = events
    # 2. that event is the outbound sample's event
    outbound_event = json.loads((SAMPLES / "outbound" / f"{stem}.event.json").read_text(encoding="utf-8"))
    assert outbound_event["event"] == event
    # 3. -> the other partner's document: the golden
    doc = rendered(routes, partner, route_name, event["event_type"], event, first)
    syntax = "x12" if sample.startswith("x12/") else "edifact"
    assert doc.data == (SAMPLES / "outbound" / f"{stem}{EXTENSION[syntax]}").read_bytes()
    # 4. read back: the same event
    [back] = events_of(parts, doc.data)
    assert business(back) == business(event)
    # the states of the X12 addresses (N402) went both ways (the 855 names no party with an address)
    if syntax == "x12" and sample != "x12/855_4010.x12":
        states = {a["city"]: a["state"] for a in addresses(event)}
        assert states and set(states.values()) <= {"CA", "NV"} and None not in states.values()
        n4 = {s.get(1): s.get(2) for s in segments(doc.data) if s.tag == "N4"}
        assert n4 == states


def test_the_855_carries_the_order_date_unit_prices_and_currency_both_ways(gateway):
    parts, routes = gateway
    [event] = events_of(parts, (SAMPLES / "x12/855_4010.x12").read_bytes())
    assert (event["order_date"], event["response_date"], event["currency"]) == ("2026-11-20", "2026-11-20", "USD")
    assert [line["unit_price"] for line in event["lines"]] == ["12.7500", "88.0000"]
    # an acknowledgement a day after the order: BAK04 is the PO's date, BAK09 the acknowledgement's
    later = {**event, "order_date": "2026-11-19", "response_date": "2026-11-20"}
    doc = rendered(routes, "acme-retail", "po-acknowledgement", "OrderResponded", later, 801)
    body = segments(doc.data)
    bak = next(s for s in body if s.tag == "BAK")
    assert (bak.get(3), bak.get(4), bak.get(9)) == ("PO-88231", "20261119", "20261120")
    assert [s.get(4) for s in body if s.tag == "PO1"] == ["12.75", "88.00"]  # PO104
    assert next(s for s in body if s.tag == "CUR").elements[:2] == ["SE", "USD"]
    # ACME's guide has PO104 mandatory: the rendered 855 passes it, and the standard
    assert checker(parts.partners)("acme-retail", doc.data) == []
    [back] = events_of(parts, doc.data)
    assert (back["order_date"], back["response_date"], back["currency"]) == ("2026-11-19", "2026-11-20", "USD")
    assert [line["unit_price"] for line in back["lines"]] == ["12.7500", "88.0000"]


def test_an_855_without_unit_prices_fails_acmes_guide(gateway):
    parts, routes = gateway
    [event] = events_of(parts, (SAMPLES / "x12/855_4010.x12").read_bytes())
    bare = {**event, "lines": [{**line, "unit_price": None} for line in event["lines"]]}
    doc = rendered(routes, "acme-retail", "po-acknowledgement", "OrderResponded", bare, 801)
    found = checker(parts.partners)("acme-retail", doc.data)
    assert [(i.code, i.location.tag, i.location.element) for i in found] == [("ELEMENT_MISSING", "PO1", 4)] * 2


def test_the_ordrsp_carries_the_order_date_unit_prices_currency_and_a_state_both_ways(gateway):
    parts, routes = gateway
    [event] = events_of(parts, (SAMPLES / "edifact/ordrsp_d96a.edi").read_bytes())
    assert (event["order_date"], event["currency"]) == ("2026-11-20", "EUR")
    assert [line["unit_price"] for line in event["lines"]] == ["24.5000", "9.9500"]
    # the Brasserie's order of 19 Nov, its buyer with a full address (NAD 3229: the region, ISO 3166-2)
    event = {**event, "order_date": "2026-11-19",
             "buyer": {**event["buyer"], "name": "Brasserie du Parc",
                       "address": {"street": "Rue de l'Eglise 12", "city": "Bruxelles", "postal_code": "1000",
                                   "state": "BRU", "country_code": "BE"}}}
    doc = rendered(routes, "brasserie-du-parc", "ordrsp", "OrderResponded", event, 501)
    body = segments(doc.data)
    assert [s.elements for s in body if s.tag == "DTM" and s.get(1, 1) == "171"] == [[["171", "20261119", "102"]]]
    assert [s.elements for s in body if s.tag == "CUX"] == [[["2", "EUR", "9"]]]
    assert [s.get(1, 2) for s in body if s.tag == "PRI"] == ["24.50", "9.95"]
    nad_by = next(s for s in body if s.tag == "NAD" and s.get(1) == "BY")
    assert (nad_by.get(6), nad_by.get(7), nad_by.get(8)) == ("Bruxelles", "BRU", "1000")
    [back] = events_of(parts, doc.data)
    assert business(back) == business(event)


def test_an_order_with_a_state_goes_to_kontor_and_back(gateway):
    parts, routes = gateway
    [event] = events_of(parts, (SAMPLES / "edifact/orders_d96a.edi").read_bytes())
    assert event["buyer"]["address"]["state"] is None  # the sample's NAD+BY has no 3229
    event = {**event, "buyer": {**event["buyer"], "address": {**event["buyer"]["address"], "state": "BRU"}}}
    doc = rendered(routes, "kontor-elektronik", "orders", "OrderCreated", event, 601)
    nad_by = next(s for s in segments(doc.data) if s.tag == "NAD" and s.get(1) == "BY")
    assert nad_by.get(7) == "BRU"
    [back] = events_of(parts, doc.data)
    assert back["buyer"]["address"] == event["buyer"]["address"]


def test_the_ubl_order_response_gives_the_order_date_currency_and_unit_price():
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    [event] = events_of(parts, (SAMPLES / "xml/ubl21_order_response.xml").read_bytes())
    assert (event["order_date"], event["currency"]) == ("2026-11-20", "EUR")
    assert [line["unit_price"] for line in event["lines"]] == ["24.5000"]
