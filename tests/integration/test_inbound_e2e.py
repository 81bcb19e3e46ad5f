"""End to end against a real Kafka-protocol broker (Tansu) on loopback.

sample file -> pipeline -> KafkaSink -> broker -> consumer -> decode == golden JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.bootstrap import build
from gateway.config import GatewayConfig, KafkaConfig
from gateway.events.tail import tail
from gateway.inbound.document import Document
from tests.broker import consume

ROOT = Path(__file__).resolve().parents[2]
RECEIVED = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
GOLDEN = sorted(ROOT.glob("samples/**/*.events.json"))


def sample_of(golden: Path) -> Path:
    return golden.with_name(golden.name[: -len(".events.json")])


def config(**kafka) -> GatewayConfig:
    return GatewayConfig(kafka=KafkaConfig(**kafka), mappings=ROOT / "mappings", schemas=ROOT / "schemas")


def test_there_are_goldens_to_check():
    assert len(GOLDEN) >= 15


@pytest.mark.parametrize("registry", [None, "mock://e2e"], ids=["single-object", "schema-registry"])
def test_every_sample_arrives_on_the_broker_as_its_golden_events(broker, registry):
    variant = "registry" if registry else "single"
    from gateway.mapping.engine import default_topic

    # each encoder variant on its own topics: both publish the same (deterministic) event ids
    topics = {t: f"{variant}.{default_topic(t)}" for t in ("OrderCreated", "OrderResponded", "ShipmentCreated",
                                                           "ParcelScanned", "ShipmentDelivered", "InvoiceIssued",
                                                           "AcknowledgementReceived")}
    parts = build(config(bootstrap_servers=broker.bootstrap, schema_registry=registry, topics=topics,
                         client_id=f"e2e-{variant}"))
    expected: dict[str, dict] = {}
    try:
        for golden in GOLDEN:
            outcome = parts.pipeline.process(
                Document(sample_of(golden).read_bytes(), received_at=RECEIVED, receipt_id="golden"))
            assert outcome.dead_letters == [], golden.name
            assert len(outcome.deliveries) == len(outcome.events)  # every event confirmed by the broker
            for item in json.loads(golden.read_text(encoding="utf-8")):
                item["topic"] = topics[item["event_type"]]
                expected[item["event"]["event_id"]] = item
    finally:
        parts.close()
    got = {}
    for topic in sorted({item["topic"] for item in expected.values()}):
        want = sum(1 for item in expected.values() if item["topic"] == topic)
        for t, key, event_type, record, headers in tail(broker.bootstrap, topic, parts.encoder, from_beginning=True,
                                                          max_events=want, idle_timeout=20):
            item = {"topic": t, "key": key, "event_type": event_type,
                    "event": parts.schemas.to_json(event_type, record)}
            got[item["event"]["event_id"]] = item
            assert headers["ce_id"] == item["event"]["event_id"]
            assert headers["ce_type"] == f"edigw.events.{event_type}"
    assert got == expected


def test_a_bad_document_becomes_a_dead_letter_on_the_broker(broker):
    parts = build(config(bootstrap_servers=broker.bootstrap, dead_letter_topic="e2e.deadletter"))
    data = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes().replace(b"UNT+22+1", b"UNT+21+1")
    try:
        outcome = parts.pipeline.process(Document(data, received_at=RECEIVED, receipt_id="bad-1",
                                                  raw_ref="sha256:abc"))
    finally:
        parts.close()
    assert outcome.events == [] and len(outcome.dead_letters) == 1
    [message] = consume(broker.bootstrap, "e2e.deadletter", 1, timeout=30)
    event_type, record = parts.encoder.decode(message.value())
    assert event_type == "DeadLetter"
    assert (record["stage"], record["reason_code"]) == ("syntax", "MESSAGE_SEGMENT_COUNT_MISMATCH")
    assert record["partner_id"] is None and record["raw_ref"] == "sha256:abc"
    assert "UNT" in record["position"] and record["source"]["interchange_ref"] == "ORD000123"


def test_edigw_run_with_its_embedded_broker_takes_a_dropped_file(tmp_path):
    """What `make run` does: no Kafka configured -> embedded broker; a file in the inbox -> events."""
    from gateway.embedded import free_port

    port = free_port()
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(f"kafka:\n  embedded_port: {port}\nhttp:\n  port: {free_port()}\n"
                   f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n")
    inbox = tmp_path / "inbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg), "--inbox", str(inbox)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (inbox / "processed").is_dir() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        (inbox / "orders.edi").write_bytes((ROOT / "samples/edifact/orders_d96a.edi").read_bytes())
        [message] = consume(f"127.0.0.1:{port}", "edigw.order-created", 1, timeout=60)
        assert message.key() == b"PO-45001"
        deadline = time.monotonic() + 10
        while not (inbox / "processed" / "orders.edi").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (inbox / "processed" / "orders.edi").exists()
        # the same interchange again, under another name: taken in, recorded as a duplicate, not published
        (inbox / "again.edi").write_bytes((ROOT / "samples/edifact/orders_d96a.edi").read_bytes())
        deadline = time.monotonic() + 20
        while not (inbox / "processed" / "again.edi").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        from gateway.state.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "var" / "state.db")
        statuses = sorted(r.status for r in store.find_receipts())
        store.close()
        assert statuses == ["duplicate", "published"]
        assert len(consume(f"127.0.0.1:{port}", "edigw.order-created", 2, timeout=8)) == 1
        # both copies point at one archived file (content-addressed)
        assert len({r.raw_ref for r in SqliteStore(tmp_path / "var" / "state.db").find_receipts()}) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    log = err.decode()
    assert proc.returncode == 0, log
    assert "IN MEMORY ONLY" in log
    assert "Traceback" not in log


def test_make_run_demo_takes_documents_over_http_and_sftp(tmp_path):
    """`make run`: the demo key file opens the HTTP API and the demo SFTP account; both produce events."""
    import httpx

    from gateway.embedded import free_port

    kafka, http, sftp = free_port(), free_port(), free_port()
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text(f"kafka:\n  embedded_port: {kafka}\nhttp:\n  port: {http}\nsftp:\n  port: {sftp}\n"
                   f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n")
    key_file = tmp_path / "var" / "demo-api-key"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg), "--inbox",
                             str(tmp_path / "inbox"), "--demo-key-file", str(key_file)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                if httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        key = key_file.read_text().strip()
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        posted = httpx.post(f"http://127.0.0.1:{http}/v1/documents", timeout=30,
                            content=(ROOT / "samples/x12/850_4010.x12").read_bytes(),
                            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/EDI-X12"})
        assert posted.status_code == 202, posted.text
        batch = tmp_path / "put.txt"
        batch.write_text(f"put {ROOT / 'samples/edifact/invoic_d96a.edi'} inbox/\n")
        put = subprocess.run(["sftp", "-b", str(batch), "-P", str(sftp), "-i", str(tmp_path / "var/sftp/demo_key"),
                              "-o", "StrictHostKeyChecking=accept-new", "-o",
                              f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "-o", "BatchMode=yes",
                              "demo@127.0.0.1"], capture_output=True, text=True, timeout=60)
        assert put.returncode == 0, put.stderr
        orders = consume(f"127.0.0.1:{kafka}", "edigw.order-created", 1, timeout=30)
        invoices = consume(f"127.0.0.1:{kafka}", "edigw.invoice-issued", 1, timeout=30)
        assert [m.key() for m in orders] == [b"PO-88231"] and len(invoices) == 1
        status = httpx.get(f"http://127.0.0.1:{http}{posted.json()['status_url']}", timeout=10,
                           headers={"Authorization": f"Bearer {key}"}).json()
        assert status["status"] == "published" and status["acknowledgements"][0]["kind"] == "997"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert key not in err.decode() + out.decode()  # the key is in its file, never in the log
