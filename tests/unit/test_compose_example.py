"""The Compose example in docs/scale-out.md is held to what the gateway and its image read.

No container engine runs in the tests; what can be checked without one is checked here: the
file parses, the gateway's embedded configuration loads (pydantic, extra keys forbidden) and
says what several instances must share, each gateway has a name of its own that survives a
restart, and the image has what the services use.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    text = (ROOT / "docs" / "scale-out.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    found = [yaml.safe_load(b) for b in blocks if "services:" in b]
    assert len(found) == 1, "docs/scale-out.md should hold one Compose file"
    return found[0]


def test_the_gateways_share_kafka_postgresql_and_the_object_store(tmp_path, monkeypatch):
    example = compose()
    assert {"kafka", "postgres", "minio", "gateway-1", "gateway-2"} <= set(example["services"])
    path = tmp_path / "gateway.yaml"
    path.write_text(example["configs"]["gateway"]["content"])
    for name in ("EDIGW_STATE", "EDIGW_ARCHIVE", "EDIGW_KAFKA_BOOTSTRAP_SERVERS", "EDIGW_HTTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(path)
    assert config.state.startswith("postgresql://") and "@postgres:" in config.state
    assert config.archive.startswith("s3://") and config.s3.endpoint_url == "http://minio:9000"
    assert config.kafka.bootstrap_servers == "kafka:9092"
    assert config.http.host == "0.0.0.0"


def test_each_gateway_has_a_name_of_its_own_kept_across_restarts():
    services = compose()["services"]
    gateways = [s for name, s in services.items() if name.startswith("gateway-")]
    hostnames = [s.get("hostname") for s in gateways]
    assert all(hostnames) and len(set(hostnames)) == len(hostnames), hostnames
    for service in gateways:
        assert service["command"][0] == "run" and service["environment"]["PGPASSWORD"]
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(service["environment"])


def test_the_image_has_what_the_services_use():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["edigw"]' in dockerfile  # the services' command is edigw's arguments
    assert re.search(r"pip install .*\[[^]]*s3[^]]*\]", dockerfile), "the S3 archive's client is in the image"
    assert "WORKDIR /app" in dockerfile and "COPY mappings ./mappings" in dockerfile and "COPY schemas" in dockerfile
