"""``edigw run``: the long-running gateway.

With no ``kafka.bootstrap_servers`` it starts an embedded, memory-only broker
and says so loudly. It watches an inbox folder (documents dropped there are
taken in, mapped and published); the HTTP, SFTP and AS2 channels join here
as they are built.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import structlog

from adapters.folder.inbound import FolderConfig, FolderInbound
from gateway.bootstrap import build, load_mappings
from gateway.config import GatewayConfig
from gateway.errors import TransientError
from gateway.pipeline import Document, Outcome

log = structlog.get_logger("gateway")


def run(config: GatewayConfig, *, inbox: Path, stop: threading.Event | None = None) -> int:
    stop = stop or _stop_on_signals()
    load_mappings(config)  # a broken partner file stops us before anything is started
    broker = None
    servers = config.kafka.bootstrap_servers
    if not servers:
        from gateway.embedded import Broker

        broker = Broker(port=config.kafka.embedded_port)
        try:
            broker.start()
        except TransientError as exc:
            broker.close()
            raise TransientError(f"cannot start the embedded broker on 127.0.0.1:{config.kafka.embedded_port} "
                                 f"(set kafka.embedded_port, or kafka.bootstrap_servers): {exc}") from None
        servers = broker.bootstrap
        log.warning("NO KAFKA CONFIGURED: started an embedded broker that keeps events IN MEMORY ONLY; "
                    "they are lost when the gateway stops. Set kafka.bootstrap_servers for real use.",
                    bootstrap_servers=servers)
    try:
        parts = build(config, bootstrap_servers=servers)
    except BaseException:
        if broker is not None:
            broker.close()
        raise

    from datetime import timedelta

    from gateway.archive import Archive
    from gateway.intake import Intake
    from gateway.state.sqlite import SqliteStore

    store = SqliteStore(config.state)
    intake = Intake(Archive(config.archive), store, parts.pipeline,
                    duplicate_window=timedelta(days=config.duplicate_window_days),
                    max_bytes=config.max_document_bytes)

    def deliver(doc: Document) -> Outcome:
        # taken in (archived, receipt committed) before the file leaves the inbox;
        # a broker outage leaves the receipt pending for the retry loop below
        receipt = intake.take(doc.source, channel=doc.transport, partner_id=doc.partner_id)
        try:
            outcome = intake.process(receipt)
        except TransientError as exc:
            log.warning("document taken in, publishing deferred", receipt=receipt.id, error=str(exc))
            return Outcome()
        log.info("document processed", receipt=receipt.id, messages=outcome.messages, events=outcome.published,
                 topics=sorted(outcome.topics), dead_letters=len(outcome.dead_letters), skipped=len(outcome.skipped),
                 errors=[f"{d.record['reason_code']}: {d.record['error']}" for d in outcome.dead_letters])
        return outcome

    recovered = intake.recover()
    if recovered:
        log.info("pending receipts processed after a restart", receipts=recovered)

    folder = FolderInbound(FolderConfig(path=inbox))
    folder.start(deliver)
    log.info("gateway running", inbox=str(inbox), partners=[p.id for p in parts.partners.all],
             try_it=f"cp samples/edifact/orders_d96a.edi {inbox}/ && edigw events tail "
                    f"edigw.order-created --bootstrap-servers {servers} --from-beginning")
    try:
        while not stop.wait(config.retry_seconds):
            intake.recover()
    finally:
        log.info("gateway stopping")
        folder.stop()
        parts.close()
        store.close()
        if broker is not None:
            broker.close()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
