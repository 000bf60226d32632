"""How long the Odoo sandbox takes to create and confirm one sale order of N lines (in process, no HTTP).

Measures the ORM and the sale workflow alone, so that a slow delivery benchmark can be told
apart from a slow sandbox.  ``--previous N`` first confirms N orders of as many lines, to show whether
the cost grows with the database.  Run: ``python benchmarks/sandbox_orders.py [--lines 1 10 100 1000]
[--previous 5]``.
"""

from __future__ import annotations

import argparse
import time

from gateway.odoo.sandbox import Sandbox


def measure(lines: int, products: int = 50, previous: int = 0) -> tuple[float, float]:
    """Seconds for ``create`` and for ``action_confirm`` of one order of ``lines`` lines."""
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [{"name": "Bench Customer", "is_company": True}])
    product_ids = sandbox.execute_kw("product.product", "create", [[
        {"name": f"Bench product {n}", "default_code": f"B-{n:04d}", "type": "consu", "is_storable": True,
         "list_price": 1.0 + n} for n in range(products)]])
    order_lines = [[0, 0, {"product_id": product_ids[n % products], "product_uom_qty": 1 + n % 7,
                           "price_unit": 2.5}] for n in range(lines)]
    for _ in range(previous):
        earlier = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": order_lines}])
        sandbox.execute_kw("sale.order", "action_confirm", [[earlier]])
    started = time.perf_counter()
    order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": order_lines}])
    created = time.perf_counter()
    sandbox.execute_kw("sale.order", "action_confirm", [[order]])
    confirmed = time.perf_counter()
    return created - started, confirmed - created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--previous", type=int, default=0, help="orders confirmed before the measured one")
    args = parser.parse_args()
    print(f"{'lines':>6} {'create s':>9} {'confirm s':>10} {'total s':>8}")
    for lines in args.lines:
        create, confirm = measure(lines, previous=args.previous)
        print(f"{lines:>6} {create:>9.3f} {confirm:>10.3f} {create + confirm:>8.3f}")


if __name__ == "__main__":
    main()
