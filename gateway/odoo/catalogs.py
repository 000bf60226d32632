"""Catalogs and Odoo: our catalog for a customer, read from its pricelist; a supplier's catalog,
compared with (and per the profile applied to) our purchase prices.

Out (`customer_catalog`): the products the rule names — those with a rule on the customer's
pricelist, those it ordered, or every product we sell — each priced by the pricelist's most
specific rule (a fixed price, or a discount on the sales price) at each minimum quantity the
pricelist has for it, with its validity, our code, its GTIN, its unit and the customer's own item
number (the profile's `delivery.item_xref`, read backwards). Calls do not grow with the number of
products: the partner, the pricelist and its currency, the rules, the products (one `search_read`),
our company's party, and for `ordered` one `read_group` of the customer's order lines.

In (`Catalogs`, the deliverer of `Catalog` documents): every item is looked up among our products
— by the supplier's code on its vendor prices, by GTIN or UPC, by our code when the catalog gives
it — in one `search_read` per model. An item we do not carry is listed (in the message's result,
and as one exception naming the first few), never created. For an item we carry, the supplier's
price, minimum quantity, validity and code are compared with its vendor price line
(`product.supplierinfo`, the one with the same minimum quantity); `catalogs.apply: prices` writes
them, except a price change beyond `catalogs.price_tolerance`, which waits for a person as an
exception. Applying the same catalog twice writes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from gateway.documents import Catalog, CatalogLine
from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.outbound import (
    PARTNER_FIELDS, Row, identifiers, many2one_id, party, present_fields, read_by_id, text,
)
from gateway.odoo.purchasing import profile_partner
from gateway.odoo.writing import barcode_forms, held_for
from gateway.order_threads import Difference
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import CatalogPolicy, Profile

SUPPLIER_INFO = "product.supplierinfo"
PRODUCT_FIELDS = ["name", "default_code", "barcode", "uom_id", "list_price", "product_tmpl_id", "categ_id",
                  "currency_id"]
SUPPLIER_FIELDS = ["product_id", "product_tmpl_id", "product_code", "product_name", "price", "min_qty",
                   "date_start", "date_end", "currency_id"]
ITEM_FIELDS = ["applied_on", "product_tmpl_id", "product_id", "categ_id", "compute_price", "fixed_price",
               "percent_price", "base", "min_quantity", "date_start", "date_end"]
# The most specific pricelist rule wins (Odoo's order of `applied_on`).
SPECIFICITY = {"0_product_variant": 0, "1_product": 1, "2_product_category": 2, "3_global": 3}
UNKNOWN_NAMED = 10  # items named in the exception; the result lists them all


# --- out: our catalog for a customer -----------------------------------------------------------


def customer_catalog(client: OdooClient, partner_id: int, *, products: str = "pricelist",
                     pricelist: int | str | None = None, item_xref: dict[str, str] | None = None,
                     today: dt.date | None = None) -> tuple[Catalog, list[str]]:
    """The customer's catalog as Odoo prices it today (no number yet), and what was left out and why."""
    today = today or dt.date.today()
    customer = _customer(client, partner_id)
    pricelist_row = _pricelist(client, customer, pricelist)
    currency = text((pricelist_row.get("currency_id") or [None, None])[1])
    items = [item for item in client.search_read(
        "product.pricelist.item", [("pricelist_id", "=", pricelist_row["id"])],
        present_fields(client, "product.pricelist.item", ITEM_FIELDS))
        if not item.get("date_end") or str(item["date_end"])[:10] >= today.isoformat()]
    rows = _products(client, customer["id"], products, items)
    ours = {code: theirs for theirs, code in (item_xref or {}).items()}
    rules = _Rules(items)
    lines: list[CatalogLine] = []
    left_out: list[str] = []
    for product in sorted(rows, key=lambda row: (text(row.get("default_code")) or "", row["id"])):
        named = identifiers(product)
        if not named.get("supplier_item"):
            left_out.append(f"{product.get('name')} (product {product['id']}): no internal reference, so the "
                            "customer could not order it by our code")
            continue
        priced = _prices(product, rules, currency)
        if not priced:
            left_out.append(f"{named['supplier_item']}: no price in {currency} on pricelist {pricelist_row['name']}")
        for minimum, price, item in priced:
            lines.append(CatalogLine(
                line_number=str(len(lines) + 1), **named, buyer_item=ours.get(named["supplier_item"]),
                uom=text((product.get("uom_id") or [None, None])[1]), unit_price=_decimal_text(price),
                minimum_quantity=_decimal_text(minimum) if minimum > 0 else None, currency=None,
                valid_from=_date(item.get("date_start")) if item else None,
                valid_to=_date(item.get("date_end")) if item else None))
    document = Catalog(document_date=today.isoformat(), purpose="full", currency=currency,
                       buyer=party(customer), supplier=_our_party(client), lines=lines)
    return document, left_out


def _customer(client: OdooClient, partner_id: int) -> Row:
    rows = read_by_id(client, "res.partner", [partner_id],
                      [*PARTNER_FIELDS, "property_product_pricelist"])
    if not rows:
        raise LookupError(f"Odoo has no partner {partner_id}")
    return rows[partner_id]


def _pricelist(client: OdooClient, customer: Row, wanted: int | str | None) -> Row:
    """The pricelist the rule names (id or name), else the customer's own."""
    if isinstance(wanted, str) and not wanted.isdigit():
        domain: list = [("name", "=", wanted)]
    elif wanted is not None:
        domain = [("id", "=", int(wanted))]
    elif many2one_id(customer.get("property_product_pricelist")):
        domain = [("id", "=", many2one_id(customer["property_product_pricelist"]))]
    else:
        raise LookupError(f"customer {customer.get('name')} has no pricelist in Odoo; give it one, or name one "
                          "as send.Catalog.pricelist in its profile")
    rows = client.search_read("product.pricelist", domain, ["name", "currency_id"], limit=2)
    if len(rows) != 1:
        raise LookupError(f"{'no' if not rows else 'more than one'} Odoo pricelist with "
                          f"{domain[0][0]} {domain[0][2]!r} (send.Catalog.pricelist)")
    return rows[0]


def _products(client: OdooClient, customer_id: int, which: str, items: list[Row]) -> list[Row]:
    """The products of the catalog, read in one call: per `which`, pricelist | ordered | all."""
    fields = present_fields(client, "product.product", PRODUCT_FIELDS)
    if which == "all":
        return client.search_read("product.product", [("sale_ok", "=", True)], fields)
    if which == "ordered":
        groups = client.call("sale.order.line", "read_group", [
            [("order_partner_id", "child_of", customer_id), ("product_id", "!=", False)], ["product_id"],
            ["product_id"]], {"lazy": False})
        ids = [many2one_id(group["product_id"]) for group in groups if group.get("product_id")]
        return client.search_read("product.product", [("id", "in", ids)], fields) if ids else []
    variants = [many2one_id(i["product_id"]) for i in items if i.get("applied_on") == "0_product_variant"]
    templates = [many2one_id(i["product_tmpl_id"]) for i in items if i.get("applied_on") == "1_product"]
    if not variants and not templates:
        return []
    return client.search_read("product.product", ["|", ("id", "in", [v for v in variants if v]),
                                                  ("product_tmpl_id", "in", [t for t in templates if t])], fields)


class _Rules:
    """A pricelist's rules indexed by what they apply to, so each product finds its own in constant time."""

    def __init__(self, items: list[Row]) -> None:
        self.by: dict[tuple[str, int | None], list[Row]] = {}
        for item in items:
            applied = item.get("applied_on")
            target = {"0_product_variant": "product_id", "1_product": "product_tmpl_id",
                      "2_product_category": "categ_id"}.get(applied)
            self.by.setdefault((applied, many2one_id(item.get(target)) if target else None), []).append(item)

    def of(self, product: Row) -> list[Row]:
        return [*self.by.get(("0_product_variant", product["id"]), ()),
                *self.by.get(("1_product", many2one_id(product.get("product_tmpl_id"))), ()),
                *self.by.get(("2_product_category", many2one_id(product.get("categ_id"))), ()),
                *self.by.get(("3_global", None), ())]


def _prices(product: Row, rules: _Rules, currency: str | None) -> list[tuple[Decimal, Decimal, Row | None]]:
    """(minimum quantity, price, the rule) per minimum quantity the pricelist has for the product.

    A fixed price is the pricelist's own; a discount applies to the sales price, which is in the
    company's currency: in another currency that product has no price here. Formulas and prices
    based on another pricelist or the cost are left to Odoo (no price in the catalog)."""
    best: dict[Decimal, Row] = {}
    for item in rules.of(product):
        minimum = Decimal(str(item.get("min_quantity") or 0)).normalize()
        known = best.get(minimum)
        if known is None or SPECIFICITY.get(item.get("applied_on"), 9) < SPECIFICITY.get(known.get("applied_on"), 9):
            best[minimum] = item
    list_price = Decimal(str(product.get("list_price") or 0))
    same_currency = text((product.get("currency_id") or [None, None])[1]) in (None, currency)
    out: list[tuple[Decimal, Decimal, Row | None]] = []
    for minimum, item in sorted(best.items()):
        if item.get("compute_price") == "fixed":
            out.append((minimum, Decimal(str(item.get("fixed_price") or 0)), item))
        elif item.get("compute_price") == "percentage" and same_currency and item.get("base", "list_price") == "list_price":
            discount = Decimal(str(item.get("percent_price") or 0))
            out.append((minimum, (list_price * (100 - discount) / 100).quantize(Decimal("0.01")), item))
    if Decimal(0) not in best and same_currency:
        out.insert(0, (Decimal(0), list_price, None))
    return out


def _our_party(client: OdooClient):
    companies = client.search_read("res.company", [], ["partner_id"], limit=1, order="id")
    if not companies:
        return None
    rows = read_by_id(client, "res.partner", [many2one_id(companies[0]["partner_id"])], PARTNER_FIELDS)
    return party(next(iter(rows.values()), None))


def _decimal_text(value: Decimal) -> str:
    """A decimal as a catalog writes it: no exponent, no trailing zeros after the point."""
    out = format(value.normalize(), "f")
    return out.rstrip("0").rstrip(".") if "." in out else out


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


def item_key(line: CatalogLine) -> str:
    """Which item of the catalog a line is, from one catalog to the next: our code and the minimum quantity."""
    return f"{line.supplier_item}@{line.minimum_quantity or '0'}"


def fingerprint(line: CatalogLine) -> str:
    """The line's values (not its position or action): equal fingerprints, nothing to tell the customer."""
    values = {k: v for k, v in asdict(line).items() if k not in ("line_number", "action")}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def changes_since(document: Catalog, sent: dict[str, tuple[str, dict[str, Any]]]) -> Catalog:
    """Only what changed since the items `sent` (key → (fingerprint, line)): added, changed, deleted."""
    lines: list[CatalogLine] = []
    now = {item_key(line): line for line in document.lines}
    for key, line in now.items():
        before = sent.get(key)
        if before is None:
            lines.append(replace(line, action="add"))
        elif before[0] != fingerprint(line):
            lines.append(replace(line, action="change"))
    for key, (_, old) in sent.items():
        if key not in now:
            lines.append(replace(CatalogLine(**{k: v for k, v in old.items() if k in CatalogLine.__dataclass_fields__}),
                                 action="delete"))
    numbered = [replace(line, line_number=str(n)) for n, line in enumerate(lines, start=1)]
    return replace(document, purpose="changes", lines=numbered)


# --- in: a supplier's catalog ------------------------------------------------------------------


class Catalogs:
    """Compares a supplier's catalog with our vendor prices, and applies it per the profile."""

    TYPES = ("Catalog",)

    def __init__(self, client: OdooClient, dry_run: bool = False) -> None:
        self.client = client
        self.dry_run = dry_run  # compare only, write nothing (`edigw partners test`)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> dict[str, Any]:
        result = Catalogs(self.client, dry_run=True).deliver(profile, document_type, document, thread)
        record = result.record or {}
        return {"model": SUPPLIER_INFO, "action": "apply" if result.state == "delivered" else "hold",
                "record": record, "problems": [result.reason] if result.reason else [],
                "differences": [{"kind": d.kind, "line": d.line, "text": d.text, "applied": d.applied}
                                for d in result.differences]}

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> DeliveryResult:
        number = document.get("document_number") or "(no number)"
        try:
            vendor = profile_partner(self.client, profile)
            if isinstance(vendor, DeliveryResult):
                return vendor
            if document.get("purpose") == "cancel":
                return DeliveryResult("held", f"catalog {number} of {vendor['name']} cancels its catalog: remove its "
                                              "vendor prices in Odoo by hand, then resolve this message")
            currency = self._currency(document)
            if isinstance(currency, DeliveryResult):
                return currency
            return _Applying(self, profile.catalogs, vendor, currency, document).run()
        except OdooError as error:
            return held_for(error, f"Odoo refused a call while applying catalog {number}: {error.kind}: "
                                   f"{error.message}; fix it and reprocess from deliver")

    def _currency(self, document: dict[str, Any]) -> int | None | DeliveryResult:
        """The id of the catalog's currency (None: Odoo's default, the company's), or why it cannot be used."""
        codes = {document.get("currency")} | {line.get("currency") for line in document.get("lines") or []}
        codes.discard(None)
        if not codes:
            return None
        if len(codes) > 1:
            return DeliveryResult("held", f"the catalog mixes currencies ({', '.join(sorted(codes))}); vendor prices "
                                          "have one: ask the supplier for one catalog per currency")
        [code] = codes
        rows = self.client.search_read("res.currency", [("name", "=", code)], ["name", "active"],
                                       context={"active_test": False})
        if not rows or not rows[0].get("active"):
            return DeliveryResult("held", f"the catalog's prices are in {code}, which is not an active currency in "
                                          f"Odoo; activate {code} (Accounting > Currencies) and reprocess from deliver")
        return rows[0]["id"]


class _Applying:
    """One supplier catalog compared with, and applied to, our vendor prices."""

    def __init__(self, owner: Catalogs, policy: CatalogPolicy, vendor: Row, currency: int | None,
                 document: dict[str, Any]) -> None:
        self.client, self.dry_run, self.policy = owner.client, owner.dry_run, policy
        self.vendor, self.currency, self.document = vendor, currency, document
        self.differences: list[Difference] = []
        self.creates: list[dict[str, Any]] = []
        self.writes: dict[str, list[int]] = {}  # the values (JSON) → the vendor price lines that get them
        self.record: dict[str, Any] = {"model": SUPPLIER_INFO, "name": f"catalog {document.get('document_number') or ''}"
                                       f" of {vendor['name']}".replace("  ", " "), "vendor": vendor["name"],
                                       "apply": policy.apply, "updated": [], "added": [], "held_back": [],
                                       "unchanged": 0, "without_price": 0, "unknown_items": []}

    def run(self) -> DeliveryResult:
        lines = self.document.get("lines") or []
        sellers = self.client.search_read(SUPPLIER_INFO, [("partner_id", "=", self.vendor["id"])],
                                          SUPPLIER_FIELDS)
        products = self._products(lines)
        for position, line in enumerate(lines, start=1):
            label = f"line {line.get('line_number') or position}"
            product = self._product_of(line, sellers, products)
            if product is None:
                self.record["unknown_items"].append({"line": line.get("line_number") or str(position),
                                                     **{k: line[k] for k in ("gtin", "upc", "supplier_item",
                                                                             "description") if line.get(k)}})
                continue
            self._compare(label, line, product, sellers)
        self._unknown()
        self._write()
        return DeliveryResult("delivered", None, self.record, tuple(self.differences))

    # -- look-ups: two calls for the whole catalog
    def _products(self, lines: list[dict[str, Any]]) -> list[Row]:
        barcodes = sorted({form for line in lines for code in (line.get("gtin"), line.get("upc")) if code
                           for form in barcode_forms(str(code))})
        codes = sorted({str(line["buyer_item"]) for line in lines if line.get("buyer_item")})
        if not barcodes and not codes:
            return []
        return self.client.search_read("product.product", ["|", ("barcode", "in", barcodes),
                                                           ("default_code", "in", codes)],
                                       ["display_name", "barcode", "default_code", "product_tmpl_id"])

    def _product_of(self, line: dict[str, Any], sellers: list[Row], products: list[Row]) -> Row | None:
        """Ours: by the supplier's code on its vendor prices, else by GTIN / UPC, else by our code."""
        code = line.get("supplier_item")
        if code:
            for seller in sellers:
                if seller.get("product_code") == code:
                    template = many2one_id(seller.get("product_tmpl_id"))
                    variant = many2one_id(seller.get("product_id"))
                    found = [p for p in products if p["id"] == variant or many2one_id(p["product_tmpl_id"]) == template]
                    return found[0] if found else {"id": variant, "product_tmpl_id": seller.get("product_tmpl_id"),
                                                   "display_name": (seller.get("product_tmpl_id") or [0, code])[1]}
        for key in ("gtin", "upc"):
            if line.get(key):
                forms = set(barcode_forms(str(line[key])))
                found = [p for p in products if p.get("barcode") in forms]
                if found:
                    return found[0]
        if line.get("buyer_item"):
            found = [p for p in products if p.get("default_code") == str(line["buyer_item"])]
            if found:
                return found[0]
        return None

    # -- one item we carry
    def _compare(self, label: str, line: dict[str, Any], product: Row, sellers: list[Row]) -> None:
        name = product.get("display_name") or line.get("supplier_item")
        if line.get("action") == "delete":
            self.differences.append(Difference(
                "catalog_delete", f"{label}: {self.vendor['name']} takes {name} out of its catalog; remove its vendor "
                                  "price in Odoo if you no longer buy it there", line.get("line_number")))
            return
        price = _decimal(line.get("unit_price"))
        if price is None:
            self.record["without_price"] += 1
            return
        minimum = _decimal(line.get("minimum_quantity")) or Decimal(0)
        template = many2one_id(product.get("product_tmpl_id"))
        row = next((s for s in sellers if many2one_id(s.get("product_tmpl_id")) == template
                    and Decimal(str(s.get("min_qty") or 0)) == minimum), None)
        values = {"price": float(price), "min_qty": float(minimum)}
        for ours, theirs in (("product_code", "supplier_item"), ("product_name", "description")):
            if line.get(theirs):
                values[ours] = line[theirs]
        for ours, theirs in (("date_start", "valid_from"), ("date_end", "valid_to")):
            if line.get(theirs) or self.document.get(theirs):
                values[ours] = line.get(theirs) or self.document.get(theirs)
        if self.currency is not None:
            values["currency_id"] = self.currency
        entry = {"line": line.get("line_number"), "product": name, "price": str(price),
                 "min_qty": _decimal_text(minimum)}
        if row is None:
            self.record["added"].append(entry)
            self.creates.append({"partner_id": self.vendor["id"], "product_tmpl_id": template, **values})
            return
        old = Decimal(str(row.get("price") or 0))
        changed = {key: value for key, value in values.items() if not _same(row.get(key), value)}
        if not changed:
            self.record["unchanged"] += 1
            return
        if old != price:
            entry["was"] = _decimal_text(old)
            if not self._price_may_change(label, line, name, old, price):
                self.record["held_back"].append(entry)
                return
        self.record["updated"].append(entry)
        self.writes.setdefault(json.dumps(changed, sort_keys=True), []).append(row["id"])

    def _write(self) -> None:
        """The new vendor prices in one `create`; the changed ones in one `write` per set of new values
        (a catalog that moves many prices the same way costs one call, one of distinct prices one per line)."""
        if self.policy.apply != "prices" or self.dry_run:
            return
        if self.creates:
            self.client.call(SUPPLIER_INFO, "create", [self.creates])
        for values, ids in self.writes.items():
            self.client.call(SUPPLIER_INFO, "write", [ids, json.loads(values)])

    def _price_may_change(self, label: str, line: dict[str, Any], name: str, old: Decimal, new: Decimal) -> bool:
        """Whether the new price is applied; a difference says what happened either way."""
        change = abs(new - old) / old * 100 if old else None
        said = f"{label}: {self.vendor['name']} prices {name} at {_decimal_text(new)} (was {_decimal_text(old)}"
        said += f", {change:.1f}% {'up' if new > old else 'down'})" if change is not None else ")"
        tolerance = self.policy.price_tolerance
        if self.policy.apply != "prices":
            self.differences.append(Difference("price", f"{said}; catalogs.apply is none: nothing written",
                                               line.get("line_number")))
            return True
        if tolerance is not None and (change is None or change > tolerance):
            self.differences.append(Difference(
                "price", f"{said}: more than the {tolerance:g}% catalogs.price_tolerance allows, so not written; "
                         "update the vendor price in Odoo if you accept it", line.get("line_number")))
            return False
        self.differences.append(Difference("price", f"{said}: written to its vendor price", line.get("line_number"),
                                           applied=not self.dry_run))
        return True

    def _unknown(self) -> None:
        unknown = self.record["unknown_items"]
        if not unknown:
            return
        named = "; ".join(" ".join(filter(None, (item.get("gtin") or item.get("upc"), item.get("supplier_item"),
                                                 item.get("description")))) for item in unknown[:UNKNOWN_NAMED])
        more = f" and {len(unknown) - UNKNOWN_NAMED} more" if len(unknown) > UNKNOWN_NAMED else ""
        self.differences.append(Difference(
            "unknown_items", f"{len(unknown)} item(s) of the catalog are not products of ours, none created: "
                             f"{named}{more} (all in the message's result); create the ones you want to buy, "
                             "then reprocess from deliver"))


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, float):
        return ours is not None and ours is not False and abs(float(ours) - theirs) < 1e-9
    if isinstance(ours, list):  # a many2one as Odoo reads it
        return ours[0] == theirs
    return (ours or None) == (theirs or None)


def catalog_lines(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The items sent before (store rows as dicts with key, fingerprint, line JSON), by key."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        out[row["key"]] = (row["fingerprint"], json.loads(row["line"]))
    return out


__all__ = ["Catalogs", "catalog_lines", "changes_since", "customer_catalog", "fingerprint", "item_key"]
