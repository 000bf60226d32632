"""Outbound documents: RPC calls to read an invoice from Odoo, and invoices rendered per second.

Posts customer invoices of 1, 10 and 100 lines in the Odoo sandbox (through the calls a person's
Odoo sees), reads each back with the gateway's reader counting RPC calls (warm client), then
renders it as EDIFACT INVOIC and X12 810 many times, one core, CPU seconds. Prints one table.

    .venv/bin/python benchmarks/outbound_documents.py [--renders 200]
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
from gateway.mapping.outbound import load_outbound_template  # noqa: E402
from gateway.odoo import outbound  # noqa: E402
from gateway.odoo.client import OdooClient  # noqa: E402
from gateway.odoo.sandbox import start  # noqa: E402

TEMPLATES = ROOT / "templates"


def post_invoice(client: OdooClient, customer: int, product: int, lines: int) -> int:
    move = client.call("account.move", "create", [{
        "move_type": "out_invoice", "partner_id": customer, "invoice_origin": f"benchmark {lines}",
        "invoice_line_ids": [[0, 0, {"product_id": product, "quantity": n + 1, "price_unit": 2.5, "tax_ids": [[6, 0, [1]]]}]
                             for n in range(lines)]}], {"context": {"default_move_type": "out_invoice"}})
    client.call("account.move", "action_post", [[move]])
    return move


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    os.environ["EDIGW_BENCH_ODOO_PASSWORD"] = "admin"
    invoic = load_outbound_template(TEMPLATES, "outbound/edifact/INVOIC_D96A")
    x810 = load_outbound_template(TEMPLATES, "outbound/x12/810_004010")
    rows = []
    with start() as sandbox:
        client = OdooClient(OdooSettings(url=sandbox.url, db="edi", user="admin",
                                         password_env="EDIGW_BENCH_ODOO_PASSWORD"))
        customer = client.create("res.partner", {"name": "Benchmark customer", "barcode": "4012345000009",
                                                 "is_company": True})
        product = client.create("product.product", {"name": "Hinge", "default_code": "AX-100",
                                                    "barcode": "5790000012345", "list_price": 2.5})
        [company] = client.read("res.company", [1], ["partner_id"])
        client.call("res.partner", "write", [[company["partner_id"][0]], {"barcode": "5790000000006"}])  # our GLN
        outbound.invoices(client, [post_invoice(client, customer, product, 1)])  # warm up: login, fields
        for lines in (1, 10, 100):
            move = post_invoice(client, customer, product, lines)
            before = client.calls
            [invoice] = outbound.invoices(client, [move])
            calls = client.calls - before
            timings = []
            for template in (invoic, x810):
                started = time.process_time()
                for _ in range(args.renders):
                    template.render(invoice)
                timings.append(args.renders / (time.process_time() - started))
            rows.append((lines, calls, *timings))
    print(f"invoices read from the Odoo sandbox and rendered ({args.renders} renders each, one core, CPU time)")
    print(f"{'lines':>6} {'RPC calls to read':>18} {'INVOIC renders/s':>17} {'810 renders/s':>14}")
    for lines, calls, edifact, x12 in rows:
        print(f"{lines:>6} {calls:>18} {edifact:>17.0f} {x12:>14.0f}")


if __name__ == "__main__":
    main()
