"""Read events back from Kafka and decode them (``edigw events tail``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from gateway.errors import TransientError


def tail(bootstrap_servers: str, topic: str, encoder, *, from_beginning: bool = False,
         max_events: int | None = None, idle_timeout: float | None = None,
         group_id: str | None = None, connect_timeout: float = 5.0,
         on_lost: Callable[[str], None] | None = None,
         ) -> Iterator[tuple[str, str | None, str, dict[str, Any], dict[str, str]]]:
    """Yield ``(topic, key, event_type, record, headers)`` for each event of ``topic``.

    A fresh consumer group each time (nothing is committed), so tailing never
    disturbs the gateway's own consumers. Stops after ``max_events``, or after
    ``idle_timeout`` seconds without an event.

    Brokers that do not answer within ``connect_timeout`` seconds at the start
    are a TransientError naming them and why (``Connection refused``). Lost
    later, tailing goes on (they may come back): ``on_lost(reason)`` is called
    once per outage, and again only after they answered again.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException

    from gateway.sinks.kafka import UNREACHABLE, client_log, not_reached, unreachable_reason

    errors: list[KafkaError] = []
    consumer = Consumer({
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id or f"edigw-tail-{uuid.uuid4()}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,  # a quick group join (Tansu takes ~23 s with the default)
        "logger": client_log,  # not librdkafka's line per connection attempt on stderr
        "error_cb": errors.append,  # served by poll, in this thread
    })

    def last_down() -> KafkaError | None:
        down = [e for e in errors if e.code() in UNREACHABLE]
        named = [e for e in down if e.code() != KafkaError._ALL_BROKERS_DOWN]  # "1/1 brokers are down" says less
        return (named or down or [None])[-1]

    def answers(timeout: float) -> bool:
        try:
            consumer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    seen = 0
    try:
        try:
            consumer.list_topics(timeout=connect_timeout)
        except KafkaException:
            consumer.poll(0)  # serves the error reports: why it cannot connect
            raise TransientError(not_reached(bootstrap_servers, last_down(), connect_timeout)) from None
        consumer.subscribe([topic])
        last = time.monotonic()
        lost_at: float | None = None
        errors.clear()
        while max_events is None or seen < max_events:
            message = consumer.poll(0.5)
            if errors:
                down, reason = any(e.code() in UNREACHABLE for e in errors), unreachable_reason(last_down())
                errors.clear()
                # a connection closed and opened again (idle, say) is no outage: only one that lasts
                if down and lost_at is None and not answers(2.0):
                    lost_at = time.monotonic()
                    if on_lost is not None:
                        on_lost(reason)
            elif lost_at is not None and time.monotonic() - lost_at > 5:
                # back? (while down, librdkafka's reconnect attempts come ever more seldom)
                lost_at = None if answers(1.0) else time.monotonic()
            if message is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise TransientError(f"reading {topic}: {error.str()}")
                continue
            last, lost_at = time.monotonic(), None
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
