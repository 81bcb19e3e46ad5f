"""The CMS layer of AS2 (RFC 5652, RFC 5751, RFC 3274, RFC 5083/5084), on pyca cryptography and asn1crypto.

Three operations and their inverses, each on bytes in and DER out:

* :func:`sign` / :func:`verify_detached` - SignedData with a detached
  signature (the ``application/pkcs7-signature`` part of multipart/signed),
  signed attributes content-type, signing-time and message-digest; SHA-1,
  SHA-256, SHA-384 and SHA-512; RSA (PKCS#1 v1.5 or PSS) and ECDSA keys on
  verification. :func:`verify_attached` reads the rarer opaque form
  (``smime-type=signed-data``).
* :func:`encrypt` / :func:`decrypt` - EnvelopedData to one recipient, key
  transport RSA PKCS#1 v1.5 or RSA-OAEP with SHA-1/256/512, content
  encryption AES-128/192/256-CBC or 3DES-CBC; AES-GCM as AuthEnvelopedData
  (RFC 5083/5084), the standard form.
* :func:`compress` / :func:`decompress` - CompressedData with zlib (RFC 3274).

Every failure raises an :class:`~adapters.as2.errors.As2Error` whose
disposition the MDN reports: :class:`DecryptionFailed`,
:class:`AuthenticationFailed`, :class:`IntegrityCheckFailed`,
:class:`DecompressionFailed`, :class:`UnsupportedFormat`.

Where libas2 0.8.2 (pkijs 2.1) and the RFCs disagree:

* AES-GCM: RFC 5084 puts GCM into AuthEnvelopedData with ``GCMParameters``
  (a nonce and the tag length) and the tag in its own ``mac`` field. pkijs
  puts it into plain EnvelopedData, with a bare 16-byte IV as the parameter
  and the tag appended to the ciphertext. The RFC is on the gateway's side;
  :func:`decrypt` reads the pkijs form only when asked
  (``gcm_in_enveloped_data=True``, the partner tolerance of the same name) and
  :func:`encrypt` writes it only for such a partner.
* BER: libas2 writes indefinite lengths and constructed octet strings; both
  are valid BER (RFC 5652 requires DER only for signed attributes) and are
  read as such. What the gateway writes is DER.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Sequence
from datetime import datetime, timezone

from asn1crypto import algos, cms, core, x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding

from adapters.as2.errors import (
    AuthenticationFailed,
    DecompressionFailed,
    DecryptionFailed,
    IntegrityCheckFailed,
    UnsupportedFormat,
)

# --- digests -----------------------------------------------------------------

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def digest_name(name: str) -> str:
    """The canonical name of a digest: ``SHA-256``, ``sha256`` and ``sha-256`` are all ``sha256``.

    MD5 and anything unknown raise ``ValueError``.
    """
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {name!r}")
    return key


def micalg_name(name: str) -> str:
    """The RFC 5751 ``micalg`` spelling of a digest: ``sha-256``."""
    return "sha-" + digest_name(name)[3:]


def digest(data: bytes, name: str) -> bytes:
    return hashlib.new(digest_name(name), data).digest()


def _hash(name: str) -> hashes.HashAlgorithm:
    return _HASHES[digest_name(name)]()


# --- certificates --------------------------------------------------------------

def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _matches(identifier: cms.SignerIdentifier | cms.RecipientIdentifier, cert: asn1_x509.Certificate) -> bool:
    """Whether a SignerIdentifier / RecipientIdentifier names ``cert``."""
    if identifier.name == "issuer_and_serial_number":
        ias = identifier.chosen
        return ias["issuer"] == cert.issuer and ias["serial_number"].native == cert.serial_number
    if identifier.name == "subject_key_identifier":
        return cert.key_identifier is not None and identifier.chosen.native == cert.key_identifier
    return False


def _load_content_info(der: bytes, what: str) -> cms.ContentInfo:
    try:
        info = cms.ContentInfo.load(der)
        info.native  # parse everything now: malformed input fails here, not later
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, ...
        raise UnsupportedFormat(f"the {what} is not a readable CMS structure: {exc}") from None
    return info


def content_type(der: bytes) -> str:
    """The CMS content type of ``der``: ``signed_data``, ``enveloped_data``,
    ``authenticated_enveloped_data``, ``compressed_data``, ..."""
    try:
        return cms.ContentInfo.load(der)["content_type"].native
    except Exception as exc:
        raise UnsupportedFormat(f"not a CMS structure: {exc}") from None


def encryption_algorithm(der: bytes) -> str:
    """The content encryption of an EnvelopedData / AuthEnvelopedData: ``aes256_cbc``, ..."""
    info = cms.ContentInfo.load(der)
    body = info["content"]
    key = "encrypted_content_info" if info["content_type"].native == "enveloped_data" else "auth_encrypted_content_info"
    return body[key]["content_encryption_algorithm"]["algorithm"].native


# --- signing -----------------------------------------------------------------

def _signed_attrs_for_signature(attrs: cms.CMSAttributes) -> bytes:
    """The bytes a signature over signed attributes covers: their encoding
    as received, with the EXPLICIT SET OF tag (RFC 5652 section 5.4)."""
    contents = attrs.contents
    return b"\x31" + _der_length(len(contents)) + contents


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def sign(data: bytes, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cert: x509.Certificate,
         digest_alg: str = "sha256", *, signing_time: datetime | None = None,
         encapsulate: bool = False) -> bytes:
    """A SignedData over ``data`` (DER ContentInfo), detached unless ``encapsulate``.

    The signer is identified by issuer and serial number and its certificate
    is included. RSA keys sign with PKCS#1 v1.5, EC keys with ECDSA.
    """
    name = digest_name(digest_alg)
    asn1_cert = _asn1_cert(cert)
    when = signing_time or datetime.now(timezone.utc)
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(when)})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest(data, name)]}),
    ])
    to_sign = attrs.dump()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), _hash(name))
        sig_alg = {"algorithm": "rsassa_pkcs1v15"}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(_hash(name)))
        sig_alg = {"algorithm": f"{name}_ecdsa"}
    else:
        raise TypeError(f"cannot sign with a {type(key).__name__}")
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": name}),
        "signed_attrs": attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm(sig_alg),
        "signature": signature,
    })
    encap = {"content_type": "data"}
    if encapsulate:
        encap["content"] = data
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": name})],
        "encap_content_info": encap,
        "certificates": [asn1_cert],
        "signer_infos": [signer],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def _check_signer(signer: cms.SignerInfo, data: bytes, public_key: object) -> str:
    """Verify one SignerInfo over ``data`` with ``public_key``; the digest name, or raise."""
    try:
        name = digest_name(signer["digest_algorithm"]["algorithm"].native)
    except ValueError as exc:
        raise AuthenticationFailed(f"signature digest: {exc}") from None
    attrs = signer["signed_attrs"]
    if attrs.native is not None and len(attrs):
        found = {attr["type"].native: attr["values"] for attr in attrs}
        if "message_digest" not in found:
            raise IntegrityCheckFailed("the signature's signed attributes carry no message digest")
        if found["message_digest"][0].native != digest(data, name):
            raise AuthenticationFailed("the signed content does not match its signature "
                                       "(altered in transit, or signed over other bytes)")
        ctype = found.get("content_type")
        if ctype is not None and ctype[0].native != "data":
            raise AuthenticationFailed(f"signed attribute content-type is {ctype[0].native}, not data")
        signed_bytes = _signed_attrs_for_signature(attrs)
    else:
        signed_bytes = data
    signature = signer["signature"].native
    sig_alg = signer["signature_algorithm"]
    alg_name = sig_alg["algorithm"].native
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if alg_name == "rsassa_pss":
                params = sig_alg["parameters"]
                pss_hash = _hash(params["hash_algorithm"]["algorithm"].native)
                mgf_hash = _hash(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
                public_key.verify(signature, signed_bytes,
                                  padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=params["salt_length"].native),
                                  pss_hash)
            else:
                public_key.verify(signature, signed_bytes, padding.PKCS1v15(), _hash(name))
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_bytes, ec.ECDSA(_hash(name)))
        else:
            raise AuthenticationFailed(f"cannot verify with a {type(public_key).__name__}")
    except InvalidSignature:
        raise AuthenticationFailed("the signature does not verify with the partner's certificate") from None
    return name


def _signers(info: cms.ContentInfo, certificates: Sequence[x509.Certificate]) -> list[tuple[cms.SignerInfo, x509.Certificate]]:
    """Each (SignerInfo, configured certificate) pair to try: named ones first."""
    signed = info["content"]
    named, others = [], []
    for signer in signed["signer_infos"]:
        for cert in certificates:
            (named if _matches(signer["sid"], _asn1_cert(cert)) else others).append((signer, cert))
    return named + others


def verify_detached(data: bytes | Sequence[bytes], signature_der: bytes,
                    certificates: Sequence[x509.Certificate]) -> tuple[str, int]:
    """Check a detached signature over ``data`` against the partner's certificate(s).

    ``data`` may be several candidate byte strings (the exact signed part, and
    forms a partner tolerance allows); the first that verifies wins. Only the
    configured certificates count, never one that came with the signature.
    Returns (digest name, index of the candidate that verified).
    """
    candidates = [data] if isinstance(data, (bytes, bytearray)) else list(data)
    info = _load_content_info(signature_der, "signature")
    if info["content_type"].native != "signed_data":
        raise IntegrityCheckFailed(f"the signature part holds {info['content_type'].native}, not signed data")
    if not certificates:
        raise AuthenticationFailed("no certificate is configured to verify the partner's signature")
    pairs = _signers(info, certificates)
    if not pairs:
        raise IntegrityCheckFailed("the signature has no signer")
    first_error: Exception | None = None
    for index, candidate in enumerate(candidates):
        for signer, cert in pairs:
            try:
                return _check_signer(signer, bytes(candidate), cert.public_key()), index
            except (AuthenticationFailed, IntegrityCheckFailed) as exc:
                first_error = first_error or exc
    assert first_error is not None
    raise first_error


def verify_attached(signed_der: bytes, certificates: Sequence[x509.Certificate]) -> tuple[bytes, str]:
    """Open an opaque SignedData (``smime-type=signed-data``): (content, digest name)."""
    info = _load_content_info(signed_der, "signed data")
    content = info["content"]["encap_content_info"]["content"]
    if content.native is None:
        raise IntegrityCheckFailed("the signed data carries no content")
    data = content.native if isinstance(content.native, bytes) else content.parsed.dump()
    name, _ = verify_detached(data, signed_der, certificates)
    return data, name


# --- encryption --------------------------------------------------------------

CIPHERS = {
    "aes128-cbc": ("aes128_cbc", 16), "aes192-cbc": ("aes192_cbc", 24), "aes256-cbc": ("aes256_cbc", 32),
    "aes128-gcm": ("aes128_gcm", 16), "aes192-gcm": ("aes192_gcm", 24), "aes256-gcm": ("aes256_gcm", 32),
    "3des-cbc": ("tripledes_3key", 24),
}
KEY_TRANSPORTS = ("rsa-pkcs1v15", "rsa-oaep-sha1", "rsa-oaep-sha256", "rsa-oaep-sha512")


class GcmParameters(core.Sequence):
    """RFC 5084 GCMParameters: the nonce and the length of the tag."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


def _oaep_params(name: str) -> algos.RSAESOAEPParams:
    hash_name = name.rsplit("-", 1)[1]  # SHA-1 equals the defaults, which DER leaves out: an empty sequence
    return algos.RSAESOAEPParams({
        "hash_algorithm": {"algorithm": hash_name},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_name}},
    })


def _wrap_key(cek: bytes, public_key: rsa.RSAPublicKey, key_transport: str) -> tuple[dict, bytes]:
    if key_transport == "rsa-pkcs1v15":
        return {"algorithm": "rsaes_pkcs1v15"}, public_key.encrypt(cek, padding.PKCS1v15())
    if key_transport.startswith("rsa-oaep-"):
        hash_name = key_transport.rsplit("-", 1)[1]
        oaep = padding.OAEP(mgf=padding.MGF1(_hash(hash_name)), algorithm=_hash(hash_name), label=None)
        return {"algorithm": "rsaes_oaep", "parameters": _oaep_params(key_transport)}, public_key.encrypt(cek, oaep)
    raise ValueError(f"unknown key transport {key_transport!r}; one of {', '.join(KEY_TRANSPORTS)}")


def encrypt(data: bytes, cert: x509.Certificate, cipher: str = "aes256-cbc", *,
            key_transport: str = "rsa-pkcs1v15", gcm_in_enveloped_data: bool = False) -> bytes:
    """Envelope ``data`` for the holder of ``cert`` (DER ContentInfo).

    CBC ciphers give EnvelopedData; GCM gives AuthEnvelopedData (RFC 5083),
    or, for a partner with the ``gcm_in_enveloped_data`` tolerance, pkijs'
    EnvelopedData with the tag appended to the ciphertext.
    """
    if cipher not in CIPHERS:
        raise ValueError(f"unknown cipher {cipher!r}; one of {', '.join(CIPHERS)}")
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("the partner's certificate must carry an RSA key to encrypt to it")
    oid_name, key_size = CIPHERS[cipher]
    cek = os.urandom(key_size)
    asn1_cert = _asn1_cert(cert)
    kea, encrypted_key = _wrap_key(cek, public_key, key_transport)
    recipient = cms.RecipientInfo({"ktri": cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number})}),
        "key_encryption_algorithm": cms.KeyEncryptionAlgorithm(kea),
        "encrypted_key": encrypted_key,
    })})
    if cipher.endswith("-gcm"):
        if gcm_in_enveloped_data:
            iv = os.urandom(16)
            sealed = AESGCM(cek).encrypt(iv, data, None)  # ciphertext || 16-byte tag
            eci = cms.EncryptedContentInfo({
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": oid_name, "parameters": core.OctetString(iv)},
                "encrypted_content": sealed,
            })
            enveloped = cms.EnvelopedData({"version": "v2", "recipient_infos": [recipient],
                                           "encrypted_content_info": eci})
            return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()
        nonce = os.urandom(12)
        sealed = AESGCM(cek).encrypt(nonce, data, None)
        ciphertext, tag = sealed[:-16], sealed[-16:]
        eci = cms.EncryptedContentInfo({
            "content_type": "data",
            "content_encryption_algorithm": {"algorithm": oid_name,
                                             "parameters": GcmParameters({"aes_nonce": nonce, "aes_icvlen": 16})},
            "encrypted_content": ciphertext,
        })
        auth = cms.AuthEnvelopedData({"version": "v0", "recipient_infos": [recipient],
                                      "auth_encrypted_content_info": eci, "mac": tag})
        return cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": auth}).dump()
    block = 8 if cipher == "3des-cbc" else 16
    iv = os.urandom(block)
    padder = sym_padding.PKCS7(block * 8).padder()
    padded = padder.update(data) + padder.finalize()
    algorithm = TripleDES(cek) if cipher == "3des-cbc" else algorithms.AES(cek)
    encryptor = Cipher(algorithm, modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    eci = cms.EncryptedContentInfo({
        "content_type": "data",
        "content_encryption_algorithm": {"algorithm": oid_name, "parameters": iv},
        "encrypted_content": ciphertext,
    })
    enveloped = cms.EnvelopedData({"version": "v0", "recipient_infos": [recipient], "encrypted_content_info": eci})
    return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()


def _unwrap_key(ktri: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey) -> bytes:
    kea = ktri["key_encryption_algorithm"]
    name = kea["algorithm"].native
    encrypted_key = ktri["encrypted_key"].native
    if name == "rsaes_pkcs1v15" or name == "rsa":
        return key.decrypt(encrypted_key, padding.PKCS1v15())
    if name == "rsaes_oaep":
        params = kea["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        label = params["p_source_algorithm"]["parameters"].native or None
        return key.decrypt(encrypted_key, padding.OAEP(mgf=padding.MGF1(_hash(mgf_hash)),
                                                       algorithm=_hash(hash_name), label=label))
    raise DecryptionFailed(f"unsupported key transport {name}")


def _octets(value: core.Asn1Value) -> bytes:
    """An OCTET STRING's value, merged when it came constructed (BER)."""
    native = value.native
    if native is None:
        raise DecryptionFailed("the enveloped data has no encrypted content")
    return native


def decrypt(der: bytes, key: rsa.RSAPrivateKey, cert: x509.Certificate | None = None, *,
            gcm_in_enveloped_data: bool = False) -> bytes:
    """Open EnvelopedData or AuthEnvelopedData addressed to ``key``; raises :class:`DecryptionFailed`."""
    info = _load_content_info(der, "encrypted message")
    ctype = info["content_type"].native
    if ctype not in ("enveloped_data", "authenticated_enveloped_data"):
        raise DecryptionFailed(f"expected enveloped data, found {ctype}")
    body = info["content"]
    eci = body["encrypted_content_info" if ctype == "enveloped_data" else "auth_encrypted_content_info"]
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DecryptionFailed("our private key is not an RSA key")
    ktris = [ri.chosen for ri in body["recipient_infos"] if ri.name == "ktri"]
    if not ktris:
        raise DecryptionFailed("the message has no key-transport recipient (only RSA key transport is supported)")
    if cert is not None:
        ours = _asn1_cert(cert)
        ktris.sort(key=lambda k: not _matches(k["rid"], ours))  # ours first, then the rest
    algorithm = eci["content_encryption_algorithm"]
    alg_name = algorithm["algorithm"].native
    ciphertext = _octets(eci["encrypted_content"])
    problem = "no recipient key could be decrypted with our private key"
    for ktri in ktris:
        try:
            cek = _unwrap_key(ktri, key)
        except DecryptionFailed:
            raise
        except Exception:  # a wrong key: OpenSSL reports a padding error (or returns noise, caught below)
            continue
        try:
            return _decrypt_content(alg_name, algorithm, cek, ciphertext, body, ctype, gcm_in_enveloped_data)
        except DecryptionFailed as exc:
            if exc.text.startswith("unsupported"):
                raise
            problem = exc.text
    raise DecryptionFailed(problem)


def _decrypt_content(alg_name: str, algorithm: algos.EncryptionAlgorithm, cek: bytes, ciphertext: bytes,
                     body: cms.Asn1Value, ctype: str, gcm_in_enveloped_data: bool) -> bytes:
    if alg_name.endswith("_gcm"):
        raw = algorithm["parameters"]
        if ctype == "authenticated_enveloped_data":
            params = GcmParameters.load(raw.dump())
            nonce, tag = params["aes_nonce"].native, body["mac"].native
            if len(tag) != params["aes_icvlen"].native:
                raise DecryptionFailed("the GCM tag length does not match its parameters")
            sealed = ciphertext + tag
        elif gcm_in_enveloped_data:
            nonce = core.OctetString.load(raw.dump()).native
            sealed = ciphertext  # pkijs appends the tag to the ciphertext
        else:
            raise DecryptionFailed("unsupported: AES-GCM inside EnvelopedData (RFC 5084 requires "
                                   "AuthEnvelopedData); the partner tolerance gcm_in_enveloped_data accepts it")
        try:
            return AESGCM(cek).decrypt(nonce, sealed, None)
        except (InvalidTag, ValueError):
            raise DecryptionFailed("the content does not decrypt (wrong key or altered ciphertext)") from None
    if alg_name in ("aes128_cbc", "aes192_cbc", "aes256_cbc"):
        cipher_alg, block = algorithms.AES, 16
    elif alg_name == "tripledes_3key":
        cipher_alg, block = TripleDES, 8
    else:
        raise DecryptionFailed(f"unsupported content encryption {alg_name}")
    iv = algorithm["parameters"].native
    try:
        decryptor = Cipher(cipher_alg(cek), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = sym_padding.PKCS7(block * 8).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailed("the content does not decrypt (wrong key or altered ciphertext)") from None


# --- compression -------------------------------------------------------------

def compress(data: bytes) -> bytes:
    """CompressedData (RFC 3274) holding ``data`` compressed with zlib."""
    compressed = cms.CompressedData({
        "version": "v0",
        "compression_algorithm": {"algorithm": "zlib"},
        "encap_content_info": {"content_type": "data", "content": zlib.compress(data)},
    })
    return cms.ContentInfo({"content_type": "compressed_data", "content": compressed}).dump()


def decompress(der: bytes, max_size: int = 1 << 30) -> bytes:
    """The content of a CompressedData; refuses to inflate beyond ``max_size`` bytes."""
    info = _load_content_info(der, "compressed message")
    if info["content_type"].native != "compressed_data":
        raise DecompressionFailed(f"expected compressed data, found {info['content_type'].native}")
    body = info["content"]
    if body["compression_algorithm"]["algorithm"].native != "zlib":
        raise DecompressionFailed(f"unsupported compression {body['compression_algorithm']['algorithm'].dotted}")
    content = body["encap_content_info"]["content"]
    if content.native is None:
        raise DecompressionFailed("the compressed data has no content")
    packed = content.native if isinstance(content.native, bytes) else content.parsed.native
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(packed, max_size + 1)
    except zlib.error as exc:
        raise DecompressionFailed(f"the content does not inflate: {exc}") from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise DecompressionFailed(f"the content inflates beyond {max_size} bytes")
    if not inflater.eof:
        raise DecompressionFailed("the compressed content is truncated")
    return out
