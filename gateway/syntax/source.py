"""Byte sources for the readers: whole ``bytes`` or a binary stream read in chunks.

Readers never hold more than one chunk plus one unfinished segment of a
stream, which keeps a 200 MB interchange in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Union

Source = Union[bytes, bytearray, memoryview, BinaryIO]

CHUNK = 1 << 20  # 1 MiB: large enough that per-chunk overhead vanishes


def chunks(source: Source, size: int = CHUNK) -> Iterator[bytes]:
    """Yield the source's bytes in pieces of about ``size`` bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        for start in range(0, len(data), size):
            yield data[start : start + size]
        return
    read = source.read
    while True:
        block = read(size)
        if not block:
            return
        yield block


def peek(source: Source, size: int = 4096) -> tuple[bytes, Source]:
    """The first ``size`` bytes and a source that still yields everything."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:size]), source
    head = source.read(size)
    return head, _Prefixed(head, source)


class _Prefixed:
    """A stream that first replays ``head`` and then reads on from ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            if len(out) < size:
                out += self._rest.read(size - len(out))
            return out
        return self._rest.read(size)
