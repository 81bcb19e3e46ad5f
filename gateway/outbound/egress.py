"""Egress: events from Kafka become partner documents in the outbox.

    consume (one consumer group) -> decode -> plan: which partners' routes take this event
        -> render each (control numbers from the state store) -> bytes archived + outbox row
        -> commit the offset                      (the outbox dispatcher delivers later)

The offset is committed only after every document the event becomes is
durably queued, so a crash re-reads the event; the outbox row's id is derived
from the event id, the partner and the route, so an event rendered before is
neither rendered nor sent again (after a restart, a rebalance, or a replay of
the topic). A render error (a missing field, a character the partner's
character set cannot carry) is terminal: a DeadLetter event names the route
and the reason, and the consumer goes on with the next event.

With a ``check`` (the service passes gateway.validation's), every rendered
document is validated against the standard and the partner's implementation
guide before it is queued: an invalid one is archived and recorded as failed
with its findings (never sent), and dead-lettered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import structlog

from gateway.archive import Archive
from gateway.errors import TerminalError, TransientError
from gateway.events import Event, dead_letter_id
from gateway.state.base import DELIVERY_FAILED, OutboundDocument, StateStore

log = structlog.get_logger("gateway.outbound.egress")
_DOCS = uuid.UUID("0c4e6a52-9a3e-4f3a-8e0e-5f5e2d7b9c11")  # namespace of outbound document ids


class Rendered(Protocol):
    data: bytes
    message_type: str  # ORDRSP, 855, ...


class Plan(Protocol):
    """One document an event becomes for one partner."""

    partner_id: str
    name: str  # the route's name, stable across restarts

    def render(self, numbers: Callable[[str], int], now: datetime) -> Rendered: ...


@dataclass
class Queued:
    document: OutboundDocument | None  # None: already queued before (a redelivered event)
    plan: Plan


class Egress:
    """Turns decoded events into queued outbound documents; Kafka-free, so tests can drive it."""

    def __init__(self, store: StateStore, archive: Archive, plan: Callable[[str, dict], Sequence[Plan]], *,
                 dead_letters: Callable[[list[Event]], object] | None = None,
                 dead_letter_topic: str = "edigw.deadletter",
                 check: Callable[[str, bytes], list] | None = None) -> None:
        self.store = store
        self.archive = archive
        self.plan = plan
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.check = check  # (partner id, document) -> its errors (Issues): an invalid document is not sent

    def handle(self, event_type: str, record: dict[str, Any], *, now: datetime | None = None) -> list[Queued]:
        """Queue every document ``record`` becomes; a TransientError leaves the event to be read again."""
        now = now or datetime.now(timezone.utc)
        event_id = str(record.get("event_id", ""))
        done: list[Queued] = []
        failed: list[Event] = []
        for plan in self.plan(event_type, record):
            doc_id = uuid.uuid5(_DOCS, f"{event_id}|{plan.partner_id}|{plan.name}").hex
            if any(d.id == doc_id for d in self.store.find_outbound(receipt_id=f"event:{event_id}",
                                                                    partner_id=plan.partner_id)):
                done.append(Queued(None, plan))
                continue
            try:
                rendered = plan.render(lambda kind, p=plan.partner_id: self.store.next_control_number(p, kind), now)
            except TransientError:
                raise
            except TerminalError as exc:
                failed.append(self._dead_letter(event_type, record, plan, exc, now))
                log.error("event could not be rendered", event_type=event_type, event_id=event_id,
                          partner=plan.partner_id, route=plan.name, error=str(exc))
                continue
            problems = self.check(plan.partner_id, rendered.data) if self.check is not None else []
            raw_ref, _ = self.archive.put(rendered.data)
            control_refs = getattr(rendered, "control_refs", {}) or {}
            document = OutboundDocument(
                id=doc_id, partner_id=plan.partner_id, kind=rendered.message_type, raw_ref=raw_ref,
                created_at=now, control_ref=control_refs.get("ISA13") or control_refs.get("UNB0020"),
                receipt_id=f"event:{event_id}",
                details={"event_type": event_type, "event_id": event_id, "route": plan.name,
                         "control_refs": control_refs, "filename": getattr(rendered, "filename", None),
                         "expects_ack": bool(getattr(rendered, "expects_ack", False))})
            if problems:  # kept (archived, recorded as failed with the reason), never sent
                first = problems[0]
                more = f" (and {len(problems) - 1} more error(s))" if len(problems) > 1 else ""
                reason = f"not valid for {plan.partner_id}: {first}{more}"
                document = document.with_status(DELIVERY_FAILED, details={
                    **document.details, "error": reason, "findings": [i.to_json() for i in problems[:100]]})
                self.store.add_outbound(document)
                failed.append(self._dead_letter(event_type, record, plan, _Invalid(reason, first), now,
                                                stage="validation", raw_ref=raw_ref))
                log.error("rendered document is not valid; not sent", event_type=event_type, event_id=event_id,
                          partner=plan.partner_id, route=plan.name, error=reason)
                continue
            self.store.add_outbound(document)
            done.append(Queued(document, plan))
            log.info("document queued for a partner", event_type=event_type, event_id=event_id,
                     partner=plan.partner_id, route=plan.name, kind=rendered.message_type,
                     control_ref=document.control_ref)
        if failed and self.dead_letters is not None:
            self.dead_letters(failed)
        return done

    def _dead_letter(self, event_type: str, record: dict, plan: Plan, exc: Exception, now: datetime, *,
                     stage: str = "render", raw_ref: str | None = None) -> Event:
        event_id = str(record.get("event_id", ""))
        issue = getattr(exc, "issue", None)
        dead = {
            "event_id": dead_letter_id(f"event:{event_id}", stage, f"{plan.partner_id}|{plan.name}"),
            "failed_at": now,
            "partner_id": plan.partner_id,
            "stage": stage,
            "reason_code": getattr(issue, "code", None) or getattr(exc, "code", None) or "RENDER_FAILED",
            "error": f"{event_type} {event_id} for route {plan.name}: {exc}",
            "position": str(issue.location) if issue is not None else f"route {plan.name}",
            "source": {"syntax": None, "message_type": event_type, "message_version": None,
                       "interchange_ref": None, "group_ref": None, "message_ref": event_id,
                       "transport": "kafka", "receipt_id": None},
            "raw_ref": raw_ref,
            "message_ref": event_id,
        }
        return Event("DeadLetter", self.dead_letter_topic, plan.partner_id, dead)


class _Invalid(TerminalError):
    """A rendered document the partner would refuse (its first finding as the issue)."""

    def __init__(self, reason: str, issue) -> None:
        super().__init__(reason)
        self.issue = issue


class EventConsumer:
    """A confluent-kafka consumer group feeding :class:`Egress`; commits after the outbox holds it all."""

    def __init__(self, egress: Egress, *, bootstrap_servers: str, topics: list[str], group_id: str, encoder,
                 extra: dict | None = None) -> None:
        from confluent_kafka import Consumer

        from gateway.sinks.kafka import client_log

        self.egress = egress
        self.encoder = encoder
        self.topics = topics
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,  # committed by hand, after the documents are queued
            "auto.offset.reset": "earliest",  # a new route starts with what is already on the topic
            "session.timeout.ms": 6000,
            # a route's topic may not exist yet (nothing published to it): look again every
            # few seconds rather than librdkafka's default five minutes
            "topic.metadata.refresh.interval.ms": 5000,
            "logger": client_log,  # librdkafka's lines: once a minute each, not dozens a second
            # librdkafka prefetches up to 64 MB (or 100,000 messages) per consumer by default: with a
            # route per partner and document type, a gateway taking in a large interchange whose
            # events a route reads would hold hundreds of MB of them. A route renders a few hundred
            # events a second at most: 100 events (1 MB at most) keep it busy.
            "queued.max.messages.kbytes": 1024,
            "queued.min.messages": 100,
            "fetch.max.bytes": 1048576,
            **(extra or {}),
        })
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, timeout: float = 1.0) -> bool:
        """Handle at most one event; False when none came."""
        message = self._consumer.poll(timeout)
        if message is None:
            return False
        error = message.error()
        if error is not None:
            if error.fatal():
                raise TransientError(f"consuming {self.topics}: {error.str()}")
            return False
        if message.value() is not None:
            try:
                event_type, record = self.encoder.decode(message.value())
            except Exception as exc:  # not one of our events: say so, do not stop the route
                log.error("message on an event topic cannot be decoded; skipped", topic=message.topic(),
                          partition=message.partition(), offset=message.offset(), error=str(exc))
            else:
                self.egress.handle(event_type, record)
        # Waited for, on purpose. Without the wait a route handled events as fast as the interpreter
        # let it, and the routes took the interpreter from the intake in the same process: a 200 MB
        # EDIFACT interchange POSTed to edigw run was published in 157 s instead of 93 (bench.memory;
        # the commit itself costs 257 us against 3 us on loopback).
        self._consumer.commit(message=message, asynchronous=False)
        return True

    def start(self) -> None:
        self._consumer.subscribe(self.topics)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except TransientError as exc:  # offset not committed: the event is read again
                    log.warning("event left for a retry", error=str(exc))
                    self._seek_back()
                    self._stop.wait(2.0)
                except Exception:
                    log.exception("event consumer round failed")
                    self._seek_back()
                    self._stop.wait(2.0)

        self._thread = threading.Thread(target=loop, name="egress", daemon=True)
        self._thread.start()

    def _seek_back(self) -> None:
        """Read again from the last committed offsets (what failed was not committed)."""
        try:
            assigned = self._consumer.assignment()
            if assigned:
                for tp in self._consumer.committed(assigned, timeout=10):
                    if tp.offset >= 0:
                        self._consumer.seek(tp)
        except Exception as exc:  # the broker is away: the next rebalance starts from the commit anyway
            log.warning("could not rewind to the committed offsets", error=str(exc))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._consumer.close()
