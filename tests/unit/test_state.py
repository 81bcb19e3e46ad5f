"""The state store contract, run against every implementation."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest

from gateway.errors import TerminalError
from gateway.state.base import DUPLICATE, PUBLISHED, RECEIVED, Receipt, new_receipt_id
from gateway.state.memory import MemoryStore
from gateway.state.sqlite import SqliteStore

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def receipt(**kw) -> Receipt:
    base = dict(id=new_receipt_id(), channel="http", raw_ref="sha256:ab", size=10, received_at=T0,
                partner_id="acme")
    return Receipt(**{**base, **kw})


def test_receipts_round_trip_and_status(store):
    r = store.add_receipt(receipt(refs=("PO-1",)))
    assert store.get_receipt(r.id) == r
    assert store.pending() == [r]
    done = r.with_status(PUBLISHED, events=3, interchange_ref="IC1", refs=("PO-1", "PO-2"))
    store.update_receipt(done)
    got = store.get_receipt(r.id)
    assert (got.status, got.events, got.interchange_ref, got.refs) == (PUBLISHED, 3, "IC1", ("PO-1", "PO-2"))
    assert got.updated_at is not None and store.pending() == []
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


def test_sqlite_keeps_everything_across_a_reopen(tmp_path):
    path = tmp_path / "state.db"
    s = SqliteStore(path)
    r = s.add_receipt(receipt(status=DUPLICATE, refs=("PO-1",)))
    s.next_control_number("acme", "UNB0020")
    s.claim_interchange("acme", "IC1", r.id, window=timedelta(days=1), now=T0)
    s.close()
    again = SqliteStore(path)
    assert again.get_receipt(r.id) == r
    assert again.next_control_number("acme", "UNB0020") == 2
    assert again.claim_interchange("acme", "IC1", "r2", window=timedelta(days=1), now=T0) == r.id
    again.close()


def _allocate(path: str, n: int, out) -> None:
    store = SqliteStore(path)
    out.put([store.next_control_number("acme", "ISA13") for _ in range(n)])
    store.close()


def test_sqlite_control_numbers_are_unique_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # Four processes open the same new file at once: the set-up (WAL, schema) races too.
    procs = [ctx.Process(target=_allocate, args=(str(tmp_path / "state.db"), 75, out)) for _ in range(4)]
    for p in procs:
        p.start()
    numbers = sum((out.get(timeout=60) for _ in procs), [])
    for p in procs:
        p.join(30)
    assert sorted(numbers) == list(range(1, 301))
