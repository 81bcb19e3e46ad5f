"""A negative MDN, then the partner's functional acknowledgement for the same document.

The 855 that ACME's route renders from the sample event is sent over AS2 to a
partner endpoint on loopback (a stdlib HTTP server answering with the
project's AS2 receiving code, as ``tests/integration/test_as2_interop.py``
does). The partner cannot verify the signature (it holds another certificate
for the gateway), so its signed MDN says ``processed/error:
authentication-failed``: the document is recorded as failed, "taken in with an
error". The partner's system then answers the 855's group anyway, with the
999 of ``samples/x12/999_5010.x12`` (IK3/IK4: ACK04 068 not used in its
implementation): the gateway attaches it to that document, with its reasons,
and the status API (``GET /v1/outbound``, ``GET /v1/documents/{id}``, a real
server on loopback) shows both.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.as2.outbound import As2Sender
from adapters.http.app import create_app
from adapters.http.keys import ADMIN, KeyRing, hash_key
from adapters.http.server import Server
from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.inbound.intake import Intake
from gateway.metrics import Metrics
from gateway.outbound.egress import Egress
from gateway.outbound.outbox import Dispatcher
from gateway.outbound.render import load_routes
from gateway.sinks.memory import MemorySink
from gateway.state.base import DELIVERY_FAILED
from gateway.state.sqlite import SqliteStore
from tests.as2peer.pki import identity, profile
from tests.integration.test_as2_interop import GatewayEndpoint

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "samples/outbound/acme-retail.po-acknowledgement.event.json").read_text())
ADMIN_KEY = "negative-mdn-admin"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def partner_endpoint():
    """ACME's AS2 server: it signs its MDNs, and verifies the gateway's signature with a certificate
    that is not the gateway's."""
    gateway_id, acme_id, stranger = identity("gateway-mdn"), identity("acme-mdn"), identity("stranger-mdn")
    theirs = profile(acme_id, stranger, our_id="ACME", their_id="GATEWAY",
                     mdn={"mode": "sync", "signed": True, "mic_alg": "sha256"})
    server = GatewayEndpoint(lambda as2_from, as2_to: theirs if (as2_from, as2_to) == ("GATEWAY", "ACME") else None,
                             signer=theirs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, gateway_id, acme_id
    server.shutdown()
    server.server_close()


def test_a_999_for_a_document_whose_mdn_said_processed_error_is_attached_with_its_reasons(
        partner_endpoint, tmp_path):
    server, gateway_id, acme_id = partner_endpoint
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    config = GatewayConfig(mappings=mappings, schemas=ROOT / "schemas")
    config.http.admin_keys = [hash_key(ADMIN_KEY)]
    parts = build(config, sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    archive = LocalArchive(tmp_path / "archive")
    intake = Intake(archive, store, parts.pipeline, duplicate_window=timedelta(days=1))
    app = create_app(intake=intake, partners=parts.partners, config=config.http,
                     keys=KeyRing({hash_key(ADMIN_KEY): ADMIN}), metrics=Metrics(), ready=lambda: None)
    api = Server(app, port=0)
    api.start()
    try:
        # 1. the 855 rendered and sent; the partner's MDN: processed/error
        egress = Egress(store, archive, load_routes(mappings, parts.schemas).plan)
        [queued] = egress.handle("OrderResponded", parts.schemas.from_json("OrderResponded", EVENT["event"]), now=NOW)
        ours = profile(gateway_id, acme_id, our_id="GATEWAY", their_id="ACME", url=f"{server.url}/as2",
                       sign="sha256", encrypt="aes256-cbc", mdn={"mode": "sync", "signed": True, "mic_alg": "sha256"})
        dispatcher = Dispatcher(store, archive, {"acme-retail": As2Sender(ours)})
        assert dispatcher.deliver_due() == 0  # not confirmed
        assert not server.taken_in and server.failures[0].modifier == "error: authentication-failed"
        doc = store.get_outbound(queued.document.id)
        assert doc.status == DELIVERY_FAILED and doc.details["mdn"] == "failed"
        assert doc.details["disposition"].endswith("processed/error: authentication-failed")
        assert "taken in with an error (error: authentication-failed)" in doc.details["error"]
        assert "not taken in" not in doc.details["error"]
        assert doc.details["mdn_problems"] == []  # the MDN itself is sound: signed by ACME, verified
        assert "acknowledgement" not in doc.details

        # 2. ACME's 999 for that 855's group and set comes in
        refs = doc.details["control_refs"]
        ack = (ROOT / "samples/x12/999_5010.x12").read_bytes()
        ack = ack.replace(b"AK1*PR*4120*", b"AK1*PR*%s*" % refs["GS06"].encode()).replace(
            b"AK2*855*0001~", b"AK2*855*%s~" % refs["ST02"].encode())
        receipt = intake.take(ack, channel="as2")
        outcome = intake.process(receipt)
        assert [e["type"] for e in outcome.summary] == ["AcknowledgementReceived"] and not outcome.dead_letters

        answer = store.get_outbound(doc.id).details["acknowledgement"]
        assert (answer["kind"], answer["status"], answer["receipt_id"]) == ("999", "accepted_with_errors", receipt.id)
        assert answer["codes"] == ["I5"]
        assert [(f["tag"], f["position"]) for f in answer["findings"]] == [("ACK", 6), ("ACK", 6), ("ACK", 8),
                                                                           ("ACK", 8)]
        assert answer["reasons"] == [
            "IK3 ACK at segment 6: 8 (segment has data element errors)",
            "IK4 ACK at segment 6, element 4: I6 (code value not used in implementation), value 068",
            "IK3 ACK at segment 8: 8 (segment has data element errors)",
            "IK4 ACK at segment 8, element 4: I6 (code value not used in implementation), value 068",
        ]

        # 3. the status API shows the failed MDN and the partner's acknowledgement together
        headers = {"X-API-Key": ADMIN_KEY}
        listed = httpx.get(f"{api.url}/v1/outbound", params={"partner": "acme-retail", "status": "failed"},
                           headers=headers, timeout=10).json()["documents"]
        [shown] = [d for d in listed if d["id"] == doc.id]
        assert shown["acknowledgement"] == answer
        assert "taken in with an error" in shown["details"]["error"]
        one = httpx.get(f"{api.url}/v1/documents/{doc.id}", headers=headers, timeout=10).json()
        assert one["status"] == "failed" and one["acknowledgement"]["reasons"] == answer["reasons"]
    finally:
        api.stop()
        parts.close()
        store.close()


def test_a_document_refused_before_it_was_sent_gets_no_acknowledgement(tmp_path):
    """Only what reached the partner can be acknowledged: a failed document with no MDN is left alone."""
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    parts = build(GatewayConfig(mappings=mappings, schemas=ROOT / "schemas"), sink=MemorySink())
    store = SqliteStore(tmp_path / "state.db")
    archive = LocalArchive(tmp_path / "archive")
    intake = Intake(archive, store, parts.pipeline, duplicate_window=timedelta(days=1))
    try:
        egress = Egress(store, archive, load_routes(mappings, parts.schemas).plan)
        [queued] = egress.handle("OrderResponded", parts.schemas.from_json("OrderResponded", EVENT["event"]), now=NOW)
        doc = store.get_outbound(queued.document.id)
        store.update_outbound(doc.with_status(DELIVERY_FAILED, details={**doc.details, "error": "HTTP 403"}))
        refs = doc.details["control_refs"]
        ack = (ROOT / "samples/x12/999_5010.x12").read_bytes()
        ack = ack.replace(b"AK1*PR*4120*", b"AK1*PR*%s*" % refs["GS06"].encode()).replace(
            b"AK2*855*0001~", b"AK2*855*%s~" % refs["ST02"].encode())
        intake.process(intake.take(ack, channel="http"))
        assert "acknowledgement" not in store.get_outbound(doc.id).details
    finally:
        parts.close()
        store.close()
