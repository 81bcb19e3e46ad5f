"""The outbox: documents the gateway owes its partners, delivered through each partner's channel.

Functional acknowledgements (and, with the outbound direction, rendered
events) are queued in the state store with their bytes in the archive. The
dispatcher sends what is due through the partner's outbound adapter
(``adapters.base.Outbound``) and records the result:

    queued --send--> sent        (nothing more to wait for)
                     sent        with an MDN pending -> confirmed, failed, or overdue at its deadline
                     confirmed   (a synchronous MDN said yes)
           TransientError -> queued again after a backoff, failed after the last attempt
           TerminalError  -> failed, with the reason

Several gateway instances sharing a state store each run a dispatcher: before
sending, a dispatcher leases the document (``StateStore.claim_outbound``) for
``lease`` seconds, and one that finds it leased by another leaves it alone;
recording the result ends the lease. So a document is sent by one instance
only. An instance that dies between sending and recording leaves its lease
to run out, and then another instance sends the document again: towards the
partner delivery is at least once in that window, with the same bytes, file
name and control numbers, so the partner's duplicate check catches it. The
lease must outlast the longest send (a channel's timeout), or a slow send may
be taken over while it is still going; the instances' clocks must agree to
well within it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

from adapters.base import Outbound
from gateway.archive import Archive
from gateway.errors import TerminalError, TransientError
from gateway.events import Event, dead_letter_id
from gateway.metrics import Metrics
from gateway.state.base import CONFIRMED, DELIVERY_FAILED, OVERDUE, QUEUED, SENT, OutboundDocument, StateStore

log = structlog.get_logger("gateway.outbound.outbox")
_OVERDUE = uuid.UUID("9d6f2a1c-3b7e-4c0a-a5d2-6e1f0b8c7d34")  # namespace of AcknowledgementOverdue ids


@dataclass
class Route:
    """What an adapter needs to know about one document besides its bytes."""

    partner_id: str
    kind: str  # 997, CONTRL, ORDRSP, ...
    filename: str
    prepared: Callable[[str, dict], None] | None = None  # (external ref, facts) recorded before sending


def file_name(doc: OutboundDocument) -> str:
    suffix = "xml" if doc.kind.isalpha() and doc.kind.lower().endswith("xml") else (
        "x12" if doc.kind[:1].isdigit() or doc.kind == "TA1" else "edi")
    return f"{doc.kind}-{doc.control_ref or doc.id}.{suffix}"


class Dispatcher:
    def __init__(self, store: StateStore, archive: Archive, channels: dict[str, Outbound], *,
                 attempts: int = 8, first_delay: float = 5.0, max_delay: float = 900.0,
                 ack_deadline: Callable[[str], timedelta | None] = lambda partner: None,
                 publish: Callable[[list[Event]], object] | None = None, overdue_topic: str = "",
                 dead_letter_topic: str = "", owner: str | None = None, lease: float = 300.0,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.owner = owner or uuid.uuid4().hex  # this dispatcher, in the leases it takes
        self.lease = timedelta(seconds=lease)
        self.archive = archive
        self.channels = channels
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.ack_deadline = ack_deadline
        self.publish = publish
        self.overdue_topic = overdue_topic
        self.dead_letter_topic = dead_letter_topic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._no_channel: set[str] = set()

    # -- one round ----------------------------------------------------------------
    def deliver_due(self, now: datetime | None = None) -> int:
        """Send every queued document whose time has come and that no other dispatcher has
        leased; how many were sent."""
        given = now
        sent = 0
        for doc in self.store.find_outbound(status=QUEUED, limit=1000):
            # A round may take longer than a lease: each claim and send reads the clock afresh.
            now = given or datetime.now(timezone.utc)
            if not self._due(doc, now):
                continue
            channel = self.channels.get(doc.partner_id)
            if channel is None:
                if doc.partner_id not in self._no_channel:
                    self._no_channel.add(doc.partner_id)
                    log.warning("documents wait: the partner has no outbound channel", partner=doc.partner_id,
                                kind=doc.kind)
                continue
            claimed = self.store.claim_outbound(doc.id, self.owner, until=now + self.lease, now=now)
            if claimed is None:  # sent or being sent by another instance since it was listed
                continue
            if not self._due(claimed, now):  # another instance tried it meanwhile and set a later attempt
                self.store.update_outbound(claimed)  # unchanged, only the lease ends
                continue
            sent += self._send(claimed, channel, now)
        return sent

    @staticmethod
    def _due(doc: OutboundDocument, now: datetime) -> bool:
        due = doc.details.get("next_attempt")
        return not due or datetime.fromisoformat(due) <= now

    def _send(self, doc: OutboundDocument, channel: Outbound, now: datetime) -> int:
        current = doc

        def prepared(external_ref: str, facts: dict) -> None:
            nonlocal current
            current = current.with_status(QUEUED, external_ref=external_ref, details={**current.details, **facts})
            self.store.update_outbound(current, keep_lease=True)  # still being sent: no one else may take it

        with self.archive.open(doc.raw_ref) as stream:
            data = stream.read()
        route = Route(partner_id=doc.partner_id, kind=doc.kind, filename=doc.details.get("filename") or file_name(doc),
                      prepared=prepared)
        attempt = int(doc.details.get("attempts", 0)) + 1
        try:
            facts = channel.send(data, route) or {}
        except TransientError as exc:
            if attempt >= self.attempts:
                self._record(current, DELIVERY_FAILED, attempts=attempt, error=f"gave up after {attempt} "
                             f"attempts: {exc}")
                log.error("delivery given up", partner=doc.partner_id, kind=doc.kind, attempts=attempt,
                          error=str(exc))
                return 0
            delay = min(self.first_delay * 2 ** (attempt - 1), self.max_delay)
            self._record(current, QUEUED, attempts=attempt, error=str(exc),
                         next_attempt=(now + timedelta(seconds=delay)).isoformat())
            log.warning("delivery failed, will retry", partner=doc.partner_id, kind=doc.kind, attempt=attempt,
                        retry_in=delay, error=str(exc))
            return 0
        except TerminalError as exc:
            self._record(current, DELIVERY_FAILED, attempts=attempt, error=str(exc), **getattr(exc, "facts", {}))
            log.error("delivery refused", partner=doc.partner_id, kind=doc.kind, error=str(exc))
            return 0
        status = CONFIRMED if facts.get("mdn") == "ok" else SENT
        self._record(current, status, attempts=attempt, sent_at=now.isoformat(), error=None, next_attempt=None,
                     **facts)
        log.info("document delivered", partner=doc.partner_id, kind=doc.kind, control_ref=doc.control_ref,
                 status=status)
        return 1

    def _record(self, doc: OutboundDocument, status: str, **facts) -> None:
        counted = "retry" if status == QUEUED else status
        if "acknowledgement" in facts:  # a functional acknowledgement the partner owes is late
            counted = "overdue"
        self.metrics.sent(doc.partner_id, doc.kind, counted)
        details = {k: v for k, v in {**doc.details, **facts}.items() if v is not None}
        self.store.update_outbound(doc.with_status(status, details=details))
        if status == DELIVERY_FAILED and self.publish is not None and self.dead_letter_topic:
            self.publish([self._dead_letter(doc, details.get("error") or "delivery failed")])

    def _dead_letter(self, doc: OutboundDocument, error: str) -> Event:
        """A document that could not be delivered, on the dead-letter topic (its bytes stay in the archive)."""
        now = datetime.now(timezone.utc)
        record = {
            "event_id": dead_letter_id(doc.id, "deliver", doc.details.get("error", "")),
            "failed_at": now, "partner_id": doc.partner_id, "stage": "deliver", "reason_code": "DELIVERY_FAILED",
            "error": f"{doc.kind} {doc.control_ref or doc.id}: {error}", "position": None,
            "source": {"syntax": None, "message_type": doc.kind, "message_version": None,
                       "interchange_ref": doc.control_ref, "group_ref": None, "message_ref": None,
                       "transport": "outbound", "receipt_id": doc.receipt_id},
            "raw_ref": doc.raw_ref, "message_ref": None,
        }
        return Event("DeadLetter", self.dead_letter_topic, doc.partner_id, record)

    def mark_overdue(self, now: datetime | None = None) -> int:
        """What was not answered in time becomes overdue and says so: an MDN past its deadline, and
        a functional acknowledgement (997/999/CONTRL) the partner owes past its partner's deadline
        (also an AcknowledgementOverdue event)."""
        now = now or datetime.now(timezone.utc)
        late = 0
        overdue_events: list[Event] = []
        for status in (SENT, CONFIRMED):
            for doc in self.store.find_outbound(status=status, limit=10_000):
                deadline = doc.details.get("mdn_deadline")
                if (status == SENT and doc.details.get("mdn") == "pending" and deadline
                        and datetime.fromisoformat(deadline) < now):
                    self._record(doc, OVERDUE, error=f"no MDN by {deadline}")
                    log.error("MDN overdue", partner=doc.partner_id, kind=doc.kind, message_id=doc.external_ref,
                              deadline=deadline)
                    late += 1
                    continue
                wait = self.ack_deadline(doc.partner_id)
                sent_at = doc.details.get("sent_at")
                if (not doc.details.get("expects_ack") or doc.details.get("acknowledgement") or wait is None
                        or not sent_at or datetime.fromisoformat(sent_at) + wait >= now):
                    continue
                due = datetime.fromisoformat(sent_at) + wait
                self._record(doc, doc.status, acknowledgement={"status": "overdue", "deadline": due.isoformat()})
                overdue_events.append(self._overdue_event(doc, datetime.fromisoformat(sent_at), due, now))
                log.error("acknowledgement overdue", partner=doc.partner_id, kind=doc.kind,
                          control_ref=doc.control_ref, deadline=due.isoformat())
                late += 1
        if overdue_events and self.publish is not None:
            self.publish(overdue_events)
        return late

    def _overdue_event(self, doc: OutboundDocument, sent_at: datetime, deadline: datetime, now: datetime) -> Event:
        refs = doc.details.get("control_refs") or {}
        syntax = "x12" if "ISA13" in refs else "edifact"
        interchange = refs.get("ISA13") or refs.get("UNB0020") or doc.control_ref or ""
        record = {
            "event_id": str(uuid.uuid5(_OVERDUE, doc.id)), "event_type": "AcknowledgementOverdue",
            "occurred_at": now, "received_at": now, "partner_id": doc.partner_id,
            "source": {"syntax": syntax, "message_type": doc.kind, "message_version": "",
                       "interchange_ref": interchange, "group_ref": refs.get("GS06") or refs.get("UNG0048"),
                       "message_ref": refs.get("ST02") or refs.get("UNH0062") or "", "transport": "outbound",
                       "receipt_id": None},
            "acknowledged_syntax": syntax, "acknowledged_interchange_ref": interchange,
            "sent_at": sent_at, "deadline": deadline,
        }
        return Event("AcknowledgementOverdue", self.overdue_topic, doc.partner_id, record)

    # -- running --------------------------------------------------------------------
    def start(self, interval: float = 2.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.deliver_due()
                    self.mark_overdue()
                except Exception:  # keep delivering; the error is logged with its traceback
                    log.exception("outbox round failed")

        self._thread = threading.Thread(target=loop, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
