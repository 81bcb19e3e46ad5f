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
import os
import sys
from pathlib import Path
from typing import BinaryIO

from gateway.errors import GatewayError
from gateway.model import Interchange

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


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


def _tree(interchanges: list[Interchange]) -> str:
    lines = []
    for ic in interchanges:
        head = f"{ic.syntax} interchange {ic.control_ref!r} from {ic.sender!r} to {ic.recipient!r}"
        if ic.syntax_id:
            head += f" ({ic.syntax_id}{':' + ic.syntax_version if ic.syntax_version else ''})"
        lines.append(head)
        for group in ic.groups:
            lines.append(f"  group {group.id} {group.control_ref!r} version {group.version}: "
                         f"{group.message_count} message(s)")
        for msg in ic.messages:
            indent = "    " if msg.group is not None else "  "
            lines.append(f"{indent}message {msg.type} {msg.ref!r} version {msg.version}: "
                         f"{len(msg.segments)} segment(s)")
            for seg in msg.segments:
                lines.append(f"{indent}  {json.dumps(seg.to_json(), ensure_ascii=False)}")
        for issue in ic.all_issues():
            lines.append(f"  {issue.severity.value}: {issue}")
    return "\n".join(lines)


def cmd_parse(args: argparse.Namespace) -> int:
    from gateway.syntax import parse

    stream, name = _open(args.file)
    with stream:
        interchanges = parse(stream, encoding=args.encoding)
    if args.format == "tree":
        print(_tree(interchanges))
    else:
        docs = [ic.to_json() for ic in interchanges]
        print(_dumps(docs[0] if len(docs) == 1 else docs))
    errors = [i for ic in interchanges for i in ic.all_issues() if i.is_error]
    if errors:
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        print(f"edigw: {name}: {errors[0]}{more}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.bootstrap import build

    gateway = build(samples=Path(args.samples))
    return gateway.run()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="edigw", description="EDI event gateway")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="read an EDIFACT, X12 or XML document and print its structure")
    p.add_argument("file", help="the document, or - for standard input")
    p.add_argument("--format", choices=["json", "tree"], default="json")
    p.add_argument("--encoding", help="decode with this codec instead of the declared character set "
                   "(for partners who declare UNOC and send Windows-1252, say: cp1252)")
    p.set_defaults(func=cmd_parse)

    r = sub.add_parser("run", help="run the gateway on its embedded default")
    r.add_argument("--samples", default="samples", help="folder of documents to read at start-up")
    r.set_defaults(func=cmd_run)
    return top


def main(argv: list[str] | None = None) -> int:
    from gateway import logs

    args = parser().parse_args(argv)
    logs.configure()
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
