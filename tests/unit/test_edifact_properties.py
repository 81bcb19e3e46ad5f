"""Property tests: whatever the EDIFACT writer writes, the reader reads back the same."""

from __future__ import annotations

import io
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.model import Delimiters, Interchange, Message, Repeats, Segment
from gateway.syntax import edifact
from tests.helpers import Trickle, Writes, canonical

SERVICE_CHARS = "+:'?*|~^#=!"
# Letters, digits, punctuation, Latin-1 letters, and every service character.
VALUE_ALPHABET = st.sampled_from(list("ABCXYZabcz0189 .,-/()&@%\"éüßÅ") + list(SERVICE_CHARS))

values = st.text(VALUE_ALPHABET, max_size=12)
composites = st.lists(values, min_size=2, max_size=4)
simple_or_composite = st.one_of(values, composites)
repeats = st.lists(simple_or_composite, min_size=2, max_size=3).map(Repeats)
tags = st.from_regex(r"[A-TV-Z][A-Z]{2}", fullmatch=True)  # never a service tag (UN.)


@st.composite
def delimiter_sets(draw):
    chars = draw(st.permutations(list(SERVICE_CHARS)))
    return Delimiters(segment=chars[0], element=chars[1], component=chars[2], repetition=chars[3],
                      release=chars[4], decimal=".")


@st.composite
def interchanges(draw, with_repeats: bool):
    element = st.one_of(simple_or_composite, repeats) if with_repeats else simple_or_composite
    messages = []
    for n in range(draw(st.integers(1, 3))):
        body = [Segment(draw(tags), draw(st.lists(element, max_size=5))) for _ in range(draw(st.integers(0, 4)))]
        messages.append(Message(type="ORDERS", ref=str(n + 1), version="D96A", segments=body,
                                release="ORDERS:D:96A:UN"))
    return edifact.interchange("SENDER", "RECIPIENT", "42", messages, syntax_version="4", date="20261120",
                               time="0930")


def read_back(data: bytes, step: int | None = None) -> Interchange:
    source = data if step is None else Trickle(data, step)
    [ic] = [i for i in edifact.read(source, keep=True) if isinstance(i, Interchange)]
    return ic


def bodies(ic: Interchange) -> list[list]:
    return [[[s.tag, *canonical(s.elements)] for s in m.body] for m in ic.messages]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ic=interchanges(with_repeats=True), delims=delimiter_sets(), newline=st.booleans())
def test_write_then_read_gives_the_same_segments(ic, delims, newline):
    data = edifact.write(ic, delimiters=delims, newline=newline)
    back = read_back(data)
    assert back.ok, [str(i) for i in back.all_issues()]
    assert bodies(back) == [[[s.tag, *canonical(s.elements)] for s in m.segments] for m in ic.messages]
    assert back.delimiters == delims


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(ic=interchanges(with_repeats=True), delims=delimiter_sets(), newline=st.booleans())
def test_written_to_a_stream_it_is_the_document_write_returns(ic, delims, newline):
    out = io.BytesIO()
    size = edifact.write_to(out, ic, delimiters=delims, newline=newline)
    assert out.getvalue() == edifact.write(ic, delimiters=delims, newline=newline)
    assert size == len(out.getvalue())


def test_a_document_of_many_runs_is_written_to_a_stream_run_by_run():
    # 3 x 10,000 segments: several runs of 8,192, each put to the stream as it is joined
    body = [Segment("LIN", [str(i), "", ["4000862141404", "SRS"]]) for i in range(10_000)]
    messages = [Message("ORDERS", str(n), "D96A", body) for n in (1, 2, 3)]
    ic = edifact.interchange("SENDER", "RECIPIENT", "42", messages, date="20261207", time="0900")
    out = Writes()
    out.assert_written_in_runs(edifact.write_to(out, ic), edifact.write(ic))


# no deadline: a trickled read of a few hundred bytes is quick, but a busy machine can hold one up
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ic=interchanges(with_repeats=False), step=st.integers(1, 40))
def test_chunk_boundaries_do_not_change_what_is_read(ic, step):
    data = edifact.write(ic, newline=True)
    whole, trickled = read_back(data), read_back(data, step)
    assert bodies(whole) == bodies(trickled)
    assert [(s.index, s.line, s.offset) for m in whole.messages for s in m.segments] == [
        (s.index, s.line, s.offset) for m in trickled.messages for s in m.segments
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ic=interchanges(with_repeats=False), step=st.integers(1, 40), data=st.data())
def test_irregular_layouts_and_doubled_terminators_read_the_same_in_any_chunks(ic, step, data):
    """Line breaks after some segments only, and empty segments (a doubled terminator), wherever
    they fall: the same segments, positions and issues whole and trickled, and no segment
    is made of an empty one."""
    lines = edifact.write(ic, newline=True).split(b"\n")[:-1]  # each ends with its terminator
    joints = data.draw(st.lists(st.sampled_from([b"", b"\n", b"\r\n", b"'", b"'\n", b"\n'"]),
                                min_size=len(lines), max_size=len(lines)))
    document = b"".join(line + joint for line, joint in zip(lines, joints))
    whole, trickled = read_back(document), read_back(document, step)
    assert whole.ok, [str(i) for i in whole.all_issues()]
    assert bodies(whole) == bodies(trickled) == [[[s.tag, *canonical(s.elements)] for s in m.segments]
                                                  for m in ic.messages]
    assert [(s.index, s.line, s.offset) for m in whole.messages for s in m.segments] == [
        (s.index, s.line, s.offset) for m in trickled.messages for s in m.segments
    ]
    assert [str(i) for i in whole.all_issues()] == [str(i) for i in trickled.all_issues()]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(ic=interchanges(with_repeats=False))
def test_pydifact_reads_what_we_write(ic):
    """An independent reader agrees with ours on every value (default separators)."""
    from pydifact.segmentcollection import Interchange as PydifactInterchange

    data = edifact.write(ic)
    with warnings.catch_warnings():  # pydifact warns about empty segments, which we generate on purpose
        warnings.simplefilter("ignore")
        theirs = PydifactInterchange.from_str(data.decode("latin-1"))
    ours = read_back(data)
    their_segments = [(s.tag, s.elements) for s in theirs.segments if s.tag not in ("UNH", "UNT")]
    our_segments = [(s.tag, s.elements) for m in ours.messages for s in m.body]
    assert len(their_segments) == len(our_segments)
    for (t_tag, t_elements), (o_tag, o_elements) in zip(their_segments, our_segments):
        assert t_tag == o_tag
        assert canonical(_pydifact_shape(t_elements)) == canonical(o_elements)


def _pydifact_shape(elements: list) -> list:
    # pydifact gives composites as lists and simple elements as strings, like us.
    return [list(e) if isinstance(e, (list, tuple)) else e for e in elements]
