"""The partners' CONTRL, 997 and 999 become AcknowledgementReceived through the shipped partner files.

The routes are written in the mapping language (``mappings/*.yaml``); what
they say is checked here against the gateway's own reading of the same
acknowledgement (``gateway.acks.read_acknowledgement``, the one the outbox is
reconciled with). Every CONTRL, 997 and 999 the gateway builds in
``tests/golden/acks`` is fed back in as if the partner had sent it (their
envelopes name Kontor Elektronik, the Brasserie, ACME RETAIL or WIDGET
SUPPLY), and the samples ``edifact/contrl_d3.edi`` and ``x12/999_5010.x12``
are pinned by fact.

What the routes cannot say, pinned so that a change is deliberate: a CONTRL
has no "accepted with errors" action code (0083 is 7 or 4), so an accepted
level with errors noted is ACCEPTED in the event (a message's errors are
listed). 0083 = 8 (received, syntax 4) is RECEIVED. A 997/999 names only the
group it answers: its event has no interchange reference and is keyed by the
group.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.acks import read_acknowledgement
from gateway.bootstrap import Parts, build
from gateway.config import GatewayConfig
from gateway.inbound.document import Document
from gateway.sinks.memory import MemorySink
from gateway.syntax import parse

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
GOLDEN_ACKS = ROOT / "tests" / "golden" / "acks"
RECEIVED = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)

# gateway.acks statuses as AckStatus symbols; CONTRL 0083 cannot say "with errors"
X12_STATUS = {"accepted": "ACCEPTED", "accepted_with_errors": "ACCEPTED_WITH_ERRORS",
              "partially_accepted": "PARTIALLY_ACCEPTED", "rejected": "REJECTED", "received": "RECEIVED"}
CONTRL_STATUS = {**X12_STATUS, "accepted_with_errors": "ACCEPTED"}


@pytest.fixture(scope="module")
def parts() -> Parts:
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas")
    sink = MemorySink()
    built = build(config, sink=sink)
    sink.encoder = built.encoder  # the events are Avro-encoded too, as on the way to Kafka
    return built


def run(parts: Parts, data: bytes):
    return parts.pipeline.process(Document(data, received_at=RECEIVED, receipt_id="acks"))


def events(parts: Parts, data: bytes) -> list[dict]:
    outcome = run(parts, data)
    dead = [f"{d.record['reason_code']}: {d.record['error']}" for d in outcome.dead_letters]
    assert dead == []
    assert {e.event_type for e in outcome.events} == {"AcknowledgementReceived"}
    return [{**e.record, "key": e.key} for e in outcome.events]


def built_acknowledgements() -> list[tuple[str, str, bytes]]:
    """(case, kind, document) of every CONTRL, 997 and 999 the gateway's goldens hold."""
    out = []
    for path in sorted(GOLDEN_ACKS.glob("*.json")):
        for ack in json.loads(path.read_text(encoding="utf-8"))["acknowledgements"]:
            if ack["kind"] in ("CONTRL", "997", "999"):
                out.append((path.stem, ack["kind"], "".join(ack["document"]).encode("latin-1")))
    return out


BUILT = built_acknowledgements()


def test_there_are_acknowledgements_of_every_kind_to_read():
    kinds = {kind for _, kind, _ in BUILT}
    assert kinds == {"CONTRL", "997", "999"} and len(BUILT) >= 30


def _segment_errors(findings) -> list[str]:
    """One code per segment in error, as the CONTRL route lists them (UCS 0085, else its first UCD's)."""
    first: OrderedDict[int, str] = OrderedDict()
    for f in findings:
        if f.element is None:
            first[f.position] = f.code  # the segment's own code comes first
        else:
            first.setdefault(f.position, f.code)
    return list(first.values())


@pytest.mark.parametrize(("case", "kind", "data"), BUILT, ids=[f"{c}-{k}" for c, k, _ in BUILT])
def test_the_event_says_what_the_gateway_reads(parts: Parts, case: str, kind: str, data: bytes):
    [ic] = parse(data)
    [message] = ic.messages
    report = read_acknowledgement(message)
    [event] = events(parts, data)
    table = CONTRL_STATUS if kind == "CONTRL" else X12_STATUS
    sets = [v for v in report.verdicts if v.level == "message"]
    groups = [v for v in report.verdicts if v.level == "group"]
    assert event["status"] == table[report.status]
    assert [(m["message_ref"], m["message_type"], m["status"]) for m in event["messages"]] == \
        [(v.ref, v.type, table[v.status]) for v in sets]
    assert event["acknowledged_group_ref"] == (groups[0].ref if groups else None)
    if kind == "CONTRL":
        assert event["acknowledged_syntax"] == "edifact"
        assert event["acknowledged_interchange_ref"] == event["key"] == report.interchange_ref
        assert [m["errors"] for m in event["messages"]] == [_segment_errors(v.findings) for v in sets]
    else:
        assert event["acknowledged_syntax"] == "x12"
        assert event["acknowledged_interchange_ref"] is None and event["key"] == event["acknowledged_group_ref"]
        assert event["partner_id"] in ("acme-retail", "widget-supply")  # whichever its ISA06 names
        # AK502 / IK502: the first code of each set
        assert [m["errors"] for m in event["messages"]] == [list(v.codes[:1]) for v in sets]


# -- the samples ---------------------------------------------------------------


def test_the_brasserie_rejects_the_ordrsp_and_accepts_the_invoic(parts: Parts):
    data = (SAMPLES / "edifact" / "contrl_d3.edi").read_bytes()
    got = events(parts, data)
    assert [(e["partner_id"], e["key"], e["status"]) for e in got] == [
        ("brasserie-du-parc", "501", "REJECTED"), ("brasserie-du-parc", "503", "ACCEPTED")]
    # what they answer: the outbound samples the gateway sent the Brasserie
    ordrsp = parse((SAMPLES / "outbound" / "brasserie-du-parc.ordrsp.edi").read_bytes())[0]
    invoic = parse((SAMPLES / "outbound" / "brasserie-du-parc.invoic.edi").read_bytes())[0]
    assert [e["acknowledged_interchange_ref"] for e in got] == [ordrsp.control_ref, invoic.control_ref]
    assert got[0]["messages"] == [{"message_ref": ordrsp.messages[0].ref, "message_type": "ORDRSP",
                                   "status": "REJECTED", "errors": ["14"]}]
    assert got[1]["messages"] == [{"message_ref": invoic.messages[0].ref, "message_type": "INVOIC",
                                   "status": "ACCEPTED", "errors": []}]
    # UCS+14 / UCD+14+3: LIN 1229 (position 3, the tag counting 1) of the 14th segment, "3" (changed)
    lin = ordrsp.messages[0].segments[13]
    assert (lin.tag, lin.get(2)) == ("LIN", "3")


def test_acme_accepts_the_855_group_with_errors_in_a_999(parts: Parts):
    [event] = events(parts, (SAMPLES / "x12" / "999_5010.x12").read_bytes())
    assert (event["partner_id"], event["key"], event["acknowledged_group_ref"], event["status"]) == \
        ("acme-retail", "4120", "4120", "ACCEPTED_WITH_ERRORS")
    assert event["acknowledged_interchange_ref"] is None  # a 999 names the group, not the interchange
    assert event["messages"] == [{"message_ref": "0001", "message_type": "855", "status": "ACCEPTED_WITH_ERRORS",
                                  "errors": ["I5"]}]
    # IK3*ACK*6 and *8: the two ACK segments of the 855 it answers, whose ACK04 is 068
    [ic] = parse((SAMPLES / "x12" / "855_4010.x12").read_bytes())
    assert ic.groups[0].control_ref == event["acknowledged_group_ref"]
    segments = ic.messages[0].segments
    assert [(segments[p - 1].tag, segments[p - 1].get(4)) for p in (6, 8)] == [("ACK", "068"), ("ACK", "068")]


# -- what the samples do not show ----------------------------------------------

CONTRL_FROM_KONTOR = (
    "UNB+UNOC:{version}+4012345000009:14+5412345000013:14+{date}:1000+KE0000490'"
    "UNH+1+{identifier}'"
    "UCI+601+5412345000013:14+4012345000009:14+{uci}'"
    "{body}"
    "UNT+{count}+1'"
    "UNZ+1+KE0000490'")


def contrl(body: list[str], uci: str = "7", version: str = "3") -> bytes:
    identifier = "CONTRL:4:1:UN" if version == "4" else "CONTRL:D:3:UN"
    date = "20261125" if version == "4" else "261125"
    return CONTRL_FROM_KONTOR.format(version=version, identifier=identifier, date=date, uci=uci,
                                     body="".join(body), count=len(body) + 3).encode("latin-1")


@pytest.mark.parametrize(("uci", "body", "status", "messages"), [
    ("7", [], "ACCEPTED", []),
    ("7", ["UCM+601+ORDERS:D:96A:UN:EAN008+7'"], "ACCEPTED", [("601", "ACCEPTED", [])]),
    ("4", ["UCM+601+ORDERS:D:96A:UN:EAN008+4'", "UCS+4+13'", "UCS+9'", "UCD+12+2:1'", "UCD+37+3'"], "REJECTED",
     [("601", "REJECTED", ["13", "12"])]),
    ("4+26+UNB+6", [], "REJECTED", []),  # a duplicate, rejected whole
    ("7", ["UCM+601+ORDERS:D:96A:UN:EAN008+7'", "UCM+602+ORDERS:D:96A:UN:EAN008+4+29+UNT+2'"],
     "PARTIALLY_ACCEPTED", [("601", "ACCEPTED", []), ("602", "REJECTED", [])]),
    ("7", ["UCF+G1+5412345000013:14+4012345000009:14+4+29+UNE+2'", "UCF+G2+5412345000013:14+4012345000009:14+7'",
           "UCM+602+ORDERS:D:96A:UN:EAN008+7'"], "PARTIALLY_ACCEPTED", [("602", "ACCEPTED", [])]),
])
@pytest.mark.parametrize("version", ["3", "4"])
def test_a_contrl_from_kontor(parts: Parts, uci, body, status, messages, version):
    [event] = events(parts, contrl(body, uci=uci, version=version))
    assert (event["partner_id"], event["acknowledged_interchange_ref"], event["status"]) == \
        ("kontor-elektronik", "601", status)
    assert event["source"]["message_version"] == ("41" if version == "4" else "D3")
    assert [(m["message_ref"], m["status"], m["errors"]) for m in event["messages"]] == messages
    assert event["acknowledged_group_ref"] == ("G1" if "UCF+G1" in "".join(body) else None)


def test_a_997_from_widget_supply(parts: Parts):
    """WIDGET SUPPLY answers the 850s the gateway sends it: its 997 was a dead letter before."""
    data = (b"ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMERETAIL     *261125*0915*U*00401*000004130*0*P*>~"
            b"GS*FA*WIDGETSUPPLY*ACMERETAIL*20261125*0915*4130*X*004010~ST*997*0001~AK1*PO*1701~"
            b"AK2*850*0001~AK5*A~AK2*850*0002~AK3*PO1*6**8~AK4*2**6*2X~AK5*R*5~AK9*P*2*2*1~SE*10*0001~"
            b"GE*1*4130~IEA*1*000004130~")
    [event] = events(parts, data)
    assert (event["partner_id"], event["key"], event["acknowledged_group_ref"], event["status"]) == \
        ("widget-supply", "1701", "1701", "PARTIALLY_ACCEPTED")
    assert [(m["message_ref"], m["message_type"], m["status"], m["errors"]) for m in event["messages"]] == \
        [("0001", "850", "ACCEPTED", []), ("0002", "850", "REJECTED", ["5"])]


# -- the reasons an outbound document's record shows -------------------------------------------

def test_the_reasons_of_the_brasserie_s_contrl_and_acme_s_999_in_words():
    from gateway.acks.reasons import verdict_details

    [contrl] = parse((SAMPLES / "edifact" / "contrl_d3.edi").read_bytes())
    report = read_acknowledgement(contrl.messages[0])
    [ordrsp] = [v for v in report.verdicts if v.level == "message"]
    # UCS+14 / UCD+14+3: element 3 of S011 counts the tag, so the LIN's element 2 (1229)
    assert verdict_details("CONTRL", ordrsp)["reasons"] == [
        "UCD at segment 14, element 2: 14 (value not supported in this position)"]
    [ack] = parse((SAMPLES / "x12" / "999_5010.x12").read_bytes())
    report = read_acknowledgement(ack.messages[0])
    [set_855] = [v for v in report.verdicts if v.level == "message"]
    details = verdict_details("999", set_855)
    assert details["codes"] == ["I5"]
    assert details["reasons"][:2] == [
        "IK3 ACK at segment 6: 8 (segment has data element errors)",
        "IK4 ACK at segment 6, element 4: I6 (code value not used in implementation), value 068"]
