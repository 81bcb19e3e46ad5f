"""Content validation: a message against its definitions (and a partner's guide).

The validator walks the neutral model (:class:`~gateway.model.Message`) and
returns :class:`~gateway.model.Issue` records whose codes come from the one
catalogue (:mod:`gateway.codes`), so each finding is at once a log line, an
AK3/AK4 (IK3/IK4) or UCS/UCD entry, and a line of ``edigw validate``.

Structure: the message's segments are matched against the definition's
nodes in order. A group (loop) starts at its trigger segment and ends at the
first segment that its content does not take but a later sibling or an
enclosing group does. A segment nothing takes is out of order (its tag is in
the message elsewhere) or not in the message at all.

Content, per segment: element count, each element's presence, components
and repetitions, its length and data type, code lists, and (X12) the syntax
notes (paired, required, exclusion, conditional, list conditional).
"""

from __future__ import annotations

import weakref
from datetime import date
from itertools import filterfalse as _filterfalse
from operator import attrgetter

from gateway.model import Issue, Message, Repeats, Segment
from gateway.validation.definitions import (
    UNBOUNDED, Directory, ElementDef, MessageDef, Node, SegmentDef, directory, version_key,
)
from gateway.validation.fastpath import CSEP as _CSEP
from gateway.validation.fastpath import EDIFACT_DATES as _EDIFACT_DATES
from gateway.validation.fastpath import JOIN, SERVICE, dfa_matcher, message_matcher
from gateway.validation.fastpath import SEP as _SEP
from gateway.validation.fastpath import segment_pattern as _segment_pattern


_FOUND: dict = {}  # (syntax, version, release, type) -> what definition_for found
# The last message's (interchange, group, type, version, release, what definition_for found), as
# one tuple in a one-item list: the intake and the outbound routes validate in threads of their own,
# and a tuple is read and replaced whole (a list read item by item could mix two threads' entries).
_LAST_FOUND: list = [(object(), None, None, None, None, None)]


def definition_for(message: Message) -> tuple[Directory, MessageDef] | None:
    """The directory and message definition of ``message``, or None when not covered."""
    last = _LAST_FOUND[0]  # the messages of one group are usually of one type and version
    if (last[0] is message.interchange and last[1] is message.group and last[2] == message.type
            and last[3] == message.version and last[4] == message.release):
        return last[5]
    syntax = message.interchange.syntax if message.interchange is not None else "x12"
    cache_key = (syntax, message.version, message.release, message.type)
    try:
        result = _FOUND[cache_key]
        _LAST_FOUND[0] = (message.interchange, message.group, message.type, message.version, message.release,
                          result)
        return result
    except KeyError:
        pass
    key = version_key(syntax, message.version, message.release)
    found = directory(syntax, key) if key is not None else None
    result = (found, found.messages[message.type]) if found is not None and message.type in found.messages else None
    if len(_FOUND) >= _MEMO_LIMIT:
        _FOUND.clear()
    _FOUND[cache_key] = result
    return result


def validate(message: Message, guide=None, *, remember: bool = True) -> list[Issue]:
    """Every content issue of ``message`` (empty when it is valid or not covered).

    ``guide``: a partner's :class:`~gateway.validation.guide.Guide`, which
    tightens the standard for that partner. ``remember=False``: the segment
    texts found valid are not remembered (see :func:`_message_valid`), for
    checks that are few beside other work, such as a rendered document's
    before it is sent: its pattern's texts would hold a few MB for little.
    """
    text = message.text
    if text is not None:  # the message as read, of the kind the last one was: one RE2 pass
        last = _LAST_TEXT[0]
        if (last[0] is message.group and last[1] is guide and last[2] == message.type
                and last[3] == message.version and last[4] == message.release):
            segments = message.segments
            at, separator = len(segments[0].text), last[6]
            # (the tags by a comprehension, whose slot reads are specialised: a third fewer
            # instructions than map(attrgetter); the same tags as that message's, compared as
            # lists of the readers' interned strings, need no tuple and no look-up in the memo)
            tags = [s.tag for s in segments]
            if (tags == last[8] or last[5].get(tuple(tags)) == ()) and _separated_by(text, at, separator):
                try:
                    if last[7](text.encode("latin-1")):
                        return []
                except UnicodeEncodeError:
                    pass
    found = definition_for(message)
    if found is None:
        return []
    directory_, definition = found
    if guide is not None:
        directory_, definition = guide.apply(directory_, definition)
    # The usual case first, without a walker: a message of a shape whose structure is known to be
    # right, and whose text matches the message pattern.
    memo = directory_.memo.get(definition.type)
    if memo is not None and message.interchange is not None:
        tags = [s.tag for s in message.segments]
        if memo.get(tuple(tags)) == ():
            d = message.interchange.delimiters
            verdict = None
            if text is not None:
                separator, matcher = _text_matcher(message.segments, text, d, directory_, definition)
                if matcher is not None:
                    verdict = matcher(text)
                    if verdict:  # the next message of this kind goes the short way (above)
                        _LAST_TEXT[0] = (message.group, guide, message.type, message.version, message.release,
                                         memo, separator, matcher.contains, tags)
            if not verdict:  # no RE2 pattern for the text, or it refused the text: the joined texts
                verdict = _message_valid(message.segments, d, directory_, definition, remember,
                                         use_dfa=verdict is None)
            if verdict:
                return []
            walker = Walker(message, directory_, definition)
            walker.text_checked = True  # it did not match: the walker goes segment by segment at once
            return walker.run()
    return Walker(message, directory_, definition).run()


def _separated_by(text: str, at: int, separator: str) -> bool:
    """Whether ``separator`` is what stands at ``at`` between the header and the next segment,
    whole: a line break after it would belong to a longer one (the reader cut the whole text on
    one separator)."""
    return text.startswith(separator, at) and text[at + len(separator)] not in "\r\n"


def _text_matcher(segments: list[Segment], text: str, d, directory_: Directory, definition: MessageDef):
    """(separator, RE2 matcher) for the message's text as read (:attr:`Message.text`): the
    pattern written with the separator the text has between segments; the matcher is None when
    there is no such pattern."""
    if d is None or len(segments) < 2:
        return None, None
    first = segments[0].text
    cached = _LAST_TEXT_MATCHER[0]
    separator = cached[3]  # the one the last message had, when it is this text's too
    if (cached[0] is directory_ and cached[1] is definition and cached[2] is d
            and _separated_by(text, len(first), separator)):
        matcher = cached[4]
    else:
        width = segments[1].offset - segments[0].offset - len(first)  # the terminator and line break (ASCII)
        separator = text[len(first):len(first) + width]
        key = ("text", definition.type, d.decimal, d.element, d.component, d.repetition, d.release, separator)
        matcher = directory_.fast.get(key, _UNSET)
        if matcher is _UNSET:
            matcher = None
            if separator and separator[0] == d.segment and not separator[1:].strip("\r\n"):
                matcher = dfa_matcher(directory_.segments, definition.tags, d.decimal, d.element, d.component,
                                      d.repetition, directory_.syntax == "x12", d.release, d.segment, separator)
            directory_.fast[key] = matcher
        _LAST_TEXT_MATCHER[0] = (directory_, definition, d, separator, matcher)
    return separator, matcher


def _message_valid(segments: list[Segment], d, directory_: Directory, definition: MessageDef,
                   remember: bool = True, use_dfa: bool = True) -> bool:
    """Whether the segments' text as read matches the message pattern (then all content is valid).

    The RE2 pattern first (``use_dfa``), then, when it refuses the message, the re pattern: the
    RE2 one leaves out the segments whose patterns are too large for it (see fastpath)."""
    if d is None or not segments:
        return False
    cached = _LAST_MATCHER[0]
    if cached[0] is directory_ and cached[1] is definition and cached[2] is d:
        matcher, known, dfa, found = cached[3], cached[4], cached[5], cached[6]
    else:
        key = (definition.type, d.decimal, d.element, d.component, d.repetition, d.release, d.segment)
        found = directory_.fast.get(key, _UNSET)
        if found is _UNSET:
            dfa = dfa_matcher(directory_.segments, definition.tags, d.decimal, d.element, d.component,
                              d.repetition, directory_.syntax == "x12", d.release, d.segment)
            # [re matcher (built when first needed), remembered texts, RE2 matcher]
            found = directory_.fast[key] = [_UNSET, _Generations((set(), set())), dfa]
            _ALL_TEXTS[:] = [ref for ref in _ALL_TEXTS if ref() is not None] + [weakref.ref(found[1])]
        matcher, known, dfa = found
        _LAST_MATCHER[0] = (directory_, definition, d, matcher, known, dfa, found)
    if dfa is not None and use_dfa:
        # RE2: the whole message in one pass, header and trailer too (their branch takes any
        # content: the reader checked it), nothing remembered
        try:
            joined = JOIN.join(map(_TEXT, segments))
        except TypeError:  # a segment built in memory: no text
            return False
        if joined.count(JOIN) != len(segments) - 1:
            return False
        if dfa(joined):
            return True
    if matcher is _UNSET:  # the re pattern, the first time RE2's refused a message (or without RE2)
        matcher = found[0] = message_matcher(directory_.segments, definition.tags, d.decimal, d.element,
                                             d.component, d.repetition, directory_.syntax == "x12")
        _LAST_MATCHER[0] = (directory_, definition, d, matcher, known, dfa, found)
    if matcher is None:
        return False
    # The pattern takes each segment on its own (an alternative per tag; the order is the
    # structure's business), so a segment text that matched once matches again: only the texts
    # not seen before are matched. In a large interchange most segments repeat (parties,
    # references, dates, units), and the first and last (the header and trailer, whose content is
    # the envelope's, and unique) are left out.
    # The texts are kept in two generations of _TEXTS_LIMIT / 2: when the young one is full it
    # becomes the old one and the old one is dropped, so what was seen lately stays known. (One
    # set cleared when full forgot everything at once: on the 20k-message EDIFACT file, 4.5 of a
    # message's 34 texts were matched again instead of 1.0.)
    young, old = known
    if len(segments) > 1 and segments[0].tag in SERVICE and segments[-1].tag in SERVICE:
        texts = map(_TEXT, segments[1:-1])
    else:
        texts = map(_TEXT, segments)
    rest = list(_filterfalse(old.__contains__, _filterfalse(young.__contains__, texts)))
    if not rest:
        return True
    try:
        joined = JOIN.join(rest)
    except TypeError:  # a segment built in memory: no text
        return False
    if joined.count(JOIN) != len(rest) - 1:  # the boundary character in the data
        return False
    rel = d.release
    if rel and rel in joined:
        # each released service character becomes one placeholder character, which the
        # patterns take as data (it counts as one, as the released character does); any
        # other release is left to the exact checks
        if any(p in joined for p in _PLACEHOLDERS):
            return False
        for placeholder, special in zip(_PLACEHOLDERS, (rel, d.element, d.component, d.segment, d.repetition)):
            if special:
                joined = joined.replace(rel + special, placeholder)
        if rel in joined:
            return False
    if matcher(joined) is None:
        return False
    if not remember:
        return True
    if len(young) + len(rest) > _TEXTS_LIMIT // 2:  # bounded: a new generation
        known[1] = young
        known[0] = young = set()
    young.update(rest)
    return True


class Walker:
    def __init__(self, message: Message, directory_: Directory, definition: MessageDef) -> None:
        self.message = message
        self.segments = message.segments
        self.directory = directory_
        self.definition = definition
        self.x12 = directory_.syntax == "x12"
        d = message.interchange.delimiters if message.interchange is not None else None
        self.delimiters = d
        self.decimal = d.decimal if d is not None else "."
        self.issues: list[Issue] = []
        self.text_checked = False  # whether the message pattern was tried already (and did not match)

    # -- structure -----------------------------------------------------------
    def run(self) -> list[Issue]:
        segments = self.segments
        # The structure's findings depend on the tag sequence alone: messages of one shape
        # (the usual case in a large interchange) are walked once.
        memo = self.directory.memo.setdefault(self.definition.type, {})
        key = tuple([s.tag for s in segments])
        structural = memo.get(key)
        if structural is None:
            self.found: list[tuple] = []
            end = self.sequence(self.definition.nodes, 0, frozenset(), "")
            for i in range(end, len(segments)):  # what the structure could not take at all
                self.unexpected(i, ())
            structural = tuple(self.found)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = structural
        self.check_segments()
        if not structural:
            return self.issues
        located = [(self._structural(*f), 0) for f in structural]
        merged = sorted([*located, *((i, 1) for i in self.issues)],
                        key=lambda pair: (pair[0].location.message_segment or 0, pair[1]))
        return [issue for issue, _ in merged]

    def _structural(self, code: str, text: str, i: int, tag: str | None) -> Issue:
        segments = self.segments
        if tag is None:
            return Issue.at(code, text, segments[i], message_segment=i + 1)
        at = min(i, len(segments) - 1)
        return Issue(code, text, _located(segments[at] if segments else None, tag, at + 1))

    def sequence(self, nodes: tuple[Node, ...], i: int, stop: frozenset, group: str) -> int:
        """Match segments from ``i`` against ``nodes``; return the index of the first segment not taken."""
        counts = [0] * len(nodes)
        k = 0
        n = len(self.segments)
        while i < n:
            tag = self.segments[i].tag
            j = next((x for x in range(k, len(nodes)) if nodes[x].tag == tag), None)
            if j is None:
                if tag in stop or (not group and tag in ("SE", "UNT")):
                    break
                self.unexpected(i, nodes[:k])
                i += 1
                continue
            for m in range(k, j):
                if counts[m] == 0 and nodes[m].mandatory:
                    self.missing(nodes[m], i, group)
            k = j
            node = nodes[j]
            counts[j] += 1
            if counts[j] == node.max + 1:
                what = (f"group {node.name}" if node.group else f"segment {node.tag}")
                self.found.append(("LOOP_TOO_MANY" if node.group else "SEGMENT_TOO_MANY",
                                   f"{what} occurs more than {node.max} time(s)" + (f" in {group}" if group else ""),
                                   i, None))
            if node.group:
                inner_stop = stop | {x.tag for x in nodes[j:]}
                i = self.sequence(node.children[1:], i + 1, frozenset(inner_stop), node.name)
            else:
                i += 1
        for m in range(k, len(nodes)):
            if counts[m] == 0 and nodes[m].mandatory:
                self.missing(nodes[m], i, group)
        return i

    def unexpected(self, i: int, before: tuple[Node, ...]) -> None:
        segment = self.segments[i]
        if segment.tag in self.definition.tags:
            self.found.append(("SEGMENT_OUT_OF_ORDER",
                               f"segment {segment.tag} is not expected at this place in {self.message.type}", i, None))
        else:
            self.found.append(("SEGMENT_NOT_IN_MESSAGE", f"segment {segment.tag} is not part of {self.message.type}",
                               i, None))

    def missing(self, node: Node, i: int, group: str) -> None:
        """A mandatory segment (or group) is missing before segment ``i``: reported there,
        with the missing segment's tag (as AK3 does)."""
        what = f"group {node.name} (starting with {node.tag})" if node.group else f"segment {node.tag}"
        self.found.append(("SEGMENT_MISSING", f"mandatory {what} is missing" + (f" in {group}" if group else ""),
                           i, node.tag))

    # -- content -------------------------------------------------------------
    def check_segments(self) -> None:
        """Every segment's content: the fast paths where they match, the exact checks otherwise.

        First the whole message against one pattern (:func:`~gateway.validation.fastpath.message_matcher`);
        when it does not match, segment by segment: one compiled pattern per segment definition
        that only valid segments match (it may refuse some valid ones, which the exact checks
        then pass).
        """
        if not self.text_checked and self.whole_message_valid():
            return
        table = self.directory.fast.get(self.decimal)
        if table is None:
            table = self.directory.fast[self.decimal] = {}
        join, cjoin = _SEP.join, _CSEP.join
        for i, segment in enumerate(self.segments):
            tag = segment.tag
            entry = table.get(tag, _UNSET)
            if entry is _UNSET:
                entry = table[tag] = self._entry(tag)
            if entry is None:  # an envelope segment, or one whose elements are not described
                continue
            matcher, seen, dtm, valid = entry
            if matcher is not None:
                elements = segment.elements
                simple = True
                try:
                    text = join(elements)
                except TypeError:  # composites (lists of strings) among the elements
                    simple = False
                    try:  # Repeats (a list subclass) never match
                        text = join([e if type(e) is str else cjoin(e) if type(e) is list else "\x00"
                                     for e in elements])
                    except TypeError:
                        text = "\x00"
                if text in valid or matcher(text) is not None:
                    if text not in valid:  # the same segment again (a party, a date) skips the pattern
                        if len(valid) >= _MEMO_LIMIT:
                            valid.clear()
                        valid.add(text)
                    if seen is not None:
                        # which elements are present decides the syntax notes: remembered per pattern
                        mask = (tuple(map(bool, elements)) if simple  # all strings: present = non-empty
                                else tuple([e != "" if type(e) is str else _present(e) for e in elements]))
                        verdict = seen.get(mask)
                        if verdict is None:
                            before = len(self.issues)
                            self.check_notes(segment, i + 1, self.directory.segments[tag])
                            if len(seen) >= _MEMO_LIMIT:
                                seen.clear()
                            seen[mask] = len(self.issues) == before
                        elif not verdict:
                            self.check_notes(segment, i + 1, self.directory.segments[tag])
                    if dtm:
                        value = segment.get(1, 2)
                        if value:
                            self.check_edifact_date(segment, i + 1, value)
                    continue
            self.check_segment(i)

    def whole_message_valid(self) -> bool:
        """Whether the message's text as read matches its message pattern (then all its content is valid)."""
        return _message_valid(self.segments, self.delimiters, self.directory, self.definition)

    def _entry(self, tag: str):
        """(fast matcher or None, syntax-note verdicts or None, DTM date check, texts known to match)
        for ``tag``, or None."""
        if tag in SERVICE:
            return None
        definition = self.directory.segments.get(tag)
        if definition is None or definition.elements is None:
            return None
        return (_segment_pattern(definition, self.decimal), {} if definition.notes else None,
                not self.x12 and tag == "DTM", set())

    def check_segment(self, i: int) -> None:
        """The exact checks of segment ``i``."""
        segment = self.segments[i]
        if segment.tag in SERVICE:
            return
        definition = self.directory.segments.get(segment.tag)
        if definition is None or definition.elements is None:
            return
        position = i + 1
        elements = segment.elements
        defs = definition.elements
        if len(elements) > len(defs) and any(_present(e) for e in elements[len(defs):]):
            last = max(p for p, e in enumerate(elements, 1) if _present(e))
            self.issue("ELEMENT_TOO_MANY", f"{segment.tag} has {last} elements; at most {len(defs)} are defined",
                       segment, position, len(defs) + 1)
        for p, element in enumerate(defs, 1):
            value = elements[p - 1] if p <= len(elements) else ""
            self.check_element(segment, position, p, element, value)
        if definition.notes:
            self.check_notes(segment, position, definition)

    def check_element(self, segment: Segment, position: int, p: int, element: ElementDef, value) -> None:
        if isinstance(value, Repeats):
            items = list(value)
            if len(items) > element.repeat:
                self.issue("ELEMENT_REPEATS_TOO_MANY",
                           f"{_name(segment, p)} repeats {len(items)} times; at most {element.repeat} allowed",
                           segment, position, p, repetition=element.repeat + 1)
        else:
            items = [value]
        if not any(_present(v) for v in items):
            if element.mandatory:
                self.issue("ELEMENT_MISSING", f"mandatory element {_name(segment, p)} ({element.id}) is missing",
                           segment, position, p)
            return
        for r, item in enumerate(items, 1):
            rep = r if len(items) > 1 else None
            if element.composite:
                comps = item if isinstance(item, list) else [item]
                if len(comps) > len(element.components) and any(c for c in comps[len(element.components):]):
                    self.issue("COMPONENT_TOO_MANY",
                               f"{_name(segment, p)} ({element.id}) has {len(comps)} components; "
                               f"at most {len(element.components)} are defined", segment, position, p,
                               component=len(element.components) + 1, repetition=rep)
                if not any(comps):
                    continue
                for c, component in enumerate(element.components, 1):
                    text = comps[c - 1] if c <= len(comps) else ""
                    self.check_value(segment, position, p, component, text, c, rep)
            else:
                if isinstance(item, list):
                    if any(item[1:]):
                        self.issue("COMPONENT_TOO_MANY",
                                   f"{_name(segment, p)} ({element.id}) is a simple element but has components",
                                   segment, position, p, component=2, repetition=rep)
                    item = item[0] if item else ""
                self.check_value(segment, position, p, element, item, None, rep)

    def check_value(self, segment: Segment, position: int, p: int, element: ElementDef, text: str,
                    component: int | None, repetition: int | None) -> None:
        name = _name(segment, p, component)
        where = {"component": component, "repetition": repetition}
        if text == "":
            if element.mandatory:
                self.issue("ELEMENT_MISSING", f"mandatory element {name} ({element.id}) is missing",
                           segment, position, p, **where)
            return
        kind = element.type
        size = len(text)
        if kind in ("R", "n") or kind.startswith("N"):
            digits = _numeric(text, kind, self.decimal)
            if digits is None:
                self.issue("ELEMENT_NOT_NUMERIC", f"{name} ({element.id}) '{text}' is not a valid number",
                           segment, position, p, **where)
                return
            size = digits
        elif kind == "DT":
            if not _valid_date(text):
                self.issue("ELEMENT_DATE_INVALID", f"{name} ({element.id}) '{text}' is not a valid date",
                           segment, position, p, **where)
                return
        elif kind == "TM":
            if not _valid_time(text):
                self.issue("ELEMENT_TIME_INVALID", f"{name} ({element.id}) '{text}' is not a valid time",
                           segment, position, p, **where)
                return
        if size > element.max:
            self.issue("ELEMENT_TOO_LONG", f"{name} ({element.id}) '{text}' is {size} long; at most {element.max}",
                       segment, position, p, **where)
        elif size < element.min:
            self.issue("ELEMENT_TOO_SHORT", f"{name} ({element.id}) '{text}' is {size} long; at least {element.min}",
                       segment, position, p, **where)
        if element.codes is not None and text not in element.codes:
            self.issue("ELEMENT_CODE_INVALID", f"{name} ({element.id}) '{text}' is not an allowed code",
                       segment, position, p, **where)
        if not self.x12 and segment.tag == "DTM" and p == 1 and component == 2:
            self.check_edifact_date(segment, position, text)

    def check_edifact_date(self, segment: Segment, position: int, text: str) -> None:
        """DTM C507: 2380 as its format qualifier 2379 says (102 CCYYMMDD, 203 CCYYMMDDHHMM, ...)."""
        fmt = segment.get(1, 3)
        shape = _EDIFACT_DATES.get(fmt)
        if shape is None:
            return
        ok = text.isdigit() and len(text) == len(shape)
        if ok:
            day = text[:8] if shape.startswith("CCYY") else text[:6]
            ok = _valid_date(day) and (len(text) == len(day) or _valid_time(text[len(day):]))
        if not ok:
            self.issue("ELEMENT_DATE_INVALID", f"DTM01-02 (2380) '{text}' is not a valid {shape} date "
                       f"(format {fmt})", segment, position, 1, component=2)

    def check_notes(self, segment: Segment, position: int, definition: SegmentDef) -> None:
        has = [False] + [_present(e) for e in segment.elements] + [False] * len(definition.elements)
        for kind, refs in definition.notes:
            there = [r for r in refs if has[r]]
            name = lambda r: f"{segment.tag}{r:02d}"  # noqa: E731
            if kind == "P" and there and len(there) != len(refs):
                for r in refs:
                    if not has[r]:
                        self.issue("ELEMENT_CONDITION_MISSING",
                                   f"{name(r)} is required when {', '.join(name(x) for x in there)} is present "
                                   f"(paired, P{''.join(f'{x:02d}' for x in refs)})", segment, position, r)
            elif kind == "R" and not there:
                self.issue("ELEMENT_CONDITION_MISSING",
                           f"at least one of {', '.join(name(r) for r in refs)} is required", segment, position,
                           refs[0])
            elif kind == "E" and len(there) > 1:
                self.issue("ELEMENT_EXCLUSION_VIOLATED",
                           f"only one of {', '.join(name(r) for r in refs)} may be present", segment, position,
                           there[1])
            elif kind == "C" and has[refs[0]]:
                for r in refs[1:]:
                    if not has[r]:
                        self.issue("ELEMENT_CONDITION_MISSING",
                                   f"{name(r)} is required when {name(refs[0])} is present "
                                   f"(C{''.join(f'{x:02d}' for x in refs)})", segment, position, r)
            elif kind == "L" and has[refs[0]] and not any(has[r] for r in refs[1:]):
                self.issue("ELEMENT_CONDITION_MISSING",
                           f"one of {', '.join(name(r) for r in refs[1:])} is required when {name(refs[0])} "
                           "is present", segment, position, refs[1])

    def issue(self, code: str, text: str, segment: Segment, position: int, element: int, *,
              component: int | None = None, repetition: int | None = None) -> None:
        self.issues.append(Issue.at(code, text, segment, message_segment=position, element=element,
                                    component=component, repetition=repetition))


def _located(segment: Segment | None, tag: str, position: int):
    from gateway.model import Location

    if segment is None:
        return Location(tag=tag, message_segment=position)
    return Location(offset=segment.offset, line=segment.line, segment=segment.index, tag=tag,
                    message_segment=position)


def _present(value) -> bool:
    if isinstance(value, list):  # a composite or repeats
        return any(_present(v) for v in value)
    return value != ""


def _name(segment: Segment, p: int, component: int | None = None) -> str:
    return f"{segment.tag}{p:02d}" + (f"-{component:02d}" if component is not None else "")


def _numeric(text: str, kind: str, decimal: str) -> int | None:
    """The number of digits of ``text`` (sign and decimal mark not counted), None when it is not one."""
    body = text[1:] if text[:1] in "-+" and kind != "ID" else text
    if text[:1] == "+" and kind != "n":
        return None
    if kind.startswith("N") and kind != "N" or kind == "N":
        return len(body) if body.isdigit() and body.isascii() else None
    marks = {decimal, "."} if kind == "n" else {"."}
    digits = body
    for mark in marks:
        if digits.count(mark) == 1:
            digits = digits.replace(mark, "", 1)
            break
    if kind == "R" and ("E" in body.upper()):
        mantissa, _, exponent = body.upper().partition("E")
        ok = (mantissa.replace(".", "", 1).isdigit() and exponent.lstrip("-").isdigit())
        return len(mantissa.replace(".", "")) if ok else None
    return len(digits) if digits and digits.isdigit() and digits.isascii() else None


def _valid_date(text: str) -> bool:
    if not (text.isdigit() and len(text) in (6, 8)):
        return False
    if len(text) == 6:
        text = ("19" if text[:2] > "50" else "20") + text
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True


def _valid_time(text: str) -> bool:
    if not (text.isdigit() and 4 <= len(text) <= 8):
        return False
    hh, mm = int(text[:2]), int(text[2:4])
    ss = int(text[4:6]) if len(text) >= 6 else 0
    return hh <= 23 and mm <= 59 and ss <= 59 and (len(text) != 5)


# -- the fast path -------------------------------------------------------------

_MEMO_LIMIT = 4096  # tag sequences remembered per message type
_UNSET = object()
_TEXT = attrgetter("text")  # a C-level loop over the segments (map)
# The message matchers used last (directory, definition, delimiters, re matcher, remembered texts,
# RE2 matcher, the directory's entry that holds them):
# messages of one interchange share them, and identity checks cost less than a key's hash. One
# tuple, read and replaced whole (see _LAST_FOUND).
_LAST_MATCHER: list = [(None, None, None, None, None, None, None)]
# The same for messages matched on their own text: (directory, definition, delimiters, separator,
# RE2 matcher or None).
_LAST_TEXT_MATCHER: list = [(None, None, None, None, None)]
# The short way of validate() for messages as read: (group, guide, type, version, release, the
# structure memo, separator, RE2 contains, its tags: a shape the memo holds right) of the last one
# that matched.
_LAST_TEXT: list = [(object(), None, None, None, None, None, None, None, None)]
_TEXTS_LIMIT = 40000  # segment texts remembered per message pattern as matching (about 4 MB at most)


class _Generations(list):
    """A message pattern's remembered texts: [young, old] sets (a list a weak reference can name)."""

    __slots__ = ("__weakref__",)


_ALL_TEXTS: list[weakref.ref] = []  # every pattern's generations (weakly: a directory may be dropped)


def forget_texts() -> None:
    """Forget every segment text remembered as matching: validation goes on as a fresh process's
    would (what a benchmark measuring a cold worker, or a test, needs)."""
    for ref in _ALL_TEXTS:
        generations = ref()
        for texts in generations or ():
            texts.clear()


_PLACEHOLDERS = "\ue010\ue011\ue012\ue013\ue014"  # private-use: never in EDI data



__all__ = ["validate", "definition_for", "forget_texts", "Walker", "UNBOUNDED"]
