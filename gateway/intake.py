"""Durable intake, shared by every channel.

    take()      raw bytes -> archive (fsync) -> receipt committed  => the channel may answer now
    process()   receipt -> pipeline (on the archived bytes) -> receipt published / failed / duplicate
    recover()   at start-up: every receipt still "received" is processed again

A crash at any point after ``take`` returned loses nothing: the receipt is
pending in the store and ``recover`` runs it through the pipeline again. Event
ids are deterministic, so a document that was half published before the crash
produces the same ids again, and consumers see duplicates only with equal ids.

Duplicate interchanges (the same partner and interchange reference within
the window) are an explicit :class:`~gateway.pipeline.Skip` from the
``skip_duplicates`` stage, recorded on the receipt; nothing is published again.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import BinaryIO

import structlog

from gateway.archive import Archive
from gateway.errors import TransientError
from gateway.pipeline import Document, Outcome, Pipeline, Skip, Unit
from gateway.state.base import DUPLICATE, FAILED, PUBLISHED, RECEIVED, Receipt, StateStore, new_receipt_id

log = structlog.get_logger("gateway.intake")


class Intake:
    def __init__(self, archive: Archive, store: StateStore, pipeline: Pipeline, *,
                 duplicate_window: timedelta = timedelta(days=30), max_bytes: int | None = None) -> None:
        self.archive = archive
        self.store = store
        self.pipeline = pipeline
        self.duplicate_window = duplicate_window
        self.max_bytes = max_bytes
        self._processing = threading.Lock()  # one document at a time: a retry never races a channel
        pipeline.stages.insert(pipeline.stages.index(pipeline.identify_partner) + 1, self.skip_duplicates)

    # -- taking in ---------------------------------------------------------------
    def take(self, stream: BinaryIO | bytes, *, channel: str, partner_id: str | None = None,
             idempotency_key: str | None = None) -> Receipt:
        """Archive the document and commit its receipt; only then may the sender be answered.

        With an idempotency key seen before for the partner, the earlier
        receipt is returned and nothing new is kept.
        """
        raw_ref, size = self.archive.put(stream, max_bytes=self.max_bytes)
        receipt = Receipt(id=new_receipt_id(), channel=channel, raw_ref=raw_ref, size=size,
                          received_at=datetime.now(timezone.utc), partner_id=partner_id,
                          idempotency_key=idempotency_key)
        stored = self.store.add_receipt(receipt)
        log.info("document taken in", receipt=stored.id, channel=channel, raw_ref=raw_ref, size=size,
                 repeated=stored.id != receipt.id)
        return stored

    # -- processing ---------------------------------------------------------------
    def process(self, receipt: Receipt) -> Outcome:
        """Run the archived document through the pipeline and record the result.

        A TransientError (the broker is down) leaves the receipt pending for a
        later attempt and propagates.
        """
        with self._processing, self.archive.open(receipt.raw_ref) as stream:
            current = self.store.get_receipt(receipt.id)
            if current is not None and current.status != RECEIVED and current.updated_at != receipt.updated_at:
                return Outcome()  # finished meanwhile by another caller
            doc = Document(stream, received_at=receipt.received_at, transport=receipt.channel,
                           receipt_id=receipt.id, raw_ref=receipt.raw_ref, partner_id=receipt.partner_id)
            outcome = self.pipeline.process(doc, keep=False)
        named = sorted(outcome.partners) or [e.record["partner_id"] for e in outcome.dead_letters
                                             if e.record.get("partner_id")]
        partner = receipt.partner_id or (named[0] if named else None)
        refs = tuple(sorted({ic.control_ref for ic in outcome.interchanges if ic.control_ref}))
        if outcome.skipped and not outcome.published and not outcome.dead_letters:
            status, error = DUPLICATE, outcome.skipped[0][1]
        elif outcome.dead_letters and not outcome.published:
            status, error = FAILED, _first_error(outcome)
        else:
            status, error = PUBLISHED, _first_error(outcome) if outcome.dead_letters else None
        self.store.update_receipt(receipt.with_status(
            status, events=outcome.published, error=error, partner_id=partner,
            interchange_ref=refs[0] if refs else None, refs=refs))
        return outcome

    def recover(self) -> int:
        """Process every pending receipt (after a crash or a broker outage); how many were done."""
        done = 0
        for receipt in reversed(self.store.pending()):  # oldest first
            try:
                self.process(receipt)
                done += 1
            except TransientError as exc:
                log.warning("receipt still pending", receipt=receipt.id, error=str(exc))
                break
        return done

    # -- the duplicate stage ----------------------------------------------------------
    def skip_duplicates(self, unit: Unit) -> None:
        """Skip every message of an interchange this partner sent before (within the window)."""
        ic = unit.message.interchange
        if ic.syntax == "xml" or not ic.control_ref or unit.partner is None:
            return
        earlier = self.store.claim_interchange(unit.partner.id, ic.control_ref, unit.document.receipt_id or "",
                                               window=self.duplicate_window)
        if earlier is not None:
            raise Skip(f"duplicate of interchange {ic.control_ref} from {unit.partner.id}, "
                       f"first received as {earlier}")


def _first_error(outcome: Outcome) -> str:
    r = outcome.dead_letters[0].record
    return f"{r['reason_code']}: {r['error']} at {r['position']}"



