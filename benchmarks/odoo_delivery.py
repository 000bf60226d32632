"""How fast customer orders go into Odoo, and how many RPC calls each costs, by order size.

Starts the Odoo sandbox on a free port, creates 1,000 products, warms the deliverer up with
one order of each size, then delivers orders of 1, 10, 100 and 1,000 lines through
`OdooDeliverer` (odoorpc over real HTTP) and prints orders per second and calls per order.

    python benchmarks/odoo_delivery.py [--orders 20] [--confirm]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from gateway.config import OdooSettings
from gateway.odoo.inbound import OdooDeliverer
from gateway.odoo.sandbox import start
from gateway.profiles import load_profile

SIZES = (1, 10, 100, 1000)
PASSWORD_ENV = "EDIGW_BENCH_ODOO_PASSWORD"


def order(number: str, lines: int) -> dict:
    return {"document_number": number, "requested_delivery_date": "2026-12-01", "lines": [
        {"line_number": str(n + 1), "gtin": f"2900000{n:06d}", "quantity": "3", "uom": "Units", "unit_price": "2.50"}
        for n in range(lines)]}


def seeded(sandbox, folder: Path, confirm: bool, products: int):
    """The bench customer and `products` products (barcodes 2900000nnnnnn) in a started sandbox; the
    customer's profile, confirming its orders or not."""
    profile_file = folder / "bench.yaml"
    profile_file.write_text("name: Bench\nodoo_partner: {ref: BENCH}\n"
                            f"delivery: {{confirm: {'true' if confirm else 'false'}}}\n")
    sandbox.sandbox.execute_kw("res.partner", "create", [{"name": "Bench Customer", "ref": "BENCH",
                                                          "is_company": True}])
    sandbox.sandbox.execute_kw("product.product", "create", [[
        {"name": f"Bench {n}", "default_code": f"B-{n}", "barcode": f"2900000{n:06d}", "list_price": 2.5}
        for n in range(products)]])
    return load_profile(profile_file, folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20, help="orders per size (fewer for the big ones)")
    parser.add_argument("--confirm", action="store_true", help="confirm each order (action_confirm)")
    args = parser.parse_args()
    os.environ[PASSWORD_ENV] = "admin"
    with tempfile.TemporaryDirectory() as folder, start() as sandbox:
        profile = seeded(sandbox, Path(folder), args.confirm, max(SIZES))
        deliverer = OdooDeliverer(OdooSettings(url=sandbox.url, db="edi", user="admin", password_env=PASSWORD_ENV))
        print(f"Odoo sandbox at {sandbox.url}; confirm={args.confirm}")
        print(f"{'lines':>6} {'orders':>6} {'seconds':>8} {'orders/s':>9} {'lines/s':>9} {'RPC/order':>9}")
        for size in SIZES:
            deliverer.deliver(profile, "Order", order(f"WARM-{size}", size))  # connection, fields, units, products
            count = max(2, args.orders if size <= 10 else args.orders // (size // 10))
            calls = deliverer.client.calls
            started = time.perf_counter()
            for n in range(count):
                result = deliverer.deliver(profile, "Order", order(f"B{size}-{n}", size))
                assert result.state == "delivered" and result.record["created"], result
            elapsed = time.perf_counter() - started
            per_order = (deliverer.client.calls - calls) / count
            print(f"{size:>6} {count:>6} {elapsed:>8.2f} {count / elapsed:>9.1f} {count * size / elapsed:>9.0f} "
                  f"{per_order:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
