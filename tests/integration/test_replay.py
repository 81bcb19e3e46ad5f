"""`edigw replay`: documents that failed are processed again from the archive after a fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import load_config
from gateway.inbound.intake import Intake
from gateway.state.sqlite import SqliteStore
from tests.broker import consume

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "replay.order-created"


def edigw(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_replay_after_a_mapping_fix_publishes_with_stable_ids(broker, tmp_path):
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    fixed = (mappings / "brasserie-du-parc.yaml").read_text()
    (mappings / "brasserie-du-parc.yaml").unlink()  # the partner file is missing when the order comes in
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(f"kafka:\n  bootstrap_servers: {broker.bootstrap}\n  topics: {{OrderCreated: {TOPIC}}}\n"
                           f"  dead_letter_topic: replay.deadletter\nmappings: mappings\nschemas: {ROOT / 'schemas'}\n")
    config = load_config(config_file)
    store = SqliteStore(config.state)
    parts = build(config)
    intake = Intake(LocalArchive(config.archive), store, parts.pipeline, duplicate_window=timedelta(days=1))
    receipt = intake.take((ROOT / "samples/edifact/orders_d96a.edi").read_bytes(), channel="http")
    intake.process(receipt)
    parts.close()
    assert store.get_receipt(receipt.id).status == "failed"
    assert "PARTNER_UNKNOWN" in store.get_receipt(receipt.id).error

    (mappings / "brasserie-du-parc.yaml").write_text(fixed)
    done = edigw("replay", "--status", "failed", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "replayed 1 document(s): 1 published"
    assert "Traceback" not in done.stderr
    after = store.get_receipt(receipt.id)
    assert after.status == "published" and after.partner_id == "brasserie-du-parc" and after.error is None
    [first] = consume(broker.bootstrap, TOPIC, 1, timeout=20)

    again = edigw("replay", receipt.id, "--config", str(config_file))  # by id, once more: the same event id
    assert again.returncode == 0, again.stderr
    both = consume(broker.bootstrap, TOPIC, 2, timeout=20)
    assert len(both) == 2
    assert {dict(m.headers())["ce_id"] for m in both} == {dict(first.headers())["ce_id"]}
    store.close()


def test_replay_refuses_unclear_requests_in_one_line(tmp_path):
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n")
    nothing = edigw("replay", "--config", str(config_file))
    assert nothing.returncode == 2
    assert nothing.stderr.strip() == "edigw: say what to replay: receipt ids, or --status, --partner and/or --since"
    no_store = edigw("replay", "--status", "failed", "--config", str(config_file))
    assert no_store.returncode == 2 and "no state store" in no_store.stderr and "Traceback" not in no_store.stderr
    SqliteStore(tmp_path / "var/state.db").close()
    unknown = edigw("replay", "0123abcd", "--config", str(config_file))
    assert unknown.returncode == 2 and unknown.stderr.strip().endswith("no receipt 0123abcd in " +
                                                                       str(tmp_path / "var/state.db"))
    bad_time = edigw("replay", "--since", "yesterday", "--config", str(config_file))
    assert bad_time.returncode == 2 and "--since yesterday" in bad_time.stderr
