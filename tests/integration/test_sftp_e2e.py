"""SFTP in, events out: documents sent by the OpenSSH client to the hosted server, and polled from a real
sshd, go through durable intake and the pipeline and are read back from the real broker."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sftp.config import HostedAccount, PollConfig, SftpServerConfig
from adapters.sftp.hosted import Account, HostedSftpServer
from adapters.sftp.poll import SftpPoller
from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig, KafkaConfig
from gateway.inbound.intake import Intake
from gateway.state.sqlite import SqliteStore
from tests.broker import consume
from tests.sshd import Sshd, keygen, sftp_batch

ROOT = Path(__file__).resolve().parents[2]
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
TOPIC = "sftp.order-created"
PARTNER = "brasserie-du-parc"  # the sender the sample's UNB names


def order(number: str) -> bytes:
    interchange = uuid.uuid4().hex[:12].upper()  # a new interchange, not a duplicate of an earlier one
    return ORDERS.replace(b"PO-45001", number.encode()).replace(b"ORD000123", interchange.encode())


@pytest.fixture(scope="module")
def intake(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sftp-e2e")
    config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap, topics={"OrderCreated": TOPIC},
                                             dead_letter_topic="sftp.deadletter", client_id="sftp-e2e"),
                           mappings=ROOT / "mappings", schemas=ROOT / "schemas")
    parts = build(config)
    store = SqliteStore(tmp / "state.db")
    intake = Intake(LocalArchive(tmp / "archive"), store, parts.pipeline, duplicate_window=timedelta(days=1))
    intake.start(pause=1)
    yield intake
    intake.stop()
    parts.close()
    store.close()


def deliver_to(intake: Intake):
    """What the composition root gives the channels: durable intake now, processing in the background."""

    def deliver(doc) -> None:
        receipt = intake.take(doc.source, channel=doc.transport, partner_id=doc.partner_id,
                              idempotency_key=doc.idempotency_key)
        intake.submit(receipt)

    return deliver


def events_for(broker, number: str, n: int = 1, timeout: float = 10) -> list:
    """Up to ``n`` events of the order; asking for more than expected waits out ``timeout`` for extras."""
    return consume(broker.bootstrap, TOPIC, n, timeout=timeout, where=lambda m: m.key() == number.encode())


def test_an_order_put_into_the_hosted_inbox_arrives_on_the_broker(broker, intake, tmp_path):
    key = keygen(tmp_path / "partner_key")
    account = Account.of(PARTNER, HostedAccount(authorized_keys=[Path(f"{key}.pub").read_text()]))
    server = HostedSftpServer(SftpServerConfig(port=0, homes=tmp_path / "homes", host_key=tmp_path / "host_key"),
                              [account])
    server.start(deliver_to(intake))
    try:
        (tmp_path / "orders.edi").write_bytes(order("PO-SFTP-HOSTED-1"))
        result = sftp_batch(server.port, PARTNER, "put orders.edi inbox/orders.edi\n", workdir=tmp_path, key=key)
        assert result.returncode == 0, result.stderr
    finally:
        server.stop()
    events = events_for(broker, "PO-SFTP-HOSTED-1")
    assert len(events) == 1
    assert dict(events[0].headers())["ce_type"] == b"edigw.events.OrderCreated"


def test_an_order_polled_from_a_partner_s_server_arrives_on_the_broker_once(broker, intake, tmp_path):
    sshd = Sshd(tmp_path / "sshd")
    sshd.start()
    outgoing = tmp_path / "outgoing"
    outgoing.mkdir()
    config = PollConfig(host="127.0.0.1", port=sshd.port, username=sshd.user, private_key=sshd.client_key,
                        host_key=sshd.host_key_line, inbox=str(outgoing), min_age=0,
                        processed=str(tmp_path / "elsewhere" / "processed"))  # cannot be created: the move fails
    try:
        (outgoing / "orders.edi").write_bytes(order("PO-SFTP-POLL-1"))
        first = SftpPoller(config, partner_id=PARTNER)
        first.poll_once(deliver_to(intake))
        assert first.poll_once(deliver_to(intake)) == 1
        first.stop()
        # restarted with a folder it can move to: the same file again, taken in once
        second = SftpPoller(config.model_copy(update={"processed": None}), partner_id=PARTNER)
        second.poll_once(deliver_to(intake))
        assert second.poll_once(deliver_to(intake)) == 1
        second.stop()
        assert (outgoing / "processed" / "orders.edi").exists()
    finally:
        sshd.close()
    assert len(events_for(broker, "PO-SFTP-POLL-1", n=2, timeout=2)) == 1  # not a second time
