"""Deterministic EDI documents for benchmarks and tests.

Everything here is a pure function of its arguments: a seeded
``random.Random`` drives the content, and nothing reads the clock, the
environment or ``uuid``. The same call returns the same bytes on every machine.

* :func:`edifact_orders` – one UN/EDIFACT D.96A ORDERS interchange (UNOC, so
  ISO 8859-1), with release sequences (``?'``, ``?+``, ``?:``, ``??``) and
  Latin-1 letters sprinkled through the item descriptions.
* :func:`x12_850` – one ANSI X12 004010 850 interchange (ASCII) with a single
  functional group.
* :func:`write_large` – either kind, streamed to a file until it reaches a
  target size, with correct trailer counts, in bounded memory.

Both documents put a newline after every segment terminator. Command line::

    python -m bench.generate edifact out.edi --messages 20000
    python -m bench.generate x12 out.x12 --bytes 200000000
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "edifact_orders", "x12_850", "write_large", "KINDS",
    "edifact_message_segments", "x12_set_segments",
]

KINDS = ("edifact", "x12")

_ORDER_DATE = datetime.date(2026, 1, 15)  # DTM+137 / BEG05: fixed, never "today"

# Word pools for item descriptions. The EDIFACT ones contain characters that
# must be released (' + : ?) and Latin-1 letters; the X12 pool is plain ASCII
# because ISA11 'U' documents are read as ASCII (pyx12 opens them so).
_ADJECTIVES = [
    "Organic", "Classic", "Fresh", "Premium", "Light", "Smoked", "Roasted", "Dark",
    "Mild", "Spicy", "Sweet", "Salted", "Whole", "Sliced", "Frozen", "Large",
]
_NOUNS = [
    "Coffee", "Tea", "Butter", "Cheese", "Yoghurt", "Bread", "Honey", "Olive Oil",
    "Pasta", "Rice", "Tomatoes", "Apples", "Ham", "Salmon", "Chocolate", "Biscuits",
    "Juice", "Water", "Muesli", "Crisps",
]
_PACKS = ["250g", "500g", "1kg", "6x1L", "12x33cl", "400g", "2kg", "1L", "75cl", "150g"]
_LATIN1_WORDS = [
    "Crème", "Brûlée", "Café", "Müsli", "Jalapeño", "Façon", "Größe", "Pâté",
    "Smørrebrød", "Rösti", "Entrée", "Señorita", "Ça va", "Açaí",
]
# Already written with their release characters: they are inserted verbatim.
_RELEASED_WORDS = [
    "Children?'s", "Salt ?+ Pepper", "Ratio 1?:2", "Why?? Not", "Rock ?'n?' Roll",
    "Bed ?+ Breakfast", "Mum?'s", "Time 10?:30",
]

_NAMES = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware",
          "Wingtip"]
_STREETS = ["Main St", "Oak Ave", "Mill Rd", "High St", "Park Ln", "Lake Dr", "Elm St"]
_CITIES = [("Springfield", "IL", "62701"), ("Riverside", "CA", "92501"),
           ("Franklin", "TN", "37064"), ("Greenville", "SC", "29601"),
           ("Madison", "WI", "53703"), ("Clinton", "IA", "52732")]


def edifact_message_segments(lines: int = 5) -> int:
    """UNT's count: UNH, BGM, 2 DTM, 3 NAD, CUX, 5 per line, UNS, CNT, UNT."""
    return 11 + 5 * lines


def x12_set_segments(lines: int = 5) -> int:
    """SE01: ST, BEG, REF, DTM, N1, N3, N4, PO1 + PID per line, CTT, SE."""
    return 9 + 2 * lines


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit for a GLN / GTIN body."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def _gs1(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - 1 - len(prefix)))
    return body + _check_digit(body)


class _Product(NamedTuple):
    gtin: str  # 13 digits (EDIFACT EN) or 12 digits (X12 UP)
    sku: str
    description: str  # EDIFACT: already escaped
    price: str


def _edifact_description(rng: random.Random) -> str:
    words = [rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_PACKS)]
    roll = rng.random()
    if roll < 0.12:
        words.insert(rng.randrange(3), rng.choice(_RELEASED_WORDS))
    elif roll < 0.24:
        words.insert(rng.randrange(3), rng.choice(_LATIN1_WORDS))
    text = " ".join(words)
    # IMD 7008 is an..35 in D.96A (counted unescaped): an item name over it loses its adjective
    if len(text) - text.count("?") > 35:
        text = " ".join(w for w in words if w not in _ADJECTIVES)
    return text


def _x12_description(rng: random.Random) -> str:
    return f"{rng.choice(_NOUNS)} {rng.choice(_PACKS)}"


def _price(rng: random.Random) -> str:
    cents = rng.randrange(49, 9999)
    return f"{cents // 100}.{cents % 100:02d}"


class _EdifactPools:
    def __init__(self, rng: random.Random) -> None:
        self.buyers = [_gs1(rng, "54", 13) for _ in range(40)]
        self.suppliers = [_gs1(rng, "40", 13) for _ in range(40)]
        self.depots = [_gs1(rng, "54", 13) for _ in range(200)]
        self.products = [
            _Product(_gs1(rng, "5", 13), f"A{rng.randrange(10**5):05d}",
                     _edifact_description(rng), _price(rng))
            for _ in range(2000)
        ]


class _X12Pools:
    def __init__(self, rng: random.Random) -> None:
        self.stores = [
            (rng.choice(_NAMES), f"{rng.randrange(1000, 9999)}",
             f"{rng.randrange(1, 999)} {rng.choice(_STREETS)}", rng.choice(_CITIES))
            for _ in range(200)
        ]
        self.products = [
            _Product(_gs1(rng, "0", 12), f"V{rng.randrange(10**5):05d}",
                     _x12_description(rng), _price(rng))
            for _ in range(2000)
        ]


# --------------------------------------------------------------------------- EDIFACT

_EDIFACT_SENDER = "5412345000013"
_EDIFACT_RECIPIENT = "4012345000009"


def _edifact_head(rng: random.Random) -> tuple[str, str]:
    ref = f"{rng.randrange(10**8):08d}"
    head = (
        "UNA:+.? '\n"
        f"UNB+UNOC:3+{_EDIFACT_SENDER}:14+{_EDIFACT_RECIPIENT}:14+260115:1030+{ref}'\n"
    )
    return head, ref


def _edifact_messages(rng: random.Random, lines: int) -> Iterator[str]:
    """Yield UNH..UNT of message 1, 2, 3, ... forever (the caller stops)."""
    pools = _EdifactPools(rng)
    products = pools.products
    choice, randrange = rng.choice, rng.randrange
    unt_count = edifact_message_segments(lines)
    n = 0
    while True:
        n += 1
        delivery = (_ORDER_DATE + datetime.timedelta(days=randrange(1, 31))).strftime("%Y%m%d")
        parts = [
            f"UNH+{n}+ORDERS:D:96A:UN:EAN008'\n"
            f"BGM+220+{4500000000 + n}+9'\n"
            "DTM+137:20260115:102'\n"
            f"DTM+2:{delivery}:102'\n"
            f"NAD+BY+{choice(pools.buyers)}::9'\n"
            f"NAD+SU+{choice(pools.suppliers)}::9'\n"
            f"NAD+DP+{choice(pools.depots)}::9'\n"
            "CUX+2:EUR:9'\n"
        ]
        for line in range(1, lines + 1):
            p = choice(products)
            parts.append(
                f"LIN+{line}++{p.gtin}:EN'\n"
                f"PIA+1+{p.sku}:SA'\n"
                f"IMD+F++:::{p.description}'\n"
                f"QTY+21:{randrange(1, 97)}'\n"
                f"PRI+AAA:{p.price}'\n"
            )
        parts.append(f"UNS+S'\nCNT+2:{lines}'\nUNT+{unt_count}+{n}'\n")
        yield "".join(parts)


def _edifact_tail(count: int, ref: str) -> str:
    return f"UNZ+{count}+{ref}'\n"


# --------------------------------------------------------------------------- X12

def _x12_head(rng: random.Random) -> tuple[str, str]:
    control = f"{rng.randrange(1, 10**9):09d}"
    isa = (
        "ISA*00*          *00*          *ZZ*"
        f"{'GWSENDER':<15}*ZZ*{'GWRECEIVER':<15}*260115*1030*U*00401*{control}*0*P*>~"
    )
    assert len(isa) == 106, len(isa)
    head = f"{isa}\nGS*PO*GWSENDER*GWRECEIVER*20260115*1030*1*X*004010~\n"
    return head, control


def _x12_sets(rng: random.Random, lines: int) -> Iterator[str]:
    """Yield ST..SE of transaction set 1, 2, 3, ... forever (the caller stops)."""
    pools = _X12Pools(rng)
    products = pools.products
    choice, randrange = rng.choice, rng.randrange
    se_count = x12_set_segments(lines)
    n = 0
    while True:
        n += 1
        name, code, street, (city, state, zipcode) = choice(pools.stores)
        delivery = (_ORDER_DATE + datetime.timedelta(days=randrange(1, 31))).strftime("%Y%m%d")
        parts = [
            f"ST*850*{n:04d}~\n"
            f"BEG*00*SA*{45000000 + n}**20260115~\n"
            f"REF*DP*{randrange(1, 999):03d}~\n"
            f"DTM*002*{delivery}~\n"
            f"N1*ST*{name}*92*{code}~\n"
            f"N3*{street}~\n"
            f"N4*{city}*{state}*{zipcode}~\n"
        ]
        for line in range(1, lines + 1):
            p = choice(products)
            parts.append(
                f"PO1*{line}*{randrange(1, 97)}*EA*{p.price}**VP*{p.sku}*UP*{p.gtin}~\n"
                f"PID*F****{p.description}~\n"
            )
        parts.append(f"CTT*{lines}~\nSE*{se_count}*{n:04d}~\n")
        yield "".join(parts)


def _x12_tail(count: int, control: str) -> str:
    return f"GE*{count}*1~\nIEA*1*{control}~\n"


# --------------------------------------------------------------------------- public API

_SPECS = {
    # kind: (head, body, tail, codec)
    "edifact": (_edifact_head, _edifact_messages, _edifact_tail, "latin-1"),
    "x12": (_x12_head, _x12_sets, _x12_tail, "ascii"),
}


def _build(kind: str, count: int, lines: int, seed: int) -> bytes:
    head, body, tail, codec = _SPECS[kind]
    rng = random.Random(seed)
    text_head, ref = head(rng)
    messages = body(rng, lines)
    parts = [text_head]
    parts.extend(next(messages) for _ in range(count))
    parts.append(tail(count, ref))
    return "".join(parts).encode(codec)


def edifact_orders(n_messages: int = 20000, lines: int = 5, seed: int = 1) -> bytes:
    """A D.96A ORDERS interchange of ``n_messages`` messages with ``lines`` lines each."""
    return _build("edifact", n_messages, lines, seed)


def x12_850(n_sets: int = 20000, lines: int = 5, seed: int = 1) -> bytes:
    """An 004010 850 interchange (one PO group) of ``n_sets`` sets with ``lines`` lines each."""
    return _build("x12", n_sets, lines, seed)


def write_large(
    path: str, kind: str, target_bytes: int, *, lines: int = 5, seed: int = 1
) -> int:
    """Stream an interchange of ``kind`` of at least ``target_bytes`` bytes to ``path``.

    Messages are encoded and written in batches of about 1 MB, so memory stays
    small whatever the target. The trailer counts are correct. For the same
    ``seed`` the messages are the ones :func:`edifact_orders` / :func:`x12_850`
    would produce. Returns the number of messages (sets) written.
    """
    if kind not in _SPECS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    head, body, tail, codec = _SPECS[kind]
    rng = random.Random(seed)
    text_head, ref = head(rng)
    messages = body(rng, lines)
    count = 0
    with open(path, "wb") as out:
        written = out.write(text_head.encode(codec))
        batch: list[str] = []
        batch_chars = 0
        while written + batch_chars < target_bytes:
            text = next(messages)
            batch.append(text)
            batch_chars += len(text)  # both codecs are one byte per character
            count += 1
            if batch_chars >= 1 << 20:
                written += out.write("".join(batch).encode(codec))
                batch, batch_chars = [], 0
        if batch:
            written += out.write("".join(batch).encode(codec))
        out.write(tail(count, ref).encode(codec))
    return count


def _size(text: str) -> int:
    """``200000000``, ``200MB``, ``200M`` or ``1.5GB`` (decimal units)."""
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    return int(float(text) * scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("path", help="output file")
    parser.add_argument("--messages", type=int, default=20000, help="messages / sets (default 20000)")
    parser.add_argument("--bytes", type=_size, help="stream to at least this size instead (e.g. 200MB)")
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.bytes is not None:
        count = write_large(args.path, args.kind, args.bytes, lines=args.lines, seed=args.seed)
    else:
        build = edifact_orders if args.kind == "edifact" else x12_850
        data = build(args.messages, lines=args.lines, seed=args.seed)
        with open(args.path, "wb") as out:
            out.write(data)
        count = args.messages
    import os

    print(json.dumps({"kind": args.kind, "path": args.path, "messages": count,
                      "bytes": os.path.getsize(args.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
