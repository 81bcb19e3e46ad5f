"""Readers and writers for EDIFACT, X12 and XML.

Every syntax module offers the same two calls:

* ``read(source, *, encoding=None, keep=False)`` – an iterator that yields each
  :class:`~gateway.model.Message` as soon as its trailer has been read, and each
  :class:`~gateway.model.Interchange` once its own trailer (or the end of the
  input) has been reached, with its issues complete. With ``keep=True`` the
  messages are also kept on their interchange and group (small documents, CLI);
  without it nothing but the current message is held (streaming).
* ``write(interchange, ...) -> bytes`` – the document, with counts and
  references computed (X12 and EDIFACT).

Problems that let reading go on are collected as :class:`~gateway.model.Issue`
records; a document that cannot be read at all raises
:class:`~gateway.errors.EdiSyntaxError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Union

from gateway.model import Interchange, Message
from gateway.syntax.sniff import sniff
from gateway.syntax.source import Source, peek

Item = Union[Message, Interchange]


def _module(syntax: str):
    # Imported lazily so that importing gateway.syntax stays cheap.
    if syntax == "edifact":
        from gateway.syntax import edifact as module
    elif syntax == "x12":
        from gateway.syntax import x12 as module
    elif syntax == "xml":
        from gateway.syntax import xml as module
    else:  # pragma: no cover - sniff only returns the three above
        raise ValueError(syntax)
    return module


def read(
    source: Source, *, encoding=None, keep: bool = False, xml: dict | None = None
) -> Iterator[Item]:
    """Sniff the syntax and read the document (see the module docstring).

    ``encoding`` is a codec name, or (EDIFACT only, whose character set varies
    per interchange) a function of the interchange returning one or None.
    ``xml`` holds options only the XML reader takes (``max_bytes``, ``schemas``).
    """
    head, source = peek(source)
    syntax = sniff(head)
    if callable(encoding) and syntax != "edifact":
        encoding = None  # X12 is ASCII by standard; XML declares its own
    extra = (xml or {}) if syntax == "xml" else {}
    return _module(syntax).read(source, encoding=encoding, keep=keep, **extra)


def parse(source: Source, *, encoding: str | None = None, xml: dict | None = None) -> list[Interchange]:
    """Read a whole (small) document and return its interchanges with their messages."""
    return [item for item in read(source, encoding=encoding, keep=True, xml=xml) if isinstance(item, Interchange)]
