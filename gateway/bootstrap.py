"""The composition root: the one place that builds concrete classes.

Everything else receives what it needs as arguments; nothing in the package
does I/O at import time. Channels (HTTP, SFTP, AS2) and the state store are
wired here too as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from gateway.archive import Archive, LocalArchive
from gateway.config import GatewayConfig, s3_location
from gateway.errors import ConfigError
from gateway.events import Encoder, RegistryEncoder, SchemaSet, SingleObjectEncoder
from gateway.mapping.engine import Mapper, default_topic
from gateway.mapping.loader import Partners, load_partners
from gateway.mapping.targets import targets_of
from gateway.inbound.pipeline import Pipeline
from gateway.sinks.base import Sink
from gateway.sinks.memory import MemorySink

log = structlog.get_logger("gateway")


@dataclass
class Parts:
    """What the commands need, built from one configuration."""

    config: GatewayConfig
    schemas: SchemaSet
    partners: Partners
    encoder: Encoder
    sink: Sink
    pipeline: Pipeline
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def load_mappings(config: GatewayConfig) -> tuple[SchemaSet, Partners]:
    """Schemas and partner files; :class:`ConfigError` lists every problem."""
    schemas = SchemaSet.load(config.schemas)
    partners = load_partners(config.mappings, targets_of(schemas))
    return schemas, partners


def build_archive(config: GatewayConfig) -> Archive:
    """The configured archive: a local folder, or an S3-compatible object store for
    ``archive: s3://bucket/prefix`` (which several instances can share)."""
    location = s3_location(config.archive)
    if location is None:
        return LocalArchive(config.archive)
    try:
        from gateway.archive.s3 import S3Archive
    except ImportError:
        raise ConfigError(f"archive: {config.archive} needs obstore: pip install 'edi-event-gateway[s3]'") from None
    bucket, prefix = location
    s3 = config.s3
    return S3Archive(bucket, prefix, endpoint_url=s3.endpoint_url, region=s3.region,
                     addressing_style=s3.addressing_style, timeout=s3.timeout_seconds, retries=s3.retries)


def build_encoder(config: GatewayConfig, schemas: SchemaSet) -> Encoder:
    if config.kafka.schema_registry:
        return RegistryEncoder(schemas, config.kafka.schema_registry)
    return SingleObjectEncoder(schemas)


def xml_schemas(config: GatewayConfig) -> dict:
    """``xml_schemas`` as the XML reader takes them, each XSD loaded now: a missing or broken one
    stops the start with its path named."""
    from gateway.syntax.xml import load_schema

    found = {}
    for i, entry in enumerate(config.xml_schemas):
        if not entry.xsd.is_file():
            raise ConfigError(f"xml_schemas[{i}].xsd: {entry.xsd} is not a file")
        load_schema(entry.xsd)
        found[(entry.namespace, entry.element)] = entry.xsd
    return found


def build(config: GatewayConfig, *, sink: Sink | None = None, bootstrap_servers: str | None = None) -> Parts:
    """Wire the inbound side. ``sink`` replaces Kafka (``edigw map`` uses a
    MemorySink); ``bootstrap_servers`` replaces the configured brokers (the
    embedded broker's address)."""
    schemas, partners = load_mappings(config)
    encoder = build_encoder(config, schemas)
    closers = []
    if sink is None:
        servers = bootstrap_servers or config.kafka.bootstrap_servers
        if servers:
            from gateway.sinks.kafka import KafkaSink

            sink = KafkaSink(servers, encoder, client_id=config.kafka.client_id, extra_config=config.kafka.extra,
                             timeout=config.kafka.publish_timeout, source_uri=config.kafka.source_uri)
        else:
            sink = MemorySink(encoder)
        closers.append(sink.close)
    topics = config.kafka.topics
    mapper = Mapper(topic_for=lambda event_type: topics.get(event_type) or default_topic(event_type))
    pipeline = Pipeline(partners, schemas, sink, encoder=encoder, mapper=mapper,
                        dead_letter_topic=config.kafka.dead_letter_topic, batch_size=config.batch_size,
                        source_uri=config.kafka.source_uri, xml_schemas=xml_schemas(config))
    return Parts(config, schemas, partners, encoder, sink, pipeline, closers)
