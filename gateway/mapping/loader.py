"""Load partner files (``mappings/*.yaml``): shape, then every rule against its schema.

All problems of all files are collected before anything is reported, so
``edigw check`` and a failed start-up list them together, each as
``file:line: key: message``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from gateway.errors import ConfigError, MappingError
from gateway.mapping.compiler import Compiler, Fn
from gateway.mapping.paths import Scope
from gateway.mapping.spec import EdifactIdentity, InboundRoute, PartnerFile, X12Identity, XmlIdentity
from gateway.mapping.targets import Target
from gateway.model import Interchange, Issue, Location, Message
from gateway.yamlconf import Located, load, pydantic_errors


@dataclass
class Route:
    """One compiled inbound route: which messages, which event, how."""

    spec: InboundRoute
    event_type: str
    topic: str | None
    key_field: str | None
    build: Fn  # scope -> record (without the envelope fields)
    when: Callable[[Scope], bool] | None = None
    items: Callable[[Scope], list[Scope]] | None = None

    def matches(self, message: Message, syntax: str) -> bool:
        m = self.spec.match
        return m.syntax == syntax and m.message == message.type and (m.version is None or m.version == message.version)


@dataclass
class Partner:
    id: str
    file: str
    spec: PartnerFile
    routes: list[Route] = field(default_factory=list)
    guide: object | None = None  # gateway.validation.guide.Guide from mappings/guides/, if any

    @property
    def encoding(self) -> str | None:
        return self.spec.encoding

    def routes_for(self, message: Message, syntax: str) -> list[Route]:
        return [r for r in self.routes if r.matches(message, syntax)]


class Partners:
    """Every partner, found by the envelope that names them."""

    def __init__(self, partners: Iterable[Partner]) -> None:
        self.all = list(partners)
        self.by_id = {p.id: p for p in self.all}

    def __len__(self) -> int:
        return len(self.all)

    def get(self, partner_id: str) -> Partner | None:
        return self.by_id.get(partner_id)

    def matching(self, interchange: Interchange, message: Message | None = None) -> list[Partner]:
        """Every partner whose identity matches the interchange's envelope."""
        return [p for p in self.all if _identifies(p.spec, interchange, message)]

    def identify(self, interchange: Interchange, message: Message | None = None) -> Partner:
        """The partner whose identity matches the interchange's sender."""
        found = self.matching(interchange, message)
        if len(found) == 1:
            return found[0]
        where = Location.of(interchange.header) if interchange.header is not None else Location(line=1)
        if found:
            raise MappingError(Issue("PARTNER_AMBIGUOUS", f"the envelope matches several partner files: "
                                     f"{', '.join(f'{p.id} ({p.file})' for p in found)}; make their identities "
                                     "distinct", where))
        who = interchange.sender
        if interchange.sender_qualifier:
            who += f" (qualifier {interchange.sender_qualifier})"
        raise MappingError(Issue("PARTNER_UNKNOWN", f"no partner file names sender {who or '(none)'} "
                                 f"for {interchange.syntax}", where))


def _listed(value) -> list:
    return [] if value is None else (value if isinstance(value, list) else [value])


def _identifies(spec: PartnerFile, ic: Interchange, message: Message | None) -> bool:
    if ic.syntax == "edifact":
        ids: list[EdifactIdentity] = _listed(spec.identity.edifact)
        return any(i.sender == ic.sender and (i.qualifier is None or i.qualifier == ic.sender_qualifier)
                   and (i.recipient is None or i.recipient == ic.recipient) for i in ids)
    if ic.syntax == "x12":
        x12: list[X12Identity] = _listed(spec.identity.x12)
        group_sender = ic.groups[0].sender if ic.groups else None
        return any(i.sender == ic.sender and (i.qualifier is None or i.qualifier == ic.sender_qualifier)
                   and (i.recipient is None or i.recipient == ic.recipient)
                   and (i.group_sender is None or i.group_sender == group_sender) for i in x12)
    xml: list[XmlIdentity] = _listed(spec.identity.xml)
    for i in xml:
        if i.sender is not None and i.sender == ic.sender and ic.sender:
            return True
        if i.xpath is not None and message is not None and getattr(message, "root", None) is not None:
            from gateway.mapping.compiler import _xml_first

            found = _xml_first(_xpath(i.xpath, tuple(sorted(spec.namespaces.items())))(message.root))
            if found is not None and found[0].strip() == (i.equals or "").strip():
                return True
    return False


@lru_cache(maxsize=256)
def _xpath(expression: str, namespaces: tuple):
    """A compiled identity XPath (compiled once, not per message)."""
    from lxml import etree

    from gateway.mapping.compiler import UBL_NAMESPACES

    return etree.XPath(expression, namespaces={**UBL_NAMESPACES, **dict(namespaces)})


def load_partner(path: Path, targets: dict[str, Target], errors: list[str]) -> Partner | None:
    try:
        located = load(path)
    except ConfigError as exc:
        errors.append(str(exc))
        return None
    return partner_from(located, targets, errors)


def partner_from(located: Located, targets: dict[str, Target], errors: list[str]) -> Partner | None:
    if not isinstance(located.data, dict):
        errors.append(f"{located.file}:1: a partner file is a mapping with 'partner', 'identity' and 'inbound'")
        return None
    # The file's head and each route are validated apart, so that one bad
    # route does not hide the problems of the others.
    head = {k: v for k, v in located.data.items() if k != "inbound"}
    raw_routes = located.data.get("inbound") or []
    try:
        spec = PartnerFile.model_validate(head)
    except ValidationError as exc:
        errors.extend(pydantic_errors(located, exc))
        spec = None
    if not isinstance(raw_routes, list):
        errors.append(f"{located.where(('inbound',))}: 'inbound' is a list of routes")
        raw_routes = []
    routes: list[tuple[int, InboundRoute]] = []
    for i, raw in enumerate(raw_routes):
        try:
            routes.append((i, InboundRoute.model_validate(raw)))
        except ValidationError as exc:
            errors.extend(pydantic_errors(located, exc, prefix=("inbound", i)))
    if spec is None:
        return None
    spec.inbound = [r for _, r in routes]
    partner = Partner(id=spec.partner, file=located.file, spec=spec)
    for i, route in routes:
        key = ("inbound", i)
        target = targets.get(route.event)
        if target is None:
            errors.append(f"{located.where((*key, 'event'))}: unknown event type '{route.event}' "
                          f"(schemas: {', '.join(sorted(targets))})")
            continue
        compiler = Compiler(located, spec, route.match.syntax, errors)
        build = compiler.record(route.fields, target, (*key, "fields"), top=True)
        when = compiler.condition(route.when, (*key, "when"), "when") if route.when is not None else None
        items = compiler.iterate(route.each, (*key, "each"), "each") if route.each is not None else None
        if route.key is not None:
            sub = target.fields.get(route.key)
            if sub is None or sub.kind not in ("string", "int", "long"):
                errors.append(f"{located.where((*key, 'key'))}: key '{route.key}' must be a top-level string "
                              f"field of {route.event}")
            elif route.key not in route.fields:
                errors.append(f"{located.where((*key, 'key'))}: key '{route.key}' has no rule under fields")
        partner.routes.append(Route(route, route.event, route.topic, route.key, build, when, items))
    return partner


def load_partners(folder: Path, targets: dict[str, Target]) -> Partners:
    """Every ``*.yaml`` in ``folder``; :class:`ConfigError` lists every problem found."""
    errors = check_partners(folder, targets, keep := [])
    if errors:
        raise ConfigError(f"{len(errors)} problem(s) in partner files:\n" + "\n".join(errors))
    return Partners(keep)


def check_partners(folder: Path, targets: dict[str, Target], keep: list[Partner] | None = None) -> list[str]:
    """Every problem in every partner file of ``folder`` (empty: all good)."""
    if not Path(folder).is_dir():
        return [f"mappings: {Path(folder).resolve()} is not a folder of partner files (give --mappings or "
                "`mappings:` in the config)"]
    errors: list[str] = []
    seen: dict[str, str] = {}
    files = sorted(Path(folder).glob("*.yaml")) + sorted(Path(folder).glob("*.yml"))
    for path in files:
        partner = load_partner(path, targets, errors)
        if partner is None:
            continue
        if partner.id in seen:
            errors.append(f"{path}:1: partner '{partner.id}' is also defined in {seen[partner.id]}")
            continue
        seen[partner.id] = str(path)
        if keep is not None:
            keep.append(partner)
    from gateway.validation.guide import attach_guides  # implementation guides beside the partner files

    attach_guides(Path(folder), {p.id: p for p in keep} if keep is not None else dict(seen), errors)
    return errors
