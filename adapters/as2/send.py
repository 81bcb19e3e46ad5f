"""Sending an AS2 message (RFC 4130) and checking the MDN that answers it.

The caller's order, so that no MDN can arrive for a message nobody remembers::

    message = build_message(payload, profile)            # headers, body, mic
    ... persist message.message_id, message.mic, the partner and the MDN deadline ...
    response = send(message, profile)                     # HTTP POST; transient/terminal errors
    if profile.config.mdn and profile.config.mdn.mode == "sync":
        result = verify_mdn(response.headers, response.body, expected_mic=message.mic,
                            profile=profile, message_id=message.message_id)
    # async: POST /as2/mdn later calls read_mdn (whose message is it?), then verify_mdn

An MDN that has not come by ``sent_at + mdn.deadline_seconds`` makes the
message overdue: the caller resends it (same payload, new Message-ID) or
reports it; it never stays pending silently.

The MIC the sender expects is computed exactly as the receiver computes it
(see :mod:`adapters.as2.receive`): over the signed entity when signed, over
the payload entity (headers and content) when only encrypted or compressed,
over the payload alone otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import NamedTuple

import httpx

from adapters.as2 import mime, smime
from adapters.as2.config import As2Profile
from adapters.as2.errors import As2Error, As2Rejected, As2TransportError, Disposition, UnsupportedFormat
from adapters.as2.mime import CRLF, Mic
from adapters.as2.receive import AS2_VERSION, quote_as2_id, unquote_as2_id

_PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")


class OutgoingMessage(NamedTuple):
    """An AS2 message ready to POST: HTTP headers, body, and the MIC its MDN must return."""

    headers: dict[str, str]
    body: bytes
    mic: Mic

    @property
    def message_id(self) -> str:
        return self.headers["Message-ID"]


def _payload_entity(payload: bytes, content_type: str, filename: str | None, transfer_encoding: str) -> bytes:
    headers = [("Content-Type", content_type)]
    if transfer_encoding == "base64":
        headers.append(("Content-Transfer-Encoding", "base64"))
        body = mime.base64_lines(payload)
    else:
        headers.append(("Content-Transfer-Encoding", "binary"))
        body = payload
    # always an attachment: some parsers (libas2's) treat a part without one as text and re-encode it
    headers.append(("Content-Disposition",
                    f"attachment; filename={mime.quote_param(filename)}" if filename else "attachment"))
    return mime.build_entity(headers, body)


def _cms_entity(der: bytes, smime_type: str, name: str) -> bytes:
    return mime.build_entity([
        ("Content-Type", f"application/pkcs7-mime; smime-type={smime_type}; name={name}"),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", f"attachment; filename={name}"),
    ], mime.base64_lines(der))


def _signed_entity(entity: bytes, profile: As2Profile, algorithm: str) -> bytes:
    signature = smime.sign(entity, profile.our_key, profile.our_certificate, algorithm)  # type: ignore[arg-type]
    signature_part = mime.build_entity([("Content-Type", "application/pkcs7-signature; name=smime.p7s"),
                                        ("Content-Transfer-Encoding", "base64"),
                                        ("Content-Disposition", "attachment; filename=smime.p7s")],
                                       mime.base64_lines(signature))
    boundary = mime.new_boundary()
    return mime.build_entity([("Content-Type", f'multipart/signed; protocol="application/pkcs7-signature"; '
                                               f'micalg={smime.micalg_name(algorithm)}; boundary="{boundary}"')],
                             mime.build_multipart([entity, signature_part], boundary))


def build_message(payload: bytes, profile: As2Profile, *, content_type: str | None = None,
                  filename: str | None = None, subject: str | None = None, message_id: str | None = None,
                  now: datetime | None = None) -> OutgoingMessage:
    """Package ``payload`` as the partner's agreement says: compress, sign, encrypt; MDN options.

    Returns the HTTP headers (AS2-From/To, Message-ID, Content-Type, MDN
    request headers, ...), the body (binary DER when encrypted) and the MIC
    the partner's MDN must return.
    """
    config = profile.config
    entity = _payload_entity(payload, content_type or config.content_type, filename, config.transfer_encoding)
    payload_entity = entity
    mic_alg = (config.mdn.mic_alg if config.mdn else None) or config.sign or "sha256"
    signed_bytes: bytes | None = None
    if config.compress == "before-signing":
        entity = _cms_entity(smime.compress(entity), "compressed-data", "smime.p7z")
    if config.sign:
        signed_bytes = entity
        entity = _signed_entity(entity, profile, config.sign)
    if config.compress == "after-signing":
        entity = _cms_entity(smime.compress(entity), "compressed-data", "smime.p7z")
    if config.encrypt:
        assert profile.partner_certificate is not None
        der = smime.encrypt(entity, profile.partner_certificate, config.encrypt, key_transport=config.key_transport,
                            gcm_in_enveloped_data=config.tolerances.gcm_in_enveloped_data)
        mime_headers = [("Content-Type", "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"),
                        ("Content-Disposition", "attachment; filename=smime.p7m")]
        body = der
    else:
        mime_headers, body = mime.split_headers(entity)
    if signed_bytes is not None:
        mic = Mic.of(signed_bytes, mic_alg)
    elif config.encrypt or config.compress:
        mic = Mic.of(payload_entity, mic_alg)
    else:
        mic = Mic.of(payload, mic_alg)
    headers = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": quote_as2_id(config.our_as2_id),
        "AS2-To": quote_as2_id(config.as2_id),
        "Message-ID": message_id or mime.new_message_id(config.our_as2_id),
        "Date": format_datetime(now or datetime.now(timezone.utc), usegmt=True),
        "Subject": subject or "AS2 message",
        "MIME-Version": "1.0",
    }
    headers.update(mime_headers)
    if config.mdn:
        headers["Disposition-Notification-To"] = config.our_as2_id
        if config.mdn.signed:
            micalg = smime.micalg_name(config.mdn.mic_alg)
            headers["Disposition-Notification-Options"] = (
                f"signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, {micalg}")
        if config.mdn.mode == "async":
            headers["Receipt-Delivery-Option"] = config.mdn.async_url  # type: ignore[assignment]
    return OutgoingMessage(headers, body, mic)


def mdn_deadline(profile: As2Profile, sent_at: datetime) -> datetime | None:
    """When the MDN of a message sent at ``sent_at`` becomes overdue (None: no MDN asked for)."""
    if profile.config.mdn is None:
        return None
    return sent_at + timedelta(seconds=profile.config.mdn.deadline_seconds)


@dataclass(frozen=True)
class SendResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def send(message: OutgoingMessage, profile: As2Profile, *, url: str | None = None,
         client: httpx.Client | None = None) -> SendResponse:
    """POST the message to the partner's URL.

    :class:`As2TransportError` (transient: retry) when the partner cannot be
    reached, times out or answers 5xx, 408 or 429; :class:`As2Rejected`
    (terminal) on other 4xx. A 2xx response is returned as is: with a
    synchronous MDN, its headers and body go to :func:`verify_mdn`.
    """
    target = url or profile.config.url
    if not target:
        raise As2Rejected(f"no URL is configured for AS2 partner {profile.as2_id!r}")
    timeout = profile.config.timeout_seconds
    owned = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        response = http.post(target, content=message.body, headers=message.headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise As2TransportError(f"AS2 message {message.message_id} to {target}: {type(exc).__name__}: {exc}") from None
    finally:
        if owned:
            http.close()
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise As2TransportError(f"AS2 message {message.message_id} to {target}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise As2Rejected(f"AS2 message {message.message_id} to {target}: HTTP {response.status_code}")
    return SendResponse(response.status_code, dict(response.headers), response.content)


# --- MDNs ----------------------------------------------------------------------

@dataclass(frozen=True)
class MdnReport:
    """What an MDN says, before anyone checked who signed it."""

    original_message_id: str | None
    disposition: Disposition | None
    mic: Mic | None
    text: str
    fields: dict[str, str]
    as2_from: str | None  # the MDN's sender: the partner the message went to
    as2_to: str | None
    message_id: str | None  # the MDN's own Message-ID
    signed: bool
    report_entity: bytes  # the multipart/report entity
    signed_content: bytes | None = None  # the exact first part of multipart/signed
    signature: bytes | None = None  # DER


@dataclass(frozen=True)
class MdnResult:
    """A checked MDN. ``ok``: the partner took the message in, and the receipt is trustworthy."""

    report: MdnReport
    signature_verified: bool | None  # None: the MDN was not signed
    mic_matches: bool | None  # None: no MIC to compare
    problems: tuple[str, ...]
    tolerated: tuple[str, ...] = ()

    @property
    def original_message_id(self) -> str | None:
        return self.report.original_message_id

    @property
    def disposition(self) -> Disposition | None:
        return self.report.disposition

    @property
    def ok(self) -> bool:
        return not self.problems and self.report.disposition is not None and self.report.disposition.ok


def refusal(result: MdnResult) -> str:
    """Why an MDN that is not ``ok`` does not confirm the message, worded by its disposition.

    ``processed/error`` (RFC 4130 7.5.3: decryption-failed, authentication-failed,
    ...): the partner's system took the message in and reports an error processing
    it; the partner may still answer it with a 997 or CONTRL. ``failed/failure``:
    it was not taken in. Otherwise (a positive disposition) the MDN itself cannot
    be trusted (its signature, its MIC). The problems found follow.
    """
    disposition = result.disposition
    if disposition is not None and disposition.type == "processed" and disposition.kind == "error":
        said = f"the MDN says the message was taken in with an error ({disposition.modifier})"
    elif disposition is not None and not disposition.ok:
        said = f"the MDN says the message was not taken in ({disposition.modifier or disposition.type})"
    elif disposition is None:
        said = "the MDN says nothing readable about the message"
    else:
        said = "the MDN cannot be trusted"
    others = [p for p in result.problems if p != "the MDN has no readable Disposition field"]
    return said + (": " + "; ".join(others) if others else "")


def _fields(block: bytes) -> dict[str, str]:
    """The fields of a message/disposition-notification body (header syntax, folding allowed)."""
    fields: dict[str, str] = {}
    last = None
    for raw_line in block.replace(b"\r\n", b"\n").split(b"\n"):
        line = raw_line.decode("utf-8", "replace")
        if not line.strip():
            continue
        if line[0] in " \t" and last is not None:
            fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            fields.setdefault(last, value.strip())
    return fields


def read_mdn(headers: Mapping[str, str], body: bytes) -> MdnReport:
    """Parse an MDN (signed or not) without checking it: whose message it answers, what it says.

    For ``POST /as2/mdn``: find the outbound message by
    ``report.original_message_id``, then :func:`verify_mdn` with its MIC and
    the partner's profile. Raises :class:`UnsupportedFormat` for anything
    that is not an MDN.
    """
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    entity = mime.http_entity(h, body)
    signed_content = signature = None
    report = entity
    report_bytes = body
    if entity.content_type == "multipart/signed":
        boundary = entity.param("boundary")
        if not boundary:
            raise UnsupportedFormat("multipart/signed MDN without a boundary")
        parts = mime.split_multipart(entity.body, boundary)
        if len(parts) != 2:
            raise UnsupportedFormat(f"multipart/signed MDN with {len(parts)} parts")
        signed_content = parts[0]
        signature_entity = mime.parse_entity(parts[1])
        if signature_entity.content_type not in _PKCS7_SIGNATURE:
            raise UnsupportedFormat(f"the MDN's signature part is {signature_entity.content_type}")
        signature = signature_entity.decoded()
        report = mime.parse_entity(signed_content)
        report_bytes = signed_content
    if report.content_type != "multipart/report":
        raise UnsupportedFormat(f"not an MDN: {report.content_type}")
    boundary = report.param("boundary")
    if not boundary:
        raise UnsupportedFormat("multipart/report without a boundary")
    text = ""
    fields: dict[str, str] = {}
    for part in mime.split_multipart(report.body, boundary):
        child = mime.parse_entity(part)
        if child.content_type == "message/disposition-notification":
            fields = _fields(child.decoded())
        elif child.content_type == "text/plain" and not text:
            charset = child.headers.get_content_charset() or "utf-8"
            text = child.decoded().decode(charset, "replace").strip()
    if not fields:
        raise UnsupportedFormat("the MDN has no message/disposition-notification part")
    disposition = None
    if "disposition" in fields:
        try:
            disposition = Disposition.parse(fields["disposition"])
        except ValueError:
            disposition = None
    mic = None
    if "received-content-mic" in fields:
        try:
            mic = Mic.parse(fields["received-content-mic"])
        except ValueError:
            mic = None
    return MdnReport(
        original_message_id=fields.get("original-message-id"),
        disposition=disposition, mic=mic, text=text, fields=fields,
        as2_from=unquote_as2_id(h["as2-from"]) if h.get("as2-from") else None,
        as2_to=unquote_as2_id(h["as2-to"]) if h.get("as2-to") else None,
        message_id=h.get("message-id"), signed=signature is not None,
        report_entity=report_bytes, signed_content=signed_content, signature=signature,
    )


def verify_mdn(headers: Mapping[str, str], body: bytes, *, expected_mic: Mic | None, profile: As2Profile,
               message_id: str | None = None) -> MdnResult:
    """Check an MDN: its signature (partner's certificate), its MIC, which message it answers.

    Never raises for a bad MDN: every problem is listed in
    ``result.problems`` (``result.ok`` is False then); only input that is not
    an MDN at all raises :class:`UnsupportedFormat`.
    """
    report = read_mdn(headers, body)
    config = profile.config
    problems: list[str] = []
    tolerated: list[str] = []
    verified: bool | None = None
    if report.signed:
        assert report.signed_content is not None and report.signature is not None
        candidates = [report.signed_content]
        if config.tolerances.signature_without_final_crlf and report.signed_content.endswith(CRLF):
            candidates.append(report.signed_content[:-2])
        certs = [profile.partner_certificate] if profile.partner_certificate else []
        try:
            _, index = smime.verify_detached(candidates, report.signature, certs)
        except As2Error as exc:
            verified = False
            problems.append(f"MDN signature: {exc}")
        else:
            verified = True
            if index:
                tolerated.append("signature_without_final_crlf")
    elif config.mdn and config.mdn.signed and not config.tolerances.unsigned_mdn:
        problems.append("the MDN is not signed, and a signed MDN was asked for")
    if message_id is not None and report.original_message_id != message_id:
        problems.append(f"the MDN answers {report.original_message_id}, not {message_id}")
    if report.disposition is None:
        problems.append("the MDN has no readable Disposition field")
    mic_matches: bool | None = None
    if expected_mic is not None and report.disposition is not None and report.disposition.ok:
        if report.mic is None:
            if config.mdn is not None and config.mdn.signed:  # a signed receipt must return the MIC
                mic_matches = False
                problems.append("the MDN returns no Received-Content-MIC")
        elif not (mic_matches := expected_mic.matches(report.mic)):
            problems.append(f"the MDN's MIC {report.mic} does not match the message's {expected_mic}")
    return MdnResult(report=report, signature_verified=verified, mic_matches=mic_matches,
                     problems=tuple(problems), tolerated=tuple(tolerated))
