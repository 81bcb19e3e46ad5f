"""An outbound route's consumer against the real broker: what it handled is committed, a restart
reads on from there, and an event that failed is read again."""

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


def run_route(broker: Broker, egress: Recorder, topic: str, group: str, done, linger: float = 0.0) -> None:
    """Start a route's consumer, wait until ``done()`` (30 s at most) and ``linger`` seconds more,
    stop it."""
    route = EventConsumer(egress, bootstrap_servers=broker.bootstrap, topics=[topic], group_id=group,
                          encoder=JsonCodec())
    route.start()
    try:
        assert until(done)
        time.sleep(linger)
    finally:
        route.stop()


def test_a_restarted_route_reads_on_from_what_it_handled(broker: Broker):
    topic, group = f"orders-{uuid.uuid4().hex[:8]}", f"route-{uuid.uuid4().hex[:8]}"
    first_ids = [f"e{n}" for n in range(40)]
    produce(broker, topic, first_ids)
    first = Recorder()
    run_route(broker, first, topic, group, lambda: len(first.handled) >= 40)
    assert first.handled == first_ids

    later_ids = [f"e{n}" for n in range(40, 45)]
    produce(broker, topic, later_ids)
    second = Recorder()
    # a second more after the 5 came: anything read again would come by then
    run_route(broker, second, topic, group, lambda: len(second.handled) >= 5, linger=1.0)
    assert second.handled == later_ids  # none of the 40 again: their offsets were committed


def test_an_event_that_failed_is_read_again_and_nothing_is_lost(broker: Broker):
    topic, group = f"orders-{uuid.uuid4().hex[:8]}", f"route-{uuid.uuid4().hex[:8]}"
    ids = [f"f{n}" for n in range(12)]
    produce(broker, topic, ids)
    egress = Recorder(fail_once={"f7"})
    run_route(broker, egress, topic, group, lambda: egress.handled[-1:] == ["f11"] and "f7" not in egress.fail_once)
    assert egress.handled.count("f7") == 2  # failed, then read again from the committed offset
    assert set(egress.handled) == set(ids)
    after = egress.handled[len(egress.handled) - egress.handled[::-1].index("f7") - 1:]
    assert after == ids[7:]  # the second time, in order from there on
