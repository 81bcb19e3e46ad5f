"""ANSI X12 reader and writer.

Reading
=======

:func:`read` streams a document (``bytes`` or a binary stream, consumed in
1 MiB chunks) and yields every transaction set (ST..SE) as a
:class:`~gateway.model.Message` as soon as its SE has been read, then the
:class:`~gateway.model.Interchange` once its IEA (or the end of the input, or
the next ISA) has been reached. Envelope problems never stop the reader: they
are collected, all of them, as :class:`~gateway.model.Issue` records on the
message, group or interchange they belong to. Only input whose interchange
header cannot give the service characters raises
:class:`~gateway.errors.EdiSyntaxError`.

Service characters come from the ISA of each interchange: the element
separator is the byte after ``ISA``, the component separator is ISA16 (the
character after the 16th element separator), the segment terminator is the
character after ISA16, and ISA11 is the repetition separator when it is not a
letter, digit or space (``U`` in versions before 00402 means "no repetition").

Deviations that real partners send and that the reader tolerates:

* an ISA that is not 106 characters (unpadded fields): the separators are
  still found by counting element separators, and INTERCHANGE_HEADER_INVALID
  is reported, naming the elements whose widths are wrong;
* a UTF-8 byte-order mark and white space before the first ISA;
* CR/LF (and spaces) after each segment terminator, indentation before tags;
* a newline (LF, CR/LF or a bare CR) as the segment terminator itself;
* a multi-byte segment terminator (for example U+2026 ``…`` in UTF-8);
* documents hard-wrapped at a fixed width: when the terminator is not a line
  break, CR and LF inside a segment are removed (also inside the ISA);
* several interchanges in one input, each with its own service characters;
* TA1, ISB and ISE segments at interchange level (between ISA and GS or
  between groups): kept, in order, on ``Interchange.control_segments``;
* a repetition separator in ISA11 of versions before 00402;
* a last segment without a terminator at the end of the input.

Element shapes: a simple element is a ``str``; an element containing the
component separator is a ``list[str]``; an element containing the repetition
separator is a :class:`~gateway.model.Repeats`. The ISA itself is never split
(ISA11 and ISA16 *are* separators). ``BIN`` segments are read by their length
(BIN01): the data may contain any byte, including the terminator, and is
kept as a ``str`` decoded as Latin-1 (one character per byte).

Bytes are decoded per segment: ASCII when possible, else UTF-8 when valid,
else Latin-1, recording INVALID_CHARACTER (a warning) once per segment with
non-ASCII data. An explicit ``encoding`` (a partner override) is used as is.

After an IEA the interchange is held until the next segment is seen, so that
data following the trailer (TRAILING_DATA) is reported on it; another ISA or
the end of the input releases it.

Plain transaction sets (ASCII, one segment a line or no line breaks at all, no
component or repetition separator, no trailing element separator, only body
tags already seen) are cut in bulk, set by set (``_Reader._bulk_sets``); the
segment-by-segment loop takes over at anything else, so both read the same
(``tests/unit/test_x12_bulk.py`` compares them).

Writing
=======

:func:`write` builds the envelope from the model: a fixed-width ISA, then the
interchange's ``control_segments`` (TA1, ISB, ISE), GS/GE per group, ST/SE per
transaction set, with SE01, GE01 and IEA01 counted and
the trailer references copied from the headers. Trailing empty elements are
suppressed. A value containing a service character or a line break, or a
character the output encoding cannot carry, raises
:class:`~gateway.errors.EncodingError` naming the segment and the element.
:func:`choose_delimiters` picks the conventional service characters.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, count, repeat
from operator import add, length_hint
from sys import intern as _intern
from typing import Any, BinaryIO

from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import PLAIN_SEGMENT, BareSegment, Delimiters, Group, Interchange, Issue, Location, Message, Repeats, Segment
from gateway.syntax.refs import RefSet as _RefSet
from gateway.syntax.source import Source, chunks

# The reader's chunk: 256 KiB. Each chunk is decoded and split into a str per segment at once, which
# in Python objects is ~5 times its size: at 1 MiB that working set was ~7 MB of the service path's
# peak. Reading is no slower for it (the 20k-message bench file: 0.94 s CPU with 1 MiB chunks,
# 0.91 with 512 KiB, 0.90 with 256 KiB, 0.88 with 128 KiB; the split lists stay in the CPU caches).
CHUNK = 1 << 18

__all__ = ["read", "write", "choose_delimiters", "ISA_LENGTH", "ISA_WIDTHS"]

Item = Message | Interchange

#: Nominal length of the ISA segment, terminator included.
ISA_LENGTH = 106
#: Fixed widths of ISA01..ISA16.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)

_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n\x0b\x0c\x00"  # white space skipped before a segment tag
_WS_TEXT = _WS.decode("ascii")
_CRLF = (10, 13)
_ISA_WINDOW = 2048  # an ISA (even wrapped or padded oddly) ends within this many bytes
_TAG_RE = re.compile(r"[A-Z0-9]{2,3}")

# Segment kinds: 0 = ordinary, the others are handled by the envelope logic.
_ISA, _IEA, _GS, _GE, _ST, _SE, _BIN, _IC_LEVEL = 1, 2, 3, 4, 5, 6, 7, 8
_KINDS = {"ISA": _ISA, "IEA": _IEA, "GS": _GS, "GE": _GE, "ST": _ST, "SE": _SE, "BIN": _BIN}
_KINDS.update({"TA1": _IC_LEVEL, "ISB": _IC_LEVEL, "ISE": _IC_LEVEL})
_ENVELOPE_TAGS = frozenset(("ISA", "IEA", "GS", "GE", "ST", "SE"))
_CONTROL_TAGS = frozenset(("TA1", "ISB", "ISE"))


_DECIMAL = tuple(map(str, range(4096)))  # SE01 as it should read, for the usual set sizes
_BULK = True  # private switch: False reads every segment one by one (the tests compare both ways)


def _bulk(
    pieces: list[str], esep: str, canon: dict[str, str], idx: int, line: int, step: int, offset: int, tlen: int
) -> list[Segment]:
    """Segments for ``pieces``, each one whole segment with a known ordinary tag.

    The caller has checked the text of the pieces for anything that needs the
    segment-by-segment path (component or repetition separators, a trailing
    element separator, line breaks); a tag that is not in ``canon`` (white
    space before it, an empty piece, an envelope or unknown tag) raises
    KeyError, and nothing is kept then. The first segment is number ``idx + 1``
    on line ``line``; lines advance by ``step`` per segment (0 when the input
    has no line breaks), offsets by each piece's length plus ``tlen``.
    """
    # (Tags as canon[...]: a dict subscript is one specialised instruction, canon.get or a bound
    # __getitem__ a call.)
    if not PLAIN_SEGMENT:
        lines = count(line, step) if step else repeat(line)
        offsets = accumulate(map(add, map(len, pieces), repeat(tlen)), initial=offset)
        return [
            Segment(canon[(e := p.split(esep)).pop(0)], e, i, ln, o, p)
            for p, i, ln, o in zip(pieces, count(idx + 1), lines, offsets)
        ]
    bare = BareSegment
    out: list[Segment] = []
    append = out.append
    o = offset  # (a running sum here is cheaper than one made of itertools)
    if step and line == idx + 1:  # line and index agree (one segment a line from the start): one int for both
        for i, p in enumerate(pieces, line):
            e = p.split(esep)
            seg = bare()
            seg.tag = canon[e.pop(0)]
            seg.elements = e
            seg.index = seg.line = i
            seg.offset = o
            seg.text = p
            append(seg)
            o += len(p) + tlen
        return out
    for i, p in enumerate(pieces, idx + 1):
        e = p.split(esep)
        seg = bare()
        seg.tag = canon[e.pop(0)]
        seg.elements = e
        seg.index = i
        seg.line = line
        seg.offset = o
        seg.text = p
        append(seg)
        o += len(p) + tlen
        line += step
    return out


def _header_error(text: str, location: Location, *more: Issue) -> EdiSyntaxError:
    return EdiSyntaxError(Issue("INTERCHANGE_HEADER_INVALID", text, location), *more)


def _show(raw: bytes | str, limit: int = 30) -> str:
    """A short printable rendering of some input for an issue text."""
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    text = raw[:limit].encode("unicode_escape").decode("ascii")
    return text + ("..." if len(raw) > limit else "")


def _valid_date(value: str) -> bool:
    """CCYYMMDD or YYMMDD, a real calendar date."""
    if not value.isascii() or not value.isdigit() or len(value) not in (6, 8):
        return False
    year = int(value[:-4]) + (2000 if len(value) == 6 else 0)
    try:
        _dt.date(year, int(value[-4:-2]), int(value[-2:]))
    except ValueError:
        return False
    return True


def _valid_time(value: str) -> bool:
    """HHMM, HHMMSS, HHMMSSd or HHMMSSdd."""
    if not value.isascii() or not value.isdigit() or len(value) not in (4, 6, 7, 8):
        return False
    if int(value[0:2]) > 23 or int(value[2:4]) > 59:
        return False
    return len(value) == 4 or int(value[4:6]) <= 59


def _as_int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None




def _ascii_compatible(encoding: str) -> bool:
    probe = bytes(range(128))
    try:
        return probe.decode(encoding) == probe.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        return False


def _char_at(buf: bytes, p: int, encoding: str | None) -> tuple[str, bytes]:
    """The character starting at ``buf[p]`` and its bytes (UTF-8 aware)."""
    lead = buf[p]
    if lead < 0x80:
        return chr(lead), buf[p : p + 1]
    size = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1
    if size > 1 and (encoding is None or codecs.lookup(encoding).name == "utf-8"):
        raw = buf[p : p + size]
        try:
            return raw.decode("utf-8"), raw
        except UnicodeDecodeError:
            pass
    raw = buf[p : p + 1]
    return raw.decode(encoding or "latin-1", errors="replace"), raw


@dataclass(slots=True)
class _Header:
    """What the ISA gave: its segment, the service characters and where it ends."""

    segment: Segment
    end: int  # buffer position right after ISA16
    term: bytes  # the segment terminator as bytes
    term_char: str  # ... and as text
    element: str
    component: str
    repetition: str | None
    charset: str
    issues: list[Issue] = field(default_factory=list)


class _Reader:
    """One pass over one input: tokenizer plus envelope state."""

    def __init__(self, source: Source, encoding: str | None, keep: bool) -> None:
        self.source = source
        self.encoding = encoding
        self.codec = encoding or "ascii"
        self.keep = keep
        self.compatible = encoding is None or _ascii_compatible(encoding)
        # tokenizer state
        self.base = 0  # absolute offset of the current buffer's first byte
        self.line = 1  # line of the current buffer's first byte
        self.idx = 0  # segments read so far
        self.need = 1  # bytes wanted in the buffer before going on
        self.expect_header = True
        self.started = False
        self.term_b = b"~"
        self.term_s = "~"
        self.esep = "*"
        self.esep_b = b"*"
        self.csep = ">"
        self.rsep: str | None = None
        self.text_ok = True
        self.nl_term = False
        self.known: dict[str, int] = dict(_KINDS)
        self.canon: dict[str, str] = {t: t for t, k in _KINDS.items() if not k}
        # envelope state
        self.out: list[Item] = []
        self.ic: Interchange | None = None
        self.pending: Interchange | None = None  # after IEA, until the next segment shows
        self.trailing_reported = False
        self.group: Group | None = None
        self.last_group: Group | None = None
        self.msg: Message | None = None
        self.last_msg: Message | None = None
        self.cur: list[Segment] | None = None
        self.group_count = 0
        self.refs = _RefSet()
        self.charsets: set[str] = set()

    # -- driver ----------------------------------------------------------

    def run(self) -> Iterator[Item]:
        source = chunks(self.source, CHUNK)
        buf = b""
        eof = False
        while True:
            if not eof and len(buf) < self.need:
                pieces = [buf]
                have = len(buf)
                while have < self.need:
                    block = next(source, None)
                    if block is None:
                        eof = True
                        break
                    pieces.append(block)
                    have += len(block)
                buf = b"".join(pieces)
            if self.expect_header:
                used = self._header(buf, eof)
                if used < 0:  # the header needs more input
                    self.need = len(buf) + 1
                    continue
                buf = buf[used:]
                self.base += used
            used = yield from self._segments(buf, eof)
            if used:
                buf = buf[used:]
            if eof and not buf and not self.expect_header:
                break
            if eof and not self.expect_header and not buf.strip():
                break
        self._finish("the input ends")
        yield from self.out
        self.out.clear()

    # -- the interchange header ------------------------------------------

    def _header(self, buf: bytes, eof: bool) -> int:
        """Parse the ISA at the start of ``buf``; bytes used, or -1 for more input."""
        start = 0
        if not self.started:
            if buf.startswith(_BOM):
                start = 3
            elif len(buf) < 3 and not eof and _BOM.startswith(buf):
                return -1
            while start < len(buf) and buf[start] in _WS:
                start += 1
            if start >= len(buf):
                if not eof:
                    return -1
                raise EdiSyntaxError(Issue("EMPTY_DOCUMENT", "the document is empty", Location(offset=0)))
        if len(buf) - start < _ISA_WINDOW and not eof:
            return -1
        if not self.started:
            self.line += buf.count(b"\n", 0, start)
        offset = self.base + start
        where = Location(offset=offset, line=self.line, segment=self.idx + 1, tag="ISA")
        head = _parse_isa(buf, start, where, self.encoding)
        self.started = True
        self.expect_header = False
        self.idx += 1
        seg = head.segment
        self.line += buf.count(b"\n", start, head.end)
        # service characters for this interchange
        self.term_b = head.term
        self.term_s = head.term_char
        self.esep = head.element
        self.esep_b = head.element.encode("latin-1")
        self.csep = head.component
        self.rsep = head.repetition
        self.text_ok = self.compatible and head.term.isascii()
        self.nl_term = self.term_b in (b"\n", b"\r")
        self.known = dict(_KINDS)
        self.canon = {t: t for t, k in _KINDS.items() if not k}
        if head.charset != "ascii":
            self.charsets.add(head.charset)
        self._open_interchange(seg, head)
        self.need = 1
        return head.end

    # -- the tokenizer (hot loop) ----------------------------------------

    def _segments(self, buf: bytes, eof: bool) -> Generator[Item, None, int]:
        """Read the segments in ``buf``; returns how many bytes were used."""
        # Text mode (the whole buffer is ASCII) splits a str; otherwise bytes are
        # split and each segment decoded on its own. The same code serves both.
        text = self.text_ok and buf.isascii()
        data: Any
        term: Any
        LF: Any
        CR: Any
        EMPTY: Any
        WS: Any
        if text:
            data = buf.decode("ascii")
            term, LF, CR, EMPTY, WS = self.term_s, "\n", "\r", "", _WS_TEXT
        else:
            data = buf
            term, LF, CR, EMPTY, WS = self.term_b, b"\n", b"\r", b"", _WS
        nl_term = self.nl_term
        tnl = self.term_b.count(b"\n")
        has_cr = CR in data
        any_lf = LF in data
        split_on = term
        if any_lf and not nl_term:
            # The usual layout, one segment a line: when every line break directly
            # follows a terminator, split on "terminator + line break" and the
            # pieces need no white-space handling. (A line break at the very start
            # and a terminator at the very end are the two halves of a pair that
            # the chunking cut apart.)
            # (Checked on the pieces joined up again: a terminator, line break or CR left in them
            # is one that stands elsewhere. Two memchr scans of the joined text cost far less than
            # counting terminators, line breaks and pairs in the buffer, which this replaces.)
            pair = term + CR + LF if has_cr else term + LF
            parts = data.split(pair)
            rest = EMPTY.join(parts)
            lead = len(pair) - 1 if data.startswith(pair[1:]) else 0
            if (
                rest.find(LF, lead) < 0
                and rest.find(term, lead, len(rest) - (not eof and data.endswith(term))) < 0
                and (not has_cr or rest.find(CR, lead) < 0)
            ):
                split_on = pair
                tnl = 1
                any_lf = has_cr = False
            else:
                # can a line break stand inside a segment (rather than only right after a terminator)?
                any_lf = data.count(LF) != data.count(term + LF) + data.count(term + CR + LF)
                parts = data.split(split_on)
            del rest
        else:
            parts = data.split(split_on)
        if not eof:
            parts.pop()  # the unfinished tail stays in the buffer
        tlen = len(split_on)  # in bytes: text mode is ASCII only
        # The bulk path for the bodies of transaction sets (see _bulk): text without stray
        # line breaks or CRs, so that every piece is exactly one segment, as it stands.
        bulk = _BULK and text and not nl_term and not has_cr and not any_lf and (split_on is not term or LF not in data)
        LF0 = LF if text else 10
        k_isa, k_bin, k_st, k_se = _ISA, _BIN, _ST, _SE
        esep, csep, rsep = self.esep, self.csep, self.rsep
        has_rep = rsep is not None
        known = self.known
        canon = self.canon
        tag_ok = _TAG_RE.fullmatch
        codec = self.codec
        out = self.out
        cur = self.cur
        base = self.base
        line = self.line
        idx = self.idx
        pos = 0
        self.need = 1
        pit = iter(parts)
        if bulk and cur is not None:  # a transaction set goes on from the previous buffer
            pos, idx, line, cur = yield from self._bulk_sets(data, parts, pit, eof, split_on, pos, idx, line, cur)
        for part in pit:
            s = part.lstrip(WS)
            if not s:  # nothing but white space (or an empty segment)
                pos += len(part) + tlen
                line += part.count(LF) + tnl
                continue
            if s is part:  # nothing was stripped (str and bytes return themselves then)
                lead = 0
                first = line
                nl = 0
            else:
                lead = len(part) - len(s)
                # (usually a single line break after the terminator)
                nl = (1 if part[0] == LF0 else 0) if lead == 1 else part.count(LF, 0, lead)
                first = line + nl
            if any_lf and LF in s:
                nl += s.count(LF)
                if not nl_term:  # hard-wrapped: line breaks inside the segment are not data
                    s = s.replace(LF, EMPTY)
            if has_cr and CR in s:
                s = s.rstrip(CR) if nl_term else s.replace(CR, EMPTY)
            bad: tuple[str, str] | None = None
            if not text:
                try:
                    s = s.decode(codec)
                except UnicodeDecodeError:
                    s, bad = self._decode(s)
            elems = s.split(esep)
            tag = elems[0]
            idx += 1
            kind = known.get(tag)
            if kind is None:
                if tag_ok(tag):
                    known[tag] = kind = 0
                    # interned: the same string in every reader and as the code's literals, so that
                    # tag tuples and look-ups made elsewhere (validation's memo, mappings) compare
                    # by identity
                    canon[tag] = _intern(tag)
                elif s[:3] == "ISA" and not s[3:4].isalnum():
                    kind = k_isa
                else:
                    kind = -1
            if not kind:  # an ordinary segment: the hot path
                # one string per tag, shared by the segments (identity compares, cache-friendly)
                tag = canon[tag]
                if csep in s or (has_rep and rsep in s):
                    elems = self._structure(elems)
                del elems[0]
                seg = Segment(tag, elems, idx, first, pos + lead + base, s)
                if cur is not None:
                    cur.append(seg)
                else:
                    self._outside(seg)
                if s[-1] == esep and elems:
                    self._trailing(seg, s)
                if bad:
                    self._bad_characters(seg, bad)
                pos += len(part) + tlen
                line += nl + tnl
                continue
            if kind == k_isa:
                # a new interchange (its service characters may differ): re-read its header
                self._finish(f"another ISA starts at line {first}")
                if out:
                    yield from out
                    out.clear()
                self.expect_header = True
                self.need = 0
                self.line = first
                self.idx = idx - 1
                self.base = base + pos + lead
                return pos + lead
            if kind == k_bin:
                found = self._bin(buf, pos + lead, eof)
                if found is None:  # the binary data goes on in the next chunk
                    self.line = line
                    self.idx = idx - 1
                    self.base = base + pos
                    self.cur = cur
                    return pos
                elements, end, resume, problem = found
                seg = Segment("BIN", elements, idx, first, base + pos + lead)
                part_end = pos + len(part)
                while part_end < end:
                    nxt = next(pit, None)
                    if nxt is None:
                        break
                    part_end += tlen + len(nxt)
                if part_end == end:  # the pieces line up again after the data
                    resume = end + tlen
                line += buf.count(b"\n", pos, resume)
                pos = resume
                if cur is not None:
                    cur.append(seg)
                else:
                    self._outside(seg)
                if problem:
                    self._segment_issue(seg, "BINARY_LENGTH_INVALID", problem, element=1)
                if part_end != end:  # the data ended inside a piece: split again from here
                    self.line = line
                    self.idx = idx
                    self.base = base + pos
                    self.need = 0
                    self.cur = cur
                    return min(pos, len(buf))
                continue
            if csep in s or (has_rep and rsep in s):
                elems = self._structure(elems)
            del elems[0]
            if kind > 0:  # interned too: the same strings as the bulk path's literal "ST" and "SE"
                tag = _intern(tag)
            seg = Segment(tag, elems, idx, first, base + pos + lead, s)
            if kind == -1:
                if cur is not None:
                    cur.append(seg)
                else:
                    self._outside(seg)
                if self.ic is not None:  # (after the IEA it is reported as TRAILING_DATA)
                    self._segment_issue(seg, "SEGMENT_TAG_INVALID", f"'{_show(tag)}' is not a segment tag")
            else:
                self.cur = cur
                if kind == k_st:
                    self._st(seg)
                elif kind == k_se:
                    self._se(seg)
                else:
                    self._envelope(kind, seg)
                cur = self.cur
            if s[-1] == esep and elems:
                self._trailing(seg, s)
            if bad:
                self._bad_characters(seg, bad)
            if out:
                yield from out
                out.clear()
            pos += len(part) + tlen
            line += nl + tnl
            if bulk and kind == k_st and cur is not None:
                # a transaction set has begun: read on set by set while nothing unusual shows
                pos, idx, line, cur = yield from self._bulk_sets(data, parts, pit, eof, split_on, pos, idx, line, cur)
        self.cur = cur
        self.line = line
        self.idx = idx
        used = min(pos, len(buf))
        self.base = base + used
        if not eof:
            tail = len(buf) - used
            # an unfinished segment longer than a chunk: grow geometrically, not chunk by chunk
            self.need = tail + 1 if tail < CHUNK else 2 * tail
        return used

    def _bulk_sets(
        self, data: str, parts: list[str], pit: Any, eof: bool, split_on: str,
        pos: int, idx: int, line: int, cur: list[Segment],
    ) -> Generator[Item, None, tuple[int, int, int, list[Segment] | None]]:
        """Read transaction sets in bulk, from inside an open one (``cur``), while they are plain.

        ``_segments`` calls this in text mode when every piece of ``parts`` (the
        buffer ``data`` split on ``split_on``) is one whole segment as it stands
        (no line break or CR anywhere but in ``split_on``). ``pos`` is where
        the next piece (``pit``'s next item) starts in ``data``. A set is taken
        in one go, ST (but for the first), body and SE, when its text holds no
        component or repetition separator and no trailing element separator and
        each body tag is an ordinary one already known (:func:`_bulk`); the ST
        and SE get the same checks as in ``_st`` and ``_se`` (which take over
        whenever those checks find anything). At the first thing that does not
        fit, this stops before it and returns (pos, idx, line, cur): the
        segment-by-segment loop reads on from there, so the result is the same.
        """
        esep, csep, rsep = self.esep, self.csep, self.rsep
        tlen = len(split_on)
        step = 1 if tlen > len(self.term_s) else 0  # lines per segment
        se_tag = "SE" + esep
        se_key = split_on + se_tag
        guess = 0  # body segments of the last set
        st_key = "ST" + esep
        trail_key = esep + split_on
        canon = self.canon
        base = self.base
        out = self.out
        keep = self.keep
        find = data.find
        size = len(data)
        nxt = len(parts) - length_hint(pit)  # the index of the next piece
        at_st = False  # the next piece is an ST (else: the body of the open set, cur)
        msg = self.msg
        # (the group, interchange and control numbers stay the same here: the loop stops at any
        # segment but ST, SE and the body's, and _st and _se do not change them)
        group = self.group
        ic = self.ic
        version = group.version if group is not None else ""
        add_ref = self.refs.add
        # Where the next component separator, repetition separator and trailing element separator
        # (one before a terminator) stand, from pos on: a set is taken in bulk only when it ends
        # before all three. The separators are single characters, found by memchr, so their
        # first places are looked up once here; the trailing separator is looked for as the sets
        # go, in a window that doubles each time it runs out (size + 1: none).
        c_at = find(csep, pos)
        c_at = c_at if c_at >= 0 else size + 1
        r_at = find(rsep, pos) if rsep is not None else -1
        r_at = r_at if r_at >= 0 else size + 1
        t_lim = t_stop = -1
        window = 1 << 14
        while True:
            if at_st:
                st_piece = parts[nxt]
                st_at = pos
                body = pos + len(st_piece) + tlen
            else:
                st_at = -1  # the set began in an earlier buffer: no text of the whole set
                body = pos
            first = nxt + at_st  # the body's first piece
            # Sets of a document tend to have the same number of segments: when the piece where the
            # last set's length puts the SE is an SE, the body is the pieces before it (they are
            # all ordinary tags, _bulk checks, so no SE comes earlier), and nothing is scanned.
            se_i = first + guess
            spec = se_i < len(parts) and parts[se_i].startswith(se_tag)
            if spec:
                n = guess
                has_se = True
            else:
                q = find(se_key, body - tlen if body >= tlen else 0)  # where the SE's piece starts, less tlen
                if q < 0:
                    n = len(parts) - first
                    if eof or not n:
                        break
                    # the set goes on in the next buffer: its segments up to this buffer's end
                    end = q = data.rfind(split_on)
                    has_se = False
                else:
                    n = guess = data.count(split_on, body, q) + 1 if q >= body else 0
                    end = find(split_on, q + tlen)  # the SE's end
                    has_se = True
                    if end < 0:
                        if eof:
                            end = size
                        else:  # the SE is unfinished: the body only
                            end = q
                            has_se = False
            if n:
                try:
                    segs = _bulk(parts[first : first + n], esep, canon, idx + at_st, line + at_st * step, step,
                                 base + body, tlen)  # fmt: skip
                except KeyError:  # a tag that is not an ordinary known one (or white space, or nothing)
                    break
            if spec:
                if n:
                    last = segs[-1]
                    q = last.offset - base + len(last.text)
                else:
                    q = body - tlen
                end = q + tlen + len(parts[se_i])
            # (pos is at the ST, when there is one: it is checked with its set)
            if c_at < end or r_at < end or data[end - 1 : end] == esep:
                break
            if end > t_lim:  # the scan for a trailing separator has not got this far yet
                t_lim = max(end, pos + window)
                window *= 2
                t_at = find(trail_key, pos, t_lim)
                t_stop = t_at + len(trail_key) if t_at >= 0 else size + 1
            if t_stop <= end:
                break
            if at_st:
                elems = st_piece.split(esep)
                del elems[0]
                idx += 1
                seg = Segment("ST", elems, idx, line, base + pos, st_piece)
                if len(elems) == 2 and elems[0] and elems[1] and group is not None:  # _st, without issues
                    st02 = elems[1]
                    msg = Message(elems[0], st02, version, [seg], ic, group)  # (by position: cheaper)
                    group.message_count += 1
                    if not add_ref(st02):
                        self._duplicate_ref(msg, seg, st02, group)
                    if keep:
                        group.messages.append(msg)
                        ic.messages.append(msg)  # type: ignore[union-attr]
                    ic.message_count += 1  # type: ignore[union-attr]
                    self.msg = msg
                    cur = msg.segments
                else:
                    self._st(seg)
                    msg = self.msg
                    cur = self.cur
                line += step
                nxt += 1
                at_st = False
                pos = body
            if n:
                cur.extend(segs)
                idx += n
                line += n * step
                nxt += n
                pos = q + tlen
            if not has_se:
                break
            # the SE
            piece = parts[nxt]
            elems = piece.split(esep)
            del elems[0]
            idx += 1
            seg = Segment("SE", elems, idx, line, base + pos, piece)
            k = len(cur) + 1
            if len(elems) == 2 and elems[1] == msg.ref and elems[0] == (_DECIMAL[k] if k < 4096 else str(k)):
                # (_se, without issues)
                cur.append(seg)
                if st_at >= 0:
                    msg.text = data[st_at:end]
                self.last_msg = msg
                self.msg = None
                yield msg
            else:
                self._se(seg)
                if out:
                    yield from out
                    out.clear()
            cur = None
            line += step
            pos = end + tlen
            nxt += 1
            if nxt == len(parts) or not data.startswith(st_key, pos):
                break
            at_st = True  # read with the next set's body, in the next round
        pit.__setstate__(nxt)
        self.cur = cur
        return pos, idx, line, cur

    def _decode(self, raw: bytes) -> tuple[str, tuple[str, str]]:
        """Decode a segment the fast codec cannot; also (issue text, codec used)."""
        if self.encoding is not None:
            text = raw.decode(self.encoding, errors="replace")
            return text, (f"bytes not valid in {self.encoding} were replaced", self.encoding)
        try:
            text = raw.decode("utf-8")
            codec, how = "utf-8", "read as UTF-8"
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
            codec, how = "latin-1", "read as Latin-1"
        odd = next(c for c in text if ord(c) > 127)
        return text, (f"non-ASCII data ('{_show(odd)}'), {how}", codec)

    def _bad_characters(self, seg: Segment, bad: tuple[str, str]) -> None:
        if self.ic is not None:
            self.charsets.add(bad[1])
            self._segment_issue(seg, "INVALID_CHARACTER", bad[0])

    def _text(self, value: object) -> str:
        """An element as the text it was written as (composites joined back)."""
        if isinstance(value, str):
            return value
        if isinstance(value, Repeats):
            return (self.rsep or "").join(self._text(v) for v in value)
        if isinstance(value, list):
            return self.csep.join(value)
        return str(value)

    def _structure(self, elems: list) -> list:
        """Split composites and repetitions (element 0 is the tag)."""
        csep, rsep = self.csep, self.rsep
        for i in range(1, len(elems)):
            value = elems[i]
            if rsep is not None and rsep in value:
                elems[i] = Repeats(v.split(csep) if csep in v else v for v in value.split(rsep))
            elif csep in value:
                elems[i] = value.split(csep)
        return elems

    def _bin(self, buf: bytes, start: int, eof: bool) -> tuple[list, int, int, str | None] | None:
        """Read a BIN segment starting at ``buf[start]`` by its length.

        Returns (elements, end of the segment, where the next segment starts,
        problem text or None), or None when more input is needed.
        """
        term = self.term_b
        tlen = len(term)
        size = len(buf)
        p1 = start + 4
        stop = buf.find(term, start, p1 + 24)
        p2 = buf.find(self.esep_b, p1, stop if stop >= 0 else p1 + 24)
        if buf[start + 3 : p1] != self.esep_b:  # a bare "BIN" without elements
            p1 = p2 = start + 3
        length = buf[p1:p2] if p2 >= 0 else b""
        if p2 >= 0 and length.isdigit():
            data_start = p2 + 1
            data_end = data_start + int(length)
            if data_end + tlen > size and not eof:
                self.need = data_end + tlen - start + 1
                return None
            if buf.startswith(term, data_end) or (eof and data_end == size):
                data = buf[data_start:data_end].decode("latin-1")
                return [length.decode("ascii"), data], data_end, data_end + tlen, None
            after = _show(buf[data_end : data_end + 12])
            problem = (
                f"BIN01 says {int(length)} bytes of data, but byte {int(length) + 1} is '{after}', "
                "not the segment terminator"
            )
            search = data_end
        else:
            shown = _show(buf[p1 : p2 if p2 >= 0 else p1 + 12])
            problem = f"BIN01 '{shown}' is not a number of bytes"
            data_start = p2 + 1 if p2 >= 0 else p1
            search = p1
        end = buf.find(term, search)
        if end < 0:
            if not eof:
                self.need = size - start + CHUNK
                return None
            end = size
        if p2 < 0:
            return [buf[p1:end].decode("latin-1")], end, end + tlen, problem
        first = buf[p1:p2].decode("latin-1")
        return [first, buf[data_start:end].decode("latin-1")], end, end + tlen, problem

    # -- issues ----------------------------------------------------------

    def _segment_issue(self, seg: Segment, code: str, text: str, **more: int) -> None:
        """File a segment-level issue where the segment ended up.

        Nothing is filed for data after an IEA: TRAILING_DATA already says it.
        """
        target = self.ic
        if target is None:
            if self.pending is None or seg is not self.pending.trailer:
                return
            target = self.pending  # the IEA itself
        for msg in (self.msg, self.last_msg):
            if msg is not None and msg.segments and msg.segments[-1] is seg:
                msg.issues.append(Issue(code, text, Location.of(seg, message_segment=len(msg.segments), **more)))
                return
        if seg.tag in ("GS", "GE") and self.last_group is not None:
            self.last_group.issues.append(Issue(code, text, Location.of(seg, **more)))
            return
        target.issues.append(Issue(code, text, Location.of(seg, **more)))

    def _trailing(self, seg: Segment, s: str) -> None:
        empty = len(s) - len(s.rstrip(self.esep))
        self._segment_issue(
            seg,
            "TRAILING_SEPARATOR",
            f"{seg.tag} ends with {empty} empty element{'s' if empty > 1 else ''}",
            element=len(seg.elements),
        )

    def _outside(self, seg: Segment) -> None:
        """A segment that is neither in a transaction set nor an envelope segment."""
        if self.ic is None:
            if self.pending is not None and not self.trailing_reported:
                self.trailing_reported = True
                self.pending.issues.append(Issue.at(
                    "TRAILING_DATA",
                    f"'{_show(seg.tag)}' follows the IEA of interchange {self.pending.control_ref}",
                    seg,
                ))
            return
        where = "a functional group but outside a transaction set" if self.group else "no functional group"
        self.ic.issues.append(Issue("SEGMENT_OUTSIDE_ENVELOPE", f"{seg.tag} is in {where}", Location.of(seg)))

    # -- the envelope ----------------------------------------------------

    def _open_interchange(self, isa: Segment, head: _Header) -> None:
        e = isa.elements
        ic = Interchange(
            syntax="x12",
            sender=e[5].strip(),
            recipient=e[7].strip(),
            control_ref=e[12].strip(),
            header=isa,
            sender_qualifier=e[4].strip(),
            recipient_qualifier=e[6].strip(),
            date=e[8].strip(),
            time=e[9].strip(),
            syntax_id=e[11].strip(),
            charset=self.encoding or head.charset,
            test=e[14].strip() == "T",
            ack_requested=e[13].strip() == "1",
            delimiters=Delimiters(head.term_char, head.element, head.component, head.repetition),
            offset=isa.offset,
        )
        ic.issues.extend(head.issues)
        ctrl = e[12]
        if not (len(ctrl) == 9 and ctrl.isascii() and ctrl.isdigit()):
            ic.issues.append(Issue.at(
                "ENVELOPE_ELEMENT_INVALID",
                f"ISA13 '{_show(ctrl)}' is not a 9-digit control number",
                isa, element=13,
            ))
        self.ic = ic
        self.group = None
        self.msg = None
        self.cur = None
        self.group_count = 0

    def _finish(self, why: str) -> None:
        """Release the current interchange (closing what is open) or the one after its IEA."""
        if self.ic is not None:
            self._close_open(why)
            ic = self.ic
            ic.issues.append(Issue.at(
                "INTERCHANGE_TRAILER_MISSING",
                f"interchange {ic.control_ref} has no IEA: {why}",
                ic.header, element=13,
            ))
            self._release(ic)
            self.ic = None
        elif self.pending is not None:
            self._release(self.pending)
        self.pending = None

    def _release(self, ic: Interchange) -> None:
        if not self.encoding and self.charsets:
            ic.charset = "latin-1" if "latin-1" in self.charsets else "utf-8"
        self.charsets = set()
        self.out.append(ic)

    def _close_open(self, why: str) -> None:
        """Close an unterminated transaction set and group."""
        if self.msg is not None:
            self._close_open_message(why)
        if self.group is not None:
            group = self.group
            group.issues.append(Issue.at(
                "GROUP_TRAILER_MISSING",
                f"functional group {group.control_ref} has no GE: {why}",
                group.header, element=6,
            ))
            self.group = None

    def _envelope(self, kind: int, seg: Segment) -> None:
        if self.ic is None:
            self._outside(seg)
        elif kind == _ST:
            self._st(seg)
        elif kind == _SE:
            self._se(seg)
        elif kind == _GS:
            self._gs(seg)
        elif kind == _GE:
            self._ge(seg)
        elif kind == _IEA:
            self._iea(seg)
        elif kind == _IC_LEVEL:
            if self.cur is not None:
                self.cur.append(seg)
            elif self.group is not None:
                self._outside(seg)
            else:  # TA1/ISB/ISE at interchange level are allowed, and kept
                self.ic.control_segments.append(seg)

    def _texts(self, seg: Segment, count: int) -> list[str]:
        """The first ``count`` elements of ``seg`` as text (absent ones are "")."""
        values = seg.elements[:count]
        for i, value in enumerate(values):
            if value.__class__ is not str:
                values[i] = self._text(value)
        if len(values) < count:
            values += [""] * (count - len(values))
        return values

    def _st(self, seg: Segment) -> None:
        ic = self.ic
        if ic is None:
            self._outside(seg)
            return
        if self.msg is not None:
            self._close_open_message(f"ST {self._text(seg[2])} starts at line {seg.line}")
        group = self.group
        el = seg.elements
        if len(el) == 2 and el[0].__class__ is str and el[1].__class__ is str:
            st01, st02 = el
            st03 = ""
        else:
            st01, st02, st03 = self._texts(seg, 3)
        version = (group.version if group is not None else "") or st03
        msg = Message(type=st01, ref=st02, version=version, segments=[seg], interchange=ic, group=group)
        if not st01 or not st02:
            missing = "ST01 (transaction set identifier)" if not st01 else "ST02 (control number)"
            msg.issues.append(Issue.at(
                "MESSAGE_HEADER_INVALID",
                f"ST has no {missing}",
                seg, element=1 if not st01 else 2, message_segment=1,
            ))
        if group is None:
            ic.issues.append(Issue.at(
                "SEGMENT_OUTSIDE_ENVELOPE",
                f"transaction set {st01} {st02} is not inside a functional group (no GS before it)",
                seg,
            ))
        else:
            group.message_count += 1
            if st02 and not self.refs.add(st02):
                self._duplicate_ref(msg, seg, st02, group)
            if self.keep:
                group.messages.append(msg)
        ic.message_count += 1
        if self.keep:
            ic.messages.append(msg)
        self.msg = msg
        self.cur = msg.segments

    def _duplicate_ref(self, msg: Message, seg: Segment, st02: str, group: Group) -> None:
        msg.issues.append(Issue.at(
            "MESSAGE_REF_DUPLICATE",
            f"ST02 '{st02}' is used twice in group {group.control_ref}",
            seg, element=2, message_segment=1,
        ))

    def _close_open_message(self, why: str) -> None:
        msg = self.msg
        assert msg is not None
        msg.issues.append(Issue.at(
            "MESSAGE_TRAILER_MISSING",
            f"transaction set {msg.type} {msg.ref} has no SE: {why}",
            msg.segments[0], element=2, message_segment=1,
        ))
        self.out.append(msg)
        self.last_msg = msg
        self.msg = None
        self.cur = None

    def _se(self, seg: Segment) -> None:
        msg = self.msg
        if msg is None:
            self._outside(seg)
            return
        segments = msg.segments
        segments.append(seg)
        count = len(segments)
        el = seg.elements
        if len(el) == 2 and el[0].__class__ is str and el[1].__class__ is str:
            se01, se02 = el
        else:
            se01, se02 = self._texts(seg, 2)
        if se01 != str(count) and _as_int(se01) != count:
            said = _as_int(se01)
            shown = f"says {said} segments" if said is not None else f"'{_show(se01)}' is not a segment count"
            msg.issues.append(Issue.at(
                "MESSAGE_SEGMENT_COUNT_MISMATCH",
                f"SE01 {shown}, the set has {count}",
                seg, element=1, message_segment=count,
            ))
        if se02 != msg.ref:
            msg.issues.append(Issue.at(
                "MESSAGE_REF_MISMATCH",
                f"SE02 '{_show(se02)}' differs from ST02 '{_show(msg.ref)}'",
                seg, element=2, message_segment=count,
            ))
        self.out.append(msg)
        self.last_msg = msg
        self.msg = None
        self.cur = None

    def _gs(self, seg: Segment) -> None:
        why = f"GS starts at line {seg.line}"
        if self.msg is not None:
            self._close_open_message(why)
        if self.group is not None:
            self._close_open(why)
        ic = self.ic
        assert ic is not None
        e = self._texts(seg, 8)
        group = Group(id=e[0], control_ref=e[5], sender=e[1], recipient=e[2], version=e[7], header=seg, interchange=ic)
        ic.groups.append(group)
        self.group_count += 1
        issues = group.issues
        if len(seg.elements) < 8 or not e[0]:
            issues.append(Issue.at(
                "GROUP_HEADER_INVALID",
                f"GS has {len(seg.elements)} elements, GS01 to GS08 are required",
                seg, element=max(1, len(seg.elements)),
            ))
        if not _valid_date(e[3]):
            issues.append(Issue.at(
                "ELEMENT_DATE_INVALID",
                f"GS04 '{_show(e[3])}' is not a CCYYMMDD date",
                seg, element=4,
            ))
        if not _valid_time(e[4]):
            issues.append(Issue.at(
                "ELEMENT_TIME_INVALID",
                f"GS05 '{_show(e[4])}' is not a HHMM[SS[dd]] time",
                seg, element=5,
            ))
        self._control_number(seg, 6, e[5], issues)
        self.group = group
        self.last_group = group
        self.refs = _RefSet()

    def _control_number(self, seg: Segment, position: int, value: str, issues: list[Issue]) -> None:
        name = f"{seg.tag}{position:02d}"
        if not (value.isascii() and value.isdigit()):
            issues.append(Issue.at(
                "ELEMENT_NOT_NUMERIC",
                f"{name} '{_show(value)}' is not a numeric control number",
                seg, element=position,
            ))
        if len(value) > 9:
            issues.append(Issue.at(
                "ELEMENT_TOO_LONG",
                f"{name} '{_show(value)}' has {len(value)} characters, at most 9 are allowed",
                seg, element=position,
            ))

    def _ge(self, seg: Segment) -> None:
        if self.msg is not None:
            self._close_open_message(f"GE at line {seg.line}")
        group = self.group
        if group is None:
            self._outside(seg)
            return
        group.trailer = seg
        ge01, ge02 = self._texts(seg, 2)
        said = _as_int(ge01)
        if said != group.message_count:
            shown = f"says {said} transaction sets" if said is not None else f"'{_show(ge01)}' is not a count"
            group.issues.append(Issue.at(
                "GROUP_COUNT_MISMATCH",
                f"GE01 {shown}, group {group.control_ref} has {group.message_count}",
                seg, element=1,
            ))
        self._control_number(seg, 2, ge02, group.issues)
        if ge02 != group.control_ref:
            group.issues.append(Issue.at(
                "GROUP_REF_MISMATCH",
                f"GE02 '{_show(ge02)}' differs from GS06 '{_show(group.control_ref)}'",
                seg, element=2,
            ))
        self.group = None

    def _iea(self, seg: Segment) -> None:
        ic = self.ic
        assert ic is not None
        self._close_open(f"IEA at line {seg.line}")
        ic.trailer = seg
        iea01, iea02 = self._texts(seg, 2)
        said = _as_int(iea01)
        if said != self.group_count:
            shown = f"says {said} functional groups" if said is not None else f"'{_show(iea01)}' is not a count"
            ic.issues.append(Issue.at(
                "INTERCHANGE_COUNT_MISMATCH",
                f"IEA01 {shown}, the interchange has {self.group_count}",
                seg, element=1,
            ))
        if iea02 != ic.control_ref:
            ic.issues.append(Issue.at(
                "INTERCHANGE_REF_MISMATCH",
                f"IEA02 '{_show(iea02)}' differs from ISA13 '{_show(ic.control_ref)}'",
                seg, element=2,
            ))
        self.pending = ic
        self.trailing_reported = False
        self.ic = None


def _parse_isa(buf: bytes, start: int, where: Location, encoding: str | None) -> _Header:
    """Find the service characters of the ISA at ``buf[start]``.

    Raises EdiSyntaxError when they cannot be found.
    """
    size = len(buf)
    if buf[start : start + 3] != b"ISA":
        raise _header_error(
            f"the interchange does not start with ISA: it starts with '{_show(buf[start : start + 20])}'", where
        )
    if size - start < 4:
        raise _header_error("the ISA is truncated after its tag", where)
    sep = buf[start + 3]
    if sep in _WS or chr(sep).isalnum() or sep >= 0x80:
        raise _header_error(
            f"the ISA element separator '{_show(bytes([sep]))}' is a letter, digit or white space",
            where,
            Issue("SEPARATOR_INVALID", "the element separator is not a valid separator", where),
        )
    cleaned = bytearray(b"ISA")
    cleaned.append(sep)
    seen = 1  # the separator right after the tag
    p = start + 4
    limit = min(size, start + _ISA_WINDOW)
    while seen < 16 and p < limit:
        b = buf[p]
        p += 1
        if b in _CRLF:
            continue
        cleaned.append(b)
        if b == sep:
            seen += 1
    while p < limit and buf[p] in _CRLF:  # a line break right before ISA16
        p += 1
    if seen < 16 or p >= limit:
        raise _header_error(f"the ISA is truncated: {seen} of its 16 element separators '{chr(sep)}' were found", where)
    comp_char, comp_raw = _char_at(buf, p, encoding)
    p += len(comp_raw)
    if comp_raw[0] in _WS or comp_char.isalnum() or comp_raw[0] == sep:
        raise _header_error(
            f"ISA16 '{_show(comp_char)}' is not a component separator (the ISA may be truncated or misaligned)",
            where,
            Issue("SEPARATOR_INVALID", f"ISA16 '{_show(comp_char)}' is not a valid separator", where),
        )
    cleaned += comp_raw
    if p >= size:
        raise _header_error("the input ends right after ISA16: no segment terminator", where)
    # the segment terminator: the character after ISA16
    if buf[p] in _CRLF:
        q = p
        while q < size and buf[q] in _WS:  # line breaks, and the indentation of the next line
            q += 1
        if q >= size or chr(buf[q]).isalnum():
            term = b"\n" if b"\n" in buf[p:q] else b"\r"
            term_char = term.decode("ascii")
            end = p
        else:  # hard-wrapped: the terminator follows the line break
            term_char, term = _char_at(buf, q, encoding)
            end = q
    else:
        term_char, term = _char_at(buf, p, encoding)
        end = p
    if term_char.isalnum() or term_char == " " or term[:1] == bytes([sep]) or term == comp_raw:
        raise _header_error(
            f"the character after ISA16 '{_show(term_char)}' cannot be a segment terminator",
            where,
            Issue("SEGMENT_TERMINATOR_INVALID", f"'{_show(term_char)}' is not a valid segment terminator", where),
        )
    charset = "ascii"
    raw_isa = bytes(cleaned)
    try:
        isa_text = raw_isa.decode("ascii")
    except UnicodeDecodeError:
        try:
            isa_text = raw_isa.decode(encoding or "utf-8")
            charset = encoding or "utf-8"
        except UnicodeDecodeError:
            isa_text = raw_isa.decode("latin-1")
            charset = "latin-1"
    if not term.isascii() and charset == "ascii":
        charset = "utf-8" if len(term) > 1 else (encoding or "latin-1")
    element = chr(sep)
    fields = isa_text.split(element)
    seg = Segment("ISA", fields[1:17], where.segment or 0, where.line or 0, where.offset or 0)
    head = _Header(seg, end, term, term_char, element, comp_char, None, charset)
    isa11 = fields[11] if len(fields) > 11 else ""
    if len(isa11) == 1 and not isa11.isalnum() and isa11 != " ":
        if isa11 in (element, comp_char, term_char):
            head.issues.append(Issue.at(
                "SEPARATOR_INVALID",
                f"ISA11 repetition separator '{isa11}' is already used as another service character",
                seg, element=11,
            ))
        else:
            head.repetition = isa11
    # the fixed widths (106 characters in all)
    wrong = [
        (i, f"ISA{i:02d} has {len(v)} characters instead of {w}")
        for i, (v, w) in enumerate(zip(fields[1:17], ISA_WIDTHS, strict=True), start=1)
        if len(v) != w
    ]
    if wrong:
        length = len(isa_text) + 1
        what = f"is {length} characters long instead of {ISA_LENGTH}" if length != ISA_LENGTH else "is misaligned"
        detail = "; ".join(text for _, text in wrong)
        head.issues.append(Issue.at("INTERCHANGE_HEADER_INVALID", f"the ISA {what}: {detail}", seg,
                                    element=wrong[0][0]))
    return head


def read(source: Source, *, encoding: str | None = None, keep: bool = False) -> Iterator[Item]:
    """Read X12: yield each Message at its SE and each Interchange once complete.

    ``encoding`` overrides the per-segment detection (ASCII, else UTF-8, else
    Latin-1). With ``keep=True`` the messages are also kept on their group
    and interchange; without it only the current message is held in memory.
    """
    return _Reader(source, encoding, keep).run()


# -- writing ----------------------------------------------------------------

_UNSET = "\x00"


def choose_delimiters(
    version: str = "00401",
    *,
    element: str = "*",
    component: str = ">",
    repetition: str | None = _UNSET,
    segment: str = "~",
    suffix: str = "",
) -> Delimiters:
    """The conventional X12 service characters for ISA12 ``version``.

    The repetition separator defaults to ``^`` from version 00402 on and to
    none (ISA11 ``U``) before; pass ``repetition=None`` or a character to
    choose. ``suffix`` (``"\\n"`` or ``"\\r\\n"``) is written after every
    segment terminator to put one segment per line.
    """
    if repetition == _UNSET:
        repetition = "^" if version[:5] >= "00402" else None
    delims = Delimiters(segment=segment + suffix, element=element, component=component, repetition=repetition)
    _check_delimiters(delims)
    return delims


def _write_error(code: str, text: str, location: Location | None = None) -> EncodingError:
    return EncodingError(Issue(code, text, location or Location()))


def _check_delimiters(d: Delimiters) -> tuple[str, str]:
    """Validate the service characters; returns (terminator, suffix)."""
    if not d.segment:
        raise _write_error("WRITE_INVALID", "the segment terminator is empty")
    term, suffix = d.segment[0], d.segment[1:]
    if suffix.strip(" \r\n") or (term == "\r" and suffix not in ("", "\n")):
        raise _write_error("WRITE_INVALID", f"segment terminator '{_show(d.segment)}' is not one character")
    chars = {"element": d.element, "component": d.component}
    if d.repetition is not None:
        chars["repetition"] = d.repetition
    for name, char in chars.items():
        if len(char) != 1 or char.isalnum() or char.isspace():
            raise _write_error("WRITE_INVALID", f"the {name} separator '{_show(char)}' is not a valid separator")
    if term.isalnum() or term in " \t":
        raise _write_error("WRITE_INVALID", f"the segment terminator '{_show(term)}' is not valid")
    used = [*chars.values(), term]
    if len(set(used)) != len(used):
        raise _write_error("WRITE_INVALID", f"service characters {used!r} are not all different")
    return term, suffix


_FUNCTIONAL_IDS = {
    "810": "IN", "812": "CD", "816": "OR", "820": "RA", "824": "AG", "830": "PS", "832": "SC",
    "834": "BE", "835": "HP", "837": "HC", "846": "IB", "850": "PO", "852": "PD", "855": "PR",
    "856": "SH", "857": "BS", "860": "PC", "861": "RC", "862": "SS", "864": "TX", "865": "CA",
    "869": "RS", "870": "RS", "875": "OG", "880": "GP", "940": "OW", "943": "AR", "944": "RE",
    "945": "SW", "947": "AW", "997": "FA", "999": "FA", "204": "SM", "210": "IM", "211": "BL",
    "214": "QM", "990": "GF", "270": "HS", "271": "HB", "276": "HR", "277": "HN", "278": "HI",
    "275": "PI", "180": "AN", "753": "GM", "754": "RO",
}  # fmt: skip


class _Writer:
    def __init__(self, d: Delimiters, encoding: str, put: Callable[[bytes], object] | None = None) -> None:
        self.term, self.suffix = _check_delimiters(d)
        self.element = d.element
        self.component = d.component
        self.repetition = d.repetition
        self.encoding = encoding
        forbidden = [d.element, d.component, self.term, "\r", "\n"]
        if d.repetition is not None:
            forbidden.append(d.repetition)
        self.forbidden = re.compile("[" + re.escape("".join(forbidden)) + "]")
        self.names = {
            d.element: "element separator",
            d.component: "component separator",
            self.term: "segment terminator",
        }
        if d.repetition is not None:
            self.names[d.repetition] = "repetition separator"
        self.names["\r"] = self.names["\n"] = "line break"
        self.out: list[bytes] = []  # segments not yet joined, without terminators
        self.pieces: list[bytes] = []  # the document so far: joined runs of segments (unless put)
        self.put = put if put is not None else self.pieces.append  # where each joined run goes
        self.size = 0  # bytes of the runs put so far
        self.count = 0  # segments written
        try:
            self.term_bytes = (self.term + self.suffix).encode(encoding)
        except UnicodeEncodeError:
            raise _write_error(
                "UNENCODABLE_CHARACTER", f"the segment terminator '{_show(self.term)}' cannot be written in {encoding}"
            ) from None
        for name, char in (("element", d.element), ("component", d.component), ("repetition", d.repetition)):
            if char is not None:
                try:
                    char.encode(encoding)
                except UnicodeEncodeError:
                    raise _write_error(
                        "UNENCODABLE_CHARACTER", f"the {name} separator '{_show(char)}' cannot be written in {encoding}"
                    ) from None

    def _where(self, tag: str, pos: int | None, element: int | None = None, **more: int | None) -> Location:
        return Location(segment=self.count + 1, tag=tag, message_segment=pos, element=element, **more)

    def _value(self, value: object, tag: str, pos: int | None, element: int, **more: int | None) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            value = str(value)
        found = self.forbidden.search(value)
        if found:
            char = found.group()
            raise _write_error(
                "WRITE_INVALID",
                f"{tag}{element:02d} '{_show(value)}' contains the {self.names[char]} '{_show(char)}'",
                self._where(tag, pos, element, **more),
            )
        return value

    def _element(self, value: object, tag: str, pos: int | None, element: int) -> str:
        if isinstance(value, Repeats):
            if self.repetition is None:
                raise _write_error(
                    "WRITE_INVALID",
                    f"{tag}{element:02d} repeats but the interchange has no repetition separator (ISA11 'U')",
                    self._where(tag, pos, element),
                )
            pieces = []
            for r, item in enumerate(value, start=1):
                if isinstance(item, list):
                    pieces.append(self._composite(item, tag, pos, element, r))
                else:
                    pieces.append(self._value(item, tag, pos, element, repetition=r))
            return self.repetition.join(pieces)
        if isinstance(value, list):
            return self._composite(value, tag, pos, element, None)
        return self._value(value, tag, pos, element)

    def _composite(self, value: list, tag: str, pos: int | None, element: int, rep: int | None) -> str:
        texts = [self._value(c, tag, pos, element, component=k, repetition=rep) for k, c in enumerate(value, start=1)]
        while len(texts) > 1 and texts[-1] == "":  # trailing empty components are suppressed
            texts.pop()
        return self.component.join(texts)

    def segment(self, tag: str, elements: list, pos: int | None = None, *, raw: bool = False) -> None:
        """Write one segment (``raw``: the elements are already text)."""
        if not (isinstance(tag, str) and _TAG_RE.fullmatch(tag)):
            raise _write_error("WRITE_INVALID", f"'{_show(str(tag))}' is not a segment tag", self._where(str(tag), pos))
        if raw:
            texts = list(elements)
        else:
            texts = [self._element(v, tag, pos, i) for i, v in enumerate(elements, start=1)]
            while texts and texts[-1] == "":
                texts.pop()
        text = self.element.join([tag, *texts])
        try:
            data = text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            before = text[: exc.start]
            element = before.count(self.element)
            inside = before[before.rfind(self.element) + 1 :]
            composite = self.component in text.split(self.element)[element]
            component = inside.count(self.component) + 1 if composite else None
            raise _write_error(
                "UNENCODABLE_CHARACTER",
                f"{tag}{element:02d} contains '{_show(text[exc.start])}', which {self.encoding} cannot carry",
                self._where(tag, pos, element or None, component=component),
            ) from None
        out = self.out
        out.append(data)
        self.count += 1
        if len(out) >= 8192:  # joined as it grows: one bytes per 8,192 segments, not one object each
            self._flush()

    def _flush(self) -> None:
        """The segments written since the last flush, joined into one piece (each ends with its
        terminator). Only the new segments are joined: joining the document so far each time copied
        it again and again (a 997 for 400,000 sets, 8 MB, about 400 MB of copying) and held two
        copies of it at once."""
        if self.out:
            piece = self.term_bytes.join(self.out) + self.term_bytes
            self.put(piece)
            self.size += len(piece)
            self.out = []

    def binary(self, seg: Segment, pos: int) -> None:
        """A BIN segment: BIN01 is recomputed from the data, written byte for byte."""
        data = seg.elements[1] if len(seg.elements) > 1 else seg.get(1)
        if not isinstance(data, (str, bytes)):
            raise _write_error("WRITE_INVALID", "BIN02 must be text or bytes", self._where("BIN", pos, 2))
        try:
            raw = data if isinstance(data, bytes) else data.encode("latin-1")
        except UnicodeEncodeError:
            raise _write_error(
                "UNENCODABLE_CHARACTER",
                "BIN02 holds characters beyond Latin-1 (binary data is one character per byte)",
                self._where("BIN", pos, 2),
            ) from None
        head = f"BIN{self.element}{len(raw)}{self.element}".encode(self.encoding)
        self.out.append(head + raw)
        self.count += 1

    def document(self) -> bytes:
        self._flush()
        pieces, self.pieces = self.pieces, []
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _isa_field(value: str, width: int, name: str, *, digits: bool = False, fill: str = " ") -> str:
    value = value or ""
    if len(value) > width:
        raise _write_error(
            "WRITE_INVALID",
            f"{name} '{_show(value)}' is longer than its {width} characters",
            Location(segment=1, tag="ISA", element=int(name[3:])),
        )
    if digits and not (value.isascii() and value.isdigit()):
        raise _write_error(
            "WRITE_INVALID",
            f"{name} '{_show(value)}' must be digits",
            Location(segment=1, tag="ISA", element=int(name[3:])),
        )
    return value.rjust(width, "0") if fill == "0" else value.ljust(width, fill)


def _short_date(value: str, now: _dt.datetime) -> str:
    value = (value or "").strip()
    if not value:
        return now.strftime("%y%m%d")
    return value[2:] if len(value) == 8 else value


def _long_date(value: str, now: _dt.datetime) -> str:
    value = (value or "").strip()
    if not value:
        return now.strftime("%Y%m%d")
    return "20" + value if len(value) == 6 else value


def _groups_of(ic: Interchange) -> list[Group]:
    """The groups to write; messages without groups are grouped by type."""
    if ic.groups:
        return ic.groups
    groups: list[Group] = []
    for msg in ic.messages:
        if not groups or groups[-1].messages[0].type != msg.type or groups[-1].version != msg.version:
            fid = _FUNCTIONAL_IDS.get(msg.type)
            if fid is None:
                raise _write_error(
                    "WRITE_INVALID",
                    f"transaction set {msg.type} has no group and its functional identifier (GS01) is not known; "
                    "put it in a Group",
                    Location(tag="ST", element=1),
                )
            header = Segment("GS", [])
            groups.append(Group(fid, "", ic.sender, ic.recipient, msg.version, header, interchange=ic))
        groups[-1].messages.append(msg)
    return groups


def write(interchange: Interchange, *, encoding: str = "ascii", delimiters: Delimiters | None = None) -> bytes:
    """The X12 document for ``interchange``, with counts and references computed.

    ``delimiters`` overrides ``interchange.delimiters`` (default:
    :func:`choose_delimiters` for the interchange's ISA12 version).
    Raises :class:`~gateway.errors.EncodingError` when a value cannot be written.
    """
    w = _write(interchange, encoding, delimiters, None)
    return w.document()


def write_to(out: BinaryIO, interchange: Interchange, *, encoding: str = "ascii",
             delimiters: Delimiters | None = None) -> int:
    """Write the X12 document for ``interchange`` to ``out`` as it is made (runs of 8,192
    segments at a time), as :func:`write` would return it; the number of bytes written.

    A 997 answering 400,000 sets is about 10 MB: written to a file it is never whole in memory.
    On an error, what was written before it stays in ``out``.
    """
    w = _write(interchange, encoding, delimiters, out.write)
    w._flush()
    return w.size


def _write(ic: Interchange, encoding: str, delimiters: Delimiters | None,
           put: Callable[[bytes], object] | None) -> _Writer:
    version = (ic.syntax_id or "00401").strip()
    d = delimiters or ic.delimiters or choose_delimiters(version)
    w = _Writer(d, encoding, put)
    now = _dt.datetime.now(_dt.UTC)
    head = ic.header.elements if ic.header is not None and ic.header.tag == "ISA" else []

    def isa(i: int, default: str) -> str:
        return head[i - 1] if len(head) >= i and isinstance(head[i - 1], str) else default

    control = (ic.control_ref or "").strip()
    isa_fields = [
        _isa_field(isa(1, "00"), 2, "ISA01"),
        _isa_field(isa(2, ""), 10, "ISA02"),
        _isa_field(isa(3, "00"), 2, "ISA03"),
        _isa_field(isa(4, ""), 10, "ISA04"),
        _isa_field(ic.sender_qualifier or "ZZ", 2, "ISA05"),
        _isa_field(ic.sender, 15, "ISA06"),
        _isa_field(ic.recipient_qualifier or "ZZ", 2, "ISA07"),
        _isa_field(ic.recipient, 15, "ISA08"),
        _isa_field(_short_date(ic.date, now), 6, "ISA09", digits=True),
        _isa_field((ic.time or now.strftime("%H%M"))[:4], 4, "ISA10", digits=True),
        d.repetition or "U",
        _isa_field(version, 5, "ISA12", digits=True),
        _isa_field(control, 9, "ISA13", digits=True, fill="0"),
        "1" if ic.ack_requested else "0",
        "T" if ic.test else "P",
    ]
    for i, value in enumerate(isa_fields, start=1):
        if i != 11:
            w._value(value, "ISA", None, i)
    w.segment("ISA", [*isa_fields, d.component], raw=True)
    for seg in ic.control_segments:  # TA1, ISB, ISE: right after the ISA
        if seg.tag not in _CONTROL_TAGS:
            raise _write_error(
                "WRITE_INVALID",
                f"{seg.tag} cannot stand at interchange level (only {', '.join(sorted(_CONTROL_TAGS))})",
                Location(segment=w.count + 1, tag=seg.tag),
            )
        w.segment(seg.tag, seg.elements)
    groups = _groups_of(ic)
    for g_number, group in enumerate(groups, start=1):
        gs = group.header.elements if group.header is not None and group.header.tag == "GS" else []
        gs_ref = (group.control_ref or str(g_number)).strip()
        gs_version = group.version or (gs[7] if len(gs) > 7 else "")
        old = gs_version[:6].isdigit() and gs_version[:6] < "004010"
        date = gs[3] if len(gs) > 3 else (_short_date if old else _long_date)(ic.date, now)
        time = gs[4] if len(gs) > 4 else (ic.time or now.strftime("%H%M"))
        agency = gs[6] if len(gs) > 6 else "X"
        if not (gs_ref.isascii() and gs_ref.isdigit() and len(gs_ref) <= 9):
            raise _write_error(
                "WRITE_INVALID",
                f"GS06 '{_show(gs_ref)}' is not a control number of at most 9 digits",
                Location(segment=w.count + 1, tag="GS", element=6),
            )
        w.segment("GS", [group.id, group.sender, group.recipient, date, time, gs_ref, agency, gs_version])
        for m_number, msg in enumerate(group.messages, start=1):
            _write_message(w, msg, m_number)
        w.segment("GE", [str(len(group.messages)), gs_ref])
    w.segment("IEA", [str(len(groups)), isa_fields[12]])
    return w


def _write_message(w: _Writer, msg: Message, number: int) -> None:
    # one pass over msg.segments, which may be any iterable (an acknowledgement makes its
    # segments while they are written): the header is looked at first, a trailing SE dropped
    segments = iter(msg.segments)
    first = next(segments, None)
    header = first if first is not None and first.tag == "ST" else None
    pending = first if header is None else None  # a segment read ahead, not yet written
    st_type = msg.type or (header.get(1) if header is not None else "")
    st_ref = msg.ref or (header.get(2) if header is not None else "") or f"{number:04d}"
    if not st_type:
        raise _write_error("WRITE_INVALID", "the transaction set has no type (ST01)", Location(tag="ST", element=1))
    extra = list(header.elements[2:]) if header is not None else []
    w.segment("ST", [st_type, st_ref, *extra], 1)
    pos = 1
    for seg in segments:
        if pending is not None:
            pos += 1
            _write_body_segment(w, pending, pos, st_type, st_ref)
        pending = seg
    if pending is not None and pending.tag != "SE":
        pos += 1
        _write_body_segment(w, pending, pos, st_type, st_ref)
    count = pos + 1
    w.segment("SE", [str(count), st_ref], count)


def _write_body_segment(w: _Writer, seg: Segment, pos: int, st_type: str, st_ref: str) -> None:
    if seg.tag in _ENVELOPE_TAGS:
        raise _write_error(
            "WRITE_INVALID",
            f"envelope segment {seg.tag} inside transaction set {st_type} {st_ref}",
            Location(segment=w.count + 1, tag=seg.tag, message_segment=pos),
        )
    if seg.tag == "BIN":
        w.binary(seg, pos)
    else:
        w.segment(seg.tag, seg.elements, pos)
