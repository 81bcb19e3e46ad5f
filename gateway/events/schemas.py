"""The Avro schemas of the domain events, loaded once and checked against.

``schemas/`` holds one self-contained ``.avsc`` per event type (the file stem is
the record name). :class:`SchemaSet` parses them all once and offers what the
rest of the gateway needs:

* :meth:`~SchemaSet.get` – the parsed schema, for the encoders;
* :meth:`~SchemaSet.fields` – a plain description of each field, for the
  mapping loader to check a mapping's targets against;
* :meth:`~SchemaSet.validate` – a check of one record that names the failing
  field's path (``lines[2].quantity``) instead of fastavro's generic message;
* :meth:`~SchemaSet.to_json` / :meth:`~SchemaSet.from_json` – the JSON form of
  a record used by golden files and ``edigw map``.

Records are plain dicts holding Avro's native Python values: ``Decimal`` for
decimals, ``datetime.date`` for dates, timezone-aware ``datetime`` for
timestamps and ``str`` for uuids.

The JSON form is *not* Avro's JSON encoding: a union's value is written bare
(``"currency": "EUR"``, not ``{"string": "EUR"}``), decimals are strings with
exactly the schema's scale (``"12.5000"``), dates ``"2026-11-20"`` and
timestamps ISO-8601 UTC with milliseconds (``"2026-11-20T09:30:00.000Z"``).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

from gateway.errors import ConfigError, TerminalError

UTC = dt.timezone.utc
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class SchemaValidationError(TerminalError):
    """A record does not match its event's schema; the text names the field's path."""

    def __init__(self, event_type: str, path: str, problem: str) -> None:
        self.event_type = event_type
        self.path = path
        self.problem = problem
        where = f"{event_type}.{path}" if path else event_type
        super().__init__(f"{where}: {problem}")


class UnknownEventTypeError(TerminalError):
    """No schema is loaded for the event type asked for."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a schema, described for code that checks mappings.

    ``type`` is the Avro type with a union against ``null`` unwrapped (that is
    what ``required`` says): a primitive name, ``"record"``, ``"array"``,
    ``"enum"``, ``"map"``, ``"fixed"``, or ``"union"`` for a union of several
    non-null types. Records carry their ``fields``; arrays carry their
    ``items`` (a FieldInfo named ``"[]"``) and, when the items are records,
    the items' fields again in ``fields`` for convenience.
    """

    name: str
    type: str
    required: bool
    logical_type: str | None = None
    type_name: str | None = None  # full name of a record, enum or fixed
    doc: str = ""
    fields: tuple[FieldInfo, ...] = ()
    items: FieldInfo | None = None
    symbols: tuple[str, ...] = ()
    precision: int | None = None
    scale: int | None = None

    def field(self, name: str) -> FieldInfo | None:
        """The sub-field ``name`` of a record, or of an array of records."""
        for f in self.fields:
            if f.name == name:
                return f
        return None


class SchemaSet:
    """Every event schema, parsed once; keyed by record name (``"OrderCreated"``)."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        """Parse ``schemas`` (record name -> the .avsc's JSON); raises ConfigError."""
        self._raw: dict[str, dict[str, Any]] = {}
        self._parsed: dict[str, dict[str, Any]] = {}
        self._named: dict[str, dict[str, Any]] = {}
        self._fields: dict[str, tuple[FieldInfo, ...]] = {}
        for name, raw in schemas.items():
            self._add(name, copy.deepcopy(dict(raw)), origin=name)

    @classmethod
    def load(cls, folder: str | Path) -> SchemaSet:
        """Read and parse every ``*.avsc`` in ``folder`` (the file stem must be the record name)."""
        folder = Path(folder)
        paths = sorted(folder.glob("*.avsc"))
        if not paths:
            where = "is not a folder" if not folder.is_dir() else "holds no .avsc schema files"
            raise ConfigError(f"schemas: {folder.resolve()} {where} (give --schemas or `schemas:` in the config)")
        self = cls({})
        for path in paths:
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: cannot read schema: {exc}") from exc
            if not isinstance(raw, dict) or raw.get("name") != path.stem:
                raise ConfigError(f"{path}: must hold one record named {path.stem!r}")
            self._add(path.stem, raw, origin=str(path))
        return self

    def _add(self, name: str, raw: dict[str, Any], origin: str) -> None:
        if raw.get("type") != "record" or raw.get("name") != name:
            raise ConfigError(f"{origin}: must be a record named {name!r}")
        named: dict[str, Any] = {}
        try:
            parsed = parse_schema(raw, named_schemas=named)
        except Exception as exc:  # fastavro raises several unrelated classes
            raise ConfigError(f"{origin}: invalid Avro schema: {exc}") from exc
        self._raw[name] = raw
        self._parsed[name] = parsed
        self._named[name] = named
        self._fields[name] = tuple(_describe_fields(parsed, named))

    # --- looking up -------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Every event type, sorted."""
        return tuple(sorted(self._parsed))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._parsed

    def get(self, event_type: str) -> dict[str, Any]:
        """The parsed (fastavro) schema of ``event_type``."""
        try:
            return self._parsed[event_type]
        except KeyError:
            raise UnknownEventTypeError(
                f"no schema for event type {event_type!r} (known: {', '.join(self.names)})"
            ) from None

    def raw(self, event_type: str) -> dict[str, Any]:
        """The schema as written in its .avsc (a copy)."""
        self.get(event_type)
        return copy.deepcopy(self._raw[event_type])

    def canonical_form(self, event_type: str) -> str:
        """The schema's Parsing Canonical Form (Avro spec), the input of fingerprints."""
        return to_parsing_canonical_form(self.get(event_type))

    def fields(self, event_type: str) -> tuple[FieldInfo, ...]:
        """The top-level fields of ``event_type``, in schema order."""
        self.get(event_type)
        return self._fields[event_type]

    def field(self, event_type: str, path: str) -> FieldInfo | None:
        """The field at a dotted ``path`` (``"lines.quantity"``, ``"lines[].quantity"``), or None."""
        current: FieldInfo | None = FieldInfo(event_type, "record", True, fields=self.fields(event_type))
        for part in path.split("."):
            if current is None:
                return None
            current = current.field(part.removesuffix("[]"))
        return current

    # --- checking ---------------------------------------------------------------

    def validate(self, event_type: str, record: Mapping[str, Any]) -> None:
        """Raise SchemaValidationError naming the first field of ``record`` that does not fit."""
        schema = self.get(event_type)
        problem = _check(schema, record, "", self._named[event_type])
        if problem is not None:
            path, text = problem
            raise SchemaValidationError(event_type, path, text)

    # --- the JSON form ----------------------------------------------------------

    def to_json(self, event_type: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with JSON-friendly values (see the module's docstring)."""
        schema = self.get(event_type)
        try:
            return _to_json(schema, record, "", self._named[event_type])
        except _Bad as bad:
            raise SchemaValidationError(event_type, bad.path, bad.text) from None

    def from_json(self, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The inverse of :meth:`to_json`: Avro-native values from the JSON form."""
        schema = self.get(event_type)
        try:
            return _from_json(schema, data, "", self._named[event_type])
        except _Bad as bad:
            raise SchemaValidationError(event_type, bad.path, bad.text) from None


# --- walking parsed schemas -----------------------------------------------------


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    """A named-type reference replaced by its definition."""
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        return named[schema]
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return schema["type"]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe_fields(
    record: Mapping[str, Any], named: Mapping[str, Any], within: frozenset[str] = frozenset()
) -> Iterator[FieldInfo]:
    within = within | {record["name"]}
    for f in record["fields"]:
        yield _describe(f["name"], f["type"], named, f.get("doc", ""), within)


def _describe(
    name: str, schema: Any, named: Mapping[str, Any], doc: str = "", within: frozenset[str] = frozenset()
) -> FieldInfo:
    """A FieldInfo; ``within`` holds the records being described (a recursive type stops there)."""
    required = True
    schema = _resolve(schema, named)
    if isinstance(schema, list):
        branches = [_resolve(s, named) for s in schema if s != "null"]
        required = len(branches) == len(schema)
        if len(branches) != 1:
            return FieldInfo(name, "union", required, doc=doc)
        schema = branches[0]
    kind = _kind(schema)
    if isinstance(schema, str):
        return FieldInfo(name, kind, required, doc=doc)
    info: dict[str, Any] = {
        "logical_type": schema.get("logicalType"),
        "precision": schema.get("precision"),
        "scale": schema.get("scale", 0) if schema.get("logicalType") == "decimal" else None,
    }
    if kind in ("record", "enum", "fixed"):
        info["type_name"] = schema["name"]
    if kind == "record" and schema["name"] not in within:
        info["fields"] = tuple(_describe_fields(schema, named, within))
    elif kind == "enum":
        info["symbols"] = tuple(schema["symbols"])
    elif kind == "array":
        items = _describe("[]", schema["items"], named, within=within)
        info["items"] = items
        info["fields"] = items.fields
    return FieldInfo(name, kind, required, doc=doc, **info)


def _check(schema: Any, value: Any, path: str, named: Mapping[str, Any]) -> tuple[str, str] | None:
    """``None`` when ``value`` fits ``schema``, else ``(path, problem)``."""
    schema = _resolve(schema, named)
    kind = _kind(schema)
    if kind == "union":
        if value is None and "null" in schema:
            return None
        branches = [s for s in schema if s != "null"]
        if value is None:
            return path, "is required (got null)"
        first = None
        for branch in branches:
            problem = _check(branch, value, path, named)
            if problem is None:
                return None
            first = first or problem
        assert first is not None
        return first
    if kind == "null":
        return None if value is None else (path, f"expected null, got {type(value).__name__}")
    if value is None:
        return path, "is required (got null)"
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical is not None:
        problem = _check_logical(logical, schema, value)
        if problem is not _NOT_LOGICAL:
            return None if problem is None else (path, problem)
    if kind == "record":
        if not isinstance(value, Mapping):
            return path, f"expected a record (dict), got {type(value).__name__}"
        names = {f["name"] for f in schema["fields"]}
        for key in value:
            if key not in names:
                return _join(path, str(key)), f"is not a field of {schema['name']}"
        for f in schema["fields"]:
            sub = _join(path, f["name"])
            if f["name"] not in value:
                if "default" in f:
                    continue
                return sub, "is missing"
            problem = _check(f["type"], value[f["name"]], sub, named)
            if problem is not None:
                return problem
        return None
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            return path, f"expected an array (list), got {type(value).__name__}"
        for i, item in enumerate(value):
            problem = _check(schema["items"], item, f"{path}[{i}]", named)
            if problem is not None:
                return problem
        return None
    if kind == "map":
        if not isinstance(value, Mapping):
            return path, f"expected a map (dict), got {type(value).__name__}"
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"map keys must be strings, got {type(key).__name__}"
            problem = _check(schema["values"], item, f"{path}[{key!r}]", named)
            if problem is not None:
                return problem
        return None
    if kind == "enum":
        if value not in schema["symbols"]:
            return path, f"{value!r} is not one of {', '.join(schema['symbols'])}"
        return None
    if kind == "fixed":
        if not isinstance(value, bytes) or len(value) != schema["size"]:
            return path, f"expected {schema['size']} bytes"
        return None
    return _check_primitive(kind, value, path)


def _check_primitive(kind: str, value: Any, path: str) -> tuple[str, str] | None:
    got = type(value).__name__
    if kind == "string":
        return None if isinstance(value, str) else (path, f"expected a string, got {got}")
    if kind == "boolean":
        return None if isinstance(value, bool) else (path, f"expected a boolean, got {got}")
    if kind in ("int", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return path, f"expected an integer ({kind}), got {got}"
        low, high = _INT_RANGE[kind]
        return None if low <= value <= high else (path, f"{value} is out of range for {kind}")
    if kind in ("float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else (path, f"expected a number ({kind}), got {got}")
    if kind == "bytes":
        return None if isinstance(value, (bytes, bytearray)) else (path, f"expected bytes, got {got}")
    return path, f"unsupported Avro type {kind!r}"


_NOT_LOGICAL = object()  # "this logical type is not checked here: check the base type"


def _check_logical(logical: str, schema: Mapping[str, Any], value: Any) -> Any:
    got = type(value).__name__
    if logical == "decimal":
        if not isinstance(value, Decimal):
            return f"expected a Decimal, got {got} {value!r}"
        if not value.is_finite():
            return f"{value} is not a finite decimal"
        scale, precision = schema.get("scale", 0), schema["precision"]
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > scale:
            return f"{value} has {-exponent} decimal places, the schema allows {scale} (quantize it)"
        if value.adjusted() + 1 > precision - scale:
            return f"{value} has more than {precision - scale} integer digits (decimal({precision},{scale}))"
        return None
    if logical == "date":
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            return f"expected a date, got {got} {value!r}"
        return None
    if logical in ("timestamp-millis", "timestamp-micros"):
        if not isinstance(value, dt.datetime):
            return f"expected a datetime, got {got} {value!r}"
        if value.tzinfo is None or value.utcoffset() is None:
            return f"{value.isoformat()} has no time zone (use UTC)"
        return None
    if logical == "uuid":
        if isinstance(value, uuid.UUID):
            return None
        if not isinstance(value, str):
            return f"expected a UUID string, got {got}"
        try:
            uuid.UUID(value)
        except ValueError:
            return f"{value!r} is not a UUID"
        return None
    return _NOT_LOGICAL


# --- the JSON form ----------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text


def _timestamp_text(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _to_json(schema: Any, value: Any, path: str, named: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, named)
    kind = _kind(schema)
    if kind == "union":
        if value is None and "null" in schema:
            return None
        branches = [s for s in schema if s != "null"]
        if len(branches) > 1:  # pick the branch the value fits
            branches = [b for b in branches if _check(b, value, path, named) is None] or branches
        return _to_json(branches[0], value, path, named) if branches else None
    problem = _check(schema, value, path, named) if kind not in ("record", "array", "map") else None
    if problem is not None:
        raise _Bad(*problem)
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical == "decimal":
        return f"{value:.{schema.get('scale', 0)}f}"
    if logical == "date":
        return value.isoformat()
    if logical in ("timestamp-millis", "timestamp-micros"):
        return _timestamp_text(value) if logical == "timestamp-millis" else value.astimezone(UTC).isoformat()
    if logical == "uuid":
        return str(value)
    if kind == "record":
        if not isinstance(value, Mapping):
            raise _Bad(path, f"expected a record (dict), got {type(value).__name__}")
        return {
            f["name"]: _to_json(f["type"], value.get(f["name"], f.get("default")), _join(path, f["name"]), named)
            for f in schema["fields"]
        }
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            raise _Bad(path, f"expected an array (list), got {type(value).__name__}")
        return [_to_json(schema["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise _Bad(path, f"expected a map (dict), got {type(value).__name__}")
        return {k: _to_json(schema["values"], v, f"{path}[{k!r}]", named) for k, v in value.items()}
    if kind in ("bytes", "fixed"):
        return base64.b64encode(value).decode("ascii")
    return value


def _from_json(schema: Any, value: Any, path: str, named: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, named)
    kind = _kind(schema)
    if kind == "union":
        if value is None and "null" in schema:
            return None
        branches = [s for s in schema if s != "null"]
        if value is None or not branches:
            raise _Bad(path, "is required (got null)")
        last: _Bad | None = None
        for branch in branches:
            try:
                return _from_json(branch, value, path, named)
            except _Bad as bad:
                last = last or bad
        assert last is not None
        raise last
    if value is None and kind != "null":
        raise _Bad(path, "is required (got null)")
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    try:
        if logical == "decimal":
            if not isinstance(value, str):
                raise _Bad(path, f"expected a decimal as a string, got {value!r}")
            try:
                converted: Any = Decimal(value)
            except InvalidOperation:
                converted = None
            if converted is None or not converted.is_finite():
                raise _Bad(path, f"{value!r} is not a decimal number")
        elif logical == "date":
            converted = dt.date.fromisoformat(value)
        elif logical in ("timestamp-millis", "timestamp-micros"):
            converted = dt.datetime.fromisoformat(value)
            if converted.tzinfo is None:
                raise _Bad(path, f"{value!r} has no time zone (write ...Z)")
            converted = converted.astimezone(UTC)
        elif kind == "record":
            if not isinstance(value, Mapping):
                raise _Bad(path, f"expected an object, got {type(value).__name__}")
            known = {f["name"] for f in schema["fields"]}
            for key in value:
                if key not in known:
                    raise _Bad(_join(path, key), f"is not a field of {schema['name']}")
            return {
                f["name"]: _from_json(f["type"], value.get(f["name"], f.get("default")), _join(path, f["name"]), named)
                for f in schema["fields"]
            }
        elif kind == "array":
            if not isinstance(value, list):
                raise _Bad(path, f"expected an array, got {type(value).__name__}")
            return [_from_json(schema["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
        elif kind == "map":
            if not isinstance(value, Mapping):
                raise _Bad(path, f"expected an object, got {type(value).__name__}")
            return {k: _from_json(schema["values"], v, f"{path}[{k!r}]", named) for k, v in value.items()}
        elif kind in ("bytes", "fixed"):
            converted = base64.b64decode(value, validate=True)
        else:
            converted = value
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise _Bad(path, f"cannot read {value!r}: {exc}") from None
    problem = _check(schema, converted, path, named)
    if problem is not None:
        raise _Bad(*problem)
    return converted

