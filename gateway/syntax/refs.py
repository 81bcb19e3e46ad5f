"""Control references seen so far, in memory that does not grow with sequential numbering."""

from __future__ import annotations

from bisect import bisect_right


class RefSet:
    """Control numbers seen in one group (X12) or interchange (EDIFACT).

    Numeric references are kept as runs of consecutive numbers (per written
    width, so ``"0001"`` and ``"1"`` stay different), which keeps the usual
    sequential numbering at constant memory however many sets a group has.
    """

    __slots__ = ("_runs", "_other", "_width", "_top", "_pending")

    #: Increasing references held as strings before they are folded into the runs.
    PENDING = 1024

    def __init__(self) -> None:
        self._runs: dict[int, tuple[list[int], list[int]]] = {}
        self._other: set[str] = set()
        # The usual case, each reference the next number, costs no int(): a numeric reference of
        # the width last seen that sorts after the greatest of that width (for digit strings of
        # one width, text order is number order) is new. It waits in _pending, as text, until
        # a reference that does not fit this (or the PENDING-th) folds the batch into the runs:
        # a batch of consecutive numbers is one run, found from its first and last.
        self._width = -1
        self._top = ""  # the greatest reference of _width, as text
        self._pending: list[str] = []

    def add(self, ref: str) -> bool:
        """Record ``ref``; False when it was already there."""
        if len(ref) == self._width and ref > self._top and ref.isdigit() and ref.isascii():
            self._top = ref
            pending = self._pending
            pending.append(ref)
            if len(pending) >= self.PENDING:
                self._fold()
            return True
        if self._pending:
            self._fold()
        if not (ref.isascii() and ref.isdigit()):
            if ref in self._other:
                return False
            self._other.add(ref)
            return True
        added = self._add(int(ref), len(ref))
        width = self._width = len(ref)
        self._top = str(self._runs[width][1][-1]).zfill(width)
        return added

    def _fold(self) -> None:
        pending = self._pending
        starts, ends = self._runs[self._width]  # (the width's runs exist: an add made it _width)
        first, last = int(pending[0]), int(pending[-1])
        # All lie above the runs' greatest (they sort after it): each extends the last run or
        # follows it. Increasing, and as many as their span: they are consecutive, one run.
        if last - first + 1 == len(pending):
            if first == ends[-1] + 1:
                ends[-1] = last
            else:
                starts.append(first)
                ends.append(last)
        else:
            for value in map(int, pending):
                if value == ends[-1] + 1:
                    ends[-1] = value
                else:
                    starts.append(value)
                    ends.append(value)
        pending.clear()

    def _add(self, value: int, width: int) -> bool:
        runs = self._runs.get(width)
        if runs is None:
            self._runs[width] = ([value], [value])
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
