"""Nothing accepted is lost: the gateway killed mid-stream, and the broker gone for a while.

The gateway runs as a real process (`edigw run`) with its HTTP API on
loopback; documents are posted with httpx; events are read from a real broker.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from adapters.http.keys import hash_key
from tests.broker import Broker, consume, free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "durability-admin-key"
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_text("latin-1")


def order(n: int, run: str) -> tuple[str, bytes]:
    number = f"PO-{run}-{n:05d}"
    return number, ORDERS.replace("ORD000123", f"{run}{n:05d}").replace("PO-45001", number).encode("latin-1")


class Gateway:
    """`edigw run` as a subprocess with its own config, state and archive under ``home``."""

    def __init__(self, home: Path, bootstrap: str, topic: str) -> None:
        self.home = home
        self.port = free_port()
        self.config = home / "gateway.yaml"
        self.config.write_text(
            f"kafka:\n  bootstrap_servers: {bootstrap}\n  topics: {{OrderCreated: {topic}}}\n"
            f"  dead_letter_topic: {topic}.deadletter\n  publish_timeout: 3\n"
            f"http:\n  port: {self.port}\n  admin_keys: [{hash_key(KEY)}]\n"
            f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n"
            f"state: state.db\narchive: archive\nretry_seconds: 1\n")
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
        log = (self.home / "gateway.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config),
                                      "--inbox", str(self.home / "inbox")], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the gateway did not start:\n" + self.log())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def log(self, tail: int = 4000) -> str:
        return (self.home / "gateway.log").read_text(errors="replace")[-tail:]

    def statuses(self) -> dict[str, int]:
        listed = httpx.get(f"{self.url}/v1/documents", params={"limit": 1000},
                           headers={"X-API-Key": KEY}, timeout=30).json()["documents"]
        counts: dict[str, int] = defaultdict(int)
        for doc in listed:
            counts[doc["status"]] += 1
        return dict(counts)

    def settle(self, expected: int, timeout: float = 90) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            counts = self.statuses()
            if counts.get("published", 0) >= expected or time.monotonic() > deadline:
                return counts
            time.sleep(0.5)


class Poster(threading.Thread):
    """Posts numbered orders until stopped; remembers which got a 202."""

    def __init__(self, url: str, run: str, start_at: int = 0) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id, self.n = url, run, start_at
        self.accepted: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set():
                number, body = order(self.n, self.run_id)
                self.n += 1
                try:
                    response = client.post(f"{self.url}/v1/documents", content=body,
                                           headers={"Authorization": f"Bearer {KEY}",
                                                    "Content-Type": "application/EDIFACT"})
                except httpx.HTTPError:
                    continue  # no answer: the sender does not know, and a real one would retry
                if response.status_code == 202:
                    self.accepted.append(number)


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
