"""One partner's AS2 agreement (``channels.as2`` in a partner file) and its loaded keys.

:class:`As2Partner` is what the YAML declares: the two AS2 ids, where the
certificates and our private key are (a file path, or ``env:VAR`` for PEM text
in an environment variable), what the gateway does when it sends (sign,
encrypt, compress, which MDN to ask for, how long to wait for it) and what it
requires when it receives. :func:`load_profile` reads the keys once and gives
an :class:`As2Profile`, what the functions of this package take.

Secrets stay out of logs: the configuration holds only references, the
profile's ``repr`` names no key material, and errors name the setting and the
reference, never what it points to.

Tolerances are off by default; each one names a partner quirk the gateway
accepts without the partner being right by the RFCs:

* ``signature_without_final_crlf`` - accept a signature over the signed part
  without its last CRLF. libas2 builds each part ending in CRLF and strips
  that CRLF before signing. For a payload part that is the RFC's entity
  anyway (the CRLF before the boundary belongs to the boundary), but its MDNs
  end in a nested multipart whose own last CRLF is part of the entity
  (RFC 1847 / RFC 2046), so they verify only with this tolerance. The exact
  bytes are always tried first; the gateway itself signs the exact part.
* ``gcm_in_enveloped_data`` - read and write AES-GCM the pkijs way (inside
  EnvelopedData, the tag appended to the ciphertext) instead of RFC 5084's
  AuthEnvelopedData.
* ``unsigned_mdn`` - accept an unsigned MDN when a signed one was asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.errors import ConfigError

Digest = Literal["sha1", "sha256", "sha384", "sha512"]
ContentCipher = Literal["aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-gcm", "aes192-gcm", "aes256-gcm",
                        "3des-cbc"]
KeyTransport = Literal["rsa-pkcs1v15", "rsa-oaep-sha1", "rsa-oaep-sha256", "rsa-oaep-sha512"]

_AS2_ID = re.compile(r"^[\x20-\x7e]{1,128}$")  # RFC 4130 section 6.2: 1 to 128 printable ASCII characters


def _check_ref(value: str | None) -> str | None:
    if value is None:
        return value
    if value.startswith("env:"):
        if not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("an environment reference is 'env:NAME'")
        return value
    if "-----BEGIN" in value:
        raise ValueError("give a file path or 'env:NAME', never the PEM text itself")
    if not value.strip():
        raise ValueError("empty reference")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MdnRequest(Strict):
    """The MDN the gateway asks for when it sends."""

    mode: Literal["sync", "async"] = "sync"
    signed: bool = True
    mic_alg: Digest = "sha256"
    # async: the public URL of the gateway's POST /as2/mdn, sent as Receipt-Delivery-Option
    async_url: str | None = None
    # how long after sending an MDN may still come; then the message is overdue (retried or reported)
    deadline_seconds: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _async_needs_url(self) -> MdnRequest:
        if self.mode == "async" and not self.async_url:
            raise ValueError("an asynchronous MDN needs async_url (the gateway's public POST /as2/mdn URL)")
        return self


class Tolerances(Strict):
    """Partner quirks the gateway accepts; see the module docstring. All off by default."""

    signature_without_final_crlf: bool = False
    gcm_in_enveloped_data: bool = False
    unsigned_mdn: bool = False


class As2Partner(Strict):
    """``channels.as2`` in a partner file."""

    as2_id: str  # the partner's AS2 id (their AS2-From, our AS2-To when sending)
    our_as2_id: str  # ours for this partner
    url: str | None = None  # the partner's AS2 endpoint, for sending
    partner_certificate: str | None = None  # verifies their signatures; we encrypt to it
    our_certificate: str | None = None  # goes with our_key: they verify our signatures, encrypt to us
    our_key: str | None = None  # PEM (or DER) private key: decrypts what they send, signs what we send
    our_key_password: str | None = None  # env:NAME only

    # sending
    sign: Digest | None = "sha256"
    encrypt: ContentCipher | None = "aes256-cbc"
    key_transport: KeyTransport = "rsa-pkcs1v15"
    compress: Literal["before-signing", "after-signing"] | None = None
    content_type: str = "application/edi-x12"
    transfer_encoding: Literal["binary", "base64"] = "binary"  # of the payload part
    mdn: MdnRequest | None = MdnRequest()
    timeout_seconds: float = Field(default=60.0, gt=0)

    # receiving
    require_signature: bool = True
    require_encryption: bool = False
    max_payload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)  # also caps decompression

    tolerances: Tolerances = Tolerances()

    @field_validator("as2_id", "our_as2_id")
    @classmethod
    def _as2_id(cls, value: str) -> str:
        if not _AS2_ID.match(value):
            raise ValueError("an AS2 id is 1 to 128 printable ASCII characters")
        return value

    _refs = field_validator("partner_certificate", "our_certificate", "our_key")(_check_ref)

    @field_validator("our_key_password")
    @classmethod
    def _password_ref(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("the key password is only read from the environment: 'env:NAME'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> As2Partner:
        if self.sign and not (self.our_key and self.our_certificate):
            raise ValueError("sign needs our_key and our_certificate")
        if self.encrypt and not self.partner_certificate:
            raise ValueError("encrypt needs partner_certificate")
        if self.require_signature and not self.partner_certificate:
            raise ValueError("require_signature needs partner_certificate (or set it false)")
        if self.require_encryption and not self.our_key:
            raise ValueError("require_encryption needs our_key")
        if self.mdn and self.mdn.signed and not self.partner_certificate and not self.tolerances.unsigned_mdn:
            raise ValueError("a signed MDN is verified with partner_certificate")
        return self


@dataclass(frozen=True)
class As2Profile:
    """A partner's agreement with its certificates and key loaded; what this package works with.

    ``partner`` is the gateway's partner id (from the partner file), for the
    caller's bookkeeping. The private key never appears in ``repr``.
    """

    config: As2Partner
    partner_certificate: x509.Certificate | None = None
    our_certificate: x509.Certificate | None = None
    our_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    partner: str | None = None

    @property
    def as2_id(self) -> str:
        return self.config.as2_id

    @property
    def our_as2_id(self) -> str:
        return self.config.our_as2_id

    @property
    def can_sign(self) -> bool:
        return self.our_key is not None and self.our_certificate is not None


def _read_ref(ref: str, setting: str, base_dir: Path | None, environ: Mapping[str, str]) -> bytes:
    if ref.startswith("env:"):
        name = ref[4:]
        if name not in environ:
            raise ConfigError(f"{setting}: environment variable {name} is not set")
        return environ[name].encode("utf-8")
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {ref}: {exc.strerror}") from None


def _certificate(data: bytes, setting: str, ref: str) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{setting}: {ref} is not a PEM or DER certificate") from None


def load_profile(config: As2Partner, *, partner: str | None = None, base_dir: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> As2Profile:
    """Read the certificates and key ``config`` refers to; :class:`ConfigError` names what is wrong."""
    env = os.environ if environ is None else environ
    partner_cert = our_cert = key = None
    if config.partner_certificate:
        partner_cert = _certificate(_read_ref(config.partner_certificate, "partner_certificate", base_dir, env),
                                    "partner_certificate", config.partner_certificate)
    if config.our_certificate:
        our_cert = _certificate(_read_ref(config.our_certificate, "our_certificate", base_dir, env),
                                "our_certificate", config.our_certificate)
    if config.our_key:
        data = _read_ref(config.our_key, "our_key", base_dir, env)
        password = None
        if config.our_key_password:
            password = _read_ref(config.our_key_password, "our_key_password", base_dir, env)
        try:
            loaded = (load_pem_private_key(data, password) if b"-----BEGIN" in data
                      else load_der_private_key(data, password))
        except (ValueError, TypeError):
            raise ConfigError(f"our_key: {config.our_key} is not a private key, or does not open "
                              f"{'with the password given' if password else 'without a password'}") from None
        if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ConfigError(f"our_key: {config.our_key} must be an RSA or EC key")
        key = loaded
        if our_cert is not None and our_cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise ConfigError(f"our_key: {config.our_key} does not belong to our_certificate")
    return As2Profile(config=config, partner_certificate=partner_cert, our_certificate=our_cert, our_key=key,
                      partner=partner)
