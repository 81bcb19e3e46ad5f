"""The compiled Avro writer writes exactly what fastavro writes, for every schema we ship."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import fastavro
import pytest
from fastavro.schema import expand_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.events.avro_writer import compile_writer

SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas").glob("*.avsc"))


def values(schema):
    """A hypothesis strategy for valid Python values of an (expanded) Avro schema."""
    if isinstance(schema, list):
        return st.one_of(*[values(b) for b in schema])
    if isinstance(schema, str):
        schema = {"type": schema}
    t, logical = schema["type"], schema.get("logicalType")
    if isinstance(t, (dict, list)):
        return values(t)
    if logical == "decimal":
        scale, precision = schema.get("scale", 0), schema["precision"]
        return st.integers(-(10**precision) + 1, 10**precision - 1).map(lambda n: Decimal(n).scaleb(-scale))
    if logical == "date":
        return st.dates(date(1900, 1, 1), date(2200, 1, 1))
    if logical == "timestamp-millis":
        return st.integers(-2_000_000_000_000, 5_000_000_000_000).map(
            lambda ms: datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms))
    simple = {"null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1),
              "long": st.integers(-(2**63), 2**63 - 1), "string": st.text(max_size=20),
              "double": st.floats(allow_nan=False), "bytes": st.binary(max_size=20)}
    if t in simple:
        return simple[t]
    if t == "enum":
        return st.sampled_from(schema["symbols"])
    if t == "array":
        return st.lists(values(schema["items"]), max_size=3)
    if t == "record":
        return st.fixed_dictionaries({f["name"]: values(f["type"]) for f in schema["fields"]})
    raise AssertionError(f"no strategy for {t}")


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_same_bytes_as_fastavro(path):
    raw = json.loads(path.read_text())
    expanded = expand_schema(raw)
    ours = compile_writer(expanded)
    parsed = fastavro.parse_schema(raw)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(record=values(expanded))
    def check(record):
        theirs = io.BytesIO()
        fastavro.schemaless_writer(theirs, parsed, record)
        assert ours(record) == theirs.getvalue()

    check()


def test_what_does_not_fit_is_refused():
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "n", "type": "long"}, {"name": "d", "type": {"type": "bytes", "logicalType": "decimal",
                                                              "precision": 6, "scale": 2}},
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "o", "type": ["null", "string"]}]}
    write = compile_writer(schema)
    good = {"n": 1, "d": Decimal("1.50"), "t": datetime(2026, 1, 1, tzinfo=timezone.utc), "e": "A", "o": None}
    assert write(good)
    for field, bad in (("n", "1"), ("n", True), ("d", 1.5), ("d", Decimal("1.555")), ("e", "C"),
                       ("t", datetime(2026, 1, 1)), ("o", 5)):
        with pytest.raises((TypeError, ValueError, KeyError, AttributeError)):
            write({**good, field: bad})
    with pytest.raises(KeyError):
        write({k: v for k, v in good.items() if k != "n"})


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(-6, 6), st.integers(0, 6))
def test_a_decimal_of_any_exponent_is_written_or_refused_as_fastavro_does(digits, exponent, scale):
    """The usual decimal has the schema's scale (the mapper quantizes); one with fewer places is
    written exactly, one with more (trailing zeros too) is refused, never rounded."""
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": scale}}]}
    record = {"d": Decimal(digits).scaleb(exponent)}
    theirs = io.BytesIO()
    try:
        fastavro.schemaless_writer(theirs, fastavro.parse_schema(schema), record)
    except ValueError:
        with pytest.raises(ValueError, match="more decimal places"):
            compile_writer(schema)(record)
    else:
        assert compile_writer(schema)(record) == theirs.getvalue()
    for special in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises((TypeError, ValueError)):
            compile_writer(schema)({"d": Decimal(special)})


def test_kept_decimal_bytes_never_stand_for_an_equal_value_of_another_exponent():
    """Decimal bytes are kept per value; 1.50, 1.5 and 1.500 are equal but only the first two fit
    scale 2, whichever was written first."""
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}]}
    write = compile_writer(schema)
    for _ in range(2):
        assert write({"d": Decimal("1.50")}) == write({"d": Decimal("1.5")}) == b"\x04\x00\x96"
        with pytest.raises(ValueError, match="more decimal places"):
            write({"d": Decimal("1.500")})
        assert write({"d": Decimal("-0.00")}) == write({"d": Decimal("0")}) == b"\x02\x00"
