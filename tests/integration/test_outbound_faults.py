"""Outbound under faults, against a real sshd: the partner's server is down for a while, and an event is
read again after a crash before its offset was committed. Nothing is lost, nothing is sent twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from adapters.sftp.config import PushConfig
from adapters.sftp.outbound import SftpSender
from gateway.archive import LocalArchive
from gateway.outbound.egress import Egress
from gateway.events import SchemaSet
from gateway.outbound.outbox import Dispatcher
from gateway.outbound.render import load_routes
from gateway.state.base import QUEUED, SENT
from gateway.state.sqlite import SqliteStore
from tests.sshd import Sshd

ROOT = Path(__file__).resolve().parents[2]


def test_a_partner_server_down_for_a_while_gets_each_document_once(tmp_path):
    server = Sshd(tmp_path / "sshd")  # configured, not yet started: the partner's server is down
    folder = tmp_path / "incoming"
    folder.mkdir()
    store, archive = SqliteStore(tmp_path / "state.db"), LocalArchive(tmp_path / "archive")
    schemas = SchemaSet.load(ROOT / "schemas")
    routes = load_routes(ROOT / "mappings", schemas)
    egress = Egress(store, archive, routes.plan)
    sample = json.loads((ROOT / "samples/outbound/acme-retail.po-acknowledgement.event.json").read_text())
    record = schemas.from_json("OrderResponded", sample["event"])
    sender = SftpSender(PushConfig(host="127.0.0.1", port=server.port, username=server.user,
                                   private_key=server.client_key, host_key=server.host_key_line,
                                   folder=str(folder), connect_timeout=3))
    dispatcher = Dispatcher(store, archive, {"acme-retail": sender}, first_delay=1)
    t0 = datetime.now(timezone.utc)
    try:
        [queued] = egress.handle("OrderResponded", record, now=t0)
        # the crash: the event is read again before its offset was committed
        assert [q.document for q in egress.handle("OrderResponded", record, now=t0)] == [None]
        assert dispatcher.deliver_due(t0) == 0  # server down: transient, retried later
        waiting = store.get_outbound(queued.document.id)
        assert waiting.status == QUEUED and waiting.details["attempts"] == 1
        server.start()
        assert dispatcher.deliver_due(t0 + timedelta(seconds=1)) == 1
        assert dispatcher.deliver_due(t0 + timedelta(seconds=60)) == 0
        [arrived] = list(folder.iterdir())
        assert arrived.name == queued.document.details["filename"]  # the route's file name
        assert arrived.read_bytes() == archive.path(queued.document.raw_ref).read_bytes()
        assert b"BAK*00*AC*PO-88231*" in arrived.read_bytes()
        assert store.get_outbound(queued.document.id).status == SENT
        # a crash after the upload but before the record: sending again leaves one file, not two
        sender.send(arrived.read_bytes(), type("R", (), {"filename": arrived.name})())
        assert [p.name for p in folder.iterdir()] == [arrived.name]
    finally:
        server.close()
        store.close()
