"""Scale-out: two `edigw run --once` nodes on one PostgreSQL store against one node, same files.

Writes N distinct ACME ORDERS files (the shipped sample, two orders each, new order numbers)
into one inbox, runs one node over them on a fresh PostgreSQL database, then two nodes at once
over the same files on another fresh database (the same inbox folder, as two machines would
share it; with `--archive store` the archive is in the store too, `[archive] url`, so nothing
else is shared). Prints the wall time and files/s of each run, the ratio two nodes / one node,
and the duplicates found (exchanges or orders
recorded twice, acknowledgments made twice): there must be none.

Two nodes on one machine can only go twice as fast when two cores are free. The machine's own
ceiling is measured in the same run: a CPU-bound loop in one process, then in two at once (the
"machine" row); the nodes' ratio is worth reading against it.

What a node waits on is printed too: its CPU seconds against the run's wall time (a node near
100 % is CPU-bound, one far below waits: on PostgreSQL, fsync, or a core taken by something
else), the time it was ready to run but found no free core (Linux's /proc/PID/schedstat), and what the nodes' PostgreSQL connections were doing, sampled every 20 ms in
pg_stat_activity: waiting for the node (idle, or idle in a transaction the node keeps open),
working, waiting on a lock (the audit chain's advisory lock, a row another transaction holds)
or on I/O.

    .venv/bin/python benchmarks/scale_out.py [--files 2000] [--archive folder|store]
        [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"


@contextmanager
def database(server: str):
    name = f"edigw_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(f"{server}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def fill(inbox: Path, files: int) -> None:
    text = SAMPLE.read_text(encoding="latin-1")
    past = time.time() - 60
    for n in range(files):
        path = inbox / f"ORDERS_{n:05d}.edi"
        path.write_text(text.replace("4500012", f"5{n:06d}").replace("4500013", f"6{n:06d}"), encoding="latin-1")
        os.utime(path, (past, past))  # dropped a minute ago: settled


def run(nodes: int, files: int, server: str, archive: str, work: Path) -> dict:
    with database(server) as name:
        url = f"{server.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
        home = work / f"{nodes}-nodes"
        (home / "partners").mkdir(parents=True)
        shutil.copy(ROOT / "partners" / "acme-retail.yaml", home / "partners")
        inbox = home / "state" / "inbox" / "acme-retail"
        inbox.mkdir(parents=True)
        fill(inbox, files)
        configs = []
        for node in range(nodes):  # each node its own config; only the inbox (and store) are shared
            config = home / f"node{node}.toml"
            archive_line = f'url = "{url}"' if archive == "store" else 'dir = "state/archive"'
            config.write_text(f'state_dir = "state"\npartners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n'
                              f'[store]\nurl = "{url}"\n[archive]\n{archive_line}\n',
                              encoding="utf-8")
            configs.append(config)
        env = dict(os.environ)
        env.pop("EDIGW_CONFIG", None)
        subprocess.run([sys.executable, "-m", "gateway", "--config", str(configs[0]), "messages", "list"],
                       check=True, capture_output=True, env=env, cwd=home)  # the schema made before the clock starts
        started = time.perf_counter()
        # Each node logs to a file: a pipe read one node after the other would fill (64 KiB) and stop
        # the second node at its next log line until the first one ended.
        logs = [home / f"node{node}.log" for node in range(nodes)]
        with sampled_waits(server, name) as waits:
            running = []
            for config, log in zip(configs, logs):
                with open(log, "wb") as writer:
                    running.append(subprocess.Popen(
                        [sys.executable, "-m", "gateway", "--config", str(config), "run", "--once"],
                        stdout=subprocess.DEVNULL, stderr=writer, env=env, cwd=home))
            queued = run_queue_waits([process.pid for process in running])
            cpu = []
            for process in running:
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                cpu.append(usage.ru_utime + usage.ru_stime)
            elapsed = time.perf_counter() - started
        errors = [log.read_bytes() for log in logs]
        for process, error in zip(running, errors):
            if process.returncode != 0:
                raise SystemExit(error.decode(errors="replace"))
        with psycopg.connect(f"{server}/{name}") as db:
            states = dict(db.execute("SELECT state, count(*) FROM exchanges WHERE direction = 'in' GROUP BY state"))
            exchanges = db.execute("SELECT count(*), count(DISTINCT original_name) FROM exchanges "
                                   "WHERE direction = 'in'").fetchone()
            orders = db.execute("SELECT count(*), count(DISTINCT document_number) FROM messages "
                                "WHERE direction = 'in'").fetchone()
            acks = db.execute("SELECT count(*), count(DISTINCT ack_exchange_id) FROM exchanges "
                              "WHERE direction = 'in' AND ack_state = 'made'").fetchone()
        left = sum(1 for path in inbox.iterdir() if path.is_file())
        split = [len(re.findall(rb"exchange \d+ '[^']*': processed", error)) for error in errors]
        return {"seconds": elapsed, "cpu": cpu, "queued": [queued.get(process.pid) for process in running],
                "waits": waits, "split": split, "states": states,
                "duplicates": (exchanges[0] - exchanges[1]) + (orders[0] - orders[1]) + (acks[0] - acks[1]),
                "orders": orders[0], "left": left}


@contextmanager
def sampled_waits(server: str, name: str, every: float = 0.02):
    """What the client connections to database `name` are doing, sampled until the block ends:
    a Counter of their kinds (see `_kind`) and, under the key None, the number of samples."""
    waits: Counter = Counter()
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(f"{server}/{name}", autocommit=True) as db:
            while not stop.is_set():
                for state, wait_type, wait_event in db.execute(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s "
                        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()", (name,)):
                    waits[_kind(state, wait_type, wait_event)] += 1
                waits[None] += 1
                stop.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield waits
    finally:
        stop.set()
        sampler.join()


def run_queue_waits(pids: list[int], every: float = 0.02) -> dict[int, float]:
    """Seconds each process has spent runnable but waiting for a CPU (Linux's /proc/PID/schedstat),
    as last seen before it ended: filled in by a thread while the processes run."""
    latest: dict[int, float] = {}

    def watch() -> None:
        while pids:
            for pid in list(pids):
                try:
                    with open(f"/proc/{pid}/schedstat", encoding="ascii") as reader:
                        latest[pid] = int(reader.read().split()[1]) / 1e9
                except (OSError, IndexError, ValueError):
                    pids.remove(pid)  # ended (or no schedstat on this system)
            time.sleep(every)

    pids = list(pids)
    threading.Thread(target=watch, daemon=True).start()
    return latest


def _kind(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state == "idle":
        return "idle"
    if state == "idle in transaction":
        return "in a transaction, waiting for the node"
    if wait_type == "Lock":
        return f"lock wait ({wait_event})"
    if wait_type in ("IO", "LWLock"):
        return f"I/O ({wait_event})"
    return "working"


def describe_waits(waits: Counter) -> str:
    """Connections busy in each way, on average over the samples (idle ones left out)."""
    samples = waits[None] or 1
    kinds = sorted((kind for kind in waits if kind not in (None, "idle")), key=lambda kind: -waits[kind])
    return ", ".join(f"{kind} {waits[kind] / samples:.2f}" for kind in kinds) or "none"


def _spin(seconds: float, counts) -> None:
    end, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        sum(range(1000))
        count += 1
    counts.put(count)


def machine_ratio(seconds: float = 5.0) -> float:
    """Work done by two CPU-bound processes at once / by one, right now on this machine."""
    done = []
    for processes in (1, 2):
        counts = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=_spin, args=(seconds, counts)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        done.append(sum(counts.get() for _ in workers))
        for worker in workers:
            worker.join()
    return done[1] / done[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--archive", choices=("folder", "store"), default="folder")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = machine_ratio()
        one = run(1, args.files, args.postgres, args.archive, Path(folder))
        two = run(2, args.files, args.postgres, args.archive, Path(folder))
        machine = (before + machine_ratio()) / 2
    print(f"{args.files} ACME ORDERS files (2 orders each), PostgreSQL store, archive in the {args.archive}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'run':<10} {'seconds':>8} {'files/s':>8} {'orders':>7} {'duplicates':>10} {'left':>5}  "
          "files per node, states")
    for label, result in (("one node", one), ("two nodes", two)):
        print(f"{label:<10} {result['seconds']:>8.1f} {args.files / result['seconds']:>8.1f} {result['orders']:>7} "
              f"{result['duplicates']:>10} {result['left']:>5}  {result['split']}, {result['states']}")
    print("node CPU (user + sys) against the run's wall time, and PostgreSQL connections on average:")
    for label, result in (("one node", one), ("two nodes", two)):
        busy = " + ".join(f"{cpu:.1f} s ({cpu / result['seconds']:.0%})" for cpu in result["cpu"])
        queued = " + ".join(f"{seconds:.1f} s" for seconds in result["queued"] if seconds is not None)
        print(f"  {label:<10} CPU {busy}, {1000 * sum(result['cpu']) / args.files:.1f} ms per file"
              + (f"; waited for a free core {queued}" if queued else "")
              + f"; connections: {describe_waits(result['waits'])}")
    ratio = one['seconds'] / two['seconds']
    print(f"ratio two nodes / one node (files/s): {ratio:.2f}")
    print(f"machine: two CPU-bound processes / one, same run (before and after, averaged): {machine:.2f}; "
          f"nodes' ratio / machine's: {ratio / machine:.2f}")
    return 0 if one["duplicates"] == two["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
