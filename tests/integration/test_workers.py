"""`edigw run` with `workers: 2`: documents are processed by two worker processes over the
shared state store, each partner's documents by the same one and in the order they came,
and what they did is counted where /metrics is served."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from adapters.http.keys import hash_key
from tests.broker import consume
from tests.gateway_process import KEY, ROOT, Gateway

TOPIC = "workers.order-created"
KEYS = {"brasserie-du-parc": "brasserie-key", "acme-retail": "acme-key"}
ORDERS = (ROOT / "samples/edifact/orders_d96a.edi").read_text("latin-1")
PO = (ROOT / "samples/x12/850_4010.x12").read_text("latin-1")


def document(partner: str, n: int) -> tuple[str, bytes, str]:
    if partner == "brasserie-du-parc":
        number = f"PO-W-{n:05d}"
        return number, ORDERS.replace("ORD000123", f"WRK{n:05d}").replace("PO-45001", number).encode(), \
            "application/EDIFACT"
    number = f"PO-X-{n:05d}"
    return number, PO.replace("000000905", f"{700000000 + n:09d}").replace("PO-88231", number).encode(), \
        "application/EDI-X12"


def worker_processes(pid: int) -> int:
    """Children of ``pid`` that are multiprocessing spawn workers."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            count += 1
    return count


def test_two_workers_process_every_document_in_each_partner_s_order(broker, tmp_path):
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    for partner, key in KEYS.items():
        with (mappings / f"{partner}.yaml").open("a") as f:
            f.write(f"\nchannels:\n  http:\n    api_keys: [\"{hash_key(key)}\"]\n")
    gateway = Gateway(tmp_path / "gw", broker.bootstrap, TOPIC, mappings=mappings, extra="workers: 2\n")
    try:
        gateway.start()
        assert worker_processes(gateway.proc.pid) == 2, gateway.log()
        sent: dict[str, list[str]] = {p: [] for p in KEYS}
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            for n in range(15):
                for partner, key in KEYS.items():
                    number, body, kind = document(partner, n)
                    answer = client.post("/v1/documents", content=body,
                                         headers={"Authorization": f"Bearer {key}", "Content-Type": kind})
                    assert answer.status_code == 202, answer.text
                    sent[partner].append(answer.json()["id"])
            deadline = time.monotonic() + 90
            while True:
                counts = gateway.statuses()
                if counts.get("published", 0) >= 30 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert counts == {"published": 30}, (counts, gateway.log())
            # each partner's receipts were finished in the order they were taken in
            admin = {"X-API-Key": KEY}
            for partner, ids in sent.items():
                finished = [client.get(f"/v1/documents/{rid}", headers=admin).json()["updated_at"] for rid in ids]
                assert finished == sorted(finished), partner
            metrics = client.get("/metrics").text
        assert 'edigw_stage_seconds_count{stage="map_events"} 30.0' in metrics  # timed in the workers
        for partner in KEYS:
            assert f'edigw_documents_total{{channel="http",partner="{partner}",status="published"}} 15.0' in metrics
        events = consume(broker.bootstrap, TOPIC, 30, timeout=60)
        numbers = sorted(e.key().decode() for e in events)
        assert numbers == sorted(document(p, n)[0] for p in KEYS for n in range(15))
    finally:
        gateway.stop()
