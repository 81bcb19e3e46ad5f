"""Durable intake, shared by every channel.

    take()      raw bytes -> archive (fsync) -> receipt committed  => the channel may answer now
    process()   receipt -> pipeline (on the archived bytes) -> receipt published / failed / duplicate
    recover()   at start-up: every receipt still "received" is processed again; later,
                what a broker outage left pending

A crash at any point after ``take`` returned loses nothing: the receipt is
pending in the store and ``recover`` runs it through the pipeline again. Event
ids are deterministic, so a document that was half published before the crash
produces the same ids again, and consumers see duplicates only with equal ids.

Duplicate interchanges (the same partner and interchange reference within
the window) are an explicit :class:`~gateway.inbound.pipeline.Duplicate` from the
``skip_duplicates`` stage, recorded on the receipt; nothing is published again.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, BinaryIO

import structlog

from gateway.acks import Acknowledgement, read_acknowledgement
from gateway.acks.reasons import verdict_details
from gateway.acks.report import Verdict
from gateway.archive import Archive
from gateway.errors import TransientError
from gateway.inbound.document import Document
from gateway.inbound.pipeline import Duplicate, Outcome, Pipeline, Unit
from gateway.metrics import Metrics
from gateway.state.base import (
    CONFIRMED, DELIVERY_FAILED, DUPLICATE, FAILED, OVERDUE, PUBLISHED, RECEIVED, SENT, OutboundDocument, Receipt,
    StateStore,
    new_receipt_id,
)

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.inbound.workers import ReceiptWorkers

log = structlog.get_logger("gateway.inbound.intake")
_ACKS = uuid.UUID("5b0c3f1e-7d2a-4c53-9a57-0a6c6b1d2e41")  # namespace of acknowledgement ids


class BacklogFull(TransientError):
    """So many documents wait to be published (the broker is down, say) that no more are taken in:
    the channel tells its sender to retry (HTTP and AS2 503, SFTP a failed close, a polled or
    dropped file stays where it is)."""


class Intake:
    def __init__(self, archive: Archive, store: StateStore, pipeline: Pipeline, *,
                 duplicate_window: timedelta = timedelta(days=30), max_bytes: int | None = None,
                 metrics: Metrics | None = None, max_backlog: int | None = None,
                 lease: timedelta = timedelta(minutes=5), owner: str | None = None) -> None:
        self.archive = archive
        # several instances sharing the store: a receipt is leased (StateStore.claim_receipt) to
        # the one processing it, for longer than processing takes (a broker timeout included)
        self.lease = lease
        self.owner = owner or uuid.uuid4().hex
        self.metrics = metrics or Metrics()
        self.max_backlog = max_backlog
        self._backlog = (0.0, 0)  # (when counted, count): counted at most once a second
        self.metrics.count_backlog(self.backlog)
        self.store = store
        self.pipeline = pipeline
        self.duplicate_window = duplicate_window
        self.max_bytes = max_bytes
        self._paused_until = 0.0
        self._worker: threading.Thread | None = None
        self._held: set[str] = set()  # receipts queued or being processed here: recover() leaves them
        self._held_lock = threading.Lock()
        self._deferred = False
        self._claimed: tuple | None = None  # (interchange, partner, first receipt) of the last duplicate check
        self._processing = threading.Lock()  # one document at a time: a retry never races a channel
        pipeline.stages.insert(pipeline.stages.index(pipeline.identify_partner) + 1, self.skip_duplicates)
        pipeline.acknowledge = self  # functional acknowledgements: numbered and queued here
        pipeline.stages.insert(pipeline.stages.index(self.skip_duplicates) + 1, self.reconcile_acknowledgements)

    @classmethod
    def configured(cls, config: GatewayConfig, store: StateStore, pipeline: Pipeline, *,
                   metrics: Metrics | None = None) -> Intake:
        """The intake ``config`` describes (archive, duplicate window, size and backlog limits)."""
        from gateway.bootstrap import build_archive

        return cls(build_archive(config), store, pipeline,
                   duplicate_window=timedelta(days=config.duplicate_window_days),
                   max_bytes=config.max_document_bytes, metrics=metrics, max_backlog=config.max_backlog,
                   lease=timedelta(seconds=config.receipt_lease_seconds), owner=config.instance())

    # -- taking in ---------------------------------------------------------------
    def take(self, stream: BinaryIO | bytes, *, channel: str, partner_id: str | None = None,
             idempotency_key: str | None = None) -> Receipt:
        """Archive the document and commit its receipt; only then may the sender be answered.

        With an idempotency key seen before for the partner, the earlier
        receipt is returned and nothing new is kept. Raises :class:`BacklogFull`
        when ``max_backlog`` documents are pending.
        """
        if self.backlog_full():
            raise BacklogFull(f"{self.max_backlog} documents are waiting to be published (is the broker down?); "
                              "retry later")
        with self.metrics.timed("take"):
            raw_ref, size = self.archive.put(stream, max_bytes=self.max_bytes)
            receipt = Receipt(id=new_receipt_id(), channel=channel, raw_ref=raw_ref, size=size,
                              received_at=datetime.now(timezone.utc), partner_id=partner_id,
                              idempotency_key=idempotency_key)
            stored = self.store.add_receipt(receipt)
        if stored.id == receipt.id:
            self.metrics.document(partner_id, channel, RECEIVED)
        log.info("document taken in", receipt=stored.id, channel=channel, raw_ref=raw_ref, size=size,
                 repeated=stored.id != receipt.id)
        return stored

    def backlog(self) -> int:
        """Receipts taken in and not yet processed (counted up to ``max_backlog``, at most once a second)."""
        counted_at, count = self._backlog
        if time.monotonic() - counted_at >= 1.0:
            count = self.store.count_pending(limit=(self.max_backlog or 10_000) + 1)
            self._backlog = (time.monotonic(), count)
        return count

    def backlog_full(self) -> bool:
        return self.max_backlog is not None and self.backlog() >= self.max_backlog

    # -- processing ---------------------------------------------------------------
    def process(self, receipt: Receipt) -> Outcome:
        """Run the archived document through the pipeline and record the result.

        A TransientError (the broker is down) leaves the receipt pending for a
        later attempt and propagates.
        """
        with self._processing, self.metrics.timed("process"):
            now = datetime.now(timezone.utc)
            current = self.store.claim_receipt(receipt.id, self.owner, until=now + self.lease, now=now)
            if current is None:
                return Outcome()  # another instance is processing it right now
            if current.status != RECEIVED and current.updated_at != receipt.updated_at:
                self.store.release_receipt(receipt.id, self.owner)
                return Outcome()  # finished meanwhile by another caller
            try:
                with self.archive.open(receipt.raw_ref) as stream:
                    doc = Document(stream, received_at=receipt.received_at, transport=receipt.channel,
                                   receipt_id=receipt.id, raw_ref=receipt.raw_ref, partner_id=receipt.partner_id)
                    outcome = self.pipeline.process(doc, keep=False)
            except BaseException:
                self._give_up(receipt.id)
                raise
        named = sorted(outcome.partners) or [e.record["partner_id"] for e in outcome.dead_letters
                                             if e.record.get("partner_id")]
        partner = receipt.partner_id or (named[0] if named else None)
        interchange_refs = sorted({ic.control_ref for ic in outcome.interchanges if ic.control_ref})
        # business references (the events' keys: order numbers, shipment ids ...) find the document too
        refs = tuple(sorted({*interchange_refs, *(e["key"] for e in outcome.summary if e["key"])}))
        if outcome.skipped and not outcome.published and not outcome.dead_letters:
            status, error = DUPLICATE, outcome.skipped[0][1]
        elif outcome.dead_letters and not outcome.published:
            status, error = FAILED, _first_error(outcome)
        else:
            status, error = PUBLISHED, _first_error(outcome) if outcome.dead_letters else None
        self.store.update_receipt(receipt.with_status(
            status, events=outcome.published, error=error, partner_id=partner,
            interchange_ref=interchange_refs[0] if interchange_refs else None, refs=refs,
            details=details(outcome)))
        self.metrics.document(partner, receipt.channel, status)
        self.metrics.stages(outcome.seconds)
        return outcome

    def _give_up(self, receipt_id: str) -> None:
        """Processing failed (the broker is down, say): end the lease so the retry need not wait
        it out; when even that fails, the lease runs out by itself."""
        try:
            self.store.release_receipt(receipt_id, self.owner)
        except Exception as exc:
            log.warning("receipt lease not released; it runs out", receipt=receipt_id, error=str(exc))

    # -- processing in the background (channels that answer before processing) ----------
    def start(self, *, pause: float = 10.0, workers: ReceiptWorkers | None = None) -> None:
        """Process submitted receipts on a worker thread, in the order they came, or hand
        them to ``workers`` (processes, each with an intake of its own over the same store
        and archive, which keep each partner's order; see :class:`~gateway.inbound.workers.ReceiptWorkers`).

        After a TransientError (broker down) the receipts queued behind it are left
        pending for ``pause`` seconds instead of waiting out a timeout on each;
        :meth:`recover` (called periodically) queues them again.
        """
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pause = pause
        self._paused_until = 0.0
        self._workers = workers
        self._worker = threading.Thread(target=self._work, name="intake-worker", daemon=True)
        self._worker.start()

    def submit(self, receipt: Receipt) -> None:
        """Process ``receipt`` soon (it is already durable: a crash loses nothing)."""
        with self._held_lock:
            self._held.add(receipt.id)
        self._queue.put(receipt.id)

    @property
    def deferred(self) -> bool:
        """Receipts were left pending by a broker outage and have not been taken up again."""
        return self._deferred

    def stop(self) -> None:
        if getattr(self, "_worker", None) is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def _release(self, receipt_id: str, *, deferred: bool = False) -> None:
        with self._held_lock:
            self._held.discard(receipt_id)
        if deferred:
            self._deferred = True

    def _work(self) -> None:
        while (receipt_id := self._queue.get()) is not None:
            if time.monotonic() < self._paused_until:
                self._release(receipt_id, deferred=True)  # stays pending; recover() queues it again
                continue
            receipt = self.store.get_receipt(receipt_id)
            if receipt is None or receipt.status != RECEIVED:
                self._release(receipt_id)
                continue
            if self._workers is not None:
                future = self._workers.submit(receipt.id, receipt.partner_id, receipt.size)
                future.add_done_callback(lambda done, rid=receipt.id: self._processed(rid, done))
                continue
            try:
                outcome = self.process(receipt)
            except TransientError as exc:
                self._paused_until = time.monotonic() + self._pause
                self._release(receipt_id, deferred=True)
                log.warning("document taken in, publishing deferred", receipt=receipt_id, error=str(exc))
                continue
            except Exception:  # a bug: keep the worker alive; the receipt stays pending
                self._release(receipt_id)
                log.exception("document could not be processed", receipt=receipt_id)
                continue
            self._release(receipt_id)
            log.info("document processed", receipt=receipt_id, messages=outcome.messages,
                     events=outcome.published, dead_letters=outcome.dead_letter_count, skipped=outcome.skipped_count)

    def _processed(self, receipt_id: str, future) -> None:
        """A worker process is done with a receipt: count it here, where /metrics is served."""
        try:
            done = future.result()
        except TransientError as exc:
            self._paused_until = time.monotonic() + self._pause
            self._release(receipt_id, deferred=True)
            log.warning("document taken in, publishing deferred", receipt=receipt_id, error=str(exc))
            return
        except Exception as exc:  # a bug, or the worker died: the receipt stays pending for recover()
            self._release(receipt_id)
            log.error("document could not be processed", receipt=receipt_id, error=repr(exc))
            return
        self._release(receipt_id)
        if done is None:
            return
        self.metrics.stage_seconds.labels("process").observe(done.seconds)
        self.metrics.stages(done.stages)
        self.metrics.document(done.partner_id, done.channel, done.status)
        log.info("document processed", receipt=receipt_id, messages=done.messages, events=done.published,
                 dead_letters=done.dead_letters, skipped=done.skipped)

    def recover(self, *, settled: timedelta | None = None) -> int:
        """Take up pending receipts, oldest first; how many.

        At start-up every pending receipt (a crash left it); later, the ones a
        broker outage left pending, or with ``settled`` only those pending at
        least that long (a bug, or another instance that died holding them: a
        receipt another instance is processing right now is left to it).
        Receipts this intake holds (queued, being processed) are never taken
        twice. Once :meth:`start` ran they are queued for the worker(s), behind
        what is already queued; before, they are processed here and now.
        """
        oldest = datetime.now(timezone.utc) - settled if settled is not None else None
        with self._held_lock:
            held = set(self._held)
        pending = [r for r in reversed(self.store.pending())  # oldest first
                   if r.id not in held and (oldest is None or r.received_at <= oldest)]
        if getattr(self, "_worker", None) is not None:
            self._deferred = False
            self._paused_until = 0.0  # one more try; a TransientError pauses again
            for receipt in pending:
                self.submit(receipt)
            return len(pending)
        done = 0
        for receipt in pending:
            try:
                self.process(receipt)
                done += 1
            except TransientError as exc:
                log.warning("receipt still pending", receipt=receipt.id, error=str(exc))
                self._deferred = True
                break
        else:
            self._deferred = False
            self._paused_until = 0.0  # everything pending went through: the broker is back
        return done

    # -- functional acknowledgements (the pipeline's AckOutbox) -------------------------
    def control_number(self, partner_id: str, kind: str) -> int:
        return self.store.next_control_number(partner_id, kind)

    def queue(self, doc: Document, partner, ack: Acknowledgement) -> None:
        """Keep the acknowledgement's bytes and queue it for the partner's outbound channel.

        Its id is derived from the receipt and what it answers, so processing
        the same receipt again (recovery, replay) queues nothing twice.
        """
        answers = f"{doc.receipt_id or doc.raw_ref}|{ack.kind}|{ack.interchange_ref}|{','.join(ack.group_refs)}"
        raw_ref, _ = self.archive.put(ack.open())  # from its spool: a large one is never whole in memory
        queued = self.store.add_outbound(OutboundDocument(
            id=uuid.uuid5(_ACKS, answers).hex, partner_id=partner.id, kind=ack.kind, raw_ref=raw_ref,
            created_at=datetime.now(timezone.utc), control_ref=ack.control_ref, receipt_id=doc.receipt_id,
            details=ack.to_json()))
        log.info("acknowledgement queued" if queued else "acknowledgement already queued", kind=ack.kind,
                 partner=partner.id, status=ack.status, control_ref=ack.control_ref, receipt=doc.receipt_id)

    # -- acknowledgements partners send for documents the gateway sent -----------------
    def reconcile_acknowledgements(self, unit: Unit) -> None:
        """A 997, 999 or CONTRL from a partner: record its verdict on the outbound documents it answers.

        An X12 acknowledgement names groups (GS06) and sets (ST02); a CONTRL
        names the interchange (UNB 0020) and messages (UNH 0062). The message
        itself goes on through the stages (it becomes AcknowledgementReceived).
        """
        message = unit.message
        if message.type not in ("997", "999", "CONTRL") or unit.partner is None:
            return
        try:
            report = read_acknowledgement(message)
        except ValueError as exc:
            log.warning("acknowledgement cannot be read", partner=unit.partner.id, message_ref=message.ref,
                        error=str(exc))
            return
        received = datetime.now(timezone.utc).isoformat()
        for doc in self.store.find_outbound(partner_id=unit.partner.id, limit=10_000):
            if not doc.details.get("expects_ack") or not _reached_the_partner(doc):
                continue
            found = _verdict_for(report, doc.details.get("control_refs") or {})
            if found is None:
                continue
            status, verdict = found
            answer = {"status": status, "kind": report.kind, "control_ref": report.control_ref,
                      "received_at": received, "receipt_id": unit.document.receipt_id,
                      **(verdict_details(report.kind, verdict) if verdict is not None else {})}
            self.store.update_outbound(replace(doc, details={**doc.details, "acknowledgement": answer}))
            log.info("acknowledgement matched", partner=unit.partner.id, document=doc.id, kind=report.kind,
                     status=status)

    # -- the duplicate stage ----------------------------------------------------------
    def skip_duplicates(self, unit: Unit) -> None:
        """Skip every message of an interchange this partner sent before (within the window)."""
        ic = unit.message.interchange
        if ic.syntax == "xml" or not ic.control_ref or unit.partner is None:
            return
        seen = self._claimed
        if seen is not None and seen[0] is ic and seen[1] == unit.partner.id:
            earlier = seen[2]  # the interchange's other messages: asked once, not once per message
        else:
            earlier = self.store.claim_interchange(unit.partner.id, ic.control_ref, unit.document.receipt_id or "",
                                                   window=self.duplicate_window)
            self._claimed = (ic, unit.partner.id, earlier)
        if earlier is not None:
            raise Duplicate(f"duplicate of interchange {ic.control_ref} from {unit.partner.id}, "
                            f"first received as {earlier}", earlier)


def _reached_the_partner(doc) -> bool:
    """The partner has the document's bytes: it was sent (an MDN confirmed it, or none was asked for,
    or it is overdue), or its MDN was negative. A negative MDN (``processed/error``, say) still comes
    from the partner's system, which may go on to acknowledge the document with a 997 or CONTRL; a
    document refused before it was sent (content validation, say) cannot be acknowledged."""
    if doc.status in (SENT, CONFIRMED, OVERDUE):
        return True
    return doc.status == DELIVERY_FAILED and doc.details.get("mdn") == "failed"


def _verdict_for(report, refs: dict) -> tuple[str, Verdict | None] | None:
    """What ``report`` says about the document sent with control references ``refs``, if anything:
    its status, and the verdict that says it (with its codes and AK3/AK4, UCS/UCD findings)."""
    if report.kind in ("997", "999"):
        group, message = refs.get("GS06"), refs.get("ST02")
        for verdict in report.verdicts:
            if verdict.level == "message" and verdict.group == group and verdict.ref == message:
                return verdict.status, verdict
        for verdict in report.verdicts:
            if verdict.level == "group" and verdict.ref == group:
                return verdict.status, verdict
        return None
    if report.kind == "CONTRL" and report.interchange_ref == refs.get("UNB0020"):
        for verdict in report.verdicts:
            if verdict.level == "message" and verdict.ref == refs.get("UNH0062"):
                return verdict.status, verdict
        interchange = next((v for v in report.verdicts if v.level == "interchange"), None)
        return report.status, interchange
    return None


def details(outcome: Outcome) -> dict:
    """What the status API shows of a processed document (JSON-ready)."""
    out: dict = {"messages": outcome.messages, "events": outcome.summary}
    if outcome.published > len(outcome.summary):
        out["events_not_listed"] = outcome.published - len(outcome.summary)
    # errors and skipped messages: the first Outcome.SUMMARY_LIMIT listed, with the totals when more
    if outcome.dead_letters:
        out["errors"] = [{"code": d.record["reason_code"], "stage": d.record["stage"], "error": d.record["error"],
                          "position": d.record["position"], "message_ref": d.record["message_ref"],
                          "dead_letter_id": d.record["event_id"]} for d in outcome.dead_letters]
        if outcome.dead_letter_count > len(outcome.dead_letters):
            out["errors_total"] = outcome.dead_letter_count
    if outcome.skipped:
        out["skipped"] = [{"message_ref": ref, "reason": reason} for ref, reason in outcome.skipped]
        if outcome.skipped_count > len(outcome.skipped):
            out["skipped_total"] = outcome.skipped_count
    if outcome.findings:  # content validation: rejected messages' findings and accepted-with-errors ones
        out["findings"] = outcome.findings
    return out


def _first_error(outcome: Outcome) -> str:
    r = outcome.dead_letters[0].record
    return f"{r['reason_code']}: {r['error']} at {r['position']}"



