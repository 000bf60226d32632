"""Peak memory of the gateway on one big file: 50,000 orders in one ~100 MB interchange.

Writes the file into a fresh gateway's inbox, runs `edigw run --once` in a child process and
reports its peak resident memory (ru_maxrss), its wall time, and the messages recorded. The
gateway must not hold the whole file's trees at once: the figure to compare is the file size.

    .venv/bin/python benchmarks/memory.py [--standard edifact|x12] [--orders 50000] [--lines 24]
"""

from __future__ import annotations

import argparse
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

from benchmarks.generate import edifact_orders, x12_orders  # noqa: E402

PARTNERS = {"edifact": "acme-retail", "x12": "bigbox-stores"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standard", choices=("edifact", "x12"), default="edifact")
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=24)
    args = parser.parse_args()
    partner = PARTNERS[args.standard]
    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        (home / "partners").mkdir()
        profile = (ROOT / "partners" / f"{partner}.yaml").read_text().replace("settle_seconds: 1", "settle_seconds: 0")
        if args.standard == "edifact":  # the generated interchange's sender is not ACME's GLN
            profile = profile.replace('id: "4012345000009", ', "")
        (home / "partners" / f"{partner}.yaml").write_text(profile)
        (home / "gateway.toml").write_text(
            f'partners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n[limits]\nmax_file_size = 1000000000\n')
        inbox = home / "state" / "inbox" / partner
        inbox.mkdir(parents=True)
        chunks = edifact_orders if args.standard == "edifact" else x12_orders
        path = inbox / f"big.{args.standard}"
        with path.open("wb") as out:
            for chunk in chunks(args.orders, args.lines):
                out.write(chunk)
        size = path.stat().st_size
        old = time.time() - 60
        os.utime(path, (old, old))
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "gateway", "--config", str(home / "gateway.toml"), "run", "--once"],
                       check=True, cwd=home, stderr=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        with sqlite3.connect(home / "state" / "edigw.db") as db:
            states = dict(db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
    print(f"{args.standard}: one file of {size / 1e6:.1f} MB, {args.orders} orders of {args.lines} lines")
    print(f"  edigw run --once: {seconds:.1f} s wall, peak memory {peak_kib / 1024:.0f} MB, messages {states}")


if __name__ == "__main__":
    main()
