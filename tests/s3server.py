"""A real S3-compatible server for tests: moto's server (``moto[server]``) as its own process on a
free loopback port, not moto's in-process mock, so the gateway's S3 client talks HTTP to it.

    server = S3Server()
    server.start()                       # returns once it answers
    server.endpoint                      # "http://127.0.0.1:PORT"
    server.create_bucket("edi-archive")
    server.objects("edi-archive")        # {key: bytes}, read with boto3 (moto's own dependency)
    server.stop(); server.start()        # an outage: same port, *empty* again (moto keeps state in memory)
    server.close()

Credentials: moto accepts any; :data:`ENV` holds the test ones, in the AWS variables the gateway's
client reads (set for the run by the ``s3`` fixture and passed to gateway processes).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
       "AWS_DEFAULT_REGION": "us-east-1"}


class S3Unavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self, workdir: Path | None = None) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="moto-"))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "moto.log").open("ab")
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV})
        except OSError as exc:
            raise S3Unavailable(f"cannot start moto's server: {exc}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise S3Unavailable(f"moto's server exited ({self.proc.returncode}; is moto[server] installed?): "
                                    + (self.workdir / "moto.log").read_text(errors="replace")[-2000:])
            try:
                httpx.get(f"{self.endpoint}/moto-api/data.json", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise S3Unavailable(f"moto's server did not answer on {self.endpoint} within {timeout} s")

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=ENV["AWS_REGION"],
                            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"])

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
