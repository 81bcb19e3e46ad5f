"""The hosted SFTP server against the OpenSSH ``sftp`` client (batch mode) over loopback."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import paramiko
import pytest

from adapters.sftp.config import HostedAccount, SftpServerConfig
from adapters.sftp.hosted import Account, HostedSftpServer
from adapters.sftp.keys import hash_password
from adapters.sftp.outbound import HostedOutbox
from gateway.errors import TerminalError, TransientError
from tests.sshd import free_port, keygen, sftp_batch

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)  # once: scrypt takes a tenth of a second on purpose


class Recorder:
    """A deliver that keeps what it was given (and can be told to fail)."""

    def __init__(self) -> None:
        self.docs: list[tuple[bytes, object]] = []
        self.fail: Exception | None = None
        self.lock = threading.Lock()

    def __call__(self, doc) -> None:
        data = doc.source.read()
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.docs.append((data, doc))

    @property
    def payloads(self) -> list[bytes]:
        return [data for data, _ in self.docs]


class Hosted:
    def __init__(self, tmp: Path, port: int = 0, **server) -> None:
        self.tmp = tmp
        self.key = keygen(tmp / "partner_key") if not (tmp / "partner_key").exists() else tmp / "partner_key"
        self.config = SftpServerConfig(port=port, homes=tmp / "homes", host_key=tmp / "hostkey" / "key", **server)
        account = HostedAccount(authorized_keys=[Path(f"{self.key}.pub").read_text()],
                                password_hashes=[PASSWORD_HASH])
        self.server = HostedSftpServer(self.config, [Account.of("acme", account)])
        self.deliver = Recorder()
        self.home = tmp / "homes" / "acme"

    def start(self) -> Hosted:
        self.server.start(self.deliver)
        return self

    def sftp(self, commands: str, **kw):
        kw.setdefault("key", self.key)
        return sftp_batch(self.server.port, "acme", commands, workdir=self.tmp, **kw)

    def staged(self) -> list[str]:
        return sorted(p.name for p in (self.home / ".incoming").iterdir())


@pytest.fixture
def hosted(tmp_path):
    server = Hosted(tmp_path).start()
    yield server
    server.server.stop()


def test_an_upload_is_delivered_with_its_bytes_when_the_client_closes_it(hosted, tmp_path):
    data = os.urandom(700_000)  # many SFTP write requests
    (tmp_path / "orders.edi").write_bytes(data)
    result = hosted.sftp("cd inbox\nput orders.edi\nls -l\n")
    assert result.returncode == 0, result.stderr
    assert hosted.deliver.payloads == [data]
    doc = hosted.deliver.docs[0][1]
    assert (doc.transport, doc.partner_id) == ("sftp", "acme")
    assert "orders.edi" not in result.stdout.split("ls -l", 1)[1]  # taken in: gone from the inbox
    assert hosted.staged() == [] and list((hosted.home / "inbox").iterdir()) == []


def test_an_upload_cut_off_before_its_close_is_never_delivered(hosted, tmp_path):
    (tmp_path / "big.edi").write_bytes(os.urandom(4_000_000))
    client = hosted.sftp("put big.edi inbox/big.edi\n", popen=True, limit_kbit=4000)  # ~8 s at this rate
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until bytes are arriving
            staged = list((hosted.home / ".incoming").iterdir())
            if staged and staged[0].stat().st_size > 0:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the upload never started")
        client.send_signal(signal.SIGKILL)
    finally:
        client.wait(5)
        client.stdout.close()
        client.stderr.close()
    deadline = time.monotonic() + 5
    while hosted.staged() and time.monotonic() < deadline:  # the server notices the dropped connection
        time.sleep(0.02)
    assert hosted.staged() == []
    assert hosted.deliver.docs == []
    listing = hosted.sftp("ls -la inbox\n")
    assert listing.returncode == 0 and "big.edi" not in listing.stdout


@pytest.mark.parametrize("command", [
    "cd ..",  # at the root already
    "cd inbox\ncd ../..",
    "cd /etc",
    "get /etc/hostname",
    "get ../../etc/hostname",
    "ls /etc",
    "put doc.edi ../doc.edi",
    "put doc.edi /doc.edi",
    "put doc.edi outbox/doc.edi",  # the outbox is the gateway's to write
    "get inbox/anything",  # the inbox is for sending only
    "mkdir inbox/sub",
    "put doc.edi inbox/sub/doc.edi",
    "symlink /etc/passwd inbox/link",
    "rename outbox/x.edi outbox/y.edi",
])
def test_paths_and_operations_outside_the_home_s_rules_are_refused(hosted, tmp_path, command):
    (tmp_path / "doc.edi").write_bytes(b"x")
    result = hosted.sftp(command + "\n")
    assert result.returncode != 0, result.stdout
    assert hosted.deliver.docs == []
    assert sorted(p.name for p in hosted.home.iterdir()) == [".incoming", ".outgoing", "inbox", "outbox"]
    assert not (tmp_path / "homes" / "doc.edi").exists() and not (tmp_path / "doc.edi.1").exists()


def test_a_symlink_in_the_outbox_is_neither_listed_nor_followed(hosted, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for partners")
    (hosted.home / "outbox" / "link.edi").symlink_to(secret)
    listing = hosted.sftp("ls -1 outbox\n")
    assert listing.returncode == 0 and "link.edi" not in listing.stdout
    got = hosted.sftp("get outbox/link.edi fetched.edi\n")
    assert got.returncode != 0
    assert not (tmp_path / "fetched.edi").exists()


def test_the_partner_lists_downloads_and_deletes_what_the_gateway_placed_in_the_outbox(hosted, tmp_path):
    outbox = hosted.server.outbox("acme")
    assert isinstance(outbox, HostedOutbox)
    outbox.send(b"UNA:+.? 'UNB+UNOC:3+GATEWAY+ACME'", {"filename": "ack-1.edi"})
    outbox.send(b"ISA*00*second", {"filename": "ack-2.x12"})
    result = hosted.sftp("cd outbox\nls -1\nget ack-1.edi\nrm ack-1.edi\nls -1\n")
    assert result.returncode == 0, result.stderr
    first_ls, second_ls = result.stdout.split("rm ack-1.edi")
    assert "ack-1.edi" in first_ls and "ack-2.x12" in first_ls
    assert "ack-1.edi" not in second_ls.split("ls -1", 1)[1]
    assert (tmp_path / "ack-1.edi").read_bytes() == b"UNA:+.? 'UNB+UNOC:3+GATEWAY+ACME'"
    assert sorted(p.name for p in (hosted.home / "outbox").iterdir()) == ["ack-2.x12"]


def test_a_delivery_that_fails_transiently_fails_the_close_and_keeps_nothing(hosted, tmp_path):
    (tmp_path / "doc.edi").write_bytes(b"UNA:+.? '")
    hosted.deliver.fail = TransientError("broker down")
    result = hosted.sftp("put doc.edi inbox/doc.edi\n")
    assert result.returncode != 0
    assert "close" in result.stderr.lower()  # the client was told the upload did not go through
    assert hosted.deliver.docs == [] and hosted.staged() == []
    hosted.deliver.fail = None  # the partner sends it again
    again = hosted.sftp("put doc.edi inbox/doc.edi\n")
    assert again.returncode == 0, again.stderr
    assert hosted.deliver.payloads == [b"UNA:+.? '"]


def test_a_refused_document_fails_the_close(hosted, tmp_path):
    (tmp_path / "doc.edi").write_bytes(b"junk")
    hosted.deliver.fail = TerminalError("the document is larger than 3 bytes")
    result = hosted.sftp("put doc.edi inbox/doc.edi\n")
    assert result.returncode != 0 and hosted.staged() == []


def test_an_upload_over_the_size_limit_is_refused(tmp_path):
    server = Hosted(tmp_path, max_upload_bytes=100_000).start()
    try:
        (tmp_path / "big.edi").write_bytes(os.urandom(200_000))
        result = server.sftp("put big.edi inbox/big.edi\n")
        assert result.returncode != 0
        assert server.deliver.docs == [] and server.staged() == []
    finally:
        server.server.stop()


def test_upload_under_a_temporary_name_then_rename_is_taken_in_at_the_rename(hosted, tmp_path):
    (tmp_path / "doc.edi").write_bytes(b"renamed in")
    result = hosted.sftp("put doc.edi inbox/doc.edi.filepart\nls -1 inbox\nrename inbox/doc.edi.filepart inbox/doc.edi\n")
    assert result.returncode == 0, result.stderr
    assert "doc.edi.filepart" in result.stdout  # kept (and listed) until the rename
    assert hosted.deliver.payloads == [b"renamed in"]
    assert hosted.staged() == []


def test_a_temporary_upload_never_renamed_is_dropped_at_the_end_of_the_session(hosted, tmp_path):
    (tmp_path / "doc.edi").write_bytes(b"never renamed")
    result = hosted.sftp("put doc.edi inbox/.doc.edi\n")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while hosted.staged() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hosted.deliver.docs == [] and hosted.staged() == []


def test_password_login_checks_the_configured_hash(hosted, tmp_path):
    askpass = tmp_path / "askpass"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$TEST_PASSWORD"\n')
    askpass.chmod(0o700)
    (tmp_path / "doc.edi").write_bytes(b"by password")
    options = ["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]

    def login(password: str):
        env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0",
               "TEST_PASSWORD": password}
        return hosted.sftp("put doc.edi inbox/doc.edi\n", key=None, extra=options, env=env)

    wrong = login("Tr0ub4dor&3")
    assert wrong.returncode != 0 and "Permission denied" in wrong.stderr
    assert hosted.deliver.docs == []
    right = login(PASSWORD)
    assert right.returncode == 0, right.stderr
    assert hosted.deliver.payloads == [b"by password"]


def test_a_key_that_is_not_the_partner_s_is_refused(hosted, tmp_path):
    stranger = keygen(tmp_path / "stranger_key")
    (tmp_path / "doc.edi").write_bytes(b"x")
    result = hosted.sftp("put doc.edi inbox/doc.edi\n", key=stranger)
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert hosted.deliver.docs == []
    wrong_user = sftp_batch(hosted.server.port, "nobody", "ls\n", workdir=tmp_path, key=hosted.key)
    assert wrong_user.returncode != 0 and "Permission denied" in wrong_user.stderr


def test_the_host_key_is_generated_once_and_kept_across_restarts(tmp_path):
    port = free_port()
    first = Hosted(tmp_path, port=port).start()
    try:
        assert first.sftp("ls\n").returncode == 0  # accept-new: the client records the key
    finally:
        first.server.stop()
    key_file = tmp_path / "hostkey" / "key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    before = key_file.read_bytes()
    second = Hosted(tmp_path, port=port).start()
    try:
        again = second.sftp("ls\n", strict="yes")  # only the recorded key is accepted
        assert again.returncode == 0, again.stderr
        assert key_file.read_bytes() == before
    finally:
        second.server.stop()
    # the check above is a real one: a server with another key on that port is refused
    other = Hosted(tmp_path, port=port)
    other.config = other.config.model_copy(update={"host_key": tmp_path / "other" / "key"})
    other.server = HostedSftpServer(other.config, list(other.server.accounts.values()))
    other.start()
    try:
        refused = other.sftp("ls\n", strict="yes")
        assert refused.returncode != 0 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    finally:
        other.server.stop()


def test_a_paramiko_client_can_check_its_upload_by_stat_after_the_close(hosted, tmp_path):
    transport = paramiko.Transport(("127.0.0.1", hosted.server.port))
    try:
        transport.connect(username="acme", pkey=paramiko.PKey.from_path(hosted.key))
        assert transport.get_remote_server_key().fingerprint == hosted.server.host_key.fingerprint
        sftp = paramiko.SFTPClient.from_transport(transport)
        (tmp_path / "doc.edi").write_bytes(b"0123456789")
        attrs = sftp.put(str(tmp_path / "doc.edi"), "inbox/doc.edi", confirm=True)  # stats after the close
        assert attrs.st_size == 10
        assert sftp.listdir("inbox") == []
    finally:
        transport.close()
    assert hosted.deliver.payloads == [b"0123456789"]


def test_stop_waits_for_an_upload_being_taken_in(hosted, tmp_path):
    entered, release = threading.Event(), threading.Event()
    delivered = []

    def slow(doc):
        entered.set()
        release.wait(5)
        delivered.append(doc.source.read())

    hosted.server._deliver = slow
    (tmp_path / "doc.edi").write_bytes(b"in flight")
    client = hosted.sftp("put doc.edi inbox/doc.edi\n", popen=True)
    assert entered.wait(10)
    stopper = threading.Thread(target=hosted.server.stop)
    stopper.start()
    time.sleep(0.2)
    assert stopper.is_alive()  # still waiting for the delivery
    release.set()
    stopper.join(5)
    assert not stopper.is_alive()
    assert client.wait(5) == 0  # the close was answered OK before the connection was closed
    client.stdout.close()
    client.stderr.close()
    assert delivered == [b"in flight"]
