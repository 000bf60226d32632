"""Peak memory and wall time of the gateway on one big file (goals 3 and 4 of issue 14).

Writes a generated interchange of orders (24 lines each, as a real retail order) into a fresh
gateway's inbox, runs `edigw run --once` in a child process and reports its peak resident
memory (ru_maxrss), its wall and CPU time, the messages recorded and the acknowledgment made:
the file goes the whole way (archived, parsed, validated, translated, stored, acknowledged;
no Odoo). With several `--orders`, each size runs in its own child and the last line compares
the peaks (goal: under 200 MB at 100 MB and at 1 GB, within 15 % of each other).

    .venv/bin/python benchmarks/memory.py [--standard edifact|x12|csv] [--orders 50000 [500000 …]] [--lines 24]

50,000 orders of 24 lines are a 100 MB file (goal 4: under 3 minutes end to end); 500,000
are 1 GB. The files are written into a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generate import CHUNKS  # noqa: E402

PARTNERS = {"edifact": "acme-retail", "x12": "bigbox-stores", "csv": "corner-shop"}


def gateway_home(home: Path, standard: str, orders: int, lines: int) -> Path:
    """A gateway in `home` with the partner's profile (acknowledgments on) and the file in its inbox."""
    partner = PARTNERS[standard]
    (home / "partners").mkdir()
    profile = (ROOT / "partners" / f"{partner}.yaml").read_text().replace("settle_seconds: 1", "settle_seconds: 0")
    if standard == "edifact":  # the generated interchange's sender is not ACME's GLN
        profile = profile.replace('id: "4012345000009", ', "")
    (home / "partners" / f"{partner}.yaml").write_text(profile)
    (home / "gateway.toml").write_text(
        f'partners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n'
        # No per-file time budget: a 1 GB file takes longer than the default 120 s, and is measured whole.
        '[limits]\nmax_file_size = 4000000000\nfile_seconds = 0\n')
    inbox = home / "state" / "inbox" / partner
    inbox.mkdir(parents=True)
    path = inbox / f"big.{standard}"
    with path.open("wb") as out:
        for chunk in CHUNKS[standard](orders, lines):
            out.write(chunk)
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def run_once(home: Path) -> dict:
    """`edigw run --once` in a child process: its wall time, CPU time and peak memory, and what it recorded.

    The gateway's modules are compiled first, as installing the package compiles them: with
    PYTHONDONTWRITEBYTECODE set (as on some machines) the child would otherwise compile the
    gateway's source at every start and count it."""
    compileall.compile_dir(ROOT / "gateway", quiet=1)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "gateway", "--config", str(home / "gateway.toml"), "run", "--once"],
                   check=True, cwd=home, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with sqlite3.connect(home / "state" / "edigw.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM messages WHERE exchange_id = 1 GROUP BY state"))
        acks = (db.execute("SELECT ack_state FROM exchanges WHERE id = 1").fetchone() or ["no exchange"])[0]
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024, "states": states, "ack": acks}


def measure(standard: str, orders: int, lines: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        path = gateway_home(Path(home), standard, orders, lines)
        size = path.stat().st_size
        found = run_once(Path(home))
    print(f"{standard}: one file of {size / 1e6:.1f} MB, {orders} orders of {lines} lines")
    print(f"  edigw run --once: {found['wall']:.1f} s wall, {found['cpu']:.1f} s CPU, peak memory "
          f"{found['peak_mb']:.0f} MB, messages {found['states']}, acknowledgment {found['ack']}", flush=True)
    return found["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standard", choices=tuple(CHUNKS), default="edifact")
    parser.add_argument("--orders", type=int, nargs="+", default=[50_000])
    parser.add_argument("--lines", type=int, default=24)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or len(args.orders) == 1:
        measure(args.standard, args.orders[0], args.lines)
        return
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    peaks = []
    for orders in args.orders:  # each size in its own process: ru_maxrss is a process's peak
        out = subprocess.run([sys.executable, __file__, "--child", "--standard", args.standard, "--orders",
                              str(orders), "--lines", str(args.lines)], check=True, capture_output=True, text=True)
        print(out.stdout, end="", flush=True)
        peaks.append(float(out.stdout.split("peak memory ")[1].split(" MB")[0]))
    print(f"peak memory, largest file / smallest: {peaks[-1] / peaks[0]:.2f} (goal: within 15 %, all under 200 MB)")


if __name__ == "__main__":
    main()
