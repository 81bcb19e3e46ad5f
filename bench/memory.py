"""Peak memory of every command, and of the service path, on a 200 MB interchange.

Run: ``.venv/bin/python -m bench.memory`` (or ``make bench``).

For EDIFACT and X12 it writes one interchange of ``--bytes`` (default 200 MB,
``bench.generate.write_large``, addressed from the sample partners so that it
maps), then runs in a fresh subprocess each:

* ``edigw parse --format ndjson`` and ``--format json``;
* ``edigw map --format ndjson`` and ``--format json``;
* the service path: the document taken in durably (archive, SQLite receipt)
  and processed by the intake as ``edigw run`` does, publishing to a real
  Kafka-protocol broker (Tansu, memory-only, a process of its own) on loopback,
  with acknowledgements built and queued and the receipt's status recorded;
* the same through HTTP: a real ``edigw run`` process (its own config, state
  and archive), the document POSTed to ``/v1/documents`` as a stream, the
  status API polled until the receipt is published; the peak RSS is the
  gateway process's own ``VmHWM``, read from /proc/<pid>/status before it is
  stopped (Linux only; elsewhere the row says so).

Each child reports its own peak RSS (``VmHWM`` of /proc/self/status, else
``ru_maxrss``, see ``bench.parse._memory``); command output goes to
/dev/null. The target is 150 MB for every one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1e6
TARGET_MB = 150.0
PARTNER = {"edifact": "brasserie-du-parc", "x12": "acme-retail"}
COMMANDS = ("parse-ndjson", "parse-json", "map-ndjson", "map-json", "service", "service-http")
MEDIA = {"edifact": "application/EDIFACT", "x12": "application/EDI-X12"}


def _peak() -> tuple[int, str]:
    from bench.parse import _memory

    _, peak, how = _memory()
    return peak, how


def _retarget_x12(path: str) -> None:
    """The generator's neutral X12 ids -> the sample buyer of mappings/acme-retail.yaml (as
    bench.pipeline does), rewriting the head of the file and copying the rest."""
    tmp = path + ".tmp"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        head = src.read(1 << 16)
        dst.write(head.replace(b"*ZZ*GWSENDER       *", b"*ZZ*ACMERETAIL     *", 1)
                  .replace(b"GS*PO*GWSENDER*", b"GS*PO*ACMERETAIL*", 1))
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- children


def child_cli(argv: list[str]) -> int:
    """Run ``edigw ARGV`` with its output to /dev/null; print a JSON line with the peak RSS."""
    report = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    from gateway.cli import main

    start = time.perf_counter()
    status = main(argv)
    sys.stdout.flush()
    seconds = time.perf_counter() - start
    peak, how = _peak()
    report.write(json.dumps({"status": status, "seconds": seconds, "peak_rss": peak, "how": how}) + "\n")
    report.close()
    return 0


def child_service(kind: str, path: str, servers: str) -> int:
    """Take ``path`` in and process it the way ``edigw run`` does; print a JSON line."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from gateway.bootstrap import build
    from gateway.config import GatewayConfig, KafkaConfig
    from gateway.inbound.intake import Intake
    from gateway.state.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="edigw-bench-") as tmp:
        cfg = GatewayConfig(kafka=KafkaConfig(bootstrap_servers=servers, client_id="bench-memory"),
                            mappings=ROOT / "mappings", schemas=ROOT / "schemas",
                            state=str(Path(tmp) / "state.db"), archive=Path(tmp) / "archive",
                            max_document_bytes=1 << 30)
        parts = build(cfg)
        store = SqliteStore(cfg.state)
        intake = Intake.configured(cfg, store, parts.pipeline)
        start = time.perf_counter()
        try:
            with open(path, "rb") as stream:
                receipt = intake.take(stream, channel="http", partner_id=PARTNER[kind])
            outcome = intake.process(receipt)
            done = store.get_receipt(receipt.id)
            details_size = len(json.dumps(done.details, default=str))
            acks = store.find_outbound(receipt_id=receipt.id, limit=10)
            ack_details = max((len(json.dumps(a.details, default=str)) for a in acks), default=0)
        finally:
            parts.close()
            store.close()
        seconds = time.perf_counter() - start
    peak, how = _peak()
    print(json.dumps({"status": done.status, "messages": outcome.messages, "published": outcome.published,
                      "dead_letters": outcome.dead_letter_count, "details_bytes": details_size,
                      "ack_details_bytes": ack_details, "seconds": seconds, "peak_rss": peak, "how": how}))
    return 0


def service_http(kind: str, path: str, servers: str) -> dict:
    """POST ``path`` to a real ``edigw run`` and wait for its receipt to be published; the gateway's
    peak RSS (what the process reached, from /proc/<pid>/status) and the receipt's outcome."""
    import httpx

    import socket

    from adapters.http.keys import hash_key

    key = "bench-memory-admin-key"
    with socket.socket() as probe:  # a free loopback port for the gateway's HTTP listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="edigw-bench-") as tmp:
        config = Path(tmp) / "gateway.yaml"
        config.write_text(
            f"kafka:\n  bootstrap_servers: {servers}\n  client_id: bench-memory-http\n"
            f"http:\n  port: {port}\n  admin_keys: [{hash_key(key)}]\n  max_document_bytes: {1 << 30}\n"
            f"mappings: {ROOT / 'mappings'}\nschemas: {ROOT / 'schemas'}\n"
            f"state: {Path(tmp) / 'state.db'}\narchive: {Path(tmp) / 'archive'}\nmax_document_bytes: {1 << 30}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGW_")}
        log = open(Path(tmp) / "gateway.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        headers = {"X-API-Key": key}
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    return {"error": "edigw run did not start: " + (Path(tmp) / "gateway.log").read_text(
                        errors="replace").strip().splitlines()[-1:][0]}
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            start = time.perf_counter()

            def body():
                with open(path, "rb") as stream:
                    while block := stream.read(1 << 20):
                        yield block

            posted = httpx.post(f"{url}/v1/documents", content=body(), timeout=600,
                                headers={**headers, "Content-Type": MEDIA[kind]})
            if posted.status_code != 202:
                return {"error": f"POST answered {posted.status_code}: {posted.text[:200]}"}
            receipt = posted.json()["id"]
            deadline = time.monotonic() + 1800
            while True:
                status = httpx.get(f"{url}/v1/documents/{receipt}", headers=headers, timeout=60).json()
                if status["status"] != "received" or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - start
            peak = _process_peak(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    if peak is None:
        return {"error": "the peak RSS of another process is read from /proc (Linux only)"}
    details = status.get("details") or {}
    return {"status": status["status"], "messages": details.get("messages", 0), "published": status["events"],
            "details_bytes": len(json.dumps(details)), "ack_details_bytes": 0, "seconds": seconds,
            "peak_rss": peak, "how": "VmHWM"}


def _process_peak(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _child(args: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "bench.memory", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-cli"]:
        return child_cli(argv[1:])
    if argv[:1] == ["--child-service"]:
        return child_service(*argv[1:4])
    from bench import generate

    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=generate._size, default=200 * 10**6, help="document size (default 200MB)")
    ap.add_argument("--kinds", default=",".join(generate.KINDS), help="edifact,x12")
    ap.add_argument("--only", default=",".join(COMMANDS), help=",".join(COMMANDS))
    args = ap.parse_args(argv)
    commands = [c for c in COMMANDS if c in args.only.split(",")]
    results: list[tuple[str, str, dict, int]] = []
    broker = None
    tmp = tempfile.mkdtemp(prefix="edigw-bench-")
    try:
        if "service" in commands or "service-http" in commands:
            from gateway.embedded import Broker

            broker = Broker()
            broker.start()
        for kind in args.kinds.split(","):
            path = os.path.join(tmp, f"large.{kind}")
            print(f"... writing a {args.bytes / MB:.0f} MB {kind} interchange", file=sys.stderr, flush=True)
            count = generate.write_large(path, kind, args.bytes)
            if kind == "x12":
                _retarget_x12(path)
            size = os.path.getsize(path)
            for command in commands:
                print(f"... {command} {kind}", file=sys.stderr, flush=True)
                if command == "service":
                    seen = _child(["--child-service", kind, path, broker.bootstrap])
                elif command == "service-http":
                    seen = service_http(kind, path, broker.bootstrap)
                else:
                    verb, fmt = command.split("-")
                    extra = ["--mappings", str(ROOT / "mappings"), "--schemas", str(ROOT / "schemas"),
                             "--received-at", "2026-01-01T00:00:00Z"] if verb == "map" else []
                    seen = _child(["--child-cli", verb, path, "--format", fmt, *extra])
                seen["messages_expected"] = count
                results.append((kind, command, seen, size))
            os.remove(path)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"Peak RSS on one large interchange (each in a fresh process; target < {TARGET_MB:.0f} MB)")
    head = f"{'command':<30} {'document':>12} {'peak RSS':>10} {'time':>8}  verdict"
    print(head)
    print("-" * len(head))
    worst = 0.0
    failed = False  # a row that could not be measured is no pass
    for kind, command, seen, size in results:
        label = {"parse-ndjson": "edigw parse --format ndjson", "parse-json": "edigw parse --format json",
                 "map-ndjson": "edigw map --format ndjson", "map-json": "edigw map --format json",
                 "service": "service (take + process)", "service-http": "edigw run, POST /v1/documents"}[command]
        if "error" in seen:
            print(f"{label:<30} {kind:>6} {size / MB:>3.0f} MB  n/a ({seen['error']})")
            failed = True
            continue
        peak = seen["peak_rss"] / MB
        worst = max(worst, peak)
        note = ""
        if command in ("service", "service-http"):
            note = (f"  [{seen['status']}, {seen['messages']:,} msgs, {seen['published']:,} published, status "
                    f"details {seen['details_bytes'] / 1e3:.0f} kB, ack details {seen['ack_details_bytes'] / 1e3:.0f} kB]")
        print(f"{label:<30} {kind:>6} {size / MB:>3.0f} MB {peak:>7.1f} MB {seen['seconds']:>6.1f} s  "
              f"{'PASS' if peak < TARGET_MB else 'MISS'}{note}")
    print()
    print("Targets")
    print(f"  peak RSS < {TARGET_MB:.0f} MB (200 MB document, every command and the service path) "
          f"{worst:>7.1f} MB  {'PASS' if results and worst < TARGET_MB and not failed else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
