"""The validator's fast paths: compiled patterns that only valid content matches.

Checking a message element by element in Python costs more than reading it.
Most messages are valid, so the validator first asks a question the regular
expression engine answers in C: does this text match a pattern that *only*
valid content matches? When it does, there is nothing to report. When it does
not, the exact checks (:mod:`gateway.validation.validator`) run and say what
is wrong. A pattern may refuse valid content (a leap day, a value with a
release character): the exact checks then pass it. It must never accept
invalid content; property tests hold the fast paths to the exact checks.

Two levels:

* per segment (:func:`segment_pattern`): over the elements joined by ``\\x1f``
  and components by ``\\x1e``; used segment by segment when a message as a
  whole did not match;
* per message (:func:`message_matcher`): over the segments' own text as the
  reader cut it (``Segment.text``, with the interchange's separators), joined
  by ``\\x1d``. One match checks every segment's content, the X12 syntax notes
  (as the element combinations each note allows) and the EDIFACT DTM dates
  against their format qualifier, without building any per-segment string.

The regular expression engine is the standard library's ``re``: measured on
the 20k-message benchmark files, one fullmatch per message costs a few
microseconds, less than the per-segment loop's attribute access alone.
"""

from __future__ import annotations

import itertools
import re

from gateway.validation.definitions import UNBOUNDED, ElementDef, SegmentDef

# Segments the reader has checked already (envelopes): their content is not checked again.
SERVICE = frozenset({"UNH", "UNT", "ST", "SE"})

SEP, CSEP = "\x1f", "\x1e"  # element and component boundaries of the per-segment joined text
JOIN = "\x1d"  # between segments in the per-message text (never in EDI data: checked before matching)
_WINDOW = 8  # elements tied together by syntax notes beyond which no message pattern is built

# EDIFACT 2379 format qualifiers whose shape is checked (DTM C507).
EDIFACT_DATES = {"101": "YYMMDD", "102": "CCYYMMDD", "203": "CCYYMMDDHHMM", "204": "CCYYMMDDHHMMSS"}


def _count(low: int, high: int) -> str:
    # Possessive: what follows a run of data characters is a separator or the end, never one of
    # them, so giving characters back cannot help a match, and not keeping the backtracking
    # points halves the cost of a match (Python 3.11's possessive quantifiers).
    return f"{{{low},}}+" if high >= UNBOUNDED else f"{{{low},{high}}}+"


# Month and day that are a date in every year (29 February is left to the exact check).
_MONTH_DAY = ("(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
              "|02(?:0[1-9]|1[0-9]|2[0-8]))")
_YEAR = "(?!0000)[0-9]{4}"
_HHMM = "(?:[01][0-9]|2[0-3])[0-5][0-9]"


def value_pattern(element: ElementDef, decimal: str, any_char: str) -> str | None:
    """A pattern that only valid (non-empty) values of ``element`` match, or None.

    ``any_char``: the character class of a data character (no separator).
    """
    low, high, kind = max(element.min, 1), element.max, element.type
    if element.codes is not None:
        codes = sorted((c for c in element.codes if low <= len(c) <= high), key=len, reverse=True)
        return "(?:" + "|".join(re.escape(c) for c in codes) + ")" if codes else None
    if kind in ("AN", "ID", "a", "an"):
        return any_char + _count(low, high)
    if kind == "N" or (kind.startswith("N") and kind[1:].isdigit()):
        return "-?[0-9]" + _count(low, high)
    if kind in ("R", "n"):
        marks = "[.]" if kind == "R" or decimal == "." else "[.,]" if decimal == "," else None
        if marks is None:
            return None
        chars = "[0-9.,]" if marks == "[.,]" else "[0-9.]"
        return (f"-?(?:[0-9]{_count(low, high)}|(?={chars}{_count(low + 1, high + 1)}(?!{chars}))"
                f"[0-9]*{marks}[0-9]+)")
    if kind == "DT":
        forms = [f for size, f in ((8, _YEAR + _MONTH_DAY), (6, "[0-9]{2}" + _MONTH_DAY)) if low <= size <= high]
        return "(?:" + "|".join(forms) + ")" if forms else None
    if kind == "TM":
        forms = [f for size, f in ((8, _HHMM + "[0-5][0-9][0-9]{2}"), (7, _HHMM + "[0-5][0-9][0-9]"),
                                   (6, _HHMM + "[0-5][0-9]"), (4, _HHMM)) if low <= size <= high]
        return "(?:" + "|".join(forms) + ")" if forms else None
    return None


# -- per segment ---------------------------------------------------------------

_ANY = "[^\x00\x1e\x1f]"


def _sequence(parts: list[tuple[str, bool]], sep: str) -> str:
    """Positions joined by ``sep``; trailing optional positions may be left out."""
    pattern = ""
    optional_tail = True
    for k in range(len(parts) - 1, -1, -1):
        piece, mandatory = parts[k]
        optional_tail = optional_tail and not mandatory
        lead = "" if k == 0 else re.escape(sep)
        body = lead + piece + pattern
        pattern = f"(?:{body})?" if optional_tail else body
    return pattern


def segment_pattern(definition: SegmentDef, decimal: str):
    """The compiled per-segment matcher of a segment definition, or None when it has none."""
    parts = []
    for element in definition.elements:
        if element.composite:
            comps = []
            for component in element.components:
                value = value_pattern(component, decimal, _ANY)
                if value is None:
                    return None
                comps.append((value if component.mandatory else f"(?:{value})?", component.mandatory))
            body = _sequence(comps, CSEP)
            if element.mandatory:  # present: at least one component has a value
                body = f"(?=[^\x1f]*[^\x1e\x1f]){body}"
                parts.append((body, True))
            else:
                parts.append((f"(?:{body})?", False))
        else:
            value = value_pattern(element, decimal, _ANY)
            if value is None:
                return None
            parts.append((value if element.mandatory else f"(?:{value})?", element.mandatory))
    try:
        return re.compile(_sequence(parts, SEP), re.DOTALL).fullmatch
    except re.error:  # pragma: no cover - a definition the notation allows but a pattern cannot say
        return None


# -- per message ---------------------------------------------------------------


def _trie(words: list[str]) -> str:
    """An alternation of ``words`` as a tree of their characters (the engine tries
    alternatives in order: a flat list of a hundred codes costs a hundred tries)."""
    ends = "" in words
    by_char: dict[str, list[str]] = {}
    for word in words:
        if word:
            by_char.setdefault(word[0], []).append(word[1:])
    if by_char and all(rest == [""] for rest in by_char.values()):  # the last character: one class
        branches = ["[" + "".join(re.escape(c) for c in sorted(by_char)) + "]"]
    else:
        branches = [re.escape(c) + _trie(rest) for c, rest in sorted(by_char.items())]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


def _value(element: ElementDef, decimal: str, data: str) -> str | None:
    """:func:`value_pattern`, with code lists as a tree of characters."""
    if element.codes is not None:
        low, high = max(element.min, 1), element.max
        codes = [c for c in element.codes if low <= len(c) <= high]
        return "(?:" + _trie(codes) + ")" if codes else None
    return value_pattern(element, decimal, data)


class _Chars:
    """The separators of one interchange, escaped for patterns."""

    def __init__(self, element: str, component: str, repetition: str | None, release: str | None,
                 terminator: str) -> None:
        self.e = re.escape(element)
        self.c = re.escape(component)
        rep = re.escape(repetition) if repetition else ""
        # a data character: no separator, no segment boundary, no repetition separator; with a
        # release character (EDIFACT), also a released service character (which counts as one)
        if release:
            r = re.escape(release)
            specials = "".join(re.escape(x) for x in (element, component, repetition, release, terminator) if x)
            self.data = f"(?:[^{self.e}{self.c}{rep}{r}{JOIN}]|{r}[{specials}])"
        else:
            self.data = f"[^{self.e}{self.c}{rep}{JOIN}]"
        self.not_element = f"[^{self.e}{JOIN}]"  # anything up to the next element
        self.stop = f"(?=[{self.e}{JOIN}]|\\Z)"  # the end of an element


def _element_forms(element: ElementDef, decimal: str, ch: _Chars, tag: str, x12: bool,
                   position: int) -> tuple[str | None, str | None] | None:
    """(pattern of the element present, pattern of it absent) without its leading separator;
    None in either place when that form is not allowed; None when no pattern can be built."""
    if element.composite:
        comps = []
        for component in element.components:
            value = _value(component, decimal, ch.data)
            if value is None:
                return None
            comps.append((value if component.mandatory else f"(?:{value})?", component.mandatory))
        body = _sequence(comps, ch.c)
        # present: at least one component has a value (a mandatory one says so by itself)
        present = body if any(m for _, m in comps) else f"(?={ch.not_element}*?{ch.data}){body}"
        if not x12 and tag == "DTM" and position == 1:
            present = _dtm_dates(ch) + present
        absent = f"{ch.c}*"  # no value in any component
    else:
        value = _value(element, decimal, ch.data)
        if value is None:
            return None
        present, absent = value, ""
    return present, (None if element.mandatory else absent)


def _dtm_dates(ch: _Chars) -> str:
    """A lookahead at DTM C507 that holds 2380 to the shape its format qualifier 2379 names."""
    c, d = ch.c, ch.data
    end = f"(?:[{ch.c}{ch.e}{JOIN}]|\\Z)"
    day8, day6 = _YEAR + _MONTH_DAY, "[0-9]{2}" + _MONTH_DAY
    shapes = {"101": day6, "102": day8, "203": day8 + _HHMM, "204": day8 + _HHMM + "[0-5][0-9]"}
    checked = "|".join(shapes)
    after_date = "|".join(
        [f"{shape}{c}{code}{end}" for code, shape in shapes.items()]
        + [f"{d}+(?:{ch.stop}|{c}{end}|{c}(?!(?:{checked}){end}))"]  # no qualifier, or one not checked
    )
    return f"(?={d}*(?:{ch.stop}|{c}(?:(?=[{c}{ch.e}{JOIN}]|\\Z)|{after_date})))"


def _note_holds(kind: str, refs: tuple[int, ...], present: dict[int, bool]) -> bool:
    """Whether a syntax note holds for the presence of its elements (as the exact check reads it)."""
    there = [r for r in refs if present.get(r, False)]
    if kind == "P":
        return not there or len(there) == len(refs)
    if kind == "R":
        return bool(there)
    if kind == "E":
        return len(there) <= 1
    if kind == "C":
        return not present.get(refs[0], False) or all(present.get(r, False) for r in refs[1:])
    if kind == "L":
        return not present.get(refs[0], False) or any(present.get(r, False) for r in refs[1:])
    return False


def _units(definition: SegmentDef) -> list[tuple[list[int], list[tuple]]] | None:
    """Element positions grouped into windows tied by syntax notes: each window with the notes
    that lie in it. None when a window is too wide to enumerate."""
    count = len(definition.elements)
    spans: list[list[int]] = []
    for _, refs in definition.notes:
        if max(refs) > count:
            return None
        spans.append([min(refs), max(refs)])
    spans.sort()
    merged: list[list[int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    units = []
    p = 1
    for low, high in merged:
        units.extend(([q], []) for q in range(p, low))
        if high - low + 1 > _WINDOW:
            return None
        positions = list(range(low, high + 1))
        notes = [(k, r) for k, r in definition.notes if low <= min(r) and max(r) <= high]
        units.append((positions, notes))
        p = high + 1
    units.extend(([q], []) for q in range(p, count + 1))
    return units


def _window(positions: list[int], notes: list[tuple], forms: list, ch: _Chars, ending: bool) -> str | None:
    """A decision tree over one window's elements, present or absent, as the notes allow.

    ``ending`` False: the text goes through the whole window (the tree's leaves are where the
    next window starts); True: the text ends inside the window, before one of its elements
    (the elements left out are absent, which they must be allowed to be).
    """
    end = f"(?=[{JOIN}]|\\Z)"

    def holds(assign: dict[int, bool], complete: bool) -> bool:
        return all(_note_holds(kind, refs, assign) for kind, refs in notes
                   if complete or all(r in assign for r in refs))

    def node(i: int, assign: dict[int, bool]) -> str | None:
        if i == len(positions):
            return "" if not ending and holds(assign, True) else None
        alternatives = []
        if ending:  # the text stops before this element: the rest of the window absent
            rest = {**assign, **{q: False for q in positions[i:]}}
            if all(forms[q - 1][1] is not None for q in positions[i:]) and holds(rest, True):
                alternatives.append(end)
        p = positions[i]
        for there, form in ((True, forms[p - 1][0]), (False, forms[p - 1][1])):
            if form is None:
                continue
            nxt = {**assign, p: there}
            if not holds(nxt, False):
                continue
            sub = node(i + 1, nxt)
            if sub is not None:
                alternatives.append(f"{ch.e}{form}{sub}" if form else f"{ch.e}{sub}")
        if not alternatives:
            return None
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return node(0, {})


def _segment_body(definition: SegmentDef, decimal: str, ch: _Chars, x12: bool) -> str | None:
    """The pattern of a segment's text after its tag, notes included, or None."""
    forms = []
    for position, element in enumerate(definition.elements, 1):
        found = _element_forms(element, decimal, ch, definition.tag, x12, position)
        if found is None:
            return None
        forms.append([f"(?:{f})" if f else f for f in found])
    units = _units(definition)
    if units is None:
        return None
    # From the last window back: each window is gone through and followed by the pattern of
    # those after it, or (when everything after it may be absent) the text ends inside it; a
    # text that has ended tries nothing more.
    pattern = ""
    may_end = True  # all windows after the current one allow every element absent
    for positions, notes in reversed(units):
        through = _window(positions, notes, forms, ch, False)
        if through is None:
            return None
        ending = _window(positions, notes, forms, ch, True) if may_end else None
        pattern = f"{through}{pattern}" if ending is None else f"(?:{through}{pattern}|{ending})"
        absent = {q: False for q in positions}
        may_end = may_end and all(forms[q - 1][1] is not None for q in positions) and all(
            _note_holds(kind, refs, absent) for kind, refs in notes)
    return pattern


def message_matcher(segments: dict[str, SegmentDef], tags: frozenset[str], decimal: str,
                    element: str, component: str, repetition: str | None, x12: bool,
                    release: str | None = None, terminator: str = ""):
    """A compiled fullmatch for a whole message's segment texts joined by :data:`JOIN`, or None.

    ``segments``: the directory's segment definitions; ``tags``: the tags of the message
    definition (a described segment outside them is left to the exact checks). ``release``:
    the EDIFACT release character, when the texts may contain it (a pattern without it is
    faster: use one for the messages that have none).
    """
    ch = _Chars(element, component, repetition, release, terminator)
    branches = []
    described = []  # tags whose content is checked: never taken by the branch that skips content
    for tag, definition in segments.items():
        if tag in SERVICE or definition.elements is None:
            continue
        described.append(tag)
        if tag not in tags:
            continue
        body = _segment_body(definition, decimal, ch, x12)
        if body is not None:
            branches.append((tag, body))
    boundary = f"(?:[{ch.e}{ch.c}{JOIN}]|\\Z)"
    service = "(?:" + "|".join(sorted(SERVICE)) + f")(?=[{ch.e}{JOIN}]|\\Z)[^{JOIN}]*"
    exclude = _trie(described)
    skip = f"(?!{exclude}{boundary})[^{ch.e}{ch.c}{JOIN}]+(?:{ch.e}[^{JOIN}]*)?"
    one = "(?:" + "|".join([service, _tree(branches, 0), skip]) + ")"
    try:
        return re.compile(f"{one}(?:{JOIN}{one})*", re.DOTALL).fullmatch
    except (re.error, RecursionError, OverflowError):  # pragma: no cover - too large for the engine
        return None


def _tree(branches: list[tuple[str, str]], depth: int) -> str:
    """Alternatives ``tag + body`` sharing their tags' leading characters."""
    here = [body for tag, body in branches if len(tag) == depth]
    by_char: dict[str, list[tuple[str, str]]] = {}
    for tag, body in branches:
        if len(tag) > depth:
            by_char.setdefault(tag[depth], []).append((tag, body))
    alternatives = [*here, *(re.escape(c) + _tree(group, depth + 1) for c, group in sorted(by_char.items()))]
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
