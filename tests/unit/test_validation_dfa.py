"""The RE2 message patterns (gateway.validation.fastpath, dfa=True) against the exact checks.

The RE2 dialect says what the re patterns say with lookarounds another way: these tests hold
each rewritten piece to what it stands for, and whole messages (as read, with the separators a
file has) to the exact checks.
"""

from __future__ import annotations

import re

import re2
from hypothesis import given, settings, strategies as st

from gateway.syntax import parse
from gateway.validation import validator as _validator
from gateway.validation.definitions import UNBOUNDED
from gateway.validation.fastpath import _decimal_dfa, _other_than, _YEAR, _YEAR_DFA
from gateway.validation.validator import validate
from tests.unit.test_validation import ISA, END, ORDERS, PO, VALUES, _exact, _findings, _po_with, x12


def _dfa(pattern: str):
    compiled = re2.compile(pattern.encode("latin-1"), re2.DOTALL)
    assert type(compiled) is re2.Pattern, pattern  # RE2 took it (not handed to re)
    return lambda text: compiled.fullmatch(text.encode("latin-1")) is not None


WORDS = st.lists(st.text("ab1", min_size=1, max_size=4), max_size=6)


@settings(max_examples=300, deadline=None)
@given(words=WORDS, low=st.integers(1, 3), span=st.integers(0, 3), unbounded=st.booleans(),
       text=st.text("ab1c*", max_size=7))
def test_other_than_takes_exactly_the_strings_that_are_none_of_the_words(words, low, span, unbounded, text):
    high = UNBOUNDED if unbounded else low + span
    pattern = _other_than(words, lambda chars: "[^*" + re.escape(chars) + "]", low, high)
    expected = "*" not in text and low <= len(text) <= high and text not in words
    got = pattern is not None and _dfa(pattern)(text)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(low=st.integers(1, 5), span=st.integers(0, 6), comma=st.booleans(),
       text=st.text("0123456789.,-", max_size=14))
def test_decimal_without_lookahead_is_the_lookahead_pattern(low, span, comma, text):
    high = low + span
    marks = "[.,]" if comma else "[.]"
    chars = "[0-9.,]" if comma else "[0-9.]"
    reference = (f"-?(?:[0-9]{{{low},{high}}}|(?={chars}{{{low + 1},{high + 1}}}(?!{chars}))"
                 f"[0-9]*{marks}[0-9]+)")
    assert (re.fullmatch(reference, text) is not None) == _dfa(_decimal_dfa(low, high, marks))(text)


def test_years_without_lookahead_are_the_same_years():
    dfa, ref = _dfa(_YEAR_DFA), re.compile(_YEAR).fullmatch
    assert all(dfa(f"{y:04d}") == (ref(f"{y:04d}") is not None) for y in range(10000))


def _read(body: str, separator: str, good: str = PO):
    """The third set of a group of three (the reader takes the sets after its first one whole,
    with their text), ``body`` its content, the others ``good``; segments end in ``separator``."""
    def one(content: str, ref: str) -> str:
        segments = [s for s in content.split("~") if s]
        return f"ST*850*{ref}~" + "".join(s + "~" for s in segments) + f"SE*{len(segments) + 2}*{ref}~"

    text = one(good, "0001") + one(good, "0002") + one(body, "0003")
    data = (ISA.format(gs="PO") + text + END.replace("GE*1*", "GE*3*")).replace("~", separator)
    return parse(data.encode())[0].messages[2]


def test_a_message_as_read_is_matched_on_its_own_text_whatever_its_line_breaks():
    for separator in ("~", "~\n", "~\r\n"):
        message = _read(PO, separator)
        assert message.text is not None and message.text.startswith("ST*850*0003" + separator)
        assert validate(message) == []
        assert validate(_read(PO, separator)) == []  # the next one of the kind: the short way
        assert _validator._LAST_TEXT[0][6] == separator
        bad = _read(PO.replace("PO1*1*10*EA", "PO1*1*1X*EA"), separator)
        assert bad.text is not None and _findings(bad) == _exact(bad) != []


def test_a_separator_other_than_the_last_ones_is_not_taken_for_it():
    """After messages cut on ``~``, one cut on ``~`` and a line break must not be matched with the
    ``~`` pattern (a line break would start every tag: the segments would be taken as unknown)."""
    good = _read(PO, "~")
    assert validate(good) == [] and _validator._LAST_TEXT[0][6] == "~"
    bad = _read(PO.replace("PO1*1*10*EA", "PO1*1*1X*EA"), "~\n")
    # as if it were of the same group (one file whose line breaks change from one buffer to the next)
    _validator._LAST_TEXT[0] = (bad.group, *_validator._LAST_TEXT[0][1:])
    assert _findings(bad) == _exact(bad) != []


@settings(max_examples=150, deadline=None)
@given(changes=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 6), VALUES), min_size=1, max_size=4),
       separator=st.sampled_from(["~", "~\n"]))
def test_messages_as_read_find_what_the_exact_checks_find(changes, separator):
    for segment, element, value in changes:
        body = _po_with(segment, element, value)
        message = _read(body, separator)
        assert _findings(message) == _exact(message)


def test_the_valid_messages_go_through_re2():
    message = x12(PO)
    assert validate(message) == []
    dfa = _validator._LAST_MATCHER[0][5] if message.text is None else _validator._LAST_TEXT_MATCHER[0][4]
    assert dfa is not None and hasattr(dfa, "contains")


def test_a_segment_left_out_of_the_re2_pattern_goes_to_the_re_pattern():
    """CTP's pattern is too large for RE2's (see fastpath._DFA_BRANCH): a message with one is
    refused by RE2, then taken by the re pattern, not by the walker's exact checks."""
    body = PO.replace("~PID*", "~CTP**RES*12.5~PID*")
    message = x12(body)
    assert _exact(message) == []
    assert validate(message) == []
    entry = _validator._LAST_MATCHER[0][6]
    assert entry[2] is not None and not entry[2](_validator.JOIN.join(s.text for s in message.segments))
    assert entry[0] is not _validator._UNSET and entry[0](
        _validator.JOIN.join(s.text for s in message.segments[1:-1])) is not None
    bad = x12(body.replace("RES*12.5", "RES*12.X"))
    assert _findings(bad) == _exact(bad) != []


def _read_edifact(body: str, layout: str) -> object:
    """The third message of an interchange of three (the reader takes a message whose tags it has
    seen in one run, with its text), ``body`` its content, the others ORDERS."""
    def one(content: str, ref: str) -> str:
        segments = [s for s in content.split("'") if s]
        return "".join(s + "'" + layout for s in [f"UNH+{ref}+ORDERS:D:96A:UN", *segments,
                                                     f"UNT+{len(segments) + 2}+{ref}"])
    data = (f"UNB+UNOC:3+BUYER:14+SELLER:14+240101:1200+42'{layout}" + one(ORDERS, "1") + one(ORDERS, "2")
            + one(body, "3") + "UNZ+3+42'" + layout)
    return parse(data.encode("latin-1"))[0].messages[2]


@settings(max_examples=100, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(["BGM+220+PO-1+9", "QTY+21:10", "LIN+1++4000862141404:SRV"]),
                                  st.sampled_from(["", "X", "1234567890123456789012345678901234567", "12.5",
                                                   "Mum??s 1?+2?:3", "é"])), min_size=1, max_size=3),
       layout=st.sampled_from(["", "\n", "\r\n"]))
def test_edifact_messages_as_read_find_what_the_exact_checks_find(changes, layout):
    body = ORDERS
    for segment, value in changes:
        body = body.replace(segment, segment.rsplit("+", 1)[0] + "+" + value, 1)
    message = _read_edifact(body, layout)
    assert message.text is not None and message.text.startswith("UNH+3+ORDERS:D:96A:UN'" + layout)
    assert _findings(message) == _exact(message)


def test_an_edifact_message_as_read_takes_the_short_way():
    assert validate(_read_edifact(ORDERS, "\n")) == []
    assert validate(_read_edifact(ORDERS, "\n")) == []
    assert _validator._LAST_TEXT[0][2] == "ORDERS" and _validator._LAST_TEXT[0][6] == "'\n"


def test_the_short_way_does_not_take_another_shape_for_the_last_one():
    """A message whose values all match but whose segments stand in another order, read after a
    valid one of the same group: the short way compares its tags with the last message's (and
    then with the memo), so the structure finding is not lost."""
    good, moved = (_read_edifact(body, "\n") for body in (ORDERS, _moved(ORDERS)))
    assert validate(good) == [] and _validator._LAST_TEXT[0][8] == [s.tag for s in good.segments]
    _validator._LAST_TEXT[0] = (moved.group, *_validator._LAST_TEXT[0][1:])
    found = _findings(moved)
    assert found == _exact(moved) and found != []


def _moved(body: str) -> str:
    """``body`` with its first DTM put after its last segment: each value still valid, the order not."""
    segments = [s for s in body.split("'") if s]
    dtm = next(s for s in segments if s.startswith("DTM"))
    segments.remove(dtm)
    return "'".join([*segments, dtm]) + "'"
