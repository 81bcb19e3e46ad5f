"""`edigw run` as a real process for tests, and a client that keeps posting to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from adapters.http.keys import hash_key
from tests.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
KEY = "durability-admin-key"
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_text("latin-1")


def order(n: int, run: str) -> tuple[str, bytes]:
    number = f"PO-{run}-{n:05d}"
    return number, ORDERS.replace("ORD000123", f"{run}{n:05d}").replace("PO-45001", number).encode("latin-1")


class Gateway:
    """`edigw run` as a subprocess with its own config, state and archive under ``home``."""

    def __init__(self, home: Path, bootstrap: str, topic: str, *, state: str = "state.db",
                 archive: str = "archive", mappings: Path = ROOT / "mappings", extra: str = "",
                 client_id: str = "edigw") -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = home / "gateway.yaml"
        self.config.write_text(
            f"kafka:\n  bootstrap_servers: {bootstrap}\n  topics: {{OrderCreated: {topic}}}\n"
            f"  dead_letter_topic: {topic}.deadletter\n  publish_timeout: 3\n  client_id: {client_id}\n"
            f"http:\n  port: {self.port}\n  admin_keys: [{hash_key(KEY)}]\n"
            f"mappings: {mappings}\nschemas: {ROOT / 'schemas'}\n"
            f"state: {state}\narchive: {archive}\nretry_seconds: 1\n{extra}")
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # the AWS variables (an S3 archive's credentials) pass through; the EDIGW_ ones would override the file
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
        """Receipt counts by status once at least ``expected`` are published and none is left
        received (a document taken in as the gateway was killed, its 202 never sent, is one more
        receipt to process: published counts alone could stop the wait while it is), or at the
        timeout."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.statuses()
            if (counts.get("published", 0) >= expected and not counts.get("received", 0)) \
                    or time.monotonic() > deadline:
                return counts
            time.sleep(0.5)


class Poster(threading.Thread):
    """Posts numbered orders until stopped; remembers which got a 202."""

    def __init__(self, url: str, run: str, start_at: int = 0, *, make=None, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id, self.n = url, run, start_at
        self.make = make or order  # (n, run) -> (order number, body)
        self.limit = limit  # posts at most (a bound on the load), else until halted
        self.accepted: list[str] = []
        self.attempted: list[str] = []  # every order posted, answered or not
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.halt.is_set() and (self.limit is None or len(self.attempted) < self.limit):
                number, body = self.make(self.n, self.run_id)
                self.n += 1
                self.attempted.append(number)
                try:
                    response = client.post(f"{self.url}/v1/documents", content=body,
                                           headers={"Authorization": f"Bearer {KEY}",
                                                    "Content-Type": "application/EDIFACT"})
                except httpx.HTTPError:
                    continue  # no answer: the sender does not know, and a real one would retry
                if response.status_code == 202:
                    self.accepted.append(number)


