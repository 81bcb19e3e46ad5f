"""Sending by SFTP: to a real sshd (temporary name, then rename) and into a hosted outbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.sftp.config import PushConfig
from adapters.sftp.hosted import prepare_home
from adapters.sftp.outbound import HostedOutbox, SftpSender, file_name
from gateway.errors import TerminalError, TransientError
from tests.sshd import FolderEvents, Sshd, keygen


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.close()


def push(sshd: Sshd, folder: Path, **overrides) -> PushConfig:
    values = dict(host="127.0.0.1", port=sshd.port, username=sshd.user, private_key=sshd.client_key,
                  host_key=sshd.host_key_line, folder=str(folder), connect_timeout=5)
    values.update(overrides)
    return PushConfig(**values)


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def test_the_partner_sees_the_file_only_complete_under_its_final_name(sshd, folder):
    data = os.urandom(3 * 1024 * 1024)  # ~100 SFTP writes
    events = FolderEvents(folder)
    try:
        SftpSender(push(sshd, folder)).send(data, {"filename": "ORDRSP_0001.edi"})
        seen = events.read()
    finally:
        events.close()
    assert sorted(p.name for p in folder.iterdir()) == ["ORDRSP_0001.edi"]
    assert (folder / "ORDRSP_0001.edi").read_bytes() == data
    temp = ".ORDRSP_0001.edi.part"
    final_events = [e for e, name in seen if name == "ORDRSP_0001.edi"]
    assert final_events == ["moved_to"]  # appeared at once, by a rename, and was never written to
    assert ("create", temp) in seen and ("modify", temp) in seen and ("moved_from", temp) in seen
    assert seen.index(("close_write", temp)) < seen.index(("moved_to", "ORDRSP_0001.edi"))


def test_without_a_route_file_name_the_name_comes_from_the_content(sshd, folder):
    sender = SftpSender(push(sshd, folder))
    sender.send(b"UNA:+.? 'UNB+CONTRL'", None)
    sender.send(b"<?xml version='1.0'?><Invoice/>", object())
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([file_name(b"UNA:+.? 'UNB+CONTRL'", None), file_name(b"<?xml version='1.0'?><Invoice/>",
                                                                               None)])
    assert names[0].startswith("edigw-") and {Path(n).suffix for n in names} == {".edi", ".xml"}


def test_sending_the_same_document_again_is_harmless_a_different_one_under_its_name_is_refused(sshd, folder):
    sender = SftpSender(push(sshd, folder))
    sender.send(b"first", {"filename": "a.edi"})
    sender.send(b"first", {"filename": "a.edi"})  # a retry after a crash: already there
    with pytest.raises(TerminalError, match="different file"):
        sender.send(b"other", {"filename": "a.edi"})
    assert (folder / "a.edi").read_bytes() == b"first"
    assert sorted(p.name for p in folder.iterdir()) == ["a.edi"]  # no temporary file left behind
    SftpSender(push(sshd, folder, overwrite=True)).send(b"other", {"filename": "a.edi"})
    assert (folder / "a.edi").read_bytes() == b"other"


def test_a_folder_that_does_not_exist_is_terminal(sshd, tmp_path):
    with pytest.raises(TerminalError, match="no such file"):
        SftpSender(push(sshd, tmp_path / "nowhere")).send(b"x", {"filename": "a.edi"})


def test_permission_denied_is_terminal(tmp_path, folder):
    read_only = Sshd(tmp_path / "ro", sftp_flags="-R")
    read_only.start()
    try:
        with pytest.raises(TerminalError, match="permission denied"):
            SftpSender(push(read_only, folder)).send(b"x", {"filename": "a.edi"})
    finally:
        read_only.close()
    assert list(folder.iterdir()) == []


def test_an_unreachable_server_is_transient(tmp_path, folder):
    server = Sshd(tmp_path / "down")  # configured, never started: nothing listens on its port
    with pytest.raises(TransientError, match="unreachable"):
        SftpSender(push(server, folder)).send(b"x", {"filename": "a.edi"})
    server.start()
    server.stop()  # and once more after it ran and stopped
    with pytest.raises(TransientError):
        SftpSender(push(server, folder)).send(b"x", {"filename": "a.edi"})


def test_a_host_key_that_is_not_pinned_is_terminal_and_nothing_is_sent(sshd, folder, tmp_path):
    other = keygen(tmp_path / "other")
    with pytest.raises(TerminalError, match="not pinned"):
        SftpSender(push(sshd, folder, host_key=Path(f"{other}.pub").read_text())).send(b"x", {"filename": "a.edi"})
    assert list(folder.iterdir()) == []


def test_a_refused_login_is_terminal(sshd, folder, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(TerminalError, match="refused the login"):
        SftpSender(push(sshd, folder, private_key=stranger)).send(b"x", {"filename": "a.edi"})


def test_the_private_key_can_come_from_the_environment(sshd, folder, monkeypatch):
    monkeypatch.setenv("TEST_SFTP_KEY", Path(sshd.client_key).read_text())
    SftpSender(push(sshd, folder, private_key=None, private_key_env="TEST_SFTP_KEY")).send(b"env", {"filename": "e.edi"})
    assert (folder / "e.edi").read_bytes() == b"env"


def test_a_route_file_name_that_leaves_the_folder_is_refused(sshd, folder):
    for bad in ("../escape.edi", "/etc/x", ".hidden", ""):
        with pytest.raises(TerminalError):
            SftpSender(push(sshd, folder)).send(b"x", {"filename": bad})
    assert list(folder.iterdir()) == []


# -- the hosted outbox -------------------------------------------------------------------------

def test_a_document_appears_in_the_hosted_outbox_complete_and_at_once(tmp_path):
    home = tmp_path / "acme"
    prepare_home(home)
    data = os.urandom(2 * 1024 * 1024)
    events = FolderEvents(home / "outbox")
    try:
        HostedOutbox(home).send(data, {"filename": "INVOIC_7.edi"})
        seen = events.read()
    finally:
        events.close()
    assert (home / "outbox" / "INVOIC_7.edi").read_bytes() == data
    assert seen == [("create", "INVOIC_7.edi")]  # a hard link of the finished file: no writes in the outbox
    assert list((home / ".outgoing").iterdir()) == []


def test_the_hosted_outbox_keeps_a_file_not_collected_yet(tmp_path):
    home = tmp_path / "acme"
    prepare_home(home)
    outbox = HostedOutbox(home)
    outbox.send(b"one", {"filename": "a.edi"})
    outbox.send(b"one", {"filename": "a.edi"})
    with pytest.raises(TerminalError, match="different"):
        outbox.send(b"two", {"filename": "a.edi"})
    assert (home / "outbox" / "a.edi").read_bytes() == b"one"
    assert list((home / ".outgoing").iterdir()) == []


def test_a_missing_hosted_outbox_is_terminal(tmp_path):
    with pytest.raises(TerminalError, match="missing"):
        HostedOutbox(tmp_path / "nobody").send(b"x", None)
