"""Content validation cost against reading, on the 20k-message files.

Reads each generated document (bench.generate: 20,000 EDIFACT ORDERS D.96A
messages, 20,000 X12 850 004010 sets) with the gateway's streaming reader,
then reads it again validating every message as it comes (what the inbound
pipeline's validate_content stage does), and prints the ratio of the two
times. Target: validation adds at most 30% to read time (ratio <= 1.30).

    .venv/bin/python -m bench.validate [--messages 20000] [--runs 5]

Prints the verdict; exit status 1 when a ratio is above the target only with ``--strict``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

from bench.generate import edifact_orders, x12_850
from gateway.model import Message
from gateway.syntax import read
from gateway.validation import validate

TARGET = 1.30


def _read(data: bytes, check: bool) -> tuple[float, int, int]:
    # CPU time of this process: what the work costs, little disturbed by other processes on the
    # machine (wall time on a busy 2-core machine swung the ratio by 0.4 between runs)
    start = time.process_time()
    messages = findings = 0
    for item in read(io.BytesIO(data)):
        if isinstance(item, Message):
            messages += 1
            if check:
                findings += len(validate(item))
    return time.process_time() - start, messages, findings


def measure(data: bytes, runs: int) -> tuple[float, float, int, int]:
    """Best-of-``runs`` seconds for reading alone and for reading with validation (interleaved)."""
    plain, checked = [], []
    messages = findings = 0
    for _ in range(runs):
        seconds, messages, _ = _read(data, False)
        plain.append(seconds)
        seconds, messages, findings = _read(data, True)
        checked.append(seconds)
    return min(plain), min(checked), messages, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.validate", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio is above the target")
    args = parser.parse_args(argv)
    worst = 0.0
    print(f"content validation vs reading, {args.messages} messages, best of {args.runs} runs (CPU seconds)")
    for name, data in (("edifact ORDERS D96A", edifact_orders(args.messages)), ("x12 850 004010", x12_850(args.messages))):
        _read(data, True)  # warm-up: the definitions load once per process
        plain, checked, messages, findings = measure(data, args.runs)
        ratio = checked / plain
        worst = max(worst, ratio)
        print(f"  {name:20s} {len(data) / 1e6:6.1f} MB  read {plain:6.2f}s  read+validate {checked:6.2f}s  "
              f"ratio {ratio:4.2f}  ({messages} messages, {findings} findings)")
    verdict = "ok" if worst <= TARGET else "ABOVE TARGET"
    print(f"  worst ratio {worst:.2f} (target <= {TARGET:.2f}): {verdict}")
    return 1 if args.strict and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
