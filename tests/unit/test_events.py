"""The event schemas, ids, JSON form and both wire formats (no broker needed)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from gateway.errors import GatewayError, TerminalError
from gateway.events import (
    EDIGW_NAMESPACE,
    Event,
    EventDecodingError,
    RegistryEncoder,
    SchemaSet,
    SchemaValidationError,
    SingleObjectEncoder,
    UnknownEventTypeError,
    cloudevents_headers,
    dead_letter_id,
    event_id,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
UTC = dt.timezone.utc
COMMON = ["event_id", "event_type", "occurred_at", "received_at", "partner_id", "source"]
SHARED_TYPES = ("EventSource", "Party", "Address", "Location")


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load(SCHEMAS)


# --- example records: one valid record for every schema ------------------------------


def _source(message_type: str = "ORDERS", **more: Any) -> dict[str, Any]:
    source = {
        "syntax": "edifact",
        "message_type": message_type,
        "message_version": "D96A",
        "interchange_ref": "000000101",
        "group_ref": None,
        "message_ref": "0001",
        "transport": "as2",
        "receipt_id": "rcpt-20261120-0001",
    }
    source.update(more)
    return source


def _party(gln: str, name: str | None = None, city: str | None = None) -> dict[str, Any]:
    address = None
    if city:
        address = {"street": "Hauptstr. 1", "city": city, "postal_code": "10115", "state": "BE", "country_code": "DE"}
    return {"id": gln, "id_scheme": "GLN", "name": name, "address": address}


def _common(event_type: str, message_type: str, index: int = 0) -> dict[str, Any]:
    return {
        "event_id": event_id("ACME", "000000101", "0001", index),
        "event_type": event_type,
        "occurred_at": dt.datetime(2026, 11, 20, 9, 30, 0, 123000, tzinfo=UTC),
        "received_at": dt.datetime(2026, 11, 20, 9, 31, 5, tzinfo=UTC),
        "partner_id": "ACME",
        "source": _source(message_type),
    }


def example_record(event_type: str) -> dict[str, Any]:
    """A valid, realistic record of ``event_type`` (a fresh copy every call)."""
    ts = dt.datetime(2026, 11, 21, 14, 5, 30, tzinfo=UTC)
    if event_type == "OrderCreated":
        return {
            **_common(event_type, "ORDERS"),
            "order_number": "PO-4711",
            "order_date": dt.date(2026, 11, 20),
            "requested_delivery_date": dt.date(2026, 11, 27),
            "currency": "EUR",
            "buyer": _party("4012345000009", "ACME Retail", "Berlin"),
            "supplier": _party("4098765000002", "Widgets AG"),
            "ship_to": None,
            "notes": "Ring twice",
            "lines": [
                {
                    "line_number": "1",
                    "gtin": "4012345000017",
                    "buyer_item_id": "B-1",
                    "supplier_item_id": "W-100",
                    "description": "Widget, blue",
                    "quantity": Decimal("12.0000"),
                    "unit": "PCE",
                    "unit_price": Decimal("3.9900"),
                },
                {
                    "line_number": "2",
                    "gtin": None,
                    "buyer_item_id": None,
                    "supplier_item_id": "W-200",
                    "description": None,
                    "quantity": Decimal("0.5"),
                    "unit": "KGM",
                    "unit_price": None,
                },
            ],
        }
    if event_type == "OrderResponded":
        return {
            **_common(event_type, "ORDRSP"),
            "order_number": "PO-4711",
            "response_number": "RSP-1",
            "response_date": dt.date(2026, 11, 21),
            "order_date": dt.date(2026, 11, 20),
            "status": "CHANGED",
            "currency": "EUR",
            "buyer": _party("4012345000009"),
            "supplier": None,
            "lines": [
                {
                    "line_number": "1",
                    "gtin": "4012345000017",
                    "supplier_item_id": "W-100",
                    "status": "ACCEPTED",
                    "quantity": Decimal("12"),
                    "unit": "PCE",
                    "unit_price": Decimal("3.9900"),
                    "delivery_date": dt.date(2026, 11, 27),
                },
                {
                    "line_number": "2",
                    "gtin": None,
                    "supplier_item_id": None,
                    "status": "BACKORDERED",
                    "quantity": None,
                    "unit": None,
                    "unit_price": None,
                    "delivery_date": None,
                },
            ],
        }
    if event_type == "ShipmentCreated":
        return {
            **_common(event_type, "DESADV"),
            "shipment_number": "DES-889",
            "ship_date": dt.date(2026, 11, 22),
            "expected_delivery_date": None,
            "carrier": "DHL",
            "tracking_number": "JJD0001234567",
            "ship_from": _party("4098765000002", "Widgets AG", "Hamburg"),
            "ship_to": _party("4012345000016"),
            "order_numbers": ["PO-4711", "PO-4712"],
            "packages": [
                {
                    "sscc": "340123450000000017",
                    "package_type": "PX",
                    "items": [
                        {
                            "line_number": "1",
                            "gtin": "4012345000017",
                            "supplier_item_id": "W-100",
                            "quantity": Decimal("12"),
                            "unit": "PCE",
                            "order_number": "PO-4711",
                        }
                    ],
                },
                {"sscc": None, "package_type": None, "items": []},
            ],
        }
    if event_type == "ParcelScanned":
        return {
            **_common(event_type, "IFTSTA"),
            "shipment_number": "DES-889",
            "tracking_number": "JJD0001234567",
            "status_code": "21",
            "status_description": "In transit",
            "scanned_at": ts,
            "location": {"name": "Hub Leipzig", "city": "Leipzig", "postal_code": "04103", "country_code": "DE"},
        }
    if event_type == "ShipmentDelivered":
        return {
            **_common(event_type, "IFTSTA"),
            "shipment_number": None,
            "tracking_number": "JJD0001234567",
            "delivered_at": ts,
            "received_by": "M. Muster",
            "location": None,
        }
    if event_type == "InvoiceIssued":
        return {
            **_common(event_type, "INVOIC"),
            "invoice_number": "INV-2026-0042",
            "invoice_date": dt.date(2026, 11, 23),
            "order_number": "PO-4711",
            "currency": "EUR",
            "seller": _party("4098765000002", "Widgets AG", "Hamburg"),
            "buyer": _party("4012345000009", "ACME Retail", "Berlin"),
            "due_date": dt.date(2026, 12, 23),
            "lines": [
                {
                    "line_number": "1",
                    "gtin": "4012345000017",
                    "supplier_item_id": "W-100",
                    "description": "Widget, blue",
                    "quantity": Decimal("12"),
                    "unit": "PCE",
                    "unit_price": Decimal("3.99"),
                    "line_amount": Decimal("47.88"),
                }
            ],
            "net_amount": Decimal("47.88"),
            "tax_amount": Decimal("9.10"),
            "total_amount": Decimal("56.98"),
        }
    if event_type == "AcknowledgementReceived":
        return {
            **_common(event_type, "CONTRL"),
            "acknowledged_syntax": "edifact",
            "acknowledged_interchange_ref": "000000777",
            "acknowledged_group_ref": None,
            "status": "PARTIALLY_ACCEPTED",
            "messages": [
                {"message_ref": "1", "message_type": "ORDERS", "status": "ACCEPTED", "errors": []},
                {"message_ref": "2", "message_type": None, "status": "REJECTED", "errors": ["12: invalid value"]},
            ],
        }
    if event_type == "AcknowledgementOverdue":
        return {
            **_common(event_type, "ORDRSP"),
            "acknowledged_syntax": "x12",
            "acknowledged_interchange_ref": "000000778",
            "sent_at": ts,
            "deadline": ts + dt.timedelta(hours=24),
        }
    if event_type == "DeadLetter":
        return {
            "event_id": dead_letter_id("rcpt-20261120-0001", "syntax", "line 3, segment 5 (UNT), element 1"),
            "failed_at": ts,
            "partner_id": None,
            "stage": "syntax",
            "reason_code": "MESSAGE_SEGMENT_COUNT_MISMATCH",
            "error": "UNT says 12 segments, the message has 11",
            "position": "line 3, segment 5 (UNT), element 1",
            "source": {
                "syntax": "edifact",
                "message_type": None,
                "message_version": None,
                "interchange_ref": "000000101",
                "group_ref": None,
                "message_ref": None,
                "transport": "sftp",
                "receipt_id": "rcpt-20261120-0001",
            },
            "raw_ref": "sha256:" + "ab" * 32,
            "message_ref": "0001",
        }
    raise KeyError(f"no example for {event_type}: add one to example_record()")


EVENT_TYPES = sorted(p.stem for p in SCHEMAS.glob("*.avsc"))


# --- the schema files ------------------------------------------------------------------


def _walk_fields(schema: Any, path: str = "") -> list[tuple[str, dict]]:
    """Every (path, field) of a raw schema, nested records included."""
    found = []
    if isinstance(schema, list):
        for branch in schema:
            found += _walk_fields(branch, path)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for f in schema["fields"]:
                found.append((f"{path}{f['name']}", f))
                found += _walk_fields(f["type"], f"{path}{f['name']}.")
        elif schema.get("type") == "array":
            found += _walk_fields(schema["items"], path)
    return found


def _named_types(schema: Any, into: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, into)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum"):
            into[schema["name"]] = schema
        for f in schema.get("fields", []):
            _named_types(f["type"], into)
        if schema.get("type") == "array":
            _named_types(schema["items"], into)
    return into


def test_the_expected_event_types_exist(schemas: SchemaSet):
    assert set(schemas.names) == {
        "OrderCreated", "OrderResponded", "ShipmentCreated", "ParcelScanned", "ShipmentDelivered",
        "InvoiceIssued", "AcknowledgementReceived", "AcknowledgementOverdue", "DeadLetter",
    }  # fmt: skip


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_each_avsc_is_self_contained_and_documented(name: str):
    raw = json.loads((SCHEMAS / f"{name}.avsc").read_text(encoding="utf-8"))
    fastavro.parse_schema(raw, named_schemas={})  # alone: no type from another file
    assert raw["name"] == name and raw["namespace"] == "edigw.events"
    assert raw.get("doc")
    undocumented = [path for path, f in _walk_fields(raw) if not f.get("doc")]
    assert undocumented == []
    for path, f in _walk_fields(raw):
        if isinstance(f["type"], list) and "null" in f["type"]:
            assert f["type"][0] == "null" and f.get("default", "missing") is None, path


@pytest.mark.parametrize("name", [n for n in EVENT_TYPES if n != "DeadLetter"])
def test_domain_events_start_with_the_common_fields(schemas: SchemaSet, name: str):
    fields = schemas.fields(name)
    assert [f.name for f in fields[: len(COMMON)]] == COMMON
    assert fields[0].logical_type == "uuid"
    assert fields[2].logical_type == fields[3].logical_type == "timestamp-millis"
    assert fields[5].type_name == "edigw.events.EventSource"


def test_shared_named_types_are_identical_in_every_file():
    seen: dict[str, tuple[str, Any]] = {}
    for name in EVENT_TYPES:
        for type_name, definition in _named_types(json.loads((SCHEMAS / f"{name}.avsc").read_text()), {}).items():
            if type_name in seen:
                assert definition == seen[type_name][1], f"{type_name} differs in {name} and {seen[type_name][0]}"
            else:
                seen[type_name] = (name, definition)
    assert set(SHARED_TYPES) <= set(seen)


def test_decimal_date_and_time_types(schemas: SchemaSet):
    line = schemas.field("InvoiceIssued", "lines.unit_price")
    assert (line.logical_type, line.precision, line.scale, line.required) == ("decimal", 18, 4, False)
    amount = schemas.field("InvoiceIssued", "lines[].line_amount")
    assert (amount.precision, amount.scale) == (18, 2)
    total = schemas.field("InvoiceIssued", "total_amount")
    assert (total.scale, total.required) == (2, True)
    assert schemas.field("OrderCreated", "lines.quantity").scale == 4
    assert schemas.field("InvoiceIssued", "invoice_date").logical_type == "date"
    assert schemas.field("ParcelScanned", "scanned_at").logical_type == "timestamp-millis"


def test_fields_describe_nesting_enums_and_optionality(schemas: SchemaSet):
    lines = schemas.field("OrderCreated", "lines")
    assert lines.type == "array" and lines.required
    assert lines.items is not None and lines.items.type_name == "edigw.events.OrderLine"
    assert [f.name for f in lines.fields] == [
        "line_number", "gtin", "buyer_item_id", "supplier_item_id", "description", "quantity", "unit", "unit_price",
    ]  # fmt: skip
    assert schemas.field("OrderCreated", "supplier").required is False
    assert schemas.field("OrderCreated", "buyer").required is True
    assert schemas.field("OrderCreated", "buyer.address.country_code").type == "string"
    assert schemas.field("OrderCreated", "nope") is None
    assert schemas.field("OrderResponded", "status").symbols == ("ACCEPTED", "CHANGED", "REJECTED")
    assert schemas.field("OrderResponded", "lines.status").symbols[-1] == "BACKORDERED"
    status = schemas.field("AcknowledgementReceived", "messages.status")
    assert status.type == "enum" and "ACCEPTED_WITH_ERRORS" in status.symbols
    errors = schemas.field("AcknowledgementReceived", "messages.errors")
    assert errors.type == "array" and errors.items.type == "string"
    assert schemas.field("ShipmentCreated", "packages.items.order_number").required is False


def test_unknown_event_type(schemas: SchemaSet):
    with pytest.raises(UnknownEventTypeError, match="OrderCancelled"):
        schemas.get("OrderCancelled")
    assert issubclass(UnknownEventTypeError, TerminalError)


def test_load_rejects_a_file_named_unlike_its_record(tmp_path: Path):
    (tmp_path / "Wrong.avsc").write_text((SCHEMAS / "ParcelScanned.avsc").read_text())
    with pytest.raises(TerminalError, match="Wrong.avsc"):
        SchemaSet.load(tmp_path)


def test_load_rejects_an_invalid_schema(tmp_path: Path):
    (tmp_path / "Bad.avsc").write_text('{"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nope"}]}')
    with pytest.raises(TerminalError, match="Bad.avsc: invalid Avro schema"):
        SchemaSet.load(tmp_path)


# --- ids ---------------------------------------------------------------------------------


def test_event_id_is_a_deterministic_uuid5():
    first = event_id("ACME", "000000101", "0001", 0)
    assert first == event_id("ACME", "000000101", "0001", 0)
    assert uuid.UUID(first).version == 5
    assert first == str(uuid.uuid5(EDIGW_NAMESPACE, "ACME|000000101|0001|0"))


def test_event_ids_differ_for_every_input():
    base = ("ACME", "000000101", "0001", 0)
    variants = [
        base,
        ("ACME2", "000000101", "0001", 0),
        ("ACME", "000000102", "0001", 0),
        ("ACME", "000000101", "0002", 0),
        ("ACME", "000000101", "0001", 1),
        ("A|B", "C", "0001", 0),  # the separator inside a part cannot collide ...
        ("A", "B|C", "0001", 0),  # ... with the same text split differently
        ("A\\", "|C", "0001", 0),
    ]
    ids = {event_id(*v) for v in variants}
    assert len(ids) == len(variants)


def test_dead_letter_ids():
    one = dead_letter_id("rcpt-1", "syntax", "line 3")
    assert one == dead_letter_id("rcpt-1", "syntax", "line 3")
    others = {
        dead_letter_id("rcpt-2", "syntax", "line 3"),
        dead_letter_id("rcpt-1", "mapping", "line 3"),
        dead_letter_id("rcpt-1", "syntax", "line 4"),
        dead_letter_id("rcpt-1", "syntax"),
        event_id("rcpt-1", "syntax", "line 3", 0),
    }
    assert one not in others and len(others) == 5
    assert uuid.UUID(one).version == 5


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_example_is_valid(schemas: SchemaSet, name: str):
    record = example_record(name)
    schemas.validate(name, record)
    fastavro.validate(record, schemas.get(name), raise_errors=True)  # a second opinion


def _broken(name: str, change) -> dict:
    record = example_record(name)
    change(record)
    return record


@pytest.mark.parametrize(
    ("name", "change", "path", "text"),
    [
        ("OrderCreated", lambda r: r["lines"][1].update(quantity="0.5"), "lines[1].quantity", "expected a Decimal"),
        ("OrderCreated", lambda r: r["lines"][0].update(unit_price=Decimal("3.99001")), "lines[0].unit_price",
         "5 decimal places, the schema allows 4"),
        ("InvoiceIssued", lambda r: r.update(total_amount=Decimal("56.985")), "total_amount", "allows 2"),
        ("InvoiceIssued", lambda r: r.update(total_amount=Decimal("1E+16")), "total_amount", "integer digits"),
        ("InvoiceIssued", lambda r: r.update(total_amount=Decimal("NaN")), "total_amount", "not a finite"),
        ("OrderCreated", lambda r: r["buyer"]["address"].update(city=10115), "buyer.address.city", "expected a string"),
        ("OrderCreated", lambda r: r.pop("order_number"), "order_number", "is missing"),
        ("OrderCreated", lambda r: r.update(buyer=None), "buyer", "is required"),
        ("OrderCreated", lambda r: r["lines"][0].update(colour="blue"), "lines[0].colour", "not a field of"),
        ("OrderResponded", lambda r: r["lines"][1].update(status="LOST"), "lines[1].status", "not one of"),
        ("OrderCreated", lambda r: r.update(order_date=dt.datetime(2026, 11, 20, tzinfo=UTC)), "order_date",
         "expected a date"),
        ("ParcelScanned", lambda r: r.update(scanned_at=dt.datetime(2026, 11, 20)), "scanned_at", "no time zone"),
        ("ParcelScanned", lambda r: r.update(event_id="not-a-uuid"), "event_id", "not a UUID"),
        ("ShipmentCreated", lambda r: r["packages"][0]["items"][0].update(quantity=None),
         "packages[0].items[0].quantity", "is required"),
        ("ShipmentCreated", lambda r: r.update(order_numbers="PO-4711"), "order_numbers", "expected an array"),
        ("AcknowledgementReceived", lambda r: r["messages"][1]["errors"].append(12), "messages[1].errors[1]",
         "expected a string"),
        ("DeadLetter", lambda r: r["source"].update(transport=True), "source.transport", "expected a string"),
        ("AcknowledgementOverdue", lambda r: r.update(sent_at=1795300000000), "sent_at", "expected a datetime"),
    ],
)  # fmt: skip
def test_validate_names_the_field_path(schemas: SchemaSet, name, change, path, text):
    with pytest.raises(SchemaValidationError) as caught:
        schemas.validate(name, _broken(name, change))
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{name}.{path}: ")
    assert text in str(caught.value)
    assert isinstance(caught.value, TerminalError)


def test_optional_fields_may_be_left_out(schemas: SchemaSet):
    record = example_record("ShipmentDelivered")
    del record["received_by"], record["location"]
    schemas.validate("ShipmentDelivered", record)


# --- the JSON form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_json_round_trip(schemas: SchemaSet, name: str):
    record = example_record(name)
    data = schemas.to_json(name, record)
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert list(data) == [f.name for f in schemas.fields(name)]  # schema order
    back = schemas.from_json(name, data)
    assert back == record
    assert schemas.to_json(name, back) == data


def test_json_values(schemas: SchemaSet):
    data = schemas.to_json("InvoiceIssued", example_record("InvoiceIssued"))
    assert data["occurred_at"] == "2026-11-20T09:30:00.123Z"
    assert data["received_at"] == "2026-11-20T09:31:05.000Z"
    assert data["invoice_date"] == "2026-11-23"
    assert data["lines"][0]["quantity"] == "12.0000"  # decimal(18,4)
    assert data["lines"][0]["unit_price"] == "3.9900"
    assert data["lines"][0]["line_amount"] == "47.88"  # decimal(18,2)
    assert data["tax_amount"] == "9.10"
    assert data["buyer"]["address"]["city"] == "Berlin"
    assert data["seller"]["id_scheme"] == "GLN"
    order = schemas.to_json("OrderCreated", example_record("OrderCreated"))
    assert order["lines"][1]["quantity"] == "0.5000"
    assert order["lines"][1]["unit_price"] is None and order["ship_to"] is None


def test_json_timestamps_are_utc_millis(schemas: SchemaSet):
    record = example_record("ParcelScanned")
    record["scanned_at"] = dt.datetime(2026, 11, 20, 10, 30, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert schemas.to_json("ParcelScanned", record)["scanned_at"] == "2026-11-20T09:30:00.999Z"
    back = schemas.from_json("ParcelScanned", schemas.to_json("ParcelScanned", record))
    assert back["scanned_at"] == dt.datetime(2026, 11, 20, 9, 30, 0, 999000, tzinfo=UTC)
    assert back["scanned_at"].tzinfo == UTC


def test_from_json_decimals_keep_their_scale(schemas: SchemaSet):
    data = schemas.to_json("InvoiceIssued", example_record("InvoiceIssued"))
    back = schemas.from_json("InvoiceIssued", data)
    assert back["total_amount"] == Decimal("56.98")
    assert str(back["lines"][0]["quantity"]) == "12.0000"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["lines"][0].update(quantity=12), "lines[0].quantity"),
        (lambda d: d["lines"][0].update(quantity="twelve"), "lines[0].quantity"),
        (lambda d: d.update(occurred_at="2026-11-20T09:30:00"), "occurred_at"),
        (lambda d: d.update(invoice_date="23.11.2026"), "invoice_date"),
        (lambda d: d["buyer"].update(nickname="x"), "buyer.nickname"),
        (lambda d: d.update(total_amount="56.987"), "total_amount"),
    ],
)
def test_from_json_errors_name_the_field(schemas: SchemaSet, change, path):
    data = schemas.to_json("InvoiceIssued", example_record("InvoiceIssued"))
    change(data)
    with pytest.raises(SchemaValidationError) as caught:
        schemas.from_json("InvoiceIssued", data)
    assert caught.value.path == path


# --- single-object encoding --------------------------------------------------------------------------

EMPTY64 = 0xC15D213AA4D7A795  # the spec's CRC-64-AVRO seed ("empty" fingerprint)


def _spec_fingerprint64(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it, independently of fastavro."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY64 & -(fp & 1))
        table.append(fp)
    fp = EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.fixture(scope="module")
def single(schemas: SchemaSet) -> SingleObjectEncoder:
    return SingleObjectEncoder(schemas)


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_single_object_round_trip(single: SingleObjectEncoder, name: str):
    record = example_record(name)
    data = single.encode(name, record, "any-topic")
    assert single.decode(data) == (name, record)


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_single_object_header_is_marker_and_fingerprint(schemas: SchemaSet, single: SingleObjectEncoder, name: str):
    data = single.encode(name, example_record(name), "t")
    canonical = to_parsing_canonical_form(schemas.get(name))
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == _spec_fingerprint64(canonical.encode("utf-8")).to_bytes(8, "little")
    assert data[2:10].hex() == fingerprint(canonical, "CRC-64-AVRO")  # fastavro's own
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schemas.get(name), example_record(name))
    assert data[10:] == body.getvalue()


def test_spec_fingerprint_reference_values():
    # The seed is the fingerprint of nothing; primitive schemas give fixed values.
    assert _spec_fingerprint64(b"") == EMPTY64
    assert _spec_fingerprint64(b'"null"').to_bytes(8, "little").hex() == fingerprint('"null"', "CRC-64-AVRO")


def test_single_object_fingerprints_are_distinct(single: SingleObjectEncoder, schemas: SchemaSet):
    headers = {single.header(n) for n in schemas.names}
    assert len(headers) == len(schemas.names)


def test_single_object_decode_rejects_foreign_bytes(single: SingleObjectEncoder):
    data = single.encode("ParcelScanned", example_record("ParcelScanned"))
    with pytest.raises(EventDecodingError, match="marker"):
        single.decode(b"\x01" + data[1:])
    with pytest.raises(EventDecodingError, match="RegistryEncoder"):
        single.decode(b"\x00\x00\x00\x00\x01" + data[10:])
    with pytest.raises(EventDecodingError, match="unknown schema fingerprint"):
        single.decode(data[:2] + b"\x00" * 8 + data[10:])
    with pytest.raises(EventDecodingError, match="ParcelScanned: cannot decode"):
        single.decode(data[:20])


def test_encoding_an_invalid_record_names_the_field(single: SingleObjectEncoder):
    record = example_record("OrderCreated")
    record["lines"][1]["quantity"] = "lots"
    with pytest.raises(SchemaValidationError, match=r"OrderCreated\.lines\[1\]\.quantity"):
        single.encode("OrderCreated", record)
    with pytest.raises(UnknownEventTypeError):
        single.encode("OrderCancelled", record)


def test_decoded_uuids_are_strings(single: SingleObjectEncoder):
    _, record = single.decode(single.encode("OrderCreated", example_record("OrderCreated")))
    assert type(record["event_id"]) is str


# --- registry (Confluent wire format) ---------------------------------------------------------------


def test_registry_round_trip_with_mock_registry(schemas: SchemaSet):
    encoder = RegistryEncoder(schemas, url="mock://edigw-test-roundtrip")
    for name in EVENT_TYPES:
        record = example_record(name)
        data = encoder.encode(name, record, f"edigw.{name.lower()}")
        assert encoder.decode(data) == (name, record)
        assert type(encoder.decode(data)[1]["event_id"]) is str


def test_registry_wire_format_and_subject(schemas: SchemaSet):
    encoder = RegistryEncoder(schemas, url="mock://edigw-test-wire")
    orders = encoder.encode("OrderCreated", example_record("OrderCreated"), "edigw.orders")
    parcels = encoder.encode("ParcelScanned", example_record("ParcelScanned"), "edigw.parcels")
    assert orders[0] == 0 and parcels[0] == 0  # magic byte
    registered = encoder.client.get_latest_version("edigw.orders-value")
    assert int.from_bytes(orders[1:5], "big") == registered.schema_id == encoder.schema_id(orders)
    assert encoder.client.get_latest_version("edigw.parcels-value").schema_id == encoder.schema_id(parcels)
    assert encoder.schema_id(orders) != encoder.schema_id(parcels)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schemas.get("OrderCreated"), example_record("OrderCreated"))
    assert orders[5:] == body.getvalue()


def test_registry_errors(schemas: SchemaSet):
    encoder = RegistryEncoder(schemas, url="mock://edigw-test-errors")
    record = example_record("OrderCreated")
    record["currency"] = 978
    with pytest.raises(SchemaValidationError, match=r"OrderCreated\.currency"):
        encoder.encode("OrderCreated", record, "edigw.orders")
    with pytest.raises(EventDecodingError, match="magic"):
        encoder.decode(b"\x07" + b"\x00" * 20)


# --- Event and CloudEvents headers --------------------------------------------------------------


def test_cloudevents_headers():
    record = example_record("OrderCreated")
    event = Event("OrderCreated", "edigw.orders", "PO-4711", record)
    headers = cloudevents_headers(event, "urn:edigw:partner:ACME")
    assert headers == {
        "ce_specversion": "1.0",
        "ce_id": record["event_id"],
        "ce_type": "edigw.events.OrderCreated",
        "ce_source": "urn:edigw:partner:ACME",
        "ce_time": "2026-11-20T09:30:00.123Z",
        "edigw_partner": "ACME",
        "edigw_receipt": "rcpt-20261120-0001",
    }
    assert event.event_id == record["event_id"]
    assert cloudevents_headers(event, "urn:x", content_type="application/avro")["content-type"] == "application/avro"


def test_cloudevents_headers_of_a_dead_letter():
    record = example_record("DeadLetter")
    headers = cloudevents_headers(Event("DeadLetter", "edigw.dead-letters", None, record), "urn:edigw")
    assert headers["ce_type"] == "edigw.events.DeadLetter"
    assert headers["ce_time"] == "2026-11-21T14:05:30.000Z"  # failed_at
    assert "edigw_partner" not in headers  # unknown partner
    assert headers["edigw_receipt"] == "rcpt-20261120-0001"


def test_example_records_are_fresh_copies():
    one = example_record("OrderCreated")
    one["lines"].clear()
    assert example_record("OrderCreated")["lines"]
    assert copy.deepcopy(example_record("DeadLetter")) == example_record("DeadLetter")


def test_registry_url_may_stand_in_for_the_client(schemas: SchemaSet):
    encoder = RegistryEncoder(schemas, "mock://edigw-test-positional")
    data = encoder.encode("ParcelScanned", example_record("ParcelScanned"), "edigw.parcels")
    assert encoder.decode(data) == ("ParcelScanned", example_record("ParcelScanned"))
    with pytest.raises(TypeError):
        RegistryEncoder(schemas)


def test_mock_registries_are_shared_per_url(schemas: SchemaSet):
    writer = RegistryEncoder(schemas, url="mock://edigw-test-shared")
    reader = RegistryEncoder(schemas, url="mock://edigw-test-shared")
    stranger = RegistryEncoder(schemas, url="mock://edigw-test-stranger")
    data = writer.encode("ParcelScanned", example_record("ParcelScanned"), "edigw.parcels")
    assert reader.decode(data)[0] == "ParcelScanned"
    with pytest.raises(EventDecodingError, match="not in the registry"):
        stranger.decode(data)


def test_registry_encoder_also_reads_single_object_values(schemas: SchemaSet, single: SingleObjectEncoder):
    encoder = RegistryEncoder(schemas, url="mock://edigw-test-mixed")
    record = example_record("ShipmentCreated")
    assert encoder.decode(single.encode("ShipmentCreated", record)) == ("ShipmentCreated", record)
    assert encoder.decode(encoder.encode("ShipmentCreated", record, "t")) == ("ShipmentCreated", record)


def test_recursive_types_are_described_without_looping():
    schemas = SchemaSet({"Tree": {"type": "record", "name": "Tree", "fields": [
        {"name": "label", "type": "string"},
        {"name": "children", "type": {"type": "array", "items": "Tree"}},
    ]}})  # fmt: skip
    children = schemas.field("Tree", "children")
    assert children.items.type_name == "Tree" and children.fields == ()
    schemas.validate("Tree", {"label": "a", "children": [{"label": "b", "children": []}]})
    with pytest.raises(SchemaValidationError, match=r"children\[0\]\.label"):
        schemas.validate("Tree", {"label": "a", "children": [{"label": 1, "children": []}]})


@pytest.mark.parametrize(("status", "kind"), [(503, "TransientError"), (429, "TransientError"),
                                              (409, "TerminalError"), (422, "TerminalError")])
def test_registry_refusals_and_outages(schemas: SchemaSet, status: int, kind: str):
    from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError

    class Refusing(type(SchemaRegistryClient.new_client({"url": "mock://edigw-test-refusing"}))):
        def register_schema_full_response(self, *args, **kwargs):
            raise SchemaRegistryError(status, status * 100, "no")

    encoder = RegistryEncoder(schemas, Refusing({"url": "mock://edigw-test-refusing"}))
    with pytest.raises(GatewayError) as caught:
        encoder.encode("ParcelScanned", example_record("ParcelScanned"), "edigw.parcels")
    assert type(caught.value).__name__ == kind
    assert f"HTTP {status}" in str(caught.value)


def test_fast_uuid5_is_uuid5():
    import uuid as _uuid

    from gateway.events.ids import EDIGW_NAMESPACE, uuid5

    for name in ("", "a", "brasserie|ORD1|1|0", "é|ü|\\|x" * 20):
        assert uuid5(name) == str(_uuid.uuid5(EDIGW_NAMESPACE, name))
