"""The shared state store: PostgreSQL, for several gateway instances on several machines.

    store = PostgresStore("postgresql://edigw@db.example:5432/edigw")

The location is a libpq URL (``postgresql://`` or ``postgres://``); everything
libpq understands may be in it (``sslmode``, ``target_session_attrs``, several
hosts, ``options=-csearch_path%3Dedigw`` for a schema of its own, ...). The
password is best kept out of it (``PGPASSWORD`` or a ``~/.pgpass`` file, which
libpq reads as usual); when it is in the URL, it is masked wherever the store
names its location (``repr``, every error message).

Concurrency: every operation is one statement in autocommit, or one short
transaction, and correctness never depends on a lock held in this process, so
any number of processes and machines may share the database:

- control numbers: one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``; the
  row lock serialises concurrent callers, a number is never handed out twice
  (a call whose reply is lost may leave a gap, never a repeat);
- duplicate interchanges: one ``INSERT ... ON CONFLICT DO UPDATE`` whose update
  replaces the holder only when the window has passed, and returns whoever
  holds the reference afterwards: exactly one of concurrent claimants wins;
- idempotency keys: a partial unique index on (partner, key); a concurrent
  second insert waits for the first, does nothing and reads the earlier receipt;
- outbound deliveries: one conditional ``UPDATE ... RETURNING`` leases a queued
  document to one dispatcher; a concurrent claimant waits for the row lock and
  then sees the lease, so exactly one instance sends it;
- the schema is created at start-up with ``CREATE ... IF NOT EXISTS`` (and
  columns added since with ``ADD COLUMN IF NOT EXISTS``) under a
  transaction-scoped advisory lock, so instances starting at once do not race
  on the catalogue (and one that finds everything in place takes no lock).

Timestamps are ``timestamptz`` (returned in UTC), details ``jsonb``,
business references a ``text[]`` with a GIN index.

Connections: a small pool in this module (``pool_size``, 4 by default), each
connection lent to one thread at a time. One connection under a lock, as the
SQLite store has, serialises every thread's round trips and commits. Measured
with 8 threads adding receipts to a server on the same 2-core machine (fsync
on; median of 6 runs): one connection about 1,700 operations/s, a pool of 4
about 3,000, of 8 about 3,450; here the client's own CPU is the limit, while
across a network every operation waits a round trip, which one connection
makes every thread wait for in turn. psycopg_pool would do the same job, with
background threads to grow, shrink and check connections; the pool below is
some sixty lines and no further dependency. A connection per thread instead
would open one for each of the HTTP server's worker threads, on every instance.

Failures: whatever psycopg reports as ``OperationalError`` raises
:class:`~gateway.errors.TransientError`: a connection that cannot be made (a
refused login too: documents stay pending rather than being rejected while a
password is being rotated) or is lost, a server shutting down or starting, a
serialisation failure or deadlock, a lack of resources, a cancelled statement.
The call is not retried here. A broken connection is dropped together with
every idle one (after a server restart they are all stale), so the next call
connects afresh.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import NoReturn
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from gateway.errors import ConfigError, TerminalError, TransientError
from gateway.state.base import QUEUED, RECEIVED, OutboundDocument, Receipt, StateStore

SCHEMES = ("postgresql://", "postgres://")

# (name, statement): every object the store needs, each created only if missing.
SCHEMA: tuple[tuple[str, str], ...] = (
    ("receipts", """CREATE TABLE IF NOT EXISTS receipts (
        id text PRIMARY KEY,
        channel text NOT NULL,
        raw_ref text NOT NULL,
        size bigint NOT NULL,
        received_at timestamptz NOT NULL,
        partner_id text,
        status text NOT NULL,
        idempotency_key text,
        interchange_ref text,
        events integer NOT NULL DEFAULT 0,
        error text,
        updated_at timestamptz,
        refs text[] NOT NULL DEFAULT '{}',
        details jsonb NOT NULL DEFAULT '{}',
        lease_owner text,
        lease_until timestamptz)"""),
    ("receipts.lease_owner", "ALTER TABLE receipts ADD COLUMN IF NOT EXISTS lease_owner text"),
    ("receipts.lease_until", "ALTER TABLE receipts ADD COLUMN IF NOT EXISTS lease_until timestamptz"),
    ("receipts_idempotency", """CREATE UNIQUE INDEX IF NOT EXISTS receipts_idempotency
        ON receipts (coalesce(partner_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL"""),
    ("receipts_received", "CREATE INDEX IF NOT EXISTS receipts_received ON receipts (received_at)"),
    ("receipts_status", "CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status, received_at)"),
    ("receipts_partner", "CREATE INDEX IF NOT EXISTS receipts_partner ON receipts (partner_id, received_at)"),
    ("receipts_interchange", "CREATE INDEX IF NOT EXISTS receipts_interchange ON receipts (interchange_ref)"),
    ("receipts_refs", "CREATE INDEX IF NOT EXISTS receipts_refs ON receipts USING gin (refs)"),
    ("interchanges", """CREATE TABLE IF NOT EXISTS interchanges (
        partner_id text NOT NULL,
        interchange_ref text NOT NULL,
        receipt_id text NOT NULL,
        seen_at timestamptz NOT NULL,
        PRIMARY KEY (partner_id, interchange_ref))"""),
    ("outbound", """CREATE TABLE IF NOT EXISTS outbound (
        id text PRIMARY KEY,
        partner_id text NOT NULL,
        kind text NOT NULL,
        raw_ref text NOT NULL,
        created_at timestamptz NOT NULL,
        control_ref text,
        receipt_id text,
        status text NOT NULL,
        updated_at timestamptz,
        details jsonb NOT NULL DEFAULT '{}',
        external_ref text,
        lease_owner text,
        lease_until timestamptz)"""),
    # columns added since: a name "table.column" is looked for among the table's columns
    ("outbound.lease_owner", "ALTER TABLE outbound ADD COLUMN IF NOT EXISTS lease_owner text"),
    ("outbound.lease_until", "ALTER TABLE outbound ADD COLUMN IF NOT EXISTS lease_until timestamptz"),
    ("outbound_external", "CREATE INDEX IF NOT EXISTS outbound_external ON outbound (external_ref) "
                          "WHERE external_ref IS NOT NULL"),
    ("outbound_receipt", "CREATE INDEX IF NOT EXISTS outbound_receipt ON outbound (receipt_id)"),
    ("outbound_status", "CREATE INDEX IF NOT EXISTS outbound_status ON outbound (partner_id, status, created_at)"),
    ("outbound_created", "CREATE INDEX IF NOT EXISTS outbound_created ON outbound (created_at)"),
    ("control_numbers", """CREATE TABLE IF NOT EXISTS control_numbers (
        partner_id text NOT NULL,
        kind text NOT NULL,
        last bigint NOT NULL,
        PRIMARY KEY (partner_id, kind))"""),
)
SCHEMA_LOCK = 0x6564_6967_7701  # pg_advisory_xact_lock key for creating the schema

_RECEIPT = ("id, channel, raw_ref, size, received_at, partner_id, status, idempotency_key, interchange_ref, "
            "events, error, updated_at, refs, details")
_OUTBOUND = ("id, partner_id, kind, raw_ref, created_at, control_ref, receipt_id, status, updated_at, details, "
             "external_ref")
# The references of a receipt: the union of those stored and those given, sorted by code point.
_MERGED_REFS = ('ARRAY(SELECT DISTINCT r COLLATE "C" FROM unnest(receipts.refs || %(refs)s::text[]) AS u(r) '
                'ORDER BY 1)')

# Set on every connection unless the URL says otherwise.
CONNECTION_DEFAULTS = {
    "application_name": "edigw",
    "connect_timeout": "10",
    # a peer machine that vanishes is noticed within about a minute, not after the kernel's two hours
    "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3",
}


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hosts}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_passwords(url: str) -> set[str]:
    """The passwords written in ``url``, as given and decoded, to be masked in messages."""
    found = set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.add(userinfo.partition(":")[2])
    found.update(m.group(1) for m in re.finditer(r"(?i)(?:^|&)password=([^&]*)", parts.query))
    return {form for raw in found if raw for form in (raw, unquote(raw))}


def _utc(value: datetime | None) -> datetime | None:
    # Naive datetimes are taken as local time, as the SQLite store does.
    return None if value is None else value.astimezone(timezone.utc)


class _Pool:
    """At most ``size`` connections, each lent to one caller at a time, most recently used first."""

    def __init__(self, connect: Callable[[], psycopg.Connection], size: int, timeout: float, name: str) -> None:
        if size < 1:
            raise ValueError("pool_size must be at least 1")
        self._connect, self._size, self._timeout, self._name = connect, size, timeout, name
        self._cond = threading.Condition()
        self._idle: list[psycopg.Connection] = []
        self._count = 0  # connections open: idle plus lent
        self._closed = False
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        # A child process must not speak on its parent's sockets; psycopg does not close a
        # connection made in another process when it is collected, so forgetting them is enough.
        if os.getpid() != self._pid:
            self._pid, self._idle, self._count = os.getpid(), [], 0

    def get(self) -> psycopg.Connection:
        deadline = time.monotonic() + self._timeout
        with self._cond:
            self._after_fork()
            while True:
                if self._closed:
                    raise RuntimeError(f"state store {self._name} is closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self._size:
                    self._count += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientError(f"state store {self._name}: all {self._size} connections "
                                         f"stayed busy for {self._timeout:g}s")
                self._cond.wait(remaining)
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def put(self, conn: psycopg.Connection) -> None:
        """Take ``conn`` back: kept when it is healthy and idle, else closed (with every idle one
        when it broke: they most likely lost their server too)."""
        drop: list[psycopg.Connection] = []
        with self._cond:
            if os.getpid() != self._pid:
                return
            if (self._closed or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE):
                drop.append(conn)
                if conn.broken:
                    drop += self._idle
                    self._idle = []
                self._count -= len(drop)
            else:
                self._idle.append(conn)
            self._cond.notify_all()
        for stale in drop:
            stale.close()

    def close(self) -> None:
        with self._cond:
            self._after_fork()
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()


class PostgresStore(StateStore):
    def __init__(self, url: str, *, pool_size: int = 4, pool_timeout: float = 30.0) -> None:
        if not url.startswith(SCHEMES):
            raise ConfigError("a PostgreSQL state store needs a postgresql:// URL")
        self.location = mask_url(url)
        self._secrets = _url_passwords(url)
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"state store {self.location}: {self._scrub(exc)}") from None
        if given.get("password"):
            self._secrets.add(given["password"])
        self._url = url
        self._options = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
        self._pool = _Pool(self._connect, pool_size, pool_timeout, self.location)
        self._initialise()

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    # -- connections and errors ------------------------------------------------------
    def _scrub(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        for secret in sorted(self._secrets, key=len, reverse=True):
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(form, "***")
        return text

    def _transient(self, exc: BaseException, doing: str) -> NoReturn:
        """Raise a TransientError for ``exc``, which names the location but never its password."""
        said = self._scrub(exc)
        error = TransientError(f"state store {self.location}: {doing}: {said}")
        if said != " ".join(str(exc).split()):  # the driver's message had the password in it
            raise error from None  # so not even the chained cause may show it
        raise error from exc

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._url, autocommit=True, **self._options)
        except psycopg.OperationalError as exc:
            self._transient(exc, "cannot connect")

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        conn = self._pool.get()
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._transient(exc, "connection lost" if conn.broken else "failed, may succeed later")
        finally:
            self._pool.put(conn)

    def _initialise(self) -> None:
        """Create what is missing of the schema, in the schema new tables go to (``current_schema()``)."""
        relations = [name for name, _ in SCHEMA if "." not in name]
        columns = [name for name, _ in SCHEMA if "." in name]
        present = ("SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = ns.oid AND relname = ANY(%s)) "
                   "+ (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "WHERE c.relnamespace = ns.oid AND NOT a.attisdropped AND c.relname || '.' || a.attname = ANY(%s)) "
                   "FROM pg_namespace ns WHERE ns.nspname = current_schema()")
        with self._conn() as conn:
            found = conn.execute(present, (relations, columns)).fetchone()
            if found is not None and found[0] == len(SCHEMA):
                return
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                    for _, statement in SCHEMA:
                        conn.execute(statement)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:  # no schema to create in, no privilege on it, ...
                raise ConfigError(f"state store {self.location}: cannot create its tables: "
                                  f"{self._scrub(exc)}") from None

    # -- receipts ------------------------------------------------------------
    def add_receipt(self, receipt: Receipt) -> Receipt:
        r = receipt
        values = dict(id=r.id, channel=r.channel, raw_ref=r.raw_ref, size=r.size, received_at=_utc(r.received_at),
                      partner_id=r.partner_id, status=r.status, key=r.idempotency_key,
                      interchange_ref=r.interchange_ref, events=r.events, error=r.error,
                      updated_at=_utc(r.updated_at), refs=sorted(set(r.refs)), details=Jsonb(r.details or {}))
        with self._conn() as conn:
            for _ in range(3):
                # No conflict target: a known idempotency key and an id already stored (a retried
                # call whose first reply was lost) both leave the table as it is.
                inserted = conn.execute(
                    f"INSERT INTO receipts ({_RECEIPT}) VALUES (%(id)s, %(channel)s, %(raw_ref)s, %(size)s, "
                    "%(received_at)s, %(partner_id)s, %(status)s, %(key)s, %(interchange_ref)s, %(events)s, "
                    "%(error)s, %(updated_at)s, %(refs)s, %(details)s) ON CONFLICT DO NOTHING RETURNING id",
                    values).fetchone()
                if inserted is not None:
                    return receipt
                row = None
                if r.idempotency_key is not None:
                    row = conn.execute(f"SELECT {_RECEIPT} FROM receipts WHERE coalesce(partner_id, '') = %s "
                                       "AND idempotency_key = %s", (r.partner_id or "", r.idempotency_key)).fetchone()
                if row is None:
                    row = conn.execute(f"SELECT {_RECEIPT} FROM receipts WHERE id = %s", (r.id,)).fetchone()
                if row is not None:
                    return self._receipt(row)
        raise TransientError(f"state store {self.location}: receipt {r.id} neither added nor found")

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_RECEIPT} FROM receipts WHERE id = %s", (receipt_id,)).fetchone()
        return None if row is None else self._receipt(row)

    def update_receipt(self, receipt: Receipt) -> None:
        r = receipt
        with self._conn() as conn:
            changed = conn.execute(
                "UPDATE receipts SET partner_id = %(partner_id)s, status = %(status)s, "
                "interchange_ref = %(interchange_ref)s, events = %(events)s, error = %(error)s, "
                f"updated_at = %(updated_at)s, details = %(details)s, refs = {_MERGED_REFS}, "
                "lease_owner = NULL, lease_until = NULL WHERE id = %(id)s",
                dict(id=r.id, partner_id=r.partner_id, status=r.status, interchange_ref=r.interchange_ref,
                     events=r.events, error=r.error, updated_at=_utc(r.updated_at), details=Jsonb(r.details or {}),
                     refs=list(r.refs))).rowcount
        if not changed:
            raise KeyError(r.id)

    def claim_receipt(self, receipt_id, owner, *, until, now=None) -> Receipt | None:
        # One statement, as claim_outbound: a concurrent claimant waits for the row lock and then
        # finds the winner's lease.
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE receipts SET lease_owner = %(owner)s, lease_until = %(until)s WHERE id = %(id)s "
                "AND (lease_owner IS NULL OR lease_owner = %(owner)s "
                "OR lease_until <= coalesce(%(now)s::timestamptz, now())) "
                f"RETURNING {_RECEIPT}",
                dict(id=receipt_id, owner=owner, until=_utc(until), now=_utc(now))).fetchone()
        return None if row is None else self._receipt(row)

    def release_receipt(self, receipt_id, owner) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE receipts SET lease_owner = NULL, lease_until = NULL "
                         "WHERE id = %s AND lease_owner = %s", (receipt_id, owner))

    def find_receipts(self, *, partner_id=None, status=None, ref=None, since=None, limit=100,
                      until=None) -> list[Receipt]:
        where, args = [], []
        if partner_id is not None:
            where.append("partner_id = %s")
            args.append(partner_id)
        if status is not None:
            where.append("status = %s")
            args.append(status)
        if since is not None:
            where.append("received_at >= %s")
            args.append(_utc(since))
        if until is not None:
            where.append("received_at < %s")
            args.append(_utc(until))
        if ref is not None:
            where.append("(interchange_ref = %s OR refs @> ARRAY[%s]::text[])")
            args += [ref, ref]
        sql = f"SELECT {_RECEIPT} FROM receipts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY received_at DESC, id COLLATE \"C\" DESC LIMIT %s"
        with self._conn() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
        return [self._receipt(row) for row in rows]

    def count_pending(self, limit: int) -> int:
        with self._conn() as conn:
            return conn.execute("SELECT count(*) FROM (SELECT 1 FROM receipts WHERE status = %s LIMIT %s) AS p",
                                (RECEIVED, limit)).fetchone()[0]

    @staticmethod
    def _receipt(row: tuple) -> Receipt:
        return Receipt(id=row[0], channel=row[1], raw_ref=row[2], size=row[3], received_at=_utc(row[4]),
                       partner_id=row[5], status=row[6], idempotency_key=row[7], interchange_ref=row[8],
                       events=row[9], error=row[10], updated_at=_utc(row[11]), refs=tuple(row[12]),
                       details=row[13] or {})

    # -- duplicates and control numbers ------------------------------------------
    def claim_interchange(self, partner_id, interchange_ref, receipt_id, *, window: timedelta, now=None):
        # One statement: the update keeps the holder unless the window has passed (the row lock
        # orders concurrent claimants) and RETURNING names whoever holds the reference afterwards.
        # Without ``now`` the database's clock decides, the same for every instance.
        replace = "i.receipt_id <> excluded.receipt_id AND excluded.seen_at - i.seen_at > %(window)s"
        with self._conn() as conn:
            (holder,) = conn.execute(
                "INSERT INTO interchanges AS i (partner_id, interchange_ref, receipt_id, seen_at) "
                "VALUES (%(partner)s, %(ref)s, %(receipt)s, coalesce(%(now)s::timestamptz, now())) "
                "ON CONFLICT (partner_id, interchange_ref) DO UPDATE SET "
                f"receipt_id = CASE WHEN {replace} THEN excluded.receipt_id ELSE i.receipt_id END, "
                f"seen_at = CASE WHEN {replace} THEN excluded.seen_at ELSE i.seen_at END "
                "RETURNING receipt_id",
                dict(partner=partner_id, ref=interchange_ref, receipt=receipt_id, now=_utc(now),
                     window=window)).fetchone()
        return None if holder == receipt_id else holder

    def next_control_number(self, partner_id, kind, *, first=1, last=999_999_999) -> int:
        used_up = TerminalError(f"control numbers {kind} for {partner_id} are used up (last {last})")
        if first > last:
            raise used_up
        with self._conn() as conn:
            row = conn.execute(
                "INSERT INTO control_numbers AS c (partner_id, kind, last) VALUES (%(partner)s, %(kind)s, %(first)s) "
                "ON CONFLICT (partner_id, kind) DO UPDATE SET last = greatest(c.last + 1, excluded.last) "
                "WHERE greatest(c.last + 1, excluded.last) <= %(last)s RETURNING last",
                dict(partner=partner_id, kind=kind, first=first, last=last)).fetchone()
        if row is None:
            raise used_up
        return row[0]

    # -- outbound documents --------------------------------------------------------
    def add_outbound(self, document: OutboundDocument) -> bool:
        """Queue ``document``; False (and nothing changed) when its id is already there."""
        d = document
        with self._conn() as conn:
            return 1 == conn.execute(
                f"INSERT INTO outbound ({_OUTBOUND}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (d.id, d.partner_id, d.kind, d.raw_ref, _utc(d.created_at), d.control_ref, d.receipt_id,
                 d.status, _utc(d.updated_at), Jsonb(d.details or {}), d.external_ref)).rowcount

    def update_outbound(self, document: OutboundDocument, *, keep_lease: bool = False) -> None:
        d = document
        release = "" if keep_lease else ", lease_owner = NULL, lease_until = NULL"
        with self._conn() as conn:
            changed = conn.execute(f"UPDATE outbound SET status = %s, updated_at = %s, details = %s, "
                                   f"external_ref = %s{release} WHERE id = %s",
                                   (d.status, _utc(d.updated_at), Jsonb(d.details or {}), d.external_ref,
                                    d.id)).rowcount
        if not changed:
            raise KeyError(d.id)

    def claim_outbound(self, document_id, owner, *, until, now=None) -> OutboundDocument | None:
        # One statement: a concurrent claimant waits for the row lock, then finds the condition
        # re-checked against the row the winner left, with its lease.
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE outbound SET lease_owner = %(owner)s, lease_until = %(until)s "
                "WHERE id = %(id)s AND status = %(queued)s AND (lease_owner IS NULL OR lease_owner = %(owner)s "
                "OR lease_until <= coalesce(%(now)s::timestamptz, now())) "
                f"RETURNING {_OUTBOUND}",
                dict(id=document_id, owner=owner, until=_utc(until), now=_utc(now), queued=QUEUED)).fetchone()
        return None if row is None else self._outbound(row)

    def get_outbound(self, document_id: str) -> OutboundDocument | None:
        found = self.find_outbound(document_id=document_id, limit=1)
        return found[0] if found else None

    def find_outbound(self, *, receipt_id=None, partner_id=None, status=None, external_ref=None,
                      limit=100, document_id=None) -> list[OutboundDocument]:
        where, args = [], []
        for column, value in (("receipt_id", receipt_id), ("partner_id", partner_id), ("status", status),
                              ("external_ref", external_ref), ("id", document_id)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        sql = f"SELECT {_OUTBOUND} FROM outbound"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id COLLATE \"C\" LIMIT %s"
        with self._conn() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
        return [self._outbound(row) for row in rows]

    @staticmethod
    def _outbound(r: tuple) -> OutboundDocument:
        return OutboundDocument(id=r[0], partner_id=r[1], kind=r[2], raw_ref=r[3], created_at=_utc(r[4]),
                                control_ref=r[5], receipt_id=r[6], status=r[7], updated_at=_utc(r[8]),
                                details=r[9] or {}, external_ref=r[10])

    def ping(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._pool.close()
