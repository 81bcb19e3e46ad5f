"""Sending documents to a partner's HTTP endpoint (``channels.http.deliver``).

2xx is delivered; a timeout, a refused connection, 5xx, 408 and 429 are
transient (the outbox retries with backoff); any other answer is terminal.
"""

from __future__ import annotations

import os

import httpx

from adapters.base import Outbound
from adapters.http.config import HttpDelivery
from gateway.errors import ConfigError, TerminalError, TransientError

MEDIA_TYPES = {"x12": "application/EDI-X12", "edi": "application/EDIFACT", "xml": "application/xml"}


class HttpSender(Outbound):
    def __init__(self, config: HttpDelivery, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self.headers = {name: _value(name, value) for name, value in config.headers.items()}
        self.client = client or httpx.Client(timeout=config.timeout_seconds)

    def send(self, document: bytes, route: object) -> dict:
        name = getattr(route, "filename", None) or "document.edi"
        media = MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")
        try:
            response = self.client.post(self.config.url, content=document, headers={
                "Content-Type": media, "Content-Disposition": f'attachment; filename="{name}"', **self.headers})
        except httpx.HTTPError as exc:
            raise TransientError(f"POST {self.config.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"POST {self.config.url}: HTTP {response.status_code}")
        if response.status_code >= 300:
            raise TerminalError(f"POST {self.config.url}: HTTP {response.status_code}: {response.text[:200]}")
        return {"http_status": response.status_code}


def _value(name: str, value: str) -> str:
    if not value.startswith("env:"):
        return value
    variable = value[4:]
    if variable not in os.environ:
        raise ConfigError(f"channels.http.deliver.headers.{name}: environment variable {variable} is not set")
    return os.environ[variable]
