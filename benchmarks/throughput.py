"""Parse + translate throughput on one core: EDIFACT ORDERS and X12 850, 10,000 orders each.

The reference in the same run is pydifact's own parse of the same EDIFACT bytes (all
segments listed, nothing else): what the EDIFACT reading costs before any envelope check,
tree or template. Prints one table.

    .venv/bin/python benchmarks/throughput.py [--orders 10000] [--lines 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generate import edifact_bytes, x12_bytes  # noqa: E402
from gateway import formats  # noqa: E402
from gateway.formats.model import Message  # noqa: E402
from gateway.mapping import load_template  # noqa: E402

TEMPLATES = ROOT / "templates"


def parse_and_translate(data: bytes, template_name: str) -> tuple[int, int]:
    template = load_template(TEMPLATES, template_name)
    messages = lines = 0
    _, events = formats.parse(data)
    for event in events:
        if isinstance(event, Message):
            document, problems = template.translate(event.tree)
            assert not [p for p in problems if p.severity == "error"], problems
            messages += 1
            lines += len(document.lines)
    return messages, lines


def pydifact_parse(data: bytes) -> int:
    from pydifact.parser import Parser

    return sum(1 for _ in Parser().parse(data.decode("latin-1")))


def timed(function, *args):
    started = time.process_time()
    result = function(*args)
    return result, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    edifact = edifact_bytes(args.orders, args.lines)
    x12 = x12_bytes(args.orders, args.lines)
    rows = []
    (messages, _), seconds = timed(parse_and_translate, edifact, "edifact/ORDERS_D96A")
    rows.append(("EDIFACT ORDERS: edigw parse + translate", len(edifact), messages, seconds))
    segments, seconds = timed(pydifact_parse, edifact)
    rows.append((f"EDIFACT ORDERS: pydifact Parser alone ({segments} segments)", len(edifact), args.orders, seconds))
    (messages, _), seconds = timed(parse_and_translate, x12, "x12/850_004010")
    rows.append(("X12 850: edigw parse + translate", len(x12), messages, seconds))
    print(f"{args.orders} orders of {args.lines} lines, one core, CPU seconds (time.process_time)")
    print(f"{'run':<58} {'MB':>6} {'seconds':>8} {'msg/s':>8} {'MB/s':>6}")
    for name, size, count, seconds in rows:
        print(f"{name:<58} {size / 1e6:>6.2f} {seconds:>8.2f} {count / seconds:>8.0f} {size / 1e6 / seconds:>6.2f}")


if __name__ == "__main__":
    main()
