"""Configuration of the HTTP channel: the server (gateway config) and each partner's access (partner file).

Only hashes of API keys are configured (``sha256:<hex>``, see :mod:`adapters.http.keys`);
``edigw key new`` prints a fresh key and the line to put in the partner file.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_hashes(values: list[str]) -> list[str]:
    for value in values:
        if not _HASH.match(value):
            raise ValueError("an API key is configured by its hash 'sha256:<64 hex digits>' "
                             "(edigw key new prints one), never in clear")
    return values


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0)  # documents per second, sustained
    burst: int = Field(default=10, ge=1)  # documents at once


class HttpDelivery(BaseModel):
    """``channels.http.deliver``: documents for the partner are POSTed to its URL."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    # header values may name an environment variable ("env:PARTNER_TOKEN"): secrets stay out of files
    headers: dict[str, str] = Field(default={}, repr=False)
    timeout_seconds: float = Field(default=30.0, gt=0)


class HttpPartner(BaseModel):
    """``channels.http`` in a partner file."""

    model_config = ConfigDict(extra="forbid")

    deliver: HttpDelivery | None = None
    api_keys: list[str] = []
    max_document_bytes: int | None = Field(default=None, gt=0)  # default: the server's
    rate_limit: RateLimit | None = None

    _hashes = field_validator("api_keys")(_check_hashes)


class HttpServer(BaseModel):
    """``http`` in the gateway config."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_keys: list[str] = []  # hashes of keys that see every partner's documents
    max_document_bytes: int = Field(default=100 * 1024 * 1024, gt=0)

    _hashes = field_validator("admin_keys")(_check_hashes)
