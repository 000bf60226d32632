"""Stock reports and Odoo: our quantities read for a customer's 846 / INVRPT, and a 3PL's or a
supplier's report compared with Odoo or kept as their availability.

Out (`read_levels`, `stock_report`): Odoo's free, on-hand or forecasted quantity of each product
in the warehouses a send rule names, read the way Odoo's own stock screens read it
(`product.product` quantities with the warehouse in the context). The product ids come in one
`search`, the quantities in one `read` per page of products and warehouse: the calls grow with
the pages (`PAGE_SIZE` products each), not with the products.

In (`InventoryReports.deliver`): for a 3PL (the profile's `inventory.warehouse`), each reported
quantity is compared with Odoo's quants in that warehouse's internal locations; every difference
is an exception, and with `apply: adjust` the ones within the tolerance become one inventory
adjustment (counted quantities on the warehouse's stock location, then
`stock.quant.action_apply_inventory`), which Odoo records as inventory moves named after the
report. Products Odoo holds there that a full report leaves out are differences too (never
adjusted). For a supplier nothing is written: the products are matched (barcode, our code, their
code in `product.supplierinfo`) and the report is kept as the supplier's availability, which
`gateway.stock_queries` answers from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

from gateway.documents import InventoryLine, InventoryReport, Party
from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.purchasing import number, profile_partner, shown
from gateway.odoo.writing import barcode_forms, held_for
from gateway.order_threads import Difference
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import InventoryPolicy, InventorySend, Profile

PAGE_SIZE = 5000  # products per `read`: one call carries this many rows of a few fields each
QUANTITY_FIELDS = {"free": "free_qty", "on_hand": "qty_available", "forecast": "virtual_available"}
PRODUCT_FIELDS = ["default_code", "barcode", "name", "uom_id"]
WAREHOUSE_FIELDS = ["name", "code", "lot_stock_id", "view_location_id", "partner_id"]
Row = dict[str, Any]


# --- out: our stock, for a customer ------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    """One product's quantity, summed over the warehouses read."""

    product_id: int
    code: str | None
    barcode: str | None
    name: str
    uom: str | None
    quantity: Decimal


def warehouses(client: OdooClient, codes: Sequence[str]) -> list[Row]:
    """The warehouses with these codes (all of them when none are named); LookupError names a missing one."""
    domain = [("code", "in", list(codes))] if codes else []
    rows = client.search_read("stock.warehouse", domain, WAREHOUSE_FIELDS, order="id")
    missing = sorted(set(codes) - {row["code"] for row in rows})
    if missing:
        raise LookupError(f"Odoo has no warehouse with the code {', '.join(missing)}")
    return rows


def product_ids(client: OdooClient, customer: int, products: str) -> list[int]:
    """The ids of the storable products a report covers: what the customer ordered, what is on its
    pricelist, or all of them; one or two calls whatever their number."""
    storable = _storable_domain(client)
    if products == "all":
        return client.call("product.product", "search", [storable], {"order": "id"})
    if products == "ordered":
        groups = client.call("sale.order.line", "read_group", [[("order_partner_id", "child_of", customer),
                                                                 ("state", "!=", "cancel")], ["product_id"],
                                                                ["product_id"]], {"lazy": True})
        wanted = sorted(g["product_id"][0] for g in groups if g.get("product_id"))
    else:
        wanted_domain = _pricelist_domain(client, customer)
        if wanted_domain is None:
            return []
        return client.call("product.product", "search", [wanted_domain + storable], {"order": "id"})
    if not wanted:
        return []
    return client.call("product.product", "search", [[("id", "in", wanted)] + storable], {"order": "id"})


def _storable_domain(client: OdooClient) -> list:
    values = client.storable_product_values()
    return [(key, "=", value) for key, value in values.items() if key != "type" or value == "product"]


def _pricelist_domain(client: OdooClient, customer: int) -> list | None:
    """The products the customer's pricelist prices, as a product domain ([] = every product; None = none)."""
    if not client.has_field("res.partner", "property_product_pricelist"):
        raise LookupError("this Odoo keeps no pricelist on its customers (res.partner.property_product_pricelist, "
                          "the sale app): use products: ordered or all")
    [partner] = client.read("res.partner", [customer], ["property_product_pricelist"])
    pricelist = partner.get("property_product_pricelist")
    if not pricelist:
        return None
    items = client.search_read("product.pricelist.item", [("pricelist_id", "=", pricelist[0])],
                               ["applied_on", "product_id", "product_tmpl_id", "categ_id"])
    if any(item.get("applied_on") == "3_global" for item in items):
        return []
    terms = []
    variants = sorted({item["product_id"][0] for item in items if item.get("product_id")})
    templates = sorted({item["product_tmpl_id"][0] for item in items if item.get("product_tmpl_id")
                        and not item.get("product_id")})
    categories = sorted({item["categ_id"][0] for item in items if item.get("applied_on") == "2_product_category"
                         and item.get("categ_id")})
    if variants:
        terms.append(("id", "in", variants))
    if templates:
        terms.append(("product_tmpl_id", "in", templates))
    if categories:
        terms.append(("categ_id", "child_of", categories))
    if not terms:
        return None
    return ["|"] * (len(terms) - 1) + terms


def read_levels(client: OdooClient, ids: Sequence[int], warehouse_ids: Sequence[int], quantity: str,
                page_size: int = PAGE_SIZE) -> dict[int, Level]:
    """Each product's quantity of the kind asked, summed over the warehouses: a `read` per page and warehouse."""
    field = QUANTITY_FIELDS[quantity]
    levels: dict[int, Level] = {}
    for start in range(0, len(ids), page_size):
        page = list(ids[start:start + page_size])
        for warehouse in warehouse_ids:
            # Odoo 17+ reads `warehouse_id`, 16 `warehouse`: both name the same warehouse.
            context = {"warehouse_id": warehouse, "warehouse": warehouse}
            for row in client.call("product.product", "read", [page],
                                   {"fields": PRODUCT_FIELDS + [field], "context": context}):
                amount = number(row.get(field)) or Decimal(0)
                earlier = levels.get(row["id"])
                levels[row["id"]] = Level(row["id"], row.get("default_code") or None, row.get("barcode") or None,
                                          row.get("name") or "", row["uom_id"][1] if row.get("uom_id") else None,
                                          amount + (earlier.quantity if earlier else Decimal(0)))
    return levels


def stock_report(levels: Iterable[Level], options: InventorySend, *, number_: str, when: str,
                 warehouse_rows: Sequence[Row], buyer: Party | None, supplier: Party | None,
                 buyer_items: dict[str, str] | None = None) -> InventoryReport:
    """The report of these levels, one line per product; `buyer_items` gives the customer's own code
    of our products (our code → theirs, the reverse of `delivery.item_xref`)."""
    buyer_items = buyer_items or {}
    lines = [InventoryLine(line_number=str(position), gtin=level.barcode, supplier_item=level.code,
                           buyer_item=buyer_items.get(level.code or ""), description=level.name,
                           quantity=shown(level.quantity), quantity_type=options.quantity, uom=level.uom)
             for position, level in enumerate(levels, start=1)]
    codes = ", ".join(row["code"] for row in warehouse_rows)
    ship_from = Party(id=warehouse_rows[0]["code"], name=warehouse_rows[0]["name"]) \
        if len(warehouse_rows) == 1 else None
    return InventoryReport(document_number=number_, document_date=when, report_date=when, warehouse=codes or None,
                           mode=options.mode, buyer=buyer, supplier=supplier, ship_from=ship_from, lines=lines)


# --- in: a 3PL's or a supplier's stock ---------------------------------------------------------

def _label(line: dict[str, Any], position: int) -> str:
    names = [line.get(key) for key in ("supplier_item", "buyer_item", "gtin", "upc") if line.get(key)]
    return f"line {line.get('line_number') or position} ({', '.join(str(n) for n in names) or 'no item number'})"


class InventoryReports:
    """Delivers InventoryReport documents: a 3PL's compared with Odoo, a supplier's kept as is."""

    TYPES = ("InventoryReport",)

    def __init__(self, client: OdooClient, dry_run: bool = False) -> None:
        self.client = client
        self.dry_run = dry_run

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> dict[str, Any]:
        """What delivering would do, nothing written: the comparison and the adjustment it would make."""
        result = InventoryReports(self.client, dry_run=True).deliver(profile, document_type, document, thread)
        record = result.record or {}
        return {"model": record.get("model"), "action": "hold" if result.state == "held" else "compare",
                "record": record, "problems": [result.reason] if result.state == "held" and result.reason else [],
                "notes": [result.reason] if result.state != "held" and result.reason else [],
                "differences": [{"kind": d.kind, "line": d.line, "text": d.text, "applied": d.applied}
                                for d in result.differences]}

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> DeliveryResult:
        policy = profile.inventory
        try:
            if policy.warehouse is None:
                return self._supplier(profile, document)
            return self._third_party(profile, policy, document)
        except LookupError as error:
            return DeliveryResult("held", f"{error}: fix inventory.warehouse in {profile.file.name} or Odoo, "
                                          "and reprocess from deliver")
        except OdooError as error:
            return held_for(error, f"Odoo refused a call while reading stock for report "
                                   f"{document.get('document_number')}: {error.kind}: {error.message}; "
                                   "fix it and reprocess from deliver")

    # --- matching products ---------------------------------------------------------------

    def _products(self, lines: list[dict[str, Any]], vendor: int | None = None) -> list[Row | None]:
        """The Odoo product of each line (None when none is found): by barcode, then our code (their
        BP/IN or VN item as our default_code), then, for a supplier, its code in product.supplierinfo."""
        barcodes = sorted({form for line in lines for key in ("gtin", "upc") if line.get(key)
                           for form in barcode_forms(str(line[key]))})
        codes = sorted({str(line[key]) for line in lines for key in ("buyer_item", "supplier_item") if line.get(key)})
        terms = ([("barcode", "in", barcodes)] if barcodes else []) + ([("default_code", "in", codes)] if codes else [])
        rows = self.client.search_read("product.product", ["|", *terms] if len(terms) == 2 else terms,
                                       ["display_name", "default_code", "barcode", "uom_id", "product_tmpl_id"],
                                       order="id") if terms else []
        theirs: dict[str, int] = {}
        if vendor is not None and codes:
            infos = self.client.search_read("product.supplierinfo", [("partner_id", "=", vendor),
                                                                     ("product_code", "in", codes)],
                                            ["product_code", "product_id", "product_tmpl_id"])
            templates = sorted({info["product_tmpl_id"][0] for info in infos if info.get("product_tmpl_id")})
            known = {row["id"] for row in rows}
            if templates:  # a supplier's code is usually kept per template: its variant is the product
                rows += [row for row in self.client.search_read(
                    "product.product", [("product_tmpl_id", "in", templates)],
                    ["display_name", "default_code", "barcode", "uom_id", "product_tmpl_id"], order="id")
                    if row["id"] not in known]
            for info in infos:
                template = info["product_tmpl_id"][0] if info.get("product_tmpl_id") else None
                product = info["product_id"][0] if info.get("product_id") else next(
                    (row["id"] for row in rows if row.get("product_tmpl_id") and row["product_tmpl_id"][0] == template),
                    None)
                if product is not None:
                    theirs[info["product_code"]] = product
        by_barcode = {row["barcode"]: row for row in rows if row.get("barcode")}
        by_code: dict[str, list[Row]] = {}
        for row in rows:
            if row.get("default_code"):
                by_code.setdefault(row["default_code"], []).append(row)
        by_id = {row["id"]: row for row in rows}
        found: list[Row | None] = []
        for line in lines:
            match = next((by_barcode[form] for key in ("gtin", "upc") if line.get(key)
                          for form in barcode_forms(str(line[key])) if form in by_barcode), None)
            if match is None and line.get("supplier_item") and str(line["supplier_item"]) in theirs:
                match = by_id.get(theirs[str(line["supplier_item"])])
            for key in ("buyer_item", "supplier_item"):
                if match is None and line.get(key) and len(by_code.get(str(line[key]), [])) == 1:
                    match = by_code[str(line[key])][0]
            found.append(match)
        return found

    # --- a 3PL: compared with our quants ------------------------------------------------

    def _third_party(self, profile: Profile, policy: InventoryPolicy, document: dict[str, Any]) -> DeliveryResult:
        [warehouse] = warehouses(self.client, [policy.warehouse])
        lines = document.get("lines") or []
        products = self._products(lines)
        locations = self.client.call("stock.location", "search", [[("warehouse_id", "=", warehouse["id"]),
                                                                    ("usage", "=", "internal")]])
        quants = self.client.search_read("stock.quant", [("location_id", "in", locations)],
                                         ["product_id", "location_id", "quantity", "reserved_quantity"]) \
            if locations else []
        stock_location = warehouse["lot_stock_id"][0]
        on_hand: dict[int, Decimal] = {}
        reserved: dict[int, Decimal] = {}
        at_stock: dict[int, Decimal] = {}
        names: dict[int, str] = {}
        for quant in quants:
            product = quant["product_id"][0]
            names[product] = quant["product_id"][1]
            on_hand[product] = on_hand.get(product, Decimal(0)) + (number(quant.get("quantity")) or Decimal(0))
            reserved[product] = reserved.get(product, Decimal(0)) + (number(quant.get("reserved_quantity"))
                                                                    or Decimal(0))
            if quant["location_id"][0] == stock_location:
                at_stock[product] = at_stock.get(product, Decimal(0)) + (number(quant.get("quantity")) or Decimal(0))
        where = warehouse["code"]
        differences: list[Difference] = []
        compared: list[dict[str, Any]] = []
        counts: dict[int, Decimal] = {}
        seen: set[int] = set()
        for position, (line, product) in enumerate(zip(lines, products), start=1):
            label = _label(line, position)
            if product is None:
                differences.append(Difference("unknown_product", f"{label}: no Odoo product with these numbers; "
                                                                 f"{profile.name} reports {line.get('quantity')} of it", label))
                continue
            reported = number(line.get("quantity"))
            seen.add(product["id"])
            if reported is None:
                continue  # only an on-order quantity: nothing to compare
            kind = line.get("quantity_type") or "on_hand"
            if kind == "forecast":
                continue
            ours = on_hand.get(product["id"], Decimal(0)) - (reserved.get(product["id"], Decimal(0))
                                                              if kind == "free" else Decimal(0))
            unit = product["uom_id"][1] if product.get("uom_id") else None
            compared.append({"line": line.get("line_number") or str(position), "product": product["display_name"],
                             "product_id": product["id"], "reported": shown(reported), "odoo": shown(ours),
                             "kind": kind})
            if reported == ours:
                continue
            text = (f"{label} {product['display_name']}: {profile.name} counts {shown(reported)} {kind.replace('_', ' ')}"
                    f" at {where}, Odoo has {shown(ours)} ({'+' if reported > ours else ''}{shown(reported - ours)})")
            if line.get("uom") and unit and str(line["uom"]).lower() != unit.lower():
                differences.append(Difference("unit", f"{text}; the report counts in {line['uom']}, Odoo in {unit}: "
                                                      "not adjusted", label))
                continue
            adjust = policy.apply == "adjust" and kind == "on_hand" and _within(policy, reported - ours, ours)
            held = at_stock.get(product["id"], Decimal(0))
            counted = held + (reported - ours)
            if adjust and counted < 0:  # what is missing sits in sub-locations: a person says where
                adjust = False
                text += f"; not adjusted: {warehouse['lot_stock_id'][1]} holds only {shown(held)}"
            if adjust:
                counts[product["id"]] = counted
            differences.append(Difference("stock", text + (("; would be adjusted" if self.dry_run else "; adjusted in Odoo") if adjust else ""), label,
                                          applied=adjust))
        if (document.get("mode") or "full") == "full":
            for product, quantity in sorted(on_hand.items()):
                if product not in seen and quantity:
                    differences.append(Difference("stock", f"{names[product]}: Odoo has {shown(quantity)} at {where}; "
                                                           f"{profile.name}'s report does not list it", names[product]))
        adjusted = self._adjust(stock_location, counts, profile, document)
        record = {"model": "stock.warehouse", "id": warehouse["id"], "name": where, "compared": compared,
                  "adjusted": adjusted}
        open_ = sum(1 for d in differences if not d.applied)
        reason = (f"{open_} difference{'s' if open_ != 1 else ''} with Odoo's stock at {where}" if open_ else None)
        return DeliveryResult("delivered", reason, record, tuple(differences))

    def _adjust(self, location: int, counts: dict[int, Decimal], profile: Profile,
                document: dict[str, Any]) -> list[dict[str, Any]]:
        """Odoo's count follows the 3PL's: counted quantities on the stock location, applied as one inventory."""
        if not counts:
            return []
        done = [{"product_id": product, "location_id": location, "counted": shown(quantity)}
                for product, quantity in sorted(counts.items())]
        if self.dry_run:
            return done
        ids = self.client.call("stock.quant", "create", [[{"product_id": product, "location_id": location,
                                                           "inventory_quantity": float(quantity)}
                                                          for product, quantity in sorted(counts.items())]],
                               {"context": {"inventory_mode": True}})
        self.client.call("stock.quant", "action_apply_inventory", [ids if isinstance(ids, list) else [ids]],
                         {"context": {"inventory_mode": True, "inventory_name":
                                      f"EDI stock report {document.get('document_number') or ''} from {profile.name}"}})
        return done

    # --- a supplier: kept as its availability -------------------------------------------

    def _supplier(self, profile: Profile, document: dict[str, Any]) -> DeliveryResult:
        vendor = profile_partner(self.client, profile)
        if isinstance(vendor, DeliveryResult):
            return vendor
        lines = document.get("lines") or []
        products = self._products(lines, vendor=vendor["id"])
        availability, unknown = [], []
        for position, (line, product) in enumerate(zip(lines, products), start=1):
            if product is None:
                unknown.append(_label(line, position))
                continue
            availability.append({key: value for key, value in {
                "line": line.get("line_number") or str(position), "product_id": product["id"],
                "product": product.get("default_code") or product["display_name"],
                "their_item": line.get("supplier_item"), "quantity": line.get("quantity"),
                "quantity_type": line.get("quantity_type"), "uom": line.get("uom"), "on_order": line.get("on_order"),
                "available_date": line.get("available_date")}.items() if value not in (None, "")})
        record = {"model": "res.partner", "id": vendor["id"], "name": vendor["name"], "availability": availability,
                  "not_carried": unknown}
        reason = f"{len(unknown)} item{'s' if len(unknown) != 1 else ''} we do not carry" if unknown else None
        return DeliveryResult("delivered", reason, record)


def _within(policy: InventoryPolicy, difference: Decimal, ours: Decimal) -> bool:
    """Whether the profile lets the gateway adjust a difference this big (no tolerance: any)."""
    if policy.tolerance is None and policy.tolerance_percent is None:
        return True
    if policy.tolerance is not None and abs(difference) <= Decimal(str(policy.tolerance)):
        return True
    return policy.tolerance_percent is not None and ours != 0 and \
        abs(difference) * 100 <= abs(ours) * Decimal(str(policy.tolerance_percent))
