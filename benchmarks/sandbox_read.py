"""How long the Odoo sandbox takes to start and to ``read`` records without a field list, in process.

odoorpc's ``browse`` reads every field a model has, and since the sandbox's models carry every field
Odoo 18 recorded (``fields/``), such a read touches 100-200 fields per record; every test also starts a
new sandbox.  Both are timed here against a reference from the same run: a start against reading the
files it starts from (the YAML models and seed, the recorded JSON), and a read of all fields against a
read of five.  Run: ``python benchmarks/sandbox_read.py [--orders 40] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import yaml

from gateway.odoo.sandbox import Sandbox
from gateway.odoo.sandbox.orm import MODELS_DIR, RECORDED_FIELDS
from gateway.odoo.sandbox.server import SEED_FILE

MODELS = ("res.partner", "product.product", "sale.order", "sale.order.line", "stock.picking", "stock.move")
FEW = {"res.partner": ["name", "ref", "barcode", "parent_id", "type"],
       "product.product": ["name", "default_code", "barcode", "uom_id", "list_price"],
       "sale.order": ["name", "state", "partner_id", "amount_total", "order_line"],
       "sale.order.line": ["product_id", "product_uom_qty", "price_unit", "qty_delivered", "order_id"],
       "stock.picking": ["name", "state", "origin", "partner_id", "move_ids"],
       "stock.move": ["product_id", "product_uom_qty", "quantity", "state", "picking_id"]}


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def read_the_files() -> None:
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        yaml.safe_load(path.read_text())
    yaml.safe_load(SEED_FILE.read_text())
    for path in sorted(RECORDED_FIELDS.glob("*.json")):
        json.loads(path.read_text())


def filled(orders: int) -> Sandbox:
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [{"name": "Bench Customer", "is_company": True}])
    products = sandbox.execute_kw("product.product", "create", [[
        {"name": f"Bench product {n}", "default_code": f"B-{n:04d}", "type": "consu", "list_price": 1.0 + n}
        for n in range(10)]])
    for n in range(orders):
        order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
            [0, 0, {"product_id": products[(n + k) % 10], "product_uom_qty": 1 + k}] for k in range(5)]}])
        sandbox.execute_kw("sale.order", "action_confirm", [[order]])
    return sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=40, help="confirmed orders of 5 lines in the database")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    Sandbox()  # the first start of a process may fill caches; tests start many
    files = median_seconds(read_the_files, args.repeat)
    start = median_seconds(Sandbox, args.repeat)
    print(f"start: Sandbox() {start * 1000:.0f} ms, reading its files (reference) {files * 1000:.0f} ms, "
          f"ratio {start / files:.2f}")

    sandbox = filled(args.orders)
    print(f"{'model':<16} {'records':>7} {'fields':>6} {'all ms':>8} {'five ms':>8} {'ratio':>6}")
    for model in MODELS:
        ids = sandbox.execute_kw(model, "search", [[]], {"limit": 100})
        fields = len(sandbox.execute_kw(model, "fields_get", [], {"attributes": ["type"]}))
        every = median_seconds(lambda: sandbox.execute_kw(model, "read", [ids]), args.repeat)
        five = median_seconds(lambda: sandbox.execute_kw(model, "read", [ids, FEW[model]]), args.repeat)
        print(f"{model:<16} {len(ids):>7} {fields:>6} {every * 1000:>8.1f} {five * 1000:>8.1f} {every / five:>6.1f}")


if __name__ == "__main__":
    main()
