FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY samples ./samples
RUN pip install --no-cache-dir .
RUN useradd --system --home /app gateway
USER gateway
ENTRYPOINT ["edigw"]
CMD ["run"]
