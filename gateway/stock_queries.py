"""Suppliers' availability: what their latest stock reports (846 / INVRPT) say, from the store.

A supplier's report is delivered without writing to Odoo (`gateway.odoo.stock_reports`); the
products it names are matched there and kept on the message's result. The newest delivered
report of each supplier is its availability: `edigw stock availability` lists it, filters it by
partner and product, and writes it as JSON or CSV for a buyer's spreadsheet or planning tool.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select

from gateway.store.db import Store
from gateway.store.models import Message

COLUMNS = ("partner", "report", "report_date", "product", "their_item", "quantity", "quantity_type", "uom",
           "on_order", "available_date", "message_id")


def availability(store: Store, partner: str | None = None, product: str | None = None) -> list[dict[str, Any]]:
    """One row per product of each supplier's newest delivered stock report (of a partner, of a product code)."""
    query = select(Message.id, Message.partner, Message.document, Message.result).where(
        Message.direction == "in", Message.document_type == "InventoryReport",
        Message.state.in_(("delivered", "acknowledged"))).order_by(Message.id.desc())
    if partner:
        query = query.where(Message.partner == partner)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    with store.session() as session:
        for message_id, sender, document, result in session.execute(query):
            record = json.loads(result or "null") or {}
            if sender in seen or record.get("model") != "res.partner":
                continue  # an older report of a supplier already listed, or a 3PL's count
            seen.add(sender)
            report = json.loads(document or "{}")
            for entry in record.get("availability") or []:
                if product and product not in (entry.get("product"), entry.get("their_item")):
                    continue
                rows.append({"partner": sender, "report": report.get("document_number"),
                             "report_date": report.get("report_date") or report.get("document_date"),
                             **{key: entry.get(key) for key in COLUMNS[3:-1]}, "message_id": message_id})
    return sorted(rows, key=lambda row: (row["partner"], str(row["product"])))


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if row.get(key) is None else row[key]) for key in COLUMNS} for row in rows)
    return out.getvalue()
