"""The console's search (`gateway.search.find`, also `edigw messages find`) over 100,000 messages.

A SQLite store (the default) is filled with 100,000 messages in 50,000 files, numbered and named
as partners do, then each kind of query support types is answered: an order number with a
leading zero, an Odoo record's name, an interchange control number, a file name, a sha256
prefix, a number with filters, and the newest page of everything with its total. Each is the
median of 7 runs (wall ms: what a person waits, the page's rendering not included).

The reference in the same run is the same search on a copy of the store without the indexes of
migration 0005 (the store as it was before the console): what the indexes buy.

    .venv/bin/python benchmarks/console_search.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from gateway import search  # noqa: E402
from gateway.store.db import Store, open_store  # noqa: E402
from gateway.store.models import Exchange, Message  # noqa: E402

PARTNERS = ("acme-retail", "bigbox-stores", "corner-shop", "nordic-supply", "megamart")
INDEXES = ("ix_messages_record_name", "ix_messages_ref", "ix_messages_interchange_ref", "ix_messages_group_ref",
           "ix_exchanges_original_name", "ix_exchanges_received_at")


def fill(store: Store, messages: int) -> dict[str, str]:
    """The store filled; returns one message's keys to look for (one in the middle)."""
    start = datetime(2026, 1, 1)
    per_file = 2
    exchanges, rows = [], []
    middle: dict[str, str] = {}
    for number in range(messages // per_file):
        partner = PARTNERS[number % len(PARTNERS)]
        sha = hashlib.sha256(str(number).encode()).hexdigest()
        exchanges.append({"id": number + 1, "partner": partner, "channel": f"{partner}/inbox", "direction": "in",
                          "original_name": f"ORDERS_{4500000 + number}.edi", "size": 1000, "sha256": sha,
                          "received_at": start + timedelta(minutes=number), "state": "processed",
                          "updated_at": start})
        for position in range(per_file):
            order = str(4500000 + number * per_file + position)
            rows.append({"exchange_id": number + 1, "position": position, "interchange_position": 0,
                         "partner": partner, "direction": "in", "standard": "edifact", "type": "ORDERS",
                         "version": "D96A", "ref": str(position + 1), "interchange_ref": f"{number:014d}",
                         "document_type": "Order", "document_number": order, "order_ref": order,
                         "record_name": f"S{number * per_file + position:05d}", "state": "delivered",
                         "errors": "[]", "attempts": 0, "created_at": start, "updated_at": start})
            if number == messages // per_file // 2 and position == 0:
                middle = {"number": "0" + order, "record": rows[-1]["record_name"], "control": str(number),
                          "file": exchanges[-1]["original_name"], "sha": sha[:10], "partner": partner}
    with store.session() as session:
        session.execute(insert(Exchange), exchanges)
        session.execute(insert(Message), rows)
    return middle


def timed(store: Store, query: str, filters: search.Filters, runs: int = 7) -> tuple[float, int]:
    times, total = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        total = search.find(store, query, filters)["total"]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        indexed_path, bare_path = Path(folder) / "indexed.db", Path(folder) / "bare.db"
        indexed = open_store(f"sqlite:///{indexed_path}")
        keys = fill(indexed, args.messages)
        indexed.close()
        shutil.copyfile(indexed_path, bare_path)
        bare = Store(f"sqlite:///{bare_path}")
        with bare.engine.begin() as connection:
            for index in INDEXES:
                connection.execute(text(f"DROP INDEX {index}"))
        indexed = Store(f"sqlite:///{indexed_path}")
        cases = [
            ("order number with a leading zero", keys["number"], search.Filters()),
            ("Odoo record name", keys["record"], search.Filters()),
            ("interchange control number (UNB)", keys["control"], search.Filters()),
            ("file name", keys["file"], search.Filters()),
            ("sha256 prefix", keys["sha"], search.Filters()),
            ("number + partner, state, dates", keys["number"], search.Filters(
                partner=keys["partner"], state="delivered", since=datetime(2026, 1, 1), until=datetime(2027, 1, 1))),
            ("everything: newest page + total", "", search.Filters()),
        ]
        print(f"{args.messages} messages in {args.messages // 2} files, SQLite; median of 7, wall ms")
        print(f"{'query':<36} {'found':>6} {'indexed':>9} {'no 0005 indexes':>16} {'ratio':>7}")
        for label, query, filters in cases:
            fast, found = timed(indexed, query, filters)
            slow, again = timed(bare, query, filters)
            assert found == again and found > 0, (label, found, again)
            print(f"{label:<36} {found:>6} {fast:>9.1f} {slow:>16.1f} {slow / fast:>6.1f}x")
        indexed.close()
        bare.close()


if __name__ == "__main__":
    main()
