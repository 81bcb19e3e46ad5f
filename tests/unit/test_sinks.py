"""Sinks without a broker: MemorySink, and KafkaSink's error mapping and checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from gateway.errors import TerminalError, TransientError
from gateway.events import Event, SchemaSet, SchemaValidationError, SingleObjectEncoder, event_id
from gateway.sinks import Delivery, MemorySink, Sink
from gateway.sinks.kafka import KafkaSink, best_compression, classify

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
UTC = dt.timezone.utc


def parcel(n: int, topic: str = "edigw.parcels") -> Event:
    record = {
        "event_id": event_id("DHL", "000000001", str(n), 0),
        "event_type": "ParcelScanned",
        "occurred_at": dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        "received_at": dt.datetime(2026, 11, 20, 9, 31, tzinfo=UTC),
        "partner_id": "DHL",
        "source": {
            "syntax": "edifact", "message_type": "IFTSTA", "message_version": "D01B", "interchange_ref": "000000001",
            "group_ref": None, "message_ref": str(n), "transport": "sftp", "receipt_id": None,
        },
        "shipment_number": None,
        "tracking_number": f"JJD{n:010d}",
        "status_code": "21",
        "status_description": None,
        "scanned_at": dt.datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        "location": None,
    }  # fmt: skip
    return Event("ParcelScanned", topic, record["tracking_number"], record)


@pytest.fixture(scope="module")
def encoder() -> SingleObjectEncoder:
    return SingleObjectEncoder(SchemaSet.load(SCHEMAS))


# --- MemorySink ---------------------------------------------------------------------------


def test_memory_sink_keeps_events_in_order_with_offsets_per_topic():
    sink = MemorySink()
    assert isinstance(sink, Sink)
    first = sink.publish([parcel(1), parcel(2, "other"), parcel(3)])
    second = sink.publish([parcel(4)])
    assert [d.offset for d in first] == [0, 0, 1]
    assert second == [Delivery("edigw.parcels", 0, 2, parcel(4).event_id)]
    assert [e.record["tracking_number"] for e in sink.topic("edigw.parcels")] == [
        "JJD0000000001", "JJD0000000003", "JJD0000000004",
    ]  # fmt: skip
    assert len(sink.events) == 4 and sink.deliveries == first + second
    assert sink.publish([]) == []


def test_memory_sink_injected_failures_keep_nothing():
    sink = MemorySink()
    sink.fail_next(TransientError("broker down"), times=2)
    for _ in range(2):
        with pytest.raises(TransientError, match="broker down"):
            sink.publish([parcel(1)])
    assert sink.events == []
    assert sink.publish([parcel(1)])[0].offset == 0


def test_memory_sink_with_encoder_encodes_like_a_real_sink(encoder: SingleObjectEncoder):
    sink = MemorySink(encoder)
    sink.publish([parcel(1)])
    assert encoder.decode(sink.values[0]) == ("ParcelScanned", parcel(1).record)
    bad = parcel(2)
    bad.record["status_code"] = 21
    with pytest.raises(SchemaValidationError, match="status_code"):
        sink.publish([parcel(3), bad])
    assert len(sink.events) == 1  # all or nothing


def test_memory_sink_ping_clear_and_close():
    sink = MemorySink()
    assert sink.ping()
    sink.healthy = False
    assert not sink.ping()
    sink.healthy = True
    sink.publish([parcel(1)])
    sink.clear()
    assert sink.events == [] and sink.publish([parcel(2)])[0].offset == 1
    with sink:
        pass
    assert sink.closed and not sink.ping()
    with pytest.raises(RuntimeError):
        sink.publish([parcel(3)])


# --- KafkaSink without a broker ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (KafkaError.MSG_SIZE_TOO_LARGE, TerminalError),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, TerminalError),  # retriable for Kafka, final for a document
        (KafkaError._UNKNOWN_TOPIC, TerminalError),
        (KafkaError.INVALID_RECORD, TerminalError),
        (KafkaError._MSG_TIMED_OUT, TransientError),  # librdkafka does not flag it retriable
        (KafkaError._TRANSPORT, TransientError),
        (KafkaError._ALL_BROKERS_DOWN, TransientError),
        (KafkaError.NOT_ENOUGH_REPLICAS, TransientError),
        (KafkaError.REQUEST_TIMED_OUT, TransientError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, TransientError),
        (KafkaError.UNSUPPORTED_VERSION, TerminalError),
    ],
)
def test_classify(code: int, kind: type):
    error = classify(KafkaError(code), "kafka: ")
    assert type(error) is kind
    assert str(error).startswith("kafka: ")


def test_classify_fatal_and_retriable_flags():
    assert isinstance(classify(KafkaError(KafkaError.UNKNOWN_PRODUCER_ID, fatal=True)), TransientError)
    assert isinstance(classify(KafkaError(KafkaError.UNSUPPORTED_VERSION, retriable=True)), TransientError)


def test_producer_defaults(encoder: SingleObjectEncoder):
    sink = KafkaSink("127.0.0.1:9", encoder, client_id="edigw-test", extra_config={"linger.ms": 1})
    assert sink.config["enable.idempotence"] is True and sink.config["acks"] == "all"
    assert sink.config["linger.ms"] == 1 and sink.config["client.id"] == "edigw-test"
    assert sink.config["compression.type"] == best_compression() == "lz4"  # the wheel's librdkafka has lz4
    sink.close()


def test_oversized_event_is_terminal_before_anything_is_sent(encoder: SingleObjectEncoder):
    sink = KafkaSink("127.0.0.1:9", encoder, extra_config={"message.max.bytes": 1000}, timeout=1)
    big = parcel(1)
    big.record["status_description"] = "x" * 2000
    with pytest.raises(TerminalError, match=r"more than message\.max\.bytes=1000"):
        sink.publish([parcel(2), big])
    assert sink._producer is None  # nothing was produced
    sink.close()


def test_invalid_record_is_terminal(encoder: SingleObjectEncoder):
    sink = KafkaSink("127.0.0.1:9", encoder, timeout=1)
    bad = parcel(1)
    bad.record["scanned_at"] = "yesterday"
    with pytest.raises(SchemaValidationError, match="scanned_at"):
        sink.publish([bad])
    sink.close()


def test_unreachable_broker_is_transient(encoder: SingleObjectEncoder):
    sink = KafkaSink("127.0.0.1:9", encoder, timeout=0.5)  # port 9: nobody listens
    with pytest.raises(TransientError, match="1 of 1 events unconfirmed after 0.5 s"):
        sink.publish([parcel(1)])
    assert not sink.ping(timeout=0.2)
    sink.close()
    with pytest.raises(RuntimeError):
        sink.publish([parcel(1)])
