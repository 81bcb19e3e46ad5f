"""What a partner's acknowledgement says is wrong, in words: its AK3/AK4, IK3/IK4 or UCS/UCD findings.

The codes read back are the partner's, from the standards' code lists: X12
720 (AK304/IK304, segment errors) and 723 (AK403/IK403, element errors), with
the 999's implementation codes (I4 ... I13), and EDIFACT 0085 (UCS/UCD). The
gateway's own catalogue (:mod:`gateway.codes`) goes the other way (our issue
to their code, several issues to one code), so the texts are listed here.
"""

from __future__ import annotations

from gateway.acks.report import Finding, Verdict

#: X12 720, segment syntax error code (AK304, IK304 in the 999).
X12_SEGMENT = {
    "1": "unrecognized segment ID", "2": "unexpected segment", "3": "mandatory segment missing",
    "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
    "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
    "8": "segment has data element errors",
    "I4": "implementation \"not used\" segment present", "I6": "implementation dependent segment missing",
    "I7": "implementation loop occurs under minimum times", "I8": "implementation segment below minimum use",
    "I9": "implementation dependent \"not used\" segment present",
}

#: X12 723, data element syntax error code (AK403, IK403 in the 999).
X12_ELEMENT = {
    "1": "mandatory data element missing", "2": "conditional required data element missing",
    "3": "too many data elements", "4": "data element too short", "5": "data element too long",
    "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date",
    "9": "invalid time", "10": "exclusion condition violated", "12": "too many repetitions",
    "13": "too many components",
    "I6": "code value not used in implementation", "I9": "implementation dependent data element missing",
    "I10": "implementation \"not used\" data element present", "I11": "implementation too few repetitions",
    "I12": "implementation pattern match failure",
    "I13": "implementation dependent \"not used\" data element present",
}

#: EDIFACT 0085, syntax error (UCS, UCD), the codes a CONTRL gives for segments and elements.
EDIFACT = {
    "12": "invalid value", "13": "missing", "14": "value not supported in this position",
    "15": "not supported in this position", "16": "too many constituents", "17": "no agreement",
    "18": "unspecified error", "19": "invalid decimal notation", "21": "invalid character(s)",
    "22": "invalid service segment tag", "32": "lower level empty",
    "35": "too many segment repetitions", "36": "too many segment group repetitions",
    "37": "invalid type of character(s)", "39": "data element too long", "40": "data element too short",
}


def reason(kind: str, finding: Finding) -> str:
    """One finding of a ``kind`` acknowledgement (997, 999, CONTRL) in words, with where it points.

    ``997`` ``AK4 ACK at segment 6, element 4: I6 (code value not used in implementation), value 068``;
    ``CONTRL`` ``UCD at segment 14, element 2: 14 (value not supported in this position)``.
    """
    element = finding.element is not None
    if kind == "CONTRL":
        name, texts = ("UCD" if element else "UCS"), EDIFACT
    else:
        prefix = "IK" if kind == "999" else "AK"
        name, texts = (f"{prefix}4" if element else f"{prefix}3"), (X12_ELEMENT if element else X12_SEGMENT)
    where = f"{name} {finding.tag} at segment {finding.position}" if finding.tag else \
        f"{name} at segment {finding.position}"
    if element:
        where += f", element {finding.element}"
        if finding.component is not None:
            where += f".{finding.component}"
    text = texts.get(finding.code)
    said = f"{finding.code} ({text})" if text else finding.code
    return f"{where}: {said}" + (f", value {finding.value}" if finding.value else "")


def verdict_details(kind: str, verdict: Verdict) -> dict:
    """What an outbound document's record keeps of the verdict that answers it (JSON-ready)."""
    out: dict = {}
    if verdict.codes:
        out["codes"] = list(verdict.codes)
    if verdict.findings:
        out["findings"] = [f.to_json() for f in verdict.findings]
        out["reasons"] = [reason(kind, f) for f in verdict.findings]
    return out
