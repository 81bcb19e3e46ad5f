"""Sending documents to a partner over AS2: the Outbound adapter the outbox dispatcher calls.

The Message-ID and the MIC are handed to ``route.prepared`` before the POST,
so an asynchronous MDN that arrives before the POST returns finds its record.
A synchronous MDN is verified at once (signature, MIC, disposition): a
negative or untrustworthy MDN is a terminal failure, reported with its
problems (``processed/error`` as taken in with an error, ``failed`` as not
taken in; a 997 or CONTRL the partner sends later is still attached to it);
no MDN when one was asked for is transient (the message is sent again under
a new Message-ID).
"""

from __future__ import annotations

from datetime import datetime, timezone

from adapters.as2.config import As2Profile
from adapters.as2.errors import UnsupportedFormat
from adapters.as2.send import build_message, mdn_deadline, refusal, send, verify_mdn
from adapters.base import Outbound
from gateway.errors import TerminalError, TransientError


class MdnRefused(TerminalError):
    """The partner's MDN says no (or cannot be trusted); ``facts`` go on the outbound record."""

    def __init__(self, text: str, facts: dict) -> None:
        super().__init__(text)
        self.facts = facts


class As2Sender(Outbound):
    def __init__(self, profile: As2Profile) -> None:
        if not profile.config.url:
            raise TerminalError(f"partner {profile.partner}: channels.as2.url is needed to send over AS2")
        self.profile = profile

    def send(self, document: bytes, route: object) -> dict:
        config = self.profile.config
        now = datetime.now(timezone.utc)
        message = build_message(document, self.profile, filename=getattr(route, "filename", None), now=now)
        deadline = mdn_deadline(self.profile, now)
        asked = "async" if config.mdn is not None and config.mdn.mode == "async" else (
            "sync" if config.mdn is not None else None)
        facts = {"as2_message_id": message.message_id, "mic": {"digest": message.mic.digest,
                                                                "algorithm": message.mic.algorithm},
                 "mdn": "pending" if asked else None,
                 "mdn_deadline": deadline.isoformat() if deadline else None}
        prepared = getattr(route, "prepared", None)
        if prepared is not None:
            prepared(message.message_id, facts)
        response = send(message, self.profile)  # As2TransportError (transient) when it cannot be delivered
        if asked != "sync":
            return facts
        if not response.body:
            raise TransientError(f"AS2 to {config.url}: a synchronous MDN was asked for and none came back")
        try:
            result = verify_mdn(response.headers, response.body, expected_mic=message.mic, profile=self.profile,
                                message_id=message.message_id)
        except UnsupportedFormat as exc:
            raise TerminalError(f"AS2 to {config.url}: the answer is not an MDN: {exc}") from None
        facts.update(mdn="ok" if result.ok else "failed",
                     disposition=str(result.disposition) if result.disposition else None,
                     mdn_problems=list(result.problems))
        if not result.ok:
            raise MdnRefused(f"AS2 to {config.url}: {refusal(result)}", facts)
        return facts
