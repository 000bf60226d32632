"""Inbound documents into Odoo: a customer's `Order` becomes one `sale.order`, once, or a held message.

`OdooDeliverer` is the pipeline's deliverer. For an order it plans the sale order first —
customer, delivery address, products, units, prices, all looked up in one `search_read` per
model and checked before anything is written — then either holds the message with every
problem named (and the code the partner sent), or creates the order with all its lines in
one `create`. The business key (customer, `client_order_ref`) is looked up before creating,
so a reprocess, or a crash between Odoo's commit and ours, finds the order instead of
making a second one. `preview` is the same plan with nothing written (`partners test`).

Calls per order once the connection and caches are warm: the products not seen in the last
minute, one `web_save` (the create that answers the order's number, state and total: Odoo 17
and later; `create` and a `read` before), and `action_confirm` when the profile asks for it.
The order look-up is made for a batch of orders in one `search_read` when the pipeline says
what comes (`prepare`), else one per order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Sequence

from loguru import logger

from gateway.config import OdooSettings
from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.purchasing import Purchasing
from gateway.odoo.writing import barcode_forms, held_for, odoo_datetime
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import DeliveryPolicy, Profile

SALE_ORDER = "sale.order"
ORDER_FIELDS = ["id", "name", "state", "amount_total", "order_line"]
PARTNER_FIELDS = ["id", "name", "ref", "barcode", "parent_id", "type"]
PRODUCT_FIELDS = ["id", "display_name", "barcode", "default_code", "uom_id", "lst_price"]
PRICELIST = "property_product_pricelist"  # the customer's pricelist: it decides the sale order's currency
CACHE_SECONDS = 60.0
LOOKED_UP_SECONDS = 30.0  # how long a batch look-up stands for the orders it covered
CREATED_FIELDS = ["name", "state", "amount_total"]
BATCH_NUMBERS = 200  # order numbers per batch look-up


class TTLCache:
    """A small thread-safe cache whose entries expire `seconds` after they were put."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < self._clock():
                self._entries.pop(key, None)
                return default
            return entry[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self.seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Plan:
    """What delivering an order would write: the sale order's values, or the problems that hold it."""

    number: str | None
    customer: dict[str, Any] | None = None
    existing: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    new_address: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _no_such_method(error: OdooError) -> bool:
    """Odoo's answer to a method it does not have (AttributeError over JSON-RPC, NotFound over JSON-2)."""
    return error.kind in ("AttributeError", "NotFound") or "does not exist" in error.message


def decimals_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class OdooDeliverer:
    """Writes documents to Odoo for the pipeline (see the module docstring)."""

    def __init__(self, settings: OdooSettings, client: OdooClient | None = None,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.client = client or OdooClient(settings)
        self.customers = TTLCache(cache_seconds)
        self.products = TTLCache(cache_seconds)
        self.units = TTLCache(cache_seconds)
        self.countries = TTLCache(cache_seconds)
        self.pricing = TTLCache(cache_seconds)
        self.looked_up = TTLCache(LOOKED_UP_SECONDS)  # (customer id, number) -> (order or None,): one use each
        self.web_save: bool | None = None  # whether Odoo answers web_save (17+); learned on the first create
        self.purchasing = Purchasing(self.client)
        from gateway.odoo.catalogs import Catalogs
        from gateway.odoo.changes import OrderChanges
        from gateway.odoo.replenishment import Replenishments, SalesReports
        from gateway.odoo.stock_reports import InventoryReports

        self.changes = OrderChanges(self.client)
        self.stock = InventoryReports(self.client)
        self.catalogs = Catalogs(self.client)
        self.sales_reports = SalesReports(self)
        self.replenishments = Replenishments(self.client)

    # --- the Deliverer protocol ------------------------------------------------------------

    def prepare(self, items: Sequence[tuple[Profile, str, dict[str, Any]]]) -> None:
        """Look the orders about to be delivered up in Odoo at once: one `search_read` per
        BATCH_NUMBERS orders, instead of one per order. Each answer stands for one delivery, for
        LOOKED_UP_SECONDS; an order not covered is looked up on its own as before."""
        wanted: dict[int, set[str]] = {}
        for profile, document_type, document in items:
            number = document.get("document_number")
            if document_type != "Order" or not number:
                continue
            customer, _ = self._customer(profile, Plan(number=str(number)))
            if customer is not None:
                wanted.setdefault(customer["id"], set()).add(str(number))
        pairs = [(customer, number) for customer, numbers in wanted.items() for number in sorted(numbers)]
        for start in range(0, len(pairs), BATCH_NUMBERS):
            chunk = pairs[start:start + BATCH_NUMBERS]
            rows = self.client.search_read(SALE_ORDER, [("partner_id", "in", sorted({c for c, _ in chunk})),
                                                        ("client_order_ref", "in", sorted({n for _, n in chunk}))],
                                           ORDER_FIELDS + ["partner_id", "client_order_ref"], order="id")
            first: dict[tuple[int, str], dict[str, Any]] = {}
            for row in rows:
                first.setdefault(((row.get("partner_id") or [0])[0], row.get("client_order_ref")), row)
            for key in chunk:
                self.looked_up.put(key, (first.get(key),))

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = (), source: dict[str, Any] | None = None) -> DeliveryResult:
        if document_type in self.sales_reports.TYPES:
            return self.sales_reports.deliver(profile, document_type, document, thread)
        if document_type in self.replenishments.TYPES:
            return self.replenishments.deliver(profile, document_type, document, thread, source)
        if document_type in self.purchasing.TYPES:
            return self.purchasing.deliver(profile, document_type, document, thread)
        if document_type in self.changes.TYPES:
            return self.changes.deliver(profile, document_type, document, thread)
        if document_type in self.stock.TYPES:
            return self.stock.deliver(profile, document_type, document, thread)
        if document_type in self.catalogs.TYPES:
            return self.catalogs.deliver(profile, document_type, document, thread)
        if document_type != "Order":
            return DeliveryResult("held", f"{document_type} documents are not delivered to Odoo yet")
        try:
            plan = self.plan(profile, document)
            if plan.existing is not None:
                return self._already_there(profile, plan)
        except OdooError as error:
            return held_for(error, f"Odoo refused a look-up for {document.get('document_number')}: "
                                   f"{error.kind}: {error.message}")
        if plan.problems:
            return DeliveryResult("held", "; ".join(plan.problems))
        return self._create(profile, plan)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any]) -> dict[str, Any]:
        """What `deliver` would do, with nothing written: values, problems, notes."""
        if document_type in self.purchasing.TYPES:
            return self.purchasing.preview(profile, document_type, document)
        if document_type in self.changes.TYPES:
            return self.changes.preview(profile, document_type, document)
        if document_type in self.stock.TYPES:
            return self.stock.preview(profile, document_type, document)
        if document_type in self.catalogs.TYPES:
            return self.catalogs.preview(profile, document_type, document)
        for writer in (self.sales_reports, self.replenishments):
            if document_type in writer.TYPES:
                return writer.preview(profile, document_type, document)
        if document_type != "Order":
            return {"model": None, "action": "hold",
                    "problems": [f"{document_type} documents are not delivered to Odoo yet"]}
        plan = self.plan(profile, document)
        action = "exists" if plan.existing else ("hold" if plan.problems else "create")
        if action == "create" and profile.delivery.confirm:
            action = "create and confirm"
        return {"model": SALE_ORDER, "action": action, "existing": plan.existing,
                "customer": plan.customer and {"id": plan.customer["id"], "name": plan.customer["name"]},
                "values": plan.values, "lines": plan.lines, "new_address": plan.new_address,
                "problems": plan.problems, "notes": plan.notes}

    # --- planning (reads only) -----------------------------------------------------------

    def plan(self, profile: Profile, order: dict[str, Any]) -> Plan:
        """The sale order an order document makes, looked up and checked; nothing is written.

        A plan with problems is made once more without the caches before it holds a message:
        the admin may have just fixed the product or the address it was missing.
        """
        plan = self._plan(profile, order)
        if plan.problems and plan.existing is None:
            self.forget()
            plan = self._plan(profile, order)
        return plan

    def forget(self) -> None:
        """Drop every cached look-up (after Odoo refused something, or before a fresh plan)."""
        for cache in (self.customers, self.products, self.units, self.countries, self.pricing):
            cache.clear()

    def _plan(self, profile: Profile, order: dict[str, Any]) -> Plan:
        number = order.get("document_number")
        plan = Plan(number=number)
        if not number:
            plan.problems.append("the order has no document number, so it cannot be delivered exactly once")
            return plan
        customer, addresses = self._customer(profile, plan)
        if customer is None:
            return plan
        plan.customer = customer
        plan.existing = self._existing_order(customer["id"], number)
        if plan.existing is not None:
            return plan
        policy = profile.delivery
        values: dict[str, Any] = {"partner_id": customer["id"], "client_order_ref": number}
        pricelist = self._pricelist(profile, customer, order.get("currency"), plan)
        if pricelist is not None:
            values["pricelist_id"] = pricelist
        shipping = self._shipping_address(profile, customer, addresses, order.get("ship_to"), plan)
        if shipping is not None:
            values["partner_shipping_id"] = shipping
        if order.get("requested_delivery_date"):
            values["commitment_date"] = odoo_datetime(order["requested_delivery_date"])
        if order.get("note"):
            values["note"] = order["note"]
        values["order_line"] = self._order_lines(policy, order.get("lines") or [], plan)
        if not order.get("lines"):
            plan.problems.append("the order has no lines")
        plan.values = values
        return plan

    def _customer(self, profile: Profile, plan: Plan) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The profile's Odoo partner and its child contacts (the addresses), in one search_read."""
        partner = profile.odoo_partner
        key = ("id", int(partner["id"])) if partner.get("id") is not None else ("ref", str(partner.get("ref")))
        cached = self.customers.get(key)
        if cached is not None:
            return cached
        if key[0] == "id":
            domain = ["|", ("id", "=", key[1]), ("parent_id", "=", key[1])]
        else:
            domain = ["|", ("ref", "=", key[1]), ("parent_id.ref", "=", key[1])]
        fields = PARTNER_FIELDS + ([PRICELIST] if self.client.has_field("res.partner", PRICELIST) else [])
        rows = self.client.search_read("res.partner", domain, fields, order="id")
        if key[0] == "id":
            found = [row for row in rows if row["id"] == key[1]]
        else:
            found = [row for row in rows if row.get("ref") == key[1] and not row.get("parent_id")]
        where = f"odoo_partner in {profile.file.name}"
        if not found:
            plan.problems.append(f"no Odoo customer with {key[0]} {key[1]} ({where}); create it or fix the profile")
            return None, []
        if len(found) > 1:
            plan.problems.append(f"{len(found)} Odoo partners have ref {key[1]} (ids {', '.join(str(r['id']) for r in found)}); "
                                 f"make the ref unique or give the id in {where}")
            return None, []
        customer = found[0]
        addresses = [row for row in rows if (row.get("parent_id") or [None])[0] == customer["id"]]
        self.customers.put(key, (customer, addresses))
        return customer, addresses

    def _existing_order(self, customer_id: int, number: str) -> dict[str, Any] | None:
        known = self.looked_up.get((customer_id, number))
        if known is not None:
            self.looked_up.put((customer_id, number), None)  # one use: a second delivery looks again
            if known[0] is not None:
                return {key: known[0][key] for key in ORDER_FIELDS}
            return None
        rows = self.client.search_read(SALE_ORDER, [("partner_id", "=", customer_id), ("client_order_ref", "=", number)],
                                       ORDER_FIELDS, order="id", limit=1)
        return rows[0] if rows else None

    # --- currency ------------------------------------------------------------------------

    def _pricelist(self, profile: Profile, customer: dict[str, Any], currency: Any, plan: Plan) -> int | None:
        """The pricelist that makes the sale order in the order's currency; None leaves Odoo's own choice.

        Odoo takes a sale order's currency from its pricelist and ignores a `currency_id` given
        (recorded in 16), so an order in EUR needs an EUR pricelist: the customer's own when it is
        in that currency, else the one `delivery.pricelists` names for it; without either the
        message is held, saying what to set up, rather than becoming an order in another currency.
        """
        code = str(currency or "").strip().upper()
        if not code:
            return None
        where = profile.file.name
        pricelists = self._pricelists()
        named = profile.delivery.pricelists.get(code)
        if named:
            found = [p for p in pricelists.values() if str(p["id"]) == named or named in (p["name"], p["display_name"])]
            if len(found) != 1:
                plan.problems.append(f"delivery.pricelists in {where} names pricelist {named!r} for {code}, and Odoo has "
                                     + (f"{len(found)} of that name" if found else "none of that name or id"))
            elif found[0]["currency"] != code:
                plan.problems.append(f"delivery.pricelists in {where} names pricelist {found[0]['display_name']} for "
                                     f"{code}, but that pricelist is in {found[0]['currency']}")
            else:
                return found[0]["id"]
            return None
        own = pricelists.get((customer.get(PRICELIST) or [None])[0]) if customer.get(PRICELIST) else None
        odoo_currency = own["currency"] if own else self._company_currency()
        if odoo_currency == code:
            return None
        known = self._currency(code)
        in_code = sorted(p["display_name"] for p in pricelists.values() if p["currency"] == code)
        buys = f"pricelist {own['display_name']}" if own else "no pricelist"
        if known is None:
            plan.problems.append(f"the order is in {code}, a currency Odoo does not know (customer {customer['name']} "
                                 f"buys in {odoo_currency})")
        elif not known.get("active"):
            plan.problems.append(f"the order is in {code}, which is not active in Odoo: activate it, give customer "
                                 f"{customer['name']} a {code} pricelist or name one under delivery.pricelists in {where}")
        else:
            plan.problems.append(
                f"the order is in {code}, but customer {customer['name']} buys in {odoo_currency} ({buys}): give the "
                f"customer a {code} pricelist in Odoo or name one under delivery.pricelists in {where} ("
                + (f"{code} pricelists in Odoo: {', '.join(in_code)})" if in_code else f"Odoo has no {code} pricelist)"))
        return None

    def _pricelists(self) -> dict[int, dict[str, Any]]:
        """Odoo's active pricelists by id, each with its currency's code (a handful, read once per cache period)."""
        found = self.pricing.get("pricelists")
        if found is None:
            rows = self.client.search_read("product.pricelist", [], ["id", "name", "display_name", "currency_id"],
                                           order="id")
            found = {row["id"]: {**row, "currency": (row.get("currency_id") or [None, None])[1]} for row in rows}
            self.pricing.put("pricelists", found)
        return found

    def _company_currency(self) -> str | None:
        """The currency of an order without a pricelist: the company's (the user's current company)."""
        found = self.pricing.get("company")
        if found is None:
            rows = self.client.search_read("res.company", [], ["currency_id"], order="sequence, id", limit=1)
            found = (rows[0]["currency_id"] or [None, None])[1] if rows else ""
            self.pricing.put("company", found)
        return found or None

    def _currency(self, code: str) -> dict[str, Any] | None:
        rows = self.client.call("res.currency", "search_read", [[("name", "=", code)]],
                                {"fields": ["name", "active"], "limit": 1, "context": {"active_test": False}})
        return rows[0] if rows else None

    def _shipping_address(self, profile: Profile, customer: dict[str, Any], addresses: list[dict[str, Any]],
                          ship_to: dict[str, Any] | None, plan: Plan) -> int | None:
        """The delivery address: a child contact whose barcode (GLN) or ref matches `ship_to`."""
        if not ship_to:
            return None
        gln, ref, name = ship_to.get("gln"), ship_to.get("id"), ship_to.get("name")
        if gln and gln == customer.get("barcode"):
            return customer["id"]
        for row in addresses:
            if (gln and gln in (row.get("barcode"), row.get("ref"))) or (ref and ref == row.get("ref")):
                return row["id"]
        if not gln and not ref:
            for row in addresses:
                if name and (row.get("name") or "").casefold() == name.casefold():
                    return row["id"]
        sent = f"GLN {gln}" if gln else (f"id {ref}" if ref else f"name {name!r}")
        if profile.delivery.create_addresses:
            if gln and self._gln_taken(customer, gln, plan):
                return None
            plan.new_address = self._new_address(customer, ship_to)
            plan.notes.append(f"a delivery address with {sent} will be created under {customer['name']}")
            return None
        plan.problems.append(
            f"no delivery address with {sent} under customer {customer['name']}: add it in Odoo as a contact of "
            f"{customer['name']} with {'barcode ' + gln if gln else 'reference ' + (ref or '')}".rstrip()
            + f", or set delivery.create_addresses in {profile.file.name}")
        return None

    def _gln_taken(self, customer: dict[str, Any], gln: str, plan: Plan) -> bool:
        """Whether another partner has the GLN as its barcode (a problem then): Odoo keeps a barcode to one
        active partner, so it would refuse the address, and only a person can tell which partner is right."""
        holders = self.client.search_read("res.partner", [("barcode", "=", gln)], ["name", "parent_id"], limit=1)
        if not holders:
            return False
        holder = holders[0]["name"] + (f" (a contact of {holders[0]['parent_id'][1]})" if holders[0]["parent_id"]
                                        else "")
        plan.problems.append(f"the ship-to GLN {gln} is the barcode of {holder}, not of a contact of "
                             f"{customer['name']}: make it a delivery address of {customer['name']} or take the "
                             "barcode off it in Odoo")
        return True

    def _new_address(self, customer: dict[str, Any], ship_to: dict[str, Any]) -> dict[str, Any]:
        values = {"parent_id": customer["id"], "type": "delivery",
                  "name": ship_to.get("name") or ship_to.get("gln") or ship_to.get("id")}
        for ours, theirs in (("barcode", "gln"), ("ref", "id"), ("street", "street"), ("city", "city"),
                             ("zip", "zip")):
            if ship_to.get(theirs):
                values[ours] = ship_to[theirs]
        if ship_to.get("country"):
            country = self._country(ship_to["country"])
            if country:
                values["country_id"] = country
        return values

    def _country(self, code: str) -> int | None:
        found = self.countries.get(code.upper())
        if found is None:
            rows = self.client.search_read("res.country", [("code", "=", code.upper())], ["id"], limit=1)
            found = rows[0]["id"] if rows else 0
            self.countries.put(code.upper(), found)
        return found or None

    # --- lines ---------------------------------------------------------------------------

    def _order_lines(self, policy: DeliveryPolicy, lines: list[dict[str, Any]], plan: Plan) -> list[list]:
        products = self._products(policy, lines)
        units = self._units()
        uom_field = self.client.field_name("sale.order.line", "product_uom_id", "product_uom")
        price_digits = self.client.digits("sale.order.line", "price_unit")
        qty_digits = self.client.digits("sale.order.line", "product_uom_qty")
        categories = self.client.has_field("uom.uom", "category_id")
        commands = []
        for position, line in enumerate(lines, start=1):
            label = f"line {line.get('line_number') or position}"
            product = self._product_for(policy, line, products, label, plan)
            unit = self._unit_for(policy, line, product, units, label, plan)
            values: dict[str, Any] = {}
            if product is not None:
                values["product_id"] = product["id"]
            if unit is not None:
                values[uom_field] = unit["id"]
                if categories and product is not None:
                    self._check_category(product, unit, units, label, plan)
            quantity = self._quantity(line, qty_digits, label, plan)
            if quantity is not None:
                values["product_uom_qty"] = float(quantity)
            price = self._price(policy, line, product, unit, units, price_digits, label, plan)
            if price is not None:
                values["price_unit"] = float(price)
            commands.append([0, 0, values])
            plan.lines.append({"line": line.get("line_number") or str(position),
                               "product": product and product["display_name"], "quantity": line.get("quantity"),
                               "unit": unit and unit["name"],
                               "price_unit": str(price) if price is not None else "Odoo's price"})
        return commands

    def _products(self, policy: DeliveryPolicy, lines: list[dict[str, Any]]) -> dict[tuple[str, str], list]:
        """Every product the lines may mean, by ("barcode"|"default_code", code): one search_read."""
        wanted: set[tuple[str, str]] = set()
        for line in lines:
            for kind in ("gtin", "upc"):
                if line.get(kind):
                    wanted.update(("barcode", form) for form in barcode_forms(str(line[kind])))
            for code in (line.get("supplier_item"), policy.item_xref.get(str(line.get("buyer_item")))):
                if code:
                    wanted.add(("default_code", str(code)))
        found: dict[tuple[str, str], list] = {}
        missing = []
        for key in wanted:
            cached = self.products.get(key)
            if cached is None:
                missing.append(key)
            else:
                found[key] = cached
        if missing:
            barcodes = sorted(code for kind, code in missing if kind == "barcode")
            codes = sorted(code for kind, code in missing if kind == "default_code")
            terms = ([("barcode", "in", barcodes)] if barcodes else []) + (
                [("default_code", "in", codes)] if codes else [])
            domain = ["|", *terms] if len(terms) == 2 else terms
            rows = self.client.search_read("product.product", domain, PRODUCT_FIELDS, order="id")
            for key in missing:
                matches = [row for row in rows if row.get(key[0]) == key[1]]
                if matches:  # what is missing is not cached: it may be created any minute
                    self.products.put(key, matches)
                    found[key] = matches
        return found

    def _product_for(self, policy: DeliveryPolicy, line: dict[str, Any], products: dict, label: str,
                     plan: Plan) -> dict[str, Any] | None:
        tried = []
        for kind, what in (("gtin", "barcode"), ("upc", "barcode")):
            if line.get(kind):
                tried.append(f"barcode {line[kind]}")
                for form in barcode_forms(str(line[kind])):
                    if products.get(("barcode", form)):
                        return products[("barcode", form)][0]
        candidates: list[tuple[str | None, str]] = []
        if line.get("supplier_item"):
            candidates.append((str(line["supplier_item"]), f"code {line['supplier_item']}"))
        buyer_item = line.get("buyer_item")
        if buyer_item:
            ours = policy.item_xref.get(str(buyer_item))
            candidates.append((ours, f"customer item {buyer_item} "
                               + (f"(our code {ours})" if ours else "(not in delivery.item_xref)")))
        for code, described in candidates:
            tried.append(described)
            matches = products.get(("default_code", code)) or [] if code else []
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                plan.problems.append(f"{label}: {len(matches)} products have the code {code} "
                                     f"(ids {', '.join(str(m['id']) for m in matches)}); give them a barcode")
                return None
        if not tried:
            plan.problems.append(f"{label}: the line names no product (no GTIN, UPC or item number)")
        else:
            plan.problems.append(f"{label}: no product with {' or '.join(tried)}")
        return None

    def _units(self) -> dict[str, Any]:
        """Odoo's units by id and by name, read once per cache period (a few dozen records)."""
        units = self.units.get("all")
        if units is None:
            fields = ["id", "name", "factor"] + (["category_id"] if self.client.has_field("uom.uom", "category_id") else [])
            rows = self.client.search_read("uom.uom", [], fields, order="id")
            units = {"by_id": {row["id"]: row for row in rows}, "by_name": {row["name"]: row for row in rows},
                     "by_folded": {row["name"].casefold(): row for row in rows}}
            self.units.put("all", units)
        return units

    def _unit_for(self, policy: DeliveryPolicy, line: dict[str, Any], product: dict[str, Any] | None,
                  units: dict[str, Any], label: str, plan: Plan) -> dict[str, Any] | None:
        sent = line.get("uom")
        if not sent:
            return units["by_id"].get(product["uom_id"][0]) if product and product.get("uom_id") else None
        name = policy.units.get(sent, sent)
        unit = units["by_name"].get(name) or units["by_folded"].get(name.casefold())
        if unit is None:
            mapped = f" (mapped from {sent!r} by delivery.units)" if name != sent else ""
            plan.problems.append(f"{label}: no unit {name!r}{mapped} in Odoo; map the partner's unit to an Odoo "
                                 "unit name under delivery.units")
        return unit

    @staticmethod
    def _check_category(product: dict[str, Any], unit: dict[str, Any], units: dict[str, Any], label: str,
                        plan: Plan) -> None:
        """Odoo accepts a unit of another category at create and refuses it at confirmation: check here."""
        own = units["by_id"].get((product.get("uom_id") or [None])[0])
        if own is None or not own.get("category_id") or not unit.get("category_id"):
            return
        if own["category_id"][0] != unit["category_id"][0]:
            plan.problems.append(
                f"{label}: unit {unit['name']} ({unit['category_id'][1]}) does not fit product "
                f"{product['display_name']}, which is sold in {own['name']} ({own['category_id'][1]})")

    @staticmethod
    def _quantity(line: dict[str, Any], digits: int, label: str, plan: Plan) -> Decimal | None:
        try:
            quantity = Decimal(str(line.get("quantity")))
        except InvalidOperation:
            plan.problems.append(f"{label}: no quantity" if line.get("quantity") is None
                                 else f"{label}: quantity {line['quantity']!r} is not a number")
            return None
        if quantity <= 0:
            plan.problems.append(f"{label}: quantity {line['quantity']} is not positive")
        elif decimals_of(quantity) > digits:
            plan.problems.append(f"{label}: quantity {line['quantity']} has more decimals than Odoo keeps ({digits})")
        return quantity

    @staticmethod
    def _price(policy: DeliveryPolicy, line: dict[str, Any], product: dict[str, Any] | None,
               unit: dict[str, Any] | None, units: dict[str, Any], digits: int, label: str,
               plan: Plan) -> Decimal | None:
        if line.get("unit_price") in (None, ""):
            plan.notes.append(f"{label}: no price in the order; Odoo's price list sets it")
            return None
        try:
            price = Decimal(str(line["unit_price"]))
        except InvalidOperation:
            plan.problems.append(f"{label}: price {line['unit_price']!r} is not a number")
            return None
        if decimals_of(price) > digits:
            text = f"{label}: price {line['unit_price']} has more decimals than Odoo keeps ({digits})"
            if policy.price_decimals == "hold":
                plan.problems.append(text + "; Odoo would round it (delivery.price_decimals: hold)")
            else:
                plan.notes.append(text + f"; Odoo rounds it to {price.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)}")
        if policy.price_tolerance is not None and product is not None:
            reference = Decimal(str(product.get("lst_price") or 0))
            own = units["by_id"].get((product.get("uom_id") or [None])[0])
            if unit is not None and own is not None and unit.get("factor") and own.get("factor"):
                reference = reference * Decimal(str(own["factor"])) / Decimal(str(unit["factor"]))
            if reference == 0:
                plan.notes.append(f"{label}: product {product['display_name']} has no sales price to check against")
            else:
                off = abs(price - reference) / reference * 100
                if off > Decimal(str(policy.price_tolerance)):
                    plan.problems.append(
                        f"{label}: price {line['unit_price']} is {off:.1f}% off the sales price "
                        f"{reference.quantize(Decimal(1).scaleb(-digits))} of {product['display_name']} "
                        f"(tolerance {policy.price_tolerance:g}%)")
        return price

    # --- writing -------------------------------------------------------------------------

    def _already_there(self, profile: Profile, plan: Plan) -> DeliveryResult:
        order = plan.existing
        state = order["state"]
        if profile.delivery.confirm and state in ("draft", "sent"):
            refused = self._confirm(order["id"], order["name"])
            if refused:
                return DeliveryResult("held", refused, self._record(order, created=False))
            state = "sale"
        logger.info("sale order {} for {} {} was already in Odoo", order["name"], profile.id, plan.number)
        return DeliveryResult("delivered", None, self._record({**order, "state": state}, created=False))

    def _create(self, profile: Profile, plan: Plan) -> DeliveryResult:
        values = dict(plan.values)
        try:
            if plan.new_address is not None:
                address = self.client.create("res.partner", plan.new_address)
                values["partner_shipping_id"] = address
                self.customers.clear()
            order = self._create_order(values)
        except OdooError as error:
            self.forget()
            return DeliveryResult("held", f"Odoo refused the sale order for {plan.number}: {error.kind}: {error.message}")
        refused = self._confirm(order["id"], plan.number) if profile.delivery.confirm else None
        if profile.delivery.confirm and not refused:
            order["state"] = "sale"  # what action_confirm makes of a quotation; its total does not change
        record = self._record({**order, "order_line": values["order_line"]}, created=True)
        if refused:
            return DeliveryResult("held", refused, record)
        logger.info("sale order {} created for {} {} ({} line{})", order["name"], profile.id, plan.number,
                    record["lines"], "" if record["lines"] == 1 else "s")
        return DeliveryResult("delivered", "; ".join(plan.notes) or None, record)

    def _create_order(self, values: dict[str, Any]) -> dict[str, Any]:
        """Create the sale order and learn its number, state and total: one `web_save` where Odoo has
        it (17 and later), else `create` and `read`."""
        if self.web_save is not False:
            try:
                [order] = self.client.call(SALE_ORDER, "web_save", [[], values],
                                           {"specification": {name: {} for name in CREATED_FIELDS}})
                self.web_save = True
                return order
            except OdooError as error:
                if self.web_save or not _no_such_method(error):
                    raise
                self.web_save = False  # Odoo 16: no web_save; nothing was created
        order_id = self.client.create(SALE_ORDER, values)
        [order] = self.client.read(SALE_ORDER, [order_id], ["id", *CREATED_FIELDS])
        return order

    def _confirm(self, order_id: int, what: str | None) -> str | None:
        """Confirm a sale order; the reason when Odoo refuses (the order stays a quotation)."""
        try:
            self.client.call(SALE_ORDER, "action_confirm", [[order_id]])
        except OdooError as error:
            return f"sale order for {what} was created but Odoo refused to confirm it: {error.kind}: {error.message}"
        return None

    @staticmethod
    def _record(order: dict[str, Any], created: bool) -> dict[str, Any]:
        return {"model": SALE_ORDER, "id": order["id"], "name": order["name"], "created": created,
                "state": order["state"], "amount_total": order["amount_total"],
                "lines": len(order.get("order_line") or [])}
