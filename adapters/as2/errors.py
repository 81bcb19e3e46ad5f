"""What can go wrong with an AS2 message, as RFC 4130 names it.

Every error raised while a received message is opened carries the
disposition the MDN must report (RFC 4130 section 7.5.3)::

    As2Error (TerminalError)                   disposition field
    ├── DecryptionFailed                       processed/error: decryption-failed
    ├── AuthenticationFailed                   processed/error: authentication-failed
    │   └── UnknownPartner                     processed/error: authentication-failed
    ├── IntegrityCheckFailed                   processed/error: integrity-check-failed
    ├── DecompressionFailed                    processed/error: decompression-failed
    ├── InsufficientSecurity                   processed/error: insufficient-message-security
    ├── UnexpectedProcessingError              processed/error: unexpected-processing-error
    ├── UnsupportedFormat                      failed/failure: unsupported format
    └── UnsupportedMicAlgorithm                failed/failure: unsupported MIC-algorithms

RFC 4130 has no modifier for an unknown AS2-From/AS2-To pair; the gateway
answers it with ``authentication-failed`` (the sender cannot be authenticated
against any agreement), which stays inside the RFC's grammar. Any signature
that does not verify with the partner's certificate, whether the content was
altered or another key signed it, is ``authentication-failed``;
``integrity-check-failed`` is kept for a signed message whose structure is
broken (no signature part, a signature that cannot be read).

Sending has its own failures: :class:`As2TransportError` is transient (the
partner's server is down or busy: retry), :class:`As2Rejected` is terminal (the
server refused the request itself, e.g. HTTP 403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.errors import TerminalError, TransientError

if TYPE_CHECKING:  # pragma: no cover
    from adapters.as2.receive import MessageContext


@dataclass(frozen=True)
class Disposition:
    """The disposition of an MDN: ``processed``, ``processed/warning: ...``, ``failed/failure: ...``.

    ``kind`` is ``None`` (plain success), ``"error"``, ``"warning"`` or
    ``"failure"``; ``description`` is the modifier's text.
    """

    type: str = "processed"  # processed | failed
    kind: str | None = None  # error | warning | failure
    description: str = ""
    mode: str = "automatic-action/MDN-sent-automatically"

    @property
    def ok(self) -> bool:
        """The document was received: processed, with no error or failure modifier."""
        return self.type == "processed" and self.kind in (None, "warning")

    @property
    def modifier(self) -> str | None:
        """``error: decryption-failed``, ``warning: duplicate-document``, ... or None."""
        if self.kind is None:
            return None
        return f"{self.kind}: {self.description}" if self.description else self.kind

    def field(self) -> str:
        """The value of the ``Disposition:`` field of an MDN."""
        value = f"{self.mode}; {self.type}"
        modifier = self.modifier
        return f"{value}/{modifier}" if modifier else value

    def __str__(self) -> str:  # what outbound records and errors show: the field, not the dataclass repr
        return self.field()

    @classmethod
    def parse(cls, value: str) -> Disposition:
        """Read a ``Disposition:`` field; case of the keywords does not matter.

        RFC 4130 separates a modifier from its text with a colon
        (``failed/failure: unsupported format``); libas2 writes an equals sign
        (``failed/failure=Could not verify signature``), which is read too.
        The gateway writes the RFC's form.
        """
        mode, sep, rest = value.partition(";")
        if not sep:
            raise ValueError(f"not a disposition field: {value!r}")
        rest = rest.strip()
        dtype, slash, modifier = rest.partition("/")
        kind = None
        description = ""
        if slash:
            match = re.match(r"\s*([A-Za-z-]+)\s*(?:[:=]\s*(.*))?$", modifier, re.DOTALL)
            if match is None:
                raise ValueError(f"not a disposition modifier: {modifier!r}")
            kind = match.group(1).lower()
            description = (match.group(2) or "").strip()
        return cls(type=dtype.strip().lower(), kind=kind, description=description, mode=mode.strip())


class As2Error(TerminalError):
    """A received AS2 message cannot be taken in; the MDN reports ``disposition``.

    ``context`` is what was known of the message when it failed (its
    Message-ID, AS2 ids, the MDN it asked for, the partner's profile if one
    matched); :func:`adapters.as2.receive.unpack` sets it so that
    :func:`adapters.as2.receive.build_mdn` can answer with a failed MDN.
    """

    disposition_type = "processed"
    kind = "error"
    description = "unexpected-processing-error"

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
        self.context: MessageContext | None = None

    @property
    def disposition(self) -> Disposition:
        return Disposition(type=self.disposition_type, kind=self.kind, description=self.description)

    @property
    def modifier(self) -> str:
        """The RFC 4130 disposition modifier, e.g. ``error: decryption-failed``."""
        return f"{self.kind}: {self.description}"


class DecryptionFailed(As2Error):
    description = "decryption-failed"


class AuthenticationFailed(As2Error):
    description = "authentication-failed"


class UnknownPartner(AuthenticationFailed):
    """No agreement for this AS2-From / AS2-To pair."""


class IntegrityCheckFailed(As2Error):
    description = "integrity-check-failed"


class DecompressionFailed(As2Error):
    description = "decompression-failed"


class InsufficientSecurity(As2Error):
    """The partner's agreement requires signing or encryption the message lacks."""

    description = "insufficient-message-security"


class UnexpectedProcessingError(As2Error):
    description = "unexpected-processing-error"


class UnsupportedFormat(As2Error):
    disposition_type = "failed"
    kind = "failure"
    description = "unsupported format"


class UnsupportedMicAlgorithm(As2Error):
    disposition_type = "failed"
    kind = "failure"
    description = "unsupported MIC-algorithms"


class As2TransportError(TransientError):
    """The message did not reach the partner, or no answer came back: send again later."""


class As2Rejected(TerminalError):
    """The partner's server refused the request (a 4xx other than 408/429)."""
