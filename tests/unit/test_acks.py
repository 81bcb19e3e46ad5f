"""Functional acknowledgements (gateway.acks): built, checked by independent readers, read back.

Each case below is a document (a sample, or a sample broken on purpose) and
the partner settings it is answered with. Its acknowledgements are pinned in
``tests/golden/acks/<case>.json``: the status API's JSON of each, the
document line by line (joined, exactly the bytes sent) and the control
numbers asked for. Rewrite them with ``UPDATE_GOLDEN=1``, then read the diff
against the documents before committing it.

Besides the goldens, every acknowledgement is read by the project's reader
(no issue at all), read back by ``read_acknowledgement`` (same statuses and
findings), and read by an independent reader: pyx12 validates the X12 ones
against its 997/999 maps and pydifact parses the CONTRLs.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.acks import (
    ACCEPTED, PARTIAL, RECEIVED, REJECTED, WITH_ERRORS, AckReport, AckSettings, AckTracker, Acknowledgement,
    build_acknowledgements, read_acknowledgement, read_acknowledgements, reject_unreadable, salvage_envelope,
)
from gateway.acks.judge import judge_message
from gateway.acks.report import roll_up
from gateway.codes import CODES
from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import Issue, Message, Segment
from gateway.state.memory import MemoryStore
from gateway.syntax import parse, read, x12

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
GOLDEN = ROOT / "tests" / "golden" / "acks"
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
# Each kind of control number starts in its own range, so a golden shows which is which.
FIRST = {"ISA13": 1001, "GS06": 2001, "ST02": 3001, "UNB0020": 4001, "UNH0062": 5001}


class Numbers:
    """A control number source that records what it was asked for."""

    def __init__(self) -> None:
        self.counters = {kind: itertools.count(start) for kind, start in FIRST.items()}
        self.asked: list[tuple[str, int]] = []

    def __call__(self, kind: str) -> int:
        number = next(self.counters[kind])
        self.asked.append((kind, number))
        return number


Extra = Callable[[Message], list[Issue]]


@dataclass
class Case:
    name: str
    data: bytes
    settings: AckSettings = field(default_factory=AckSettings)
    extra: Extra | None = None  # issues a later stage finds (a missing route, a validator's element error)
    duplicate: bool = False  # the intake found the interchange was received before
    encoding: str | None = None  # the partner's character-set override

    def __str__(self) -> str:
        return self.name


def sample(path: str) -> bytes:
    return (SAMPLES / path).read_bytes()


def replace(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert data.count(old) >= count, old
    return data.replace(old, new, count)


def route_missing(refs: set[str]) -> Extra:
    def extra(message: Message) -> list[Issue]:
        if message.ref not in refs:
            return []
        return [Issue.at("ROUTE_MISSING", f"no route for {message.type}", message.header, message_segment=1)]
    return extra


def element_error(code: str, tag: str, element: int, component: int | None = None) -> Extra:
    """An element issue on the first ``tag`` segment, as a validator would file it."""
    def extra(message: Message) -> list[Issue]:
        for position, seg in enumerate(message.segments, start=1):
            if seg.tag == tag:
                return [Issue.at(code, f"{tag} element {element}", seg, element=element, component=component,
                                 message_segment=position)]
        return []
    return extra


PO = sample("x12/850_4010.x12")
STATUS = sample("x12/214_4010.x12")
ORDERS = sample("edifact/orders_d96a.edi")
IFTSTA = sample("edifact/iftsta_d96a.edi")
SECOND_SET = replace(PO, b"GE*1*905", PO[PO.index(b"ST*850"):PO.index(b"GE*")].replace(b"0001", b"0002") + b"GE*2*905")
ORDERS_S4 = replace(ORDERS, b"UNOC:3", b"UNOC:4")
ALWAYS = AckSettings(contrl="always")

CASES = [
    # every sample, answered as a partner with default settings would be (CONTRL: always, none
    # asks; TA1: always for the 997 and the 999, which get no 997 of their own)
    *(Case(p.stem, p.read_bytes(), AckSettings(ta1="always") if p.stem in ("997_4010", "999_5010") else AckSettings())
      for p in sorted((SAMPLES / "x12").glob("*.x12"))),
    *(Case(p.stem, p.read_bytes(), ALWAYS) for p in sorted((SAMPLES / "edifact").glob("*.edi"))),
    # X12
    Case("850_ta1_requested", replace(PO, b"*000000905*0*P*", b"*000000905*1*P*")),
    Case("850_as_999", PO, AckSettings(functional="999")),
    Case("850_bad_se_count", replace(PO, b"SE*13*0001", b"SE*12*0001")),
    Case("850_bad_ge_count", replace(PO, b"GE*1*905", b"GE*2*905")),
    Case("850_bad_iea_count", replace(PO, b"IEA*1*", b"IEA*2*")),
    Case("850_no_iea", replace(PO, b"IEA*1*000000905~\n", b"")),
    Case("850_bad_segment_tag", replace(PO, b"REF*DP*042", b"R#F*DP*042")),
    Case("850_bad_bin_length", replace(PO, b"REF*DP*042", b"BIN*12*ABC")),
    Case("850_element_error", replace(PO, b"PO1*1*24*", b"PO1*1*2X*"),
         extra=element_error("ELEMENT_NOT_NUMERIC", "PO1", 2)),
    Case("850_element_error_as_999", replace(PO, b"PO1*1*24*", b"PO1*1*2X*"), AckSettings(functional="999"),
         extra=element_error("ELEMENT_NOT_NUMERIC", "PO1", 2)),
    Case("850_duplicate_set_ref", replace(SECOND_SET, b"0002", b"0001", 2)),
    Case("214_unknown_set", replace(STATUS, b"ST*214*0002", b"ST*215*0002"), extra=route_missing({"0002"})),
    Case("214_errors_only_as_999", replace(STATUS, b"SE*14*0001", b"SE*4*0001"),
         AckSettings(functional="999", detail="errors")),
    Case("850_no_997_ta1_always", PO, AckSettings(functional="none", ta1="always")),
    Case("850_unreadable_isa", replace(PO, b"*>~", b"*>X")),
    Case("850_duplicate", PO, duplicate=True),
    # EDIFACT
    Case("orders_requested", replace(ORDERS, b"++ORDERS'", b"++ORDERS++1'")),
    Case("orders_bad_unt_count", replace(ORDERS, b"UNT+22+1", b"UNT+21+1"), ALWAYS),
    Case("orders_bad_unz_count", replace(ORDERS, b"UNZ+1+", b"UNZ+3+"), ALWAYS),
    Case("orders_bad_segment_tag", replace(ORDERS, b"DTM+2:", b"dtm+2:"), ALWAYS),
    Case("orders_unknown_message", ORDERS, ALWAYS, extra=route_missing({"1"})),
    Case("orders_syntax4_element_error", ORDERS_S4, ALWAYS, extra=element_error("ELEMENT_TOO_LONG", "BGM", 2)),
    Case("orders_syntax4_receipt_only", replace(ORDERS_S4, b"++ORDERS'", b"++ORDERS++2'")),
    Case("orders_duplicate", replace(ORDERS, b"++ORDERS'", b"++ORDERS++1'"), duplicate=True),
    # a byte the partner's configured character set cannot decode stops the reader after the UNB
    Case("orders_unreadable_in_its_charset", replace(replace(ORDERS, b"++ORDERS'", b"++ORDERS++1'"),
                                                     b"Keyboard, black", b"Keyboard, \xe9b\xe8ne"),
         encoding="ascii"),
    Case("iftsta_groups_bad_une_count",
         replace(replace(IFTSTA, b"UNH+1+", b"UNG+IFTSTA+4049111000017:14+5412345000013:14+261124:1030+G7+UN+D:96A'"
                         b"UNH+1+"), b"UNZ+2+", b"UNE+3+G7'UNZ+1+"), ALWAYS),
    Case("iftsta_errors_only", replace(IFTSTA, b"UNT+13+1", b"UNT+12+1"),
         AckSettings(contrl="always", detail="errors")),
]
X12_CASES = [c for c in CASES if c.data.lstrip().startswith(b"ISA")]
EDIFACT_CASES = [c for c in CASES if c not in X12_CASES]
# A CONTRL is never answered with a CONTRL (and EDIFACT has no TA1): these cases get nothing.
UNANSWERED = {"contrl_d3"}


def acknowledge(case: Case, numbers: Numbers | None = None) -> list[Acknowledgement]:
    """The acknowledgements of ``case`` the way the pipeline makes them: streaming, with a tracker."""
    numbers = numbers or Numbers()
    tracker = AckTracker()
    acks: list[Acknowledgement] = []
    try:
        for item in read(case.data, encoding=case.encoding):
            if isinstance(item, Message) and case.duplicate:
                tracker.duplicate(item, "r-1")
            elif isinstance(item, Message):
                tracker.note(item, *(case.extra(item) if case.extra else ()))
            else:
                acks.extend(tracker.acknowledge(item, settings=case.settings, numbers=numbers, now=NOW))
    except EdiSyntaxError as exc:
        envelope = salvage_envelope(case.data)
        assert envelope is not None
        acks.extend(reject_unreadable(envelope, exc, settings=case.settings, numbers=numbers, now=NOW))
    return acks


def lines(ack: Acknowledgement) -> list[str]:
    """The document cut after each segment terminator (joined again, exactly the bytes)."""
    text = ack.data.decode("latin-1")
    term = text[105] if ack.kind in ("997", "999", "TA1") else text[8] if text.startswith("UNA") else "'"
    return re.split(f"(?<={re.escape(term)})", text)[:-1] if text.endswith(term) else [text]


@pytest.fixture(scope="module")
def answered() -> dict[str, tuple[list[Acknowledgement], Numbers]]:
    out = {}
    for case in CASES:
        numbers = Numbers()
        out[case.name] = (acknowledge(case, numbers), numbers)
    return out


# -- goldens ----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_acknowledgements_match_their_golden(case, answered):
    acks, numbers = answered[case.name]
    got = {
        "control_numbers": [f"{kind} {number}" for kind, number in numbers.asked],
        "acknowledgements": [{**ack.to_json(), "document": lines(ack)} for ack in acks],
    }
    for ack, shown in zip(acks, got["acknowledgements"]):
        assert "".join(shown["document"]).encode("latin-1") == ack.data
    golden = GOLDEN / f"{case.name}.json"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    assert golden.exists(), "write the goldens with UPDATE_GOLDEN=1 and review them"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_every_golden_belongs_to_a_case():
    names = {c.name for c in CASES}
    assert len(names) == len(CASES)
    assert sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in names) == []


def test_the_cases_say_what_they_are_about(answered):
    """A few facts pinned apart from the generated goldens."""

    def kinds(name):
        return [(a.kind, a.status) for a in answered[name][0]]

    assert kinds("850_4010") == [("997", ACCEPTED)]
    assert kinds("997_4010") == [("TA1", ACCEPTED)]  # acknowledgements are not acknowledged
    assert kinds("999_5010") == [("TA1", ACCEPTED)]
    assert kinds("contrl_d3") == []
    assert kinds("850_ta1_requested") == [("TA1", ACCEPTED), ("997", ACCEPTED)]
    assert kinds("850_bad_se_count") == [("997", REJECTED)]
    assert kinds("850_bad_ge_count") == [("997", WITH_ERRORS)]
    assert kinds("850_bad_iea_count") == [("TA1", WITH_ERRORS), ("997", ACCEPTED)]
    assert kinds("850_unreadable_isa") == [("TA1", REJECTED)]
    assert kinds("214_unknown_set") == [("997", PARTIAL)]
    assert kinds("850_duplicate_set_ref") == [("997", PARTIAL)]
    assert kinds("orders_d96a") == [("CONTRL", ACCEPTED)]
    assert kinds("orders_d96a_windows1252") == [("CONTRL", WITH_ERRORS)]
    assert kinds("orders_bad_unt_count") == [("CONTRL", REJECTED)]
    assert kinds("orders_syntax4_receipt_only") == [("CONTRL", RECEIVED)]
    assert kinds("iftsta_errors_only") == [("CONTRL", PARTIAL)]

    def text(name, index=0):
        return answered[name][0][index].data.decode("latin-1")

    assert "TA1*000000905*261120*0930*E*021~" in text("850_bad_iea_count")
    assert "TA1*000000905*261120*0930*R*004~" in text("850_unreadable_isa")
    assert "AK5*R*4~AK9*R*1*1*0~" in text("850_bad_se_count")
    assert "AK9*E*2*1*1*5~" in text("850_bad_ge_count")
    assert "AK3*R#F*3**1~AK5*R*5~" in text("850_bad_segment_tag")
    assert "AK3*BIN*3**8~AK4*1**6*12~" in text("850_bad_bin_length")
    assert "AK3*PO1*8**8~AK4*2**6*2X~" in text("850_element_error")
    assert "IK3*PO1*8**8~IK4*2**6*2X~IK5*R*5~" in text("850_element_error_as_999")
    assert "AK2*850*0001~AK5*R*23~AK9*P*2*2*1~" in text("850_duplicate_set_ref")
    assert "AK2*215*0002~AK5*R*1~AK9*P*2*2*1~" in text("214_unknown_set")
    assert "ST*999*3001*005010X231A1~AK1*QM*217301*004010~AK2*214*0001~IK5*R*4~AK9*P*2*2*1~" \
        in text("214_errors_only_as_999")
    assert "UCI+ORD000123+5412345000013:14+4012345000009:14+4'UCM+1+ORDERS:D:96A:UN:EAN008+4+29+UNT+2'" \
        in text("orders_bad_unt_count")
    assert "UCI+ORD000123+5412345000013:14+4012345000009:14+7+29+UNZ+2'" in text("orders_bad_unz_count")
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+4'UCS+4+12'" in text("orders_bad_segment_tag")
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+4+14+UNH'" in text("orders_unknown_message")
    assert "UNH+5001+CONTRL:4:1:UN'" in text("orders_syntax4_element_error")
    assert "UCS+2'UCD+39+3'" in text("orders_syntax4_element_error")  # S011 0098 counts the tag as 1
    assert "UCI+ORD000123+5412345000013:14+4012345000009:14+8'UNT" in text("orders_syntax4_receipt_only")
    assert "UCF+G7+4049111000017:14+5412345000013:14+7+29+UNE+2'" in text("iftsta_groups_bad_une_count")
    assert "UCS+5+21'" in text("orders_d96a_windows1252")  # the C1 bytes, a warning
    assert "UCM+2" not in text("iftsta_errors_only") and "UCM+1+IFTSTA:D:96A:UN+4+29+UNT+2'" in text(
        "iftsta_errors_only")
    assert kinds("850_no_997_ta1_always") == [("TA1", ACCEPTED)]
    assert kinds("850_duplicate") == [("TA1", REJECTED)]
    assert "TA1*000000905*261120*0930*R*025~" in text("850_duplicate")
    assert kinds("orders_unreadable_in_its_charset") == [("CONTRL", REJECTED)]
    assert "UCI+ORD000123+5412345000013:14+4012345000009:14+4+21'" in text("orders_unreadable_in_its_charset")
    assert kinds("orders_duplicate") == [("CONTRL", REJECTED)]
    assert "UCI+ORD000123+5412345000013:14+4012345000009:14+4+26+UNB+6'UNT+3+5001'" in text("orders_duplicate")
    assert "UNB+UNOC:3+4012345000009:14+5412345000013:14+261125:0800+4001'" in text("orders_requested")


def test_every_report_code_comes_from_the_catalogue(answered):
    """The codes in the acknowledgements are catalogue values of the matching field."""
    by_field = {name: {getattr(info, name) for info in CODES.values()} - {None}
                for name in ("ta1", "ak9", "ak5", "ak3", "ak4", "contrl")}
    for acks, _ in answered.values():
        for ack in acks:
            family = ("contrl",) * 3 if ack.kind == "CONTRL" else ("ta1", "ak9", "ak5") if ack.kind == "TA1" \
                else ("ak5", "ak9", "ak5")
            for verdict in ack.verdicts:
                field_name = {"interchange": family[0], "group": family[1], "message": family[2]}[verdict.level]
                assert set(verdict.codes) <= by_field[field_name], (ack.kind, verdict)
                for f in verdict.findings:
                    wanted = "contrl" if ack.kind == "CONTRL" else "ak3" if f.element is None else "ak4"
                    assert f.code in by_field[wanted], (ack.kind, f)


# -- read back --------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_acknowledgement_reads_back_without_an_issue(case, answered):
    acks, _ = answered[case.name]
    assert acks or case.name in UNANSWERED
    for ack in acks:
        [back] = parse(ack.data)
        assert [str(i) for i in back.all_issues()] == []
        assert back.control_ref == ack.control_ref
        assert not back.ack_requested  # an acknowledgement is never acknowledged


@pytest.mark.parametrize("case", CASES, ids=str)
def test_reading_an_acknowledgement_gives_back_what_was_built(case, answered):
    for ack in answered[case.name][0]:
        [back] = parse(ack.data)
        report = read_acknowledgement(back)
        assert isinstance(report, AckReport) and not isinstance(report, Acknowledgement)
        assert (report.kind, report.control_ref, report.status) == (ack.kind, ack.control_ref, ack.status)
        assert report.verdicts == ack.verdicts
        # a 997/999 answers groups; a TA1 or CONTRL names the interchange
        assert report.interchange_ref == (None if ack.kind in ("997", "999") else ack.interchange_ref)
        if len(back.messages) == 1:
            one = read_acknowledgement(back.messages[0])
            assert (one.status, one.verdicts) == (ack.status, ack.verdicts)


def test_the_tracker_and_a_kept_interchange_give_the_same_bytes():
    for case in CASES:
        if case.extra is not None or case.duplicate or case.encoding or case.name == "850_unreadable_isa":
            continue  # (the tracker alone knows of later stages' issues, duplicates and unreadable input)
        [ic] = parse(case.data)
        kept = build_acknowledgements(ic, settings=case.settings, numbers=Numbers(), now=NOW)
        assert [a.data for a in kept] == [a.data for a in acknowledge(case)], case.name


# -- independent readers -----------------------------------------------------


@pytest.fixture(scope="module")
def pyx12_maps(tmp_path_factory) -> Path:
    """pyx12's maps, with the HIPAA-only code lists of AK101 and AK201 lifted.

    pyx12's 997/999 maps are the health-care implementation guides: they allow
    only health-care functional groups and sets (HC, 837, ...) there. Every
    other rule stays as pyx12 has it.
    """
    import pyx12  # a test dependency: its absence must fail, not skip

    maps = tmp_path_factory.mktemp("pyx12") / "map"
    shutil.copytree(Path(pyx12.__file__).parent / "map", maps)
    for name in ("997.4010.xml", "999.5010X231.A1.xml"):
        path = maps / name
        text = path.read_text()
        for element in ("AK101", "AK201"):
            text, n = re.subn(rf'(<element xid="{element}">.*?)<valid_codes>.*?</valid_codes>', r"\1", text,
                              count=1, flags=re.S)
            assert n == 1, (name, element)
        path.write_text(text)
    return maps


def _errors(node) -> list:
    found = []
    if isinstance(node, dict):
        found.extend(node.get("errors", []))
        for value in node.values():
            if isinstance(value, (list, dict)):
                found.extend(_errors(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_errors(value))
    return found


def pyx12_read(data: bytes) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """pyx12's segments of ``data``, and the envelope errors its reader finds (level, code)."""
    from pyx12 import x12file

    reader = x12file.X12Reader(io.StringIO(data.decode("ascii")))
    segments = [[seg.get_seg_id(), *(e.format() for e in seg.elements)] for seg in reader]
    return segments, [(level, code) for level, code, *_ in reader.pop_errors()]


@pytest.mark.parametrize("case", X12_CASES, ids=str)
def test_pyx12_validates_the_x12_acknowledgements(case, answered, pyx12_maps):
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    received, their_errors = ([], []) if case.name == "850_unreadable_isa" else pyx12_read(case.data)
    acks = answered[case.name][0]
    # pyx12 finds the same envelope errors in the received document that the acknowledgements report
    ours = {"isa": {c for a in acks if a.kind == "TA1" for c in a.verdicts[0].codes},
            "gs": {c for a in acks for v in a.verdicts if v.level == "group" for c in v.codes},
            "st": {c for a in acks for v in a.verdicts if v.level == "message" for c in v.codes},
            "seg": {f.code for a in acks for v in a.verdicts for f in v.findings if f.element is None}}
    for level, code in their_errors:
        assert code in ours[level], (level, code)
    for ack in acks:
        report = io.StringIO()
        valid = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(ack.data.decode("ascii")),
                                                  None, None, fd_json=report, map_path=str(pyx12_maps))
        assert valid and _errors(json.loads(report.getvalue())) == [], ack.data
        theirs, errors = pyx12_read(ack.data)
        assert errors == []  # its own envelope checks: counts and references
        # the envelope goes back where the interchange came from
        isa = theirs[0]
        if received:
            assert (isa[5:9]) == (received[0][7:9] + received[0][5:7])
        assert isa[13] == ack.control_ref and isa[14] == "0"
        if ack.kind == "TA1":
            [ta1] = [s for s in theirs if s[0] == "TA1"]
            assert ta1[1] == case.data[90:99].decode()  # ISA13 as received (a fixed-width ISA)
            assert {"A": ACCEPTED, "E": WITH_ERRORS, "R": REJECTED}[ta1[4]] == ack.status
            continue
        # AK1 names each received group, AK2 its sets, AK5/IK5 and AK9 their answers
        groups = {s[6]: s[1] for s in received if s[0] == "GS"}
        sets = {s[2]: s[1] for s in received if s[0] == "ST"}
        set_verdicts = iter([v for v in ack.verdicts if v.level == "message"])
        for seg in theirs:
            if seg[0] == "AK1":
                group_ref = seg[2]
                assert groups[group_ref] == seg[1]
            elif seg[0] == "AK2":
                assert sets[seg[2]] == seg[1]
                verdict = next(set_verdicts)
                assert verdict.ref == seg[2]
            elif seg[0] in ("AK5", "IK5"):
                assert {"A": ACCEPTED, "E": WITH_ERRORS, "R": REJECTED}[seg[1]] == verdict.status
            elif seg[0] == "AK9":
                verdict = next(v for v in ack.verdicts if v.level == "group" and v.ref == group_ref)
                assert {"A": ACCEPTED, "E": WITH_ERRORS, "P": PARTIAL, "R": REJECTED}[seg[1]] == verdict.status
                assert int(seg[3]) == sum(1 for s in received if s[0] == "ST")  # sets received


@pytest.mark.parametrize("case", [c for c in EDIFACT_CASES if c.name not in UNANSWERED], ids=str)
def test_pydifact_reads_the_contrls(case, answered):
    from pydifact.segmentcollection import Interchange as PydifactInterchange

    [ack] = answered[case.name][0]
    with warnings.catch_warnings():  # pydifact has no service directory for syntax 3 CONTRL: it warns
        warnings.simplefilter("ignore")
        try:
            received = PydifactInterchange.from_str(case.data.decode("latin-1"))
        except ValueError:  # pydifact refuses the received document: the CONTRL must reject part of it
            received = None
            assert ack.status in (REJECTED, PARTIAL)
        theirs = PydifactInterchange.from_str(ack.data.decode("latin-1"))
    assert theirs.control_reference == ack.control_ref
    segments = list(theirs.segments)
    tags = [s.tag for s in segments]
    assert tags[0] == "UNH" and tags[-1] == "UNT" and tags.count("UNH") == 1
    assert int(segments[-1].elements[0]) == len(segments)  # UNT counts UNH to UNT
    [uci] = [s for s in segments if s.tag == "UCI"]
    actions = {ACCEPTED: "7", WITH_ERRORS: "7", PARTIAL: "7", REJECTED: "4", RECEIVED: "8"}
    assert uci.elements[3] == actions[ack.status]
    ucms = [s for s in segments if s.tag == "UCM"]
    assert [s.elements[0] for s in ucms] == list(ack.message_refs)
    for ucm, verdict in zip(ucms, [v for v in ack.verdicts if v.level == "message"]):
        assert ucm.elements[2] == actions[verdict.status]
    if received is not None:
        assert (theirs.sender, theirs.recipient) == (received.recipient, received.sender)
        assert uci.elements[0] == received.control_reference
        # (pydifact's get_messages stops at a UNE: its segments are enough)
        assert set(ack.message_refs) <= {s.elements[0] for s in received.segments if s.tag == "UNH"}


# -- control numbers ---------------------------------------------------------


def test_control_numbers_come_from_the_callable_in_order(answered):
    acks, numbers = answered["850_ta1_requested"]
    assert numbers.asked == [("ISA13", 1001), ("ISA13", 1002), ("GS06", 2001), ("ST02", 3001)]
    assert [a.control_ref for a in acks] == ["000001001", "000001002"]
    assert b"GS*FA*WIDGETSUPPLY*ACMERETAIL*20261125*0800*2001*X*004010~ST*997*3001~" in acks[1].data
    acks, numbers = answered["orders_d96a"]
    assert numbers.asked == [("UNB0020", 4001), ("UNH0062", 5001)]
    assert acks[0].control_ref == "4001"


def test_control_numbers_increase_from_the_state_store():
    store = MemoryStore()
    numbers = lambda kind: store.next_control_number("acme-retail", kind)  # noqa: E731
    [ic] = parse(replace(PO, b"*000000905*0*P*", b"*000000905*1*P*"))
    first = build_acknowledgements(ic, numbers=numbers, now=NOW)
    second = build_acknowledgements(ic, numbers=numbers, now=NOW)
    refs = [int(a.control_ref) for a in first + second]
    assert refs == sorted(refs) and len(set(refs)) == 4
    gs06 = [parse(a.data)[0].groups[0].control_ref for a in (first[1], second[1])]
    assert gs06 == ["1", "2"]


# -- settings ----------------------------------------------------------------


def test_settings_defaults_and_shape():
    s = AckSettings()
    assert (s.functional, s.ta1, s.contrl, s.detail) == ("997", "on-request", "on-request", "all")
    with pytest.raises(ValidationError):
        AckSettings(functionl="999")  # a typo is an error, not a silent default
    with pytest.raises(ValidationError):
        AckSettings(ta1="sometimes")
    with pytest.raises(ValidationError):
        s.ta1 = "never"  # frozen
    assert AckSettings.model_validate({"functional": "999", "detail": "errors"}).functional == "999"
    assert AckSettings.model_validate({"functional": 999}).functional == "999"  # unquoted in YAML
    with pytest.raises(ValidationError):
        AckSettings(functional=998)


def test_what_each_setting_leaves_out():
    [po] = parse(PO)
    [requested] = parse(replace(PO, b"*000000905*0*P*", b"*000000905*1*P*"))
    [orders] = parse(ORDERS)
    [asking] = parse(replace(ORDERS, b"++ORDERS'", b"++ORDERS++1'"))

    def kinds(ic, **kw):
        return [a.kind for a in build_acknowledgements(ic, settings=AckSettings(**kw), numbers=Numbers(), now=NOW)]

    assert kinds(po) == ["997"]
    assert kinds(requested) == ["TA1", "997"]
    assert kinds(requested, ta1="never") == ["997"]
    assert kinds(po, ta1="always", functional="none") == ["TA1"]
    assert kinds(po, functional="999") == ["999"]
    assert kinds(orders) == []  # no CONTRL unless asked
    assert kinds(asking) == ["CONTRL"]
    assert kinds(asking, contrl="never") == []
    assert kinds(orders, contrl="always") == ["CONTRL"]
    [fa] = parse(sample("x12/997_4010.x12"))
    assert kinds(fa) == [] and kinds(fa, functional="999") == []  # a 997 gets no 997
    [contrl] = parse(build_acknowledgements(asking, numbers=Numbers(), now=NOW)[0].data)
    assert contrl.messages[0].type == "CONTRL"
    assert kinds(contrl, contrl="always") == []  # nor a CONTRL a CONTRL
    [xml] = parse(sample("xml/ubl21_order.xml"))
    assert kinds(xml, contrl="always", ta1="always") == []


def test_unreadable_isa_gets_no_ta1_when_never_sent():
    data = replace(PO, b"*>~", b"*>X")
    with pytest.raises(EdiSyntaxError) as caught:
        parse(data)
    envelope = salvage_envelope(data)
    assert (envelope.sender, envelope.recipient, envelope.control_ref) == ("ACMERETAIL", "WIDGETSUPPLY", "000000905")
    assert reject_unreadable(envelope, caught.value, settings=AckSettings(ta1="never"), numbers=Numbers()) == []
    assert salvage_envelope(b"UNB+UNOC:3+A+B+261120:0930+1'").control_ref == "1"
    assert salvage_envelope(b"UNA:+.? 'UNB+UNOC:3+A+B+261120:0930+1'") is not None
    assert salvage_envelope(b"UNA:+.? 'UNB+UNOC:3+A?'+B+261120:0930+1") is None  # no terminator: not read
    assert salvage_envelope(b"UNA::::::UNB+UNOC:3+A+B+261120:0930+1'") is None
    assert salvage_envelope(b"UNB+UNOC:3++B+261120:0930+1'") is None  # no sender: nobody to answer
    assert salvage_envelope(b"ISA*00*short") is None


def test_a_duplicate_is_rejected_only_where_the_settings_send_that_acknowledgement():
    def duplicate(data: bytes, settings: AckSettings) -> list[Acknowledgement]:
        tracker, out = AckTracker(), []
        for item in read(data):
            if isinstance(item, Message):
                tracker.duplicate(item)
            else:
                out.extend(tracker.acknowledge(item, settings=settings, numbers=Numbers(), now=NOW))
        return out

    [ta1] = duplicate(PO, AckSettings(functional="999"))  # no 997 nor 999: the groups were answered before
    assert (ta1.kind, ta1.status, ta1.verdicts[0].codes) == ("TA1", "rejected", ("025",))
    assert duplicate(PO, AckSettings(ta1="never")) == []
    assert duplicate(ORDERS, AckSettings()) == []  # UNB 0031 does not ask, and the partner is not set to always
    [contrl] = duplicate(ORDERS, ALWAYS)
    assert (contrl.kind, contrl.status, contrl.verdicts[0].codes) == ("CONTRL", "rejected", ("26",))
    assert duplicate(ORDERS, AckSettings(contrl="never")) == []


def test_the_acknowledgement_keeps_the_received_service_characters():
    odd = PO.replace(b"*", b"|").replace(b"~", b"!")
    [ic] = parse(odd)
    assert ic.ok and ic.delimiters.element == "|"
    [ack] = build_acknowledgements(ic, numbers=Numbers(), now=NOW)
    assert ack.data.startswith(b"ISA|00|") and b"!GS|FA|WIDGETSUPPLY|ACMERETAIL|" in ack.data
    assert b"!AK2|850|0001!AK5|A!" in ack.data
    contrl_asked = (b"UNA|+.? ~UNB+UNOC|3+A|14+B|14+261120|0930+R1++APP++1~UNH+1+ORDERS|D|96A|UN~BGM+220+X|Y~"
                    b"UNT+3+1~UNZ+1+R1~")
    [ic] = parse(contrl_asked)
    [ack] = build_acknowledgements(ic, numbers=Numbers(), now=NOW)
    assert ack.data.startswith(b"UNA|+.? ~UNB+UNOC|3+B|14+A|14+") and b"~UCM+1+ORDERS|D|96A|UN+7~" in ack.data


def test_a_bad_value_holding_a_service_character_of_the_ack_is_not_copied():
    """A 999 goes out as 00501, whose ISA11 is a repetition separator: '^' cannot be copied then."""
    case = Case("caret", replace(PO, b"PO1*1*24*", b"PO1*1*2^4*"), AckSettings(functional="999"),
                extra=element_error("ELEMENT_NOT_NUMERIC", "PO1", 2))
    [ack] = acknowledge(case)
    assert b"*^*00501*" in ack.data and b"IK3*PO1*8**8~IK4*2**6~IK5*R*5~" in ack.data
    [back] = parse(ack.data)
    assert back.all_issues() == [] and read_acknowledgement(back).verdicts == ack.verdicts


# -- judging -----------------------------------------------------------------


def test_issues_without_a_code_of_the_family_change_nothing():
    """A mapping failure is no syntax error: the 997 still accepts the set."""
    [ic] = parse(PO)
    message = ic.messages[0]
    mapping = Issue.at("MAPPING_REQUIRED_MISSING", "no order number", message.header, message_segment=1)
    assert judge_message(message, [mapping]).status == ACCEPTED
    route = Issue.at("ROUTE_MISSING", "no route", message.header, message_segment=1)
    judged = judge_message(message, [route])
    assert (judged.status, judged.codes) == (REJECTED, (CODES["ROUTE_MISSING"].ak5,))


def test_warnings_are_reported_but_accept():
    [ic] = parse(replace(PO, b"REF*DP*042~", b"REF*DP*042**~"))
    assert [i.code for i in ic.all_issues()] == ["TRAILING_SEPARATOR"]
    [ack] = build_acknowledgements(ic, numbers=Numbers(), now=NOW)
    assert ack.status == WITH_ERRORS
    assert b"AK2*850*0001~AK3*REF*3**8~AK5*E*5~AK9*E*1*1*1~" in ack.data


@pytest.mark.parametrize(("children", "failed", "noted", "status"), [
    ([], False, False, ACCEPTED),
    ([], True, True, REJECTED),
    ([], False, True, WITH_ERRORS),
    ([ACCEPTED, ACCEPTED], False, False, ACCEPTED),
    ([ACCEPTED, WITH_ERRORS], False, False, WITH_ERRORS),
    ([ACCEPTED], True, True, WITH_ERRORS),  # the envelope is wrong, the set was still taken
    ([ACCEPTED, REJECTED], False, False, PARTIAL),
    ([PARTIAL], False, False, PARTIAL),
    ([REJECTED, REJECTED], False, False, REJECTED),
    ([REJECTED], True, True, REJECTED),
])
def test_roll_up(children, failed, noted, status):
    assert roll_up(children, failed=failed, noted=noted) == status


# -- TA1 in the X12 reader and writer ----------------------------------------


def test_the_x12_reader_keeps_interchange_level_segments_and_the_writer_writes_them():
    text = PO.replace(b"GS*", b"TA1*000000100*240131*1200*A*000~\nISB*1~\nGS*", 1)
    [ic] = parse(text)
    assert ic.ok and [s.tag for s in ic.control_segments] == ["TA1", "ISB"]
    assert ic.control_segments[0].elements == ["000000100", "240131", "1200", "A", "000"]
    data = x12.write(ic)
    assert b"*>~TA1*000000100*240131*1200*A*000~ISB*1~GS*PO*" in data
    [again] = parse(data)
    assert again.control_segments == ic.control_segments and again.ok
    [report] = read_acknowledgements(again)
    assert (report.kind, report.interchange_ref, report.status) == ("TA1", "000000100", ACCEPTED)


def test_the_x12_writer_refuses_other_segments_at_interchange_level():
    [ic] = parse(PO)
    ic.control_segments.append(Segment("REF", ["DP", "1"]))
    with pytest.raises(EncodingError, match="REF cannot stand at interchange level"):
        x12.write(ic)


# -- reading what partners send ------------------------------------------------


def test_reading_the_sample_997():
    [ic] = parse(sample("x12/997_4010.x12"))
    report = read_acknowledgement(ic.messages[0])
    assert (report.kind, report.control_ref, report.interchange_ref, report.status) == (
        "997", "000000906", None, ACCEPTED)
    assert report.group_refs == ("4120",) and report.message_refs == ("0001",)
    assert report.verdicts[0].counts == (1, 1, 1) and report.verdicts[0].type == "PR"
    assert report.to_json()["answers"] == {"interchange": None, "groups": ["4120"], "messages": ["0001"]}


def test_reading_a_partner_997_with_errors():
    text = (b"ISA*00*          *00*          *ZZ*ACMERETAIL     *ZZ*WIDGETSUPPLY   *261120*1552*U*00401*000000907*0*P*>~"
            b"GS*FA*ACMERETAIL*WIDGETSUPPLY*20261120*1552*907*X*004010~ST*997*0001~AK1*SH*4121~"
            b"AK2*856*0001~AK3*TD5*4*0100*8~AK4*3>1**7*ZZ~AK4*5**1~AK5*R*5~"
            b"AK2*856*0002~AK5*A~AK9*P*2*2*1~SE*10*0001~GE*1*907~IEA*1*000000907~")
    [ic] = parse(text)
    report = read_acknowledgement(ic)
    assert report.status == PARTIAL
    group, bad, good = report.verdicts
    assert (group.ref, group.type, group.counts) == ("4121", "SH", (2, 2, 1))
    assert (bad.ref, bad.status, bad.codes) == ("0001", REJECTED, ("5",))
    assert [f.to_json() for f in bad.findings] == [
        {"code": "8", "position": 4, "tag": "TD5"},
        {"code": "7", "position": 4, "tag": "TD5", "element": 3, "component": 1, "value": "ZZ"},
        {"code": "1", "position": 4, "tag": "TD5", "element": 5},
    ]
    assert (good.ref, good.status) == ("0002", ACCEPTED)


def test_reading_refuses_what_is_not_an_acknowledgement():
    [ic] = parse(PO)
    with pytest.raises(ValueError, match="not an acknowledgement"):
        read_acknowledgement(ic.messages[0])
    with pytest.raises(ValueError, match="holds no acknowledgement"):
        read_acknowledgement(ic)
    [ack] = parse(sample("x12/997_4010.x12").replace(b"AK5*A", b"AK5*Q"))
    with pytest.raises(ValueError, match="AK501 'Q'"):
        read_acknowledgement(ack)


def test_a_contrl_from_a_partner():
    text = (b"UNB+UNOC:3+4012345000009:14+5412345000013:14+261120:1000+77'UNH+1+CONTRL:D:3:UN'"
            b"UCI+KE0000481+5412345000013:14+4012345000009:14+7'UCM+1+ORDRSP:D:96A:UN:EAN005+4'UCS+7+13'"
            b"UCD+12+3:2'UNT+6+1'UNZ+1+77'")
    [ic] = parse(text)
    report = read_acknowledgement(ic)
    assert (report.kind, report.control_ref, report.interchange_ref, report.status) == (
        "CONTRL", "77", "KE0000481", PARTIAL)
    _, message = report.verdicts
    assert (message.ref, message.type, message.status) == ("1", "ORDRSP", REJECTED)
    assert [f.to_json() for f in message.findings] == [
        {"code": "13", "position": 7}, {"code": "12", "position": 7, "element": 2, "component": 2}]


# -- properties -----------------------------------------------------------------

X12_SET_FAULTS = ("none", "none", "se_count", "se_ref", "bad_tag", "no_route", "warning")
REJECTING = {"se_count", "se_ref", "bad_tag", "no_route"}


def _isa(control: int, ack: bool) -> str:
    return (f"ISA*00*          *00*          *ZZ*{'SENDER':<15}*ZZ*{'RECEIVER':<15}*261120*0930*U*00401*"
            f"{control:09d}*{int(ack)}*P*>~\n")


@st.composite
def x12_documents(draw):
    """An X12 interchange of a few groups and sets, some broken on purpose, and what was broken."""
    groups = draw(st.lists(st.lists(st.sampled_from(X12_SET_FAULTS), min_size=1, max_size=4), min_size=1,
                           max_size=3))
    ge_faults = [draw(st.booleans()) for _ in groups]
    iea_fault = draw(st.booleans())
    ack = draw(st.booleans())
    lines = [_isa(draw(st.integers(1, 999_999_999)), ack)]
    n = 0
    for g, (faults, ge_fault) in enumerate(zip(groups, ge_faults), start=1):
        lines.append(f"GS*PO*SENDER*RECEIVER*20261120*0930*{g}*X*004010~\n")
        for fault in faults:
            n += 1
            ref = f"{n:04d}"
            body = ["BEG*00*SA*PO-1**20261120", "REF*DP*1"]
            if fault == "bad_tag":
                body[1] = "R#F*DP*1"
            if fault == "warning":
                body[1] = "REF*DP*1**"
            count = len(body) + 2 + (1 if fault == "se_count" else 0)
            trailer_ref = "9999" if fault == "se_ref" else ref
            lines += [f"ST*850*{ref}~\n", *(b + "~\n" for b in body), f"SE*{count}*{trailer_ref}~\n"]
        lines.append(f"GE*{len(faults) + (1 if ge_fault else 0)}*{g}~\n")
    lines.append(f"IEA*{len(groups) + (1 if iea_fault else 0)}*{lines[0][90:99]}~\n")
    return "".join(lines).encode(), groups, ge_faults, iea_fault, ack


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=x12_documents(), functional=st.sampled_from(["997", "999"]), detail=st.sampled_from(["all", "errors"]),
       ta1=st.sampled_from(["on-request", "always", "never"]))
def test_x12_acknowledgements_say_what_was_broken(doc, functional, detail, ta1):
    data, groups, ge_faults, iea_fault, requested = doc
    faults = [f for g in groups for f in g]
    case = Case("property", data, AckSettings(functional=functional, detail=detail, ta1=ta1),
                extra=route_missing({f"{i:04d}" for i, f in enumerate(faults, start=1) if f == "no_route"}))
    numbers = Numbers()
    acks = acknowledge(case, numbers)
    wants_ta1 = ta1 == "always" or (ta1 == "on-request" and (requested or iea_fault))
    assert [a.kind for a in acks] == (["TA1"] if wants_ta1 else []) + [functional]
    if wants_ta1:  # an envelope error rejects the interchange only when none of its sets was taken
        nothing_taken = all(f in REJECTING for f in faults)
        assert acks[0].status == (ACCEPTED if not iea_fault else REJECTED if nothing_taken else WITH_ERRORS)
    functional_ack = acks[-1]
    groups_seen = [v for v in functional_ack.verdicts if v.level == "group"]
    sets_seen = {v.ref: v for v in functional_ack.verdicts if v.level == "message"}
    n = 0
    for g, (group_faults, ge_fault) in enumerate(zip(groups, ge_faults)):
        rejected = sum(f in REJECTING for f in group_faults)
        verdict = groups_seen[g]
        assert verdict.counts == (len(group_faults) + ge_fault, len(group_faults), len(group_faults) - rejected)
        expected = (REJECTED if rejected == len(group_faults) else PARTIAL if rejected else
                    WITH_ERRORS if ge_fault or "warning" in group_faults else ACCEPTED)
        assert verdict.status == expected
        for fault in group_faults:
            n += 1
            status = REJECTED if fault in REJECTING else WITH_ERRORS if fault == "warning" else ACCEPTED
            if detail == "errors" and status == ACCEPTED:
                assert f"{n:04d}" not in sets_seen
            else:
                assert sets_seen[f"{n:04d}"].status == status
    for ack in acks:
        [back] = parse(ack.data)
        assert back.all_issues() == []
        report = read_acknowledgement(back)
        assert (report.status, report.verdicts) == (ack.status, ack.verdicts)
    isa13 = [number for kind, number in numbers.asked if kind == "ISA13"]
    assert [int(a.control_ref) for a in acks] == isa13 == sorted(isa13)


EDIFACT_FAULTS = ("none", "none", "unt_count", "unt_ref", "bad_tag", "no_route")


@st.composite
def edifact_documents(draw):
    faults = draw(st.lists(st.sampled_from(EDIFACT_FAULTS), min_size=1, max_size=5))
    grouped = draw(st.booleans())
    version = draw(st.sampled_from(["3", "4"]))
    request = draw(st.sampled_from(["", "1", "2"])) if version == "4" else draw(st.sampled_from(["", "1"]))
    unz_fault = draw(st.booleans())
    segs = [f"UNB+UNOC:{version}+SENDER:14+RECEIVER:14+261120:0930+REF{draw(st.integers(1, 9999))}++APP++{request}"]
    if grouped:
        segs.append("UNG+ORDERS+SENDER:14+RECEIVER:14+261120:0930+G1+UN+D:96A")
    for i, fault in enumerate(faults, start=1):
        body = ["BGM+220+PO-1+9", "dtm+137:20261120:102" if fault == "bad_tag" else "DTM+137:20261120:102"]
        count = len(body) + 2 + (1 if fault == "unt_count" else 0)
        segs += [f"UNH+{i}+ORDERS:D:96A:UN", *body, f"UNT+{count}+{'X' if fault == 'unt_ref' else i}"]
    if grouped:
        segs.append(f"UNE+{len(faults)}+G1")
    segs.append(f"UNZ+{(1 if grouped else len(faults)) + (1 if unz_fault else 0)}+{segs[0].split('+')[5]}")
    return "'".join(segs).encode() + b"'", faults, grouped, request, unz_fault


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=edifact_documents(), contrl=st.sampled_from(["on-request", "always"]),
       detail=st.sampled_from(["all", "errors"]))
def test_contrls_say_what_was_broken(doc, contrl, detail):
    data, faults, grouped, request, unz_fault = doc
    case = Case("property", data, AckSettings(contrl=contrl, detail=detail),
                extra=route_missing({str(i) for i, f in enumerate(faults, start=1) if f == "no_route"}))
    acks = acknowledge(case)
    if contrl == "on-request" and not request:
        assert acks == []
        return
    [ack] = acks
    rejected = sum(f != "none" for f in faults)
    if request == "2":
        expected = RECEIVED
    elif rejected == len(faults):
        expected = REJECTED
    elif rejected:
        expected = PARTIAL
    else:
        expected = WITH_ERRORS if unz_fault else ACCEPTED
    assert ack.status == expected
    if request != "2":
        messages = {v.ref: v.status for v in ack.verdicts if v.level == "message"}
        for i, fault in enumerate(faults, start=1):
            if fault == "none" and detail == "errors":
                assert str(i) not in messages
            else:
                assert messages[str(i)] == (ACCEPTED if fault == "none" else REJECTED)
        assert [v.level for v in ack.verdicts].count("group") == (1 if grouped else 0)
    [back] = parse(ack.data)
    assert back.all_issues() == []
    assert back.syntax_version == ("4" if b"UNOC:4" in data else "3")
    report = read_acknowledgement(back)
    assert (report.status, report.verdicts, report.interchange_ref) == (ack.status, ack.verdicts, ack.interchange_ref)
