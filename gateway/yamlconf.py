"""YAML with positions: every value's line is remembered, so configuration
errors can name file, line and key.

PyYAML (MIT, with the libyaml C parser when present) composes the document
into nodes that carry their marks; this module turns the nodes into plain
Python values and a side table ``{key path: line}``. pydantic then validates
the plain values, and :func:`pydantic_errors` turns its error locations back
into ``file:line: key: message`` lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError

try:  # the C composer is several times faster; fall back to pure Python
    _Loader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

Key = tuple  # a path of keys and list indices: ("inbound", 0, "fields", "order_number")


@dataclass
class Located:
    """A YAML document as plain values plus the line of every key path."""

    file: str
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)

    def line(self, path: Iterable) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def where(self, path: Iterable) -> str:
        path = tuple(path)
        line = self.line(path)
        spot = f"{self.file}:{line}" if line else self.file
        return f"{spot}: {dotted(path)}" if path else spot


def dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(path: str | Path) -> Located:
    """Read a YAML file; syntax errors become one :class:`ConfigError` naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02X})") from None
    return loads(text, str(path))


def loads(text: str, name: str = "<string>") -> Located:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{name}{line}: invalid YAML: {exc.problem}") from None
    located = Located(name, None)
    # a constructor per document: PyYAML's keeps everything it has built
    constructor = yaml.constructor.SafeConstructor()
    located.data = _plain(node, (), located.lines, constructor) if node is not None else None
    return located


def _plain(node: yaml.Node, path: Key, lines: dict, constructor: yaml.constructor.SafeConstructor) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node)
            if isinstance(key, (int, float, bool)):
                key = str(key) if not isinstance(key, bool) else str(key).lower()
            out[key] = _plain(value_node, (*path, key), lines, constructor)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node)


def pydantic_errors(located: Located, error, prefix: Key = ()) -> list[str]:
    """``file:line: key: message`` for each error of a pydantic ValidationError.

    pydantic puts union branch names ("str", "Rule", ...) into error locations;
    only the parts that are real keys of the document are kept.
    """
    out = []
    for item in error.errors():
        path = _real_path(located.data, (*prefix, *item["loc"]))
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", message))
        line = f"{located.where(path)}: {message}"
        if line not in out:
            out.append(line)
    return out


def _real_path(data: Any, loc: tuple) -> Key:
    path: list = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            path.append(part)  # a missing key: name it
    return tuple(path)
