"""The CMS layer: signatures, envelopes and compression, checked against themselves and against
OpenSSL (through cryptography's PKCS#7 builders, and the openssl command, which `make test` installs)."""

from __future__ import annotations

import subprocess
import zlib

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from adapters.as2 import smime
from adapters.as2.errors import (
    AuthenticationFailed,
    DecompressionFailed,
    DecryptionFailed,
    IntegrityCheckFailed,
    UnsupportedFormat,
)
from tests.as2peer.pki import identity

DATA = b"Content-Type: application/edi-x12\r\n\r\nISA*00*          *00*~\nIEA*1*000000001~\n"


@pytest.fixture(scope="module")
def alice():
    return identity("alice")


@pytest.fixture(scope="module")
def bob():
    return identity("bob")


# --- signatures ------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["sha1", "sha256", "sha384", "sha512"])
def test_sign_and_verify_each_digest(alice, alg):
    signature = smime.sign(DATA, alice.key, alice.cert, alg)
    name, index = smime.verify_detached(DATA, signature, [alice.cert])
    assert (name, index) == (alg, 0)
    signer = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == alg
    assert cms.ContentInfo.load(signature)["content"]["encap_content_info"]["content"].native is None  # detached


def test_ec_key_signs_and_verifies():
    ec_id = identity("ec-signer", "ec")
    signature = smime.sign(DATA, ec_id.key, ec_id.cert, "sha384")
    assert smime.verify_detached(DATA, signature, [ec_id.cert]) == ("sha384", 0)


def test_altered_content_fails_authentication(alice):
    signature = smime.sign(DATA, alice.key, alice.cert)
    with pytest.raises(AuthenticationFailed) as caught:
        smime.verify_detached(DATA.replace(b"000000001", b"000000002"), signature, [alice.cert])
    assert caught.value.modifier == "error: authentication-failed"


def test_signature_by_another_key_fails_authentication(alice, bob):
    signature = smime.sign(DATA, bob.key, bob.cert)
    with pytest.raises(AuthenticationFailed):
        smime.verify_detached(DATA, signature, [alice.cert])  # the certificate inside the signature is not trusted


def test_the_first_verifying_candidate_is_reported(alice):
    signature = smime.sign(DATA[:-2], alice.key, alice.cert)
    assert smime.verify_detached([DATA, DATA[:-2]], signature, [alice.cert]) == ("sha256", 1)


def test_unreadable_signature_is_an_unsupported_format(alice):
    with pytest.raises(UnsupportedFormat):
        smime.verify_detached(DATA, b"\x30\x03\x02\x01", [alice.cert])
    enveloped = smime.encrypt(DATA, alice.cert)
    with pytest.raises(IntegrityCheckFailed):
        smime.verify_detached(DATA, enveloped, [alice.cert])


def test_openssl_signature_verifies(alice):
    """A detached signature made by OpenSSL (cryptography's PKCS7 builder), with S/MIME capabilities."""
    signature = (pkcs7.PKCS7SignatureBuilder().set_data(DATA).add_signer(alice.cert, alice.key, hashes.SHA512())
                 .sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
    assert smime.verify_detached(DATA, signature, [alice.cert]) == ("sha512", 0)
    with pytest.raises(AuthenticationFailed):
        smime.verify_detached(DATA + b"x", signature, [alice.cert])


def test_openssl_pss_signature_verifies(alice):
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    signature = (pkcs7.PKCS7SignatureBuilder().set_data(DATA)
                 .add_signer(alice.cert, alice.key, hashes.SHA256(), rsa_padding=pss)
                 .sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
    signer = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    assert smime.verify_detached(DATA, signature, [alice.cert]) == ("sha256", 0)
    with pytest.raises(AuthenticationFailed):
        smime.verify_detached(DATA[1:], signature, [alice.cert])


def test_our_signature_verifies_with_openssl(alice, tmp_path):
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "sig.der").write_bytes(smime.sign(DATA, alice.key, alice.cert, "sha256"))
    (tmp_path / "ca.pem").write_text(alice.cert_pem)
    command = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
               "-content", str(tmp_path / "data"), "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "any",
               "-out", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (tmp_path / "data").write_bytes(DATA + b"tampered")
    assert subprocess.run(command, capture_output=True).returncode != 0


def test_attached_signature(alice):
    signed = smime.sign(DATA, alice.key, alice.cert, "sha256", encapsulate=True)
    assert smime.verify_attached(signed, [alice.cert]) == (DATA, "sha256")


def test_digest_names():
    assert smime.digest_name("SHA-256") == smime.digest_name("sha256") == "sha256"
    assert smime.micalg_name("SHA1") == "sha-1"
    with pytest.raises(ValueError):
        smime.digest_name("md5")


# --- envelopes -------------------------------------------------------------------

@pytest.mark.parametrize("cipher", sorted(smime.CIPHERS))
@pytest.mark.parametrize("transport", smime.KEY_TRANSPORTS)
def test_encrypt_and_decrypt(alice, cipher, transport):
    der = smime.encrypt(DATA, alice.cert, cipher, key_transport=transport)
    assert smime.decrypt(der, alice.key, alice.cert) == DATA
    assert smime.encryption_algorithm(der) == smime.CIPHERS[cipher][0]
    expected_type = "authenticated_enveloped_data" if cipher.endswith("gcm") else "enveloped_data"
    assert smime.content_type(der) == expected_type


def test_oaep_parameters_name_the_hash(alice):
    der = smime.encrypt(DATA, alice.cert, key_transport="rsa-oaep-sha512")
    kea = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen["key_encryption_algorithm"]
    assert kea["algorithm"].native == "rsaes_oaep"
    assert kea["parameters"]["hash_algorithm"]["algorithm"].native == "sha512"
    assert kea["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha512"


@pytest.mark.parametrize("cipher", ["aes256-cbc", "aes128-gcm"])
def test_wrong_key_fails_decryption(alice, bob, cipher):
    der = smime.encrypt(DATA, alice.cert, cipher, key_transport="rsa-oaep-sha256")
    with pytest.raises(DecryptionFailed) as caught:
        smime.decrypt(der, bob.key, bob.cert)
    assert caught.value.modifier == "error: decryption-failed"


def test_wrong_key_fails_decryption_with_pkcs1v15(alice, bob):
    # OpenSSL's implicit rejection hands back a random key instead of a padding error: still a failure
    der = smime.encrypt(DATA, alice.cert, "aes128-cbc", key_transport="rsa-pkcs1v15")
    with pytest.raises(DecryptionFailed):
        smime.decrypt(der, bob.key)


def test_altered_gcm_ciphertext_fails(alice):
    der = bytearray(smime.encrypt(DATA, alice.cert, "aes256-gcm"))
    info = cms.ContentInfo.load(bytes(der))
    ciphertext = info["content"]["auth_encrypted_content_info"]["encrypted_content"].native
    at = bytes(der).find(ciphertext)
    der[at + 3] ^= 0x01
    with pytest.raises(DecryptionFailed):
        smime.decrypt(bytes(der), alice.key)


def test_gcm_inside_enveloped_data_needs_the_tolerance(alice):
    der = smime.encrypt(DATA, alice.cert, "aes128-gcm", gcm_in_enveloped_data=True)
    assert smime.content_type(der) == "enveloped_data"
    with pytest.raises(DecryptionFailed, match="AuthEnvelopedData"):
        smime.decrypt(der, alice.key)
    assert smime.decrypt(der, alice.key, gcm_in_enveloped_data=True) == DATA


@pytest.mark.parametrize("aes", [algorithms.AES128, algorithms.AES256])
def test_openssl_envelope_decrypts(alice, aes):
    der = (pkcs7.PKCS7EnvelopeBuilder().set_data(DATA).add_recipient(alice.cert)
           .set_content_encryption_algorithm(aes).encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    assert smime.decrypt(der, alice.key, alice.cert) == DATA


@pytest.mark.parametrize("cipher", ["aes128-cbc", "aes256-cbc"])
def test_our_envelope_decrypts_with_openssl(alice, cipher):
    der = smime.encrypt(DATA, alice.cert, cipher)
    assert pkcs7.pkcs7_decrypt_der(der, alice.cert, alice.key, []) == DATA


@pytest.mark.parametrize(("cipher", "transport"), [("3des-cbc", "rsa-pkcs1v15"), ("aes192-cbc", "rsa-oaep-sha256"),
                                                   ("aes256-gcm", "rsa-oaep-sha1")])
def test_our_envelope_decrypts_with_the_openssl_command(alice, tmp_path, cipher, transport):
    (tmp_path / "msg.der").write_bytes(smime.encrypt(DATA, alice.cert, cipher, key_transport=transport))
    (tmp_path / "key.pem").write_text(alice.key_pem)
    (tmp_path / "cert.pem").write_text(alice.cert_pem)
    result = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(tmp_path / "msg.der"),
                             "-inkey", str(tmp_path / "key.pem"), "-recip", str(tmp_path / "cert.pem")],
                            capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == DATA


def test_decrypting_something_else_fails(alice):
    with pytest.raises(DecryptionFailed):
        smime.decrypt(smime.compress(DATA), alice.key)


# --- compression -----------------------------------------------------------------

def test_compress_and_decompress():
    data = DATA * 1000
    der = smime.compress(data)
    assert len(der) < len(data) // 10
    assert smime.content_type(der) == "compressed_data"
    assert smime.decompress(der) == data


def test_decompression_is_capped():
    der = smime.compress(b"\0" * 1_000_000)
    with pytest.raises(DecompressionFailed, match="beyond"):
        smime.decompress(der, max_size=999_999)
    assert len(smime.decompress(der, max_size=1_000_000)) == 1_000_000


def test_corrupt_compressed_content_fails():
    packed = zlib.compress(DATA)
    broken = cms.ContentInfo({"content_type": "compressed_data", "content": cms.CompressedData({
        "version": "v0", "compression_algorithm": {"algorithm": "zlib"},
        "encap_content_info": {"content_type": "data", "content": packed[:-6] + b"garbage"}})}).dump()
    with pytest.raises(DecompressionFailed) as caught:
        smime.decompress(broken)
    assert caught.value.modifier == "error: decompression-failed"
    truncated = cms.ContentInfo({"content_type": "compressed_data", "content": cms.CompressedData({
        "version": "v0", "compression_algorithm": {"algorithm": "zlib"},
        "encap_content_info": {"content_type": "data", "content": packed[: len(packed) // 2]}})}).dump()
    with pytest.raises(DecompressionFailed):
        smime.decompress(truncated)
