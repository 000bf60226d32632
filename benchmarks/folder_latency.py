"""Folder drop → sale order: how long a partner's file waits before its sale order is in Odoo.

Starts the Odoo sandbox seeded from samples/odoo-seed.yaml and `edigw run` (the real daemon,
a subprocess) with the shipped ACME profile as it is (settle_seconds: 1, the shipped config),
then drops the sample ORDERS file again and again under new order numbers, one at a time, half
of them written in place (opened, written, closed) and half written elsewhere and renamed into
the inbox, as upload tools do. For each it takes the wall time from just before the drop to the
audit event that records the last of its orders delivered (same clock, same machine).

The reference in the same run is the gateway's own work on the same file: from the exchange
recorded (the file claimed and archived) to the same delivered event. The ratio says how much
of the latency is waiting rather than working.

    .venv/bin/python benchmarks/folder_latency.py [--files 30]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.odoo.sandbox import start  # noqa: E402

SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"
PASSWORD_ENV = "EDIGW_BENCH_ODOO_PASSWORD"


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=None).timestamp()


def delivered(db: Path, numbers: list[str]) -> tuple[str, str] | None:
    """(exchange received at, last order delivered at) as UTC ISO texts once every order is delivered."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        marks = ",".join("?" * len(numbers))
        rows = connection.execute(
            f"SELECT m.id, m.exchange_id, m.state FROM messages m WHERE m.direction = 'in' "
            f"AND m.document_number IN ({marks})", numbers).fetchall()
        if len(rows) < len(numbers) or any(state != "delivered" and state != "acknowledged" for *_, state in rows):
            return None
        ids = [row[0] for row in rows]
        done = connection.execute(
            f"SELECT max(at) FROM audit_events WHERE subject = 'message' AND to_state = 'delivered' "
            f"AND subject_id IN ({','.join('?' * len(ids))})", ids).fetchone()[0]
        received = connection.execute(
            "SELECT min(at) FROM audit_events WHERE subject = 'exchange' AND to_state = 'received' AND subject_id = ?",
            (rows[0][1],)).fetchone()[0]
    return received, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    args = parser.parse_args()
    text = SAMPLE.read_text(encoding="latin-1")
    os.environ[PASSWORD_ENV] = "admin"
    with tempfile.TemporaryDirectory() as folder, start(data=ROOT / "samples" / "odoo-seed.yaml") as sandbox:
        home = Path(folder)
        (home / "partners").mkdir()
        profile = (ROOT / "partners" / "acme-retail.yaml").read_text(encoding="utf-8")
        assert "settle_seconds: 1\n" in profile or "settle_seconds: 1 " in profile, "the shipped settle time changed"
        (home / "partners" / "acme-retail.yaml").write_text(profile, encoding="utf-8")
        (home / "gateway.toml").write_text(
            f'state_dir = "state"\npartners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n'
            f'[odoo]\nurl = "{sandbox.url}"\ndb = "edi"\nuser = "admin"\npassword_env = "{PASSWORD_ENV}"\n',
            encoding="utf-8")
        inbox = home / "state" / "inbox" / "acme-retail"
        inbox.mkdir(parents=True)
        staging = home / "staging"
        staging.mkdir()
        log = (home / "daemon.log").open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("EDIGW_CONFIG", None)
        daemon = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(home / "gateway.toml"), "run"],
                                  stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=home)
        try:
            while b"edigw running" not in (home / "daemon.log").read_bytes():
                if daemon.poll() is not None:
                    raise SystemExit((home / "daemon.log").read_text(errors="replace"))
                time.sleep(0.05)
            db = home / "state" / "edigw.db"
            latencies, work, ways, taken = [], [], [], []
            for n in range(-1, args.files):  # the first (-1) warms the daemon's Odoo connection up
                numbers = [f"47{n + 1:05d}", f"48{n + 1:05d}"]
                data = text.replace("4500012", numbers[0]).replace("4500013", numbers[1]).encode("latin-1")
                name = f"ORDERS_{n + 1:05d}.edi"
                renamed = n % 2 == 1
                if renamed:
                    (staging / name).write_bytes(data)
                dropped = time.time()
                if renamed:
                    os.rename(staging / name, inbox / name)
                else:
                    (inbox / name).write_bytes(data)
                deadline = time.monotonic() + 60
                while (marks := delivered(db, numbers)) is None:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise SystemExit(f"file {name} was not delivered:\n"
                                         + (home / "daemon.log").read_text(errors="replace")[-3000:])
                    time.sleep(0.005)
                if n >= 0:
                    latencies.append(seconds(marks[1]) - dropped)
                    work.append(seconds(marks[1]) - seconds(marks[0]))
                    taken.append(seconds(marks[0]) - dropped)
                    ways.append(renamed)
                time.sleep(0.2)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            log.close()
        orders = sandbox.sandbox.execute_kw("sale.order", "search_count", [[("client_order_ref", "=like", "47%")]])
    def ms(values):
        return statistics.median(values) * 1000

    written = [v for v, way in zip(latencies, ways) if not way]
    moved = [v for v, way in zip(latencies, ways) if way]
    print(f"{args.files} files (2 orders each) dropped into the shipped ACME inbox (settle_seconds 1), "
          f"{orders} sale orders made; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'measure':<52} {'p50 ms':>7} {'p90 ms':>7} {'max ms':>7}")
    for label, values in (("drop → sale order (all files)", latencies),
                          ("  written in place (closed after writing)", written),
                          ("  renamed into the inbox", moved),
                          ("  of which drop → claimed and archived", taken),
                          ("reference: claimed → sale order (the gateway's work)", work)):
        ordered = sorted(values)
        print(f"{label:<52} {ms(values):>7.0f} {ordered[int(len(ordered) * 0.9) - 1] * 1000:>7.0f} "
              f"{ordered[-1] * 1000:>7.0f}")
    print(f"ratio drop → sale order / gateway's work (p50): {statistics.median(latencies) / statistics.median(work):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
