"""Outbound rendering: events become the documents partners expect.

Partner files declare ``outbound:`` routes (``docs/mappings.md``, "Outbound
routes and templates"): which event type, a filter, the document (EDIFACT, X12
or XML; message type and version), its envelope, and a template whose rules
read event fields. Templates are checked against the event's Avro schema and
compiled once, when the files load::

    routes = load_routes("mappings", schemas)          # ConfigError lists every problem
    for route in routes.routes_for("acme-retail", "OrderResponded", record):
        doc = render(record, route, numbers=lambda kind: store.next_control_number("acme-retail", kind),
                     now=datetime.now(timezone.utc))
        doc.data, doc.filename, doc.control_refs, doc.expects_ack

    egress = Egress(store, archive, routes.plan)        # every partner's routes for an event

``render`` raises :class:`RenderError` (a TerminalError: dead-letter the event)
for a required value the event lacks, a character the document's character
set cannot carry, or a record that is not the route's event. Control numbers
are asked for only once the body rendered, kinds UNB0020, UNG0048, UNH0062,
ISA13, GS06 and ST02.

=================  ==========================================================
``spec.py``        the YAML's shape (``OutboundRoute``), pydantic
``paths.py``       event paths: ``buyer.id``, ``/order_number``, ``^x``, ``$order``
``values.py``      dates, decimals, character repertoires
``compiler.py``    templates -> closures, checked against the schema
``renderer.py``    ``render()``: envelope, control numbers, the syntax writers
``routes.py``      loading, ``Routes`` (``routes_for``, ``plan``)
=================  ==========================================================

Names are imported lazily: ``gateway.mapping.spec`` imports ``gateway.outbound.render.spec``,
and this package imports the mapping modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from gateway.outbound.render.compiler import Route
    from gateway.outbound.render.errors import RenderError
    from gateway.outbound.render.renderer import Rendered, render
    from gateway.outbound.render.routes import Planned, Routes, check_routes, load_routes, numbering
    from gateway.outbound.render.spec import OutboundRoute

_WHERE = {
    "Route": "gateway.outbound.render.compiler",
    "RenderError": "gateway.outbound.render.errors",
    "Rendered": "gateway.outbound.render.renderer",
    "render": "gateway.outbound.render.renderer",
    "Planned": "gateway.outbound.render.routes",
    "Routes": "gateway.outbound.render.routes",
    "check_routes": "gateway.outbound.render.routes",
    "load_routes": "gateway.outbound.render.routes",
    "numbering": "gateway.outbound.render.routes",
    "OutboundRoute": "gateway.outbound.render.spec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway.outbound.render' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
