"""Delivery of customer orders into Odoo against a bare `create` of the same sale orders (issue 14, goal 8).

Starts the Odoo sandbox on a free port with a customer and 100 products, warms a deliverer up,
then, in alternating rounds, delivers batches of 10-line orders the way the pipeline does
(`OdooDeliverer.prepare` for the batch, then `deliver` for each) and creates the same sale
orders with nothing but `create` (the values the deliverer planned, over the same kind of
client: the deliverer's own). It prints RPC calls per order for both and the ratio of their CPU
times (client and in-process sandbox) and wall times, measured in the same run. Goals: at most 2 calls per order warm, and at most 1.2 x the bare create.

    python benchmarks/delivery_calls.py [--orders 200] [--lines 10] [--batch 50] [--confirm]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger

from gateway.config import OdooSettings
from gateway.odoo.client import OdooClient
from gateway.odoo.inbound import SALE_ORDER, OdooDeliverer
from gateway.odoo.sandbox import start
from odoo_delivery import PASSWORD_ENV, seeded  # this folder's: the same bench customer and products

PRODUCTS = 100


def order(number: str, lines: int, first: int) -> dict:
    return {"document_number": number, "requested_delivery_date": "2026-12-01", "currency": "USD", "lines": [
        {"line_number": str(n + 1), "gtin": f"2900000{(first + n) % PRODUCTS:06d}", "quantity": "3", "uom": "Units",
         "unit_price": "2.50"} for n in range(lines)]}


def deliver(deliverer: OdooDeliverer, profile, batch: list[dict], totals: dict) -> None:
    calls, started, cpu = deliverer.client.calls, time.perf_counter(), time.process_time()
    deliverer.prepare([(profile, "Order", o) for o in batch])
    for o in batch:
        result = deliverer.deliver(profile, "Order", o)
        assert result.state == "delivered" and result.record["created"], result
    totals["seconds"] += time.perf_counter() - started
    totals["cpu"] += time.process_time() - cpu
    totals["calls"] += deliverer.client.calls - calls
    totals["orders"] += len(batch)


def create(client: OdooClient, planned: list[dict], confirm: bool, totals: dict) -> None:
    calls, started, cpu = client.calls, time.perf_counter(), time.process_time()
    for values in planned:
        made = client.create(SALE_ORDER, values)
        if confirm:
            client.call(SALE_ORDER, "action_confirm", [[made]])
    totals["seconds"] += time.perf_counter() - started
    totals["cpu"] += time.process_time() - cpu
    totals["calls"] += client.calls - calls
    totals["orders"] += len(planned)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per side (default 200)")
    parser.add_argument("--lines", type=int, default=10, help="lines per order (default 10)")
    parser.add_argument("--batch", type=int, default=50, help="orders per batch look-up (default 50)")
    parser.add_argument("--confirm", action="store_true", help="confirm each order (both sides)")
    args = parser.parse_args()
    logger.remove()  # one INFO line per order would be timed too
    os.environ[PASSWORD_ENV] = "admin"
    with tempfile.TemporaryDirectory() as folder, start() as sandbox:
        profile = seeded(sandbox, Path(folder), args.confirm, PRODUCTS)
        settings = OdooSettings(url=sandbox.url, db="edi", user="admin", password_env=PASSWORD_ENV)
        deliverer = OdooDeliverer(settings)
        bare = deliverer.client  # the same connection: only what is sent differs
        for n in range(0, PRODUCTS, args.lines):  # warm: connection, fields, customer, units, every product
            assert deliverer.deliver(profile, "Order", order(f"WARM-{n}", args.lines, n)).state == "delivered"
        ours = {"seconds": 0.0, "cpu": 0.0, "calls": 0, "orders": 0}
        theirs = {"seconds": 0.0, "cpu": 0.0, "calls": 0, "orders": 0}
        rounds = max(1, args.orders // args.batch)
        for round_ in range(rounds):
            batch = [order(f"D{round_}-{n}", args.lines, n) for n in range(args.batch)]
            # the bare side creates exactly what the deliverer would, planned beforehand (untimed)
            planned = [deliverer.plan(profile, {**o, "document_number": f"C{round_}-{i}"}).values
                       for i, o in enumerate(batch)]
            sides = [lambda: deliver(deliverer, profile, batch, ours), lambda: create(bare, planned, args.confirm, theirs)]
            for side in sides if round_ % 2 == 0 else reversed(sides):  # each goes first every other round
                side()
        print(f"Odoo sandbox at {sandbox.url}: {ours['orders']} orders of {args.lines} lines per side, "
              f"batches of {args.batch}, confirm={args.confirm}")
        print(f"{'run':<36} {'wall s':>7} {'CPU s':>7} {'orders/s':>9} {'RPC/order':>10}")
        for name, side in (("edigw deliver (prepare + deliver)", ours), ("bare create" + (" + confirm" if args.confirm
                                                                                             else ""), theirs)):
            print(f"{name:<36} {side['seconds']:>7.2f} {side['cpu']:>7.2f} {side['orders'] / side['seconds']:>9.1f} "
                  f"{side['calls'] / side['orders']:>10.2f}")
        # The sandbox serves from a thread of this process: CPU time covers client and server, and is what a
        # shared machine disturbs least; wall time is printed too.
        print(f"ratio edigw / bare create: CPU {ours['cpu'] / theirs['cpu']:.2f}, "
              f"wall {ours['seconds'] / theirs['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
