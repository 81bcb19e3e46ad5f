"""Load the outbound routes of every partner file, and find the routes an event takes.

All problems of all files are collected before anything is reported, each as
``file:line: key: message``, like the inbound loader
(:mod:`gateway.mapping.loader`) does for ``inbound:``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.mapping.spec import PartnerFile
from gateway.mapping.targets import Target, targets_of
from gateway.outbound.render.compiler import Route, compile_route
from gateway.outbound.render.renderer import Numbers, Rendered, render
from gateway.outbound.render.spec import OutboundRoute
from gateway.yamlconf import Located, load, pydantic_errors


@dataclass(frozen=True)
class Planned:
    """One document an event becomes for one partner (what :class:`gateway.outbound.egress.Egress` renders)."""

    route: Route
    record: dict

    @property
    def partner_id(self) -> str:
        return self.route.partner_id

    @property
    def name(self) -> str:
        return self.route.name

    def render(self, numbers: Numbers, now: datetime) -> Rendered:
        return render(self.record, self.route, numbers=numbers, now=now)


class Routes:
    """Every outbound route of every partner, by partner and event type."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.all = list(routes)
        self._by_event: dict[str, list[Route]] = {}
        self._by_partner: dict[str, list[Route]] = {}
        for route in self.all:
            self._by_event.setdefault(route.event_type, []).append(route)
            self._by_partner.setdefault(route.partner_id, []).append(route)

    @classmethod
    def load(cls, folder: str | Path, schemas) -> Routes:
        """The routes of every partner file in ``folder``; :class:`ConfigError` lists every problem."""
        return load_routes(folder, schemas)

    def __len__(self) -> int:
        return len(self.all)

    @property
    def partners(self) -> list[str]:
        return list(self._by_partner)

    @property
    def event_types(self) -> list[str]:
        """The event types some route takes (the consumer subscribes to their topics)."""
        return list(self._by_event)

    def of(self, partner_id: str) -> list[Route]:
        return list(self._by_partner.get(partner_id, ()))

    def get(self, partner_id: str, name: str) -> Route | None:
        return next((r for r in self._by_partner.get(partner_id, ()) if r.name == name), None)

    def routes_for(self, partner_id: str, event_type: str, record: dict) -> list[Route]:
        """The routes of ``partner_id`` that take this event (its type, and each route's ``when``)."""
        return [r for r in self._by_partner.get(partner_id, ()) if r.event_type == event_type and r.takes(record)]

    def plan(self, event_type: str, record: dict) -> list[Planned]:
        """Every partner's routes that take this event, in file order: the ``plan`` of Egress."""
        return [Planned(r, record) for r in self._by_event.get(event_type, ()) if r.takes(record)]


def _targets(schemas) -> tuple[dict[str, Target], object]:
    from gateway.events.schemas import SchemaSet

    if isinstance(schemas, (str, Path)):
        schemas = SchemaSet.load(schemas)
    return targets_of(schemas), schemas


def routes_from(located: Located, targets: dict[str, Target], errors: list[str], schemas=None) -> list[Route]:
    """The compiled outbound routes of one partner file; problems are appended to ``errors``."""
    data = located.data
    if not isinstance(data, dict):
        errors.append(f"{located.file}:1: a partner file is a mapping with 'partner', 'identity' and 'inbound'")
        return []
    raw_routes = data.get("outbound")
    if raw_routes is None:
        return []
    if not isinstance(raw_routes, list):
        errors.append(f"{located.where(('outbound',))}: 'outbound' is a list of routes")
        return []
    head = {k: v for k, v in data.items() if k not in ("inbound", "outbound")}
    try:
        partner = PartnerFile.model_validate(head)
    except ValidationError as exc:
        errors.extend(pydantic_errors(located, exc))
        partner = None
    specs: list[tuple[int, OutboundRoute]] = []
    for i, raw in enumerate(raw_routes):
        try:
            specs.append((i, OutboundRoute.model_validate(raw)))
        except ValidationError as exc:
            errors.extend(pydantic_errors(located, exc, prefix=("outbound", i)))
    if partner is None:
        return []
    out: list[Route] = []
    seen: dict[str, int] = {}
    for i, spec in specs:
        key = ("outbound", i)
        if spec.name in seen:
            errors.append(f"{located.where((*key, 'name'))}: route name '{spec.name}' is also used by "
                          f"outbound[{seen[spec.name]}] (names must be unique in a partner file)")
            continue
        seen[spec.name] = i
        route = compile_route(located, partner, spec, key, targets, errors)
        if route is not None:
            route.schemas = schemas
            out.append(route)
    return out


def check_routes(folder: str | Path, schemas, keep: list[Route] | None = None) -> list[str]:
    """Every problem in the outbound routes of the partner files of ``folder`` (empty: all good).

    ``schemas`` is a loaded :class:`~gateway.events.schemas.SchemaSet` or the folder of ``.avsc`` files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: no such folder of partner files"]
    targets, schemas = _targets(schemas)
    errors: list[str] = []
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    for path in files:
        try:
            located = load(path)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        routes = routes_from(located, targets, errors, schemas)
        if keep is not None:
            keep.extend(routes)
    return list(dict.fromkeys(errors))


def load_routes(folder: str | Path, schemas) -> Routes:
    """Every outbound route of the partner files of ``folder``; :class:`ConfigError` lists every problem."""
    keep: list[Route] = []
    errors = check_routes(folder, schemas, keep)
    if errors:
        raise ConfigError(f"{len(errors)} problem(s) in outbound routes:\n" + "\n".join(errors))
    return Routes(keep)


def numbering(start: int = 1) -> Callable[[str], int]:
    """Control numbers without a state store (``edigw render``, tests): each kind counts from ``start``."""
    counters: dict[str, int] = {}

    def numbers(kind: str) -> int:
        counters[kind] = counters.get(kind, start - 1) + 1
        return counters[kind]

    return numbers


__all__ = ["Planned", "Routes", "check_routes", "load_routes", "routes_from", "numbering"]
