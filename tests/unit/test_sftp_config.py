"""SFTP channel configuration and credentials: hashes only, pinned keys, no secrets in repr."""

from __future__ import annotations

import base64
import hashlib

import pytest
from pydantic import ValidationError

from adapters.sftp import keys
from adapters.sftp.config import HostedAccount, PollConfig, PushConfig, SftpPartner, SftpServerConfig
from adapters.sftp.hosted import _parts, _Refused
from adapters.sftp.keys import (HostKeyPin, hash_password, load_or_create_host_key, parse_password_hash,
                                verify_password)
from adapters.sftp.outbound import file_name
from gateway.errors import TerminalError
from gateway.yamlconf import loads, pydantic_errors

KEY_LINE = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7+Y0cJhpK6UB0kvbRsb7Ibwt/sxQGBtfkdAJvvE4Wq partner@example")
FINGERPRINT = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(KEY_LINE.split()[1])).digest()
                                           ).decode().rstrip("=")


def remote(**overrides) -> dict:
    values = dict(host="sftp.example", username="edigw", private_key="/keys/partner", host_key=FINGERPRINT)
    values.update(overrides)
    return values


# -- password hashes ----------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2-sha256", "pbkdf2-sha512"])
def test_a_password_hash_verifies_its_password_only(scheme, monkeypatch):
    monkeypatch.setattr(keys, "PBKDF2_ITERATIONS", dict.fromkeys(keys.PBKDF2_ITERATIONS, 100_000))  # the minimum
    encoded = hash_password("s3cret-Pa55", scheme=scheme)
    assert encoded.startswith(f"${scheme}$")
    assert verify_password("s3cret-Pa55", encoded)
    assert not verify_password("s3cret-pa55", encoded)
    assert hash_password("s3cret-Pa55", scheme=scheme) != encoded  # salted


def test_a_known_pbkdf2_vector_verifies():
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"password", salt, 100_000, 32)
    encoded = f"$pbkdf2-sha256$i=100000${base64.b64encode(salt).decode().rstrip('=')}$" \
              f"{base64.b64encode(digest).decode().rstrip('=')}"
    assert verify_password("password", encoded) and not verify_password("Password", encoded)


@pytest.mark.parametrize("bad", [
    "hunter2",  # a password in clear
    "sha256:" + "0" * 64,
    "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # too weak
    "$pbkdf2-sha256$i=1000$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # too weak
    "$scrypt$ln=15,r=8$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # a parameter missing
    "$scrypt$ln=15,r=8,p=1$AAAA$" + "A" * 43,  # salt too short
])
def test_malformed_or_weak_hashes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_password_hash(bad)


# -- accounts ----------------------------------------------------------------------------------------

def test_an_account_takes_keys_and_hashes_and_never_shows_the_hashes():
    encoded = hash_password("pw")
    account = HostedAccount(authorized_keys=[KEY_LINE], password_hashes=[encoded])
    assert encoded not in repr(account) and encoded not in str(account)


@pytest.mark.parametrize("fields, message", [
    ({}, "authorized_keys or password_hashes"),
    ({"password_hashes": ["hunter2"]}, "never in clear"),
    ({"authorized_keys": ["ssh-ed25519 notbase64!"]}, "does not decode"),
    ({"authorized_keys": ["from=\"10.0.0.1\" " + KEY_LINE]}, "not an OpenSSH public key line"),
    ({"authorized_keys": [KEY_LINE], "username": "../etc"}, "user name"),
    ({"authorized_keys": [KEY_LINE], "home": "/"}, "Extra inputs"),
])
def test_bad_accounts_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        HostedAccount(**fields)


def test_errors_in_a_partner_file_name_the_line():
    located = loads("account:\n  authorized_keys: [x]\n  password_hashes: [plain]\n", "acme.yaml")
    with pytest.raises(ValidationError) as info:
        SftpPartner.model_validate(located.data)
    lines = pydantic_errors(located, info.value)
    assert any(line.startswith("acme.yaml:2: account.authorized_keys") for line in lines), lines
    assert any(line.startswith("acme.yaml:3: account.password_hashes") for line in lines), lines


# -- partners' servers ----------------------------------------------------------------------------------

def test_a_host_key_is_pinned_by_known_hosts_line_or_fingerprint():
    by_line = HostKeyPin.parse(f"[sftp.example]:2222 {KEY_LINE}")
    hashed = HostKeyPin.parse(f"|1|c2FsdA==|aGFzaA== {' '.join(KEY_LINE.split()[:2])}")
    by_print = HostKeyPin.parse(FINGERPRINT)
    assert by_line.fingerprint == hashed.fingerprint == by_print.fingerprint == FINGERPRINT
    assert by_line.algorithms == ("ssh-ed25519",) and by_print.algorithms == ()
    for bad in ("SHA256:short", "MD5:aa:bb", "sftp.example", f"@cert-authority * {KEY_LINE}"):
        with pytest.raises(ValueError):
            HostKeyPin.parse(bad)


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_a_pinned_key_of_each_type_restricts_what_the_client_negotiates(tmp_path, kind):
    import socket
    import subprocess

    import paramiko

    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(tmp_path / "k")], check=True)
    line = (tmp_path / "k.pub").read_text()
    pin = HostKeyPin.parse(f"[h]:22 {line}")
    assert pin.fingerprint == paramiko.PKey.from_path(tmp_path / "k").fingerprint
    with socket.socket() as sock:
        transport = paramiko.Transport(sock)
        transport.get_security_options().key_types = pin.algorithms  # every one is known to paramiko
        assert transport.get_security_options().key_types == pin.algorithms
        transport.close()


def test_remote_server_settings_need_a_pin_and_a_way_to_log_in():
    assert PollConfig(**remote()).host_key == [FINGERPRINT]  # one pin or a list
    with pytest.raises(ValidationError, match="host_key"):
        PollConfig(**remote(host_key=[]))
    with pytest.raises(ValidationError, match="how to log in"):
        PollConfig(**remote(private_key=None))
    with pytest.raises(ValidationError, match="give one of them"):
        PollConfig(**remote(private_key_env="KEY"))
    with pytest.raises(ValidationError, match="environment variable"):
        PushConfig(**remote(private_key=None, password_env="pa ss word!"))
    assert PushConfig(**remote(private_key=None, password_env="PARTNER_PASSWORD")).password_env == "PARTNER_PASSWORD"


def test_poll_defaults_and_push_temp_names():
    poll = PollConfig(**remote(inbox="/out"))
    assert poll.processed_folder == "/out/processed" and poll.after == "move"
    assert PollConfig(**remote()).processed_folder == "processed"
    with pytest.raises(ValidationError, match="partial file"):
        PushConfig(**remote(temp_prefix="", temp_suffix=""))
    with pytest.raises(ValidationError, match="Extra inputs"):
        PollConfig(**remote(password="hunter2"))


def test_how_a_partner_is_sent_to():
    account = {"authorized_keys": [KEY_LINE]}
    assert SftpPartner().sends_by is None
    assert SftpPartner(account=account).sends_by == "outbox"
    assert SftpPartner(account=account, push=remote()).sends_by == "push"
    assert SftpPartner(account=account, push=remote(), send="outbox").sends_by == "outbox"
    with pytest.raises(ValidationError, match="needs a push section"):
        SftpPartner(account=account, send="push")
    with pytest.raises(ValidationError, match="needs an account"):
        SftpPartner(push=remote(), send="outbox")


def test_server_config_is_strict():
    assert SftpServerConfig().port == 2222
    with pytest.raises(ValidationError):
        SftpServerConfig(prot=22)


# -- the hosted server's host key --------------------------------------------------------------------------

@pytest.mark.parametrize("kind, name", [("ed25519", "ssh-ed25519"), ("rsa", "ssh-rsa")])
def test_the_host_key_is_created_once_private_and_reused(tmp_path, kind, name):
    path = tmp_path / "keys" / "host_key"
    key, created = load_or_create_host_key(path, kind)
    again, created_again = load_or_create_host_key(path, kind)
    assert (created, created_again) == (True, False)
    assert key.get_name() == name and again.fingerprint == key.fingerprint
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.with_name("host_key.pub").read_text().split()[:2] == [name, key.get_base64()]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left


# -- paths inside the hosted home ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, parts", [
    ("/", ()), ("", ()), (".", ()), ("inbox", ("inbox",)), ("/inbox/./a.edi", ("inbox", "a.edi")),
    ("inbox/../outbox//b.edi", ("outbox", "b.edi")), ("/etc/passwd", ("etc", "passwd")),
])
def test_virtual_paths_resolve_under_the_root(path, parts):
    assert _parts(path) == parts


@pytest.mark.parametrize("path", ["..", "/..", "inbox/../..", "/inbox/../../etc", "a\0b"])
def test_virtual_paths_above_the_root_are_refused(path):
    with pytest.raises(_Refused):
        _parts(path)


def test_outbound_file_names():
    assert file_name(b"x", {"filename": "ORDRSP_1.edi"}) == "ORDRSP_1.edi"
    assert file_name(b"x", type("Route", (), {"filename": "a.x12"})()) == "a.x12"
    assert file_name(b"  <Invoice/>", None).endswith(".xml")
    assert file_name(b"UNA", None) == f"edigw-{hashlib.sha256(b'UNA').hexdigest()[:16]}.edi"
    for bad in ("../x", "a/b", ".hidden", "", "x" * 256):
        with pytest.raises(TerminalError):
            file_name(b"x", {"filename": bad})


def test_hosted_accounts_need_usable_distinct_user_names():
    from adapters.sftp.hosted import Account, HostedSftpServer
    from gateway.errors import ConfigError

    keys_only = HostedAccount(authorized_keys=[KEY_LINE])
    with pytest.raises(ConfigError, match="cannot be an SFTP user name"):
        Account.of("../evil", keys_only)
    assert Account.of("acme", keys_only).username == "acme"
    assert Account.of("acme", HostedAccount(authorized_keys=[KEY_LINE], username="acme-edi")).username == "acme-edi"
    with pytest.raises(ConfigError, match="used by partners 'a' and 'b'"):
        HostedSftpServer(SftpServerConfig(), [Account.of("a", keys_only.model_copy(update={"username": "x"})),
                                              Account.of("b", keys_only.model_copy(update={"username": "x"}))])


def test_a_generated_key_is_readable_by_openssh(tmp_path):
    import subprocess

    from adapters.sftp.keys import load_or_create_key, public_line

    key, _ = load_or_create_key(tmp_path / "demo_key")
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / "demo_key")], capture_output=True, text=True,
                             check=True).stdout.split()[:2]
    assert derived == public_line(key).split()
