"""Read events back from Kafka and decode them (``edigw events tail``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from gateway.errors import TransientError


def tail(bootstrap_servers: str, topic: str, encoder, *, from_beginning: bool = False,
         max_events: int | None = None, idle_timeout: float | None = None,
         group_id: str | None = None) -> Iterator[tuple[str, str | None, str, dict[str, Any], dict[str, str]]]:
    """Yield ``(topic, key, event_type, record, headers)`` for each event of ``topic``.

    A fresh consumer group each time (nothing is committed), so tailing never
    disturbs the gateway's own consumers. Stops after ``max_events``, or after
    ``idle_timeout`` seconds without an event.
    """
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id or f"edigw-tail-{uuid.uuid4()}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,  # a quick group join (Tansu takes ~23 s with the default)
    })
    seen = 0
    try:
        consumer.subscribe([topic])
        last = time.monotonic()
        while max_events is None or seen < max_events:
            message = consumer.poll(0.5)
            if message is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise TransientError(f"reading {topic}: {error.str()}")
                continue
            last = time.monotonic()
            if message.value() is None:  # a tombstone: no event to show
                continue
            event_type, record = encoder.decode(message.value())
            headers = {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                       for k, v in (message.headers() or [])}
            key = message.key().decode("utf-8", "replace") if message.key() is not None else None
            seen += 1
            yield message.topic(), key, event_type, record, headers
    finally:
        consumer.close()
