"""An outbound route's consumer against the real broker: what it handled is committed (without a
round trip per event), a restart reads on from there, and an event that failed is read again."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Producer

from gateway.errors import TransientError
from gateway.outbound.egress import EventConsumer
from tests.broker import Broker


class JsonCodec:
    """Stands in for the Avro encoder: the consumer only decodes."""

    def decode(self, value: bytes) -> tuple[str, dict]:
        return "OrderCreated", json.loads(value)


class Recorder:
    """Stands in for Egress: records each event handed to it; fails the ones asked once."""

    def __init__(self, fail_once: set[str] = frozenset()) -> None:
        self.handled: list[str] = []
        self.fail_once = set(fail_once)

    def handle(self, event_type: str, record: dict) -> list:
        self.handled.append(record["event_id"])
        if record["event_id"] in self.fail_once:
            self.fail_once.discard(record["event_id"])
            raise TransientError("the outbox is away")
        return []


def produce(broker: Broker, topic: str, ids: list[str]) -> None:
    """On one partition: the order they are read in is the order they were sent."""
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for event_id in ids:
        producer.produce(topic, json.dumps({"event_id": event_id}).encode(), event_id.encode(), partition=0)
    assert producer.flush(30) == 0


def until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def consumer(broker: Broker, egress: Recorder, topic: str, group: str) -> EventConsumer:
    return EventConsumer(egress, bootstrap_servers=broker.bootstrap, topics=[topic], group_id=group,
                         encoder=JsonCodec())


def test_a_restarted_route_reads_on_from_what_it_handled(broker: Broker):
    topic, group = f"orders-{uuid.uuid4().hex[:8]}", f"route-{uuid.uuid4().hex[:8]}"
    first_ids = [f"e{n}" for n in range(40)]
    produce(broker, topic, first_ids)
    first = Recorder()
    route = consumer(broker, first, topic, group)
    route.start()
    try:
        assert until(lambda: len(first.handled) >= 40)
    finally:
        route.stop()
    assert first.handled == first_ids

    later_ids = [f"e{n}" for n in range(40, 45)]
    produce(broker, topic, later_ids)
    second = Recorder()
    route = consumer(broker, second, topic, group)
    route.start()
    try:
        assert until(lambda: len(second.handled) >= 5)
        time.sleep(1.0)  # anything read again would come now
    finally:
        route.stop()
    assert second.handled == later_ids  # none of the 40 again: their offsets were committed


def test_an_event_that_failed_is_read_again_and_nothing_is_lost(broker: Broker):
    topic, group = f"orders-{uuid.uuid4().hex[:8]}", f"route-{uuid.uuid4().hex[:8]}"
    ids = [f"f{n}" for n in range(12)]
    produce(broker, topic, ids)
    egress = Recorder(fail_once={"f7"})
    route = consumer(broker, egress, topic, group)
    route.start()
    try:
        assert until(lambda: egress.handled[-1:] == ["f11"] and "f7" not in egress.fail_once)
    finally:
        route.stop()
    assert egress.handled.count("f7") == 2  # failed, then read again from the committed offset
    assert set(egress.handled) == set(ids)
    after = egress.handled[len(egress.handled) - egress.handled[::-1].index("f7") - 1:]
    assert after == ids[7:]  # the second time, in order from there on
