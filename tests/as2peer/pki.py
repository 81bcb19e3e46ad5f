"""Test identities for the AS2 tests: keys and self-signed certificates made at test time.

No private key is ever committed; each test run makes its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from adapters.as2.config import As2Partner, As2Profile, load_profile


@dataclass(frozen=True)
class Identity:
    name: str
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = field(repr=False)
    cert: x509.Certificate

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, folder: Path) -> tuple[Path, Path]:
        key_path, cert_path = folder / f"{self.name}.key", folder / f"{self.name}.crt"
        key_path.write_text(self.key_pem)
        cert_path.write_text(self.cert_pem)
        return key_path, cert_path


@functools.cache
def identity(name: str, kind: str = "rsa") -> Identity:
    """A key and a self-signed certificate for ``name``; one per name and kind in a test run."""
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Identity(name, key, cert)


def profile(ours: Identity, theirs: Identity, *, our_id: str = "GATEWAY", their_id: str = "PARTNER",
            **settings: object) -> As2Profile:
    """The profile of an agreement between ``ours`` and ``theirs``, keys passed through the environment."""
    env = {"OUR_KEY": ours.key_pem, "OUR_CERT": ours.cert_pem, "THEIR_CERT": theirs.cert_pem}
    config = As2Partner(as2_id=their_id, our_as2_id=our_id, our_key="env:OUR_KEY", our_certificate="env:OUR_CERT",
                        partner_certificate="env:THEIR_CERT", **settings)
    return load_profile(config, environ=env)
