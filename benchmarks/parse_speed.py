"""Goal 1 of issue 14: parse + validate + translate against the references, one core, CPU time.

EDIFACT: edigw's whole job (parse, validate, translate with the ORDERS template) on a
generated interchange of orders, against pydifact's bare `Parser` (segments listed, nothing
else) on the same bytes: the ratio is pydifact's seconds / edigw's (goal: >= 1.0).
X12: edigw's whole job on a generated interchange of 850s, against the same job done by the
edigw of a reference commit (default: the one before issue 14's work), extracted with
`git archive` and run in a child process on the same bytes: the ratio is the reference's
seconds / ours (goal: >= 2.0). EDIFACT is timed against the reference commit too.

    .venv/bin/python benchmarks/parse_speed.py [--orders 4000] [--lines 5] [--reference 16033ae] [--repeat 3]

Each figure is the best of `--repeat` runs (the machine is shared: the best run is the one
least disturbed); the load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEMPLATES = {"edifact": "edifact/ORDERS_D96A", "x12": "x12/850_004010"}


def job(root: Path, standard: str, orders: int, lines: int, repeat: int) -> float:
    """Best CPU seconds of parse + validate + translate, with the edigw found at `root`."""
    sys.path.insert(0, str(root))
    sys.path.insert(1, str(ROOT))
    from benchmarks.generate import edifact_bytes, x12_bytes
    from gateway import formats
    from gateway.formats.model import Message
    from gateway.mapping import load_template

    data = edifact_bytes(orders, lines) if standard == "edifact" else x12_bytes(orders, lines)
    template = load_template(ROOT / "templates", TEMPLATES[standard])
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        count = 0
        for event in formats.parse(data)[1]:
            if isinstance(event, Message):
                document, problems = template.translate(event.tree)
                assert not [p for p in problems if p.severity == "error"], problems
                count += 1
        best = min(best, time.process_time() - started)
        assert count == orders, count
    return best


def pydifact_parse(orders: int, lines: int, repeat: int) -> float:
    sys.path.insert(0, str(ROOT))
    from benchmarks.generate import edifact_bytes
    from pydifact.parser import Parser

    warnings.simplefilter("ignore")
    data = edifact_bytes(orders, lines)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        sum(1 for _ in Parser().parse(data.decode("latin-1")))
        best = min(best, time.process_time() - started)
    return best


def child(root: Path, what: str, args: argparse.Namespace) -> float:
    """Run one measurement in a fresh interpreter (one core), so that no import is shared."""
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.parse_speed import job, pydifact_parse; "
            + (f"print(json.dumps(pydifact_parse({args.orders}, {args.lines}, {args.repeat})))" if what == "pydifact" else
               f"print(json.dumps(job(__import__('pathlib').Path({str(root)!r}), {what!r}, {args.orders}, {args.lines}, "
               f"{args.repeat})))"))
    command = [sys.executable, "-c", code]
    if hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])] + command
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=tempfile.gettempdir(),
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--reference", default="16033ae", help="the commit edigw is compared with")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        reference = Path(folder)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.reference], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(reference)], input=archive, check=True)
        load = os.getloadavg()[0]
        figures = {
            "pydifact": child(ROOT, "pydifact", args),
            "edifact": child(ROOT, "edifact", args),
            "edifact_reference": child(reference, "edifact", args),
            "x12": child(ROOT, "x12", args),
            "x12_reference": child(reference, "x12", args),
        }
    print(f"{args.orders} orders of {args.lines} lines, one core, best of {args.repeat}, CPU seconds; "
          f"load average {load:.1f} at the start")
    print(f"{'run':<62} {'seconds':>8} {'msg/s':>8}")
    for name, label in (
        ("pydifact", "EDIFACT: pydifact Parser alone (reference)"),
        ("edifact", "EDIFACT: edigw parse + validate + translate"),
        ("edifact_reference", f"EDIFACT: edigw {args.reference} parse + validate + translate"),
        ("x12", "X12 850: edigw parse + validate + translate"),
        ("x12_reference", f"X12 850: edigw {args.reference} parse + validate + translate"),
    ):
        print(f"{label:<62} {figures[name]:>8.2f} {args.orders / figures[name]:>8.0f}")
    print(f"EDIFACT: edigw / pydifact Parser speed: {figures['pydifact'] / figures['edifact']:.2f} x (goal >= 1.0)")
    print(f"EDIFACT: edigw / edigw {args.reference}: {figures['edifact_reference'] / figures['edifact']:.2f} x")
    print(f"X12:     edigw / edigw {args.reference}: {figures['x12_reference'] / figures['x12']:.2f} x (goal >= 2.0)")


if __name__ == "__main__":
    main()
