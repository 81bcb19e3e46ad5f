"""AS2 into the gateway: libas2 (an independent implementation) posts to the real HTTP server's
``POST /as2``; the document is taken in durably, libas2 verifies the MDN, and the events are read
from the real broker."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.as2.endpoint import As2Receiver, load_profiles
from adapters.http.app import create_app
from adapters.http.keys import KeyRing
from adapters.http.server import Server
from gateway.archive import LocalArchive
from gateway.bootstrap import build, load_mappings
from gateway.config import GatewayConfig, KafkaConfig
from gateway.inbound.intake import Intake
from gateway.metrics import Metrics
from gateway.state.sqlite import SqliteStore
from tests.as2peer.pki import identity
from tests.broker import consume
from tests.integration.test_as2_interop import b64, node, run_peer  # noqa: F401 - node is a fixture

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "as2.order-created"
ORDER = (ROOT / "samples/edifact/orders_d96a.edi").read_text("latin-1")


def order(number: str) -> bytes:
    return ORDER.replace("ORD000123", f"AS2{number}").replace("PO-45001", number).encode("latin-1")


@pytest.fixture(scope="module")
def ids():
    return identity("gateway-as2"), identity("brasserie-as2")


@pytest.fixture(scope="module")
def gateway(broker, ids, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("as2")
    gateway_id, peer_id = ids
    our_key, our_cert = gateway_id.write(tmp)
    _, their_cert = peer_id.write(tmp)
    mappings = tmp / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "brasserie-du-parc.yaml").open("a") as f:
        f.write(f"\nchannels:\n  as2:\n    as2_id: BRASSERIE\n    our_as2_id: GATEWAY\n"
                f"    partner_certificate: {their_cert}\n    our_certificate: {our_cert}\n    our_key: {our_key}\n"
                f"    require_encryption: true\n    tolerances: {{gcm_in_enveloped_data: true}}\n")
    config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap, topics={"OrderCreated": TOPIC},
                                             dead_letter_topic="as2.deadletter", client_id="as2-gateway"),
                           mappings=mappings, schemas=ROOT / "schemas")
    _, partners = load_mappings(config)
    parts = build(config)
    store = SqliteStore(tmp / "state.db")
    metrics = Metrics()
    intake = Intake(LocalArchive(tmp / "archive"), store, parts.pipeline, duplicate_window=timedelta(days=1),
                    metrics=metrics)
    intake.start(pause=1)
    app = create_app(intake=intake, partners=partners, config=config.http, keys=KeyRing({}), metrics=metrics)
    receiver = As2Receiver(intake, load_profiles(partners.all), metrics=metrics)
    receiver.mount(app, max_bytes=1 << 24)
    server = Server(app, port=0)
    server.start()
    server.store = store
    yield server
    server.stop()
    receiver.stop()
    intake.stop()
    parts.close()
    store.close()


def job(ids, url: str, payload: bytes, **more) -> dict:
    gateway_id, peer_id = ids
    return {"url": url, "from": "BRASSERIE", "to": "GATEWAY", "certificate": peer_id.cert_pem,
            "privateKey": peer_id.key_pem, "partnerCertificate": gateway_id.cert_pem,
            "mdnCertificate": gateway_id.cert_pem, "sign": "sha-256", "encrypt": "aes256-CBC",
            "payload": b64(payload), "filename": "orders.edi", "contentType": "application/EDIFACT",
            "mdn": {"signing": "sha-256"}, **more}


def receipts(store, ref: str) -> list:
    deadline = time.monotonic() + 20
    while True:
        found = store.find_receipts(ref=ref)
        if (found and all(r.status != "received" for r in found)) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_an_order_sent_by_libas2_becomes_an_event_and_libas2_verifies_the_mdn(node, ids, gateway, broker):  # noqa: F811
    result = run_peer(node, "send", job(ids, f"{gateway.url}/as2", order("PO-AS2-1")))
    assert result["status"] == 200
    mdn = result["mdn"]
    assert mdn["signed"] is True and mdn["verified"] is True
    assert mdn["notification"]["disposition"]["processed"] is True
    assert mdn["notification"]["originalMessageId"] == result["sent"]["messageId"]
    [receipt] = receipts(gateway.store, "PO-AS2-1")
    assert receipt.channel == "as2" and receipt.partner_id == "brasserie-du-parc" and receipt.status == "published"
    [event] = consume(broker.bootstrap, TOPIC, 1, timeout=15, where=lambda m: m.key() == b"PO-AS2-1")
    assert dict(event.headers())["ce_id"].decode() == receipt.details["events"][0]["event_id"]


def test_a_resent_message_id_gets_a_positive_mdn_and_is_not_taken_in_twice(node, ids, gateway):  # noqa: F811
    """A sender whose MDN got lost resends the same message: one receipt, and an MDN each time."""
    import base64

    import httpx

    built = run_peer(node, "compose", job(ids, "http://unused", order("PO-AS2-2")))
    headers, body = built["headers"], base64.b64decode(built["body"])
    answers = [httpx.post(f"{gateway.url}/as2", content=body, headers=headers, timeout=30) for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 200
        checked = run_peer(node, "verify-mdn", {"headers": dict(answer.headers), "body": b64(answer.content),
                                                "certificate": ids[0].cert_pem})
        assert checked["verified"] is True
        assert checked["notification"]["disposition"]["processed"] is True
        assert checked["notification"]["originalMessageId"] == built["messageId"]
    assert b"duplicate-document" in answers[1].content and b"duplicate-document" not in answers[0].content
    assert len(receipts(gateway.store, "PO-AS2-2")) == 1


def test_a_message_from_a_stranger_gets_a_failed_mdn_and_nothing_is_kept(node, ids, gateway):  # noqa: F811
    stranger = identity("stranger-as2")
    sent = job(ids, f"{gateway.url}/as2", order("PO-AS2-3"))
    sent.update(certificate=stranger.cert_pem, privateKey=stranger.key_pem)  # signed with another key
    result = run_peer(node, "send", sent)
    assert result["status"] == 200
    disposition = result["mdn"]["notification"]["disposition"]
    assert disposition["processed"] is False or "authentication-failed" in str(disposition)
    assert gateway.store.find_receipts(ref="PO-AS2-3") == []
