"""What an inbound adapter hands to the intake: the document and what the channel knows of it.

Kept apart from the pipeline so that adapters depend on this data type only, not on the
stages behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway.syntax.source import Source


@dataclass
class Document:
    """A document as intake hands it over."""

    source: Source  # bytes or a binary stream
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    transport: str = "file"
    receipt_id: str | None = None
    raw_ref: str | None = None  # where the raw bytes are kept (sha256:...)
    partner_id: str | None = None  # the authenticated partner, when the channel knows it
    idempotency_key: str | None = None  # the channel's own "already taken in" key (HTTP header, SFTP path+size)
