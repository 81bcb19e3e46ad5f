"""Archive benchmark: what keeping a document costs on each store, and the S3 client choice.

Run: ``.venv/bin/python -m bench.archive`` (or ``make bench``).

It starts moto's S3 server (``moto[server]``, a test dependency) as a process
on loopback and measures, in the same run, with documents of the size of a
typical order (4 KB) and of a large one (1 MB):

1. ``S3Archive.put`` and ``open`` (obstore, what the gateway uses), against
2. the same requests through boto3 (the peer obstore was chosen over), and
3. ``LocalArchive.put`` and ``open`` (fsync'd files) for scale.

Medians and 95th percentiles of ``--n`` operations each, and the ratios
gateway/boto3: below 1 means the gateway's client is faster. moto answers
more slowly than a real S3 server, so absolute figures mean little; the
ratios are what the choice rests on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.archive import LocalArchive, key_of  # noqa: E402
from gateway.archive.s3 import S3Archive  # noqa: E402
from tests.s3server import ENV, S3Server  # noqa: E402


def timed(action, n: int) -> tuple[float, float]:
    """(median, p95) in milliseconds of ``action(i)`` for i in range(n)."""
    took = []
    for i in range(n):
        start = time.perf_counter()
        action(i)
        took.append(time.perf_counter() - start)
    return statistics.median(took) * 1000, statistics.quantiles(took, n=20)[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="operations per figure")
    args = parser.parse_args()
    os.environ.update(ENV)
    with tempfile.TemporaryDirectory() as tmp, S3Server(Path(tmp) / "moto") as server:
        client = server.client()
        bucket = server.create_bucket("bench-archive")
        ours = S3Archive(bucket, "gw", endpoint_url=server.endpoint)
        local = LocalArchive(Path(tmp) / "archive")
        print(f"archive put/get on moto's S3 server at {server.endpoint}, {args.n} operations each (ms)")
        for size in (4 << 10, 1 << 20):
            docs = [os.urandom(size) for _ in range(args.n)]
            refs: list[str] = []
            put = timed(lambda i: refs.append(ours.put(docs[i])[0]), args.n)
            get = timed(lambda i: ours.read(refs[i]), args.n)
            peer_docs = [os.urandom(size) for _ in range(args.n)]
            keys = [f"peer/{size}/{i}" for i in range(args.n)]
            # what the gateway does, through boto3: a conditional create, then a read
            peer_put = timed(lambda i: client.put_object(Bucket=bucket, Key=keys[i], Body=peer_docs[i],
                                                         IfNoneMatch="*"), args.n)
            peer_get = timed(lambda i: client.get_object(Bucket=bucket, Key=keys[i])["Body"].read(), args.n)
            local_docs = [os.urandom(size) for _ in range(args.n)]
            local_refs: list[str] = []
            local_put = timed(lambda i: local_refs.append(local.put(local_docs[i])[0]), args.n)
            local_get = timed(lambda i: local.read(local_refs[i]), args.n)
            label = f"{size // 1024} KB"
            for what, mine, peer, disk in (("put", put, peer_put, local_put), ("get", get, peer_get, local_get)):
                print(f"{label:>7} {what}: S3Archive (obstore) median {mine[0]:.2f} p95 {mine[1]:.2f} | "
                      f"boto3 median {peer[0]:.2f} p95 {peer[1]:.2f} | ratio {mine[0] / peer[0]:.2f} | "
                      f"LocalArchive median {disk[0]:.2f}")
            assert key_of(refs[0])  # the references are the archive's own


if __name__ == "__main__":
    main()
