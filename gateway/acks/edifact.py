"""EDIFACT CONTRL: the syntax and service report, built and read.

Layout, as written here (element positions after the tag; the same in the
syntax 3 message ``CONTRL:D:3:UN`` and the syntax 4 one ``CONTRL:4:1:UN``,
which only adds a repetition position to S011):

    UCI  01 0020 answered  02 S002 as received  03 S003 as received  04 0083  05 0085  06 0013  07 S011
    UCF  01 0048  02 S006 as received  03 S007 as received  04 0083  05 0085  06 0013  07 S011
    UCM  01 0062  02 S009 as received  03 0083  04 0085  05 0013  06 S011
    UCS  01 0096 position in the message (UNH = 1)  02 0085 (an error of the whole segment)
    UCD  01 0085  02 S011

0083: 7 acknowledged (lower levels too unless rejected below), 4 rejected
(this level and all below), 8 received only (syntax 4's answer to UNB
0031 = 2). S011 0098 counts the segment tag as position 1, so it is one more
than the element position the readers record. 0013 and S011 name a service
segment (UNB/UNZ, UNG/UNE, UNH/UNT) and are written only with an error code,
as the segments' dependency notes require.

Messages are answered by UCM within the UCF of their group when the
interchange has groups, else directly after the UCI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from gateway.acks.judge import Judged, JudgedList, Streamed as _Segments, judge_envelope
from gateway.acks.report import (
    ACCEPTED, GROUP, INTERCHANGE, MESSAGE, PARTIAL, RECEIVED, REJECTED, WITH_ERRORS,
    Acknowledgement, AckReport, Finding, Verdict, roll_up, spooled,
)
from gateway.acks.settings import AckSettings
from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import Group, Interchange, Issue, Message, Segment
from gateway.syntax import edifact as syntax

Numbers = Callable[[str], int]

ACTION_ACCEPTED, ACTION_REJECTED, ACTION_RECEIVED = "7", "4", "8"  # 0083
IDENTIFIER = {"4": ["CONTRL", "4", "1", "UN"], "3": ["CONTRL", "D", "3", "UN"]}  # UNH S009 of the CONTRL
_SERVICE_TAGS = {INTERCHANGE: ("UNA", "UNB", "UNZ"), GROUP: ("UNG", "UNE"), MESSAGE: ("UNH", "UNT")}
_S009_SIZE = {"4": 7, "3": 5}  # components of S009 in each syntax version


def _action(status: str) -> str:
    return ACTION_REJECTED if status == REJECTED else ACTION_ACCEPTED


def _s011(issue: Issue | None, version: str) -> list[str] | str:
    """S011 for an issue: 0098 (tag = 1), 0104, and 0136 in syntax 4."""
    where = issue.location if issue is not None else None
    if where is None or where.element is None:
        return ""
    parts = [str(where.element + 1), str(where.component or "")]
    if version == "4" and where.repetition is not None:
        parts.append(str(where.repetition))
    return parts if any(parts[1:]) else parts[0]


def _error(code: str | None, issue: Issue | None, level: str, version: str) -> list:
    """0085, 0013, S011 of a UCI/UCF/UCM: the tag and place only where a service segment is named."""
    if not code:
        return []
    tag = issue.location.tag if issue is not None else None
    if tag not in _SERVICE_TAGS[level]:
        return [code]
    return [code, tag, _s011(issue, version)]


def build(ic: Interchange, sets: Sequence[Judged], settings: AckSettings, numbers: Numbers,
          now: datetime) -> list[Acknowledgement]:
    """The CONTRL for a received EDIFACT interchange, when the settings and UNB 0031 ask for one."""
    requested = _requested(ic)
    if not _wanted(requested, settings):
        return []
    # A CONTRL is never answered with a CONTRL: such messages are left out, and
    # an interchange of nothing else gets no answer.
    answered = JudgedList(s for s in sets if s.type != "CONTRL")
    if sets and not answered:
        return []
    sets = answered
    version = _version(ic)
    sender, recipient = _parties(ic)
    verdicts: list[Verdict] = []
    if requested == "2":  # an indication of receipt, nothing more
        body = [Segment("UCI", [ic.control_ref, sender, recipient, ACTION_RECEIVED])]
        verdicts.append(Verdict(INTERCHANGE, ic.control_ref, RECEIVED))
        return [_contrl(ic, version, body, RECEIVED, verdicts, numbers, now)]
    own = judge_envelope(ic.issues, "edifact", INTERCHANGE)
    listed = [0, 0]  # message verdicts kept (at most AckReport.LIST_LIMIT), message verdicts in all
    if ic.groups:
        by_group: dict[int, JudgedList] = {}
        for judged in sets:
            by_group.setdefault(id(judged.group), JudgedList()).append(judged)
        groups = [(group, by_group.get(id(group), JudgedList())) for group in ic.groups]
        statuses = [_group_status(group, members)[0] for group, members in groups]
    else:
        groups = []
        statuses = sets.statuses()
    status = roll_up(statuses, failed=own.failed, noted=own.noted)
    code = own.codes[0] if own.codes else None
    verdicts.append(Verdict(INTERCHANGE, ic.control_ref, status, codes=(code,) if code else ()))

    def body():
        # made while the writer writes it: the UCMs of 400,000 messages are never all in memory
        yield Segment("UCI", [ic.control_ref, sender, recipient, _action(status),
                              *_error(code, own.first, INTERCHANGE, version)])
        if groups:
            for group, members in groups:
                yield from _answer_group(group, members, settings, version, verdicts, listed)
        else:
            for judged in sets:
                yield from _answer_message(judged, settings, version, "", verdicts, listed)

    return [_contrl(ic, version, body(), status, verdicts, numbers, now, listed)]


def reject_interchange(ic: Interchange, issue: Issue, settings: AckSettings, numbers: Numbers,
                       now: datetime) -> list[Acknowledgement]:
    """A CONTRL rejecting the whole interchange for ``issue`` alone (a duplicate, say): a UCI
    with action 4 and the issue's code, no message answered. Sent when a CONTRL would be."""
    if not _wanted(_requested(ic), settings):
        return []
    version = _version(ic)
    sender, recipient = _parties(ic)
    code = issue.info.contrl
    uci = Segment("UCI", [ic.control_ref, sender, recipient, ACTION_REJECTED,
                          *_error(code, issue, INTERCHANGE, version)])
    verdict = Verdict(INTERCHANGE, ic.control_ref, REJECTED, codes=(code,) if code else ())
    return [_contrl(ic, version, [uci], REJECTED, [verdict], numbers, now)]


def salvage_envelope(data: bytes) -> Interchange | None:
    """The interchange header of an EDIFACT document the reader refused, or None.

    The reader refuses an interchange for a byte its partner's configured
    character set cannot decode, say, after its UNB was read. The UNA (if
    any) and the UNB alone, read again without the override, still give the
    sender, recipient, 0020 and 0031: enough to answer with a CONTRL.
    """
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    start, term, release = 0, b"'", b"?"
    if head.startswith(b"UNA"):
        try:
            delimiters = syntax.delimiters_from_una(head[:9])
        except ValueError:
            return None
        start = 9
        term, release = delimiters.segment.encode("latin-1"), (delimiters.release or "").encode("latin-1")
    unb = head.find(b"UNB", start)
    if unb < 0 or head[start:unb].strip(b" \t\r\n"):
        return None
    end = unb
    while True:  # the UNB's own terminator: the first one not released
        end = head.find(term, end)
        if end < 0:
            return None
        run = 0
        while release and end - run - 1 >= unb and head[end - run - 1:end - run] == release:
            run += 1
        if run % 2 == 0:
            break
        end += 1
    try:
        found = [item for item in syntax.read(head[:end + 1], keep=True) if isinstance(item, Interchange)]
    except EdiSyntaxError:
        return None
    ic = found[0] if found else None
    return ic if ic is not None and ic.sender and ic.recipient and ic.control_ref else None


def reject_unreadable(envelope: Interchange, error: EdiSyntaxError, settings: AckSettings, numbers: Numbers,
                      now: datetime) -> list[Acknowledgement]:
    """A CONTRL rejecting an interchange the reader refused, with the error's own code."""
    coded = [i for i in error.issues if i.info.contrl]
    coded.sort(key=lambda i: i.code == "INTERCHANGE_HEADER_INVALID")  # the most precise code first
    if not coded:
        return []
    try:
        return reject_interchange(envelope, coded[0], settings, numbers, now)
    except EncodingError:
        return []


def _requested(ic: Interchange) -> str:
    """UNB 0031: 1 asks for a syntax report, 2 for an indication of receipt only."""
    return ic.header.get(9).strip() if ic.header is not None else ""


def _wanted(requested: str, settings: AckSettings) -> bool:
    return settings.contrl == "always" or (settings.contrl == "on-request" and requested in ("1", "2"))


def _version(ic: Interchange) -> str:
    return "4" if ic.syntax_version == "4" else "3"


def _parties(ic: Interchange) -> tuple:
    """UNB S002 and S003 as received (with their qualifiers), for the UCI."""
    header = ic.header.elements if ic.header is not None else []
    return (header[1] if len(header) > 1 else ic.sender, header[2] if len(header) > 2 else ic.recipient)


def _contrl(ic: Interchange, version: str, body, status: str, verdicts: list[Verdict],
            numbers: Numbers, now: datetime, listed: list[int] | None = None) -> Acknowledgement:
    """The CONTRL interchange going back to the sender of ``ic`` (takes a UNB 0020 and a UNH 0062).
    ``body`` may be made while it is written; ``verdicts`` are complete once it has been."""
    ack = _envelope(ic, version, numbers, now)
    ref = str(numbers("UNH0062"))
    ack.messages = [Message("CONTRL", ref, "", _Segments(Segment("UNH", [ref, IDENTIFIER[version]]), body))]
    ack.message_count = 1
    content = spooled(syntax.write_to, ack)  # the verdicts are complete once the body has been written
    return Acknowledgement("CONTRL", ack.control_ref, ic.control_ref, status, tuple(verdicts),
                           message_total=listed[1] if listed is not None else None, content=content)


def _envelope(ic: Interchange, version: str, numbers: Numbers, now: datetime) -> Interchange:
    """An empty interchange going back to the sender of ``ic`` (takes a UNB 0020)."""
    syntax_id = ic.syntax_id if ic.syntax_id in syntax.CHARSETS else "UNOC"
    ack = syntax.interchange(
        ic.recipient, ic.sender, str(numbers("UNB0020")), [],
        syntax_id=syntax_id,
        syntax_version=ic.syntax_version if ic.syntax_version in ("1", "2", "3", "4") else "3",
        sender_qualifier=ic.recipient_qualifier,
        recipient_qualifier=ic.sender_qualifier,
        date=now.strftime("%Y%m%d" if version == "4" else "%y%m%d"),
        time=now.strftime("%H%M"),
        test=ic.test,
    )
    ack.delimiters = ic.delimiters
    return ack


def _group_status(group: Group, sets: JudgedList):
    own = judge_envelope(group.issues, "edifact", GROUP)
    return roll_up(sets.statuses(), failed=own.failed, noted=own.noted), own


def _answer_group(group: Group, sets: JudgedList, settings: AckSettings, version: str,
                  verdicts: list[Verdict], listed: list[int]):
    """UCF and the UCMs of one group, one segment at a time; the group's verdict, then those of its
    messages (the first AckReport.LIST_LIMIT of the CONTRL), go on ``verdicts``."""
    status, own = _group_status(group, sets)
    code = own.codes[0] if own.codes else None
    header = group.header.elements if group.header is not None else []
    s006 = header[1] if len(header) > 1 else group.sender
    s007 = header[2] if len(header) > 2 else group.recipient
    yield Segment("UCF", [group.control_ref, s006, s007, _action(status), *_error(code, own.first, GROUP, version)])
    # (UCF does not repeat the group's 0038, so the verdict has no type)
    verdicts.append(Verdict(GROUP, group.control_ref, status, codes=(code,) if code else ()))
    for judged in sets:
        yield from _answer_message(judged, settings, version, group.control_ref, verdicts, listed)


def _answer_message(judged: Judged, settings: AckSettings, version: str, group_ref: str,
                    verdicts: list[Verdict], listed: list[int]):
    """UCM (and its UCS/UCD) for one message, none when the settings leave it out; its verdict
    goes on ``verdicts`` while fewer than AckReport.LIST_LIMIT are there."""
    if settings.detail == "errors" and judged.status == ACCEPTED:
        return
    code = judged.codes[0] if judged.codes else None
    s009 = list(judged.identifier[: _S009_SIZE[version]])
    yield Segment("UCM", [judged.ref, s009, _action(judged.status), *_error(code, judged.first, MESSAGE, version)])
    findings: list[Finding] = []
    positions: list[int] = []
    for f in judged.findings:
        if f.position not in positions:
            if len(positions) == 999:  # UCS: at most 999 per message
                break
            positions.append(f.position)
        if version != "4" and f.repetition is not None:  # S011 0136 is syntax 4 only
            f = Finding(f.code, f.position, f.tag, f.element, f.component)
        findings.append(f)
    for position in positions:
        here = [f for f in findings if f.position == position]
        whole = next((f.code for f in here if f.element is None), "")
        yield Segment("UCS", [str(position), whole])
        for f in here:
            if f.element is not None:
                where = [str(f.element + 1), str(f.component or "")]
                if f.repetition is not None:
                    where.append(str(f.repetition))
                yield Segment("UCD", [f.code, where if any(where[1:]) else where[0]])
    listed[1] += 1
    if listed[0] < AckReport.LIST_LIMIT:
        listed[0] += 1
        verdicts.append(Verdict(MESSAGE, judged.ref, judged.status, judged.type, group_ref,
                                (code,) if code else (), tuple(findings)))


# -- reading ----------------------------------------------------------------


def _number(value: str, where: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{where} '{value}' is not a number")
    return int(value)


def _answered(action: str, noted: bool, children: list[Verdict], where: str) -> str:
    """The status a UCI/UCF/UCM says, from its 0083, whether it reports an
    error of its own (``noted``) and what is listed under it."""
    action = action.strip()
    if action == ACTION_REJECTED:
        return REJECTED
    if action == ACTION_RECEIVED:
        return RECEIVED
    if action != ACTION_ACCEPTED:
        raise ValueError(f"{where} 0083 '{action}' is not an action code")
    if any(c.status in (REJECTED, PARTIAL) for c in children):
        return PARTIAL
    if noted or any(c.status != ACCEPTED for c in children):
        return WITH_ERRORS
    return ACCEPTED


def read_contrl(message: Message) -> AckReport:
    """What a CONTRL says about the interchange, groups and messages it answers."""
    uci: Segment | None = None
    groups: list[tuple[Segment, list]] = []  # (UCF, its messages)
    loose: list = []  # messages answered outside groups
    current: list | None = None  # [UCM, findings]
    position = 0
    for seg in message.body:
        tag = seg.tag
        if tag == "UCI":
            uci = seg
        elif tag == "UCF":
            groups.append((seg, []))
            current = None
        elif tag == "UCM":
            current = [seg, []]
            (groups[-1][1] if groups else loose).append(current)
        elif tag == "UCS" and current is not None:
            position = _number(seg.get(1), "UCS 0096")
            if seg.get(2):
                current[1].append(Finding(seg.get(2), position))
        elif tag == "UCD" and current is not None:
            element = _number(seg.get(2, 1), "UCD 0098") - 1
            component = seg.get(2, 2)
            repetition = seg.get(2, 3)
            current[1].append(Finding(seg.get(1), position, "", element,
                                      _number(component, "UCD 0104") if component else None,
                                      _number(repetition, "UCD 0136") if repetition else None))
    if uci is None:
        raise ValueError(f"CONTRL {message.ref} has no UCI: it answers no interchange")

    def answer(ucm: Segment, findings: list[Finding], group_ref: str) -> Verdict:
        code = ucm.get(4)
        status = _answered(ucm.get(3), bool(code or findings), [], "UCM")
        return Verdict(MESSAGE, ucm.get(1), status, ucm.get(2, 1), group_ref, (code,) if code else (),
                       tuple(findings))

    verdicts: list[Verdict] = []
    children: list[Verdict] = []
    for ucf, members in groups:
        listed = [answer(ucm, findings, ucf.get(1)) for ucm, findings in members]
        code = ucf.get(5)
        group = Verdict(GROUP, ucf.get(1), _answered(ucf.get(4), bool(code), listed, "UCF"),
                        codes=(code,) if code else ())
        children.append(group)
        verdicts.extend([group, *listed])
    for ucm, findings in loose:
        verdict = answer(ucm, findings, "")
        children.append(verdict)
        verdicts.append(verdict)
    code = uci.get(5)
    status = _answered(uci.get(4), bool(code), children, "UCI")
    verdicts.insert(0, Verdict(INTERCHANGE, uci.get(1), status, codes=(code,) if code else ()))
    control = message.interchange.control_ref if message.interchange is not None else ""
    return AckReport("CONTRL", control, uci.get(1), status, tuple(verdicts))
