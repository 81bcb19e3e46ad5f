"""Whole documents against the definitions: what egress asks before a rendered document is sent."""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import EdiSyntaxError
from gateway.model import Issue
from gateway.validation.validator import validate

Check = Callable[[str, bytes], list[Issue]]


def errors_in(data: bytes, guide=None) -> list[Issue]:
    """Every error of ``data``: the reader's (envelopes) and each message's content, with ``guide``."""
    from gateway.syntax import parse

    try:
        interchanges = parse(data)
    except EdiSyntaxError as exc:
        return list(exc.issues)
    found: list[Issue] = []
    for ic in interchanges:
        found.extend(i for i in ic.all_issues() if i.is_error)
        for message in ic.messages:
            # the texts of rendered documents are not remembered: rendering costs far more than
            # matching them, and remembering them held ~4 MB per partner and message type (a 200 MB
            # X12 of orders passed on to a supplier as 850s: the service path peaked at 149.0 MB, now 146.8)
            found.extend(i for i in validate(message, guide, remember=False) if i.is_error)
    return found


def checker(partners) -> Check:
    """``check(partner_id, data)``: the errors of a document rendered for that partner, held to the
    standard and to the partner's guide (none when the guide says ``outbound: false``)."""

    def check(partner_id: str, data: bytes) -> list[Issue]:
        partner = partners.get(partner_id) if partners is not None else None
        guide = getattr(partner, "guide", None)
        if guide is not None and not guide.outbound:
            return []
        return errors_in(data, guide)

    return check
