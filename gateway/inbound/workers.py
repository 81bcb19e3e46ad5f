"""Process documents on several cores: pools of pipeline worker processes.

Reading, mapping and Avro encoding are CPU-bound Python; one process uses one
core. Each worker builds its own pipeline and Kafka producer from the same
configuration (a producer must not cross a fork) and takes whole documents,
so the events of one document keep their order. Events of different
documents are independent; their ids are deterministic either way.

* :class:`ReceiptWorkers` is what ``edigw run`` uses with ``workers`` > 1:
  each worker process has its own intake over the shared state store and
  archive, and processes receipts by id. A partner's documents queue behind
  those it has in hand on a worker, so they are published in the order they
  were taken in (unless ``keep_partner_order`` is false).
* :class:`WorkerPool` processes documents given as bytes (no state store).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from gateway.config import GatewayConfig

_parts = None  # the worker process's own pipeline (set by _start)
_intake = None  # the worker process's own intake (set by _start_intake)


@dataclass
class Summary:
    """What a worker reports back for one document (picklable, no events)."""

    messages: int = 0
    published: int = 0
    topics: set[str] = field(default_factory=set)
    dead_letters: list[str] = field(default_factory=list)  # "CODE: text at position", the first 1,000
    skipped: int = 0
    dead_letter_count: int = 0


def _start(config: GatewayConfig, bootstrap_servers: str | None) -> None:
    global _parts
    from gateway.bootstrap import build

    _parts = build(config, bootstrap_servers=bootstrap_servers)
    atexit.register(_parts.close)  # flush and close this worker's producer when the pool shuts down
    _parts.pipeline.warm()  # connected and the validator's patterns built before the first document


def _process(data: bytes, transport: str) -> Summary:
    from gateway.inbound.document import Document

    outcome = _parts.pipeline.process(Document(data, transport=transport), keep=False)
    return Summary(
        messages=outcome.messages,
        published=outcome.published,
        topics=outcome.topics,
        dead_letters=[f"{d.record['reason_code']}: {d.record['error']} at {d.record['position']}"
                      for d in outcome.dead_letters],
        skipped=outcome.skipped_count,
        dead_letter_count=outcome.dead_letter_count,
    )


class WorkerPool:
    """``workers`` processes, each with its own pipeline and producer."""

    def __init__(self, config: GatewayConfig, workers: int | None = None, *,
                 bootstrap_servers: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        context = multiprocessing.get_context("spawn")  # no librdkafka state crosses a fork
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start,
                                         initargs=(config, bootstrap_servers))

    def process(self, documents: Iterable[bytes], *, transport: str = "file") -> Iterator[Summary]:
        """Summaries in the order of ``documents``, each after its events were confirmed."""
        futures = [self._pool.submit(_process, data, transport) for data in documents]
        for future in futures:
            yield future.result()

    def warm(self) -> None:
        """Start every worker (imports, partner files, producer) before timing anything."""
        list(self._pool.map(_noop, range(self.workers * 2)))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _noop(_: int) -> int:
    return os.getpid()


# -- receipts: the long-running gateway's processing -----------------------------------------


@dataclass
class Processed:
    """What a receipt worker reports back for one receipt (picklable)."""

    receipt_id: str
    status: str  # published, failed, duplicate
    partner_id: str | None
    channel: str
    seconds: float
    messages: int = 0
    published: int = 0
    dead_letters: int = 0
    skipped: int = 0
    stages: dict[str, float] = field(default_factory=dict)  # seconds per pipeline stage


def _start_intake(config: GatewayConfig, bootstrap_servers: str | None, log_level: str) -> None:
    global _intake
    from gateway import logs

    logs.configure(log_level)  # a spawned process starts with structlog's defaults (stdout)

    from gateway.bootstrap import build
    from gateway.inbound.intake import Intake
    from gateway.state import open_store

    parts = build(config, bootstrap_servers=bootstrap_servers)
    store = open_store(config.state)
    _intake = Intake.configured(config, store, parts.pipeline)
    atexit.register(store.close)
    atexit.register(parts.close)  # flush and close this worker's producer
    parts.pipeline.warm()  # connected and the validator's patterns built before the first receipt


def _process_receipt(receipt_id: str) -> Processed | None:
    """Process one receipt in this worker; None when it is gone or no longer pending. A
    TransientError (the broker is down) reaches the gateway, which leaves it pending."""
    from gateway.state.base import RECEIVED

    receipt = _intake.store.get_receipt(receipt_id)
    if receipt is None or receipt.status != RECEIVED:
        return None
    start = time.perf_counter()
    outcome = _intake.process(receipt)
    seconds = time.perf_counter() - start
    done = _intake.store.get_receipt(receipt_id) or receipt
    return Processed(receipt_id, done.status, done.partner_id, done.channel, seconds, messages=outcome.messages,
                     published=outcome.published, dead_letters=outcome.dead_letter_count,
                     skipped=outcome.skipped_count, stages=outcome.seconds)


class ReceiptWorkers:
    """``workers`` processes that process receipts taken in by this gateway.

    One single-process pool per worker, so that where a receipt goes can be
    chosen. With ``keep_order`` (the default) a partner's receipts go to the
    worker that still has some of its receipts in hand, so they are published
    in the order they were taken in; a partner with nothing in hand goes to
    the least busy worker. One busy partner therefore uses one core at a time.
    Without ``keep_order`` every receipt goes to the least busy worker (all
    cores for one partner; its documents may then be published out of order).
    The least busy worker is the one with the fewest bytes in hand: counted in
    documents, a worker given one 200 MB interchange looked as busy as one given
    a 2 kB order.
    """

    def __init__(self, config: GatewayConfig, workers: int, *, bootstrap_servers: str | None = None,
                 keep_order: bool = True, log_level: str = "info") -> None:
        context = multiprocessing.get_context("spawn")  # no librdkafka or server threads cross a fork
        self._pools = [ProcessPoolExecutor(1, mp_context=context, initializer=_start_intake,
                                           initargs=(config, bootstrap_servers, log_level))
                       for _ in range(workers)]
        self.keep_order = keep_order
        self._busy = [0] * workers  # bytes in hand per worker (each receipt counts at least 1)
        self._partners: dict[str, tuple[int, int]] = {}  # partner -> (its worker, receipts in hand there)
        self._lock = threading.Lock()

    def assign(self, partner_id: str | None, size: int = 0) -> int:
        """The worker for the partner's next receipt of ``size`` bytes, counted as in hand there until
        :meth:`release`."""
        with self._lock:
            held = self._partners.get(partner_id) if self.keep_order and partner_id is not None else None
            index = held[0] if held else min(range(len(self._pools)), key=lambda i: (self._busy[i], i))
            self._busy[index] += max(size, 1)
            if self.keep_order and partner_id is not None:
                self._partners[partner_id] = (index, (held[1] if held else 0) + 1)
            return index

    def release(self, index: int, partner_id: str | None, size: int = 0) -> None:
        with self._lock:
            self._busy[index] -= max(size, 1)
            held = self._partners.get(partner_id) if partner_id is not None else None
            if held is not None:
                if held[1] <= 1:
                    del self._partners[partner_id]  # nothing of it in hand: free to go anywhere next time
                else:
                    self._partners[partner_id] = (held[0], held[1] - 1)

    def submit(self, receipt_id: str, partner_id: str | None, size: int = 0) -> Future:
        """Process the receipt on the worker :meth:`assign` picks; the future gives a :class:`Processed` (or None)."""
        index = self.assign(partner_id, size)
        future = self._pools[index].submit(_process_receipt, receipt_id)
        future.add_done_callback(lambda _: self.release(index, partner_id, size))
        return future

    def warm(self) -> None:
        """Start every worker now (imports, partner files, producer), not with the first document."""
        for future in [pool.submit(_noop, 0) for pool in self._pools]:
            future.result()

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True)
