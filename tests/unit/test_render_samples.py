"""The sample outbound routes: every event in ``samples/outbound/`` renders to exactly its golden document.

``samples/outbound/<partner>.<route>[.<variant>].event.json`` is an event as
``edigw map`` prints it (most are the inbound goldens of ``samples/``); beside
it, the golden document the partner's route makes of it: what
``edigw render FILE --partner P --route R --now 2026-11-25T08:00:00Z
--first-number N`` prints, N from :data:`FIRST_NUMBER`. Rewrite the goldens with
``UPDATE_GOLDEN=1``, then read the diff before committing it.

Every golden is then read back: by this project's reader (no issue at all),
by pydifact (EDIFACT) and pyx12 (X12) as independent readers, and through the
gateway's own inbound pipeline, which must give back the event it was rendered
from (the sample routes send under the ids of the partner whose event it is, so
the pipeline maps the document with that partner's inbound rules).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.events.schemas import SchemaSet
from gateway.inbound.document import Document
from gateway.outbound.render import Routes, check_routes, load_routes, numbering, render
from gateway.sinks.memory import MemorySink
from gateway.syntax import parse

ROOT = Path(__file__).resolve().parents[2]
OUTBOUND = ROOT / "samples" / "outbound"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))
EXTENSIONS = {"edifact": ".edi", "x12": ".x12", "xml": ".xml"}
SCHEMAS = SchemaSet.load(ROOT / "schemas")

# The first control number of each sample (every kind counts from it): distinct
# per partner, as a state store would hand them out.
FIRST_NUMBER = {
    "brasserie-du-parc.ordrsp": 501,
    "brasserie-du-parc.desadv": 502,
    "brasserie-du-parc.invoic": 503,
    "kontor-elektronik.orders": 601,
    "widget-supply.purchase-order": 701,
    "acme-retail.po-acknowledgement": 801,
    "acme-retail.ship-notice": 802,
    "acme-retail.invoice": 803,
    "acme-retail.ship-notice.two-orders": 804,
}

EVENTS = sorted(OUTBOUND.glob("*.event.json"))


def stem(event_file: Path) -> str:
    return event_file.name[: -len(".event.json")]


@pytest.fixture(scope="module")
def routes() -> Routes:
    return load_routes(ROOT / "mappings", SCHEMAS)


def route_of(routes: Routes, event_file: Path):
    partner, name, *_ = stem(event_file).split(".")
    route = routes.get(partner, name)
    assert route is not None, f"{event_file.name}: no route {name} for {partner}"
    return route


def event_of(event_file: Path) -> tuple[str, dict]:
    item = json.loads(event_file.read_text(encoding="utf-8"))
    return item["event_type"], SCHEMAS.from_json(item["event_type"], item["event"])


def rendered(routes: Routes, event_file: Path):
    route = route_of(routes, event_file)
    event_type, record = event_of(event_file)
    assert route.takes(record), f"{event_file.name}: the route's `when` does not take its sample"
    return route, render(record, route, numbers=numbering(FIRST_NUMBER[stem(event_file)]), now=NOW)


def golden_of(routes: Routes, event_file: Path) -> Path:
    return OUTBOUND / (stem(event_file) + EXTENSIONS[route_of(routes, event_file).syntax])


def test_the_outbound_routes_of_the_partner_files_have_no_problem():
    assert check_routes(ROOT / "mappings", SCHEMAS) == []


def test_every_sample_event_has_a_number_and_a_golden(routes):
    assert len(EVENTS) >= 9
    assert sorted(stem(e) for e in EVENTS) == sorted(FIRST_NUMBER)
    documents = sorted(p.name for p in OUTBOUND.iterdir() if p.suffix in EXTENSIONS.values())
    assert documents == sorted(golden_of(routes, e).name for e in EVENTS)
    # every sample route renders at least one sample
    covered = {(route_of(routes, e).partner_id, route_of(routes, e).name) for e in EVENTS}
    assert covered == {(r.partner_id, r.name) for r in routes.all}


@pytest.mark.parametrize("event_file", EVENTS, ids=stem)
def test_sample_renders_to_its_golden(routes, event_file):
    _, doc = rendered(routes, event_file)
    golden = golden_of(routes, event_file)
    if UPDATE:
        golden.write_bytes(doc.data)
    assert doc.data == golden.read_bytes()


@pytest.mark.parametrize("event_file", EVENTS, ids=stem)
def test_golden_is_read_back_by_our_reader_without_any_issue(routes, event_file):
    route, doc = rendered(routes, event_file)
    [ic] = parse(doc.data)
    assert ic.all_issues() == []
    [message] = ic.messages
    assert (ic.syntax, message.type, message.version) == (route.syntax, route.message, route.version)
    assert ic.control_ref == doc.control_ref
    assert ic.test is False and ic.ack_requested == route.envelope.ack_requested
    if route.syntax == "edifact":
        assert message.ref == doc.control_refs["UNH0062"]
        assert (ic.sender, ic.recipient, ic.syntax_id) == (route.envelope.sender, route.envelope.recipient,
                                                           route.envelope.syntax_identifier)
    else:
        assert message.ref == doc.control_refs["ST02"] and ic.groups[0].control_ref == doc.control_refs["GS06"]
        assert ic.groups[0].id == route.envelope.functional_id


def pydifact_segments(data: bytes, charset: str) -> list:
    from pydifact.segmentcollection import Interchange as PydifactInterchange

    with warnings.catch_warnings():  # pydifact warns about syntax versions it has no service directory for
        warnings.simplefilter("ignore")
        theirs = PydifactInterchange.from_str(data.decode(charset))
    return theirs, list(theirs.segments)


def pyx12_read(data: bytes) -> tuple[list[list[str]], list]:
    from pyx12 import x12file

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    reader = x12file.X12Reader(io.StringIO(data.decode("ascii")))
    segments = [[seg.get_seg_id(), *(e.format() for e in seg.elements)] for seg in reader]
    return segments, list(reader.pop_errors())


def ours(data: bytes) -> list[list]:
    [ic] = parse(data)
    [message] = ic.messages
    return [s.to_json() for s in message.segments]


@pytest.mark.parametrize("event_file", EVENTS, ids=stem)
def test_golden_is_read_by_an_independent_reader(routes, event_file):
    route, doc = rendered(routes, event_file)
    if route.syntax == "edifact":
        theirs, segments = pydifact_segments(doc.data, route.codec)
        assert theirs.control_reference == doc.control_refs["UNB0020"]
        assert [s.tag for s in segments] == [s[0] for s in ours(doc.data)]
        assert segments[0].tag == "UNH" and segments[-1].tag == "UNT"
        assert int(segments[-1].elements[0]) == len(segments)  # UNT counts UNH to UNT
        body = [[s.tag, *s.elements] for s in segments]
        assert body == [_flat(s) for s in ours(doc.data)]
    else:
        segments, errors = pyx12_read(doc.data)
        assert errors == []  # its envelope checks: counts, references, ISA layout
        isa = segments[0]
        assert isa[13] == doc.control_refs["ISA13"]
        body = segments[2:-2]
        assert body[0][0] == "ST" and body[-1][0] == "SE"
        assert body == [_flat(s, x12=True) for s in ours(doc.data)]


def _flat(segment: list, x12: bool = False) -> list:
    """A segment of our JSON as the independent readers give it (composites as lists / joined)."""
    out = [segment[0]]
    for element in segment[1:]:
        if isinstance(element, list):
            out.append(">".join(element) if x12 else element)
        else:
            out.append(element)
    return out


@pytest.fixture(scope="module")
def pipeline():
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas")
    return build(config, sink=MemorySink())


ENVELOPE = ("event_id", "received_at", "source")


@pytest.mark.parametrize("event_file", EVENTS, ids=stem)
def test_the_partners_inbound_rules_read_the_golden_back_into_the_same_event(routes, pipeline, event_file):
    """Round trip: event -> document -> the gateway's pipeline -> the same event.

    The OrderCreated rendered as an 850 for WIDGET SUPPLY is read with ACME's
    850 rules and gives the same order back; the same for every sample.
    """
    route, doc = rendered(routes, event_file)
    item = json.loads(event_file.read_text(encoding="utf-8"))
    outcome = pipeline.pipeline.process(Document(doc.data, received_at=NOW, receipt_id="round-trip"))
    assert outcome.dead_letters == []
    [event] = outcome.events
    assert event.event_type == item["event_type"]
    back = SCHEMAS.to_json(event.event_type, event.record)
    sent = dict(item["event"])
    assert {k: v for k, v in back.items() if k not in ENVELOPE} == {k: v for k, v in sent.items() if k not in ENVELOPE}
    assert back["source"]["interchange_ref"] == doc.control_ref
    assert back["source"]["message_type"] == route.message


def test_edigw_render_prints_the_goldens(routes):
    for name in ("brasserie-du-parc.invoic", "acme-retail.ship-notice"):
        event_file = OUTBOUND / f"{name}.event.json"
        partner, route_name = name.split(".")
        run = subprocess.run([sys.executable, "-m", "gateway.cli", "render", str(event_file), "--partner", partner,
                              "--now", "2026-11-25T08:00:00Z", "--first-number", str(FIRST_NUMBER[name])],
                             capture_output=True, cwd=ROOT, timeout=60)
        assert run.returncode == 0, run.stderr.decode()
        assert run.stderr == b""
        assert run.stdout == golden_of(routes, event_file).read_bytes()
