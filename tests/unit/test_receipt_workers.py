"""How receipts are spread over worker processes (the processes themselves: tests/integration/test_workers.py)."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.workers import ReceiptWorkers


def test_each_partner_keeps_its_worker_and_new_partners_go_where_there_are_fewest():
    workers = ReceiptWorkers(GatewayConfig(), 3)  # no process starts before the first receipt
    try:
        assert [workers.worker_of(p) for p in ("a", "b", "c", "a", "d", "b", "e")] == [0, 1, 2, 0, 0, 1, 1]
        assert {workers.worker_of(None) for _ in range(6)} == {0, 1, 2}  # no partner yet: round the workers
        assert workers.worker_of("c") == 2
    finally:
        workers.close()
