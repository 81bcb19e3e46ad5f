"""The state store contract, run against every implementation.

The PostgreSQL store runs against a real server started for the session on a
loopback port (tests/postgres.py); each test gets a schema of its own.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from gateway.errors import ConfigError, TerminalError, TransientError
from gateway.state import open_store
from gateway.state.base import DUPLICATE, PUBLISHED, QUEUED, RECEIVED, SENT, OutboundDocument, Receipt, new_receipt_id
from gateway.state.memory import MemoryStore
from gateway.state.postgres import PostgresStore, mask_url
from gateway.state.sqlite import SqliteStore
from tests.postgres import Postgres

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
_schemas = itertools.count(1)


def fresh_url(postgres: Postgres) -> str:
    """The URL of a new, empty schema: the store creates its tables there."""
    return postgres.create_schema(f"t{next(_schemas)}")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "state.db")
    else:
        s = PostgresStore(fresh_url(request.getfixturevalue("postgres")))
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path) -> str:
    """Where a durable store lives: what ``open_store`` takes."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return fresh_url(request.getfixturevalue("postgres"))


def receipt(**kw) -> Receipt:
    base = dict(id=new_receipt_id(), channel="http", raw_ref="sha256:ab", size=10, received_at=T0,
                partner_id="acme")
    return Receipt(**{**base, **kw})


def test_receipts_round_trip_and_status(store):
    r = store.add_receipt(receipt(refs=("PO-1",)))
    assert store.get_receipt(r.id) == r
    assert store.pending() == [r] and store.count_pending(limit=10) == 1
    for _ in range(3):
        store.add_receipt(receipt())
    assert store.count_pending(limit=10) == 4 and store.count_pending(limit=2) == 2  # counted up to the limit
    done = r.with_status(PUBLISHED, events=3, interchange_ref="IC1", refs=("PO-1", "PO-2"))
    store.update_receipt(done)
    got = store.get_receipt(r.id)
    assert (got.status, got.events, got.interchange_ref, got.refs) == (PUBLISHED, 3, "IC1", ("PO-1", "PO-2"))
    assert got.updated_at is not None and r not in store.pending() and store.count_pending(limit=10) == 3
    assert store.get_receipt("nope") is None
    with pytest.raises(KeyError):
        store.update_receipt(receipt())


def test_idempotency_key_returns_the_earlier_receipt(store):
    first = store.add_receipt(receipt(idempotency_key="k1"))
    again = store.add_receipt(receipt(idempotency_key="k1"))
    assert again.id == first.id
    other_partner = store.add_receipt(receipt(idempotency_key="k1", partner_id="other"))
    assert other_partner.id != first.id
    assert len(store.find_receipts(limit=10)) == 2


def test_find_by_partner_status_ref_and_time_newest_first(store):
    a = store.add_receipt(receipt(received_at=T0, refs=("PO-7",)))
    b = store.add_receipt(receipt(received_at=T0 + timedelta(minutes=1), partner_id="other", interchange_ref="IC9"))
    c = store.add_receipt(receipt(received_at=T0 + timedelta(minutes=2), status=PUBLISHED))
    assert [r.id for r in store.find_receipts()] == [c.id, b.id, a.id]
    assert [r.id for r in store.find_receipts(partner_id="acme")] == [c.id, a.id]
    assert [r.id for r in store.find_receipts(status=RECEIVED)] == [b.id, a.id]
    assert [r.id for r in store.find_receipts(ref="PO-7")] == [a.id]
    assert [r.id for r in store.find_receipts(ref="IC9")] == [b.id]
    assert [r.id for r in store.find_receipts(since=T0 + timedelta(seconds=30))] == [c.id, b.id]
    assert [r.id for r in store.find_receipts(until=T0 + timedelta(minutes=2))] == [b.id, a.id]  # before, not at
    assert [r.id for r in store.find_receipts(since=T0 + timedelta(seconds=30),
                                              until=T0 + timedelta(seconds=90))] == [b.id]
    assert len(store.find_receipts(limit=1)) == 1


def test_duplicate_interchanges_within_the_window(store):
    day = timedelta(days=1)
    assert store.claim_interchange("acme", "000000905", "r1", window=day, now=T0) is None
    assert store.claim_interchange("acme", "000000905", "r1", window=day, now=T0) is None  # a replay of r1
    assert store.claim_interchange("acme", "000000905", "r2", window=day, now=T0 + timedelta(hours=1)) == "r1"
    assert store.claim_interchange("other", "000000905", "r3", window=day, now=T0) is None
    # past the window the reference may be used again
    assert store.claim_interchange("acme", "000000905", "r4", window=day, now=T0 + timedelta(days=2)) is None
    assert store.claim_interchange("acme", "000000905", "r5", window=day, now=T0 + timedelta(days=2)) == "r4"


def test_control_numbers_increase_per_partner_and_kind(store):
    assert [store.next_control_number("acme", "ISA13") for _ in range(3)] == [1, 2, 3]
    assert store.next_control_number("acme", "GS06") == 1
    assert store.next_control_number("other", "ISA13", first=1000) == 1000
    assert store.next_control_number("acme", "ST02", first=5, last=6) == 5
    assert store.next_control_number("acme", "ST02", first=5, last=6) == 6
    with pytest.raises(TerminalError, match="used up"):
        store.next_control_number("acme", "ST02", first=5, last=6)
    assert store.next_control_number("acme", "ST02", first=5, last=7) == 7  # the refused call took nothing
    with pytest.raises(TerminalError, match="used up"):
        store.next_control_number("acme", "NEW", first=10, last=9)


def test_control_numbers_are_unique_across_threads(store):
    got: list[int] = []
    lock = threading.Lock()

    def take():
        numbers = [store.next_control_number("acme", "ISA13") for _ in range(100)]
        with lock:
            got.extend(numbers)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 401))


def test_control_numbers_are_unique_across_threads_with_other_partners_interleaved(store):
    got: dict[str, list[int]] = {"acme": [], "other": []}
    lock = threading.Lock()

    def take(partner):
        numbers = [store.next_control_number(partner, "UNB0020", first=100) for _ in range(50)]
        with lock:
            got[partner].extend(numbers)

    threads = [threading.Thread(target=take, args=(p,)) for p in ("acme", "other") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got["acme"]) == sorted(got["other"]) == list(range(100, 300))


def _race(n: int, action) -> list:
    """``action(i)`` from ``n`` threads released at once; the results in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i):
        try:
            barrier.wait(10)
            results[i] = action(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_concurrent_claims_of_one_interchange_have_exactly_one_winner(store):
    for round_ in range(10):
        ref = f"0000009{round_:02d}"
        ids = [f"r{round_}-{i}" for i in range(8)]
        results = _race(8, lambda i: store.claim_interchange("acme", ref, ids[i], window=timedelta(days=1)))
        winners = [ids[i] for i, got in enumerate(results) if got is None]
        assert len(winners) == 1, results
        assert all(got == winners[0] for got in results if got is not None)
        # and it stays the winner's: a later claimant is told so, the winner's replay is not a duplicate
        assert store.claim_interchange("acme", ref, "late", window=timedelta(days=1)) == winners[0]
        assert store.claim_interchange("acme", ref, winners[0], window=timedelta(days=1)) is None


def test_concurrent_receipts_with_one_idempotency_key_become_one(store):
    results = _race(8, lambda i: store.add_receipt(receipt(idempotency_key="same", refs=(f"PO-{i}",))))
    assert len({r.id for r in results}) == 1
    assert [r.id for r in store.find_receipts(limit=100)] == [results[0].id]


def test_receipt_details_and_times_round_trip(store):
    local = timezone(timedelta(hours=-5))
    r = store.add_receipt(receipt(received_at=T0.astimezone(local),
                                  details={"events": [{"id": "e1", "topic": "t"}], "skipped": 0}))
    got = store.get_receipt(r.id)
    assert got.received_at == T0 and got.details == {"events": [{"id": "e1", "topic": "t"}], "skipped": 0}
    done = r.with_status(PUBLISHED, details={"events": [], "error": {"code": "E1", "at": [1, 2]}})
    store.update_receipt(done)
    got = store.get_receipt(r.id)
    assert got.details == {"events": [], "error": {"code": "E1", "at": [1, 2]}}
    assert got.updated_at == done.updated_at
    assert [x.id for x in store.find_receipts(since=T0.astimezone(local))] == [r.id]


def outbound(**kw) -> OutboundDocument:
    base = dict(id=new_receipt_id(), partner_id="acme", kind="997", raw_ref="sha256:cd", created_at=T0)
    return OutboundDocument(**{**base, **kw})


def test_outbound_documents_round_trip_oldest_first(store):
    a = outbound(receipt_id="r1", control_ref="000000001", details={"answers": "r1", "accepted": True})
    b = outbound(created_at=T0 + timedelta(minutes=1), partner_id="other", kind="CONTRL")
    c = outbound(created_at=T0 + timedelta(minutes=2), receipt_id="r1", kind="TA1")
    for document in (c, a, b):
        assert store.add_outbound(document) is True
    assert store.add_outbound(outbound(id=a.id, kind="999")) is False  # already queued: left as it was
    assert [d.id for d in store.find_outbound()] == [a.id, b.id, c.id]
    assert [d.id for d in store.find_outbound(receipt_id="r1")] == [a.id, c.id]
    assert [d.id for d in store.find_outbound(partner_id="other")] == [b.id]
    assert store.find_outbound(receipt_id="r1", limit=1)[0] == a
    assert store.find_outbound(receipt_id="r1", limit=1)[0].details == {"answers": "r1", "accepted": True}
    sent = a.with_status(SENT, details={"answers": "r1", "mdn": "ok"})
    store.update_outbound(sent)
    assert [d.id for d in store.find_outbound(status=QUEUED)] == [b.id, c.id]
    got = store.find_outbound(status=SENT)
    assert got == [sent] and got[0].details == {"answers": "r1", "mdn": "ok"}
    assert store.find_outbound(external_ref="<m1@edigw>") == []
    assert store.get_outbound(a.id) == sent and store.get_outbound("nothing") is None
    store.update_outbound(sent.with_status(SENT, external_ref="<m1@edigw>"))
    assert [d.id for d in store.find_outbound(external_ref="<m1@edigw>")] == [a.id]
    with pytest.raises(KeyError):
        store.update_outbound(outbound())


def test_an_outbound_lease_is_one_owners_until_it_runs_out_or_is_released(store):
    doc = outbound(details={"attempts": 1})
    store.add_outbound(doc)
    minute = timedelta(minutes=1)
    got = store.claim_outbound(doc.id, "a", until=T0 + 5 * minute, now=T0)
    assert got == doc and got.details == {"attempts": 1}
    assert store.claim_outbound(doc.id, "b", until=T0 + 6 * minute, now=T0 + minute) is None  # a's lease runs
    assert store.claim_outbound(doc.id, "a", until=T0 + 6 * minute, now=T0 + minute) == doc  # a may renew it
    assert store.claim_outbound(doc.id, "b", until=T0 + 9 * minute, now=T0 + 6 * minute) == doc  # ran out
    assert store.claim_outbound(doc.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute) is None  # now b's
    # what is recorded during a send keeps the lease; recording the result ends it
    store.update_outbound(doc.with_status(QUEUED, external_ref="<m1@edigw>"), keep_lease=True)
    assert store.claim_outbound(doc.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute) is None
    retry = doc.with_status(QUEUED, details={"attempts": 2}, external_ref="<m1@edigw>")
    store.update_outbound(retry)
    got = store.claim_outbound(doc.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute)
    assert got == retry and got.details == {"attempts": 2}  # the document as it is now
    # only queued documents can be claimed, whoever's lease has run out
    store.update_outbound(retry.with_status(SENT))
    assert store.claim_outbound(doc.id, "a", until=T0 + 20 * minute, now=T0 + 10 * minute) is None
    assert store.claim_outbound(doc.id, "b", until=T0 + 20 * minute, now=T0 + 10 * minute) is None
    assert store.claim_outbound("nothing", "a", until=T0 + minute, now=T0) is None
    assert store.get_outbound(doc.id).status == SENT


def test_concurrent_claims_of_one_outbound_document_have_exactly_one_winner(store):
    docs = [outbound() for _ in range(10)]
    for doc in docs:
        store.add_outbound(doc)
    now = datetime.now(timezone.utc)
    for doc in docs:
        results = _race(8, lambda i: store.claim_outbound(doc.id, f"owner-{i}", until=now + timedelta(minutes=5)))
        assert sum(got is not None for got in results) == 1, results


def test_a_receipt_is_leased_to_one_processor_at_a_time_until_recorded_released_or_run_out(store):
    r = store.add_receipt(receipt())
    minute = timedelta(minutes=1)
    assert store.claim_receipt(r.id, "a", until=T0 + 5 * minute, now=T0) == r
    assert store.claim_receipt(r.id, "b", until=T0 + 6 * minute, now=T0 + minute) is None  # a's lease runs
    assert store.claim_receipt(r.id, "a", until=T0 + 6 * minute, now=T0 + minute) == r  # a may renew it
    assert store.claim_receipt(r.id, "b", until=T0 + 9 * minute, now=T0 + 6 * minute) == r  # ran out: a died
    assert store.claim_receipt(r.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute) is None  # now b's
    store.release_receipt(r.id, "a")  # not a's to release
    assert store.claim_receipt(r.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute) is None
    store.release_receipt(r.id, "b")  # b gave up (the broker is down): free at once
    assert store.claim_receipt(r.id, "a", until=T0 + 9 * minute, now=T0 + 7 * minute) == r
    done = r.with_status(PUBLISHED, events=2)
    store.update_receipt(done)  # recording the result ends the lease
    got = store.claim_receipt(r.id, "b", until=T0 + 9 * minute, now=T0 + 7 * minute)
    assert got == done and got.status == PUBLISHED  # as it is now: the claimant sees it is done
    assert store.claim_receipt("nothing", "a", until=T0 + minute, now=T0) is None


def test_concurrent_claims_of_one_receipt_have_exactly_one_winner(store):
    receipts = [store.add_receipt(receipt()) for _ in range(10)]
    now = datetime.now(timezone.utc)
    for r in receipts:
        results = _race(8, lambda i: store.claim_receipt(r.id, f"owner-{i}", until=now + timedelta(minutes=5)))
        assert sum(got is not None for got in results) == 1, results


def test_a_durable_store_keeps_everything_across_a_reopen(location):
    s = open_store(location)
    r = s.add_receipt(receipt(status=DUPLICATE, refs=("PO-1",)))
    s.next_control_number("acme", "UNB0020")
    s.claim_interchange("acme", "IC1", r.id, window=timedelta(days=1), now=T0)
    s.close()
    again = open_store(location)
    assert again.get_receipt(r.id) == r
    assert again.next_control_number("acme", "UNB0020") == 2
    assert again.claim_interchange("acme", "IC1", "r2", window=timedelta(days=1), now=T0) == r.id
    again.close()


def _allocate(location: str, n: int, out) -> None:
    store = open_store(location)
    out.put([store.next_control_number("acme", "ISA13") for _ in range(n)])
    store.close()


def test_control_numbers_are_unique_across_processes(location):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # Four processes open the same new store at once: the set-up (WAL, schema) races too.
    procs = [ctx.Process(target=_allocate, args=(location, 75, out)) for _ in range(4)]
    for p in procs:
        p.start()
    numbers = sum((out.get(timeout=60) for _ in procs), [])
    for p in procs:
        p.join(30)
    assert sorted(numbers) == list(range(1, 301))


def leased_once(store) -> None:
    """Document d1 of a migrated store can be leased, and only once."""
    try:
        assert store.claim_outbound("d1", "a", until=T0 + timedelta(minutes=5), now=T0).id == "d1"
        assert store.claim_outbound("d1", "b", until=T0 + timedelta(minutes=5), now=T0) is None
    finally:
        store.close()


def test_a_sqlite_file_from_before_receipt_leases_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE receipts (id TEXT PRIMARY KEY, channel TEXT NOT NULL, raw_ref TEXT NOT NULL, "
                "size INTEGER NOT NULL, received_at TEXT NOT NULL, partner_id TEXT, status TEXT NOT NULL, "
                "idempotency_key TEXT, interchange_ref TEXT, events INTEGER NOT NULL DEFAULT 0, error TEXT, "
                "updated_at TEXT, details TEXT)")
    old.execute("INSERT INTO receipts VALUES ('r1', 'http', 'sha256:ab', 3, '2026-11-20T09:30:00.000000Z', NULL, "
                "'received', NULL, NULL, 0, NULL, NULL, NULL)")
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert store.claim_receipt("r1", "a", until=T0 + timedelta(minutes=5), now=T0).id == "r1"
        assert store.claim_receipt("r1", "b", until=T0 + timedelta(minutes=5), now=T0) is None
    finally:
        store.close()


def test_a_sqlite_file_from_before_outbound_leases_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE outbound (id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, kind TEXT NOT NULL, "
                "raw_ref TEXT NOT NULL, created_at TEXT NOT NULL, control_ref TEXT, receipt_id TEXT, "
                "status TEXT NOT NULL, updated_at TEXT, details TEXT)")
    old.execute("INSERT INTO outbound VALUES ('d1', 'acme', '997', 'sha256:cd', '2026-11-20T09:30:00.000000Z', "
                "'000000001', NULL, 'queued', NULL, NULL)")
    old.commit()
    old.close()
    leased_once(SqliteStore(path))


# -- open_store ----------------------------------------------------------------------------

def test_open_store_takes_a_url_or_a_path(tmp_path, postgres):
    for path in (tmp_path / "a.db", str(tmp_path / "b.db")):
        s = open_store(path)
        assert isinstance(s, SqliteStore)
        s.close()
    s = open_store(fresh_url(postgres))
    assert isinstance(s, PostgresStore)
    s.close()
    # a URL that went through Path() lost a slash: refused, not made into a file, and not repeated
    for mangled in (Path(postgres.url()), Path("conf") / postgres.url()):
        with pytest.raises(ConfigError, match="keep it a string") as caught:
            open_store(mangled)
        assert postgres.password not in str(caught.value)
    assert not (Path("postgresql:").exists() or Path("conf").exists())


# -- PostgreSQL only -----------------------------------------------------------------------

def _everything_said(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_postgres_columns_are_timestamptz_and_jsonb(postgres):
    url = fresh_url(postgres)
    PostgresStore(url).close()
    with psycopg.connect(url) as conn:
        types = dict(((table, column), kind) for table, column, kind in conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()"))
    assert {types[("receipts", c)] for c in ("received_at", "updated_at")} == {"timestamp with time zone"}
    assert types[("interchanges", "seen_at")] == types[("outbound", "created_at")] == "timestamp with time zone"
    assert types[("receipts", "details")] == types[("outbound", "details")] == "jsonb"
    assert types[("control_numbers", "last")] == "bigint"


def test_postgres_adds_the_lease_columns_to_an_outbound_table_from_before(postgres):
    url = fresh_url(postgres)
    store = PostgresStore(url)
    store.add_outbound(outbound(id="d1"))
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE outbound DROP COLUMN lease_owner, DROP COLUMN lease_until")
    leased_once(PostgresStore(url))


def test_postgres_adds_the_lease_columns_to_a_receipts_table_from_before(postgres):
    url = fresh_url(postgres)
    store = PostgresStore(url)
    r = store.add_receipt(receipt())
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE receipts DROP COLUMN lease_owner, DROP COLUMN lease_until")
    again = PostgresStore(url)
    try:
        assert again.claim_receipt(r.id, "a", until=T0 + timedelta(minutes=5), now=T0) == r
        assert again.claim_receipt(r.id, "b", until=T0 + timedelta(minutes=5), now=T0) is None
    finally:
        again.close()


def test_postgres_schema_is_created_once_by_stores_starting_together(postgres):
    url = fresh_url(postgres)
    stores = _race(6, lambda i: PostgresStore(url, pool_size=1))
    numbers = sorted(s.next_control_number("acme", "ISA13") for s in stores)
    assert numbers == list(range(1, 7))
    for s in stores:
        s.close()


def test_postgres_restart_is_transient_then_the_same_store_recovers(postgres):
    store = PostgresStore(fresh_url(postgres), pool_size=3)
    try:
        assert store.next_control_number("acme", "ISA13") == 1
        # three connections in the pool, all of which the restart makes stale
        _race(3, lambda i: store.next_control_number("acme", "GS06"))
        postgres.stop()
        try:
            for call in (store.ping, lambda: store.next_control_number("acme", "ISA13"),
                         lambda: store.get_receipt("x"), store.ping):
                with pytest.raises(TransientError) as caught:
                    call()
                assert "***" in str(caught.value) and postgres.password not in _everything_said(caught.value)
        finally:
            postgres.start()
        store.ping()
        assert store.next_control_number("acme", "ISA13") == 2
        # a restart between two calls: the first one meets a stale connection, the next reconnects
        _race(3, lambda i: store.next_control_number("acme", "GS06"))
        postgres.stop()
        postgres.start()
        with pytest.raises(TransientError, match="connection lost"):
            store.next_control_number("acme", "ISA13")
        assert store.next_control_number("acme", "ISA13") == 3  # the failed call never reached the server
        assert sorted(store.next_control_number("acme", "GS06") for _ in range(2)) == [7, 8]
    finally:
        store.close()


def test_postgres_password_is_never_shown(postgres):
    wrong = postgres.url().replace(postgres.password, "Wr0ng:p@ss/word")
    assert "Wr0ng" not in mask_url(wrong.replace("Wr0ng:p@ss/word", "Wr0ng%3Ap%40ss%2Fword"))
    for url in (wrong.replace("Wr0ng:p@ss/word", "Wr0ng%3Ap%40ss%2Fword"),  # refused login
                postgres.url().replace(str(postgres.port), "1"),  # nothing listening
                postgres.url() + "?no_such_option=1"):  # not a URL libpq accepts
        with pytest.raises((TransientError, ConfigError)) as caught:
            PostgresStore(url)
        said = _everything_said(caught.value)
        for secret in (postgres.password, "Wr0ng"):
            assert secret not in said
        assert "***" in said
    query = f"postgresql://edigw@127.0.0.1:{postgres.port}/edigw?password={postgres.password}&sslmode=disable"
    assert mask_url(query).endswith("?password=***&sslmode=disable")
    with pytest.raises(TransientError) as caught:
        PostgresStore(query.replace(str(postgres.port), "1"))
    assert postgres.password not in _everything_said(caught.value)
    store = PostgresStore(fresh_url(postgres))
    assert postgres.password not in repr(store) and "edigw:***@127.0.0.1" in repr(store)
    # should a driver message ever repeat the password, it is masked, and the cause is not chained
    with pytest.raises(TransientError) as caught:
        store._transient(psycopg.OperationalError(f"no luck with {postgres.password}"), "connecting")
    assert caught.value.__cause__ is None and postgres.password not in _everything_said(caught.value)
    store.close()
