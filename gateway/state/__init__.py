"""The state store: receipts, duplicate interchanges and control numbers.

    base.py      StateStore (the one interface), Receipt
    sqlite.py    SqliteStore: the embedded default, durable (WAL, synchronous=FULL)
    postgres.py  PostgresStore: one database shared by several gateway instances
    memory.py    MemoryStore: for unit tests

``open_store(location)`` picks the implementation from the location: a
``postgresql://`` (or ``postgres://``) URL opens the PostgreSQL store, anything
else is the path of a SQLite file. The contract tests in
tests/unit/test_state.py run against every implementation.
"""

from __future__ import annotations

from pathlib import Path

from gateway.errors import ConfigError
from gateway.state.base import Receipt, StateStore

__all__ = ["Receipt", "StateStore", "open_store"]

_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str | Path) -> StateStore:
    """The state store at ``location``: a PostgreSQL URL, or the path of a SQLite file."""
    if isinstance(location, str) and location.startswith(_SCHEMES):
        from gateway.state.postgres import PostgresStore

        return PostgresStore(location)
    # A URL that went through Path() has lost the second slash of "//" (and may have had a folder
    # put in front of it): refuse it rather than create a SQLite file named after the URL.
    if any(part in ("postgresql:", "postgres:") for part in Path(location).parts):
        raise ConfigError("the state store location looks like a postgresql:// URL that was turned into a "
                          "file path (its // collapsed): keep it a string")
    from gateway.state.sqlite import SqliteStore

    return SqliteStore(location)
