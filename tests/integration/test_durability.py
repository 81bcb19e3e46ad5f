"""Nothing accepted is lost: the gateway killed mid-stream, and the broker gone for a while.

The gateway runs as a real process (`edigw run`) with its HTTP API on
loopback; documents are posted with httpx; events are read from a real broker.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path

import httpx

from tests.broker import Broker, consume
from tests.gateway_process import Gateway, Poster

ROOT = Path(__file__).resolve().parents[2]


def events_by_order(bootstrap: str, topic: str, expected: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for message in consume(bootstrap, topic, expected + 200, timeout=20):
        found[message.key().decode()].add(dict(message.headers())["ce_id"].decode())
    return found


def test_every_accepted_document_survives_the_gateway_being_killed(broker, tmp_path):
    topic = "durability.kill.order-created"
    gateway = Gateway(tmp_path, broker.bootstrap, topic)
    rng = random.Random(7)
    accepted: list[str] = []
    next_n = 0
    try:
        for _ in range(4):
            gateway.start()
            poster = Poster(gateway.url, "K", next_n)
            poster.start()
            time.sleep(rng.uniform(0.8, 2.5))
            gateway.kill()  # SIGKILL: no shutdown code runs
            poster.halt.set()
            poster.join()
            accepted += poster.accepted
            next_n = poster.n
        gateway.start()  # recovery: pending receipts are processed at start-up
        counts = gateway.settle(len(accepted))
    finally:
        gateway.stop()
    recovered = [line for line in gateway.log(tail=10**8).splitlines() if "processed after a restart" in line]
    print(f"accepted {len(accepted)}; recoveries at start-up: {recovered}")
    assert len(accepted) >= 20, "too few documents were posted to prove anything"
    assert counts.get("received", 0) == 0, counts
    found = events_by_order(broker.bootstrap, topic, len(accepted))
    missing = [n for n in accepted if n not in found]
    assert not missing, f"{len(missing)} of {len(accepted)} accepted documents have no event: {missing[:5]}"
    assert all(len(ids) == 1 for ids in found.values()), "a document was published again under another id"


def test_documents_posted_while_the_broker_is_down_arrive_when_it_is_back(tmp_path):
    topic = "durability.outage.order-created"
    with Broker(workdir=tmp_path / "broker") as own:
        gateway = Gateway(tmp_path, own.bootstrap, topic)
        try:
            gateway.start()
            before = Poster(gateway.url, "B")
            before.start()
            time.sleep(1)
            before.halt.set()
            before.join()
            gateway.settle(len(before.accepted), timeout=30)
            own.stop(kill=True)  # memory-only: what was published before is gone with it
            during = Poster(gateway.url, "D")
            during.start()
            time.sleep(4)
            during.halt.set()
            during.join()
            assert len(during.accepted) >= 10, "intake must keep accepting while the broker is down"
            assert httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 503
            own.start()
            counts = gateway.settle(len(before.accepted) + len(during.accepted))
            assert httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 200
        finally:
            gateway.stop()
        assert counts.get("received", 0) == 0 and counts.get("failed", 0) == 0, (counts, gateway.log())
        found = events_by_order(own.bootstrap, topic, len(during.accepted))
        missing = [n for n in during.accepted if n not in found]
        assert not missing, f"{len(missing)} of {len(during.accepted)} documents never arrived: {missing[:5]}"
