"""Turn checked outbound routes into plain functions, once, when partner files load.

The mirror of :mod:`gateway.mapping.compiler`: everything that can be decided
from the partner file and the event's Avro schema is decided here (paths
resolved against the schema and the loops around them, formatters chosen by
the field's type, code lists read backwards, constants checked against the
document's character set). Problems are collected as ``file:line: key:
message`` lines, all of them. At run time a compiled template only walks the
event and appends segments (or XML elements).

A compiled entry is ``run(stack, ctx)``: ``stack`` holds the event and the
items of the loops around the entry (innermost last), ``ctx`` the segments
written so far (:class:`Ctx`). A compiled element rule is
``text(stack, ctx) -> str | None`` and raises :class:`RenderError` for what
cannot be written.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.mapping import convert
from gateway.mapping.spec import EdifactIdentity, PartnerFile, X12Identity
from gateway.mapping.targets import Target
from gateway.model import Segment
from gateway.outbound.render import errors as E
from gateway.outbound.render.errors import RenderError
from gateway.outbound.render.paths import EventPath, EventPathError, Frame, resolve
from gateway.outbound.render.spec import Each, Element, Entry, OutboundRoute, When
from gateway.outbound.render.values import (
    WRITABLE_FORMATS, date_formatter, number_formatter, repertoire, shown, text_of,
)
from gateway.yamlconf import Located

Run = Callable[[list, "Ctx"], None]
TextFn = Callable[[list, "Ctx"], "str | None"]
Test = Callable[[list], bool]

_MISSING = object()
_SEGMENT = re.compile(r"^(?P<tag>[A-Z0-9]{2,3})(?:\[(?P<consts>[^\]]*)\])?$")
_TAG = re.compile(r"^[A-Z0-9]{2,3}$")
_POSITION = re.compile(r"^(?P<element>[1-9][0-9]?)(?:\.(?P<component>[1-9][0-9]?))?$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOOP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_XML_NAME = re.compile(r"^(?:(?P<prefix>[A-Za-z_][\w.-]*):)?(?P<local>[A-Za-z_][\w.-]*)$")
ENVELOPE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "ISA", "IEA", "GS", "GE", "ST", "SE"})
NUMERIC = frozenset({"decimal", "int", "long", "float", "double"})
FILENAME_FIELDS = frozenset({"partner", "route", "message", "control", "ext", "timestamp", "digest"})

# UBL's prefixes, as the inbound XPath rules have them (gateway.mapping.compiler)
UBL_NAMESPACES = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
}


class Ctx:
    """What one rendering has written so far."""

    __slots__ = ("out", "counts", "hl", "parents", "node")

    def __init__(self, node: Any = None) -> None:
        self.out: list[Segment] = []
        self.counts: dict[str, int] = {}
        self.hl = 0  # the last HL01 given
        self.parents: list[str] = []  # HL01 of the enclosing HL levels
        self.node = node  # XML: the element being filled

    def add(self, seg: Segment) -> None:
        self.out.append(seg)
        self.counts[seg.tag] = self.counts.get(seg.tag, 0) + 1


@dataclass
class Envelope:
    """A route's interchange settings, defaults filled in."""

    sender: str = ""
    sender_qualifier: str = ""
    recipient: str = ""
    recipient_qualifier: str = ""
    test: bool = False
    ack_requested: bool = False
    newline: bool = False
    syntax_identifier: str = ""  # EDIFACT
    syntax_version: str = ""
    una: bool | None = None
    groups: bool = False
    isa_version: str = ""  # X12
    functional_id: str = ""
    group_sender: str = ""
    group_recipient: str = ""
    group_number: str = "own"
    character_set: str = ""
    application_reference: str = ""  # EDIFACT UNB 0026
    isa01_04: list[str] = field(default_factory=list)  # X12 authorization and security (ISA01-ISA04)
    s009: list[str] = field(default_factory=list)  # EDIFACT UNH S009
    namespaces: dict[str, str] = field(default_factory=dict)  # XML prefixes


@dataclass
class Route:
    """One compiled outbound route of one partner."""

    partner_id: str
    name: str
    event_type: str
    syntax: str  # edifact | x12 | xml
    message: str  # ORDRSP, 855, OrderResponse
    version: str  # D96A, 004010, 2.1
    file: str
    where: str  # file:line: outbound[i]
    spec: OutboundRoute
    envelope: Envelope
    when: Test | None
    body: Run
    zone: Any  # the partner's time zone (envelope dates, local times)
    filename: str  # a str.format template
    expects_ack: bool
    codec: str  # how the document's bytes are encoded
    schemas: Any = None  # the SchemaSet records are validated against (set by the loader)

    def takes(self, record: dict) -> bool:
        """Does this route take ``record`` (its ``when``)?"""
        return self.when is None or self.when([record])


def _zone_ok(name: str) -> bool:
    if name.upper() == "UTC":
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _constant_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Compiler:
    """Compiles the template of one outbound route of one partner file."""

    def __init__(self, located: Located, partner: PartnerFile, route: OutboundRoute, errors: list[str], *,
                 check: Callable[[str], str | None], namespaces: dict[str, str] | None = None) -> None:
        self.located = located
        self.partner = partner
        self.route = route
        self.syntax = route.document.syntax
        self.errors = errors
        self.check = check  # text -> None, or why the document cannot carry it
        self.namespaces = namespaces or {}
        self.zone = convert.zone(partner.timezone)

    # -- errors ----------------------------------------------------------------
    def error(self, key: tuple, text: str, field: str | None = None) -> None:
        spot = f"field '{field}': " if field else ""
        self.errors.append(f"{self.located.where(key)}: {spot}{text}")

    def where(self, key: tuple) -> str:
        return self.located.where(key)

    def fail(self, code: str, text: str, where: str, field: str | None = None, tag: str | None = None,
             position: str | None = None) -> RenderError:
        return RenderError(code, text, partner_id=self.partner.partner, route=self.route.name, where=where,
                           field=field, tag=tag, position=position)

    def resolve(self, text: Any, key: tuple, frames: list[Frame]) -> EventPath | None:
        try:
            return resolve(text, frames)
        except EventPathError as exc:
            self.error(key, str(exc), field=str(text))
            return None

    # -- entries ---------------------------------------------------------------
    def entries(self, specs: list[Entry], key: tuple, frames: list[Frame]) -> Run:
        runs = [r for r in (self.entry(e, (*key, i), frames) for i, e in enumerate(specs)) if r is not None]
        if len(runs) == 1:
            return runs[0]

        def run(stack: list, ctx: Ctx) -> None:
            for r in runs:
                r(stack, ctx)

        return run

    def entry(self, spec: Entry, key: tuple, frames: list[Frame]) -> Run | None:
        given = spec.model_fields_set
        edi_keys = [k for k in ("segment", "elements", "segments", "hl", "child_code") if k in given]
        xml_keys = [k for k in ("element", "text", "attributes", "children") if k in given]
        if self.syntax == "xml" and edi_keys:
            self.error(key, f"{', '.join(edi_keys)}: for EDIFACT and X12 routes; an XML template has element, "
                            "text, attributes, children")
            return None
        if self.syntax != "xml" and xml_keys:
            self.error(key, f"{', '.join(xml_keys)}: for XML routes; an {self.syntax.upper()} template has "
                            "segment, elements, segments, hl")
            return None
        items = None
        inner = list(frames)
        if spec.each is not None:
            loop = self.loop(spec.each, (*key, "each"), frames)
            if loop is None:
                return None
            items, frame = loop
            inner.append(frame)
        when = self.condition(spec.when, (*key, "when"), inner) if spec.when is not None else None
        run = self.body(spec, key, inner)
        if run is None:
            return None
        return _wrap(run, items, when)

    def body(self, spec: Entry, key: tuple, frames: list[Frame]) -> Run | None:
        if self.syntax == "xml":
            if spec.element is not None:
                return self.xml_element(spec, key, frames)
            if spec.children is not None:
                if spec.text is not None or spec.attributes:
                    self.error(key, "text and attributes belong to an element: give 'element'")
                return self.entries(spec.children, (*key, "children"), frames)
            self.error(key, "an entry needs 'element' (or 'children' for a group of elements)")
            return None
        if spec.hl is not None:
            if spec.segment is not None or spec.elements:
                self.error(key, "an 'hl' level writes its own HL segment: put the level's segments under 'segments'")
            return self.hl(spec, key, frames)
        if "child_code" in spec.model_fields_set:
            self.error((*key, "child_code"), "'child_code' is for 'hl' levels")
        if spec.segment is not None:
            if spec.segments is not None:
                self.error(key, "give 'segment' (one segment) or 'segments' (a group), not both")
                return None
            return self.segment(spec, key, frames)
        if spec.segments is not None:
            if spec.elements:
                self.error((*key, "elements"), "'elements' belong to a segment: give 'segment'")
            return self.entries(spec.segments, (*key, "segments"), frames)
        self.error(key, "an entry needs 'segment', 'segments' (a group) or 'hl' (an X12 hierarchical level)")
        return None

    def loop(self, each: str | Each, key: tuple, frames: list[Frame]) -> tuple[Callable[[list], list], Frame] | None:
        spec = Each(path=each) if isinstance(each, str) else each
        path_key = (*key, "path") if (*key, "path") in self.located.lines else key
        path = self.resolve(spec.path, path_key, frames)
        if path is None:
            return None
        name = spec.as_
        if name is not None:
            if not _LOOP_NAME.match(name):
                self.error((*key, "as"), f"'{name}' is not a loop name (letters, digits, _)")
                return None
            if any(f.name == name for f in frames):
                self.error((*key, "as"), f"'{name}' already names an enclosing loop")
                return None
        if path.many:
            items = path.get
        elif path.kind == "record":
            get = path.get

            def items(stack: list) -> list:
                value = get(stack)
                return [] if value is None else [value]
        else:
            self.error(path_key, f"is {_a(path.target)}: 'each' goes over an array (one pass per item) or a "
                                 "record (one pass, none when it is null)", field=spec.path)
            return None
        return items, Frame(path.target, name, spec.path)

    # -- segments --------------------------------------------------------------
    def segment(self, spec: Entry, key: tuple, frames: list[Frame]) -> Run | None:
        seg_key = (*key, "segment")
        m = _SEGMENT.match((spec.segment or "").strip())
        if not m:
            self.error(seg_key, f"'{spec.segment}' is not a segment (expected TAG, or TAG[E=V,E.C=V] with constants)")
            return None
        tag = m.group("tag")
        if tag in ENVELOPE_TAGS:
            self.error(seg_key, f"{tag} is written by the envelope (the template is the message's body)")
            return None
        if tag == "HL" and self.syntax == "x12":
            self.error(seg_key, "HL segments are written by 'hl' levels (HL01 to HL04 are counted)")
            return None
        rules: dict[tuple[int, int | None], tuple[TextFn, bool]] = {}
        ok = True
        if m.group("consts"):
            for part in m.group("consts").split(","):
                pos_text, op, value = part.partition("=")
                pos = _position(pos_text.strip())
                if pos is None or not op or value.startswith("=") or pos_text.strip().endswith("!") or "|" in value:
                    self.error(seg_key, f"'{part.strip()}' in '{spec.segment}' is not a constant (expected E=V or "
                                        "E.C=V: a template writes one value)")
                    ok = False
                    continue
                problem = self.check(value)
                if problem:
                    self.error(seg_key, f"constant '{value}': {problem}")
                    ok = False
                if pos in rules:
                    self.error(seg_key, f"element {pos_text.strip()} is given twice")
                    ok = False
                rules[pos] = (_constant(value), False)
        for pos_text, rule in spec.elements.items():
            rule_key = (*key, "elements", pos_text)
            pos = _position(pos_text)
            if pos is None:
                self.error(rule_key, f"'{pos_text}' is not an element position (E or E.C, from 1: 2, 3.1; "
                                     "quote components from 10 on: \"3.10\")")
                ok = False
                continue
            if pos in rules:
                self.error(rule_key, f"element {pos_text} is given twice (in the segment's constants and here)")
                ok = False
                continue
            compiled = self.element(rule, rule_key, frames, f"{tag} element {pos_text}", tag=tag, position=pos_text)
            if compiled is None:
                ok = False
                continue
            rules[pos] = compiled
        simple = {e for e, c in rules if c is None}
        composite = {e for e, c in rules if c is not None}
        for e in sorted(simple & composite):
            self.error((*key, "elements"), f"element {e} is given both whole ({e}) and by component ({e}.1, ...)")
            ok = False
        if not ok:
            return None
        return _segment_run(tag, rules)

    def hl(self, spec: Entry, key: tuple, frames: list[Frame]) -> Run | None:
        if self.syntax != "x12":
            self.error((*key, "hl"), "'hl' levels are X12 (HL segments); EDIFACT hierarchies are written with "
                                     "segment_count (CPS/1)")
            return None
        level = str(spec.hl).strip()
        if not re.match(r"^[A-Z0-9]{1,2}$", level):
            self.error((*key, "hl"), f"'{level}' is not an HL level code (HL03: S, O, T, P, I, ...)")
            return None
        content = self.entries(spec.segments or [], (*key, "segments"), frames)
        child_code = spec.child_code

        def hl_level(stack: list, ctx: Ctx) -> None:
            ctx.hl += 1
            own = str(ctx.hl)
            elements = [own, ctx.parents[-1] if ctx.parents else "", level]
            if child_code:
                elements.append("0")
            seg = Segment("HL", elements)
            ctx.add(seg)
            ctx.parents.append(own)
            content(stack, ctx)
            ctx.parents.pop()
            if child_code and ctx.hl > int(own):
                elements[3] = "1"

        return hl_level

    # -- XML -------------------------------------------------------------------
    def qname(self, name: str, key: tuple, attribute: bool = False) -> str | None:
        m = _XML_NAME.match(name.strip())
        if not m:
            self.error(key, f"'{name}' is not an XML name")
            return None
        prefix, local = m.group("prefix"), m.group("local")
        if prefix is None:
            default = self.namespaces.get("") if not attribute else None
            return f"{{{default}}}{local}" if default else local
        uri = self.namespaces.get(prefix)
        if uri is None:
            self.error(key, f"prefix '{prefix}' is not declared (document.namespaces; cbc, cac and ext are "
                            f"predefined; declared: {', '.join(p for p in self.namespaces if p)})")
            return None
        return f"{{{uri}}}{local}"

    def xml_element(self, spec: Entry, key: tuple, frames: list[Frame]) -> Run | None:
        from lxml import etree

        name = spec.element or ""
        qname = self.qname(name, (*key, "element"))
        text = None
        data_text = False
        if spec.text is not None:
            compiled = self.element(spec.text, (*key, "text"), frames, f"<{name}>", tag=name)
            if compiled is None:
                return None
            text, data_text = compiled
        if qname is None:
            return None
        attributes = []
        for attr, rule in spec.attributes.items():
            attr_q = self.qname(attr, (*key, "attributes", attr), attribute=True)
            compiled = self.element(rule, (*key, "attributes", attr), frames, f"attribute {attr} of <{name}>",
                                    tag=name, position=attr)
            if attr_q is None or compiled is None:
                return None
            attributes.append((attr_q, compiled[0], compiled[1]))
        children = self.entries(spec.children, (*key, "children"), frames) if spec.children else None
        # written when it holds something read from the event, or when it reads nothing at all
        constant_leaf = children is None and not data_text and not any(d for _, _, d in attributes)
        make = etree.Element

        def xml_node(stack: list, ctx: Ctx) -> None:
            value = text(stack, ctx) if text is not None else None
            node = make(qname)
            found = bool(value) and data_text
            for attr_q, fn, data in attributes:
                attr_value = fn(stack, ctx)
                if attr_value:
                    node.set(attr_q, attr_value)
                    found = found or data
            if children is not None:
                parent = ctx.node
                ctx.node = node
                children(stack, ctx)
                ctx.node = parent
                found = found or len(node) > 0
            if not (found or constant_leaf):
                return
            if value:
                node.text = value
            ctx.node.append(node)

        return xml_node

    # -- element rules ----------------------------------------------------------
    def element(self, rule: str | Element, key: tuple, frames: list[Frame], label: str, *, tag: str | None = None,
                position: str | None = None, part: bool = False) -> tuple[TextFn, bool] | None:
        """``(text(stack, ctx), reads_the_event)`` for one element, component, XML text or attribute."""
        if isinstance(rule, str):
            rule = Element(path=rule)
        given = rule.model_fields_set
        sources = [k for k in ("path", "value", "first", "count", "sum", "segment_count", "concat")
                   if k in given and getattr(rule, k) is not None]
        if len(sources) > 1:
            self.error(key, f"give one of path, value, first, count, sum, segment_count, concat "
                            f"(found {', '.join(sources)})")
            return None
        where = self.where(key)
        field_name: str | None = None
        kind = "text"
        target: Target | None = None
        source: Callable[[list, Ctx], Any]
        data = False
        if not sources:
            if "value" in given or "default" in given:
                source = lambda stack, ctx: None  # noqa: E731 - only the default (or nothing)
            else:
                self.error(key, "the rule needs one of path, value, first, count, sum, segment_count or concat")
                return None
        else:
            kind_of = sources[0]
            if kind_of in ("path", "first", "count", "sum"):
                text = getattr(rule, kind_of)
                path = self.resolve(text, key, frames)
                if path is None:
                    return None
                field_name = path.text
                target = path.target
                if kind_of == "path":
                    if path.many:
                        self.error(key, f"reads {'an array' if path.ends_on_array else 'through an array'}: "
                                        "loop over it with 'each', or use first, count or sum", field=text)
                        return None
                    if path.kind == "record":
                        self.error(key, f"is a record ({', '.join(path.target.fields)}): name one of its fields",
                                   field=text)
                        return None
                    get = path.get
                    source = lambda stack, ctx: get(stack)  # noqa: E731
                    kind, data = path.kind, True
                elif kind_of == "first":
                    if path.kind in ("record", "array"):
                        self.error(key, f"'first' needs a path to a value, not to {_a(path.target)}", field=text)
                        return None
                    get = path.get
                    if path.many:
                        def source(stack: list, ctx: Ctx, get=get):
                            for value in get(stack):
                                if value is not None and value != "":
                                    return value
                            return None
                    else:
                        source = lambda stack, ctx: get(stack)  # noqa: E731
                    kind, data = path.kind, True
                elif kind_of == "count":
                    get = path.get
                    if path.many:
                        source = lambda stack, ctx: len(get(stack))  # noqa: E731
                    else:
                        source = lambda stack, ctx: 0 if get(stack) is None else 1  # noqa: E731
                    kind = "int"
                else:  # sum
                    if path.kind not in NUMERIC:
                        self.error(key, f"'sum' adds numbers; this is {_a(path.target)}", field=text)
                        return None
                    get = path.get
                    many = path.many

                    def source(stack: list, ctx: Ctx, get=get, many=many):
                        values = get(stack) if many else [get(stack)]
                        values = [v for v in values if v is not None]
                        return sum(values[1:], values[0]) if values else None

                    kind, data = path.kind, True
            elif kind_of == "segment_count":
                counted = str(rule.segment_count).strip()
                if self.syntax == "xml" or not _TAG.match(counted):
                    self.error(key, f"'segment_count' takes a segment tag (LIN, HL), not '{counted}'"
                               if self.syntax != "xml" else "'segment_count' is for EDIFACT and X12 routes")
                    return None
                own = 1 if counted == tag else 0

                def source(stack: list, ctx: Ctx, counted=counted, own=own):
                    return ctx.counts.get(counted, 0) + own

                kind = "int"
            elif kind_of == "value":
                constant = _constant_text(rule.value)
                source = lambda stack, ctx: constant  # noqa: E731
            else:  # concat
                parts = []
                for i, piece in enumerate(rule.concat or []):
                    if isinstance(piece, Element):
                        extra = sorted(piece.model_fields_set & {"required", "default", "concat"})
                        if extra:
                            self.error((*key, "concat", i), f"a concat part does not take {', '.join(extra)}")
                            return None
                    compiled = self.element(piece, (*key, "concat", i), frames, label, tag=tag, position=position,
                                            part=True)
                    if compiled is None:
                        return None
                    parts.append(compiled[0])
                    data = data or compiled[1]
                sep = rule.separator

                def source(stack: list, ctx: Ctx, parts=parts, sep=sep):
                    found = [t for t in (p(stack, ctx) for p in parts) if t]
                    return sep.join(found) if found else None
        if kind == "text":
            describe = "a constant" if sources and sources[0] == "value" else "text"
        elif kind == "int" and target is None or (sources and sources[0] == "count"):
            describe = "a count"
        else:
            describe = target.describe() if target is not None else kind
        fmt = self.formatter(rule, kind, describe, key, field_name)
        if fmt is _MISSING:
            return None
        cond = self.condition(rule.when, (*key, "when"), frames) if rule.when is not None else None
        mapping, star = self.translation(rule, kind, target, key, field_name)
        if mapping is _MISSING:
            return None
        codes, codes_star = None, _MISSING
        if rule.codes is not None:
            table = self.partner.code_lists.get(rule.codes)
            if table is None:
                known = ", ".join(self.partner.code_lists) or "none"
                self.error((*key, "codes"), f"code list '{rule.codes}' is not defined under code_lists (defined: "
                                            f"{known})", field=field_name)
                return None
            if rule.reverse:
                codes = {}
                for theirs, ours in table.items():
                    if theirs != "*":
                        codes.setdefault(str(ours), str(theirs))  # the first partner code for each of ours
            else:
                codes = {k: str(v) for k, v in table.items() if k != "*"}
                codes_star = str(table["*"]) if "*" in table else _MISSING
        elif rule.reverse:
            self.error((*key, "reverse"), "'reverse' reads a code list backwards: give 'codes'")
        default = None
        if "default" in given and rule.default is not None:
            default = _constant_text(rule.default)
            problem = self.check(default)
            if problem:
                self.error((*key, "default"), f"default '{default}': {problem}", field=field_name)
        if sources and sources[0] == "value":
            problem = self.check(_constant_text(rule.value)) if mapping is None and codes is None else None
            if problem:
                self.error((*key, "value"), f"constant '{rule.value}': {problem}")
        required = rule.required and not part
        check = self.check
        fail = self.fail
        shown_field = field_name

        def missing() -> RenderError:
            return fail(E.REQUIRED_MISSING, f"{label}: field '{shown_field}' is required but the event has no value"
                        if shown_field else f"{label} is required but the rule found no value",
                        where, shown_field, tag, position)

        plain = (cond is None and mapping is None and codes is None and default is None and not required
                 and fmt is None)
        if plain and sources and sources[0] == "path" and kind in ("string", "enum"):
            get_value = source

            def text_path(stack: list, ctx: Ctx) -> str | None:
                value = get_value(stack, ctx)
                if not value:
                    return None
                problem = check(value)
                if problem:
                    raise fail(E.UNENCODABLE, f"{label}: field '{shown_field}': {problem}", where, shown_field, tag,
                               position)
                return value

            return text_path, data

        def text_rule(stack: list, ctx: Ctx) -> str | None:
            raw = None if cond is not None and not cond(stack) else source(stack, ctx)
            if raw is None or raw == "":
                if default is not None:
                    return default
                if required:
                    raise missing()
                return None
            if fmt is not None:
                try:
                    text = fmt(raw)
                except (ValueError, TypeError, ArithmeticError, AttributeError) as exc:
                    raise fail(E.VALUE_INVALID, f"{label}: field '{shown_field}': {exc}", where, shown_field, tag,
                               position) from None
            else:
                text = raw if raw.__class__ is str else text_of(raw)
            if mapping is not None:
                mapped = mapping.get(text, star)
                if mapped is _MISSING:
                    raise fail(E.VALUE_INVALID, f"{label}: field '{shown_field}': '{text}' is not one of "
                                                f"{', '.join(mapping)} in the rule's map", where, shown_field, tag,
                               position)
                if mapped is None:
                    if default is not None:
                        return default
                    if required:
                        raise missing()
                    return None
                text = mapped
            if codes is not None:
                found = codes.get(text, _MISSING)
                text = found if found is not _MISSING else (codes_star if codes_star is not _MISSING else text)
            if text == "":
                if required:
                    raise missing()
                return None
            problem = check(text)
            if problem:
                what = f"field '{shown_field}'" if shown_field else "value"
                raise fail(E.UNENCODABLE, f"{label}: {what}: {problem}", where, shown_field, tag, position)
            return text

        return text_rule, data

    def formatter(self, rule: Element, kind: str, describe: str, key: tuple, field_name: str | None):
        """The function writing a value of ``kind`` (None: already text); _MISSING on a load error."""
        bad = False
        if rule.format is not None and kind not in ("date", "timestamp"):
            self.error((*key, "format"), f"'format' is for dates and timestamps, not {describe}", field=field_name)
            bad = True
        if rule.timezone is not None:
            if kind != "timestamp":
                self.error((*key, "timezone"), f"'timezone' is for timestamps, not {describe}", field=field_name)
                bad = True
            elif not _zone_ok(rule.timezone):
                self.error((*key, "timezone"), f"'{rule.timezone}' is not an IANA time zone (e.g. Europe/Brussels)",
                           field=field_name)
                bad = True
        numeric = kind in NUMERIC
        for option in ("decimals", "implied_decimals"):
            value = getattr(rule, option)
            if value is None:
                continue
            if not numeric or describe == "a count":
                self.error((*key, option), f"'{option}' is for numbers, not {describe}", field=field_name)
                bad = True
            elif not 0 <= value <= 18:
                self.error((*key, option), f"'{option}' is between 0 and 18", field=field_name)
                bad = True
        if rule.decimals is not None and rule.implied_decimals is not None:
            self.error(key, "give 'decimals' or 'implied_decimals', not both", field=field_name)
            bad = True
        if bad:
            return _MISSING
        if kind in ("date", "timestamp"):
            if rule.format is None:
                self.error(key, f"a {kind} needs a 'format' ({', '.join(sorted(WRITABLE_FORMATS))})", field=field_name)
                return _MISSING
            if rule.format not in WRITABLE_FORMATS:
                self.error((*key, "format"), f"unknown format '{rule.format}' (known: "
                                             f"{', '.join(sorted(WRITABLE_FORMATS))})", field=field_name)
                return _MISSING
            zone = convert.zone(rule.timezone) if rule.timezone else self.zone
            return date_formatter(rule.format, kind, zone)
        if numeric:
            if kind in ("int", "long") and rule.decimals is None and rule.implied_decimals is None:
                return str
            return number_formatter(rule.decimals, rule.implied_decimals)
        if kind == "boolean":
            return lambda value: "true" if value else "false"
        if kind in ("record", "array"):
            self.error(key, f"cannot write {describe} as one value", field=field_name)
            return _MISSING
        return None  # strings, enums, uuids, constants, joined text

    def translation(self, rule: Element, kind: str, target: Target | None, key: tuple, field_name: str | None):
        if rule.map is None:
            return None, _MISSING
        mapping = {k: (None if v is None else _constant_text(v)) for k, v in rule.map.items()}
        star = mapping.pop("*", _MISSING)
        if kind == "enum" and target is not None:
            unknown = [k for k in mapping if k not in target.symbols]
            if unknown:
                self.error((*key, "map"), f"maps {', '.join(unknown)}, which {target.name} does not have "
                                          f"({', '.join(target.symbols)})", field=field_name)
                return _MISSING, _MISSING
            left = [s for s in target.symbols if s not in mapping]
            if left and star is _MISSING:
                self.error((*key, "map"), f"does not say what {', '.join(left)} become{'s' if len(left) == 1 else ''} "
                                          "(add them, or \"*\" for anything else)", field=field_name)
                return _MISSING, _MISSING
        for value in [*mapping.values(), star]:
            if isinstance(value, str):
                problem = self.check(value)
                if problem:
                    self.error((*key, "map"), f"'{value}': {problem}", field=field_name)
                    return _MISSING, _MISSING
        return mapping, star

    # -- conditions -------------------------------------------------------------
    def condition(self, cond: When, key: tuple, frames: list[Frame]) -> Test | None:
        path = self.resolve(cond.path, (*key, "path"), frames)
        if path is None:
            return None
        if path.kind == "record" and not path.many and (cond.equals is not None or cond.in_ or cond.not_in):
            self.error((*key, "path"), "is a record: compare one of its fields, or test it with exists",
                       field=cond.path)
            return None
        other = self.resolve(cond.same_as, (*key, "same_as"), frames) if cond.same_as is not None else None
        if cond.same_as is not None and other is None:
            return None
        if path.kind == "enum":
            named = [v for v in [cond.equals, *(cond.in_ or []), *(cond.not_in or [])] if v is not None]
            unknown = [v for v in named if v not in path.target.symbols]
            if unknown:
                self.error(key, f"{', '.join(unknown)}: not {'a symbol' if len(unknown) == 1 else 'symbols'} of "
                                f"{path.target.name} ({', '.join(path.target.symbols)})", field=cond.path)
                return None
        values = _texts(path)
        others = _texts(other) if other is not None else None
        equals, exists = cond.equals, cond.exists
        allowed = frozenset(cond.in_) if cond.in_ is not None else None
        denied = frozenset(cond.not_in) if cond.not_in is not None else None
        if equals is None and allowed is None and denied is None and exists is None and others is None:
            exists = True

        def test(stack: list) -> bool:
            found = values(stack)
            if exists is not None and bool(found) != exists:
                return False
            if equals is None and allowed is None and denied is None and others is None:
                return True
            against = set(others(stack)) or {""} if others is not None else None
            for value in found or [""]:
                if equals is not None and value != equals:
                    continue
                if allowed is not None and value not in allowed:
                    continue
                if denied is not None and value in denied:
                    continue
                if against is not None and value not in against:
                    continue
                return True
            return False

        return test


def _texts(path: EventPath) -> Callable[[list], list[str]]:
    """The non-empty texts a path finds (several through arrays)."""
    get = path.get
    if path.many:
        return lambda stack: [t for t in (text_of(v) for v in get(stack)) if t]

    def one(stack: list) -> list[str]:
        text = text_of(get(stack))
        return [text] if text else []

    return one


def _position(text: str) -> tuple[int, int | None] | None:
    m = _POSITION.match(text)
    if not m:
        return None
    component = m.group("component")
    return int(m.group("element")), (int(component) if component else None)


def _a(target: Target) -> str:
    kind = target.describe()
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _constant(text: str) -> TextFn:
    return lambda stack, ctx: text


def _wrap(run: Run, items: Callable[[list], list] | None, when: Test | None) -> Run:
    if items is None:
        if when is None:
            return run

        def guarded(stack: list, ctx: Ctx) -> None:
            if when(stack):
                run(stack, ctx)

        return guarded

    def looped(stack: list, ctx: Ctx) -> None:
        for item in items(stack):
            stack.append(item)
            if when is None or when(stack):
                run(stack, ctx)
            stack.pop()

    return looped


def _segment_run(tag: str, rules: dict[tuple[int, int | None], tuple[TextFn, bool]]) -> Run:
    """A segment: its element rules, in position order, and how their texts make its elements.

    Left out when it has rules reading the event and none of them found anything.
    """
    order = sorted(rules, key=lambda p: (p[0], p[1] or 0))
    fns = [rules[p][0] for p in order]
    data_idx = [i for i, p in enumerate(order) if rules[p][1]]
    width = max(e for e, _ in order) if order else 0
    layout: list[Any] = [None] * width
    for i, (e, c) in enumerate(order):
        if c is None:
            layout[e - 1] = i
        else:
            slot = layout[e - 1]
            if slot is None:
                slot = layout[e - 1] = []
            slot.extend([None] * (c - len(slot)))
            slot[c - 1] = i

    def write(stack: list, ctx: Ctx) -> None:
        texts = [fn(stack, ctx) for fn in fns]
        if data_idx and not any(texts[i] for i in data_idx):
            return
        elements: list = []
        for slot in layout:
            if slot is None:
                elements.append("")
            elif slot.__class__ is int:
                elements.append(texts[slot] or "")
            else:
                elements.append([(texts[i] or "") if i is not None else "" for i in slot])
        ctx.add(Segment(tag, elements))

    return write


# -- routes ------------------------------------------------------------------------


def _listed(value) -> list:
    return [] if value is None else (value if isinstance(value, list) else [value])


def compile_route(located: Located, partner: PartnerFile, spec: OutboundRoute, key: tuple,
                  targets: dict[str, Target], errors: list[str]) -> Route | None:
    """One outbound route of ``partner``, compiled; None (and ``errors`` grown) when it has problems."""
    before = len(errors)

    def error(sub: tuple, text: str) -> None:
        errors.append(f"{located.where((*key, *sub))}: {text}")

    if not _ROUTE_NAME.match(spec.name):
        error(("name",), f"'{spec.name}' is not a route name (letters, digits, . _ -)")
    target = targets.get(spec.event)
    if target is None:
        error(("event",), f"unknown event type '{spec.event}' (schemas: {', '.join(sorted(targets))})")
        return None
    doc = spec.document
    envelope = _envelope(located, partner, spec, key, errors)  # problems listed; the template is still checked
    if doc.syntax == "edifact":
        codec = edifact_codec(envelope.syntax_identifier)
        name, bad_char = repertoire("edifact", envelope.syntax_identifier, codec)
        forbidden = ""
    elif doc.syntax == "x12":
        codec = "ascii"
        name, bad_char = repertoire("x12", envelope.character_set, codec)
        forbidden = "*>~" + ("^" if envelope.isa_version >= "00402" else "")
    else:
        codec = "utf-8"
        name, bad_char = repertoire("xml", "", codec)
        forbidden = ""
    separators = {"*": "element separator", ">": "component separator", "~": "segment terminator",
                  "^": "repetition separator"}

    def check(text: str) -> str | None:
        char = bad_char(text)
        if char is not None:
            return f"{shown(char)} cannot be written in {name}"
        if forbidden:
            for ch in forbidden:
                if ch in text:
                    return f"'{ch}' is the {separators[ch]} of this interchange and cannot be in a value"
        return None

    for sub, value in (("sender", envelope.sender), ("recipient", envelope.recipient),
                       ("sender_qualifier", envelope.sender_qualifier),
                       ("recipient_qualifier", envelope.recipient_qualifier),
                       ("group_sender", envelope.group_sender), ("group_recipient", envelope.group_recipient)):
        problem = check(value) if value else None
        if problem:
            error(("envelope", sub), f"'{value}': {problem}")
    compiler = Compiler(located, partner, spec, errors, check=check, namespaces=envelope.namespaces)
    frames = [Frame(target, None, spec.event)]
    when = compiler.condition(spec.when, (*key, "when"), frames) if spec.when is not None else None
    if not spec.template:
        error(("template",), "the template is empty")
    body = compiler.entries(spec.template, (*key, "template"), frames)
    filename = spec.filename or ("{message}-{digest}.{ext}" if doc.syntax == "xml" else "{message}-{control}.{ext}")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(filename) if f is not None}
    except ValueError as exc:
        error(("filename",), f"'{filename}': {exc}")
        names = set()
    unknown = sorted(n for n in names if n not in FILENAME_FIELDS)
    if unknown:
        error(("filename",), f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} "
                             f"(known: {', '.join('{' + n + '}' for n in sorted(FILENAME_FIELDS))})")
    if len(errors) > before:
        return None
    expects = spec.expects_ack if spec.expects_ack is not None else envelope.ack_requested
    return Route(partner_id=partner.partner, name=spec.name, event_type=spec.event, syntax=doc.syntax,
                 message=doc.message, version=doc.version, file=located.file, where=located.where(key), spec=spec,
                 envelope=envelope, when=when, body=body, zone=convert.zone(partner.timezone), filename=filename,
                 expects_ack=bool(expects), codec=codec)


def edifact_codec(syntax_identifier: str) -> str:
    from gateway.syntax.edifact import CHARSETS

    return CHARSETS[syntax_identifier]


_EDIFACT_ONLY = ("syntax_identifier", "syntax_version", "una", "groups", "application_reference")
_X12_ONLY = ("isa_version", "functional_id", "group_sender", "group_recipient", "group_number", "character_set",
             "authorization_qualifier", "authorization_information", "security_qualifier", "security_information")


def _isa01_04(given, error) -> list[str]:
    """ISA01-ISA04 as the partner agreed them; ISA04 (a password) comes from the environment."""
    security = given.security_information or ""
    if security.startswith("env:"):
        name = security[4:]
        if name not in os.environ:
            error(("envelope", "security_information"), f"the environment variable {name} is not set")
        security = os.environ.get(name, "")
    elif security:
        error(("envelope", "security_information"), "ISA04 is a password: give it as env:NAME, not in the file")
    fields = [given.authorization_qualifier or "00", given.authorization_information or "",
              given.security_qualifier or "00", security]
    names = ("authorization_qualifier", "authorization_information", "security_qualifier", "security_information")
    for name, value, limit in zip(names, fields, (2, 10, 2, 10)):
        if len(value) > limit:
            error(("envelope", name), f"'{value if name != names[3] else '***'}' is longer than {limit} characters")
    return fields


def _envelope(located: Located, partner: PartnerFile, spec: OutboundRoute, key: tuple,
              errors: list[str]) -> Envelope:
    """The envelope settings with their defaults; problems are appended to ``errors``."""
    doc, given = spec.document, spec.envelope
    set_keys = given.model_fields_set

    def error(sub: tuple, text: str) -> None:
        errors.append(f"{located.where((*key, *sub))}: {text}")

    out = Envelope(test=given.test, ack_requested=given.ack_requested, newline=given.newline)
    if doc.syntax == "xml":
        for k in sorted(set_keys):
            error(("envelope", k), f"'{k}': an XML document has no envelope to set")
        namespaces = {**UBL_NAMESPACES, **doc.namespaces}
        out.namespaces = namespaces
        if doc.agency is not None or doc.association is not None:
            error(("document",), "agency and association are EDIFACT (UNH S009)")
        return out
    if doc.namespaces:
        error(("document", "namespaces"), "namespaces are for XML documents")
    wrong = _X12_ONLY if doc.syntax == "edifact" else _EDIFACT_ONLY
    for k in wrong:
        if k in set_keys:
            error(("envelope", k), f"'{k}' is for {'X12' if doc.syntax == 'edifact' else 'EDIFACT'} routes")
    if doc.syntax == "edifact":
        ids: list[EdifactIdentity] = _listed(partner.identity.edifact)
        if not re.match(r"^[A-Z]{6}$", doc.message):
            error(("document", "message"), f"'{doc.message}' is not an EDIFACT message type (ORDRSP, DESADV, ...)")
        if not re.match(r"^[A-Z][0-9]{2}[A-Z]$", doc.version):
            error(("document", "version"), f"'{doc.version}' is not an EDIFACT directory (D96A, D01B, ...)")
        from gateway.syntax.edifact import CHARSETS

        out.syntax_identifier = (given.syntax_identifier or "UNOC").upper()
        if out.syntax_identifier not in CHARSETS:
            error(("envelope", "syntax_identifier"), f"'{given.syntax_identifier}' is not a syntax identifier "
                                                     f"({', '.join(CHARSETS)})")
            out.syntax_identifier = "UNOC"  # to go on checking the template
        out.syntax_version = given.syntax_version or "3"
        if out.syntax_version not in ("1", "2", "3", "4"):
            error(("envelope", "syntax_version"), f"'{given.syntax_version}' is not a syntax version (1 to 4)")
        out.una, out.groups = given.una, given.groups
        out.sender = given.sender or next((i.recipient for i in ids if i.recipient), "")
        out.sender_qualifier = given.sender_qualifier or ""
        out.recipient = given.recipient or (ids[0].sender if ids else "")
        out.recipient_qualifier = given.recipient_qualifier or (
            (ids[0].qualifier or "") if ids and not given.recipient else "")
        out.s009 = [doc.message, doc.version[:1], doc.version[1:], doc.agency or "UN"]
        if doc.association:
            out.s009.append(doc.association)
        out.application_reference = given.application_reference or ""
        limits = {"sender": 35, "recipient": 35, "sender_qualifier": 4, "recipient_qualifier": 4,
                  "application_reference": 14}
        who = "identity.edifact"
    else:
        ids12: list[X12Identity] = _listed(partner.identity.x12)
        if doc.agency is not None or doc.association is not None:
            error(("document",), "agency and association are EDIFACT (UNH S009)")
        if not re.match(r"^[0-9]{3}$", doc.message):
            error(("document", "message"), f"'{doc.message}' is not an X12 transaction set (850, 855, ...)")
        if not re.match(r"^[0-9]{6}", doc.version) or len(doc.version) > 12:
            error(("document", "version"), f"'{doc.version}' is not an X12 version (004010, 005010, ...)")
        out.isa_version = given.isa_version or doc.version[:5]
        if not re.match(r"^[0-9]{5}$", out.isa_version):
            error(("envelope", "isa_version"), f"'{out.isa_version}' is not an ISA12 version (00401, 00501)")
            out.isa_version = "00401"  # to go on checking the template
        from gateway.syntax import x12 as x12_syntax

        out.functional_id = given.functional_id or getattr(x12_syntax, "_FUNCTIONAL_IDS", {}).get(doc.message, "")
        if not out.functional_id:
            error(("envelope", "functional_id"), f"the functional identifier (GS01) of {doc.message} is not known: "
                                                 "give envelope.functional_id")
        out.sender = given.sender or next((i.recipient for i in ids12 if i.recipient), "")
        out.sender_qualifier = given.sender_qualifier or "ZZ"
        out.recipient = given.recipient or (ids12[0].sender if ids12 else "")
        out.recipient_qualifier = given.recipient_qualifier or (
            (ids12[0].qualifier or "ZZ") if ids12 and not given.recipient else "ZZ")
        out.group_sender = given.group_sender or out.sender
        out.group_recipient = given.group_recipient or (
            (ids12[0].group_sender or out.recipient) if ids12 and not given.recipient else out.recipient)
        out.group_number = given.group_number
        out.character_set = given.character_set or "extended"
        out.isa01_04 = _isa01_04(given, error)
        limits = {"sender": 15, "recipient": 15, "sender_qualifier": 2, "recipient_qualifier": 2,
                  "group_sender": 15, "group_recipient": 15}
        who = "identity.x12"
    if not out.sender:
        error(("envelope",), f"envelope.sender is needed: our id in the {doc.syntax.upper()} envelope "
                             f"(or `recipient` under {who})")
    if not out.recipient:
        error(("envelope",), f"envelope.recipient is needed: the partner's id (or `sender` under {who})")
    for name, limit in limits.items():
        value = getattr(out, name)
        if len(value) > limit:
            error(("envelope", name), f"'{value}' is longer than {limit} characters")
    return out
