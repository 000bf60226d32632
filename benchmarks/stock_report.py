"""Stock reports: RPC calls and time to read a warehouse's stock of 1,000 and 10,000 products.

Makes the products in the Odoo sandbox (storable, with a barcode) and gives each a quantity in
the warehouse through an inventory count, then reads them as the stock report job does
(`gateway.odoo.stock_reports`: the product ids in one search, the free quantities a page at a
time with the warehouse in the context) and renders the X12 846. The reference, in the same run,
is one `read` per product for the first 1,000 (what a reader without pages would do).
Wall seconds (the sandbox answers over HTTP on this machine); prints one table.

    .venv/bin/python benchmarks/stock_report.py [--products 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import OdooSettings  # noqa: E402
from gateway.documents import Party  # noqa: E402
from gateway.mapping.outbound import load_outbound_template  # noqa: E402
from gateway.odoo.client import OdooClient  # noqa: E402
from gateway.odoo.sandbox import start  # noqa: E402
from gateway.odoo.stock_reports import product_ids, read_levels, stock_report, warehouses  # noqa: E402
from gateway.profiles import InventorySend  # noqa: E402

TEMPLATES = ROOT / "templates"


def make_products(client: OdooClient, first: int, last: int, location: int) -> None:
    """Products number first … last-1, each with a quantity in the location."""
    values = client.storable_product_values()
    for start_at in range(first, last, 2000):  # a few create calls of many products each
        batch = range(start_at, min(last, start_at + 2000))
        ids = client.call("product.product", "create", [[{
            "name": f"Bench item {n}", "default_code": f"B-{n:05d}", "barcode": f"2{n:012d}", **values}
            for n in batch]])
        quants = client.call("stock.quant", "create", [[{"product_id": product, "location_id": location,
                                                         "inventory_quantity": float(n % 97)}
                                                        for product, n in zip(ids, batch)]],
                             {"context": {"inventory_mode": True}})
        client.call("stock.quant", "action_apply_inventory", [quants])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10000)
    args = parser.parse_args()
    os.environ["EDIGW_BENCH_ODOO_PASSWORD"] = "admin"
    x846 = load_outbound_template(TEMPLATES, "outbound/x12/846_004010")
    options = InventorySend(warehouses=("WH",), quantity="free", products="all", mode="full")
    rows = []
    with start() as sandbox:
        client = OdooClient(OdooSettings(url=sandbox.url, db="edi", user="admin",
                                         password_env="EDIGW_BENCH_ODOO_PASSWORD"))
        [warehouse] = warehouses(client, ["WH"])
        made = 0
        for size in sorted({min(1000, args.products), args.products}):
            make_products(client, made, size, warehouse["lot_stock_id"][0])
            made = size
            client.fields("product.template")  # warm: the login and the fields the reader asks about
            before, started = client.calls, time.perf_counter()
            ids = product_ids(client, 0, "all")
            levels = read_levels(client, ids, [warehouse["id"]], options.quantity)
            read_seconds, calls = time.perf_counter() - started, client.calls - before
            started = time.perf_counter()
            document = stock_report(levels.values(), options, number_="ST1", when="2026-12-05T07:00",
                                    warehouse_rows=[warehouse], buyer=Party(id="BUYER", name="Buyer"), supplier=None)
            segments = x846.render(document)
            render_seconds = time.perf_counter() - started
            rows.append((f"paged reader, {len(levels)} products", calls, read_seconds, render_seconds, len(segments)))
            if size == min(1000, args.products):
                before, started = client.calls, time.perf_counter()
                for product in ids[:1000]:
                    client.call("product.product", "read", [[product]], {
                        "fields": ["default_code", "barcode", "name", "uom_id", "free_qty"],
                        "context": {"warehouse_id": warehouse["id"]}})
                rows.append((f"reference: a read per product, {min(1000, len(ids))}", client.calls - before,
                             time.perf_counter() - started, None, None))
    print("stock report of one warehouse (free quantity), Odoo sandbox over HTTP, wall seconds")
    print(f"{'run':<42} {'RPC calls':>9} {'read s':>8} {'render s':>9} {'segments':>9}")
    for name, calls, read_s, render_s, segments in rows:
        print(f"{name:<42} {calls:>9} {read_s:>8.2f} {render_s if render_s is not None else '':>9.4} "
              f"{segments if segments is not None else '':>9}")
    paged = {row[0]: row for row in rows}
    reference = next(row for row in rows if row[0].startswith("reference"))
    small = next(row for name, row in paged.items() if name.startswith("paged") and "1000 " in name + " ")
    print(f"calls, paged / reference at 1,000 products: {small[1]} / {reference[1]} = {small[1] / reference[1]:.3f}; "
          f"read time {small[2] / reference[2]:.2f} of the reference's")


if __name__ == "__main__":
    main()
