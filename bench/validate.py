"""Content validation cost against reading, on the 20k-message files.

Reads each generated document (bench.generate: 20,000 EDIFACT ORDERS D.96A
messages, 20,000 X12 850 004010 sets) with the gateway's streaming reader,
then reads it again validating every message as it comes (what the inbound
pipeline's validate_content stage does), and prints the ratio of the two
times. Target: validation adds at most 30% to read time (ratio <= 1.30).

The validator remembers segment texts that matched (bounded), so what it has
seen before a file changes what the file costs. Each validated run starts from
one of two states, never from what the same file left:

* ``steady``: a worker that has validated another file from the same partners
  (the generator's other seed: the same parties and products, other orders);
  the verdict is on this figure;
* ``cold``: a worker that has validated nothing yet (shown beside it).

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
from gateway.validation.validator import forget_texts

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


def measure(data: bytes, other: bytes, runs: int) -> tuple[float, float, float, int, int]:
    """Best-of-``runs`` seconds for reading alone, reading with validation after ``other`` was
    validated (steady), and with validation from nothing remembered (cold); interleaved."""
    plain, steady, cold = [], [], []
    messages = findings = 0
    for _ in range(runs):
        seconds, messages, _ = _read(data, False)
        plain.append(seconds)
        forget_texts()
        _read(other, True)
        seconds, messages, findings = _read(data, True)
        steady.append(seconds)
        forget_texts()
        cold.append(_read(data, True)[0])
    return min(plain), min(steady), min(cold), messages, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.validate", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio is above the target")
    args = parser.parse_args(argv)
    worst = 0.0
    print(f"content validation vs reading, {args.messages} messages, best of {args.runs} runs (CPU seconds)")
    for name, make in (("edifact ORDERS D96A", edifact_orders), ("x12 850 004010", x12_850)):
        data, other = make(args.messages), make(args.messages, seed=2)
        _read(data, True)  # warm-up: the definitions load once per process
        plain, steady, cold, messages, findings = measure(data, other, args.runs)
        ratio = steady / plain
        worst = max(worst, ratio)
        print(f"  {name:20s} {len(data) / 1e6:6.1f} MB  read {plain:6.2f}s  read+validate {steady:6.2f}s  "
              f"ratio {ratio:4.2f}  (cold {cold / plain:4.2f}; {messages} messages, {findings} findings)")
    verdict = "ok" if worst <= TARGET else "ABOVE TARGET"
    print(f"  worst ratio {worst:.2f} (target <= {TARGET:.2f}): {verdict}")
    return 1 if args.strict and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
