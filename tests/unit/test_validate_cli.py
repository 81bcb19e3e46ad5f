"""``edigw validate`` as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ISA = ("ISA*00*          *00*          *ZZ*ACMERETAIL     *ZZ*WIDGETSUPPLY   *240101*1200*U*00401*000000001*0*P*>~\n"
       "GS*PO*ACMERETAIL*WIDGETSUPPLY*20240101*1200*1*X*004010~\n")


def edigw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin, capture_output=True, cwd=ROOT,
                          timeout=60)


def po(*body: str) -> bytes:
    segs = ["ST*850*0001", *body]
    text = "".join(s + "~\n" for s in segs) + f"SE*{len(segs) + 1}*0001~\n"
    return (ISA + text + "GE*1*1~\nIEA*1*000000001~\n").encode()


GOOD = ("BEG*00*SA*PO-1**20240101", "N1*ST*ACME*92*12", "PO1*1*10*EA*9.5**VN*W-1", "CTT*1")


def test_a_valid_document_exits_0_and_prints_nothing():
    run = edigw("validate", "samples/x12/850_4010.x12")
    assert (run.returncode, run.stdout, run.stderr) == (0, b"", b"")


def test_findings_are_compiler_style_lines(tmp_path: Path):
    doc = tmp_path / "po.x12"
    doc.write_bytes(po("BEG*00*SA*PO-1**20241301", "N1*ST*ACME*92*12", "PO1*1*1O*EA*9.5**VN*W-1", "CTT*1"))
    run = edigw("validate", str(doc))
    assert run.returncode == 1
    lines = run.stdout.decode().splitlines()
    assert lines == [
        f"{doc}:4: segment 4 BEG element 05: error ELEMENT_DATE_INVALID: BEG05 (373) '20241301' is not a valid date"
        " [850 0001]",
        f"{doc}:6: segment 6 PO1 element 02: error ELEMENT_NOT_NUMERIC: PO102 (330) '1O' is not a valid number"
        " [850 0001]",
    ]
    assert run.stderr.decode() == f"{doc}: 2 error(s) in 1 message(s)\n"


def test_json_format(tmp_path: Path):
    doc = tmp_path / "po.x12"
    doc.write_bytes(po("BEG*00*SA*PO-1**20240101", "N1*ST*ACME*92*12", "CTT*1"))
    run = edigw("validate", "--format", "json", str(doc))
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["errors"] == 1 and report["messages"] == [
        {"type": "850", "ref": "0001", "version": "004010", "covered": True}]
    [issue] = report["issues"]
    assert issue["code"] == "SEGMENT_MISSING" and issue["location"]["tag"] == "PO1"
    assert issue["location"]["message_segment"] == 4 and issue["message"] == {"type": "850", "ref": "0001"}


def test_the_partner_guide_tightens_the_standard(tmp_path: Path):
    doc = tmp_path / "po.x12"
    doc.write_bytes(po("BEG*00*KN*PO-1**20240101", "N1*ST*ACME*92*12", "PO1*1**EA*9.5**VN*W-1", "CTT*1"))
    standard = edigw("validate", str(doc)).stdout.decode()  # the standard: PO103 needs PO102 (C0302)
    assert "ELEMENT_CONDITION_MISSING" in standard and "BEG" not in standard
    run = edigw("validate", "--partner", "acme-retail", str(doc))
    assert run.returncode == 1
    out = run.stdout.decode()
    assert "BEG element 02: error ELEMENT_CODE_INVALID: BEG02 (92) 'KN' is not an allowed code" in out
    assert "PO1 element 02: error ELEMENT_MISSING: mandatory element PO102 (330) is missing" in out


def test_uncovered_messages_are_noted():
    run = edigw("validate", "samples/xml/" + sorted(p.name for p in (ROOT / "samples" / "xml").iterdir())[0])
    assert run.returncode == 0
    assert b"not covered by the definitions" in run.stderr


@pytest.mark.parametrize("args, message", [
    (["validate", "no-such-file.edi"], "edigw: cannot open no-such-file.edi: No such file or directory"),
    (["validate", "--partner", "nobody", "samples/x12/850_4010.x12"], "edigw: no partner 'nobody' in mappings"),
])
def test_unusable_input_is_one_line_and_exit_2(args, message):
    run = edigw(*args)
    assert run.returncode == 2
    err = run.stderr.decode()
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_not_edi_is_one_line_and_exit_2():
    run = edigw("validate", "-", stdin=b"hello world\n")
    assert run.returncode == 2
    assert run.stderr.decode().startswith("edigw: -: NOT_EDI") and run.stderr.count(b"\n") == 1


def test_a_broken_guide_is_named_by_file_line_and_key(tmp_path: Path):
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    (mappings / "guides" / "acme-retail.yaml").write_text(
        "partner: acme-retail\npolicy: reject\nmessages:\n  - message: '850'\n    elements:\n"
        "      PO199: {mandatory: true}\n")
    run = edigw("validate", "--mappings", str(mappings), "--partner", "acme-retail", "samples/x12/850_4010.x12")
    assert run.returncode == 2
    assert f"{mappings / 'guides' / 'acme-retail.yaml'}:6: messages[0].elements.PO199: PO1 has 25 elements" \
        in run.stderr.decode()
