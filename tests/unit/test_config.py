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
