"""Apply a partner's inbound routes to a message: the events it becomes.

The engine fills what the gateway owns (event id, type, received time,
partner, source record) around what the mapping built, so no partner file can
forge them. Event ids are deterministic: reprocessing a document gives the
same ids, which keeps consumers idempotent across replays and crashes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime

from gateway.errors import MappingError
from gateway.events.event import Event
from gateway.events.ids import event_id
from gateway.mapping.loader import Partner
from gateway.mapping.paths import Scope
from gateway.model import Interchange, Issue, Location, Message


@functools.lru_cache(maxsize=1024)  # a handful of event types, asked once per event
def default_topic(event_type: str) -> str:
    """``OrderCreated`` -> ``edigw.order-created``."""
    return "edigw." + re.sub(r"(?<!^)(?=[A-Z])", "-", event_type).lower()


class Mapper:
    def __init__(self, topic_for: Callable[[str], str] = default_topic) -> None:
        self.topic_for = topic_for

    def map(
        self,
        message: Message,
        partner: Partner,
        *,
        received_at: datetime,
        transport: str = "file",
        receipt_id: str | None = None,
    ) -> list[Event]:
        """The events of ``message``; :class:`MappingError` when it has no route
        or a required value is missing or invalid."""
        ic: Interchange = message.interchange
        syntax = ic.syntax
        routes = partner.routes_for(message, syntax)
        if not routes:
            where = Location.of(message.header) if message.header is not None else Location(line=1)
            raise MappingError(Issue("ROUTE_MISSING", f"partner '{partner.id}' has no inbound route for "
                                     f"{syntax} {message.type} {message.version}", where))
        root = Scope(message.segments, message=message, node=getattr(message, "root", None))
        source = {
            "syntax": syntax,
            "message_type": message.type,
            "message_version": message.version,
            "interchange_ref": ic.control_ref,
            "group_ref": message.group.control_ref if message.group is not None else None,
            "message_ref": message.ref,
            "transport": transport,
            "receipt_id": receipt_id,
        }
        try:
            return self._events(message, partner, routes, root, source, received_at)
        finally:
            root.release()

    def _events(self, message: Message, partner: Partner, routes: list, root: Scope, source: dict,
                received_at: datetime) -> list[Event]:
        ic: Interchange = message.interchange
        events: list[Event] = []
        # X12 groups may each restart ST02 at 0001: the group is part of the message's identity.
        message_key = f"{message.group.control_ref}/{message.ref}" if message.group is not None else message.ref
        for route in routes:
            scopes = route.items(root) if route.items is not None else [root]
            for scope in scopes:
                # the route's condition is read per item (use /TAG for the message)
                if route.when is not None and not route.when(scope):
                    continue
                record = route.build(scope)
                index = len(events)
                record["event_id"] = event_id(partner.id, ic.control_ref, message_key, index)
                record["event_type"] = route.event_type
                record["received_at"] = received_at
                record["partner_id"] = partner.id
                record["source"] = dict(source)
                if record.get("occurred_at") is None:
                    record["occurred_at"] = received_at
                key = record.get(route.key_field) if route.key_field else None
                events.append(Event(
                    event_type=route.event_type,
                    topic=route.topic or self.topic_for(route.event_type),
                    key=None if key is None else str(key),
                    record=record,
                ))
        return events
