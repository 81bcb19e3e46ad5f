"""MIME framing for AS2 on exact bytes: entities, multipart/signed, transfer encodings, the MIC.

Signatures and MICs are over bytes, so nothing here re-serialises a part it
read: parts are cut out of the received body exactly (RFC 2046 section 5.1.1:
the line break before a boundary delimiter belongs to the delimiter, not to
the part), and only header blocks go through the standard library's parser.
Entities the gateway writes use CRLF line ends and unfolded ASCII headers, so
their bytes are the canonical form that is signed (RFC 5751 section 3.1.1).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from adapters.as2 import smime
from adapters.as2.errors import UnsupportedFormat

CRLF = b"\r\n"


@dataclass(frozen=True)
class Mic:
    """A Message Integrity Check: the base64 digest and its algorithm (``sha-256``)."""

    digest: str
    algorithm: str

    @classmethod
    def of(cls, data: bytes, algorithm: str) -> Mic:
        return cls(base64.b64encode(smime.digest(data, algorithm)).decode("ascii"), smime.micalg_name(algorithm))

    @classmethod
    def parse(cls, value: str) -> Mic:
        """Read a ``Received-Content-MIC`` value: ``<base64>, sha-256``."""
        digest_value, sep, algorithm = value.partition(",")
        if not sep:
            raise ValueError(f"not a MIC: {value!r}")
        return cls(digest_value.strip(), algorithm.strip())

    def matches(self, other: Mic | None) -> bool:
        if other is None:
            return False
        try:
            same_alg = smime.digest_name(self.algorithm) == smime.digest_name(other.algorithm)
        except ValueError:
            return False
        return same_alg and self.digest.strip() == other.digest.strip()

    def __str__(self) -> str:
        return f"{self.digest}, {self.algorithm}"


@dataclass(frozen=True)
class Entity:
    """A MIME entity as received: its parsed headers, its raw body, and all of its bytes."""

    headers: Message
    body: bytes
    raw: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def param(self, name: str) -> str | None:
        value = self.headers.get_param(name, header="content-type")
        if value is None or isinstance(value, str):
            return value
        return str(value[2])  # an RFC 2231 tuple

    @property
    def transfer_encoding(self) -> str:
        return (self.headers.get("content-transfer-encoding") or "binary").strip().lower()

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone."""
        return decode_transfer(self.body, self.transfer_encoding)

    @property
    def filename(self) -> str | None:
        name = self.headers.get_filename()
        return name or self.param("name")


def _headers_message(block: bytes) -> Message:
    return BytesHeaderParser(policy=compat32).parsebytes(block + b"\r\n\r\n")


def parse_entity(raw: bytes) -> Entity:
    """Split ``raw`` into header block and body (at the first empty line, CRLF or LF)."""
    if raw.startswith(b"\r\n"):
        return Entity(_headers_message(b""), raw[2:], raw)
    if raw.startswith(b"\n"):
        return Entity(_headers_message(b""), raw[1:], raw)
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n")
    if crlf == -1 and lf == -1:
        raise UnsupportedFormat("a MIME part has no empty line between its headers and its body")
    if lf == -1 or (crlf != -1 and crlf < lf):
        head, body = raw[:crlf], raw[crlf + 4:]
    else:
        head, body = raw[:lf], raw[lf + 2:]
    return Entity(_headers_message(head), body, raw)


def http_entity(headers: Mapping[str, str], body: bytes) -> Entity:
    """The top entity of an HTTP request or response: its MIME headers and body."""
    message = Message()
    for name, value in headers.items():
        if name.lower().startswith("content-") or name.lower() == "mime-version":
            message[name] = value
    if not message.get("content-type"):
        raise UnsupportedFormat("the request has no Content-Type")
    return Entity(message, body, body)


def decode_transfer(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
        except binascii.Error as exc:
            raise UnsupportedFormat(f"invalid base64 content: {exc}") from None
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    if encoding in ("binary", "8bit", "7bit", ""):
        return body
    raise UnsupportedFormat(f"unknown Content-Transfer-Encoding {encoding!r}")


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF after each (RFC 2045)."""
    text = base64.b64encode(data)
    return b"".join(text[i:i + 76] + CRLF for i in range(0, len(text), 76))


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The exact bytes of each part of a multipart body.

    A part ends before the line break that precedes the next delimiter line
    (CRLF, or a bare LF from a careless sender). Preamble and epilogue are
    dropped. Raises :class:`UnsupportedFormat` when the closing delimiter is
    missing.
    """
    delimiter = b"--" + boundary.encode("ascii", "strict")
    pattern = re.compile(rb"(?:\A|\r\n|\n)" + re.escape(delimiter) + rb"(--)?[ \t]*(?:\r\n|\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in pattern.finditer(body):
        if start is not None:
            parts.append(body[start:match.start()])
        if match.group(1):  # the close delimiter
            return parts
        start = match.end()
    raise UnsupportedFormat(f"the multipart body has no closing boundary {boundary!r}")


def new_boundary() -> str:
    return f"----=_edigw_{uuid.uuid4().hex}"


def new_message_id(sender: str) -> str:
    """A fresh Message-ID: ``<uuid@host>``, the host part taken from ``sender`` where it can be."""
    host = re.sub(r"[^A-Za-z0-9.-]", "", sender) or "edigw"
    return f"<{uuid.uuid4()}@{host}>"


def build_entity(headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """Header lines (CRLF), an empty line, the body. Header values must be single-line ASCII."""
    lines = []
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} must be one line")
        lines.append(f"{name}: {value}".encode("ascii"))
    return CRLF.join(lines) + CRLF + CRLF + body


def build_multipart(parts: Iterable[bytes], boundary: str) -> bytes:
    """A multipart body: each part as given, framed by delimiter lines."""
    delimiter = b"--" + boundary.encode("ascii")
    out = bytearray()
    for part in parts:
        out += delimiter + CRLF + part + CRLF
    out += delimiter + b"--" + CRLF
    return bytes(out)


def split_headers(entity: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """An entity the gateway built, as (header list, body): for sending its headers over HTTP."""
    head, _, body = entity.partition(CRLF + CRLF)
    headers = []
    for line in head.split(CRLF):
        name, _, value = line.decode("ascii").partition(":")
        headers.append((name.strip(), value.strip()))
    return headers, body


def quote_param(value: str) -> str:
    """A MIME parameter value, quoted when it must be."""
    if re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
