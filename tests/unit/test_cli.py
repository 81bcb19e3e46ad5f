"""``edigw parse`` as a user runs it: a real process, its stdout, stderr and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*") if p.is_file() and p.suffix in {".edi", ".x12", ".xml"})
GOLDEN = ROOT / "tests" / "golden" / "parse"


def edigw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], input=stdin, capture_output=True, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_parse_output_matches_golden_json(sample: Path):
    """The JSON contract, pinned per sample (regenerate with UPDATE_GOLDEN=1)."""
    run = edigw("parse", str(sample))
    assert run.returncode == 0, run.stderr.decode()
    got = json.loads(run.stdout)
    golden = GOLDEN / (sample.name + ".json")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_json_contract_shape():
    doc = json.loads(edigw("parse", "samples/edifact/orders_d96a.edi").stdout)
    assert list(doc)[:4] == ["syntax", "sender", "recipient", "control_ref"]
    msg = doc["messages"][0]
    assert (msg["type"], msg["ref"], msg["version"]) == ("ORDERS", "1", "D96A")
    assert msg["segments"][0] == ["UNH", "1", ["ORDERS", "D", "96A", "UN", "EAN008"]]
    assert msg["segments"][-1][0] == "UNT"
    ftx = next(s for s in msg["segments"] if s[0] == "FTX")
    assert ftx[4] == "Deliver to dock 4, ring bell: ask for Jos'e"  # released characters are unescaped
    x12 = json.loads(edigw("parse", "samples/x12/850_4010.x12").stdout)
    assert x12["groups"][0]["id"] == "PO" and x12["messages"][0]["group"] == "905"


def test_stdin_and_tree_format():
    data = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
    run = edigw("parse", "-", "--format", "tree", stdin=data)
    assert run.returncode == 0
    assert run.stdout.decode().startswith("edifact interchange 'ORD000123'")


def test_repeated_elements_in_json():
    data = b"UNB+UNOC:4+S+R+20261120:0930+1'UNH+1+X:D:96A:UN'COM+1:2*3'UNT+3+1'UNZ+1+1'"
    doc = json.loads(edigw("parse", "-", stdin=data).stdout)
    assert doc["messages"][0]["segments"][1] == ["COM", {"repeats": [["1", "2"], "3"]}]


def one_line(run: subprocess.CompletedProcess) -> str:
    err = run.stderr.decode()
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


def test_envelope_error_exits_1_with_one_line_naming_code_and_place():
    data = b"UNB+UNOC:3+S+R+261120:0930+1'UNH+1+X:D:96A:UN'BGM+1'UNT+9+1'UNZ+1+1'"
    run = edigw("parse", "-", stdin=data)
    assert run.returncode == 1
    err = one_line(run)
    assert "MESSAGE_SEGMENT_COUNT_MISMATCH" in err and "segment 4 (UNT)" in err
    issues = json.loads(run.stdout)["messages"][0]["issues"]
    assert issues[0]["location"]["element"] == 1  # the JSON carries it too


@pytest.mark.parametrize(
    "data, code",
    [(b"hello world", "NOT_EDI"), (b"", "EMPTY_DOCUMENT"), (b"<a><b></a>", "XML_MALFORMED"),
     (b"ISA*00*short~", "INTERCHANGE_HEADER_INVALID")],
)
def test_unreadable_input_exits_2_with_one_line(data, code):
    run = edigw("parse", "-", stdin=data)
    assert run.returncode == 2
    assert code in one_line(run)


def test_missing_file_and_bad_usage():
    run = edigw("parse", "no/such/file.edi")
    assert run.returncode == 2 and "cannot open no/such/file.edi" in one_line(run)
    assert edigw("parse", "x", "--format", "yaml").returncode == 2


def test_check_lists_problems_and_refuses_missing_folders(tmp_path):
    ok = edigw("check")
    assert ok.returncode == 0 and "6 partner file(s)" in ok.stdout.decode()
    (tmp_path / "p.yaml").write_text("partner: p\nidentity: {edifact: {sender: X}}\ninbound:\n"
                                     "  - match: {syntax: edifact, message: ORDERS}\n    event: OrderCreated\n"
                                     "    fields: {order_nr: BGM/2}\n")
    bad = edigw("check", "--mappings", str(tmp_path))
    assert bad.returncode == 1
    err = bad.stderr.decode()
    assert f"{tmp_path / 'p.yaml'}:6: inbound[0].fields.order_nr" in err and "Traceback" not in err
    assert edigw("check", "--mappings", str(tmp_path / "none")).returncode == 1
    missing = edigw("check", "--schemas", str(tmp_path))
    assert missing.returncode == 2 and "no .avsc schema files" in one_line(missing)


# --- messages that name what is wrong, once, without Python internals -------------------------------

ORDRSP_EVENT = ROOT / "samples" / "outbound" / "brasserie-du-parc.ordrsp.event.json"


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    from gateway.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _changed_event(tmp_path: Path, change) -> Path:
    item = json.loads(ORDRSP_EVENT.read_text(encoding="utf-8"))
    change(item["event"])
    path = tmp_path / "event.json"
    path.write_text(json.dumps(item), encoding="utf-8")
    return path


def test_render_says_a_quantity_is_not_a_decimal_number_and_where(capsys, tmp_path):
    event = _changed_event(tmp_path, lambda e: e["lines"][0].update(quantity="abc"))
    code, out, err = in_process(capsys, "render", str(event), "--partner", "brasserie-du-parc")
    assert code == 2 and out == ""
    assert err == f"edigw: {event}: OrderResponded.lines[0].quantity: 'abc' is not a decimal number\n"


def test_render_says_which_route_condition_did_not_hold(capsys, tmp_path):
    event = _changed_event(tmp_path, lambda e: e["buyer"].update(id="999"))
    code, out, err = in_process(capsys, "render", str(event), "--partner", "brasserie-du-parc")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("edigw: no outbound route of brasserie-du-parc takes this OrderResponded: the condition "
                          "of route 'ordrsp' (")
    assert ("does not hold: it takes one only when buyer.id equals '5412345000013' (this event's buyer.id: '999'); "
            "give --route ordrsp to render it anyway\n") in err, err
    no_buyer = _changed_event(tmp_path, lambda e: e.update(buyer=None))
    code, _, err = in_process(capsys, "render", str(no_buyer), "--partner", "brasserie-du-parc")
    assert code == 2 and "(this event has no buyer.id)" in err, err


def test_check_reports_an_unknown_top_level_key_once(capsys, tmp_path):
    for path in (ROOT / "mappings").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "brasserie-du-parc.yaml":
            text = "bogus: 1\n" + text
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    code, out, err = in_process(capsys, "check", "--mappings", str(tmp_path), "--schemas", str(ROOT / "schemas"))
    assert code == 1 and out == ""
    assert err == (f"{tmp_path / 'brasserie-du-parc.yaml'}:1: bogus: unknown key (check the spelling)\n"
                   f"edigw: 1 problem(s) in {tmp_path}\n")
