"""Content validation inbound: the pipeline stage, the partner's policy, the acknowledgements
(997 AK3/AK4, 999 IK3/IK4, CONTRL UCS/UCD) and what the status API shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.inbound.intake import Intake
from gateway.sinks.memory import MemorySink
from gateway.state.base import FAILED, PUBLISHED
from gateway.state.sqlite import SqliteStore
from gateway.syntax import parse

ROOT = Path(__file__).resolve().parents[2]
PO = (ROOT / "samples/x12/850_4010.x12").read_bytes()
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
# BEG02 'KN' is not in ACME's guide; PO1*2 loses its quantity, which ACME's guide makes mandatory
BAD_PO = PO.replace(b"BEG*00*SA*", b"BEG*00*KN*").replace(b"PO1*2*6*", b"PO1*2**")


def setup(tmp_path: Path, policy: str | None = "reject", functional: str = "997"):
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    guide = mappings / "guides" / "acme-retail.yaml"
    if policy is None:
        guide.unlink()
    else:
        guide.write_text(guide.read_text().replace("policy: reject", f"policy: {policy}"))
    partner = mappings / "acme-retail.yaml"
    if functional != "997":
        partner.write_text(partner.read_text() + f"acknowledgements:\n  functional: \"{functional}\"\n")
    parts = build(GatewayConfig(mappings=mappings, schemas=ROOT / "schemas"), sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    return Intake(LocalArchive(tmp_path / "archive"), store, parts.pipeline), parts


def acknowledgement(intake: Intake, receipt_id: str, kind: str):
    [doc] = [d for d in intake.store.find_outbound(receipt_id=receipt_id) if d.kind == kind]
    [ic] = parse(intake.archive.path(doc.raw_ref).read_bytes())
    return doc, [s.to_json() for m in ic.messages for s in m.segments]


def test_reject_dead_letters_the_message_and_the_997_rejects_it_with_ak3_ak4(tmp_path):
    intake, parts = setup(tmp_path, "reject")
    receipt = intake.take(BAD_PO, channel="sftp")
    outcome = intake.process(receipt)
    assert outcome.published == 0
    [dead] = outcome.dead_letters
    r = dead.record
    assert (r["stage"], r["reason_code"], r["partner_id"]) == ("validation", "ELEMENT_CODE_INVALID", "acme-retail")
    assert "BEG02" in r["error"] and "(and 2 more error(s))" in r["error"] and r["position"]
    parts.schemas.validate("DeadLetter", r)
    _, segments = acknowledgement(intake, receipt.id, "997")
    body = [s for s in segments if s[0] in ("AK2", "AK3", "AK4", "AK5")]
    # AK4 of PO1: PO102 missing (ACME's guide: mandatory, 1) and required by PO103 (C0302: 2)
    assert body == [["AK2", "850", "0001"], ["AK3", "BEG", "2", "", "8"], ["AK4", "2", "", "7", "KN"],
                    ["AK3", "PO1", "10", "", "8"], ["AK4", "2", "", "1"], ["AK4", "2", "", "2"], ["AK5", "R", "5"]]
    done = intake.store.get_receipt(receipt.id)
    assert done.status == FAILED
    assert [f["code"] for f in done.details["findings"]][:2] == ["ELEMENT_CODE_INVALID", "ELEMENT_MISSING"]
    assert done.details["errors"][0]["stage"] == "validation"


def test_accept_publishes_and_acknowledges_with_errors(tmp_path):
    intake, parts = setup(tmp_path, "accept")
    # BEG02 'KN' (ACME's guide), CTT03 weight without its unit CTT04 (P0304): nothing the mapping reads
    receipt = intake.take(PO.replace(b"BEG*00*SA*", b"BEG*00*KN*").replace(b"CTT*2~", b"CTT*2**12~"),
                          channel="sftp")
    outcome = intake.process(receipt)
    assert outcome.published == 1 and outcome.dead_letters == []
    _, segments = acknowledgement(intake, receipt.id, "997")
    assert ["AK3", "BEG", "2", "", "8"] in segments and ["AK4", "2", "", "7", "KN"] in segments
    assert [s for s in segments if s[0] in ("AK5", "AK9")] == [["AK5", "E", "5"], ["AK9", "E", "1", "1", "1"]]
    done = intake.store.get_receipt(receipt.id)
    assert done.status == PUBLISHED
    findings = done.details["findings"]
    assert {f["severity"] for f in findings} == {"warning"} and findings[0]["message_ref"] == "0001"


def test_the_999_carries_ik3_ik4(tmp_path):
    intake, _ = setup(tmp_path, "reject", functional="999")
    receipt = intake.take(BAD_PO, channel="sftp")
    intake.process(receipt)
    _, segments = acknowledgement(intake, receipt.id, "999")
    assert ["IK3", "BEG", "2", "", "8"] in segments and ["IK4", "2", "", "7", "KN"] in segments
    assert ["IK5", "R", "5"] in segments


def test_ignore_does_not_look_and_the_mapping_still_guards_values(tmp_path):
    intake, _ = setup(tmp_path, "ignore")
    outcome = intake.process(intake.take(PO.replace(b"BEG*00*SA*", b"BEG*00*KN*"), channel="sftp"))
    assert outcome.published == 1 and outcome.findings == []
    bad = PO.replace(b"BEG*00*SA*PO-88231**20261120", b"BEG*00*SA*PO-88231**2026112X").replace(b"000000905", b"000000907")
    outcome = intake.process(intake.take(bad, channel="sftp"))
    [dead] = outcome.dead_letters
    assert (dead.record["stage"], dead.record["reason_code"]) == ("mapping", "MAPPING_VALUE_INVALID")


def test_a_partner_without_a_guide_is_held_to_the_standard(tmp_path):
    intake, _ = setup(tmp_path, None)
    outcome = intake.process(intake.take(BAD_PO, channel="sftp"))
    [dead] = outcome.dead_letters  # PO1*2**EA: PO103 without PO102 (C0302); BEG02 KN is a standard code
    assert (dead.record["stage"], dead.record["reason_code"]) == ("validation", "ELEMENT_CONDITION_MISSING")
    assert intake.process(intake.take(PO.replace(b"000000905", b"000000906"), channel="sftp")).published == 1


def test_contrl_reports_edifact_findings_in_ucs_ucd(tmp_path):
    intake, _ = setup(tmp_path)
    # QTY's quantity is not numeric; UNB asks for a CONTRL (0031 = 1)
    bad = ORDERS.replace(b"QTY+21:12:PCE", b"QTY+21:1X:PCE")
    assert b"+ORD000123++ORDERS'" in bad
    receipt = intake.take(bad.replace(b"+ORD000123++ORDERS'", b"+ORD000123++ORDERS++1'"), channel="http")
    outcome = intake.process(receipt)
    assert outcome.dead_letters[0].record["reason_code"] == "ELEMENT_NOT_NUMERIC"
    _, segments = acknowledgement(intake, receipt.id, "CONTRL")
    ucm = [s for s in segments if s[0] == "UCM"]
    assert ucm and ucm[0][3] == "4"  # rejected
    [ucs] = [s for s in segments if s[0] == "UCS"]
    [ucd] = [s for s in segments if s[0] == "UCD"]
    assert ucs[1] == "13"  # the QTY, 13th segment of the message
    assert ucd[1:] == ["37", ["2", "2"]]  # 0085 37 (invalid type of characters), C186's second component


@pytest.mark.parametrize("policy", ["reject", "accept"])
def test_valid_documents_pass_whatever_the_policy(tmp_path, policy):
    intake, _ = setup(tmp_path, policy)
    outcome = intake.process(intake.take(PO, channel="sftp"))
    assert outcome.published == 1 and outcome.findings == [] and outcome.dead_letters == []


def test_contrl_accepts_with_the_findings_listed_when_the_policy_accepts(tmp_path):
    intake, _ = setup(tmp_path)
    (tmp_path / "mappings" / "guides" / "brasserie.yaml").write_text("partner: brasserie-du-parc\npolicy: accept\n")
    parts = build(GatewayConfig(mappings=tmp_path / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    intake = Intake(LocalArchive(tmp_path / "archive2"), SqliteStore(tmp_path / "state2.db"), parts.pipeline)
    bad = ORDERS.replace(b"BGM+220+PO-45001+9", b"BGM+220+PO-45001+999")  # 1225 is an..3 and coded
    receipt = intake.take(bad.replace(b"+ORD000123++ORDERS'", b"+ORD000123++ORDERS++1'"), channel="http")
    outcome = intake.process(receipt)
    assert outcome.published == 1 and outcome.dead_letters == []
    _, segments = acknowledgement(intake, receipt.id, "CONTRL")
    assert [s for s in segments if s[0] in ("UCM", "UCS", "UCD")] == [
        ["UCM", "1", ["ORDERS", "D", "96A", "UN", "EAN008"], "7"], ["UCS", "2"], ["UCD", "12", "4"]]
