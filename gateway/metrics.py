"""Prometheus metrics of one gateway process (prometheus-client, the reference client library).

Each Metrics object has its own registry, so several gateways in one process
(tests) do not collide; ``/metrics`` serves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only double what Prometheus scrapes
        self.registry = CollectorRegistry()
        self.documents = Counter(
            "edigw_documents", "Documents by partner, channel and status (received, then published, failed "
            "or duplicate)", ["partner", "channel", "status"], registry=self.registry)
        self.refused = Counter(
            "edigw_refused", "Requests refused before intake, by channel and reason", ["channel", "reason"],
            registry=self.registry)
        self.stage_seconds = Histogram(
            "edigw_stage_seconds", "Seconds per document and stage: take (archive + receipt), process (all "
            "of the following), read (the syntax layer, envelopes, acknowledgements), each pipeline stage by "
            "its name (identify_partner, skip_duplicates, map_events, encode_events, ...), publish (waiting "
            "for the broker)", ["stage"], registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.outbound = Counter(
            "edigw_outbound", "Outbound documents (rendered events, acknowledgements) by partner, kind and what "
            "happened: sent, confirmed (by a synchronous MDN), retry, failed, overdue (an MDN or acknowledgement)",
            ["partner", "kind", "status"], registry=self.registry)
        self.backlog = Gauge("edigw_backlog", "Documents taken in and not yet processed", registry=self.registry)

    def count_backlog(self, count: Callable[[], float]) -> None:
        self.backlog.set_function(count)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(stage).observe(time.perf_counter() - start)

    def document(self, partner: str | None, channel: str, status: str) -> None:
        self.documents.labels(partner or "unknown", channel, status).inc()

    def stages(self, seconds: dict[str, float]) -> None:
        for stage, spent in seconds.items():
            self.stage_seconds.labels(stage).observe(spent)

    def sent(self, partner: str, kind: str, status: str) -> None:
        self.outbound.labels(partner, kind, status).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
