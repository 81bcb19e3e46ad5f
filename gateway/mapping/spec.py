"""The shape of a partner file (``mappings/*.yaml``), declared once.

pydantic validates the shape (unknown keys are errors, with file, line and key
thanks to :mod:`gateway.yamlconf`); :mod:`gateway.mapping.loader` then checks
every rule against the Avro schema it fills. ``docs/mappings.md`` is the
reference for users.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import codecs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.as2.config import As2Partner
from adapters.http.config import HttpPartner
from adapters.sftp.config import SftpPartner
from gateway.acks.settings import AckSettings
from gateway.outbound.render.spec import OutboundRoute


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(Strict):
    """``when``: the rule (or route) applies only if this holds."""

    path: str | None = None
    xpath: str | None = None
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    exists: bool | None = None


class Each(Strict):
    """What an array iterates over: one item per segment group, HL, segment or XML node."""

    group: str | None = None  # a segment path: each matching segment starts a group
    until: list[str] = []  # tags that end a group besides the next trigger
    hl: str | None = None  # X12 HL level code (HL03): S, O, T, P, I, ...
    segment: str | None = None  # each matching segment on its own
    xpath: str | None = None  # each matching XML node


class Rule(Strict):
    """How one target field gets its value. A bare string is shorthand for ``path``."""

    path: str | None = None
    xpath: str | None = None
    value: Any = None  # a constant
    default: Any = None  # when the rule finds nothing
    format: str | None = None  # dates and times: 102, 203, 204, CCYYMMDD, YYMMDD, HHMM, iso, auto
    time: str | None = None  # a path or XPath giving the time part of a timestamp
    timezone: str | None = None  # IANA zone of local times (default: the partner's, else UTC)
    implied_decimals: int | None = None  # X12 N2: "83400" with 2 -> 834.00
    codes: str | None = None  # a code list of the partner file
    map: dict[str, Any] | None = None  # inline translation ("*" = anything else)
    concat: list[Union[str, Rule]] | None = None
    separator: str = " "
    when: Condition | None = None
    each: Each | None = None
    group: str | None = None  # records: evaluate the fields within this segment group
    until: list[str] = []
    fields: dict[str, Union[str, Rule]] | None = None
    strip: bool = True


class EdifactIdentity(Strict):
    sender: str  # UNB S002 0004
    qualifier: str | None = None  # UNB S002 0007
    recipient: str | None = None  # UNB S003 0004 (our own id, when several are served)


class X12Identity(Strict):
    sender: str  # ISA06 (trimmed)
    qualifier: str | None = None  # ISA05
    group_sender: str | None = None  # GS02
    recipient: str | None = None  # ISA08


class XmlIdentity(Strict):
    sender: str | None = None  # cXML From identity
    xpath: str | None = None  # or: this XPath's value ...
    equals: str | None = None  # ... equals this


class Identity(Strict):
    edifact: list[EdifactIdentity] | EdifactIdentity | None = None
    x12: list[X12Identity] | X12Identity | None = None
    xml: list[XmlIdentity] | XmlIdentity | None = None


class Match(Strict):
    syntax: Literal["edifact", "x12", "xml"]
    message: str  # "ORDERS", "850", XML document element "Order"
    version: str | None = None  # "D96A", "004010", "2.1"; None: any


class InboundRoute(Strict):
    match: Match
    event: str  # the Avro record name: OrderCreated, ...
    topic: str | None = None  # default: the gateway's topic for the event type
    key: str | None = None  # a top-level field of the event used as Kafka key
    when: Condition | None = None
    each: Each | None = None  # one event per item instead of one per message
    fields: dict[str, Union[str, Rule]]


class Channels(Strict):
    """How the partner reaches the gateway; each channel's settings are declared beside its code."""

    http: HttpPartner | None = None
    as2: As2Partner | None = None
    sftp: SftpPartner | None = None


class PartnerFile(Strict):
    partner: str  # the partner id used in events, topics and the status API
    name: str | None = None
    identity: Identity
    encoding: str | None = None  # override the declared character set (e.g. cp1252)
    timezone: str | None = None  # local times in documents (default UTC)
    namespaces: dict[str, str] = {}  # XPath prefixes (UBL's cbc/cac are predefined)
    code_lists: dict[str, dict[str, str]] = {}
    channels: Channels = Channels()
    acknowledgements: AckSettings = AckSettings()  # 997/999, TA1, CONTRL: what this partner is answered
    inbound: list[InboundRoute] = []
    outbound: list[OutboundRoute] = []  # events rendered into documents for this partner (gateway.outbound.render)

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"'{value}' is not a known character encoding (e.g. cp1252, latin-1, utf-8)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _zone(value)


def _zone(value: str | None) -> str | None:
    if value is not None and value.upper() != "UTC":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Brussels, America/Chicago)") from None
    return value


Rule.model_rebuild()
