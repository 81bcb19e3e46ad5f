"""AS2 between the gateway's own sender and receiver: every packaging, the MIC rules, MDNs, failures."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from adapters.as2 import (
    As2Error,
    As2Rejected,
    As2TransportError,
    AuthenticationFailed,
    DecryptionFailed,
    Disposition,
    InsufficientSecurity,
    Mic,
    UnexpectedProcessingError,
    UnknownPartner,
    UnsupportedFormat,
    UnsupportedMicAlgorithm,
    build_mdn,
    build_message,
    mdn_deadline,
    read_mdn,
    send,
    send_async_mdn,
    unpack,
    verify_mdn,
)
from adapters.as2 import mime, smime
from tests.as2peer.pki import identity, profile

PAYLOAD = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *200101*1200*U*00401*000000001*0*P*>~\n" \
          b"IEA*1*000000001~\n"


@pytest.fixture(scope="module")
def keys():
    return identity("gateway"), identity("partner"), identity("stranger")


def sender_profile(keys, **settings):
    gateway, partner, _ = keys
    return profile(partner, gateway, our_id="PARTNER", their_id="GATEWAY", **settings)


def receiver_profile(keys, **settings):
    gateway, partner, _ = keys
    return profile(gateway, partner, our_id="GATEWAY", their_id="PARTNER", **settings)


def lookup_for(receiver):
    return lambda as2_from, as2_to: receiver if (as2_from, as2_to) == ("PARTNER", "GATEWAY") else None


COMBINATIONS = [
    dict(sign=None, encrypt=None, compress=None),
    dict(sign="sha256", encrypt=None, compress=None),
    dict(sign=None, encrypt="aes256-cbc", compress=None),
    dict(sign="sha1", encrypt="3des-cbc", compress=None),
    dict(sign="sha512", encrypt="aes128-gcm", compress=None),
    dict(sign=None, encrypt=None, compress="before-signing"),
    dict(sign="sha256", encrypt=None, compress="before-signing"),
    dict(sign="sha256", encrypt=None, compress="after-signing"),
    dict(sign="sha384", encrypt="aes192-cbc", compress="before-signing"),
    dict(sign="sha256", encrypt="aes256-gcm", compress="after-signing"),
    dict(sign=None, encrypt="aes128-cbc", compress="after-signing"),
]


@pytest.mark.parametrize("transfer_encoding", ["binary", "base64"])
@pytest.mark.parametrize("packaging", COMBINATIONS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_round_trip(keys, packaging, transfer_encoding):
    relaxed = dict(require_signature=False) if packaging["sign"] is None else {}
    sender = sender_profile(keys, transfer_encoding=transfer_encoding, **packaging)
    receiver = receiver_profile(keys, **relaxed)
    message = build_message(PAYLOAD, sender, filename="invoice 1.x12")
    received = unpack(message.headers, message.body, lookup_for(receiver))
    assert received.payload == PAYLOAD
    assert received.filename == "invoice 1.x12"
    assert received.content_type == "application/edi-x12"
    assert (received.signed, received.encrypted, received.compressed) == (
        packaging["sign"] is not None, packaging["encrypt"] is not None, packaging["compress"] is not None)
    assert received.signature_algorithm == packaging["sign"]
    assert received.mic == message.mic  # both sides digest the same bytes
    assert received.message_id == message.message_id
    mdn_headers, mdn_body = build_mdn(received)
    result = verify_mdn(mdn_headers, mdn_body, expected_mic=message.mic, profile=sender,
                        message_id=message.message_id)
    assert result.ok, result.problems
    assert result.signature_verified is True and result.mic_matches is True


def test_outer_packaging_shows_in_the_headers(keys):
    compressed = build_message(PAYLOAD, sender_profile(keys, sign=None, encrypt=None, compress="before-signing"))
    assert compressed.headers["Content-Type"].startswith("application/pkcs7-mime; smime-type=compressed-data")
    assert smime.content_type(base64.b64decode(compressed.body)) == "compressed_data"
    encrypted = build_message(PAYLOAD, sender_profile(keys))
    assert "smime-type=enveloped-data" in encrypted.headers["Content-Type"]
    assert smime.content_type(encrypted.body) == "enveloped_data"  # binary DER over HTTP
    assert PAYLOAD[:20] not in encrypted.body
    signed = build_message(PAYLOAD, sender_profile(keys, encrypt=None))
    assert signed.headers["Content-Type"].startswith('multipart/signed; protocol="application/pkcs7-signature"; '
                                                     'micalg=sha-256; boundary=')
    assert signed.headers["Disposition-Notification-Options"] == (
        "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256")


def _first_part(content_type: str, body: bytes) -> bytes:
    boundary = re.search(r'boundary="([^"]+)"', content_type).group(1).encode()
    start = body.index(b"--" + boundary + b"\r\n") + len(boundary) + 4
    return body[start:body.index(b"\r\n--" + boundary, start)]


def test_mic_of_a_signed_message_covers_the_signed_part(keys):
    message = build_message(PAYLOAD, sender_profile(keys, encrypt=None, mdn={"mic_alg": "sha1"}))
    part = _first_part(message.headers["Content-Type"], message.body)
    assert part.startswith(b"Content-Type: application/edi-x12\r\n")
    assert part.endswith(PAYLOAD)
    assert message.mic == Mic(base64.b64encode(hashlib.sha1(part).digest()).decode(), "sha-1")
    received = unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert received.mic == message.mic


def test_mic_of_an_encrypted_unsigned_message_covers_the_decrypted_entity(keys):
    message = build_message(PAYLOAD, sender_profile(keys, sign=None))
    gateway = keys[0]
    entity = smime.decrypt(message.body, gateway.key)
    assert entity.endswith(b"\r\n\r\n" + PAYLOAD)
    assert message.mic.digest == base64.b64encode(hashlib.sha256(entity).digest()).decode()


def test_mic_of_a_plain_message_covers_the_content_only(keys):
    message = build_message(PAYLOAD, sender_profile(keys, sign=None, encrypt=None))
    assert message.body == PAYLOAD
    assert message.mic.digest == base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode()


def test_mdn_deadline(keys):
    sent_at = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert mdn_deadline(sender_profile(keys, mdn={"deadline_seconds": 900}), sent_at) == sent_at + timedelta(minutes=15)
    assert mdn_deadline(sender_profile(keys, mdn=None), sent_at) is None


def test_requested_mic_algorithm_is_used(keys):
    message = build_message(PAYLOAD, sender_profile(keys, mdn={"mic_alg": "sha512"}))
    received = unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert received.mic.algorithm == "sha-512" and received.mic == message.mic
    headers, body = build_mdn(received)
    assert "micalg=sha-512" in headers["Content-Type"]
    assert read_mdn(headers, body).mic == message.mic


# --- failures and their MDNs -------------------------------------------------------

def _failure(headers, body, lookup) -> As2Error:
    with pytest.raises(As2Error) as caught:
        unpack(headers, body, lookup)
    return caught.value


def test_tampered_body_fails_authentication_and_gets_a_failed_mdn(keys):
    sender = sender_profile(keys, encrypt=None)
    message = build_message(PAYLOAD, sender)
    tampered = message.body.replace(b"000000001", b"000000009", 1)
    assert tampered != message.body
    error = _failure(message.headers, tampered, lookup_for(receiver_profile(keys)))
    assert isinstance(error, AuthenticationFailed)
    headers, body = build_mdn(error)
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=sender, message_id=message.message_id)
    assert not result.ok
    assert result.signature_verified is True  # the failed MDN itself is signed by the gateway
    assert result.disposition.field() == "automatic-action/MDN-sent-automatically; processed/error: authentication-failed"
    assert read_mdn(headers, body).fields.get("received-content-mic") is None


def test_wrong_key_fails_decryption(keys):
    gateway, partner, stranger = keys
    sender = profile(partner, stranger, our_id="PARTNER", their_id="GATEWAY")  # encrypts to the stranger's certificate
    message = build_message(PAYLOAD, sender)
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert isinstance(error, DecryptionFailed)
    headers, body = build_mdn(error)
    assert read_mdn(headers, body).disposition.modifier == "error: decryption-failed"


def test_unknown_as2_to_gets_a_failed_mdn(keys):
    sender = sender_profile(keys)
    message = build_message(PAYLOAD, sender)
    message.headers["AS2-To"] = "SOMEONE-ELSE"
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert isinstance(error, UnknownPartner) and error.context.profile is None
    headers, body = build_mdn(error)
    assert headers["AS2-From"] == "SOMEONE-ELSE" and headers["AS2-To"] == "PARTNER"
    assert not headers["Content-Type"].startswith("multipart/signed")  # no agreement, no key to sign with
    report = read_mdn(headers, body)
    assert report.original_message_id == message.message_id
    assert report.disposition.field().endswith("processed/error: authentication-failed")
    # a default identity can sign it
    headers, body = build_mdn(error, signer=receiver_profile(keys))
    assert headers["Content-Type"].startswith("multipart/signed")


def test_missing_as2_from_is_unknown(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    del message.headers["AS2-From"]
    assert isinstance(_failure(message.headers, message.body, lookup_for(receiver_profile(keys))), UnknownPartner)


def test_unsigned_message_when_signatures_are_required(keys):
    message = build_message(PAYLOAD, sender_profile(keys, sign=None))
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert isinstance(error, InsufficientSecurity)
    assert error.modifier == "error: insufficient-message-security"


def test_unencrypted_message_when_encryption_is_required(keys):
    message = build_message(PAYLOAD, sender_profile(keys, encrypt=None))
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys, require_encryption=True)))
    assert isinstance(error, InsufficientSecurity)


def test_signature_from_another_key(keys):
    gateway, partner, stranger = keys
    message = build_message(PAYLOAD, profile(stranger, gateway, our_id="PARTNER", their_id="GATEWAY"))
    assert isinstance(_failure(message.headers, message.body, lookup_for(receiver_profile(keys))),
                      AuthenticationFailed)


def test_unsupported_required_mic_algorithm(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    message.headers["Disposition-Notification-Options"] = (
        "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, md5")
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert isinstance(error, UnsupportedMicAlgorithm)
    headers, body = build_mdn(error)
    assert read_mdn(headers, body).disposition.field().endswith("failed/failure: unsupported MIC-algorithms")


def test_first_supported_optional_mic_algorithm_is_chosen(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    message.headers["Disposition-Notification-Options"] = (
        "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, md5, sha-384, sha1")
    received = unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert received.mic.algorithm == "sha-384"


def test_garbage_is_an_unsupported_format(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    error = _failure(message.headers, b"not DER at all", lookup_for(receiver_profile(keys)))
    assert isinstance(error, UnsupportedFormat)
    assert error.disposition.field().endswith("failed/failure: unsupported format")


def test_a_failing_lookup_still_gets_an_mdn(keys):
    message = build_message(PAYLOAD, sender_profile(keys))

    def broken(as2_from, as2_to):
        raise RuntimeError("state store unavailable")

    error = _failure(message.headers, message.body, broken)
    assert isinstance(error, UnexpectedProcessingError) and error.context.message_id == message.message_id
    headers, body = build_mdn(error)
    assert read_mdn(headers, body).disposition.modifier == "error: unexpected-processing-error"


def test_no_message_id_no_mdn(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    del message.headers["Message-ID"]
    error = _failure(message.headers, message.body, lookup_for(receiver_profile(keys)))
    with pytest.raises(ValueError, match="Message-ID"):
        build_mdn(error)


def test_duplicate_gets_a_positive_warning(keys):
    sender = sender_profile(keys)
    message = build_message(PAYLOAD, sender)
    received = unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))
    headers, body = build_mdn(received, duplicate=True)
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=sender, message_id=message.message_id)
    assert result.ok and result.mic_matches
    assert result.disposition.field().endswith("processed/warning: duplicate-document")


def test_quoted_as2_ids(keys):
    gateway, partner, _ = keys
    sender = profile(partner, gateway, our_id="Partner Inc", their_id="GATEWAY")
    receiver = profile(gateway, partner, our_id="GATEWAY", their_id="Partner Inc")
    message = build_message(PAYLOAD, sender)
    assert message.headers["AS2-From"] == '"Partner Inc"'
    received = unpack(message.headers, message.body,
                      lambda f, t: receiver if (f, t) == ("Partner Inc", "GATEWAY") else None)
    assert received.as2_from == "Partner Inc"
    headers, _ = build_mdn(received)
    assert headers["AS2-To"] == '"Partner Inc"'


def test_opaque_signed_data_is_read(keys):
    gateway, partner, _ = keys
    entity = b"Content-Type: application/edi-x12\r\n\r\n" + PAYLOAD
    der = smime.sign(entity, partner.key, partner.cert, "sha256", encapsulate=True)
    headers = {"AS2-From": "PARTNER", "AS2-To": "GATEWAY", "Message-ID": "<opaque@partner>",
               "Content-Type": "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m"}
    received = unpack(headers, der, lookup_for(receiver_profile(keys)))
    assert received.payload == PAYLOAD and received.signed
    assert received.mic == Mic.of(entity, "sha256")


def test_headers_are_case_insensitive(keys):
    message = build_message(PAYLOAD, sender_profile(keys))
    lowered = {name.lower(): value for name, value in message.headers.items()}
    assert unpack(lowered, message.body, lookup_for(receiver_profile(keys))).payload == PAYLOAD


# --- MDN checks ------------------------------------------------------------------

def _received(keys, **settings):
    sender = sender_profile(keys, **settings)
    message = build_message(PAYLOAD, sender)
    return sender, message, unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))


def test_mdn_with_another_mic_is_not_ok(keys):
    sender, message, received = _received(keys)
    headers, body = build_mdn(received)
    other = Mic.of(b"something else", "sha256")
    result = verify_mdn(headers, body, expected_mic=other, profile=sender, message_id=message.message_id)
    assert not result.ok and result.mic_matches is False and "MIC" in result.problems[0]


def test_mdn_for_another_message_is_not_ok(keys):
    sender, message, received = _received(keys)
    headers, body = build_mdn(received)
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=sender, message_id="<other@id>")
    assert not result.ok and "answers" in result.problems[0]


def test_tampered_mdn_fails_its_signature(keys):
    sender, message, received = _received(keys)
    headers, body = build_mdn(received)
    forged = body.replace(b"; processed", b"; processed ", 1)
    result = verify_mdn(headers, forged, expected_mic=message.mic, profile=sender, message_id=message.message_id)
    assert result.signature_verified is False and not result.ok


def test_unsigned_mdn_when_a_signed_one_was_asked(keys):
    sender, message, received = _received(keys)
    unsigned = received.context.__class__(**{**received.context.__dict__,
                                             "mdn": received.mdn.__class__(requested=True)})
    headers, body = build_mdn(received.__class__(**{**received.__dict__, "context": unsigned}))
    assert headers["Content-Type"].startswith("multipart/report")
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=sender, message_id=message.message_id)
    assert not result.ok and "not signed" in result.problems[0]
    tolerant = sender_profile(keys, tolerances={"unsigned_mdn": True})
    assert verify_mdn(headers, body, expected_mic=message.mic, profile=tolerant, message_id=message.message_id).ok


def _resign_without_final_crlf(headers, body, signer):
    """An MDN signed the way libas2 signs: over the report entity without its last CRLF."""
    boundary = re.search(r'boundary="([^"]+)"', headers["Content-Type"]).group(1)
    report, _ = mime.split_multipart(body, boundary)
    signature = smime.sign(report[:-2], signer.key, signer.cert, "sha256")
    part = mime.build_entity([("Content-Type", "application/pkcs7-signature"), ("Content-Transfer-Encoding", "base64")],
                             mime.base64_lines(signature))
    return mime.build_multipart([report, part], boundary)


def test_signature_without_final_crlf_needs_the_tolerance(keys):
    sender, message, received = _received(keys)
    headers, body = build_mdn(received)
    body = _resign_without_final_crlf(headers, body, keys[0])
    strict = verify_mdn(headers, body, expected_mic=message.mic, profile=sender, message_id=message.message_id)
    assert strict.signature_verified is False and not strict.ok
    assert "does not match its signature" in strict.problems[0]
    tolerant = sender_profile(keys, tolerances={"signature_without_final_crlf": True})
    result = verify_mdn(headers, body, expected_mic=message.mic, profile=tolerant, message_id=message.message_id)
    assert result.ok and result.tolerated == ("signature_without_final_crlf",)


def test_read_mdn_refuses_what_is_not_an_mdn():
    with pytest.raises(UnsupportedFormat):
        read_mdn({"Content-Type": "text/plain"}, b"hello")


# --- HTTP ------------------------------------------------------------------------

class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    status = 200

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    handler = type("Handler", (_Collector,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_async_mdn_is_posted_and_verified(keys, collector):
    url, handler = collector
    sender = sender_profile(keys, mdn={"mode": "async", "async_url": f"{url}/as2/mdn"})
    message = build_message(PAYLOAD, sender)
    assert message.headers["Receipt-Delivery-Option"] == f"{url}/as2/mdn"
    received = unpack(message.headers, message.body, lookup_for(receiver_profile(keys)))
    assert received.mdn.async_url == f"{url}/as2/mdn"
    headers, body = build_mdn(received)
    send_async_mdn(received.mdn.async_url, headers, body)
    (got_headers, got_body), = handler.received
    report = read_mdn(got_headers, got_body)
    assert report.original_message_id == message.message_id and report.as2_from == "GATEWAY"
    result = verify_mdn(got_headers, got_body, expected_mic=message.mic, profile=sender,
                        message_id=message.message_id)
    assert result.ok


def test_send_posts_the_message(keys, collector):
    url, handler = collector
    sender = sender_profile(keys, url=f"{url}/as2")
    message = build_message(PAYLOAD, sender)
    response = send(message, sender)
    assert response.status == 200
    (headers, body), = handler.received
    assert body == message.body and headers["AS2-From"] == "PARTNER" and headers["Message-ID"] == message.message_id
    assert unpack(headers, body, lookup_for(receiver_profile(keys))).payload == PAYLOAD


@pytest.mark.parametrize(("status", "error"), [(503, As2TransportError), (429, As2TransportError),
                                               (403, As2Rejected)])
def test_send_classifies_http_errors(keys, status, error):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    sender = sender_profile(keys, url="http://partner.invalid/as2")
    with pytest.raises(error):
        send(build_message(PAYLOAD, sender), sender, client=client)
    with pytest.raises(error):
        send_async_mdn("http://partner.invalid/mdn", {}, b"", client=client)


def test_unreachable_partner_is_transient(keys, collector):
    url, _ = collector
    sender = sender_profile(keys, url="http://127.0.0.1:1/as2")
    with pytest.raises(As2TransportError):
        send(build_message(PAYLOAD, sender), sender)
    assert not As2TransportError("x").terminal and As2Rejected("x").terminal


# -- how a negative MDN is worded on the outbound record --------------------------------------

def _result(disposition, problems=()):
    from adapters.as2.send import MdnReport, MdnResult

    report = MdnReport(original_message_id="<m@x>", disposition=disposition, mic=None, text="", fields={},
                       as2_from="P", as2_to="G", message_id="<mdn@x>", signed=True, report_entity=b"")
    return MdnResult(report=report, signature_verified=True, mic_matches=None, problems=tuple(problems))


@pytest.mark.parametrize(("disposition", "problems", "said"), [
    (Disposition(kind="error", description="decryption-failed"), (),
     "the MDN says the message was taken in with an error (error: decryption-failed)"),
    (Disposition(type="failed", kind="failure", description="unsupported MIC-algorithms"), (),
     "the MDN says the message was not taken in (failure: unsupported MIC-algorithms)"),
    (Disposition(), ("the MDN's MIC a does not match the message's b",),
     "the MDN cannot be trusted: the MDN's MIC a does not match the message's b"),
    (None, ("the MDN has no readable Disposition field",), "the MDN says nothing readable about the message"),
])
def test_a_negative_mdn_is_worded_by_its_disposition(disposition, problems, said):
    from adapters.as2.send import refusal

    result = _result(disposition, problems)
    assert not result.ok and refusal(result) == said
