"""SFTP push end to end, from the broker: an OrderResponded event produced to the real broker is
consumed by a real `edigw run`, rendered by ACME RETAIL's `po-acknowledgement` route into an 855 and
uploaded through ACME's ``channels.sftp.push`` (host key pinned, client-key login) to a real OpenSSH
sshd (``tests/sshd.py``): it arrives as one file under the route's name in the partner's inbound
folder, and the same event produced again does not become a second file.
"""

from __future__ import annotations

import json
import uuid

from tests.integration.test_outbound_e2e import (GOLDEN, SAMPLE, outbound, produce, read_855, segment,
                                                 start_gateway, written)
from tests.integration.test_round_trip import wait_for
from tests.sshd import Sshd


def test_an_event_on_the_broker_arrives_once_as_a_file_in_the_partner_s_sshd_folder(broker, tmp_path):
    server = Sshd(tmp_path / "sshd")
    # ACME's side: sshd's user (the current one, see tests/sshd.py) and, in its home, the inbound folder
    folder = tmp_path / "acme-home" / "inbound"
    folder.mkdir(parents=True)
    push = {"host": "127.0.0.1", "port": server.port, "username": server.user,
            "private_key": str(server.client_key), "host_key": [server.host_key_line],
            "folder": str(folder), "connect_timeout": 5, "timeout": 10}
    channels = "channels:\n  sftp:\n    push: " + json.dumps(push) + "\n    send: push\n"  # JSON is YAML
    first = {**SAMPLE["event"], "event_id": str(uuid.uuid4())}
    # a revised answer to the same order: the same key, so the same partition, after the repeat of the first
    revised = {**SAMPLE["event"], "event_id": str(uuid.uuid4()), "response_number": "SO-30517-2"}

    def files() -> list[str]:  # everything in the folder, dot files (a temporary upload) included
        return sorted(p.name for p in folder.iterdir())

    server.start()
    gateway = None
    try:
        gateway, topics = start_gateway(tmp_path, broker.bootstrap, f"e2e-sftp-{uuid.uuid4().hex[:8]}", channels)
        produce(broker.bootstrap, topics["OrderResponded"], [first])
        sent = wait_for(lambda: [d for d in outbound(gateway) if d["status"] != "queued"], 30)
        assert sent, f"nothing sent: {outbound(gateway)}\n{gateway.log()}\n{server.log.read_text()[-2000:]}"
        [doc] = sent
        assert doc["status"] == "sent", doc
        assert doc["kind"] == "855" and doc["answers"] == f"event:{first['event_id']}"
        filename = doc["details"]["filename"]
        assert filename.endswith(".x12") and doc["control_ref"] in filename  # the route's {message}-{control}.{ext}
        assert files() == [filename]  # under its final name, no temporary name left behind
        delivered = (folder / filename).read_bytes()
        interchange, message = read_855(delivered)
        assert interchange.control_ref == doc["control_ref"]
        assert segment(message, "BAK").get(3) == first["order_number"] == "PO-88231"
        assert segment(message, "REF").get(2) == first["response_number"]
        assert written(message) == written(read_855(GOLDEN)[1])
        assert "Accepted publickey" in server.log.read_text()  # logged in with the client key

        # the first event again (a replay), then the revised one: the revised one arriving means the
        # repeat was consumed before it; it must not have become a second document
        produce(broker.bootstrap, topics["OrderResponded"], [first, revised])
        assert wait_for(lambda: len(files()) >= 2, 30), f"{files()}\n{outbound(gateway)}\n{gateway.log()}"
        wait_for(lambda: len(files()) > 2, 4)  # a second copy of the first would come now
        names = files()
        assert len(names) == 2 and filename in names, names
        [other] = [n for n in names if n != filename]
        assert not other.startswith(".") and other.endswith(".x12"), names
        assert (folder / filename).read_bytes() == delivered  # the first file untouched
        _, message = read_855((folder / other).read_bytes())
        assert segment(message, "BAK").get(3) == revised["order_number"]
        assert segment(message, "REF").get(2) == "SO-30517-2"
        # the second file is renamed into place before its delivery is recorded: wait for the record
        wait_for(lambda: [d["status"] for d in outbound(gateway)] == ["sent", "sent"], 10)
        docs = outbound(gateway)
        assert sorted(d["answers"] for d in docs) == sorted(f"event:{e['event_id']}" for e in (first, revised))
        assert all(d["status"] == "sent" for d in docs), docs
        assert sorted(d["details"]["filename"] for d in docs) == names
    finally:
        if gateway is not None:
            gateway.stop()
        server.close()
