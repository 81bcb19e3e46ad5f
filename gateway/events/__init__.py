"""Domain events: their Avro schemas, ids, wire formats and the Event envelope.

    schemas.py   SchemaSet: load, describe, validate, JSON form of records
    ids.py       deterministic event and dead-letter ids (UUIDv5)
    encoding.py  Encoder protocol: SingleObjectEncoder, RegistryEncoder
    event.py     Event (what a Sink publishes) and its CloudEvents headers

Importing this package reads no file and opens no connection; the Schema
Registry client is imported only when a RegistryEncoder is built.
"""

from gateway.events.encoding import Encoder, EventDecodingError, RegistryEncoder, SingleObjectEncoder
from gateway.events.event import Event, cloudevents_headers
from gateway.events.ids import EDIGW_NAMESPACE, dead_letter_id, event_id
from gateway.events.schemas import FieldInfo, SchemaSet, SchemaValidationError, UnknownEventTypeError

__all__ = [
    "EDIGW_NAMESPACE",
    "Encoder",
    "Event",
    "EventDecodingError",
    "FieldInfo",
    "RegistryEncoder",
    "SchemaSet",
    "SchemaValidationError",
    "SingleObjectEncoder",
    "UnknownEventTypeError",
    "cloudevents_headers",
    "dead_letter_id",
    "event_id",
]
