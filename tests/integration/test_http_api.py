"""The HTTP API over loopback: httpx posts to the real server, events are read from the real broker."""

from __future__ import annotations

import html
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.http.app import create_app
from adapters.http.keys import ADMIN, KeyRing, hash_key
from adapters.http.server import Server
from adapters.http.ui import view
from gateway.archive import LocalArchive
from gateway.bootstrap import build, load_mappings
from gateway.config import GatewayConfig, KafkaConfig
from gateway.inbound.intake import Intake
from gateway.metrics import Metrics
from gateway.service import _broker_ready
from gateway.sinks.kafka import KafkaSink
from gateway.state.sqlite import SqliteStore
from tests.broker import consume, free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
BRASSERIE, ACME, ADMIN_KEY = "key-brasserie", "key-acme", "key-admin"
TOPICS = {"OrderCreated": "http.order-created", "InvoiceIssued": "http.invoice-issued",
          "ShipmentCreated": "http.shipment-created", "ParcelScanned": "http.parcel-scanned"}
DEAD = "http.deadletter"


@pytest.fixture(scope="module")
def gateway(broker, tmp_path_factory):
    """A gateway with the HTTP channel: the shipped partners, brasserie-du-parc given limits."""
    tmp = tmp_path_factory.mktemp("http")
    mappings = tmp / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "brasserie-du-parc.yaml").open("a") as f:
        f.write(f"\nchannels:\n  http:\n    api_keys: [{hash_key(BRASSERIE)}]\n    max_document_bytes: 20000\n"
                f"    rate_limit: {{per_second: 0.2, burst: 30}}\n")
    with (mappings / "acme-retail.yaml").open("a") as f:
        f.write(f"\nchannels:\n  http:\n    api_keys: [{hash_key(ACME)}]\n")
    config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap, topics=TOPICS,
                                             dead_letter_topic=DEAD, client_id="http-api"),
                           mappings=mappings, schemas=ROOT / "schemas")
    config.http.admin_keys = [hash_key(ADMIN_KEY)]
    config.http.max_document_bytes = 200_000
    _, partners = load_mappings(config)
    parts = build(config)
    store = SqliteStore(tmp / "state.db")
    metrics = Metrics()
    intake = Intake(LocalArchive(tmp / "archive"), store, parts.pipeline, duplicate_window=timedelta(days=1),
                    metrics=metrics)
    intake.start(pause=1)
    owners = {hash_key(ADMIN_KEY): ADMIN}
    for p in partners.all:
        if p.spec.channels.http:
            owners.update({h: p.id for h in p.spec.channels.http.api_keys})
    app = create_app(intake=intake, partners=partners, config=config.http, keys=KeyRing(owners), metrics=metrics,
                     ready=lambda: _broker_ready(parts.sink))
    server = Server(app, port=0)
    server.start()
    client = httpx.Client(base_url=server.url, timeout=30)
    client.intake = intake
    yield client
    client.close()
    server.stop()
    intake.stop()
    parts.close()
    store.close()


def post(client, path: str | bytes, key: str = ADMIN_KEY, content_type: str = "application/EDIFACT", **headers):
    body = path if isinstance(path, bytes) else (SAMPLES / path).read_bytes()
    return client.post("/v1/documents", content=body, headers={"Authorization": f"Bearer {key}",
                                                               "Content-Type": content_type, **headers})


def settled(client, receipt_id: str, key: str = ADMIN_KEY, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/v1/documents/{receipt_id}", headers={"X-API-Key": key}).json()
        if status["status"] != "received" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def edifact_order(order: str, interchange: str) -> bytes:
    """The ORDERS sample with its own interchange reference and order number."""
    text = (SAMPLES / "edifact/orders_d96a.edi").read_text("latin-1")
    return text.replace("ORD000123", interchange).replace("PO-45001", order).encode("latin-1")


def assert_problem(response, status: int, words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and words in body["detail"], body
    return body


def test_a_posted_document_is_accepted_then_its_events_are_on_the_broker(gateway, broker):
    response = post(gateway, edifact_order("PO-HTTP-1", "IC-HTTP-1"), key=BRASSERIE)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == accepted["status_url"] == f"/v1/documents/{accepted['id']}"
    status = settled(gateway, accepted["id"], key=BRASSERIE)
    assert status["status"] == "published" and status["partner"] == "brasserie-du-parc"
    assert status["channel"] == "http" and status["interchange_ref"] == "IC-HTTP-1"
    [event] = status["details"]["events"]
    assert event["type"] == "OrderCreated" and event["topic"] == "http.order-created" and event["key"] == "PO-HTTP-1"
    on_broker = consume(broker.bootstrap, "http.order-created", 2, timeout=4, where=lambda m: m.key() == b"PO-HTTP-1")
    assert len(on_broker) == 1  # one, and no second one within the time allowed
    assert dict(on_broker[0].headers())["ce_id"].decode() == event["event_id"]
    # found by its business reference too
    found = gateway.get("/v1/documents", params={"ref": "PO-HTTP-1"}, headers={"X-API-Key": BRASSERIE}).json()
    assert [d["id"] for d in found["documents"]] == [accepted["id"]]


def test_an_x12_document_is_sniffed_when_the_content_type_says_nothing_particular(gateway):
    response = post(gateway, "x12/850_4010.x12", key=ACME, content_type="application/octet-stream")
    assert response.status_code == 202, response.text
    assert settled(gateway, response.json()["id"], key=ACME)["status"] in ("published", "duplicate")


def test_an_idempotency_key_returns_the_first_receipt(gateway):
    body = edifact_order("PO-IDEM", "IC-IDEM")
    first = post(gateway, body, key=BRASSERIE, **{"Idempotency-Key": "retry-42"})
    again = post(gateway, body, key=BRASSERIE, **{"Idempotency-Key": "retry-42"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["repeated"] is True
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    listed = gateway.get("/v1/documents", params={"ref": "IC-IDEM"}, headers={"X-API-Key": ADMIN_KEY}).json()
    assert len(listed["documents"]) == 1


def test_the_same_interchange_again_is_recorded_as_a_duplicate_and_not_published(gateway, broker):
    body = edifact_order("PO-DUP", "IC-DUP")
    first = settled(gateway, post(gateway, body, key=BRASSERIE).json()["id"])
    second = settled(gateway, post(gateway, body, key=BRASSERIE).json()["id"])
    assert (first["status"], second["status"]) == ("published", "duplicate")
    assert "duplicate of interchange IC-DUP" in second["error"] and second["details"]["skipped"]
    assert len(consume(broker.bootstrap, "http.order-created", 2, timeout=4, where=lambda m: m.key() == b"PO-DUP")) == 1


def test_keys_are_required_and_must_be_known(gateway):
    response = gateway.post("/v1/documents", content=b"UNA:+.? '", headers={"Content-Type": "application/EDIFACT"})
    assert_problem(response, 401, "API key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(post(gateway, "edifact/orders_d96a.edi", key="guess"), 401, "not configured")
    assert_problem(gateway.get("/v1/documents"), 401, "API key")


def test_a_document_from_another_sender_than_the_key_is_refused_and_recorded(gateway):
    body = edifact_order("PO-SPOOF", "IC-SPOOF")
    refused = assert_problem(post(gateway, body, key=ACME), 403, "brasserie-du-parc")
    assert "acme-retail" in refused["detail"]
    status = settled(gateway, refused["receipt_id"])  # kept and visible to an admin
    assert status["status"] == "failed" and status["details"]["errors"][0]["code"] == "PARTNER_MISMATCH"
    assert status["raw_ref"].startswith("sha256:")
    assert gateway.intake.archive.path(status["raw_ref"]).read_bytes() == body
    # the poster sees why; the partner the envelope names does not see what it never sent
    assert gateway.get(f"/v1/documents/{refused['receipt_id']}", headers={"X-API-Key": ACME}).status_code == 200
    assert gateway.get(f"/v1/documents/{refused['receipt_id']}", headers={"X-API-Key": BRASSERIE}).status_code == 404


def test_too_large_documents_get_413(gateway):
    big = edifact_order("PO-BIG", "IC-BIG").replace(b"UNT", b"FTX+AAI+++" + b"X" * 70 + b"'" * 1 + b"UNT") * 1
    big = big + b" " * 21000
    assert_problem(post(gateway, big, key=BRASSERIE), 413, "20000")  # the partner's own limit
    # a streamed body (no Content-Length) is cut off at the limit too
    chunks = (b"X" * 8192 for _ in range(40))
    response = gateway.post("/v1/documents", content=chunks,
                            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/EDIFACT"})
    assert_problem(response, 413, "200000")


def test_what_is_not_a_document_gets_415(gateway):
    assert_problem(post(gateway, b'{"order": 1}', content_type="application/json"), 415, "application/json")
    assert_problem(post(gateway, b"hello there", content_type="text/plain"), 415, "it starts with 'hello there'")
    assert_problem(post(gateway, b"", content_type="text/plain"), 415, "empty")
    assert_problem(post(gateway, "x12/850_4010.x12", content_type="application/EDIFACT"), 415, "x12")


def test_a_document_with_errors_is_accepted_kept_and_its_errors_are_reported_with_positions(gateway, broker):
    body = edifact_order("PO-BAD", "IC-BAD").replace(b"UNT+", b"UNT+99")  # a wrong segment count
    response = post(gateway, body, key=BRASSERIE)
    assert response.status_code == 202
    status = settled(gateway, response.json()["id"], key=BRASSERIE)
    assert status["status"] == "failed" and status["events"] == 0
    [error] = status["details"]["errors"]
    assert error["code"] and "line" in error["position"] and error["stage"] == "syntax"
    dead = consume(broker.bootstrap, DEAD, 1, timeout=15,
                   where=lambda m: dict(m.headers()).get("ce_id", b"").decode() == error["dead_letter_id"])
    assert len(dead) == 1


def test_partners_see_only_their_own_documents_and_admins_see_all(gateway):
    mine = post(gateway, edifact_order("PO-MINE", "IC-MINE"), key=BRASSERIE).json()["id"]
    assert gateway.get(f"/v1/documents/{mine}", headers={"X-API-Key": ACME}).status_code == 404
    assert gateway.get(f"/v1/documents/{mine}", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    assert_problem(gateway.get("/v1/documents", params={"partner": "brasserie-du-parc"},
                               headers={"X-API-Key": ACME}), 403, "acme-retail")
    theirs = gateway.get("/v1/documents", headers={"X-API-Key": ACME}).json()["documents"]
    assert theirs and all(d["partner"] == "acme-retail" for d in theirs)
    failed = gateway.get("/v1/documents", params={"status": "failed"}, headers={"X-API-Key": ADMIN_KEY}).json()
    assert failed["documents"] and all(d["status"] == "failed" for d in failed["documents"])
    assert gateway.get("/v1/documents", params={"status": "lost"}, headers={"X-API-Key": ADMIN_KEY}).status_code == 422


def test_a_partner_over_its_rate_gets_429_with_retry_after(gateway):
    codes = [post(gateway, edifact_order(f"PO-RATE-{i}", f"IC-RATE-{i}"), key=BRASSERIE).status_code
             for i in range(40)]
    assert 202 in codes and 429 in codes
    refused = post(gateway, edifact_order("PO-RATE-X", "IC-RATE-X"), key=BRASSERIE)
    assert_problem(refused, 429, "brasserie-du-parc")
    assert int(refused.headers["retry-after"]) >= 1
    assert post(gateway, "x12/850_4010.x12", key=ACME, content_type="application/EDI-X12").status_code == 202


def test_operations_endpoints(gateway):
    assert gateway.get("/healthz").json() == {"status": "ok"}
    assert gateway.get("/readyz").json() == {"status": "ready"}
    metrics = gateway.get("/metrics").text
    assert 'edigw_documents_total{channel="http",partner="brasserie-du-parc",status="published"}' in metrics
    assert 'edigw_refused_total{channel="http",reason="media_type"}' in metrics
    assert "edigw_stage_seconds_bucket" in metrics and "edigw_backlog" in metrics
    spec = gateway.get("/openapi.json").json()
    assert {"/v1/documents", "/v1/documents/{receipt_id}", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert "application/EDIFACT" in spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]


def test_readyz_says_when_the_broker_cannot_be_reached(tmp_path):
    from gateway.state.memory import MemoryStore
    from gateway.inbound.pipeline import Pipeline
    from gateway.mapping.loader import Partners

    sink = KafkaSink(f"127.0.0.1:{free_port()}", None)
    pipeline = Pipeline(Partners([]), None, sink)
    intake = Intake(LocalArchive(tmp_path), MemoryStore(), pipeline)
    from adapters.http.config import HttpServer

    app = create_app(intake=intake, partners=Partners([]), config=HttpServer(), keys=KeyRing({}), metrics=Metrics(),
                     ready=lambda: _broker_ready(sink))
    server = Server(app, port=0)
    server.start()
    try:
        assert_problem(httpx.get(f"{server.url}/readyz", timeout=30), 503, "not reachable")
    finally:
        server.stop()
        sink.close()


def test_with_the_broker_down_documents_are_taken_in_up_to_the_backlog_then_refused_with_503(tmp_path):
    from adapters.http.config import HttpServer
    from gateway.mapping.loader import Partners
    from gateway.inbound.pipeline import Pipeline
    from gateway.state.memory import MemoryStore

    sink = KafkaSink(f"127.0.0.1:{free_port()}", None, timeout=2)  # nobody listens there
    store = MemoryStore()
    intake = Intake(LocalArchive(tmp_path), store, Pipeline(Partners([]), None, sink), max_backlog=2)
    intake.start(pause=60)
    app = create_app(intake=intake, partners=Partners([]), config=HttpServer(admin_keys=[hash_key(ADMIN_KEY)]),
                     keys=KeyRing({hash_key(ADMIN_KEY): ADMIN}), metrics=intake.metrics)
    server = Server(app, port=0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in (1, 2):
                assert post(client, x12_order(n), content_type="application/EDI-X12").status_code == 202
            time.sleep(1.1)  # the backlog is counted at most once a second
            refused = post(client, x12_order(3), content_type="application/EDI-X12")
            assert_problem(refused, 503, "2 documents are waiting to be published")
            assert refused.headers["Retry-After"] == "30"
            assert "edigw_backlog 2.0" in client.get("/metrics").text
        assert [r.status for r in store.find_receipts()] == ["received", "received"]  # kept, pending
    finally:
        server.stop()
        intake.stop()
        sink.close()


def x12_order(n: int) -> bytes:
    """The 850 sample with interchange and group control number ``n`` (so it is no duplicate)."""
    body = (SAMPLES / "x12/850_4010.x12").read_bytes()
    return (body.replace(b"*000000905*", b"*%09d*" % n).replace(b"*905*X*", b"*%d*X*" % n)
            .replace(b"GE*1*905~", b"GE*1*%d~" % n).replace(b"IEA*1*000000905~", b"IEA*1*%09d~" % n))


def test_x12_documents_are_answered_with_a_997_visible_in_the_status_api(gateway):
    body = x12_order(9905)
    receipt = post(gateway, body, key=ACME, content_type="application/EDI-X12").json()["id"]
    status = settled(gateway, receipt, key=ACME)
    [ack] = status["acknowledgements"]
    assert ack["kind"] == "997" and ack["status"] == "queued" and ack["details"]["status"] == "accepted"
    raw = gateway.get(f"/v1/documents/{receipt}/acknowledgements/{ack['id']}", headers={"X-API-Key": ACME})
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/EDI-X12"
    from gateway.syntax import parse

    [interchange] = parse(raw.content)
    assert interchange.ok and interchange.control_ref == ack["control_ref"]
    assert interchange.recipient == "ACMERETAIL"  # sender and recipient swapped
    [message] = interchange.messages
    assert message.type == "997"
    assert [s.to_json() for s in message.segments if s.tag in ("AK1", "AK5", "AK9")][0][:2] == ["AK1", "PO"]


def test_a_set_with_a_wrong_count_is_rejected_in_the_997(gateway):
    bad = x12_order(8905).replace(b"SE*13*0001~", b"SE*18*0001~")
    assert bad != x12_order(8905)
    receipt = post(gateway, bad, key=ACME, content_type="application/EDI-X12").json()["id"]
    status = settled(gateway, receipt, key=ACME)
    assert status["status"] == "failed"
    [ack] = status["acknowledgements"]
    assert ack["kind"] == "997" and ack["details"]["status"] == "rejected"
    raw = gateway.get(f"/v1/documents/{receipt}/acknowledgements/{ack['id']}", headers={"X-API-Key": ACME}).content
    assert b"AK5*R*4" in raw  # 4: number of included segments does not match actual count


def test_an_edifact_interchange_asking_for_an_acknowledgement_gets_a_contrl(gateway):
    body = edifact_order("PO-CONTRL", "IC-CONTRL").replace(b"+IC-CONTRL++ORDERS'", b"+IC-CONTRL++ORDERS++1'")
    assert b"UNB+UNOC:3+5412345000013:14+4012345000009:14+261120:0930+IC-CONTRL++ORDERS++1'" in body  # 0031 = 1
    receipt = post(gateway, body).json()["id"]  # an admin key: brasserie's rate is used up by now
    status = settled(gateway, receipt, key=ADMIN_KEY)
    assert status["status"] == "published"
    [ack] = status["acknowledgements"]
    assert ack["kind"] == "CONTRL" and ack["details"]["status"] == "accepted"
    raw = gateway.get(f"/v1/documents/{receipt}/acknowledgements/{ack['id']}", headers={"X-API-Key": ADMIN_KEY})
    assert raw.headers["content-type"] == "application/EDIFACT"
    assert b"UCI+IC-CONTRL+" in raw.content and b"+7'" in raw.content  # 7: this level and all lower accepted


def test_a_failed_document_is_replayed_by_an_admin_key_only(gateway):
    body = edifact_order("PO-REPLAY-API", "IC-REPLAY-API").replace(b"\nDTM+137", b"\nQQQ+1'\nDTM+137").replace(
        b"UNT+22+1'", b"UNT+23+1'")  # a segment ORDERS has not: refused by validation, each time
    receipt_id = post(gateway, body).json()["id"]  # by an admin key: Brasserie's rate limit is spent here
    failed = settled(gateway, receipt_id, key=BRASSERIE)
    assert failed["status"] == "failed", failed
    url = f"/v1/documents/{receipt_id}/replay"
    assert_problem(gateway.post(url, headers={"X-API-Key": BRASSERIE}), 403, "admin key")
    assert_problem(gateway.post(url, headers={"X-API-Key": ACME}), 404, receipt_id)  # not even visible
    again = gateway.post(url, headers={"X-API-Key": ADMIN_KEY})
    assert again.status_code == 200, again.text
    replayed = again.json()
    assert replayed["status"] == "failed" and replayed["updated_at"] > failed["updated_at"]
    assert replayed["details"]["errors"][0]["code"] == failed["details"]["errors"][0]["code"]
    # a published document, and one refused at the door (another partner's envelope), are not replayed
    published = post(gateway, edifact_order("PO-REPLAY-OK", "IC-REPLAY-OK")).json()["id"]
    assert settled(gateway, published)["status"] == "published"
    assert_problem(gateway.post(f"/v1/documents/{published}/replay", headers={"X-API-Key": ADMIN_KEY}), 409,
                   "only failed documents")
    spoofed = post(gateway, edifact_order("PO-SPOOF-2", "IC-SPOOF-2"), key=ACME).json()["receipt_id"]
    assert_problem(gateway.post(f"/v1/documents/{spoofed}/replay", headers={"X-API-Key": ADMIN_KEY}), 409,
                   "PARTNER_MISMATCH")
    assert settled(gateway, spoofed)["status"] == "failed"


def test_redrive_is_for_admin_keys_and_failed_deliveries(gateway):
    assert_problem(gateway.post("/v1/outbound/nothing-here/redrive", headers={"X-API-Key": ADMIN_KEY}), 404,
                   "nothing-here")
    # an X12 850 of Acme's is answered with a 997 (queued: the partner has no outbound channel here)
    receipt_id = post(gateway, "x12/850_4010.x12", key=ACME, content_type="application/EDI-X12").json()["id"]
    ack = settled(gateway, receipt_id, key=ACME)["acknowledgements"][0]
    url = f"/v1/outbound/{ack['id']}/redrive"
    assert_problem(gateway.post(url, headers={"X-API-Key": ACME}), 403, "admin key")
    assert_problem(gateway.post(url, headers={"X-API-Key": BRASSERIE}), 404, ack["id"])
    assert_problem(gateway.post(url, headers={"X-API-Key": ADMIN_KEY}), 409, "only failed deliveries")


def test_the_tracking_pages_show_a_large_document_without_reading_it_again(gateway, monkeypatch):
    receipt_id = post(gateway, edifact_order("PO-LARGE", "IC-LARGE")).json()["id"]
    assert settled(gateway, receipt_id)["status"] == "published"
    with httpx.Client(base_url=str(gateway.base_url), timeout=30) as browser:
        login = browser.get("/ui/login").text
        token = login.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert browser.post("/ui/login", data={"csrf": token, "key": ADMIN_KEY}).status_code == 303
        whole = html.unescape(browser.get(f"/ui/documents/{receipt_id}").text)
        assert "not read again" not in whole and '"order_number": "PO-LARGE"' in whole  # decoded
        monkeypatch.setattr(view, "READ_LIMIT", 100)  # the document has some 640 bytes
        monkeypatch.setattr(view, "RAW_LIMIT", 50)
        page = browser.get(f"/ui/documents/{receipt_id}")
    assert page.status_code == 200
    assert "it is not read again for this page" in page.text and "only the first part is shown" in page.text
    assert "OrderCreated" in page.text and "PO-LARGE" in page.text  # the event, from the receipt's summary
    assert '"order_number"' not in html.unescape(page.text)  # not decoded
    assert "UNZ+" not in page.text  # only the first 50 bytes
