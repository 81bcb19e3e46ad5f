"""KafkaSink against a real Kafka-compatible broker (Tansu, see tests/broker.py).

Every test uses topics of its own (the broker is shared by the session) and
leaves the broker running, even the outage test that stops it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import TransientError
from gateway.events import Event, RegistryEncoder, SchemaSet, SingleObjectEncoder, cloudevents_headers, event_id
from gateway.sinks.kafka import KafkaSink
from tests.broker import Broker, BrokerUnavailable, consume

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
UTC = dt.timezone.utc
SOURCE_URI = "urn:edigw:test"


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load(SCHEMAS)


@pytest.fixture
def topics() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"edigw.orders.{run}", f"edigw.shipments.{run}"


def _common(event_type: str, message_type: str, n: int) -> dict:
    return {
        "event_id": event_id("ACME", "000000101", f"{n:04d}", 0),
        "event_type": event_type,
        "occurred_at": dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC) + dt.timedelta(minutes=n),
        "received_at": dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "partner_id": "ACME",
        "source": {
            "syntax": "edifact", "message_type": message_type, "message_version": "D96A",
            "interchange_ref": "000000101", "group_ref": None, "message_ref": f"{n:04d}",
            "transport": "as2", "receipt_id": f"rcpt-{n}",
        },
    }  # fmt: skip


def order(n: int, topic: str) -> Event:
    record = {
        **_common("OrderCreated", "ORDERS", n),
        "order_number": f"PO-{n}",
        "order_date": dt.date(2026, 11, 20),
        "requested_delivery_date": None,
        "currency": "EUR",
        "buyer": {"id": "4012345000009", "id_scheme": "GLN", "name": None, "address": None},
        "supplier": None,
        "ship_to": None,
        "notes": None,
        "lines": [
            {
                "line_number": str(i), "gtin": None, "buyer_item_id": None, "supplier_item_id": f"W-{i}",
                "description": None, "quantity": Decimal(n + i), "unit": "PCE", "unit_price": Decimal("1.25"),
            }
            for i in range(1, n % 4 + 2)
        ],
    }  # fmt: skip
    return _event("OrderCreated", topic, f"PO-{n % 7}", record)


def shipment(n: int, topic: str) -> Event:
    record = {
        **_common("ShipmentCreated", "DESADV", n),
        "shipment_number": f"DES-{n}",
        "ship_date": dt.date(2026, 11, 22),
        "expected_delivery_date": None,
        "carrier": "DHL",
        "tracking_number": f"JJD{n:010d}",
        "ship_from": None,
        "ship_to": None,
        "order_numbers": [f"PO-{n}"],
        "packages": [{"sscc": None, "package_type": "CT", "items": [
            {"line_number": "1", "gtin": None, "supplier_item_id": "W-1", "quantity": Decimal("2.5"), "unit": "PCE",
             "order_number": f"PO-{n}"},
        ]}],
    }  # fmt: skip
    return _event("ShipmentCreated", topic, None if n % 5 == 0 else f"DES-{n % 3}", record)


def _event(event_type: str, topic: str, key: str | None, record: dict) -> Event:
    event = Event(event_type, topic, key, record)
    event.headers = cloudevents_headers(event, SOURCE_URI)
    return event


def test_publish_100_events_to_two_topics_and_read_them_back(broker: Broker, schemas: SchemaSet, topics):
    orders, shipments = topics
    encoder = SingleObjectEncoder(schemas)
    events = [order(n, orders) if n % 2 else shipment(n, shipments) for n in range(100)]
    with KafkaSink(broker.bootstrap, encoder, client_id="edigw-it") as sink:
        assert sink.ping(timeout=5)
        deliveries = []
        for start in range(0, 100, 25):
            deliveries += sink.publish(events[start : start + 25])
    assert [d.event_id for d in deliveries] == [e.event_id for e in events]
    assert {d.topic for d in deliveries} == {orders, shipments}
    assert len({(d.topic, d.partition, d.offset) for d in deliveries}) == 100

    messages = consume(broker.bootstrap, [orders, shipments], 100, timeout=60)
    assert len(messages) == 100
    sent = {e.event_id: e for e in events}
    where = {d.event_id: d for d in deliveries}
    seen = set()
    for message in messages:
        event_type, record = encoder.decode(message.value())
        event = sent[record["event_id"]]
        seen.add(event.event_id)
        assert (event_type, record) == (event.event_type, event.record)
        assert message.topic() == event.topic
        assert message.key() == (event.key.encode() if event.key is not None else None)
        headers = {k: v.decode() for k, v in message.headers()}
        assert headers == {**event.headers, "content-type": "application/avro"}
        assert headers["ce_type"] == f"edigw.events.{event.event_type}"
        assert headers["ce_id"] == event.event_id
        delivery = where[event.event_id]
        assert (message.partition(), message.offset()) == (delivery.partition, delivery.offset)
    assert seen == set(sent)

    # One key, one partition: the order of a key's events is kept.
    by_key: dict[tuple[str, str], set[int]] = {}
    for event, delivery in zip(events, deliveries, strict=True):
        if event.key is not None:
            by_key.setdefault((event.topic, event.key), set()).add(delivery.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())


def test_registry_encoded_events_round_trip_through_the_broker(broker: Broker, schemas: SchemaSet, topics):
    orders, _ = topics
    encoder = RegistryEncoder(schemas, url="mock://edigw-it")
    events = [order(n, orders) for n in range(5)]
    with KafkaSink(broker.bootstrap, encoder) as sink:
        sink.publish(events)
    messages = consume(broker.bootstrap, orders, 5, timeout=60)
    assert sorted(encoder.decode(m.value())[1]["order_number"] for m in messages) == [f"PO-{n}" for n in range(5)]
    assert all(m.value()[0] == 0 for m in messages)
    assert {dict(m.headers())["content-type"] for m in messages} == {b"application/vnd.confluent.avro"}


def test_broker_outage_is_transient_and_publishing_resumes(broker: Broker, schemas: SchemaSet, topics):
    orders, _ = topics
    sink = KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas), timeout=2.0)
    try:
        sink.publish([order(1, orders)])
        broker.stop(kill=True)  # a crash
        started = time.monotonic()
        with pytest.raises(TransientError, match="2 of 2 events unconfirmed after 2 s"):
            sink.publish([order(2, orders), order(3, orders)])
        assert time.monotonic() - started < 2.0 + 2.0
        assert sink.ping(timeout=0.5) is False
    finally:
        broker.start()  # empty again: Tansu keeps everything in memory
    deliveries = sink.publish([order(2, orders), order(3, orders)])
    assert [d.event_id for d in deliveries] == [order(2, orders).event_id, order(3, orders).event_id]
    assert sink.ping(timeout=5)
    sink.close()
    messages = consume(broker.bootstrap, orders, 2, timeout=60)
    assert sorted(m.key() for m in messages) == [b"PO-2", b"PO-3"]


def test_an_idle_sink_publishes_at_once_after_a_broker_restart(broker: Broker, schemas: SchemaSet, topics):
    """The restarted broker forgot the producer id; the sink must not stall until its timeout."""
    orders, _ = topics
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas), timeout=10.0) as sink:
        sink.publish([order(1, orders)])
        broker.stop(kill=True)  # a crash
        broker.start()
        started = time.monotonic()
        sink.publish([order(2, orders)])
        assert time.monotonic() - started < 5.0


def test_a_hung_broker_is_transient_within_the_timeout(broker: Broker, schemas: SchemaSet, topics):
    orders, _ = topics
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas), timeout=1.5) as sink:
        sink.publish([order(1, orders)])
        broker.pause()
        try:
            started = time.monotonic()
            with pytest.raises(TransientError, match="1 of 1 events unconfirmed after 1.5 s"):
                sink.publish([order(2, orders)])
            assert time.monotonic() - started < 1.5 + 1.0
            # a batch sent in the meantime: handed over at once, its wait fails within the timeout
            started = time.monotonic()
            sent = sink.send([order(2, orders), order(3, orders)])
            assert time.monotonic() - started < 0.5
            with pytest.raises(TransientError, match="2 of 2 events unconfirmed after 1.5 s"):
                sent.wait()
            assert time.monotonic() - started < 1.5 + 1.0
        finally:
            broker.resume()
        started = time.monotonic()
        assert sink.publish([order(3, orders)])[0].event_id == order(3, orders).event_id
        assert time.monotonic() - started < 5.0


def test_events_without_headers_get_cloudevents_headers(broker: Broker, schemas: SchemaSet, topics):
    orders, _ = topics
    bare = order(7, orders)
    bare.headers = {}
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas), source_uri="urn:edigw:it") as sink:
        sink.publish([bare])
    [message] = consume(broker.bootstrap, orders, 1, timeout=60)
    headers = {k: v.decode() for k, v in message.headers()}
    assert headers == {
        **cloudevents_headers(bare, "urn:edigw:it"),
        "content-type": "application/avro",
    }
    assert headers["ce_source"] == "urn:edigw:it" and headers["ce_id"] == bare.event_id


def test_consume_in_a_consumer_group(broker: Broker, schemas: SchemaSet, topics):
    orders, _ = topics
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas)) as sink:
        sink.publish([order(n, orders) for n in range(3)])
    messages = consume(broker.bootstrap, orders, 3, timeout=60, group=True)
    assert sorted(m.key() for m in messages) == [b"PO-0", b"PO-1", b"PO-2"]


def test_a_missing_broker_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerUnavailable, match="no Tansu broker binary: CALF_TANSU_BIN="):
        Broker()


def test_warm_connects_before_the_first_publish_and_creates_no_topic(broker: Broker, schemas: SchemaSet, topics):
    from confluent_kafka.admin import AdminClient

    orders, shipments = topics
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas)) as sink:
        sink.publish([order(1, orders)])  # the orders topic exists from here on
    with KafkaSink(broker.bootstrap, SingleObjectEncoder(schemas)) as sink:
        sink.warm([orders, shipments])
        names = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
        assert orders in names and shipments not in names  # warm looked up, never created
        [delivery] = sink.publish([order(2, orders)])
        assert delivery.event_id == order(2, orders).event_id and delivery.topic == orders
    messages = consume(broker.bootstrap, orders, 2, timeout=60)
    assert sorted(m.key() for m in messages) == [b"PO-1", b"PO-2"]


def test_warm_with_the_broker_down_returns_within_its_timeout(schemas: SchemaSet):
    # port 9, not 1: a unit test counts the log lines of a sink that cannot reach 127.0.0.1:1
    with KafkaSink("127.0.0.1:9", SingleObjectEncoder(schemas), timeout=1.0) as sink:
        started = time.monotonic()
        sink.warm(["edigw.orders"], timeout=0.5)  # no error: publish reports an unreachable broker
        assert time.monotonic() - started < 3.0
        with pytest.raises(TransientError, match="cannot reach the broker at 127.0.0.1:9"):
            sink.publish([order(1, "edigw.orders")])


def test_a_large_batch_is_delivered_in_order_with_its_keys_headers_and_values(broker: Broker, schemas: SchemaSet,
                                                                              topics):
    """One publish of 300 prepared events (delivery reports served while producing): each Delivery
    names where its own event is stored, which carries the event's key, headers and value."""
    orders, _ = topics
    encoder = SingleObjectEncoder(schemas)
    events = [order(n, orders) for n in range(300)]
    with KafkaSink(broker.bootstrap, encoder) as sink:
        for event in events:
            sink.prepare(event)
        deliveries = sink.publish(events)
    assert [d.event_id for d in deliveries] == [e.event_id for e in events]
    assert all(d.topic == orders for d in deliveries)
    where = {(d.partition, d.offset): e for d, e in zip(deliveries, events, strict=True)}
    assert len(where) == 300
    messages = consume(broker.bootstrap, orders, 300, timeout=60)
    assert len(messages) == 300
    for message in messages:
        event = where[(message.partition(), message.offset())]
        value, key, headers = event.prepared
        assert message.value() == value and message.key() == key == event.key.encode()
        assert message.headers() == headers
        assert dict(headers)["ce_id"] == event.event_id.encode()
        assert encoder.decode(message.value()) == (event.event_type, event.record)


def test_a_batch_sent_before_the_last_is_confirmed_keeps_each_keys_order(broker: Broker, schemas: SchemaSet, topics):
    """send() returns before confirmation; two batches in flight at once: each wait() gives its own
    batch's deliveries, and a key's events of the second batch are stored after those of the first."""
    orders, _ = topics
    encoder = SingleObjectEncoder(schemas)
    first = [order(n, orders) for n in range(200)]
    second = [order(n, orders) for n in range(200, 400)]
    for event in first + second:
        event.key = f"PO-{int(event.key[3:]) % 7}"  # 7 keys, each in both batches
    with KafkaSink(broker.bootstrap, encoder) as sink:
        sent = sink.send(first)
        later = sink.send(second)
        deliveries = sent.wait()
        assert [d.event_id for d in deliveries] == [e.event_id for e in first]
        deliveries += later.wait()
    assert [d.event_id for d in deliveries] == [e.event_id for e in first + second]
    stored: dict[str, list[tuple[int, int]]] = {}
    for event, delivery in zip(first + second, deliveries, strict=True):
        stored.setdefault(event.key, []).append((delivery.partition, delivery.offset))
    for places in stored.values():
        assert len({p for p, _ in places}) == 1
        assert [o for _, o in places] == sorted(o for _, o in places)  # in the order sent, across batches
    messages = consume(broker.bootstrap, orders, 400, timeout=60)
    where = {(d.partition, d.offset): d.event_id for d in deliveries}
    assert sorted(where[(m.partition(), m.offset())] for m in messages) == sorted(where.values())

