"""Goal 2 of issue 14: the CPU of `edigw run --once` on one file against parse + translate of its bytes.

A generated interchange of orders goes through a fresh gateway (`run --once` in a child
process: intake, archive, parse, validate, translate, store, acknowledge; no Odoo); its CPU
time (user + system) is compared with parse + validate + translate of the same bytes in this
process, measured in the same run. The acknowledgment is planned from the pipeline's own
parse, so the ratio is what storing and acknowledging add (goal: <= 1.2).

    .venv/bin/python benchmarks/run_once_cpu.py [--standard edifact|x12] [--orders 10000] [--lines 5] [--rounds 3]

Each figure is the least of `--rounds` rounds (a fresh gateway each): the machine is shared, and
the least is the one least disturbed.

The child's figure includes starting Python and importing the gateway (printed on its own:
`edigw --help` run the same way). The gateway's store is made by a first run with an empty
inbox, not counted (its CPU is printed). A second run with the empty inbox (the store made)
is what every `run --once` costs before it reads a file: the file's own CPU, as a daemon
already running pays it, is the child's less that idle run, and its ratio is printed too.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory import gateway_home, run_once  # noqa: E402
from gateway import formats  # noqa: E402
from gateway.formats.model import Message  # noqa: E402
from gateway.mapping import load_template  # noqa: E402

TEMPLATES = {"edifact": "edifact/ORDERS_D96A", "x12": "x12/850_004010"}


def parse_and_translate(data: bytes, standard: str) -> float:
    template = load_template(ROOT / "templates", TEMPLATES[standard])
    started = time.process_time()
    for event in formats.parse(data)[1]:
        if isinstance(event, Message):
            template.translate(event.tree)
    return time.process_time() - started


def start_cpu() -> float:
    compileall.compile_dir(ROOT / "gateway", quiet=1)  # as run_once does
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "gateway", "--help"], check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_round(standard: str, orders: int, lines: int) -> tuple[float, dict, dict]:
    """One round in a fresh gateway: the reference in process, then the child on the same file."""
    with tempfile.TemporaryDirectory() as home:
        path = gateway_home(Path(home), standard, orders, lines)
        data = path.read_bytes()
        reference = parse_and_translate(data, standard)
        del data
        # The gateway's first run makes its store (the migrations): done once, before the file
        # is measured, as on a gateway that has been running.
        aside = path.rename(Path(home) / path.name)
        setup = run_once(Path(home))
        setup["idle"] = run_once(Path(home))["cpu"]
        aside.rename(path)
        return reference, run_once(Path(home)), setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standard", choices=("edifact", "x12"), default="edifact")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the least of this many (default 3)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rounds = [measure_round(args.standard, args.orders, args.lines) for _ in range(args.rounds)]
    reference = min(reference for reference, _, _ in rounds)
    found = min((found for _, found, _ in rounds), key=lambda found: found["cpu"])
    setup = min(setup["cpu"] for _, _, setup in rounds)
    idle = min(setup["idle"] for _, _, setup in rounds)
    starting = min(start_cpu() for _ in range(args.rounds))
    print(f"{args.standard}: {args.orders} orders of {args.lines} lines; load average {load:.1f} at the start; "
          f"the least of {args.rounds} rounds")
    print(f"  parse + validate + translate in process: {reference:.2f} s CPU")
    print(f"  edigw run --once (child):                {found['cpu']:.2f} s CPU, {found['wall']:.1f} s wall, "
          f"messages {found['states']}, acknowledgment {found['ack']}")
    print(f"  of which starting Python + the gateway:  {starting:.2f} s CPU (edigw --help)")
    print(f"  and an idle run --once (empty inbox):    {idle:.2f} s CPU")
    print(f"  not counted: the first run, making the store: {setup:.2f} s CPU")
    print("  each round's ratio: " + ", ".join(f"{found['cpu'] / reference:.2f}" for reference, found, _ in rounds))
    print(f"run --once / parse + translate: {found['cpu'] / reference:.2f} (goal <= 1.2); "
          f"without the start: {(found['cpu'] - starting) / reference:.2f}; "
          f"the file's own (less an idle run): {(found['cpu'] - idle) / reference:.2f}")


if __name__ == "__main__":
    main()
