"""Turn checked mapping rules into plain functions ``scope -> value``.

Everything that can be decided from the partner file and the schema is
decided here, once: the path is parsed, the XPath compiled, the converter for
the target type chosen, code lists resolved. Problems are collected (not
raised one by one) as ``file:line: key: message`` lines so ``edigw check``
can list them all. At run time a compiled rule only looks things up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from gateway.errors import MappingError
from gateway.mapping import convert
from gateway.mapping.paths import PathError, Scope, SegmentPath, parse_path
from gateway.mapping.spec import Condition, Each, PartnerFile, Rule
from gateway.mapping.targets import ENVELOPE_FIELDS, Target
from gateway.model import Issue, Location, Repeats, Segment
from gateway.yamlconf import Located

Fn = Callable[[Scope], Any]
Source = Callable[[Scope], "tuple[str, Segment | None, Any] | None"]
_MISSING = object()

# Prefixes every XML rule may use without declaring them.
UBL_NAMESPACES = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
}


def fail(code: str, text: str, seg: Segment | None = None, node: Any = None, **where) -> MappingError:
    if seg is not None:
        location = Location.of(seg, **where)
    elif node is not None and getattr(node, "sourceline", None):
        location = Location(line=node.sourceline, **where)
    else:
        location = Location(**where)
    return MappingError(Issue(code, text, location))


class Compiler:
    """Compiles the rules of one inbound route of one partner file."""

    def __init__(self, located: Located, partner: PartnerFile, syntax: str, errors: list[str]) -> None:
        self.located = located
        self.partner = partner
        self.syntax = syntax
        self.errors = errors
        self.namespaces = {**UBL_NAMESPACES, **partner.namespaces}

    # -- error collection --------------------------------------------------
    def error(self, key: tuple, field: str, text: str) -> None:
        self.errors.append(f"{self.located.where(key)}: field '{field}': {text}")

    # -- records and arrays ------------------------------------------------
    def record(self, rules: dict[str, str | Rule], target: Target, key: tuple, top: bool = False) -> Fn:
        compiled: list[tuple[str, Fn, Target]] = []
        for name, rule in rules.items():
            field_key = (*key, name)
            if top and name in ENVELOPE_FIELDS:
                self.error(field_key, name, "is filled by the gateway; remove this rule")
                continue
            sub = target.fields.get(name)
            if sub is None:
                known = ", ".join(f for f in target.fields if not (top and f in ENVELOPE_FIELDS))
                self.error(field_key, name, f"is not a field of {target.name} (fields: {known})")
                continue
            fn = self.field(rule, sub, field_key)
            if fn is not None:
                compiled.append((name, fn, sub))
        for name, sub in target.fields.items():
            if name in rules or (top and (name in ENVELOPE_FIELDS or name == "occurred_at")):
                continue
            if sub.required:
                self.error(key, name, f"{target.name}.{name} ({sub.describe()}) is required but has no rule")
        absent = {name: (None if sub.optional else []) if sub.kind == "array" else None
                  for name, sub in target.fields.items()
                  if name not in rules and not (top and name in ENVELOPE_FIELDS)}
        return self._generate_record(rules, compiled, target, absent)

    # -- records as generated code ----------------------------------------
    _INLINE_KINDS = frozenset({"string", "decimal", "date", "timestamp", "int", "long"})

    def _generate_record(self, rules: dict, compiled: list, target: Target, absent: dict) -> Fn:
        """The record's run function, generated as straight-line Python.

        A field whose rule is a bare segment path is read inline (segment
        lookup, filters and element access written out for its positions); any
        other field calls its compiled rule. Same behaviour as calling every
        compiled rule in turn, without a chain of calls per field: mapping is
        the costliest stage after reading, and most rules are bare paths.
        """
        lines = ["def run(scope):", "    idx = scope.index()", "    out = dict(ABSENT)", "    missing = None"]
        if target.optional:
            lines.append("    found = False")
        ns: dict[str, Any] = {"ABSENT": absent, "_pick": _pick, "_convert": _convert, "fail": fail,
                              "_first": _first}
        uses_root = False
        for k, (name, fn, sub) in enumerate(compiled):
            path = self._inline_path(rules.get(name), sub)
            translated = self._translated(rules.get(name), sub) if path is not None else None
            if path is None:
                ns[f"F{k}"] = fn
                lines.append(f"    v = F{k}(scope)")
            else:
                uses_root |= path.absolute
                lines += self._inline_lookup(path, k, ns)
                if translated is not None:
                    lines += self._inline_translation(translated, name, k, ns)
                elif sub.kind == "string":
                    lines.append("    v = v.strip() or None if v is not None else None")
                elif sub.kind == "decimal":  # what converter() and _convert do, without their calls
                    ns[f"D{k}"] = convert.decimal_reader(scale=sub.scale, precision=sub.precision)
                    lines += ["    if v is not None:",
                              "        v = v.strip()",
                              "        if not v:",
                              "            v = None",
                              "        else:",
                              "            try:",
                              f"                v = D{k}(v, scope.decimal_mark)",
                              "            except ValueError as exc:",
                              f"                raise fail('MAPPING_VALUE_INVALID', f'{name}: {{exc}}', s) from None"]
                else:
                    ns[f"C{k}"] = self.converter(Rule(), sub, ())
                    lines.append(f"    v = _convert(C{k}, {name!r}, v, s, scope) if v is not None else None")
            lines.append(f"    out[{name!r}] = v")
            # only what can matter is written: a missing value matters to a required field, and
            # whether anything was found only to an optional record
            present = "v is not None and v != []" if sub.kind == "array" else "v is not None"
            if sub.required:
                lines.append(f"    if v is None and missing is None: missing = {name!r}")
            if target.optional:
                lines.append(f"    if {present}: found = True")
        if uses_root:
            lines.insert(2, "    ridx = scope.root.index()")
        if target.optional:
            lines.append("    if not found: return None")
        lines += ["    if missing is not None:",
                  "        raise fail('MAPPING_REQUIRED_MISSING', f'" + target.name
                  + ".{missing} is required but the message has no value for it', _first(scope),"
                  " scope.node if scope.node is not None else scope.root.node)",
                  "    return out"]
        exec(compile("\n".join(lines), f"<mapping record {target.name}>", "exec"), ns)
        return ns["run"]

    def _inline_path(self, rule, target: Target) -> SegmentPath | None:
        if self.syntax == "xml" or target.kind not in self._INLINE_KINDS:
            return None
        if isinstance(rule, str):
            text = rule
        elif isinstance(rule, Rule) and rule.path and (
                rule.model_fields_set == {"path"} or self._translated(rule, target) is not None):
            text = rule.path
        else:
            return None
        try:
            path = parse_path(text)
        except PathError:
            return None
        return path if path.element is not None and not path.inherit else None

    def _translated(self, rule, target: Target) -> tuple[dict | None, Any, dict | None] | None:
        """(map, its "*", code list) of a string rule that is a path with a map and/or a code list
        (and at most ``default: null``, which is what finding nothing gives anyway); else None."""
        if not isinstance(rule, Rule) or target.kind != "string" or not rule.strip:
            return None
        if not rule.model_fields_set - {"path", "default"} or rule.model_fields_set - {
                "path", "map", "codes", "default"}:
            return None
        if rule.default is not None or (rule.map is None and rule.codes is None):
            return None
        codes = self.partner.code_lists.get(rule.codes) if rule.codes is not None else None
        if rule.codes is not None and codes is None:
            return None  # an unknown code list: the compiled rule reports it
        mapping, star = self.translation(rule, target, ()) if rule.map is not None else (None, _MISSING)
        return mapping, star, codes

    @staticmethod
    def _inline_translation(translated: tuple, name: str, k: int, ns: dict) -> list[str]:
        """Code doing what a compiled string rule with ``map`` / ``codes`` does to the value found."""
        mapping, star, codes = translated
        out = ["    if v is not None:", "        v = v.strip() or None"]
        if mapping is not None:
            ns[f"M{k}"], ns[f"S{k}"], ns["_MISSING"] = mapping, star, _MISSING
            ns[f"MN{k}"] = ", ".join(mapping)
            out += ["    if v is not None:",
                    f"        t = M{k}.get(v, S{k})",
                    "        if t is _MISSING:",
                    f"            raise fail('MAPPING_VALUE_INVALID', f\"{name}: '{{v}}' is not one of {{MN{k}}}"
                    " in the rule's map\", s)",
                    "        v = t"]
        if codes is not None:
            ns[f"L{k}"], ns[f"LS{k}"] = codes, "*" in codes
            out += ["    if v is not None:",
                    f"        v = L{k}.get(v, L{k}['*'] if LS{k} else v)"]
        return out

    @staticmethod
    def _inline_lookup(path: SegmentPath, k: int, ns: dict) -> list[str]:
        """Code that sets ``v`` (the first non-empty value, or None) and ``s`` (its segment)."""
        def extract(var: str, element: int, component: int | None) -> list[str]:
            i, j = element - 1, (component or 1) - 1
            simple = [] if j == 0 else ["    else:", f"        {var} = ''"]  # a simple element is a first component
            return [f"if len(els) > {i}:",
                    f"    {var} = els[{i}]",
                    f"    if {var}.__class__ is not str:",  # a composite (a list) inline, repeats by _pick
                    f"        {var} = ({var}[{j}] if len({var}) > {j} else '') if {var}.__class__ is list"
                    f" else _pick({var}, {j})",
                    *simple,
                    "else:",
                    f"    {var} = ''"]

        out = ["    v = s = None", f"    for seg in {'ridx' if path.absolute else 'idx'}.get({path.tag!r}, ()):",
               "        els = seg.elements"]
        for n, f in enumerate(path.filters):
            fv = f"q{n}"
            out += ["        " + line for line in extract(fv, f.element, f.component)]
            if f.values is None:
                out.append(f"        if not {fv}: continue")
            else:
                ns[f"V{k}_{n}"] = f.values
                op = "in" if f.negate else "not in"
                out.append(f"        if {fv} {op} V{k}_{n}: continue")
        out += ["        " + line for line in extract("x", path.element, path.component)]
        out += ["        if x:", "            v, s = x, seg", "            break"]
        return out

    def field(self, rule: str | Rule, target: Target, key: tuple) -> Fn | None:
        if isinstance(rule, str):
            rule = Rule(path=rule) if self.syntax != "xml" else Rule(xpath=rule)
        if target.kind == "array":
            return self.array(rule, target, key)
        if target.kind == "record":
            if not rule.fields:
                self.error(key, target.name, f"is a record ({', '.join(target.fields)}): give its 'fields'")
                return None
            if rule.each:
                self.error(key, target.name, "is a record, not an array: 'each' does not apply")
            for extra in ("path", "xpath", "value", "concat", "format", "map", "codes", "default", "time",
                          "implied_decimals"):
                if extra in rule.model_fields_set:
                    self.error(key, target.name, f"is a record: '{extra}' does not apply (give 'fields')")
            inner = self.record(rule.fields, target, (*key, "fields"))
            return self.scoped(rule, inner, key, target)
        if rule.fields or rule.each:
            self.error(key, target.name, f"is a {target.describe()}, not a record or array: "
                       "'fields' and 'each' do not apply")
            return None
        return self.scalar(rule, target, key)

    def array(self, rule: Rule, target: Target, key: tuple) -> Fn | None:
        if rule.each is None:
            self.error(key, target.name, f"is an {target.describe()}: say what to iterate with 'each'")
            return None
        items = self.iterate(rule.each, (*key, "each"), target.name)
        item_target = target.item
        assert item_target is not None
        if item_target.kind == "record":
            if not rule.fields:
                self.error(key, target.name, "items are records: give their 'fields'")
                return None
            item = self.record(rule.fields, item_target, (*key, "fields"))
        else:
            scalar_rule = rule.model_copy(update={"each": None})
            item = self.scalar(scalar_rule, item_target, key)
        if items is None or item is None:
            return None

        def run(scope: Scope) -> list:
            out = []
            for sub in items(scope):
                value = item(sub)
                if value is not None:
                    out.append(value)
            return out

        return run

    def iterate(self, each: Each, key: tuple, field: str) -> Callable[[Scope], list[Scope]] | None:
        given = [k for k in ("group", "hl", "segment", "xpath") if getattr(each, k)]
        if len(given) != 1:
            self.error(key, field, "'each' needs exactly one of group, hl, segment, xpath")
            return None
        kind = given[0]
        if kind == "xpath":
            if self.syntax != "xml":
                self.error(key, field, "'each: xpath' is for XML routes; use group, hl or segment")
                return None
            xp = self.xpath(each.xpath, key, field)
            if xp is None:
                return None

            def xml_items(scope: Scope) -> list[Scope]:
                return [Scope([], root=scope.root, node=n) for n in xp(scope.node) if isinstance(n, etree._Element)]

            return xml_items
        if self.syntax == "xml":
            self.error(key, field, f"'each: {kind}' is for EDIFACT and X12 routes; use xpath")
            return None
        if kind == "hl":
            level = each.hl

            def hl_items(scope: Scope) -> list[Scope]:
                return scope.hl_levels(level)

            return hl_items
        path = self.path(getattr(each, kind), key, field)
        if path is None:
            return None
        if kind == "segment":
            def segment_items(scope: Scope) -> list[Scope]:
                return [scope.child([s]) for s in path.segments(scope)]

            return segment_items
        until = frozenset(each.until)

        def group_items(scope: Scope) -> list[Scope]:
            return scope.groups(path, until)

        return group_items

    def scoped(self, rule: Rule, inner: Fn, key: tuple, target: Target) -> Fn:
        """A record whose fields are read inside one segment group (``group:``)."""
        if rule.group is None:
            if rule.when is not None:
                cond = self.condition(rule.when, (*key, "when"), target.name)

                def when_record(scope: Scope):
                    return inner(scope) if cond(scope) else None

                return when_record
            return inner
        path = self.path(rule.group, (*key, "group"), target.name)
        until = frozenset(rule.until)
        if path is None:
            return inner

        def group_record(scope: Scope):
            groups = scope.groups(path, until)
            return inner(groups[0]) if groups else None

        return group_record

    # -- scalars -----------------------------------------------------------
    def scalar(self, rule: Rule, target: Target, key: tuple) -> Fn | None:
        name = target.name
        for extra in ("group", "until"):
            if extra in rule.model_fields_set and getattr(rule, extra):
                self.error(key, name, f"'{extra}' is for records (a group of segments to read fields in), "
                           f"not for a {target.describe()}")
        source = self.source(rule, key, name)
        if source is None:
            return None
        conv = self.converter(rule, target, key)
        if conv is None:
            return None
        cond = self.condition(rule.when, (*key, "when"), name) if rule.when is not None else None
        mapping, star = self.translation(rule, target, key)
        codes = None
        if rule.codes is not None:
            codes = self.partner.code_lists.get(rule.codes)
            if codes is None:
                self.error(key, name, f"code list '{rule.codes}' is not defined under code_lists")
                return None
        if rule.value is not None and rule.map is None and rule.codes is None:
            self.constant(rule.value, conv, key, name)  # a constant that cannot convert is a load error
        default = _MISSING
        if "default" in rule.model_fields_set:
            default = self.constant(rule.default, conv, key, name)
        strip = rule.strip
        if cond is None and mapping is None and codes is None and default is _MISSING and strip:
            # The common rule, a path and nothing else: the shortest way through.
            path = self._plain_path(rule)
            if target.kind == "string" and path is not None:
                first = path.first

                def path_string(scope: Scope):
                    found = first(scope)
                    if found is None:
                        return None
                    return found[0].strip() or None

                return path_string
            if target.kind == "string":
                def plain_string(scope: Scope):
                    found = source(scope)
                    if found is None:
                        return None
                    return found[0].strip() or None

                return plain_string

            def plain(scope: Scope):
                found = source(scope)
                if found is None:
                    return None
                raw = found[0].strip()
                if not raw:
                    return None
                try:
                    return conv(raw, found[1], scope)
                except ValueError as exc:
                    raise fail("MAPPING_VALUE_INVALID", f"{name}: {exc}", found[1], found[2]) from None

            return plain

        def run(scope: Scope):
            found = None if cond is not None and not cond(scope) else source(scope)
            if found is None:
                return None if default is _MISSING else default
            raw, seg, node = found
            if strip:
                raw = raw.strip()
                if raw == "":
                    return None if default is _MISSING else default
            if mapping is not None:
                mapped = mapping.get(raw, star)
                if mapped is _MISSING:
                    raise fail("MAPPING_VALUE_INVALID",
                               f"{name}: '{raw}' is not one of {', '.join(mapping)} in the rule's map", seg, node)
                raw = mapped
                if raw is None:
                    return None if default is _MISSING else default
            if codes is not None:
                raw = codes.get(raw, codes.get("*", raw))
            try:
                return conv(raw, seg, scope)
            except ValueError as exc:
                raise fail("MAPPING_VALUE_INVALID", f"{name}: {exc}", seg, node) from None

        return run

    def _plain_path(self, rule: Rule) -> SegmentPath | None:
        """The rule's segment path, when the rule is nothing but one."""
        if self.syntax == "xml" or not rule.path or rule.model_fields_set - {"path"}:
            return None
        try:
            path = parse_path(rule.path)
        except PathError:
            return None
        return path if path.element is not None else None

    def translation(self, rule: Rule, target: Target, key: tuple) -> tuple[dict | None, Any]:
        if rule.map is None:
            if target.kind == "enum" and rule.value is None:
                pass  # the raw value must already be a symbol; checked at run time
            return None, _MISSING
        mapping = {str(k): (None if v is None else str(v)) for k, v in rule.map.items()}
        star = mapping.pop("*", _MISSING)
        if target.kind == "enum":
            bad = [v for v in [*mapping.values(), star] if v not in (None, _MISSING) and v not in target.symbols]
            if bad:
                self.error((*key, "map"), target.name,
                           f"maps to {', '.join(map(str, bad))}, which {target.name} does not allow "
                           f"({', '.join(target.symbols)})")
        return mapping, star

    def constant(self, value: Any, conv, key: tuple, name: str) -> Any:
        if value is None:
            return None
        try:
            return conv(str(value), None, None)
        except ValueError as exc:
            self.error(key, name, f"constant {value!r}: {exc}")
            return None

    def source(self, rule: Rule, key: tuple, name: str) -> Source | None:
        given = [k for k in ("path", "xpath", "value", "concat") if k in rule.model_fields_set
                 and getattr(rule, k) is not None]
        if len(given) > 1:
            self.error(key, name, f"give one of path, xpath, value, concat (found {', '.join(given)})")
            return None
        if not given:
            if "value" in rule.model_fields_set or "default" in rule.model_fields_set:
                return lambda scope: None  # only the default (or an explicit null)
            self.error(key, name, "the rule needs one of path, xpath, value or concat")
            return None
        kind = given[0]
        if kind == "value":
            text = str(rule.value)
            return lambda scope: (text, None, None)
        if kind == "concat":
            parts = []
            for i, part in enumerate(rule.concat or []):
                sub = part if isinstance(part, Rule) else (Rule(path=part) if self.syntax != "xml"
                                                          else Rule(xpath=part))
                ignored = sorted(sub.model_fields_set - {"path", "xpath", "value"})
                if ignored:
                    self.error((*key, "concat", i), name, f"a concat part takes path, xpath or value only, "
                               f"not {', '.join(ignored)}")
                src = self.source(sub, (*key, "concat", i), name)
                if src is None:
                    return None
                parts.append(src)
            sep = rule.separator

            def concat(scope: Scope):
                found = [p(scope) for p in parts]
                values = [f[0].strip() for f in found if f is not None and f[0].strip()]
                if not values:
                    return None
                first = next(f for f in found if f is not None)
                return sep.join(values), first[1], first[2]

            return concat
        if kind == "xpath":
            if self.syntax != "xml":
                self.error(key, name, "'xpath' is for XML routes; use 'path'")
                return None
            xp = self.xpath(rule.xpath, key, name)
            if xp is None:
                return None

            def xml_value(scope: Scope):
                return _xml_first(xp(scope.node))

            return xml_value
        if self.syntax == "xml":
            self.error(key, name, "'path' is for EDIFACT and X12 routes; use 'xpath'")
            return None
        path = self.path(rule.path, key, name)
        if path is None:
            return None
        if path.element is None:
            self.error(key, name, f"path '{rule.path}' names a segment, not a value: add /element")
            return None

        def segment_value(scope: Scope):
            found = path.first(scope)
            return None if found is None else (found[0], found[1], path)

        return segment_value

    def converter(self, rule: Rule, target: Target, key: tuple):
        kind, name = target.kind, target.name
        if rule.format is not None:
            if kind not in ("date", "timestamp"):
                self.error(key, name, f"'format' is for date and timestamp fields, not {target.describe()}")
            elif rule.format not in convert.KNOWN_FORMATS:
                self.error(key, name, f"unknown format '{rule.format}' "
                           f"(known: {', '.join(sorted(convert.KNOWN_FORMATS))})")
                return None
        if rule.implied_decimals is not None and kind != "decimal":
            self.error(key, name, f"'implied_decimals' is for decimal fields, not {target.describe()}")
        if rule.time is not None and kind != "timestamp":
            self.error(key, name, f"'time' is for timestamp fields, not {target.describe()}")
        if kind in ("string",):
            return lambda raw, seg, scope: raw
        if kind in ("int", "long"):
            return lambda raw, seg, scope: _int(raw)
        if kind in ("float", "double"):
            return lambda raw, seg, scope: _float(raw)
        if kind == "boolean":
            return lambda raw, seg, scope: raw.strip().lower() in ("1", "true", "y", "yes")
        if kind == "enum":
            symbols = frozenset(target.symbols)

            def enum(raw, seg, scope):
                if raw not in symbols:
                    raise ValueError(f"'{raw}' is not one of {', '.join(target.symbols)}: add a 'map'")
                return raw

            return enum
        if kind == "decimal":
            scale, precision, implied = target.scale, target.precision, rule.implied_decimals

            read = convert.decimal_reader(scale=scale, precision=precision, implied=implied)

            def decimal(raw, seg, scope):
                return read(raw, scope.decimal_mark if scope is not None else ".")

            return decimal
        if kind == "date":
            fmt = rule.format

            def to_date(raw, seg, scope):
                return convert.to_date(raw, fmt or _dtm_format(seg))

            return to_date
        if kind == "timestamp":
            fmt = rule.format
            tz = rule.timezone or self.partner.timezone
            time_source = None
            if rule.time is not None:
                time_source = self.source(Rule(path=rule.time) if self.syntax != "xml" else Rule(xpath=rule.time),
                                          (*key, "time"), name)

            def to_timestamp(raw, seg, scope):
                time_text = None
                if time_source is not None and scope is not None:
                    # the time is read beside the date: in the same segment when there is one
                    found = time_source(scope.child([seg]) if seg is not None else scope)
                    time_text = found[0] if found else None
                return convert.to_datetime(raw, fmt or _dtm_format(seg), tz, time_text)

            return to_timestamp
        self.error(key, name, f"fields of type {kind} cannot be mapped")
        return None

    def condition(self, cond: Condition, key: tuple, name: str) -> Callable[[Scope], bool]:
        rule = Rule(path=cond.path, xpath=cond.xpath)
        source = self.source(rule, key, name)
        if source is None:
            return lambda scope: False
        equals, in_, not_in, exists = cond.equals, cond.in_, cond.not_in, cond.exists
        if equals is None and in_ is None and not_in is None and exists is None:
            exists = True
        allowed = frozenset(in_) if in_ is not None else None
        denied = frozenset(not_in) if not_in is not None else None

        def test(scope: Scope) -> bool:
            found = source(scope)
            value = found[0].strip() if found else ""
            if exists is not None and bool(value) != exists:
                return False
            if equals is not None and value != equals:
                return False
            if allowed is not None and value not in allowed:
                return False
            if denied is not None and value in denied:
                return False
            return True

        return test

    # -- building blocks -----------------------------------------------------
    def path(self, text: str, key: tuple, name: str) -> SegmentPath | None:
        try:
            return parse_path(text)
        except PathError as exc:
            self.error(key, name, str(exc))
            return None

    def xpath(self, text: str, key: tuple, name: str):
        try:
            return etree.XPath(text, namespaces=self.namespaces)
        except etree.XPathError as exc:
            self.error(key, name, f"XPath '{text}': {exc}")
            return None


def _pick(value, j: int) -> str:
    """Component ``j`` (0-based) of a composite or repeated element's first repetition."""
    if value.__class__ is Repeats:
        value = value[0] if value else ""
        if value.__class__ is str:
            return value if j == 0 else ""
    return value[j] if j < len(value) else ""


def _convert(conv, name: str, raw: str, seg: Segment | None, scope: Scope):
    raw = raw.strip()
    if not raw:
        return None
    try:
        return conv(raw, seg, scope)
    except ValueError as exc:
        raise fail("MAPPING_VALUE_INVALID", f"{name}: {exc}", seg) from None


def _first(scope: Scope) -> Segment | None:
    return scope.segments[0] if scope.segments else None


def _int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"'{raw}' is not a whole number") from None


def _float(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError(f"'{raw}' is not a number") from None


def _dtm_format(seg: Segment | None) -> str:
    """EDIFACT DTM carries its format code (2379) beside the value; else "auto"."""
    if seg is not None and seg.tag == "DTM":
        code = seg.get(1, 3)
        if code in convert.FORMATS:
            return code
    return "auto"


def _xml_first(result) -> tuple[str, None, Any] | None:
    if isinstance(result, list):
        if not result:
            return None
        item = result[0]
    else:
        item = result
    if isinstance(item, etree._Element):
        return "".join(item.itertext()), None, item
    if isinstance(item, bool):
        return ("true" if item else "false"), None, None
    if isinstance(item, float):
        return (str(int(item)) if item.is_integer() else str(item)), None, None
    text = str(item)
    return text, None, getattr(item, "getparent", lambda: None)()
