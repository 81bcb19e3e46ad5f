"""Content validation: the definitions, the validator, and what each finding reports."""

from __future__ import annotations

import pytest

from gateway.acks.judge import judge_message
from gateway.codes import CODES
from gateway.syntax import parse
from gateway.validation import definitions
from gateway.validation.validator import validate

ISA = ("ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *240101*1200*U*00401*000000001*0*P*>~"
       "GS*{gs}*BUYER*SELLER*20240101*1200*1*X*004010~")
END = "GE*1*1~IEA*1*000000001~"


def x12(body: str, kind: str = "850", gs: str = "PO") -> list:
    segments = [s for s in body.split("~") if s]
    text = f"ST*{kind}*0001~" + "".join(s + "~" for s in segments) + f"SE*{len(segments) + 2}*0001~"
    ic = parse((ISA.format(gs=gs) + text + END).encode())[0]
    assert ic.ok, ic.all_issues()
    return ic.messages[0]


def edifact(body: str, kind: str = "ORDERS", version: str = "96A") -> list:
    segments = [s for s in body.split("'") if s]
    text = f"UNH+1+{kind}:D:{version}:UN'" + "".join(s + "'" for s in segments) + f"UNT+{len(segments) + 2}+1'"
    data = f"UNB+UNOC:3+BUYER:14+SELLER:14+240101:1200+42'{text}UNZ+1+42'"
    ic = parse(data.encode())[0]
    assert ic.ok, ic.all_issues()
    return ic.messages[0]


PO = ("BEG*00*SA*PO-1**20240101~N1*ST*ACME*92*12~PO1*1*10*EA*9.5**VN*W-1~PID*F****WIDGET~CTT*1")
ORDERS = ("BGM+220+PO-1+9'DTM+137:20240101:102'NAD+BY+5412345000013::9'LIN+1++4000862141404:SRV'"
          "QTY+21:10'UNS+S'CNT+2:1'")


def codes(message, guide=None) -> list[tuple[str, str | None, int | None]]:
    return [(i.code, i.location.tag, i.location.element) for i in validate(message, guide)]


def test_valid_documents_have_no_findings():
    assert validate(x12(PO)) == []
    assert validate(edifact(ORDERS)) == []


@pytest.mark.parametrize("body, expected", [
    # missing mandatory segment (BEG), reported at the segment that follows, with the missing tag
    (PO.replace("BEG*00*SA*PO-1**20240101~", ""), [("SEGMENT_MISSING", "BEG", None)]),
    # missing mandatory loop: no PO1
    ("BEG*00*SA*PO-1**20240101~CTT*1", [("SEGMENT_MISSING", "PO1", None)]),
    # too many repeats: PER may occur 3 times in the header
    (PO.replace("N1*", "PER*BD*A~PER*BD*B~PER*BD*C~PER*BD*D~N1*"), [("SEGMENT_TOO_MANY", "PER", None)]),
    # wrong order: BEG after N1
    ("N1*ST*ACME*92*12~BEG*00*SA*PO-1**20240101~PO1*1*10*EA~CTT*1",
     [("SEGMENT_MISSING", "BEG", None), ("SEGMENT_OUT_OF_ORDER", "BEG", None)]),
    # a segment the 850 does not have
    (PO.replace("CTT*1", "BIG*20240101*INV-1~CTT*1"), [("SEGMENT_NOT_IN_MESSAGE", "BIG", None)]),
    # element too long / too short
    (PO.replace("PO-1", "P" * 23), [("ELEMENT_TOO_LONG", "BEG", 3)]),
    (PO.replace("N1*ST*ACME*92*12", "N1*ST*ACME*92*12*X"), [("ELEMENT_TOO_SHORT", "N1", 5)]),
    # bad code, bad date, bad number, bad time
    (PO.replace("BEG*00", "BEG*9Z"), [("ELEMENT_CODE_INVALID", "BEG", 1)]),
    (PO.replace("20240101", "20241301"), [("ELEMENT_DATE_INVALID", "BEG", 5)]),
    (PO.replace("PO1*1*10*EA", "PO1*1*1O*EA"), [("ELEMENT_NOT_NUMERIC", "PO1", 2)]),
    # missing mandatory element, too many elements
    (PO.replace("BEG*00*SA*PO-1**20240101", "BEG*00*SA*PO-1"), [("ELEMENT_MISSING", "BEG", 5)]),
    (PO.replace("CTT*1", "CTT*1*******X"), [("ELEMENT_TOO_MANY", "CTT", 8)]),
    # syntax notes: N103 without N104 (paired)
    (PO.replace("N1*ST*ACME*92*12", "N1*ST*ACME*92"), [("ELEMENT_CONDITION_MISSING", "N1", 4)]),
])
def test_x12_findings(body, expected):
    assert codes(x12(body)) == expected


def test_time_and_component_checks():
    message = x12(PO.replace("BEG*00*SA*PO-1**20240101", "BEG*00*SA*PO-1**20240101~DTM*002*20240102*2561"))
    assert codes(message) == [("ELEMENT_TIME_INVALID", "DTM", 3)]
    message = x12(PO.replace("PID*F****WIDGET", "PID*F****WIDGET>X"))
    assert codes(message) == [("COMPONENT_TOO_MANY", "PID", 5)]


@pytest.mark.parametrize("body, expected", [
    (ORDERS.replace("DTM+137:20240101:102'", ""), [("SEGMENT_MISSING", "DTM", None)]),
    (ORDERS.replace("DTM+137:20240101:102'", "DTM+137:20240231:102'"), [("ELEMENT_DATE_INVALID", "DTM", 1)]),
    (ORDERS.replace("QTY+21:10'", "QTY+21:1O'"), [("ELEMENT_NOT_NUMERIC", "QTY", 1)]),
    (ORDERS.replace("BGM+220+PO-1+9", "BGM+220+" + "X" * 36 + "+9"), [("ELEMENT_TOO_LONG", "BGM", 2)]),
    (ORDERS.replace("+9'", "+999'", 1), [("ELEMENT_CODE_INVALID", "BGM", 3)]),
    (ORDERS.replace("NAD+BY+", "NAD++"), [("ELEMENT_MISSING", "NAD", 1)]),
    (ORDERS.replace("UNS+S'", "UNS+S'UNS+S'"), [("SEGMENT_TOO_MANY", "UNS", None)]),
    (ORDERS.replace("CNT+2:1'", "CNT+2:1'BGM+220+X'"), [("SEGMENT_OUT_OF_ORDER", "BGM", None)]),
    (ORDERS.replace("CNT+2:1'", "CNT+2:1:PCE:X'"), [("COMPONENT_TOO_MANY", "CNT", 1)]),
    (ORDERS.replace("QTY+21:10'", "QTY+21:10'XYZ+1'"), [("SEGMENT_NOT_IN_MESSAGE", "XYZ", None)]),
])
def test_edifact_findings(body, expected):
    assert codes(edifact(body)) == expected


def test_d01b_reads_its_own_segment_shapes():
    # D.01B's BGM carries C106 (document number, version, revision): a composite there, a simple element in D.96A
    assert validate(edifact(ORDERS.replace("BGM+220+PO-1+9", "BGM+220+PO-1:2+9"), version="01B")) == []
    assert codes(edifact(ORDERS.replace("BGM+220+PO-1+9", "BGM+220+PO-1:2+9"))) == [("COMPONENT_TOO_MANY", "BGM", 2)]


def test_findings_feed_the_acknowledgement_codes():
    message = x12(PO.replace("BEG*00", "BEG*9Z").replace("PO1*1*10*EA", "PO1*1*1O*EA"))
    message.issues.extend(validate(message))
    judged = judge_message(message)
    assert judged.status == "rejected"
    assert [(f.code, f.tag, f.position, f.element) for f in judged.findings] == [
        ("8", "BEG", 2, None), ("7", "BEG", 2, 1), ("8", "PO1", 4, None), ("6", "PO1", 4, 2)]
    missing = x12("BEG*00*SA*PO-1**20240101~CTT*1")
    missing.issues.extend(validate(missing))
    assert [(f.code, f.tag, f.position) for f in judge_message(missing).findings] == [("3", "PO1", 3)]


def test_tolerated_findings_are_acknowledged_with_errors():
    from dataclasses import replace

    message = x12(PO.replace("BEG*00", "BEG*9Z"))
    message.issues.extend(replace(i, tolerated=True) for i in validate(message))
    judged = judge_message(message)
    assert judged.status == "accepted_with_errors"
    assert [f.code for f in judged.findings] == ["8", "7"]


def test_every_content_code_has_both_families():
    for code in ("SEGMENT_MISSING", "SEGMENT_TOO_MANY", "LOOP_TOO_MANY", "SEGMENT_OUT_OF_ORDER",
                 "SEGMENT_NOT_IN_MESSAGE", "ELEMENT_TOO_SHORT", "ELEMENT_TOO_MANY", "COMPONENT_TOO_MANY",
                 "ELEMENT_REPEATS_TOO_MANY", "ELEMENT_CODE_INVALID", "ELEMENT_CONDITION_MISSING",
                 "ELEMENT_EXCLUSION_VIOLATED"):
        info = CODES[code]
        assert (info.ak3 or info.ak4) and info.contrl, code


def test_coverage_is_what_the_documentation_says():
    covered = definitions.available()
    for version in ("x12 004010", "x12 005010"):
        assert {"850", "855", "856", "810", "214", "997"} <= set(covered[version])
    assert "999" in covered["x12 005010"]
    for version in ("edifact D96A", "edifact D01B"):
        assert {"ORDERS", "ORDRSP", "DESADV", "INVOIC", "IFTSTA", "CONTRL"} <= set(covered[version])


def test_uncovered_messages_are_not_judged():
    message = x12("W05*N*1*2~LX*1", kind="940", gs="OW")
    assert validate(message) == []


def test_a_definitions_file_with_an_error_names_it(tmp_path, monkeypatch):
    (tmp_path / "x12").mkdir()
    (tmp_path / "x12" / "009999.yaml").write_text(
        'elements: {"1": "AN 1/2"}\nsegments: {ZZ: "1 M, 2 M"}\nmessages: {"1": "ST M 1"}\n')
    monkeypatch.setattr(definitions, "ROOT", tmp_path)
    definitions.directory.cache_clear()
    try:
        with pytest.raises(Exception, match="x12/009999: segments.ZZ: element '2' is not in elements"):
            definitions.directory("x12", "009999")
    finally:
        definitions.directory.cache_clear()


# -- the fast path (one compiled pattern per segment) agrees with the exact checks --------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from gateway.validation import validator as _validator  # noqa: E402


def _exact(message) -> list:
    """The findings with the fast paths off: every segment through the exact checks."""
    saved = _validator._segment_pattern, _validator.message_matcher, _validator.dfa_matcher
    _validator._segment_pattern = lambda definition, decimal: None
    _validator.message_matcher = _validator.dfa_matcher = lambda *args, **kwargs: None
    _validator._LAST_MATCHER[0] = (None,) * 7
    try:
        fresh = [d for d in (definitions.directory("x12", "004010"), definitions.directory("edifact", "D96A"))]
        caches = [(d.fast, d.memo) for d in fresh]
        for d in fresh:
            d.fast, d.memo = {}, {}
        return [(i.code, i.text, i.location) for i in validate(message)]
    finally:
        _validator._segment_pattern, _validator.message_matcher, _validator.dfa_matcher = saved
        _validator._LAST_MATCHER[0] = (None,) * 7
        for d, (fast, memo) in zip(fresh, caches):
            d.fast, d.memo = fast, memo


VALUES = st.sampled_from(["", "0", "12", "-3", "1.5", "1,5", ".5", "5.", "+2", "1E3", "A", "AB", "ABC", "20240230",
                          "20240229", "20241301", "2359", "2400", "235959", "23595", "X" * 36, "9" * 16, "00", "KN",
                          "102", "203", "202401011200", "2024010112", "EA", "ZZ"])


def _po_with(segment: int, element: int, value: str) -> str:
    """PO with element ``element`` of its segment ``segment`` set to ``value``."""
    segments = PO.split("~")
    parts = segments[segment].split("*")
    while len(parts) <= element:
        parts.append("")
    parts[element] = value
    segments[segment] = "*".join(parts).rstrip("*") or parts[0]
    return "~".join(segments)


@settings(max_examples=300, deadline=None)
@given(segment=st.integers(0, 4), element=st.integers(1, 6), value=VALUES)
def test_fast_path_and_exact_checks_agree_on_x12(segment, element, value):
    message = x12(_po_with(segment, element, value))
    assert [(i.code, i.text, i.location) for i in validate(message)] == _exact(message)


@settings(max_examples=300, deadline=None)
@given(segment=st.integers(0, 5), element=st.integers(1, 4), component=st.integers(0, 3), value=VALUES)
def test_fast_path_and_exact_checks_agree_on_edifact(segment, element, component, value):
    segments = ORDERS.split("'")
    parts = segments[segment].split("+")
    while len(parts) <= element:
        parts.append("")
    comps = parts[element].split(":")
    while len(comps) <= component:
        comps.append("")
    comps[component] = value
    parts[element] = ":".join(comps).rstrip(":")
    segments[segment] = "+".join(parts).rstrip("+") or parts[0]
    message = edifact("'".join(segments))
    assert [(i.code, i.text, i.location) for i in validate(message)] == _exact(message)


# -- the message fast path (one pattern per message over the segments' text) -------------------

def _findings(message) -> list:
    return [(i.code, i.text, i.location) for i in validate(message)]


def test_valid_messages_take_the_message_fast_path():
    from gateway.validation.validator import Walker, definition_for

    for message in (x12(PO), edifact(ORDERS), edifact(ORDERS.replace("QTY+21", "IMD+F++:::Mum??s 1?+2?:3'QTY+21"))):
        directory_, definition = definition_for(message)
        assert Walker(message, directory_, definition).whole_message_valid(), message.type


# elements tied by syntax notes: N1 (R0203, P0304), PO1 (C0302, C0504, P0607...), PID (C0403, R0405, ...)
NOTED = {"N1": 6, "PO1": 9, "PID": 9, "REF": 4, "DTM": 6, "BEG": 6}
X12_VALUES = st.sampled_from(["", "", "", "1", "ST", "92", "EA", "A1", "20240101", "1200", "9.5", "X" * 61, "VN"])


@settings(max_examples=400, deadline=None)
@given(tag=st.sampled_from(sorted(NOTED)), values=st.lists(X12_VALUES, min_size=0, max_size=9))
def test_message_fast_path_and_exact_checks_agree_on_x12_notes(tag, values):
    """Any presence pattern of a segment's elements: the fast paths find what the exact checks find."""
    segment = "*".join([tag, *values[:NOTED[tag]]]).rstrip("*")
    body = PO.replace("CTT*1", f"{segment}~CTT*1") if tag != "BEG" else PO.replace("BEG*00*SA*PO-1**20240101", segment)
    try:
        message = x12(body)
    except AssertionError:  # the reader itself refused it (a trailing separator, ...): not this test's case
        return
    assert _findings(message) == _exact(message)


EDIFACT_VALUES = st.sampled_from(["", "137", "2", "20240101", "20240229", "20230229", "20240431", "202401011230",
                                  "20240101123059", "240101", "102", "203", "101", "204", "718", "9", "A?+B", "??",
                                  "X?:Y", "1?x", "BY", "5412345000013", "X" * 36, "12.5", "1,5"])


@settings(max_examples=400, deadline=None)
@given(tag=st.sampled_from(["DTM", "NAD", "QTY", "IMD", "LIN", "BGM"]),
       elements=st.lists(st.lists(EDIFACT_VALUES, min_size=1, max_size=4), min_size=0, max_size=4))
def test_message_fast_path_and_exact_checks_agree_on_edifact(tag, elements):
    """Dates against their format qualifier, composites, released characters."""
    segment = "+".join([tag, *(":".join(c).rstrip(":") for c in elements)]).rstrip("+")
    body = ORDERS.replace("UNS+S'", f"{segment}'UNS+S'") if tag not in ("DTM", "BGM") else \
        ORDERS.replace("DTM+137:20240101:102'" if tag == "DTM" else "BGM+220+PO-1+9'", f"{segment}'")
    try:
        message = edifact(body)
    except AssertionError:
        return
    assert _findings(message) == _exact(message)


@settings(max_examples=200, deadline=None)
@given(changes=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 6), VALUES), min_size=2, max_size=5))
def test_remembered_segment_texts_never_let_an_invalid_message_pass(changes):
    """Messages one after another share segment texts; what one message's match remembered as valid
    must not hide what is wrong in the next: each finds what the exact checks find."""
    for segment, element, value in changes:
        message = x12(_po_with(segment, element, value))
        assert _findings(message) == _exact(message)


def _use_matcher(matcher):
    """Put ``matcher`` in place of the message matcher used last; the one it replaces."""
    cached = _validator._LAST_MATCHER[0]
    _validator._LAST_MATCHER[0] = (*cached[:3], matcher, *cached[4:])
    return cached[3]


@pytest.fixture
def re_only(monkeypatch):
    """The message pattern on re alone, with its remembered texts (what serves a definition that
    RE2's dialect cannot say): no RE2 matcher, caches emptied before and after."""
    monkeypatch.setattr(_validator, "dfa_matcher", lambda *args, **kwargs: None)
    _validator._FOUND.clear()  # (a directory another test loaded anew may be remembered there)
    _validator._LAST_FOUND[0] = (object(),) + (None,) * 5
    x12_dir = definitions.directory("x12", "004010")
    saved = x12_dir.fast
    x12_dir.fast = {}
    _validator._LAST_MATCHER[0] = (None,) * 7
    _validator._LAST_TEXT[0] = (object(),) + (None,) * 8
    _validator._LAST_TEXT_MATCHER[0] = (None,) * 5
    yield
    x12_dir.fast = saved
    _validator._LAST_MATCHER[0] = (None,) * 7
    _validator._LAST_TEXT[0] = (object(),) + (None,) * 8
    _validator._LAST_TEXT_MATCHER[0] = (None,) * 5


def test_the_remembered_segment_texts_are_bounded(monkeypatch, re_only):
    monkeypatch.setattr(_validator, "_TEXTS_LIMIT", 12)  # two generations of 6 (a message has 5)
    _validator.forget_texts()
    for n in range(40):
        assert _findings(x12(PO.replace("PO-1", f"PO-{n}").replace("W-1", f"W-{n}"))) == []
    young, old = _validator._LAST_MATCHER[0][4]
    assert 0 < len(young) <= 6 and 0 < len(old) <= 6
    # a remembered text is matched no more: a message of known texts is valid without the pattern
    message = x12(PO.replace("PO-1", "PO-39").replace("W-1", "W-39"))
    assert _findings(message) == []  # (again: each of its texts is remembered now)
    matcher = _use_matcher(lambda text: None)  # a pattern that refuses everything
    try:
        assert all(s.text in young or s.text in old for s in message.segments[1:-1])
        assert _validator._message_valid(message.segments, message.interchange.delimiters,
                                         *_validator.definition_for(message))
    finally:
        _use_matcher(matcher)


def test_remembered_texts_age_out_a_generation_at_a_time(monkeypatch, re_only):
    """A text seen lately stays known when the young generation fills (it is in the old one);
    one not seen for two generations is matched again; forget_texts forgets everything."""
    monkeypatch.setattr(_validator, "_TEXTS_LIMIT", 12)
    _validator.forget_texts()
    first = x12(PO.replace("PO-1", "PO-A").replace("W-1", "W-A"))
    assert _findings(first) == []
    generations = _validator._LAST_MATCHER[0][4]
    assert {s.text for s in first.segments[1:-1]} <= generations[0]
    beg = first.segments[1].text  # unique to the first message (the others share N1, PID, CTT)
    n = 0
    while beg in generations[0]:  # until the young generation is full and a new one starts
        n += 1
        assert n < 40, "the young generation never filled"
        assert _findings(x12(PO.replace("PO-1", f"PO-{n}").replace("W-1", f"W-{n}"))) == []
    assert beg in generations[1]  # still known, in the old generation: not matched again
    matcher = _use_matcher(lambda text: None)  # a pattern that refuses everything
    try:
        assert _validator._message_valid(first.segments, first.interchange.delimiters,
                                         *_validator.definition_for(first))
    finally:
        _use_matcher(matcher)
    for n in range(n + 1, 40):  # a generation later it is gone
        assert _findings(x12(PO.replace("PO-1", f"PO-{n}").replace("W-1", f"W-{n}"))) == []
        if beg not in generations[0] and beg not in generations[1]:
            break
    else:
        raise AssertionError("the first message's texts were never forgotten")
    assert _findings(first) == []
    _validator.forget_texts()
    assert generations[0] == set() and generations[1] == set()


def test_a_check_that_does_not_remember_leaves_the_remembered_texts_as_they_were(re_only):
    """validate(remember=False) (egress's check of rendered documents) matches a message's texts
    without keeping them; the next check matches them again, and a normal one keeps them."""
    assert validate(x12(PO)) == []  # the shape is known: the message pattern decides
    _validator.forget_texts()
    message = x12(PO.replace("PO-1", "PO-R").replace("W-1", "W-R"))
    assert validate(message, remember=False) == []
    young, old = _validator._LAST_MATCHER[0][4]
    assert not young and not old
    matcher = _use_matcher(lambda text: None)  # a pattern that refuses everything
    try:
        assert not _validator._message_valid(message.segments, message.interchange.delimiters,
                                             *_validator.definition_for(message), False)
    finally:
        _use_matcher(matcher)
    assert validate(message) == []
    assert {s.text for s in message.segments[1:-1]} <= young
