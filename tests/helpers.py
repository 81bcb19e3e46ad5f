"""Helpers shared by the reader tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.model import Interchange, Message, Repeats


# Real documents from public projects, beside the repository (in CI too). The
# tests that read them run when the folder is there, as the corpus is not part
# of the project and is never copied into it.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def needs_corpus(group: str = ""):
    """Skip marker for tests that read ``CORPUS/group``."""
    return pytest.mark.skipif(not (CORPUS / group).is_dir(), reason=f"{CORPUS / group} is not beside the repository")


class Writes(io.BytesIO):
    """A stream that remembers the size of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, b) -> int:
        self.sizes.append(len(b))
        return super().write(b)

    def assert_written_in_runs(self, size: int, whole: bytes) -> None:
        """``size`` (what the writer returned) and the bytes are ``whole``; written in several runs."""
        assert size == len(self.getvalue()) == sum(self.sizes)
        assert self.getvalue() == whole
        assert len(self.sizes) >= 4 and max(self.sizes) < len(whole) / 3


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read: every chunk boundary gets hit."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        out = self.data[self.pos : self.pos + self.step]
        self.pos += len(out)
        return out


def read_all(reader, data, **kw) -> tuple[list[Interchange], list[Message]]:
    """Every interchange and message ``reader.read`` yields, messages kept."""
    items = list(reader.read(data, keep=True, **kw))
    return [i for i in items if isinstance(i, Interchange)], [i for i in items if isinstance(i, Message)]


def codes(ic: Interchange) -> list[str]:
    return [i.code for i in ic.all_issues()]


def canonical(elements: list) -> list:
    """What a reader can see of written ``elements``: trailing empty elements and
    components are not written, and a single repetition reads as a plain value."""

    def comp(value):
        if isinstance(value, list) and not isinstance(value, Repeats):
            parts = list(value)
            while len(parts) > 1 and parts[-1] == "":
                parts.pop()
            return parts if len(parts) > 1 else parts[0]
        return value

    out = []
    for e in elements:
        if isinstance(e, Repeats):
            reps = [comp(r) for r in e]
            out.append(Repeats(reps) if len(reps) > 1 else reps[0])
        else:
            out.append(comp(e))
    while out and out[-1] == "":
        out.pop()
    return out
