"""``POST /as2`` on the gateway's HTTP server: AS2 messages in, MDNs out.

The success MDN is built only after the payload is durably taken in (archive
and receipt committed). The receipt's idempotency key is ``as2:<Message-ID>``
for the partner, stored in the same transaction as the receipt, so a resend
of a message already taken in is answered with a positive MDN
(``processed/warning: duplicate-document``) and not taken in twice, while a
resend after a failed MDN (nothing was kept) is taken in like a new message.

Asynchronous MDNs are posted from a background thread and retried with
backoff until the deadline; a gateway stopped meanwhile loses only the MDN,
and the partner's resend is answered as a duplicate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from adapters.as2.config import As2Profile, load_profile
from adapters.as2.errors import As2Error, As2Rejected, As2TransportError
from adapters.as2.mime import Mic
from adapters.as2.receive import Received, build_mdn, send_async_mdn, unpack
from adapters.as2.send import read_mdn, refusal, verify_mdn
from gateway.errors import TransientError
from gateway.inbound.intake import Intake
from gateway.metrics import Metrics
from gateway.state.base import CONFIRMED, DELIVERY_FAILED

log = structlog.get_logger("adapters.as2")


def load_profiles(partners: Iterable) -> list[As2Profile]:
    """Every partner's AS2 profile, its certificates and key read now (errors name the partner file)."""
    return [load_profile(p.spec.channels.as2, partner=p.id, base_dir=Path(p.file).parent)
            for p in partners if p.spec.channels.as2 is not None]


class As2Receiver:
    def __init__(self, intake: Intake, profiles: list[As2Profile], *, metrics: Metrics,
                 mdn_retry: tuple[float, float] = (5.0, 3600.0)) -> None:
        self.intake = intake
        self.metrics = metrics
        self.by_ids = {(p.config.as2_id, p.config.our_as2_id): p for p in profiles}
        self.first_wait, self.give_up_after = mdn_retry
        self._stop = threading.Event()

    def lookup(self, as2_from: str, as2_to: str) -> As2Profile | None:
        return self.by_ids.get((as2_from, as2_to))

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One POST: (status, headers, body) of the answer."""
        try:
            received = unpack(headers, body, self.lookup)
        except As2Error as failure:
            self.metrics.refused.labels("as2", failure.description).inc()
            log.warning("as2 message refused", error=str(failure), modifier=failure.modifier,
                        message_id=failure.context.message_id if failure.context else None,
                        as2_from=failure.context.as2_from if failure.context else None)
            return self._answer(failure, failure.context.mdn.async_url if failure.context else None,
                                failure.context is not None and failure.context.mdn.requested)
        before = datetime.now(timezone.utc)
        try:
            receipt = self.intake.take(received.payload, channel="as2", partner_id=received.profile.partner,
                                       idempotency_key=f"as2:{received.message_id}")
        except TransientError as exc:  # nothing taken in: no MDN, the sender retries
            log.warning("as2 message not taken in for now", message_id=received.message_id, error=str(exc))
            return 503, {"Retry-After": "30"}, f"{exc}; retry later".encode()
        duplicate = receipt.received_at < before
        if not duplicate:
            self.intake.submit(receipt)
        log.info("as2 message taken in", receipt=receipt.id, partner=received.profile.partner,
                 message_id=received.message_id, signed=received.signed, encrypted=received.encrypted,
                 compressed=received.compressed, duplicate=duplicate)
        return self._answer(received, received.mdn.async_url, received.mdn.requested, duplicate=duplicate)

    def _answer(self, subject: Received | As2Error, async_url: str | None, requested: bool, *,
                duplicate: bool = False) -> tuple[int, dict[str, str], bytes]:
        if not requested:
            return 200, {}, b""
        try:
            headers, body = build_mdn(subject, duplicate=duplicate)
        except ValueError as exc:  # no Message-ID: nothing to answer to
            return 400, {"Content-Type": "text/plain"}, str(exc).encode()
        if async_url:
            threading.Thread(target=self._send_async, args=(async_url, headers, body), name="as2-async-mdn",
                             daemon=True).start()
            return 200, {}, b""
        return 200, headers, body

    def _send_async(self, url: str, headers: dict[str, str], body: bytes) -> None:
        wait, waited = self.first_wait, 0.0
        while True:
            try:
                send_async_mdn(url, headers, body)
                log.info("asynchronous MDN sent", url=url)
                return
            except As2Rejected as exc:
                log.error("asynchronous MDN refused by the partner", url=url, error=str(exc))
                return
            except As2TransportError as exc:
                if waited >= self.give_up_after:
                    log.error("asynchronous MDN given up", url=url, error=str(exc), waited_seconds=waited)
                    return
                log.warning("asynchronous MDN failed, retrying", url=url, error=str(exc), retry_in=wait)
            if self._stop.wait(wait):
                return
            waited += wait
            wait = min(wait * 2, 600.0)

    def handle_mdn(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """An asynchronous MDN for a message the gateway sent: verify it and record the outcome."""
        try:
            report = read_mdn(headers, body)
        except As2Error as exc:
            return 400, f"not an MDN: {exc}"
        message_id = report.original_message_id
        found = self.intake.store.find_outbound(external_ref=message_id, limit=1) if message_id else []
        if not found:
            log.warning("MDN for an unknown message", original_message_id=message_id)
            return 200, "no such message; ignored"
        doc = found[0]
        profile = next((p for p in self.by_ids.values() if p.partner == doc.partner_id), None)
        mic = doc.details.get("mic")
        result = verify_mdn(headers, body, expected_mic=Mic(mic["digest"], mic["algorithm"]) if mic else None,
                            profile=profile, message_id=message_id) if profile is not None else None
        ok = result is not None and result.ok
        problems = list(result.problems) if result is not None else ["the partner has no AS2 profile any more"]
        self.intake.store.update_outbound(doc.with_status(
            CONFIRMED if ok else DELIVERY_FAILED,
            details={**doc.details, "mdn": "ok" if ok else "failed", "mdn_problems": problems,
                     "disposition": str(result.disposition) if result and result.disposition else None,
                     "error": None if ok else (refusal(result) if result is not None else problems[0])}))
        log.info("asynchronous MDN received", partner=doc.partner_id, message_id=message_id, ok=ok,
                 problems=problems)
        return 200, "recorded"

    def stop(self) -> None:
        self._stop.set()

    def mount(self, app: FastAPI, *, max_bytes: int) -> None:
        @app.post("/as2", tags=["as2"], summary="Receive an AS2 message (RFC 4130); answers with its MDN",
                  responses={200: {"description": "the MDN (synchronous), or empty (asynchronous, or none asked)"}})
        async def receive(request: Request) -> Response:
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    return Response(f"the message is larger than {max_bytes} bytes".encode(), status_code=413,
                                    media_type="text/plain")
            status, headers, answer = await run_in_threadpool(self.handle, dict(request.headers), bytes(body))
            return Response(answer, status_code=status, headers=headers)

        @app.post("/as2/mdn", tags=["as2"], summary="Receive an asynchronous MDN for a message the gateway sent")
        async def receive_mdn(request: Request) -> Response:
            body = await request.body()
            if len(body) > 1 << 20:
                return Response(b"an MDN is not that large", status_code=413, media_type="text/plain")
            status, text = await run_in_threadpool(self.handle_mdn, dict(request.headers), body)
            return Response(text.encode(), status_code=status, media_type="text/plain")
