"""From issues to answers: the one place that reads the catalogue for acknowledgements.

The readers (and later stages) attach :class:`~gateway.model.Issue` records
to the interchange, its groups and its messages. Each code's catalogue entry
(:mod:`gateway.codes`) says how it is reported in either family: ``ta1``,
``ak9``, ``ak5``, ``ak3``, ``ak4`` for X12, ``contrl`` for EDIFACT.

An acknowledgement reports what its family can say: an issue without a code
for it (a mapping failure has no AK5 code, say) is left out of it and changes
no status. That is deliberate: a 997 or CONTRL answers for syntax, not for
whether a message became an event.

A message is judged the moment it has been read (:func:`judge_message`): the
result is a small :class:`Judged` record, so a streamed interchange of
thousands of messages is acknowledged without keeping the messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.acks.report import ACCEPTED, REJECTED, WITH_ERRORS, Finding
from gateway.codes import CODES, Level
from gateway.model import Group, Issue, Message, Segment

# The catalogue fields each family reads, per level.
MESSAGE_FIELD = {"x12": "ak5", "edifact": "contrl"}
ENVELOPE_FIELD = {("x12", "interchange"): "ta1", ("x12", "group"): "ak9",
                  ("edifact", "interchange"): "contrl", ("edifact", "group"): "contrl"}

_INSIDE = (Level.SEGMENT, Level.ELEMENT)


@dataclass(frozen=True, slots=True)
class Judged:
    """A transaction set / message as its acknowledgement needs it (a compact copy)."""

    type: str  # ST01 / UNH 0065
    ref: str  # ST02 / UNH 0062
    group: Group | None
    identifier: tuple[str, ...]  # X12: (ST03,) when given; EDIFACT: UNH S009 as received
    status: str  # accepted | accepted_with_errors | rejected
    codes: tuple[str, ...]  # message-level report codes, in order, once each
    findings: tuple[Finding, ...]  # segment and element errors, by segment position
    first: Issue | None  # the issue behind codes[0] (CONTRL names its segment and element)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The own problems of an interchange or group, as one family reports them."""

    codes: tuple[str, ...]  # errors first, then warnings; once each
    failed: bool  # an error with a code
    noted: bool  # anything with a code
    first: Issue | None  # the issue behind codes[0]


def judge_envelope(issues: Iterable[Issue], syntax: str, level: str) -> Envelope:
    """The report codes of an interchange's or group's own issues (``level``)."""
    name = ENVELOPE_FIELD[(syntax, level)]
    coded = [(i, getattr(i.info, name)) for i in issues if getattr(i.info, name)]
    coded.sort(key=lambda pair: not pair[0].is_error)  # stable: errors first, each in order
    codes: list[str] = []
    for _, code in coded:
        if code not in codes:
            codes.append(code)
    return Envelope(
        codes=tuple(codes),
        failed=any(i.is_error for i, _ in coded),
        noted=bool(coded),
        first=coded[0][0] if coded else None,
    )


def _position(message: Message, issue: Issue) -> int | None:
    """The issue's segment position within its message (ST/UNH = 1), if known."""
    where = issue.location
    if where.message_segment is not None:
        return where.message_segment
    header = message.header
    if where.segment is not None and header is not None and header.index and where.segment >= header.index:
        return where.segment - header.index + 1
    return None


def _sendable(value: object, message: Message) -> str:
    """``value`` when it can be copied into the acknowledgement, else "".

    Only printable ASCII without any of the interchange's service characters
    can: anything else could not be written back.
    """
    if not isinstance(value, str) or not value or len(value) > 99:
        return ""
    if not (value.isascii() and value.isprintable()):
        return ""
    d = message.interchange.delimiters if message.interchange is not None else None
    if d is not None and any(c and c in value for c in (d.segment, d.element, d.component, d.repetition)):
        return ""
    return value


def _bad_value(message: Message, position: int, issue: Issue) -> str:
    """The erroneous value as received (for AK404), when it can travel back."""
    where = issue.location
    if where.element is None or position > len(message.segments):
        return ""
    return _sendable(message.segments[position - 1].get(where.element, where.component, where.repetition or 1),
                     message)


def judge_message(message: Message, extra: Iterable[Issue] = (), shared: dict | None = None) -> Judged:
    """Judge a message from its issues and ``extra`` ones found after reading
    (a missing route, say); the syntax comes from its interchange. With ``shared``, the type and
    identifier are the copies kept there (one for all the messages that have the same)."""
    syntax = message.interchange.syntax if message.interchange is not None else "x12"
    x12 = syntax == "x12"
    kind, identifier = message.type, _identifier(message, x12)
    if shared is not None:
        kind, identifier = shared.setdefault(kind, kind), shared.setdefault(identifier, identifier)
    if not message.issues and not extra:  # the usual case, thousands of times per interchange
        return Judged(kind, message.ref, message.group, identifier, ACCEPTED, (), (), None)
    m_field = MESSAGE_FIELD[syntax]
    in_error = CODES["MESSAGE_HAS_SEGMENT_ERRORS"]
    codes: list[str] = []
    first: Issue | None = None
    segments: dict[int, list] = {}  # position -> [tag, segment-level codes, element findings]
    failed = noted = False
    for issue in (*message.issues, *extra):
        info = issue.info
        where = issue.location
        position = _position(message, issue) if info.level in _INSIDE else None
        if position is not None:
            if x12:
                seg_code = info.ak3 if info.level is Level.SEGMENT else None
                el_code = info.ak4
                if not (seg_code or el_code):
                    continue
            else:
                if not info.contrl:
                    continue
                as_element = info.level is Level.ELEMENT and where.element is not None
                seg_code = None if as_element else info.contrl
                el_code = info.contrl if as_element else None
            tag = where.tag or (message.segments[position - 1].tag if position <= len(message.segments) else "")
            entry = segments.setdefault(position, [_sendable(tag, message) if x12 else "", [], []])
            if seg_code:
                entry[1].append(seg_code)
            if el_code and where.element is not None:
                entry[2].append(Finding(
                    el_code, position, entry[0], where.element, where.component,
                    where.repetition, _bad_value(message, position, issue) if x12 else "",
                ))
        else:
            code = getattr(info, m_field)
            if code is None and info.level in _INSIDE and any(
                    getattr(info, f) for f in ("ak3", "ak4", "contrl")):
                code = getattr(in_error, m_field)  # a segment error whose segment is not known
            if not code:
                continue
            if code not in codes:
                codes.append(code)
            if first is None:
                first = issue
        noted = True
        failed = failed or issue.is_error
    findings: list[Finding] = []
    default_ak3 = CODES["SEGMENT_HAS_ELEMENT_ERRORS"].ak3
    for position in sorted(segments):
        tag, seg_codes, elements = segments[position]
        seg_code = seg_codes[0] if seg_codes else (default_ak3 if x12 else None)
        if seg_code:
            findings.append(Finding(seg_code, position, tag))
        findings.extend(elements[:99])  # AK4 and UCD: at most 99 per segment
    if findings and x12 and in_error.ak5 not in codes:
        codes.append(in_error.ak5)
    status = REJECTED if failed else WITH_ERRORS if noted else ACCEPTED
    return Judged(kind, message.ref, message.group, identifier, status, tuple(codes), tuple(findings), first)


def _identifier(message: Message, x12: bool) -> tuple[str, ...]:
    """X12: (ST03,) when given; EDIFACT: UNH S009 as received."""
    if x12:
        header = message.header
        st03 = header.get(3) if header is not None and header.tag == "ST" else ""
        return (st03,) if st03 else ()
    return tuple(message.release.split(":")) if message.release else (message.type,)


class JudgedList:
    """Judged messages in the order noted, in memory that does not grow with the clean ones.

    A message accepted without any code or finding (nearly all of them) whose reference is a
    number one above the previous clean one's, of the same type, group and identifier, only
    extends a run; the runs give their Judged records back one at a time when iterated. An
    interchange of 400,000 ORDERS is held as a few runs instead of 400,000 records.
    """

    __slots__ = ("_items", "_count")

    def __init__(self, items: Iterable[Judged] = ()) -> None:
        self._items: list = []  # Judged, or [type, group, identifier, width, first, last] runs
        self._count = 0
        for judged in items:
            self.append(judged)

    def append(self, judged: Judged) -> None:
        self._count += 1
        ref = judged.ref
        if (judged.status != ACCEPTED or judged.codes or judged.findings or judged.first is not None
                or not (ref.isascii() and ref.isdigit())):
            self._items.append(judged)
            return
        value = int(ref)
        items = self._items
        last = items[-1] if items else None
        if (type(last) is list and last[5] + 1 == value and last[3] == len(ref) and last[0] == judged.type
                and last[1] is judged.group and last[2] == judged.identifier):
            last[5] = value
            return
        items.append([judged.type, judged.group, judged.identifier, len(ref), value, value])

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self):
        for item in self._items:
            if type(item) is list:
                kind, group, identifier, width, first, last = item
                for value in range(first, last + 1):
                    yield Judged(kind, f"{value:0{width}d}", group, identifier, ACCEPTED, (), (), None)
            else:
                yield item

    def statuses(self) -> list[str]:
        """The distinct statuses (what ``roll_up`` needs to know of the children: it gives the same
        answer for them as for every child's status)."""
        return list(dict.fromkeys(ACCEPTED if type(i) is list else i.status for i in self._items))


class Streamed:
    """A message's segments, header first, the rest made while they are written (the writers
    read a message's segments once, in order): an acknowledgement of a huge interchange is
    never held whole."""

    def __init__(self, header: Segment, body) -> None:
        self.header = header
        self.body = body

    def __iter__(self):
        yield self.header
        yield from self.body
