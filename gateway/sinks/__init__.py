"""Where events go: one small base class, one module per sink.

    base.py    Sink (publish / ping / close) and Delivery
    memory.py  MemorySink: keeps events in a list (tests, ``edigw map``)
    kafka.py   KafkaSink: confluent-kafka, idempotent, acks=all

``gateway.sinks.kafka`` is imported only by those who use it (it loads
librdkafka); this package itself imports base and memory only.
"""

from gateway.sinks.base import Delivery, Sink
from gateway.sinks.memory import MemorySink

__all__ = ["Delivery", "MemorySink", "Sink"]
