"""Every sample document becomes exactly its golden events, through the shipped partner files.

Each document in ``samples/`` has a ``<name>.events.json`` beside it: what
``edigw map SAMPLE --received-at 2026-11-25T08:00:00Z --receipt-id golden``
prints. The mapping runs in-process here, through the same composition root
and pipeline as the command. Rewrite the goldens with ``UPDATE_GOLDEN=1``, then
read the diff against the documents before committing it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.bootstrap import Parts, build
from gateway.cli import event_json
from gateway.config import GatewayConfig
from gateway.mapping.loader import check_partners
from gateway.mapping.targets import load_targets
from gateway.inbound.document import Document
from gateway.sinks.memory import MemorySink

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = ROOT / "samples"
RECEIVED = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))
DOCUMENT_SUFFIXES = {".edi", ".x12", ".xml"}

SAMPLES = sorted(p for p in SAMPLES_DIR.rglob("*") if p.is_file() and p.suffix in DOCUMENT_SUFFIXES)


def golden_of(sample: Path) -> Path:
    return sample.with_name(sample.name + ".events.json")


def sample_id(sample: Path) -> str:
    return sample.relative_to(SAMPLES_DIR).as_posix()


# With UPDATE_GOLDEN=1 a sample without a golden gets one; otherwise only the
# samples with a golden are compared (the completeness test below fails for the others).
CHECKED = SAMPLES if UPDATE else [s for s in SAMPLES if golden_of(s).exists()]


@pytest.fixture(scope="module")
def parts() -> Parts:
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas")
    sink = MemorySink()
    built = build(config, sink=sink)
    sink.encoder = built.encoder  # every event is also Avro-encoded, as on the way to Kafka
    return built


def events_of(parts: Parts, sample: Path) -> list[dict]:
    outcome = parts.pipeline.process(Document(sample.read_bytes(), received_at=RECEIVED, receipt_id="golden"))
    dead = [f"{d.record['stage']}: {d.record['reason_code']}: {d.record['error']} at {d.record['position']}"
            for d in outcome.dead_letters]
    assert dead == [], f"{sample_id(sample)} has dead letters"
    # through JSON, as the command prints them
    return json.loads(json.dumps([event_json(parts.schemas, e) for e in outcome.events], ensure_ascii=False))


@pytest.mark.parametrize("sample", CHECKED, ids=sample_id)
def test_sample_maps_to_its_golden_events(parts: Parts, sample: Path):
    got = events_of(parts, sample)
    assert got, f"{sample_id(sample)} gives no event"
    golden = golden_of(sample)
    if UPDATE:
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_every_sample_document_has_a_golden():
    assert len(SAMPLES) >= 15
    # No exceptions: the Windows-1252 order is a sample like any other.
    assert SAMPLES_DIR / "edifact" / "orders_d96a_windows1252.edi" in SAMPLES
    missing = [sample_id(s) for s in SAMPLES if not golden_of(s).exists()]
    assert missing == [], "write their goldens with UPDATE_GOLDEN=1 and review them"


def test_every_golden_belongs_to_a_sample():
    orphans = [g.relative_to(SAMPLES_DIR).as_posix() for g in SAMPLES_DIR.rglob("*.events.json")
               if g.with_name(g.name[: -len(".events.json")]) not in SAMPLES]
    assert orphans == []


def test_the_partner_files_have_no_problem():
    assert check_partners(ROOT / "mappings", load_targets(ROOT / "schemas")) == []


def outline(parts: Parts, data: bytes) -> list[tuple[str, str, str | None, str | None]]:
    """(message ref, event type, status code, signer) of each event of ``data``."""
    outcome = parts.pipeline.process(Document(data, received_at=RECEIVED, receipt_id="mixed"))
    assert outcome.dead_letters == []
    return [(e.record["source"]["message_ref"], e.event_type, e.record.get("status_code"), e.record.get("received_by"))
            for e in outcome.events]


def test_a_carrier_message_with_a_scan_and_a_delivery_gives_one_event_of_each(parts: Parts):
    """The carrier routes split by status item, not by message: a route-level
    `when` alone sees only a message's first status."""
    iftsta = (SAMPLES_DIR / "edifact" / "iftsta_d96a.edi").read_bytes().replace(
        b"UNT+13+1'",
        b"STS+1+21::6:Delivery, completed'RFF+CN:JJD0099887766'DTM+334:202611241012:203'"
        b"NAD+CN+5412345000020::9++J. Peeters'LOC+7+BEBRU:139:6:Bruxelles'UNT+18+1'")
    assert outline(parts, iftsta) == [("1", "ParcelScanned", "31", None), ("1", "ShipmentDelivered", None, "J. Peeters"),
                                      ("2", "ShipmentDelivered", None, "J. Peeters")]
    x12 = (SAMPLES_DIR / "x12" / "214_4010.x12").read_bytes()
    head, rest = x12.split(b"SE*14*0001~", 1)
    x12 = head + b"LX*2~AT7*D1*NS***20261123*1012*LT~MS1*OAKLAND*CA*US~K1*M GARCIA~SE*18*0001~" + rest
    assert outline(parts, x12) == [("0001", "ParcelScanned", "X6", None), ("0001", "ShipmentDelivered", None, "M GARCIA"),
                                   ("0002", "ShipmentDelivered", None, "M GARCIA")]


def test_goldens_agree_with_the_story():
    """A few facts of samples/README.md, pinned apart from the generated goldens."""

    def load(name: str) -> list[dict]:
        return json.loads((SAMPLES_DIR / f"{name}.events.json").read_text(encoding="utf-8"))

    def types(name: str) -> list[tuple[str, str | None]]:
        return [(item["event_type"], item["key"]) for item in load(name)]

    assert types("edifact/orders_d96a.edi") == [("OrderCreated", "PO-45001")]
    assert types("edifact/orders_d96a_windows1252.edi") == [("OrderCreated", "PO-45002")]
    assert load("edifact/orders_d96a_windows1252.edi")[0]["event"]["notes"] == \
        "Livraison \u201curgente\u201d \u2013 budget max. 150 \u20ac HT"
    assert types("edifact/iftsta_d96a.edi") == [("ParcelScanned", "JJD0099887766"),
                                                ("ShipmentDelivered", "JJD0099887766")]
    delivered = load("edifact/iftsta_d96a.edi")[1]["event"]
    assert (delivered["delivered_at"], delivered["received_by"]) == ("2026-11-24T09:12:00.000Z", "J. Peeters")
    invoice = load("edifact/invoic_d96a.edi")[0]["event"]
    assert (invoice["net_amount"], invoice["tax_amount"], invoice["total_amount"]) == ("532.80", "111.89", "644.69")
    desadv = load("edifact/desadv_d96a.edi")[0]["event"]
    assert [p["sscc"] for p in desadv["packages"]] == ["340123450000300117", "340123450000300124"]
    assert [[i["quantity"] for i in p["items"]] for p in desadv["packages"]] == [["12.0000"], ["24.0000"]]
    ship_notice = load("x12/856_4010.x12")[0]["event"]
    assert [p["sscc"] for p in ship_notice["packages"]] == ["000123450000552113", "000123450000552120"]
    assert load("x12/810_4010.x12")[0]["event"]["total_amount"] == "834.00"
    assert types("x12/214_4010.x12") == [("ParcelScanned", "1Z999AA10123456784"),
                                         ("ShipmentDelivered", "1Z999AA10123456784")]
    assert load("x12/214_4010.x12")[1]["event"]["delivered_at"] == "2026-11-23T18:12:00.000Z"  # 10:12 in Oakland
    assert [m["status"] for m in load("x12/997_4010.x12")[0]["event"]["messages"]] == ["ACCEPTED"]
    assert load("xml/ubl21_invoice.xml")[0]["event"]["total_amount"] == "355.74"
