"""What every archive store offers: content-addressed, write-once keeping of raw documents.

A document is stored under the SHA-256 of its bytes (``raw_ref`` is
``sha256:<hex>``), so the same bytes are kept once and a reference never
changes meaning. ``put`` returns only once the store has the bytes durably:
the intake commits the receipt, and the channel answers the sender, after
that. Nothing is ever changed or deleted: replays, recovery, dead letters and
the status API's raw download read documents back by reference with ``open``.

One small class per store, like httpx's transports: :mod:`.local` (a folder,
fsync'd), :mod:`.s3` (any S3-compatible object store) and :mod:`.memory` (a
fake for tests). :func:`gateway.bootstrap.build_archive` picks one from the
configuration.
"""

from __future__ import annotations

import abc
import hashlib
import tempfile
from typing import BinaryIO

from gateway.errors import TerminalError, TransientError

CHUNK = 1 << 20
SPOOL = 8 << 20  # documents up to this size stay in memory while they are hashed


class TooLarge(TerminalError):
    """The document is larger than the configured limit (nothing was kept)."""


class ArchiveUnavailable(TransientError):
    """The store cannot be reached or refused the request: nothing was kept, the sender retries."""


class Archive(abc.ABC):
    """A content-addressed store of raw documents."""

    @abc.abstractmethod
    def put(self, stream: BinaryIO | bytes, *, max_bytes: int | None = None) -> tuple[str, int]:
        """Store the document; ``(raw_ref, size)`` once the store has it durably. The same
        bytes again are the same reference, stored once."""

    @abc.abstractmethod
    def open(self, raw_ref: str) -> BinaryIO:
        """The document's bytes, as a binary file to read (and close). FileNotFoundError when
        the archive has no such document."""

    @abc.abstractmethod
    def exists(self, raw_ref: str) -> bool: ...

    def read(self, raw_ref: str) -> bytes:
        with self.open(raw_ref) as stream:
            return stream.read()

    def ping(self) -> None:
        """Raise :class:`ArchiveUnavailable` when the store cannot be reached (for /readyz)."""

    def close(self) -> None:
        """Release the store's connections."""


def key_of(raw_ref: str) -> str:
    """Where a reference is kept, relative to the archive's root: ``sha256/ab/cdef...``."""
    algorithm, _, hexdigest = raw_ref.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
        raise ValueError(f"not an archive reference: {raw_ref!r}")
    return f"sha256/{hexdigest[:2]}/{hexdigest[2:]}"


def blocks(stream: BinaryIO | bytes):
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


def copy_hashed(stream: BinaryIO | bytes, out: BinaryIO, max_bytes: int | None) -> tuple[str, int]:
    """Copy the document to ``out`` while hashing it: ``(raw_ref, size)``.
    Raises :class:`TooLarge` past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    for block in blocks(stream):
        size += len(block)
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(f"the document is larger than {max_bytes} bytes")
        digest.update(block)
        out.write(block)
    return f"sha256:{digest.hexdigest()}", size


def spooled(stream: BinaryIO | bytes, max_bytes: int | None) -> tuple[BinaryIO, str, int]:
    """The document copied to a temporary file (in memory while small) and hashed:
    ``(file at offset 0, raw_ref, size)``. Raises :class:`TooLarge` past ``max_bytes``."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)
    try:
        ref, size = copy_hashed(stream, spool, max_bytes)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, ref, size
