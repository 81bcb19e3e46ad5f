"""Inbound pipeline benchmark: documents -> parse -> map -> encode -> publish.

Run: ``.venv/bin/python -m bench.pipeline`` (or ``make bench``).

It starts a real Kafka-protocol broker (Tansu, memory-only) on loopback,
generates a mixed set of documents (EDIFACT D.96A ORDERS and X12 004010 850
interchanges, 5 lines per order), and measures in the same run:

1. end to end: every document through ``Pipeline.process`` into a KafkaSink,
   returning only when the broker confirmed every event (messages/s, events/s):
   in one process; on ``--workers`` pipeline processes; and the way ``edigw
   run`` does it with ``workers: N`` -- each document taken in durably
   (archived, fsync'd, receipt committed in SQLite), then processed by N
   worker processes, the clock stopping when every receipt is published;
   once with each partner's documents kept in order (the default: one
   partner's documents on one worker at a time) and once without. The
   target is checked on the pipeline processes, as the benchmark was
   specified; the edigw run figures are printed as ratios of it too;
2. the publish stage alone: the same events, prepared as the pipeline's
   encode stage prepares them, handed to a KafkaSink in batches as the
   pipeline hands them over (a batch is sent before the last is confirmed);
3. a raw confluent-kafka producer with the same settings (idempotent,
   acks=all) sending the same, already-encoded values to the same broker;
   2 and 3 take turns run by run, each run after ``gc.collect()``.

Targets: at least 5,000 ORDERS messages per second end to end on a 2-core
machine on the pipeline processes, at least 10,000 the way ``edigw run`` does
it with 2 workers (durable intake, partner order kept), and the publish stage
at least 0.8 of the raw producer's rate. Both
numbers are printed as ratios against what was measured in this run. The
parallel, publish and raw figures are each the best of ``--runs`` runs (the
memory-only broker's pace varies by run); every run publishes the same
events again, with the same ids.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import edifact_orders, x12_850  # noqa: E402
from gateway.bootstrap import build  # noqa: E402
from gateway.config import GatewayConfig, KafkaConfig  # noqa: E402
from gateway.embedded import Broker  # noqa: E402
from gateway.inbound.intake import Intake  # noqa: E402
from gateway.inbound.document import Document  # noqa: E402
from gateway.sinks.kafka import KafkaSink  # noqa: E402
from gateway.sinks.memory import MemorySink  # noqa: E402
from gateway.state.sqlite import SqliteStore  # noqa: E402
from gateway.inbound.workers import ReceiptWorkers, WorkerPool  # noqa: E402

ORDERS_TARGET = 5000.0  # messages per second, end to end on the pipeline processes
RUN_TARGET = 10000.0  # messages per second, edigw run with --workers (2) workers, durable intake included
PUBLISH_TARGET = 0.8  # publish stage / raw producer
EXTRA: dict = {}  # librdkafka settings for every producer of the run (--producer-config)


def documents(interchanges: int, per_interchange: int) -> list[tuple[str, bytes]]:
    """Half EDIFACT ORDERS, half X12 850, addressed from the sample partners."""
    docs = []
    for i in range(interchanges):
        if i % 2 == 0:
            data = edifact_orders(per_interchange, lines=5, seed=i + 1)
            docs.append(("edifact", data))
        else:
            data = x12_850(per_interchange, lines=5, seed=i + 1)
            # the generator's neutral ids -> the sample buyer of mappings/acme-retail.yaml
            data = data.replace(b"*ZZ*GWSENDER       *", b"*ZZ*ACMERETAIL     *").replace(
                b"GS*PO*GWSENDER*", b"GS*PO*ACMERETAIL*")
            docs.append(("x12", data))
    return docs


PARTNER = {"edifact": "brasserie-du-parc", "x12": "acme-retail"}  # who sends each kind of bench document


def intake_seconds(servers: str, docs: list[tuple[str, bytes]], workers: int,
                   keep_order: bool = True) -> tuple[float, int]:
    """One run of the gateway's own path: take every document in, let ``workers`` processes publish
    them; seconds until every receipt is published, and the events published. A fresh state store
    and archive each run, so nothing is a duplicate of an earlier run."""
    with tempfile.TemporaryDirectory(prefix="edigw-bench-") as tmp:
        cfg = config(servers)
        cfg.state, cfg.archive = str(Path(tmp) / "state.db"), Path(tmp) / "archive"
        parts = build(cfg)
        store = SqliteStore(cfg.state)
        intake = Intake.configured(cfg, store, parts.pipeline)
        pool = ReceiptWorkers(cfg, workers, bootstrap_servers=servers, keep_order=keep_order, log_level="warning")
        try:
            pool.warm()
            intake.start(workers=pool)
            start = time.perf_counter()
            for kind, data in docs:
                intake.submit(intake.take(data, channel="bench", partner_id=PARTNER[kind]))
            deadline = time.monotonic() + 600
            while store.count_pending(limit=1) and time.monotonic() < deadline:
                time.sleep(0.002)
            elapsed = time.perf_counter() - start
            receipts = store.find_receipts(limit=len(docs) + 1)
        finally:
            intake.stop()
            pool.close()
            parts.close()
            store.close()
    if len(receipts) != len(docs) or any(r.status != "published" for r in receipts):
        raise SystemExit(f"the intake run left receipts unpublished: {sorted({r.status for r in receipts})}")
    return elapsed, sum(r.events for r in receipts)


def config(servers: str) -> GatewayConfig:
    return GatewayConfig(kafka=KafkaConfig(bootstrap_servers=servers, client_id="bench", extra=EXTRA),
                         mappings=ROOT / "mappings", schemas=ROOT / "schemas")


def raw_producer_rate(servers: str, values: list[tuple[str, bytes | None, bytes, list]], extra: dict) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "client.id": "bench-raw", **extra})
    topic, key, value, headers = values[0]
    producer.produce(topic, value, key, headers=headers)  # connect and get a producer id before the clock starts
    producer.flush(30)
    confirmed = 0

    def report(err, msg):
        nonlocal confirmed
        if err is None:
            confirmed += 1

    start = time.perf_counter()
    for topic, key, value, headers in values:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    if confirmed != len(values):
        raise SystemExit(f"raw producer: only {confirmed} of {len(values)} confirmed")
    return len(values) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interchanges", type=int, default=20, help="documents (half EDIFACT, half X12)")
    ap.add_argument("--messages", type=int, default=1000, help="orders per document")
    ap.add_argument("--workers", type=int, default=2, help="pipeline processes for the parallel run")
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs for the parallel, publish "
                    "and raw measurements")
    ap.add_argument("--producer-config", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka setting for every producer, e.g. compression.type=none")
    args = ap.parse_args()
    # the gateway's own log lines (a line per document) are not what is measured
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for item in args.producer_config:
        key, _, value = item.partition("=")
        EXTRA[key] = value

    docs = documents(args.interchanges, args.messages)
    total_bytes = sum(len(d) for _, d in docs)
    with Broker() as broker:
        servers = broker.bootstrap
        # warm the topics and the producer (topic creation is not what is measured)
        warm = build(config(servers))
        for data in (edifact_orders(2, seed=99), x12_850(2, seed=99)):
            warm.pipeline.process(Document(data))
        warm.close()

        # 1b. end to end on every core: a pool of pipeline processes
        with WorkerPool(config(servers), args.workers, bootstrap_servers=servers) as pool:
            pool.warm()
            e2e_parallel = float("inf")
            for _ in range(args.runs):
                start = time.perf_counter()
                summaries = list(pool.process(data for _, data in docs))
                e2e_parallel = min(e2e_parallel, time.perf_counter() - start)
        parallel_messages = sum(s.messages for s in summaries)
        dead_parallel = [d for s in summaries for d in s.dead_letters]
        if dead_parallel:
            raise SystemExit(f"{len(dead_parallel)} dead letter(s) in the parallel run: {dead_parallel[0]}")
        if sum(s.published for s in summaries) != parallel_messages:
            raise SystemExit("the parallel run did not publish one event per message")

        # 1c. end to end as edigw run does it: durable intake, then worker processes, with each
        # partner's order kept (the default) and without
        via_intake = {True: float("inf"), False: float("inf")}
        for keep_order in via_intake:
            for _ in range(args.runs):
                seconds, intake_events = intake_seconds(servers, docs, args.workers, keep_order)
                via_intake[keep_order] = min(via_intake[keep_order], seconds)
                if intake_events != parallel_messages:
                    raise SystemExit(f"the intake run published {intake_events} events for {parallel_messages} "
                                     "messages")

        # 1. end to end, one process
        parts = build(config(servers))
        messages = events = dead = 0
        start = time.perf_counter()
        for _, data in docs:
            outcome = parts.pipeline.process(Document(data), keep=False)
            messages += outcome.messages
            events += outcome.published
            dead += outcome.dead_letter_count
        e2e = time.perf_counter() - start
        parts.close()
        if dead:
            raise SystemExit(f"{dead} dead letter(s): the bench documents must map cleanly")

        # the events again, mapped without publishing, for the publish-only runs
        mapped = build(config(servers), sink=MemorySink())
        batch = []
        for _, data in docs:
            batch.extend(mapped.pipeline.process(Document(data)).events)

        # 2. the publish stage alone (encoding included, as the sink does it), and 3. a raw producer
        # with the already-encoded values: the same events, key, encoded value and the CloudEvents
        # headers the sink sends. Run by run in turn, each after a full collection (a collection of
        # the mapped events' heap falling into one run and not the other would decide the ratio).
        sink = KafkaSink(servers, mapped.encoder, client_id="bench-sink", extra_config=EXTRA)
        for e in batch:
            sink.prepare(e)  # what the pipeline's encode stage does for a KafkaSink
        sink.publish(batch[:1])  # connect and get a producer id before the clock starts
        size = mapped.config.batch_size
        values = []
        for e in batch:
            value, key, headers = e.prepared
            values.append((e.topic, key, value, headers))
        raw_config = {"compression.type": sink.config.get("compression.type", "none"), **EXTRA}
        publish_rate = raw_rate = 0.0
        for _ in range(args.runs):  # best of N: the broker's pace varies from run to run
            gc.collect()
            start = time.perf_counter()
            in_flight = None  # as the pipeline sends: the next batch goes out while the last is confirmed
            for i in range(0, len(batch), size):
                sent = sink.send(batch[i : i + size])
                if in_flight is not None:
                    in_flight.wait()
                in_flight = sent
            in_flight.wait()
            publish_rate = max(publish_rate, len(batch) / (time.perf_counter() - start))
            gc.collect()
            raw_rate = max(raw_rate, raw_producer_rate(servers, values, raw_config))
        sink.close()

    msg_rate = messages / e2e
    par_rate = parallel_messages / e2e_parallel
    ordered_rate = parallel_messages / via_intake[True]
    unordered_rate = parallel_messages / via_intake[False]
    print(f"Python {platform.python_version()}, {platform.machine()}, broker: Tansu (memory) on loopback")
    print(f"{len(docs)} documents, {total_bytes / 1e6:.1f} MB, {messages} messages (5 lines each), {events} events;"
          f" best of {args.runs} runs where noted")
    print(f"{'stage':42} {'rate':>16}")
    print(f"{'end to end, 1 process':42} {msg_rate:>10,.0f} msg/s   {events / e2e:,.0f} events/s")
    print(f"{f'end to end, {args.workers} worker processes':42} {par_rate:>10,.0f} msg/s")
    print(f"{f'edigw run, {args.workers} workers, partner order':42} {ordered_rate:>10,.0f} msg/s   "
          "(durable intake first)")
    print(f"{f'edigw run, {args.workers} workers, any order':42} {unordered_rate:>10,.0f} msg/s   "
          "(keep_partner_order: false)")
    print(f"{f'publish stage (KafkaSink, batches of {size})':42} {publish_rate:>10,.0f} events/s")
    print(f"{'raw producer (pre-encoded values)':42} {raw_rate:>10,.0f} events/s")
    print()
    print("Targets")
    ok1 = par_rate >= ORDERS_TARGET
    ok2 = publish_rate >= PUBLISH_TARGET * raw_rate
    print(f"  end to end >= {ORDERS_TARGET:,.0f} msg/s      {par_rate:>8,.0f}  {par_rate / ORDERS_TARGET:.2f}x of "
          f"target  {'PASS' if ok1 else 'MISS'}")
    ok3 = ordered_rate >= RUN_TARGET
    print(f"  edigw run, {args.workers} workers >= {RUN_TARGET:,.0f} msg/s {ordered_rate:>8,.0f}  "
          f"{ordered_rate / RUN_TARGET:.2f}x of target  {'PASS' if ok3 else 'MISS'}   (partner order; any order: "
          f"{unordered_rate:,.0f} msg/s; durable intake, receipts and acknowledgements included)")
    print(f"  publish >= {PUBLISH_TARGET:.0%} of raw producer   {publish_rate / raw_rate:>8.2f}x of raw  "
          f"{'PASS' if ok2 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
