"""An archive in memory, for tests: the same contract as the real stores, and a switch that
makes the store fail (``failing``) to show what the intake does when the archive is down."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO

from gateway.archive.base import Archive, ArchiveUnavailable, key_of, spooled


class MemoryArchive(Archive):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0  # documents written (not counting the same bytes again)
        self.failing: str | None = None  # set to a reason: every call raises ArchiveUnavailable
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.failing:
            raise ArchiveUnavailable(f"the archive is unavailable: {self.failing}")

    def put(self, stream: BinaryIO | bytes, *, max_bytes: int | None = None) -> tuple[str, int]:
        self._check()
        spool, ref, size = spooled(stream, max_bytes)
        with spool, self._lock:
            if ref not in self.objects:
                self.objects[ref] = spool.read()
                self.puts += 1
        return ref, size

    def open(self, raw_ref: str) -> BinaryIO:
        self._check()
        key_of(raw_ref)
        try:
            return io.BytesIO(self.objects[raw_ref])
        except KeyError:
            raise FileNotFoundError(f"{raw_ref} is not in the archive") from None

    def exists(self, raw_ref: str) -> bool:
        self._check()
        return raw_ref in self.objects

    def ping(self) -> None:
        self._check()
