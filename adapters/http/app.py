"""The HTTP API: partners post documents and read what became of them.

FastAPI was chosen for its OpenAPI document (served at ``/openapi.json``,
browsable at ``/docs``) generated from the same pydantic models that shape the
answers, and for request handling on an ASGI server (uvicorn). Every refusal
is an RFC 9457 problem+json body naming what is wrong.

A posted document is answered 202 only after :meth:`Intake.take` returned:
its raw bytes are archived (fsync) and its receipt committed. Parsing, mapping
and publishing follow on the intake's worker.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

import structlog
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http.config import HttpServer, RateLimit
from adapters.http.keys import ADMIN, KeyRing
from adapters.http.tracking import NotAllowed, NotReplayable, Tracking
from gateway.errors import EdiSyntaxError, GatewayError, TransientError
from gateway.inbound.intake import Intake
from gateway.mapping.loader import Partners
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.model import Interchange, Message
from gateway.state.base import FAILED, STATUSES, OutboundDocument, Receipt
from gateway.syntax import read
from gateway.syntax.sniff import sniff

log = structlog.get_logger("adapters.http")

DOCUMENT_TYPES = {  # Content-Type -> syntax it announces (None: look at the bytes)
    "application/edifact": "edifact",
    "application/edi-x12": "x12",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/octet-stream": None,
    "text/plain": None,
    "": None,
}
ANNOUNCED = ("application/EDIFACT", "application/EDI-X12", "application/xml", "text/xml",  # as RFC 1767 and
             "application/octet-stream", "text/plain")                                      # 7303 spell them
PROBLEM = "application/problem+json"
Status = Literal[STATUSES]


# -- the answers, as OpenAPI shows them ------------------------------------------------------
class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    receipt_id: str | None = None


class Accepted(BaseModel):
    id: str
    status: str
    status_url: str
    repeated: bool = False  # an Idempotency-Key seen before: this is the earlier receipt


class Acknowledgement(BaseModel):
    id: str
    kind: str
    control_ref: str | None
    status: str
    created_at: datetime
    details: dict[str, Any]


class DocumentStatus(BaseModel):
    id: str
    status: str
    channel: str
    partner: str | None
    received_at: datetime
    updated_at: datetime | None
    size: int
    raw_ref: str
    interchange_ref: str | None
    refs: list[str]
    events: int
    error: str | None
    details: dict[str, Any]
    acknowledgements: list[Acknowledgement]


class DocumentList(BaseModel):
    documents: list[DocumentStatus]


class OutboundStatus(BaseModel):
    """A document the gateway sends: a rendered event or an acknowledgement, and what became of it."""

    id: str
    direction: Literal["outbound"] = "outbound"
    partner: str
    kind: str
    status: str  # queued, sent, confirmed (MDN), failed, overdue
    control_ref: str | None
    created_at: datetime
    updated_at: datetime | None
    answers: str | None  # the receipt (an acknowledgement) or "event:<id>" it was made from
    transport_ref: str | None  # e.g. the AS2 Message-ID
    acknowledgement: dict[str, Any] | None  # the partner's 997/999/CONTRL verdict, or overdue
    details: dict[str, Any]


class OutboundList(BaseModel):
    documents: list[OutboundStatus]


class Refused(Exception):
    """A request the API turns down; becomes a problem+json answer."""

    def __init__(self, status: int, title: str, detail: str, *, reason: str, receipt_id: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.reason = status, title, detail, reason
        self.receipt_id, self.headers = receipt_id, headers or {}


def problem(status: int, title: str, detail: str, *, receipt_id: str | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, receipt_id=receipt_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM,
                        headers=headers)


class TokenBucket:
    """Per-partner rate limit: ``burst`` documents at once, refilled at ``per_second``."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when allowed, else the seconds to wait."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.limit.burst, self.tokens + (now - self.stamp) * self.limit.per_second)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.limit.per_second


# -- the application -----------------------------------------------------------------------------
def create_app(*, intake: Intake, partners: Partners, config: HttpServer, keys: KeyRing,
               metrics: Metrics, ready: Callable[[], None] = lambda: None, pages: bool = True) -> FastAPI:
    """The API over an intake. ``ready`` raises when a dependency (broker, store) is unreachable.
    With ``pages``, the tracking pages are served under ``/ui`` (see :mod:`adapters.http.ui`)."""
    store = intake.store
    tracking = Tracking(intake)
    buckets = {p.id: TokenBucket(p.spec.channels.http.rate_limit) for p in partners.all
               if p.spec.channels.http is not None and p.spec.channels.http.rate_limit is not None}
    limits = {p.id: p.spec.channels.http.max_document_bytes for p in partners.all
              if p.spec.channels.http is not None and p.spec.channels.http.max_document_bytes}

    app = FastAPI(title="EDI event gateway", version="1", summary="Post EDIFACT, X12 and XML documents; "
                  "follow each to the events it produced and the acknowledgement it got.",
                  responses={401: {"model": Problem, "description": "no or unknown API key"}})

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        metrics.refused.labels("http", exc.reason).inc()
        log.warning("request refused", path=request.url.path, status=exc.status, reason=exc.reason,
                    detail=exc.detail, receipt=exc.receipt_id)
        return problem(exc.status, exc.title, exc.detail, receipt_id=exc.receipt_id, headers=exc.headers)

    @app.exception_handler(TransientError)
    async def unavailable(request: Request, exc: TransientError) -> JSONResponse:
        metrics.refused.labels("http", "unavailable").inc()
        log.warning("request failed for now", path=request.url.path, error=str(exc))
        return problem(503, "Temporarily unavailable", f"{exc}; retry later", headers={"Retry-After": "10"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, "Invalid request", f"{where}: {first.get('msg')}")

    def caller(request: Request) -> str:
        """The partner id (or ADMIN) the request's key belongs to."""
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key")
        if not key:
            raise Refused(401, "API key required", "send the partner's API key as 'Authorization: Bearer KEY' "
                          "or 'X-API-Key: KEY'", reason="no_key", headers={"WWW-Authenticate": "Bearer"})
        owner = keys.owner(key)
        if owner is None:
            raise Refused(401, "Unknown API key", "the API key is not configured for any partner",
                          reason="unknown_key", headers={"WWW-Authenticate": "Bearer"})
        return owner

    def visible(owner: str, receipt_id: str) -> Receipt:
        receipt = tracking.receipt(owner, receipt_id)
        if receipt is None:
            raise Refused(404, "No such document", f"no document {receipt_id} for this API key", reason="unknown")
        return receipt

    def status_of(receipt: Receipt) -> DocumentStatus:
        acks = store.find_outbound(receipt_id=receipt.id)
        return DocumentStatus(
            id=receipt.id, status=receipt.status, channel=receipt.channel, partner=receipt.partner_id,
            received_at=receipt.received_at, updated_at=receipt.updated_at, size=receipt.size,
            raw_ref=receipt.raw_ref, interchange_ref=receipt.interchange_ref, refs=list(receipt.refs),
            events=receipt.events, error=receipt.error, details=receipt.details,
            acknowledgements=[_ack(a) for a in acks])

    @app.post("/v1/documents", status_code=202, response_model=Accepted, tags=["documents"],
              summary="Post one EDIFACT, X12 or XML document",
              responses={403: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
                         429: {"model": Problem}, 503: {"model": Problem}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  t: {"schema": {"type": "string", "format": "binary"}} for t in ANNOUNCED}},
                  "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                  "schema": {"type": "string", "maxLength": 200}}]})
    async def post_document(request: Request) -> JSONResponse:
        owner = caller(request)
        partner_id = None if owner == ADMIN else owner
        bucket = buckets.get(partner_id) if partner_id else None
        if bucket is not None and (wait := bucket.take()):
            raise Refused(429, "Too many documents", f"partner {partner_id} is limited to "
                          f"{bucket.limit.per_second:g} documents per second", reason="rate_limited",
                          headers={"Retry-After": str(max(1, round(wait)))})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in DOCUMENT_TYPES:
            raise Refused(415, "Not a document type", f"Content-Type {content_type} is not accepted; post the "
                          "raw document as application/EDIFACT, application/EDI-X12 or application/xml",
                          reason="media_type")
        limit = limits.get(partner_id, config.max_document_bytes) if partner_id else config.max_document_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(413, "Document too large", f"the document has {declared} bytes; the limit is {limit}",
                          reason="too_large")
        key = request.headers.get("idempotency-key") or None
        if key is not None and len(key) > 200:
            raise Refused(400, "Idempotency-Key too long", "an Idempotency-Key has at most 200 characters",
                          reason="bad_key")
        if await run_in_threadpool(intake.backlog_full):  # before reading a body that cannot be taken in
            raise Refused(503, "Backlog full", f"{intake.max_backlog} documents are waiting to be published "
                          "(is the broker down?); retry later", reason="backlog", headers={"Retry-After": "30"})
        with tempfile.SpooledTemporaryFile(max_size=1 << 20) as body:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refused(413, "Document too large", f"the document is larger than {limit} bytes",
                                  reason="too_large")
                body.write(chunk)
            return await run_in_threadpool(_take, body, size, content_type, partner_id, key)

    def _take(body, size: int, content_type: str, partner_id: str | None, key: str | None) -> JSONResponse:
        body.seek(0)
        head = body.read(4096)
        if not head.strip():
            raise Refused(415, "Not a document", "the body is not an EDIFACT, X12 or XML document (it is empty)",
                          reason="not_edi")
        try:
            syntax = sniff(head)
        except EdiSyntaxError as exc:
            raise Refused(415, "Not a document", exc.issue.text, reason="not_edi") from None
        announced = DOCUMENT_TYPES[content_type]
        if announced is not None and announced != syntax:
            raise Refused(415, "Content-Type does not match the document", f"Content-Type {content_type} "
                          f"announces {announced} but the body is {syntax}", reason="media_type_mismatch")
        body.seek(0)
        before = datetime.now(timezone.utc)
        receipt = intake.take(body, channel="http", partner_id=partner_id, idempotency_key=key)
        repeated = receipt.received_at < before  # an Idempotency-Key seen before: the earlier receipt
        if not repeated and receipt.status == "received":
            body.seek(0)  # the bytes just archived, read here rather than fetched back from the archive
            mismatch = _sender_mismatch(partners, body, partner_id)
            if mismatch is not None:
                store.update_receipt(receipt.with_status(FAILED, error=mismatch, details={
                    "errors": [{"code": "PARTNER_MISMATCH", "stage": "http", "error": mismatch}]}))
                intake.metrics.document(partner_id, "http", FAILED)
                raise Refused(403, "Sender is not the authenticated partner", mismatch, reason="partner_mismatch",
                              receipt_id=receipt.id)
            intake.submit(receipt)
        log.info("document accepted", receipt=receipt.id, partner=partner_id, size=size, syntax=syntax,
                 repeated=repeated)
        url = f"/v1/documents/{receipt.id}"
        answer = Accepted(id=receipt.id, status=receipt.status, status_url=url, repeated=repeated)
        return JSONResponse(answer.model_dump(), status_code=202,
                            headers={"Location": url, **({"Idempotent-Replayed": "true"} if repeated else {})})

    @app.get("/v1/documents/{receipt_id}", response_model=DocumentStatus | OutboundStatus, tags=["documents"],
             summary="What became of a document, received or sent", responses={404: {"model": Problem}})
    def get_document(receipt_id: str, request: Request) -> DocumentStatus | OutboundStatus:
        owner = caller(request)
        if store.get_receipt(receipt_id) is None:
            sent = tracking.outbound(owner, receipt_id)
            if sent is not None:
                return _outbound(sent)
        return status_of(visible(owner, receipt_id))

    @app.post("/v1/documents/{receipt_id}/replay", response_model=DocumentStatus, tags=["documents"],
              summary="Process a failed document again (admin keys); its events keep their ids",
              responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}})
    def replay(receipt_id: str, request: Request) -> DocumentStatus:
        owner = caller(request)
        visible(owner, receipt_id)
        try:
            return status_of(tracking.replay(owner, receipt_id))
        except NotAllowed as exc:
            raise Refused(403, "Admin key required", str(exc), reason="not_admin") from None
        except NotReplayable as exc:
            raise Refused(409, "Not a failed document", str(exc), reason="not_failed") from None

    @app.post("/v1/outbound/{document_id}/redrive", response_model=OutboundStatus, tags=["documents"],
              summary="Queue a failed outbound document for delivery again (admin keys)",
              responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}})
    def redrive(document_id: str, request: Request) -> OutboundStatus:
        owner = caller(request)
        if tracking.outbound(owner, document_id) is None:
            raise Refused(404, "No such document", f"no outbound document {document_id} for this API key",
                          reason="unknown")
        try:
            return _outbound(tracking.redrive(owner, document_id))
        except NotAllowed as exc:
            raise Refused(403, "Admin key required", str(exc), reason="not_admin") from None
        except NotReplayable as exc:
            raise Refused(409, "Not a failed delivery", str(exc), reason="not_failed") from None

    @app.get("/v1/outbound", response_model=OutboundList, tags=["documents"],
             summary="Documents the gateway sends partners (rendered events, acknowledgements)")
    def list_outbound(request: Request, partner: str | None = None,
                      status: Literal["queued", "sent", "confirmed", "failed", "overdue"] | None = None,
                      limit: int = Query(default=50, ge=1, le=1000)) -> OutboundList:
        owner = caller(request)
        if owner != ADMIN:
            partner = owner
        return OutboundList(documents=[_outbound(d) for d in store.find_outbound(partner_id=partner, status=status,
                                                                                 limit=limit)])

    @app.get("/v1/documents", response_model=DocumentList, tags=["documents"],
             summary="Find documents by partner, status or reference (interchange or business, e.g. an order "
                     "number), received from since and before until")
    def list_documents(request: Request, partner: str | None = None,
                       status: Status | None = None,
                       ref: str | None = None, since: datetime | None = None, until: datetime | None = None,
                       limit: int = Query(default=50, ge=1, le=1000)) -> DocumentList:
        owner = caller(request)
        try:
            found = tracking.find(owner, partner=partner, status=status, ref=ref, since=since, until=until,
                                  limit=limit)
        except NotAllowed as exc:
            raise Refused(403, "Not your partner id", str(exc), reason="other_partner") from None
        return DocumentList(documents=[status_of(r) for r in found])

    @app.get("/v1/documents/{receipt_id}/acknowledgements/{ack_id}", tags=["documents"],
             summary="The raw bytes of an acknowledgement the gateway generated",
             responses={200: {"content": {"application/octet-stream": {}}}, 404: {"model": Problem}})
    def get_acknowledgement(receipt_id: str, ack_id: str, request: Request) -> Response:
        owner = caller(request)
        visible(owner, receipt_id)
        for ack in store.find_outbound(receipt_id=receipt_id):
            if ack.id == ack_id:
                with intake.archive.open(ack.raw_ref) as stream:
                    return Response(stream.read(), media_type=_media_type(ack.kind))
        raise Refused(404, "No such acknowledgement", f"document {receipt_id} has no acknowledgement {ack_id}",
                      reason="unknown")

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The broker, the state store and the archive are reachable",
             responses={503: {"model": Problem}})
    def readyz() -> Response:
        try:
            store.ping()
            intake.archive.ping()
            ready()
        except GatewayError as exc:
            return problem(503, "Not ready", str(exc))
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}}})
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    if pages:
        from adapters.http.ui.routes import tracking_pages

        app.mount("/ui", tracking_pages(tracking, partners, keys, pipeline=intake.pipeline))
    return app


def _sender_mismatch(partners: Partners, stream, partner_id: str | None) -> str | None:
    """When the first envelope names another partner than the key's owner: why, else None.

    Only the first message is read here; anything the reader cannot make sense
    of is left to the pipeline, which records it with its position.
    """
    if partner_id is None:
        return None
    try:
        first = next(iter(read(stream)), None)
    except GatewayError:
        return None
    ic = first.interchange if isinstance(first, Message) else first
    if not isinstance(ic, Interchange) or ic.header is None and ic.syntax != "xml":
        return None
    named = partners.matching(ic, first if isinstance(first, Message) else None)
    if any(p.id == partner_id for p in named):
        return None
    who = ", ".join(p.id for p in named) or f"sender '{ic.sender}', which no partner file names"
    return f"the envelope is from {who}, but the API key belongs to {partner_id}"


def _outbound(d: OutboundDocument) -> OutboundStatus:
    return OutboundStatus(id=d.id, partner=d.partner_id, kind=d.kind, status=d.status, control_ref=d.control_ref,
                          created_at=d.created_at, updated_at=d.updated_at, answers=d.receipt_id,
                          transport_ref=d.external_ref, acknowledgement=d.details.get("acknowledgement"),
                          details=d.details)


def _ack(a: OutboundDocument) -> Acknowledgement:
    return Acknowledgement(id=a.id, kind=a.kind, control_ref=a.control_ref, status=a.status,
                           created_at=a.created_at, details=a.details)


def _media_type(kind: str) -> str:
    return "application/EDIFACT" if kind == "CONTRL" else "application/EDI-X12"
