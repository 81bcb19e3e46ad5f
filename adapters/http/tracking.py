"""What an API key may see and do: the queries and actions the HTTP API and the tracking pages share.

A partner's key sees only that partner's documents, received and sent; an
admin key (:data:`~adapters.http.keys.ADMIN`) sees all of them. What a key may
not see does not exist for it (None, so a 404), whether it exists or not.
Replaying a received document and re-driving an outbound one are operators'
actions: admin keys only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import structlog

from adapters.http.keys import ADMIN
from gateway.inbound.intake import Intake
from gateway.state.base import DELIVERY_FAILED, QUEUED, OutboundDocument, Receipt

log = structlog.get_logger("adapters.http")


class NotAllowed(Exception):
    """The key may not do this (another partner's documents, an admin action)."""


class NotReplayable(Exception):
    """The document is not in a state the action applies to."""


class Tracking:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.store = intake.store
        self.archive = intake.archive

    # -- received documents ------------------------------------------------------------------
    def receipt(self, owner: str, receipt_id: str) -> Receipt | None:
        receipt = self.store.get_receipt(receipt_id)
        if receipt is None or (owner != ADMIN and receipt.partner_id != owner):
            return None
        return receipt

    def find(self, owner: str, *, partner: str | None = None, status: str | None = None, ref: str | None = None,
             since: datetime | None = None, until: datetime | None = None, limit: int = 50) -> list[Receipt]:
        return self.store.find_receipts(partner_id=self.partner_filter(owner, partner), status=status, ref=ref,
                                        since=since, until=until, limit=limit)

    def partner_filter(self, owner: str, partner: str | None) -> str | None:
        """The partner a query is restricted to: the key's own, whatever is asked, for a partner key."""
        if owner == ADMIN:
            return partner
        if partner is not None and partner != owner:
            raise NotAllowed(f"this API key belongs to {owner}, not {partner}")
        return owner

    def acknowledgements_sent(self, receipt: Receipt) -> list[OutboundDocument]:
        return self.store.find_outbound(receipt_id=receipt.id)

    def acknowledgements_answered(self, receipt: Receipt, limit: int = 10_000) -> list[OutboundDocument]:
        """The outbound documents this received document (a partner's 997/999/CONTRL) gave a verdict on."""
        if receipt.partner_id is None:
            return []
        return [d for d in self.store.find_outbound(partner_id=receipt.partner_id, limit=limit)
                if (d.details.get("acknowledgement") or {}).get("receipt_id") == receipt.id]

    def raw(self, ref: str, limit: int = -1) -> bytes:
        """The archived bytes, or their first ``limit``."""
        with self.archive.open(ref) as stream:
            return stream.read(limit)

    def replay(self, owner: str, receipt_id: str) -> Receipt:
        """Process a failed document again, now, with the mappings loaded at start-up; its events keep
        their ids. A TransientError (broker down) propagates and leaves the receipt pending."""
        if owner != ADMIN:
            raise NotAllowed("replaying a document takes an admin key")
        receipt = self.store.get_receipt(receipt_id)
        if receipt is None:
            raise LookupError(receipt_id)
        if receipt.status != "failed":
            raise NotReplayable(f"document {receipt_id} is {receipt.status}; only failed documents are replayed "
                                "here (edigw replay takes any)")
        refused = [e for e in receipt.details.get("errors", []) if e.get("stage") == "http"]
        if refused:  # e.g. PARTNER_MISMATCH: the pipeline would publish what the sender was not entitled to
            raise NotReplayable(f"document {receipt_id} was refused when it was posted ({refused[0].get('code')}): "
                                "it is kept, not replayed")
        log.info("document replayed", receipt=receipt_id, previous_error=receipt.error)
        self.intake.process(receipt)
        return self.store.get_receipt(receipt_id)

    # -- documents the gateway sends --------------------------------------------------------------
    def outbound(self, owner: str, document_id: str) -> OutboundDocument | None:
        doc = self.store.get_outbound(document_id)
        if doc is None or (owner != ADMIN and doc.partner_id != owner):
            return None
        return doc

    def find_outbound(self, owner: str, *, partner: str | None = None, status: str | None = None,
                      limit: int = 50) -> list[OutboundDocument]:
        found = self.store.find_outbound(partner_id=self.partner_filter(owner, partner), status=status,
                                         limit=100_000)
        return list(reversed(found))[:limit]  # newest first, as documents are listed

    def redrive(self, owner: str, document_id: str) -> OutboundDocument:
        """Queue a failed outbound document again with a fresh count of attempts; the dispatcher sends it."""
        if owner != ADMIN:
            raise NotAllowed("re-driving a document takes an admin key")
        doc = self.store.get_outbound(document_id)
        if doc is None:
            raise LookupError(document_id)
        if doc.status != DELIVERY_FAILED:
            raise NotReplayable(f"document {document_id} is {doc.status}; only failed deliveries are re-driven")
        now = datetime.now(timezone.utc).isoformat()
        history = [*doc.details.get("redriven", []), {"at": now, "error": doc.details.get("error")}]
        again = replace(doc.with_status(QUEUED), details={**doc.details, "attempts": 0, "next_attempt": None,
                                                          "redriven": history})
        self.store.update_outbound(again)
        log.info("outbound document re-driven", document=document_id, partner=doc.partner_id,
                 previous_error=doc.details.get("error"))
        return again
