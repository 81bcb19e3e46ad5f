"""``edigw run``: the long-running gateway.

With no ``kafka.bootstrap_servers`` it starts an embedded, memory-only broker
and says so loudly. It serves the HTTP API (``POST /v1/documents``, status,
health and metrics) and watches an inbox folder; SFTP and AS2 join here.
This is the composition root of the long-running process: the one place
that builds concrete adapters, stores and sinks and wires them together.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

import structlog

from adapters.as2.endpoint import As2Receiver, load_profiles
from adapters.folder.inbound import FolderConfig, FolderInbound
from adapters.http.app import create_app
from adapters.http.keys import ADMIN, KeyRing, new_key
from adapters.http.server import Server
from gateway.bootstrap import build, load_mappings
from gateway.config import GatewayConfig
from gateway.errors import TransientError
from gateway.inbound.intake import Intake
from gateway.mapping.engine import default_topic
from gateway.metrics import Metrics
from gateway.outbound.outbox import Dispatcher
from gateway.inbound.document import Document
from gateway.inbound.pipeline import Outcome
from gateway.state.base import RECEIVED, Receipt
from gateway.state import open_store

log = structlog.get_logger("gateway")


def run(config: GatewayConfig, *, inbox: Path, stop: threading.Event | None = None,
        demo_key_file: Path | None = None) -> int:
    _few_malloc_arenas()
    stop = stop or _stop_on_signals()
    _, partners = load_mappings(config)  # a broken partner file stops us before anything is started
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
    closing: list = [broker.close] if broker is not None else []
    try:
        parts = build(config, bootstrap_servers=servers)
        closing.insert(0, parts.close)
        store = open_store(config.state)
        closing.insert(0, store.close)
        metrics = Metrics()
        intake = Intake.configured(config, store, parts.pipeline, metrics=metrics)
        workers = None
        if config.workers > 1:
            from gateway.inbound.workers import ReceiptWorkers

            workers = ReceiptWorkers(config, config.workers, bootstrap_servers=servers,
                                     keep_order=config.keep_partner_order)
            closing.insert(0, workers.close)  # after the intake stopped handing it receipts
            workers.warm()
            log.info("documents are processed by worker processes", workers=config.workers)
        intake.start(pause=config.retry_seconds, workers=workers)
        closing.insert(0, intake.stop)
        recovered = intake.recover()  # what a crash left pending, before anything new
        if recovered:
            log.info("pending receipts taken up again after a restart", receipts=recovered)

        def deliver(doc: Document) -> Outcome:
            # a dropped file is taken in (archived, receipt committed) and processed before it
            # leaves the inbox; a broker outage leaves the receipt pending for the retry loop
            receipt = intake.take(doc.source, channel=doc.transport, partner_id=doc.partner_id,
                                  idempotency_key=doc.idempotency_key)
            try:
                return intake.process(receipt)
            except TransientError as exc:
                log.warning("document taken in, publishing deferred", receipt=receipt.id, error=str(exc))
                return Outcome()

        def take_in(doc: Document) -> Receipt:
            # SFTP: the partner's close (or the poller's move) is answered once this returns:
            # archived and receipted; the pipeline follows on the intake's worker
            try:
                receipt = intake.take(doc.source, channel=doc.transport, partner_id=doc.partner_id,
                                      idempotency_key=doc.idempotency_key)
            except OSError as exc:
                raise TransientError(f"cannot take the document in: {exc}") from None
            if receipt.status == RECEIVED:
                intake.submit(receipt)
            return receipt

        for inbound in sftp_inbound(config, partners, demo=demo_key_file is not None):
            inbound.start(take_in)
            closing.insert(0, inbound.stop)

        profiles = load_profiles(partners.all)
        ack_waits = {p.id: timedelta(hours=p.spec.acknowledgements.overdue_after_hours) for p in partners.all}
        dispatcher = Dispatcher(store, intake.archive, outbound_channels(config, partners, profiles),
                                ack_deadline=ack_waits.get, publish=parts.sink.publish,
                                overdue_topic=config.kafka.topics.get("AcknowledgementOverdue")
                                or default_topic("AcknowledgementOverdue"),
                                dead_letter_topic=config.kafka.dead_letter_topic,
                                attempts=config.delivery.attempts, first_delay=config.delivery.first_retry_seconds,
                                max_delay=config.delivery.max_retry_seconds, lease=config.delivery.lease_seconds,
                                metrics=metrics)
        dispatcher.start(interval=config.delivery.interval_seconds)
        closing.insert(0, dispatcher.stop)

        for consumer in outbound_consumers(config, parts, store, intake.archive, servers):
            consumer.start()
            closing.insert(0, consumer.stop)

        folder = FolderInbound(FolderConfig(path=inbox))
        folder.start(deliver)
        closing.insert(0, folder.stop)
        api = None
        if config.http.enabled:
            app = create_app(intake=intake, partners=partners, config=config.http,
                             keys=key_ring(config, partners, demo_key_file), metrics=metrics,
                             ready=lambda: _broker_ready(parts.sink))
            as2 = As2Receiver(intake, profiles, metrics=metrics)
            as2.mount(app, max_bytes=2 * config.http.max_document_bytes)  # base64 and S/MIME add a third
            closing.insert(0, as2.stop)
            api = Server(app, host=config.http.host, port=config.http.port)
            api.start()
            closing.insert(0, api.stop)
        log.info("gateway running", inbox=str(inbox), api=api.url if api else None,
                 partners=[p.id for p in partners.all],
                 try_it=f"cp samples/edifact/orders_d96a.edi {inbox}/ && edigw events tail "
                        f"edigw.order-created --bootstrap-servers {servers} --from-beginning")
        while not stop.wait(config.retry_seconds):
            # what a broker outage left pending at once; else only what has been pending longer than
            # a lease (another instance's receipts in flight stay its own: each is leased to the
            # instance processing it, see StateStore.claim_receipt)
            intake.recover(settled=None if intake.deferred else timedelta(seconds=config.receipt_lease_seconds))
    finally:
        log.info("gateway stopping")
        for close in closing:
            close()
    return 0


def sftp_inbound(config: GatewayConfig, partners, *, demo: bool = False) -> list:
    """The hosted SFTP server (when any partner has an account, or in demo mode) and a poller per
    partner whose server the gateway collects from."""
    channels = [(p.id, p.spec.channels.sftp) for p in partners.all if p.spec.channels.sftp is not None]
    if not channels and not (demo and config.sftp.enabled):
        return []  # (and paramiko stays unloaded)
    from adapters.sftp.hosted import Account, HostedSftpServer
    from adapters.sftp.keys import load_or_create_key
    from adapters.sftp.poll import SftpPoller

    accounts = [Account.of(pid, s.account) for pid, s in channels if s.account is not None]
    if demo and config.sftp.enabled:
        key_file = config.sftp.host_key.parent / "demo_key"
        key, _ = load_or_create_key(key_file)
        # documents put by the demo account are attributed to the partner their envelope names
        accounts.append(Account(partner_id=None, username="demo", keys=(key.asbytes(),)))
        log.warning("DEMO MODE: SFTP account 'demo' with the client key in a file", file=str(key_file),
                    port=config.sftp.port)
    found: list = []
    if config.sftp.enabled and accounts:
        found.append(HostedSftpServer(config.sftp, accounts))
    found += [SftpPoller(s.poll, partner_id=pid) for pid, s in channels if s.poll is not None]
    return found


def outbound_channels(config: GatewayConfig, partners, profiles) -> dict:
    """Each partner's outbound adapter: AS2 when it has an AS2 URL, else SFTP (its server, or its
    hosted outbox), else HTTP. Partners without one keep their documents queued (and visible)."""
    from adapters.as2.outbound import As2Sender
    from adapters.http.outbound import HttpSender

    channels: dict = {}
    for profile in profiles:
        if profile.config.url:
            channels[profile.partner] = As2Sender(profile)
    for partner in partners.all:
        sftp = partner.spec.channels.sftp
        if partner.id in channels or sftp is None or sftp.sends_by is None:
            continue
        from adapters.sftp.hosted import account_home
        from adapters.sftp.outbound import HostedOutbox, SftpSender

        channels[partner.id] = SftpSender(sftp.push) if sftp.sends_by == "push" else HostedOutbox(
            account_home(config.sftp.homes, sftp.account.username or partner.id))
    for partner in partners.all:
        http = partner.spec.channels.http
        if partner.id not in channels and http is not None and http.deliver is not None:
            channels[partner.id] = HttpSender(http.deliver)
    return channels


def outbound_consumers(config: GatewayConfig, parts, store, archive, servers: str) -> list:
    """One consumer group per outbound route (``<client_id>-outbound-<partner>-<route>``): a route
    that is stuck (its partner's template fails, say) holds back no other, and a new route starts
    with what is already on its topic."""
    from gateway.outbound.egress import Egress, EventConsumer
    from gateway.outbound.render import Planned, load_routes

    from gateway.validation.documents import checker

    check = checker(parts.partners)  # every rendered document against the standard and the partner's guide
    consumers = []
    for route in load_routes(config.mappings, parts.schemas).all:
        def plan(event_type: str, record: dict, route=route) -> list:
            return [Planned(route, record)] if event_type == route.event_type and route.takes(record) else []

        egress = Egress(store, archive, plan, dead_letters=parts.sink.publish,
                        dead_letter_topic=config.kafka.dead_letter_topic, check=check)
        topic = config.kafka.topics.get(route.event_type) or default_topic(route.event_type)
        consumers.append(EventConsumer(egress, bootstrap_servers=servers, topics=[topic],
                                       group_id=f"{config.kafka.client_id}-outbound-{route.partner_id}-{route.name}",
                                       encoder=parts.encoder, extra=config.kafka.extra))
    if consumers:
        log.info("outbound routes", routes=len(consumers))
    return consumers


def key_ring(config: GatewayConfig, partners, demo_key_file: Path | None = None) -> KeyRing:
    """Every configured key hash and its owner; with ``demo_key_file``, a fresh admin key written there."""
    owners = {h: ADMIN for h in config.http.admin_keys}
    for partner in partners.all:
        if partner.spec.channels.http is not None:
            owners.update({h: partner.id for h in partner.spec.channels.http.api_keys})
    if demo_key_file is not None:
        key, digest = new_key()
        demo_key_file.parent.mkdir(parents=True, exist_ok=True)
        demo_key_file.touch(mode=0o600)
        demo_key_file.write_text(key + "\n")
        owners[digest] = ADMIN
        log.warning("DEMO MODE: an admin API key for this run only was written to a file", file=str(demo_key_file))
    return KeyRing(owners)


def _few_malloc_arenas() -> None:
    """At most two glibc malloc arenas, unless ``MALLOC_ARENA_MAX`` says otherwise, and large
    blocks handed back to the system when they are freed.

    glibc gives threads that allocate at once arenas of their own (up to eight per core) and keeps
    what is freed in each. The gateway's threads (HTTP requests, the intake, each outbound route's
    consumer) would each keep a share: a 200 MB X12 interchange POSTed to ``edigw run`` peaked at
    195 MB RSS with the default and 184 MB with two (``python -m bench.memory``). glibc also raises
    its mmap threshold as large blocks are freed, up to 32 MB, and then keeps such blocks (the
    reader's chunks, a batch's encoded events) in the heap: a fixed 128 kB threshold and trimming
    above 128 kB took an EDIFACT one from 156 to 150 MB. Elsewhere (musl, macOS) this does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-8, 2)  # M_ARENA_MAX (malloc.h); called before any thread starts
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, so it no longer climbs
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD: free memory above this goes back
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _broker_ready(sink) -> None:
    if not sink.ping(timeout=2.0):
        raise TransientError("the Kafka broker is not reachable")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
