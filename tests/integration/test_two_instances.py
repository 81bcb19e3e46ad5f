"""Two gateway instances on one Kafka and one PostgreSQL: what one took in, the other knows.

Each instance is a real `edigw run` process with its own HTTP port; they share
the state store (a real PostgreSQL server on loopback) and, as on one host or
a shared volume, the archive.
"""

from __future__ import annotations

import time

import httpx

from tests.broker import consume
from tests.gateway_process import KEY, Gateway, order

TOPIC = "two.order-created"


def post(gateway: Gateway, body: bytes) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/documents", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/EDIFACT"})


def status(gateway: Gateway, receipt_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        found = httpx.get(f"{gateway.url}/v1/documents/{receipt_id}", headers={"X-API-Key": KEY}, timeout=10).json()
        if found["status"] != "received" or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_two_instances_share_duplicates_statuses_and_control_numbers(broker, postgres, tmp_path):
    url = postgres.create_schema("two_instances")
    archive = tmp_path / "archive"
    first = Gateway(tmp_path / "a", broker.bootstrap, TOPIC, state=url, archive=str(archive))
    second = Gateway(tmp_path / "b", broker.bootstrap, TOPIC, state=url, archive=str(archive))
    try:
        first.start()
        second.start()
        # the same interchange to each instance: one publishes, the other records a duplicate
        number, body = order(1, "TWO")
        one = status(first, post(first, body).json()["id"])
        two = status(second, post(second, body).json()["id"])
        assert sorted([one["status"], two["status"]]) == ["duplicate", "published"]
        # a document taken in by one instance is visible through the other
        assert status(second, one["id"])["status"] == one["status"]
        found = httpx.get(f"{second.url}/v1/documents", params={"ref": "TWO00001"}, headers={"X-API-Key": KEY},
                          timeout=10).json()["documents"]  # by interchange reference: both copies
        assert {d["id"] for d in found} == {one["id"], two["id"]}
        # acknowledgements from both instances draw control numbers from one sequence
        refs = []
        for n in range(2, 12):
            _, body = order(n, "TWO")
            body = body.replace(b"++ORDERS'", b"++ORDERS++1'", 1)  # UNB 0031 = 1: a CONTRL is asked for
            target = first if n % 2 else second
            done = status(target, post(target, body).json()["id"])
            refs += [a["control_ref"] for a in done["acknowledgements"]]
        assert len(refs) == 10 and len(set(refs)) == 10, refs
    finally:
        first.stop()
        second.stop()
    assert len(consume(broker.bootstrap, TOPIC, 12, timeout=8, where=lambda m: m.key() == number.encode())) == 1
