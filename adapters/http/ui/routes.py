"""The tracking pages: server-rendered HTML over the same queries and keys as the HTTP API.

Jinja2 templates (autoescaped) and one stylesheet; no script and no build. The
login page takes an API key; the session cookie (starlette's SessionMiddleware:
signed with itsdangerous, HttpOnly, SameSite=Lax, path /ui) keeps the key's
hash, never the key, and the owner is looked up in the key ring on every
request, so a key removed from the configuration ends its sessions at the next
start. Every POST carries a CSRF token bound to the session (compared in
constant time); one without it, or with another, is refused with 403.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.middleware.sessions import SessionMiddleware

from adapters.http.keys import ADMIN, KeyRing, hash_key
from adapters.http.tracking import NotAllowed, NotReplayable, Tracking
from adapters.http.ui import view
from gateway.errors import TransientError
from gateway.inbound.pipeline import Pipeline
from gateway.mapping.loader import Partners
from gateway.state.base import STATUSES

HERE = Path(__file__).parent
OUTBOUND_STATUSES = ("queued", "sent", "confirmed", "failed", "overdue")
CHART_DAYS = 30
OVERVIEW_LIMIT = 20_000  # receipts per partner the overview counts (newest first)


def tracking_pages(tracking: Tracking, partners: Partners, keys: KeyRing, *, pipeline: Pipeline,
                   secret: str | None = None) -> FastAPI:
    """The pages, as an app to mount at ``/ui``. Without ``secret`` sessions are signed with a key made
    at start-up: they end when the gateway restarts."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = _when
    templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    pages = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    pages.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32),
                         session_cookie="edigw_session", path="/ui", same_site="lax", max_age=8 * 3600)
    pages.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    class LoginNeeded(Exception):
        pass

    class Forbidden(Exception):
        def __init__(self, text: str) -> None:
            self.text = text

    @pages.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{_base(request)}/login?next={quote(target)}", status_code=303)

    @pages.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, "message.html", {"title": "Refused", "text": exc.text}, status=403)

    @pages.exception_handler(404)
    async def not_found(request: Request, exc) -> Response:
        return page(request, "message.html", {"title": "Not found",
                                              "text": getattr(exc, "detail", None) or "no such page"}, status=404)

    def owner_of(request: Request) -> str:
        digest = request.session.get("key")
        owner = keys.owner_of_hash(digest) if digest else None
        if owner is None:
            request.session.pop("key", None)
            raise LoginNeeded()
        return owner

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    async def form(request: Request) -> dict[str, str]:
        """The posted form, once its CSRF token was found to be the session's."""
        body = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        expected = request.session.get("csrf")
        if not expected or not hmac.compare_digest(fields.get("csrf", ""), expected):
            raise Forbidden("the form's CSRF token is missing or not this session's: reload the page and "
                            "submit it again")
        return fields

    def page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
        digest = request.session.get("key")
        owner = keys.owner_of_hash(digest) if digest else None
        flash = request.session.pop("flash", None)
        return templates.TemplateResponse(request, name, {
            "base": _base(request), "owner": owner, "admin": owner == ADMIN, "csrf": csrf_token(request),
            "flash": flash, **context}, status_code=status)

    # -- signing in and out --------------------------------------------------------------------------
    @pages.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "") -> HTMLResponse:
        return page(request, "login.html", {"title": "Sign in", "next": next, "problem": None})

    @pages.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        key = fields.get("key", "").strip()
        target = fields.get("next") or ""
        if keys.owner(key) is None:
            return page(request, "login.html", {"title": "Sign in", "next": target,
                                                "problem": "this API key is not configured for any partner"},
                        status=401)
        request.session.clear()  # a new session (and CSRF token) for the new identity
        request.session["key"] = hash_key(key)
        base = _base(request)
        return RedirectResponse(target if target.startswith(base + "/") else f"{base}/", status_code=303)

    @pages.post("/logout")
    async def logout(request: Request) -> Response:
        await form(request)
        request.session.clear()
        return RedirectResponse(f"{_base(request)}/login", status_code=303)

    # -- documents received --------------------------------------------------------------------------
    @pages.get("/", response_class=HTMLResponse)
    def documents(request: Request, partner: str = "", ref: str = "", status: str = "", since: str = "",
                  until: str = "", limit: int = 50) -> HTMLResponse:
        owner = owner_of(request)
        problem = None
        found = []
        try:
            start, end = view.parse_day(since), view.parse_day(until)
        except ValueError:
            start = end = None
            problem = f"from/to: {since or until!r} is not a date (2026-11-01) or time (2026-11-01T08:00)"
        if status and status not in STATUSES:
            problem = f"status {status}: not one of {', '.join(STATUSES)}"
        if problem is None:
            start = start.replace(tzinfo=timezone.utc) if start and not start.tzinfo else start
            end = end.replace(tzinfo=timezone.utc) if end and not end.tzinfo else end
            if end is not None and len(until) <= 10:
                end += timedelta(days=1)  # a date: to the end of that day
            limit = max(1, min(limit, 1000))
            try:
                found = tracking.find(owner, partner=partner or None, status=status or None,
                                      ref=ref.strip() or None, since=start, until=end, limit=limit)
            except NotAllowed as exc:
                raise Forbidden(str(exc)) from None
        return page(request, "documents.html", {
            "title": "Documents", "documents": found, "statuses": STATUSES, "problem": problem,
            "partner_ids": _partner_ids(partners, owner),
            "query": {"partner": partner, "ref": ref, "status": status, "since": since, "until": until}})

    @pages.get("/documents/{receipt_id}", response_class=HTMLResponse)
    def document(request: Request, receipt_id: str) -> HTMLResponse:
        owner = owner_of(request)
        receipt = tracking.receipt(owner, receipt_id)
        if receipt is None:
            sent = tracking.outbound(owner, receipt_id)
            if sent is not None:
                return RedirectResponse(f"{_base(request)}/outbound/{sent.id}", status_code=303)
            return page(request, "message.html", {"title": "Not found",
                                                  "text": f"no document {receipt_id} for this API key"}, status=404)
        errors = view.errors_of(receipt)
        if receipt.size <= view.READ_LIMIT:
            raw = tracking.raw(receipt.raw_ref)
            items, problem = view.read_document(raw)
            events, events_problem = view.decoded_events(pipeline, receipt, raw)
        else:  # the first part, as text; what it became is in the receipt's summary
            raw = tracking.raw(receipt.raw_ref, view.RAW_LIMIT + 1)
            items, problem = [], f"the document has {receipt.size} bytes: it is not read again for this page"
            events = [{**e, "record": None} for e in receipt.details.get("events", [])]
            events_problem = problem
        charset = next((i.charset for i in items if getattr(i, "charset", "")), "") or "latin-1"
        published = {e.get("event_id") for e in receipt.details.get("events", [])}
        sent = tracking.acknowledgements_sent(receipt)
        answered = tracking.acknowledgements_answered(receipt)
        timeline = [(receipt.received_at, f"received over {receipt.channel}, {receipt.size} bytes archived")]
        timeline += [(a.created_at, f"{a.kind} {a.control_ref or ''} queued for the partner ({a.status})")
                     for a in sent]
        timeline += [(_time(a.details.get("sent_at")), f"{a.kind} {a.control_ref or ''} sent") for a in sent
                     if a.details.get("sent_at")]
        if receipt.updated_at:
            timeline.append((receipt.updated_at, f"{receipt.status}" + (f": {receipt.error}" if receipt.error else
                                                                        f", {receipt.events} event(s)")))
        timeline.sort(key=lambda t: t[0] or receipt.received_at)
        return page(request, "document.html", {
            "title": f"Document {receipt.id}", "r": receipt, "pieces": view.pieces(raw, items, errors, charset),
            "cut": receipt.size > view.RAW_LIMIT, "errors": errors, "outline": view.outline(items, problem),
            "events": events, "events_problem": events_problem, "published": published, "sent": sent,
            "answered": answered, "timeline": timeline})

    @pages.post("/documents/{receipt_id}/replay")
    async def replay(request: Request, receipt_id: str) -> Response:
        await form(request)
        owner = owner_of(request)
        if tracking.receipt(owner, receipt_id) is None:
            return page(request, "message.html", {"title": "Not found",
                                                  "text": f"no document {receipt_id} for this API key"}, status=404)
        try:
            after = await run_in_threadpool(tracking.replay, owner, receipt_id)
            request.session["flash"] = f"replayed: the document is now {after.status}" + (
                f" ({after.error})" if after.error else f", {after.events} event(s) published")
        except NotAllowed as exc:
            raise Forbidden(str(exc)) from None
        except (NotReplayable, TransientError) as exc:
            request.session["flash"] = f"not replayed: {exc}"
        return RedirectResponse(f"{_base(request)}/documents/{receipt_id}", status_code=303)

    # -- documents sent ----------------------------------------------------------------------------
    @pages.get("/outbound", response_class=HTMLResponse)
    def outbound_list(request: Request, partner: str = "", status: str = "", limit: int = 50) -> HTMLResponse:
        owner = owner_of(request)
        try:
            found = tracking.find_outbound(owner, partner=partner or None,
                                           status=status if status in OUTBOUND_STATUSES else None,
                                           limit=max(1, min(limit, 1000)))
        except NotAllowed as exc:
            raise Forbidden(str(exc)) from None
        return page(request, "outbound.html", {"title": "Outbound", "documents": found,
                                               "statuses": OUTBOUND_STATUSES,
                                               "partner_ids": _partner_ids(partners, owner),
                                               "query": {"partner": partner, "status": status}})

    @pages.get("/outbound/{document_id}", response_class=HTMLResponse)
    def outbound_one(request: Request, document_id: str) -> HTMLResponse:
        owner = owner_of(request)
        doc = tracking.outbound(owner, document_id)
        if doc is None:
            return page(request, "message.html", {"title": "Not found",
                                                  "text": f"no outbound document {document_id} for this API key"},
                        status=404)
        raw = tracking.raw(doc.raw_ref, view.READ_LIMIT + 1)
        items, _ = view.read_document(raw) if len(raw) <= view.READ_LIMIT else ([], None)
        return page(request, "outbound_one.html", {"title": f"Outbound {doc.kind} {doc.id}", "d": doc,
                                                   "pieces": view.pieces(raw, items, []),
                                                   "mdn": doc.details.get("mdn"),
                                                   "ack": doc.details.get("acknowledgement")})

    @pages.post("/outbound/{document_id}/redrive")
    async def redrive(request: Request, document_id: str) -> Response:
        await form(request)
        owner = owner_of(request)
        if tracking.outbound(owner, document_id) is None:
            return page(request, "message.html", {"title": "Not found",
                                                  "text": f"no outbound document {document_id} for this API key"},
                        status=404)
        try:
            after = tracking.redrive(owner, document_id)
            request.session["flash"] = f"re-driven: the document is {after.status} again"
        except NotAllowed as exc:
            raise Forbidden(str(exc)) from None
        except NotReplayable as exc:
            request.session["flash"] = f"not re-driven: {exc}"
        return RedirectResponse(f"{_base(request)}/outbound/{document_id}", status_code=303)

    # -- dead letters and partners -------------------------------------------------------------------
    @pages.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters(request: Request, partner: str = "") -> HTMLResponse:
        owner = owner_of(request)
        try:
            failed = tracking.find(owner, partner=partner or None, status="failed", limit=200)
            undelivered = tracking.find_outbound(owner, partner=partner or None, status="failed", limit=200)
        except NotAllowed as exc:
            raise Forbidden(str(exc)) from None
        return page(request, "dead_letters.html", {"title": "Dead letters", "failed": failed,
                                                   "undelivered": undelivered, "errors_of": view.errors_of,
                                                   "partner_ids": _partner_ids(partners, owner),
                                                   "query": {"partner": partner}})

    @pages.get("/partners", response_class=HTMLResponse)
    def partners_page(request: Request) -> HTMLResponse:
        owner = owner_of(request)
        today = datetime.now(timezone.utc).date()
        since = datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time(), tzinfo=timezone.utc)
        rows, everything = [], []
        for pid in _partner_ids(partners, owner):
            receipts = tracking.find(owner, partner=pid, since=since, limit=OVERVIEW_LIMIT)
            sent = tracking.find_outbound(owner, partner=pid, limit=OVERVIEW_LIMIT)
            everything += receipts
            counts = {s: 0 for s in STATUSES}
            for r in receipts:
                counts[r.status] = counts.get(r.status, 0) + 1
            out = {s: 0 for s in OUTBOUND_STATUSES}
            for d in sent:
                out[d.status] = out.get(d.status, 0) + 1
            partner = partners.get(pid)
            rows.append({"id": pid, "name": getattr(partner.spec, "name", None) if partner else None,
                         "received": len(receipts), "counts": counts, "outbound": out,
                         "last": max((r.received_at for r in receipts), default=None)})
        series = view.daily_counts(everything, CHART_DAYS, today)
        return page(request, "partners.html", {"title": "Partners", "rows": rows, "statuses": STATUSES,
                                               "outbound_statuses": OUTBOUND_STATUSES, "days": CHART_DAYS,
                                               "chart": Markup(view.chart_svg(series)),
                                               "total": sum(n for _, n, _ in series),
                                               "total_failed": sum(f for _, _, f in series)})

    return pages


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _partner_ids(partners: Partners, owner: str) -> list[str]:
    return sorted(p.id for p in partners.all) if owner == ADMIN else [owner]


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _when(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()
