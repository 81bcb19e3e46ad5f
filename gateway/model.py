"""The neutral document model shared by every syntax.

    Interchange ─┬─ Group (optional: UNG/UNE, GS/GE) ── Message
                 └─ Message (EDIFACT without groups)
    Message ── Segment ── element ── component

An element is one of three shapes, the same ones ``edigw parse`` prints:

* ``str`` – a simple element (already unescaped and decoded);
* ``list[str]`` – a composite: its components;
* :class:`Repeats` – a repeated element: a list whose items are each a ``str``
  or a ``list[str]``.

Segments carry their position (1-based index in the document, 1-based line,
byte offset of their first byte) so every :class:`Issue` can say where it is.
Segments are plain ``__slots__`` objects rather than dataclasses because the
readers build hundreds of thousands of them a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from gateway.codes import CODES, Severity


class Repeats(list):
    """A repeated element: each item is a ``str`` or a ``list[str]`` composite."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Repeats({list.__repr__(self)})"


Element = Union[str, list, Repeats]


def element_to_json(value: Element) -> Any:
    if isinstance(value, Repeats):
        return {"repeats": [list(v) if isinstance(v, list) else v for v in value]}
    if isinstance(value, list):
        return list(value)
    return value


def element_from_json(value: Any) -> Element:
    if isinstance(value, dict):
        return Repeats(list(v) if isinstance(v, list) else v for v in value["repeats"])
    if isinstance(value, list):
        return list(value)
    return value


class Segment:
    """One segment: a tag and its elements (item 1 is the first element)."""

    __slots__ = ("tag", "elements", "index", "line", "offset", "text")

    def __init__(
        self, tag: str, elements: list, index: int = 0, line: int = 0, offset: int = 0,
        text: str | None = None,
    ) -> None:
        self.tag = tag
        self.elements = elements
        self.index = index  # 1-based position in the document (0: built in memory)
        self.line = line  # 1-based line of the segment's first byte
        self.offset = offset  # byte offset of the segment's first byte
        # The segment as read: decoded, without its terminator, with the interchange's separators
        # and release characters in it (``IMD+F++:::Mum??s 1?+2``); None for a segment built in
        # memory (and BIN). It lets content validation match a whole message at once; it must not
        # outlive a change to ``elements``.
        self.text = text

    def __getitem__(self, position: int) -> Element:
        """Element by 1-based position (0 is the tag); missing elements are ``""``."""
        if position == 0:
            return self.tag
        try:
            return self.elements[position - 1]
        except IndexError:
            return ""

    def get(self, position: int, component: int | None = None, repetition: int = 1) -> str:
        """The string value at element ``position`` (1-based), component (1-based).

        For a composite without ``component`` the first component is returned;
        for a simple element asked for component 1 the element itself is.
        Absent values are ``""``.
        """
        value = self[position]
        if isinstance(value, Repeats):
            value = value[repetition - 1] if len(value) >= repetition else ""
        if isinstance(value, list):
            index = (component or 1) - 1
            return value[index] if index < len(value) else ""
        if component is None or component == 1:
            return value
        return ""

    def to_json(self) -> list:
        return [self.tag, *(element_to_json(e) for e in self.elements)]

    @classmethod
    def from_json(cls, data: list) -> Segment:
        return cls(data[0], [element_from_json(e) for e in data[1:]])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return self.tag == other.tag and self.elements == other.elements

    def __repr__(self) -> str:
        return f"Segment({self.tag!r}, {self.elements!r})"


class BareSegment(Segment):
    """A Segment with no slot set yet: what the readers' bulk paths make, then fill in.

    ``BareSegment()`` runs no Python code (its ``__init__`` is object's, in C), so making a
    segment this way and storing its six slots costs about a third less than calling
    ``Segment(...)``, and about 270 fewer instructions than ``object.__new__(Segment)`` (which
    goes through a wrapper that builds an argument tuple). It is a Segment in every other
    respect: slots, equality, repr and isinstance; only ``type(seg) is Segment`` tells it apart.
    """

    __slots__ = ()
    __init__ = object.__init__  # (the C slot itself: type creation recognises object's wrapper)


#: The bulk paths make segments with BareSegment() and store the six slots themselves; they do so
#: only while Segment's slots are exactly these and neither class makes its instances otherwise.
PLAIN_SEGMENT = (
    Segment.__slots__ == ("tag", "elements", "index", "line", "offset", "text")
    and Segment.__new__ is object.__new__
    and BareSegment.__init__ is object.__init__
)


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is: any subset of these fields may be known."""

    offset: int | None = None  # byte offset in the document
    line: int | None = None  # 1-based line
    segment: int | None = None  # 1-based segment position in the document
    tag: str | None = None  # the segment's tag
    message_segment: int | None = None  # 1-based position within its message (UNH/ST = 1)
    element: int | None = None  # 1-based element position
    component: int | None = None  # 1-based component position
    repetition: int | None = None  # 1-based repetition

    @classmethod
    def of(cls, source: Segment | None, /, **more: Any) -> Location:
        """The location of segment ``source``, refined by ``more`` (element=..., ...)."""
        if source is None:
            return cls(**more)
        where = {"offset": source.offset, "line": source.line, "segment": source.index, "tag": source.tag}
        where.update(more)
        return cls(**where)

    def __str__(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.segment is not None:
            seg = f"segment {self.segment}"
            if self.tag:
                seg += f" ({self.tag})"
            parts.append(seg)
        elif self.tag:
            parts.append(f"segment {self.tag}")
        if self.element is not None:
            el = f"element {self.element}"
            if self.component is not None:
                el += f", component {self.component}"
            parts.append(el)
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ", ".join(parts) or "unknown position"

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a document: a catalogue code, a text and a place."""

    code: str
    text: str
    location: Location = field(default_factory=Location)
    # An error the partner's policy accepts: reported (acknowledged "with errors"), not rejected.
    tolerated: bool = False

    @classmethod
    def at(cls, code: str, text: str, segment: Segment | None, /, **where: Any) -> Issue:
        """An issue located at ``segment``, refined by ``where`` (element=..., ...)."""
        return cls(code, text, Location.of(segment, **where))

    @property
    def info(self):
        return CODES[self.code]

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.tolerated else CODES[self.code].severity

    @property
    def is_error(self) -> bool:
        return not self.tolerated and CODES[self.code].severity is Severity.ERROR

    def __str__(self) -> str:
        return f"{self.code}: {self.text} at {self.location}"

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "text": self.text,
            "location": self.location.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Service characters of one interchange (``repetition`` may be ``None``)."""

    segment: str
    element: str
    component: str
    repetition: str | None = None
    release: str | None = None  # EDIFACT only
    decimal: str = "."  # EDIFACT UNA decimal mark


@dataclass(eq=False, slots=True)
class Message:
    """A message (EDIFACT UNH..UNT) or transaction set (X12 ST..SE)."""

    type: str  # "ORDERS", "850"
    ref: str  # UNH 0062 / ST02
    version: str  # "D96A" / "004010" (GS08, or ST03 when present)
    segments: list[Segment]  # header to trailer inclusive
    interchange: Interchange | None = None
    group: Group | None = None
    release: str = ""  # EDIFACT: "D:96A:UN:EAN008" pieces live here as a whole
    issues: list[Issue] = field(default_factory=list)
    # The message as read, header to trailer, when the reader took it whole from one decoded
    # buffer (the X12 reader's plain sets, the EDIFACT reader's messages read in one run): the
    # segments' texts, each but the last followed by the terminator and the line break the file
    # has after it. Content validation matches it in one pass. None otherwise; like Segment.text,
    # it must not outlive a change to the segments.
    text: str | None = None

    @property
    def header(self) -> Segment | None:
        """UNH / ST (None for XML, which has no segments)."""
        return self.segments[0] if self.segments else None

    @property
    def trailer(self) -> Segment | None:
        last = self.segments[-1] if self.segments else None
        return last if last is not None and last.tag in ("UNT", "SE") else None

    @property
    def body(self) -> list[Segment]:
        """The segments between header and trailer."""
        end = -1 if self.trailer is not None else None
        return self.segments[1:end]

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.issues)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.type, "ref": self.ref, "version": self.version}
        if self.group is not None:
            out["group"] = self.group.control_ref
        out["segments"] = [s.to_json() for s in self.segments]
        if self.issues:
            out["issues"] = [i.to_json() for i in self.issues]
        return out


@dataclass(eq=False, slots=True)
class Group:
    """A functional group (UNG..UNE, GS..GE)."""

    id: str  # UNG 0038 / GS01 ("PO")
    control_ref: str  # UNG 0048 / GS06
    sender: str
    recipient: str
    version: str
    header: Segment
    trailer: Segment | None = None
    interchange: Interchange | None = None
    messages: list[Message] = field(default_factory=list)  # empty when streaming
    message_count: int = 0  # messages seen (also when streaming)
    issues: list[Issue] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {
            "id": self.id,
            "control_ref": self.control_ref,
            "sender": self.sender,
            "recipient": self.recipient,
            "version": self.version,
            "message_count": self.message_count,
        }
        if self.issues:
            out["issues"] = [i.to_json() for i in self.issues]
        return out


@dataclass(eq=False, slots=True)
class Interchange:
    """One interchange (UNB..UNZ, ISA..IEA), or one XML document."""

    syntax: str  # "edifact" | "x12" | "xml"
    sender: str
    recipient: str
    control_ref: str
    header: Segment | None = None
    trailer: Segment | None = None
    sender_qualifier: str = ""
    recipient_qualifier: str = ""
    date: str = ""  # as written (YYMMDD / CCYYMMDD / YYMMDD)
    time: str = ""
    syntax_id: str = ""  # EDIFACT "UNOC", X12 ISA12 version "00401"
    syntax_version: str = ""  # EDIFACT 0002 "3"
    charset: str = ""  # the Python codec used to decode
    test: bool = False
    ack_requested: bool = False
    delimiters: Delimiters | None = None
    offset: int = 0  # byte offset of the header in the document
    groups: list[Group] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # all messages, grouped or not
    message_count: int = 0
    issues: list[Issue] = field(default_factory=list)
    # X12 interchange-level segments between ISA and the groups (TA1, ISB, ISE),
    # as read and as written: a TA1 acknowledgement is nothing but one of these.
    control_segments: list[Segment] = field(default_factory=list)

    def all_issues(self) -> list[Issue]:
        """Every issue of the interchange, its groups and its messages."""
        found = list(self.issues)
        for g in self.groups:
            found.extend(g.issues)
        for m in self.messages:
            found.extend(m.issues)
        return found

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.all_issues())

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "syntax": self.syntax,
            "sender": self.sender,
            "recipient": self.recipient,
            "control_ref": self.control_ref,
        }
        if self.groups:
            out["groups"] = [g.to_json() for g in self.groups]
        out["messages"] = [m.to_json() for m in self.messages]
        if self.issues:
            out["issues"] = [i.to_json() for i in self.issues]
        return out
