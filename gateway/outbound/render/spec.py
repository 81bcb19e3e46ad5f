"""The shape of an outbound route (``outbound:`` in a partner file), declared once.

pydantic validates the shape (unknown keys are errors, with file, line and key
thanks to :mod:`gateway.yamlconf`); :mod:`gateway.outbound.render.compiler` then checks
every template rule against the Avro schema of the event it reads.
``docs/mappings.md`` ("Outbound routes and templates") is the reference for users.

This module imports nothing of the gateway, so that ``gateway.mapping.spec``
can hold ``outbound: list[OutboundRoute]`` without an import cycle.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class When(Strict):
    """``when``: the route, entry or element applies only if this holds.

    As in the inbound ``when``; ``same_as`` compares with another path
    (``$order``, the item of an enclosing loop). A path that goes through an
    array holds when any of its values does.
    """

    path: str
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    exists: bool | None = None
    same_as: str | None = None


class Each(Strict):
    """What an entry iterates over: an array of the event (one pass per item), or a
    record (one pass, none when it is null). ``as`` names the item for inner paths
    (``$order``)."""

    path: str
    as_: str | None = Field(default=None, alias="as")


def _path_shorthand(value: Any) -> Any:
    """A bare string is shorthand for ``{path: ...}`` (one model, so errors name real keys)."""
    return {"path": value} if isinstance(value, str) else value


class Element(Strict):
    """How one element (or component) gets its text. A bare string is shorthand for ``path``."""

    path: str | None = None  # an event field: buyer.id, /order_number, ^order_number, $order
    value: Any = None  # a constant
    first: str | None = None  # the first value a path through arrays finds (packages.package_type)
    count: str | None = None  # how many values a path finds (lines, packages.items)
    sum: str | None = None  # the total of the numbers a path finds (lines.quantity)
    segment_count: str | None = None  # how many segments with this tag the message has so far (LIN, HL)
    concat: list[Element] | None = None
    separator: str = " "
    default: Any = None  # written when the rule finds nothing
    required: bool = False  # nothing found (and no default) is a render error
    when: When | None = None  # otherwise the rule finds nothing
    format: str | None = None  # dates and timestamps: 102, 203, CCYYMMDD, HHMM, ...
    timezone: str | None = None  # of a timestamp written as local time (default: the partner's)
    decimals: int | None = None  # exactly this many decimals (24.5 -> 24.50)
    implied_decimals: int | None = None  # X12 N2: 834.00 with 2 -> 83400
    codes: str | None = None  # a code list of the partner file
    reverse: bool = False  # read the code list backwards: internal code -> partner code
    map: dict[str, Any] | None = None  # inline translation ("*" = anything else)

    @field_validator("map", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_text(k): v for k, v in value.items()}
        return value

    @field_validator("concat", mode="before")
    @classmethod
    def _parts(cls, value: Any) -> Any:
        return [_path_shorthand(v) for v in value] if isinstance(value, list) else value


class Entry(Strict):
    """One line of a template: a segment, a group of entries, an X12 HL level, or an XML element."""

    segment: str | None = None  # TAG, or TAG[E.C=V,...] with constants
    elements: dict[str, Element] = {}  # position (2, 3.1) -> rule
    segments: list[Entry] | None = None  # a group: these entries, per item of `each`
    hl: str | None = None  # X12: an HL level (HL03 code); `segments` are its contents and its children
    child_code: bool = True  # write HL04 (1: the level has children, 0: none)
    element: str | None = None  # XML: an element name (cbc:ID)
    text: Element | None = None  # XML: the element's text
    attributes: dict[str, Element] = {}  # XML: attribute name -> rule
    children: list[Entry] | None = None  # XML: child elements
    each: Each | None = None  # a bare string is shorthand for {path: ...}
    when: When | None = None

    @field_validator("elements", mode="before")
    @classmethod
    def _position_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):  # YAML reads 2 and 3.1 as numbers
            return {_text(k): _path_shorthand(v) for k, v in value.items()}
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_rules(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_text(k): _path_shorthand(v) for k, v in value.items()}
        return value

    @field_validator("text", "each", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _path_shorthand(value)


class Document(Strict):
    syntax: Literal["edifact", "x12", "xml"]
    message: str  # ORDRSP, 855, XML root element (OrderResponse)
    version: str  # D96A, 004010, 2.1
    agency: str | None = None  # EDIFACT S009 0051 (default UN)
    association: str | None = None  # EDIFACT S009 0057 (EAN005)
    namespaces: dict[str, str] = {}  # XML: prefix -> namespace URI; "" is the default namespace


class Envelope(Strict):
    """Interchange settings; identifiers default to the partner's identity (recipient)."""

    sender: str | None = None  # UNB S002 0004 / ISA06: our id (default: the identity's `recipient`)
    sender_qualifier: str | None = None  # UNB S002 0007 / ISA05
    recipient: str | None = None  # UNB S003 0004 / ISA08 (default: the identity's `sender`)
    recipient_qualifier: str | None = None  # UNB S003 0007 / ISA07
    test: bool = False  # UNB 0035 = 1 / ISA15 = T
    ack_requested: bool = False  # UNB 0031 = 1 / ISA14 = 1
    newline: bool = False  # a line break after each segment
    # EDIFACT
    syntax_identifier: str | None = None  # UNOA, UNOB, UNOC, UNOY, ... (default UNOC): the character set
    syntax_version: str | None = None  # UNB S001 0002 (default 3)
    application_reference: str | None = None  # UNB 0026 (up to 14 characters)
    una: bool | None = None  # write a UNA (default: only when the separators are not the standard ones)
    groups: bool = False  # wrap the message in UNG/UNE
    # X12
    isa_version: str | None = None  # ISA12 (default: from the version, 004010 -> 00401)
    functional_id: str | None = None  # GS01 (default: from the message, 855 -> PR)
    group_sender: str | None = None  # GS02 (default: sender)
    group_recipient: str | None = None  # GS03 (default: the identity's group_sender, else recipient)
    group_number: Literal["own", "interchange"] = "own"  # GS06: its own number, or ISA13's
    character_set: Literal["basic", "extended"] | None = None  # X12 repertoire (default extended)
    authorization_qualifier: str | None = None  # ISA01 (default 00: no authorization information)
    authorization_information: str | None = None  # ISA02 (up to 10 characters)
    security_qualifier: str | None = None  # ISA03 (default 00; 01 when ISA04 holds a password)
    security_information: str | None = None  # ISA04: a password, so given as env:NAME


class OutboundRoute(Strict):
    name: str  # unique in the partner file and stable: outbound document ids derive from it
    event: str  # the Avro record name: OrderResponded, ...
    when: When | None = None  # which events: the route takes an event only if this holds
    document: Document
    envelope: Envelope = Envelope()
    template: list[Entry]
    filename: str | None = None  # {partner} {route} {message} {control} {ext} {timestamp}
    expects_ack: bool | None = None  # awaits a 997/999/CONTRL (default: ack_requested)


def _text(key: Any) -> str:
    if isinstance(key, bool):
        return str(key).lower()
    return str(key)


Element.model_rebuild()
Entry.model_rebuild()
