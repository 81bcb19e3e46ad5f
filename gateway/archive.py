"""The raw-document archive: content-addressed files, written durably.

``put`` streams a document to a temporary file while hashing it, fsyncs it,
renames it to ``sha256/ab/cdef...`` and fsyncs the folder, so that once it
returns the bytes survive a crash. The same bytes are stored once. Nothing is
ever changed or deleted here: replays and dead letters point at these files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from gateway.errors import TerminalError

CHUNK = 1 << 20


class TooLarge(TerminalError):
    """The document is larger than the configured limit (nothing was kept)."""


class Archive:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def put(self, stream: BinaryIO | bytes, *, max_bytes: int | None = None) -> tuple[str, int]:
        """Store the document; ``(raw_ref, size)`` once it is on disk."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                for block in _blocks(stream):
                    size += len(block)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(f"the document is larger than {max_bytes} bytes")
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            ref = f"sha256:{digest.hexdigest()}"
            target = self.path(ref)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # the same bytes again: the same file, replaced by itself
            fsync_dir(target.parent)
            return ref, size
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def path(self, raw_ref: str) -> Path:
        algorithm, _, hexdigest = raw_ref.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise ValueError(f"not an archive reference: {raw_ref!r}")
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    def open(self, raw_ref: str) -> BinaryIO:
        return self.path(raw_ref).open("rb")


def _blocks(stream: BinaryIO | bytes):
    if isinstance(stream, (bytes, bytearray, memoryview)):
        data = bytes(stream)
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]
        return
    while True:
        block = stream.read(CHUNK)
        if not block:
            return
        yield block


def fsync_dir(folder: Path) -> None:
    """Make a folder's new entries (a renamed or linked file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
