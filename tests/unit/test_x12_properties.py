"""Property tests: whatever the X12 writer writes, the reader reads back the same."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.model import Delimiters, Group, Interchange, Message, Repeats, Segment
from gateway.syntax import x12
from tests.helpers import Trickle, Writes, canonical

# Characters that may serve as separators (never letters, digits or white space).
SERVICE_POOL = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
PLAIN = "ABCXYZabcz0189 "
RESERVED_TAGS = {"ISA", "IEA", "GS", "GE", "ST", "SE", "BIN", "TA1", "ISB", "ISE"}


@st.composite
def delimiter_sets(draw) -> Delimiters:
    chars = draw(st.lists(st.sampled_from(SERVICE_POOL), min_size=4, max_size=4, unique=True))
    element, component, repetition, terminator = chars
    if draw(st.booleans()):
        repetition = None
    if draw(st.integers(0, 4)) == 0:
        return Delimiters("\n", element, component, repetition)
    suffix = draw(st.sampled_from(["", "\n", "\r\n"]))
    return Delimiters(terminator + suffix, element, component, repetition)


def safe_values(delims: Delimiters, extra: str = "") -> st.SearchStrategy[str]:
    """Values made of plain characters and of every service character this set does not use."""
    used = {delims.element, delims.component, delims.repetition, delims.segment[0]}
    alphabet = PLAIN + extra + "".join(c for c in SERVICE_POOL if c not in used)
    return st.text(st.sampled_from(alphabet), max_size=10)


def elements(values: st.SearchStrategy[str], with_repeats: bool) -> st.SearchStrategy:
    composites = st.lists(values, min_size=2, max_size=4)
    shapes = [values, values, composites]
    if with_repeats:
        shapes.append(st.lists(st.one_of(values, composites), min_size=2, max_size=3).map(Repeats))
    return st.one_of(*shapes)


tags = st.from_regex(r"[A-Z][A-Z0-9]{1,2}", fullmatch=True).filter(lambda t: t not in RESERVED_TAGS)


@st.composite
def interchanges(draw, extra: str = "") -> tuple[Interchange, Delimiters]:
    delims = draw(delimiter_sets())
    values = safe_values(delims, extra)
    segment = st.builds(Segment, tags, st.lists(elements(values, delims.repetition is not None), max_size=7))
    ic = Interchange(
        syntax="x12",
        sender=draw(st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)),
        recipient=draw(st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)),
        control_ref=str(draw(st.integers(0, 999_999_999))),
        date="240131",
        time="1200",
        syntax_id=draw(st.sampled_from(["00401", "00501", "00204"])),
        test=draw(st.booleans()),
        ack_requested=draw(st.booleans()),
    )
    for g in range(draw(st.integers(1, 3))):
        group = Group("PO", str(g + 1), "A", "B", "004010", Segment("GS", []), interchange=ic)
        for m in range(draw(st.integers(1, 3))):
            body = draw(st.lists(segment, max_size=6))
            ref = f"{m + 1:04d}"
            group.messages.append(Message("850", ref, "004010", [Segment("ST", ["850", ref]), *body]))
        ic.groups.append(group)
    return ic, delims


def read_back(data: bytes, step: int | None = None, **kw) -> Interchange:
    source = data if step is None else Trickle(data, step)
    [ic] = [i for i in x12.read(source, keep=True, **kw) if isinstance(i, Interchange)]
    return ic


def expected_bodies(ic: Interchange) -> list[list]:
    return [[[s.tag, *canonical(s.elements)] for s in m.segments[1:]] for g in ic.groups for m in g.messages]


def bodies(ic: Interchange) -> list[list]:
    return [[[s.tag, *s.elements] for s in m.body] for m in ic.messages]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=interchanges())
def test_written_to_a_stream_it_is_the_document_write_returns(case):
    ic, delims = case
    out = io.BytesIO()
    size = x12.write_to(out, ic, delimiters=delims)
    assert out.getvalue() == x12.write(ic, delimiters=delims)
    assert size == len(out.getvalue())


def test_a_document_of_many_runs_is_written_to_a_stream_run_by_run():
    # 3 x 10,000 segments: several runs of 8,192, each put to the stream as it is joined
    lines = [Segment("PO1", [str(i), "1", "EA", "9.5"]) for i in range(10_000)]
    ic = Interchange(syntax="x12", sender="A", recipient="B", control_ref="7", date="261207", time="0900",
                     syntax_id="00401", messages=[Message("850", f"{n:04d}", "004010", lines) for n in (1, 2, 3)])
    out = Writes()
    out.assert_written_in_runs(x12.write_to(out, ic), x12.write(ic))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=interchanges())
def test_write_then_read_gives_the_same_segments(case):
    ic, delims = case
    data = x12.write(ic, delimiters=delims)
    back = read_back(data)
    assert back.all_issues() == [], [str(i) for i in back.all_issues()]
    assert bodies(back) == expected_bodies(ic)
    assert back.delimiters == Delimiters(
        delims.segment[0] if delims.segment[0] != "\r" else "\n", delims.element, delims.component, delims.repetition
    )
    assert (back.sender, back.recipient, back.test, back.ack_requested) == (
        ic.sender, ic.recipient, ic.test, ic.ack_requested,
    )  # fmt: skip
    assert int(back.control_ref) == int(ic.control_ref) and len(back.control_ref) == 9
    assert [(g.control_ref, g.message_count) for g in back.groups] == [
        (g.control_ref, len(g.messages)) for g in ic.groups
    ]
    assert len(back.header.elements) == 16
    assert len(data.split(delims.segment[0].encode(), 1)[0]) == 105  # the ISA is fixed width


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=interchanges(extra="éüßÅ€"))
def test_non_ascii_values_round_trip_in_utf8_with_a_warning_only(case):
    ic, delims = case
    data = x12.write(ic, delimiters=delims, encoding="utf-8")
    back = read_back(data)
    assert {i.code for i in back.all_issues()} <= {"INVALID_CHARACTER"}
    assert bodies(back) == expected_bodies(ic)
    assert read_back(data, encoding="utf-8").all_issues() == []  # a declared encoding is not a deviation


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=interchanges(), step=st.integers(1, 50))
def test_chunk_boundaries_do_not_change_what_is_read(case, step):
    ic, delims = case
    data = x12.write(ic, delimiters=delims)
    whole, trickled = read_back(data), read_back(data, step)
    assert bodies(whole) == bodies(trickled)
    assert [(s.index, s.line, s.offset) for m in whole.messages for s in m.segments] == [
        (s.index, s.line, s.offset) for m in trickled.messages for s in m.segments
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=interchanges())
def test_offsets_and_lines_point_at_each_segment(case):
    ic, delims = case
    data = x12.write(ic, delimiters=delims)
    back = read_back(data)
    for msg in back.messages:
        for seg in msg.segments:
            assert data[seg.offset : seg.offset + len(seg.tag)] == seg.tag.encode()
            assert data[: seg.offset].count(b"\n") + 1 == seg.line


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=interchanges())
def test_pyx12_reads_what_we_write(case):
    """An independent reader agrees with ours on every segment and element text."""
    from pyx12 import x12file  # a test dependency: its absence must fail, not skip
    ic, delims = case
    assume(delims.segment[0] not in "\r\n")  # pyx12 needs a printable terminator
    assume(delims.repetition is None)  # and does not split repetitions
    assume(ic.syntax_id in ("00401", "00501"))  # the versions pyx12 knows
    data = x12.write(ic, delimiters=delims)
    ours = read_back(data)
    theirs = []
    for seg in x12file.X12Reader(io.StringIO(data.decode("ascii"))):
        tag = seg.get_seg_id()
        if tag in ("ISA", "GS", "GE", "IEA", "ST", "SE"):
            continue
        theirs.append([tag, *(seg.get(f"{tag}{i:02d}").format() for i in range(1, len(seg) + 1))])

    def text(value):
        return delims.component.join(value) if isinstance(value, list) else value

    assert theirs == [[s.tag, *map(text, s.elements)] for m in ours.messages for s in m.body]
