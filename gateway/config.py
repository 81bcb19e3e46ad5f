"""The gateway's own configuration (``gateway.yaml``), declared once.

Every key has a default, so the gateway runs with no file at all (the
embedded default of ``make run``). A file, when given, is validated at
start-up: unknown keys and wrong types are errors naming file, line and key.

    kafka:
      bootstrap_servers: broker-1:9092,broker-2:9092   # empty: start an embedded broker
      schema_registry: http://registry:8081            # empty: Avro single-object encoding
      dead_letter_topic: edigw.deadletter
      topics: {OrderCreated: erp.orders}                 # per event type; default edigw.<kebab-type>
      extra: {security.protocol: SASL_SSL}               # any librdkafka setting
    http:
      port: 8080                                       # the API: POST /v1/documents, /docs, /metrics
      admin_keys: [sha256:...]                         # hashes of keys that see every partner
    sftp:
      port: 2222                                       # the hosted SFTP server (partner accounts)
    mappings: mappings
    schemas: schemas
    archive: s3://edi-archive/gateway                  # or a folder (var/archive)
    s3:
      endpoint_url: http://minio:9000                  # empty: AWS S3
      region: eu-central-1
      addressing_style: auto                           # path | virtual | auto
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.http.config import HttpServer
from adapters.sftp.config import SftpServerConfig
from gateway.errors import ConfigError
from gateway.yamlconf import load, pydantic_errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaConfig(_Strict):
    bootstrap_servers: str | None = None  # None: an embedded, memory-only broker (development)
    embedded_port: int = 9092  # where the embedded broker listens (127.0.0.1)
    schema_registry: str | None = None  # Confluent Schema Registry URL (mock:// in tests)
    client_id: str = "edigw"
    dead_letter_topic: str = "edigw.deadletter"
    topics: dict[str, str] = {}
    source_uri: str = "urn:edigw"  # CloudEvents ce_source prefix
    publish_timeout: float = 30.0
    extra: dict[str, str | int | float | bool] = {}


class DeliveryConfig(_Strict):
    """``delivery``: how the outbox sends what partners are owed (rendered events, acknowledgements)."""

    attempts: int = Field(default=8, ge=1)  # then the document fails and goes to the dead-letter topic
    first_retry_seconds: float = Field(default=5.0, gt=0)  # doubled after each failed attempt ...
    max_retry_seconds: float = Field(default=900.0, gt=0)  # ... up to this
    interval_seconds: float = Field(default=2.0, gt=0)  # how often the outbox looks for what is due
    # how long one instance holds a document it is sending; longer than the slowest send
    lease_seconds: float = Field(default=300.0, gt=0)


class XmlSchema(_Strict):
    """One entry of ``xml_schemas``: XML documents with this root element are validated against
    ``xsd`` (a local file; what it includes or imports must be local too); each violation is an
    XML_SCHEMA_INVALID issue with its line, and the document a dead letter."""

    element: str  # the root element's local name: Order, Invoice, ...
    namespace: str = ""  # its namespace URI ("" for none)
    xsd: Path


class S3Config(_Strict):
    """``s3``: the object store of an ``archive: s3://bucket/prefix``. Credentials are never set
    here: they come from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN), web identity, the ECS container endpoint or the instance metadata."""

    endpoint_url: str | None = None  # an S3-compatible server (MinIO, Ceph ...); empty: AWS S3
    region: str | None = None  # empty: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
    # path: http://host/bucket/key (MinIO and most S3-compatible servers); virtual:
    # http://bucket.host/key (AWS); auto: virtual on AWS, path with an endpoint_url
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    timeout_seconds: float = Field(default=30.0, gt=0)  # per request; a sender waits this long at most
    retries: int = Field(default=3, ge=0)  # of a failed request, with backoff, within the timeout

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value or None


def s3_location(archive: str) -> tuple[str, str] | None:
    """``(bucket, prefix)`` of an ``s3://bucket/prefix`` archive, None for a folder."""
    if not str(archive).startswith("s3://"):
        return None
    bucket, _, prefix = str(archive)[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


class GatewayConfig(_Strict):
    kafka: KafkaConfig = KafkaConfig()
    http: HttpServer = HttpServer()
    sftp: SftpServerConfig = SftpServerConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    xml_schemas: list[XmlSchema] = []
    mappings: Path = Path("mappings")
    schemas: Path = Path("schemas")
    batch_size: int = 2000  # events per batch sent: one batch is confirmed while the next is mapped
    # receipts, duplicates, control numbers: a SQLite file, or a postgresql:// URL that several
    # gateway instances share (keep its password in PGPASSWORD or ~/.pgpass)
    state: str = "var/state.db"
    # every raw document taken in, by content hash: a folder, or s3://bucket/prefix (settings in s3)
    # that several instances share
    archive: str = "var/archive"
    s3: S3Config = S3Config()
    duplicate_window_days: float = 30  # the same interchange reference again within this is a duplicate
    max_document_bytes: int = 200 * 1024 * 1024
    retry_seconds: float = 10  # how often pending receipts are tried again
    # how long an instance holds a receipt it processes (longer than processing takes, broker
    # timeouts included); a receipt pending this long that no live instance holds, an instance
    # that died left it, is taken up by another
    receipt_lease_seconds: float = Field(default=300.0, gt=0)
    # the name this instance's leases carry; unique per instance and the same across its restarts,
    # so that a restarted instance takes up at once what it was processing when it stopped.
    # Default: <host name>:<http.port>
    instance_id: str | None = None

    def instance(self) -> str | None:
        """The name this instance's leases carry; None when it has no stable one (no HTTP server,
        or an ephemeral port, which instances on one host would share): then one is made per process."""
        if self.instance_id:
            return self.instance_id
        if self.http.enabled and self.http.port:
            import socket

            return f"{socket.gethostname()}:{self.http.port}"
        return None
    # documents taken in and not yet published (the broker is down, say) beyond which every
    # channel refuses more, telling the sender to retry (HTTP/AS2 503, SFTP a failed close)
    max_backlog: int = Field(default=10_000, ge=1)
    # processes that parse, map and publish what was taken in: 1 does it in the gateway's own
    # process; more use that many cores
    workers: int = Field(default=1, ge=1, le=64)
    # with several workers: a partner's documents are published in the order they came (so one
    # busy partner uses one core at a time); false spreads every document over all workers
    keep_partner_order: bool = True


    @field_validator("archive", mode="before")
    @classmethod
    def _archive(cls, value) -> str:
        value = str(value)
        if value.startswith("s3://"):
            bucket, _ = s3_location(value)
            if not (3 <= len(bucket) <= 63) or not all(c.islower() or c.isdigit() or c in ".-" for c in bucket):
                raise ValueError(f"{value!r}: the bucket name must be 3 to 63 lower-case letters, digits, "
                                 "dots or hyphens (s3://bucket/prefix)")
        elif "://" in value:
            raise ValueError(f"{value!r}: a folder or s3://bucket/prefix")
        elif not value:
            raise ValueError("empty: a folder or s3://bucket/prefix")
        return value


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


#: Environment variables that override the file, as container deployments expect:
#: name -> (section, key, type). A container listens on every interface (HOST 0.0.0.0).
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "EDIGW_KAFKA_BOOTSTRAP_SERVERS": ("kafka", "bootstrap_servers", str),
    "EDIGW_SCHEMA_REGISTRY": ("kafka", "schema_registry", str),
    "EDIGW_STATE": ("", "state", str),
    "EDIGW_ARCHIVE": ("", "archive", str),
    "EDIGW_INSTANCE": ("", "instance_id", str),
    "EDIGW_S3_ENDPOINT_URL": ("s3", "endpoint_url", str),
    "EDIGW_S3_REGION": ("s3", "region", str),
    "EDIGW_HTTP_HOST": ("http", "host", str),
    "EDIGW_HTTP_PORT": ("http", "port", int),
    "EDIGW_SFTP_HOST": ("sftp", "host", str),
    "EDIGW_SFTP_PORT": ("sftp", "port", int),
}


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """The configuration from ``path`` (or ``$EDIGW_CONFIG``), else the defaults;
    then the variables of :data:`ENV_OVERRIDES` override it."""
    path = path or os.environ.get("EDIGW_CONFIG")
    if path:
        located = load(path)
        try:
            config = GatewayConfig.model_validate(located.data or {})
        except ValidationError as exc:
            raise ConfigError("\n".join(pydantic_errors(located, exc))) from None
        base = Path(path).parent
        config.mappings = base / config.mappings if not config.mappings.is_absolute() else config.mappings
        config.schemas = base / config.schemas if not config.schemas.is_absolute() else config.schemas
        if not is_url(config.state) and not Path(config.state).is_absolute():
            config.state = str(base / config.state)
        if s3_location(config.archive) is None and not Path(config.archive).is_absolute():
            config.archive = str(base / config.archive)
        for entry in config.xml_schemas:
            entry.xsd = base / entry.xsd if not entry.xsd.is_absolute() else entry.xsd
        for key in ("homes", "host_key"):
            value = getattr(config.sftp, key)
            if not value.is_absolute():
                setattr(config.sftp, key, base / value)
    else:
        config = GatewayConfig()
    for name, (section, key, kind) in ENV_OVERRIDES.items():
        value = os.environ.get(name)
        if not value:
            continue
        target = getattr(config, section) if section else config
        if kind is int:
            try:
                number = int(value)
            except ValueError:
                raise ConfigError(f"{name}={value}: not a port number") from None
            if not 0 <= number <= 65535:
                raise ConfigError(f"{name}={value}: not a port number (0 to 65535)")
            setattr(target, key, number)
        else:
            setattr(target, key, value)
    return config
