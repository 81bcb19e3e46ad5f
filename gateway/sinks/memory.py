"""A sink that keeps what it is given: for tests and ``edigw map``."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import GatewayError
from gateway.events.encoding import Encoder
from gateway.events.event import Event
from gateway.sinks.base import Delivery, Sink


class MemorySink(Sink):
    """Keeps published events in :attr:`events`, in order; one partition per topic.

    A batch is all or nothing: an injected failure (:meth:`fail_next`) raises
    before any event of the batch is kept, like a broker that stored none.
    With an ``encoder`` every event is also encoded, as a real sink would, so
    a record that does not fit its schema fails here too; the bytes are kept
    in :attr:`values`.
    """

    def __init__(self, encoder: Encoder | None = None, *, keep: bool = True) -> None:
        self.encoder = encoder
        self.keep = keep  # False: count offsets, keep nothing (edigw map streams what it is given)
        self.events: list[Event] = []
        self.values: list[bytes] = []
        self.deliveries: list[Delivery] = []
        self.healthy = True  # what ping() answers
        self.closed = False
        self._offsets: dict[str, int] = {}
        self._failures: list[GatewayError] = []

    def fail_next(self, error: GatewayError, times: int = 1) -> None:
        """Make the next ``times`` calls of :meth:`publish` raise ``error``."""
        self._failures.extend([error] * times)

    def publish(self, events: Sequence[Event]) -> list[Delivery]:
        if self.closed:
            raise RuntimeError("publish on a closed MemorySink")
        if self._failures:
            raise self._failures.pop(0)
        values = [e.value if e.value is not None else self.encoder.encode(e.event_type, e.record, e.topic)
                  for e in events] if self.encoder else []
        delivered = []
        for event in events:
            offset = self._offsets.get(event.topic, 0)
            self._offsets[event.topic] = offset + 1
            delivered.append(Delivery(event.topic, 0, offset, event.event_id))
        if self.keep:
            self.events.extend(events)
            self.values.extend(values)
            self.deliveries.extend(delivered)
        return delivered

    def topic(self, name: str) -> list[Event]:
        """The events published to topic ``name``, in order."""
        return [e for e in self.events if e.topic == name]

    def clear(self) -> None:
        """Forget every event (offsets go on counting, as on a broker)."""
        self.events.clear()
        self.values.clear()
        self.deliveries.clear()

    def ping(self, timeout: float = 5.0) -> bool:
        return self.healthy and not self.closed

    def close(self) -> None:
        self.closed = True
