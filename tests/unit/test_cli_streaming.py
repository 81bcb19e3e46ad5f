"""``edigw parse`` and ``edigw map`` stream: ndjson a line per message (event) as read, json the
same text as the whole-document rendering, errors in the middle one line and a non-zero exit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import generate
from gateway.cli import _dumps, _tree
from gateway.syntax import parse

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p for p in (ROOT / "samples").rglob("*") if p.is_file() and p.suffix in {".edi", ".x12", ".xml"})
EDIFACT = ROOT / "samples/edifact/orders_d96a.edi"
X12 = ROOT / "samples/x12/850_4010.x12"


def edigw(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin, capture_output=True, cwd=ROOT,
                          timeout=120)


def whole(data: bytes) -> str:
    """What ``edigw parse`` printed when it built every interchange in memory first."""
    docs = [ic.to_json() for ic in parse(data)]
    return _dumps(docs[0] if len(docs) == 1 else docs) + "\n"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_json_is_the_text_of_the_whole_document_rendering(sample: Path):
    run = edigw("parse", str(sample))
    assert run.returncode in (0, 1), run.stderr.decode()
    assert run.stdout.decode("utf-8") == whole(sample.read_bytes())


@pytest.mark.parametrize("parts", [(EDIFACT, EDIFACT), (X12, X12, X12)], ids=["edifact-2", "x12-3"])
def test_several_interchanges_give_the_same_array_and_tree_as_before(parts, tmp_path):
    data = b"".join(p.read_bytes() for p in parts)
    path = tmp_path / "doc"
    path.write_bytes(data)
    run = edigw("parse", str(path))
    assert run.stdout.decode("utf-8") == whole(data)
    assert isinstance(json.loads(run.stdout), list)
    tree = edigw("parse", str(path), "--format", "tree")
    assert tree.stdout.decode("utf-8") == _tree(parse(data)) + "\n"


def test_ndjson_has_one_line_per_message_with_its_interchange(tmp_path):
    data = generate.edifact_orders(250, seed=3) + generate.edifact_orders(40, seed=4)
    path = tmp_path / "orders.edi"
    path.write_bytes(data)
    run = edigw("parse", str(path), "--format", "ndjson")
    assert run.returncode == 0, run.stderr.decode()
    lines = run.stdout.decode("utf-8").splitlines()
    interchanges = parse(data)
    expected = [{**m.to_json(), "interchange": ic.control_ref} for ic in interchanges for m in ic.messages]
    assert len(lines) == 290 == len(expected)
    assert [json.loads(line) for line in lines] == expected


def test_ndjson_of_x12_keeps_the_group_of_each_set():
    run = edigw("parse", str(X12), "--format", "ndjson")
    lines = [json.loads(line) for line in run.stdout.decode().splitlines()]
    (ic,) = parse(X12.read_bytes())
    assert lines == [{**m.to_json(), "interchange": ic.control_ref} for m in ic.messages]
    assert lines[0]["group"] == ic.groups[0].control_ref


def test_an_unreadable_second_interchange_is_one_line_and_exit_2_after_the_first_is_written(tmp_path):
    path = tmp_path / "two.x12"
    path.write_bytes(X12.read_bytes() + b"ISA*00*short~")
    run = edigw("parse", str(path), "--format", "ndjson")
    assert run.returncode == 2
    err = run.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "INTERCHANGE_HEADER_INVALID" in err[0] and "Traceback" not in run.stderr.decode()
    assert len(run.stdout.decode().splitlines()) == len(parse(X12.read_bytes())[0].messages)


def test_envelope_errors_mid_stream_are_counted_once_and_exit_1(tmp_path):
    data = generate.edifact_orders(30, seed=5)
    broken = re.sub(rb"UNT\+\d+\+(1[05])'", rb"UNT+99+\1'", data)  # messages 10 and 15 miscounted
    path = tmp_path / "broken.edi"
    path.write_bytes(broken)
    run = edigw("parse", str(path), "--format", "ndjson")
    assert run.returncode == 1
    err = run.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "MESSAGE_SEGMENT_COUNT_MISMATCH" in err[0] and "(and 1 more error(s))" in err[0]
    lines = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert len(lines) == 30 and [m["ref"] for m in lines if m.get("issues")] == ["10", "15"]


# -- edigw map -------------------------------------------------------------------------------


def _map(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return edigw("map", str(path), "--received-at", "2026-11-20T16:00:00Z", "--receipt-id", "r-1", *extra)


def test_map_json_and_ndjson_give_the_same_events_and_json_keeps_its_indented_array(tmp_path):
    path = tmp_path / "orders.edi"
    path.write_bytes(generate.edifact_orders(120, seed=6))
    as_json = _map(path)
    as_lines = _map(path, "--format", "ndjson")
    assert as_json.returncode == as_lines.returncode == 0, as_json.stderr.decode()
    events = json.loads(as_json.stdout)
    assert len(events) == 120 and [json.loads(line) for line in as_lines.stdout.decode().splitlines()] == events
    # the very text json.dumps(events, indent=1) gave when the command built the list first
    assert as_json.stdout.decode("utf-8") == json.dumps(events, ensure_ascii=False, indent=1) + "\n"


def test_map_of_a_message_that_cannot_be_mapped_is_one_line_and_the_others_still_come(tmp_path):
    data = generate.edifact_orders(20, seed=7)
    path = tmp_path / "orders.edi"
    path.write_bytes(re.sub(rb"UNT\+\d+\+7'", b"UNT+99+7'", data))
    run = _map(path, "--format", "ndjson")
    assert run.returncode == 1
    err = run.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "syntax: MESSAGE_SEGMENT_COUNT_MISMATCH" in err[0] and "Traceback" not in err[0]
    assert len(run.stdout.decode().splitlines()) == 19


def test_map_of_no_event_is_an_empty_array(tmp_path):
    path = tmp_path / "orders.edi"
    path.write_bytes(re.sub(rb"UNT\+\d+\+", b"UNT+99+", generate.edifact_orders(3, seed=8)))
    run = _map(path)
    assert run.returncode == 1 and run.stdout == b"[]\n" and len(run.stderr.decode().splitlines()) == 3
