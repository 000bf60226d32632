"""Demand into Odoo: retailers' sell-through read against our products, and a forecast's recommendations
turned into draft purchasing.

- `SalesReport` (852 / SLSRPT) writes nothing: each line's product is looked up (barcode, our
  code, or the retailer's item through `delivery.item_xref`) so the demand-signal feed
  (`gateway.signals`) names our product reference. Items Odoo does not know are listed on the
  message, never a reason to hold the report.
- `Replenishment` (the forecasting tool's CSV) follows the profile's `replenishment.apply`:
  `rfq` makes draft requests for quotation, one per supplier and warehouse, the supplier being
  the line's own or the product's first vendor (`product.supplierinfo`, in Odoo's order);
  `orderpoints` sets the min/max of the product's reordering rule in the warehouse (a new rule
  is made `manual`, so Odoo orders nothing by itself). The gateway confirms nothing: a person
  approves in Odoo.

Every RFQ line names the file and line it came from (its description ends with "<file> line
<n>", the RFQ's `origin` is the file), which is also how a reprocess recognises what it made
before: only the lines missing are added. A line whose product, warehouse or supplier is not
found is held with its reason while the others go on; the message stays held until a person
fixes the cause and reprocesses it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.writing import barcode_forms, held_for, odoo_datetime
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import Profile
from gateway.signals import item_key

PURCHASE_ORDER = "purchase.order"
ORDERPOINT = "stock.warehouse.orderpoint"
PRODUCT_FIELDS = ["id", "display_name", "barcode", "default_code", "product_tmpl_id", "uom_po_id"]
WAREHOUSE_FIELDS = ["id", "code", "name", "lot_stock_id", "in_type_id"]


class SalesReports:
    """A retailer's sales report: its products looked up, nothing written."""

    TYPES = ("SalesReport",)

    def __init__(self, deliverer: Any) -> None:
        self.deliverer = deliverer  # the OdooDeliverer: its cached product look-ups are the orders'

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> DeliveryResult:
        try:
            known, unknown = self.products(profile, document.get("lines") or [])
        except OdooError as error:
            return held_for(error, f"Odoo refused a product look-up: {error.kind}: {error.message}")
        record = {"model": "product.product", "name": None, "products": known, "unknown": unknown}
        reason = None
        if unknown:
            reason = (f"{len(unknown)} of {len(known) + len(unknown)} items are not products in Odoo "
                      f"(kept in the demand signals without our reference): {', '.join(unknown[:5])}"
                      + (" …" if len(unknown) > 5 else ""))
        return DeliveryResult("delivered", reason, record)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any]) -> dict[str, Any]:
        known, unknown = self.products(profile, document.get("lines") or [])
        said = [f"kept as demand signals, nothing written to Odoo; {len(known)} of {len(known) + len(unknown)} items "
                "are our products"]
        said += [f"{key} is our {ref}" for key, ref in known.items()] + [f"not a product in Odoo: {key}" for key in unknown]
        return {"model": None, "action": "record", "values": {"products": known}, "lines": [],
                "problems": [], "notes": [f"not a product in Odoo: {key}" for key in unknown], "said": said}

    def products(self, profile: Profile, lines: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
        """Our reference (default_code, else the product's name) per item key, and the keys Odoo lacks."""
        from gateway.odoo.inbound import Plan

        found = self.deliverer._products(profile.delivery, lines)
        known: dict[str, str] = {}
        unknown: list[str] = []
        for line in lines:
            key = item_key(line)
            if key is None or key in known or key in unknown:
                continue
            product = self.deliverer._product_for(profile.delivery, line, found, key, Plan(number=None))
            if product is None:
                unknown.append(key)
            else:
                known[key] = product.get("default_code") or product["display_name"]
        return known, unknown


@dataclass
class Planned:
    """What one recommendation line comes to: the Odoo ids it needs, or why it is held."""

    line: str
    values: dict[str, Any]
    product: dict[str, Any] | None = None
    warehouse: dict[str, Any] | None = None
    supplier: int | None = None
    supplier_name: str | None = None
    held: list[str] = field(default_factory=list)


class Replenishments:
    """A forecasting tool's recommendations: draft RFQs or reordering rules (see the module docstring)."""

    TYPES = ("Replenishment",)

    def __init__(self, client: OdooClient) -> None:
        self.client = client

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = (), source: dict[str, Any] | None = None) -> DeliveryResult:
        origin = _origin(source)
        try:
            planned = self.plan(profile, document)
            if profile.replenishment.apply == "orderpoints":
                record = self._orderpoints(planned)
            else:
                record = self._rfqs(planned, origin)
        except OdooError as error:
            return held_for(error, f"Odoo refused the recommendations of {origin}: {error.kind}: {error.message}")
        held = [f"line {p.line}: {'; '.join(p.held)}" for p in planned if p.held]
        record["held"] = held
        if held:
            return DeliveryResult("held", f"{len(held)} of {len(planned)} recommendations held (the others are in "
                                          "Odoo; fix these and reprocess): " + "; ".join(held), record)
        return DeliveryResult("delivered", None, record)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any]) -> dict[str, Any]:
        planned = self.plan(profile, document)
        model = ORDERPOINT if profile.replenishment.apply == "orderpoints" else PURCHASE_ORDER
        problems = [f"line {p.line}: {'; '.join(p.held)}" for p in planned if p.held]
        ready = [p for p in planned if not p.held]
        if model == ORDERPOINT:
            said = [f"would set {len(ready)} reordering rules (min/max)"] + [
                f"line {p.line}: {p.product['display_name']} in {p.warehouse['code']}: min {p.values['min']}, "
                f"max {p.values['max']}" for p in ready]
        else:
            said = [f"would draft RFQs for {len(ready)} recommendations (nothing confirmed)"] + [
                f"line {p.line}: {p.values['quantity']} × {p.product['display_name']} from {p.supplier_name} "
                f"to {p.warehouse['code']}" + (f" by {p.values['date']}" if p.values.get("date") else "") for p in ready]
        said += [f"held: {problem}" for problem in problems]
        return {"model": model, "action": "hold" if problems else "create", "problems": problems, "notes": [],
                "lines": [{"line": p.line, "product": p.product["display_name"], "warehouse": p.warehouse["code"],
                           "supplier": p.supplier_name, **p.values} for p in ready], "values": {}, "said": said}

    # --- planning (reads only) -----------------------------------------------------------

    def plan(self, profile: Profile, document: dict[str, Any]) -> list[Planned]:
        lines = document.get("lines") or []
        products = self._products(lines)
        codes = {str(line.get("warehouse") or profile.replenishment.warehouse or "") for line in lines} - {""}
        warehouses = {row["code"]: row for row in self.client.search_read(
            "stock.warehouse", [("code", "in", sorted(codes))], WAREHOUSE_FIELDS)} if codes else {}
        orderpoints = profile.replenishment.apply == "orderpoints"
        planned = []
        for position, line in enumerate(lines, 1):
            entry = Planned(line=str(line.get("line_number") or position), values={})
            entry.product = self._product_for(line, products, entry)
            code = line.get("warehouse") or profile.replenishment.warehouse
            entry.warehouse = warehouses.get(str(code)) if code else None
            if not code:
                entry.held.append("no warehouse (the line names none and the profile has no replenishment.warehouse)")
            elif entry.warehouse is None:
                entry.held.append(f"no warehouse with the short name {code}")
            if orderpoints:
                self._min_max(line, entry)
            else:
                quantity = _decimal(line.get("quantity"))
                if quantity is None or quantity <= 0:
                    entry.held.append(f"quantity {line.get('quantity')!r} is not a positive number")
                entry.values = {"quantity": line.get("quantity"), "date": line.get("date")}
            planned.append(entry)
        if not orderpoints:
            self._suppliers(lines, planned)
        return planned

    def _products(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        codes = sorted({str(line["product"]) for line in lines if line.get("product")})
        barcodes = sorted({form for line in lines if line.get("gtin") for form in barcode_forms(str(line["gtin"]))})
        terms = ([("default_code", "in", codes)] if codes else []) + ([("barcode", "in", barcodes)] if barcodes else [])
        if not terms:
            return []
        domain = ["|", *terms] if len(terms) == 2 else terms
        return self.client.search_read("product.product", domain, PRODUCT_FIELDS, order="id")

    @staticmethod
    def _product_for(line: dict[str, Any], products: list[dict[str, Any]], entry: Planned) -> dict[str, Any] | None:
        if line.get("product"):
            matches = [p for p in products if p.get("default_code") == str(line["product"])]
            named = f"reference {line['product']}"
        elif line.get("gtin"):
            forms = barcode_forms(str(line["gtin"]))
            matches = [p for p in products if p.get("barcode") in forms]
            named = f"barcode {line['gtin']}"
        else:
            entry.held.append("the line names no product (no product reference, no GTIN)")
            return None
        if len(matches) == 1:
            return matches[0]
        entry.held.append(f"no product with {named}" if not matches else
                          f"{len(matches)} products have the {named} (ids {', '.join(str(m['id']) for m in matches)})")
        return None

    def _suppliers(self, lines: list[dict[str, Any]], planned: list[Planned]) -> None:
        """The line's supplier (by its reference in Odoo), else the product's first vendor that is valid today."""
        refs = sorted({str(line["supplier"]) for line in lines if line.get("supplier")})
        partners = {row["ref"]: row for row in self.client.search_read(
            "res.partner", [("ref", "in", refs)], ["id", "name", "ref"])} if refs else {}
        templates = sorted({_id(p.product["product_tmpl_id"]) for p in planned if p.product})
        infos = self.client.search_read(
            "product.supplierinfo", [("product_tmpl_id", "in", templates)],
            ["partner_id", "product_id", "product_tmpl_id", "sequence", "min_qty", "date_start", "date_end"],
            order="sequence, min_qty desc, price, id") if templates else []
        today = dt.date.today().isoformat()
        for line, entry in zip(lines, planned):
            if entry.product is None:
                continue
            if line.get("supplier"):
                partner = partners.get(str(line["supplier"]))
                if partner is None:
                    entry.held.append(f"no supplier with the reference {line['supplier']}")
                else:
                    entry.supplier, entry.supplier_name = partner["id"], partner["name"]
                continue
            vendors = [i for i in infos if _id(i["product_tmpl_id"]) == _id(entry.product["product_tmpl_id"])
                       and (not i.get("product_id") or _id(i["product_id"]) == entry.product["id"])
                       and (not i.get("date_start") or i["date_start"] <= today)
                       and (not i.get("date_end") or i["date_end"] >= today)]
            if not vendors:
                entry.held.append(f"no supplier for {entry.product['display_name']}: the line names none and the "
                                  "product has no vendor (product.supplierinfo) valid today")
            else:
                entry.supplier, entry.supplier_name = _id(vendors[0]["partner_id"]), vendors[0]["partner_id"][1]

    @staticmethod
    def _min_max(line: dict[str, Any], entry: Planned) -> None:
        """A reordering rule's min (the line's min, else its quantity) and max (its max, else the min)."""
        low = _decimal(line.get("minimum")) if line.get("minimum") is not None else _decimal(line.get("quantity"))
        high = _decimal(line.get("maximum")) if line.get("maximum") is not None else low
        if low is None or high is None or low < 0 or high < low:
            entry.held.append(f"min {line.get('minimum') or line.get('quantity')!r} and max {line.get('maximum')!r} "
                              "are not a min and max of 0 or more with max ≥ min")
            return
        entry.values = {"min": str(low), "max": str(high)}

    # --- writing ---------------------------------------------------------------------------

    def _rfqs(self, planned: list[Planned], origin: str) -> dict[str, Any]:
        groups: dict[tuple[int, int], list[Planned]] = {}
        for entry in planned:
            if not entry.held:
                groups.setdefault((entry.supplier, entry.warehouse["id"]), []).append(entry)
        orders = []
        for (supplier, _warehouse), entries in groups.items():
            picking_type = _id(entries[0].warehouse.get("in_type_id"))
            domain = [("origin", "=", origin), ("partner_id", "=", supplier), ("state", "!=", "cancel")]
            if picking_type:
                domain.append(("picking_type_id", "=", picking_type))
            existing = self.client.search_read(PURCHASE_ORDER, domain, ["id", "name", "state", "order_line"], order="id")
            made = {row["name"] for row in self.client.read(
                "purchase.order.line", [i for o in existing for i in o["order_line"]], ["name"])} if existing else set()
            new = [entry for entry in entries if not any(n.endswith(_marker(origin, entry.line)) for n in made)]
            commands = [(0, 0, {"product_id": entry.product["id"], "product_qty": float(entry.values["quantity"]),
                                "name": f"{entry.product['display_name']}\n{_marker(origin, entry.line)}",
                                **({"date_planned": odoo_datetime(entry.values["date"])} if entry.values["date"] else {})})
                        for entry in new]
            draft = next((o for o in existing if o["state"] in ("draft", "sent")), None)
            if commands and draft is not None:
                self.client.call(PURCHASE_ORDER, "write", [[draft["id"]], {"order_line": commands}])
                order = draft
            elif commands:
                values = {"partner_id": supplier, "origin": origin, "order_line": commands}
                if picking_type:
                    values["picking_type_id"] = picking_type
                order_id = self.client.create(PURCHASE_ORDER, values)
                order = self.client.read(PURCHASE_ORDER, [order_id], ["id", "name", "state"])[0]
            else:
                order = existing[0]
            orders.append({"id": order["id"], "name": order["name"], "supplier": entries[0].supplier_name,
                           "warehouse": entries[0].warehouse["code"], "lines": [e.line for e in entries],
                           "added": [e.line for e in new]})
        return {"model": PURCHASE_ORDER, "name": ", ".join(o["name"] for o in orders)[:100] or None,
                "origin": origin, "orders": orders}

    def _orderpoints(self, planned: list[Planned]) -> dict[str, Any]:
        ready = [entry for entry in planned if not entry.held]
        products = sorted({e.product["id"] for e in ready})
        warehouses = sorted({e.warehouse["id"] for e in ready})
        rules = self.client.search_read(
            ORDERPOINT, [("product_id", "in", products), ("warehouse_id", "in", warehouses)],
            ["id", "name", "product_id", "warehouse_id", "location_id", "product_min_qty", "product_max_qty"],
            order="id") if ready else []
        written = []
        for entry in ready:
            stock = _id(entry.warehouse["lot_stock_id"])
            rule = next((r for r in rules if _id(r["product_id"]) == entry.product["id"]
                         and _id(r["warehouse_id"]) == entry.warehouse["id"]
                         and _id(r["location_id"]) == stock), None)
            low, high = float(entry.values["min"]), float(entry.values["max"])
            if rule is None:
                rule_id = self.client.create(ORDERPOINT, {
                    "product_id": entry.product["id"], "warehouse_id": entry.warehouse["id"], "location_id": stock,
                    "product_min_qty": low, "product_max_qty": high, "trigger": "manual"})
                rule = self.client.read(ORDERPOINT, [rule_id], ["id", "name"])[0]
                rules.append({**rule, "product_id": [entry.product["id"], ""], "warehouse_id": [entry.warehouse["id"], ""],
                              "location_id": [stock, ""], "product_min_qty": low, "product_max_qty": high})
                action = "created"
            elif (rule["product_min_qty"], rule["product_max_qty"]) != (low, high):
                self.client.call(ORDERPOINT, "write", [[rule["id"]], {"product_min_qty": low, "product_max_qty": high}])
                action = f"changed from {rule['product_min_qty']:g}/{rule['product_max_qty']:g}"
                rule.update(product_min_qty=low, product_max_qty=high)
            else:
                action = "unchanged"
            written.append({"line": entry.line, "id": rule["id"], "name": rule["name"], "product": entry.product["display_name"],
                            "warehouse": entry.warehouse["code"], "min": entry.values["min"], "max": entry.values["max"],
                            "action": action})
        return {"model": ORDERPOINT, "name": f"{len(written)} reordering rules" if written else None,
                "orderpoints": written}


def _origin(source: dict[str, Any] | None) -> str:
    """What the RFQs say they came from: the file's name (Odoo's `origin`, shown on the RFQ)."""
    if not source:
        return "edigw replenishment"
    # The message id keeps two files of the same name (a tool writing recommendations.csv daily)
    # apart; a reprocess keeps its message, so it finds what it made before.
    return f"{source.get('file') or 'file'} (edigw message {source.get('message_id')})"[:200]


def _marker(origin: str, line: str) -> str:
    return f"{origin} line {line}"


def _id(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value or None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
