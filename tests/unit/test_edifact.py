"""EDIFACT reader and writer: separators, release characters, charsets, envelopes."""

from __future__ import annotations


import pytest

from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import Delimiters, Interchange, Message, Repeats, Segment
from gateway.syntax import edifact
from tests import helpers
from tests.helpers import Trickle, codes


def read_all(data: bytes, **kw) -> tuple[list[Interchange], list[Message]]:
    return helpers.read_all(edifact, data, **kw)


def one(data: bytes, **kw) -> Interchange:
    ics, _ = read_all(data, **kw)
    assert len(ics) == 1
    return ics[0]


BASIC = (
    b"UNB+UNOC:3+SENDER:14+RECIPIENT:14+261120:0930+REF1'"
    b"UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20261120:102'UNT+4+1'"
    b"UNZ+1+REF1'"
)


def test_defaults_without_una():
    ic = one(BASIC)
    assert (ic.sender, ic.sender_qualifier, ic.recipient, ic.control_ref) == ("SENDER", "14", "RECIPIENT", "REF1")
    assert (ic.syntax_id, ic.syntax_version, ic.charset) == ("UNOC", "3", "latin-1")
    msg = ic.messages[0]
    assert (msg.type, msg.ref, msg.version, msg.release) == ("ORDERS", "1", "D96A", "ORDERS:D:96A:UN")
    assert [s.tag for s in msg.segments] == ["UNH", "BGM", "DTM", "UNT"]
    assert msg.segments[2].elements == [["137", "20261120", "102"]]
    assert ic.ok and codes(ic) == []


def test_streaming_yields_message_before_interchange_and_keeps_nothing():
    items = list(edifact.read(BASIC))
    assert [type(i).__name__ for i in items] == ["Message", "Interchange"]
    assert items[1].messages == [] and items[1].message_count == 1


def test_non_default_separators_from_una():
    data = b"UNA|=.# ~UNB=UNOA|2=S=R=261120|0930=7~UNH=9=INVOIC|D|97B|UN~FTX=AAI===a#=b#|c#~d##~UNT=3=9~UNZ=1=7~"
    ic = one(data)
    assert ic.delimiters == Delimiters("~", "=", "|", None, "#", ".")
    assert ic.messages[0].segments[1].elements == ["AAI", "", "", "a=b|c~d#"]
    assert ic.ok


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"FTX+AAI+++a??'", "a?"),  # escaped release, then the real terminator
        (b"FTX+AAI+++a???''", "a?'"),  # escaped release and escaped terminator
        (b"FTX+AAI+++?+1?:2?'3'", "+1:2'3"),
        (b"FTX+AAI+++????'", "??"),
    ],
)
def test_release_character_edge_cases(raw, expected):
    data = b"UNB+UNOC:3+S+R+261120:0930+1'UNH+1+X:D:96A:UN'" + raw + b"UNT+3+1'UNZ+1+1'"
    ic = one(data)
    assert ic.messages[0].segments[1].get(4) == expected
    assert ic.ok


def test_release_before_an_ordinary_character_is_dropped():
    data = b"UNB+UNOC:3+S+R+261120:0930+1'UNH+1+X:D:96A:UN'FTX+AAI+++a?bc'UNT+3+1'UNZ+1+1'"
    assert one(data).messages[0].segments[1].get(4) == "abc"


def test_repetition_separator_syntax_4_default_and_una():
    v4 = b"UNB+UNOC:4+S+R+20261120:0930+1'UNH+1+X:D:96A:UN'COM+1:2*3:4'UNT+3+1'UNZ+1+1'"
    seg = one(v4).messages[0].segments[1]
    assert seg.elements == [Repeats([["1", "2"], ["3", "4"]])]
    assert seg.to_json() == ["COM", {"repeats": [["1", "2"], ["3", "4"]]}]
    v3 = v4.replace(b"UNOC:4", b"UNOC:3")
    assert one(v3).messages[0].segments[1].elements == [["1", "2*3", "4"]]
    una = b"UNA:+.?^'" + v3.replace(b"*", b"^")
    assert one(una).messages[0].segments[1].elements == [Repeats([["1", "2"], ["3", "4"]])]


def test_crlf_between_segments_and_lines_are_counted():
    data = BASIC.replace(b"'", b"'\r\n")
    ic = one(data)
    msg = ic.messages[0]
    assert [s.line for s in msg.segments] == [2, 3, 4, 5]
    assert msg.segments[1].offset == data.index(b"BGM")
    assert ic.ok


def test_hard_wrapped_file():
    flat = BASIC.replace(b"PO1", b"PO-LONG-NUMBER-0001")
    wrapped = b"\n".join(flat[i : i + 15] for i in range(0, len(flat), 15))
    ic = one(wrapped)
    assert ic.messages[0].segments[1].elements == ["220", "PO-LONG-NUMBER-0001", "9"]
    assert ic.ok


def test_utf8_bom_is_tolerated():
    ic = one(b"\xef\xbb\xbf" + BASIC)
    assert ic.ok and ic.header.offset == 3


def test_several_interchanges_each_with_its_own_una():
    second = b"UNA:|.? '" + BASIC.replace(b"+", b"|")
    ics, msgs = read_all(b"UNA:+.? '\n" + BASIC + b"\n" + second)
    assert len(ics) == 2 and len(msgs) == 2
    assert ics[1].delimiters.element == "|"
    assert msgs[1].segments[1].elements == ["220", "PO1", "9"]
    assert all(ic.ok for ic in ics)


@pytest.mark.parametrize("step", [1, 2, 7, 64])
def test_chunk_boundaries_anywhere(step):
    data = b"\xef\xbb\xbfUNA:+.? '\r\n" + BASIC.replace(b"PO1", b"P?'O?+1").replace(b"'", b"'\r\n")
    expected = one(data)
    got = [i for i in edifact.read(Trickle(data, step), keep=True) if isinstance(i, Interchange)]
    assert len(got) == 1
    assert [s.to_json() for s in got[0].messages[0].segments] == [s.to_json() for s in expected.messages[0].segments]
    assert [(s.line, s.offset) for s in got[0].messages[0].segments] == [
        (s.line, s.offset) for s in expected.messages[0].segments
    ]
    assert got[0].messages[0].segments[1].get(2) == "P'O+1"


# -- character sets ----------------------------------------------------------


def test_unoc_is_latin1():
    data = BASIC.replace(b"PO1", "Müller".encode("latin-1"))
    assert one(data).messages[0].segments[1].get(2) == "Müller"


def test_unoy_is_utf8():
    data = BASIC.replace(b"UNOC", b"UNOY").replace(b"PO1", "Łódź €".encode())
    assert one(data).messages[0].segments[1].get(2) == "Łódź €"


def test_unod_is_latin2():
    data = BASIC.replace(b"UNOC", b"UNOD").replace(b"PO1", "Łódź".encode("iso8859-2"))
    assert one(data).messages[0].segments[1].get(2) == "Łódź"


def test_unoa_with_utf8_bytes_is_read_with_a_warning():
    data = BASIC.replace(b"UNOC", b"UNOA").replace(b"PO1", "Grüße".encode())
    ic = one(data)
    assert ic.messages[0].segments[1].get(2) == "Grüße"
    [issue] = ic.all_issues()
    assert issue.code == "INVALID_CHARACTER" and not issue.is_error
    assert issue.location.segment == 3 and issue.location.tag == "BGM"
    assert ic.ok


def test_partner_override_for_unoc_declared_windows_1252():
    data = BASIC.replace(b"PO1", "“quoted” €5".encode("cp1252"))
    assert one(data).messages[0].segments[1].get(2) != "“quoted” €5"  # latin-1 reads C1 controls
    assert one(data, encoding="cp1252").messages[0].segments[1].get(2) == "“quoted” €5"


def test_unknown_charset_is_an_error_but_reading_goes_on():
    ic = one(BASIC.replace(b"UNOC", b"ABCD"))
    assert "CHARSET_UNKNOWN" in codes(ic)
    assert ic.messages[0].segments[1].get(2) == "PO1"


# -- envelope checks ----------------------------------------------------------


def test_all_envelope_errors_are_reported_with_positions():
    data = (
        b"UNB+UNOC:3+S+R+261120:0930+REF1'\n"
        b"UNG+ORDERS+S+R+261120:0930+G1+UN+D:96A'\n"
        b"UNH+1+ORDERS:D:96A:UN'\nBGM+220+PO1+9'\nUNT+9+2'\n"
        b"UNE+5+G2'\n"
        b"UNZ+7+REF2'\n"
    )
    ic = one(data)
    found = {i.code: i for i in ic.all_issues()}
    assert set(found) == {
        "MESSAGE_SEGMENT_COUNT_MISMATCH",
        "MESSAGE_REF_MISMATCH",
        "GROUP_COUNT_MISMATCH",
        "GROUP_REF_MISMATCH",
        "INTERCHANGE_COUNT_MISMATCH",
        "INTERCHANGE_REF_MISMATCH",
    }
    count = found["MESSAGE_SEGMENT_COUNT_MISMATCH"].location
    assert (count.line, count.tag, count.element, count.message_segment) == (5, "UNT", 1, 3)
    assert found["INTERCHANGE_REF_MISMATCH"].location.line == 7
    assert "REF2" in found["INTERCHANGE_REF_MISMATCH"].text and "REF1" in found["INTERCHANGE_REF_MISMATCH"].text
    assert found["GROUP_COUNT_MISMATCH"].info.contrl == "29"
    assert found["MESSAGE_SEGMENT_COUNT_MISMATCH"].info.ak5 == "4"


def test_unz_counts_groups_when_there_are_groups():
    data = (
        b"UNB+UNOC:3+S+R+261120:0930+1'UNG+ORDERS+S+R+261120:0930+G1+UN+D:96A'"
        b"UNH+1+ORDERS:D:96A:UN'UNT+2+1'UNH+2+ORDERS:D:96A:UN'UNT+2+2'UNE+2+G1'UNZ+1+1'"
    )
    ic = one(data)
    assert ic.ok, codes(ic)
    assert ic.groups[0].message_count == 2 and ic.groups[0].version == "D96A"
    assert [m.group is ic.groups[0] for m in ic.messages] == [True, True]


def test_missing_trailers():
    data = b"UNB+UNOC:3+S+R+261120:0930+1'UNG+ORDERS+S+R+1:1+G1'UNH+1+ORDERS:D:96A:UN'BGM+220'"
    ic = one(data)
    assert set(codes(ic)) == {"MESSAGE_TRAILER_MISSING", "GROUP_TRAILER_MISSING", "INTERCHANGE_TRAILER_MISSING"}
    missing = [i for i in ic.all_issues() if i.code == "INTERCHANGE_TRAILER_MISSING"][0]
    assert missing.location.tag == "BGM"  # the last segment read


def test_missing_unz_recovers_at_next_unb():
    ics, msgs = read_all(BASIC.replace(b"UNZ+1+REF1'", b"") + BASIC.replace(b"REF1", b"REF2"))
    assert [ic.control_ref for ic in ics] == ["REF1", "REF2"]
    assert codes(ics[0]) == ["INTERCHANGE_TRAILER_MISSING"] and ics[1].ok
    assert len(msgs) == 2


def test_data_after_unz():
    ic = one(BASIC + b"\n1r")
    [issue] = ic.all_issues()
    assert issue.code == "TRAILING_DATA" and "1r" in issue.text
    ic = one(BASIC + b"BGM+1'")
    assert codes(ic) == ["TRAILING_DATA"]


def test_segment_outside_a_message_and_bad_tags():
    data = BASIC.replace(b"UNH", b"XYZ+1'UNH").replace(b"BGM", b"b9M")
    ic = one(data)
    assert set(codes(ic)) == {"SEGMENT_OUTSIDE_ENVELOPE", "SEGMENT_TAG_INVALID"}
    bad = [i for i in ic.all_issues() if i.code == "SEGMENT_TAG_INVALID"][0]
    assert bad.location.message_segment == 2


def test_groups_mixed_with_messages_and_duplicate_refs():
    data = (
        b"UNB+UNOC:3+S+R+261120:0930+1'UNH+1+X:D:96A:UN'UNT+2+1'UNH+1+X:D:96A:UN'UNT+2+1'"
        b"UNG+X+S+R+1:1+G1'UNH+3+X:D:96A:UN'UNT+2+3'UNE+1+G1'UNZ+3+1'"
    )
    assert {"GROUPS_AND_MESSAGES_MIXED", "MESSAGE_REF_DUPLICATE"} <= set(codes(one(data)))


def test_unreadable_input_raises_with_a_location():
    with pytest.raises(EdiSyntaxError) as info:
        list(edifact.read(b"UNA:+.? 'FNB+UNOC:3+S+R+1:1+1'"))
    assert info.value.issue.code == "INTERCHANGE_HEADER_INVALID"
    assert info.value.issue.location.tag == "FNB"
    with pytest.raises(EdiSyntaxError) as info:
        list(edifact.read(b"UNA:+.?::'UNB'"))
    assert info.value.issue.code == "SEPARATOR_INVALID"


def test_truncated_unb():
    ic = one(b"UNB+UNOC'UNZ+0'")
    assert set(codes(ic)) == {"INTERCHANGE_HEADER_INVALID"}
    assert [i.location.element for i in ic.issues] == [1, 2, 3, 5]  # S001 version, sender, recipient, 0020


# -- writer -------------------------------------------------------------------


def message(ref: str, *segments: Segment, type_: str = "ORDERS") -> Message:
    return Message(type=type_, ref=ref, version="D96A", segments=list(segments), release=f"{type_}:D:96A:UN")


def test_writer_computes_counts_and_escapes():
    ic = edifact.interchange(
        "SENDER", "RECV", "77",
        [message("1", Segment("BGM", ["220", "PO+1:2'3?", "9"])), message("2", Segment("BGM", ["220", "B"]))],
        sender_qualifier="14", date="261120", time="0930",
    )
    data = edifact.write(ic)
    assert data == (
        b"UNB+UNOC:3+SENDER:14+RECV+261120:0930+77'"
        b"UNH+1+ORDERS:D:96A:UN'BGM+220+PO?+1?:2?'3??+9'UNT+3+1'"
        b"UNH+2+ORDERS:D:96A:UN'BGM+220+B'UNT+3+2'"
        b"UNZ+2+77'"
    )
    back = one(data)
    assert back.ok and back.messages[0].segments[1].get(2) == "PO+1:2'3?"


def test_writer_groups_and_una_for_custom_separators():
    ic = edifact.interchange("S", "R", "1", [], date="261120", time="0930")
    from gateway.model import Group

    g = Group(id="ORDERS", control_ref="G7", sender="S", recipient="R", version="D96A",
              header=Segment("UNG", []), messages=[message("1", Segment("BGM", ["220"]))])
    ic.groups.append(g)
    data = edifact.write(ic, delimiters=Delimiters("~", "|", "^", None, "#", "."), newline=True)
    assert data.startswith(b"UNA^|.# ~\nUNB|UNOC^3|S|R|261120^0930|1~\n")
    back = one(data)
    assert back.ok and back.groups[0].control_ref == "G7" and back.groups[0].message_count == 1


def test_writer_refuses_characters_the_charset_cannot_carry():
    ic = edifact.interchange("S", "R", "1", [message("1", Segment("NAD", ["BY", "", "", "Łódź"]))],
                             syntax_id="UNOC")
    with pytest.raises(EncodingError) as info:
        edifact.write(ic)
    assert info.value.issue.code == "UNENCODABLE_CHARACTER"
    assert info.value.issue.location.tag == "NAD" and info.value.issue.location.element == 4
    assert "Lódz".encode("latin-1") in edifact.write(ic, transliterate=True)  # only what UNOC lacks is folded
    ic.syntax_id = "UNOY"
    assert "Łódź".encode() in edifact.write(ic)


def test_writer_repeats_need_a_repetition_separator():
    ic = edifact.interchange("S", "R", "1", [message("1", Segment("COM", [Repeats(["a", "b"])]))],
                             syntax_version="4")
    data = edifact.write(ic)
    assert b"COM+a*b'" in data
    assert one(data).messages[0].segments[1].elements == [Repeats(["a", "b"])]
    ic.syntax_version = "3"
    with pytest.raises(EncodingError):
        edifact.write(ic)


def test_round_trip_of_a_read_interchange():
    first = one(BASIC.replace(b"PO1", b"P?'1"))
    again = one(edifact.write(first))
    assert [s.to_json() for s in again.messages[0].segments] == [s.to_json() for s in first.messages[0].segments]
    assert again.ok


def test_encoding_chosen_per_interchange_by_a_function():
    win = BASIC.replace(b"PO1", "“q”".encode("cp1252"))
    other = BASIC.replace(b"SENDER", b"OTHER").replace(b"PO1", "“q”".encode("cp1252"))
    chosen = []

    def per_sender(ic: Interchange) -> str | None:
        chosen.append(ic.sender)
        return "cp1252" if ic.sender == "SENDER" else None

    ics, msgs = read_all(win + other, encoding=per_sender)
    assert chosen == ["SENDER", "OTHER"]
    assert msgs[0].segments[1].get(2) == "“q”" and ics[0].charset == "cp1252"
    assert msgs[1].segments[1].get(2) != "“q”" and ics[1].charset == "latin-1"


def test_windows_1252_bytes_under_unoc_are_flagged():
    data = BASIC.replace(b"PO1", "“q”".encode("cp1252"))
    [issue] = one(data).all_issues()
    assert issue.code == "INVALID_CHARACTER" and "Windows-1252" in issue.text and not issue.is_error
    assert issue.location.tag == "BGM"
    assert one(data, encoding="cp1252").all_issues() == []
