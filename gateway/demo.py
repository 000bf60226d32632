"""`edigw demo`: the whole inbound flow on one machine, with nothing to set up.

It starts the Odoo sandbox seeded from `samples/odoo-seed.yaml`, drops the shipped sample
files into the partners' inboxes under the state directory (as the partners would), runs the
gateway once with the sandbox as its Odoo, and prints the sale orders the gateway made. The
store and archive stay in the state directory, so `edigw messages list` shows the run after.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from gateway.app import App, setup_logging
from gateway.config import OdooSettings, Settings
from gateway.shipped import SAMPLES
PASSWORD_VARIABLE = "EDIGW_DEMO_ODOO_PASSWORD"


def drop_samples(settings: Settings) -> list[Path]:
    """Copy every sample file into its partner's inbox, dated a minute ago so it counts as settled."""
    dropped = []
    minute_ago = time.time() - 60
    for folder in sorted((SAMPLES / "inbox").iterdir()):
        inbox = settings.state_dir / "inbox" / folder.name
        inbox.mkdir(parents=True, exist_ok=True)
        for sample in sorted(folder.iterdir()):
            target = inbox / sample.name
            shutil.copyfile(sample, target)
            os.utime(target, (minute_ago, minute_ago))
            dropped.append(target)
    return dropped


def sale_orders(client: Any) -> list[dict[str, Any]]:
    return client.search_read("sale.order", [], ["name", "partner_id", "client_order_ref", "order_line",
                                                 "amount_total", "currency_id", "state"], order="id")


def run_demo(settings: Settings, out: TextIO) -> int:
    from gateway import daemon
    from gateway.odoo.client import OdooClient
    from gateway.odoo.sandbox import start

    with start(data=SAMPLES / "odoo-seed.yaml") as sandbox:
        os.environ[PASSWORD_VARIABLE] = "admin"
        odoo = OdooSettings(url=sandbox.url, db="edi", user="admin", password_env=PASSWORD_VARIABLE)
        settings = replace(settings, odoo=odoo)
        setup_logging(settings)
        dropped = drop_samples(settings)
        print(f"Odoo sandbox on {sandbox.url}, seeded from samples/odoo-seed.yaml", file=out)
        print(f"{len(dropped)} sample files dropped into {settings.state_dir / 'inbox'}", file=out)
        app = App(settings)
        try:
            daemon.run_once(app)
        finally:
            app.close()
        orders = sale_orders(OdooClient(odoo))
        print(f"\nSale orders in Odoo ({len(orders)}):", file=out)
        print(f"  {'NUMBER':<8} {'CUSTOMER':<20} {'THEIR REF':<10} {'LINES':>5} {'TOTAL':>10}  STATE", file=out)
        for order in orders:
            print(f"  {order['name']:<8} {order['partner_id'][1]:<20.20} {order['client_order_ref'] or '':<10} "
                  f"{len(order['order_line']):>5} {order['amount_total']:>10.2f} {order['currency_id'][1]}"
                  f"  {order['state']}", file=out)
    sent = sorted(path for path in (settings.state_dir / "outbox").rglob("*") if path.is_file())
    print(f"\nAcknowledgments sent to the partners' outboxes ({len(sent)}):", file=out)
    for path in sent:
        print(f"  {path.relative_to(settings.state_dir)}", file=out)
    print("\nThe sandbox has stopped; the store keeps the run: edigw messages list, edigw messages show ID",
          file=out)
    return 0 if orders else 1
