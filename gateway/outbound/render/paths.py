"""Event paths: how a template rule points into an event record.

    order_number            a field of the current item (the event, outside any loop)
    buyer.address.city      through records
    /order_number           from the event, even inside a loop
    ^order_number           from the nearest enclosing item whose record has the field
                            (the item itself, then the loops around it, then the event)
    $order, $order.id       the item of the enclosing loop named ``as: order``
    .                       the current item itself (an item of an array of strings)
    lines.quantity          through an array: every item's value (for each, first,
                            count, sum and conditions; an element needs one value)

A path is resolved once, when the template is loaded, against the Avro schema of
the event and the loops around the rule (:class:`Frame`); what it reaches is
checked there (unknown field, a record where a value is needed, ...). At run
time a compiled path only walks dicts: the loops' items sit on a stack, one per
frame, the event at the bottom.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.mapping.targets import Target

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EventPathError(ValueError):
    """A path that does not follow the grammar, or that the schema does not have."""


@dataclass(frozen=True)
class Frame:
    """One level of the stack a template runs on: the event, or a loop's item."""

    target: Target  # what the item is (the event's record at the bottom)
    name: str | None = None  # `as:` of the loop
    label: str = ""  # how errors name it: the event type, or the loop's path


@dataclass(frozen=True)
class EventPath:
    text: str
    depth: int  # index of the frame the path starts from
    steps: tuple[str, ...]
    target: Target  # what the path reaches (an array's items when it ends on an array)
    many: bool  # goes through (or ends on) an array: several values
    ends_on_array: bool
    get: Callable[[list], Any]  # the value, or None (one value) / every value, flattened (many)

    @property
    def kind(self) -> str:
        return self.target.kind


def resolve(text: str, frames: list[Frame]) -> EventPath:
    """``text`` resolved against the frames around the rule (innermost last)."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise EventPathError("the path is empty")
    depth = len(frames) - 1
    if raw == ".":
        return _finish(text, depth, (), frames)
    if raw[0] == "$":
        name, _, rest = raw[1:].partition(".")
        found = [i for i, f in enumerate(frames) if f.name == name]
        if not found:
            named = [f"${f.name}" for f in frames if f.name]
            raise EventPathError(f"'${name}' names no enclosing loop "
                                 f"({'loops here: ' + ', '.join(named) if named else 'name a loop with each: {path: ..., as: NAME}'})")
        return _finish(text, found[-1], _steps(rest, text) if rest else (), frames)
    if raw[0] == "/":
        return _finish(text, 0, _steps(raw[1:], text), frames)
    if raw[0] == "^":
        steps = _steps(raw[1:], text)
        for i in range(len(frames) - 1, -1, -1):
            record = _record(frames[i].target)
            if record is not None and steps[0] in record.fields:
                return _finish(text, i, steps, frames)
        raise EventPathError(f"no enclosing item has a field '{steps[0]}' "
                             f"({', '.join(f.label for f in reversed(frames))})")
    return _finish(text, depth, _steps(raw, text), frames)


def _steps(body: str, text: str) -> tuple[str, ...]:
    parts = tuple(body.split("."))
    for part in parts:
        if not _NAME.match(part):
            raise EventPathError(f"'{text}' is not an event path (expected field, field.sub, /field, ^field, "
                                 "$loop.field or .)")
    return parts


def _record(target: Target) -> Target | None:
    if target.kind == "record":
        return target
    if target.kind == "array" and target.item is not None and target.item.kind == "record":
        return target.item
    return None


def _finish(text: str, depth: int, steps: tuple[str, ...], frames: list[Frame]) -> EventPath:
    current = frames[depth].target
    where = frames[depth].label
    many = False
    arrays: list[bool] = []  # per step: does the value reached by this step hold a list?
    for step in steps:
        if current.kind == "array":
            many = True
            current = current.item  # type: ignore[assignment]
        if current.kind != "record":
            raise EventPathError(f"'{where}' is {_a(current)}: it has no field '{step}'")
        sub = current.fields.get(step)
        if sub is None:
            raise EventPathError(f"'{step}' is not a field of {where} (fields: {', '.join(current.fields)})")
        arrays.append(sub.kind == "array")
        current = sub
        where = step
    ends_on_array = current.kind == "array"
    if ends_on_array:
        many = True
        current = current.item  # type: ignore[assignment]
    if many:
        get = _many(depth, steps, tuple(arrays), frames[depth].target.kind == "array")
    else:
        get = _one(depth, steps)
    return EventPath(text, depth, steps, current, many, ends_on_array, get)


def _a(target: Target) -> str:
    kind = target.describe()
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _one(depth: int, steps: tuple[str, ...]) -> Callable[[list], Any]:
    if not steps:
        return lambda stack: stack[depth]
    if len(steps) == 1:
        name = steps[0]

        def get1(stack: list) -> Any:
            value = stack[depth]
            return value.get(name) if value is not None else None

        return get1

    def get(stack: list) -> Any:
        value = stack[depth]
        for name in steps:
            if value is None:
                return None
            value = value.get(name)
        return value

    return get


def _many(depth: int, steps: tuple[str, ...], arrays: tuple[bool, ...], start_is_array: bool) -> Callable[[list], list]:
    """Every value the path reaches, arrays flattened, nulls left out."""

    def walk(value: Any, i: int, out: list) -> None:
        if i == len(steps):
            out.append(value)
            return
        found = value.get(steps[i])
        if found is None:
            return
        if arrays[i]:
            for item in found:
                if item is not None:
                    walk(item, i + 1, out)
        else:
            walk(found, i + 1, out)

    def get(stack: list) -> list:
        out: list = []
        start = stack[depth]
        if start is None:
            return out
        if start_is_array:
            for item in start:
                if item is not None:
                    walk(item, 0, out)
        else:
            walk(start, 0, out)
        return out

    return get
