"""The AS2 partner settings, key loading without leaking secrets, and the MIME and disposition helpers."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from adapters.as2 import As2Partner, Disposition, Mic, load_profile
from adapters.as2 import mime
from adapters.as2.errors import UnsupportedFormat
from adapters.as2.receive import MdnOptions, quote_as2_id, unquote_as2_id
from gateway.errors import ConfigError
from tests.as2peer.pki import identity


@pytest.fixture(scope="module")
def ours():
    return identity("config-ours")


@pytest.fixture(scope="module")
def theirs():
    return identity("config-theirs")


def settings(**overrides):
    base = dict(as2_id="THEM", our_as2_id="US", partner_certificate="their.crt", our_certificate="our.crt",
                our_key="our.key")
    base.update(overrides)
    return base


def test_unknown_settings_are_refused():
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        As2Partner(**settings(encryption="aes"))


def test_inline_pem_is_refused(ours):
    with pytest.raises(ValidationError, match="never the PEM text"):
        As2Partner(**settings(our_key=ours.key_pem))


@pytest.mark.parametrize("bad", [dict(sign="md5"), dict(encrypt="rc2"), dict(as2_id=""), dict(as2_id="x" * 129),
                                 dict(our_key_password="secret"), dict(mdn={"mode": "async"}),
                                 dict(partner_certificate=None), dict(our_key=None)])
def test_invalid_settings(bad):
    with pytest.raises(ValidationError):
        As2Partner(**settings(**bad))


def test_files_and_environment(tmp_path, ours, theirs):
    key_path, cert_path = ours.write(tmp_path)
    _, their_cert = theirs.write(tmp_path)
    config = As2Partner(**settings(our_key=key_path.name, our_certificate="env:OUR_CERT",
                                   partner_certificate=str(their_cert)))
    loaded = load_profile(config, base_dir=tmp_path, environ={"OUR_CERT": ours.cert_pem}, partner="acme")
    assert loaded.partner == "acme" and loaded.can_sign
    assert loaded.our_certificate == ours.cert and loaded.partner_certificate == theirs.cert
    assert loaded.our_key.private_numbers() == ours.key.private_numbers()


def test_secrets_stay_out_of_repr_and_errors(tmp_path, ours, theirs, caplog):
    env = {"OUR_KEY": ours.key_pem, "OUR_CERT": ours.cert_pem, "THEIR_CERT": theirs.cert_pem}
    config = As2Partner(**settings(our_key="env:OUR_KEY", our_certificate="env:OUR_CERT",
                                   partner_certificate="env:THEIR_CERT"))
    loaded = load_profile(config, environ=env)
    secret_line = ours.key_pem.splitlines()[5]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("profile %r %s", loaded, loaded)
    assert secret_line not in repr(loaded) and secret_line not in caplog.text
    assert "env:OUR_KEY" in repr(loaded)
    # a key that does not open: the error names the setting, not the content
    with pytest.raises(ConfigError) as caught:
        load_profile(config, environ={**env, "OUR_KEY": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----"})
    assert "our_key" in str(caught.value) and "c2VjcmV0" not in str(caught.value)


def test_missing_environment_variable_and_file(tmp_path):
    config = As2Partner(**settings(our_key="env:NOPE", our_certificate="missing.crt", partner_certificate="missing.crt"))
    with pytest.raises(ConfigError, match="partner_certificate: cannot read missing.crt"):
        load_profile(config, base_dir=tmp_path, environ={})
    config = As2Partner(**settings(our_key="env:NOPE", our_certificate="env:C", partner_certificate="env:C"))
    with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
        load_profile(config, environ={"C": identity("config-ours").cert_pem})


def test_key_must_match_certificate(ours, theirs):
    env = {"K": ours.key_pem, "C": theirs.cert_pem}
    config = As2Partner(**settings(our_key="env:K", our_certificate="env:C", partner_certificate="env:C"))
    with pytest.raises(ConfigError, match="does not belong to our_certificate"):
        load_profile(config, environ=env)


def test_encrypted_key_with_password_from_environment(ours, theirs):
    encrypted = ours.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pass phrase")).decode()
    env = {"K": encrypted, "C": ours.cert_pem, "T": theirs.cert_pem, "P": "pass phrase"}
    config = As2Partner(**settings(our_key="env:K", our_certificate="env:C", partner_certificate="env:T",
                                   our_key_password="env:P"))
    assert load_profile(config, environ=env).can_sign
    with pytest.raises(ConfigError, match="does not open"):
        load_profile(config, environ={**env, "P": "wrong"})


# --- helpers -----------------------------------------------------------------------

def test_split_multipart_exact_bytes():
    body = (b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n\r\n--b\r\n"
            b"\r\nsecond\r\n--b--\r\nepilogue")
    assert mime.split_multipart(body, "b") == [b"Content-Type: text/plain\r\n\r\nfirst\r\n", b"\r\nsecond"]
    assert mime.split_multipart(b"--b\nx\n--b--\n", "b") == [b"x"]  # bare LF line ends
    assert mime.split_multipart(b"--b\r\nx--bb\r\n--b--", "b") == [b"x--bb"]
    with pytest.raises(UnsupportedFormat):
        mime.split_multipart(b"--b\r\nx\r\n--b\r\n", "b")


def test_disposition_round_trip():
    value = "automatic-action/MDN-sent-automatically; processed/Error: decryption-failed"
    parsed = Disposition.parse(value)
    assert (parsed.type, parsed.kind, parsed.description, parsed.ok) == ("processed", "error", "decryption-failed",
                                                                         False)
    assert Disposition.parse("automatic-action/MDN-sent-automatically; processed").ok
    assert Disposition.parse("automatic-action/MDN-sent-automatically; processed/warning: duplicate-document").ok
    assert not Disposition.parse("automatic-action/MDN-sent-automatically; failed/Failure: unsupported format").ok
    libas2 = Disposition.parse("automatic-action/MDN-sent-automatically; failed/failure=Could not verify signature")
    assert (libas2.type, libas2.kind, libas2.description) == ("failed", "failure", "Could not verify signature")
    assert Disposition(kind="error", description="authentication-failed").field() == (
        "automatic-action/MDN-sent-automatically; processed/error: authentication-failed")


def test_mic_comparison_normalises_the_algorithm():
    mic = Mic.parse("YcAKKeBprR28qchGbC+nbib1iWXAEyRXw5IZszhK7y0=, SHA-256")
    assert mic.matches(Mic("YcAKKeBprR28qchGbC+nbib1iWXAEyRXw5IZszhK7y0=", "sha256"))
    assert not mic.matches(Mic("YcAKKeBprR28qchGbC+nbib1iWXAEyRXw5IZszhK7y0=", "sha-1"))
    assert not mic.matches(None)


def test_mdn_options_parsing():
    options = MdnOptions.from_headers({
        "disposition-notification-to": "mailto:as2@example.com",
        "disposition-notification-options": "signed-receipt-protocol=required, pkcs7-signature; "
                                            "signed-receipt-micalg=optional, sha-512, sha1",
        "receipt-delivery-option": "https://example.com/as2/mdn",
    })
    assert options.signed and options.signed_importance == "required"
    assert options.mic_algorithm() == "sha512" and options.async_url == "https://example.com/as2/mdn"
    assert not MdnOptions.from_headers({}).requested


def test_as2_id_quoting():
    assert quote_as2_id("ACME") == "ACME"
    assert quote_as2_id('Big "Co"') == '"Big \\"Co\\""'
    assert unquote_as2_id(quote_as2_id('Big "Co"')) == 'Big "Co"'
