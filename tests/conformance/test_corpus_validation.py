"""Content validation over the real documents in ``../shared/corpus``.

* Clean files (``edifact/``, ``x12/``) of the covered message types and
  versions have no content errors, except the real findings listed in
  FINDINGS: each was checked by hand against the directory and is a true
  deviation of that document from the standard.
* ``invalid/`` files whose fault is in the content (the MANIFEST note says
  what the source project's own negative test expects) give those findings.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gateway.syntax import parse
from gateway.validation.validator import definition_for, validate
from tests.helpers import CORPUS, needs_corpus

pytestmark = needs_corpus()

# file -> Counter of (code, segment tag): the real deviations of clean corpus files.
FINDINGS = {
    # BGM+351+Y02197250+700101: BGM03 is 1225 (message function, an..3), a date was written there
    "desadv_d96a_phpedifact_unoc1.edi": Counter({("ELEMENT_TOO_LONG", "BGM"): 1, ("ELEMENT_CODE_INVALID", "BGM"): 1}),
    # QTY+21:2:GBND (and PACK, SCHA): 6411 (measure unit qualifier) is an..3; the shop's own unit names
    "orders_d01b_ean010_phpedifact_600seg.edi": Counter({("ELEMENT_TOO_LONG", "QTY"): 123}),
    # a repetition test whose values are placeholders (AK302-R1, ...) in numeric and coded elements
    "997_5010_staedi_repetition_components.edi": None,
}

# invalid/ file -> (code, tag) findings that must be among what is found
EXPECTED = {
    # invalid per SyntaxNoteTests: PO1 P0607, PO4 C0506 and P0607
    "850_4010_ediengine_syntax_notes.edi": Counter({("ELEMENT_CONDITION_MISSING", "PO1"): 1,
                                                    ("ELEMENT_CONDITION_MISSING", "PO4"): 2}),
    # AK101 bad code / too long, AK402 non-numeric
    "997_5010_staedi_invalid_elements.edi": Counter({("ELEMENT_TOO_LONG", "AK1"): 1,
                                                     ("ELEMENT_NOT_NUMERIC", "AK4"): 1}),
    "997_5010_staedi_invalid_gs_ge.edi": Counter({("ELEMENT_TOO_LONG", "AK1"): 1}),
    # IK5 before AK1, AK101 too long, AK204/205 too many, IK501 'Q', second IK5 over its maximum
    "999_5010_staedi_invalid_structure.edi": Counter({("SEGMENT_OUT_OF_ORDER", "IK5"): 1, ("ELEMENT_TOO_LONG", "AK1"): 1,
                                                      ("ELEMENT_TOO_MANY", "AK2"): 1,
                                                      ("ELEMENT_CODE_INVALID", "IK5"): 1,
                                                      ("SEGMENT_TOO_MANY", "IK5"): 1}),
    # IMD text with unreleased ':' gives C273 more components than it has
    "orders_d01b_ean010_phpedifact_unreleased.edi": Counter({("COMPONENT_TOO_MANY", "IMD"): 1}),
}


def files(group: str) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in (CORPUS / group).iterdir() if p.is_file())


def findings(path: Path) -> tuple[Counter, int]:
    """The content errors of every covered message of ``path``, and how many messages were covered."""
    found: Counter = Counter()
    covered = 0
    for ic in parse(path.read_bytes()):
        for message in ic.messages:
            if definition_for(message) is None:
                continue
            covered += 1
            found.update((i.code, i.location.tag) for i in validate(message) if i.is_error)
    return found, covered


def covered_files() -> list[Path]:
    """The clean files with at least one message of a covered type and version."""
    return [p for p in files("edifact") + files("x12") if findings(p)[1]]


@pytest.mark.parametrize("path", covered_files(), ids=lambda p: p.name)
def test_clean_documents_have_no_content_errors(path: Path):
    found, covered = findings(path)
    expected = FINDINGS.get(path.name, Counter())
    if expected is None:  # a synthetic sample: only that it is judged at all
        assert found
        return
    assert +found == +expected


def test_enough_clean_documents_are_covered():
    assert len(covered_files()) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_documents_content_errors_are_found(name: str):
    found, covered = findings(CORPUS / "invalid" / name)
    assert covered
    missing = EXPECTED[name] - found
    assert not missing, f"not found: {dict(missing)}; found: {dict(found)}"


@pytest.mark.parametrize("path", files("edifact") + files("x12") + files("invalid"), ids=lambda p: p.name)
def test_the_fast_paths_find_what_the_exact_checks_find(path: Path):
    """On every real document: the compiled patterns never accept what the exact checks refuse."""
    from tests.unit.test_validation import _exact

    try:
        interchanges = parse(path.read_bytes())
    except Exception:  # noqa: BLE001 - a document the reader refuses has nothing to validate
        return
    for ic in interchanges:
        for message in ic.messages:
            if definition_for(message) is not None:
                fast = [(i.code, i.text, i.location) for i in validate(message)]
                assert fast == _exact(message), message.ref
