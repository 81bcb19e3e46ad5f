"""The benchmark document generator: deterministic, right counts, right trailers.

Checked with plain string handling only (every segment sits on its own line),
so these tests do not depend on the project's readers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` alone puts only tests/unit on the path
    sys.path.insert(0, str(ROOT))

from bench import generate  # noqa: E402


def _edifact_lines(data: bytes) -> list[str]:
    text = data.decode("latin-1")
    assert text.endswith("'\n")
    return text.splitlines()


def _x12_lines(data: bytes) -> list[str]:
    text = data.decode("ascii")  # ISA11 'U' documents stay plain ASCII
    assert text.endswith("~\n")
    return text.splitlines()


def _check_edifact(data: bytes, n: int, lines: int = 5) -> None:
    rows = _edifact_lines(data)
    assert rows[0] == "UNA:+.? '"
    assert rows[1].startswith("UNB+UNOC:3+") and rows[1].endswith("'")
    interchange_ref = rows[1][:-1].split("+")[5]
    assert all(row.endswith("'") for row in rows[1:])
    assert sum(row.startswith("UNH+") for row in rows) == n
    messages = 0
    count = ref = None
    for row in rows[2:-1]:
        if row.startswith("UNH+"):
            assert count is None, "UNH inside a message"
            count, ref = 1, row.split("+")[1]
            assert row.endswith("+ORDERS:D:96A:UN:EAN008'")
            continue
        assert count is not None, f"segment outside a message: {row}"
        count += 1
        if row.startswith("UNT+"):
            unt_count, unt_ref = row[4:-1].split("+")
            assert int(unt_count) == count == generate.edifact_message_segments(lines)
            assert unt_ref == ref
            messages += 1
            count = None
        elif row.startswith("CNT+"):
            assert row == f"CNT+2:{lines}'"
    assert count is None, "last message not closed"
    assert messages == n
    assert rows[-1] == f"UNZ+{n}+{interchange_ref}'"


def _check_x12(data: bytes, n: int, lines: int = 5) -> None:
    rows = _x12_lines(data)
    isa = rows[0]
    assert len(isa) == 106 and isa.startswith("ISA*")
    fields = isa[:-1].split("*")
    assert fields[11] == "U" and fields[12] == "00401" and fields[16] == ">"
    assert rows[1].startswith("GS*PO*") and rows[1].endswith("*X*004010~")
    assert all(row.endswith("~") for row in rows)
    assert sum(row.startswith("ST*850*") for row in rows) == n
    sets = 0
    count = control = None
    for row in rows[2:-2]:
        if row.startswith("ST*"):
            assert count is None, "ST inside a set"
            count, control = 1, row[:-1].split("*")[2]
            continue
        assert count is not None, f"segment outside a set: {row}"
        count += 1
        if row.startswith("SE*"):
            se_count, se_control = row[3:-1].split("*")
            assert int(se_count) == count == generate.x12_set_segments(lines)
            assert se_control == control
            sets += 1
            count = None
        elif row.startswith("CTT*"):
            assert row == f"CTT*{lines}~"
    assert count is None, "last set not closed"
    assert sets == n
    assert rows[-2] == f"GE*{n}*1~"
    assert rows[-1] == f"IEA*1*{fields[13]}~"


def test_edifact_is_deterministic():
    assert generate.edifact_orders(300) == generate.edifact_orders(300)
    assert generate.edifact_orders(300, seed=2) == generate.edifact_orders(300, seed=2)
    assert generate.edifact_orders(300, seed=2) != generate.edifact_orders(300)


def test_x12_is_deterministic():
    assert generate.x12_850(300) == generate.x12_850(300)
    assert generate.x12_850(300, seed=2) == generate.x12_850(300, seed=2)
    assert generate.x12_850(300, seed=2) != generate.x12_850(300)


@pytest.mark.parametrize("n, lines", [(1, 5), (137, 5), (40, 1), (25, 12)])
def test_edifact_counts(n, lines):
    _check_edifact(generate.edifact_orders(n, lines=lines), n, lines)


@pytest.mark.parametrize("n, lines", [(1, 5), (137, 5), (40, 1), (25, 12)])
def test_x12_counts(n, lines):
    _check_x12(generate.x12_850(n, lines=lines), n, lines)


def test_default_documents():
    _check_edifact(generate.edifact_orders(), 20000)
    _check_x12(generate.x12_850(), 20000)


def test_edifact_has_released_and_latin1_characters():
    data = generate.edifact_orders(500)
    for sequence in (b"?'", b"?+", b"??"):
        assert sequence in data
    assert "é".encode("latin-1") in data
    assert any(byte >= 0x80 for byte in data)


@pytest.mark.parametrize("kind", generate.KINDS)
def test_write_large_streams_the_same_document(tmp_path, kind):
    path = tmp_path / f"large.{kind}"
    count = generate.write_large(str(path), kind, 400_000)
    data = path.read_bytes()
    assert len(data) >= 400_000
    # Stops with the first message that reaches the target.
    assert len(data) < 400_000 + 2_000
    build = generate.edifact_orders if kind == "edifact" else generate.x12_850
    assert data == build(count)
    (_check_edifact if kind == "edifact" else _check_x12)(data, count)
