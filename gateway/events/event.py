"""An event ready to publish, and its CloudEvents headers.

The gateway publishes in the CloudEvents Kafka binding's *binary* mode: the
Kafka value is the Avro-encoded record, and the CloudEvents attributes travel
as ``ce_``-prefixed headers, except ``datacontenttype``, which the binding maps
to the plain ``content-type`` header.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Prefix of ``ce_type``: ``edigw.events.OrderCreated`` (the Avro full name).
EVENT_TYPE_PREFIX = "edigw.events."


@dataclass(slots=True)
class Event:
    """One record to publish: its event type (schema name), topic, key and headers."""

    event_type: str  # the record name: "OrderCreated"
    topic: str
    key: str | None  # the partitioning key, e.g. the order number; None spreads round-robin
    record: dict[str, Any]  # Avro-native values, see gateway.events.schemas
    headers: dict[str, str] = field(default_factory=dict)
    value: bytes | None = None  # the encoded record, once the pipeline's encode stage ran
    prepared: Any = None  # what the sink sends, from Sink.prepare (its own format)

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])


@functools.lru_cache(maxsize=1024)  # occurred_at repeats from event to event
def _rfc3339(value: dt.datetime) -> str:
    text = value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")  # ...+00:00
    return text[:-6] + "Z"


def cloudevents_headers(event: Event, source_uri: str, *, content_type: str | None = None) -> dict[str, str]:
    """The CloudEvents 1.0 headers of ``event`` (Kafka binding, binary mode).

    ``source_uri`` identifies the producing context (``"urn:edigw:partner:ACME"``,
    say). ``ce_time`` is the record's ``occurred_at`` (``failed_at`` for a dead
    letter). ``edigw_partner`` and ``edigw_receipt`` are added when the record
    has a partner and a receipt id, so consumers can route without decoding.
    ``content-type`` is set when ``content_type`` is given; otherwise the sink
    adds its encoder's (``application/avro`` for single-object encoding).
    """
    record = event.record
    headers = {
        "ce_specversion": "1.0",
        "ce_id": event.event_id,
        "ce_type": EVENT_TYPE_PREFIX + event.event_type,
        "ce_source": source_uri,
    }
    if content_type:
        headers["content-type"] = content_type
    when = record.get("occurred_at") or record.get("failed_at")
    if isinstance(when, dt.datetime):
        headers["ce_time"] = _rfc3339(when)
    if record.get("partner_id"):
        headers["edigw_partner"] = str(record["partner_id"])
    source = record.get("source")
    if isinstance(source, Mapping) and source.get("receipt_id"):
        headers["edigw_receipt"] = str(source["receipt_id"])
    return headers
