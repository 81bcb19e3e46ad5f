"""Where receipts go among worker processes (the processes themselves: tests/integration/test_workers.py)."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.inbound.workers import ReceiptWorkers


def test_a_partner_stays_on_its_worker_while_it_has_receipts_there_and_moves_only_when_it_has_none():
    workers = ReceiptWorkers(GatewayConfig(), 2)  # no process starts before the first receipt
    try:
        a1, b1, a2 = workers.assign("a"), workers.assign("b"), workers.assign("a")
        assert (a1, b1, a2) == (0, 1, 0)  # b to the idle worker; a's second behind its first
        c1 = workers.assign("c")  # worker 0 holds 2, worker 1 holds 1
        assert c1 == 1
        workers.release(a1, "a")
        workers.release(a2, "a")  # nothing of a in hand any more
        assert workers.assign("a") == 0  # the least busy now (0 in hand against 2)
        assert workers.assign(None) == 0  # no partner: the least busy (1 in hand against 2)
        workers.release(c1, "c")
        assert workers.assign(None) == 1  # now worker 1
    finally:
        workers.close()


def test_without_keeping_order_every_receipt_goes_to_the_least_busy_worker():
    workers = ReceiptWorkers(GatewayConfig(), 2, keep_order=False)
    try:
        assert [workers.assign("a") for _ in range(4)] == [0, 1, 0, 1]
    finally:
        workers.close()


def test_the_least_busy_worker_is_the_one_with_the_fewest_bytes_in_hand():
    workers = ReceiptWorkers(GatewayConfig(), 2, keep_order=False)
    try:
        big = workers.assign("a", 200_000_000)
        assert big == 0
        # counted in documents, the second small one would go behind the 200 MB interchange
        assert [workers.assign("a", 2_000) for _ in range(3)] == [1, 1, 1]
        workers.release(big, "a", 200_000_000)
        assert workers.assign("b", 2_000) == 0  # worker 0 is idle again, worker 1 holds 6 kB
    finally:
        workers.close()
    # with partner order kept, a new partner goes to the worker with the fewest bytes too
    ordered = ReceiptWorkers(GatewayConfig(), 2)
    try:
        assert ordered.assign("a", 50_000_000) == 0
        assert [ordered.assign("b", 1_000), ordered.assign("c", 1_000)] == [1, 1]
        assert ordered.assign("a", 1_000) == 0  # behind its own, wherever the bytes are
    finally:
        ordered.close()
