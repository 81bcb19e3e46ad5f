"""What every sink promises: publish a batch, confirmed or an error that says what to do.

A :class:`Sink` is the gateway's only way out to the event broker. ``publish``
returns only once the broker has confirmed every event of the batch (for
Kafka: acknowledged by all in-sync replicas), one :class:`Delivery` per event
in the order given. Otherwise it raises

* :class:`~gateway.errors.TransientError` – the broker is down, slow or lost
  state; publishing the same batch again later may succeed. Some events of
  the batch may already be stored, so a retry can write them twice: sinks are
  *at-least-once*, and consumers drop duplicates by the deterministic
  ``event_id``.
* :class:`~gateway.errors.TerminalError` – this batch can never be published
  as it is (an event too large, an unknown topic the broker will not create,
  a record that does not fit its schema): dead-letter it.

``send`` hands a batch over and returns at once with a :class:`Sent`, whose
``wait`` is the rest of ``publish``: the pipeline reads and maps the next
batch while the broker confirms this one. ``publish`` is ``send`` then
``wait``.

Concrete sinks live one per module (``memory.py``, ``kafka.py``); the
composition root picks one. Sinks are not safe for concurrent ``publish``
calls from several threads unless they say so.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from types import TracebackType
from typing import NamedTuple

from gateway.events.event import Event


class Delivery(NamedTuple):
    """Where the broker stored one event.

    A named tuple rather than a frozen dataclass: a sink builds one per event
    it publishes, and a tuple is built in a third of the time.
    """

    topic: str
    partition: int
    offset: int
    event_id: str


class Sent:
    """A batch handed to a sink: :meth:`wait` returns its deliveries once the broker confirmed every
    event, in the order given, or raises what ``publish`` would. This one is already confirmed (what
    :meth:`Sink.send` returns for a sink that publishes at once)."""

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        self._deliveries = deliveries

    def wait(self) -> Sequence[Delivery]:
        return self._deliveries


class Sink(abc.ABC):
    """Publishes events to a broker; see the module's docstring for the contract."""

    @abc.abstractmethod
    def publish(self, events: Sequence[Event]) -> Sequence[Delivery]:
        """Publish ``events``; return after every one is confirmed, in order (a list, or a sequence
        that builds each delivery when read)."""

    def send(self, events: Sequence[Event]) -> Sent:
        """Hand ``events`` over and return before they are confirmed; ``wait()`` on the result is
        the rest of :meth:`publish`. A TerminalError for a batch that cannot be sent is raised here.
        The default publishes at once."""
        return Sent(self.publish(events))

    def prepare(self, event: Event) -> None:
        """Turn ``event`` into what this sink sends (``event.prepared``).

        The pipeline calls it per message, in its encode stage, so the CPU work
        of building the wire form is done there (on every worker) and
        ``publish`` does nothing but send. A TerminalError here (an event too
        large, say) dead-letters the message. The default prepares nothing.
        """

    def warm(self, topics: Sequence[str]) -> None:
        """Connect and look up ``topics`` now, not with the first publish (best effort: never raises
        for a broker that is down; ``publish`` reports that). The default does nothing."""

    def ping(self, timeout: float = 5.0) -> bool:
        """Whether the broker answers within ``timeout`` seconds (readiness)."""
        return True

    def close(self) -> None:
        """Release connections; the sink is not used afterwards."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
