"""Hardened intake of XML business documents (UBL 2.x, cXML, any other XML).

One XML document is one :class:`~gateway.model.Interchange` (``syntax="xml"``)
holding one :class:`XmlMessage`. :func:`read` yields the message, then the
interchange, like the EDIFACT and X12 readers do. The message carries the
parsed lxml tree (:attr:`XmlMessage.root`) so mapping code can run XPath on it;
it has no segments.

What is read from the document:

=============  ===========================================  =====================================
field          UBL (root in an ``urn:oasis:...:ubl:`` ns)   cXML (root ``cXML``)
=============  ===========================================  =====================================
type           root local name (``Order``, ``Invoice``)     first element under Request/Message/
                                                            Response (``OrderRequest``)
ref            ``cbc:ID`` directly under the root           ``payloadID`` attribute
version        ``cbc:UBLVersionID`` directly under the root ``version`` attribute, else the version
                                                            directory of the DOCTYPE system URL
                                                            (``.../cXML/1.2.050/cXML.dtd``)
sender /       ``""`` (party ids are document specific)    ``Header/From|To/Credential/Identity``
recipient                                                   (qualifier: the Credential ``domain``)
=============  ===========================================  =====================================

Any other XML document gets its root local name as type and empty ref/version.

Hardening choices
-----------------
XML intake faces the classic parser attacks; each is closed by more than one
mechanism, so that a change in one library default cannot reopen it:

* **No entity expansion, no external resources.** The lxml parser runs with
  ``resolve_entities=False``, ``load_dtd=False``, ``dtd_validation=False``,
  ``no_network=True`` and ``huge_tree=False``, and a resolver that serves
  nothing and records every URL libxml2 asks for. A document that declares
  any entity (internal or external, general or parameter: billion laughs,
  XXE to ``file:///etc/passwd``) is refused with ``XML_FORBIDDEN``:

  1. *before parsing*, by a scan of the prolog (the text before the root
     element) for ``<!ENTITY``, which refuses a billion-laughs document in
     microseconds without handing it to libxml2;
  2. *after parsing*, by inspecting the tree: entity declarations in
     ``docinfo.internalDTD``, unexpanded entity-reference nodes, references
     to entities that are declared nowhere we read (an external DTD that is
     deliberately not loaded), any resource the resolver was asked for, and
     libxml2's own amplification / entity-loop errors.

  A plain ``<!DOCTYPE cXML SYSTEM "http://...cXML.dtd">`` (every cXML
  document has one) is accepted: the DTD is simply never fetched.
* **The scanner and the parser see the same characters.** The reader decodes
  the bytes itself with Python's codecs (BOM, UTF-16/32 byte pattern,
  ``encoding=`` pseudo-attribute, or the ``encoding`` argument, in that order
  of precedence: argument first) and hands libxml2 UTF-8 with the encoding
  forced. There is no way to show the prolog scan one text and the parser
  another, and every encoding Python knows is accepted (except UTF-7, which is
  refused as a known filter-evasion vector).
* **Bounded input.** Bytes are pulled in chunks while libxml2 parses, and the
  document is refused with ``XML_TOO_LARGE`` as soon as more than
  ``max_bytes`` (default 50 MiB) have arrived, without reading the rest of
  the stream. libxml2's own limits stay on (``huge_tree=False``: nesting depth,
  text node and name lengths); exceeding one of them is also ``XML_TOO_LARGE``.
* **Schemas are local configuration.** Optional XSD validation loads each
  schema once per path (cached, validation serialised per schema because an
  lxml validator is not thread-safe), with the same no-network rules: an
  ``xs:import``/``xs:include`` of anything but a local file is a
  :class:`~gateway.errors.ConfigError`.

Errors
------
A document that cannot be read raises :class:`~gateway.errors.EdiSyntaxError`
with one issue: ``EMPTY_DOCUMENT``, ``NOT_EDI`` (no markup at all),
``CHARSET_UNKNOWN``, ``XML_TOO_LARGE``, ``XML_FORBIDDEN`` or ``XML_MALFORMED``
(line and byte offset in the :class:`~gateway.model.Location`, the column and
libxml2's message in the text). Schema violations do not stop reading: each
becomes an ``XML_SCHEMA_INVALID`` issue (with its line) on the message.

Nothing is read, parsed or loaded at import time.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Union
from urllib.parse import urlsplit

from lxml import etree

from gateway.errors import ConfigError, EdiSyntaxError
from gateway.model import Interchange, Issue, Location, Message
from gateway.syntax.source import CHUNK, Source

__all__ = [
    "CBC",
    "CAC",
    "DEFAULT_MAX",
    "MAX_SCHEMA_ISSUES",
    "UBL_NAMESPACES",
    "XmlMessage",
    "clear_schema_cache",
    "read",
]

DEFAULT_MAX = 50 * 1024 * 1024  # bytes; larger documents are refused (XML_TOO_LARGE)
MAX_SCHEMA_ISSUES = 100  # schema errors recorded per message; the rest are summarised

UBL_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
CBC = UBL_PREFIX + "CommonBasicComponents-2"
CAC = UBL_PREFIX + "CommonAggregateComponents-2"
#: Conventional prefixes for XPath on UBL documents, whatever prefixes they use.
UBL_NAMESPACES: dict[str, str] = {"cbc": CBC, "cac": CAC}

SchemaMap = Mapping[tuple[str, str], Union[str, "os.PathLike[str]"]]
Item = Union[Message, Interchange]


@dataclass(slots=True, eq=False)
class XmlMessage(Message):
    """A message read from an XML document: the model fields plus the parsed tree.

    ``segments`` is always empty. ``namespace`` is the root element's namespace
    URI (``""`` if none); ``namespaces`` maps the prefixes declared on the root
    to their URIs, ready for XPath (a default namespace has no prefix, so it is
    not in the map: use ``namespace``).
    """

    root: Any = None  # lxml.etree._Element
    namespace: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)

    def xpath(self, path: str, namespaces: Mapping[str, str] | None = None, **variables: Any) -> Any:
        """Run ``path`` on the root with the document's prefixes plus ``namespaces``.

        ``msg.xpath("/o:Order/cbc:ID/text()", {"o": msg.namespace, **UBL_NAMESPACES})``
        works whatever prefixes the sender used.
        """
        prefixes = dict(self.namespaces)
        if namespaces:
            prefixes.update(namespaces)
        return self.root.xpath(path, namespaces=prefixes, **variables)

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "type": self.type,
            "ref": self.ref,
            "version": self.version,
            "namespace": self.namespace,
        }
        if self.issues:
            out["issues"] = [i.to_json() for i in self.issues]
        return out


# ---------------------------------------------------------------------------
# reading


def read(
    source: Source,
    *,
    encoding: str | None = None,
    keep: bool = False,
    max_bytes: int = DEFAULT_MAX,
    schemas: SchemaMap | None = None,
) -> Iterator[Item]:
    """Read one XML document: yield its :class:`XmlMessage`, then its interchange.

    ``encoding`` (a Python codec name) overrides what the document declares.
    ``max_bytes`` bounds the input. ``schemas`` maps a root element's
    ``(namespace, local name)`` (``""`` for no namespace) to an ``.xsd`` path;
    a matching document is validated and each violation recorded as an
    ``XML_SCHEMA_INVALID`` issue on the message. With ``keep=True`` the message
    is also kept on ``interchange.messages``.
    """
    root, charset = _parse(source, encoding, max_bytes)
    message = _message(root)
    if schemas:
        message.issues.extend(_validate(root, message.namespace, schemas))
    interchange = _interchange(root, message, charset)
    message.interchange = interchange
    interchange.message_count = 1
    if keep:
        interchange.messages.append(message)
    yield message
    yield interchange


def _parse(source: Source, encoding: str | None, max_bytes: int) -> tuple[Any, str]:
    """Parse the document with every safeguard; the root element and the codec used."""
    intake = _Intake(source, encoding, max_bytes)
    intake.start()
    parser = etree.XMLParser(
        encoding="UTF-8",  # the intake always hands over UTF-8
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        no_network=True,
        huge_tree=False,
        recover=False,
        strip_cdata=True,
    )
    fetched = _NoFetch()
    parser.resolvers.add(fetched)
    try:
        tree = etree.parse(intake, parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, intake) from None
    _check_forbidden(tree, parser, fetched)
    return tree.getroot(), intake.codec


class _NoFetch(etree.Resolver):
    """Serves nothing and remembers what libxml2 wanted (any request is refused)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        self.urls.append(url or pubid or "?")
        # Not resolve_empty(): lxml treats that like "no answer" and libxml2 then
        # loads the resource itself. An empty string really serves nothing.
        return self.resolve_string("", context)


def _forbidden(text: str, location: Location | None = None) -> EdiSyntaxError:
    return EdiSyntaxError(Issue("XML_FORBIDDEN", text, location or Location()))


def _check_forbidden(tree: Any, parser: Any, fetched: _NoFetch) -> None:
    """The post-parse half of the entity defence (see the module docstring)."""
    if fetched.urls:
        raise _forbidden(
            f"the document refers to an external resource ({fetched.urls[0]}); nothing was loaded"
        )
    dtd = tree.docinfo.internalDTD
    if dtd is not None:
        for decl in dtd.iterentities():
            raise _forbidden(
                f"the DOCTYPE declares entity '{decl.name}'; entity declarations are not accepted"
            )
    for node in tree.getroot().iter(etree.Entity):
        raise _forbidden(
            f"the document references entity &{node.name}; which is not expanded",
            Location(line=node.sourceline),
        )
    undeclared = (etree.ErrorTypes.WAR_UNDECLARED_ENTITY, etree.ErrorTypes.ERR_UNDECLARED_ENTITY)
    for entry in parser.error_log:
        if entry.type in undeclared:
            raise _forbidden(
                f"{entry.message}: entities of an external DTD are not loaded", Location(line=entry.line)
            )


_POSITION_SUFFIX = re.compile(r",\s*line \d+, column \d+\s*$")
_AMPLIFICATION = re.compile(
    r"amplification|entity reference loop|entities loop|recursion|external entity", re.IGNORECASE
)
_LIMIT = re.compile(r"XML_PARSE_HUGE|Excessive depth|huge input|too long|too large", re.IGNORECASE)


def _syntax_error(exc: Any, intake: _Intake) -> EdiSyntaxError:
    """An lxml syntax error as an ``EdiSyntaxError`` with line, offset and column."""
    line, column = exc.position if exc.position else (0, 0)
    message = _POSITION_SUFFIX.sub("", (exc.msg or str(exc)).strip())
    if _AMPLIFICATION.search(message):
        code = "XML_FORBIDDEN"
    elif _LIMIT.search(message):
        code = "XML_TOO_LARGE"
    else:
        code = "XML_MALFORMED"
    where = f" (line {line}, column {column})" if line else ""
    location = Location(line=line or None, offset=intake.offset_of(line, column) if line else None)
    return EdiSyntaxError(Issue(code, f"{message}{where}", location))


# ---------------------------------------------------------------------------
# the byte intake: size limit, decoding, prolog scan, positions


class _Piece(NamedTuple):
    text: str  # decoded text
    start: int  # byte offset of its first character
    line: int  # line of its first character
    at_line_start: bool  # whether its first character starts a line


class _Intake:
    """What lxml pulls bytes from: bounded, decoded, prolog-checked, re-encoded as UTF-8.

    It keeps the last two decoded chunks so that a parser error's line and
    column can be turned back into a byte offset of the original document.
    """

    def __init__(self, source: Source, encoding: str | None, max_bytes: int) -> None:
        self._chunks = _bounded_chunks(source, max_bytes)
        self._encoding = encoding
        self.codec = "utf-8"
        self._bom = 0
        self._decoder: Any = None
        self._consumed = 0  # raw bytes handed to the decoder (BOM included)
        self._next_start = 0  # byte offset of the next decoded character
        self._line = 1
        self._at_line_start = True
        self._window: deque[_Piece] = deque(maxlen=2)
        self._buffer = b""
        self._pos = 0
        self._eof = False

    # -- set-up ---------------------------------------------------------
    def start(self) -> None:
        """Detect the encoding and check the prolog (before libxml2 sees a byte)."""
        head = b""
        while len(head) < 1024:
            block = self._next_chunk()
            if block is None:
                break
            head += block
        if not head.strip(b" \t\r\n\x00"):
            raise EdiSyntaxError(Issue("EMPTY_DOCUMENT", "the document is empty", Location(offset=0)))
        self.codec, self._bom = _choose_codec(head, self._encoding)
        self._decoder = codecs.getincrementaldecoder(self.codec)("strict")
        self._consumed = self._next_start = self._bom
        prolog = self._decode(head[self._bom :])
        while True:
            verdict, at = _scan_prolog(prolog, final=self._eof)
            if verdict is not _Verdict.MORE:
                break
            block = self._next_chunk()
            prolog += self._decode(block) if block is not None else self._decode(b"", final=True)
        if verdict is _Verdict.FORBIDDEN:
            line = prolog.count("\n", 0, at) + 1
            raise _forbidden(
                "the DOCTYPE declares entities (<!ENTITY ...>); entity declarations are not accepted",
                Location(line=line, offset=self._offset_in(prolog, at)),
            )
        if verdict is _Verdict.EMPTY:
            raise EdiSyntaxError(Issue("EMPTY_DOCUMENT", "the document is empty", Location(offset=0)))
        if verdict is _Verdict.NOT_XML:
            shown = prolog[at : at + 20].encode("unicode_escape").decode("ascii")
            raise EdiSyntaxError(
                Issue(
                    "NOT_EDI",
                    f"input is not an XML document: it starts with '{shown}'",
                    Location(line=prolog.count("\n", 0, at) + 1, offset=self._offset_in(prolog, at)),
                )
            )
        self._buffer = prolog.encode("utf-8")

    def _offset_in(self, prolog: str, index: int) -> int | None:
        """Byte offset of character ``index`` of the prolog (which starts the document)."""
        try:
            return self._bom + len(prolog[:index].encode(self.codec))
        except (UnicodeError, LookupError):  # pragma: no cover - codecs that do not round-trip
            return None

    # -- the file-like interface lxml uses ---------------------------------
    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buffer):
            if self._eof:
                return b""
            block = self._next_chunk()
            text = self._decode(block) if block is not None else self._decode(b"", final=True)
            self._buffer, self._pos = text.encode("utf-8"), 0
        if size is None or size < 0:
            size = len(self._buffer) - self._pos
        out = self._buffer[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    # -- internals --------------------------------------------------------
    def _next_chunk(self) -> bytes | None:
        if self._eof:
            return None
        block = next(self._chunks, None)
        if block is None:
            self._eof = True
        return block

    def _decode(self, data: bytes, final: bool = False) -> str:
        pending = _pending(self._decoder)
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            offset = self._consumed - pending + exc.start
            before = exc.object[: exc.start].decode(self.codec, "replace")
            line = self._line + before.count("\n")
            bad = exc.object[exc.start : exc.end].hex(" ")
            raise EdiSyntaxError(
                Issue(
                    "XML_MALFORMED",
                    f"bytes {bad} are not valid {self.codec} ({exc.reason}) at byte {offset}",
                    Location(line=line, offset=offset),
                )
            ) from None
        self._consumed += len(data)
        if text:
            self._window.append(_Piece(text, self._next_start, self._line, self._at_line_start))
            self._line += text.count("\n")
            self._at_line_start = text.endswith("\n")
        self._next_start = self._consumed - _pending(self._decoder)
        return text

    def offset_of(self, line: int, column: int) -> int | None:
        """Byte offset of (line, column) as libxml2 counts them, if still in the window."""
        if not self._window:
            return None
        first = self._window[0]
        text = "".join(piece.text for piece in self._window)
        if line < first.line or (line == first.line and not first.at_line_start):
            return None
        index = 0
        for _ in range(line - first.line):
            found = text.find("\n", index)
            if found < 0:
                return None
            index = found + 1
        index = min(index + max(column - 1, 0), len(text))
        try:
            return first.start + len(text[:index].encode(self.codec))
        except (UnicodeError, LookupError):  # pragma: no cover - codecs that do not round-trip
            return None


def _pending(decoder: Any) -> int:
    """How many undecoded bytes an incremental decoder is holding."""
    try:
        state = decoder.getstate()
    except (AttributeError, NotImplementedError):  # pragma: no cover - all stdlib decoders have it
        return 0
    buffered = state[0] if isinstance(state, tuple) and state else b""
    return len(buffered) if isinstance(buffered, (bytes, bytearray)) else 0


def _bounded_chunks(source: Source, max_bytes: int) -> Iterator[bytes]:
    """The source's bytes in chunks; ``XML_TOO_LARGE`` once more than ``max_bytes`` arrived.

    A stream is never read further than ``max_bytes + 1`` bytes.
    """

    def too_large() -> EdiSyntaxError:
        return EdiSyntaxError(
            Issue(
                "XML_TOO_LARGE",
                f"the XML document is larger than the limit of {max_bytes} bytes",
                Location(offset=max_bytes),
            )
        )

    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        if view.nbytes > max_bytes:
            raise too_large()
        for start in range(0, view.nbytes, CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    total = 0
    while True:
        block = source.read(min(CHUNK, max_bytes + 1 - total))
        if not block:
            return
        if not isinstance(block, (bytes, bytearray, memoryview)):
            raise TypeError("the XML reader needs a binary stream (open the file with 'rb')")
        total += len(block)
        if total > max_bytes:
            raise too_large()
        yield bytes(block)


# -- encoding -------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_DECLARED = re.compile(r"""\A<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._:\-]*)\1""")
_REFUSED_CODECS = {"utf-7"}


def _detect(head: bytes) -> tuple[str | None, int]:
    """Codec and BOM length from a byte-order mark or the UTF-16/32/EBCDIC byte pattern."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if len(head) >= 4 and head[:3] == b"\x00\x00\x00":
        return "utf-32-be", 0
    if len(head) >= 4 and head[0] and head[1:4] == b"\x00\x00\x00":
        return "utf-32-le", 0
    if len(head) >= 2 and head[0] == 0 and head[1]:
        return "utf-16-be", 0
    if len(head) >= 2 and head[0] and head[1] == 0:
        return "utf-16-le", 0
    if head.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        return "cp037", 0
    return None, 0


def _lookup(name: str, what: str) -> str:
    """The Python codec for ``name``; ``CHARSET_UNKNOWN`` / ``XML_FORBIDDEN`` otherwise."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise EdiSyntaxError(
            Issue(
                "CHARSET_UNKNOWN", f"{what} encoding '{name}' is not a known character encoding", Location()
            )
        )
    codec = "utf-8" if info.name == "utf-8-sig" else info.name
    if codec in _REFUSED_CODECS:
        raise _forbidden(f"{what} encoding '{name}' is not accepted (it can hide markup from filters)")
    return codec


def _choose_codec(head: bytes, override: str | None) -> tuple[str, int]:
    """The codec to decode with and how many BOM bytes to skip."""
    detected, bom = _detect(head)
    if override:
        codec = _lookup(override, "the requested")
        if codec in ("utf-16", "utf-32"):  # endianness from the BOM or the byte pattern
            codec = detected if detected and detected.startswith(codec) else codec + "-be"
        wide = codec.startswith(("utf-16", "utf-32"))
        if bom and (detected == codec or (detected == "utf-8" and not wide)):
            return codec, bom  # the BOM of the forced encoding, or a UTF-8 BOM before an 8-bit text
        return codec, 0
    if bom:
        return detected or "utf-8", bom
    if detected and detected != "cp037":
        return detected, 0  # UTF-16/32 without BOM: the declaration cannot say otherwise
    text = head[:1024].decode(detected or "latin-1", "replace")
    match = _DECLARED.match(text)
    if match is None:
        return detected or "utf-8", 0
    codec = _lookup(match.group(2), "the declared")
    declaration = head[: match.end()]
    if declaration.decode(codec, "replace") != text[: match.end()]:
        # Labelled UTF-16/32 (or any encoding the declaration itself is not
        # written in) while the bytes are 8-bit: trust the bytes, as libxml2 does.
        return detected or "utf-8", 0
    return codec, 0


# -- the prolog scan --------------------------------------------------------


class _Verdict:
    MORE = "more"  # the prolog is not complete yet
    ROOT = "root"  # the root element (or something for libxml2 to judge) starts here
    EMPTY = "empty"  # white space only
    NOT_XML = "not-xml"  # text that is no markup at all
    FORBIDDEN = "forbidden"  # an entity declaration


_ENTITY_DECL = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_SPACE = " \t\r\n"


def _scan_prolog(text: str, final: bool) -> tuple[str, int]:
    """Walk the prolog: XML declaration, PIs, comments and DOCTYPE (with its subset).

    Returns the verdict and the index it applies to. Anything this walk does
    not understand is left for libxml2 to reject; the point is only that no
    ``<!ENTITY`` reaches the parser.
    """
    i, n, seen = 0, len(text), False
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            if not final:
                return _Verdict.MORE, i
            return (_Verdict.ROOT if seen else _Verdict.EMPTY), i
        if text.startswith("<?", i):
            end, skip = text.find("?>", i + 2), 2
        elif text.startswith("<!--", i):
            end, skip = text.find("-->", i + 4), 3
        elif text.startswith("<!", i):
            if _ENTITY_DECL.match(text, i):
                return _Verdict.FORBIDDEN, i
            end, entity = _declaration_end(text, i)
            if entity >= 0:
                return _Verdict.FORBIDDEN, entity
            skip = 1
        elif text[i] == "<":
            return _Verdict.ROOT, i
        else:
            return (_Verdict.ROOT if seen else _Verdict.NOT_XML), i
        if end < 0:
            if not final:
                return _Verdict.MORE, i
            entity_match = _ENTITY_DECL.search(text, i)  # unterminated: be suspicious to the end
            if entity_match:
                return _Verdict.FORBIDDEN, entity_match.start()
            return _Verdict.ROOT, i
        i, seen = end + skip, True


def _declaration_end(text: str, start: int) -> tuple[int, int]:
    """For ``<!DOCTYPE ...>`` at ``start``: index of its closing ``>`` (-1: not yet there)
    and index of an entity declaration in its internal subset (-1: none)."""
    depth, quote, j, n = 0, "", start + 2, len(text)
    while j < n:
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(depth - 1, 0)
        elif c == ">" and depth == 0:
            return j, -1
        elif c == "<" and depth:
            if _ENTITY_DECL.match(text, j):
                return -1, j
            for opening, closing in (("<!--", "-->"), ("<?", "?>")):
                if text.startswith(opening, j):
                    k = text.find(closing, j + len(opening))
                    if k < 0:
                        return -1, -1
                    j = k + len(closing)
                    break
            else:
                j += 1
            continue
        j += 1
    return -1, -1


# ---------------------------------------------------------------------------
# the model


_CXML_VERSION = re.compile(r"/cXML/(\d+(?:\.\d+)+)/", re.IGNORECASE)


def _local(element: Any) -> str:
    return etree.QName(element).localname


def _child_text(parent: Any, tag: str) -> str:
    node = parent.find(tag)
    return (node.text or "").strip() if node is not None else ""


def _message(root: Any) -> XmlMessage:
    qname = etree.QName(root)
    namespace = qname.namespace or ""
    namespaces = {prefix: uri for prefix, uri in root.nsmap.items() if prefix}
    type_, ref, version = qname.localname, "", ""
    if namespace.startswith(UBL_PREFIX):
        ref = _child_text(root, f"{{{CBC}}}ID")
        version = _child_text(root, f"{{{CBC}}}UBLVersionID")
    elif not namespace and qname.localname == "cXML":
        type_ = _cxml_type(root)
        ref = (root.get("payloadID") or "").strip()
        version = (root.get("version") or "").strip()
        if not version:
            match = _CXML_VERSION.search(root.getroottree().docinfo.system_url or "")
            version = match.group(1) if match else ""
    return XmlMessage(
        type=type_,
        ref=ref,
        version=version,
        segments=[],
        root=root,
        namespace=namespace,
        namespaces=namespaces,
    )


def _cxml_type(root: Any) -> str:
    """The payload element's name: ``OrderRequest``, ``PunchOutOrderMessage``..."""
    for container in ("Request", "Message", "Response"):
        node = root.find(container)
        if node is None:
            continue
        for child in node:
            if isinstance(child.tag, str) and child.tag != "Status":
                return _local(child)
        return container
    return "cXML"


def _cxml_party(root: Any, which: str) -> tuple[str, str]:
    """(identity, domain) of the first credential of Header/From or Header/To."""
    credential = root.find(f"Header/{which}/Credential")
    if credential is None:
        return "", ""
    return _child_text(credential, "Identity"), (credential.get("domain") or "").strip()


def _interchange(root: Any, message: XmlMessage, charset: str) -> Interchange:
    sender = recipient = sender_q = recipient_q = ""
    test = False
    if not message.namespace and _local(root) == "cXML":
        sender, sender_q = _cxml_party(root, "From")
        recipient, recipient_q = _cxml_party(root, "To")
        for container in ("Request", "Message"):
            node = root.find(container)
            if node is not None and node.get("deploymentMode") == "test":
                test = True
    return Interchange(
        syntax="xml",
        sender=sender,
        recipient=recipient,
        control_ref=message.ref,
        sender_qualifier=sender_q,
        recipient_qualifier=recipient_q,
        charset=charset,
        test=test,
    )


# ---------------------------------------------------------------------------
# schemas


@dataclass(slots=True)
class _Schema:
    schema: Any  # lxml.etree.XMLSchema
    lock: threading.Lock


_SCHEMAS: dict[str, _Schema] = {}
_SCHEMAS_LOCK = threading.Lock()


def clear_schema_cache() -> None:
    """Forget every loaded schema (after the files changed, or in tests)."""
    with _SCHEMAS_LOCK:
        _SCHEMAS.clear()


def _schema(path: str | os.PathLike[str]) -> _Schema:
    key = os.path.realpath(os.fspath(path))
    with _SCHEMAS_LOCK:
        cached = _SCHEMAS.get(key)
        if cached is None:
            cached = _SCHEMAS[key] = _Schema(_load_schema(key), threading.Lock())
        return cached


class _LocalOnly(etree.Resolver):
    """Lets local files through (relative xs:include/xs:import) and refuses the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        scheme = urlsplit(url or "").scheme.lower()
        if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
            return None  # default loading of a local file
        self.refused.append(url)
        return self.resolve_string("", context)  # serve nothing (see _NoFetch)


def load_schema(path: str | os.PathLike[str]) -> None:
    """Load (and cache) the XSD at ``path`` now: a ConfigError names what is wrong with it."""
    _schema(path)


def _load_schema(path: str) -> Any:
    parser = etree.XMLParser(
        resolve_entities="internal",  # schemas are trusted local files; still nothing external
        load_dtd=False,
        no_network=True,
        huge_tree=False,
    )
    local = _LocalOnly()
    parser.resolvers.add(local)
    try:
        schema = etree.XMLSchema(etree.parse(path, parser))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        problem: str | None = str(exc)
    else:
        problem = None
    if local.refused:
        raise ConfigError(f"{path}: the XML schema refers to {local.refused[0]}; only local files are loaded")
    if problem is not None:
        raise ConfigError(f"{path}: cannot load the XML schema: {problem}")
    return schema


def _validate(root: Any, namespace: str, schemas: SchemaMap) -> list[Issue]:
    path = schemas.get((namespace, _local(root)))
    if path is None:
        return []
    cached = _schema(path)
    with cached.lock:
        valid = cached.schema.validate(root)
        errors = [] if valid else [e for e in cached.schema.error_log if e.level >= etree.ErrorLevels.ERROR]
    name = os.path.basename(os.fspath(path))
    issues = [
        Issue(
            "XML_SCHEMA_INVALID",
            f"{e.message}{f' (column {e.column})' if e.column else ''} [{name}]",
            Location(line=e.line or None),
        )
        for e in errors[:MAX_SCHEMA_ISSUES]
    ]
    if len(errors) > MAX_SCHEMA_ISSUES:
        issues.append(
            Issue(
                "XML_SCHEMA_INVALID",
                f"{len(errors) - MAX_SCHEMA_ISSUES} more schema errors not listed [{name}]",
                Location(),
            )
        )
    if not valid and not errors:  # pragma: no cover - libxml2 always logs why
        issues.append(Issue("XML_SCHEMA_INVALID", f"the document is not valid [{name}]", Location()))
    return issues
