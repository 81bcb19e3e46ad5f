"""The archive in a local folder: content-addressed files, written durably.

``put`` streams a document to a temporary file while hashing it, fsyncs it,
renames it to ``sha256/ab/cdef...`` and fsyncs the folder, so that once it
returns the bytes survive a crash. Several instances may share the folder
only on one host or a shared volume; :mod:`gateway.archive.s3` is for
instances that share nothing but the network.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from gateway.archive.base import Archive, copy_hashed, key_of


class LocalArchive(Archive):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalArchive({str(self.root)!r})"

    def put(self, stream: BinaryIO | bytes, *, max_bytes: int | None = None) -> tuple[str, int]:
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                ref, size = copy_hashed(stream, out, max_bytes)
                out.flush()
                os.fsync(out.fileno())
            target = self.path(ref)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # the same bytes again: the same file, replaced by itself
            fsync_dir(target.parent)
            return ref, size
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def path(self, raw_ref: str) -> Path:
        return self.root / key_of(raw_ref)

    def open(self, raw_ref: str) -> BinaryIO:
        return self.path(raw_ref).open("rb")

    def exists(self, raw_ref: str) -> bool:
        return self.path(raw_ref).is_file()


def fsync_dir(folder: Path) -> None:
    """Make a folder's new entries (a renamed or linked file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
