"""``edigw validate FILE [--partner P] [--format json]``: a document against the standard
(and a partner's guide), reported as compiler-style lines.

One line per finding, envelope issues of the reader included::

    orders.x12:14: segment 14 PO1 element 04: error ELEMENT_MISSING: mandatory element PO104 (212) is missing [850 0001]

Exit status: 0 no error (warnings may be printed), 1 errors found.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from gateway.model import Interchange, Issue, Message
from gateway.validation.validator import definition_for, validate


def _where(issue: Issue) -> str:
    loc = issue.location
    parts = []
    if loc.segment is not None:
        parts.append(f"segment {loc.segment}")
    if loc.tag:
        parts.append(loc.tag)
    if loc.element is not None:
        el = f"element {loc.element:02d}"
        if loc.component is not None:
            el += f"-{loc.component:02d}"
        if loc.repetition is not None:
            el += f" (repetition {loc.repetition})"
        parts.append(el)
    return " ".join(parts) or "document"


def line(name: str, issue: Issue, message: Message | None = None) -> str:
    loc = issue.location
    head = f"{name}:{loc.line}" if loc.line is not None else name
    text = f"{head}: {_where(issue)}: {issue.severity.value} {issue.code}: {issue.text}"
    if message is not None:
        text += f" [{message.type} {message.ref}]"
    return text


def check(interchanges: list[Interchange], guide=None) -> list[tuple[Message | None, Issue, bool]]:
    """(message, issue, covered) for every issue of the interchanges, content ones included."""
    out: list[tuple[Message | None, Issue, bool]] = []
    for ic in interchanges:
        out.extend((None, i, True) for i in ic.issues)
        for group in ic.groups:
            out.extend((None, i, True) for i in group.issues)
        for message in ic.messages:
            covered = definition_for(message) is not None
            out.extend((message, i, covered) for i in message.issues)
            out.extend((message, i, covered) for i in validate(message, guide))
    return out


def report(name: str, interchanges: list[Interchange], guide=None, *, fmt: str = "text",
           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    found = check(interchanges, guide)
    errors = sum(1 for _, i, _ in found if i.is_error)
    messages = [m for ic in interchanges for m in ic.messages]
    uncovered = [m for m in messages if definition_for(m) is None]
    if fmt == "json":
        doc = {
            "file": name,
            "partner": getattr(guide, "partner", None),
            "errors": errors,
            "warnings": sum(1 for _, i, _ in found if not i.is_error),
            "messages": [{"type": m.type, "ref": m.ref, "version": m.version,
                          "covered": definition_for(m) is not None} for m in messages],
            "issues": [{**i.to_json(), "message": {"type": m.type, "ref": m.ref} if m is not None else None}
                       for m, i, _ in found],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=1), file=out)
    else:
        for message, issue, _ in found:
            print(line(name, issue, message), file=out)
        for m in uncovered:
            print(f"{name}: note: {m.type} {m.version or m.release} is not covered by the definitions: only its "
                  "envelope was checked", file=err)
        if errors:
            print(f"{name}: {errors} error(s) in {len(messages)} message(s)", file=err)
    return 1 if errors else 0
