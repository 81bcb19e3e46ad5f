"""The archive on an S3-compatible store, against moto's S3 server as a real process on loopback;
and what the intake and the HTTP channel do when the store fails (archive before acknowledgement)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from adapters.http.app import create_app
from adapters.http.config import HttpServer
from adapters.http.keys import ADMIN, KeyRing, hash_key
from adapters.http.server import Server
from gateway.archive import ArchiveUnavailable, MemoryArchive, TooLarge, key_of
from gateway.archive.s3 import S3Archive
from gateway.bootstrap import build, build_archive
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError
from gateway.inbound.intake import Intake
from gateway.sinks.memory import MemorySink
from gateway.state.base import PUBLISHED
from gateway.state.memory import MemoryStore
from tests.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_bytes()
KEY = "s3-admin-key"


@pytest.fixture
def bucket(s3) -> str:
    return s3.create_bucket(f"archive-{uuid.uuid4().hex[:12]}")


def archive_on(s3, bucket: str, prefix: str = "gw/one") -> S3Archive:
    return S3Archive(bucket, prefix, endpoint_url=s3.endpoint, region="us-east-1", timeout=5, retries=1)


def test_put_stores_the_bytes_under_their_hash_and_open_reads_them_back(s3, bucket):
    archive = archive_on(s3, bucket)
    ref, size = archive.put(ORDERS)
    digest = hashlib.sha256(ORDERS).hexdigest()
    assert (ref, size) == (f"sha256:{digest}", len(ORDERS))
    assert s3.objects(bucket) == {f"gw/one/sha256/{digest[:2]}/{digest[2:]}": ORDERS}  # the local layout
    with archive.open(ref) as stream:
        assert stream.read() == ORDERS
    assert archive.exists(ref) and archive.read(ref) == ORDERS


def test_the_same_bytes_again_are_the_same_object_stored_once(s3, bucket):
    first, second = archive_on(s3, bucket), archive_on(s3, bucket)  # two instances, one store
    ref, _ = first.put(ORDERS)
    assert second.put(io.BytesIO(ORDERS)) == (ref, len(ORDERS))  # a stream, from the other instance
    assert first.put(ORDERS)[0] == ref
    other, _ = first.put(ORDERS + b"\n")
    assert other != ref
    assert len(s3.objects(bucket)) == 2


def test_a_large_document_is_streamed_in_and_read_back_whole(s3, bucket, tmp_path):
    archive = archive_on(s3, bucket)
    big = tmp_path / "big.edi"
    block = os.urandom(1 << 20)
    big.write_bytes(block * 9)  # past the in-memory spool: hashed through a temporary file
    with big.open("rb") as stream:
        ref, size = archive.put(stream)
    assert size == 9 << 20 and ref == "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    with archive.open(ref) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == ref.removeprefix("sha256:")


def test_a_document_over_the_limit_is_refused_and_nothing_is_stored(s3, bucket):
    archive = archive_on(s3, bucket)
    with pytest.raises(TooLarge, match="larger than 100 bytes"):
        archive.put(b"x" * 101, max_bytes=100)
    assert s3.objects(bucket) == {}


def test_an_unknown_reference_is_not_found_and_a_malformed_one_is_refused(s3, bucket):
    archive = archive_on(s3, bucket)
    missing = "sha256:" + "0" * 64
    assert not archive.exists(missing)
    with pytest.raises(FileNotFoundError, match=f"{missing} is not in the archive s3://{bucket}/gw/one"):
        archive.open(missing)
    with pytest.raises(ValueError, match="not an archive reference"):
        archive.open("sha256:../../etc/passwd")


def test_a_store_that_cannot_be_reached_or_has_no_such_bucket_is_a_transient_error(s3):
    down = S3Archive("edi-archive", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2, retries=1)
    with pytest.raises(ArchiveUnavailable, match="cannot store the document in s3://edi-archive"):
        down.put(ORDERS)
    with pytest.raises(ArchiveUnavailable, match="cannot read"):
        down.open("sha256:" + "0" * 64)
    nobucket = archive_on(s3, "no-such-bucket-here")
    with pytest.raises(ArchiveUnavailable, match="no-such-bucket-here"):
        nobucket.put(ORDERS)


def test_the_intake_archives_to_s3_before_the_receipt_and_processes_from_what_it_reads_back(s3, bucket):
    config = GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas", archive=f"s3://{bucket}/inbound")
    config.s3.endpoint_url = s3.endpoint
    parts = build(config, sink=MemorySink())
    store = MemoryStore()
    intake = Intake.configured(config, store, parts.pipeline)
    assert isinstance(intake.archive, S3Archive)
    receipt = intake.take(ORDERS, channel="http")
    assert list(s3.objects(bucket)) == [f"inbound/{key_of(receipt.raw_ref)}"]
    intake.process(receipt)
    assert store.get_receipt(receipt.id).status == PUBLISHED
    first = [e.event_id for e in parts.sink.events]
    # a replay (or a recovery on another instance) reads the same bytes back: the same event ids
    again = Intake.configured(config, MemoryStore(), build(config, sink=MemorySink()).pipeline)
    replayed = again.store.add_receipt(receipt)
    sink = again.pipeline.sink
    again.process(replayed)
    assert first and [e.event_id for e in sink.events] == first


def test_when_the_store_fails_the_intake_keeps_no_receipt_and_raises_a_transient_error(tmp_path):
    archive = MemoryArchive()
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    store = MemoryStore()
    intake = Intake(archive, store, parts.pipeline)
    archive.failing = "the bucket refused the write"
    with pytest.raises(ArchiveUnavailable, match="the bucket refused the write"):
        intake.take(ORDERS, channel="http")
    assert store.find_receipts() == [] and archive.objects == {}
    archive.failing = None
    receipt = intake.take(ORDERS, channel="http")
    assert store.find_receipts() == [receipt] and archive.puts == 1


def test_a_sender_is_answered_with_an_error_and_no_receipt_while_the_store_is_down(s3, bucket):
    archive = archive_on(s3, bucket)
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    store = MemoryStore()
    intake = Intake(archive, store, parts.pipeline)
    intake.start()
    app = create_app(intake=intake, partners=parts.partners, config=HttpServer(admin_keys=[hash_key(KEY)]),
                     keys=KeyRing({hash_key(KEY): ADMIN}), metrics=intake.metrics)
    server = Server(app, port=0)
    server.start()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/EDIFACT"}
    try:
        archive.store = S3Archive("edi-archive", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2,
                                  retries=0).store  # the store goes away
        refused = httpx.post(f"{server.url}/v1/documents", content=ORDERS, headers=headers, timeout=30)
        assert refused.status_code == 503, refused.text
        assert "cannot store the document" in refused.json()["detail"]
        assert store.find_receipts() == []
        archive.store = archive_on(s3, bucket).store  # back
        asking = ORDERS.replace(b"++ORDERS'", b"++ORDERS++1'", 1)  # UNB 0031 = 1: a CONTRL is asked for
        taken = httpx.post(f"{server.url}/v1/documents", content=asking, headers=headers, timeout=30)
        assert taken.status_code == 202, taken.text
        [receipt] = store.find_receipts()
        assert receipt.id == taken.json()["id"] and archive.read(receipt.raw_ref) == asking
        deadline = time.monotonic() + 30
        while (status := httpx.get(f"{server.url}/v1/documents/{receipt.id}", headers={"X-API-Key": KEY},
                                   timeout=30).json())["status"] == "received" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status["status"] == "published", status
        [ack] = status["acknowledgements"]  # its bytes went to the store too, and are read back from it
        raw = httpx.get(f"{server.url}/v1/documents/{receipt.id}/acknowledgements/{ack['id']}",
                        headers={"X-API-Key": KEY}, timeout=30)
        assert raw.status_code == 200 and raw.content.startswith((b"UNA", b"UNB")), raw.text
        assert len(s3.objects(bucket)) == 2
    finally:
        server.stop()
        intake.stop()


def test_the_configuration_names_bucket_prefix_and_settings_and_a_bad_bucket_by_file_line_and_key(tmp_path, s3):
    good = tmp_path / "gateway.yaml"
    good.write_text(f"archive: s3://edi-archive/prod/inbound/\ns3:\n  endpoint_url: {s3.endpoint}\n"
                    "  region: eu-central-1\n  addressing_style: path\n")
    config = load_config(good)
    assert config.archive == "s3://edi-archive/prod/inbound/"  # not made relative to the file
    archive = build_archive(config)
    assert isinstance(archive, S3Archive) and archive.location == "s3://edi-archive/prod/inbound"
    bad = tmp_path / "bad.yaml"
    bad.write_text("mappings: mappings\narchive: s3://Bad_Bucket/x\ns3:\n  addressing_style: sideways\n"
                   "  endpoint_url: minio:9000\n  secret_access_key: nope\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{bad}:2: archive:") and "bucket name" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:4: s3.addressing_style:") for line in lines), lines
    assert any(line.startswith(f"{bad}:5: s3.endpoint_url:") and "http://" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:6: s3.secret_access_key: unknown key") for line in lines), lines
    local = tmp_path / "local.yaml"
    local.write_text("archive: var/archive\n")
    assert load_config(local).archive == str(tmp_path / "var/archive")


def test_readyz_says_when_the_archive_cannot_be_reached_or_its_bucket_is_missing(s3, bucket):
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    archive = archive_on(s3, bucket)
    intake = Intake(archive, MemoryStore(), parts.pipeline)
    app = create_app(intake=intake, partners=parts.partners, config=HttpServer(), keys=KeyRing({}),
                     metrics=intake.metrics)
    server = Server(app, port=0)
    server.start()
    try:
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200
        archive.store = archive_on(s3, "no-such-bucket-here").store
        missing = httpx.get(f"{server.url}/readyz", timeout=30)
        assert missing.status_code == 503 and "s3://" in missing.json()["detail"], missing.text
        archive.store = S3Archive("edi-archive", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2,
                                  retries=0).store
        down = httpx.get(f"{server.url}/readyz", timeout=30)
        assert down.status_code == 503 and "cannot be reached" in down.json()["detail"], down.text
    finally:
        server.stop()


def test_the_archive_and_its_endpoint_can_be_set_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDIGW_ARCHIVE", "s3://edi-archive/from-env")
    monkeypatch.setenv("EDIGW_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("EDIGW_S3_REGION", "eu-west-1")
    file = tmp_path / "gateway.yaml"
    file.write_text("archive: var/archive\n")
    config = load_config(file)
    assert (config.archive, config.s3.endpoint_url, config.s3.region) == (
        "s3://edi-archive/from-env", "http://minio:9000", "eu-west-1")
    assert build_archive(config).location == "s3://edi-archive/from-env"
