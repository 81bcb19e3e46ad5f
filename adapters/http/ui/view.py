"""What the tracking pages show of a document: its raw text cut into segments (the error's marked),
its outline, its events as the mappings make them, and the chart of the partners page.

Everything here is computed on the server from the archived bytes; the pages
need no script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape

from gateway.errors import GatewayError
from gateway.inbound.document import Document
from gateway.inbound.pipeline import Pipeline
from gateway.model import Interchange, Message
from gateway.sinks.memory import MemorySink
from gateway.state.base import Receipt
from gateway.syntax import read

RAW_LIMIT = 512 * 1024  # larger documents are shown cut (the archive keeps them whole)
READ_LIMIT = 8 * 1024 * 1024  # larger ones are not read again for a page: no outline, no decoded events
_SEGMENT = re.compile(r"\bsegment (\d+)")
_BYTE = re.compile(r"\bbyte (\d+)")
_LINE = re.compile(r"\bline (\d+)")


@dataclass
class Error:
    text: str
    code: str = ""
    position: str = ""
    segment: int | None = None
    offset: int | None = None
    line: int | None = None

    @classmethod
    def of(cls, entry: dict) -> Error:
        position = entry.get("position") or ""
        found = {name: int(m.group(1)) if (m := pattern.search(position)) else None
                 for name, pattern in (("segment", _SEGMENT), ("offset", _BYTE), ("line", _LINE))}
        return cls(text=entry.get("error") or "", code=entry.get("code") or "", position=position, **found)


@dataclass
class Piece:
    """A stretch of the raw document: one segment (``index`` > 0) or what lies between them."""

    text: str
    index: int = 0
    tag: str = ""
    offset: int = 0
    errors: list[Error] = field(default_factory=list)


@dataclass
class Outline:
    syntax: str = ""
    interchanges: list[dict] = field(default_factory=list)
    problem: str | None = None  # why the document could not be read whole


def errors_of(receipt: Receipt) -> list[Error]:
    return [Error.of(e) for e in receipt.details.get("errors", [])]


def read_document(raw: bytes) -> tuple[list, str | None]:
    """Everything the reader yields (interchanges with their messages kept), and the problem that
    stopped it, if any."""
    items, problem = [], None
    try:
        items = list(read(raw, keep=True))
    except GatewayError as exc:
        problem = str(exc)
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return items, problem


def segments_of(items: list) -> list:
    """Every segment read, envelopes included, in document order."""
    seen: dict[int, object] = {}
    for item in items:
        if isinstance(item, Interchange):
            found = [item.header, item.trailer, *item.control_segments]
            for group in item.groups:
                found += [group.header, group.trailer]
            for message in item.messages:
                found += message.segments
        elif isinstance(item, Message):
            found = list(item.segments)
        else:
            continue
        for seg in found:
            if seg is not None and seg.index > 0:
                seen.setdefault(seg.offset, seg)
    return sorted(seen.values(), key=lambda s: s.offset)


def pieces(raw: bytes, items: list, errors: list[Error], charset: str = "latin-1") -> list[Piece]:
    """The raw document cut at each segment's first byte; the segments an error names are marked
    (by segment position, else by the byte offset it falls in)."""
    shown = raw[:RAW_LIMIT]
    segs = [s for s in segments_of(items) if s.offset < len(shown)]
    out: list[Piece] = []
    if not segs:
        out.append(Piece(shown.decode(charset, "replace")))
    else:
        if segs[0].offset > 0:
            out.append(Piece(shown[:segs[0].offset].decode(charset, "replace")))
        for seg, nxt in zip(segs, [*segs[1:], None]):
            end = nxt.offset if nxt is not None else len(shown)
            out.append(Piece(shown[seg.offset:end].decode(charset, "replace"), index=seg.index, tag=seg.tag,
                             offset=seg.offset))
    for error in errors:
        target = None
        if error.segment is not None:
            target = next((p for p in out if p.index == error.segment), None)
        if target is None and error.offset is not None:
            target = next((p for p in reversed(out) if p.offset <= error.offset), None)
        if target is None and error.offset is not None and error.offset < len(shown):
            target = _split_at(out, error.offset)
        if target is not None:
            target.errors.append(error)
    return out


def _split_at(out: list[Piece], offset: int) -> Piece | None:
    """A document that could not be cut into segments: mark from the error's byte to the line's end."""
    if len(out) != 1 or out[0].index:
        return None
    text = out[0].text
    end = text.find("\n", offset)
    end = len(text) if end < 0 else end + 1
    out[:] = [Piece(text[:offset]), Piece(text[offset:end], index=-1, offset=offset), Piece(text[end:])]
    return out[1]


def outline(items: list, problem: str | None) -> Outline:
    found = Outline(problem=problem)
    for item in items:
        if not isinstance(item, Interchange):
            continue
        found.syntax = item.syntax
        messages = [{"type": m.type, "ref": m.ref, "version": m.version, "segments": [s.tag for s in m.segments],
                     "group": m.group.control_ref if m.group else None,
                     "issues": [f"{i.code}: {i.text} at {i.location}" for i in m.issues]} for m in item.messages]
        found.interchanges.append({
            "control_ref": item.control_ref, "sender": item.sender, "recipient": item.recipient,
            "date": item.date, "time": item.time, "syntax_id": item.syntax_id, "test": item.test,
            "groups": [{"id": g.id, "control_ref": g.control_ref, "version": g.version,
                        "messages": g.message_count} for g in item.groups],
            "messages": messages, "issues": [f"{i.code}: {i.text} at {i.location}" for i in item.issues]})
    return found


def decoded_events(pipeline: Pipeline, receipt: Receipt, raw: bytes) -> tuple[list[dict], str | None]:
    """The events the document makes with the mappings loaded now, decoded to JSON, from a dry run:
    a pipeline of the same partners and mappings whose sink is memory, with no acknowledgement and
    no duplicate check, so nothing is published or recorded. Event ids are stable, so they match
    those published for the document."""
    dry = Pipeline(pipeline.partners, pipeline.schemas, MemorySink(), mapper=pipeline.mapper,
                   dead_letter_topic=pipeline.dead_letter_topic, source_uri=pipeline.source_uri,
                   xml_schemas=(pipeline.xml_options or {}).get("schemas"))
    doc = Document(raw, received_at=receipt.received_at, transport=receipt.channel, receipt_id=receipt.id,
                   raw_ref=receipt.raw_ref, partner_id=receipt.partner_id)
    try:
        outcome = dry.process(doc, keep=True)
    except GatewayError as exc:
        return [], str(exc)
    return [{"event_id": e.record.get("event_id"), "type": e.event_type, "topic": e.topic, "key": e.key,
             "record": pipeline.schemas.to_json(e.event_type, e.record)}
            for e in outcome.events if e.event_type != "DeadLetter"], None


# -- the chart of the partners page -----------------------------------------------------------------
def daily_counts(receipts: list[Receipt], days: int, today: date) -> list[tuple[date, int, int]]:
    """(day, documents, failed documents) for each of the last ``days`` days, oldest first."""
    first = today - timedelta(days=days - 1)
    counts = {first + timedelta(days=n): [0, 0] for n in range(days)}
    for r in receipts:
        day = r.received_at.date()
        if day in counts:
            counts[day][0] += 1
            if r.status == "failed":
                counts[day][1] += 1
    return [(day, n, failed) for day, (n, failed) in counts.items()]


def chart_svg(series: list[tuple[date, int, int]], *, width: int = 720, height: int = 220) -> str:
    """A bar chart as inline SVG: documents per day, the failed ones in front; titles give the figures."""
    left, bottom, top = 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([n for _, n, _ in series] + [1])
    step = plot_w / max(len(series), 1)
    bar = max(step * 0.7, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>documents and errors per day</title>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" class="axis"/>',
             f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="label">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="label">0</text>']
    for n, (day, total, failed) in enumerate(series):
        x = left + n * step + (step - bar) / 2
        h_all, h_bad = plot_h * total / peak, plot_h * failed / peak
        tip = escape(f"{day.isoformat()}: {total} document(s), {failed} failed")
        parts.append(f'<g class="day" data-day="{day.isoformat()}" data-documents="{total}" data-failed="{failed}">'
                     f'<title>{tip}</title>'
                     f'<rect class="all" x="{x:.1f}" y="{top + plot_h - h_all:.1f}" width="{bar:.1f}" '
                     f'height="{h_all:.1f}"/>'
                     f'<rect class="failed" x="{x:.1f}" y="{top + plot_h - h_bad:.1f}" width="{bar:.1f}" '
                     f'height="{h_bad:.1f}"/></g>')
        every = max(1, len(series) // 7)
        last = len(series) - 1
        if n == last or (n % every == 0 and last - n >= every):
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" class="label">'
                         f'{day.strftime("%m-%d")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def parse_day(text: str | None) -> datetime | None:
    """A date (or date and time) from a search form; None when empty. Raises ValueError."""
    if not text:
        return None
    return datetime.fromisoformat(text)
