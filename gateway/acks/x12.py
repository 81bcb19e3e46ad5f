"""X12 acknowledgements: TA1 (interchange), 997 and 999 (functional groups).

Layouts, as written here (element positions after the tag):

    TA1  01 ISA13 answered  02 ISA09  03 ISA10  04 A/E/R  05 note code (I18)
    AK1  01 GS01  02 GS06  [03 GS08: 999 only]
    AK2  01 ST01  02 ST02  [03 ST03: 999 only, when the set had one]
    AK3  01 segment tag  02 position in the set (ST = 1)  03 (loop id, unused)  04 code (720)
    AK4  01 position: element[:component[:repetition]]  02 (element ref., unused)  03 code (723)  04 bad value
    AK5  01 A/E/R  02-06 codes (717)
    AK9  01 A/E/P/R  02 sets included (GE01)  03 received  04 accepted  05-09 codes (716)

The 999 (005010X231) is the same with IK3, IK4 and IK5 in place of AK3, AK4
and AK5; the codes come from the same catalogue fields (the 999's code lists
extend the 997's).

Every acknowledgement is an interchange of its own: the received ISA05/06
and ISA07/08 swapped, GS02/GS03 swapped, ISA13/GS06/ST02 from the control
number source, the received delimiters where they can be written, ISA14 = 0
(an acknowledgement is never acknowledged) and ISA15 as received.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import BinaryIO

from gateway.acks.judge import Judged, JudgedList, Streamed as _Segments, judge_envelope
from gateway.acks.report import (
    ACCEPTED, GROUP, INTERCHANGE, MESSAGE, PARTIAL, REJECTED, WITH_ERRORS,
    Acknowledgement, AckReport, Finding, Verdict, roll_up, spooled,
)
from gateway.acks.settings import AckSettings
from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import Delimiters, Group, Interchange, Issue, Message, Segment
from gateway.syntax import x12 as syntax

Numbers = Callable[[str], int]

# The status words as X12 writes them (TA104, AK501/IK501, AK901).
TA104 = {ACCEPTED: "A", WITH_ERRORS: "E", REJECTED: "R"}
AK501 = TA104
AK901 = {**TA104, PARTIAL: "P"}
NO_ERROR = "000"  # TA105 when the envelope is sound
FUNCTIONAL_ACK_GROUP = "FA"  # GS01 of a group of 997s or 999s
# ...and back; M, W and X (MAC, assurance, decryption failures) are rejections too.
_FROM_TA104 = {"A": ACCEPTED, "E": WITH_ERRORS, "R": REJECTED}
_FROM_AK501 = {**_FROM_TA104, "M": REJECTED, "W": REJECTED, "X": REJECTED}
_FROM_AK901 = {**_FROM_AK501, "P": PARTIAL}

_DEFAULT_VERSION = "00401"


# -- building ---------------------------------------------------------------


def build(ic: Interchange, sets: Sequence[Judged], settings: AckSettings, numbers: Numbers,
          now: datetime) -> list[Acknowledgement]:
    """The TA1 and the 997/999 for a received X12 interchange, as the settings ask."""
    out = []
    envelope = judge_envelope(ic.issues, "x12", INTERCHANGE)
    if settings.ta1 == "always" or (settings.ta1 == "on-request" and (ic.ack_requested or envelope.noted)):
        accepted_any = any(s.status != REJECTED for s in sets)
        if envelope.failed and not accepted_any:
            status = REJECTED
        else:
            status = WITH_ERRORS if envelope.noted else ACCEPTED
        out.append(ta1(ic, status, envelope.codes[0] if envelope.codes else None, numbers, now))
    # Acknowledgements are never acknowledged: groups of 997s and 999s (GS01 FA) get no 997.
    groups = [g for g in ic.groups if g.id != FUNCTIONAL_ACK_GROUP]
    if settings.functional != "none" and groups:
        out.append(_functional(ic, groups, sets, settings, numbers, now))
    return out


def ta1(ic: Interchange, status: str, code: str | None, numbers: Numbers, now: datetime) -> Acknowledgement:
    """A TA1 answering interchange ``ic`` with ``status`` and note ``code`` (None: no error)."""
    ack = _envelope(ic, _version(ic.syntax_id), numbers, now)
    note = code or NO_ERROR
    ack.control_segments.append(Segment("TA1", [ic.control_ref, ic.date, ic.time, TA104[status], note]))
    verdict = Verdict(INTERCHANGE, ic.control_ref, status, codes=(code,) if code else ())
    return Acknowledgement("TA1", ack.control_ref, ic.control_ref, status, (verdict,), content=_write(ack))


def reject_interchange(ic: Interchange, issue: Issue, settings: AckSettings, numbers: Numbers,
                       now: datetime) -> list[Acknowledgement]:
    """A TA1 rejecting the whole interchange for ``issue`` alone (a duplicate: note code 025),
    and no 997/999: its groups were answered when it first came. Unless TA1s are never sent."""
    if settings.ta1 == "never":
        return []
    return [ta1(ic, REJECTED, issue.info.ta1, numbers, now)]


def _version(isa12: str) -> str:
    isa12 = (isa12 or "").strip()
    return isa12 if len(isa12) == 5 and isa12.isascii() and isa12.isdigit() else _DEFAULT_VERSION


def _delimiters(ic: Interchange, version: str) -> Delimiters:
    """The received service characters when they can be written, else the usual ones."""
    d = ic.delimiters
    chars = [d.segment, d.element, d.component, d.repetition or ""] if d is not None else []
    if d is None or not all(len(c) <= 1 and c.isascii() for c in chars):
        return syntax.choose_delimiters(version)
    if version >= "00402" and d.repetition is None:  # ISA11 must then be a repetition separator
        free = next(c for c in "^{|!" if c not in (d.segment, d.element, d.component))
        return Delimiters(d.segment, d.element, d.component, free)
    return Delimiters(d.segment, d.element, d.component, d.repetition)


def _envelope(ic: Interchange, version: str, numbers: Numbers, now: datetime) -> Interchange:
    """An empty interchange going back to the sender of ``ic`` (takes an ISA13)."""
    return Interchange(
        syntax="x12",
        sender=ic.recipient,
        recipient=ic.sender,
        sender_qualifier=ic.recipient_qualifier,
        recipient_qualifier=ic.sender_qualifier,
        control_ref=f"{numbers('ISA13'):09d}",
        date=now.strftime("%y%m%d"),
        time=now.strftime("%H%M"),
        syntax_id=version,
        test=ic.test,
        ack_requested=False,
        delimiters=_delimiters(ic, version),
    )


def _write(ack: Interchange) -> BinaryIO:
    return spooled(syntax.write_to, ack, delimiters=ack.delimiters)


def _group_version(group: Group, isa12: str) -> str:
    version = group.version.strip()
    return version if version else isa12 + "0"  # "00401" -> "004010"


def _included(group: Group, received: int) -> int:
    """GE01 as the sender wrote it, or the count received when GE01 is missing or not a number."""
    if group.trailer is not None:
        value = group.trailer.get(1).strip()
        if value.isascii() and value.isdigit():
            return int(value)
    return received


def _functional(ic: Interchange, groups: list[Group], sets: Sequence[Judged], settings: AckSettings,
                numbers: Numbers, now: datetime) -> Acknowledgement:
    """One interchange with a 997 (or 999) per received group.

    The 997s are grouped in one GS*FA per received version and sender/recipient
    pair, since GS08 says which version a 997 is written in.
    """
    kind = settings.functional
    is_999 = kind == "999"
    isa12 = _version(ic.syntax_id)
    version = max(isa12, "00501") if is_999 else isa12
    ack = _envelope(ic, version, numbers, now)
    buckets: dict[tuple[str, str, str], list[Group]] = {}
    for group in groups:
        gs08 = settings.implementation_999 if is_999 else _group_version(group, isa12)
        buckets.setdefault((gs08, group.recipient, group.sender), []).append(group)
    by_group: dict[int, JudgedList] = {}
    for judged in sets:
        by_group.setdefault(id(judged.group), JudgedList()).append(judged)
    verdicts: list[Verdict] = []
    group_statuses: list[str] = []
    listed = [0, 0]  # message verdicts kept (at most AckReport.LIST_LIMIT), message verdicts in all
    for (gs08, gs02, gs03), members in buckets.items():
        gs06 = str(numbers("GS06"))
        messages = []
        for group in members:
            st02 = f"{numbers('ST02'):04d}"
            header = Segment("ST", [kind, st02, gs08] if is_999 else [kind, st02])
            # the body is written as it is made (AK2/AK5 of 400,000 sets are never all in memory);
            # the group's verdict and status are known once it has been written
            body = _answer_group(group, _group_version(group, isa12), by_group.get(id(group), JudgedList()),
                                 settings, ack.delimiters, with_repetition=gs08 >= "005010", verdicts=verdicts,
                                 statuses=group_statuses, listed=listed)
            messages.append(Message(kind, st02, gs08, _Segments(header, body)))
        gs = Segment("GS", [FUNCTIONAL_ACK_GROUP, gs02, gs03, now.strftime("%Y%m%d"), now.strftime("%H%M"), gs06,
                            "X", gs08])
        ack.groups.append(Group(FUNCTIONAL_ACK_GROUP, gs06, gs02, gs03, gs08, gs, interchange=ack, messages=messages,
                                message_count=len(messages)))
    content = _write(ack)  # the verdicts are complete once the body has been written
    return Acknowledgement(kind, ack.control_ref, ic.control_ref, roll_up(group_statuses), tuple(verdicts),
                           message_total=listed[1], content=content)


def _answer_group(group: Group, version: str, sets: JudgedList, settings: AckSettings, delimiters: Delimiters,
                  *, with_repetition: bool, verdicts: list[Verdict], statuses: list[str],
                  listed: list[int]):
    """AK1 .. AK9 for one received group (of GS08 ``version``), one at a time; the group's verdict,
    then those of its sets (the first AckReport.LIST_LIMIT of the acknowledgement), go on
    ``verdicts`` and its status on ``statuses`` once the AK9 has been made."""
    is_999 = settings.functional == "999"
    seg3, seg4, seg5 = ("IK3", "IK4", "IK5") if is_999 else ("AK3", "AK4", "AK5")
    yield Segment("AK1", [group.id, group.control_ref, version] if is_999 else [group.id, group.control_ref])
    set_verdicts = []
    limit = AckReport.LIST_LIMIT
    accepted_ak5 = [AK501[ACCEPTED]]
    for judged in sets:
        if settings.detail == "errors" and judged.status == ACCEPTED:
            continue
        findings = tuple(_sendable(f, delimiters, with_repetition) for f in judged.findings)
        ak2 = [judged.type, judged.ref]
        if is_999 and judged.identifier:
            ak2.append(judged.identifier[0])
        yield Segment("AK2", ak2)
        for f in findings:
            if f.element is None:
                yield Segment(seg3, [f.tag, str(f.position), "", f.code])
            else:
                where = [str(f.element), str(f.component or "")]
                if f.repetition is not None:
                    where.append(str(f.repetition))
                yield Segment(seg4, [where if any(where[1:]) else where[0], "", f.code, f.value])
        codes = judged.codes[:5]
        yield Segment(seg5, [AK501[judged.status], *codes] if codes or judged.status != ACCEPTED else accepted_ak5)
        listed[1] += 1
        if listed[0] < limit:
            listed[0] += 1
            set_verdicts.append(Verdict(MESSAGE, judged.ref, judged.status, judged.type, group.control_ref,
                                        codes, findings))
    own = judge_envelope(group.issues, "x12", GROUP)
    received = len(sets)
    accepted = sum(1 for s in sets if s.status != REJECTED)
    counts = (_included(group, received), received, accepted)
    status = roll_up(sets.statuses(), failed=own.failed, noted=own.noted)
    codes = own.codes[:5]
    yield Segment("AK9", [AK901[status], *map(str, counts), *codes])
    verdicts.append(Verdict(GROUP, group.control_ref, status, group.id, codes=codes, counts=counts))
    verdicts.extend(set_verdicts)
    statuses.append(status)


def _sendable(finding: Finding, delimiters: Delimiters, with_repetition: bool) -> Finding:
    """The finding as the acknowledgement can carry it: C030 has a repetition
    position only from 005010 on, and a tag or bad value holding one of the
    acknowledgement's own service characters cannot be copied."""
    service = [c for c in (delimiters.segment, delimiters.element, delimiters.component, delimiters.repetition) if c]
    tag, value = (text if not any(c in text for c in service) else "" for text in (finding.tag, finding.value))
    repetition = finding.repetition if with_repetition else None
    if (tag, value, repetition) != (finding.tag, finding.value, finding.repetition):
        return Finding(finding.code, finding.position, tag, finding.element, finding.component, repetition, value)
    return finding


# -- an interchange the reader refused ---------------------------------------


def salvage_envelope(data: bytes) -> Interchange | None:
    """What can be read of the ISA of a document the reader refused, or None.

    The reader raises when the ISA does not give usable service characters
    (its terminator is a letter, its component separator is missing, ...).
    The sender, recipient and control number still stand at their places when
    the elements are split on the byte after ``ISA``; that is enough to answer
    with a TA1.
    """
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not head.startswith(b"ISA") or len(head) < 4:
        return None
    sep = head[3:4].decode("latin-1")
    if sep.isalnum() or sep.isspace() or not sep.isascii():
        return None
    fields = head.decode("latin-1").split(sep)[1:]
    if len(fields) < 14:
        return None
    control = fields[12].strip()
    if not (control.isascii() and control.isdigit() and len(control) <= 9):
        return None
    if any(len(fields[i].strip()) > 15 or not fields[i].strip() for i in (5, 7)):
        return None
    return Interchange(
        syntax="x12", sender=fields[5].strip(), recipient=fields[7].strip(), control_ref=control,
        sender_qualifier=fields[4].strip()[:2], recipient_qualifier=fields[6].strip()[:2],
        date=fields[8].strip(), time=fields[9].strip(), syntax_id=_version(fields[11]),
        test=fields[14].strip()[:1] == "T" if len(fields) > 14 else False,
        ack_requested=fields[13].strip() == "1",
        delimiters=syntax.choose_delimiters(_version(fields[11]), element=sep) if sep not in "~>^" else None,
    )


def reject_unreadable(envelope: Interchange, error: EdiSyntaxError, settings: AckSettings, numbers: Numbers,
                      now: datetime) -> list[Acknowledgement]:
    """A TA1 rejecting an interchange the reader refused (unless TA1s are never sent).

    The note code is the most precise one the error gives: the reader's
    errors start with the general INTERCHANGE_HEADER_INVALID and may name the
    exact fault (SEGMENT_TERMINATOR_INVALID, ...) after it.
    """
    if settings.ta1 == "never":
        return []
    coded = [i for i in error.issues if i.info.ta1]
    coded.sort(key=lambda i: i.code == "INTERCHANGE_HEADER_INVALID")
    code = coded[0].info.ta1 if coded else None
    if envelope.date and not (envelope.date.isdigit() and len(envelope.date) == 6):
        envelope.date = ""
    if envelope.time and not (envelope.time.isdigit() and len(envelope.time) == 4):
        envelope.time = ""
    try:
        return [ta1(envelope, REJECTED, code, numbers, now)]
    except EncodingError:
        return []


# -- reading ----------------------------------------------------------------


def _status(table: dict[str, str], value: str, where: str) -> str:
    try:
        return table[value.strip()]
    except KeyError:
        raise ValueError(f"{where} '{value}' is not an acknowledgement code") from None


def _number(value: str, where: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{where} '{value}' is not a number")
    return int(value)


def read_ta1(segment: Segment, control_ref: str = "") -> AckReport:
    """What a TA1 segment says about the interchange it answers."""
    answered = segment.get(1).strip()
    status = _status(_FROM_TA104, segment.get(4), "TA104")
    note = segment.get(5).strip()
    verdict = Verdict(INTERCHANGE, answered, status, codes=(note,) if note and note != NO_ERROR else ())
    return AckReport("TA1", control_ref, answered, status, (verdict,))


def read_functional(message: Message) -> AckReport:
    """What a 997 or 999 says about the group and transaction sets it answers."""
    group_id = group_ref = ""
    sets: list[Verdict] = []
    group: Verdict | None = None
    current: dict | None = None
    segment_tag, segment_position = "", 0
    for seg in message.body:
        tag = seg.tag
        if tag == "AK1":
            group_id, group_ref = seg.get(1), seg.get(2)
        elif tag == "AK2":
            current = {"type": seg.get(1), "ref": seg.get(2), "findings": []}
        elif tag in ("AK3", "IK3") and current is not None:
            segment_tag, segment_position = seg.get(1), _number(seg.get(2), f"{tag}02")
            current["findings"].append(Finding(seg.get(4), segment_position, segment_tag))
        elif tag in ("AK4", "IK4") and current is not None:
            position = [seg.get(1, k) for k in (1, 2, 3)]
            element = _number(position[0], f"{tag}01")
            component = _number(position[1], f"{tag}01-2") if position[1] else None
            repetition = _number(position[2], f"{tag}01-3") if position[2] else None
            current["findings"].append(Finding(seg.get(3), segment_position, segment_tag, element, component,
                                               repetition, seg.get(4)))
        elif tag in ("AK5", "IK5") and current is not None:
            codes = tuple(c for c in (seg.get(k).strip() for k in range(2, 7)) if c)
            sets.append(Verdict(MESSAGE, current["ref"], _status(_FROM_AK501, seg.get(1), f"{tag}01"),
                                current["type"], group_ref, codes, tuple(current["findings"])))
            current = None
        elif tag == "AK9":
            counts = tuple(_number(seg.get(k), f"AK9{k:02d}") for k in (2, 3, 4))
            codes = tuple(c for c in (seg.get(k).strip() for k in range(5, 10)) if c)
            group = Verdict(GROUP, group_ref, _status(_FROM_AK901, seg.get(1), "AK901"), group_id, codes=codes,
                            counts=counts)  # type: ignore[arg-type]
    if group is None:
        raise ValueError(f"{message.type} {message.ref} has no AK9: it answers no group")
    control = message.interchange.control_ref if message.interchange is not None else ""
    return AckReport(message.type, control, None, group.status, (group, *sets))
