"""Catalogs: RPC calls and time to read a customer's catalog from Odoo and to apply a supplier's.

In the Odoo sandbox (in process, over real HTTP), for catalogs of 100, 1,000 and 5,000 products:
- out: `customer_catalog` reads the products priced by a customer's pricelist (one fixed-price
  rule per product) and the catalog is written as a PRICAT;
- in: `Catalogs.deliver` applies a supplier's catalog of as many items (half of them ours, each
  with a vendor price that moves by 2%; the other half unknown) with `catalogs.apply: prices`:
  the prices that move the same way are written in one call (a catalog of prices that all differ
  costs one `write` per changed line; new vendor prices are one `create`).
The reference, measured in the same run, is one `search_read` of the same products with the same
fields: the least any reader of those products costs. The table gives RPC calls (they must not grow
with the products) and seconds, and the ratio of each to the reference.

    .venv/bin/python benchmarks/catalogs.py
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import OdooSettings  # noqa: E402
from gateway.mapping.outbound import load_outbound_template  # noqa: E402
from gateway.odoo.catalogs import PRODUCT_FIELDS, Catalogs, customer_catalog  # noqa: E402
from gateway.odoo.client import OdooClient  # noqa: E402
from gateway.odoo.sandbox import start  # noqa: E402
from gateway.profiles import load_profile  # noqa: E402

SIZES = (100, 1000, 5000)
PROFILE = """\
name: Benchmark supplier
odoo_partner: {ref: BENCH-VENDOR-%d}
catalogs: {apply: prices, price_tolerance: 5}
"""


def timed(client: OdooClient, work) -> tuple[int, float]:
    calls, started = client.calls, time.perf_counter()
    work()
    return client.calls - calls, time.perf_counter() - started


def main() -> None:
    os.environ["EDIGW_BENCH_ODOO_PASSWORD"] = "admin"
    template = load_outbound_template(ROOT / "templates", "outbound/edifact/PRICAT_D96A")
    with tempfile.TemporaryDirectory() as folder, start() as sandbox:
        client = OdooClient(OdooSettings(url=sandbox.url, db="edi", user="admin",
                                         password_env="EDIGW_BENCH_ODOO_PASSWORD"))
        [usd] = client.search_read("res.currency", [("name", "=", "USD")], ["id"])
        print("products  reference: calls  s   | out: calls      s  ratio | in: calls      s  ratio")
        for size in SIZES:
            products = client.create("product.product", [
                {"name": f"Item {size}-{n}", "default_code": f"B{size}-{n}", "list_price": 10.0} for n in range(size)])
            templates = [row["product_tmpl_id"][0] for row in client.read("product.product", products,
                                                                           ["product_tmpl_id"])]
            pricelist = client.create("product.pricelist", {"name": f"Bench {size}", "currency_id": usd["id"],
                                                            "item_ids": [[0, 0, {
                                                                "applied_on": "1_product", "product_tmpl_id": t,
                                                                "compute_price": "fixed", "fixed_price": 9.5}]
                                                                for t in templates]})
            customer = client.create("res.partner", {"name": f"Bench customer {size}", "is_company": True,
                                                     "property_product_pricelist": pricelist})
            vendor = client.create("res.partner", {"name": f"Bench vendor {size}", "ref": f"BENCH-VENDOR-{size}",
                                                   "is_company": True})
            carried = size // 2
            client.create("product.supplierinfo", [{"partner_id": vendor, "product_tmpl_id": t, "price": 5.0,
                                                    "product_code": f"V{size}-{n}", "product_name": f"Their item {n}"}
                                                   for n, t in enumerate(templates[:carried])])
            document = {"document_number": f"BENCH-{size}", "lines": [
                {"line_number": str(n + 1), "supplier_item": f"V{size}-{n}", "unit_price": "5.10",
                 "description": f"Their item {n}"} for n in range(size)]}
            path = Path(folder) / f"bench-{size}.yaml"
            path.write_text(PROFILE % size, encoding="utf-8")
            profile = load_profile(path, Path(folder))

            ref_calls, ref_seconds = timed(client, lambda: client.search_read(
                "product.product", [("id", "in", products)], PRODUCT_FIELDS))
            out_calls, out_seconds = timed(client, lambda: template.render(dataclasses.replace(
                customer_catalog(client, customer)[0], document_number=f"BENCH-{size}")))
            in_calls, in_seconds = timed(client, lambda: Catalogs(client).deliver(profile, "Catalog", document))
            print(f"{size:>8}  {ref_calls:>15}  {ref_seconds:5.2f} | {out_calls:>9} {out_seconds:6.2f} "
                  f"{out_seconds / ref_seconds:6.1f} | {in_calls:>8} {in_seconds:6.2f} {in_seconds / ref_seconds:6.1f}")


if __name__ == "__main__":
    main()
