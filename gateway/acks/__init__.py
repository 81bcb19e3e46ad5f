"""Functional acknowledgements: answering what was received, reading what partners answer.

Building, for a received interchange::

    acks = build_acknowledgements(interchange, settings=partner_settings,
                                  numbers=lambda kind: store.next_control_number(partner_id, kind))
    for ack in acks:            # Acknowledgement: kind, control_ref, status, verdicts, size, open()
        queue_outbound(ack.open())  # its bytes, spooled (ack.data: all of them at once)

X12 gets a TA1 (ISA14 = 1 or envelope errors, per ``AckSettings.ta1``) and a
997 or 999 answering every functional group; EDIFACT gets a CONTRL when UNB
0031 asks for one (or ``AckSettings.contrl`` says always). An interchange the
partner sent before is only rejected as a duplicate (TA1 note code 025; CONTRL
UCI 0083 = 4, 0085 = 26). Every report code
comes from the issue catalogue (:mod:`gateway.codes`), read in one place,
:mod:`gateway.acks.judge`. Control numbers come from ``numbers(kind)``
with the kinds ``ISA13``, ``GS06``, ``ST02``, ``UNB0020`` and ``UNH0062``.

When messages stream (read without ``keep``), an :class:`AckTracker` judges
each message as it passes and builds the acknowledgements when its
interchange is complete, keeping only a few strings per message.

Reading, to reconcile outbound documents::

    report = read_acknowledgement(message)      # a 997, 999 or CONTRL message
    report = read_acknowledgement(interchange)  # a TA1 (Interchange.control_segments), or the acks kept on it

Where things are:

=================  ==========================================================
``report.py``      Verdict, Finding, AckReport, Acknowledgement; status words
``settings.py``    AckSettings, the per-partner block
``judge.py``       issues -> statuses and report codes (the catalogue is read here)
``x12.py``         TA1, 997, 999: build and read
``edifact.py``     CONTRL: build and read
=================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from gateway.acks import edifact as _edifact
from gateway.acks import x12 as _x12
from gateway.acks.judge import Judged, JudgedList, judge_message
from gateway.acks.report import (
    ACCEPTED, GROUP, INTERCHANGE, MESSAGE, PARTIAL, RECEIVED, REJECTED, STATUSES, WITH_ERRORS,
    Acknowledgement, AckReport, Finding, Verdict, roll_up,
)
from gateway.acks.settings import AckSettings
from gateway.errors import EdiSyntaxError
from gateway.model import Interchange, Issue, Message

__all__ = [
    "AckReport", "AckSettings", "AckTracker", "Acknowledgement", "Finding", "Verdict",
    "build_acknowledgements", "read_acknowledgement", "read_acknowledgements",
    "salvage_envelope", "reject_unreadable", "reject_interchange",
    "ACCEPTED", "WITH_ERRORS", "PARTIAL", "REJECTED", "RECEIVED", "STATUSES",
    "INTERCHANGE", "GROUP", "MESSAGE", "CONTROL_NUMBER_KINDS",
]

Numbers = Callable[[str], int]

#: The control numbers an acknowledgement takes, each from ``numbers(kind)``.
CONTROL_NUMBER_KINDS = ("ISA13", "GS06", "ST02", "UNB0020", "UNH0062")

#: Transaction sets / messages that are acknowledgements.
ACK_TYPES = ("997", "999", "CONTRL")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def build_acknowledgements(
    interchange: Interchange,
    *,
    settings: AckSettings | None = None,
    numbers: Numbers,
    now: datetime | None = None,
    sets: Iterable[Judged] | None = None,
) -> list[Acknowledgement]:
    """The acknowledgements the sender of ``interchange`` gets, in sending order.

    ``sets`` are its messages already judged (what :class:`AckTracker` keeps
    while streaming); by default the messages kept on the interchange are
    judged. ``now`` stamps the envelopes (default: the current UTC time).
    XML documents get none.
    """
    builder = {"x12": _x12.build, "edifact": _edifact.build}.get(interchange.syntax)
    if builder is None:
        return []
    judged = sets if isinstance(sets, JudgedList) else JudgedList(
        sets if sets is not None else (judge_message(m) for m in interchange.messages))
    return builder(interchange, judged, settings or AckSettings(), numbers, _now(now))


class AckTracker:
    """Judges messages as they stream by; acknowledges each interchange once complete.

    The readers yield every message before its interchange; note each one
    (with any issue a later stage found, a missing route say), then call
    :meth:`acknowledge` with the interchange. One tracker per document.
    """

    def __init__(self) -> None:
        self._sets: dict[int, JudgedList] = {}
        self._duplicates: dict[int, Issue] = {}
        # type and identifier (UNH S009 / ST03) are the same for nearly every message of an
        # interchange: one copy each, not one per message (400,000 ORDERS would keep ~150 MB of
        # equal strings and tuples until the interchange ends)
        self._shared: dict = {}

    def note(self, message: Message, *issues: Issue) -> None:
        if message.interchange is not None and message.interchange.syntax in ("x12", "edifact"):
            judged = judge_message(message, issues, self._shared)
            self._sets.setdefault(id(message.interchange), JudgedList()).append(judged)

    def duplicate(self, message: Message, first_receipt: str = "") -> None:
        """``message`` belongs to an interchange the partner sent before: the whole interchange
        is answered as a duplicate (TA1 note 025, CONTRL UCI 26) and none of its messages."""
        ic = message.interchange
        if ic is None or ic.syntax not in ("x12", "edifact") or id(ic) in self._duplicates:
            return
        first = f", first received as {first_receipt}" if first_receipt else ""
        self._duplicates[id(ic)] = Issue.at(
            "INTERCHANGE_DUPLICATE", f"interchange {ic.control_ref} was received before{first}", ic.header,
            element=5 if ic.syntax == "edifact" else 13)

    def acknowledge(self, interchange: Interchange, *, settings: AckSettings | None = None, numbers: Numbers,
                    now: datetime | None = None) -> list[Acknowledgement]:
        sets = self._sets.pop(id(interchange), JudgedList())
        duplicate = self._duplicates.pop(id(interchange), None)
        if duplicate is not None:
            return reject_interchange(interchange, duplicate, settings=settings, numbers=numbers, now=now)
        return build_acknowledgements(interchange, settings=settings, numbers=numbers, now=now, sets=sets)

    def discard(self, interchange: Interchange) -> None:
        """Forget an interchange that will not be acknowledged (its partner is unknown, say)."""
        self._sets.pop(id(interchange), None)
        self._duplicates.pop(id(interchange), None)


def reject_interchange(interchange: Interchange, issue: Issue, *, settings: AckSettings | None = None,
                       numbers: Numbers, now: datetime | None = None) -> list[Acknowledgement]:
    """The acknowledgement rejecting a whole interchange for ``issue`` (a duplicate, say) and
    answering none of its messages: a TA1, or a CONTRL with only its UCI; each as the
    partner's settings send them."""
    builder = {"x12": _x12.reject_interchange, "edifact": _edifact.reject_interchange}.get(interchange.syntax)
    if builder is None:
        return []
    return builder(interchange, issue, settings or AckSettings(), numbers, _now(now))


def salvage_envelope(data: bytes) -> Interchange | None:
    """The envelope of an X12 or EDIFACT document the reader refused, as far
    as it can be read (sender, recipient, ISA13 / UNB 0020), or None: enough
    to find the partner and answer with :func:`reject_unreadable`."""
    return _x12.salvage_envelope(data) or _edifact.salvage_envelope(data)


def reject_unreadable(envelope: Interchange, error: EdiSyntaxError, *, settings: AckSettings | None = None,
                      numbers: Numbers, now: datetime | None = None) -> list[Acknowledgement]:
    """A TA1 or CONTRL rejecting the interchange behind ``envelope`` (from
    :func:`salvage_envelope`), with the code of the reader's ``error``."""
    builder = {"x12": _x12.reject_unreadable, "edifact": _edifact.reject_unreadable}.get(envelope.syntax)
    if builder is None:
        return []
    return builder(envelope, error, settings or AckSettings(), numbers, _now(now))


def read_acknowledgements(interchange: Interchange) -> list[AckReport]:
    """Every acknowledgement in ``interchange``: each TA1, then each 997/999/CONTRL kept on it."""
    reports = [_x12.read_ta1(s, interchange.control_ref) for s in interchange.control_segments if s.tag == "TA1"]
    reports.extend(read_acknowledgement(m) for m in interchange.messages if m.type in ACK_TYPES)
    return reports


def read_acknowledgement(item: Message | Interchange) -> AckReport:
    """What an acknowledgement says: a 997, 999 or CONTRL message, or an
    interchange holding one TA1 or acknowledgements of one kind (the 997s of
    several groups read as one report, as they were built).

    Raises ValueError for anything else, or for an acknowledgement whose
    codes or numbers make no sense.
    """
    if isinstance(item, Message):
        if item.type in ("997", "999"):
            return _x12.read_functional(item)
        if item.type == "CONTRL":
            return _edifact.read_contrl(item)
        raise ValueError(f"{item.type} {item.ref} is not an acknowledgement (997, 999 or CONTRL)")
    reports = read_acknowledgements(item)
    kinds = {r.kind for r in reports}
    if not reports:
        raise ValueError(f"interchange {item.control_ref} holds no acknowledgement")
    if len(reports) == 1:
        return reports[0]
    if len(kinds) > 1 or kinds <= {"TA1", "CONTRL"}:
        raise ValueError(f"interchange {item.control_ref} holds {len(reports)} acknowledgements "
                         f"({', '.join(sorted(kinds))}): read them with read_acknowledgements")
    verdicts = tuple(v for r in reports for v in r.verdicts)
    return AckReport(reports[0].kind, item.control_ref, None, roll_up([r.status for r in reports]), verdicts)
