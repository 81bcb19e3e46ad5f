"""The gateway config: the file, validated with its place named, and the environment over it."""

from __future__ import annotations

import pytest

from gateway.config import ENV_OVERRIDES, load_config
from gateway.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (*ENV_OVERRIDES, "EDIGW_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_the_environment_overrides_the_file(tmp_path, monkeypatch):
    path = tmp_path / "gateway.yaml"
    path.write_text("kafka: {bootstrap_servers: 'file:9092'}\nhttp: {port: 8181}\nsftp: {port: 2200}\n")
    config = load_config(path)
    assert (config.kafka.bootstrap_servers, config.http.port, config.sftp.port) == ("file:9092", 8181, 2200)
    monkeypatch.setenv("EDIGW_KAFKA_BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("EDIGW_STATE", "postgresql://db/edigw")
    monkeypatch.setenv("EDIGW_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("EDIGW_SFTP_HOST", "0.0.0.0")
    monkeypatch.setenv("EDIGW_SFTP_PORT", "22")
    config = load_config(path)
    assert (config.kafka.bootstrap_servers, config.state) == ("env:9092", "postgresql://db/edigw")
    assert (config.http.host, config.http.port, config.sftp.host, config.sftp.port) == ("0.0.0.0", 8181, "0.0.0.0", 22)


@pytest.mark.parametrize("value", ["http", "70000", "-1"])
def test_a_port_that_is_not_one_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("EDIGW_SFTP_PORT", value)
    with pytest.raises(ConfigError, match=f"EDIGW_SFTP_PORT={value}: not a port number"):
        load_config()


def test_an_unknown_key_names_file_line_and_key(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text("kafka:\n  bootstrap_servers: b:9092\n  bootstrap_server: typo:9092\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "gateway.yaml:3" in str(caught.value) and "bootstrap_server" in str(caught.value)


UBL_ORDER = "urn:oasis:names:specification:ubl:schema:xsd:Order-2"
# A deliberately small schema of the UBL Order root: children from the component namespaces only.
ORDER_XSD = f"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{UBL_ORDER}"
           elementFormDefault="qualified">
  <xs:element name="Order">
    <xs:complexType>
      <xs:sequence>
        <xs:any namespace="##other" processContents="skip" minOccurs="1" maxOccurs="unbounded"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


def test_xml_documents_are_validated_against_the_configured_xsd(tmp_path):
    from pathlib import Path

    from gateway.bootstrap import build
    from gateway.inbound.document import Document
    from gateway.sinks.memory import MemorySink

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "xsd").mkdir()
    (tmp_path / "xsd" / "order.xsd").write_text(ORDER_XSD)
    path = tmp_path / "gateway.yaml"
    path.write_text(f"mappings: {root / 'mappings'}\nschemas: {root / 'schemas'}\n"
                    f"xml_schemas:\n  - {{element: Order, namespace: '{UBL_ORDER}', xsd: xsd/order.xsd}}\n")
    config = load_config(path)
    assert config.xml_schemas[0].xsd == tmp_path / "xsd" / "order.xsd"  # relative to the config file
    parts = build(config, sink=MemorySink())
    good = (root / "samples/xml/ubl21_order.xml").read_bytes()
    outcome = parts.pipeline.process(Document(good))
    assert outcome.published == 1 and outcome.dead_letters == []
    bad = good.replace(b"<cbc:UBLVersionID>", b"<Note>not in the schema</Note>\n  <cbc:UBLVersionID>", 1)
    [letter] = parts.pipeline.process(Document(bad)).dead_letters
    assert letter.record["reason_code"] == "XML_SCHEMA_INVALID" and "order.xsd" in letter.record["error"]
    assert letter.record["position"].startswith("line 5")


def test_a_missing_or_broken_xsd_stops_the_start_naming_it(tmp_path):
    from pathlib import Path

    from gateway.bootstrap import build
    from gateway.config import GatewayConfig, XmlSchema
    from gateway.sinks.memory import MemorySink

    root = Path(__file__).resolve().parents[2]
    config = GatewayConfig(mappings=root / "mappings", schemas=root / "schemas",
                           xml_schemas=[XmlSchema(element="Order", xsd=tmp_path / "none.xsd")])
    with pytest.raises(ConfigError, match=r"xml_schemas\[0\]\.xsd: .*none.xsd is not a file"):
        build(config, sink=MemorySink())
    (tmp_path / "broken.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/>")
    config.xml_schemas[0].xsd = tmp_path / "broken.xsd"
    with pytest.raises(ConfigError, match="broken.xsd: cannot load the XML schema"):
        build(config, sink=MemorySink())


def test_the_documented_example_is_a_valid_config(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs/configuration.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    path = tmp_path / "gateway.yaml"
    path.write_text(example)
    config = load_config(path)
    assert config.kafka.topics == {"OrderCreated": "erp.orders"} and config.delivery.attempts == 8
    assert config.xml_schemas[0].xsd == tmp_path / "xsd/UBL-Order-2.1.xsd" and config.workers == 1
