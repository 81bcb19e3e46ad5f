"""Event values as the text of elements: dates, times, decimals, and the
character repertoires a partner's document can carry.

The mirror of :mod:`gateway.mapping.convert`: the same format names (EDIFACT
2379 codes 102, 203, ..., and CCYYMMDD, HHMM, ...), read backwards. Each
formatter takes the Avro-native value (``Decimal``, ``date``, aware
``datetime``, ``str``, ``int``) and returns text, or raises ``ValueError``
naming what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from gateway.mapping.convert import FORMATS

# Formats one value can be written in (718 is a period: two dates).
WRITABLE_FORMATS = frozenset(f for f in FORMATS if f != "718") | {"iso"}


def text_of(value) -> str:
    """The plain text of a value, as conditions compare it and as a bare path writes it."""
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, float):
        return plain_decimal(Decimal(repr(value)))
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def plain_decimal(value: Decimal) -> str:
    """Without exponent and without trailing zeros: 24.0000 -> 24, 12.7500 -> 12.75, 1E+2 -> 100."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimal(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{value!r} is not a number") from None


def number_formatter(decimals: int | None, implied: int | None) -> Callable[[object], str]:
    """Text of a number: plain, with exactly ``decimals`` decimals, or with ``implied`` decimals."""
    if implied is not None:
        def with_implied(value) -> str:
            number = _decimal(value)
            shifted = number.scaleb(implied)
            if shifted != shifted.to_integral_value():
                raise ValueError(f"{plain_decimal(number)} has more than {implied} decimals "
                                 f"(implied_decimals: {implied})")
            return str(int(shifted))

        return with_implied
    if decimals is not None:
        quantum = Decimal(1).scaleb(-decimals)

        def fixed(value) -> str:
            number = _decimal(value)
            rounded = number.quantize(quantum)
            if rounded != number:
                raise ValueError(f"{plain_decimal(number)} has more than {decimals} decimals (decimals: {decimals})")
            return format(rounded, "f")

        return fixed
    return lambda value: plain_decimal(_decimal(value))


def date_formatter(fmt: str, kind: str, zone: tzinfo) -> Callable[[object], str]:
    """Text of a date or timestamp in format ``fmt``; timestamps in ``zone`` (local time)."""
    if fmt == "iso":
        if kind == "date":
            return lambda value: value.isoformat()
        return lambda value: value.astimezone(zone).isoformat()
    pattern = FORMATS[fmt]
    if kind == "date":
        if pattern == "%Y%m%d":
            return lambda value: f"{value.year:04d}{value.month:02d}{value.day:02d}"
        return lambda value: datetime(value.year, value.month, value.day).strftime(pattern)

    def stamp(value: datetime) -> str:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(zone).strftime(pattern)

    return stamp


# -- character repertoires -------------------------------------------------------

# UN/ECE level A (ISO 9735): upper case, digits, space and 20 special characters.
# Level B (syntax identifier code list 0001): ISO 646 without the positions
# national variants reallocate (# $ @ [ \ ] ^ ` { | } ~).
_ISO646_VARIANT = "#$@[\\]^`{|}~"
_LEVEL_B = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in _ISO646_VARIANT)
_LEVEL_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>"
# X12.6 basic character set; the extended set adds lower case and the other printable ASCII.
_X12_BASIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"&'()*+,-./:;?="
_X12_EXTENDED = "".join(chr(c) for c in range(0x20, 0x7F))


def _outside(allowed: str) -> re.Pattern:
    return re.compile("[^" + re.escape(allowed) + "]")


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def repertoire(syntax: str, charset: str, codec: str | None) -> tuple[str, Callable[[str], str | None]]:
    """(a name for messages, a function returning the first character the document cannot carry, or None)."""
    if syntax == "edifact" and charset == "UNOA":
        bad = _outside(_LEVEL_A)
        return "UNOA (upper-case letters, digits, space and . , - ( ) / = ' + : ? ! \" % & * ; < >)", _first(bad)
    if syntax == "edifact" and charset == "UNOB":
        bad = _outside(_LEVEL_B)
        return "UNOB (ISO 646 without # $ @ [ \\ ] ^ ` { | } ~)", _first(bad)
    if syntax == "x12":
        if charset == "basic":
            return "the X12 basic character set (upper-case letters, digits, space and ! \" & ' ( ) * + , - . / : ; ? =)", \
                _first(_outside(_X12_BASIC))
        return "the X12 extended character set (printable ASCII)", _first(_outside(_X12_EXTENDED))
    if syntax == "xml":
        bad = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
        return "XML 1.0", _first(bad)
    name = f"{charset} ({codec})"

    def encodable(text: str) -> str | None:
        found = _CONTROL.search(text)
        if found:
            return found.group()
        try:
            text.encode(codec)  # type: ignore[arg-type]
        except UnicodeEncodeError as exc:
            return exc.object[exc.start]
        return None

    return name, encodable


def _first(pattern: re.Pattern) -> Callable[[str], str | None]:
    search = pattern.search

    def check(text: str) -> str | None:
        found = search(text)
        return found.group() if found else None

    return check


def shown(char: str) -> str:
    """A character as an error message shows it."""
    if char.isprintable() and char != " ":
        return f"'{char}' (U+{ord(char):04X})"
    return f"U+{ord(char):04X}"
