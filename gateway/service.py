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

    def deliver(doc: Document) -> Outcome:
        outcome = parts.pipeline.process(doc, keep=False)
        log.info("document processed", messages=outcome.messages, events=outcome.published,
                 topics=sorted(outcome.topics), dead_letters=len(outcome.dead_letters),
                 errors=[f"{d.record['reason_code']}: {d.record['error']}" for d in outcome.dead_letters])
        return outcome

    folder = FolderInbound(FolderConfig(path=inbox))
    folder.start(deliver)
    log.info("gateway running", inbox=str(inbox), partners=[p.id for p in parts.partners.all],
             try_it=f"cp samples/edifact/orders_d96a.edi {inbox}/ && edigw events tail "
                    f"edigw.order-created --bootstrap-servers {servers} --from-beginning")
    try:
        stop.wait()
    finally:
        log.info("gateway stopping")
        folder.stop()
        parts.close()
        if broker is not None:
            broker.close()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
