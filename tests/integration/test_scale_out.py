"""Scale-out: three `edigw run` instances on one Kafka broker, one PostgreSQL and one S3 store.

Each instance is a real process with its own HTTP port and nothing local that matters: receipts,
duplicates, control numbers and the outbox are in PostgreSQL (tests/postgres.py), raw documents in
the S3 archive (moto's server, tests/s3server.py), events on the broker (tests/broker.py). Orders
asking for a CONTRL are posted over all three; one instance is SIGKILLed mid-load and started again.
Then every document that got a 202 has its events on Kafka under the ids its receipt lists, no
other ids appear, and each CONTRL reached the partner's HTTP endpoint (a loopback receiver) once.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.broker import consume
from tests.gateway_process import KEY, Gateway, Poster, order

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "scale.order-created"


class Receiver(ThreadingHTTPServer):
    """The partner's HTTP endpoint: counts each CONTRL it is sent, by the interchange it answers."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with self.server.lock:
                    self.server.got.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/edi"

    def answered(self) -> Counter:
        """How often a CONTRL answering each interchange reference (UCI 0020) arrived."""
        with self.lock:
            return Counter(m.group(1).decode() for body in self.got if (m := re.search(rb"UCI\+([^+']+)", body)))


def asking(n: int, run: str) -> tuple[str, bytes]:
    """Order ``n`` of ``run`` (interchange reference ``<run><n>``), asking for a CONTRL (UNB 0031 = 1)."""
    number, body = order(n, run)
    return number, body.replace(b"++ORDERS'", b"++ORDERS++1'", 1)


def receipts(gateway: Gateway) -> list[dict]:
    return httpx.get(f"{gateway.url}/v1/documents", params={"limit": 1000}, headers={"X-API-Key": KEY},
                     timeout=30).json()["documents"]


def test_three_instances_on_one_broker_database_and_object_store_survive_one_being_killed(
        broker, postgres, s3, tmp_path):
    started = time.monotonic()
    url = postgres.create_schema("scale_out")
    bucket = s3.create_bucket("scale-out-archive")
    receiver = Receiver()
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "brasserie-du-parc.yaml").open("a") as f:
        f.write(f"\nchannels:\n  http:\n    deliver:\n      url: {receiver.url}\n      timeout_seconds: 5\n")
    extra = (f"s3:\n  endpoint_url: {s3.endpoint}\n  timeout_seconds: 5\n"
             "delivery:\n  interval_seconds: 0.5\n  first_retry_seconds: 1\n  lease_seconds: 10\n"
             "receipt_lease_seconds: 5\n")
    gateways = [Gateway(tmp_path / name, broker.bootstrap, TOPIC, state=url, archive=f"s3://{bucket}/gw",
                        mappings=mappings, extra=extra) for name in "abc"]
    killed = gateways[1]
    posters: list[Poster] = []
    try:
        for gateway in gateways:
            gateway.start()
        posters = [Poster(g.url, run, make=asking, limit=200) for g, run in zip(gateways, "ABC")]
        for poster in posters:
            poster.start()
        time.sleep(2.0)
        killed.kill()  # SIGKILL mid-load: no shutdown code runs
        posters[1].halt.set()
        posters[1].join()
        time.sleep(1.5)  # the others go on taking documents in
        # back while the others are busy: it takes up what it left pending once its leases have run
        # out, and leaves the receipts the others are processing to them
        killed.start()
        late = Poster(killed.url, "D", make=asking, limit=100)
        late.start()
        posters.append(late)
        time.sleep(2.0)
        for poster in posters:
            poster.halt.set()
            poster.join()
        accepted = [n for p in posters for n in p.accepted]
        attempted = {n for p in posters for n in p.attempted}
        deadline = time.monotonic() + 120
        while True:
            listed = receipts(gateways[0])
            pending = [r for r in listed if r["status"] == "received"]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        refs = {n.removeprefix("PO-").replace("-", "") for n in accepted}  # PO-A-00001 -> interchange A00001
        deadline = time.monotonic() + 60
        while not refs <= set(receiver.answered()) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # a second delivery of anything would arrive meanwhile
    finally:
        for poster in posters:
            poster.halt.set()
        for gateway in gateways:
            gateway.stop()
        receiver.shutdown()
    print(f"accepted {len(accepted)} of {len(attempted)} posted: " + ", ".join(
        f"{p.run_id} {len(p.accepted)}/{len(p.attempted)}" for p in posters))
    assert len(posters[1].accepted) >= 5, "the killed instance took too little in before it died to prove anything"
    assert len(accepted) >= 60, "too few documents were posted to prove anything"
    assert not pending, f"{len(pending)} receipts still pending: {[r['id'] for r in pending[:5]]}\n{killed.log()}"
    statuses = Counter(r["status"] for r in listed)
    assert set(statuses) == {"published"}, statuses

    expected: dict[str, set[str]] = defaultdict(set)  # order number -> the event ids its receipt lists
    for r in listed:
        for event in r["details"]["events"]:
            expected[event["key"]].add(event["event_id"])
    missing_receipt = [n for n in accepted if n not in expected]
    assert not missing_receipt, f"acknowledged but unknown to the store: {missing_receipt[:5]}"

    seen: dict[str, Counter] = defaultdict(Counter)  # order number -> event id -> copies on Kafka
    for message in consume(broker.bootstrap, TOPIC, 10**6, timeout=15):
        seen[message.key().decode()][dict(message.headers())["ce_id"].decode()] += 1
    missing = [n for n in accepted if not expected[n] <= set(seen[n])]
    unexpected = {n: set(ids) - expected[n] for n, ids in seen.items() if set(ids) - expected[n]}
    strangers = set(seen) - attempted
    copies = sum(c - 1 for ids in seen.values() for c in ids.values())
    print(f"events: {sum(len(ids) for ids in seen.values())} distinct ids for {len(seen)} orders; "
          f"{copies} duplicate copies of the same id")
    assert not missing, f"{len(missing)} of {len(accepted)} acknowledged documents lack events: {missing[:5]}"
    assert not unexpected and not strangers, (unexpected, strangers)
    assert all(len(ids) == 1 for ids in seen.values()), "an order was published under two ids"

    answered = receiver.answered()
    undelivered = sorted(refs - set(answered))
    twice = {ref: count for ref, count in answered.items() if count > 1}
    print(f"outbound: {sum(answered.values())} CONTRLs delivered for {len(answered)} interchanges; "
          f"took {time.monotonic() - started:.0f} s")
    assert not undelivered, f"{len(undelivered)} CONTRLs never delivered: {undelivered[:5]}"
    # Delivery is at least once: a SIGKILL after the partner's 200 and before the outbound row is
    # marked sent leaves it to be sent again (with the same control number, which is how a partner
    # drops the copy). One instance is killed once, so at most one CONTRL may come twice.
    assert len(twice) <= 1 and set(twice.values()) <= {2}, f"CONTRLs delivered more than once: {twice}"
