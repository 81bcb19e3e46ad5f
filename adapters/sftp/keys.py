"""Credentials of the SFTP channel: password hashes, public keys, host keys.

Password hashes
    Only hashes are configured, in the PHC string format (the one of
    passlib and argon2), never a password in clear::

        $scrypt$ln=15,r=8,p=1$<salt>$<hash>           scrypt, N = 2**ln (the default)
        $pbkdf2-sha256$i=600000$<salt>$<hash>          PBKDF2-HMAC-SHA256 (also pbkdf2-sha512, i=210000)

    ``<salt>`` and ``<hash>`` are standard base64 without padding. Both
    functions come from :mod:`hashlib`. Weak parameters are refused
    (scrypt ``ln`` below 14, PBKDF2 below 100,000 iterations). A hash for
    the partner file is printed by ``python -m adapters.sftp.keys``, which
    asks for the password without echo.

Public keys
    A partner's key is given as an OpenSSH public-key line
    (``ssh-ed25519 AAAA... comment``); options in front of it, as
    ``authorized_keys`` allows, are not supported.

Host keys
    The hosted server's key is generated once (Ed25519, or RSA 3072) into the
    configured file, with the public half beside it (``.pub``), and reused
    after every restart. A partner's server is pinned by a ``known_hosts``
    line (``[host]:port ssh-ed25519 AAAA...``; the host names are ignored) or
    by an OpenSSH fingerprint (``SHA256:...``).
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import io
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

if TYPE_CHECKING:
    import paramiko

# paramiko (and what it pulls in: invoke, nacl, bcrypt; about 10 MB of a process) is imported by
# the functions that need it, so a gateway whose partners use no SFTP never loads it: the config
# and partner files, which parse keys and password hashes with this module, do not need it either
# unless they hold a public key.

# -- password hashes ----------------------------------------------------------------

SCRYPT_LN, SCRYPT_R, SCRYPT_P = 15, 8, 1
PBKDF2_ITERATIONS = {"pbkdf2-sha256": 600_000, "pbkdf2-sha512": 210_000}  # as OWASP recommends
_MIN_SCRYPT_LN, _MAX_SCRYPT_LN = 14, 20
_MIN_PBKDF2, _MAX_PBKDF2 = 100_000, 10_000_000
_PHC = re.compile(r"^\$(?P<scheme>scrypt|pbkdf2-sha256|pbkdf2-sha512)\$(?P<params>[a-z0-9=,]+)"
                  r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)$")


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    params: dict[str, int]
    salt: bytes
    digest: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def parse_password_hash(encoded: str) -> _Parsed:
    """Check the format and parameters of a configured hash (ValueError names what is wrong)."""
    match = _PHC.match(encoded.strip())
    if not match:
        raise ValueError("a password is configured by its hash, '$scrypt$ln=15,r=8,p=1$<salt>$<hash>' or "
                         "'$pbkdf2-sha256$i=600000$<salt>$<hash>' (python -m adapters.sftp.keys prints one), "
                         "never in clear")
    scheme = match["scheme"]
    try:
        params = {k: int(v) for k, v in (item.split("=", 1) for item in match["params"].split(","))}
        salt, digest = _unb64(match["salt"]), _unb64(match["hash"])
    except (ValueError, binascii.Error):
        raise ValueError(f"malformed {scheme} hash") from None
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError(f"{scheme} hash: salt or hash too short")
    if scheme == "scrypt":
        if set(params) != {"ln", "r", "p"}:
            raise ValueError("scrypt hash: parameters must be ln, r and p")
        if not _MIN_SCRYPT_LN <= params["ln"] <= _MAX_SCRYPT_LN or not 1 <= params["r"] <= 32 \
                or not 1 <= params["p"] <= 16:
            raise ValueError(f"scrypt hash: ln must be {_MIN_SCRYPT_LN}..{_MAX_SCRYPT_LN}, r 1..32, p 1..16")
    else:
        if set(params) != {"i"}:
            raise ValueError(f"{scheme} hash: the only parameter is i (iterations)")
        if not _MIN_PBKDF2 <= params["i"] <= _MAX_PBKDF2:
            raise ValueError(f"{scheme} hash: i must be {_MIN_PBKDF2}..{_MAX_PBKDF2}")
    return _Parsed(scheme, params, salt, digest)


def _derive(password: bytes, parsed: _Parsed) -> bytes:
    if parsed.scheme == "scrypt":
        n, r, p = 1 << parsed.params["ln"], parsed.params["r"], parsed.params["p"]
        return hashlib.scrypt(password, salt=parsed.salt, n=n, r=r, p=p, dklen=len(parsed.digest),
                              maxmem=256 * r * n * p + (1 << 20))
    algorithm = parsed.scheme.removeprefix("pbkdf2-")
    return hashlib.pbkdf2_hmac(algorithm, password, parsed.salt, parsed.params["i"], dklen=len(parsed.digest))


def hash_password(password: str, *, scheme: str = "scrypt") -> str:
    """A fresh hash of ``password`` (random salt) in the PHC string format."""
    salt = secrets.token_bytes(16)
    if scheme == "scrypt":
        parsed = _Parsed("scrypt", {"ln": SCRYPT_LN, "r": SCRYPT_R, "p": SCRYPT_P}, salt, b"\0" * 32)
        params = f"ln={SCRYPT_LN},r={SCRYPT_R},p={SCRYPT_P}"
    elif scheme in PBKDF2_ITERATIONS:
        parsed = _Parsed(scheme, {"i": PBKDF2_ITERATIONS[scheme]}, salt, b"\0" * 32)
        params = f"i={PBKDF2_ITERATIONS[scheme]}"
    else:
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    return f"${scheme}${params}${_b64(salt)}${_b64(_derive(password.encode(), parsed))}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time comparison of the derived keys)."""
    parsed = parse_password_hash(encoded)
    return hmac.compare_digest(_derive(password.encode(), parsed), parsed.digest)


# A hash nobody's password matches: checked for unknown user names, so that a
# wrong name takes as long as a wrong password.
DUMMY_HASH = "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + _b64(b"\0" * 32)


# -- public keys -------------------------------------------------------------------------

_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def parse_public_key(line: str) -> paramiko.PKey:
    """The key of an OpenSSH public-key line ``type base64 [comment]`` (ValueError when it is not one)."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise ValueError(f"not an OpenSSH public key line ('<type> <base64> [comment]', type one of "
                         f"{', '.join(_KEY_TYPES)}): {line[:40]!r}")
    return _key_from(parts[0], parts[1])


def _key_from(key_type: str, blob_b64: str) -> paramiko.PKey:
    import paramiko

    try:
        blob = base64.b64decode(blob_b64, validate=True)
        key = paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, ValueError, paramiko.SSHException) as exc:
        raise ValueError(f"{key_type} key does not decode: {exc}") from None
    if key.get_name() != key_type:
        raise ValueError(f"the key says it is {key.get_name()}, the line says {key_type}")
    return key


def public_line(key: paramiko.PKey, comment: str = "") -> str:
    return f"{key.get_name()} {key.get_base64()}" + (f" {comment}" if comment else "")


# -- pinned host keys of partners' servers ------------------------------------------------

_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
# what paramiko's client may negotiate for a pinned key of each type
_HOST_KEY_ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),  # RSA keys, signed with SHA-2 (paramiko has no SHA-1)
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
}


@dataclass(frozen=True)
class HostKeyPin:
    """One accepted host key of a partner's server: a whole key, or only its fingerprint."""

    fingerprint: str  # SHA256:...
    key_type: str | None = None  # known for a known_hosts line, not for a bare fingerprint

    @classmethod
    def parse(cls, text: str) -> HostKeyPin:
        text = text.strip()
        if _FINGERPRINT.match(text):
            return cls(text)
        parts = text.split()
        if parts and parts[0].startswith("@"):
            raise ValueError("known_hosts markers (@cert-authority, @revoked) are not supported")
        for i, part in enumerate(parts[:-1]):
            if part in _KEY_TYPES:
                return cls(_key_from(part, parts[i + 1]).fingerprint, part)
        raise ValueError("a host key is pinned by a known_hosts line ('[host]:port ssh-ed25519 AAAA...') or an "
                         f"OpenSSH fingerprint ('SHA256:' and 43 base64 characters): {text[:40]!r}")

    @property
    def algorithms(self) -> tuple[str, ...]:
        return _HOST_KEY_ALGORITHMS[self.key_type] if self.key_type else ()


# -- the hosted server's own key ------------------------------------------------------------

def load_or_create_key(path: Path, key_type: str = "ed25519") -> tuple[paramiko.PKey, bool]:
    """The private key in ``path``, generated there first if missing; ``(key, created)``.

    Created atomically (a temporary file linked into place), mode 0600, in
    OpenSSH format (``ssh -i`` reads it), with ``path.pub`` beside it: two
    servers starting at once end up with the same key. Used for the hosted
    server's host key, and for a demo partner's client key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if key_type == "ed25519":
            private = ed25519.Ed25519PrivateKey.generate()
        elif key_type == "rsa":
            private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        else:
            raise ValueError(f"cannot generate a host key of type {key_type!r} (ed25519 or rsa)")
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
                created = True
            except FileExistsError:  # another process made one meanwhile: use that
                created = False
        finally:
            tmp.unlink(missing_ok=True)
    else:
        created = False
    import paramiko

    try:
        key = paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException) as exc:
        raise ValueError(f"cannot read the SSH key {path}: {exc}") from None
    pub = path.with_name(path.name + ".pub")
    if not pub.exists():
        pub.write_text(public_line(key, "edigw") + "\n")
    return key, created


load_or_create_host_key = load_or_create_key


# -- private keys for logging in to partners' servers -------------------------------------------

def load_private_key(*, path: Path | None = None, text: str | None = None,
                     passphrase: str | None = None) -> paramiko.PKey:
    """A private key from a file or from text (OpenSSH or PEM format, any type paramiko knows)."""
    import paramiko

    if path is not None:
        return paramiko.PKey.from_path(path, passphrase)
    if text is None:
        raise ValueError("no private key given")
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException:
            continue
    raise paramiko.SSHException("the private key is not readable as Ed25519, ECDSA or RSA")


def main() -> int:  # pragma: no cover - interactive
    """Print a hash of a password typed twice (``python -m adapters.sftp.keys [scheme]``)."""
    scheme = sys.argv[1] if len(sys.argv) > 1 else "scrypt"
    first = getpass.getpass("password: ")
    if not first or first != getpass.getpass("again: "):
        print("the passwords are empty or differ", file=sys.stderr)
        return 1
    print(hash_password(first, scheme=scheme))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
