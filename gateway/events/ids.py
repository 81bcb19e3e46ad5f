"""Deterministic identifiers for events and dead letters.

An event's id is a name-based UUID (version 5) of where the event came from:
the partner, the interchange, the message and the event's position among the
events made from that message. Reading the same document twice therefore
gives the same ids, so a consumer can drop duplicates by ``event_id`` alone
(the Kafka sink is at-least-once: a publish retried after a timeout may write
an event twice).

The name hashed is ``"partner|interchange|message|index"``. A ``|`` or ``\\``
inside a part is escaped with a ``\\`` first, so two different tuples can never
give the same name (``("a|b", "c")`` vs ``("a", "b|c")``); parts without those
characters, which is every real control reference, hash exactly as written.
"""

from __future__ import annotations

import hashlib
import uuid

#: The namespace of every id the gateway makes. Drawn at random once for this
#: project; it must never change, since every event id would change with it.
EDIGW_NAMESPACE = uuid.UUID("4fec4a7b-11fa-4c90-9fcf-6c1cf43ca978")
_NAMESPACE_BYTES = EDIGW_NAMESPACE.bytes


def _part(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|")


def _name(*parts: object) -> str:
    return "|".join(_part(p) for p in parts)


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(EDIGW_NAMESPACE, name))`` without building UUID objects
    (a third of the time; every event pays it)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id(partner_id: str, interchange_ref: str, message_ref: str, index: int) -> str:
    """The id of the ``index``-th event (0-based) made from one message.

    >>> event_id("ACME", "000000101", "0001", 0) == event_id("ACME", "000000101", "0001", 0)
    True
    """
    name = f"{partner_id}|{interchange_ref}|{message_ref}|{index}"
    if "\\" in name or name.count("|") != 3:  # a part holds a "|" or a backslash: escape the parts
        name = _name(partner_id, interchange_ref, message_ref, index)
    return uuid5(name)


def dead_letter_id(receipt_id: str, stage: str, position: str | None = None) -> str:
    """The id of one failure: the received document, the stage that failed and where.

    The name is prefixed with ``dead-letter`` so that it can never equal an
    event id. ``position`` is the human position (``"line 3, segment 5 (UNT)"``)
    or a message reference; ``None`` for a failure of the document as a whole.
    """
    return str(uuid.uuid5(EDIGW_NAMESPACE, _name("dead-letter", receipt_id, stage, position or "")))
