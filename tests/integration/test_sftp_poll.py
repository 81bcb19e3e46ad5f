"""Polling a real OpenSSH server (sshd on loopback): stable files only, moved once, never taken in twice."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import paramiko
import pytest

from adapters.sftp.client import HostKeyMismatch
from adapters.sftp.config import PollConfig
from adapters.sftp.poll import SftpPoller
from gateway.archive import LocalArchive
from gateway.errors import TerminalError, TransientError
from gateway.state.sqlite import SqliteStore
from tests.sshd import Sshd, keygen


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.docs = []
        self.fail: Exception | None = None

    def __call__(self, doc) -> None:
        data = doc.source.read()
        if self.fail is not None:
            raise self.fail
        self.docs.append((data, doc))

    @property
    def payloads(self) -> list[bytes]:
        return [data for data, _ in self.docs]


def config(sshd: Sshd, inbox: Path, **overrides) -> PollConfig:
    values = dict(host="127.0.0.1", port=sshd.port, username=sshd.user, private_key=sshd.client_key,
                  host_key=sshd.host_key_line, inbox=str(inbox), interval=0.05, min_age=2.0, connect_timeout=5)
    values.update(overrides)
    return PollConfig(**values)


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "outgoing"
    folder.mkdir()
    return folder


def test_a_file_still_growing_is_not_taken_a_stable_one_is_then_moved(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    poller = SftpPoller(config(sshd, inbox), partner_id="acme", clock=clock)
    try:
        doc = inbox / "orders.edi"
        doc.write_bytes(b"UNA:+.? 'UNB+")
        assert poller.poll_once(deliver) == 0  # first sight
        with doc.open("ab") as growing:
            growing.write(b"UNOC:3+SENDER")
        clock.now += 10
        assert poller.poll_once(deliver) == 0  # it grew since: seen anew
        clock.now += 1.5
        assert poller.poll_once(deliver) == 0  # unchanged, but for less than min_age
        clock.now += 1
        assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert deliver.payloads == [b"UNA:+.? 'UNB+UNOC:3+SENDER"]
    got = deliver.docs[0][1]
    assert (got.transport, got.partner_id) == ("sftp", "acme")
    st = (inbox / "processed" / "orders.edi").stat()
    assert got.idempotency_key.startswith(f"sftp:{sshd.user}@127.0.0.1:{sshd.port}:{inbox}/orders.edi:{st.st_size}:"
                                          f"{int(st.st_mtime)}:")
    assert got.raw_ref.startswith("sha256:") and got.idempotency_key.endswith(got.raw_ref.split(":")[1])
    assert sorted(p.name for p in inbox.iterdir()) == ["processed"]


def test_with_a_done_marker_only_marked_files_are_taken_and_the_marker_goes_too(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    poller = SftpPoller(config(sshd, inbox, done_suffix=".done", min_age=3600), partner_id="acme", clock=clock)
    try:
        (inbox / "a.edi").write_bytes(b"first")
        (inbox / "b.edi").write_bytes(b"second")
        for _ in range(3):
            clock.now += 7200
            assert poller.poll_once(deliver) == 0  # stable for hours, but not marked done
        (inbox / "b.edi.done").write_bytes(b"")
        assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert deliver.payloads == [b"second"]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.edi", "processed"]
    assert [p.name for p in (inbox / "processed").iterdir()] == ["b.edi"]


def test_after_delete_the_file_is_removed_and_dot_files_and_other_names_are_left(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    poller = SftpPoller(config(sshd, inbox, after="delete", pattern="*.edi", min_age=0), partner_id="acme",
                        clock=clock)
    try:
        (inbox / "x.edi").write_bytes(b"x")
        (inbox / ".y.edi.part").write_bytes(b"being uploaded")
        (inbox / "notes.txt").write_bytes(b"not ours")
        poller.poll_once(deliver)
        assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert deliver.payloads == [b"x"]
    assert sorted(p.name for p in inbox.iterdir()) == [".y.edi.part", "notes.txt"]


def test_a_name_already_in_processed_is_not_overwritten(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    poller = SftpPoller(config(sshd, inbox, min_age=0), partner_id="acme", clock=clock)
    try:
        for content in (b"monday", b"tuesday"):
            (inbox / "daily.edi").write_bytes(content)
            poller.poll_once(deliver)
            assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert sorted(p.read_bytes() for p in (inbox / "processed").iterdir()) == [b"monday", b"tuesday"]


def test_a_restart_after_intake_but_before_the_move_does_not_take_the_file_in_twice(sshd, inbox, tmp_path):
    from gateway.inbound.intake import Intake

    stub = type("Pipeline", (), {})()  # take() needs no pipeline; Intake only hooks a stage into it
    stub.identify_partner, stub.stages = object(), []
    stub.stages.append(stub.identify_partner)
    store = SqliteStore(tmp_path / "state.db")
    intake = Intake(LocalArchive(tmp_path / "archive"), store, stub)
    receipts = []

    def deliver(doc):
        receipts.append(intake.take(doc.source, channel=doc.transport, partner_id=doc.partner_id,
                                    idempotency_key=doc.idempotency_key))

    (inbox / "orders.edi").write_bytes(b"UNA:+.? 'once only")
    try:
        # the first run takes it in, then cannot move it (as if it crashed just before)
        first = SftpPoller(config(sshd, inbox, min_age=0, processed=str(tmp_path / "missing" / "processed")),
                           partner_id="acme", clock=Clock())
        first.poll_once(deliver)
        assert first.poll_once(deliver) == 1
        first.stop()
        assert (inbox / "orders.edi").exists()
        # the restarted gateway finds it again
        second = SftpPoller(config(sshd, inbox, min_age=0), partner_id="acme", clock=Clock())
        second.poll_once(deliver)
        assert second.poll_once(deliver) == 1
        second.stop()
        assert len(receipts) == 2 and receipts[0].id == receipts[1].id  # intake recognised the key
        assert [r.id for r in store.pending()] == [receipts[0].id]  # one document, not two
        assert not (inbox / "orders.edi").exists() and (inbox / "processed" / "orders.edi").exists()
    finally:
        store.close()


def test_a_file_with_other_content_under_the_same_name_is_a_new_document(sshd, inbox):
    """The key includes the content hash: a new file reusing a name, size and second is not mistaken."""
    seen = []
    clock = Clock()
    poller = SftpPoller(config(sshd, inbox, min_age=0, after="delete"), partner_id="acme", clock=clock)
    try:
        for content in (b"AAAA", b"BBBB"):
            path = inbox / "same.edi"
            path.write_bytes(content)
            os.utime(path, (1_700_000_000, 1_700_000_000))
            poller.poll_once(lambda d: seen.append(d.idempotency_key))
            assert poller.poll_once(lambda d: seen.append(d.idempotency_key)) == 1
    finally:
        poller.stop()
    assert len(seen) == 2 and seen[0] != seen[1]


def test_a_transient_failure_leaves_the_file_for_the_next_poll(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    poller = SftpPoller(config(sshd, inbox, min_age=0), partner_id="acme", clock=clock)
    try:
        (inbox / "a.edi").write_bytes(b"retry me")
        deliver.fail = TransientError("archive disk full")
        poller.poll_once(deliver)
        assert poller.poll_once(deliver) == 0
        assert (inbox / "a.edi").exists() and not (inbox / "processed" / "a.edi").exists()
        deliver.fail = None
        assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert deliver.payloads == [b"retry me"]


def test_a_refused_file_goes_to_failed_when_configured(sshd, inbox):
    clock, deliver = Clock(), Recorder()
    deliver.fail = TerminalError("larger than allowed")
    poller = SftpPoller(config(sshd, inbox, min_age=0, failed=str(inbox / "failed")), partner_id="acme", clock=clock)
    try:
        (inbox / "huge.edi").write_bytes(b"too big")
        poller.poll_once(deliver)
        assert poller.poll_once(deliver) == 0
    finally:
        poller.stop()
    assert (inbox / "failed" / "huge.edi").read_bytes() == b"too big"
    assert not (inbox / "huge.edi").exists()


def test_a_refused_file_is_left_in_place_and_not_tried_again_until_it_changes(sshd, inbox):
    clock = Clock()
    calls = []

    def refuse(doc):
        calls.append(doc.source.read())
        raise TerminalError("not EDI")

    poller = SftpPoller(config(sshd, inbox, min_age=0), partner_id="acme", clock=clock)
    try:
        (inbox / "bad.edi").write_bytes(b"bad")
        for _ in range(4):
            poller.poll_once(refuse)
        assert calls == [b"bad"] and (inbox / "bad.edi").exists()
        (inbox / "bad.edi").write_bytes(b"fixed")  # the partner replaced it
        poller.poll_once(refuse)
        poller.poll_once(refuse)
        assert calls == [b"bad", b"fixed"]
    finally:
        poller.stop()


def test_a_host_key_that_is_not_pinned_is_refused_before_logging_in(sshd, inbox, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    (inbox / "a.edi").write_bytes(b"secret business")
    deliver = Recorder()

    def logins() -> int:
        return sshd.log.read_text().count("Accepted publickey")

    before = logins()
    poller = SftpPoller(config(sshd, inbox, min_age=0, host_key=f"[127.0.0.1]:{sshd.port} {kind} {blob}"),
                        partner_id="acme", clock=Clock())
    with pytest.raises(HostKeyMismatch, match="not pinned"):
        poller.poll_once(deliver)
    poller.stop()
    assert deliver.docs == [] and (inbox / "a.edi").exists()
    assert logins() == before  # it never logged in
    # pinned by its fingerprint instead, the right key is accepted
    fingerprint = paramiko.PKey.from_path(sshd.host_key).fingerprint
    good = SftpPoller(config(sshd, inbox, min_age=0, host_key=fingerprint), partner_id="acme", clock=Clock())
    good.poll_once(deliver)
    assert good.poll_once(deliver) == 1
    good.stop()
    assert deliver.payloads == [b"secret business"]
    deadline = time.monotonic() + 2
    while logins() == before and time.monotonic() < deadline:  # sshd's log line may trail a little
        time.sleep(0.02)
    assert logins() == before + 1


def test_an_unreachable_server_is_transient_and_polling_resumes_when_it_is_back(tmp_path, inbox):
    server = Sshd(tmp_path / "sshd")
    poller = SftpPoller(config(server, inbox, min_age=0), partner_id="acme", clock=Clock())
    deliver = Recorder()
    (inbox / "a.edi").write_bytes(b"after the outage")
    try:
        with pytest.raises(TransientError, match="unreachable"):
            poller.poll_once(deliver)  # not started yet: connection refused
        server.start()
        poller.poll_once(deliver)
        assert poller.poll_once(deliver) == 1
        # the connection drops under the poller: the next poll reconnects (or fails transiently once)
        (inbox / "b.edi").write_bytes(b"after the drop")
        poller._conn.transport.sock.close()
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append(poller.poll_once(deliver))
            except TransientError:
                outcomes.append("transient")
        assert sum(o for o in outcomes if o != "transient") == 1
    finally:
        poller.stop()
        server.close()
    assert deliver.payloads == [b"after the outage", b"after the drop"]


def test_the_polling_thread_takes_files_in_and_stops_promptly(sshd, inbox):
    got = threading.Event()
    deliver = Recorder()

    def record(doc):
        deliver(doc)
        got.set()

    poller = SftpPoller(config(sshd, inbox, min_age=0, interval=0.05), partner_id="acme")
    poller.start(record)
    try:
        (inbox / "a.edi").write_bytes(b"by the thread")
        assert got.wait(5)
    finally:
        began = time.monotonic()
        poller.stop()
    assert time.monotonic() - began < 2
    assert deliver.payloads == [b"by the thread"]


def test_a_large_file_arrives_whole(sshd, inbox):
    data = os.urandom(9 * 1024 * 1024)  # spills from memory to a temporary file
    (inbox / "big.edi").write_bytes(data)
    deliver = Recorder()
    poller = SftpPoller(config(sshd, inbox, min_age=0), partner_id="acme", clock=Clock())
    try:
        poller.poll_once(deliver)
        assert poller.poll_once(deliver) == 1
    finally:
        poller.stop()
    assert deliver.payloads == [data]
