"""Message definitions as data: one YAML file per syntax and directory version.

A file (``definitions/x12/004010.yaml``, ``definitions/edifact/D96A.yaml``)
holds four tables, written in a compact notation::

    elements:          # id: type min/max   (X12: AN ID R N0..N9 DT TM B; EDIFACT: a an n)
      "353": ID 2/2
      "1004": an 0/35     # EDIFACT an..35 (minimum 0: no minimum length)
    composites:        # id: its components, each "element status"
      C040: 128 M, 127 M, 128 X, 127 X
    segments:          # tag: its elements, each "element-or-composite status[*repeats]"
      BEG: 353 M, 92 M, 324 M, 328 O, 373 M
    notes:             # X12 syntax notes: P paired, R required, E exclusion, C conditional, L list
      PO1: P0405 P0607
    codes:             # code lists of the qualifiers that matter
      "353": 00 01 05
    messages:          # type: the structure, one entry a line: TAG STATUS MAX, or a group
      "850": |
        ST M 1
        BEG M 1
        N1 O 200 {        # a loop / segment group: its first segment is its trigger
          N1 M 1
          N3 O 2
        }

Statuses: ``M`` mandatory, ``O``/``C``/``X`` optional (X12 X: relational,
checked by the syntax notes). MAX is a number or ``>1`` (unbounded).
A file may say ``base: 004010``: it starts from that file's tables and
replaces the entries it lists (005010 is 004010 with longer elements and a
few new ones; D.01B is D.96A with the segments that changed).

Loading is cached per (syntax, version); nothing is read at import time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import yaml

from gateway.errors import ConfigError

ROOT = Path(__file__).parent / "definitions"
UNBOUNDED = 10**9
X12_TYPES = {"AN", "ID", "R", "DT", "TM", "B", "N", "N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"}
EDIFACT_TYPES = {"a", "an", "n"}


@dataclass(frozen=True, slots=True)
class ElementDef:
    """A simple element or a composite at one position of a segment (or composite)."""

    id: str
    mandatory: bool
    type: str = "AN"  # composites: "composite"
    min: int = 0
    max: int = UNBOUNDED
    repeat: int = 1
    components: tuple[ElementDef, ...] | None = None
    codes: frozenset[str] | None = None

    @property
    def composite(self) -> bool:
        return self.components is not None


@dataclass(frozen=True, slots=True)
class SegmentDef:
    tag: str
    elements: tuple[ElementDef, ...] | None  # None: not described (only its place is checked)
    notes: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Node:
    """A segment or a group (loop) in a message structure."""

    tag: str  # the segment tag; for a group its trigger segment's tag
    mandatory: bool
    max: int
    children: tuple[Node, ...] | None = None  # a group: its content, trigger first
    name: str = ""  # a group's name (SG2, N1 loop)

    @property
    def group(self) -> bool:
        return self.children is not None


@dataclass(frozen=True, slots=True)
class MessageDef:
    type: str
    nodes: tuple[Node, ...]
    tags: frozenset[str]  # every tag the structure has


@dataclass
class Directory:
    syntax: str
    version: str
    segments: dict[str, SegmentDef]
    messages: dict[str, MessageDef]
    source: str = ""
    codes: dict[str, frozenset[str]] = field(default_factory=dict)
    # the validator's caches: compiled segment patterns, structure findings by tag sequence
    fast: dict = field(default_factory=dict, repr=False)
    memo: dict = field(default_factory=dict, repr=False)


# -- finding the directory of a message ---------------------------------------


def version_key(syntax: str, version: str, release: str = "") -> str | None:
    """The definitions file a message's version names: X12 "004010VICS" -> "004010";
    EDIFACT "ORDERS:D:96A:UN:EAN008" -> "D96A"."""
    if syntax == "x12":
        v = (version or "").strip()
        return v[:6] if len(v) >= 6 and v[:6].isdigit() else None
    if syntax == "edifact":
        parts = release.split(":") if release else []
        if len(parts) >= 3 and parts[2]:
            return "D" + parts[2].strip().upper()
        v = (version or "").strip().upper()
        return "D" + v[-3:] if len(v) >= 3 else None
    return None


def available() -> dict[str, list[str]]:
    """Which versions have definitions, and which message types each covers."""
    out = {}
    for path in sorted(ROOT.glob("*/*.yaml")):
        d = directory(path.parent.name, path.stem)
        out[f"{d.syntax} {d.version}"] = sorted(d.messages)
    return out


@lru_cache(maxsize=32)
def directory(syntax: str, version: str) -> Directory | None:
    """The definitions of ``syntax`` ``version``, or None when the project has none."""
    if not re.fullmatch(r"[A-Za-z0-9]+", version or ""):
        return None
    path = ROOT / syntax / f"{version}.yaml"
    if not path.is_file():
        return None
    raw = _raw(path)
    return _build(syntax, version, raw, str(path.relative_to(ROOT)))


def _raw(path: Path) -> dict:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: a definitions file is a mapping")
    base = data.get("base")
    if base:
        merged = _raw(path.parent / f"{base}.yaml")
        for table in ("elements", "composites", "segments", "notes", "codes", "messages"):
            merged.setdefault(table, {})
            merged[table].update(data.get(table) or {})
            for gone in (data.get("remove") or {}).get(table, []):
                merged[table].pop(str(gone), None)
        return merged
    return data


_ELEMENT = re.compile(r"^(\S+)\s+(\d+)/(\d+)$")


def _build(syntax: str, version: str, raw: dict, source: str) -> Directory:
    types = X12_TYPES if syntax == "x12" else EDIFACT_TYPES
    where = f"{syntax}/{version}"
    codes = {str(k): frozenset(str(v).split()) for k, v in (raw.get("codes") or {}).items()}
    elements: dict[str, tuple[str, int, int]] = {}
    for key, text in (raw.get("elements") or {}).items():
        m = _ELEMENT.match(str(text).strip())
        if not m or m.group(1) not in types:
            raise ConfigError(f"{where}: elements.{key}: '{text}' is not 'TYPE min/max'")
        elements[str(key)] = (m.group(1), int(m.group(2)), int(m.group(3)))

    def entry(text: str, context: str, allow_composite: bool) -> ElementDef:
        bits = text.split()
        if len(bits) != 2:
            raise ConfigError(f"{where}: {context}: '{text}' is not 'ELEMENT STATUS'")
        ident, status = bits
        repeat = 1
        if "*" in status:
            status, count = status.split("*", 1)
            repeat = UNBOUNDED if count == ">1" else int(count)
        if status not in ("M", "O", "C", "X"):
            raise ConfigError(f"{where}: {context}: status '{status}' is not M, O, C or X")
        if allow_composite and ident in composites_raw:
            parts = tuple(entry(p.strip(), f"composites.{ident}", False)
                          for p in str(composites_raw[ident]).split(","))
            return ElementDef(ident, status == "M", "composite", repeat=repeat, components=parts)
        if ident not in elements:
            raise ConfigError(f"{where}: {context}: element '{ident}' is not in elements")
        kind, low, high = elements[ident]
        return ElementDef(ident, status == "M", kind, low, high, repeat, codes=codes.get(ident))

    composites_raw = {str(k): v for k, v in (raw.get("composites") or {}).items()}
    notes_raw = raw.get("notes") or {}
    segments: dict[str, SegmentDef] = {}
    for tag, text in (raw.get("segments") or {}).items():
        if str(text).strip() == "*":  # known to the structure, its elements not described
            segments[str(tag)] = SegmentDef(str(tag), None)
            continue
        items = [p.strip() for p in str(text or "").split(",") if p.strip()]
        defs = tuple(entry(p, f"segments.{tag}", True) for p in items)
        notes = tuple((n[0], tuple(int(n[i:i + 2]) for i in range(1, len(n), 2)))
                      for n in str(notes_raw.get(tag, "")).split())
        segments[str(tag)] = SegmentDef(str(tag), defs, notes)
    messages = {str(k): _structure(str(k), str(v), where) for k, v in (raw.get("messages") or {}).items()}
    for message in messages.values():
        missing = sorted(t for t in message.tags if t not in segments)
        if missing:
            raise ConfigError(f"{where}: message {message.type} uses undefined segment(s) {', '.join(missing)}")
    return Directory(syntax, version, segments, messages, source, codes)


def _structure(kind: str, text: str, where: str) -> MessageDef:
    """Parse the structure notation into nodes."""
    tokens = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            tokens.append(line)
    stack: list[list] = [[]]
    heads: list[tuple[str, bool, int]] = []
    tags: set[str] = set()
    for line in tokens:
        if line == "}":
            if not heads:
                raise ConfigError(f"{where}: message {kind}: unbalanced '}}'")
            name, mandatory, count = heads.pop()
            children = tuple(stack.pop())
            if not children or children[0].group:
                raise ConfigError(f"{where}: message {kind}: group {name} must start with a segment")
            stack[-1].append(Node(children[0].tag, mandatory, count, children, name))
            continue
        bits = line.split()
        opens = bits[-1] == "{"
        if opens:
            bits = bits[:-1]
        if len(bits) != 3 or bits[1] not in ("M", "O", "C"):
            raise ConfigError(f"{where}: message {kind}: '{line}' is not 'TAG STATUS MAX'")
        name, status, count_text = bits
        count = UNBOUNDED if count_text == ">1" else int(count_text)
        if opens:
            heads.append((name, status == "M", count))
            stack.append([])
        else:
            tags.add(name)
            stack[-1].append(Node(name, status == "M", count))
    if heads:
        raise ConfigError(f"{where}: message {kind}: group {heads[-1][0]} is not closed")
    return MessageDef(kind, tuple(stack[0]), frozenset(tags))


def tightened(element: ElementDef, **changes) -> ElementDef:
    return replace(element, **changes)
