"""What the tracking pages compute from a document: its raw text cut into segments with the error's
marked, the outline, the daily counts and their chart."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, strategies as st

from adapters.http.ui import view
from gateway.state.base import Receipt

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_an_error_position_is_read_back_from_its_text():
    e = view.Error.of({"code": "X", "error": "bad", "position": "line 6, segment 5 (QQQ), element 2, byte 151"})
    assert (e.line, e.segment, e.offset) == (6, 5, 151)
    assert view.Error.of({"position": "unknown position"}).segment is None


def test_the_raw_document_is_cut_at_every_segment_and_nothing_is_lost():
    for path in ("edifact/orders_d96a.edi", "x12/850_4010.x12"):
        raw = (SAMPLES / path).read_bytes()
        items, problem = view.read_document(raw)
        assert problem is None
        pieces = view.pieces(raw, items, [])
        assert "".join(p.text for p in pieces) == raw.decode("latin-1")
        indexes = [p.index for p in pieces if p.index]
        assert indexes == list(range(1, len(indexes) + 1)) and len(indexes) > 10


def test_the_segment_an_error_names_is_marked_by_position_or_by_byte():
    raw = (SAMPLES / "edifact/orders_d96a.edi").read_bytes()
    items, _ = view.read_document(raw)
    by_index = view.pieces(raw, items, [view.Error(text="x", segment=3)])  # UNA is not counted
    [marked] = [p for p in by_index if p.errors]
    assert marked.text.startswith("BGM+") and marked.index == 3
    inside = raw.index(b"NAD+SU") + 3
    by_byte = view.pieces(raw, items, [view.Error(text="x", offset=inside)])
    [marked] = [p for p in by_byte if p.errors]
    assert marked.text.startswith("NAD+SU")


def test_an_unreadable_document_is_shown_whole_with_the_errors_line_marked():
    raw = b"UNB+UNOC:3+A+B+261120:0930+1'\nthis is not a segment\nmore'"
    items, problem = view.read_document(raw)
    pieces = view.pieces(raw, items, [view.Error(text="x", offset=raw.index(b"this"))])
    assert "".join(p.text for p in pieces) == raw.decode()
    marked = [p for p in pieces if p.errors]
    assert len(marked) == 1 and "this is not a segment" in marked[0].text


def test_the_outline_names_interchange_and_messages():
    items, problem = view.read_document((SAMPLES / "x12/850_4010.x12").read_bytes())
    found = view.outline(items, problem)
    assert found.syntax == "x12" and len(found.interchanges) == 1
    [message] = found.interchanges[0]["messages"]
    assert message["type"] == "850" and message["segments"][0] == "ST" and message["segments"][-1] == "SE"


def _receipt(n: int, when: datetime, status: str) -> Receipt:
    return Receipt(id=str(n), channel="http", raw_ref="sha256:0", size=1, received_at=when, status=status)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=40), st.booleans()), max_size=60))
def test_daily_counts_add_up_to_what_falls_in_the_window(days_ago):
    today = date(2026, 12, 6)
    receipts = [_receipt(n, datetime(2026, 12, 6, 12, tzinfo=timezone.utc) - timedelta(days=d),
                         "failed" if bad else "published") for n, (d, bad) in enumerate(days_ago)]
    series = view.daily_counts(receipts, 30, today)
    assert [day for day, _, _ in series] == [today - timedelta(days=29 - n) for n in range(30)]
    assert sum(n for _, n, _ in series) == sum(1 for d, _ in days_ago if d < 30)
    assert sum(f for _, _, f in series) == sum(1 for d, bad in days_ago if d < 30 and bad)
    svg = view.chart_svg(series)
    bars = re.findall(r'data-documents="(\d+)" data-failed="(\d+)"', svg)
    assert [(int(a), int(b)) for a, b in bars] == [(n, f) for _, n, f in series]
    heights = [float(h) for h in re.findall(r'class="all" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]
    peak = max([n for _, n, _ in series] + [1])
    assert all(abs(h - 180 * n / peak) < 0.06 for h, (_, n, _) in zip(heights, series))
