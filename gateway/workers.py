"""Process documents on several cores: a pool of pipeline worker processes.

Reading, mapping and Avro encoding are CPU-bound Python; one process uses one
core. Each worker builds its own pipeline and Kafka producer from the same
configuration (a producer must not cross a fork) and takes whole documents,
so the events of one document keep their order. Events of different
documents are independent; their ids are deterministic either way.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from gateway.config import GatewayConfig

_parts = None  # the worker process's own pipeline (set by _start)


@dataclass
class Summary:
    """What a worker reports back for one document (picklable, no events)."""

    messages: int = 0
    published: int = 0
    topics: set[str] = field(default_factory=set)
    dead_letters: list[str] = field(default_factory=list)  # "CODE: text at position"
    skipped: int = 0


def _start(config: GatewayConfig, bootstrap_servers: str | None) -> None:
    global _parts
    from gateway.bootstrap import build

    _parts = build(config, bootstrap_servers=bootstrap_servers)
    atexit.register(_parts.close)  # flush and close this worker's producer when the pool shuts down


def _process(data: bytes, transport: str) -> Summary:
    from gateway.pipeline import Document

    outcome = _parts.pipeline.process(Document(data, transport=transport), keep=False)
    return Summary(
        messages=outcome.messages,
        published=outcome.published,
        topics=outcome.topics,
        dead_letters=[f"{d.record['reason_code']}: {d.record['error']} at {d.record['position']}"
                      for d in outcome.dead_letters],
        skipped=len(outcome.skipped),
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
