"""Conformance over real documents from public projects (``../shared/corpus``).

Runs when the corpus folder sits beside the repository (it does in CI). The
files are read where they are and never copied into the project.

* ``edifact/``, ``x12/``, ``xml/``: every file reads with no error, and every
  envelope trailer's count and reference matches what was read.
* ``invalid/``: each file gives the issue its MANIFEST note describes. A few
  files are invalid only against message dictionaries, code lists or XSDs
  (a misspelled segment tag, too many elements in a BGM, a bad code value);
  the syntax layer does not carry those dictionaries, so for them the test
  asserts only that reading ends cleanly, and says why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.errors import EdiSyntaxError
from gateway.model import Interchange
from gateway.syntax import parse
from tests.helpers import CORPUS, needs_corpus

pytestmark = needs_corpus()


def files(group: str) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in (CORPUS / group).iterdir() if p.is_file())


def manifest_names() -> set[str]:
    text = (CORPUS / "MANIFEST.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9]+/[^`]+)`", text, flags=re.M))


def test_every_manifest_file_is_covered():
    listed = manifest_names()
    on_disk = {f"{g}/{p.name}" for g in ("edifact", "x12", "xml", "invalid") for p in files(g)}
    assert on_disk == listed
    assert {f"invalid/{name}" for name in INVALID} == {n for n in listed if n.startswith("invalid/")}


def _check_counts(ic: Interchange) -> None:
    """The trailers say exactly what was read (independent of the reader's own issues)."""
    if ic.syntax == "xml":
        assert len(ic.messages) == 1
        return
    assert ic.trailer is not None, "interchange trailer missing"
    expected = len(ic.groups) if ic.groups else len(ic.messages)
    assert int(ic.trailer.get(1)) == expected
    assert ic.trailer.get(2) == ic.control_ref
    for group in ic.groups:
        assert group.trailer is not None
        assert int(group.trailer.get(1)) == len(group.messages) == group.message_count
        assert group.trailer.get(2) == group.control_ref
    for msg in ic.messages:
        trailer = msg.segments[-1]
        assert trailer.tag in ("UNT", "SE")
        assert int(trailer.get(1)) == len(msg.segments)
        assert trailer.get(2) == msg.ref


@pytest.mark.parametrize("path", files("edifact") + files("x12") + files("xml"), ids=lambda p: p.name)
def test_valid_documents_read_cleanly(path: Path):
    interchanges = parse(path.read_bytes())
    assert interchanges
    for ic in interchanges:
        errors = [str(i) for i in ic.all_issues() if i.is_error]
        assert errors == []
        _check_counts(ic)
        assert ic.messages, "no message was read"
    expected_syntax = path.parent.name
    assert {ic.syntax for ic in interchanges} == {expected_syntax}


# name -> codes the MANIFEST note implies (all must be reported), or a reason
# string when the fault is beyond the syntax layer (dictionary-level).
DICTIONARY = "dictionary-level: "
INVALID: dict[str, set[str] | str] = {
    "000_5010_staedi_bin01_nonnumeric.edi": {"BINARY_LENGTH_INVALID"},
    "204_4010_edinet_se_count.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "270_4010_imsweb_envelope_mismatch.txt": {
        "MESSAGE_SEGMENT_COUNT_MISMATCH", "MESSAGE_REF_MISMATCH", "INTERCHANGE_REF_MISMATCH",
    },
    "275_5010_staedi_bin01_wrong_length.edi": {"BINARY_LENGTH_INVALID"},
    "810_2040_edifabric_bad_isa_tag.edi": {"NOT_EDI"},
    "810_2040_edifabric_bad_segment_tag.edi": DICTIONARY + "NTE misspelled FTE is a well-formed tag",
    "810_2040_edifabric_garbage_after_iea.edi": {"TRAILING_DATA"},
    "810_2040_edifabric_missing_ge.edi": {"GROUP_TRAILER_MISSING"},
    "810_2040_edifabric_missing_iea.edi": {"INTERCHANGE_TRAILER_MISSING"},
    "810_2040_edifabric_too_many_elements.edi": DICTIONARY + "REF's maximum element count",
    "835_4010_pyx12_bad_header_looping.txt": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "835_5010_tastypackets_isa_iea_mismatch.edi": {"INTERCHANGE_REF_MISMATCH"},
    "837i_4010_pyx12_trailer_errors.txt": {
        "MESSAGE_SEGMENT_COUNT_MISMATCH", "GROUP_REF_MISMATCH", "INTERCHANGE_COUNT_MISMATCH",
        "INTERCHANGE_REF_MISMATCH",
    },
    "837i_4010_pyx12_trailing_separators.txt": {"TRAILING_SEPARATOR"},
    "837p_4010_pyx12_bad_elements.txt": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "837p_4010_pyx12_no_iea.txt": {"INTERCHANGE_TRAILER_MISSING", "MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "837p_4010_pyx12_truncated_after_st.txt": {
        "MESSAGE_TRAILER_MISSING", "GROUP_TRAILER_MISSING", "INTERCHANGE_TRAILER_MISSING",
    },
    "837p_5010_imsweb_no_isa.txt": {"NOT_EDI"},
    "837p_5010_imsweb_short_isa.txt": {"INTERCHANGE_HEADER_INVALID"},
    "850_4010_ediengine_syntax_notes.edi": DICTIONARY + "PO1/PO4 paired-element syntax notes",
    "940_4010_ediengine_control_mismatch.edi": {
        "INTERCHANGE_REF_MISMATCH", "GROUP_REF_MISMATCH", "MESSAGE_REF_MISMATCH",
    },
    "940_4010_ediengine_iea_unpadded.edi": {"INTERCHANGE_REF_MISMATCH"},
    "940_4010_ediengine_se01_wrong.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "940_4010_ediengine_wrong_counts.edi": {
        "INTERCHANGE_COUNT_MISMATCH", "GROUP_COUNT_MISMATCH", "INTERCHANGE_REF_MISMATCH",
    },
    "997_5010_staedi_invalid_elements.edi": DICTIONARY + "AK101/AK402 code values and lengths",
    "997_5010_staedi_invalid_gs_ge.edi": {"ELEMENT_DATE_INVALID", "ELEMENT_TIME_INVALID", "GROUP_REF_MISMATCH"},
    "999_5010_staedi_invalid_structure.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "aperak_d96a_pydifact_v3_accepted.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "aperak_d96a_pydifact_v3_rejected.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "aperak_d96a_pydifact_v4_accepted.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "aperak_d96a_pydifact_v4_rejected.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "infent_d00b_edinet_unol_ung.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "invoic_d00a_edifabric_bad_segment_tag.edi": DICTIONARY + "BGM misspelled BGL is a well-formed tag",
    "invoic_d00a_edifabric_bad_unb_tag.edi": {"NOT_EDI"},
    "invoic_d00a_edifabric_garbage_after_unz.edi": {"TRAILING_DATA"},
    "invoic_d00a_edifabric_missing_une.edi": {"GROUP_TRAILER_MISSING"},
    "invoic_d00a_edifabric_missing_unz.edi": {"INTERCHANGE_TRAILER_MISSING"},
    "invoic_d00a_edifabric_too_many_elements.edi": DICTIONARY + "BGM's maximum element count",
    "invoic_d00a_edifabric_two_groups.edi": {
        "INTERCHANGE_COUNT_MISMATCH", "INTERCHANGE_REF_MISMATCH", "GROUP_REF_MISMATCH", "MESSAGE_REF_DUPLICATE",
    },
    "invoic_d00a_edifabric_two_messages.edi": {
        "INTERCHANGE_COUNT_MISMATCH", "INTERCHANGE_REF_MISMATCH", "MESSAGE_REF_DUPLICATE",
    },
    "invoic_d03b_smooks_una_unoc4.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "invoic_d97b_staedi_bad.edi": DICTIONARY + "NAD/QTY/PRI value formats and UNS position",
    "medrpt_pydifact_ansi1_crlf_latin1.edi": {"CHARSET_UNKNOWN", "INTERCHANGE_REF_MISMATCH"},
    "nonedi_ediengine.edi": {"NOT_EDI"},
    "orders_d01b_ean010_phpedifact_unreleased.edi": DICTIONARY + "IMD's maximum component count",
    "orders_d03b_smooks_dtm_overflow.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "orders_d96a_ean008_pydifact_no_unz.edi": {"INTERCHANGE_TRAILER_MISSING"},
    "orders_d96a_pydifact_wikipedia_de.edi": {"INTERCHANGE_REF_MISMATCH"},
    "orders_d96b_ean008_staedi_ung.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "ordrsp_d10a_edinet_single_line.edi": {
        "INTERCHANGE_REF_MISMATCH", "MESSAGE_SEGMENT_COUNT_MISMATCH", "MESSAGE_REF_MISMATCH",
    },
    "paxlst_d03b_smooks_rff_repeat.edi": {"MESSAGE_SEGMENT_COUNT_MISMATCH"},
    "ta1_4010_uhin_short_isa.txt": {"INTERCHANGE_HEADER_INVALID", "INTERCHANGE_COUNT_MISMATCH"},
    "ubl20_order_bad_code.xml": DICTIONARY + "a code-list (schematron) rule",
    "ubl20_order_bad_model.xml": DICTIONARY + "the UBL XSD, which the corpus does not ship",
    "ubl20_order_bad_syntax.xml": {"XML_MALFORMED"},
}


def found_codes(path: Path) -> set[str]:
    try:
        interchanges = parse(path.read_bytes())
    except EdiSyntaxError as exc:
        return {i.code for i in exc.issues}
    return {i.code for ic in interchanges for i in ic.all_issues()}


@pytest.mark.parametrize("path", files("invalid"), ids=lambda p: p.name)
def test_invalid_documents_give_the_noted_error(path: Path):
    expected = INVALID[path.name]
    codes = found_codes(path)  # never raises anything but EdiSyntaxError
    if isinstance(expected, str):
        assert expected.startswith(DICTIONARY)
        return
    missing = expected - codes
    assert not missing, f"expected {sorted(expected)}, found {sorted(codes)}"


def test_errors_name_a_position():
    """Every issue found over the invalid corpus says where it is."""
    unplaced = []
    for path in files("invalid"):
        try:
            interchanges = parse(path.read_bytes())
        except EdiSyntaxError as exc:
            issues = list(exc.issues)
        else:
            issues = [i for ic in interchanges for i in ic.all_issues()]
        unplaced += [f"{path.name}: {i}" for i in issues if i.location.line is None and i.location.offset is None]
    assert unplaced == []
