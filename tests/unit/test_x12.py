"""X12 reader and writer: service characters, shapes, envelope checks, BIN, writing, corpus."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.codes import Severity
from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import Delimiters, Group, Interchange, Message, Repeats, Segment
from gateway.syntax import read as sniff_read
from gateway.syntax import x12
from tests import helpers
from tests.helpers import CORPUS, Trickle, codes, needs_corpus



def isa(
    *,
    element: str = "*",
    repetition: str = "U",
    component: str = ">",
    version: str = "00401",
    control: str = "000000001",
    sender: str = "SENDERID",
    recipient: str = "RECEIVERID",
    test: str = "P",
    ack: str = "0",
) -> str:
    """A well-formed ISA (106 characters with its terminator, which is not included)."""
    fields = [
        "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", recipient.ljust(15),
        "240131", "1200", repetition, version, control, ack, test, component,
    ]  # fmt: skip
    return "ISA" + element + element.join(fields)


def envelope(
    *sets: list[str],
    term: str = "~",
    nl: str = "\n",
    head: str | None = None,
    gs: str = "GS*PO*SENDERID*RECEIVERID*20240131*1200*7*X*004010",
    ge: str | None = None,
    iea: str | None = None,
) -> str:
    """An interchange around transaction-set bodies (ST..SE added with correct counts)."""
    segments = [head or isa(), gs]
    for number, body in enumerate(sets, start=1):
        ref = f"{number:04d}"
        segments += [f"ST*850*{ref}", *body, f"SE*{len(body) + 2}*{ref}"]
    segments.append(ge or f"GE*{len(sets)}*7")
    segments.append(iea or "IEA*1*000000001")
    return "".join(s + term + nl for s in segments)


def read_all(data: bytes | io.RawIOBase, **kw) -> tuple[list[Interchange], list[Message]]:
    return helpers.read_all(x12, data, **kw)


def one(data: bytes, **kw) -> Interchange:
    ics, _ = read_all(data, **kw)
    assert len(ics) == 1
    return ics[0]


def issue(ic: Interchange, code: str):
    found = [i for i in ic.all_issues() if i.code == code]
    assert found, f"{code} not in {codes(ic)}"
    return found[0]


PO = ["BEG*00*SA*PO1**20240131", "PO1*1*10*EA*9.95**VP*ABC123", "CTT*1"]
BASIC = envelope(PO).encode("ascii")


# -- service characters -------------------------------------------------------


def test_basic_interchange_fields():
    ic = one(BASIC)
    assert (ic.syntax, ic.sender, ic.sender_qualifier, ic.recipient, ic.recipient_qualifier) == (
        "x12", "SENDERID", "ZZ", "RECEIVERID", "ZZ",
    )  # fmt: skip
    assert (ic.control_ref, ic.date, ic.time, ic.syntax_id, ic.test, ic.ack_requested) == (
        "000000001", "240131", "1200", "00401", False, False,
    )  # fmt: skip
    assert ic.delimiters == Delimiters(segment="~", element="*", component=">", repetition=None)
    assert (ic.charset, ic.offset, ic.header.tag, ic.trailer.tag) == ("ascii", 0, "ISA", "IEA")
    [group] = ic.groups
    assert (group.id, group.control_ref, group.sender, group.recipient, group.version) == (
        "PO", "7", "SENDERID", "RECEIVERID", "004010",
    )  # fmt: skip
    assert group.message_count == ic.message_count == 1 and group.trailer.tag == "GE"
    [msg] = ic.messages
    assert (msg.type, msg.ref, msg.version) == ("850", "0001", "004010")
    assert msg.interchange is ic and msg.group is group and group.messages == [msg]
    assert [s.tag for s in msg.segments] == ["ST", "BEG", "PO1", "CTT", "SE"]
    assert ic.ok and codes(ic) == []


def test_isa_test_and_ack_flags():
    ic = one(envelope(PO, head=isa(test="T", ack="1")).encode())
    assert ic.test and ic.ack_requested


def test_isa_is_not_split_into_composites_or_repeats():
    ic = one(envelope(PO, head=isa(repetition="^", version="00501", component=":")).encode())
    assert ic.header.elements[10] == "^" and ic.header.elements[15] == ":"
    assert ic.header.elements[1] == " " * 10
    assert all(isinstance(e, str) for e in ic.header.elements)


def test_positions_of_segments():
    ic = one(BASIC)
    segs = [ic.header, ic.groups[0].header, *ic.messages[0].segments, ic.groups[0].trailer, ic.trailer]
    assert [s.index for s in segs] == list(range(1, 10))
    assert [s.line for s in segs] == list(range(1, 10))
    text = BASIC.decode()
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"][:-1]
    assert [s.offset for s in segs] == starts


@pytest.mark.parametrize(
    ("repetition", "version", "expected"),
    [("U", "00401", None), ("^", "00501", "^"), ("!", "00204", "!"), (":", "00501", ":"), ("`", "00402", "`")],
)
def test_repetition_separator_from_isa11(repetition, version, expected):
    ic = one(envelope(PO, head=isa(repetition=repetition, version=version)).encode())
    assert ic.delimiters.repetition == expected
    assert ic.ok


def test_u_in_isa11_means_no_repetition_so_a_caret_is_data():
    ic = one(envelope(["REF*ZZ*A^B"]).encode())
    assert ic.messages[0].segments[1].elements == ["ZZ", "A^B"]


def test_non_default_separators():
    head = isa(element="|", component="\\", repetition="!", version="00501")
    data = envelope(["REF|ZZ|A\\B!C\\D|X!Y", "N1|ST|NAME"], head=head, term="'", nl="\r\n")
    data = data.replace("GS*", "GS|").replace("*", "|")
    ic = one(data.encode())
    assert ic.delimiters == Delimiters(segment="'", element="|", component="\\", repetition="!")
    ref = ic.messages[0].segments[1]
    assert ref.elements == ["ZZ", Repeats([["A", "B"], ["C", "D"]]), Repeats(["X", "Y"])]
    assert ic.ok, [str(i) for i in ic.all_issues()]


def test_composite_and_repeat_shapes():
    head = isa(repetition="^", version="00501", component=":")
    ic = one(envelope(["SV1*HC:99213:25*40*UN*1***1:2", "CTX*A^B:C^*X"], head=head).encode())
    sv1, ctx = ic.messages[0].segments[1:3]
    assert sv1.elements == [["HC", "99213", "25"], "40", "UN", "1", "", "", ["1", "2"]]
    assert ctx.elements == [Repeats(["A", ["B", "C"], ""]), "X"]
    assert sv1.get(1, 2) == "99213" and ctx.get(1, 2, repetition=2) == "C"


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_newline_as_segment_terminator(nl):
    ic = one(envelope(PO, term="", nl=nl).encode())
    assert ic.delimiters.segment == "\n"
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "BEG", "PO1", "CTT", "SE"]
    assert ic.messages[0].segments[1].elements == ["00", "SA", "PO1", "", "20240131"]
    assert ic.messages[0].segments[1].line == 4
    assert ic.ok


def test_newline_terminator_with_indentation():
    text = envelope(PO, term="", nl="\n")
    indented = "\n".join(("  " * min(i, 3)) + line for i, line in enumerate(text.split("\n")))
    ic = one(indented.encode())
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "BEG", "PO1", "CTT", "SE"]
    beg = ic.messages[0].segments[1]
    assert indented.encode()[beg.offset : beg.offset + 3] == b"BEG"
    assert ic.ok


def test_hard_wrapped_at_80_columns():
    flat = envelope(PO + ["N1*ST*A LONG NAME THAT WILL BE WRAPPED ACROSS THE LINE BOUNDARY"], nl="")
    wrapped = "\n".join(flat[i : i + 80] for i in range(0, len(flat), 80)) + "\n"
    assert "\n" in wrapped[:106]  # the ISA itself is broken across lines
    plain, folded = one(flat.encode()), one(wrapped.encode())
    assert [s.elements for s in folded.messages[0].segments] == [s.elements for s in plain.messages[0].segments]
    assert folded.header == plain.header and folded.delimiters == plain.delimiters
    assert folded.ok, [str(i) for i in folded.all_issues()]
    n1 = folded.messages[0].segments[-2]
    assert n1.line == wrapped.encode()[: n1.offset].count(b"\n") + 1


def test_wrapped_right_before_the_terminator_of_the_isa():
    text = envelope(PO, nl="")
    text = text[:105] + "\r\n" + text[105:]  # CR/LF between ISA16 and the terminator
    ic = one(text.encode())
    assert ic.delimiters.segment == "~" and ic.ok


def test_utf8_bom_and_leading_blank_lines():
    data = b"\xef\xbb\xbf\r\n\n" + BASIC
    ic = one(data)
    assert ic.offset == 6 and ic.header.line == 3 and ic.ok


def test_several_interchanges_each_with_its_own_separators():
    first = envelope(PO)
    second = envelope(["REF|ZZ|A:B"], head=isa(element="|", component=":", control="000000002"), term="\n", nl="")
    second = second.replace("GS*", "GS|").replace("*", "|").replace("IEA|1|000000001", "IEA|1|000000002")
    ics, msgs = read_all((first + second).encode())
    assert [ic.control_ref for ic in ics] == ["000000001", "000000002"]
    assert ics[1].delimiters == Delimiters(segment="\n", element="|", component=":", repetition=None)
    assert msgs[1].segments[1].elements == ["ZZ", ["A", "B"]]
    assert msgs[1].interchange is ics[1]
    assert all(ic.ok for ic in ics), [str(i) for ic in ics for i in ic.all_issues()]
    assert ics[1].header.index == 10 and ics[1].header.offset == len(first)


def test_multi_byte_segment_terminator():
    text = envelope(PO, term="\u2026", nl="\n")
    ic = one(text.encode("utf-8"))
    assert ic.delimiters.segment == "\u2026"
    assert ic.charset == "utf-8"
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "BEG", "PO1", "CTT", "SE"]
    assert ic.ok and codes(ic) == []  # the terminator is not a character problem of the data


def test_multi_byte_terminator_split_across_chunks():
    data = envelope(PO * 5, term="\u2026", nl="").encode("utf-8")
    whole = one(data)
    for step in (1, 2, 5):
        ics, _ = read_all(Trickle(data, step))
        assert [s.elements for s in ics[0].messages[0].segments] == [s.elements for s in whole.messages[0].segments]


def test_unpadded_isa_is_reported_but_read():
    head = "ISA*00**00**ZZ*SHORT*ZZ*RCV*240131*1200*U*00401*000000001*0*P*>"
    ic = one(envelope(PO, head=head).encode())
    problem = issue(ic, "INTERCHANGE_HEADER_INVALID")
    assert problem.location.element == 2 and problem.location.segment == 1
    assert "ISA02 has 0 characters instead of 10" in problem.text and "ISA06" in problem.text
    assert (ic.sender, ic.recipient) == ("SHORT", "RCV")
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "BEG", "PO1", "CTT", "SE"]


def test_isa_of_106_characters_with_misaligned_fields():
    head = isa().replace("*SENDERID       *", "*SENDERID      *").replace("*RECEIVERID     *", "*RECEIVERID      *")
    assert len(head) == 105
    problem = issue(one(envelope(PO, head=head).encode()), "INTERCHANGE_HEADER_INVALID")
    assert problem.text.startswith("the ISA is misaligned: ISA06 has 14 characters instead of 15")
    assert problem.location.element == 6


def test_isa11_that_repeats_another_separator():
    ic = one(envelope(PO, head=isa(repetition=">", version="00501")).encode())
    assert ic.delimiters.repetition is None
    problem = issue(ic, "SEPARATOR_INVALID")
    assert problem.location.element == 11 and problem.location.segment == 1


@pytest.mark.parametrize(
    "data",
    [
        b"ISA*00*          *00*    ",  # truncated in the middle
        b"ISA*00*          *00*          *ZZ*A*ZZ*B*240131*1200*U*00401*000000001*0*P*",  # no ISA16
        b"ISA*00*          *00*          *ZZ*A*ZZ*B*240131*1200*U*00401*000000001*0*P*A~GS",  # ISA16 a letter
        b"ISA*00*          *00*          *ZZ*A*ZZ*B*240131*1200*U*00401*000000001*0*P*>",  # no terminator
        b"ISAA00",  # element separator is a letter
        b"GS*PO*A*B*20240131*1200*1*X*004010~",  # no ISA at all
        b"FSA*00*          *00*          *ZZ*A~",  # misspelled ISA
    ],
)
def test_unreadable_header_raises_with_a_location(data):
    with pytest.raises(EdiSyntaxError) as caught:
        list(x12.read(b"\n" + data))
    assert caught.value.issue.code == "INTERCHANGE_HEADER_INVALID"
    assert caught.value.issue.location.offset == 1 and caught.value.issue.location.line == 2


def test_empty_input():
    with pytest.raises(EdiSyntaxError) as caught:
        list(x12.read(b" \r\n"))
    assert caught.value.issue.code == "EMPTY_DOCUMENT"


def test_sniffing_read_dispatches_to_x12():
    items = list(sniff_read(BASIC))
    assert isinstance(items[0], Message) and isinstance(items[-1], Interchange)


# -- streaming ----------------------------------------------------------------


def test_streaming_yields_each_message_before_its_interchange_and_keeps_nothing():
    items = list(x12.read(envelope(PO, PO).encode()))
    assert [type(i).__name__ for i in items] == ["Message", "Message", "Interchange"]
    ic = items[-1]
    assert ic.messages == [] and ic.groups[0].messages == []
    assert ic.message_count == 2 and ic.groups[0].message_count == 2
    assert items[0].interchange is ic and items[0].group is ic.groups[0]


def test_first_message_arrives_before_the_input_is_read_to_its_end():
    data = envelope(*([PO] * 30000)).encode()  # about 2.4 MB
    stream = io.BytesIO(data)
    first = next(iter(x12.read(stream)))
    assert isinstance(first, Message)
    assert stream.tell() < len(data) // 2


@pytest.mark.parametrize("step", [1, 3, 7, 64])
def test_chunk_boundaries_anywhere(step):
    second = envelope(["N1*ST*X"], head=isa(control="000000002"), iea="IEA*1*000000002")
    data = (envelope(PO, ["REF*ZZ*A>B"], nl="\r\n") + second).encode()
    whole = list(x12.read(data, keep=True))
    trickled = list(x12.read(Trickle(data, step), keep=True))
    assert len(whole) == len(trickled) == 5
    assert all(ic.ok for ic in whole if isinstance(ic, Interchange))
    for a, b in zip(whole, trickled, strict=True):
        if isinstance(a, Message):
            assert [(s.tag, s.elements, s.index, s.line, s.offset) for s in a.segments] == [
                (s.tag, s.elements, s.index, s.line, s.offset) for s in b.segments
            ]
        else:
            assert [str(i) for i in a.all_issues()] == [str(i) for i in b.all_issues()]


# -- envelope checks ----------------------------------------------------------


def test_se_count_and_reference():
    text = envelope(PO).replace("SE*5*0001", "SE*41*0002")
    ic = one(text.encode())
    msg = ic.messages[0]
    count = [i for i in msg.issues if i.code == "MESSAGE_SEGMENT_COUNT_MISMATCH"][0]
    assert count.text == "SE01 says 41 segments, the set has 5"
    assert (count.location.segment, count.location.tag, count.location.element, count.location.message_segment) == (
        7, "SE", 1, 5,
    )  # fmt: skip
    ref = [i for i in msg.issues if i.code == "MESSAGE_REF_MISMATCH"][0]
    assert "'0002'" in ref.text and "'0001'" in ref.text and ref.location.element == 2
    assert ic.issues == [] and ic.groups[0].issues == []  # message-level issues stay on the message
    assert not ic.ok


def test_se01_that_is_not_a_number():
    ic = one(envelope(PO).replace("SE*5*", "SE*X5*").encode())
    assert "'X5' is not a segment count" in issue(ic, "MESSAGE_SEGMENT_COUNT_MISMATCH").text


def test_se01_with_leading_zeros_is_fine():
    assert one(envelope(PO).replace("SE*5*", "SE*0005*").encode()).ok


def test_missing_se_before_the_next_st_and_before_ge():
    text = envelope(PO, PO).replace("SE*5*0001~\n", "").replace("SE*5*0002~\n", "")
    ics, msgs = read_all(text.encode())
    assert [m.ref for m in msgs] == ["0001", "0002"]
    for msg in msgs:
        [problem] = msg.issues
        assert problem.code == "MESSAGE_TRAILER_MISSING"
        assert problem.location.tag == "ST" and problem.location.message_segment == 1
    assert [s.tag for s in msgs[0].segments] == ["ST", "BEG", "PO1", "CTT"]
    assert "ST 0002" in msgs[0].issues[0].text and "GE" in msgs[1].issues[0].text
    assert codes(ics[0]) == ["MESSAGE_TRAILER_MISSING", "MESSAGE_TRAILER_MISSING"]


def test_group_count_and_reference():
    ic = one(envelope(PO, ge="GE*3*8").encode())
    [group] = ic.groups
    assert [i.code for i in group.issues] == ["GROUP_COUNT_MISMATCH", "GROUP_REF_MISMATCH"]
    assert group.issues[0].text == "GE01 says 3 transaction sets, group 7 has 1"
    assert group.issues[0].location.tag == "GE" and group.issues[0].location.element == 1
    assert group.issues[1].location.element == 2 and "'8'" in group.issues[1].text


def test_missing_ge():
    ic = one(envelope(PO).replace("GE*1*7~\n", "").encode())
    problem = issue(ic, "GROUP_TRAILER_MISSING")
    assert problem in ic.groups[0].issues and problem.location.tag == "GS"
    assert codes(ic) == ["GROUP_TRAILER_MISSING"]  # the group still counts for IEA01


def test_missing_ge_before_next_gs():
    text = envelope(PO).replace("GE*1*7~\n", "GE*1*7~\nGS*IN*A*B*20240131*1200*8*X*004010~\n")
    text = text.replace("IEA*1*", "IEA*2*")
    ic = one(text.encode())
    assert [g.control_ref for g in ic.groups] == ["7", "8"]
    assert [i.code for i in ic.groups[1].issues] == ["GROUP_TRAILER_MISSING"]
    assert codes(ic) == ["GROUP_TRAILER_MISSING"]


def test_interchange_count_and_unpadded_reference():
    ic = one(envelope(PO, iea="IEA*2*1").encode())
    assert [i.code for i in ic.issues] == ["INTERCHANGE_COUNT_MISMATCH", "INTERCHANGE_REF_MISMATCH"]
    assert ic.issues[0].text == "IEA01 says 2 functional groups, the interchange has 1"
    assert ic.issues[1].text == "IEA02 '1' differs from ISA13 '000000001'"
    assert ic.issues[1].location.tag == "IEA" and ic.issues[1].location.element == 2


def test_missing_iea_at_end_of_input():
    ics, msgs = read_all(envelope(PO).replace("IEA*1*000000001~\n", "").encode())
    assert codes(ics[0]) == ["INTERCHANGE_TRAILER_MISSING"]
    assert ics[0].trailer is None and len(msgs) == 1


def test_missing_iea_before_the_next_isa():
    text = envelope(PO).replace("IEA*1*000000001~\n", "") + envelope(PO, head=isa(control="000000002")).replace(
        "IEA*1*000000001", "IEA*1*000000002"
    )
    ics, _ = read_all(text.encode())
    assert [codes(ic) for ic in ics] == [["INTERCHANGE_TRAILER_MISSING"], []]


def test_truncated_right_after_st():
    ic = one((isa() + "~GS*PO*A*B*20240131*1200*7*X*004010~ST*850*0001~").encode())
    assert sorted(codes(ic)) == ["GROUP_TRAILER_MISSING", "INTERCHANGE_TRAILER_MISSING", "MESSAGE_TRAILER_MISSING"]
    assert ic.messages[0].segments[0].tag == "ST"


def test_data_after_iea():
    ic = one(BASIC + b"1r\nMORE*STUFF~")
    [problem] = ic.issues
    assert problem.code == "TRAILING_DATA" and problem.location.segment == 10 and problem.location.line == 10


def test_another_isa_after_iea_is_not_trailing_data():
    text = envelope(PO) + envelope(PO, head=isa(control="000000002")).replace("IEA*1*000000001", "IEA*1*000000002")
    ics, _ = read_all(text.encode())
    assert len(ics) == 2 and all(ic.ok and not ic.issues for ic in ics)


def test_segments_outside_sets():
    text = envelope(PO).replace("GS*", "N1*XX*BEFORE GS~\nGS*").replace("GE*", "N1*XX*BETWEEN~\nGE*")
    ic = one(text.encode())
    outside = [i for i in ic.issues if i.code == "SEGMENT_OUTSIDE_ENVELOPE"]
    assert [i.location.segment for i in outside] == [2, 9]
    assert "no functional group" in outside[0].text and "outside a transaction set" in outside[1].text


def test_ta1_isb_ise_are_allowed_between_isa_and_gs():
    text = envelope(PO).replace("GS*", "TA1*000000100*240131*1200*A*000~\nISB*1~\nISE*240131*1200*04~\nGS*", 1)
    ic = one(text.encode())
    assert ic.ok and codes(ic) == []
    assert ic.messages[0].segments[0].index == 6


def test_st_without_reference_and_short_gs():
    ic = one(envelope(PO, gs="GS*PO*A*B*20240131*1200*7").replace("ST*850*0001", "ST*850").encode())
    assert [i.code for i in ic.groups[0].issues] == ["GROUP_HEADER_INVALID"]
    assert "MESSAGE_HEADER_INVALID" in [i.code for i in ic.messages[0].issues]
    assert ic.messages[0].issues[0].location.element == 2


def test_set_without_group():
    text = isa() + "~\nST*850*0001*004010X999~\nBEG*00~\nSE*3*0001~\nIEA*0*000000001~\n"
    ics, msgs = read_all(text.encode())
    assert msgs[0].group is None and msgs[0].version == "004010X999"
    assert codes(ics[0]) == ["SEGMENT_OUTSIDE_ENVELOPE"]
    assert ics[0].message_count == 1 and ics[0].messages == msgs


def test_duplicate_st02_in_a_group():
    text = envelope(PO, PO, PO).replace("ST*850*0003", "ST*850*0001").replace("SE*5*0003", "SE*5*0001")
    ics, msgs = read_all(text.encode())
    assert [i.code for i in msgs[2].issues] == ["MESSAGE_REF_DUPLICATE"]
    assert msgs[2].issues[0].location.element == 2 and msgs[0].issues == []


def test_same_st02_in_different_groups_is_fine():
    text = envelope(PO).replace(
        "GE*1*7~\n", "GE*1*7~\nGS*PO*A*B*20240131*1200*8*X*004010~\nST*850*0001~\nSE*2*0001~\nGE*1*8~\n"
    )
    ic = one(text.replace("IEA*1*", "IEA*2*").encode())
    assert ic.ok and codes(ic) == []


def test_ref_set_tracks_runs_and_out_of_order_numbers():
    refs = x12._RefSet()
    assert all(refs.add(f"{n:04d}") for n in range(1, 1000))
    assert refs.add("5000") and refs.add("4998") and refs.add("4999") and refs.add("1000")
    assert not refs.add("0500") and not refs.add("4999") and not refs.add("5000")
    assert refs.add("500")  # same number, different text
    assert refs.add("A1") and not refs.add("A1")
    assert refs._runs[4] == ([1, 4998], [1000, 5000])


def test_trailing_separator_on_envelope_segments():
    ic = one(envelope(PO, gs="GS*PO*A*B*20240131*1200*7*X*004010*", iea="IEA*1*000000001*").encode())
    assert [i.code for i in ic.groups[0].issues] == ["TRAILING_SEPARATOR"]
    assert [(i.code, i.location.tag) for i in ic.issues] == [("TRAILING_SEPARATOR", "IEA")]


def test_bad_segment_tags():
    ic = one(envelope(["b1*X", "ABCD*X", "N1*ST*OK"]).encode())
    problems = [i for i in ic.messages[0].issues if i.code == "SEGMENT_TAG_INVALID"]
    assert [(p.location.message_segment, p.location.tag) for p in problems] == [(2, "b1"), (3, "ABCD")]
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "b1", "ABCD", "N1", "SE"]  # still counted


def test_trailing_separators_are_a_warning():
    ic = one(envelope(["N1*ST*NAME**", "N2*X"]).encode())
    [problem] = ic.messages[0].issues
    assert problem.code == "TRAILING_SEPARATOR" and problem.severity is Severity.WARNING
    assert problem.location.message_segment == 2 and problem.location.element == 4
    assert "2 empty elements" in problem.text
    assert ic.ok  # a warning does not reject


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("20240131", "1200", []),
        ("240131", "235959", []),  # YYMMDD (older versions) and HHMMSS
        ("20240229", "12000099", []),  # leap day; decimal seconds
        ("20230229", "1200", ["ELEMENT_DATE_INVALID"]),
        ("BAD_DATE", "295335", ["ELEMENT_DATE_INVALID", "ELEMENT_TIME_INVALID"]),
        ("2024013", "12", ["ELEMENT_DATE_INVALID", "ELEMENT_TIME_INVALID"]),
        ("20241301", "1260", ["ELEMENT_DATE_INVALID", "ELEMENT_TIME_INVALID"]),
    ],
)
def test_gs_date_and_time(date, time, expected):
    ic = one(envelope(PO, gs=f"GS*PO*A*B*{date}*{time}*7*X*004010").encode())
    assert [i.code for i in ic.groups[0].issues] == expected
    for problem in ic.groups[0].issues:
        assert problem.location.tag == "GS" and problem.location.element in (4, 5)


def test_control_numbers_of_groups():
    text = envelope(PO, gs="GS*PO*A*B*20240131*1200*X7*X*004010", ge="GE*1*<TOO_LONG_AND_NOT_NUMERIC>")
    ic = one(text.encode())
    found = [(i.code, i.location.tag, i.location.element) for i in ic.groups[0].issues]
    assert found == [
        ("ELEMENT_NOT_NUMERIC", "GS", 6),
        ("ELEMENT_NOT_NUMERIC", "GE", 2),
        ("ELEMENT_TOO_LONG", "GE", 2),
        ("GROUP_REF_MISMATCH", "GE", 2),
    ]


def test_isa13_must_be_nine_digits():
    head = isa(control="12345678A")
    ic = one(envelope(PO, head=head, iea="IEA*1*12345678A").encode())
    problem = issue(ic, "ENVELOPE_ELEMENT_INVALID")
    assert problem.location.element == 13 and codes(ic) == ["ENVELOPE_ELEMENT_INVALID"]


def test_all_envelope_errors_are_reported_not_only_the_first():
    text = envelope(PO, PO, ge="GE*5*9", iea="IEA*3*000000002")
    text = text.replace("SE*5*0001", "SE*9*0001").replace("SE*5*0002", "SE*5*0003")
    ic = one(text.encode())
    assert sorted(codes(ic)) == sorted(
        [
            "MESSAGE_SEGMENT_COUNT_MISMATCH",
            "MESSAGE_REF_MISMATCH",
            "GROUP_COUNT_MISMATCH",
            "GROUP_REF_MISMATCH",
            "INTERCHANGE_COUNT_MISMATCH",
            "INTERCHANGE_REF_MISMATCH",
        ]
    )
    assert [i.code for i in ic.messages[0].issues] == ["MESSAGE_SEGMENT_COUNT_MISMATCH"]
    assert [i.code for i in ic.messages[1].issues] == ["MESSAGE_REF_MISMATCH"]


# -- characters ---------------------------------------------------------------


def test_latin1_bytes_are_read_with_a_warning_once_per_segment():
    data = envelope(["N1*ST*M\xfcller \xe9t\xe9*X"]).encode("latin-1")
    ic = one(data)
    n1 = ic.messages[0].segments[1]
    assert n1.elements == ["ST", "M\u00fcller \u00e9t\u00e9", "X"]
    [problem] = ic.messages[0].issues
    assert problem.code == "INVALID_CHARACTER" and problem.location.message_segment == 2
    assert problem.severity is Severity.WARNING and ic.charset == "latin-1"


def test_utf8_bytes_are_read_as_utf8_with_a_warning():
    ic = one(envelope(["N1*ST*M\u00fcller"]).encode("utf-8"))
    assert ic.messages[0].segments[1].elements == ["ST", "M\u00fcller"]
    assert codes(ic) == ["INVALID_CHARACTER"] and ic.charset == "utf-8"


def test_partner_encoding_override_is_used_as_is():
    ic = one(envelope(["N1*ST*5 \x80"]).encode("latin-1"), encoding="cp1252")
    assert ic.messages[0].segments[1].elements == ["ST", "5 \u20ac"]
    assert codes(ic) == [] and ic.charset == "cp1252"


# -- BIN ----------------------------------------------------------------------


def test_bin_data_may_contain_the_terminator_and_line_breaks():
    data = "12~*>\nABC~\r\n"
    text = envelope([f"BIN*{len(data)}*{data}", "N1*ST*AFTER"])
    ic = one(text.encode())
    binary, after = ic.messages[0].segments[1:3]
    assert binary.elements == [str(len(data)), data]
    assert after.elements == ["ST", "AFTER"]
    assert after.line == binary.line + 3  # two line breaks in the data, one after the terminator
    assert ic.ok, [str(i) for i in ic.all_issues()]


@pytest.mark.parametrize("nl", ["\n", "\r\n", ""])
def test_positions_after_a_bin_segment(nl):
    text = envelope(["BIN*5*AB*DE", "N1*ST*AFTER"], nl=nl)
    ic = one(text.encode())
    binary, after, trailer = ic.messages[0].segments[1:4]
    assert binary.elements == ["5", "AB*DE"]
    assert after.offset == text.index("N1*ST") and trailer.offset == text.index("SE*")
    assert after.line == binary.line + (1 if nl else 0) and after.index == binary.index + 1


def test_bin_data_is_kept_byte_for_byte():
    payload = bytes(range(256))
    head = envelope([]).split("ST*850")[0].encode()
    body = b"ST*850*0001~\n" + b"BIN*256*" + payload + b"~\nSE*3*0001~\nGE*1*7~\nIEA*1*000000001~\n"
    ic = one(head + body)
    assert ic.messages[0].segments[1].elements[1].encode("latin-1") == payload
    assert ic.ok and codes(ic) == [] and ic.charset == "ascii"  # binary data is no character problem


@pytest.mark.parametrize("step", [1, 5, 100])
def test_bin_across_chunk_boundaries(step):
    data = "0123456789~" * 30
    text = envelope([f"BIN*{len(data)}*{data}", "N1*ST*AFTER"]).encode()
    ics, msgs = read_all(Trickle(text, step))
    assert msgs[0].segments[1].elements[1] == data and ics[0].ok


def test_bin_length_not_numeric():
    ic = one(envelope(["BIN*11a*BINARY DATA", "N1*ST*AFTER"]).encode())
    [problem] = ic.messages[0].issues
    assert problem.code == "BINARY_LENGTH_INVALID" and "'11a'" in problem.text
    assert problem.location.message_segment == 2 and problem.location.element == 1
    assert ic.messages[0].segments[1].elements == ["11a", "BINARY DATA"]
    assert codes(ic) == ["BINARY_LENGTH_INVALID"]  # the set is still counted right


def test_bin_length_wrong():
    ic = one(envelope(["BIN*5*1234567890", "N1*ST*AFTER"]).encode())
    [problem] = ic.messages[0].issues
    assert problem.code == "BINARY_LENGTH_INVALID" and "says 5 bytes" in problem.text
    assert ic.messages[0].segments[1].elements == ["5", "1234567890"]
    assert [s.tag for s in ic.messages[0].segments] == ["ST", "BIN", "N1", "SE"]


# -- writing ------------------------------------------------------------------


def build(*messages: Message, **fields) -> Interchange:
    ic = Interchange(
        syntax="x12",
        sender=fields.pop("sender", "ME"),
        recipient=fields.pop("recipient", "YOU"),
        control_ref=fields.pop("control_ref", "42"),
        date="240131",
        time="1200",
        syntax_id=fields.pop("syntax_id", "00401"),
        **fields,
    )
    group = Group("PO", "7", "ME", "YOU", "004010", Segment("GS", []), interchange=ic, messages=list(messages))
    ic.groups.append(group)
    return ic


def po(ref: str = "0001", *body: Segment) -> Message:
    segments = [Segment("ST", ["850", ref]), *(body or [Segment("BEG", ["00", "SA", "PO1"])])]
    return Message("850", ref, "004010", segments)


def test_write_envelope_counts_and_padding():
    data = x12.write(build(po("0001"), po("0002", Segment("BEG", ["00"]), Segment("CTT", ["1"]))))
    text = data.decode("ascii")
    segments = text.split("~")
    assert len(segments[0]) == 105 and text[105] == "~"
    assert segments[0] == (
        "ISA*00*          *00*          *ZZ*ME             *ZZ*YOU            *240131*1200*U*00401*000000042*0*P*>"
    )
    assert segments[1:] == [
        "GS*PO*ME*YOU*20240131*1200*7*X*004010",
        "ST*850*0001", "BEG*00*SA*PO1", "SE*3*0001",
        "ST*850*0002", "BEG*00", "CTT*1", "SE*4*0002",
        "GE*2*7",
        "IEA*1*000000042",
        "",
    ]  # fmt: skip


def test_written_document_reads_back_the_same():
    body = [
        Segment("N1", ["ST", "NAME", "", ""]),  # trailing empties are not written
        Segment("SV1", [["HC", "99213"], "40", Repeats(["A", ["B", "C"]])]),
    ]
    ic = build(po("0001", *body), syntax_id="00501")
    ic.delimiters = x12.choose_delimiters("00501", suffix="\n")
    data = x12.write(ic)
    assert data.count(b"~\n") == data.count(b"\n") == 8 and b"N1*ST*NAME~" in data
    back = one(data)
    assert back.ok and codes(back) == []
    assert back.messages[0].segments[1:3] == [
        Segment("N1", ["ST", "NAME"]),
        Segment("SV1", [["HC", "99213"], "40", Repeats(["A", ["B", "C"]])]),
    ]
    assert back.delimiters == Delimiters("~", "*", ">", "^")
    assert (back.sender, back.recipient, back.control_ref) == ("ME", "YOU", "000000042")


def test_round_trip_of_a_read_interchange():
    original = one(envelope(PO, ["REF*ZZ*A>B"], head=isa(test="T", ack="1")).encode())
    again = one(x12.write(original))
    assert [m.segments for m in again.messages] == [m.segments for m in original.messages]
    assert again.header == original.header and again.groups[0].header == original.groups[0].header
    assert again.test and again.ack_requested and again.ok


def test_choose_delimiters():
    assert x12.choose_delimiters("00401") == Delimiters("~", "*", ">", None)
    assert x12.choose_delimiters("00501") == Delimiters("~", "*", ">", "^")
    assert x12.choose_delimiters("00501", repetition=None, suffix="\r\n").segment == "~\r\n"
    with pytest.raises(EncodingError):
        x12.choose_delimiters(element=">")  # same as the component separator
    with pytest.raises(EncodingError):
        x12.choose_delimiters(component="A")


@pytest.mark.parametrize(
    ("segment", "element", "component", "bad"),
    [
        (Segment("N1", ["ST", "A*B"]), 2, None, "element separator"),
        (Segment("N1", ["ST", ["A", "B~C"]]), 2, 2, "segment terminator"),
        (Segment("N1", ["ST", "LINE\nBREAK"]), 2, None, "line break"),
    ],
)
def test_writer_refuses_service_characters_in_values(segment, element, component, bad):
    with pytest.raises(EncodingError) as caught:
        x12.write(build(po("0001", Segment("BEG", ["00"]), segment)))
    problem = caught.value.issue
    assert problem.code == "WRITE_INVALID" and bad in problem.text
    assert (problem.location.tag, problem.location.element, problem.location.component) == ("N1", element, component)
    assert problem.location.message_segment == 3 and problem.location.segment == 5


def test_writer_refuses_characters_the_encoding_cannot_carry():
    ic = build(po("0001", Segment("N1", ["ST", ["X", "M\u00fcller"]])))
    with pytest.raises(EncodingError) as caught:
        x12.write(ic)
    problem = caught.value.issue
    assert problem.code == "UNENCODABLE_CHARACTER"
    assert (problem.location.tag, problem.location.element, problem.location.component) == ("N1", 2, 2)
    assert one(x12.write(ic, encoding="utf-8")).messages[0].segments[1].elements == ["ST", ["X", "M\u00fcller"]]


def test_writer_repeats_need_a_repetition_separator():
    ic = build(po("0001", Segment("REF", ["ZZ", Repeats(["A", "B"])])))
    with pytest.raises(EncodingError) as caught:
        x12.write(ic)
    assert caught.value.issue.code == "WRITE_INVALID" and caught.value.issue.location.element == 2


@pytest.mark.parametrize(
    ("fields", "element"),
    [({"sender": "X" * 16}, 6), ({"control_ref": "1234567890"}, 13), ({"control_ref": "12A"}, 13)],
)
def test_writer_refuses_isa_values_that_do_not_fit(fields, element):
    with pytest.raises(EncodingError) as caught:
        x12.write(build(po(), **fields))
    assert caught.value.issue.code == "WRITE_INVALID"
    assert caught.value.issue.location.tag == "ISA" and caught.value.issue.location.element == element


def test_writer_refuses_envelope_segments_in_a_body():
    with pytest.raises(EncodingError) as caught:
        x12.write(build(po("0001", Segment("GE", ["1", "7"]))))
    assert caught.value.issue.location.tag == "GE"


def test_writer_groups_bare_messages_by_type():
    ic = build()
    ic.groups = []
    ic.messages = [po("0001"), po("0002"), Message("997", "0003", "004010", [Segment("AK1", ["PO", "7"])])]
    back = one(x12.write(ic))
    assert [(g.id, g.control_ref, g.message_count) for g in back.groups] == [("PO", "1", 2), ("FA", "2", 1)]
    assert back.messages[2].segments[1] == Segment("AK1", ["PO", "7"]) and back.ok


def test_writer_bin_segments():
    payload = "A~B*C\nD"
    back = one(x12.write(build(po("0001", Segment("BIN", ["999", payload])))))
    assert back.messages[0].segments[1].elements == [str(len(payload)), payload] and back.ok


def test_writer_newline_terminator():
    ic = build(po())
    ic.delimiters = Delimiters("\n", "|", ":", None)
    data = x12.write(ic)
    assert data.decode().splitlines()[2] == "ST|850|0001"
    back = one(data)
    assert back.delimiters == Delimiters("\n", "|", ":", None) and back.ok


# -- the shared corpus ----------------------------------------------------------


def corpus_files(folder: str, pattern: str = "*") -> list[Path]:
    return sorted(p for p in (CORPUS / folder).glob(pattern) if p.suffix in (".edi", ".txt"))


needs_x12_corpus = needs_corpus("x12")


@needs_x12_corpus
def test_every_corpus_file_reads_without_errors_and_its_counts_match():
    files = corpus_files("x12")
    assert len(files) >= 40
    for path in files:
        data = path.read_bytes()
        ics, msgs = read_all(data)
        assert ics, path.name
        errors = [str(i) for ic in ics for i in ic.all_issues() if i.is_error]
        assert errors == [], path.name
        for ic in ics:
            assert ic.trailer is not None and int(ic.trailer.get(1)) == len(ic.groups), path.name
            for group in ic.groups:
                assert int(group.trailer.get(1)) == group.message_count == len(group.messages), path.name
            for msg in ic.messages:
                assert msg.trailer is not None and int(msg.trailer.get(1)) == len(msg.segments), path.name
        assert sum(ic.message_count for ic in ics) == len(msgs) > 0


@needs_x12_corpus
def test_every_corpus_file_reads_the_same_through_a_trickle_and_round_trips():
    for path in corpus_files("x12"):
        data = path.read_bytes()
        whole, _ = read_all(data)
        trickled, _ = read_all(Trickle(data, 7))
        assert [[s.elements for m in ic.messages for s in m.segments] for ic in whole] == [
            [s.elements for m in ic.messages for s in m.segments] for ic in trickled
        ], path.name
        for ic in whole:
            again = one(x12.write(ic, encoding="utf-8"))
            assert [m.segments for m in again.messages] == [m.segments for m in ic.messages], path.name
            assert again.ok, path.name


# Envelope-level files: the codes the reader must report, with the manifest's reason.
INVALID_ENVELOPE = {
    "000_5010_staedi_bin01_nonnumeric.edi": (["BINARY_LENGTH_INVALID"], "BIN01 length '11a' is not numeric"),
    "204_4010_edinet_se_count.edi": (["MESSAGE_SEGMENT_COUNT_MISMATCH"], "SE*41 but the set has 38 segments"),
    "270_4010_imsweb_envelope_mismatch.txt": (
        ["MESSAGE_SEGMENT_COUNT_MISMATCH", "MESSAGE_REF_MISMATCH", "INTERCHANGE_REF_MISMATCH", "TRAILING_SEPARATOR"],
        "SE*15*0000121 but 14 segments and ST02 000121; IEA02 000014420 vs ISA13 000003438; trailing empty elements",
    ),
    "275_5010_staedi_bin01_wrong_length.edi": (["BINARY_LENGTH_INVALID"], "BIN01 says 1839 but payload is 2768 bytes"),
    "810_2040_edifabric_garbage_after_iea.edi": (["TRAILING_DATA"], "stray text '1r' after IEA"),
    "810_2040_edifabric_missing_ge.edi": (["GROUP_TRAILER_MISSING"], "GE trailer removed"),
    "810_2040_edifabric_missing_iea.edi": (["INTERCHANGE_TRAILER_MISSING"], "IEA trailer removed"),
    "835_4010_pyx12_bad_header_looping.txt": (["MESSAGE_SEGMENT_COUNT_MISMATCH"], "SE01=39 but the set has 72"),
    "835_5010_tastypackets_isa_iea_mismatch.edi": (["INTERCHANGE_REF_MISMATCH"], "ISA13 106000600 vs IEA02 006000600"),
    "837i_4010_pyx12_trailer_errors.txt": (
        [
            "MESSAGE_SEGMENT_COUNT_MISMATCH",
            "GROUP_REF_MISMATCH",
            "INTERCHANGE_COUNT_MISMATCH",
            "INTERCHANGE_REF_MISMATCH",
        ],
        "SE01=60 vs 59; GE*2*333 vs GS06 1; IEA*5*333 wrong group count and control number",
    ),
    "837i_4010_pyx12_trailing_separators.txt": (["TRAILING_SEPARATOR"], "CLM ends with 8 trailing separators"),
    "837p_4010_pyx12_bad_elements.txt": (["MESSAGE_SEGMENT_COUNT_MISMATCH"], "SE01=30 but the set has 29"),
    "837p_4010_pyx12_no_iea.txt": (
        ["INTERCHANGE_TRAILER_MISSING", "MESSAGE_SEGMENT_COUNT_MISMATCH"],
        "IEA trailer missing; SE01=0 wrong segment count",
    ),
    "837p_4010_pyx12_truncated_after_st.txt": (
        ["MESSAGE_TRAILER_MISSING", "GROUP_TRAILER_MISSING", "INTERCHANGE_TRAILER_MISSING"],
        "file ends right after ST - no SE/GE/IEA",
    ),
    "837p_5010_imsweb_short_isa.txt": (
        ["INTERCHANGE_HEADER_INVALID", "MESSAGE_SEGMENT_COUNT_MISMATCH"],
        "ISA02 is 9 chars so the ISA is 105 chars; SE01 25 vs 34",
    ),
    "940_4010_ediengine_control_mismatch.edi": (
        ["INTERCHANGE_REF_MISMATCH", "GROUP_REF_MISMATCH", "MESSAGE_REF_MISMATCH"],
        "ISA13/IEA02, GS06/GE02 and ST02/SE02 differ",
    ),
    "940_4010_ediengine_iea_unpadded.edi": (["INTERCHANGE_REF_MISMATCH"], "IEA02 '3438' not zero-padded like ISA13"),
    "940_4010_ediengine_se01_wrong.edi": (["MESSAGE_SEGMENT_COUNT_MISMATCH"], "Expected 12 segments. Found 9."),
    "940_4010_ediengine_wrong_counts.edi": (
        ["INTERCHANGE_COUNT_MISMATCH", "GROUP_COUNT_MISMATCH", "INTERCHANGE_REF_MISMATCH"],
        "IEA01=2 with 1 group; GE01=2 with 1 set; IEA02 '3438' not zero-padded",
    ),
    "997_5010_staedi_invalid_gs_ge.edi": (
        [
            "ELEMENT_DATE_INVALID",
            "ELEMENT_TIME_INVALID",
            "ELEMENT_TOO_LONG",
            "ELEMENT_NOT_NUMERIC",
            "GROUP_REF_MISMATCH",
        ],
        "GS04 'BAD_DATE', GS05 295335, GE02 too long, GE02 invalid chars, GE02 != GS06",
    ),
    "999_5010_staedi_invalid_structure.edi": (["MESSAGE_SEGMENT_COUNT_MISMATCH"], "SE01=16 but the set has 18"),
    "ta1_4010_uhin_short_isa.txt": (
        ["INTERCHANGE_HEADER_INVALID", "INTERCHANGE_COUNT_MISMATCH"],
        "ISA fields not space-padded; IEA01=1 although there are 0 groups",
    ),
}
# Files the reader cannot read at all: the header is not an ISA.
INVALID_UNREADABLE = {
    "810_2040_edifabric_bad_isa_tag.edi": "interchange header tag 'FSA' instead of 'ISA'",
    "837p_5010_imsweb_no_isa.txt": "file starts at GS - ISA segment missing",
}
# Dictionary-level problems (code values, element lengths inside sets, syntax notes,
# unknown tags): the syntax reader only has to read them without crashing.
INVALID_DICTIONARY = {
    "810_2040_edifabric_bad_segment_tag.edi": "NTE tag misspelled 'FTE'",
    "810_2040_edifabric_too_many_elements.edi": "REF segment has 5 extra elements",
    "850_4010_ediengine_syntax_notes.edi": "PO1/PO4 paired and conditional syntax notes",
    "997_5010_staedi_invalid_elements.edi": "AK101 bad code/too long; AK402 too long and not numeric",
}


@needs_x12_corpus
def test_the_invalid_table_covers_every_x12_file():
    names = {p.name for p in corpus_files("invalid", "[0-9]*") + corpus_files("invalid", "ta1*")}
    assert names == set(INVALID_ENVELOPE) | set(INVALID_UNREADABLE) | set(INVALID_DICTIONARY)


@needs_x12_corpus
@pytest.mark.parametrize("name", sorted(INVALID_ENVELOPE))
def test_invalid_corpus_envelope_codes(name):
    expected, _reason = INVALID_ENVELOPE[name]
    ics, _ = read_all((CORPUS / "invalid" / name).read_bytes())
    found = {i.code for ic in ics for i in ic.all_issues()}
    assert set(expected) <= found, f"{name}: {sorted(found)}"
    for ic in ics:
        for problem in ic.all_issues():
            assert problem.location.segment is not None and problem.location.offset is not None


@needs_x12_corpus
@pytest.mark.parametrize("name", sorted(INVALID_UNREADABLE))
def test_invalid_corpus_unreadable(name):
    with pytest.raises(EdiSyntaxError) as caught:
        list(x12.read((CORPUS / "invalid" / name).read_bytes()))
    assert caught.value.issue.code == "INTERCHANGE_HEADER_INVALID"


@needs_x12_corpus
@pytest.mark.parametrize("name", sorted(INVALID_DICTIONARY))
def test_invalid_corpus_dictionary_level_files_are_read(name):
    ics, msgs = read_all((CORPUS / "invalid" / name).read_bytes())
    assert ics and msgs
