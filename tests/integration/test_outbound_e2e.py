"""The way out end to end, from the broker: an OrderResponded event produced to the real broker is
consumed by a real `edigw run`, rendered by ACME RETAIL's `po-acknowledgement` route into an 855 and
delivered through ACME's outbound channel to a real peer on loopback:

* AS2 to libas2 (``tests/as2peer``), signed and encrypted, a signed synchronous MDN asked for: libas2
  decrypts and verifies the message, and the gateway verifies its MDN and records the 855 as confirmed;
* HTTP to a stdlib server: one POST per event with the document and the configured secret header, the
  record sent; the same event produced again is not delivered again.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path

import httpx

from adapters.http.keys import hash_key
from gateway.bootstrap import build_encoder
from gateway.config import GatewayConfig, KafkaConfig
from gateway.events import Event, SchemaSet
from gateway.sinks.kafka import KafkaSink
from gateway.syntax import parse
from tests.broker import consume, free_port
from tests.gateway_process import KEY, Gateway
from tests.integration.test_as2_interop import ids, libas2, node  # noqa: F401 - fixtures
from tests.integration.test_http_outbound import Receiver
from tests.integration.test_round_trip import wait_for

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "samples/outbound/acme-retail.po-acknowledgement.event.json").read_text())
GOLDEN = (ROOT / "samples/outbound/acme-retail.po-acknowledgement.x12").read_bytes()
# every event type a sample outbound route takes, on topics of this test only: nothing another test
# published to the default topics in this session can reach ACME's channel
ROUTED = {"OrderResponded": "order-responded", "ShipmentCreated": "shipment-created",
          "InvoiceIssued": "invoice-issued", "OrderCreated": "order-created"}


def start_gateway(tmp_path: Path, bootstrap: str, name: str, channels: str,
                  extra: str = "") -> tuple[Gateway, dict[str, str]]:
    """`edigw run` with a copy of mappings/ whose acme-retail file ends with ``channels``, and the
    config lines ``extra``."""
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "acme-retail.yaml").open("a") as f:
        f.write("\n" + channels)
    topics = {event: f"{name}.{suffix}" for event, suffix in ROUTED.items()}
    gateway = Gateway(tmp_path / "gw", bootstrap, topics["OrderCreated"])
    listed = "".join(f"    {event}: {topic}\n" for event, topic in topics.items())
    gateway.config.write_text(  # Gateway's own config, with this test's topics, partner files and client id
        f"kafka:\n  bootstrap_servers: {bootstrap}\n  client_id: {name}\n  topics:\n{listed}"
        f"  dead_letter_topic: {name}.deadletter\n"
        f"http:\n  port: {gateway.port}\n  admin_keys: [{hash_key(KEY)}]\nsftp:\n  port: {free_port()}\n"
        f"mappings: {mappings}\nschemas: {ROOT / 'schemas'}\nretry_seconds: 1\n{extra}")
    try:
        gateway.start()
    except BaseException:
        gateway.stop()  # it did not come up in time: do not leave it running
        raise
    return gateway, topics


def produce(bootstrap: str, topic: str, records: list[dict]) -> None:
    """OrderResponded events as the supplier's ERP would publish them: the encoding the gateway reads."""
    config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=bootstrap), schemas=ROOT / "schemas")
    schemas = SchemaSet.load(config.schemas)
    events = [Event("OrderResponded", topic, r["order_number"], schemas.from_json("OrderResponded", r))
              for r in records]
    with KafkaSink(bootstrap, build_encoder(config, schemas), client_id="erp") as erp:
        erp.publish(events)


def outbound(gateway: Gateway) -> list[dict]:
    return httpx.get(f"{gateway.url}/v1/outbound", params={"partner": "acme-retail"},
                     headers={"X-API-Key": KEY}, timeout=10).json()["documents"]


def read_855(data: bytes):
    """The one 855 in ``data`` and its interchange; fails unless the document reads cleanly."""
    [interchange] = parse(data)
    assert interchange.ok, [i.code for i in interchange.all_issues()]
    [message] = interchange.messages
    assert message.type == "855"
    return interchange, message


def written(message) -> list:
    """The message between ST and SE: what the template wrote, without the control numbers."""
    return [(s.tag, s.elements) for s in message.body]


def segment(message, tag: str):
    return next(s for s in message.segments if s.tag == tag)


def test_an_event_on_the_broker_reaches_libas2_and_its_mdn_confirms_it(broker, ids, libas2, tmp_path):  # noqa: F811
    gateway_id, peer_id, _ = ids
    certs = tmp_path / "certs"
    certs.mkdir()
    our_key, our_cert = gateway_id.write(certs)
    _, their_cert = peer_id.write(certs)
    # libas2 (the fixture) decrypts with its key and verifies with gateway-interop's certificate; it cannot
    # take PKCS#1 v1.5 key transport or binary parts, and signs its MDNs without their final CRLF
    channels = (f"channels:\n  as2:\n    as2_id: LIBAS2\n    our_as2_id: GATEWAY\n"
                f"    url: http://127.0.0.1:{libas2.port}/as2\n"
                f"    partner_certificate: {their_cert}\n    our_certificate: {our_cert}\n    our_key: {our_key}\n"
                f"    sign: sha256\n    encrypt: aes256-cbc\n    key_transport: rsa-oaep-sha256\n"
                f"    transfer_encoding: base64\n"
                f"    mdn: {{mode: sync, signed: true, mic_alg: sha256}}\n"
                f"    tolerances: {{signature_without_final_crlf: true}}\n")
    while not libas2.records.empty():  # what earlier tests of this module left
        libas2.records.get_nowait()
    event = {**SAMPLE["event"], "event_id": str(uuid.uuid4())}
    gateway, topics = start_gateway(tmp_path, broker.bootstrap, f"e2e-as2-{uuid.uuid4().hex[:8]}", channels)
    try:
        produce(broker.bootstrap, topics["OrderResponded"], [event])

        def confirmed():
            return [d for d in outbound(gateway) if d["status"] not in ("queued", "sent")]

        done = wait_for(confirmed, 45)
        assert done, f"not confirmed: {outbound(gateway)}\n{gateway.log()}"
        [doc] = done
        assert doc["status"] == "confirmed", doc
        assert doc["kind"] == "855" and doc["answers"] == f"event:{event['event_id']}"
        details = doc["details"]
        assert details["mdn"] == "ok" and details["mdn_problems"] == [], details
        assert details["disposition"] == "automatic-action/MDN-sent-automatically; processed"
        assert details["mic"]["algorithm"] == "sha-256"

        # libas2 decrypted and verified it; the decrypted payload is the 855 ACME's route renders
        record = libas2.records.get(timeout=10)
        assert "error" not in record, record["error"]
        assert record["headers"]["as2-from"] == "GATEWAY" and record["headers"]["as2-to"] == "LIBAS2"
        assert record["notification"]["disposition"]["processed"] is True
        assert record["messageId"] == doc["transport_ref"] == details["as2_message_id"]
        interchange, message = read_855(base64.b64decode(record["payload"]))
        assert interchange.control_ref == doc["control_ref"]
        assert segment(message, "BAK").get(3) == event["order_number"] == "PO-88231"
        assert segment(message, "REF").get(2) == event["response_number"]
        assert written(message) == written(read_855(GOLDEN)[1])
        assert libas2.records.empty(), "libas2 got the document more than once"

        # the same answer through the document's own status
        again = httpx.get(f"{gateway.url}/v1/documents/{doc['id']}", headers={"X-API-Key": KEY}, timeout=10).json()
        assert again["status"] == "confirmed" and again["details"]["mdn"] == "ok"
    finally:
        gateway.stop()


def test_an_event_on_the_broker_is_posted_once_to_the_partner_s_http_endpoint(broker, tmp_path, monkeypatch):
    monkeypatch.setenv("E2E_ACME_TOKEN", "Bearer acme-s3cret")  # `edigw run` inherits it
    receiver = Receiver([])  # answers 200 to every POST, keeps (headers, body)
    channels = (f"channels:\n  http:\n    deliver:\n      url: {receiver.url}\n"
                f"      headers: {{Authorization: \"env:E2E_ACME_TOKEN\"}}\n      timeout_seconds: 10\n")
    first = {**SAMPLE["event"], "event_id": str(uuid.uuid4())}
    # a revised answer to the same order: the same key, so the same partition, after the repeat of the first
    revised = {**SAMPLE["event"], "event_id": str(uuid.uuid4()), "response_number": "SO-30517-2"}
    gateway, topics = start_gateway(tmp_path, broker.bootstrap, f"e2e-http-{uuid.uuid4().hex[:8]}", channels)
    try:
        produce(broker.bootstrap, topics["OrderResponded"], [first])
        sent = wait_for(lambda: [d for d in outbound(gateway) if d["status"] != "queued"], 45)
        assert sent, f"nothing sent: {outbound(gateway)}\n{gateway.log()}"
        [doc] = sent
        assert doc["status"] == "sent" and doc["details"]["http_status"] == 200, doc
        assert doc["kind"] == "855" and doc["answers"] == f"event:{first['event_id']}"
        assert len(receiver.got) == 1
        headers, sent_bytes = receiver.got[0]
        assert headers["Authorization"] == "Bearer acme-s3cret"
        assert headers["Content-Type"] == "application/EDI-X12"
        filename = doc["details"]["filename"]
        assert filename.endswith(".x12") and doc["control_ref"] in filename
        assert headers["Content-Disposition"] == f'attachment; filename="{filename}"'
        interchange, message = read_855(sent_bytes)
        assert interchange.control_ref == doc["control_ref"]
        assert segment(message, "BAK").get(3) == first["order_number"]
        assert written(message) == written(read_855(GOLDEN)[1])

        # the first event again (a replay), then the revised one: the revised one arriving means the
        # repeat was consumed before it; it must not have become a second document
        produce(broker.bootstrap, topics["OrderResponded"], [first, revised])
        assert wait_for(lambda: len(receiver.got) >= 2, 30), f"{outbound(gateway)}\n{gateway.log()}"
        wait_for(lambda: len(receiver.got) > 2, 4)  # a second copy of the first would come now
        assert len(receiver.got) == 2, [b[:200] for _, b in receiver.got]
        _, message = read_855(receiver.got[1][1])
        assert segment(message, "REF").get(2) == "SO-30517-2"
        docs = outbound(gateway)
        assert sorted(d["answers"] for d in docs) == sorted(f"event:{e['event_id']}" for e in (first, revised))
        assert all(d["status"] == "sent" for d in docs), docs
    finally:
        gateway.stop()
        receiver.shutdown()
        receiver.server_close()


def test_a_document_the_partner_keeps_refusing_is_dead_lettered_and_the_route_goes_on(broker, tmp_path):
    receiver = Receiver([503, 503])  # the partner's endpoint fails twice, then takes what comes
    channels = f"channels:\n  http:\n    deliver:\n      url: {receiver.url}\n      timeout_seconds: 5\n"
    name = f"e2e-give-up-{uuid.uuid4().hex[:8]}"
    refused = {**SAMPLE["event"], "event_id": str(uuid.uuid4())}
    later = {**SAMPLE["event"], "event_id": str(uuid.uuid4()), "response_number": "SO-30517-9"}
    gateway, topics = start_gateway(
        tmp_path, broker.bootstrap, name, channels,
        extra="delivery: {attempts: 2, first_retry_seconds: 0.5, interval_seconds: 0.3}\n")
    try:
        produce(broker.bootstrap, topics["OrderResponded"], [refused])
        failed = wait_for(lambda: [d for d in outbound(gateway) if d["status"] == "failed"], 45)
        assert failed, f"{outbound(gateway)}\n{gateway.log()}"
        [doc] = failed
        assert doc["answers"] == f"event:{refused['event_id']}" and len(receiver.got) == 2
        assert "gave up after 2 attempts" in doc["details"]["error"] and "503" in doc["details"]["error"]
        config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap), schemas=ROOT / "schemas")
        encoder = build_encoder(config, SchemaSet.load(config.schemas))
        [message] = consume(broker.bootstrap, f"{name}.deadletter", 1, timeout=30)
        event_type, record = encoder.decode(message.value())
        assert (event_type, record["stage"], record["reason_code"]) == ("DeadLetter", "deliver", "DELIVERY_FAILED")
        assert record["raw_ref"].startswith("sha256:") and record["partner_id"] == "acme-retail"
        assert record["error"].startswith(f"855 {doc['control_ref']}: gave up after 2 attempts")
        # the route did not stop at the failed document: the next event is delivered
        produce(broker.bootstrap, topics["OrderResponded"], [later])
        assert wait_for(lambda: len(receiver.got) == 3, 30), f"{outbound(gateway)}\n{gateway.log()}"
        _, message = read_855(receiver.got[2][1])
        assert segment(message, "REF").get(2) == "SO-30517-9"
        assert wait_for(lambda: sorted(d["status"] for d in outbound(gateway)) == ["failed", "sent"], 10)
    finally:
        gateway.stop()
        receiver.shutdown()
        receiver.server_close()
