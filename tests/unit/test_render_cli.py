"""``edigw render``: the document on stdout; bad input as one line on stderr and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "outbound" / "acme-retail.po-acknowledgement.event.json"
WINDOWS_1252 = ROOT / "samples" / "edifact" / "orders_d96a_windows1252.edi.events.json"


def run(capsysbinary, *args: str) -> tuple[int, bytes, str]:
    code = main(["render", *args, "--mappings", str(ROOT / "mappings"), "--schemas", str(ROOT / "schemas")])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_the_document_goes_to_stdout_or_a_file(capsysbinary, tmp_path):
    code, out, err = run(capsysbinary, str(SAMPLE), "--partner", "acme-retail", "--now", "2026-11-25T08:00:00Z")
    assert (code, err) == (0, "")
    assert out.startswith(b"ISA*00*") and b"ST*855*0001~" in out and b"*000000001*0*P*>~" in out
    target = tmp_path / "855.x12"
    code, out2, err = run(capsysbinary, str(SAMPLE), "--partner", "acme-retail", "--now", "2026-11-25T08:00:00Z",
                          "--first-number", "1", "-o", str(target))
    assert (code, out2, err) == (0, b"", "") and target.read_bytes() == out


def test_a_bare_record_and_a_list_of_events_are_read_too(capsysbinary, tmp_path):
    item = json.loads(SAMPLE.read_text(encoding="utf-8"))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(item["event"]), encoding="utf-8")
    code, single, _ = run(capsysbinary, str(bare), "--partner", "acme-retail", "--now", "2026-11-25T08:00:00Z")
    assert code == 0 and b"BAK*00*AC*PO-88231*20261120*****20261120~" in single
    listed = tmp_path / "two.json"
    listed.write_text(json.dumps([item, item]), encoding="utf-8")
    code, both, _ = run(capsysbinary, str(listed), "--partner", "acme-retail", "--now", "2026-11-25T08:00:00Z")
    assert code == 0 and both.count(b"ISA*") == 2
    assert b"*000000001*0*P*>~" in both and b"*000000002*0*P*>~" in both  # one number after the other


@pytest.mark.parametrize("args, message", [
    (["missing.json", "--partner", "acme-retail"], "cannot open missing.json"),
    ([str(SAMPLE), "--partner", "nobody"], "partner 'nobody' has no outbound route in"),
    ([str(SAMPLE), "--partner", "acme-retail", "--route", "nope"],
     "partner 'acme-retail' has no outbound route 'nope' (routes: po-acknowledgement, ship-notice, invoice)"),
    ([str(SAMPLE), "--partner", "acme-retail", "--route", "invoice"],
     "RENDER_EVENT_INVALID: route 'invoice' of acme-retail"),
    ([str(SAMPLE), "--partner", "kontor-elektronik"],
     "no outbound route of kontor-elektronik takes this OrderResponded (routes: orders (OrderCreated))"),
    ([str(SAMPLE), "--partner", "acme-retail", "--now", "yesterday"], "--now 'yesterday' is not an ISO 8601"),
    ([str(SAMPLE), "--partner", "acme-retail", "--first-number", "-5"], "RENDER_CONTROL_NUMBER_INVALID"),
    ([str(WINDOWS_1252), "--partner", "kontor-elektronik"],
     "UNENCODABLE_CHARACTER: route 'orders' of kontor-elektronik"),
])
def test_bad_input_is_one_line_and_exit_2(capsysbinary, args, message):
    code, out, err = run(capsysbinary, *args)
    assert code == 2 and out == b""
    assert err.count("\n") == 1 and err.startswith("edigw: ") and message in err, err


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not a JSON event"),
    (b"[]", "holds no event"),
    (b"[1]", "an event is an object with its event_type"),
    (b'{"event_type": "OrderResponded", "event": {"order_number": "X"}}', "OrderResponded.event_id: is required"),
    (b'{"event_type": "NoSuchThing", "event": {}}', "NoSuchThing"),
])
def test_unreadable_events_are_one_line_and_exit_2(capsysbinary, tmp_path, content, message):
    path = tmp_path / "event.json"
    path.write_bytes(content)
    code, out, err = run(capsysbinary, str(path), "--partner", "acme-retail")
    assert code == 2 and out == b""
    assert err.count("\n") == 1 and err.startswith("edigw: ") and message in err, err


def test_problems_in_the_outbound_routes_are_one_line_too(capsysbinary, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    text = (ROOT / "mappings" / "acme-retail.yaml").read_text(encoding="utf-8")
    (mappings / "acme-retail.yaml").write_text(text.replace("2: response_number", "2: response_numbr"),
                                               encoding="utf-8")
    code = main(["render", str(SAMPLE), "--partner", "acme-retail", "--mappings", str(mappings),
                 "--schemas", str(ROOT / "schemas")])
    err = capsysbinary.readouterr()[1].decode()
    assert code == 2 and err.count("\n") == 1
    assert "1 problem(s) in the outbound routes of" in err and "field 'response_numbr'" in err
