"""Control references seen so far, in memory that does not grow with sequential numbering."""

from __future__ import annotations

from bisect import bisect_right


class RefSet:
    """Control numbers seen in one group (X12) or interchange (EDIFACT).

    Numeric references are kept as runs of consecutive numbers (per written
    width, so ``"0001"`` and ``"1"`` stay different), which keeps the usual
    sequential numbering at constant memory however many sets a group has.
    """

    __slots__ = ("_runs", "_other")

    def __init__(self) -> None:
        self._runs: dict[int, tuple[list[int], list[int]]] = {}
        self._other: set[str] = set()

    def add(self, ref: str) -> bool:
        """Record ``ref``; False when it was already there."""
        if not (ref.isascii() and ref.isdigit()):
            if ref in self._other:
                return False
            self._other.add(ref)
            return True
        value = int(ref)
        runs = self._runs.get(len(ref))
        if runs is None:
            self._runs[len(ref)] = ([value], [value])
            return True
        starts, ends = runs
        if value == ends[-1] + 1:
            ends[-1] = value
            return True
        i = bisect_right(starts, value) - 1
        if i >= 0 and value <= ends[i]:
            return False
        left = i >= 0 and ends[i] + 1 == value
        right = i + 1 < len(starts) and starts[i + 1] - 1 == value
        if left and right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif left:
            ends[i] = value
        elif right:
            starts[i + 1] = value
        else:
            starts.insert(i + 1, value)
            ends.insert(i + 1, value)
        return True
