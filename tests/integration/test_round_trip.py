"""The whole loop through a real `edigw run`: an 850 posted in becomes OrderCreated; an OrderResponded
event produced to the broker becomes an 855 that ACME collects from its hosted outbox with the OpenSSH
sftp client, whose BAK03 is that order number; ACME's 997 for the 855 comes back, and the 855 shows as
accepted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adapters.http.keys import hash_key
from gateway.bootstrap import build_encoder
from gateway.config import GatewayConfig, KafkaConfig
from gateway.events import Event, SchemaSet
from gateway.sinks.kafka import KafkaSink
from gateway.syntax import parse
from tests.broker import consume, free_port
from tests.sshd import keygen, sftp_batch

ROOT = Path(__file__).resolve().parents[2]
KEY = "round-trip-admin-key"
TOPICS = {"OrderCreated": "rt.order-created", "OrderResponded": "rt.order-responded",
          "AcknowledgementReceived": "rt.acknowledgement-received"}


def wait_for(what, timeout: float = 30, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(every)


def test_850_in_855_out_997_back(broker, tmp_path):
    client_key = keygen(tmp_path / "acme_key")
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "acme-retail.yaml").open("a") as f:
        f.write(f"\nchannels:\n  sftp:\n    account:\n      username: acme\n"
                f"      authorized_keys: [\"{client_key.with_suffix('.pub').read_text().strip()}\"]\n")
    http, sftp = free_port(), free_port()
    topics = "".join(f"    {k}: {v}\n" for k, v in TOPICS.items())
    (tmp_path / "gateway.yaml").write_text(
        f"kafka:\n  bootstrap_servers: {broker.bootstrap}\n  client_id: round-trip\n  topics:\n{topics}"
        f"http:\n  port: {http}\n  admin_keys: [{hash_key(KEY)}]\nsftp:\n  port: {sftp}\n"
        f"mappings: mappings\nschemas: {ROOT / 'schemas'}\n")
    api = f"http://127.0.0.1:{http}"
    headers = {"Authorization": f"Bearer {KEY}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(tmp_path / "gateway.yaml"),
                             "--inbox", str(tmp_path / "inbox")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "gateway.log").open("wb"))
    try:
        def up():
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
            try:
                return httpx.get(f"{api}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 60)
        # 1. the 850 in: OrderCreated out
        posted = httpx.post(f"{api}/v1/documents", content=(ROOT / "samples/x12/850_4010.x12").read_bytes(),
                            headers={**headers, "Content-Type": "application/EDI-X12"}, timeout=30)
        assert posted.status_code == 202
        [created] = consume(broker.bootstrap, TOPICS["OrderCreated"], 1, timeout=30)
        order_number = created.key().decode()
        assert order_number == "PO-88231"

        # 2. the supplier's system confirms it: OrderResponded on the broker -> an 855 for ACME
        sample = json.loads((ROOT / "samples/outbound/acme-retail.po-acknowledgement.event.json").read_text())
        config = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=broker.bootstrap), schemas=ROOT / "schemas")
        schemas = SchemaSet.load(config.schemas)
        record = schemas.from_json("OrderResponded", sample["event"])
        assert record["order_number"] == order_number
        with KafkaSink(broker.bootstrap, build_encoder(config, schemas), client_id="erp") as erp:
            erp.publish([Event("OrderResponded", TOPICS["OrderResponded"], order_number, record)])

        def sent_855():
            docs = httpx.get(f"{api}/v1/outbound", params={"partner": "acme-retail"}, headers=headers,
                             timeout=10).json()["documents"]
            return [d for d in docs if d["kind"] == "855" and d["status"] == "sent"]

        [doc] = wait_for(sent_855, 90)
        got = tmp_path / "got"
        got.mkdir()
        fetched = sftp_batch(sftp, "acme", f"get outbox/* {got}/\n", workdir=tmp_path, key=client_key)
        assert fetched.returncode == 0, fetched.stderr
        [file] = [p for p in got.iterdir() if p.read_bytes().find(b"ST*855*") >= 0]
        [interchange] = parse(file.read_bytes())
        assert interchange.ok and interchange.control_ref == doc["control_ref"]
        [message] = interchange.messages
        bak = next(s for s in message.segments if s.tag == "BAK")
        assert bak.get(3) == order_number
        group_ref, set_ref = message.group.control_ref, message.ref

        # 3. ACME's 997 for that 855 comes back; the 855 shows as accepted
        ack = (ROOT / "samples/x12/997_4010.x12").read_bytes()
        ack = ack.replace(b"AK1*PR*4120~", b"AK1*PR*%s~" % group_ref.encode()).replace(
            b"AK2*855*0001~", b"AK2*855*%s~" % set_ref.encode())
        back = httpx.post(f"{api}/v1/documents", content=ack, headers={**headers, "Content-Type":
                                                                         "application/EDI-X12"}, timeout=30)
        assert back.status_code == 202

        def answered():
            found = httpx.get(f"{api}/v1/documents/{doc['id']}", headers=headers, timeout=10).json()
            return found if found.get("acknowledgement") else None

        final = wait_for(answered, 30)
        assert final and final["acknowledgement"]["status"] == "accepted" and final["acknowledgement"]["kind"] == "997"
        assert consume(broker.bootstrap, TOPICS["AcknowledgementReceived"], 1, timeout=20)
    finally:
        proc.terminate()
        proc.wait(30)
