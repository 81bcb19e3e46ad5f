"""Tell EDIFACT, X12 and XML apart from a document's first bytes."""

from __future__ import annotations

from gateway.errors import EdiSyntaxError
from gateway.model import Issue, Location

BOM = b"\xef\xbb\xbf"


def strip_leading(head: bytes) -> tuple[bytes, int]:
    """``head`` without a UTF-8 BOM and leading white space, and how much was dropped."""
    start = 3 if head.startswith(BOM) else 0
    while start < len(head) and head[start] in b" \t\r\n\x00":
        start += 1
    return head[start:], start


# UTF-16/32 byte-order marks and the first '<' in those encodings: only XML
# comes in them.
_WIDE_XML = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"<\x00", b"\x00<", b"\x00\x00\x00<", b"<\x00\x00\x00")


def sniff(head: bytes) -> str:
    """``"edifact"``, ``"x12"`` or ``"xml"``; :class:`EdiSyntaxError` otherwise."""
    if head.startswith(_WIDE_XML):
        return "xml"
    body, skipped = strip_leading(head)
    if not body:
        raise EdiSyntaxError(Issue("EMPTY_DOCUMENT", "the document is empty", Location(offset=0)))
    if body[:3] in (b"UNA", b"UNB"):
        return "edifact"
    if body[:3] == b"ISA" and len(body) > 3 and not body[3:4].isalnum():
        return "x12"
    if body[:1] == b"<":
        return "xml"
    shown = body[:20].decode("latin-1").encode("unicode_escape").decode("ascii")
    raise EdiSyntaxError(
        Issue(
            "NOT_EDI",
            f"input is not an EDIFACT (UNA/UNB), X12 (ISA) or XML document: it starts with '{shown}'",
            Location(offset=skipped, line=1),
        )
    )
