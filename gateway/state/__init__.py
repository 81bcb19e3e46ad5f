"""The state store: receipts, duplicate interchanges and control numbers.

    base.py     StateStore (the one interface), Receipt
    sqlite.py   SqliteStore: the embedded default, durable (WAL, synchronous=FULL)
    memory.py   MemoryStore: for unit tests

A PostgreSQL store for several gateway instances implements the same
interface; the contract tests in tests/unit/test_state.py run against every
implementation.
"""

from gateway.state.base import Receipt, StateStore

__all__ = ["Receipt", "StateStore"]
