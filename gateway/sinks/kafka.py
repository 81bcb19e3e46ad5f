"""Publishing to Kafka (or a Kafka-compatible broker such as Tansu) with confluent-kafka.

The producer is idempotent with ``acks=all``: within one producer session the
broker stores each event once and in order per partition. ``send`` encodes
the whole batch first (a record that cannot be encoded fails the batch before
anything is sent) and produces every event; ``wait`` on what it returns
serves delivery reports until all are confirmed or the sink's ``timeout``
runs out. ``publish`` is the two in one.

After a transient failure, a timeout or a *fatal* producer error, the
producer is purged and dropped, and the next call builds a fresh one; so is a
producer that lost its broker connection since the last publish (see
``_get_producer``). An idempotent producer goes fatal, or retries forever,
when the broker lost its producer state (Tansu's memory storage does on every
restart: ``UNKNOWN_PRODUCER_ID``): the old producer can never send again but
a new one can, so such errors are transient for the *events*. Retried batches
may duplicate events stored before the failure (purging cannot recall a
request already sent); consumers drop them by ``event_id``.

librdkafka's own log lines (``Connect to ... failed: Connection refused``,
dozens a second while a broker is down) go to the :data:`client_log` logger,
which turns each distinct line into a structlog warning at most once a minute
(:class:`ClientLogHandler`); the command line disables it, its commands
report a broker problem in their one line of error. An error names the
brokers it could not reach: ``kafka: cannot reach the broker at HOST:PORT:
Connection refused (2 of 2 events unconfirmed after 30 s)``.

Defaults chosen here (override any through ``extra_config``):

* ``linger.ms=5`` – a batch of a document's events leaves as one request;
* ``compression.type=lz4`` when the librdkafka build has it, else ``none``;
* ``partitioner=murmur2_random`` – the same partition for a key as Java clients
  choose, so topics keyed by order number co-partition with them.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from gateway.errors import GatewayError, TerminalError, TransientError
from gateway.events.encoding import Encoder
from gateway.events.event import Event, cloudevents_headers
from gateway.sinks.base import Delivery, Sent, Sink

log = logging.getLogger(__name__)  # debug lines only


class ClientLogHandler(logging.Handler):
    """librdkafka's log lines as structlog warnings, each distinct line at most once per ``interval`` seconds.

    A broker that refuses connections makes librdkafka log a line per attempt,
    dozens a second: the gateway's log says it once a minute, with how often
    it was repeated meanwhile. Lines are told apart without what changes
    between attempts (thread, "after 0ms in state CONNECT").
    """

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(logging.WARNING)
        self.interval = interval
        self.clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # line -> (when last logged, repeats since)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            args = record.args
            if isinstance(args, tuple) and len(args) == 3 and record.msg == "%s [%s] %s":  # from confluent-kafka
                facility, client, text = (str(a) for a in args)
            else:
                facility, client, text = "", record.name, record.getMessage()
            text = tidy(text)
            key = f"{facility} {text}"
            now = self.clock()
            last, repeats = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, repeats + 1)
                return
            if len(self._seen) > 1000:  # lines that name changing things: do not grow forever
                self._seen.clear()
            self._seen[key] = (now, 0)
            extra = {"repeated": repeats} if repeats else {}
            structlog.get_logger("gateway").warning("kafka client: " + text, facility=facility or None,
                                                    client=client, rdkafka_level=record.levelname.lower(), **extra)
        except Exception:  # noqa: BLE001 - logging must never break publishing
            self.handleError(record)


#: librdkafka's own log lines, for every Kafka client the gateway builds (``"logger": client_log``).
#: Not propagated to the root logger: :class:`ClientLogHandler` reports them; the command line
#: sets ``disabled`` (``logging.getLogger("gateway.kafka.client").disabled = True``).
client_log = logging.getLogger("gateway.kafka.client")
client_log.propagate = False
if not any(isinstance(h, ClientLogHandler) for h in client_log.handlers):
    client_log.addHandler(ClientLogHandler())

_THREAD = re.compile(r"^\[thrd:[^\]]*\]:\s*")
_AFTER = re.compile(r"\s*\(after \d+ms in state \w+(, \d+ identical error\(s\) suppressed)?\)")
_BROKER = re.compile(r"^\S+:\d+/(bootstrap|\d+):\s*")


def tidy(text: str) -> str:
    """A librdkafka line without what changes between attempts: thread, time in state."""
    return _AFTER.sub("", _THREAD.sub("", text)).strip()


def not_reached(servers: str, error: KafkaError | None, waited: float) -> str:
    """The error of a client whose brokers did not answer within ``waited`` seconds, ``error`` the last
    connection error it reported (none: connections hang, or lead to something that is no broker)."""
    if error is None:
        return f"kafka: no answer from the broker at {servers} within {waited:g} s"
    return f"kafka: cannot reach the broker at {servers}: {unreachable_reason(error)} (no answer within {waited:g} s)"


def unreachable_reason(error: KafkaError | None) -> str:
    """``Connection refused`` for ``127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed:
    Connection refused (after 0ms in state CONNECT)``; librdkafka's text otherwise, tidied."""
    if error is None:
        return "no answer"
    text = _BROKER.sub("", tidy(error.str()))
    connect = re.match(r"Connect to \S+ failed: (.+)$", text)
    return connect.group(1) if connect else text


def _codes(*names: str) -> frozenset[int]:
    return frozenset(getattr(KafkaError, n) for n in names if hasattr(KafkaError, n))


#: Errors about the event itself or its topic: publishing it again cannot help.
TERMINAL_CODES = _codes(
    "MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "UNKNOWN_TOPIC_OR_PART",
    "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION", "TOPIC_EXCEPTION", "POLICY_VIOLATION", "_INVALID_ARG",
    "_KEY_SERIALIZATION", "_VALUE_SERIALIZATION",
)  # fmt: skip

#: Errors that say "try later": the broker is unreachable, slow, electing a
#: leader, lost producer state, or refuses this client (an operator fixes
#: that, not a new document). librdkafka sets ``retriable()`` on hardly any
#: delivery-report error (the flags serve the transactional API), so the
#: codes are listed; a delivery report carries them only once librdkafka's own
#: retries ran out.
TRANSIENT_CODES = _codes(
    "_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_PURGE_QUEUE",
    "_PURGE_INFLIGHT", "_DESTROY", "_QUEUE_FULL", "_RESOLVE", "_AUTHENTICATION", "_FATAL",
    "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION", "FENCED_LEADER_EPOCH", "UNKNOWN_LEADER_EPOCH",
    "NETWORK_EXCEPTION", "BROKER_NOT_AVAILABLE", "REPLICA_NOT_AVAILABLE", "KAFKA_STORAGE_ERROR",
    "THROTTLING_QUOTA_EXCEEDED", "OUT_OF_ORDER_SEQUENCE_NUMBER", "UNKNOWN_PRODUCER_ID",
    "INVALID_PRODUCER_EPOCH", "CORRUPT_MESSAGE", "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED", "SASL_AUTHENTICATION_FAILED", "UNKNOWN",
)  # fmt: skip

#: produce serves delivery reports every 64 events (poll), as they come, not all at the end of a batch
_POLL_MASK = 63

_DISCONNECTED = _codes("_TRANSPORT", "_ALL_BROKERS_DOWN")
#: Errors that say a broker could not be reached: refused, not resolved, TLS or SASL failing, all down.
UNREACHABLE = _codes("_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_SSL", "_AUTHENTICATION")


def classify(error: KafkaError, what: str = "") -> GatewayError:
    """The gateway error for a librdkafka error: terminal or transient.

    Listed codes decide; otherwise ``fatal()`` and ``retriable()`` mean
    transient, and any other error (unknown to this table) is terminal.
    """
    text = f"{what}{error.name()}: {error.str()}"
    if error.code() in TERMINAL_CODES:
        return TerminalError(text)
    if error.fatal() or error.retriable() or error.code() in TRANSIENT_CODES:
        return TransientError(text)
    return TerminalError(text)


@functools.cache
def best_compression() -> str:
    """``"lz4"`` if this librdkafka build supports it, else ``"none"``."""
    try:
        Producer({"compression.type": "lz4", "log_level": 0})
    except KafkaException:
        return "none"
    return "lz4"


class _Deliveries(Sequence[Delivery]):
    """A confirmed batch's deliveries, each built when it is read: the pipeline only counts them
    unless it keeps them. Building each Delivery in its report instead: bench.pipeline's publish
    stage 0.68-0.86 of the raw producer, against 1.05-1.26 this way (two runs each, in turn)."""

    __slots__ = ("_places", "_events")

    def __init__(self, places: list[tuple[int, int]], events: Sequence[Event]) -> None:
        self._places = places  # (partition, offset) of each event
        self._events = events

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        (partition, offset), event = self._places[index], self._events[index]
        return Delivery(event.topic, partition, offset, event.event_id)

    def __iter__(self):
        for (partition, offset), event in zip(self._places, self._events):
            yield Delivery(event.topic, partition, offset, event.event_id)

    def __add__(self, other: Sequence[Delivery]) -> list[Delivery]:  # as a list would (deliveries += ...)
        return [*self, *other]

    def __radd__(self, other: Sequence[Delivery]) -> list[Delivery]:
        return [*other, *self]

    def __repr__(self) -> str:
        return repr(list(self))


class _InFlight(Sent):
    """A batch the producer holds: the delivery report of ``events[i]`` lands in ``results[i]``
    (its partition and offset, or its KafkaError); ``left`` counts those still to come."""

    def __init__(self, sink: KafkaSink, producer: Producer, events: Sequence[Event]) -> None:
        self.sink = sink
        self.producer = producer
        self.events = events
        self.results: list[tuple[int, int] | KafkaError | None] = [None] * len(events)
        self.left = len(events)
        self.deadline = time.monotonic() + sink.timeout
        sink._sends += 1
        self.number = sink._sends  # the sink's sends so far, this one included

    def report(self, index: int, error: KafkaError | None, message: Message) -> None:
        # where it is stored, not the Message: that holds a copy of the event's value and headers,
        # and a batch's results live on while the next batch is read
        self.results[index] = (message.partition(), message.offset()) if error is None else error
        self.left -= 1

    def wait(self) -> Sequence[Delivery]:
        sink, producer, events = self.sink, self.producer, self.events
        with sink._lock:
            try:
                # Delivery reports are served while the sink holds its lock. flush() also sends what
                # lingers (linger.ms) but waits for everything the producer holds: it is used unless
                # a batch was sent after this one (the pipeline waits for batch k once k+1 is sent);
                # then poll() serves reports as they come. A small batch waiting out linger.ms with
                # poll() would hold the lock, and every other thread's publish, 5 ms or more.
                latest = self.number == sink._sends
                while self.left and sink._fatal is None and producer is sink._producer:
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    if latest or len(producer) <= self.left:
                        producer.flush(min(remaining, 0.5))
                    else:
                        producer.poll(min(remaining, 0.5))
            except KafkaException as exc:
                raise sink._failed(exc) from exc
            current = producer is sink._producer  # not replaced meanwhile (another batch's failure)
            if sink._fatal is not None and current:
                fatal = sink._fatal
                sink._discard()
                raise TransientError(f"kafka producer failed, rebuilt: {fatal.name()}: {fatal.str()}")
            if self.left:
                counted = f"{self.left} of {len(events)} events unconfirmed after {sink.timeout:g} s"
                if not current:
                    raise TransientError(f"kafka: {counted}: the producer was replaced (broker at {sink.servers})")
                unreachable = sink._unreachable is not None and not sink._answers(producer)
                reason = unreachable_reason(sink._unreachable)
                sink._discard()  # purges: the reports it serves would change pending
                if unreachable:
                    raise TransientError(f"kafka: cannot reach the broker at {sink.servers}: {reason} ({counted})")
                raise TransientError(f"kafka: {counted} (broker at {sink.servers})")
            failed = [(i, r) for i, r in enumerate(self.results) if isinstance(r, KafkaError)]
            if failed:
                errors = [classify(r, f"event {events[i].event_id} to {events[i].topic}: ") for i, r in failed]
                terminal = [e for e in errors if isinstance(e, TerminalError)]
                first = terminal[0] if terminal else errors[0]
                if not terminal and current:
                    sink._discard()
                raise type(first)(f"kafka: {len(failed)} of {len(events)} events failed; first: {first}")
            return _Deliveries(self.results, events)


class KafkaSink(Sink):
    """A :class:`Sink` over a confluent-kafka Producer; safe to share between threads."""

    def __init__(
        self,
        bootstrap_servers: str,
        encoder: Encoder,
        *,
        client_id: str = "edigw",
        extra_config: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        source_uri: str = "urn:edigw",
    ) -> None:
        """``timeout``: seconds ``publish`` waits for confirmations before a TransientError.

        ``source_uri`` is the CloudEvents ``ce_source`` given to events that
        come without CloudEvents headers (no ``ce_id``): every message this
        sink writes follows the Kafka binding, whoever built the Event.
        """
        self.encoder = encoder
        self.timeout = timeout
        self.source_uri = source_uri
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": best_compression(),
            "partitioner": "murmur2_random",
            "logger": client_log,
        }
        self.config.update(extra_config or {})
        self.max_message_bytes = int(self.config.get("message.max.bytes", 1_000_000))
        self._producer: Producer | None = None
        self._fatal: KafkaError | None = None
        self._disconnected = False
        self._unreachable: KafkaError | None = None  # the last "cannot connect" error of this producer
        self._lock = threading.Lock()
        self._closed = False
        self._sends = 0  # batches sent (each _InFlight knows its number: whether one was sent after it)

    # --- the producer -------------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            client_log.warning("producer failed: %s", error)
            return
        # Connection refused, all brokers down, ...: librdkafka retries by itself.
        if error.code() in _DISCONNECTED:
            self._disconnected = True
        if error.code() in UNREACHABLE and not (
            error.code() == KafkaError._ALL_BROKERS_DOWN and self._unreachable is not None
        ):  # "1/1 brokers are down" says less than the connection error before it
            self._unreachable = error
        log.debug("kafka producer: %s", error)

    def _get_producer(self) -> Producer:
        """The producer, rebuilt if it failed or lost its broker since the last publish.

        A producer that lost its connection while idle is replaced before it
        sends again: a broker that restarted without its producer state
        (Tansu's memory storage) answers its next batches UNKNOWN_PRODUCER_ID
        again and again, and librdkafka retries them silently until the
        message timeout. A producer that holds nothing costs one connection
        to replace and loses nothing (on Kafka, also after the broker closed an
        idle connection, every 10 minutes by default); one that still holds a
        batch (sent, not yet confirmed) is kept: librdkafka retries it, and its
        ``wait`` says what became of it.
        """
        if self._closed:
            raise RuntimeError("publish on a closed KafkaSink")
        if self._producer is not None:
            self._producer.poll(0)  # serves error reports queued while idle
            if self._fatal is not None or (self._disconnected and not len(self._producer)):
                self._discard()
        if self._producer is None:
            self._producer = Producer({**self.config, "error_cb": self._on_error})
        return self._producer

    def _discard(self) -> None:
        """Drop the producer: purge what it still holds and close it."""
        producer, self._producer = self._producer, None
        self._fatal, self._disconnected, self._unreachable = None, False, None
        if producer is None:
            return
        try:
            producer.purge(in_queue=True, in_flight=True)
            producer.poll(0)  # serves the purged messages' delivery reports
            producer.close()
        except (KafkaException, RuntimeError) as exc:
            log.debug("discarding kafka producer: %s", exc)

    # --- publishing ---------------------------------------------------------------

    def prepare(self, event: Event) -> None:
        event.prepared = self._encode(event)

    def _encode(self, event: Event) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
        value = event.value
        if value is None:  # not encoded by the pipeline yet
            value = self.encoder.encode(event.event_type, event.record, event.topic)
        key = event.key.encode("utf-8") if event.key is not None else None
        headers = dict(event.headers)
        if "ce_id" not in headers:
            headers = {**cloudevents_headers(event, self.source_uri), **headers}
        headers.setdefault("content-type", self.encoder.content_type)
        encoded = [(k, v.encode("utf-8")) for k, v in headers.items()]
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in encoded)
        if size > self.max_message_bytes:
            raise TerminalError(
                f"event {event.event_id} ({event.event_type}) is {size} bytes,"
                f" more than message.max.bytes={self.max_message_bytes}"
            )
        return value, key, encoded

    def publish(self, events: Sequence[Event]) -> Sequence[Delivery]:
        return self.send(events).wait()

    def send(self, events: Sequence[Event]) -> Sent:
        """Produce every event and return; ``wait()`` serves their delivery reports. The next
        batch can be produced meanwhile: librdkafka keeps each partition's order across batches."""
        if not events:
            return Sent([])
        with self._lock:
            # TerminalError before anything is sent
            encoded = [e.prepared if e.prepared is not None else self._encode(e) for e in events]
            producer = self._get_producer()
            if not len(producer):
                self._unreachable = None  # what the batches from here on meet
            flight = _InFlight(self, producer, events)
            report = flight.report
            try:
                produce, poll = producer.produce, producer.poll
                for index, (event, (value, key, headers)) in enumerate(zip(events, encoded, strict=True)):
                    callback = functools.partial(report, index)
                    try:  # the common case, without a method call per event
                        produce(event.topic, value, key, headers=headers, on_delivery=callback)
                    except BufferError:  # local queue full: let deliveries drain it
                        self._produce(producer, event, value, key, headers, callback, flight.deadline)
                    if not index & _POLL_MASK:
                        poll(0)
            except (KafkaException, TimeoutError) as exc:
                raise self._failed(exc) from exc
            return flight

    def _failed(self, exc: KafkaException | TimeoutError) -> GatewayError:
        """The error for a producer call that raised; the producer is dropped."""
        self._discard()
        error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        if not isinstance(error, KafkaError):  # a timeout: the local queue stayed full until the deadline
            return TransientError(f"kafka: {exc}")
        return classify(error, "kafka: ")

    def _produce(
        self,
        producer: Producer,
        event: Event,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        on_delivery: Callable[[KafkaError | None, Message], None],
        deadline: float,
    ) -> None:
        while True:
            try:
                producer.produce(event.topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain it
                if time.monotonic() >= deadline:
                    raise TimeoutError("producer queue stayed full") from None
                producer.poll(0.1)

    # --- readiness and shutdown -------------------------------------------------------

    @property
    def servers(self) -> str:
        """The configured brokers, as errors name them (``127.0.0.1:9092``, ``b1:9092,b2:9092``)."""
        return str(self.config.get("bootstrap.servers", ""))

    @staticmethod
    def _answers(producer: Producer, timeout: float = 1.0) -> bool:
        try:
            producer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def reach(self, timeout: float = 5.0) -> None:
        """Return once the brokers answer a metadata request; TransientError naming them and why after ``timeout``.

        ``kafka: cannot reach the broker at 127.0.0.1:1: Connection refused (no answer within 5 s)``:
        what the command line says before it publishes anything.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("reach on a closed KafkaSink")
            producer = self._get_producer()
            try:
                producer.list_topics(timeout=timeout)
                return
            except KafkaException:
                producer.poll(0)  # serves the error reports: why it cannot connect
                error = self._unreachable
        raise TransientError(not_reached(self.servers, error, timeout))

    def warm(self, topics: Sequence[str], timeout: float = 5.0) -> None:
        """Build the producer and wait (up to ``timeout`` seconds) for its broker connection and the
        topics' metadata, so that the first publish does not: on a fresh producer that costs a
        connection, the idempotent producer's id and a metadata round trip per topic, about half a
        second on loopback. Only topics the broker already has are looked up (a lookup by name
        would let the broker create a topic no event was published to yet)."""
        with self._lock:
            if self._closed:
                return
            producer = self._get_producer()
            try:
                known = producer.list_topics(timeout=timeout).topics
                for topic in topics:
                    if topic in known:
                        producer.list_topics(topic, timeout=timeout)
            except KafkaException as exc:  # the broker is down: publish says so, with the reason
                log.debug("kafka producer warm-up: %s", exc)

    def ping(self, timeout: float = 5.0) -> bool:
        """Whether the brokers answer a metadata request within ``timeout`` seconds."""
        try:
            self.reach(timeout)
        except (TransientError, RuntimeError):
            return False
        return True

    def close(self) -> None:
        """Close the producer; events are never left behind (publish waits for all)."""
        with self._lock:
            self._discard()
            self._closed = True
