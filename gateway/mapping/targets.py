"""What a mapping fills: the Avro schema of an event, seen as target fields.

The loader checks each rule against its :class:`Target` (unknown fields,
required fields with no rule, rules that do not fit the type); the compiled
rules convert what they find to the target's Avro-native type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import fastavro

# Filled by the gateway itself, never by a mapping rule.
ENVELOPE_FIELDS = frozenset({"event_id", "event_type", "received_at", "partner_id", "source"})


@dataclass
class Target:
    name: str
    kind: str  # string, int, long, float, double, boolean, decimal, date, timestamp, enum, record, array, uuid
    optional: bool = False
    scale: int | None = None
    precision: int | None = None
    symbols: tuple[str, ...] = ()
    fields: dict[str, Target] = field(default_factory=dict)  # record
    item: Target | None = None  # array
    has_default: bool = False

    @property
    def required(self) -> bool:
        return not self.optional and not self.has_default

    def describe(self) -> str:
        if self.kind == "array" and self.item is not None:
            return f"array of {self.item.describe()}"
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.kind


def target_of(name: str, avro, optional: bool = False, has_default: bool = False) -> Target:
    if isinstance(avro, list):  # a union: only [null, T] is supported
        others = [t for t in avro if t != "null"]
        if len(others) != 1:
            raise ValueError(f"field '{name}': only unions of null and one type are supported")
        return target_of(name, others[0], optional="null" in avro, has_default=has_default)
    if isinstance(avro, str):
        return Target(name, avro, optional, has_default=has_default)
    logical = avro.get("logicalType")
    kind = avro["type"]
    if logical == "decimal":
        return Target(name, "decimal", optional, scale=avro.get("scale", 0), precision=avro.get("precision"),
                      has_default=has_default)
    if logical == "date":
        return Target(name, "date", optional, has_default=has_default)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return Target(name, "timestamp", optional, has_default=has_default)
    if logical == "uuid":
        return Target(name, "string", optional, has_default=has_default)
    if kind == "enum":
        return Target(name, "enum", optional, symbols=tuple(avro["symbols"]), has_default=has_default)
    if kind == "array":
        return Target(name, "array", optional, item=target_of(name, avro["items"]), has_default=has_default)
    if kind == "record":
        fields = {f["name"]: target_of(f["name"], f["type"], has_default="default" in f) for f in avro["fields"]}
        return Target(name, "record", optional, fields=fields, has_default=has_default)
    if isinstance(kind, (dict, list)):
        return target_of(name, kind, optional, has_default)
    return Target(name, kind, optional, has_default=has_default)


def load_targets(folder: Path) -> dict[str, Target]:
    """Every event schema of ``folder`` by record name (read and checked by SchemaSet)."""
    from gateway.events.schemas import SchemaSet

    return targets_of(SchemaSet.load(folder))


def targets_of(schemas) -> dict[str, Target]:
    """The targets of every schema of a loaded SchemaSet."""
    out = {}
    for name in schemas.names:
        expanded = fastavro.schema.expand_schema(schemas.raw(name))
        out[name] = target_of(expanded["name"], expanded)
    return out
