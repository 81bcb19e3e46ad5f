"""Receiving an AS2 message (RFC 4130): open it, then answer with an MDN.

Two steps the caller keeps apart, because the document must be durably taken
in before a positive MDN may be built::

    try:
        received = unpack(request.headers, body, lookup)      # decrypt, verify, decompress, MIC
    except As2Error as failure:
        headers, mdn = build_mdn(failure)                     # failed MDN, nothing taken in
    else:
        ... take received.payload in durably (archive + receipt) ...
        headers, mdn = build_mdn(received)                    # processed, with Received-Content-MIC

The MDN goes back in the HTTP response when ``received.mdn.async_url`` is
None, else it is POSTed there (:func:`send_async_mdn`) and the response is an
empty 200. When the sender asked for no MDN (``not received.mdn.requested``)
none is sent.

Where the MIC is computed (RFC 4130 section 7.3.1, RFC 5402 for compression):
over the signed MIME entity (headers and content, the exact bytes the
signature covers) when the message is signed, whether it was compressed
before or after signing; over the decrypted or decompressed MIME entity
(headers and content) when it is encrypted or compressed but not signed; and
over the content alone when it is neither. The MIC algorithm is the first
supported one the sender asked for (``signed-receipt-micalg``), else the
signature's digest, else SHA-256.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx

from adapters.as2 import mime, smime
from adapters.as2.config import As2Profile
from adapters.as2.errors import (
    As2Error,
    As2Rejected,
    As2TransportError,
    AuthenticationFailed,
    DecryptionFailed,
    Disposition,
    InsufficientSecurity,
    IntegrityCheckFailed,
    UnexpectedProcessingError,
    UnknownPartner,
    UnsupportedFormat,
    UnsupportedMicAlgorithm,
)
from adapters.as2.mime import CRLF, Mic

AS2_VERSION = "1.1"  # 1.1: compression understood (RFC 5402)
REPORTING_UA = "edigw AS2"
PartnerLookup = Callable[[str, str], "As2Profile | None"]

_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_PKCS7_SIGNATURE = ("application/pkcs7-signature", "application/x-pkcs7-signature")


def unquote_as2_id(value: str) -> str:
    """An AS2-From / AS2-To value without its quotes (RFC 4130 section 6.2)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def quote_as2_id(value: str) -> str:
    """An AS2 id as a header value: quoted when it holds spaces or specials."""
    if re.fullmatch(r"[!#-\[\]-~]+", value) and '"' not in value:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class MdnOptions:
    """The MDN a sender asked for (Disposition-Notification-To / -Options, Receipt-Delivery-Option)."""

    requested: bool = False
    signed_protocol: str | None = None  # pkcs7-signature
    signed_importance: str | None = None  # required | optional
    mic_algorithms: tuple[str, ...] = ()
    mic_importance: str | None = None
    async_url: str | None = None

    @property
    def signed(self) -> bool:
        return self.requested and (self.signed_protocol or "").lower() == "pkcs7-signature"

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> MdnOptions:
        requested = bool(headers.get("disposition-notification-to"))
        protocol = importance = mic_importance = None
        algorithms: tuple[str, ...] = ()
        for clause in (headers.get("disposition-notification-options") or "").split(";"):
            name, sep, value = clause.partition("=")
            if not sep:
                continue
            items = [item.strip() for item in value.split(",") if item.strip()]
            if not items:
                continue
            name = name.strip().lower()
            if name == "signed-receipt-protocol":
                importance, protocol = items[0].lower(), (items[1] if len(items) > 1 else None)
            elif name == "signed-receipt-micalg":
                mic_importance, algorithms = items[0].lower(), tuple(items[1:])
        url = (headers.get("receipt-delivery-option") or "").strip() or None
        return cls(requested=requested, signed_protocol=protocol, signed_importance=importance,
                   mic_algorithms=algorithms, mic_importance=mic_importance, async_url=url)

    def mic_algorithm(self) -> str | None:
        """The first requested MIC algorithm the gateway supports (``sha256``), or None.

        Raises :class:`UnsupportedMicAlgorithm` when all requested ones are
        unsupported and the sender marked them required.
        """
        for name in self.mic_algorithms:
            try:
                return smime.digest_name(name)
            except ValueError:
                continue
        if self.mic_algorithms and self.mic_importance == "required":
            raise UnsupportedMicAlgorithm(f"none of the MIC algorithms {', '.join(self.mic_algorithms)} is supported")
        return None


@dataclass(frozen=True)
class MessageContext:
    """What is known of a received message before (or without) opening it."""

    message_id: str | None
    as2_from: str | None
    as2_to: str | None
    subject: str | None = None
    mdn: MdnOptions = MdnOptions()
    profile: As2Profile | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class Received:
    """An opened AS2 message: the payload and everything the MDN and the records need."""

    payload: bytes
    content_type: str
    filename: str | None
    context: MessageContext
    signed: bool
    encrypted: bool
    compressed: bool
    signature_algorithm: str | None  # sha256, ... when signed
    mic: Mic
    tolerated: tuple[str, ...] = ()  # partner tolerances this message needed

    @property
    def message_id(self) -> str:
        assert self.context.message_id is not None
        return self.context.message_id

    @property
    def as2_from(self) -> str:
        return self.context.as2_from or ""

    @property
    def as2_to(self) -> str:
        return self.context.as2_to or ""

    @property
    def profile(self) -> As2Profile:
        assert self.context.profile is not None
        return self.context.profile

    @property
    def mdn(self) -> MdnOptions:
        return self.context.mdn


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


@dataclass
class _State:
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    signature_algorithm: str | None = None
    signed_bytes: bytes | None = None
    tolerated: list[str] = field(default_factory=list)


def unpack(headers: Mapping[str, str], body: bytes, partner_lookup: PartnerLookup) -> Received:
    """Open a received AS2 message: decrypt, verify, decompress, compute the MIC.

    ``headers`` are the HTTP request headers (any case), ``body`` the raw
    request body, ``partner_lookup(as2_from, as2_to)`` the partner's
    :class:`As2Profile` or None. Raises an :class:`As2Error` whose
    ``disposition`` the failed MDN carries and whose ``context`` tells
    :func:`build_mdn` whom to answer; every other exception is turned into
    ``unexpected-processing-error``.
    """
    h = _lower(headers)
    context = MessageContext(
        message_id=(h.get("message-id") or "").strip() or None,
        as2_from=unquote_as2_id(h["as2-from"]) if h.get("as2-from") else None,
        as2_to=unquote_as2_id(h["as2-to"]) if h.get("as2-to") else None,
        subject=h.get("subject"),
        mdn=MdnOptions.from_headers(h),
    )
    try:
        if context.as2_from is None or context.as2_to is None:
            raise UnknownPartner("the message has no AS2-From or no AS2-To header")
        profile = partner_lookup(context.as2_from, context.as2_to)
        if profile is None:
            raise UnknownPartner(f"no AS2 agreement from {context.as2_from!r} to {context.as2_to!r}")
        context = MessageContext(context.message_id, context.as2_from, context.as2_to, context.subject,
                                 context.mdn, profile, context.received_at)
        if context.message_id is None:
            raise UnsupportedFormat("the message has no Message-ID")
        mic_alg = context.mdn.mic_algorithm() if context.mdn.requested else None
        return _open(h, body, context, profile, mic_alg)
    except As2Error as exc:
        exc.context = context
        raise
    except Exception as exc:  # a bug or input nothing above foresaw: still answer with an MDN
        error = UnexpectedProcessingError(f"{type(exc).__name__}: {exc}")
        error.context = context
        raise error from exc


def _open(h: dict[str, str], body: bytes, context: MessageContext, profile: As2Profile,
          mic_alg: str | None) -> Received:
    config = profile.config
    entity = mime.http_entity(h, body)
    if entity.content_type.startswith("multipart/") and entity.transfer_encoding == "base64":
        entity = mime.Entity(entity.headers, entity.decoded(), entity.decoded())
    state = _State()
    for _ in range(8):  # layers: encryption, signature, compression, in any order
        ctype = entity.content_type
        if ctype in _PKCS7_MIME:
            entity = _open_cms(entity, profile, state)
        elif ctype == "multipart/signed":
            entity = _open_signed(entity, profile, state)
        else:
            break
    else:
        raise UnsupportedFormat("too many nested S/MIME layers")
    if entity.content_type.startswith("multipart/"):
        raise UnsupportedFormat(f"a {entity.content_type} payload (several documents in one message) "
                                "is not supported")
    if config.require_encryption and not state.encrypted:
        raise InsufficientSecurity("the agreement requires encrypted messages; this one is not")
    if config.require_signature and not state.signed:
        raise InsufficientSecurity("the agreement requires signed messages; this one is not")
    payload = entity.decoded()
    if len(payload) > config.max_payload_bytes:
        raise UnexpectedProcessingError(f"the payload exceeds {config.max_payload_bytes} bytes")
    algorithm = mic_alg or state.signature_algorithm or "sha256"
    if state.signed_bytes is not None:
        mic = Mic.of(state.signed_bytes, algorithm)
    elif state.encrypted or state.compressed:
        mic = Mic.of(entity.raw, algorithm)
    else:
        mic = Mic.of(payload, algorithm)
    return Received(payload=payload, content_type=entity.content_type, filename=entity.filename,
                    context=context, signed=state.signed, encrypted=state.encrypted,
                    compressed=state.compressed, signature_algorithm=state.signature_algorithm, mic=mic,
                    tolerated=tuple(state.tolerated))


def _open_cms(entity: mime.Entity, profile: As2Profile, state: _State) -> mime.Entity:
    config = profile.config
    der = entity.decoded()
    kind = smime.content_type(der)
    if kind in ("enveloped_data", "authenticated_enveloped_data"):
        if profile.our_key is None:
            raise DecryptionFailed("the message is encrypted and no private key is configured for this partner")
        plain = smime.decrypt(der, profile.our_key, profile.our_certificate,  # type: ignore[arg-type]
                              gcm_in_enveloped_data=config.tolerances.gcm_in_enveloped_data)
        state.encrypted = True
        if kind == "enveloped_data" and smime.encryption_algorithm(der).endswith("_gcm"):
            state.tolerated.append("gcm_in_enveloped_data")
        return mime.parse_entity(plain)
    if kind == "compressed_data":
        plain = smime.decompress(der, max_size=config.max_payload_bytes + 64 * 1024)
        state.compressed = True
        return mime.parse_entity(plain)
    if kind == "signed_data":
        certs = [profile.partner_certificate] if profile.partner_certificate else []
        content, algorithm = smime.verify_attached(der, certs)
        _signed(state, content, algorithm)
        return mime.parse_entity(content)
    raise UnsupportedFormat(f"an S/MIME part holding {kind}")


def _signed(state: _State, signed_bytes: bytes, algorithm: str) -> None:
    if not state.signed:  # the outermost signature is the one the MIC is about
        state.signed_bytes = signed_bytes
        state.signature_algorithm = algorithm
    state.signed = True


def _open_signed(entity: mime.Entity, profile: As2Profile, state: _State) -> mime.Entity:
    boundary = entity.param("boundary")
    if not boundary:
        raise IntegrityCheckFailed("multipart/signed without a boundary")
    try:
        parts = mime.split_multipart(entity.body, boundary)
    except UnsupportedFormat as exc:
        raise IntegrityCheckFailed(str(exc)) from None
    if len(parts) != 2:
        raise IntegrityCheckFailed(f"multipart/signed with {len(parts)} parts instead of 2")
    content, signature_part = parts
    signature = mime.parse_entity(signature_part)
    if signature.content_type not in _PKCS7_SIGNATURE:
        raise IntegrityCheckFailed(f"the second part of multipart/signed is {signature.content_type}")
    if profile.partner_certificate is None:
        raise AuthenticationFailed("the message is signed and no partner certificate is configured")
    candidates = [content]
    tolerant = profile.config.tolerances.signature_without_final_crlf
    if tolerant and content.endswith(CRLF):
        candidates.append(content[:-2])
    algorithm, index = smime.verify_detached(candidates, signature.decoded(), [profile.partner_certificate])
    if index:
        state.tolerated.append("signature_without_final_crlf")
    _signed(state, candidates[index], algorithm)
    return mime.parse_entity(content)


def _explanation(subject: Received | As2Error, duplicate: bool) -> str:
    if isinstance(subject, As2Error):
        return (f"The AS2 message could not be taken in ({subject.modifier}): {subject.text}. "
                "Nothing of it was kept; it may be sent again.")
    what = (f"The AS2 message {subject.message_id} from {subject.as2_from} to {subject.as2_to} "
            f"({len(subject.payload)} bytes)")
    if duplicate:
        return f"{what} had already been received and taken in; this copy was not taken in again."
    return f"{what} was received and stored. This is no guarantee that its content has been processed."


def build_mdn(subject: Received | As2Error, *, duplicate: bool = False, signer: As2Profile | None = None,
              reporting_ua: str = REPORTING_UA, text: str | None = None,
              now: datetime | None = None) -> tuple[dict[str, str], bytes]:
    """The MDN (HTTP headers, body) answering a received message or the error that stopped it.

    ``processed`` for a :class:`Received` (``processed/warning:
    duplicate-document`` with ``duplicate``), the error's disposition for an
    :class:`As2Error`. Signed (multipart/signed over multipart/report) when the
    sender asked for a signed receipt and a key is at hand: the partner's
    profile, or ``signer`` (e.g. a default identity when the partner is
    unknown). Carries Received-Content-MIC for a received message.
    Raises ``ValueError`` when the message had no Message-ID to answer to
    (answer HTTP 400 then).
    """
    if isinstance(subject, Received):
        context = subject.context
        disposition = Disposition(kind="warning", description="duplicate-document") if duplicate else Disposition()
        mic: Mic | None = subject.mic
    else:
        if subject.context is None:
            raise ValueError("the error carries no message context; it did not come from unpack()")
        context = subject.context
        disposition = subject.disposition
        mic = None
    if not context.message_id:
        raise ValueError("the message has no Message-ID; no MDN can refer to it")
    our_id = context.as2_to or (context.profile.our_as2_id if context.profile else "")
    their_id = context.as2_from or ""
    report_boundary = mime.new_boundary()
    explanation = text or _explanation(subject, duplicate)
    text_part = mime.build_entity([("Content-Type", "text/plain; charset=utf-8"),
                                   ("Content-Transfer-Encoding", "8bit")], explanation.encode("utf-8") + CRLF)
    fields = [("Reporting-UA", reporting_ua),
              ("Original-Recipient", f"rfc822; {our_id}"),
              ("Final-Recipient", f"rfc822; {our_id}"),
              ("Original-Message-ID", context.message_id),
              ("Disposition", disposition.field())]
    if mic is not None:
        fields.append(("Received-Content-MIC", str(mic)))
    notification = b"".join(f"{name}: {value}".encode("utf-8") + CRLF for name, value in fields)
    notification_part = mime.build_entity([("Content-Type", "message/disposition-notification"),
                                           ("Content-Transfer-Encoding", "7bit")], notification)
    report_type = f'multipart/report; report-type=disposition-notification; boundary="{report_boundary}"'
    report_body = mime.build_multipart([text_part, notification_part], report_boundary)

    key_holder = context.profile if context.profile is not None and context.profile.can_sign else signer
    if context.mdn.signed and key_holder is not None and key_holder.can_sign:
        try:
            algorithm = context.mdn.mic_algorithm() or "sha256"
        except UnsupportedMicAlgorithm:
            algorithm = "sha256"
        report_entity = mime.build_entity([("Content-Type", report_type)], report_body)
        signature = smime.sign(report_entity, key_holder.our_key, key_holder.our_certificate,  # type: ignore[arg-type]
                               algorithm)
        signature_part = mime.build_entity([("Content-Type", "application/pkcs7-signature; name=smime.p7s"),
                                            ("Content-Transfer-Encoding", "base64"),
                                            ("Content-Disposition", "attachment; filename=smime.p7s")],
                                           mime.base64_lines(signature))
        boundary = mime.new_boundary()
        content_type = (f'multipart/signed; protocol="application/pkcs7-signature"; '
                        f'micalg={smime.micalg_name(algorithm)}; boundary="{boundary}"')
        body = mime.build_multipart([report_entity, signature_part], boundary)
    else:
        content_type, body = report_type, report_body
    headers = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": quote_as2_id(our_id),
        "AS2-To": quote_as2_id(their_id),
        "Message-ID": mime.new_message_id(our_id),
        "Date": format_datetime(now or datetime.now(timezone.utc), usegmt=True),
        "Subject": "Message Disposition Notification",
        "MIME-Version": "1.0",
        "Content-Type": content_type,
    }
    return headers, body


def send_async_mdn(url: str, headers: Mapping[str, str], body: bytes, *, timeout: float = 60.0,
                   client: httpx.Client | None = None) -> None:
    """POST an MDN to the sender's Receipt-Delivery-Option URL.

    :class:`As2TransportError` (transient) when the sender cannot be reached
    or answers 5xx, 408 or 429: keep the MDN and retry until the deadline.
    :class:`As2Rejected` (terminal) on any other 4xx.
    """
    owned = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        response = http.post(url, content=body, headers=dict(headers), timeout=timeout)
    except httpx.HTTPError as exc:
        raise As2TransportError(f"asynchronous MDN to {url}: {type(exc).__name__}: {exc}") from None
    finally:
        if owned:
            http.close()
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise As2TransportError(f"asynchronous MDN to {url}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise As2Rejected(f"asynchronous MDN to {url}: HTTP {response.status_code}")
