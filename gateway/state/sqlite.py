"""The embedded state store: one SQLite file.

Durability: WAL journal with ``synchronous=FULL``, so a committed receipt
survives a power cut, not only a killed process. Every read-modify-write runs
in ``BEGIN IMMEDIATE``, which takes SQLite's write lock first, so several
processes on one machine can share the file (control numbers stay unique);
several machines need the PostgreSQL store. Within a process one connection
is shared under a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.errors import TerminalError, TransientError
from gateway.state.base import QUEUED, RECEIVED, OutboundDocument, Receipt, StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    raw_ref TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    partner_id TEXT,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    interchange_ref TEXT,
    events INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at TEXT,
    details TEXT,
    lease_owner TEXT,  -- the intake processing it, until lease_until (see claim_receipt)
    lease_until TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS receipts_idempotency
    ON receipts (coalesce(partner_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status, received_at);
CREATE INDEX IF NOT EXISTS receipts_partner ON receipts (partner_id, received_at);
CREATE INDEX IF NOT EXISTS receipts_interchange ON receipts (interchange_ref);
CREATE TABLE IF NOT EXISTS receipt_refs (
    ref TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    PRIMARY KEY (ref, receipt_id)
);
CREATE TABLE IF NOT EXISTS interchanges (
    partner_id TEXT NOT NULL,
    interchange_ref TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (partner_id, interchange_ref)
);
CREATE TABLE IF NOT EXISTS outbound (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    raw_ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    control_ref TEXT,
    receipt_id TEXT,
    status TEXT NOT NULL,
    updated_at TEXT,
    details TEXT,
    external_ref TEXT,
    lease_owner TEXT,  -- the dispatcher sending it, until lease_until (see claim_outbound)
    lease_until TEXT
);
CREATE INDEX IF NOT EXISTS outbound_receipt ON outbound (receipt_id);
CREATE INDEX IF NOT EXISTS outbound_status ON outbound (partner_id, status, created_at);
CREATE INDEX IF NOT EXISTS outbound_external ON outbound (external_ref) WHERE external_ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS control_numbers (
    partner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (partner_id, kind)
);
"""

_COLUMNS = ("id, channel, raw_ref, size, received_at, partner_id, status, idempotency_key, interchange_ref, "
            "events, error, updated_at, details")
_OUTBOUND = ("id, partner_id, kind, raw_ref, created_at, control_ref, receipt_id, status, updated_at, details, "
             "external_ref")


def _text(value: datetime | None) -> str | None:
    # One fixed-width UTC form, so text order is time order.
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: dict) -> str | None:
    return json.dumps(value, separators=(",", ":")) if value else None


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


class SqliteStore(StateStore):
    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        self._initialise(busy_timeout)

    def _initialise(self, busy_timeout: float) -> None:
        """Switch to WAL and create the schema, even when other processes open a new file at once.

        Changing the journal mode takes an exclusive lock and SQLite answers "database is locked"
        at once, without calling the busy handler, when two connections race for it on a new file.
        So the set-up is retried until the busy timeout has passed.
        """
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    statements = [s for s in SCHEMA.split(";") if s.strip()]
                    tables = [s for s in statements if s.strip().startswith("CREATE TABLE")]
                    for statement in tables:
                        self._db.execute(statement)
                    # Columns added since, before the indexes: one may be on such a column.
                    columns = {row[1] for row in self._db.execute("PRAGMA table_info(receipts)")}
                    for column in ("details", "lease_owner", "lease_until"):  # a file written before these
                        if column not in columns:
                            self._db.execute(f"ALTER TABLE receipts ADD COLUMN {column} TEXT")
                    columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbound)")}
                    for column in ("external_ref", "lease_owner", "lease_until"):
                        if column not in columns:
                            self._db.execute(f"ALTER TABLE outbound ADD COLUMN {column} TEXT")
                    for statement in statements:
                        if statement not in tables:
                            self._db.execute(statement)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise TransientError(f"state store {self.path} cannot be opened: {exc}") from exc
                time.sleep(0.05)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its start (BEGIN IMMEDIATE)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # locked past the busy timeout
                raise TransientError(f"state store {self.path} is busy: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- receipts ------------------------------------------------------------
    def add_receipt(self, receipt: Receipt) -> Receipt:
        with self._write() as db:
            if receipt.idempotency_key is not None:
                row = db.execute(f"SELECT {_COLUMNS} FROM receipts WHERE coalesce(partner_id, '') = ? "
                                 "AND idempotency_key = ?",
                                 (receipt.partner_id or "", receipt.idempotency_key)).fetchone()
                if row is not None:
                    return self._receipt(row)
            db.execute(f"INSERT INTO receipts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       self._row(receipt))
            db.executemany("INSERT OR IGNORE INTO receipt_refs (ref, receipt_id) VALUES (?, ?)",
                           [(ref, receipt.id) for ref in receipt.refs])
        return receipt

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM receipts WHERE id = ?", (receipt_id,)).fetchone()
        return None if row is None else self._receipt(row)

    def update_receipt(self, receipt: Receipt) -> None:
        with self._write() as db:
            changed = db.execute(
                "UPDATE receipts SET partner_id = ?, status = ?, interchange_ref = ?, events = ?, error = ?, "
                "updated_at = ?, details = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (receipt.partner_id, receipt.status, receipt.interchange_ref, receipt.events, receipt.error,
                 _text(receipt.updated_at), _json(receipt.details), receipt.id)).rowcount
            if not changed:
                raise KeyError(receipt.id)
            db.executemany("INSERT OR IGNORE INTO receipt_refs (ref, receipt_id) VALUES (?, ?)",
                           [(ref, receipt.id) for ref in receipt.refs])

    def claim_receipt(self, receipt_id, owner, *, until, now=None) -> Receipt | None:
        now = now or datetime.now(timezone.utc)
        with self._write() as db:  # BEGIN IMMEDIATE: of several processes, one updates first
            if not db.execute("UPDATE receipts SET lease_owner = ?, lease_until = ? WHERE id = ? "
                              "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)",
                              (owner, _text(until), receipt_id, owner, _text(now))).rowcount:
                return None
            return self.get_receipt(receipt_id)

    def release_receipt(self, receipt_id, owner) -> None:
        with self._write() as db:
            db.execute("UPDATE receipts SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                       (receipt_id, owner))

    def find_receipts(self, *, partner_id=None, status=None, ref=None, since=None, limit=100,
                      until=None) -> list[Receipt]:
        where, args = [], []
        if partner_id is not None:
            where.append("partner_id = ?")
            args.append(partner_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if since is not None:
            where.append("received_at >= ?")
            args.append(_text(since))
        if until is not None:
            where.append("received_at < ?")
            args.append(_text(until))
        if ref is not None:
            where.append("(interchange_ref = ? OR id IN (SELECT receipt_id FROM receipt_refs WHERE ref = ?))")
            args += [ref, ref]
        sql = f"SELECT {_COLUMNS} FROM receipts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY received_at DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [self._receipt(row) for row in rows]

    def count_pending(self, limit: int) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM (SELECT 1 FROM receipts WHERE status = ? LIMIT ?)",
                                    (RECEIVED, limit)).fetchone()[0]

    def _row(self, r: Receipt) -> tuple:
        return (r.id, r.channel, r.raw_ref, r.size, _text(r.received_at), r.partner_id, r.status,
                r.idempotency_key, r.interchange_ref, r.events, r.error, _text(r.updated_at), _json(r.details))

    def _receipt(self, row: tuple) -> Receipt:
        refs = tuple(ref for (ref,) in self._db.execute(
            "SELECT ref FROM receipt_refs WHERE receipt_id = ? ORDER BY ref", (row[0],)))
        return Receipt(id=row[0], channel=row[1], raw_ref=row[2], size=row[3], received_at=_time(row[4]),
                       partner_id=row[5], status=row[6], idempotency_key=row[7], interchange_ref=row[8],
                       events=row[9], error=row[10], updated_at=_time(row[11]), refs=refs,
                       details=json.loads(row[12]) if row[12] else {})

    # -- duplicates and control numbers ------------------------------------------
    def claim_interchange(self, partner_id, interchange_ref, receipt_id, *, window: timedelta, now=None):
        now = now or datetime.now(timezone.utc)
        with self._write() as db:
            row = db.execute("SELECT receipt_id, seen_at FROM interchanges WHERE partner_id = ? "
                             "AND interchange_ref = ?", (partner_id, interchange_ref)).fetchone()
            if row is not None and row[0] != receipt_id and now - _time(row[1]) <= window:
                return row[0]
            if row is None or row[0] != receipt_id:
                db.execute("INSERT OR REPLACE INTO interchanges (partner_id, interchange_ref, receipt_id, seen_at) "
                           "VALUES (?, ?, ?, ?)", (partner_id, interchange_ref, receipt_id, _text(now)))
        return None

    def next_control_number(self, partner_id, kind, *, first=1, last=999_999_999) -> int:
        with self._write() as db:
            row = db.execute("SELECT last FROM control_numbers WHERE partner_id = ? AND kind = ?",
                             (partner_id, kind)).fetchone()
            number = max((row[0] if row else first - 1) + 1, first)
            if number > last:
                raise TerminalError(f"control numbers {kind} for {partner_id} are used up (last {last})")
            db.execute("INSERT OR REPLACE INTO control_numbers (partner_id, kind, last) VALUES (?, ?, ?)",
                       (partner_id, kind, number))
        return number

    # -- outbound documents --------------------------------------------------------
    def add_outbound(self, document: OutboundDocument) -> bool:
        with self._write() as db:
            return 1 == db.execute(
                f"INSERT OR IGNORE INTO outbound ({_OUTBOUND}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document.id, document.partner_id, document.kind, document.raw_ref, _text(document.created_at),
                 document.control_ref, document.receipt_id, document.status, _text(document.updated_at),
                 _json(document.details), document.external_ref)).rowcount

    def update_outbound(self, document: OutboundDocument, *, keep_lease: bool = False) -> None:
        release = "" if keep_lease else ", lease_owner = NULL, lease_until = NULL"
        with self._write() as db:
            changed = db.execute(f"UPDATE outbound SET status = ?, updated_at = ?, details = ?, external_ref = ?"
                                 f"{release} WHERE id = ?", (document.status, _text(document.updated_at),
                                                             _json(document.details), document.external_ref,
                                                             document.id)).rowcount
            if not changed:
                raise KeyError(document.id)

    def claim_outbound(self, document_id, owner, *, until, now=None) -> OutboundDocument | None:
        now = now or datetime.now(timezone.utc)
        with self._write() as db:
            # The write lock is held from BEGIN IMMEDIATE: of several processes, one updates first
            # and the others then see its lease.
            if not db.execute("UPDATE outbound SET lease_owner = ?, lease_until = ? WHERE id = ? AND status = ? "
                              "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)",
                              (owner, _text(until), document_id, QUEUED, owner, _text(now))).rowcount:
                return None
            return self.get_outbound(document_id)

    def get_outbound(self, document_id: str) -> OutboundDocument | None:
        found = self.find_outbound(document_id=document_id, limit=1)
        return found[0] if found else None

    def find_outbound(self, *, receipt_id=None, partner_id=None, status=None, external_ref=None,
                      limit=100, document_id=None) -> list[OutboundDocument]:
        where, args = [], []
        for column, value in (("receipt_id", receipt_id), ("partner_id", partner_id), ("status", status),
                              ("external_ref", external_ref), ("id", document_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_OUTBOUND} FROM outbound"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [OutboundDocument(id=r[0], partner_id=r[1], kind=r[2], raw_ref=r[3], created_at=_time(r[4]),
                                 control_ref=r[5], receipt_id=r[6], status=r[7], updated_at=_time(r[8]),
                                 details=json.loads(r[9]) if r[9] else {}, external_ref=r[10]) for r in rows]

    def ping(self) -> None:
        try:
            with self._lock:
                self._db.execute("SELECT 1 FROM receipts LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise TransientError(f"state store {self.path} cannot be read: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
