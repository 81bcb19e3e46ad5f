"""An in-memory StateStore for unit tests (nothing survives the process)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from gateway.errors import TerminalError
from gateway.state.base import QUEUED, OutboundDocument, Receipt, StateStore


class MemoryStore(StateStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receipts: dict[str, Receipt] = {}
        self._keys: dict[tuple[str | None, str], str] = {}
        self._interchanges: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._numbers: dict[tuple[str, str], int] = {}
        self._outbound: dict[str, OutboundDocument] = {}
        self._leases: dict[str, tuple[str, datetime]] = {}  # document id -> (owner, until)
        self._receipt_leases: dict[str, tuple[str, datetime]] = {}  # receipt id -> (owner, until)

    def add_receipt(self, receipt: Receipt) -> Receipt:
        with self._lock:
            if receipt.idempotency_key is not None:
                key = (receipt.partner_id, receipt.idempotency_key)
                earlier = self._keys.get(key)
                if earlier is not None:
                    return self._receipts[earlier]
                self._keys[key] = receipt.id
            self._receipts[receipt.id] = receipt
            return receipt

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        return self._receipts.get(receipt_id)

    def update_receipt(self, receipt: Receipt) -> None:
        with self._lock:
            if receipt.id not in self._receipts:
                raise KeyError(receipt.id)
            self._receipts[receipt.id] = receipt
            self._receipt_leases.pop(receipt.id, None)

    def claim_receipt(self, receipt_id, owner, *, until, now=None) -> Receipt | None:
        now = now or datetime.now(timezone.utc)
        with self._lock:
            receipt = self._receipts.get(receipt_id)
            held = self._receipt_leases.get(receipt_id)
            if receipt is None or held is not None and held[0] != owner and held[1] > now:
                return None
            self._receipt_leases[receipt_id] = (owner, until)
            return receipt

    def release_receipt(self, receipt_id, owner) -> None:
        with self._lock:
            if self._receipt_leases.get(receipt_id, ("",))[0] == owner:
                del self._receipt_leases[receipt_id]

    def find_receipts(self, *, partner_id=None, status=None, ref=None, since=None, limit=100,
                      until=None) -> list[Receipt]:
        found = [r for r in self._receipts.values()
                 if (partner_id is None or r.partner_id == partner_id) and (status is None or r.status == status)
                 and (since is None or r.received_at >= since) and (until is None or r.received_at < until)
                 and (ref is None or r.interchange_ref == ref or ref in r.refs)]
        return sorted(found, key=lambda r: (r.received_at, r.id), reverse=True)[:limit]

    def claim_interchange(self, partner_id, interchange_ref, receipt_id, *, window: timedelta, now=None):
        now = now or datetime.now(timezone.utc)
        with self._lock:
            earlier = self._interchanges.get((partner_id, interchange_ref))
            if earlier is not None and earlier[0] != receipt_id and now - earlier[1] <= window:
                return earlier[0]
            if earlier is None or earlier[0] != receipt_id:
                self._interchanges[(partner_id, interchange_ref)] = (receipt_id, now)
            return None

    def next_control_number(self, partner_id, kind, *, first=1, last=999_999_999) -> int:
        with self._lock:
            number = max(self._numbers.get((partner_id, kind), first - 1) + 1, first)
            if number > last:
                raise TerminalError(f"control numbers {kind} for {partner_id} are used up (last {last})")
            self._numbers[(partner_id, kind)] = number
            return number

    def add_outbound(self, document: OutboundDocument) -> bool:
        with self._lock:
            return self._outbound.setdefault(document.id, document) is document

    def update_outbound(self, document: OutboundDocument, *, keep_lease: bool = False) -> None:
        with self._lock:
            if document.id not in self._outbound:
                raise KeyError(document.id)
            self._outbound[document.id] = document
            if not keep_lease:
                self._leases.pop(document.id, None)

    def claim_outbound(self, document_id, owner, *, until, now=None) -> OutboundDocument | None:
        now = now or datetime.now(timezone.utc)
        with self._lock:
            document = self._outbound.get(document_id)
            lease = self._leases.get(document_id)
            if document is None or document.status != QUEUED or (
                    lease is not None and lease[0] != owner and lease[1] > now):
                return None
            self._leases[document_id] = (owner, until)
            return document

    def get_outbound(self, document_id: str) -> OutboundDocument | None:
        return self._outbound.get(document_id)

    def find_outbound(self, *, receipt_id=None, partner_id=None, status=None, external_ref=None,
                      limit=100) -> list[OutboundDocument]:
        found = [d for d in self._outbound.values()
                 if (receipt_id is None or d.receipt_id == receipt_id)
                 and (external_ref is None or d.external_ref == external_ref)
                 and (partner_id is None or d.partner_id == partner_id) and (status is None or d.status == status)]
        return sorted(found, key=lambda d: (d.created_at, d.id))[:limit]
