"""What an acknowledgement says, whichever way it goes.

The same few types describe an acknowledgement the gateway builds
(:class:`Acknowledgement`, which also carries the document to send) and one a
partner sends back (:class:`AckReport`, from :func:`gateway.acks.read_acknowledgement`),
so reconciling an outbound document compares like with like.

A :class:`Verdict` is the answer about one unit: an interchange, a functional
group, or a transaction set / message. Its ``codes`` are the report codes the
acknowledgement gives for that unit itself (TA105, AK9 05-09, AK5/IK5 02-06,
UCI/UCF/UCM 0085), its ``findings`` the segment and element errors inside a
message (AK3/AK4, IK3/IK4, UCS/UCD).

Statuses are five words, the same for both families:

========================  ======  ======  ====  ============
status                    TA104   AK501   AK901 CONTRL 0083
========================  ======  ======  ====  ============
accepted                  A       A       A     7
accepted_with_errors      E       E       E     7 + errors
partially_accepted        -       -       P     7 + a rejected part
rejected                  R       R       R     4
received                  -       -       -     8
========================  ======  ======  ====  ============
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

ACCEPTED = "accepted"
WITH_ERRORS = "accepted_with_errors"
PARTIAL = "partially_accepted"
REJECTED = "rejected"
RECEIVED = "received"  # CONTRL 0083 = 8: the interchange arrived; nothing was checked
STATUSES = (ACCEPTED, WITH_ERRORS, PARTIAL, REJECTED, RECEIVED)

INTERCHANGE, GROUP, MESSAGE = "interchange", "group", "message"


def roll_up(children: Sequence[str], *, failed: bool = False, noted: bool = False) -> str:
    """The status of a unit from its parts' statuses and its own problems.

    ``failed``: the unit has an error of its own (a wrong trailer count, say);
    ``noted``: it has something reported that does not fail it (a warning).
    The gateway still maps the sound messages of an interchange or group whose
    envelope is wrong, so an envelope error alone makes the unit "accepted with
    errors"; it is rejected only when nothing under it was accepted.
    """
    accepted = [s for s in children if s != REJECTED]
    if not accepted and (failed or children):
        return REJECTED
    if len(accepted) < len(children) or PARTIAL in children:
        return PARTIAL
    if failed or noted or any(s != ACCEPTED for s in children):
        return WITH_ERRORS
    return ACCEPTED


@dataclass(frozen=True, slots=True)
class Finding:
    """One segment or element error inside a message (AK3/AK4, IK3/IK4, UCS/UCD).

    ``element`` is None for an error of the whole segment. Positions are
    1-based: ``position`` counts the segments of the message (ST/UNH = 1),
    ``element`` the elements after the tag (as :class:`gateway.model.Location`
    does; CONTRL's S011 counts the tag as 1, the builder and reader convert).
    CONTRL does not name the segment, so ``tag`` is "" there.
    """

    code: str
    position: int
    tag: str = ""
    element: int | None = None
    component: int | None = None
    repetition: int | None = None
    value: str = ""  # AK404/IK404: a copy of the bad value, when it can be sent back

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "position": self.position}
        for name in ("tag", "element", "component", "repetition", "value"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer about one interchange, group or transaction set / message."""

    level: str  # "interchange" | "group" | "message"
    ref: str  # its control reference: ISA13/UNB 0020, GS06/UNG 0048, ST02/UNH 0062
    status: str
    type: str = ""  # GS01 / ST01 / UNG 0038 / UNH 0065
    group: str = ""  # a message's group reference ("" outside groups)
    codes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    counts: tuple[int, int, int] | None = None  # AK902-904: sets included, received, accepted

    def to_json(self) -> dict:
        out: dict = {"level": self.level, "ref": self.ref, "status": self.status}
        if self.type:
            out["type"] = self.type
        if self.group:
            out["group"] = self.group
        if self.codes:
            out["codes"] = list(self.codes)
        if self.findings:
            out["findings"] = [f.to_json() for f in self.findings]
        if self.counts is not None:
            out["included"], out["received"], out["accepted"] = self.counts
        return out


@dataclass(frozen=True)
class AckReport:
    """What one acknowledgement says: whom it answers and how.

    ``control_ref`` is the acknowledgement's own interchange reference (ISA13 /
    UNB 0020). ``interchange_ref`` is the interchange it answers: a TA1 and a
    CONTRL name it, a 997/999 does not (it answers groups), so it is None there
    when read back.
    """

    kind: str  # "997" | "999" | "TA1" | "CONTRL"
    control_ref: str
    interchange_ref: str | None
    status: str
    verdicts: tuple[Verdict, ...] = field(default=())
    # messages answered, when more than the verdicts list (a built acknowledgement keeps the
    # verdicts of its first LIST_LIMIT messages only); None: the verdicts list every one
    message_total: int | None = None

    @property
    def group_refs(self) -> tuple[str, ...]:
        return tuple(v.ref for v in self.verdicts if v.level == GROUP)

    @property
    def message_refs(self) -> tuple[str, ...]:
        return tuple(v.ref for v in self.verdicts if v.level == MESSAGE)

    #: at most this many messages and verdicts are listed by :meth:`to_json` (what the status API
    #: and the outbound queue keep): an acknowledgement of 400,000 messages is a few MB of bytes, and
    #: its JSON listing would be a hundred; beyond the limit the counts say how many are not listed
    LIST_LIMIT = 1000

    def to_json(self) -> dict:
        limit = self.LIST_LIMIT
        messages = self.message_refs
        out = {
            "kind": self.kind,
            "control_ref": self.control_ref,
            "status": self.status,
            "answers": {
                "interchange": self.interchange_ref,
                "groups": list(self.group_refs[:limit]),
                "messages": list(messages[:limit]),
            },
            "verdicts": [v.to_json() for v in self.verdicts[:limit]],
        }
        total = self.message_total if self.message_total is not None else len(messages)
        if total > len(out["answers"]["messages"]):
            out["answers"]["messages_total"] = total
        if len(self.group_refs) > limit:
            out["answers"]["groups_total"] = len(self.group_refs)
        verdicts = len(self.verdicts) + total - len(messages)
        if verdicts > len(out["verdicts"]):
            out["verdicts_total"] = verdicts
        return out


# An acknowledgement up to this size stays in memory; a larger one (a 997 for 400,000 sets is
# about 10 MB) goes to a temporary file as it is written, so it is never whole in memory.
SPOOL_BYTES = 1 << 20


def spool() -> BinaryIO:
    """Where an acknowledgement is written: memory up to :data:`SPOOL_BYTES`, a temporary file beyond."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)


def spooled(write_to: Callable[..., int], interchange, **options) -> BinaryIO:
    """A :func:`spool` holding ``interchange`` as ``write_to`` (an X12 or EDIFACT writer's) writes it."""
    content = spool()
    write_to(content, interchange, **options)
    return content


@dataclass(frozen=True)
class Acknowledgement(AckReport):
    """An acknowledgement built for a received interchange, ready to send.

    ``content`` holds a complete interchange of its own (its own control
    number), written by the project's X12 or EDIFACT writer into a
    :func:`spool`; :meth:`open` reads it from the start (the intake archives
    it from there), :attr:`data` gives it whole.
    """

    content: BinaryIO = field(default_factory=spool, compare=False, repr=False)

    @property
    def size(self) -> int:
        """The acknowledgement's length in bytes."""
        return self.content.seek(0, io.SEEK_END)

    def open(self) -> BinaryIO:
        """The acknowledgement's bytes, from the start."""
        self.content.seek(0)
        return self.content

    @property
    def data(self) -> bytes:
        """The whole acknowledgement in memory (tests and small documents; large ones are read with
        :meth:`open`)."""
        return self.open().read()

    def to_json(self) -> dict:
        out = super().to_json()
        out["size"] = self.size
        return out
