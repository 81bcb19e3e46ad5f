"""AS2 against an independent implementation: libas2 0.8.2 (MIT, Node.js), over loopback HTTP.

libas2 sends signed and encrypted messages to a small gateway endpoint (a
stdlib HTTP server in a test thread calling unpack / build_mdn, as the real
``POST /as2`` will) and checks the gateway's MDNs with its own code; and it
receives the gateway's messages (a Node HTTP server, ``tests/as2peer/peer.js``)
and answers with MDNs the gateway verifies.

libas2's quirks, as observed here, and what the gateway does about them:

* It signs its content and its MDNs without the final CRLF of the signed
  part. For its payload parts that is exactly the RFC's entity (the part ends
  before the CRLF of the delimiter), and they verify strictly; for its MDNs
  (a nested multipart/report ending in CRLF) it is not, so verifying them
  needs the partner tolerance ``signature_without_final_crlf``. The gateway
  follows RFC 1847/2046 and signs the exact part; libas2 still verifies it,
  because it tries both forms.
* Its parser cannot carry a binary (non-UTF-8) part and keeps the delimiter's
  CRLF in a binary part's content, so the gateway sends it base64 payloads
  (``transfer_encoding: base64``); RFC 4130 allows binary.
* On current Node.js it cannot decrypt RSA PKCS#1 v1.5 key transport (Node
  refuses the padding since CVE-2023-46809), so the gateway wraps keys for it
  with RSA-OAEP; it wraps its own with RSA-OAEP SHA-512 only.
* AES-GCM it puts inside EnvelopedData with the tag appended (pkijs), not in
  RFC 5084's AuthEnvelopedData: tolerance ``gcm_in_enveloped_data``.
* It decodes a part without ``Content-Disposition: attachment`` as text,
  which mangles non-ASCII bytes; the gateway always marks its payload part
  as an attachment.
* It writes a disposition modifier as ``failed/failure=<text>`` and reads
  one the same way; RFC 4130 writes ``failed/failure: <text>`` and
  ``processed/error: decryption-failed``. The gateway writes the RFC's form
  and reads both; libas2 reads the gateway's ``error: decryption-failed``
  as the modifier's name, with no text.
* It cannot compress; compression is tested between the gateway's own sender
  and receiver (tests/unit/test_as2_exchange.py).
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import cms

from adapters.as2 import (
    As2Error,
    AuthenticationFailed,
    build_mdn,
    build_message,
    read_mdn,
    send,
    send_async_mdn,
    unpack,
    verify_mdn,
)
from adapters.as2 import mime, smime
from tests.as2peer.pki import identity, profile

PEER = Path(__file__).resolve().parents[1] / "as2peer"
PAYLOAD = (b"UNA:+.? 'UNB+UNOC:3+SENDER+GATEWAY+240101:1200+42'UNH+1+ORDERS:D:96A:UN'BGM+220+PO-1?'7+9'"
           b"UNT+3+1'UNZ+1+42'\r\n" + bytes(range(256)))  # and every byte value, to prove transparency


@pytest.fixture(scope="module")
def node() -> str:
    """Fails (never skips): `make test` installs the peer (npm ci in tests/as2peer)."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("Node.js is needed for the AS2 interoperability tests", pytrace=False)
    if not (PEER / "node_modules" / "libas2" / "package.json").is_file():
        pytest.fail(f"libas2 is not installed: npm ci --prefix {PEER} (make test does it)", pytrace=False)
    return executable


@pytest.fixture(scope="module")
def ids():
    return identity("gateway-interop"), identity("libas2-peer"), identity("stranger-interop")


def run_peer(node: str, command: str, job: dict) -> dict:
    result = subprocess.run([node, str(PEER / "peer.js"), command], input=json.dumps(job) + "\n",
                            capture_output=True, text=True, timeout=60, cwd=PEER)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the gateway's side: POST /as2 and POST /as2/mdn on a stdlib server -------------

class GatewayEndpoint(ThreadingHTTPServer):
    def __init__(self, lookup, signer=None):
        super().__init__(("127.0.0.1", 0), GatewayHandler)
        self.lookup, self.signer = lookup, signer
        self.taken_in: list = []
        self.failures: list[As2Error] = []
        self.mdns: queue.Queue = queue.Queue()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class GatewayHandler(BaseHTTPRequestHandler):
    server: GatewayEndpoint

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = dict(self.headers.items())
        if self.path == "/as2/mdn":
            self.server.mdns.put((headers, body))
            self._answer(200, {}, b"")
            return
        try:
            received = unpack(headers, body, self.server.lookup)
        except As2Error as failure:
            self.server.failures.append(failure)
            subject, async_url = failure, failure.context.mdn.async_url
        else:
            self.server.taken_in.append(received)  # the real server takes it in durably here
            subject, async_url = received, received.mdn.async_url
        mdn_headers, mdn_body = build_mdn(subject, signer=self.server.signer)
        if async_url:
            self._answer(200, {}, b"")
            send_async_mdn(async_url, mdn_headers, mdn_body, timeout=10)
        else:
            self._answer(200, mdn_headers, mdn_body)

    def _answer(self, status, headers, body):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(ids):
    gateway_id, peer_id, _ = ids
    agreement = profile(gateway_id, peer_id, our_id="GATEWAY", their_id="LIBAS2", require_encryption=True,
                        tolerances={"gcm_in_enveloped_data": True})
    server = GatewayEndpoint(lambda as2_from, as2_to: agreement if (as2_from, as2_to) == ("LIBAS2", "GATEWAY")
                             else None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def libas2_job(ids, url, *, to="GATEWAY", sign="sha-256", encrypt="aes256-CBC", encrypt_to=None, mdn=None):
    gateway_id, peer_id, _ = ids
    return {"url": url, "from": "LIBAS2", "to": to, "certificate": peer_id.cert_pem, "privateKey": peer_id.key_pem,
            "partnerCertificate": (encrypt_to or gateway_id).cert_pem, "mdnCertificate": gateway_id.cert_pem,
            "sign": sign, "encrypt": encrypt,
            "payload": b64(PAYLOAD), "filename": "orders.edi", "contentType": "application/EDIFACT",
            "mdn": mdn if mdn is not None else {"signing": "sha-256"}}


def libas2_signed_digest(message: dict, key) -> bytes:
    """The message digest libas2 put into its signature's signed attributes."""
    enveloped = base64.b64decode(base64.b64decode(message["body"]))  # JSON base64 of a base64 HTTP body
    entity = mime.parse_entity(smime.decrypt(enveloped, key, gcm_in_enveloped_data=True))
    _, signature_part = mime.split_multipart(entity.body, entity.param("boundary"))
    signature = cms.ContentInfo.load(mime.parse_entity(signature_part).decoded())
    attrs = {a["type"].native: a["values"][0].native for a in signature["content"]["signer_infos"][0]["signed_attrs"]}
    return attrs["message_digest"]


# --- (a) libas2 sends, the gateway receives ---------------------------------------------

@pytest.mark.parametrize(("sign", "encrypt"), [("sha-256", "aes256-CBC"), ("sha-1", "aes128-CBC"),
                                               ("sha-512", "aes192-CBC"), ("sha-384", "des-EDE3-CBC"),
                                               ("sha-256", "aes128-GCM"), ("sha-256", "aes256-GCM")])
def test_libas2_message_is_taken_in_and_libas2_verifies_the_signed_mdn(node, ids, gateway, sign, encrypt):
    result = run_peer(node, "send", libas2_job(ids, f"{gateway.url}/as2", sign=sign, encrypt=encrypt,
                                               mdn={"signing": sign}))
    assert result["status"] == 200
    assert not gateway.failures, gateway.failures
    (received,) = gateway.taken_in
    assert received.payload == PAYLOAD
    assert (received.signed, received.encrypted, received.compressed) == (True, True, False)
    assert received.signature_algorithm == smime.digest_name(sign) and received.filename == "orders.edi"
    assert received.message_id == result["sent"]["messageId"]
    assert received.tolerated == (("gcm_in_enveloped_data",) if "GCM" in encrypt else ())
    # libas2 checked the gateway's MDN signature with the gateway's certificate
    mdn = result["mdn"]
    assert mdn["signed"] is True and mdn["verified"] is True
    notification = mdn["notification"]
    assert notification["disposition"] == {"value": "MDN-sent-automatically", "type": "automatic-action",
                                           "processed": True}
    assert notification["originalMessageId"] == received.message_id
    # the MIC is over exactly the bytes libas2 signed: it equals the digest inside libas2's own signature
    mic = notification["receivedContentMic"]
    assert mic["algorithm"] == smime.micalg_name(sign)
    assert base64.b64decode(mic["mic"]) == libas2_signed_digest(result["sent"], ids[0].key)


def test_libas2_asks_for_an_async_mdn(node, ids, gateway):
    job = libas2_job(ids, f"{gateway.url}/as2", mdn={"signing": "sha-256", "async": True})
    job["mdnUrl"] = f"{gateway.url}/as2/mdn"  # libas2 names it in Receipt-Delivery-Option; collected here
    result = run_peer(node, "send", job)
    assert result["status"] == 200 and "mdn" not in result  # nothing in the HTTP response
    headers, body = gateway.mdns.get(timeout=10)
    (received,) = gateway.taken_in
    assert received.mdn.async_url == job["mdnUrl"]
    checked = run_peer(node, "verify-mdn", {"headers": headers, "body": b64(body), "certificate": ids[0].cert_pem})
    assert checked["verified"] is True
    assert checked["notification"]["disposition"]["processed"] is True
    assert checked["notification"]["originalMessageId"] == received.message_id


def test_unknown_as2_to_gets_a_failed_mdn(node, ids, gateway):
    result = run_peer(node, "send", libas2_job(ids, f"{gateway.url}/as2", to="NOBODY"))
    assert not gateway.taken_in
    assert gateway.failures[0].modifier == "error: authentication-failed"
    notification = result["mdn"]["notification"]
    assert result["mdn"]["signed"] is False  # no agreement, hence no key to sign for this sender with
    assert notification["disposition"]["processed"] is True
    # libas2 splits a modifier at "=" (its own "failure=text"), so it reads the RFC's "error: authentication-failed"
    # as the modifier's type with no text
    assert notification["disposition"]["description"] == {"type": "error: authentication-failed", "text": ""}


def test_unknown_as2_to_mdn_signed_with_a_default_identity(node, ids, gateway):
    gateway.signer = profile(ids[0], ids[1], our_id="GATEWAY", their_id="LIBAS2")
    result = run_peer(node, "send", libas2_job(ids, f"{gateway.url}/as2", to="NOBODY"))
    assert result["mdn"]["signed"] is True and result["mdn"]["verified"] is True
    assert result["mdn"]["notification"]["disposition"]["description"]["type"] == "error: authentication-failed"


def test_message_for_another_key_gets_decryption_failed(node, ids, gateway):
    result = run_peer(node, "send", libas2_job(ids, f"{gateway.url}/as2", encrypt_to=ids[2]))
    assert not gateway.taken_in and gateway.failures[0].modifier == "error: decryption-failed"
    notification = result["mdn"]["notification"]
    assert result["mdn"]["verified"] is True
    assert notification["disposition"]["description"] == {"type": "error: decryption-failed", "text": ""}
    assert "receivedContentMic" not in notification


def test_tampered_libas2_message_fails_authentication(node, ids):
    gateway_id, peer_id, _ = ids
    message = run_peer(node, "compose", libas2_job(ids, "http://unused", encrypt=False))
    body = base64.b64decode(message["body"])
    content_line = base64.b64encode(PAYLOAD[:57])  # the first line of the base64 payload part
    assert content_line in body
    tampered = body.replace(content_line, base64.b64encode(PAYLOAD[:56] + b"!"), 1)
    agreement = profile(gateway_id, peer_id, our_id="GATEWAY", their_id="LIBAS2")
    assert unpack(message["headers"], body, lambda f, t: agreement).payload == PAYLOAD
    with pytest.raises(AuthenticationFailed):
        unpack(message["headers"], tampered, lambda f, t: agreement)


# --- (b) the gateway sends, libas2 receives ---------------------------------------------

class Libas2Server:
    """peer.js serve: decrypts, verifies, answers with a signed MDN; one JSON record per message."""

    def __init__(self, node: str, job: dict) -> None:
        self.process = subprocess.Popen([node, str(PEER / "peer.js"), "serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=PEER)
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        self.records: queue.Queue = queue.Queue()
        self.port = json.loads(self.process.stdout.readline())["port"]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.records.put(json.loads(line))

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def libas2(node, ids):
    gateway_id, peer_id, _ = ids
    server = Libas2Server(node, {"id": "LIBAS2", "certificate": peer_id.cert_pem, "privateKey": peer_id.key_pem,
                                 "partnerCertificate": gateway_id.cert_pem, "decrypt": True, "verify": True,
                                 "mdnSigning": "sha-256"})
    yield server
    server.close()


def to_libas2(ids, libas2, signer=None, **settings):
    gateway_id, peer_id, _ = ids
    options = dict(url=f"http://127.0.0.1:{libas2.port}/as2", transfer_encoding="base64",
                   key_transport="rsa-oaep-sha256", tolerances={"signature_without_final_crlf": True})
    options.update(settings)
    return profile(signer or gateway_id, peer_id, our_id="GATEWAY", their_id="LIBAS2", **options)


@pytest.mark.parametrize(("sign", "encrypt", "key_transport"), [
    ("sha256", "aes256-cbc", "rsa-oaep-sha256"), ("sha1", "aes128-cbc", "rsa-oaep-sha1"),
    ("sha512", "aes192-cbc", "rsa-oaep-sha512"), ("sha384", "3des-cbc", "rsa-oaep-sha256"),
])
def test_gateway_message_is_read_by_libas2_and_its_mdn_verified(ids, libas2, sign, encrypt, key_transport):
    agreement = to_libas2(ids, libas2, sign=sign, encrypt=encrypt, key_transport=key_transport,
                          mdn={"mic_alg": sign})
    message = build_message(PAYLOAD, agreement, content_type="application/EDIFACT", filename="orders.edi")
    response = send(message, agreement)
    record = libas2.records.get(timeout=10)
    assert "error" not in record, record.get("error")
    assert base64.b64decode(record["payload"]) == PAYLOAD
    assert record["messageId"] == message.message_id
    assert record["notification"]["disposition"]["processed"] is True
    result = verify_mdn(response.headers, response.body, expected_mic=message.mic, profile=agreement,
                        message_id=message.message_id)
    assert result.ok, result.problems
    assert result.signature_verified is True and result.mic_matches is True
    assert result.tolerated == ("signature_without_final_crlf",)


def test_gcm_to_libas2_needs_its_enveloped_data_form(ids, libas2):
    agreement = to_libas2(ids, libas2, encrypt="aes256-gcm",
                          tolerances={"signature_without_final_crlf": True, "gcm_in_enveloped_data": True})
    message = build_message(PAYLOAD, agreement)
    result = verify_mdn(*_sent(message, agreement), expected_mic=message.mic, profile=agreement,
                        message_id=message.message_id)
    assert base64.b64decode(libas2.records.get(timeout=10)["payload"]) == PAYLOAD
    assert result.ok, result.problems


def _sent(message, agreement):
    response = send(message, agreement)
    return response.headers, response.body


def test_libas2_mdn_does_not_verify_strictly(ids, libas2):
    """Without the tolerance, libas2's MDN signature (over the report minus its last CRLF) is refused."""
    agreement = to_libas2(ids, libas2, tolerances={})
    message = build_message(PAYLOAD, agreement)
    headers, body = _sent(message, agreement)
    libas2.records.get(timeout=10)
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=agreement, message_id=message.message_id)
    assert result.signature_verified is False and not result.ok
    assert result.mic_matches is True  # what it says is right; who says it cannot be proven strictly


def test_libas2_failed_mdn_is_reported(ids, libas2):
    """Signed with a key libas2 does not know: libas2 answers failed, the gateway reads that."""
    agreement = to_libas2(ids, libas2, signer=ids[2])
    message = build_message(PAYLOAD, agreement)
    headers, body = _sent(message, agreement)
    record = libas2.records.get(timeout=10)
    assert "payload" not in record
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=agreement, message_id=message.message_id)
    assert result.signature_verified is True and not result.ok
    assert (result.disposition.type, result.disposition.kind) == ("failed", "failure")
    assert result.disposition.description == "Could not verify signature"  # libas2 writes "failure=<text>"


def test_libas2_sends_an_async_mdn_to_the_gateway(ids, libas2, gateway):
    agreement = to_libas2(ids, libas2, mdn={"mode": "async", "async_url": f"{gateway.url}/as2/mdn"})
    message = build_message(PAYLOAD, agreement)
    headers, body = _sent(message, agreement)
    assert body == b""
    record = libas2.records.get(timeout=10)
    assert record["asyncMdnStatus"] == 200
    mdn_headers, mdn_body = gateway.mdns.get(timeout=10)
    report = read_mdn(mdn_headers, mdn_body)  # whose message? then verify with that message's MIC
    assert report.original_message_id == message.message_id and report.as2_from == "LIBAS2"
    result = verify_mdn(mdn_headers, mdn_body, expected_mic=message.mic, profile=agreement,
                        message_id=report.original_message_id)
    assert result.ok, result.problems
