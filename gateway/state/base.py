"""The state store's interface and the records it keeps."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

# Receipt states, in the order a document goes through them.
RECEIVED, PUBLISHED, FAILED, DUPLICATE = "received", "published", "failed", "duplicate"
STATUSES = (RECEIVED, PUBLISHED, FAILED, DUPLICATE)


def new_receipt_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Receipt:
    """One document taken in: where its raw bytes are and what became of it."""

    id: str
    channel: str  # http, sftp, as2, file
    raw_ref: str  # sha256:... in the archive
    size: int
    received_at: datetime
    partner_id: str | None = None
    status: str = RECEIVED
    idempotency_key: str | None = None
    interchange_ref: str | None = None
    events: int = 0
    error: str | None = None
    updated_at: datetime | None = None
    refs: tuple[str, ...] = field(default=())  # business references (order numbers ...) for look-ups
    # what the status API shows: events published (ids, topics), errors with positions,
    # messages skipped as duplicates; JSON-ready
    details: dict = field(default_factory=dict, compare=False)

    def with_status(self, status: str, **changes) -> Receipt:
        return replace(self, status=status, updated_at=datetime.now(timezone.utc), **changes)


# Outbound document states: queued -> sent (-> acknowledged | overdue) or failed.
QUEUED, SENT, DELIVERY_FAILED, CONFIRMED, OVERDUE = "queued", "sent", "failed", "confirmed", "overdue"


@dataclass(frozen=True)
class OutboundDocument:
    """A document the gateway owes a partner: a functional acknowledgement, or later a rendered event.

    Its bytes are in the archive (``raw_ref``); an outbound channel sends what is queued.
    """

    id: str
    partner_id: str
    kind: str  # 997, 999, TA1, CONTRL, ORDRSP, ...
    raw_ref: str
    created_at: datetime
    control_ref: str | None = None  # its own interchange control reference
    receipt_id: str | None = None  # the received document it answers, if any
    status: str = QUEUED
    updated_at: datetime | None = None
    details: dict = field(default_factory=dict, compare=False)  # what it answers, accepted/rejected, ...
    external_ref: str | None = None  # the channel's id for it (an AS2 Message-ID), to match what comes back

    def with_status(self, status: str, **changes) -> OutboundDocument:
        return replace(self, status=status, updated_at=datetime.now(timezone.utc), **changes)


class StateStore(abc.ABC):
    """What the gateway remembers. Every method is atomic; implementations are thread-safe."""

    @abc.abstractmethod
    def add_receipt(self, receipt: Receipt) -> Receipt:
        """Commit ``receipt`` durably. With an idempotency key already known for
        the same partner, nothing is added and the earlier receipt is returned."""

    @abc.abstractmethod
    def get_receipt(self, receipt_id: str) -> Receipt | None: ...

    @abc.abstractmethod
    def update_receipt(self, receipt: Receipt) -> None:
        """Store the receipt's new status, counts, error and references, and end its processing
        lease (see :meth:`claim_receipt`)."""

    @abc.abstractmethod
    def claim_receipt(self, receipt_id: str, owner: str, *, until: datetime,
                      now: datetime | None = None) -> Receipt | None:
        """Lease the receipt to ``owner`` for processing until ``until``, in one atomic step, when no
        other owner's lease runs past ``now``; the receipt as it is then, else None (unknown, or
        being processed by another instance). The same owner may claim again. The lease ends with
        :meth:`update_receipt`, :meth:`release_receipt`, or when ``until`` has passed: so of several
        instances sharing a store one processes a receipt at a time, and the receipts of an
        instance that died while processing them are taken up by another after a while."""

    @abc.abstractmethod
    def release_receipt(self, receipt_id: str, owner: str) -> None:
        """End ``owner``'s lease on the receipt (processing was given up: a broker outage, say)."""

    @abc.abstractmethod
    def find_receipts(self, *, partner_id: str | None = None, status: str | None = None,
                      ref: str | None = None, since: datetime | None = None, limit: int = 100,
                      until: datetime | None = None) -> list[Receipt]:
        """Receipts matching every given criterion, newest first. ``ref`` matches an
        interchange reference or a business reference; received from ``since`` on and
        before ``until``."""

    def pending(self, limit: int = 1000) -> list[Receipt]:
        """Receipts taken in but not finished: what a restart processes again."""
        return self.find_receipts(status=RECEIVED, limit=limit)

    def count_pending(self, limit: int) -> int:
        """How many receipts are pending, counted up to ``limit`` (the backlog)."""
        return len(self.pending(limit=limit))

    @abc.abstractmethod
    def claim_interchange(self, partner_id: str, interchange_ref: str, receipt_id: str, *,
                          window: timedelta, now: datetime | None = None) -> str | None:
        """Record that ``receipt_id`` carries this interchange. Returns None when it
        is new (or only seen longer than ``window`` ago, or by this same receipt),
        else the id of the receipt that had it first: a duplicate."""

    @abc.abstractmethod
    def next_control_number(self, partner_id: str, kind: str, *, first: int = 1, last: int = 999_999_999) -> int:
        """The next control number of ``kind`` (ISA13, GS06, ST02, UNB 0020, ...)
        for the partner: unique and increasing, never handed out twice, also
        across restarts and between processes sharing the store."""

    # -- outbound documents (acknowledgements queued for the partner's channel) -------
    @abc.abstractmethod
    def add_outbound(self, document: OutboundDocument) -> bool:
        """Queue ``document``; False (and nothing changed) when its id is already there."""

    @abc.abstractmethod
    def update_outbound(self, document: OutboundDocument, *, keep_lease: bool = False) -> None:
        """Store the document's new status, details and external reference, and release its
        delivery lease (see :meth:`claim_outbound`) unless ``keep_lease``: what is recorded in
        the middle of a send must not let another instance take the document."""

    @abc.abstractmethod
    def claim_outbound(self, document_id: str, owner: str, *, until: datetime,
                       now: datetime | None = None) -> OutboundDocument | None:
        """Lease the document to ``owner`` for delivery until ``until``, in one atomic step, when
        it is queued and no other owner's lease runs past ``now``; the document as it is then,
        else None (sent, failed, or being sent by someone else). The same owner may claim again.
        The lease ends with :meth:`update_outbound` or when ``until`` has passed, so the documents
        of an instance that died mid-send are taken by another after a while."""

    @abc.abstractmethod
    def get_outbound(self, document_id: str) -> OutboundDocument | None: ...

    @abc.abstractmethod
    def find_outbound(self, *, receipt_id: str | None = None, partner_id: str | None = None,
                      status: str | None = None, external_ref: str | None = None,
                      limit: int = 100) -> list[OutboundDocument]:
        """Outbound documents matching every given criterion, oldest first."""

    def ping(self) -> None:
        """Raise when the store cannot be reached (for /readyz)."""

    def close(self) -> None:
        """Release the store's connections."""
