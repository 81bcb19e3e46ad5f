"""`edigw run` killed (SIGKILL) again and again while events stream out to a partner: after the last
restart the partner has exactly one document per event, none missing, none twice."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from gateway.bootstrap import build_encoder
from gateway.config import GatewayConfig, KafkaConfig
from gateway.events import Event, SchemaSet
from gateway.sinks.kafka import KafkaSink
from gateway.syntax import parse
from tests.broker import free_port
from tests.sshd import keygen

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "kill.order-responded"
EVENTS = 40


def test_each_event_reaches_the_partner_once_through_kills(broker, tmp_path):
    client_key = keygen(tmp_path / "acme_key")
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "acme-retail.yaml").open("a") as f:
        f.write(f"\nchannels:\n  sftp:\n    account:\n      username: acme\n"
                f"      authorized_keys: [\"{client_key.with_suffix('.pub').read_text().strip()}\"]\n")
    (tmp_path / "gateway.yaml").write_text(
        f"kafka:\n  bootstrap_servers: {broker.bootstrap}\n  client_id: kill-out\n"
        f"  topics: {{OrderResponded: {TOPIC}}}\nhttp:\n  port: {free_port()}\nsftp:\n  port: {free_port()}\n"
        f"mappings: mappings\nschemas: {ROOT / 'schemas'}\n")
    sample = json.loads((ROOT / "samples/outbound/acme-retail.po-acknowledgement.event.json").read_text())
    config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap), schemas=ROOT / "schemas")
    schemas = SchemaSet.load(config.schemas)
    numbers = [f"PO-K{n:04d}" for n in range(EVENTS)]
    events = []
    for number in numbers:
        record = schemas.from_json("OrderResponded", {**sample["event"], "order_number": number,
                                                      "event_id": str(uuid.uuid4())})
        events.append(Event("OrderResponded", TOPIC, number, record))
    with KafkaSink(broker.bootstrap, build_encoder(config, schemas), client_id="erp") as erp:
        erp.publish(events)

    outbox = tmp_path / "var/sftp/homes/acme/outbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    rng = random.Random(11)

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config",
                                 str(tmp_path / "gateway.yaml"), "--inbox", str(tmp_path / "inbox")], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def delivered() -> list[Path]:
        return sorted(outbox.glob("*")) if outbox.is_dir() else []

    for _ in range(4):
        proc = start()
        time.sleep(rng.uniform(2.5, 5.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start()
    try:
        deadline = time.monotonic() + 90
        while len(delivered()) < EVENTS and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)  # anything sent twice would show up now
    finally:
        proc.terminate()
        proc.wait(30)
    orders = []
    for path in delivered():
        [interchange] = parse(path.read_bytes())
        orders += [s.get(3) for m in interchange.messages for s in m.segments if s.tag == "BAK"]
    assert sorted(orders) == numbers, f"{len(orders)} documents for {EVENTS} events"
