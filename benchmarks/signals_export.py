"""The demand-signal feed (`edigw signals export`) over a store of sell-through: rows per second and peak memory.

A SQLite store is filled with sales reports, each the first SLSRPT of the corpus file
(bots_slsrpt_d96a_ean004.edi, 196 lines in 52 stores) as the EDIFACT template reads it, 100 of
them by default (19,600 signal rows). Then, each the median of 5 runs (wall seconds):

- reference: reading the same documents from the store and decoding their JSON, nothing else
  (`SELECT document FROM messages` + `json.loads`): what any export must at least do;
- `signals()`: the rows, flattened with their periods, locations and our references;
- `signals()` + CSV, and `signals()` + Parquet (pyarrow): the whole export.

Each is printed with its ratio to the reference, and the peak memory (tracemalloc) of the CSV and
Parquet exports.

    .venv/bin/python benchmarks/signals_export.py [--reports 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from gateway.inspection import inspect_file  # noqa: E402
from gateway.pipeline import TemplateSet  # noqa: E402
from gateway.signals import signals, to_csv, to_parquet  # noqa: E402
from gateway.store.db import open_store  # noqa: E402
from gateway.store.models import Exchange, Message  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "edifact" / "SLSRPT" / "bots_slsrpt_d96a_ean004.edi"


def fill(store, reports: int) -> int:
    report = inspect_file(CORPUS, None, TemplateSet(ROOT / "templates"))
    document = report["interchanges"][0]["messages"][0]["document"]
    products = {f"gtin:{line['gtin']}": f"REF-{line['gtin'][-5:]}" for line in document["lines"][::2]}
    text, result = json.dumps(document), json.dumps({"products": products})
    now = datetime(2026, 12, 1)
    with store.session() as session:
        session.execute(insert(Exchange), [{"id": n + 1, "partner": f"retailer-{n % 5}", "channel": "x/in",
                                            "direction": "in", "original_name": f"slsrpt{n}.edi", "size": 30000,
                                            "sha256": f"{n:064x}", "received_at": now, "state": "processed",
                                            "updated_at": now} for n in range(reports)])
        session.execute(insert(Message), [{"exchange_id": n + 1, "position": 0, "interchange_position": 0,
                                           "partner": f"retailer-{n % 5}", "direction": "in", "standard": "edifact",
                                           "type": "SLSRPT", "version": "D96A", "document_type": "SalesReport",
                                           "document_number": str(n), "state": "delivered", "document": text,
                                           "result": result, "created_at": now, "updated_at": now}
                                          for n in range(reports)])
    return len(document["lines"]) * reports


def timed(work, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak(work) -> float:
    tracemalloc.start()
    work()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/store.db")
        rows = fill(store, args.reports)

        def reference() -> None:
            with store.session() as session:
                for document in session.scalars(select(Message.document).where(Message.document_type == "SalesReport")):
                    json.loads(document)

        runs = [("reference: read + decode the documents", reference),
                ("signals(): the rows", lambda: signals(store)),
                ("signals() + CSV", lambda: to_csv(signals(store))),
                ("signals() + Parquet (pyarrow)", lambda: to_parquet(signals(store)))]
        base = None
        print(f"{args.reports} sales reports, {rows} signal rows, SQLite; median of 5, wall seconds")
        print(f"{'run':<42} {'seconds':>8} {'rows/s':>10} {'× ref':>6}")
        for name, work in runs:
            seconds = timed(work)
            base = base or seconds
            print(f"{name:<42} {seconds:8.3f} {rows / seconds:10.0f} {seconds / base:6.2f}")
        print(f"peak memory: CSV export {peak(lambda: to_csv(signals(store))):.1f} MB, "
              f"Parquet export {peak(lambda: to_parquet(signals(store))):.1f} MB")
        store.engine.dispose()


if __name__ == "__main__":
    main()
