"""Acknowledgements and documents leave through each partner's channel: a 997 collected from the
hosted outbox by the OpenSSH sftp client, after `edigw run` answered an 850; and an outbound document
delivered over AS2 to libas2, whose signed MDN confirms it."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import httpx

from adapters.as2.outbound import As2Sender
from adapters.http.keys import hash_key
from gateway.archive import LocalArchive
from gateway.outbound.outbox import Dispatcher
from gateway.state.base import CONFIRMED, OutboundDocument
from gateway.state.memory import MemoryStore
from tests.broker import free_port
from tests.integration.test_as2_interop import PAYLOAD, ids, libas2, node, to_libas2  # noqa: F401 - fixtures
from tests.sshd import keygen, sftp_batch

ROOT = Path(__file__).resolve().parents[2]
KEY = "outbox-admin-key"


def test_the_997_for_an_850_is_collected_from_the_hosted_outbox_with_openssh(broker, tmp_path):
    client_key = keygen(tmp_path / "acme_key")
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "acme-retail.yaml").open("a") as f:
        f.write(f"\nchannels:\n  sftp:\n    account:\n      username: acme\n"
                f"      authorized_keys: [\"{client_key.with_suffix('.pub').read_text().strip()}\"]\n")
    http, sftp = free_port(), free_port()
    (tmp_path / "gateway.yaml").write_text(
        f"kafka:\n  bootstrap_servers: {broker.bootstrap}\n  topics: {{OrderCreated: outbox.order-created}}\n"
        f"http:\n  port: {http}\n  admin_keys: [{hash_key(KEY)}]\nsftp:\n  port: {sftp}\n"
        f"mappings: mappings\nschemas: {ROOT / 'schemas'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(tmp_path / "gateway.yaml"),
                             "--inbox", str(tmp_path / "inbox")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
            try:
                httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        posted = httpx.post(f"http://127.0.0.1:{http}/v1/documents", timeout=30,
                            content=(ROOT / "samples/x12/850_4010.x12").read_bytes(),
                            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/EDI-X12"})
        assert posted.status_code == 202
        url = f"http://127.0.0.1:{http}{posted.json()['status_url']}"
        deadline = time.monotonic() + 30
        while True:
            acks = httpx.get(url, headers={"X-API-Key": KEY}, timeout=10).json()["acknowledgements"]
            if (acks and acks[0]["status"] == "sent") or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        [ack] = acks
        assert ack["kind"] == "997" and ack["status"] == "sent", ack
        got = tmp_path / "got"
        got.mkdir()
        listing = sftp_batch(sftp, "acme", f"ls outbox\nget outbox/997-{ack['control_ref']}.x12 {got}/\n",
                             workdir=tmp_path, key=client_key)
        assert listing.returncode == 0, listing.stderr
        [collected] = got.iterdir()
        raw = httpx.get(f"{url}/acknowledgements/{ack['id']}", headers={"X-API-Key": KEY}, timeout=10).content
        assert collected.read_bytes() == raw and b"ST*997*" in raw
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_an_outbound_document_delivered_over_as2_is_confirmed_by_libas2_s_mdn(ids, libas2, tmp_path):  # noqa: F811
    store, archive = MemoryStore(), LocalArchive(tmp_path)
    raw_ref, _ = archive.put(PAYLOAD)
    doc = OutboundDocument(id="o1", partner_id="libas2", kind="ORDRSP", raw_ref=raw_ref,
                           created_at=datetime.now(timezone.utc), control_ref="42")
    store.add_outbound(doc)
    profile = to_libas2(ids, libas2, mdn={"mic_alg": "sha256"})
    Dispatcher(store, archive, {"libas2": As2Sender(profile)}).deliver_due()
    record = libas2.records.get(timeout=10)
    assert base64.b64decode(record["payload"]) == PAYLOAD
    [done] = store.find_outbound()
    assert done.status == CONFIRMED, done.details
    assert done.external_ref == record["messageId"] and done.details["mdn"] == "ok"
    assert done.details["mic"]["algorithm"] == "sha-256"


def test_an_asynchronous_mdn_posted_to_the_gateway_confirms_the_document(ids, libas2, tmp_path):  # noqa: F811
    """libas2 answers later, at the gateway's real POST /as2/mdn; the record goes from sent to confirmed."""
    from adapters.as2.endpoint import As2Receiver
    from adapters.http.app import create_app
    from adapters.http.config import HttpServer
    from adapters.http.keys import KeyRing
    from adapters.http.server import Server
    from gateway.inbound.intake import Intake
    from gateway.mapping.loader import Partners
    from gateway.metrics import Metrics
    from gateway.inbound.pipeline import Pipeline
    from gateway.sinks.memory import MemorySink
    from gateway.state.base import SENT

    store, archive = MemoryStore(), LocalArchive(tmp_path)
    intake = Intake(archive, store, Pipeline(Partners([]), None, MemorySink()))
    app = create_app(intake=intake, partners=Partners([]), config=HttpServer(), keys=KeyRing({}), metrics=Metrics())
    server = Server(app, port=0)
    receiver = As2Receiver(intake, [], metrics=Metrics())
    receiver.mount(app, max_bytes=1 << 20)
    server.start()
    try:
        profile = replace(to_libas2(ids, libas2, mdn={"mode": "async", "async_url": f"{server.url}/as2/mdn"}),
                          partner="libas2")
        receiver.by_ids[(profile.config.as2_id, profile.config.our_as2_id)] = profile
        raw_ref, _ = archive.put(PAYLOAD)
        store.add_outbound(OutboundDocument(id="o2", partner_id="libas2", kind="INVOIC", raw_ref=raw_ref,
                                           created_at=datetime.now(timezone.utc), control_ref="43"))
        Dispatcher(store, archive, {"libas2": As2Sender(profile)}).deliver_due()
        [sent] = store.find_outbound()
        assert sent.status in (SENT, CONFIRMED) and sent.details["mdn"] in ("pending", "ok")
        assert libas2.records.get(timeout=10)["asyncMdnStatus"] == 200
        deadline = time.monotonic() + 10
        while store.find_outbound()[0].status != CONFIRMED and time.monotonic() < deadline:
            time.sleep(0.1)
        [done] = store.find_outbound()
        assert done.status == CONFIRMED and done.details["mdn"] == "ok", done.details
    finally:
        server.stop()
