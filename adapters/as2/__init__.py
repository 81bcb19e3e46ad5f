"""AS2 (RFC 4130) as framework-free functions: the HTTP server and the outbound
worker call them; nothing here knows about FastAPI or the state store.

Receiving (``POST /as2``)::

    from adapters.as2 import As2Error, build_mdn, send_async_mdn, unpack

    try:
        received = unpack(request_headers, raw_body, lookup)     # lookup(as2_from, as2_to) -> As2Profile | None
    except As2Error as failure:
        mdn_headers, mdn_body = build_mdn(failure)             # failed MDN; nothing was taken in
    else:
        if store already holds (received.as2_from, received.message_id) as taken in:
            mdn_headers, mdn_body = build_mdn(received, duplicate=True)
        else:
            take received.payload in durably, recording (as2_from, message_id, mic) in the same step
            mdn_headers, mdn_body = build_mdn(received)

    sync  (received.mdn.async_url is None): answer 200 with mdn_headers and mdn_body
    async: answer 200 empty, keep the MDN, send_async_mdn(url, ...) retried until a deadline

What the caller must do about repeated Message-IDs: record the Message-ID
(with AS2-From) only when the document was durably taken in, in the same
transaction as its receipt. A message that got a failed MDN left nothing
behind, so its resend (same Message-ID, the usual reaction to a failed MDN)
is opened and taken in like a new one: the document is not lost. A message
whose Message-ID is already recorded is not taken in again (not doubled); it
is answered with ``build_mdn(received, duplicate=True)``, a positive MDN
(``processed/warning: duplicate-document``) carrying the MIC of the copy just
received, so a sender whose first MDN was lost in transit still gets one.
Requests without a Message-ID cannot be answered with an MDN:
:func:`build_mdn` raises ``ValueError`` and the caller answers HTTP 400.

Sending::

    message = build_message(payload, profile)                  # .headers .body .mic .message_id
    persist (message_id, partner, mic, mdn_deadline(profile, now)) BEFORE posting
    response = send(message, profile)                           # As2TransportError: retry later
    sync MDN: verify_mdn(response.headers, response.body, expected_mic=message.mic,
                         profile=profile, message_id=message.message_id)

Receiving an asynchronous MDN (``POST /as2/mdn``)::

    report = read_mdn(headers, body)                    # unverified: report.original_message_id
    look the outbound record up by report.original_message_id (404/400 if unknown)
    result = verify_mdn(headers, body, expected_mic=record.mic, profile=record.profile,
                        message_id=record.message_id)
    record result.ok / result.problems / result.disposition; answer 200

A message whose MDN has not come by its deadline is overdue: resend or report.

Where the independent implementation the tests run against (libas2 0.8.2)
and the RFCs disagree, the gateway follows the RFCs and accepts the other
form only where a partner's ``tolerances`` say so:

* MDN signatures over the report without its last CRLF: libas2 is off the
  RFC; tolerance ``signature_without_final_crlf`` (:mod:`adapters.as2.config`).
* AES-GCM inside EnvelopedData with the tag appended: libas2/pkijs is off
  RFC 5084; tolerance ``gcm_in_enveloped_data`` (:mod:`adapters.as2.smime`).
* ``failed/failure=<text>`` instead of ``failed/failure: <text>``: libas2 is
  off RFC 4130; always read, never written (:class:`Disposition`).
* Binary parts, and parts not marked as attachments, are mangled by
  libas2's parser (RFC 4130 allows both): send it ``transfer_encoding:
  base64``; the gateway always marks its payload part as an attachment.
"""

from adapters.as2.config import As2Partner, As2Profile, MdnRequest, Tolerances, load_profile
from adapters.as2.errors import (
    As2Error,
    As2Rejected,
    As2TransportError,
    AuthenticationFailed,
    DecompressionFailed,
    DecryptionFailed,
    Disposition,
    InsufficientSecurity,
    IntegrityCheckFailed,
    UnexpectedProcessingError,
    UnknownPartner,
    UnsupportedFormat,
    UnsupportedMicAlgorithm,
)
from adapters.as2.mime import Mic
from adapters.as2.receive import MdnOptions, MessageContext, Received, build_mdn, send_async_mdn, unpack
from adapters.as2.send import (
    MdnReport,
    MdnResult,
    OutgoingMessage,
    SendResponse,
    build_message,
    mdn_deadline,
    read_mdn,
    send,
    verify_mdn,
)

__all__ = [
    "As2Error", "As2Partner", "As2Profile", "As2Rejected", "As2TransportError", "AuthenticationFailed",
    "DecompressionFailed", "DecryptionFailed", "Disposition", "InsufficientSecurity", "IntegrityCheckFailed",
    "MdnOptions", "MdnReport", "MdnRequest", "MdnResult", "MessageContext", "Mic", "OutgoingMessage",
    "Received", "SendResponse", "Tolerances", "UnexpectedProcessingError", "UnknownPartner",
    "UnsupportedFormat", "UnsupportedMicAlgorithm", "build_mdn", "build_message", "load_profile",
    "mdn_deadline", "read_mdn", "send", "send_async_mdn", "unpack", "verify_mdn",
]
