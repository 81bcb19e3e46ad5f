"""Partner implementation guides: a partner's tightening of the standard, in YAML.

A guide lives beside the partner files, in ``mappings/guides/`` (a folder of
its own, so the partner loader does not take it for a partner file), one
file per partner::

    partner: widget-supply
    policy: reject            # inbound: reject | accept (acknowledged with errors) | ignore
    messages:
      - message: "855"
        version: "004010"     # optional: every version the definitions have
        segments:
          PO1: {max: 500}     # limit repeats (a loop's trigger: the loop's repeats)
          REF: {mandatory: true} # at the shallowest level it stands in (the header)
        elements:
          PO104: {mandatory: true}          # TAG + position, -NN for a component
          BAK02: {codes: [AC, AD, RJ]}       # restrict a code list
          N104: {max_length: 13}
          DTM01-03: {codes: ["102"]}

A guide only tightens: it cannot make a mandatory element optional, widen
a code list beyond the standard's, or raise a maximum. Guides are checked
at load, like partner files: every problem is reported as
``file:line: key: message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.validation.definitions import ROOT, Directory, ElementDef, MessageDef, Node, SegmentDef, directory
from gateway.yamlconf import Located, load, pydantic_errors

POLICIES = ("reject", "accept", "ignore")
DEFAULT_POLICY = "reject"
_ELEMENT_KEY = re.compile(r"^([A-Z][A-Z0-9]{1,2})(\d{2})(?:-(\d{2}))?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentRule(_Strict):
    mandatory: bool | None = None
    max: int | None = Field(default=None, ge=1)


class ElementRule(_Strict):
    mandatory: bool | None = None
    codes: list[str] | None = None
    max_length: int | None = Field(default=None, ge=1)
    min_length: int | None = Field(default=None, ge=0)


class MessageRules(_Strict):
    message: str
    version: str | None = None
    segments: dict[str, SegmentRule] = {}
    elements: dict[str, ElementRule] = {}


class GuideFile(_Strict):
    partner: str
    policy: Literal["reject", "accept", "ignore"] = DEFAULT_POLICY
    outbound: bool = True  # validate documents rendered for the partner before they are sent
    messages: list[MessageRules] = []


@dataclass
class Guide:
    """One partner's guide, compiled: applied to a message definition on demand (cached)."""

    partner: str
    file: str
    policy: str = DEFAULT_POLICY
    outbound: bool = True
    rules: list[MessageRules] = field(default_factory=list)
    origin: str = ""  # file:line of its partner key
    _cache: dict = field(default_factory=dict, repr=False)

    def rules_for(self, kind: str, version: str) -> list[MessageRules]:
        return [r for r in self.rules if r.message == kind and (r.version is None or r.version == version)]

    def apply(self, base: Directory, definition: MessageDef) -> tuple[Directory, MessageDef]:
        key = (base.syntax, base.version, definition.type)
        if key not in self._cache:
            rules = self.rules_for(definition.type, base.version)
            self._cache[key] = _tighten(base, definition, rules) if rules else (base, definition)
        return self._cache[key]


def _tighten(base: Directory, definition: MessageDef, rules: list[MessageRules]) -> tuple[Directory, MessageDef]:
    segments = dict(base.segments)
    seg_rules: dict[str, SegmentRule] = {}
    for rule in rules:
        seg_rules.update(rule.segments)
        for key, el in rule.elements.items():
            tag, position, component = _parse_key(key)
            seg = segments[tag]
            elements = list(seg.elements)
            target = elements[position - 1]
            if component is not None:
                comps = list(target.components)
                comps[component - 1] = _tighten_element(comps[component - 1], el)
                target = replace(target, components=tuple(comps))
                if el.mandatory:  # a mandatory component makes its composite mandatory
                    target = replace(target, mandatory=True)
            else:
                target = _tighten_element(target, el)
            elements[position - 1] = target
            segments[tag] = SegmentDef(seg.tag, tuple(elements), seg.notes)

    # A segment made mandatory is so at the shallowest level it stands in (REF in the header,
    # not in every line loop); a maximum holds wherever it stands.
    shallowest: dict[str, int] = {}

    def depths(nodes: tuple[Node, ...], depth: int) -> None:
        for n in nodes:
            shallowest[n.tag] = min(shallowest.get(n.tag, depth), depth)
            if n.children is not None:
                depths(n.children[1:], depth + 1)

    depths(definition.nodes, 0)

    def node(n: Node, depth: int = 0, trigger: bool = False) -> Node:
        rule = seg_rules.get(n.tag)
        children = (tuple(node(c, depth + (i > 0), i == 0) for i, c in enumerate(n.children))
                    if n.children is not None else None)
        changes = {"children": children} if children is not None else {}
        if rule is not None and not trigger:
            if rule.mandatory and depth == shallowest.get(n.tag):
                changes["mandatory"] = True
            if rule.max is not None:
                changes["max"] = min(n.max, rule.max)
        return replace(n, **changes) if changes else n

    nodes = tuple(node(n) for n in definition.nodes)
    return (Directory(base.syntax, base.version, segments, {**base.messages}, base.source, base.codes),
            MessageDef(definition.type, nodes, definition.tags))


def _tighten_element(element: ElementDef, rule: ElementRule) -> ElementDef:
    changes: dict = {}
    if rule.mandatory:
        changes["mandatory"] = True
    if rule.codes is not None:
        allowed = frozenset(rule.codes)
        changes["codes"] = allowed if element.codes is None else (element.codes & allowed)
    if rule.max_length is not None:
        changes["max"] = min(element.max, rule.max_length)
    if rule.min_length is not None:
        changes["min"] = max(element.min, rule.min_length)
    return replace(element, **changes)


def _parse_key(key: str) -> tuple[str, int, int | None]:
    m = _ELEMENT_KEY.match(key)
    if not m:
        raise ValueError(key)
    return m.group(1), int(m.group(2)), int(m.group(3)) if m.group(3) else None


# -- loading ------------------------------------------------------------------


def _directories(syntax_hint: str | None, kind: str, version: str | None) -> list[Directory]:
    found = []
    for path in sorted(ROOT.glob("*/*.yaml")):
        if version is not None and path.stem != version:
            continue
        d = directory(path.parent.name, path.stem)
        if d is not None and kind in d.messages:
            found.append(d)
    return found


def guide_from(located: Located, errors: list[str]) -> Guide | None:
    if not isinstance(located.data, dict):
        errors.append(f"{located.file}:1: a guide is a mapping with 'partner', 'policy' and 'messages'")
        return None
    try:
        spec = GuideFile.model_validate(located.data)
    except ValidationError as exc:
        errors.extend(pydantic_errors(located, exc))
        return None
    before = len(errors)
    for i, rules in enumerate(spec.messages):
        where = ("messages", i)
        dirs = _directories(None, rules.message, rules.version)
        if not dirs:
            what = f"{rules.message} {rules.version}" if rules.version else rules.message
            errors.append(f"{located.where((*where, 'message'))}: no definitions for message {what} "
                          "(see docs/validation.md for what is covered)")
            continue
        for tag, rule in rules.segments.items():
            if not any(tag in d.messages[rules.message].tags for d in dirs):
                errors.append(f"{located.where((*where, 'segments', tag))}: segment {tag} is not part of "
                              f"{rules.message}")
        for key, rule in rules.elements.items():
            problem = _check_element(key, rule, rules.message, dirs)
            if problem:
                errors.append(f"{located.where((*where, 'elements', key))}: {problem}")
    if len(errors) > before:
        return None
    return Guide(spec.partner, located.file, spec.policy, spec.outbound, list(spec.messages),
                 origin=located.where(("partner",)))


def _check_element(key: str, rule: ElementRule, kind: str, dirs: list[Directory]) -> str | None:
    try:
        tag, position, component = _parse_key(key)
    except ValueError:
        return f"'{key}' is not an element reference (TAG and position, e.g. PO104, DTM01-03)"
    for d in dirs:
        if tag not in d.messages[kind].tags:
            return f"segment {tag} is not part of {kind}"
        seg = d.segments[tag]
        if seg.elements is None:
            return f"segment {tag}'s elements are not described in the {d.version} definitions"
        if position > len(seg.elements):
            return f"{tag} has {len(seg.elements)} elements in {d.version}; there is no element {position}"
        element = seg.elements[position - 1]
        if component is not None:
            if not element.composite:
                return f"{tag}{position:02d} is a simple element in {d.version}: no component {component}"
            if component > len(element.components):
                return f"{tag}{position:02d} has {len(element.components)} components in {d.version}"
            element = element.components[component - 1]
        elif element.composite and (rule.codes or rule.max_length or rule.min_length):
            return f"{tag}{position:02d} is a composite: name a component ({key}-01, ...)"
        if rule.codes is not None and element.codes is not None:
            outside = sorted(set(rule.codes) - element.codes)
            if outside:
                return f"code(s) {', '.join(outside)} are not in the standard's list for {element.id}"
        if rule.max_length is not None and rule.max_length > element.max:
            return f"max_length {rule.max_length} is beyond the standard's {element.max} for {element.id}"
    return None


def load_guides(folder: Path, errors: list[str]) -> dict[str, Guide]:
    """Every guide in ``folder/guides`` by partner id; problems are appended to ``errors``."""
    found: dict[str, Guide] = {}
    where = Path(folder) / "guides"
    if not where.is_dir():
        return found
    for path in sorted(where.glob("*.yaml")) + sorted(where.glob("*.yml")):
        try:
            located = load(path)
        except Exception as exc:  # ConfigError: names file and line
            errors.append(str(exc))
            continue
        guide = guide_from(located, errors)
        if guide is None:
            continue
        if guide.partner in found:
            errors.append(f"{path}:1: partner '{guide.partner}' already has a guide in {found[guide.partner].file}")
            continue
        found[guide.partner] = guide
    return found


def attach_guides(folder: Path, partners: dict[str, object], errors: list[str]) -> None:
    """Load the guides of ``folder`` and set each on its partner (``partners``: id -> Partner,
    or id -> file name when only checking); a guide naming no partner is an error."""
    for pid, guide in load_guides(folder, errors).items():
        partner = partners.get(pid)
        if partner is None:
            errors.append(f"{guide.origin}: no partner file defines '{pid}'")
            continue
        if hasattr(partner, "guide"):
            partner.guide = guide
