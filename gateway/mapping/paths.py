"""Segment paths: how a mapping rule points into an EDIFACT or X12 message.

    TAG                       the first segment with this tag
    TAG/E                     its element E (1-based)
    TAG/E.C                   component C of element E
    TAG[E.C=V]/E.C            ... of the first TAG whose E.C is V
    TAG[1=BY|SU,2!=]/3        filters: = one of several values, != not, a bare
                              position means "present and not empty"

A leading ``/`` reads from the whole message even inside a group:
``/BGM/2`` in a line's rule is the order number of the message. A leading
``^`` reads from the nearest enclosing scope that has the segment: the item
itself, then its enclosing groups (for X12, up the HL parent pointers), then
the message: ``^PRF/1`` in an 856 item is the order that item belongs to.
The envelope is readable too: ``/UNB/2.1``, ``/ISA/6``, ``/GS/2``, ``/UNG/2``.

Examples: ``BGM/2`` (order number), ``DTM[1.1=137]/1.2`` (document date),
``NAD[1=BY]/2.1`` (buyer id), ``REF[1=CN]/2`` (X12 tracking number).

A :class:`Scope` is where a path looks: the whole message, one segment group
(a LIN and what follows it), one X12 HL level, or one segment. Lookups use a
per-scope index by tag, built on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.model import Message, Repeats, Segment

_PATH = re.compile(
    r"^(?P<tag>[A-Z0-9]{2,3})(?:\[(?P<filters>[^\]]*)\])?(?:/(?P<pos>\d+(?:\.\d+)?))?$"
)
_FILTER = re.compile(r"^\s*(?P<pos>\d+(?:\.\d+)?)\s*(?:(?P<op>!=|=)(?P<values>.*))?$")


_SMALL_SCOPE = 12  # scopes this small are scanned, not indexed


class PathError(ValueError):
    """A path that does not follow the grammar above."""


def _position(text: str) -> tuple[int, int | None]:
    if "." in text:
        element, component = text.split(".")
        return int(element), int(component)
    return int(text), None


def getter(element: int, component: int | None):
    """A function reading one value out of a segment, like ``Segment.get`` but
    specialised for one position (mapping runs it millions of times)."""
    i = element - 1
    j = (component or 1) - 1
    simple_ok = component is None or component == 1

    def get(seg: Segment) -> str:
        elements = seg.elements
        if i >= len(elements):
            return ""
        value = elements[i]
        if value.__class__ is str:
            return value if simple_ok else ""
        if value.__class__ is Repeats:
            value = value[0] if value else ""
            if value.__class__ is str:
                return value if simple_ok else ""
        return value[j] if j < len(value) else ""

    return get


@dataclass(frozen=True, slots=True)
class Filter:
    element: int
    component: int | None
    values: frozenset[str] | None  # None: "present and not empty"
    negate: bool
    get: object = None  # the specialised reader of (element, component)


def _accepts(filters: tuple[Filter, ...]):
    """One function testing a segment against every filter (None without filters): a value in
    ``values`` (not in them with ``negate``), or any value when ``values`` is None. Made once per
    path: a group's trigger (``NAD[1=BY]``) is tested on every group of its tag, per message."""
    tests = []
    for f in filters:
        get, values = f.get, f.values
        if values is None:
            tests.append(lambda seg, get=get: get(seg) != "")
        elif f.negate:
            tests.append(lambda seg, get=get, values=values: get(seg) not in values)
        else:
            tests.append(lambda seg, get=get, values=values: get(seg) in values)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda seg: all(test(seg) for test in tests)


@dataclass(frozen=True, slots=True)
class SegmentPath:
    text: str
    tag: str
    filters: tuple[Filter, ...]
    element: int | None
    component: int | None
    absolute: bool = False  # "/TAG...": from the message, not the current group
    get: object = None  # the specialised reader of (element, component)
    inherit: bool = False  # "^TAG...": the nearest enclosing scope that has it
    accepts: object = None  # the filters as one test of a segment (see _accepts); None without filters

    def segments(self, scope: Scope) -> list[Segment]:
        if self.inherit:
            for outer in scope.enclosing():
                found = [s for s in outer.by_tag(self.tag) if self.accepts is None or self.accepts(s)]
                if found:
                    return found
            return []
        found = (scope.root if self.absolute else scope).by_tag(self.tag)
        accepts = self.accepts
        if accepts is not None:
            return [s for s in found if accepts(s)]
        return found

    def first(self, scope: Scope) -> tuple[str, Segment] | None:
        """The first non-empty value and the segment it came from."""
        get = self.get
        if self.inherit:
            for seg in self.segments(scope):
                value = get(seg)
                if value != "":
                    return value, seg
            return None
        if self.absolute:
            scope = scope.root
        index = scope._index
        if index is not None:
            found = index.get(self.tag)
        elif len(scope.segments) <= _SMALL_SCOPE and scope.root is not scope:  # the root also holds the envelope
            tag = self.tag  # a scan beats building an index for a handful of segments
            found = [s for s in scope.segments if s.tag == tag]
        else:
            found = scope.by_tag(self.tag)
        if not found:
            return None
        accepts = self.accepts
        for seg in found:
            if accepts is not None and not accepts(seg):
                continue
            value = get(seg)
            if value != "":
                return value, seg
        return None


def parse_path(text: str) -> SegmentPath:
    body = text.strip()
    absolute = body.startswith("/")
    inherit = body.startswith("^")
    m = _PATH.match(body[1:] if absolute or inherit else body)
    if not m:
        raise PathError(f"'{text}' is not a segment path (expected TAG, TAG/E, TAG/E.C or TAG[E.C=V]/E.C)")
    filters = []
    if m.group("filters") is not None:
        for part in m.group("filters").split(","):
            f = _FILTER.match(part)
            if not f:
                raise PathError(f"'{part}' in '{text}' is not a filter (expected E.C=V, E.C!=V or E.C)")
            element, component = _position(f.group("pos"))
            op = f.group("op")
            values = frozenset(v.strip() for v in f.group("values").split("|")) if op else None
            filters.append(Filter(element, component, values, op == "!=", getter(element, component)))
    element = component = None
    if m.group("pos"):
        element, component = _position(m.group("pos"))
    get = getter(element, component) if element is not None else None
    filters = tuple(filters)
    return SegmentPath(text, m.group("tag"), filters, element, component, absolute, get, inherit, _accepts(filters))


class Scope:
    """The segments a rule looks at, with a lazily built index by tag."""

    __slots__ = ("segments", "_index", "hl_id", "root", "node", "message", "_hl", "parent", "_groups",
                 "decimal_mark")

    def __init__(self, segments: list[Segment], *, message: Message | None = None, root: Scope | None = None,
                 hl_id: str | None = None, node=None, parent: Scope | None = None) -> None:
        self.segments = segments
        self.parent = parent
        self._groups: dict | None = None
        self.decimal_mark = _decimal_mark(message) if message is not None else (
            root.decimal_mark if root is not None else ".")
        self._index: dict[str, list[Segment]] | None = None
        self.message = message if message is not None else (root.message if root is not None else None)
        self.root = root if root is not None else self
        self.hl_id = hl_id
        self.node = node  # XML: the context element
        self._hl = None

    def index(self) -> dict[str, list[Segment]]:
        """The tag index of this scope (built on first use)."""
        if self._index is None:
            self.by_tag("")
        return self._index

    def by_tag(self, tag: str) -> list[Segment]:
        index = self._index
        if index is None:
            index = {}
            for seg in self.segments:
                bucket = index.get(seg.tag)
                if bucket is None:
                    index[seg.tag] = [seg]
                else:
                    bucket.append(seg)
            if self.root is self and self.message is not None:
                _add_envelope(index, self.message)
            self._index = index
        return index.get(tag, ())  # type: ignore[return-value]

    def release(self) -> None:
        """Break the references that make a message's scopes a cycle: the root scope is its own
        ``root``, and the groups it keeps point back at it (``parent``). Called once the message
        is mapped, so the message, its segments and their element lists are freed by reference
        counting there and then. Left as a cycle, all of it waited for the cyclic collector:
        190,000 objects for a 1,000-message ORDERS interchange, the collector running every few
        messages and the heap growing between its passes."""
        groups, self._groups = self._groups, None
        if groups:
            for scopes in groups.values():
                for scope in scopes:
                    scope.release()
        self.root = None  # type: ignore[assignment]
        self.parent = None

    def child(self, segments: list[Segment], hl_id: str | None = None) -> Scope:
        return Scope(segments, root=self.root, hl_id=hl_id if hl_id is not None else self.hl_id, parent=self)

    def enclosing(self):
        """This scope, then the scopes around it, ending with the message."""
        yield self
        if self.hl_id is not None:
            root = self.root
            if root._hl is None:
                root._hl = _hl_table(root.segments)
            loops, parents = root._hl
            parent = parents.get(self.hl_id)
            while parent is not None and parent in loops:
                yield Scope(loops[parent][1], root=root, hl_id=parent)
                parent = parents.get(parent)
            yield root
            return
        outer = self.parent
        while outer is not None:
            yield outer
            outer = outer.parent
        if self.root is not self and (self.parent is None or self.parent.root is not self.root):
            yield self.root

    # -- segment groups ----------------------------------------------------
    def groups(self, trigger: SegmentPath, until: frozenset[str]) -> list[Scope]:
        """One scope per segment matching ``trigger``, up to the next trigger
        tag or a tag in ``until`` (exclusive).

        The groups of a tag are cut once per scope (NAD[1=BY], NAD[1=SU] and
        NAD[1=DP] share the cut) and then filtered by the trigger's filters.
        """
        key = (trigger.tag, until)
        cache = self._groups
        if cache is None:
            cache = self._groups = {}
        every = cache.get(key)
        if every is None:
            every = cache[key] = self._cut(trigger.tag, until)
        accepts = trigger.accepts
        if accepts is None:
            return every
        return [g for g in every if accepts(g.segments[0])]

    def _cut(self, tag: str, until: frozenset[str]) -> list[Scope]:
        """The groups of ``tag``, each with its tag index made in the same pass (a group's record
        asks for it first thing)."""
        if not self.by_tag(tag):
            return []
        out: list[Scope] = []
        current: list[Segment] | None = None
        index: dict[str, list[Segment]] = {}
        for seg in self.segments:
            t = seg.tag
            if t == tag:
                current = [seg]
                index = {t: current[:]}
                group = self.child(current)  # filled on as the loop goes
                group._index = index
                out.append(group)
            elif current is not None:
                if t in until:
                    current = None
                else:
                    current.append(seg)
                    bucket = index.get(t)
                    if bucket is None:
                        index[t] = [seg]
                    else:
                        bucket.append(seg)
        return out

    # -- X12 HL hierarchy ---------------------------------------------------
    def hl_levels(self, level: str) -> list[Scope]:
        """Scopes of the HL loops with HL03 == level that descend from this
        scope's HL (or all of them at message level), in document order."""
        root = self.root
        if root._hl is None:
            root._hl = _hl_table(root.segments)
        loops, parents = root._hl
        out = []
        for hl_id, (code, segments) in loops.items():
            if code != level:
                continue
            if self.hl_id is not None and not _descends(hl_id, self.hl_id, parents):
                continue
            out.append(self.child(segments, hl_id=hl_id))
        return out


def _decimal_mark(message: Message) -> str:
    """The UNA decimal mark of the message's interchange ("." without one)."""
    ic = message.interchange
    delims = ic.delimiters if ic is not None else None
    return delims.decimal if delims is not None else "."


def _add_envelope(index: dict, message: Message) -> None:
    """Make the interchange and group headers readable from the message."""
    ic = message.interchange
    for seg in (ic.header if ic is not None else None, message.group.header if message.group is not None else None):
        if seg is not None and seg.tag not in index:
            index[seg.tag] = [seg]


def _hl_table(segments: list[Segment]) -> tuple[dict, dict]:
    loops: dict[str, tuple[str, list[Segment]]] = {}
    parents: dict[str, str] = {}
    current: list[Segment] | None = None
    for seg in segments:
        if seg.tag == "HL":
            hl_id = seg.get(1)
            current = [seg]
            loops[hl_id] = (seg.get(3), current)
            if seg.get(2):
                parents[hl_id] = seg.get(2)
        elif seg.tag in ("SE", "CTT"):
            current = None
        elif current is not None:
            current.append(seg)
    return loops, parents


def _descends(hl_id: str, ancestor: str, parents: dict[str, str]) -> bool:
    seen = 0
    parent = parents.get(hl_id)
    while parent is not None and seen < 1000:
        if parent == ancestor:
            return True
        parent = parents.get(parent)
        seen += 1
    return False
