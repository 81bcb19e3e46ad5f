"""Partner implementation guides: loading (errors name file, line and key) and tightening."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.mapping.loader import check_partners
from gateway.mapping.targets import load_targets
from gateway.syntax import parse
from gateway.validation.guide import load_guides
from gateway.validation.validator import validate

ROOT = Path(__file__).resolve().parents[2]
ISA = ("ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMERETAIL     *240101*1200*U*00401*000000001*0*P*>~"
       "GS*PR*WIDGETSUPPLY*ACMERETAIL*20240101*1200*1*X*004010~")


def ack(*body: str):
    segs = ["ST*855*0001", *body]
    text = "".join(s + "~" for s in segs) + f"SE*{len(segs) + 1}*0001~"
    return parse((ISA + text + "GE*1*1~IEA*1*000000001~").encode())[0].messages[0]


def guide(tmp_path: Path, text: str):
    (tmp_path / "guides").mkdir(exist_ok=True)
    (tmp_path / "guides" / "p.yaml").write_text(text)
    errors: list[str] = []
    found = load_guides(tmp_path, errors)
    return found.get("acme-retail"), errors


BODY = ("BAK*00*AC*PO-1*20240101", "PO1*1*24*EA***VP*WS-1001", "PO1*2*6*CA*2.5**VP*WS-2040", "CTT*2")


def test_a_guide_makes_an_element_mandatory_restricts_codes_and_limits_repeats(tmp_path):
    g, errors = guide(tmp_path, """
partner: acme-retail
policy: accept
messages:
  - message: "855"
    elements:
      PO104: {mandatory: true}
      BAK02: {codes: [AD]}
      PO106: {max_length: 1}
    segments:
      PO1: {max: 1}
      REF: {mandatory: true}
""")
    assert errors == [] and g.policy == "accept"
    assert validate(ack(*BODY)) == []
    found = [(i.code, i.location.tag, i.location.element) for i in validate(ack(*BODY), g)]
    assert found == [
        ("ELEMENT_CODE_INVALID", "BAK", 2),
        ("SEGMENT_MISSING", "REF", None),
        ("ELEMENT_MISSING", "PO1", 4),
        ("ELEMENT_TOO_LONG", "PO1", 6),
        ("LOOP_TOO_MANY", "PO1", None),
        ("ELEMENT_TOO_LONG", "PO1", 6),
    ]


@pytest.mark.parametrize("text, message", [
    ("partner: acme-retail\npolicy: strict\n", ":2: policy: Input should be 'reject', 'accept' or 'ignore'"),
    ("partner: acme-retail\nmessages:\n  - message: '850'\n    colour: red\n",
     ":4: messages[0].colour: unknown key (check the spelling)"),
    ("partner: acme-retail\nmessages:\n  - message: '851'\n", ":3: messages[0].message: no definitions for message 851"),
    ("partner: acme-retail\nmessages:\n  - message: '855'\n    elements:\n      XYZ01: {mandatory: true}\n",
     ":5: messages[0].elements.XYZ01: segment XYZ is not part of 855"),
    ("partner: acme-retail\nmessages:\n  - message: '855'\n    elements:\n      BAK02: {codes: [QQ]}\n",
     ":5: messages[0].elements.BAK02: code(s) QQ are not in the standard's list for 587"),
    ("partner: acme-retail\nmessages:\n  - message: '855'\n    elements:\n      BAK03: {max_length: 99}\n",
     ":5: messages[0].elements.BAK03: max_length 99 is beyond the standard's 22 for 324"),
    ("partner: acme-retail\nmessages:\n  - message: '855'\n    elements:\n      REF04: {codes: [X]}\n",
     "REF04 is a composite: name a component"),
    ("partner: acme-retail\nmessages:\n  - message: '855'\n    segments:\n      BIG: {max: 2}\n",
     ":5: messages[0].segments.BIG: segment BIG is not part of 855"),
])
def test_guide_errors_name_file_line_and_key(tmp_path, text, message):
    g, errors = guide(tmp_path, text)
    assert g is None
    assert len(errors) == 1 and message in errors[0] and errors[0].startswith(str(tmp_path / "guides" / "p.yaml"))


def test_guides_are_attached_to_their_partners_and_checked_with_them(tmp_path):
    import shutil

    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    targets = load_targets(ROOT / "schemas")
    partners: list = []
    assert check_partners(tmp_path / "mappings", targets, partners) == []
    assert {p.id: p.guide is not None for p in partners}["acme-retail"] is True
    (tmp_path / "mappings" / "guides" / "x.yaml").write_text("partner: nobody\n")
    errors = check_partners(tmp_path / "mappings", targets)
    assert errors == [f"{tmp_path / 'mappings' / 'guides' / 'x.yaml'}:1: partner: no partner file defines 'nobody'"]
