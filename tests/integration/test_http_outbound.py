"""Documents POSTed to a partner's HTTP endpoint (a real server on loopback) through the outbox."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.http.config import HttpDelivery
from adapters.http.outbound import HttpSender
from gateway.archive import LocalArchive
from gateway.errors import ConfigError
from gateway.outbound.outbox import Dispatcher
from gateway.state.base import DELIVERY_FAILED, QUEUED, SENT, OutboundDocument
from gateway.state.memory import MemoryStore


class Receiver(ThreadingHTTPServer):
    def __init__(self, answers: list[int]) -> None:
        self.answers, self.got = answers, []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.server.got.append((dict(self.headers), body))
                self.send_response(self.server.answers.pop(0) if self.server.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/edi"


@pytest.fixture
def queue(tmp_path):
    store, archive = MemoryStore(), LocalArchive(tmp_path)
    raw_ref, _ = archive.put(b"ISA*00*...~ST*855*0001~")
    store.add_outbound(OutboundDocument(id="d1", partner_id="p", kind="855", raw_ref=raw_ref, control_ref="000000077",
                                        created_at=datetime.now(timezone.utc)))
    return store, archive


def test_a_document_is_posted_with_its_type_name_and_secret_header(queue, monkeypatch):
    store, archive = queue
    monkeypatch.setenv("PARTNER_TOKEN", "s3cret")
    receiver = Receiver([503, 200])  # busy at first: retried
    sender = HttpSender(HttpDelivery(url=receiver.url, headers={"Authorization": "env:PARTNER_TOKEN"}))
    dispatcher = Dispatcher(store, archive, {"p": sender}, first_delay=0.0)
    dispatcher.deliver_due()
    assert store.get_outbound("d1").status == QUEUED and "HTTP 503" in store.get_outbound("d1").details["error"]
    dispatcher.deliver_due()
    assert store.get_outbound("d1").status == SENT
    headers, body = receiver.got[-1]
    assert body == b"ISA*00*...~ST*855*0001~" and headers["Authorization"] == "s3cret"
    assert headers["Content-Type"] == "application/EDI-X12" and "855-000000077.x12" in headers["Content-Disposition"]
    receiver.shutdown()


def test_a_refusal_is_terminal_and_an_unreachable_partner_transient(queue):
    store, archive = queue
    receiver = Receiver([403])
    Dispatcher(store, archive, {"p": HttpSender(HttpDelivery(url=receiver.url))}).deliver_due()
    assert store.get_outbound("d1").status == DELIVERY_FAILED and "HTTP 403" in store.get_outbound("d1").details["error"]
    receiver.shutdown()
    receiver.server_close()
    gone = HttpSender(HttpDelivery(url=receiver.url, timeout_seconds=2))
    from gateway.errors import TransientError

    with pytest.raises(TransientError):
        gone.send(b"x", None)


def test_a_missing_secret_is_a_configuration_error():
    with pytest.raises(ConfigError, match="PARTNER_TOKEN_MISSING"):
        HttpSender(HttpDelivery(url="http://127.0.0.1:1/x", headers={"Authorization": "env:PARTNER_TOKEN_MISSING"}))
