"""Procure-to-pay: RPC calls and time to reconcile a supplier's response, ship notice and invoice.

In the Odoo sandbox, for purchase orders of 1, 10 and 100 lines: the supplier's order response
(every line confirmed, one line short, so the chatter gets a difference), a ship notice of all
lines in packages with lots (the receipt is then validated, as the warehouse would), and an
invoice that matches. Each is reconciled by the gateway's `Purchasing.deliver` (warm client);
the table gives the RPC calls and the wall time of each.

    .venv/bin/python benchmarks/procurement.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import OdooSettings  # noqa: E402
from gateway.odoo.client import OdooClient  # noqa: E402
from gateway.odoo.purchasing import Purchasing  # noqa: E402
from gateway.odoo.sandbox import start  # noqa: E402
from gateway.profiles import load_profile  # noqa: E402

PROFILE = """\
name: Benchmark supplier
odoo_partner: {ref: BENCH-SUPPLIER}
purchasing: {bills: {post: true}}
"""


def purchase_order(client: OdooClient, vendor: int, products: list[int], lines: int) -> dict:
    order = client.create("purchase.order", {"partner_id": vendor, "order_line": [
        [0, 0, {"product_id": products[n], "product_qty": 10 + n, "price_unit": 2.5,
                "date_planned": "2026-12-01 12:00:00"}] for n in range(lines)]})
    client.call("purchase.order", "button_confirm", [[order]])
    [row] = client.read("purchase.order", [order], ["name", "picking_ids"])
    return row


def documents(order: dict, lines: int, barcodes: list[str]) -> tuple[dict, dict, dict]:
    number = order["name"]
    response = {"document_number": f"SO-{number}", "order_number": number, "status": "changed", "lines": [
        {"line_number": str(n + 1), "gtin": barcodes[n], "quantity": str(10 + n),
         "confirmed_quantity": str(10 + n - (1 if n == 0 else 0)), "unit_price": "2.5",
         "delivery_date": "2026-12-01", "status": "changed" if n == 0 else "accepted"} for n in range(lines)]}
    notice = {"document_number": f"ASN-{number}", "order_number": number, "packages": [
        {"sscc": f"0037612345{number[-5:]}{n:03d}", "lines": [
            {"line_number": str(n + 1), "gtin": barcodes[n], "quantity": str(10 + n), "lot": f"L{n}"}]}
        for n in range(lines)]}
    invoice = {"document_number": f"INV-{number}", "document_date": "2026-11-26", "order_number": number,
               "lines": [{"line_number": str(n + 1), "gtin": barcodes[n], "quantity": str(10 + n),
                          "unit_price": "2.5"} for n in range(lines)]}
    return response, notice, invoice


def main() -> None:
    os.environ["EDIGW_BENCH_ODOO_PASSWORD"] = "admin"
    with tempfile.TemporaryDirectory() as folder, start() as sandbox:
        path = Path(folder) / "bench-supplier.yaml"
        path.write_text(PROFILE, encoding="utf-8")
        profile = load_profile(path, Path(folder))
        client = OdooClient(OdooSettings(url=sandbox.url, db="edi", user="admin",
                                         password_env="EDIGW_BENCH_ODOO_PASSWORD"))
        vendor = client.create("res.partner", {"name": "Benchmark supplier", "ref": "BENCH-SUPPLIER",
                                               "is_company": True, "supplier_rank": 1})
        barcodes = [f"20{n:010d}" for n in range(100)]
        products = client.create("product.product", [{"name": f"Part {n}", "default_code": f"BP-{n}",
                                                       "barcode": code} for n, code in enumerate(barcodes)])
        purchasing = Purchasing(client)
        warm = purchase_order(client, vendor, products, 1)
        purchasing.deliver(profile, "OrderResponse", documents(warm, 1, barcodes)[0])  # login, fields_get
        print("lines  response: calls  seconds   notice: calls  seconds   invoice: calls  seconds")
        for lines in (1, 10, 100):
            order = purchase_order(client, vendor, products, lines)
            row = [f"{lines:>5}"]
            for kind, document in zip(("OrderResponse", "DespatchAdvice", "Invoice"),
                                      documents(order, lines, barcodes)):
                if kind == "Invoice":  # the warehouse receives what the notice announced
                    [receipt] = client.call("stock.picking", "search", [[("id", "in", order["picking_ids"]),
                                                                         ("state", "!=", "done")]])
                    client.call("stock.picking", "button_validate", [[receipt]])
                before, started = client.calls, time.perf_counter()
                result = purchasing.deliver(profile, kind, document)
                elapsed = time.perf_counter() - started
                assert result.state == "delivered", result
                row.append(f"{client.calls - before:>15} {elapsed:>8.3f}")
            print("  ".join(row))


if __name__ == "__main__":
    main()
