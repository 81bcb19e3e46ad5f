"""Property tests: the EDIFACT reader's bulk path (runs of ordinary segments built at once) reads
exactly what its per-segment path reads: every segment attribute, every message, group and
interchange, every issue and every error, whatever the input holds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import EdiSyntaxError
from gateway.model import Group, Interchange, Message, Segment
from gateway.syntax import edifact
from tests.helpers import Trickle

ORDINARY = ["BGM", "DTM", "NAD", "LIN", "QTY", "UNS", "IMD", "PRI"]
# Separator sets a UNA may declare (component, element, decimal, release, repetition, segment).
# A letter as a separator cuts tags too (a tag seen under other separators is then no tag).
UNAS = [":+.? '", ":+.?*'", "|^,!~#", ":+.? \n", ";=.\\ %", "G+.? '", "M+.?*'", ":N.? '"]


@st.composite
def values(draw, specials: str, release: str) -> str:
    """A value: letters, digits, Latin-1 letters, and (released) service characters."""
    alphabet = list("ABCxyz019 .-/éüß") + ([c for c in specials if c] if release else [])
    text = draw(st.text(st.sampled_from(alphabet), max_size=8))
    if release:
        text = "".join(release + c if c in specials else c for c in text)
    return text


@st.composite
def segment_text(draw, seps: dict, tag: str | None = None) -> str:
    el, comp, rep, rel = seps["element"], seps["component"], seps["repetition"], seps["release"]
    specials = "".join(c for c in (seps["segment"], el, comp, rep, rel) if c)
    tag = tag or draw(st.sampled_from(ORDINARY))
    elements = []
    for _ in range(draw(st.integers(0, 4))):
        comps = [draw(values(specials, rel)) for _ in range(draw(st.integers(1, 3)))]
        element = comp.join(comps)
        if rep and draw(st.integers(0, 5)) == 0:
            element += rep + draw(values(specials, rel))
        elements.append(element)
    return el.join([tag, *elements])


ANOMALIES = [
    "bad tag", "lower tag", "empty", "blank before", "service inside", "release before letter", "c1 byte",
    "latin-1 in ascii", "tag with component", "bare UNT", "released release at end", "unknown charset",
]


@st.composite
def anomaly(draw, seps: dict) -> str:
    """Text of a segment (or segments) no ordinary run may contain."""
    kind = draw(st.sampled_from(ANOMALIES))
    el, comp, rel = seps["element"], seps["component"], seps["release"]
    if kind == "bad tag":
        return "B1" + el + "X"
    if kind == "lower tag":
        return "bgm" + el + "X"
    if kind == "empty":
        return ""
    if kind == "blank before":
        return "  " + draw(segment_text(seps))
    if kind == "service inside":
        return "UNH" + el + "99" + el + "ORDERS" + comp + "D" + comp + "96A" + comp + "UN"
    if kind == "release before letter" and rel:
        return "IMD" + el + rel + "A" + rel
    if kind == "c1 byte":
        return "IMD" + el + "x\x85y"
    if kind == "latin-1 in ascii":
        return "IMD" + el + "\xe9\xff"
    if kind == "tag with component":
        return "LIN" + comp + "1" + el + "X"
    if kind == "bare UNT":
        return "UNT" + el + "3" + el + "1"
    if kind == "released release at end" and rel:
        return "IMD" + el + "A" + rel + rel
    return draw(segment_text(seps))


@st.composite
def documents(draw) -> bytes:
    """One to three interchanges, with or without UNA (each its own), groups, anomalies, layouts."""
    out = []
    charset_of = {}
    for n in range(draw(st.integers(1, 3))):
        una = draw(st.sampled_from([None, *UNAS]))
        version = draw(st.sampled_from(["3", "4"]))
        if una is None:
            seps = {"component": ":", "element": "+", "release": "?", "segment": "'",
                    "repetition": "*" if version == "4" else None}
        else:
            seps = {"component": una[0], "element": una[1], "release": None if una[3] == " " else una[3],
                    "repetition": None if una[4] == " " else una[4], "segment": una[5]}
        el, comp = seps["element"], seps["component"]
        layout = draw(st.sampled_from(["", "\n", "\r\n", "mixed"]))
        if seps["segment"] == "\n":
            layout = ""
        charset = draw(st.sampled_from(["UNOC", "UNOA", "UNOY", "UNOW", "KECA", "XXXX"]))
        texts: list[str] = []
        texts.append("UNB" + el + charset + comp + version + el + "S" + comp + "14" + el + "R" + el + "260115"
                     + comp + "1030" + el + str(n + 1))
        grouped = draw(st.booleans())
        if grouped:
            texts.append("UNG" + el + "ORDERS" + el + "S" + el + "R" + el + "260115" + comp + "1030" + el + "7"
                         + el + "UN" + el + "D" + comp + "96A")
        messages = draw(st.integers(0, 4))
        for m in range(messages):
            ref = draw(st.sampled_from([str(m + 1), str(m + 1), "1"]))
            body = []
            for _ in range(draw(st.integers(0, 10))):
                if draw(st.integers(0, 7)) == 0:
                    body.append(draw(anomaly(seps)))
                else:
                    body.append(draw(segment_text(seps)))
            texts.append("UNH" + el + ref + el + "ORDERS" + comp + "D" + comp + "96A" + comp + "UN")
            texts.extend(body)
            if draw(st.integers(0, 9)):
                count = len(body) + 2 if draw(st.integers(0, 5)) else len(body)
                texts.append("UNT" + el + str(count) + el + ref)
            if draw(st.integers(0, 9)) == 0:
                texts.append(draw(segment_text(seps)))  # a segment outside any message
        if grouped:
            texts.append("UNE" + el + str(messages) + el + "7")
        if draw(st.integers(0, 9)):
            texts.append("UNZ" + el + str(1 if grouped else messages) + el + str(n + 1))
        term = seps["segment"]
        if layout == "mixed":
            joined = "".join(t + term + draw(st.sampled_from(["", "", "\n", "\r\n", " \n"])) for t in texts)
        else:
            joined = "".join(t + term + layout for t in texts)
        head = ("UNA" + una + ("\n" if layout in ("\n", "mixed") else "")) if una is not None else ""
        codec = "utf-8" if charset in ("UNOY", "UNOW") else "latin-1"
        data = (head + joined).encode(codec, errors="replace") if codec == "utf-8" else _latin1(head + joined)
        if charset == "UNOY" and draw(st.booleans()):
            data += b"IMD+\xe9'"  # not UTF-8: read as Windows-1252 with a warning
        out.append(data)
        charset_of[n] = charset
    tail = draw(st.sampled_from([b"", b"", b"\n", b"UNB+UNOC", b"  \r\n"]))
    document = b"".join(out)
    if draw(st.integers(0, 3)) == 0:  # no line break after the last segment
        document = document.rstrip(b"\r\n")
    return document + tail


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", errors="replace")


def read_all(data: bytes, fast: bool, step: int | None = None, keep: bool = True) -> tuple:
    """Everything the reader yields, as plain values; or the error it raised."""
    source = data if step is None else Trickle(data, step)
    out = []
    try:
        for item in edifact._Envelope(edifact._Tokenizer(source, None, fast=fast), keep).run():
            out.append(_item(item))
    except EdiSyntaxError as exc:
        out.append(("error", _issues(exc.issues)))
    return tuple(out)


def _segment(s: Segment | None) -> tuple | None:
    if s is None:
        return None
    return (s.tag, repr(s.elements), type(s.elements).__name__, s.index, s.line, s.offset, s.text)


def _issues(issues) -> list:
    return [(i.code, i.text, i.location, i.tolerated) for i in issues]


def _group(g: Group | None) -> tuple | None:
    if g is None:
        return None
    return (g.id, g.control_ref, g.sender, g.recipient, g.version, _segment(g.header), _segment(g.trailer),
            g.message_count, len(g.messages), _issues(g.issues))


def _message(m: Message) -> tuple:
    return (m.type, m.ref, m.version, m.release, [_segment(s) for s in m.segments], _issues(m.issues),
            _group(m.group), m.interchange.control_ref if m.interchange else None)


def _item(item) -> tuple:
    if isinstance(item, Message):
        return ("message", _message(item))
    assert isinstance(item, Interchange)
    return ("interchange", item.sender, item.recipient, item.control_ref, _segment(item.header),
            _segment(item.trailer), item.charset, item.delimiters, item.syntax_id, item.syntax_version,
            item.offset, item.message_count, [_group(g) for g in item.groups],
            [_message(m) for m in item.messages], _issues(item.issues))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=documents(), step=st.one_of(st.none(), st.integers(1, 64)))
def test_bulk_path_reads_what_the_per_segment_path_reads(data, step):
    assert read_all(data, fast=True, step=step) == read_all(data, fast=False, step=step)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=documents())
def test_bulk_path_streaming_yields_the_same(data):
    assert read_all(data, fast=True, keep=False) == read_all(data, fast=False, keep=False)


def test_bulk_path_is_taken_and_shares_the_tag_strings():
    from bench import generate

    data = generate.edifact_orders(50)
    tokens = edifact._Tokenizer(data, None)
    envelope = edifact._Envelope(tokens, True)
    runs = []
    original = tokens._segment_maker

    def spy():
        make = original()
        run = tokens._run

        def counted(*args):
            made = run(*args)
            runs.append(len(made))
            return made

        tokens._run = counted
        return make

    tokens._segment_maker = spy
    items = list(envelope.run())
    assert sum(runs) > 40 * 30  # nearly every body segment was built in bulk
    [ic] = [i for i in items if isinstance(i, Interchange)]
    by_tag: dict[str, set] = {}
    for m in ic.messages:
        for s in m.segments:
            if s.tag not in edifact.SERVICE_TAGS:
                by_tag.setdefault(s.tag, set()).add(id(s.tag))
    assert len(by_tag) > 5 and all(len(ids) == 1 for ids in by_tag.values()), by_tag
    assert read_all(data, fast=True) == read_all(data, fast=False)


def test_a_tag_seen_under_other_separators_is_cut_by_a_letter_separator():
    """A second interchange declares 'G' its component separator: 'BGM' is no longer the tag
    'BGM' there, though the first interchange made it a known tag."""
    first = (b"UNB+UNOC:3+S+R+260115:1030+1'UNH+1+ORDERS:D:96A:UN'BGM+220'DTM+137'UNT+4+1'UNZ+1+1'")
    second = (b"UNAG+.? 'UNB+UNOCG3+S+R+260115G1030+2'UNH+1+ORDERSGDG96AGUN'DTM+1'BGM+220'DTM+2'"
              b"UNT+5+1'UNZ+1+2'")
    data = first + second
    slow = read_all(data, fast=False)
    assert read_all(data, fast=True) == slow
    codes = [i[0] for item in slow if item[0] == "message" for i in item[1][5]]
    assert "SEGMENT_TAG_INVALID" in codes


def _segments_and_constructor_calls(monkeypatch, data: bytes) -> tuple[int, int]:
    """The segments of the messages in ``data``, and how many of them Segment.__init__ made."""
    made = []
    real = edifact.Segment.__init__
    monkeypatch.setattr(edifact.Segment, "__init__", lambda self, *a, **k: made.append(1) or real(self, *a, **k))
    segments = sum(len(m.segments) for m in edifact.read(data) if isinstance(m, Message))
    return segments, len(made)


@pytest.mark.parametrize("plain", [True, False])
def test_both_ways_of_making_segments(monkeypatch, plain):
    """The bulk path makes segments with BareSegment() or with Segment(...): the same either way."""
    from bench import generate

    data = generate.edifact_orders(30)
    monkeypatch.setattr(edifact, "PLAIN_SEGMENT", plain)
    assert read_all(data, fast=True) == read_all(data, fast=False)
    segments, made = _segments_and_constructor_calls(monkeypatch, data)
    assert segments == 30 * 36
    # with BareSegment() the constructor is left to the per-segment path (UNH, UNT, released characters)
    assert (made < segments // 4) if plain else (made >= segments)


@st.composite
def released_texts(draw) -> tuple[edifact.Delimiters, str]:
    """A segment text under one of the UNAs, with released service characters, released release
    characters, a release before an ordinary letter now and then, and placeholder code points."""
    una = draw(st.sampled_from([u for u in UNAS if u[3] != " "]))
    d = edifact.delimiters_from_una(("UNA" + una).encode("latin-1"))
    specials = "".join(c for c in (d.segment, d.element, d.component, d.repetition, d.release) if c)
    text = draw(segment_text({"element": d.element, "component": d.component, "repetition": d.repetition,
                              "release": d.release, "segment": d.segment}))
    extra = draw(st.sampled_from(["", "", "", d.release + "x", d.release + d.release, "\ue001", "é"]))
    at = draw(st.integers(3, max(3, len(text))))
    return d, text[:at] + extra + text[at:] if text[at - 1 : at] != d.release else text


@settings(max_examples=500, deadline=None)
@given(case=released_texts())
def test_released_characters_are_read_as_the_exact_path_reads_them(case):
    """make_text's placeholder path gives what the character-by-character path gives."""
    d, text = case
    tokens = edifact._Tokenizer(b"", None)
    tokens._set(d)
    tokens.codec = "utf-8"
    seg = tokens._segment_maker()(text.encode("utf-8"), 1, 1, 0)
    tag, elements = edifact._split_released(text, d)
    assert (seg.tag, seg.elements) == (tag, elements)
    assert type(seg.elements) is type(elements)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=documents())
def test_a_message_read_in_one_run_carries_its_text(data):
    """Message.text, when the reader sets it, is the message's segments as read, UNH to UNT, each
    but the last followed by the separator the file has between them."""
    try:
        items = list(edifact.read(data))
    except EdiSyntaxError:
        return
    for m in items:
        if isinstance(m, Message) and m.text is not None:
            segments = m.segments
            assert segments[0].tag == "UNH" and segments[-1].tag == "UNT"
            separator = m.text[len(segments[0].text) : segments[1].offset - segments[0].offset]
            assert m.text == separator.join(s.text for s in segments)


def test_the_bench_orders_carry_their_text():
    from bench import generate

    messages = [m for m in edifact.read(generate.edifact_orders(30)) if isinstance(m, Message)]
    assert sum(m.text is not None for m in messages) >= 28  # all but the first, whose tags are new


@pytest.mark.parametrize("cut", ["no line break at the end", "a buffer ends between a terminator and its break"])
def test_an_irregular_end_of_buffer_leaves_the_rest_to_the_bulk_path(monkeypatch, cut):
    """What follows a buffer's last line break does not send the whole buffer segment by segment."""
    from bench import generate

    data = generate.edifact_orders(60)
    if cut == "no line break at the end":
        data = data.rstrip(b"\n")
    else:
        monkeypatch.setattr(edifact, "CHUNK", data.index(b"'\n", len(data) // 2) + 1)
    assert read_all(data, fast=True) == read_all(data, fast=False)
    segments, made = _segments_and_constructor_calls(monkeypatch, data)
    assert segments == 60 * 36
    assert made < segments // 4  # the bulk path makes segments with BareSegment()


def test_tags_are_the_same_strings_in_every_reader():
    """As in the X12 reader: two reads share their tag strings (interned)."""
    from bench import generate

    first, second = ([m for m in edifact.read(generate.edifact_orders(2, seed=s)) if isinstance(m, Message)]
                     for s in (1, 2))
    for a, b in zip(first[0].segments, second[0].segments):
        assert a.tag == b.tag and a.tag is b.tag
    for a, b in zip(first[1].segments, second[1].segments):
        assert a.tag is b.tag
    assert first[1].segments[1].tag is "BGM"  # noqa: F632 - the identity is the point
