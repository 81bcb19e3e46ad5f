"""The two plug points every transport implements.

An inbound adapter turns what a partner sends into :class:`~gateway.inbound.document.Document`
objects and hands each to ``deliver``; it answers the partner only after
``deliver`` returned (the document is then safely taken in). An outbound
adapter sends a rendered document to a partner, raising a TransientError
(retry later) or a TerminalError (give up, dead-letter).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from gateway.inbound.document import Document

Deliver = Callable[[Document], object]


class Inbound(abc.ABC):
    @abc.abstractmethod
    def start(self, deliver: Deliver) -> None:
        """Begin taking documents in; each goes to ``deliver``."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop taking documents in; return when the last one was delivered."""


class Outbound(abc.ABC):
    @abc.abstractmethod
    def send(self, document: bytes, route: object) -> None:
        """Deliver ``document``; TransientError to retry, TerminalError to give up."""
