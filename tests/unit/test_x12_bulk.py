"""Property tests: the X12 reader's bulk path reads exactly what the segment-by-segment path reads.

``gateway.syntax.x12`` cuts plain transaction sets in bulk and falls back to
its per-segment loop for anything unusual; ``x12._BULK = False`` forces that
loop everywhere. The documents generated here are raw text (not written by
``x12.write``, which refuses most of these deviations): plain sets mixed with
composite and repetition separators, trailing element separators, white space
before tags, empty segments, unknown and new tags, misplaced envelope
segments, wrong SE counts and references, duplicate ST02, BIN segments whose
data holds the terminator, TA1 segments, CR/LF, hard-wrapped lines, several
interchanges with different service characters, and a missing final
terminator; each is read whole and trickled through a stream in small pieces.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import EdiSyntaxError
from gateway.model import Group, Interchange, Message, Segment
from gateway.syntax import x12
from tests.helpers import Trickle

SEPARATORS = "*|^>:~!+'"
VALUE = st.text(st.sampled_from("ABCXYZ0189 .-"), max_size=6)
COMMON_TAGS = ["BEG", "REF", "N1", "PO1", "PID", "DTM", "CTT"]


@st.composite
def service_chars(draw) -> dict:
    esep, csep, rsep, term = draw(st.lists(st.sampled_from(SEPARATORS), min_size=4, max_size=4, unique=True))
    if draw(st.booleans()):
        rsep = None
    if draw(st.integers(0, 6)) == 0:
        term, suffix = "\n", ""
    else:
        suffix = draw(st.sampled_from(["\n", "\n", "\r\n", ""]))
    return {"e": esep, "c": csep, "r": rsep, "t": term, "suffix": suffix}


def isa(sc: dict, ref: int) -> str:
    e = sc["e"]
    version = "00501" if sc["r"] else "00401"
    fields = ["00", " " * 10, "00", " " * 10, "ZZ", "SENDER".ljust(15), "ZZ", "RECEIVER".ljust(15),
              "240131", "1200", sc["r"] or "U", version, f"{ref:09d}", "0", "P", sc["c"]]  # fmt: skip
    return "ISA" + e + e.join(fields)


@st.composite
def body_segment(draw, sc: dict) -> str:
    """One body segment's text: mostly plain, sometimes with something the bulk path must leave alone."""
    e, c, r = sc["e"], sc["c"], sc["r"]
    tag = draw(st.sampled_from(COMMON_TAGS))
    values = draw(st.lists(VALUE, min_size=1, max_size=5))
    kind = "plain" if draw(st.integers(0, 9)) else draw(st.sampled_from([
        "composite", "repeat", "trailing", "space", "newline" if draw(st.booleans()) else "space", "empty", "blank", "unknown", "new", "lower",
        "ST", "SE", "GS", "GE", "IEA", "TA1", "BIN", "BIN_BAD", "bare",
    ]))  # fmt: skip
    if kind == "composite":
        values[0] = values[0] + c + "X"
    elif kind == "repeat":
        values[-1] = values[-1] + (r or c) + "Y"
    elif kind == "trailing":
        values.append("")
    elif kind == "empty":
        return ""
    elif kind == "blank":
        return " \t"
    elif kind in ("ST", "SE", "GS", "GE", "IEA", "TA1"):
        tag = kind
    elif kind == "unknown":
        tag = "ZZZZ"
    elif kind == "new":
        tag = draw(st.sampled_from(["N9", "MSG", "TD5", "SAC"]))
    elif kind == "lower":
        tag = "po1"
    elif kind == "bare":
        return tag
    elif kind in ("BIN", "BIN_BAD"):
        data = draw(st.text(st.sampled_from("AB" + e + sc["t"] + "\n\xe9"), max_size=8))
        size = len(data.encode("utf-8")) + (1 if kind == "BIN_BAD" else 0)
        return f"BIN{e}{size}{e}{data}"
    text = tag + e + e.join(values)
    if kind == "space":
        text = " " + text
    elif kind == "newline":
        text = "\n" + text
    return text


@st.composite
def documents(draw) -> str:
    pieces: list[tuple[str, dict]] = []  # (segment text, its interchange's service characters)
    for n_ic in range(draw(st.integers(1, 3))):
        sc = draw(service_chars())
        e = sc["e"]
        pieces.append((isa(sc, n_ic + 1), sc))
        if draw(st.integers(0, 5)) == 0:
            pieces.append((f"TA1{e}000000001{e}240131{e}1200{e}A{e}000", sc))
        n_groups = draw(st.integers(0, 2))
        for g in range(1, n_groups + 1):
            pieces.append((f"GS{e}PO{e}A{e}B{e}20240131{e}1200{e}{g}{e}X{e}004010", sc))
            n_sets = draw(st.integers(0, 6))
            for s in range(1, n_sets + 1):
                ref = f"{s:04d}" if draw(st.integers(0, 8)) else "0001"  # sometimes a duplicate
                st03 = draw(st.sampled_from(["", "", "", "", "", "", e + "005010X", e, e + e]))
                pieces.append((f"ST{e}850{e}{ref}{st03}", sc))
                if s == 1 and draw(st.integers(0, 3)):  # the usual tags, so that they are known from here on
                    body = [t + e + "1" for t in COMMON_TAGS] + draw(st.lists(body_segment(sc), max_size=4))
                else:
                    body = draw(st.lists(body_segment(sc), max_size=10))
                pieces.extend((b, sc) for b in body)
                how = draw(st.sampled_from(["ok"] * 6 + ["count", "ref", "missing", "extra", "composite", "trailing"]))
                count = len(body) + 2
                if how == "count":
                    count += 1
                if how != "missing":
                    tail = {"ref": "9999", "extra": ref + e + "X", "composite": ref + sc["c"] + "Z", "trailing": ref + e}.get(how, ref)
                    pieces.append((f"SE{e}{count}{e}{tail}", sc))
            if draw(st.integers(0, 6)):
                pieces.append((f"GE{e}{n_sets}{e}{g}", sc))
        if draw(st.integers(0, 8)):
            pieces.append((f"IEA{e}{n_groups}{e}{n_ic + 1:09d}", sc))
    out = [text + sc["t"] + sc["suffix"] for text, sc in pieces]
    if draw(st.integers(0, 6)) == 0:  # one segment without the line break the others have
        at = draw(st.integers(0, len(out) - 1))
        out[at] = out[at].rstrip("\r\n")
    doc = "".join(out)
    if draw(st.integers(0, 6)) == 0:  # the last terminator is missing
        doc = doc.rstrip("\r\n")[:-1]
    if draw(st.integers(0, 6)) == 0 and all(sc["t"] != "\n" and not sc["suffix"] for _, sc in pieces):
        width = draw(st.integers(20, 80))  # hard-wrapped at a fixed width
        doc = "\n".join(doc[i : i + width] for i in range(0, len(doc), width))
    return doc


def snap_segment(seg: Segment | None) -> tuple | None:
    if seg is None:
        return None
    return (seg.tag, repr(seg.elements), seg.index, seg.line, seg.offset, seg.text)


def snap_message(msg: Message) -> tuple:
    return (msg.type, msg.ref, msg.version, msg.release, [snap_segment(s) for s in msg.segments], msg.issues,
            msg.group.control_ref if msg.group is not None else None)  # fmt: skip


def snap_group(g: Group) -> tuple:
    return (g.id, g.control_ref, g.sender, g.recipient, g.version, snap_segment(g.header), snap_segment(g.trailer),
            g.message_count, g.issues, [snap_message(m) for m in g.messages])  # fmt: skip


def snap_interchange(ic: Interchange) -> tuple:
    fields = (ic.sender, ic.recipient, ic.control_ref, ic.sender_qualifier, ic.recipient_qualifier, ic.date,
              ic.time, ic.syntax_id, ic.charset, ic.test, ic.ack_requested, ic.delimiters, ic.offset)  # fmt: skip
    return (fields, snap_segment(ic.header), snap_segment(ic.trailer), [snap_group(g) for g in ic.groups],
            [snap_message(m) for m in ic.messages], ic.message_count, ic.issues,
            [snap_segment(s) for s in ic.control_segments])  # fmt: skip


def tag_sharing(items: list) -> list[int]:
    """For each message segment, the position of the first one whose tag is the very same string object."""
    first: dict[int, int] = {}
    out = []
    for item in items:
        if isinstance(item, Message):
            for seg in item.segments:
                out.append(first.setdefault(id(seg.tag), len(first)))
    return out


def read_all(data: bytes, step: int | None, keep: bool, bulk: bool) -> tuple:
    old = x12._BULK
    x12._BULK = bulk
    try:
        source = data if step is None else Trickle(data, step)
        items = list(x12.read(source, keep=keep))
    except EdiSyntaxError as exc:
        return ("raised", str(exc))
    finally:
        x12._BULK = old
    snaps = [snap_message(i) if isinstance(i, Message) else snap_interchange(i) for i in items]
    return snaps, tag_sharing(items)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=documents(), step=st.one_of(st.none(), st.integers(1, 64)), keep=st.booleans(),
       utf8=st.integers(0, 9))  # fmt: skip
def test_bulk_and_segment_by_segment_read_the_same(doc, step, keep, utf8):
    data = doc.encode("utf-8" if utf8 else "latin-1")
    assert read_all(data, step, keep, bulk=True) == read_all(data, step, keep, bulk=False)


@settings(max_examples=100, deadline=None)
@given(sets=st.integers(1, 40), body=st.integers(0, 12), suffix=st.sampled_from(["\n", "\r\n", ""]),
       step=st.integers(1, 200))  # fmt: skip
def test_plain_sets_across_chunk_boundaries(sets, body, suffix, step):
    """Plain sets only (the bulk path all the way), cut at every kind of place by a trickling stream."""
    sc = {"e": "*", "c": ">", "r": None, "t": "~", "suffix": suffix}
    segs = [isa(sc, 1), "GS*PO*A*B*20240131*1200*1*X*004010"]
    for s in range(1, sets + 1):
        segs.append(f"ST*850*{s:04d}")
        segs.extend(f"{COMMON_TAGS[k % len(COMMON_TAGS)]}*{k}*VALUE {s}" for k in range(body))
        segs.append(f"SE*{body + 2}*{s:04d}")
    segs += ["GE*%d*1" % sets, "IEA*1*000000001"]
    data = "".join(s + "~" + suffix for s in segs).encode("ascii")
    for source_step in (None, step):
        assert read_all(data, source_step, True, bulk=True) == read_all(data, source_step, True, bulk=False)


ST_SHAPES = ["ok"] * 4 + ["st03", "trailing", "no_st02", "no_st01", "duplicate", "composite", "short"]
SE_SHAPES = ["ok"] * 4 + ["count", "count_text", "ref", "extra", "trailing", "missing", "short", "padded"]


@st.composite
def plain_bodied_documents(draw) -> bytes:
    """Sets whose bodies are plain (the bulk path takes them) and whose ST and SE deviate now and then."""
    e = draw(st.sampled_from("*|^"))
    sc = {"e": e, "c": ">", "r": draw(st.sampled_from([None, "!"])), "t": "~",
          "suffix": draw(st.sampled_from(["\n", "\r\n", ""]))}  # fmt: skip
    segs = [isa(sc, 7)]
    if draw(st.booleans()):
        segs.append(f"GS{e}PO{e}A{e}B{e}20240131{e}1200{e}1{e}X{e}004010")
    segs.append(f"ST{e}850{e}0001")
    segs.extend(t + e + "1" for t in COMMON_TAGS)  # the tags are known from here on
    segs.append(f"SE{e}{len(COMMON_TAGS) + 2}{e}0001")
    for s in range(2, draw(st.integers(2, 12))):
        ref = f"{s:04d}"
        shape = draw(st.sampled_from(ST_SHAPES))
        st_text = {
            "st03": f"ST{e}850{e}{ref}{e}005010X", "trailing": f"ST{e}850{e}{ref}{e}", "no_st02": f"ST{e}850{e}",
            "no_st01": f"ST{e}{e}{ref}", "duplicate": f"ST{e}850{e}0001", "composite": f"ST{e}850>1{e}{ref}",
            "short": f"ST{e}850",
        }.get(shape, f"ST{e}850{e}{ref}")  # fmt: skip
        if shape == "duplicate":
            ref = "0001"
        segs.append(st_text)
        n = draw(st.integers(0, 6))
        segs.extend(f"{draw(st.sampled_from(COMMON_TAGS))}{e}{draw(VALUE)}{e}X" for _ in range(n))
        shape = draw(st.sampled_from(SE_SHAPES))
        count = str(n + 2)
        se_text = {
            "count": f"SE{e}{n + 3}{e}{ref}", "count_text": f"SE{e}N{e}{ref}", "ref": f"SE{e}{count}{e}X1",
            "extra": f"SE{e}{count}{e}{ref}{e}Z", "trailing": f"SE{e}{count}{e}{ref}{e}", "short": f"SE{e}{count}",
            "padded": f"SE{e}0{count}{e}{ref}",
        }.get(shape, f"SE{e}{count}{e}{ref}")  # fmt: skip
        if shape != "missing":
            segs.append(se_text)
    if draw(st.booleans()):
        segs += [f"GE{e}1{e}1", f"IEA{e}1{e}000000007"]
    doc = "".join(t + "~" + sc["suffix"] for t in segs)
    if draw(st.integers(0, 4)) == 0:
        doc = doc.rstrip("\r\n")[:-1]  # no terminator after the last segment
    return doc.encode("ascii")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=plain_bodied_documents(), step=st.one_of(st.none(), st.integers(1, 80)), keep=st.booleans())
def test_bulk_checks_st_and_se_as_the_loop_does(data, step, keep):
    assert read_all(data, step, keep, bulk=True) == read_all(data, step, keep, bulk=False)


def test_the_bulk_path_is_taken_and_reads_what_the_loop_reads(monkeypatch):
    """A plain document goes through the bulk path (so the property tests compare two different ways)."""
    from bench import generate

    data = generate.x12_850(50)
    made = []
    real = x12._bulk

    def counting(pieces, *args):
        out = real(pieces, *args)
        made.append(len(out))
        return out

    monkeypatch.setattr(x12, "_bulk", counting)
    fast = read_all(data, None, True, bulk=True)
    # every body segment but the first set's, whose tags are not known yet then
    assert sum(made) == 49 * (generate.x12_set_segments() - 2)
    assert fast == read_all(data, None, True, bulk=False)
    for seg in [s for item in x12.read(data) if isinstance(item, Message) for s in item.segments]:
        assert seg.text == data[seg.offset : seg.offset + len(seg.text)].decode("ascii")


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_a_file_read_in_small_chunks(monkeypatch, size):
    """The reader's own chunking (``x12.CHUNK``) made small: every buffer ends somewhere else."""
    from bench import generate
    from gateway.syntax import source

    data = generate.x12_850(30)
    monkeypatch.setattr(x12, "CHUNK", size)
    sizes = []
    monkeypatch.setattr(x12, "chunks", lambda src, n: sizes.append(n) or source.chunks(src, n))
    results = []
    for bulk in (True, False):
        old = x12._BULK
        x12._BULK = bulk
        try:
            items = list(x12.read(io.BytesIO(data), keep=True))
        finally:
            x12._BULK = old
        results.append([snap_message(i) if isinstance(i, Message) else snap_interchange(i) for i in items])
    assert results[0] == results[1]
    assert sizes == [size, size]  # the reader reads in chunks of x12.CHUNK
    monkeypatch.undo()
    assert results[0] == read_all(data, None, True, bulk=False)[0]  # and the same as read whole


@pytest.mark.parametrize("new", [True, False])
@pytest.mark.parametrize("layout", ["lines", "one line", "blank lines first"])
def test_both_ways_of_making_segments(monkeypatch, new, layout):
    """_bulk makes segments with BareSegment() or with Segment(...): the same either way, in every layout."""
    from bench import generate

    data = generate.x12_850(12)
    if layout == "one line":
        data = data.replace(b"~\n", b"~")
    elif layout == "blank lines first":  # lines and segment numbers no longer agree
        data = b"\n\n" + data.replace(b"~\n", b"~\r\n")
    monkeypatch.setattr(x12, "PLAIN_SEGMENT", new)
    made = []
    real = x12._bulk
    monkeypatch.setattr(x12, "_bulk", lambda pieces, *args: made.append(len(pieces)) or real(pieces, *args))
    assert read_all(data, None, True, bulk=True) == read_all(data, None, True, bulk=False)
    assert sum(made) == 11 * 17 + 17  # (the first set's body is tried, and fails on its new tags)


def test_bulk_segments_are_segments_in_all_but_type():
    """The bulk path's BareSegment instances compare, print and serialise like Segment(...)'s."""
    from gateway.model import PLAIN_SEGMENT, BareSegment

    from bench import generate

    assert PLAIN_SEGMENT  # else the bulk paths fall back to Segment(...), and this file tests less
    data = generate.x12_850(3)
    messages = [m for m in x12.read(data) if isinstance(m, Message)]
    body = messages[1].segments[3]
    assert type(body) is BareSegment and isinstance(body, Segment)
    made = Segment(body.tag, list(body.elements), body.index, body.line, body.offset, body.text)
    assert body == made and repr(body) == repr(made) and body.to_json() == made.to_json()
    assert [getattr(body, s) for s in Segment.__slots__] == [getattr(made, s) for s in Segment.__slots__]
    with pytest.raises(TypeError):
        BareSegment("N1", [])  # no arguments: it is filled in slot by slot


def test_tags_are_the_same_strings_in_every_reader():
    """Two reads share their tag strings (interned): validation's memo of tag sequences, built from
    earlier documents, and the mappings' literal tags then compare by identity."""
    from bench import generate

    first, second = ([m for m in x12.read(generate.x12_850(2, seed=s)) if isinstance(m, Message)] for s in (1, 2))
    for a, b in zip(first[1].segments, second[1].segments):
        assert a.tag == b.tag and a.tag is b.tag
    assert first[0].segments[1].tag is "BEG"  # noqa: F632 - the identity is the point
