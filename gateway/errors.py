"""The gateway's errors.

Every problem the gateway meets is either *terminal* (retrying cannot help: the
document is rejected, dead-lettered or answered with a negative acknowledgement)
or *transient* (the same work may succeed later: retry with backoff). Code that
catches errors decides by that marker alone, never by the concrete class.

    GatewayError
    ├── TerminalError                 reject / dead-letter, never retried
    │   ├── EdiSyntaxError            a document cannot be read (carries Issues)
    │   ├── EncodingError             a writer cannot represent a value
    │   ├── MappingError              a message cannot become its event (carries an Issue)
    │   └── ConfigError               a configuration file is wrong (file:line:key)
    └── TransientError                retry later (broker down, peer timeout, ...)

Syntax problems are described by :class:`Issue`: a code from the catalogue in
:mod:`gateway.codes`, a human text and a :class:`~gateway.model.Location`.
One Issue gives the log line, the acknowledgement (TA1/AK9/AK5/AK3/AK4, CONTRL
UCI/UCF/UCM/UCS/UCD) and the partner's report, so the three never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from gateway.model import Issue


class GatewayError(Exception):
    """Base of all errors the gateway raises on purpose."""

    terminal: bool = True


class TerminalError(GatewayError):
    """Retrying cannot help: reject, dead-letter or acknowledge negatively."""

    terminal = True


class TransientError(GatewayError):
    """The same work may succeed later: retry with backoff."""

    terminal = False


class EdiSyntaxError(TerminalError):
    """A document cannot be read at all (not EDI, unreadable header, ...).

    Problems that still let the reader go on (a wrong UNT count, say) are not
    raised: they are collected as :class:`Issue` records on the interchange,
    group or message they belong to.
    """

    def __init__(self, issue: Issue, *more: Issue) -> None:
        self.issues: tuple[Issue, ...] = (issue, *more)
        super().__init__(str(issue))

    @property
    def issue(self) -> Issue:
        return self.issues[0]


class EncodingError(TerminalError):
    """A writer was asked for something the target syntax cannot carry."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        super().__init__(str(issue))


class MappingError(TerminalError):
    """A message cannot be turned into its event: no partner, no route, a
    required field without a value, a value that does not convert."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        super().__init__(str(issue))


class ConfigError(TerminalError):
    """A configuration file is wrong; the text names file, line and key."""
