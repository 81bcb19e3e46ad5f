"""The event schemas evolve compatibly: consumers on either side of a change keep reading.

``tests/golden/schemas-before/`` holds each changed schema as it was before
its last change (OrderResponded before order_date, currency and the line
unit_price; the four schemas with an Address before its state). For each:

* backward: a reader with the new schema reads what the old one wrote, and
  the new fields come out as their defaults;
* forward: a reader still on the old schema reads what the new one writes,
  the new fields dropped;
* the rule behind both, checked on the schema text: nothing removed, no type
  changed, every added field nullable with a null default.

fastavro's schema resolution (``schemaless_reader`` with a writer and a reader
schema) is the Avro specification's, the same a Kafka consumer applies.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from gateway.events import SchemaSet

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "tests" / "golden" / "schemas-before"
CHANGED = sorted(p.stem for p in BEFORE.glob("*.avsc"))
NEW = SchemaSet.load(ROOT / "schemas")
PARTIES = ("buyer", "supplier", "ship_to", "ship_from", "seller")


def _plain(schema):
    """The raw schema with uuid strings read as str (fastavro would give uuid.UUID)."""
    if isinstance(schema, list):
        return [_plain(s) for s in schema]
    if isinstance(schema, dict):
        if schema.get("logicalType") == "uuid":
            return schema["type"]
        return {k: _plain(v) for k, v in schema.items()}
    return schema


def _parsed(raw) -> dict:
    return parse_schema(_plain(raw), named_schemas={})


def _golden_record(event_type: str) -> dict:
    """A real event of this type from the samples' goldens, as records carry it."""
    found = [NEW.from_json(event_type, entry["event"])
             for golden in sorted((ROOT / "samples").rglob("*.events.json"))
             for entry in json.loads(golden.read_text(encoding="utf-8")) if entry["event_type"] == event_type]
    assert found, f"no golden {event_type} event in samples/"
    with_address = [r for r in found if any(r.get(k) and r[k].get("address") for k in PARTIES)]
    record = (with_address or found)[0]
    if not with_address:  # one address at least, so that the Address record is exercised
        party = next(k for k in PARTIES if record.get(k))
        record[party]["address"] = {"street": "1 Main St", "city": "Reno", "postal_code": "89501",
                                    "state": None, "country_code": "US"}
    return record


def _roundtrip(record: dict, writer: dict, reader: dict) -> dict:
    buffer = io.BytesIO()
    schemaless_writer(buffer, writer, record)
    buffer.seek(0)
    return schemaless_reader(buffer, writer, reader)


def _drop(value, old_schema, named):
    """``value`` with only the fields the old schema knows (what an old reader must get)."""
    if isinstance(old_schema, str) and old_schema in named:
        old_schema = named[old_schema]
    if isinstance(old_schema, list):
        if value is None:
            return None
        branch = next(s for s in old_schema if s != "null")
        return _drop(value, branch, named)
    if isinstance(old_schema, dict) and old_schema.get("type") == "record":
        named[old_schema["name"]] = old_schema
        return {f["name"]: _drop(value[f["name"]], f["type"], named) for f in old_schema["fields"]}
    if isinstance(old_schema, dict) and old_schema.get("type") == "array":
        return [_drop(v, old_schema["items"], named) for v in value]
    return value


def test_every_changed_schema_has_its_before_copy():
    assert CHANGED == ["InvoiceIssued", "OrderCreated", "OrderResponded", "ShipmentCreated"]


@pytest.mark.parametrize("event_type", CHANGED)
def test_the_new_schema_reads_what_the_old_one_wrote(event_type):
    old_raw = json.loads((BEFORE / f"{event_type}.avsc").read_text(encoding="utf-8"))
    old, new = _parsed(old_raw), _parsed(NEW.raw(event_type))
    record = _drop(_golden_record(event_type), _plain(old_raw), {})
    read = _roundtrip(record, old, new)
    if event_type == "OrderResponded":
        assert read["order_date"] is None and read["currency"] is None
        assert all(line["unit_price"] is None for line in read["lines"])
    parties = [read[k] for k in PARTIES if read.get(k)]
    addresses = [p["address"] for p in parties if p.get("address")]
    assert addresses, f"the golden {event_type} has no address to check"
    assert all(a["state"] is None for a in addresses)
    # and everything the old writer wrote comes back unchanged
    assert _drop(read, _plain(old_raw), {}) == record


@pytest.mark.parametrize("event_type", CHANGED)
def test_the_old_schema_reads_what_the_new_one_writes(event_type):
    old_raw = json.loads((BEFORE / f"{event_type}.avsc").read_text(encoding="utf-8"))
    old, new = _parsed(old_raw), _parsed(NEW.raw(event_type))
    record = _golden_record(event_type)
    for key in PARTIES:
        if record.get(key) and record[key].get("address"):
            record[key]["address"]["state"] = "CA"
    if event_type == "OrderResponded":
        record["currency"] = "USD"
        for line in record["lines"]:
            line["unit_price"] = Decimal("12.7500")
    read = _roundtrip(record, new, old)
    assert read == _drop(record, _plain(old_raw), {})


def _fields(schema, named, path=""):
    """path -> (type as written, field) for every field of every record in ``schema``."""
    out = {}
    if isinstance(schema, str):
        return out
    if isinstance(schema, list):
        for s in schema:
            out.update(_fields(s, named, path))
        return out
    kind = schema.get("type")
    if kind == "record":
        if schema["name"] in named:
            return out
        named.add(schema["name"])
        for f in schema["fields"]:
            here = f"{path}.{f['name']}" if path else f["name"]
            out[here] = f
            out.update(_fields(f["type"], named, f"{schema['name']}"))
    elif kind == "array":
        out.update(_fields(schema["items"], named, path))
    elif isinstance(kind, (dict, list)):
        out.update(_fields(kind, named, path))
    return out


def _shape(schema):
    """A field's type with each record definition replaced by its name."""
    if isinstance(schema, list):
        return [_shape(s) for s in schema]
    if isinstance(schema, dict):
        if schema.get("type") == "record":
            return schema["name"]
        return {k: _shape(v) for k, v in schema.items() if k != "doc"}
    return schema


@pytest.mark.parametrize("event_type", CHANGED)
def test_only_nullable_fields_with_a_null_default_were_added(event_type):
    old = _fields(json.loads((BEFORE / f"{event_type}.avsc").read_text(encoding="utf-8")), set())
    new = _fields(NEW.raw(event_type), set())
    assert set(old) <= set(new), f"fields removed: {sorted(set(old) - set(new))}"
    for name in old:  # records are compared field by field, so only their names here
        assert _shape(old[name]["type"]) == _shape(new[name]["type"]), f"{name}: type changed"
    added = set(new) - set(old)
    assert added, "nothing added: the before copy is out of date"
    for name in added:
        field = new[name]
        assert isinstance(field["type"], list) and field["type"][0] == "null", f"{name}: not a nullable union"
        assert "default" in field and field["default"] is None, f"{name}: no null default"
