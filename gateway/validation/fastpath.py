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

Two engines. The per-segment patterns and the fallback message pattern are
the standard library's ``re``. The message pattern is also written in RE2's
dialect (``dfa=True``: no lookaround, no possessive quantifier; each is said
another way, exactly) and compiled by RE2 when it can be (:func:`dfa_matcher`).
RE2 runs a DFA over the text once; ``re`` backtracks element by element. On the
20k-set X12 850 file a whole message costs 1.7 us in RE2 and 5.4 us in ``re``
(bench.validate), so with RE2 no segment text needs remembering.
"""

from __future__ import annotations

import itertools
import re

try:  # pyre2: the RE2 library with a re-like API; BSD-3 (its wheels bundle Google's RE2, BSD-3)
    import re2 as _re2
except ImportError:  # pragma: no cover - a declared dependency; without it the re patterns serve alone
    _re2 = None

from gateway.validation.definitions import UNBOUNDED, ElementDef, SegmentDef

# Segments the reader has checked already (envelopes): their content is not checked again.
SERVICE = frozenset({"UNH", "UNT", "ST", "SE"})

SEP, CSEP = "\x1f", "\x1e"  # element and component boundaries of the per-segment joined text
JOIN = "\x1d"  # between segments in the per-message text (never in EDI data: checked before matching)
_WINDOW = 8  # elements tied together by syntax notes beyond which no message pattern is built

# EDIFACT 2379 format qualifiers whose shape is checked (DTM C507).
EDIFACT_DATES = {"101": "YYMMDD", "102": "CCYYMMDD", "203": "CCYYMMDDHHMM", "204": "CCYYMMDDHHMMSS"}


_DFA_REPEAT = 1000  # RE2's largest counted repetition


def _count(low: int, high: int, dfa: bool = False) -> str:
    # Possessive: what follows a run of data characters is a separator or the end, never one of
    # them, so giving characters back cannot help a match, and not keeping the backtracking
    # points halves the cost of a match (Python 3.11's possessive quantifiers). RE2 has no
    # backtracking to save, nor the notation: the plain count accepts the same texts.
    if dfa:
        if low > _DFA_REPEAT or (_DFA_REPEAT < high < UNBOUNDED):
            raise _NoPattern
        return f"{{{low},}}" if high >= UNBOUNDED else f"{{{low},{high}}}"
    return f"{{{low},}}+" if high >= UNBOUNDED else f"{{{low},{high}}}+"


class _NoPattern(Exception):
    """A definition the RE2 dialect cannot say: no DFA pattern (the re one still serves)."""


# Month and day that are a date in every year (29 February is left to the exact check).
_MONTH_DAY = ("(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
              "|02(?:0[1-9]|1[0-9]|2[0-8]))")
_YEAR = "(?!0000)[0-9]{4}"
_YEAR_DFA = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # the same years, no lookahead
_HHMM = "(?:[01][0-9]|2[0-3])[0-5][0-9]"


def value_pattern(element: ElementDef, decimal: str, any_char: str, dfa: bool = False) -> str | None:
    """A pattern that only valid (non-empty) values of ``element`` match, or None.

    ``any_char``: the character class of a data character (no separator). ``dfa``: in RE2's
    dialect (may raise :class:`_NoPattern`).
    """
    low, high, kind = max(element.min, 1), element.max, element.type
    if element.codes is not None:
        codes = sorted((c for c in element.codes if low <= len(c) <= high), key=len, reverse=True)
        return "(?:" + "|".join(re.escape(c) for c in codes) + ")" if codes else None
    if kind in ("AN", "ID", "a", "an"):
        return any_char + _count(low, high, dfa)
    if kind == "N" or (kind.startswith("N") and kind[1:].isdigit()):
        return "-?[0-9]" + _count(low, high, dfa)
    if kind in ("R", "n"):
        marks = "[.]" if kind == "R" or decimal == "." else "[.,]" if decimal == "," else None
        if marks is None:
            return None
        if dfa:
            return _decimal_dfa(low, high, marks)
        chars = "[0-9.,]" if marks == "[.,]" else "[0-9.]"
        return (f"-?(?:[0-9]{_count(low, high)}|(?={chars}{_count(low + 1, high + 1)}(?!{chars}))"
                f"[0-9]*{marks}[0-9]+)")
    year = _YEAR_DFA if dfa else _YEAR
    if kind == "DT":
        forms = [f for size, f in ((8, year + _MONTH_DAY), (6, "[0-9]{2}" + _MONTH_DAY)) if low <= size <= high]
        return "(?:" + "|".join(forms) + ")" if forms else None
    if kind == "TM":
        forms = [f for size, f in ((8, _HHMM + "[0-5][0-9][0-9]{2}"), (7, _HHMM + "[0-5][0-9][0-9]"),
                                   (6, _HHMM + "[0-5][0-9]"), (4, _HHMM)) if low <= size <= high]
        return "(?:" + "|".join(forms) + ")" if forms else None
    return None


def _decimal_dfa(low: int, high: int, marks: str) -> str:
    """The R/n pattern without its lookahead: digits alone (``low..high``), or digits around one
    decimal mark, the digits and the mark together ``low + 1..high + 1`` long, written as one
    alternative per count of digits before the mark."""
    if high >= UNBOUNDED:
        if low > 1:
            raise _NoPattern
        return f"-?(?:[0-9]{_count(low, high, True)}|[0-9]*{marks}[0-9]+)"
    alternatives = [f"[0-9]{_count(low, high, True)}"]
    for before in range(high):  # digits before the mark; at least one after it
        after_low, after_high = max(1, low - before), high - before
        if after_low <= after_high:
            lead = f"[0-9]{{{before}}}" if before else ""
            alternatives.append(f"{lead}{marks}[0-9]{{{after_low},{after_high}}}")
    return "-?(?:" + "|".join(alternatives) + ")"


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


def _value(element: ElementDef, decimal: str, ch: _Chars) -> str | None:
    """:func:`value_pattern`, with code lists as a tree of characters."""
    if element.codes is not None:
        low, high = max(element.min, 1), element.max
        codes = [c for c in element.codes if low <= len(c) <= high]
        return "(?:" + _trie(codes) + ")" if codes else None
    return value_pattern(element, decimal, ch.data, ch.dfa)


class _Chars:
    """The separators of one interchange, escaped for patterns, and the pattern's dialect.

    ``boundary``: the character between segments in the text matched (:data:`JOIN`, or the
    first character of the segment terminator when the text is the message as it was read).
    """

    def __init__(self, element: str, component: str, repetition: str | None, release: str | None,
                 terminator: str, dfa: bool = False, boundary: str = JOIN) -> None:
        self.dfa = dfa
        self.e = re.escape(element)
        self.c = re.escape(component)
        self.j = b = re.escape(boundary)
        rep = re.escape(repetition) if repetition else ""
        self.release = re.escape(release) if release else None
        # a data character: no separator, no segment boundary, no repetition separator, never
        # JOIN (not EDI data, even in a text as read); with a release character (EDIFACT), also
        # a released service character (which counts as one)
        join = "" if boundary == JOIN else re.escape(JOIN)
        self.plain = f"{self.e}{self.c}{rep}{self.release or ''}{b}{join}"  # what a plain one is not
        if release:
            r = self.release
            specials = "".join(re.escape(x) for x in (element, component, repetition, release, terminator) if x)
            self.specials = specials
            self.data = f"(?:[^{self.plain}]|{r}[{specials}])"
        else:
            self.data = f"[^{self.plain}]"
        self.not_element = f"[^{self.e}{b}]"  # anything up to the next element
        self.stop = f"(?=[{self.e}{b}]|\\Z)"  # the end of an element
        self.end = "" if dfa else f"(?=[{b}]|\\Z)"  # the end of a segment (see message_matcher)

    def data_except(self, chars: str) -> str:
        """A data character other than ``chars`` (letters or digits: never released)."""
        others = "".join(re.escape(c) for c in sorted(set(chars)))
        if self.release:
            return f"(?:[^{self.plain}{others}]|{self.release}[{self.specials}])"
        return f"[^{self.plain}{others}]"


def _other_than(words: list[str], char_except, low: int, high: int) -> str | None:
    """A pattern of the strings of ``low..high`` characters that are none of ``words``, where
    ``char_except(chars)`` is the pattern of a character other than ``chars`` (RE2 has no
    negative lookahead: this walks the words' tree of characters). None when it is empty."""
    tree: dict = {}
    for word in words:
        node = tree
        for c in word:
            node = node.setdefault(c, {})
        node[""] = {}

    def walk(node: dict, depth: int) -> str | None:
        alternatives = []
        if depth and low <= depth <= high and "" not in node:
            alternatives.append("")  # the prefix itself, not a word
        if depth < high:  # a next character
            kids = sorted(k for k in node if k)
            rest_low = max(0, low - depth - 1)  # characters after the next one
            rest_high = high if high >= UNBOUNDED else high - depth - 1
            rest = f"(?:{char_except('')}){_count(rest_low, rest_high, True)}" if rest_high else ""
            alternatives.append(char_except("".join(kids)) + rest)  # leaves the tree here
            for k in kids:
                sub = walk(node[k], depth + 1)
                if sub is not None:
                    alternatives.append(re.escape(k) + sub)
        if not alternatives:
            return None
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return walk(tree, 0)


def _element_forms(element: ElementDef, decimal: str, ch: _Chars, tag: str, x12: bool,
                   position: int) -> tuple[str | None, str | None] | None:
    """(pattern of the element present, pattern of it absent) without its leading separator;
    None in either place when that form is not allowed; None when no pattern can be built."""
    if element.composite:
        comps, values = [], []
        for component in element.components:
            value = _value(component, decimal, ch)
            if value is None:
                return None
            values.append(value)
            comps.append((value if component.mandatory else f"(?:{value})?", component.mandatory))
        body = _sequence(comps, ch.c)
        dates = not x12 and tag == "DTM" and position == 1
        # present: at least one component has a value (a mandatory one says so by itself)
        if dates and ch.dfa:
            present = _dtm_dates_dfa(element, values, ch)
        elif any(m for _, m in comps):
            present = body
        elif ch.dfa:  # the first component with a value, after the empty ones before it
            present = "(?:" + "|".join(ch.c * k + _sequence([(values[k], True), *comps[k + 1:]], ch.c)
                                       for k in range(len(comps))) + ")"
        else:
            present = f"(?={ch.not_element}*?{ch.data}){body}"
        if dates and not ch.dfa:
            present = _dtm_dates(ch) + present
        absent = f"{ch.c}*"  # no value in any component
    else:
        value = _value(element, decimal, ch)
        if value is None:
            return None
        present, absent = value, ""
    return present, (None if element.mandatory else absent)


def _date_shapes(year: str) -> dict[str, str]:
    """The shape of DTM 2380 for each checked format qualifier 2379 (:data:`EDIFACT_DATES`)."""
    day8, day6 = year + _MONTH_DAY, "[0-9]{2}" + _MONTH_DAY
    return {"101": day6, "102": day8, "203": day8 + _HHMM, "204": day8 + _HHMM + "[0-5][0-9]"}


def _dtm_dates(ch: _Chars) -> str:
    """A lookahead at DTM C507 that holds 2380 to the shape its format qualifier 2379 names."""
    c, d = ch.c, ch.data
    end = f"(?:[{ch.c}{ch.e}{ch.j}]|\\Z)"
    shapes = _date_shapes(_YEAR)
    checked = "|".join(shapes)
    after_date = "|".join(
        [f"{shape}{c}{code}{end}" for code, shape in shapes.items()]
        + [f"{d}+(?:{ch.stop}|{c}{end}|{c}(?!(?:{checked}){end}))"]  # no qualifier, or one not checked
    )
    return f"(?={d}*(?:{ch.stop}|{c}(?:(?=[{c}{ch.e}{ch.j}]|\\Z)|{after_date})))"


def _dtm_dates_dfa(element: ElementDef, values: list[str], ch: _Chars) -> str:
    """DTM C507 present, with 2380 held to the shape 2379 names, as alternatives (what
    :func:`_dtm_dates` says with lookaheads): 2005 alone; 2380 empty, with any 2379; 2380 in the
    shape of a checked 2379; 2380 any, with no 2379 or one that is not checked."""
    qualifier = element.components[2] if len(element.components) == 3 else None
    if qualifier is None or not element.components[0].mandatory or element.components[1].mandatory:
        raise _NoPattern
    c = ch.c
    code, value, _ = values
    shapes = _date_shapes(_YEAR_DFA)
    allowed = qualifier.codes
    low, high = max(qualifier.min, 1), qualifier.max
    if allowed is not None:
        others = sorted(q for q in allowed if q not in shapes and low <= len(q) <= high)
        other = "(?:" + _trie(others) + ")" if others else None
    elif qualifier.type in ("AN", "ID", "a", "an"):
        other = _other_than(list(shapes), ch.data_except, low, high)
    else:
        raise _NoPattern
    tails = ["", c, f"{c}{c}(?:{values[2]})?", f"{c}(?:{value}){c}?"]
    tails += [f"{c}{shape}{c}{q}" for q, shape in shapes.items() if allowed is None or q in allowed]
    if other is not None:
        tails.append(f"{c}(?:{value}){c}{other}")
    return f"(?:{code})(?:" + "|".join(tails) + ")"


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
    end = ch.end

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


def message_pattern(segments: dict[str, SegmentDef], tags: frozenset[str], decimal: str,
                    element: str, component: str, repetition: str | None, x12: bool,
                    release: str | None = None, terminator: str = "", *, dfa: bool = False,
                    separator: str = JOIN) -> str | None:
    """The pattern of a whole message's segment texts, each after the other with ``separator``
    between them (:data:`JOIN`, or the terminator as read, such as ``~`` and a line break), to
    be matched in full; None when it cannot be written.

    ``segments``: the directory's segment definitions; ``tags``: the tags of the message
    definition (a described segment outside them is left to the exact checks). ``release``:
    the EDIFACT release character, when the texts may contain it (a pattern without it is
    faster: use one for the messages that have none). ``dfa``: in RE2's dialect, where a
    segment's end needs no lookahead: every segment's pattern is followed by the separator or
    the end of the text, which no data character is.
    """
    ch = _Chars(element, component, repetition, release, terminator, dfa, separator[0])
    branches = []
    described = []  # tags whose content is checked: never taken by the branch that skips content
    try:
        for tag, definition in segments.items():
            if tag in SERVICE or definition.elements is None:
                continue
            described.append(tag)
            if tag not in tags:
                continue
            body = _segment_body(definition, decimal, ch, x12)
            if body is not None and not (dfa and len(body) > _DFA_BRANCH):
                branches.append((tag, body))
    except _NoPattern:
        return None
    j = ch.j
    if dfa:
        service = "(?:" + "|".join(sorted(SERVICE)) + f")(?:{ch.e}[^{j}]*)?"
        tag = _other_than(described, lambda chars: f"[^{ch.e}{ch.c}{j}{re.escape(chars)}]", 1, UNBOUNDED)
        skip = f"{tag}(?:{ch.e}[^{j}]*)?"
    else:
        boundary = f"(?:[{ch.e}{ch.c}{j}]|\\Z)"
        service = "(?:" + "|".join(sorted(SERVICE)) + f")(?=[{ch.e}{j}]|\\Z)[^{j}]*"
        skip = f"(?!{_trie(described)}{boundary})[^{ch.e}{ch.c}{j}]+(?:{ch.e}[^{j}]*)?"
    one = "(?:" + "|".join([service, _tree(branches, 0), skip]) + ")"
    if dfa:  # the pattern once (its size is RE2's memory): a message's text ends with its trailer
        return f"(?:{one}{re.escape(separator)})*{service}"
    return f"{one}(?:{re.escape(separator)}{one})*"


def message_matcher(segments: dict[str, SegmentDef], tags: frozenset[str], decimal: str,
                    element: str, component: str, repetition: str | None, x12: bool,
                    release: str | None = None, terminator: str = ""):
    """A compiled ``re`` fullmatch for a whole message's segment texts joined by :data:`JOIN`,
    or None (see :func:`message_pattern`)."""
    pattern = message_pattern(segments, tags, decimal, element, component, repetition, x12, release, terminator)
    try:
        return re.compile(pattern, re.DOTALL).fullmatch if pattern is not None else None
    except (re.error, RecursionError, OverflowError):  # pragma: no cover - too large for the engine
        return None


# A segment whose pattern is longer is left out of the RE2 pattern (a message with one goes to the
# re pattern): the X12 syntax notes' decision trees repeat the code lists of each element they
# tie, and CTP's (with its unit composite) is 59,000 characters, MEA's 20,000: half the 850's
# pattern, for segments most 850s do not have. RE2 holds its compiled program in memory: the 850's
# took 14.6 MB with them, 0.6 MB without them (and the pattern written once, message_pattern).
_DFA_BRANCH = 10_000

# RE2's memory budget for one pattern, per character of it: a limit, not an allocation. Its DFA
# is built lazily, state by state, as texts need them, and the budget must leave room for the
# states beside the program: with less, RE2 leaves the DFA for its NFA, 70 times slower (the X12
# 850 pattern, 34,000 characters: out of memory at 32 MB, fine at 48). The process holds what the
# states seen need: under 1 MB on the 20k-set X12 850 file.
_DFA_MEMORY_PER_CHAR = 2048
_DFA_MEMORY_LEAST = 64 << 20


def dfa_matcher(segments: dict[str, SegmentDef], tags: frozenset[str], decimal: str,
                element: str, component: str, repetition: str | None, x12: bool,
                release: str | None = None, terminator: str = "", separator: str = JOIN):
    """A function telling whether a message's text (``str``, segments with ``separator``
    between them) matches in full, on RE2; None without RE2 or when the pattern cannot be said
    in its dialect. The text is matched as Latin-1 bytes (one byte a character, so lengths
    count as they do in ``re``); a text outside Latin-1 does not match."""
    if _re2 is None:  # pragma: no cover
        return None
    pattern = message_pattern(segments, tags, decimal, element, component, repetition, x12, release, terminator,
                              dfa=True, separator=separator)
    if pattern is None:
        return None
    try:  # anchored at both ends: contains() is then a full match without a Match object (a third less)
        compiled = _re2.compile(b"\\A(?:" + pattern.encode("latin-1") + b")\\z", _re2.DOTALL,
                                max_mem=max(_DFA_MEMORY_LEAST, len(pattern) * _DFA_MEMORY_PER_CHAR))
    except (_re2.error, UnicodeEncodeError, RecursionError):  # pragma: no cover - beyond the engine
        return None
    if type(compiled) is not _re2.Pattern:  # pyre2 handed it to re: not in RE2's dialect after all
        return None
    contains = compiled.contains

    def matches(text: str) -> bool:
        try:
            return contains(text.encode("latin-1"))
        except UnicodeEncodeError:
            return False

    matches.contains = contains  # the compiled check itself, for callers that encode the text
    return matches


def _tree(branches: list[tuple[str, str]], depth: int) -> str:
    """Alternatives ``tag + body`` sharing their tags' leading characters."""
    here = [body for tag, body in branches if len(tag) == depth]
    by_char: dict[str, list[tuple[str, str]]] = {}
    for tag, body in branches:
        if len(tag) > depth:
            by_char.setdefault(tag[depth], []).append((tag, body))
    alternatives = [*here, *(re.escape(c) + _tree(group, depth + 1) for c, group in sorted(by_char.items()))]
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
