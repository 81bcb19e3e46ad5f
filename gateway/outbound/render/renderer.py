"""Render one event through one compiled route: the partner's document as bytes.

    render(record, route, numbers=..., now=...) -> Rendered

The template writes the message body into the neutral model; the envelope
(UNB/UNG/UNH, ISA/GS/ST) is built around it and the project's writers
(:mod:`gateway.syntax.edifact`, :mod:`gateway.syntax.x12`) compute the counts
and trailers. Control numbers come from ``numbers(kind)`` only after the body
rendered without error, in a fixed order (UNB0020, UNG0048, UNH0062; ISA13,
GS06, ST02), so an event that cannot be rendered uses none. The output depends
on nothing but the record, the numbers and ``now``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gateway.errors import EncodingError, TerminalError
from gateway.model import Group, Interchange, Message, Segment
from gateway.outbound.render import errors as E
from gateway.outbound.render.compiler import Ctx, Route
from gateway.outbound.render.errors import RenderError

Numbers = Callable[[str], int]

EXTENSIONS = {"edifact": "edi", "x12": "x12", "xml": "xml"}


@dataclass(frozen=True)
class Rendered:
    """One document for one partner: what the outbox stores and the channel sends."""

    data: bytes
    syntax: str  # edifact | x12 | xml
    message_type: str  # ORDRSP, 855, OrderResponse
    control_refs: dict[str, str] = field(default_factory=dict)  # kind -> as written: {"ISA13": "000000042", ...}
    filename: str = ""  # a suggestion: ORDRSP-42.edi
    expects_ack: bool = False  # a 997/999 or CONTRL is awaited
    partner_id: str = ""
    route: str = ""
    event_type: str = ""

    @property
    def control_ref(self) -> str | None:
        """The interchange's control reference (ISA13 / UNB 0020), None for XML."""
        return self.control_refs.get("ISA13") or self.control_refs.get("UNB0020")


def render(record: Mapping[str, Any], route: Route, *, numbers: Numbers, now: datetime) -> Rendered:
    """The document ``route`` makes of ``record`` (an event as Avro decodes it).

    Raises :class:`RenderError` (terminal: dead-letter the event) when the
    record is not the route's event, a required value is missing, or a value
    cannot be written in the document's character set.
    """
    def fail(code: str, text: str) -> RenderError:
        return RenderError(code, text, partner_id=route.partner_id, route=route.name, where=route.where)

    if not isinstance(record, Mapping):
        raise fail(E.EVENT_INVALID, f"the event is a {type(record).__name__}, not a record")
    event_type = record.get("event_type")
    if event_type is not None and event_type != route.event_type:
        raise fail(E.EVENT_INVALID, f"the event is a {event_type}; this route renders {route.event_type}")
    if route.schemas is not None:
        try:
            route.schemas.validate(route.event_type, record)
        except TerminalError as exc:
            raise fail(E.EVENT_INVALID, f"the event does not match its schema: {exc}") from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    local = now.astimezone(route.zone)
    if route.syntax == "xml":
        data, refs = _xml(record, route, fail)
    else:
        ctx = Ctx()
        route.body([record], ctx)
        if not ctx.out:
            raise fail(E.EMPTY, "the template wrote no segment for this event")
        writer = _edifact if route.syntax == "edifact" else _x12
        try:
            data, refs = writer(route, ctx.out, numbers, local, fail)
        except EncodingError as exc:
            raise fail(getattr(exc.issue, "code", E.VALUE_INVALID), str(exc)) from None
    names = {"partner": route.partner_id, "route": route.name, "message": route.message,
             "control": refs.get("ISA13") or refs.get("UNB0020") or "", "ext": EXTENSIONS[route.syntax],
             "timestamp": now.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S"),
             "digest": hashlib.sha256(data).hexdigest()[:12]}
    return Rendered(data=data, syntax=route.syntax, message_type=route.message, control_refs=refs,
                    filename=route.filename.format(**names), expects_ack=route.expects_ack,
                    partner_id=route.partner_id, route=route.name, event_type=route.event_type)


def _number(numbers: Numbers, kind: str, fail) -> int:
    value = numbers(kind)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise fail(E.CONTROL_NUMBER_INVALID, f"{kind}: the control number {value!r} is not a whole number from 0")
    return value


def _edifact(route: Route, body: list[Segment], numbers: Numbers, local: datetime, fail) -> tuple[bytes, dict]:
    from gateway.syntax import edifact

    env = route.envelope
    refs = {"UNB0020": str(_number(numbers, "UNB0020", fail))}
    if env.groups:
        refs["UNG0048"] = str(_number(numbers, "UNG0048", fail))
    refs["UNH0062"] = str(_number(numbers, "UNH0062", fail))
    for kind, ref in refs.items():
        if len(ref) > 14:
            raise fail(E.CONTROL_NUMBER_INVALID, f"{kind} {ref} is longer than its 14 characters")
    header = Segment("UNH", [refs["UNH0062"], list(env.s009)])
    message = Message(type=route.message, ref=refs["UNH0062"], version=route.version, segments=[header, *body],
                      release=":".join(env.s009))
    four = env.syntax_version == "4"
    ic = edifact.interchange(
        env.sender, env.recipient, refs["UNB0020"], [message], syntax_id=env.syntax_identifier,
        syntax_version=env.syntax_version, sender_qualifier=env.sender_qualifier,
        recipient_qualifier=env.recipient_qualifier, date=local.strftime("%Y%m%d" if four else "%y%m%d"),
        time=local.strftime("%H%M"), test=env.test, ack_requested=env.ack_requested)
    if env.application_reference:  # the writer takes UNB elements the model does not name from the header
        ic.header = Segment("UNB", ["", "", "", "", "", "", env.application_reference])
    if env.groups:
        group = Group(id=route.message, control_ref=refs["UNG0048"], sender=env.sender, recipient=env.recipient,
                      version=route.version, header=None, interchange=ic, messages=[message])  # type: ignore[arg-type]
        group.message_count = 1
        ic.groups = [group]
    return edifact.write(ic, una=env.una, newline=env.newline), refs


def _x12(route: Route, body: list[Segment], numbers: Numbers, local: datetime, fail) -> tuple[bytes, dict]:
    from gateway.syntax import x12

    env = route.envelope
    isa = _number(numbers, "ISA13", fail)
    gs = isa if env.group_number == "interchange" else _number(numbers, "GS06", fail)
    st = _number(numbers, "ST02", fail)
    if isa > 999_999_999 or gs > 999_999_999 or st > 999_999_999:
        raise fail(E.CONTROL_NUMBER_INVALID, f"control numbers ISA13 {isa}, GS06 {gs}, ST02 {st}: X12 allows "
                                             "at most 9 digits")
    refs = {"ISA13": f"{isa:09d}", "GS06": str(gs), "ST02": f"{st:04d}"}
    message = Message(type=route.message, ref=refs["ST02"], version=route.version,
                      segments=[Segment("ST", [route.message, refs["ST02"]]), *body])
    group = Group(id=env.functional_id, control_ref=refs["GS06"], sender=env.group_sender,
                  recipient=env.group_recipient, version=route.version, header=Segment("GS", []),
                  messages=[message])
    group.message_count = 1
    ic = Interchange(syntax="x12", sender=env.sender, recipient=env.recipient, control_ref=refs["ISA13"],
                     sender_qualifier=env.sender_qualifier, recipient_qualifier=env.recipient_qualifier,
                     date=local.strftime("%Y%m%d"), time=local.strftime("%H%M"), syntax_id=env.isa_version,
                     test=env.test, ack_requested=env.ack_requested,
                     header=Segment("ISA", list(env.isa01_04)) if env.isa01_04 else None)
    group.interchange = ic
    ic.groups = [group]
    ic.messages = [message]
    delimiters = x12.choose_delimiters(env.isa_version, suffix="\n" if env.newline else "")
    return x12.write(ic, delimiters=delimiters), refs


def _xml(record: Mapping[str, Any], route: Route, fail) -> tuple[bytes, dict]:
    from lxml import etree

    namespaces = route.envelope.namespaces
    default = namespaces.get("")
    root_name = f"{{{default}}}{route.message}" if default else route.message
    nsmap = {(prefix or None): uri for prefix, uri in namespaces.items()}
    root = etree.Element(root_name, nsmap=nsmap)
    ctx = Ctx(node=root)
    route.body([record], ctx)
    if len(root) == 0 and not root.text:
        raise fail(E.EMPTY, "the template wrote no element for this event")
    etree.cleanup_namespaces(root)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data, {}
