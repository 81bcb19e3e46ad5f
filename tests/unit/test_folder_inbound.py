"""The inbox folder: stable files only, moved once, never retried in a loop, never overwritten."""

from __future__ import annotations

from types import SimpleNamespace

from adapters.folder.inbound import FolderConfig, FolderInbound
from gateway.errors import TransientError


def settled(inbox: FolderInbound, deliver) -> int:
    inbox.poll_once(deliver)  # first sight: remember size and time
    return inbox.poll_once(deliver)


def make(tmp_path) -> FolderInbound:
    inbox = FolderInbound(FolderConfig(path=tmp_path, min_age=0))
    for sub in ("processed", "failed"):
        (tmp_path / sub).mkdir()
    return inbox


def ok(doc):
    doc.source.read()
    return SimpleNamespace(dead_letters=[], published=1)


def test_a_file_is_taken_once_it_is_stable_and_then_moved(tmp_path):
    inbox = make(tmp_path)
    (tmp_path / "a.edi").write_bytes(b"x")
    seen = []
    assert inbox.poll_once(lambda d: seen.append(d)) == 0  # first sight: not yet known to be stable
    assert inbox.poll_once(lambda d: (seen.append(d.raw_ref), ok(d))[1]) == 1
    assert (tmp_path / "processed" / "a.edi").read_bytes() == b"x"
    assert seen and seen[0].startswith("sha256:")


def test_a_file_that_keeps_failing_goes_to_failed_once(tmp_path):
    inbox = make(tmp_path)
    (tmp_path / "bad.edi").write_bytes(b"x")
    calls = []

    def boom(doc):
        calls.append(1)
        raise LookupError("unknown encoding: cp9999")

    settled(inbox, boom)
    assert inbox.poll_once(boom) == 0 and len(calls) == 1
    assert (tmp_path / "failed" / "bad.edi").exists() and not (tmp_path / "bad.edi").exists()


def test_a_transient_failure_leaves_the_file_for_a_retry(tmp_path):
    inbox = make(tmp_path)
    (tmp_path / "a.edi").write_bytes(b"x")

    def down(doc):
        raise TransientError("broker down")

    settled(inbox, down)
    assert (tmp_path / "a.edi").exists()
    assert settled(inbox, ok) == 1


def test_the_same_name_twice_does_not_overwrite(tmp_path):
    inbox = make(tmp_path)
    for content in (b"first", b"second"):
        (tmp_path / "x.edi").write_bytes(content)
        settled(inbox, ok)
    kept = sorted(p.read_bytes() for p in (tmp_path / "processed").iterdir())
    assert kept == [b"first", b"second"]
