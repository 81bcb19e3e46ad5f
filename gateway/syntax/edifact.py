"""UN/EDIFACT reader and writer (ISO 9735 syntax versions 1 to 4).

Reading is streaming: the input is consumed in chunks, segments are cut at the
segment terminator (honouring the release character), decoded, split into
elements, and handed to an envelope state machine that yields each message as
soon as its UNT has been read. Nothing else is kept unless ``keep=True``.

Why not pydifact: on a generated 8 MB ORDERS interchange pydifact 0.2.3's
``Interchange.from_str`` reads under 1 MB/s and builds the whole tree in
memory; ``bench/parse.py`` prints both rates side by side. pydifact stays in
the test suite as an independent cross-check of what this reader produces.

Tolerated, because real partners send it (each is reported where it deviates):

* UNA present or absent; a UNA before each of several concatenated interchanges,
  each with its own separators.
* CR/LF between segments, and files hard-wrapped at a fixed width: line breaks
  inside a segment are dropped (unless the terminator itself is a line break).
* A UTF-8 byte-order mark before the first segment.
* UNOA/UNOB declared but other bytes sent: decoded as UTF-8 when valid, else as
  Windows-1252, with an ``INVALID_CHARACTER`` warning. A per-partner
  ``encoding`` overrides the declared character set entirely (for senders that
  declare UNOC and send Windows-1252, say).
* A repetition separator given in UNA position 7 is honoured whatever the
  syntax version; without UNA it is ``*`` from syntax version 4 on.

Envelope checks (all reported, not only the first): UNT count and reference,
UNE count and reference, UNZ count and reference, missing trailers, segments
outside a message, data after UNZ, groups mixed with bare messages, duplicate
message references, malformed tags and truncated UNB/UNH.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from datetime import datetime, timezone
from collections.abc import Callable, Iterator
from sys import intern as _intern
from typing import BinaryIO, Union

from gateway.errors import EdiSyntaxError, EncodingError
from gateway.model import PLAIN_SEGMENT, BareSegment, Delimiters, Group, Interchange, Issue, Location, Message, Repeats, Segment
from gateway.syntax.sniff import BOM
from gateway.syntax.refs import RefSet as _RefSet
from gateway.syntax.source import Source, chunks

# The tokenizer's chunk: 512 KiB. A chunk is split into a bytes per segment at once, several times
# its size in Python objects, all held while it is read. 1 MiB read no faster (the 30 MB bench
# interchange: 1.72 s CPU with 1 MiB or 512 KiB, 1.81 with 256 KiB, where per-chunk costs show).
CHUNK = 1 << 19

# ISO 9735 syntax identifiers (UNB S001 0001) and the codec each one means.
CHARSETS: dict[str, str] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOL": "iso8859-15",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
    "KECA": "euc-kr",
    # IATA's own syntax identifiers (PNRGOV, PAORES, ...): printable ASCII.
    "IATA": "ascii",
    "IATB": "ascii",
}
CODEC_TO_CHARSET = {"ascii": "UNOB", "latin-1": "UNOC", "utf-8": "UNOY"}

Encoding = Union[str, Callable[[Interchange], "str | None"], None]

DEFAULT = Delimiters(segment="'", element="+", component=":", repetition=None, release="?", decimal=".")
SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})
_WS = b" \t\r\n"
_C1 = re.compile(rb"[\x80-\x9f]")
# Every byte but the C1 controls: ``raw.translate(None, _NOT_C1)`` keeps only those, a table
# look-up a byte where _C1.search tests a character class (0.7 against 4.1 us a 720-byte run).
_NOT_C1 = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
_LEADING_WS = (b" ", b"\t", b"\r", b"\n")
# Codecs (as codecs.lookup names them) that decode each byte to one character.
_SINGLE_BYTE = ("iso8859", "latin", "cp125", "ascii")
# Third letters of the service tags (UNA, UNB, UNG, UNH, UNT, UNE, UNZ): a run of ordinary
# segments ends before a segment that starts with UN and one of these.
_SERVICE_THIRD = frozenset(b"ABGHTEZ")


def _layout(work: bytes, term: bytes, rel: bytes | None) -> bytes | None:
    """The line break that follows every real terminator of ``work`` and
    stands nowhere else (b"" for none at all), or None for any other layout.

    Released terminators are allowed only in their simple form (one release
    character, no break after it); anything subtler takes the exact path.
    """
    breaks = work.count(b"\n")
    returns = work.count(b"\r") if b"\r" in work else 0  # (a memchr, where count reads every byte)
    if breaks == 0 and returns == 0:
        return b""
    for layout in (b"\n", b"\r\n"):
        if returns != (breaks if layout == b"\r\n" else 0):
            continue
        followed = work.count(term + layout)
        if breaks != followed:
            continue
        released = 0
        if rel and rel + term in work:
            # every released terminator, one by one (a few per document): none may be
            # preceded by another release character or followed by a line break
            pair = rel + term
            at = work.find(pair)
            while at >= 0:
                if (at and work[at - 1 : at] == rel) or work[at + 2 : at + 3] == layout[:1]:
                    return None
                released += 1
                at = work.find(pair, at + 2)
        if work.count(term) - released == followed:
            return layout
    return None


def _join_released(pieces: list[bytes], tail: bytes, term: bytes, rel_byte: int) -> tuple[list[bytes], bytes]:
    """Join pieces whose terminator was released; the tail gets what is still open."""
    out: list[bytes] = []
    pending = None
    for raw in pieces:
        if pending is not None:
            raw = pending + term + raw
            pending = None
        if raw and raw[-1] == rel_byte and _odd_release_run(raw, rel_byte):
            pending = raw
        else:
            out.append(raw)
    if pending is not None:
        tail = pending + term + tail
    return out, tail


def _odd_release_run(raw: bytes, rel_byte: int) -> bool:
    """Whether ``raw`` ends in an odd number of release characters."""
    run = 0
    for byte in reversed(raw):
        if byte != rel_byte:
            break
        run += 1
    return run % 2 == 1


def delimiters_from_una(una: bytes) -> Delimiters:
    """Separators from a 9-byte UNA service string advice (``UNA:+.? '``)."""
    text = una.decode("latin-1")
    component, element, decimal, release, repetition, segment = text[3:9]
    chosen = [component, element, segment] + [c for c in (release,) if c != " "]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"UNA declares the same character twice: {text!r}")
    return Delimiters(
        segment=segment,
        element=element,
        component=component,
        repetition=None if repetition == " " else repetition,
        release=None if release == " " else release,
        decimal=decimal,
    )


# --------------------------------------------------------------------------
# tokenizer: bytes -> Segment objects


class _Tokenizer:
    """Cuts a byte stream into decoded segments; knows UNA and UNB's charset."""

    def __init__(self, source: Source, encoding: Encoding, fast: bool = True) -> None:
        self.chunks = chunks(source, CHUNK)
        # Runs of ordinary segments are built in bulk (``_run``); ``fast=False`` builds every
        # segment on its own, the path the bulk one must always agree with (the tests compare them).
        self.fast = fast
        # Tags the envelope has seen inside a message, each once: the string every later
        # segment with that tag shares (filled by _Envelope.run, used by the bulk path).
        self.tags: dict[str, str] = {}
        self.resolver = encoding if callable(encoding) else None
        self.override = encoding if isinstance(encoding, str) else None  # the codec in force, when forced
        self.codec = self.override or "ascii"
        self.delims = DEFAULT
        self.una_seen = False
        self.decode_issues: list[Issue] = []
        self.leftover: tuple[bytes, int, int] | None = None  # unterminated tail
        # The text of the last run when it was one whole message, UNH to UNT (Message.text)
        self.whole: str | None = None

    # The separators are bytes in the hot loop; these are refreshed by _set().
    def _set(self, delims: Delimiters) -> None:
        self.delims = delims
        self.term = delims.segment.encode("latin-1")
        self.rel = delims.release.encode("latin-1") if delims.release else None
        self.rel_byte = self.rel[0] if self.rel else -1
        self.strip_breaks = delims.segment not in "\r\n"
        self._segment = self._segment_maker()

    def set_charset(self, syntax_id: str, interchange: Interchange) -> str | None:
        """Switch decoding to the UNB's character set (or the partner's
        override); the codec, or None if the syntax identifier is unknown."""
        if self.resolver is not None:
            self.override = self.resolver(interchange)
            if not self.override:
                self.override = None
        if self.override:
            self.codec = self.override
            self._segment = self._segment_maker()
            return self.override
        codec = CHARSETS.get(syntax_id)
        self.codec = codec or "utf-8"
        self._segment = self._segment_maker()
        return codec

    def __iter__(self) -> Iterator[Segment]:
        """Segments in input order.

        Each chunk is cut with one ``bytes.split`` on the terminator; pieces
        whose terminator was released (an odd run of release characters before
        it) are joined again. A UNA, which may change every separator, makes the
        rest of the buffer be cut anew with the new terminator.
        """
        self._set(DEFAULT)
        carry = b""  # bytes after the last terminator of the previous chunk
        base = 0  # absolute offset of the buffer's first byte
        line = 1
        index = 0
        first = True
        ws = _WS
        for chunk in self._with_eof(self.chunks):
            eof = chunk is None
            buf = carry + chunk if not eof else carry
            if first:
                if len(buf) < 3 and not eof:
                    carry = buf
                    continue
                first = False
                if buf.startswith(BOM):
                    buf, base = buf[3:], 3
            p = 0  # where the next piece starts in buf
            while True:  # once per (re)split of buf
                term, tlen, rel_byte = self.term, len(self.term), self.rel_byte
                work = buf[p:] if p else buf
                if work[:1] in _LEADING_WS:  # breaks left over from the previous cut
                    stripped = work.lstrip(ws)
                    lead = len(work) - len(stripped)
                    line += work.count(b"\n", 0, lead)
                    p += lead
                    work = stripped
                if work[:3] == b"UNA":
                    if len(work) < 9 and not eof:
                        tail = work
                        break
                    self._una(work[:9], base + p, line)
                    p += 9
                    continue
                # Fast path: line breaks stand only right after terminators
                # (or nowhere), the layout of nearly every real file. Then one
                # split on terminator+break gives the segments, one per line.
                layout = _layout(work, term, self.rel) if self.strip_breaks else None
                if layout is None and self.strip_breaks:
                    # What follows the buffer's last line break may break the rule on its own: a
                    # file without a line break after its last segment, a buffer cut between a
                    # terminator and its line break. Then the part up to that line break goes the
                    # fast way and the rest is carried on, as an unfinished segment is (a 700 kB
                    # ORDERS file without its last line break: 42 against 30 ms segment by segment).
                    last = work.rfind(b"\n") + 1
                    if 0 < last < len(work):
                        layout = _layout(work[:last], term, self.rel) or None
                if layout is not None:
                    sep = term + layout
                    step = len(sep)
                    nl = 1 if layout else 0
                    # Runs of ordinary segments go in bulk (see _run) unless a released
                    # terminator without a line break makes the split cut segments in two.
                    bulk = self.fast and (rel_byte < 0 or layout != b"" or self.rel + term not in work)
                    if bulk:
                        # No piece needs joining here (_layout admits no released terminator
                        # before a break), so pieces are cut one at a time, as they are met.
                        pieces = None
                        complete = work.rfind(sep) + step  # the end of the last whole segment
                        if complete < step:
                            complete = 0
                        tail = work[complete:]
                        w0 = p  # where work starts in buf
                        # After a run cut short (or refused) the rest of its stretch goes segment
                        # by segment: no stretch is decoded and split more than twice.
                        plain_until = 0
                        sep_text = sep.decode("latin-1")
                        sep_un = sep + b"UN"
                        third = _SERVICE_THIRD
                    else:
                        pieces = work.split(sep)
                        tail = pieces.pop()
                        if rel_byte >= 0 and self.rel in work:
                            pieces, tail = _join_released(pieces, tail, sep, rel_byte)
                        k = 0
                        count = len(pieces)
                    una_possible = b"UNA" in work
                    resplit = False
                    while True:
                        if pieces is not None:
                            if k == count:
                                break
                            raw = pieces[k]
                            k += 1
                        else:
                            start = p - w0
                            if start >= complete:
                                break
                            raw = work[start : work.find(sep, start)]
                            if start >= plain_until and raw and (raw[:2] != b"UN" or raw[2:3] == b""
                                                                 or raw[2] not in third or raw[:3] == b"UNH"):
                                # the run (which may start with a UNH) ends before the next segment
                                # that may be a service segment
                                q = work.find(sep_un, start, complete)
                                while q >= 0:
                                    after = q + step + 2
                                    if after >= complete or work[after] in third:
                                        break
                                    q = work.find(sep_un, q + 1, complete)
                                if q < 0:
                                    q = complete - step
                                elif work[q + step : q + step + 3] == b"UNT":
                                    end_unt = work.find(sep, q + step)  # the run may end with the trailer
                                    if 0 <= end_unt <= complete - step:
                                        q = end_unt
                                made = self._run(work, start, q, index + 1, line, base + p, sep_text, step, nl)
                                plain_until = q + step
                                if made:
                                    m = len(made)
                                    index += m
                                    line += m * nl
                                    end = made[-1]
                                    p = end.offset - base + len(end.text) + step
                                    yield made
                                    continue
                        if not raw:
                            p += step
                            line += nl
                            continue
                        if una_possible and raw[:3] == b"UNA":
                            q = p
                            if len(buf) - q < 9 and not eof:
                                tail = buf[q:]
                                break
                            self._una(buf[q : q + 9], base + q, line)
                            line += buf.count(b"\n", q, q + 9)
                            p = q + 9
                            resplit = True
                            break
                        if nl and b"\n" in raw:  # a released terminator before a break
                            line += raw.count(b"\n")
                            raw = raw.replace(b"\r", b"").replace(b"\n", b"")
                        index += 1
                        yield self._segment(raw, index, line, base + p)
                        p += len(raw) + step
                        line += nl
                    if resplit:
                        continue
                    if tail[:1] in _LEADING_WS and tail.strip(ws) == b"":
                        pass
                    break
                pieces = work.split(term)
                tail = pieces.pop()  # no terminator after it (yet)
                if rel_byte >= 0 and self.rel in work:
                    pieces, tail = _join_released(pieces, tail, term, rel_byte)
                una_possible = b"UNA" in work
                strip_breaks = self.strip_breaks
                resplit = False
                for raw in pieces:
                    size = len(raw) + tlen
                    if not raw:  # a doubled terminator: no segment (as the line-layout path skips it)
                        p += size
                        continue
                    seg_line = line
                    seg_offset = base + p
                    breaks = raw.count(b"\n")
                    if breaks or raw[:1] in _LEADING_WS:
                        stripped = raw.lstrip(ws)
                        lead = len(raw) - len(stripped)
                        if lead:
                            lead_breaks = raw.count(b"\n", 0, lead)
                            seg_line += lead_breaks
                            seg_offset += lead
                            breaks -= lead_breaks
                            raw = stripped
                        line = seg_line + breaks
                        if not raw:
                            p += size
                            continue
                        if breaks and strip_breaks:
                            raw = raw.replace(b"\r", b"").replace(b"\n", b"")
                        elif strip_breaks and b"\r" in raw:
                            raw = raw.replace(b"\r", b"")
                    if una_possible and raw[:3] == b"UNA":
                        # Service string advice: read it and cut the rest anew.
                        q = seg_offset - base
                        if len(buf) - q < 9 and not eof:
                            line = seg_line
                            tail = buf[q:]
                            p = q
                            break
                        self._una(buf[q : q + 9], seg_offset, seg_line)
                        line = seg_line + buf.count(b"\n", q, q + 9)
                        p = q + 9
                        resplit = True
                        break
                    p += size
                    index += 1
                    yield self._segment(raw, index, seg_line, seg_offset)
                if not resplit:
                    break
            # keep the unfinished tail for the next chunk
            base += len(buf) - len(tail)
            carry = tail
            if eof:
                stripped = tail.lstrip(ws)
                if stripped:
                    lead = len(tail) - len(stripped)
                    self.leftover = (stripped.rstrip(ws), base + lead, line + tail.count(b"\n", 0, lead))

    def _una(self, una: bytes, offset: int, line: int) -> None:
        try:
            self._set(delimiters_from_una(una))
        except ValueError as exc:
            raise EdiSyntaxError(
                Issue("SEPARATOR_INVALID", str(exc), Location(offset=offset, line=line, tag="UNA"))
            ) from None
        self.una_seen = True

    @staticmethod
    def _with_eof(source: Iterator[bytes]) -> Iterator[bytes | None]:
        yield from source
        yield None

    def _c1(self, raw: bytes, index: int, line: int, offset: int) -> None:
        found = _C1.search(raw)
        if found is not None:
            self.decode_issues.append(Issue(
                "INVALID_CHARACTER",
                f"byte 0x{found.group()[0]:02X} is a control character in {self.codec}; the partner probably "
                "sends Windows-1252 (set encoding: cp1252 in its partner file)",
                Location(offset=offset + found.start(), line=line, segment=index, tag=raw[:3].decode("latin-1")),
            ))

    def _decode(self, raw: bytes, index: int, line: int, offset: int) -> str:
        try:
            return raw.decode(self.codec)
        except UnicodeDecodeError as exc:
            if self.override:
                raise EdiSyntaxError(
                    Issue(
                        "INVALID_CHARACTER",
                        f"byte 0x{raw[exc.start]:02X} is not valid in the configured encoding {self.codec}",
                        Location(offset=offset + exc.start, line=line, segment=index),
                    )
                ) from None
            try:
                text, used = raw.decode("utf-8"), "UTF-8"
            except UnicodeDecodeError:
                text, used = raw.decode("cp1252", errors="replace"), "Windows-1252"
            tag = text[:3]
            self.decode_issues.append(
                Issue(
                    "INVALID_CHARACTER",
                    f"byte 0x{raw[exc.start]:02X} is not valid in the declared character set "
                    f"({self.codec}); the segment was read as {used}",
                    Location(offset=offset + exc.start, line=line, segment=index, tag=tag),
                )
            )
            return text

    def _segment_maker(self):
        """A function turning raw segment bytes into a Segment, bound to the
        current separators and codec (a closure: no attribute look-ups per
        segment in the hot loop)."""
        d = self.delims
        el, comp, rep, rel = d.element, d.component, d.repetition, d.release
        decode = self._decode
        codec = self.codec
        # ISO 8859 parts have C1 control characters at 0x80-0x9F, which no one
        # means: such bytes are almost always Windows-1252 sent under UNOC.
        watch_c1 = self.override is None and codec.startswith(("latin-1", "iso8859"))
        c1 = self._c1

        def make(raw: bytes, index: int, line: int, offset: int) -> Segment:
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                text = decode(raw, index, line, offset)
            if watch_c1 and not raw.isascii():
                c1(raw, index, line, offset)
            return make_text(text, index, line, offset)

        # Released service characters are swapped for placeholders (the pairs, the released
        # release first), the segment is split like an unreleased one, and each placeholder met
        # in a value (never ASCII) is replaced back: 2.7 against 4.4 us for the usual released
        # IMD segment when the values went through str.translate (a look-up per character: 1.9
        # us of it) and a split of their own. The table serves Repeats (_restore), which are rare.
        specials = (rel, el, comp, d.segment) + ((rep,) if rep else ())
        pairs = tuple((rel + ch, ph, ch) for ph, ch in zip(_PLACEHOLDERS, specials)) if rel else ()
        table = {ord(ph): ch for ph, ch in zip(_PLACEHOLDERS, specials)}

        def back(value: str, used: list) -> str:
            for ph, ch in used:
                value = value.replace(ph, ch)
            return value

        def make_text(text: str, index: int, line: int, offset: int) -> Segment:
            if rel and rel in text:
                if not text.isascii() and _PLACEHOLDER.search(text) is not None:
                    return Segment(*_split_released(text, d), index, line, offset, text)
                read = text
                used = []
                for pair, ph, ch in pairs:
                    if pair in read:
                        read = read.replace(pair, ph)
                        used.append((ph, ch))
                if rel in read:  # a release before an ordinary character: the exact path
                    return Segment(*_split_released(text, d), index, line, offset, text)
                if rep and rep in read:
                    tag, elements = _split_plain(read, d)
                    if not tag.isascii():
                        tag = back(tag, used)
                    return Segment(tag, _restore(elements, table), index, line, offset, text)
                parts = read.split(el)
                tag = parts[0]
                if comp in tag:
                    tag = tag.split(comp, 1)[0]
                if not tag.isascii():  # no tag, but named in the issue as written
                    tag = back(tag, used)
                del parts[0]
                if comp in read:
                    parts = [e.split(comp) if comp in e else e for e in parts]
                parts = [(e if e.isascii() else back(e, used)) if e.__class__ is str
                         else [c if c.isascii() else back(c, used) for c in e] for e in parts]
                return Segment(tag, parts, index, line, offset, text)
            parts = text.split(el)
            tag = parts[0]
            if comp in tag:
                tag = tag.split(comp, 1)[0]
            del parts[0]
            if rep and rep in text:
                parts = [_repeats(e, comp, rep) if rep in e else (e.split(comp) if comp in e else e) for e in parts]
            elif comp in text:
                parts = [e.split(comp) if comp in e else e for e in parts]
            return Segment(tag, parts, index, line, offset, text)

        # Offsets of a run are counted in characters, which are bytes only for these codecs
        # (or for ASCII input).
        try:
            name = codecs.lookup(codec).name
        except LookupError:  # reported by the per-segment path, which meets it first
            name = ""
        single = name.startswith(_SINGLE_BYTE)
        # A component separator that may stand in a tag cuts the tag short (make_text): then a
        # tag seen under other separators is not this segment's tag, and no run is made.
        bulk = bool(name) and not comp.isalnum()
        known = self.tags

        def run(data: bytes, start: int, stop: int, index: int, line: int, offset: int, sep: str, step: int,
                nl: int) -> list[Segment]:
            """The segments of ``data[start:stop]``, a run of ordinary segments each followed by
            ``sep`` (the last one's terminator at ``stop``), built the way ``make`` builds each one
            and with the tags the envelope has already seen inside a message (their shared
            strings). It stops before the first segment whose tag is not one of those (a service
            segment, a tag not seen yet or malformed, an empty segment, leading blanks); an empty
            list means the whole run takes the per-segment path (bytes the codec rejects,
            C1 control characters to report, multi-byte characters)."""
            chunk = data[start:stop]
            if not bulk:
                return []
            if not chunk.isascii() and (not single or (watch_c1 and chunk.translate(None, _NOT_C1))):
                return []
            try:
                text = chunk.decode(codec)
            except UnicodeDecodeError:
                return []
            out: list[Segment] = []
            append = out.append
            get = known.get
            bare, plain = BareSegment, PLAIN_SEGMENT
            texts = text.split(sep)
            self.whole = None
            if texts[0][:3] == "UNH":  # a message's header leads the run: made on its own
                seg = make_text(texts[0], index, line, offset)
                if seg.tag != "UNH":
                    return []
                append(seg)
                index += 1
                line += nl
                offset += len(seg.text) + step
                del texts[0]
            if not (rep and rep in text):
                # the usual case, the same steps as make_text's last ones
                released = rel and rel in text
                # A message's trailer that ends the run is made after the loop, which then meets
                # no unknown tag in the usual run: known[...] is a specialised subscript where
                # known.get(...) is a call, and the KeyError is raised only where the run stops
                # short.
                trailer = texts[-1] if texts else ""
                if trailer[:3] == "UNT" and trailer[3:4] in ("", el) and not (rel and rel in trailer):
                    del texts[-1]
                else:
                    trailer = None
                for t in texts:
                    if released and rel in t:
                        seg = make_text(t, index, line, offset)
                        tag = get(seg.tag)
                        if tag is None:
                            break
                        seg.tag = tag
                        append(seg)
                        index += 1
                        line += nl
                        offset += len(t) + step
                        continue
                    parts = t.split(el)
                    try:
                        tag = known[parts[0]]
                    except KeyError:
                        break
                    del parts[0]
                    if comp in t:  # written out for up to three elements: no comprehension to call
                        size = len(parts)
                        if size == 1:  # the tag has no component separator: the element has
                            parts = [parts[0].split(comp)]
                        elif size == 2:
                            a, b = parts
                            parts = [a.split(comp) if comp in a else a, b.split(comp) if comp in b else b]
                        elif size == 3:
                            a, b, c = parts
                            parts = [a.split(comp) if comp in a else a, b.split(comp) if comp in b else b,
                                     c.split(comp) if comp in c else c]
                        else:
                            parts = [e.split(comp) if comp in e else e for e in parts]
                    if plain:
                        seg = bare()
                        seg.tag = tag
                        seg.elements = parts
                        seg.index = index
                        seg.line = line
                        seg.offset = offset
                        seg.text = t
                        append(seg)
                    else:
                        append(Segment(tag, parts, index, line, offset, t))
                    index += 1
                    line += nl
                    offset += len(t) + step
                else:
                    if trailer is not None:
                        append(make_text(trailer, index, line, offset))
                        if out[0].tag == "UNH":  # the message whole: its text is the run's
                            self.whole = text
                return out
            for t in texts:
                if rel and rel in t:
                    seg = make_text(t, index, line, offset)
                    tag = get(seg.tag)
                    if tag is None:
                        break
                    seg.tag = tag
                else:
                    parts = t.split(el)
                    tag = get(parts[0])
                    if tag is None:
                        if parts[0] == "UNT" and t is texts[-1]:
                            append(make_text(t, index, line, offset))
                        break
                    del parts[0]
                    if rep and rep in t:
                        parts = [_repeats(e, comp, rep) if rep in e else (e.split(comp) if comp in e else e)
                                 for e in parts]
                    elif comp in t:
                        parts = [e.split(comp) if comp in e else e for e in parts]
                    seg = Segment(tag, parts, index, line, offset, t)
                append(seg)
                index += 1
                line += nl
                offset += len(t) + step
            return out

        self._run = run
        return make



# Released service characters are swapped for private-use code points, the
# segment is split like an unreleased one, and the values are swapped back (make_text).
_PLACEHOLDERS = "\ue000\ue001\ue002\ue003\ue004\ue005"
_PLACEHOLDER = re.compile("[\ue000-\ue005]")


def _restore(elements: list, table: dict) -> list:
    # Placeholders are not ASCII, and str.isascii() costs nothing: skip the rest.
    out = []
    for e in elements:
        if isinstance(e, Repeats):
            out.append(Repeats(_restore(list(e), table)))
        elif isinstance(e, list):
            out.append([c if c.isascii() else c.translate(table) for c in e])
        else:
            out.append(e if e.isascii() else e.translate(table))
    return out


def _split_plain(text: str, d: Delimiters) -> tuple[str, list]:
    parts = text.split(d.element)
    tag = parts[0].split(d.component, 1)[0]
    comp, rep = d.component, d.repetition
    return tag, [
        _repeats(e, comp, rep) if rep and rep in e else (e.split(comp) if comp in e else e) for e in parts[1:]
    ]


def _repeats(value: str, comp: str, rep: str) -> Repeats:
    return Repeats(v.split(comp) if comp in v else v for v in value.split(rep))


def _split_released(text: str, d: Delimiters) -> tuple[str, list]:
    """Split a segment that contains release characters (the slow, exact path)."""
    rel, el, comp, rep = d.release, d.element, d.component, d.repetition
    elements: list = []
    reps: list = []
    comps: list[str] = []
    cur: list[str] = []
    it = iter(text)
    for ch in it:
        if ch == rel:
            nxt = next(it, "")
            cur.append(nxt)
        elif ch == el:
            comps.append("".join(cur))
            reps.append(comps if len(comps) > 1 else comps[0])
            elements.append(Repeats(reps) if len(reps) > 1 else reps[0])
            cur, comps, reps = [], [], []
        elif ch == comp:
            comps.append("".join(cur))
            cur = []
        elif rep is not None and ch == rep:
            comps.append("".join(cur))
            reps.append(comps if len(comps) > 1 else comps[0])
            cur, comps = [], []
        else:
            cur.append(ch)
    comps.append("".join(cur))
    reps.append(comps if len(comps) > 1 else comps[0])
    elements.append(Repeats(reps) if len(reps) > 1 else reps[0])
    tag = elements[0]
    if isinstance(tag, list):
        tag = tag[0]
    return tag, elements[1:]


# --------------------------------------------------------------------------
# envelope state machine: Segment objects -> Message / Interchange


def _is_tag(tag: str) -> bool:
    return len(tag) == 3 and tag.isalnum() and tag.isupper() and tag[0].isalpha()


def _count(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


class _Envelope:
    def __init__(self, tokens: _Tokenizer, keep: bool) -> None:
        self.tokens = tokens
        self.keep = keep
        self.interchange: Interchange | None = None
        self.group: Group | None = None
        self.message: Message | None = None
        self.closed: Interchange | None = None  # the last interchange, after its UNZ
        self.refs = _RefSet()  # message references seen in the interchange (runs of numbers: bounded)
        self.stray_reported = False
        self.last: Segment | None = None  # the input's last segment, for end-of-input issues

    # -- issues ----------------------------------------------------------
    def _issue(self, target: list[Issue], code: str, text: str, segment: Segment | None, **where) -> None:
        if segment is None and self.last is not None:
            # End of input: name the last segment read, the place the trailer should follow.
            where.setdefault("line", self.last.line)
            where.setdefault("segment", self.last.index)
            where.setdefault("tag", self.last.tag)
        target.append(Issue.at(code, text, segment, **where))

    # -- main loop -------------------------------------------------------
    def run(self) -> Iterator[Message | Interchange]:
        tokens = self.tokens
        seg = None
        # valid tags seen, each kept once: the segments share one string per tag (what the
        # validator's structure memo and the mapping look up compare by identity, and stays in cache)
        valid_tags = tokens.tags  # shared with the tokenizer's bulk path
        for item in tokens:
            if item.__class__ is list:
                # a run of ordinary segments, their tags already the shared strings of tags seen
                # inside a message (perhaps led by the message's UNH and closed by its UNT): all
                # that is left to do is what the loop below does to them
                msg = self.message
                if item[0].tag == "UNH" and self.interchange is not None and not tokens.decode_issues:
                    if msg is not None:
                        yield from self._close_message(item[0], missing=True)
                    self._open_message(item[0], item)
                    seg = item[-1]
                    if seg.tag == "UNT" and len(item) > 1:
                        self.message.text = tokens.whole  # content validation's one pass
                        yield from self._close_message(seg)
                    continue
                if msg is not None and not tokens.decode_issues:
                    msg.segments.extend(item)
                    seg = item[-1]
                    if seg.tag == "UNT":  # the run ended with the message's trailer
                        yield from self._close_message(seg)
                    continue
                batch = item
            else:
                batch = (item,)
            for seg in batch:
                tag = seg.tag
                if tokens.decode_issues:
                    self._absorb_decode_issues()
                msg = self.message
                if msg is not None and tag not in SERVICE_TAGS:
                    msg.segments.append(seg)
                    known = valid_tags.get(tag)
                    if known is not None:
                        seg.tag = known
                        continue
                    if _is_tag(tag):  # (interned, as the X12 reader's tags are)
                        valid_tags[tag] = seg.tag = _intern(tag)
                    else:
                        self._issue(msg.issues, "SEGMENT_TAG_INVALID", f"'{tag}' is not a valid segment tag", seg,
                                    message_segment=len(msg.segments))
                    continue
                if tag == "UNH":
                    if msg is not None:
                        yield from self._close_message(seg, missing=True)
                    self._open_message(seg)
                elif tag == "UNT":
                    if msg is None:
                        self._stray(seg)
                        continue
                    msg.segments.append(seg)
                    yield from self._close_message(seg)
                elif tag == "UNB":
                    yield from self._close_interchange(seg, missing=True)
                    self._open_interchange(seg)
                elif tag == "UNZ":
                    yield from self._close_message(seg, missing=True)
                    self._close_group(seg, missing=True)
                    if self.interchange is None:
                        self._stray(seg)
                        continue
                    yield from self._close_interchange(seg)
                elif tag == "UNG":
                    yield from self._close_message(seg, missing=True)
                    self._close_group(seg, missing=True)
                    self._open_group(seg)
                elif tag == "UNE":
                    yield from self._close_message(seg, missing=True)
                    if self.group is None:
                        self._stray(seg)
                        continue
                    self._close_group(seg)
                else:
                    self._stray(seg)
        if tokens.decode_issues:
            self._absorb_decode_issues()
        if self.interchange is None and self.closed is None:
            where = Location(offset=tokens.leftover[1], line=tokens.leftover[2]) if tokens.leftover else Location()
            raise EdiSyntaxError(Issue("INTERCHANGE_HEADER_INVALID", "no UNB segment was found", where))
        if tokens.leftover is not None:
            raw, offset, line = tokens.leftover
            shown = raw[:20].decode("latin-1")
            where = Location(offset=offset, line=line)
            if self.interchange is None and self.closed is not None:
                self.closed.issues.append(Issue("TRAILING_DATA", f"'{shown}' follows the UNZ segment", where))
            elif self.interchange is not None:
                self.interchange.issues.append(
                    Issue("SEGMENT_TERMINATOR_INVALID", f"the last segment '{shown}' has no terminator", where)
                )
        self.last = seg
        yield from self._close_message(None, missing=True)
        self._close_group(None, missing=True)
        yield from self._close_interchange(None, missing=True)

    def _absorb_decode_issues(self) -> None:
        issues, self.tokens.decode_issues = self.tokens.decode_issues, []
        if self.message is not None:
            self.message.issues.extend(issues)
        elif self.interchange is not None:
            self.interchange.issues.extend(issues)

    def _stray(self, seg: Segment) -> None:
        if self.interchange is None:
            if self.closed is None:
                raise EdiSyntaxError(
                    Issue(
                        "INTERCHANGE_HEADER_INVALID",
                        f"expected UNA or UNB, found '{seg.tag}'",
                        Location.of(seg),
                    )
                )
            if not self.stray_reported:
                self.stray_reported = True
                self._issue(self.closed.issues, "TRAILING_DATA", f"segment '{seg.tag}' follows the UNZ segment", seg)
            return
        self._issue(
            self.interchange.issues,
            "SEGMENT_OUTSIDE_ENVELOPE",
            f"segment '{seg.tag}' stands outside any message",
            seg,
        )

    # -- interchange -----------------------------------------------------
    def _open_interchange(self, seg: Segment) -> None:
        tokens = self.tokens
        s001 = seg[1]
        syntax_id = seg.get(1, 1)
        version = seg.get(1, 2)
        sender, recipient, ref = seg.get(2, 1), seg.get(3, 1), seg.get(5)
        ic = Interchange(
            syntax="edifact",
            sender=sender,
            recipient=recipient,
            control_ref=ref,
            header=seg,
            sender_qualifier=seg.get(2, 2),
            recipient_qualifier=seg.get(3, 2),
            date=seg.get(4, 1),
            time=seg.get(4, 2),
            syntax_id=syntax_id,
            syntax_version=version,
            test=seg.get(11) == "1",
            ack_requested=seg.get(9) == "1",
            offset=seg.offset,
        )
        codec = tokens.set_charset(syntax_id, ic)
        ic.charset = codec or tokens.codec
        if not tokens.una_seen and version == "4" and tokens.delims.repetition is None:
            tokens._set(Delimiters("'", "+", ":", "*", "?", "."))
        ic.delimiters = tokens.delims
        self.interchange = ic
        self.closed = None
        self.refs = _RefSet()
        self.stray_reported = False
        if not isinstance(s001, list) or not syntax_id or not version:
            self._issue(ic.issues, "INTERCHANGE_HEADER_INVALID",
                        "UNB element 1 (S001) must give syntax identifier and version", seg, element=1)
        if codec is None:
            self._issue(ic.issues, "CHARSET_UNKNOWN",
                        f"syntax identifier '{syntax_id}' names no known character set; read as UTF-8", seg,
                        element=1, component=1)
        if version and version not in "1234":
            self._issue(ic.issues, "SYNTAX_VERSION_UNSUPPORTED", f"syntax version '{version}' is not 1 to 4", seg,
                        element=1, component=2)
        for position, name in ((2, "sender (S002)"), (3, "recipient (S003)"), (5, "control reference (0020)")):
            if not seg.get(position):
                self._issue(ic.issues, "INTERCHANGE_HEADER_INVALID", f"UNB {name} is missing", seg,
                            element=position)

    def _close_interchange(self, seg: Segment | None, missing: bool = False) -> Iterator[Interchange]:
        ic = self.interchange
        if ic is None:
            return
        if missing:
            where = f"before segment '{seg.tag}'" if seg is not None else "at the end of the input"
            self._issue(ic.issues, "INTERCHANGE_TRAILER_MISSING",
                        f"interchange '{ic.control_ref}' has no UNZ {where}", seg)
        else:
            ic.trailer = seg
            expected = len(ic.groups) if ic.groups else ic.message_count
            what = "groups" if ic.groups else "messages"
            said = _count(seg.get(1))
            if said != expected:
                self._issue(ic.issues, "INTERCHANGE_COUNT_MISMATCH",
                            f"UNZ says {seg.get(1)!r} {what}, the interchange has {expected}", seg, element=1)
            if seg.get(2) != ic.control_ref:
                self._issue(ic.issues, "INTERCHANGE_REF_MISMATCH",
                            f"UNZ reference '{seg.get(2)}' differs from UNB reference '{ic.control_ref}'", seg,
                            element=2)
        self.interchange = None
        self.closed = ic
        yield ic

    # -- group -----------------------------------------------------------
    def _open_group(self, seg: Segment) -> None:
        ic = self.interchange
        if ic is None:
            self._stray(seg)
            return
        if ic.message_count and not ic.groups:
            self._issue(ic.issues, "GROUPS_AND_MESSAGES_MIXED", "a UNG follows messages outside any group", seg)
        version = seg.get(7, 1) + seg.get(7, 2)
        group = Group(
            id=seg.get(1),
            control_ref=seg.get(5),
            sender=seg.get(2, 1),
            recipient=seg.get(3, 1),
            version=version,
            header=seg,
            interchange=ic,
        )
        if not group.control_ref:
            self._issue(group.issues, "GROUP_HEADER_INVALID", "UNG group reference (0048) is missing", seg, element=5)
        ic.groups.append(group)
        self.group = group

    def _close_group(self, seg: Segment | None, missing: bool = False) -> None:
        group = self.group
        if group is None:
            return
        self.group = None
        if missing:
            where = f"before segment '{seg.tag}'" if seg is not None else "at the end of the input"
            self._issue(group.issues, "GROUP_TRAILER_MISSING", f"group '{group.control_ref}' has no UNE {where}", seg)
            return
        group.trailer = seg
        said = _count(seg.get(1))
        if said != group.message_count:
            self._issue(group.issues, "GROUP_COUNT_MISMATCH",
                        f"UNE says {seg.get(1)!r} messages, the group has {group.message_count}", seg, element=1)
        if seg.get(2) != group.control_ref:
            self._issue(group.issues, "GROUP_REF_MISMATCH",
                        f"UNE reference '{seg.get(2)}' differs from UNG reference '{group.control_ref}'", seg,
                        element=2)

    # -- message ---------------------------------------------------------
    def _open_message(self, seg: Segment, segments: list[Segment] | None = None) -> None:
        """Open the message ``seg`` heads; ``segments`` (from ``seg`` on) when a run brought more."""
        seg.tag = "UNH"  # (the literal: one string for every message's header, as body tags are)
        ic = self.interchange
        if ic is None:
            self._stray(seg)
            return
        if ic.groups and self.group is None:
            self._issue(ic.issues, "GROUPS_AND_MESSAGES_MIXED", "a message stands outside the groups", seg)
        elements = seg.elements
        if len(elements) >= 2 and elements[0].__class__ is str and elements[1].__class__ is list:
            ref, parts = elements[0], elements[1]  # the usual UNH, without Segment.get's look-ups
        else:
            s009 = seg[2]
            parts = s009 if isinstance(s009, list) else [s009]
            ref = seg.get(1)
        msg = Message(
            type=parts[0] if parts else "",
            ref=ref,
            version="".join(parts[1:3]),
            segments=[seg] if segments is None else segments,
            interchange=ic,
            group=self.group,
            release=":".join(parts),
        )
        if not msg.ref or not msg.type:
            self._issue(msg.issues, "MESSAGE_HEADER_INVALID", "UNH must give a message reference and type", seg,
                        message_segment=1)
        if not self.refs.add(msg.ref):
            self._issue(msg.issues, "MESSAGE_REF_DUPLICATE",
                        f"message reference '{msg.ref}' is used twice in interchange '{ic.control_ref}'", seg,
                        element=1, message_segment=1)
        self.message = msg

    def _close_message(self, seg: Segment | None, missing: bool = False) -> Iterator[Message]:
        msg = self.message
        if msg is None:
            return
        self.message = None
        if missing:
            where = f"before segment '{seg.tag}'" if seg is not None else "at the end of the input"
            self._issue(msg.issues, "MESSAGE_TRAILER_MISSING", f"message '{msg.ref}' has no UNT {where}", seg)
        else:
            seg.tag = "UNT"  # type: ignore[union-attr]  # (the literal: one string, as the header's)
            count = len(msg.segments)
            elements = seg.elements
            if len(elements) == 2 and elements[0].__class__ is str and elements[1].__class__ is str:
                said, ref = elements  # the usual UNT, without Segment.get's look-ups
            else:
                said, ref = seg.get(1), seg.get(2)
            if said != str(count) and _count(said) != count:
                self._issue(msg.issues, "MESSAGE_SEGMENT_COUNT_MISMATCH",
                            f"UNT says {said!r} segments, message '{msg.ref}' has {count}", seg,
                            element=1, message_segment=count)
            if ref != msg.ref:
                self._issue(msg.issues, "MESSAGE_REF_MISMATCH",
                            f"UNT reference '{ref}' differs from UNH reference '{msg.ref}'", seg,
                            element=2, message_segment=count)
        ic = msg.interchange
        ic.message_count += 1
        if msg.group is not None:
            msg.group.message_count += 1
        if self.keep:
            ic.messages.append(msg)
            if msg.group is not None:
                msg.group.messages.append(msg)
        yield msg


def read(source: Source, *, encoding: Encoding = None, keep: bool = False) -> Iterator[Message | Interchange]:
    """Read EDIFACT interchanges from ``source`` (see :mod:`gateway.syntax`).

    ``encoding`` replaces the declared character set: a codec name for the
    whole input, or a function of each interchange (its UNB already read)
    returning a codec or None, so a partner's override applies to the
    partner's interchanges only.
    """
    return _Envelope(_Tokenizer(source, encoding), keep).run()


# --------------------------------------------------------------------------
# writer


def _escape(value: str, specials: str, release: str) -> str:
    for ch in value:
        if ch in specials:
            return "".join(release + c if c in specials else c for c in value)
    return value


# Letters that Unicode decomposition does not reduce to ASCII.
_FOLD = str.maketrans({"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L",
                       "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "Ħ": "H", "ħ": "h", "ı": "i",
                       "€": "EUR", "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def transliterate(text: str, codec: str) -> str:
    """``text`` with each character ``codec`` cannot carry folded to ASCII
    (é -> e, Ł -> L, ß -> ss); a character with no folding becomes '?'."""
    out = []
    for ch in text:
        try:
            ch.encode(codec)
            out.append(ch)
        except UnicodeEncodeError:
            folded = unicodedata.normalize("NFKD", ch.translate(_FOLD)).encode("ascii", "ignore").decode()
            out.append(folded or "?")
    return "".join(out)


class _Writer:
    def __init__(self, delims: Delimiters, codec: str, transliterate: bool) -> None:
        self.d = delims
        self.codec = codec
        self.transliterate = transliterate
        specials = delims.segment + delims.element + delims.component + (delims.release or "")
        if delims.repetition:
            specials += delims.repetition
        self.specials = specials
        self.out: list[bytes] = []

    def value(self, value: str, segment: Segment, position: int, component: int | None = None) -> str:
        value = "" if value is None else str(value)
        try:
            value.encode(self.codec)
        except UnicodeEncodeError as exc:
            if not self.transliterate:
                raise EncodingError(
                    Issue(
                        "UNENCODABLE_CHARACTER",
                        f"'{exc.object[exc.start]}' in {segment.tag} element {position} cannot be written in "
                        f"{self.codec}; configure transliteration or a wider character set (UNOC, UNOY)",
                        Location(tag=segment.tag, element=position, component=component),
                    )
                ) from None
            value = transliterate(value, self.codec)
        if self.d.release is None:
            for ch in value:
                if ch in self.specials:
                    raise EncodingError(
                        Issue("WRITE_INVALID", f"'{ch}' in {segment.tag} element {position} is a separator and "
                              "there is no release character", Location(tag=segment.tag, element=position)))
            return value
        return _escape(value, self.specials, self.d.release)

    def segment(self, seg: Segment) -> None:
        d = self.d
        parts = [seg.tag]
        for position, element in enumerate(seg.elements, 1):
            if isinstance(element, Repeats):
                if not d.repetition:
                    raise EncodingError(Issue("WRITE_INVALID", f"{seg.tag} element {position} repeats but the "
                                              "interchange has no repetition separator",
                                              Location(tag=seg.tag, element=position)))
                parts.append(d.repetition.join(self._plain(r, seg, position) for r in element))
            else:
                parts.append(self._plain(element, seg, position))
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()  # trailing empty elements are suppressed
        self.out.append((d.element.join(parts) + d.segment).encode(self.codec))

    def _plain(self, element, seg: Segment, position: int) -> str:
        if isinstance(element, list):
            comps = [self.value(c, seg, position, i) for i, c in enumerate(element, 1)]
            while len(comps) > 1 and comps[-1] == "":
                comps.pop()
            return self.d.component.join(comps)
        return self.value(element, seg, position)


def write(
    interchange: Interchange,
    *,
    delimiters: Delimiters | None = None,
    una: bool | None = None,
    encoding: str | None = None,
    transliterate: bool = False,
    newline: bool = False,
) -> bytes:
    """Write ``interchange`` as EDIFACT with counts and references computed.

    The messages come from ``interchange.groups[*].messages`` when there are
    groups, else from ``interchange.messages``; each message's body is
    ``message.body`` (its segments without UNH/UNT, which are rebuilt). UNA is
    written when asked, or when the separators differ from the defaults.
    A character the interchange's character set (UNB syntax identifier, or
    ``encoding``) cannot carry raises :class:`EncodingError` unless
    ``transliterate`` folds it to ASCII. A missing UNB date or time is
    stamped with the current UTC time.
    """
    pieces: list[bytes] = []  # the document so far, in joined runs of segments
    _write(pieces.append, interchange, delimiters, una, encoding, transliterate, newline)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def write_to(
    out: BinaryIO,
    interchange: Interchange,
    *,
    delimiters: Delimiters | None = None,
    una: bool | None = None,
    encoding: str | None = None,
    transliterate: bool = False,
    newline: bool = False,
) -> int:
    """Write the EDIFACT document for ``interchange`` to ``out`` as it is made (runs of 8,192
    segments at a time), as :func:`write` would return it; the number of bytes written.

    A CONTRL answering 400,000 messages is over 10 MB: written to a file it is never whole in
    memory. On an error, what was written before it stays in ``out``.
    """
    size = 0

    def put(piece: bytes) -> None:
        nonlocal size
        out.write(piece)
        size += len(piece)

    _write(put, interchange, delimiters, una, encoding, transliterate, newline)
    return size


def _write(put: Callable[[bytes], object], interchange: Interchange, delimiters: Delimiters | None,
           una: bool | None, encoding: str | None, transliterate: bool, newline: bool) -> None:
    syntax_id = interchange.syntax_id or "UNOC"
    version = interchange.syntax_version or "3"
    codec = encoding or CHARSETS.get(syntax_id)
    if codec is None:
        raise EncodingError(Issue("CHARSET_UNKNOWN", f"syntax identifier '{syntax_id}' names no known character set",
                                  Location(tag="UNB", element=1, component=1)))
    d = delimiters or interchange.delimiters or DEFAULT
    if d.repetition is None and version == "4" and delimiters is None and interchange.delimiters is None:
        d = Delimiters("'", "+", ":", "*", "?", ".")
    w = _Writer(d, codec, transliterate)
    default_like = (d.segment, d.element, d.component, d.release, d.decimal) == ("'", "+", ":", "?", ".") and (
        d.repetition is None or (d.repetition == "*" and version == "4")
    )
    if una or (una is None and not default_like):
        w.out.append(f"UNA{d.component}{d.element}{d.decimal}{d.release or ' '}{d.repetition or ' '}{d.segment}"
                     .encode(codec))
        if newline:
            w.out.append(b"\n")
    nl = b"\n" if newline else b""

    def emit(seg: Segment) -> None:
        w.segment(seg)
        out = w.out
        if nl:
            out.append(nl)
        if len(out) >= 8192:  # joined as it grows: one bytes per few thousand segments, not one each;
            # only the new ones (joining the document so far each time copied it again and again)
            put(b"".join(out))
            w.out = []

    ref = interchange.control_ref
    date, time = interchange.date, interchange.time
    if not date or not time:  # S004 is mandatory: stamp the time of writing
        now = datetime.now(timezone.utc)
        date = date or now.strftime("%Y%m%d" if version == "4" else "%y%m%d")
        time = time or now.strftime("%H%M")
    # what the model does not name (S005 recipient's reference, 0026 application reference,
    # 0029 priority, 0032 agreement) comes from the header as read or as a renderer set it
    head = interchange.header.elements if interchange.header is not None and interchange.header.tag == "UNB" else []

    def unb(i: int) -> str | list:
        return head[i] if len(head) > i and head[i] not in (None, []) else ""

    emit(Segment("UNB", [
        [syntax_id, version],
        [interchange.sender, interchange.sender_qualifier],
        [interchange.recipient, interchange.recipient_qualifier],
        [date, time],
        ref,
        unb(5), unb(6), unb(7),
        "1" if interchange.ack_requested else "",
        unb(9),
        "1" if interchange.test else "",
    ]))

    def messages_of(msgs: list[Message]) -> None:
        for m in msgs:
            # one pass over m.segments, which may be any iterable (a CONTRL makes its segments while
            # they are written): a UNH first is replaced, a trailing UNT/SE after it dropped
            segments = iter(m.segments)
            first = next(segments, None)
            header = first if first is not None and first.tag == "UNH" else None
            if header is not None:
                elements = list(header.elements)
                elements[0] = m.ref
                emit(Segment("UNH", elements))
            else:
                s009 = m.release.split(":") if m.release else [m.type, m.version[:1], m.version[1:], "UN"]
                emit(Segment("UNH", [m.ref, s009]))
            pending = first if header is None else None  # a segment read ahead, not yet written
            count = 0
            for seg in segments:
                if pending is not None:
                    emit(pending)
                    count += 1
                pending = seg
            if pending is not None and not (header is not None and pending.tag in ("UNT", "SE")):
                emit(pending)
                count += 1
            emit(Segment("UNT", [str(count + 2), m.ref]))

    if interchange.groups:
        for g in interchange.groups:
            header = g.header if g.header is not None and g.header.tag == "UNG" else None
            if header is not None:
                elements = list(header.elements)
                while len(elements) < 5:
                    elements.append("")
                elements[4] = g.control_ref
                emit(Segment("UNG", elements))
            else:
                emit(Segment("UNG", [g.id, g.sender, g.recipient, [date, time],
                                     g.control_ref, "UN", [g.version[:1], g.version[1:]]]))
            messages_of(g.messages)
            emit(Segment("UNE", [str(len(g.messages)), g.control_ref]))
        count = len(interchange.groups)
    else:
        messages_of(interchange.messages)
        count = len(interchange.messages)
    emit(Segment("UNZ", [str(count), ref]))
    put(b"".join(w.out))
    w.out = []


def interchange(
    sender: str,
    recipient: str,
    control_ref: str,
    messages: list[Message],
    *,
    syntax_id: str = "UNOC",
    syntax_version: str = "3",
    sender_qualifier: str = "",
    recipient_qualifier: str = "",
    date: str = "",
    time: str = "",
    test: bool = False,
    ack_requested: bool = False,
) -> Interchange:
    """A new interchange to :func:`write` (a convenience for renderers and tests)."""
    ic = Interchange(
        syntax="edifact", sender=sender, recipient=recipient, control_ref=control_ref,
        sender_qualifier=sender_qualifier, recipient_qualifier=recipient_qualifier, date=date, time=time,
        syntax_id=syntax_id, syntax_version=syntax_version, test=test, ack_requested=ack_requested,
    )
    ic.messages = list(messages)
    ic.message_count = len(ic.messages)
    return ic
