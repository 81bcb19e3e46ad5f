"""``edigw``: the gateway's command line.

Every command reports bad input as one line on stderr and a non-zero exit
status, never a traceback:

* exit 0 – done, nothing wrong;
* exit 1 – the input was read but has errors (they are in the output too);
* exit 2 – the input could not be read at all, or the command was misused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import BinaryIO

from gateway.errors import GatewayError
from gateway.model import Interchange, Message, Repeats

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2

#: Seconds a command waits for the brokers to answer before it says it cannot reach them (publish,
#: replay, events tail): a broker that answers at all answers in well under a second.
CONNECT_TIMEOUT = 5.0


class CliError(Exception):
    """A problem to report as one line and exit status 2."""


def _open(path: str) -> tuple[BinaryIO, str]:
    if path == "-":
        return sys.stdin.buffer, "<stdin>"
    try:
        return open(path, "rb"), path
    except OSError as exc:
        raise CliError(f"cannot open {path}: {exc.strerror}") from None


def _dumps(value, indent: int = 0) -> str:
    """JSON with one segment per line: readable, and still plain JSON."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        if isinstance(value[0], list) and value[0] and isinstance(value[0][0], str):  # segments
            items = [pad + json.dumps(v, ensure_ascii=False) for v in value]
        else:
            items = [pad + _dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False)


# one encoder each, made once: json.dumps with keyword arguments builds a new encoder per call
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
_ENCODE_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _segment_encoder():
    """A function of a list of segments' JSON values giving the texts ``_ENCODE`` gives for them.

    ``JSONEncoder.encode`` makes a new C encoder on every call (iterencode), which costs more than
    encoding one segment; the standard library's C encoder is made here once instead, with the
    settings ``_ENCODE`` has (no circular check: segment values are fresh lists of strings), and
    mapped over the values without a Python call per segment.
    """
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:  # a Python without the C accelerator
        return lambda values: list(map(_ENCODE, values))
    encode = c_make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ": ", ", ",
                            False, False, True)
    join = "".join
    return lambda values: list(map(join, map(encode, values, repeat(0))))


def _segment_values(segments: list) -> list:
    """``[s.to_json() for s in segments]``, without a call per element when no element repeats."""
    if Repeats in map(type, chain.from_iterable(map(_ELEMENTS, segments))):  # one pass, in C
        return [_segment_value(s) for s in segments]
    return [[s.tag, *s.elements] for s in segments]


_ENCODE_SEGMENTS = _segment_encoder()
_ELEMENTS = attrgetter("elements")


def _segment_value(seg) -> list:
    """``seg.to_json()``, without a call per element when no element repeats (the usual case)."""
    elements = seg.elements
    if Repeats in map(type, elements):
        return seg.to_json()
    return [seg.tag, *elements]


def _message_value(msg: Message) -> dict:
    if type(msg) is not Message:  # XML messages have fields of their own
        return msg.to_json()
    out = {"type": msg.type, "ref": msg.ref, "version": msg.version}
    if msg.group is not None:
        out["group"] = msg.group.control_ref
    out["segments"] = [_segment_value(s) for s in msg.segments]
    if msg.issues:
        out["issues"] = [i.to_json() for i in msg.issues]
    return out


def _message_text(msg: Message, indent: int) -> str:
    """``_dumps(msg.to_json(), indent)``, built directly (one encoder call per segment)."""
    if type(msg) is not Message:
        return _dumps(msg.to_json(), indent)
    pad = "  " * (indent + 1)
    enc = _ENCODE
    parts = [f'{pad}"type": {enc(msg.type)}', f'{pad}"ref": {enc(msg.ref)}', f'{pad}"version": {enc(msg.version)}']
    if msg.group is not None:
        parts.append(f'{pad}"group": {enc(msg.group.control_ref)}')
    if msg.segments:
        inner = ",\n" + pad + "  "
        parts.append(f'{pad}"segments": [\n{pad}  '
                     + inner.join(_ENCODE_SEGMENTS(_segment_values(msg.segments))) + f"\n{pad}]")
    else:
        parts.append(f'{pad}"segments": []')
    if msg.issues:
        parts.append(f'{pad}"issues": {_dumps([i.to_json() for i in msg.issues], indent + 1)}')
    return "{\n" + ",\n".join(parts) + "\n" + "  " * indent + "}"


def _tree_head(ic: Interchange) -> list[str]:
    head = f"{ic.syntax} interchange {ic.control_ref!r} from {ic.sender!r} to {ic.recipient!r}"
    if ic.syntax_id:
        head += f" ({ic.syntax_id}{':' + ic.syntax_version if ic.syntax_version else ''})"
    lines = [head]
    for group in ic.groups:
        lines.append(f"  group {group.id} {group.control_ref!r} version {group.version}: "
                     f"{group.message_count} message(s)")
    return lines


def _tree_message(msg: Message) -> list[str]:
    indent = "    " if msg.group is not None else "  "
    lines = [f"{indent}message {msg.type} {msg.ref!r} version {msg.version}: {len(msg.segments)} segment(s)"]
    for seg in msg.segments:
        lines.append(f"{indent}  {json.dumps(seg.to_json(), ensure_ascii=False)}")
    return lines


def _tree(interchanges: list[Interchange]) -> str:
    """The whole tree of interchanges read with their messages (what the streaming writer writes)."""
    lines = []
    for ic in interchanges:
        lines.extend(_tree_head(ic))
        for msg in ic.messages:
            lines.extend(_tree_message(msg))
        for issue in ic.all_issues():
            lines.append(f"  {issue.severity.value}: {issue}")
    return "\n".join(lines)


class _Spool:
    """Text kept aside until what must precede it is known: in memory while small, then in a
    temporary file (tempfile.SpooledTemporaryFile), so a 200 MB interchange costs a few MB of RSS."""

    LIMIT = 4 << 20

    def __init__(self) -> None:
        import tempfile

        self._file = tempfile.SpooledTemporaryFile(max_size=self.LIMIT, mode="w+", encoding="utf-8", newline="\n")
        self.empty = True

    def write(self, text: str) -> None:
        self._file.write(text)
        self.empty = False

    def copy_to(self, out, prefix: str = "") -> None:
        """Write everything spooled to ``out``; each line prefixed with ``prefix`` (JSON strings hold no
        raw newline, so this re-indents JSON safely)."""
        import shutil

        self._file.seek(0)
        if prefix:
            for line in self._file:
                out.write(prefix + line)
        else:
            shutil.copyfileobj(self._file, out, 1 << 20)

    def close(self) -> None:
        self._file.close()


_MARK = "\u0000edigw-messages\u0000"  # where an interchange's messages go in its JSON


class _Errors:
    """The first error of the document (envelope issues of an interchange before its messages',
    as ``Interchange.all_issues`` orders them) and how many there are, counted as they stream by."""

    def __init__(self) -> None:
        self.first = None
        self.count = 0
        self._message_first = None  # the current interchange's first message error

    def message(self, msg: Message) -> None:
        for issue in msg.issues:
            if issue.is_error:
                self.count += 1
                if self._message_first is None:
                    self._message_first = issue

    def interchange(self, ic: Interchange) -> None:
        found = [i for i in ic.issues if i.is_error] + [i for g in ic.groups for i in g.issues if i.is_error]
        self.count += len(found)
        if self._message_first is not None:
            found.append(self._message_first)
        if self.first is None and found:
            self.first = found[0]
        self._message_first = None


class _ParseWriter:
    """Writes ``edigw parse`` output as the reader yields messages, holding at most one message.

    * ``ndjson``: one line per message, written as soon as it is read (with its interchange's
      ``control_ref`` as ``interchange``); interchange and group issues go to stderr only.
    * ``json``: the same text as ever (one object per interchange, an array of them for several).
      An interchange's groups, with their counts, come before its messages, and whether the output
      is one object or an array is known only when a second interchange starts: so each
      interchange's messages are spooled (to disk once large) and written when the interchange
      ends, the first one when the second begins or the input ends.
    * ``tree``: likewise, group lines before the messages.
    """

    def __init__(self, fmt: str, out) -> None:
        self.fmt = fmt
        self.out = out
        self.errors = _Errors()
        self._body: _Spool | None = None  # the current interchange's messages
        self._issues: _Spool | None = None  # tree: its messages' issue lines
        self._first: _Spool | None = None  # json: the first interchange, until the shape is known
        self._count = 0  # interchanges ended
        self._messages = 0  # messages of the current interchange

    def message(self, msg: Message) -> None:
        self.errors.message(msg)
        if self.fmt == "ndjson":
            doc = _message_value(msg)
            doc["interchange"] = msg.interchange.control_ref if msg.interchange is not None else None
            self.out.write(_ENCODE_COMPACT(doc) + "\n")
            return
        if self._body is None:
            self._body = _Spool()
            self._issues = _Spool() if self.fmt == "tree" else None
            self._messages = 0
            if self.fmt == "json" and self._first is not None:  # a second interchange: an array
                self._open_array()
        if self.fmt == "tree":
            self._body.write("\n".join(_tree_message(msg)) + "\n")
            for issue in msg.issues:
                self._issues.write(f"  {issue.severity.value}: {issue}\n")
        else:
            self._body.write((",\n" if self._messages else "") + "    " + _message_text(msg, 2))
        self._messages += 1

    def interchange(self, ic: Interchange) -> None:
        self.errors.interchange(ic)
        if self.fmt == "ndjson":
            return
        body, issues, self._body, self._issues = self._body, self._issues, None, None
        if self.fmt == "tree":
            out = self.out
            out.write("\n".join(_tree_head(ic)) + "\n")
            if body is not None:
                body.copy_to(out)
                body.close()
            for issue in [*ic.issues, *(i for g in ic.groups for i in g.issues)]:
                out.write(f"  {issue.severity.value}: {issue}\n")
            if issues is not None:
                issues.copy_to(out)
                issues.close()
            self._count += 1
            return
        doc = ic.to_json()
        doc["messages"] = _MARK
        before, after = _dumps(doc).split(json.dumps(_MARK), 1)
        done = _Interchange(before, body, after)
        if self._count == 0:
            self._first = done  # one object, or the first of an array: known later
        else:
            if self._count == 1 and self._first is not None:
                self._open_array()
            self.out.write(",\n")
            done.write_to(self.out, prefix="  ")
        self._count += 1

    def _open_array(self) -> None:
        self.out.write("[\n")
        self._first.write_to(self.out, prefix="  ")
        self._first = None

    def finish(self) -> None:
        if self.fmt == "json":
            if self._first is not None:  # a single interchange
                self._first.write_to(self.out)
                self.out.write("\n")
            elif self._count:
                self.out.write("\n]\n")
        self.out.flush()


class _Interchange:
    """An ended interchange's JSON: the text before its messages, the spooled messages, the rest."""

    def __init__(self, before: str, body: _Spool | None, after: str) -> None:
        self.before, self.body, self.after = before, body, after

    def write_to(self, out, prefix: str = "") -> None:
        body = self.body
        text = self.before + ("[]" if body is None or body.empty else "[")
        out.write(prefix + text.replace("\n", "\n" + prefix) if prefix else text)
        if body is not None:
            if not body.empty:
                out.write("\n")
                body.copy_to(out, prefix)
                out.write("\n" + prefix + "  ]")
            body.close()
        out.write(self.after.replace("\n", "\n" + prefix) if prefix else self.after)


class _Counted:
    """A binary stream that advances a progress bar by the bytes read from it."""

    def __init__(self, stream: BinaryIO, bar) -> None:
        self._stream = stream
        self._bar = bar

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._bar.update(len(data))
        return data

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _progress(stream: BinaryIO, name: str):
    """A progress bar of the bytes read, on stderr, when stderr is a terminal (tqdm: already a
    dependency of replay, and it turns itself off when stderr is not a terminal)."""
    from tqdm import tqdm

    try:
        total = os.fstat(stream.fileno()).st_size or None
    except (OSError, AttributeError, ValueError):
        total = None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000, desc=os.path.basename(name),
                file=sys.stderr, disable=None, leave=False)


def cmd_parse(args: argparse.Namespace) -> int:
    from gateway.syntax import read

    if args.encoding:
        import codecs

        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise CliError(f"--encoding {args.encoding!r} is not a known character encoding "
                           "(e.g. cp1252, latin-1, utf-8)") from None
    stream, name = _open(args.file)
    out = sys.stdout
    writer = _ParseWriter(args.format, out)
    with stream, _progress(stream, name) as bar:
        for item in read(_Counted(stream, bar), encoding=args.encoding, keep=False):
            if isinstance(item, Interchange):
                writer.interchange(item)
            else:
                writer.message(item)
    writer.finish()
    errors = writer.errors
    if errors.count:
        more = f" (and {errors.count - 1} more error(s))" if errors.count > 1 else ""
        print(f"edigw: {name}: {errors.first}{more}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _config(args: argparse.Namespace):
    from gateway.config import load_config

    config = load_config(getattr(args, "config", None))
    if getattr(args, "mappings", None):
        config.mappings = Path(args.mappings)
    if getattr(args, "schemas", None):
        config.schemas = Path(args.schemas)
    return config


def cmd_validate(args: argparse.Namespace) -> int:
    from gateway.syntax import parse
    from gateway.validation.command import report

    guide = None
    if args.partner:
        from gateway.errors import ConfigError
        from gateway.mapping.loader import check_partners
        from gateway.mapping.targets import load_targets

        config = _config(args)
        partners: list = []
        problems = check_partners(config.mappings, load_targets(config.schemas), partners)
        if problems:
            raise ConfigError(f"{len(problems)} problem(s) in partner files:\n" + "\n".join(problems))
        partner = next((p for p in partners if p.id == args.partner), None)
        if partner is None:
            raise CliError(f"no partner '{args.partner}' in {config.mappings} "
                           f"(partners: {', '.join(p.id for p in partners)})")
        guide = partner.guide
    stream, name = _open(args.file)
    with stream:
        interchanges = parse(stream)
    return report(name, interchanges, guide, fmt=args.format)


def cmd_check(args: argparse.Namespace) -> int:
    from gateway.mapping.loader import check_partners
    from gateway.mapping.targets import load_targets

    config = _config(args)
    targets = load_targets(config.schemas)
    problems = check_partners(config.mappings, targets, keep := [])
    from gateway.outbound.render import check_routes

    # outbound templates against the schemas; both read each file's head (partner, identity, ...), so a
    # problem there comes from both: each is reported and counted once
    problems = list(dict.fromkeys(problems + check_routes(config.mappings, config.schemas)))
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"edigw: {len(problems)} problem(s) in {config.mappings}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{len(keep)} partner file(s) in {config.mappings} are valid: "
          + ", ".join(f"{p.id} ({len(p.routes)} route(s))" for p in keep))
    return EXIT_OK


def _received_at(text: str | None):
    from datetime import datetime, timezone

    if not text:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--received-at {text!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _document(args: argparse.Namespace, stream: BinaryIO, transport: str, path: str | None = None):
    from adapters.folder.inbound import sha256_ref
    from gateway.inbound.document import Document

    raw_ref = sha256_ref(Path(path)) if path and path != "-" else None
    return Document(stream, received_at=_received_at(args.received_at), transport=transport,
                    receipt_id=args.receipt_id, raw_ref=raw_ref)


def event_json(schemas, event) -> dict:
    return {"topic": event.topic, "key": event.key, "event_type": event.event_type,
            "event": schemas.to_json(event.event_type, event.record)}


def _dead_letter_line(dead, name: str) -> str:
    r = dead.record
    return f"edigw: {name}: {r['stage']}: {r['reason_code']}: {r['error']} at {r['position']}"


def _report_dead_letters(outcome, name: str) -> int:
    for dead in outcome.dead_letters:
        print(_dead_letter_line(dead, name), file=sys.stderr)
    if outcome.dead_letter_count > len(outcome.dead_letters):
        print(f"edigw: {name}: and {outcome.dead_letter_count - len(outcome.dead_letters)} more dead letter(s)",
              file=sys.stderr)
    return EXIT_INVALID if outcome.dead_letter_count else EXIT_OK


class _EventWriter:
    """Writes ``edigw map`` output batch by batch, as the pipeline confirms it: ``json`` is the
    array it always was (``json.dumps(..., indent=1)``, item by item), ``ndjson`` one event a line."""

    def __init__(self, fmt: str, schemas, out) -> None:
        self.fmt = fmt
        self.schemas = schemas
        self.out = out
        self.count = 0

    def events(self, batch) -> None:
        out = self.out
        for event in batch:
            doc = event_json(self.schemas, event)
            if self.fmt == "ndjson":
                out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
            else:
                text = json.dumps(doc, ensure_ascii=False, indent=1)
                out.write(("[\n" if not self.count else ",\n") + " " + text.replace("\n", "\n "))
            self.count += 1
        out.flush()

    def finish(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "[]\n")
        self.out.flush()


def cmd_map(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build
    from gateway.sinks.memory import MemorySink

    parts = build(_config(args), sink=MemorySink(keep=False))
    if args.partner:
        partner = parts.partners.get(args.partner)
        if partner is None:
            raise CliError(f"no partner '{args.partner}' in {parts.config.mappings} "
                           f"(partners: {', '.join(p.id for p in parts.partners.all)})")
        def forced(unit) -> None:
            unit.partner = partner

        pipeline = parts.pipeline
        pipeline.stages = [forced if stage == pipeline.identify_partner else stage for stage in pipeline.stages]
        pipeline.encoding_for = lambda ic: partner.encoding
    stream, name = _open(args.file)
    writer = _EventWriter(args.format, parts.schemas, sys.stdout)

    def dead(event) -> None:  # one line each, as they come
        print(_dead_letter_line(event, name), file=sys.stderr, flush=True)

    with stream, _progress(stream, name) as bar:
        outcome = parts.pipeline.process(_document(args, _Counted(stream, bar), "file", args.file), keep=False,
                                         on_events=writer.events, on_dead_letter=dead)
    writer.finish()
    return EXIT_INVALID if outcome.dead_letter_count else EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build

    config = _config(args)
    servers = args.bootstrap_servers or config.kafka.bootstrap_servers
    if not servers:
        raise CliError("no Kafka to publish to: give --bootstrap-servers, or set kafka.bootstrap_servers in the "
                       "config file or EDIGW_KAFKA_BOOTSTRAP_SERVERS")
    parts = build(config, bootstrap_servers=servers)
    status = EXIT_OK
    try:
        parts.sink.reach(CONNECT_TIMEOUT)  # "cannot reach the broker at ..." now, not after publish_timeout
        for path in args.files:
            stream, name = _open(path)
            with stream:
                outcome = parts.pipeline.process(_document(args, stream, "file", path), keep=False)
            print(f"{name}: {outcome.messages} message(s), {outcome.published} event(s) published to "
                  f"{', '.join(sorted(outcome.topics)) or 'no topic'}, {outcome.dead_letter_count} dead letter(s)")
            status = max(status, _report_dead_letters(outcome, name))
    finally:
        parts.close()
    return status


def cmd_tail(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build_encoder
    from gateway.events import SchemaSet
    from gateway.events.tail import tail

    config = _config(args)
    servers = args.bootstrap_servers or config.kafka.bootstrap_servers
    if not servers:
        raise CliError("no Kafka to read from: give --bootstrap-servers or set kafka.bootstrap_servers")
    schemas = SchemaSet.load(config.schemas)
    encoder = build_encoder(config, schemas)

    def lost(reason: str) -> None:  # the command goes on: the broker may come back
        print(f"edigw: kafka: lost the broker at {servers}: {reason}; waiting for it (Ctrl-C to stop)",
              file=sys.stderr, flush=True)

    for topic, key, event_type, record, headers in tail(servers, args.topic, encoder, from_beginning=args.from_beginning,
                                                       max_events=args.max, idle_timeout=args.timeout,
                                                       connect_timeout=CONNECT_TIMEOUT, on_lost=lost):
        print(json.dumps({"topic": topic, "key": key, "event_type": event_type, "headers": headers,
                          "event": schemas.to_json(event_type, record)}, ensure_ascii=False), flush=True)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    """Process archived documents again (after a mapping fix, say); their events keep their ids."""
    from datetime import datetime, timezone

    from tqdm import tqdm

    from gateway.bootstrap import build
    from gateway.errors import TransientError
    from gateway.inbound.intake import Intake
    from gateway.config import is_url
    from gateway.state import open_store

    if not (args.receipts or args.status or args.partner or args.since):
        raise CliError("say what to replay: receipt ids, or --status, --partner and/or --since")
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since {args.since}: not an ISO 8601 date or time (2026-11-01, "
                           "2026-11-01T08:00:00+01:00)") from None
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    config = _config(args)
    if not is_url(config.state) and not Path(config.state).exists():
        raise CliError(f"no state store at {config.state}: nothing was taken in there")
    store = open_store(config.state)
    try:
        if args.receipts:
            chosen = []
            for receipt_id in args.receipts:
                receipt = store.get_receipt(receipt_id)
                if receipt is None:
                    raise CliError(f"no receipt {receipt_id} in {getattr(store, 'location', config.state)}")
                chosen.append(receipt)
        else:
            chosen = store.find_receipts(partner_id=args.partner, status=args.status, since=since, limit=args.limit)
            chosen.reverse()  # oldest first, as they came in
        if not chosen:
            print("nothing to replay: no document matches")
            return EXIT_OK
        servers = args.bootstrap_servers or config.kafka.bootstrap_servers or f"127.0.0.1:{config.kafka.embedded_port}"
        parts = build(config, bootstrap_servers=servers)
        try:
            parts.sink.reach(CONNECT_TIMEOUT)
        except TransientError:
            parts.close()
            raise
        intake = Intake.configured(config, store, parts.pipeline)
        results: dict[str, int] = {}
        try:
            for receipt in tqdm(chosen, desc="replaying", unit="doc", file=sys.stderr, disable=None):
                try:
                    intake.process(store.get_receipt(receipt.id))
                except TransientError as exc:
                    raise CliError(f"stopped at {receipt.id}: {exc}; the rest is unchanged, run the same "
                                   "command again") from None
                status = store.get_receipt(receipt.id).status
                results[status] = results.get(status, 0) + 1
        finally:
            parts.close()
    finally:
        store.close()
    print(f"replayed {len(chosen)} document(s): " + ", ".join(f"{n} {s}" for s, n in sorted(results.items())))
    return EXIT_INVALID if results.get("failed") else EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    """Print the document(s) an event becomes for a partner, without sending anything."""
    from datetime import datetime, timezone

    from gateway.events import SchemaSet
    from gateway.outbound.render import Routes, check_routes, numbering, render

    config = _config(args)
    schemas = SchemaSet.load(config.schemas)
    problems = check_routes(config.mappings, schemas, keep := [])
    if problems:
        raise CliError(f"{len(problems)} problem(s) in the outbound routes of {config.mappings}, the first: "
                       f"{problems[0]}")
    routes = Routes(keep)
    mine = routes.of(args.partner)
    if not mine:
        raise CliError(f"partner '{args.partner}' has no outbound route in {config.mappings} (partners with "
                       f"routes: {', '.join(routes.partners) or 'none'})")
    now = datetime.now(timezone.utc)
    if args.now:
        try:
            now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        except ValueError:
            raise CliError(f"--now {args.now!r} is not an ISO 8601 date-time") from None
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    stream, name = _open(args.file)
    with stream:
        try:
            data = json.loads(stream.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CliError(f"{name} is not a JSON event: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise CliError(f"{name} holds no event")
    numbers = numbering(args.first_number)
    out = []
    for item in items:
        wrapped = isinstance(item, dict) and isinstance(item.get("event"), dict)
        record_json = item["event"] if wrapped else item
        event_type = item.get("event_type") if isinstance(item, dict) else None
        if not isinstance(record_json, dict) or not isinstance(event_type, str):
            raise CliError(f"{name}: an event is an object with its event_type (as edigw map prints them, or the "
                           "record itself)")
        record = schemas.from_json(event_type, record_json)
        if args.route:
            route = routes.get(args.partner, args.route)
            if route is None:
                raise CliError(f"partner '{args.partner}' has no outbound route '{args.route}' (routes: "
                               f"{', '.join(r.name for r in mine)})")
        else:
            taking = routes.routes_for(args.partner, event_type, record)
            if len(taking) != 1:
                listed = ", ".join(f"{r.name} ({r.event_type})" for r in (taking or mine))
                if taking:
                    raise CliError(f"{len(taking)} routes of {args.partner} take this {event_type} ({listed}): "
                                   "choose one with --route")
                typed = [r for r in mine if r.event_type == event_type]
                if typed:  # routes for this event type, whose `when` did not hold
                    raise CliError(f"no outbound route of {args.partner} takes this {event_type}: "
                                   + "; ".join(_condition_failed(r, record) for r in typed)
                                   + f"; give --route {typed[0].name} to render it anyway")
                raise CliError(f"no outbound route of {args.partner} takes this {event_type} (routes: {listed})")
            route = taking[0]
        out.append(render(record, route, numbers=numbers, now=now).data)
    if args.output:
        try:
            Path(args.output).write_bytes(b"".join(out))
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.buffer.write(b"".join(out))
        sys.stdout.buffer.flush()
    return EXIT_OK


def _condition_failed(route, record: dict) -> str:
    """Why ``route`` does not take ``record``: its ``when``, where it is, and the event's value."""
    where = route.where.rsplit(": ", 1)[0]  # file:line of the route
    when = route.spec.when
    if when is None:
        return f"route '{route.name}' ({where}) does not take it"
    tests = []
    if when.equals is not None:
        tests.append(f"equals {when.equals!r}")
    if when.in_ is not None:
        tests.append("is one of " + ", ".join(repr(v) for v in when.in_))
    if when.not_in is not None:
        tests.append("is none of " + ", ".join(repr(v) for v in when.not_in))
    if when.exists is not None:
        tests.append("is present" if when.exists else "is absent")
    if when.same_as is not None:
        tests.append(f"is the same as {when.same_as}")
    text = (f"the condition of route '{route.name}' ({where}) does not hold: it takes one only when "
            f"{when.path} {' and '.join(tests) or 'holds'}")
    value = _plain_path(record, when.path)
    if value is None:
        text += f" (this event has no {when.path})"
    elif value is not _MISSING:
        shown = ", ".join(repr(str(v)) for v in value) if isinstance(value, list) else repr(str(value))
        text += f" (this event's {when.path}: {shown})"
    return text


_MISSING = object()


def _plain_path(record: dict, path: str):
    """The value at a plain dotted path (``buyer.id``) of a record, best effort; _MISSING otherwise."""
    if not path or not all(part.isidentifier() for part in path.split(".")):
        return _MISSING
    values = [record]
    for part in path.split("."):
        found = []
        for value in values:
            if isinstance(value, dict) and part in value:
                item = value[part]
                found.extend(item if isinstance(item, list) else [item])
        if not found:
            return None if all(v is None or isinstance(v, dict) for v in values) else _MISSING
        values = found
    return values[0] if len(values) == 1 else values


def cmd_key(args: argparse.Namespace) -> int:
    from adapters.http.keys import new_key

    key, digest = new_key()
    print(f"API key (give it to the partner; it is not stored): {key}")
    print(f"for the partner file:  channels: {{http: {{api_keys: [{digest}]}}}}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.service import run

    return run(_config(args), inbox=Path(args.inbox),
               demo_key_file=Path(args.demo_key_file) if args.demo_key_file else None)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="edigw", description="EDI event gateway")
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="gateway.yaml (default: $EDIGW_CONFIG, else built-in defaults)")
        p.add_argument("--mappings", help="folder of partner files (default: mappings)")
        p.add_argument("--schemas", help="folder of Avro schemas (default: schemas)")

    p = sub.add_parser("parse", help="read an EDIFACT, X12 or XML document and print its structure")
    p.add_argument("file", help="the document, or - for standard input")
    p.add_argument("--format", choices=["json", "ndjson", "tree"], default="json",
                   help="json (default), ndjson (one message per line, written as it is read) or tree")
    p.add_argument("--encoding", help="decode with this codec instead of the declared character set "
                   "(for partners who declare UNOC and send Windows-1252, say: cp1252)")
    p.set_defaults(func=cmd_parse)

    v = sub.add_parser("validate", help="check a document's content against the standard and a partner's guide")
    v.add_argument("file", help="the document, or - for standard input")
    v.add_argument("--partner", help="also apply this partner's implementation guide (mappings/guides/)")
    v.add_argument("--format", choices=["text", "json"], default="text")
    common(v)
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("check", help="validate every partner file against the Avro schemas")
    common(c)
    c.set_defaults(func=cmd_check)

    m = sub.add_parser("map", help="print the events a document becomes, without publishing")
    m.add_argument("file", help="the document, or - for standard input")
    m.add_argument("--partner", help="use this partner's mapping whatever the envelope says")
    m.add_argument("--received-at", help="ISO 8601 time of receipt (default: now), for reproducible output")
    m.add_argument("--receipt-id", help="receipt id to put in the events' source")
    m.add_argument("--format", choices=["json", "ndjson"], default="json",
                   help="json (default: an array) or ndjson (one event per line); both written as they come")
    common(m)
    m.set_defaults(func=cmd_map)

    pub = sub.add_parser("publish", help="map documents and publish their events to Kafka")
    pub.add_argument("files", nargs="+", help="documents")
    pub.add_argument("--received-at", help="ISO 8601 time of receipt (default: now)")
    pub.add_argument("--receipt-id", help="receipt id to put in the events' source")
    pub.add_argument("--bootstrap-servers", help="default: kafka.bootstrap_servers of the config "
                     "(or $EDIGW_KAFKA_BOOTSTRAP_SERVERS)")
    common(pub)
    pub.set_defaults(func=cmd_publish)

    ev = sub.add_parser("events", help="events on Kafka")
    ev_sub = ev.add_subparsers(dest="events_command", required=True)
    t = ev_sub.add_parser("tail", help="decode and print events from a topic, one JSON object per line")
    t.add_argument("topic")
    t.add_argument("--bootstrap-servers", help="default: kafka.bootstrap_servers of the config")
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest event, not the newest")
    t.add_argument("--max", type=int, help="stop after this many events")
    t.add_argument("--timeout", type=float, help="stop after this many seconds without an event")
    common(t)
    t.set_defaults(func=cmd_tail)

    rp = sub.add_parser("replay", help="process archived documents again (events keep their ids)")
    rp.add_argument("receipts", nargs="*", help="receipt ids (as the status API shows them)")
    rp.add_argument("--status", choices=["received", "published", "failed", "duplicate"],
                    help="every document with this status")
    rp.add_argument("--partner", help="every document of this partner")
    rp.add_argument("--since", help="documents received at or after this ISO 8601 time")
    rp.add_argument("--limit", type=int, default=100_000, help="at most this many documents (default 100000)")
    rp.add_argument("--bootstrap-servers", help="default: kafka.bootstrap_servers, else the embedded broker's port")
    common(rp)
    rp.set_defaults(func=cmd_replay)

    rd = sub.add_parser("render", help="print the document an event becomes for a partner, without sending it")
    rd.add_argument("file", help="the event as JSON (as edigw map prints it, or the record), or - for standard input")
    rd.add_argument("--partner", required=True, help="the partner whose outbound routes render it")
    rd.add_argument("--route", help="this route, whatever its `when` says (default: the one route taking the event)")
    rd.add_argument("--now", help="ISO 8601 time of rendering (default: now), for reproducible output")
    rd.add_argument("--first-number", type=int, default=1, metavar="N",
                    help="control numbers start at N (default 1; nothing is taken from the state store)")
    rd.add_argument("-o", "--output", help="write the document to this file instead of standard output")
    common(rd)
    rd.set_defaults(func=cmd_render)

    k = sub.add_parser("key", help="API keys")
    k_sub = k.add_subparsers(dest="key_command", required=True)
    kn = k_sub.add_parser("new", help="print a fresh API key and the hash to configure")
    kn.set_defaults(func=cmd_key)

    r = sub.add_parser("run", help="run the gateway (an embedded broker when none is configured)")
    r.add_argument("--inbox", default="var/inbox", help="folder watched for documents (default: var/inbox)")
    r.add_argument("--demo-key-file", metavar="FILE",
                   help="write a fresh admin API key, valid for this run only, to FILE (make run: var/demo-api-key)")
    common(r)
    r.set_defaults(func=cmd_run)
    return top


def main(argv: list[str] | None = None) -> int:
    from gateway import logs

    args = parser().parse_args(argv)
    logs.configure()
    # librdkafka logs every failed connection attempt, dozens a second: a command says what went
    # wrong in its one line of error instead (the gateway logs them as warnings, rate-limited)
    client_log = logging.getLogger("gateway.kafka.client")
    was_disabled = client_log.disabled
    client_log.disabled = args.func is not cmd_run
    try:
        return _run(args)
    finally:
        client_log.disabled = was_disabled  # main() called in-process (tests) leaves it as it was


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except CliError as exc:
        print(f"edigw: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except GatewayError as exc:
        name = getattr(args, "file", "")
        prefix = f"{name}: " if name else ""
        print(f"edigw: {prefix}{exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
