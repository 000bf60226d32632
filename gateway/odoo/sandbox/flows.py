"""What Odoo 18's business models do in the sandbox: defaults, computed fields, workflows.

Each section registers a model's :class:`~gateway.odoo.sandbox.orm.Behaviour`:
display names, dynamic defaults, computed fields, constraints and the public
methods the gateway calls (``action_confirm``, ``button_confirm``,
``button_validate``, ``action_post`` …).  Messages are Odoo's own words, because
callers (and the gateway's held-message reasons) read them.
"""

from __future__ import annotations

import html
import secrets
from datetime import datetime, timedelta
from typing import Any

from gateway.odoo.sandbox.orm import (
    DELEGATED_FROM,
    AccessError,
    Database,
    InvalidValue,
    UserError,
    ValidationError,
    behaviour,
    float_round,
    now_string,
    today_string,
)

COMPANY, USD, UNITS = 1, 1, 1
SALE_TAX, PURCHASE_TAX = 1, 2
ACC_RECEIVABLE, ACC_PAYABLE, ACC_TAX_SALE, ACC_TAX_PURCHASE, ACC_INCOME, ACC_EXPENSE = 7, 14, 22, 17, 27, 33
JOURNAL_SALE, JOURNAL_PURCHASE = 1, 2
TYPE_IN, TYPE_OUT = 1, 2
LOC_VENDORS, LOC_CUSTOMERS, LOC_STOCK, LOC_INVENTORY = 4, 5, 8, 14
BACKORDER_VIEW, SO_CANCEL_VIEW = 892, 1224  # view ids of a fresh Odoo 18 database, as recorded


def rec(db: Database, model: str, rid: int) -> dict[str, Any]:
    return db.records[model][rid]


def val(db: Database, model: str, rid: Any, name: str) -> Any:
    return db.get(model, rid, name) if rid else False


def money(amount: float) -> float:
    return float_round(amount, 2)


def convert_qty(db: Database, qty: float, from_uom: int, to_uom: int) -> float:
    """``uom.uom._compute_quantity``: through the category's reference unit."""
    if not from_uom or not to_uom or from_uom == to_uom:
        return float(qty)
    amount = qty / val(db, "uom.uom", from_uom, "factor") * val(db, "uom.uom", to_uom, "factor")
    return float_round(amount, 2)


def convert_price(db: Database, price: float, from_uom: int, to_uom: int) -> float:
    if not from_uom or not to_uom or from_uom == to_uom:
        return float(price)
    return price * val(db, "uom.uom", from_uom, "factor") / val(db, "uom.uom", to_uom, "factor")


def tax_amount(db: Database, tax_ids: list[int], base: float) -> float:
    """Taxes rounded per line, as Odoo's default ``round_per_line``."""
    total = 0.0
    for tax in tax_ids:
        kind, amount = val(db, "account.tax", tax, "amount_type"), val(db, "account.tax", tax, "amount")
        total += money(base * amount / 100.0) if kind == "percent" else money(amount)
    return total


# --------------------------------------------------------------------------- partners
COUNTRY_EAS = {"DE": "9930", "BE": "0208", "NL": "0106", "FR": "0009", "NO": "0192", "SE": "0007",
               "DK": "0184", "AT": "9915", "IT": "0211", "AU": "0151"}


def _commercial_partner(db: Database, rid: int) -> int:
    seen = set()
    while rid not in seen:
        seen.add(rid)
        r = rec(db, "res.partner", rid)
        if r.get("is_company") or not r.get("parent_id") or not db.exists("res.partner", r["parent_id"]):
            return rid
        rid = r["parent_id"]
    return rid


def _partner_name(db: Database, rid: int) -> str:
    r = rec(db, "res.partner", rid)
    name = r.get("name") or ""
    if r.get("parent_id") and not r.get("is_company") and db.exists("res.partner", r["parent_id"]):
        parent = _commercial_partner(db, r["parent_id"])
        company = rec(db, "res.partner", parent).get("name") or ""
        if not name and r.get("type") in ("invoice", "delivery", "other"):
            name = {"invoice": "Invoice Address", "delivery": "Delivery Address", "other": "Other Address"}[r["type"]]
        return f"{company}, {name}"
    return name


def _partner_after_save(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    for rid in ids:
        r = rec(db, "res.partner", rid)
        if "property_product_pricelist" in vals:  # its inverse: the partner's own pricelist
            r["specific_property_product_pricelist"] = vals["property_product_pricelist"] or False
        if "peppol_eas" not in vals and not r.get("peppol_eas") and r.get("country_id"):
            r["peppol_eas"] = COUNTRY_EAS.get(val(db, "res.country", r["country_id"], "code"), False)


def _partner_barcodes_unique(db: Database, ids: list[int]) -> None:
    """Odoo counts the active partners with the barcode: an archived one does not keep it from another."""
    for rid in ids:
        code = rec(db, "res.partner", rid).get("barcode")
        if code and len(db.search("res.partner", [("barcode", "=", code)])) > 1:
            raise ValidationError("Another partner already has this barcode")


def _partner_named(db: Database, ids: list[int]) -> None:
    """res.partner's ``check_name`` constraint: a contact (not an address) needs a name."""
    for rid in ids:
        r = rec(db, "res.partner", rid)
        if not r.get("name") and (r.get("type") or "contact") == "contact":
            raise ValidationError("Contacts require a name")


partner = behaviour("res.partner")
partner.display_name = _partner_name
partner.computes.update(
    complete_name=_partner_name,
    commercial_partner_id=_commercial_partner,
    commercial_company_name=lambda db, rid: rec(db, "res.partner", _commercial_partner(db, rid)).get("name") or False,
    company_type=lambda db, rid: "company" if rec(db, "res.partner", rid).get("is_company") else "person",
    country_code=lambda db, rid: val(db, "res.country", rec(db, "res.partner", rid).get("country_id"), "code"),
    property_account_receivable_id=lambda db, rid: rec(db, "res.partner", rid).get(
        "property_account_receivable_id") or ACC_RECEIVABLE,
    property_account_payable_id=lambda db, rid: rec(db, "res.partner", rid).get(
        "property_account_payable_id") or ACC_PAYABLE,
    invoice_ids=lambda db, rid: db.search("account.move", [("partner_id", "=", rid)]),
    property_product_pricelist=lambda db, rid: _partner_pricelist(db, rid),
)
partner.after_create = lambda db, rid, vals, ctx: _partner_after_save(db, [rid], vals, ctx)
partner.after_write = _partner_after_save
partner.check = lambda db, ids: _partner_named(db, ids) or _partner_barcodes_unique(db, ids)

behaviour("res.users").methods["context_get"] = lambda db, *a, context=None, **k: {
    "lang": val(db, "res.users", db.uid, "lang") or "en_US", "tz": val(db, "res.users", db.uid, "tz"), "uid": db.uid}
behaviour("res.company").computes["country_id"] = lambda db, rid: val(
    db, "res.partner", rec(db, "res.company", rid).get("partner_id"), "country_id")
behaviour("res.currency").computes["decimal_places"] = lambda db, rid: 2


# --------------------------------------------------------------------------- currencies and pricelists
def currency_rate(db: Database, currency: Any) -> float:
    """``res.currency.rate``: units of `currency` per unit of the company's currency on its latest rate up to
    today (1.0 for the company's own and for a currency without rates)."""
    if not currency or currency == USD:
        return 1.0
    today = today_string()
    rates = [r for r in db.records["res.currency.rate"].values()
             if r.get("currency_id") == currency and (r.get("name") or "") <= today]
    return float(max(rates, key=lambda r: (r.get("name") or "", r["id"]))["rate"] or 1.0) if rates else 1.0


def to_currency(db: Database, amount: float, currency: Any) -> float:
    """An amount in the company's currency (list and cost prices) in `currency`, as Odoo converts it."""
    return money(amount * currency_rate(db, currency)) if currency and currency != USD else amount


def _partner_pricelist(db: Database, rid: int) -> Any:
    """``property_product_pricelist``: the partner's own, else the first active pricelist (Odoo's fallback
    when no country group decides)."""
    own = rec(db, "res.partner", rid).get("specific_property_product_pricelist")
    if own and db.exists("product.pricelist", own):
        return own
    found = db.search("product.pricelist", [], limit=1)
    return found[0] if found else False


behaviour("res.currency").computes.update(
    rate=currency_rate, inverse_rate=lambda db, rid: 1.0 / currency_rate(db, rid))
behaviour("res.currency.rate").computes.update(
    company_rate=lambda db, rid: rec(db, "res.currency.rate", rid).get("rate") or 1.0,
    inverse_company_rate=lambda db, rid: 1.0 / (rec(db, "res.currency.rate", rid).get("rate") or 1.0))
behaviour("res.currency.rate").defaults = lambda db, vals, ctx: {"company_id": COMPANY, "name": today_string()}
def _currency_after_write(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    """Activating (or adding) a second currency turns pricelists on, and the company gets its "Default"
    pricelist in its own currency when it has none: a fresh database has no pricelist (04), the one 16 was
    recorded on, after EUR was activated, has "Default (USD)"."""
    if vals.get("active", True) and any(i != USD for i in ids) and not db.search(
            "product.pricelist", [("company_id", "=", COMPANY), ("currency_id", "=", USD)], active_test=False):
        db.create("product.pricelist", [{"name": "Default", "currency_id": USD, "company_id": COMPANY}])


behaviour("res.currency").after_write = lambda db, ids, vals, ctx: "active" in vals and _currency_after_write(
    db, ids, vals, ctx)
behaviour("res.currency").after_create = lambda db, rid, vals, ctx: _currency_after_write(db, [rid], vals, ctx)
behaviour("product.pricelist").display_name = lambda db, rid: "{} ({})".format(
    rec(db, "product.pricelist", rid).get("name"), val(db, "res.currency", rec(db, "product.pricelist", rid).get(
        "currency_id"), "name"))
behaviour("product.pricelist").defaults = lambda db, vals, ctx: {"currency_id": USD, "company_id": False}
behaviour("ir.model.data").computes["complete_name"] = lambda db, rid: "{module}.{name}".format(
    **rec(db, "ir.model.data", rid))


# --------------------------------------------------------------------------- API keys (JSON-2)
API_KEYS_LIMIT = 10  # the default of the system parameter base.programmatic_api_keys_limit


def api_key_user(db: Database, key: str | None) -> int | None:
    """The user an unexpired API key of scope ``rpc`` (or of no scope) stands for; None for any other key."""
    now = now_string()
    for r in db.records["res.users.apikeys"].values():
        if key and r.get("key") == key and r.get("scope") in (None, False, "rpc") and not (
                r.get("expiration_date") and r["expiration_date"] < now):
            return r.get("user_id")
    return None


def add_api_key(db: Database, user: int, name: str, key: str | None = None, scope: str | None = None,
                expiration_date: str | None = None) -> str:
    """Store a key for ``user`` (a new random 160-bit one, as Odoo makes, unless ``key`` is given)."""
    key = key or secrets.token_hex(20)
    rid = db.create("res.users.apikeys", [{"name": name, "user_id": user, "scope": scope or False,
                                           "expiration_date": expiration_date or False}])[0]
    db._touch("res.users.apikeys", rid)["key"] = key
    return key


def _generate_api_key(db: Database, key: str, scope: str | None, name: str,
                      expiration_date: str, context: dict | None = None) -> str:
    user = api_key_user(db, key)
    if user is None:
        raise AccessError("The provided API key is invalid.")
    owned = [r for r in db.records["res.users.apikeys"].values() if r.get("user_id") == user]
    if len(owned) >= API_KEYS_LIMIT:
        raise UserError(f"Limit of {API_KEYS_LIMIT} API keys reached for programmatic creation.")
    return add_api_key(db, user, name, scope=scope, expiration_date=expiration_date)


def _revoke_api_key(db: Database, key: str, context: dict | None = None) -> bool:
    found = [i for i, r in db.records["res.users.apikeys"].items() if key and r.get("key") == key]
    if not found or api_key_user(db, key) is None:
        raise AccessError("The provided API key is invalid.")
    db.unlink("res.users.apikeys", found)
    return True


behaviour("res.users.apikeys").methods.update(generate=_generate_api_key, revoke=_revoke_api_key)


# --------------------------------------------------------------------------- uom, products
behaviour("uom.uom").computes["factor_inv"] = lambda db, rid: 1.0 / (rec(db, "uom.uom", rid).get("factor") or 1.0)


def _product_name(db: Database, rid: int) -> str:
    name, code = val(db, "product.product", rid, "name"), rec(db, "product.product", rid).get("default_code")
    return f"[{code}] {name}" if code else name


def _template_variant(db: Database, rid: int) -> int | bool:
    found = db.search("product.product", [("product_tmpl_id", "=", rid)], active_test=False, limit=1)
    return found[0] if found else False


def _template_name(db: Database, rid: int) -> str:
    variant = _template_variant(db, rid)
    return _product_name(db, variant) if variant else rec(db, "product.template", rid).get("name") or ""


def _stock(db: Database, product: int, what: str, inside: set[int] | None = None) -> float:
    """A product's quantity of one kind (`qty_available` …) in `inside` (default: every internal location)."""
    internal = inside if inside is not None else set(
        db.search("stock.location", [("usage", "=", "internal")], active_test=False))
    quants = [rec(db, "stock.quant", q) for q in db.lookup("stock.quant", "product_id", product)]
    on_hand = sum(q.get("quantity") or 0.0 for q in quants if q.get("location_id") in internal)
    if what == "qty_available":
        return on_hand
    incoming = outgoing = reserved = 0.0
    for m in (rec(db, "stock.move", i) for i in db.lookup("stock.move", "product_id", product)):
        if m.get("state") in ("done", "cancel", "draft"):
            continue
        qty = convert_qty(db, m.get("product_uom_qty") or 0.0, m.get("product_uom"),
                          val(db, "product.product", product, "uom_id"))
        if m.get("location_dest_id") in internal and m.get("location_id") not in internal:
            incoming += qty
        if m.get("location_id") in internal and m.get("location_dest_id") not in internal:
            outgoing += qty
            reserved += m.get("quantity") or 0.0
    return {"virtual_available": on_hand + incoming - outgoing, "incoming_qty": incoming,
            "outgoing_qty": outgoing, "free_qty": on_hand - reserved}[what]


def _product_defaults(db: Database, vals: dict, context: dict) -> dict:
    uom = vals.get("uom_id") or UNITS
    return {"uom_id": uom, "uom_po_id": vals.get("uom_po_id") or uom, "categ_id": 1 if db.exists(
        "product.category", 1) else False, "taxes_id": [SALE_TAX] if db.exists("account.tax", SALE_TAX) else [],
            "supplier_taxes_id": [PURCHASE_TAX] if db.exists("account.tax", PURCHASE_TAX) else [],
            "company_id": False}


def _barcodes_unique(db: Database, ids: list[int]) -> None:
    """Odoo groups the active products by barcode: an archived product does not keep its barcode from another."""
    for rid in ids:
        code = rec(db, "product.product", rid).get("barcode")
        if not code:
            continue
        holders = db.search("product.product", [("barcode", "=", code)])
        if len(holders) > 1:
            names = " and ".join(_product_name(db, i) for i in sorted(holders))
            raise ValidationError(
                f'Barcode(s) already assigned:\n\n- Barcode "{code}" already assigned to product(s): {names}'
                "\n\nNote: products that you don't have access to will not be shown above.")


product = behaviour("product.product")
product.display_name = _product_name
product.defaults = _product_defaults
product.check = _barcodes_unique
product.search_name = lambda db, name, op: ["|", "|", ("default_code", op, name), ("name", op, name),
                                            ("barcode", op, name)]
product.computes.update(
    code=lambda db, rid: rec(db, "product.product", rid).get("default_code") or False,
    lst_price=lambda db, rid: val(db, "product.product", rid, "list_price"),
    **{k: (lambda what: lambda db, rid: _stock(db, rid, what))(k)
       for k in ("qty_available", "virtual_available", "free_qty", "incoming_qty", "outgoing_qty")},
)
def _template_after_create(db: Database, rid: int, vals: dict, context: dict) -> None:
    """A template created on its own gets its one variant, with the variant fields given, as in Odoo."""
    if context.get(DELEGATED_FROM) == "product.product":
        return
    variant = {key: vals[key] for key in ("barcode", "default_code") if vals.get(key)}
    db.create("product.product", [{"product_tmpl_id": rid, **variant}], context)


template = behaviour("product.template")
template.after_create = _template_after_create
template.display_name = _template_name
template.defaults = _product_defaults
template.computes.update(
    product_variant_id=_template_variant,
    default_code=lambda db, rid: val(db, "product.product", _template_variant(db, rid), "default_code"),
    barcode=lambda db, rid: val(db, "product.product", _template_variant(db, rid), "barcode"),
    standard_price=lambda db, rid: val(db, "product.product", _template_variant(db, rid), "standard_price") or 0.0,
    currency_id=lambda db, rid: USD,
    **{k: (lambda what: lambda db, rid: sum(_stock(db, p, what) for p in db.search(
        "product.product", [("product_tmpl_id", "=", rid)])))(k) for k in ("qty_available", "virtual_available")},
)
behaviour("product.supplierinfo").defaults = lambda db, vals, ctx: {"currency_id": USD, "company_id": COMPANY}
behaviour("product.supplierinfo").computes["product_uom"] = lambda db, rid: val(
    db, "product.template", rec(db, "product.supplierinfo", rid).get("product_tmpl_id"), "uom_po_id")
behaviour("product.supplierinfo").before_create = lambda db, vals, ctx: vals.setdefault(
    "product_tmpl_id", val(db, "product.product", vals.get("product_id"), "product_tmpl_id"))


# --------------------------------------------------------------------------- stock
def _location_name(db: Database, rid: int) -> str:
    r = rec(db, "stock.location", rid)
    parent = r.get("location_id")
    if parent and r.get("usage") != "view" and db.exists("stock.location", parent):
        return f"{_location_name(db, parent)}/{r.get('name')}"
    return r.get("name") or ""


behaviour("stock.location").display_name = _location_name
# Receipts create lots from the names typed on their move lines; other operations only use existing ones.
behaviour("stock.picking.type").defaults = lambda db, vals, ctx: {"use_create_lots": vals.get("code") == "incoming"}
behaviour("stock.location").computes["complete_name"] = _location_name
behaviour("stock.picking.type").display_name = lambda db, rid: (
    f"{val(db, 'stock.warehouse', rec(db, 'stock.picking.type', rid).get('warehouse_id'), 'name')}: "
    f"{rec(db, 'stock.picking.type', rid).get('name')}"
    if rec(db, "stock.picking.type", rid).get("warehouse_id") else rec(db, "stock.picking.type", rid).get("name"))


def _picking_state(db: Database, rid: int) -> str:
    states = [rec(db, "stock.move", m).get("state") for m in db.lookup("stock.move", "picking_id", rid)]
    stored = rec(db, "stock.picking", rid).get("state") or "draft"
    if not states:
        return stored
    if all(s == "cancel" for s in states):
        return "cancel"
    if all(s in ("done", "cancel") for s in states):
        return "done"
    if any(s == "draft" for s in states):
        return "draft"
    if any(s in ("assigned", "partially_available") for s in states):
        return "assigned"
    return "confirmed"


def _picking_open(db: Database, rid: int) -> bool:
    """``_picking_state(...) not in ("done", "cancel")``, stopping at the first open move."""
    states = (rec(db, "stock.move", m).get("state") for m in db.linked("stock.move", "picking_id", rid))
    first = next(states, None)
    if first is None:
        return (rec(db, "stock.picking", rid).get("state") or "draft") not in ("done", "cancel")
    return first not in ("done", "cancel") or any(state not in ("done", "cancel") for state in states)


def _picking_before_create(db: Database, vals: dict, context: dict) -> None:
    ptype = vals.get("picking_type_id") or context.get("default_picking_type_id")
    if not ptype or not db.exists("stock.picking.type", ptype):
        return
    t = rec(db, "stock.picking.type", ptype)
    vals.setdefault("move_type", t.get("move_type") or "direct")  # the shipping policy of its operation type
    vals.setdefault("location_id", t.get("default_location_src_id"))
    vals.setdefault("location_dest_id", t.get("default_location_dest_id"))
    if not vals.get("name"):
        code = val(db, "stock.warehouse", t.get("warehouse_id"), "code") or "WH"
        vals["name"] = f"{code}/{t.get('sequence_code')}/{db.next_sequence(f'picking.{ptype}'):05d}"


picking = behaviour("stock.picking")
picking.before_create = _picking_before_create
picking.defaults = lambda db, vals, ctx: {"scheduled_date": now_string(), "company_id": COMPANY, "state": "draft",
                                          "date_deadline": vals.get("scheduled_date") or now_string()}
picking.computes.update(
    state=_picking_state,
    picking_type_code=lambda db, rid: val(db, "stock.picking.type", rec(db, "stock.picking", rid).get(
        "picking_type_id"), "code"),
    purchase_id=lambda db, rid: next((val(db, "purchase.order.line", m.get("purchase_line_id"), "order_id")
                                      for m in db.records["stock.move"].values()
                                      if m.get("picking_id") == rid and m.get("purchase_line_id")), False),
)


def _move_name(db: Database, rid: int) -> str:
    m = rec(db, "stock.move", rid)
    origin = val(db, "stock.picking", m.get("picking_id"), "origin") or m.get("origin")
    code = val(db, "product.product", m.get("product_id"), "default_code")
    src = rec(db, "stock.location", m["location_id"]).get("name") if m.get("location_id") else ""
    dest = rec(db, "stock.location", m["location_dest_id"]).get("name") if m.get("location_dest_id") else ""
    return f"{origin + '/' if origin else ''}{code + ': ' if code else ''}{src}>{dest}"


def _move_defaults(db: Database, vals: dict, context: dict) -> dict:
    pick = vals.get("picking_id")
    out = {"date": now_string(), "company_id": COMPANY, "state": "draft",
           "product_uom": val(db, "product.product", vals.get("product_id"), "uom_id") or UNITS,
           "name": val(db, "product.product", vals.get("product_id"), "display_name") or "/"}
    if pick and db.exists("stock.picking", pick):
        p = rec(db, "stock.picking", pick)
        out.update(location_id=p.get("location_id"), location_dest_id=p.get("location_dest_id"),
                   picking_type_id=p.get("picking_type_id"), origin=p.get("origin"), partner_id=p.get("partner_id"))
    return out


def _internal(db: Database, location: int) -> bool:
    return val(db, "stock.location", location, "usage") == "internal"


def _set_move_quantity(db: Database, move: int, quantity: float) -> None:
    """A move's quantity lives on its single move line, as when Odoo reserves without lots or packages."""
    m = db._touch("stock.move", move)
    m["quantity"] = quantity
    lines = db.lookup("stock.move.line", "move_id", move)
    if quantity and not lines:
        db.create("stock.move.line", [{"move_id": move, "picking_id": m.get("picking_id"),
                                       "product_id": m.get("product_id"), "product_uom_id": m.get("product_uom"),
                                       "location_id": m.get("location_id"), "location_dest_id": m.get(
                "location_dest_id"), "quantity": quantity, "picked": bool(m.get("picked"))}])
    elif lines:
        db._touch("stock.move.line", lines[0])["quantity"] = quantity
        for extra in lines[1:]:
            db._touch("stock.move.line", extra)["quantity"] = 0.0
    if m.get("state") not in ("done", "cancel", "draft"):
        demand = m.get("product_uom_qty") or 0.0
        m["state"] = "assigned" if quantity >= demand else "partially_available" if quantity > 0 else "confirmed"


def reserve(db: Database, move: int) -> None:
    """``_action_assign``: incoming moves are available at once; outgoing ones take free stock."""
    m = rec(db, "stock.move", move)
    if m.get("state") in ("done", "cancel"):
        return
    if m.get("state") == "draft":
        db._touch("stock.move", move)["state"] = "confirmed"
    demand = m.get("product_uom_qty") or 0.0
    storable = val(db, "product.product", m.get("product_id"), "is_storable")
    if _internal(db, m.get("location_id")) and storable and _stock(db, m["product_id"], "qty_available") <= 0:
        quantity = 0.0  # nothing on hand: nothing to reserve, whatever the other moves hold
    elif _internal(db, m.get("location_id")) and storable:
        uom = val(db, "product.product", m.get("product_id"), "uom_id")
        free = _stock(db, m["product_id"], "free_qty") + convert_qty(db, m.get("quantity") or 0.0,
                                                                      m.get("product_uom"), uom)
        quantity = max(0.0, min(demand, convert_qty(db, free, uom, m.get("product_uom"))))
    else:
        quantity = demand
    _set_move_quantity(db, move, quantity)


def _move_after_write(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    for move in ids:
        m = rec(db, "stock.move", move)
        if "quantity" in vals and m.get("state") == "cancel":
            raise UserError("You cannot change a cancelled stock move, create a new line instead.")
        if "quantity" in vals:
            _set_move_quantity(db, move, m.get("quantity") or 0.0)
        if "picked" in vals:
            for line in db.lookup("stock.move.line", "move_id", move):
                db._touch("stock.move.line", line)["picked"] = bool(vals["picked"])
        if "product_uom_qty" in vals:
            follow_demand(db, move)


def follow_demand(db: Database, move: int) -> None:
    """``stock.move.write`` of ``product_uom_qty`` (17+): a move holding more than its new demand is
    unreserved (its move lines not picked are dropped), and a receipt from a vendor is assigned again at
    once, so its quantity becomes the new demand; the lines kept (picked) are kept as they are."""
    m = rec(db, "stock.move", move)
    if m.get("state") in ("done", "cancel", "draft"):
        return
    if val(db, "stock.location", m.get("location_id"), "usage") != "supplier":
        reserve(db, move)
        return
    demand = m.get("product_uom_qty") or 0.0
    if (m.get("quantity") or 0.0) > demand:
        loose = [i for i in db.lookup("stock.move.line", "move_id", move) if not rec(db, "stock.move.line", i).get("picked")]
        if loose:
            db.unlink("stock.move.line", loose)
    _assign_receipt(db, move)


def _assign_receipt(db: Database, move: int) -> None:
    """``_action_assign`` of a move from a vendor (no quants to take): the missing quantity goes on the
    move line without lot or package that can take it, or on a new one."""
    m = rec(db, "stock.move", move)
    lines = [rec(db, "stock.move.line", i) for i in db.lookup("stock.move.line", "move_id", move)]
    held = sum(convert_qty(db, line.get("quantity") or 0.0, line.get("product_uom_id"), m.get("product_uom"))
               for line in lines)
    missing = (m.get("product_uom_qty") or 0.0) - held
    if missing > 0:
        plain = next((line for line in lines if not any(line.get(k) for k in (
            "lot_id", "lot_name", "package_id", "result_package_id", "picked"))
                      and line.get("product_uom_id") == m.get("product_uom")), None)
        if plain:
            db._touch("stock.move.line", plain["id"])["quantity"] = (plain.get("quantity") or 0.0) + missing
        else:
            db.create("stock.move.line", [{"move_id": move, "quantity": missing}])
    move_quantity_from_lines(db, move)


move = behaviour("stock.move")
move.display_name = _move_name
move.defaults = _move_defaults
move.after_write = _move_after_write
move.computes["product_qty"] = lambda db, rid: convert_qty(
    db, rec(db, "stock.move", rid).get("product_uom_qty") or 0.0, rec(db, "stock.move", rid).get("product_uom"),
    val(db, "product.product", rec(db, "stock.move", rid).get("product_id"), "uom_id"))
move.methods["_action_confirm"] = None  # listed so that the private-method check answers, not AttributeError


def _line_defaults(db: Database, vals: dict, context: dict) -> dict:
    m = rec(db, "stock.move", vals["move_id"]) if db.exists("stock.move", vals.get("move_id")) else {}
    return {"date": now_string(), "company_id": COMPANY, "product_id": m.get("product_id"),
            "product_uom_id": m.get("product_uom") or UNITS, "picking_id": m.get("picking_id"),
            "location_id": m.get("location_id"), "location_dest_id": m.get("location_dest_id")}


def _lines_make_move_quantity(db: Database, ids: list[int], vals: dict, context: dict, state: bool = True) -> None:
    """Odoo 17+: a move's ``quantity`` is the sum of its lines, ``picked`` follows theirs."""
    moves = {rec(db, "stock.move.line", i).get("move_id") for i in ids if db.exists("stock.move.line", i)}
    for mid in moves:
        move_quantity_from_lines(db, mid, picked="picked" in vals, state=state)


def move_quantity_from_lines(db: Database, mid: Any, picked: bool = False, state: bool = True) -> None:
    """The move's ``quantity`` (and ``picked``, when the lines' changed) from its lines; its state after."""
    if not mid or not db.exists("stock.move", mid):
        return
    m = rec(db, "stock.move", mid)
    if m.get("state") in ("done", "cancel"):
        return
    lines = [rec(db, "stock.move.line", i) for i in db.lookup("stock.move.line", "move_id", mid)]
    quantity = sum(convert_qty(db, line.get("quantity") or 0.0, line.get("product_uom_id"), m.get("product_uom"))
                   for line in lines)
    move_rec = db._touch("stock.move", mid)
    move_rec["quantity"] = quantity
    if picked:
        move_rec["picked"] = any(line.get("picked") for line in lines)
    if state and m.get("state") != "draft":
        demand = m.get("product_uom_qty") or 0.0
        move_rec["state"] = ("assigned" if quantity >= demand else "partially_available" if quantity > 0
                             else "confirmed")


move_line = behaviour("stock.move.line")
move_line.defaults = _line_defaults
# A line made by hand sets the move's quantity but not its state: a real Odoo 18 left a receipt move
# `confirmed` after its reserved lines were replaced by a ship notice's (unlink, then create).
move_line.after_create = lambda db, rid, vals, ctx: _lines_make_move_quantity(db, [rid], vals, ctx, state=False)
move_line.after_write = _lines_make_move_quantity
# ``unlink`` recomputes the state of the lines' moves (``_recompute_state``), whose quantity is their sum.
move_line.after_unlink = lambda db, rows: [move_quantity_from_lines(db, m) for m in {r.get("move_id") for r in rows}] and None
move_line.computes.update(
    state=lambda db, rid: val(db, "stock.move", rec(db, "stock.move.line", rid).get("move_id"), "state") or "draft",
    reference=lambda db, rid: val(db, "stock.picking", rec(db, "stock.move.line", rid).get("picking_id"), "name"),
    quantity_product_uom=lambda db, rid: convert_qty(
        db, rec(db, "stock.move.line", rid).get("quantity") or 0.0,
        rec(db, "stock.move.line", rid).get("product_uom_id"),
        val(db, "product.product", rec(db, "stock.move.line", rid).get("product_id"), "uom_id")),
)


def _update_quant(db: Database, product: int, location: int, delta: float, lot: Any = False,
                  package: Any = False) -> None:
    """Stock is kept per product, location, lot and package, as Odoo's quants are."""
    if not _internal(db, location):
        return
    for qid in db.lookup("stock.quant", "product_id", product):
        q = rec(db, "stock.quant", qid)
        if (q.get("location_id"), q.get("lot_id") or False, q.get("package_id") or False) == (
                location, lot or False, package or False):
            db._touch("stock.quant", qid)["quantity"] = (q.get("quantity") or 0.0) + delta
            return
    qid = db.create("stock.quant", [{"product_id": product, "location_id": location, "lot_id": lot or False,
                                     "package_id": package or False}])[0]
    db.records["stock.quant"][qid]["quantity"] = delta


def _line_lot(db: Database, move: dict, line: dict) -> Any:
    """``_action_done``: a tracked product's ``lot_name`` becomes its lot (an existing lot of that name and
    product, else a new one) where the operation type creates lots; an untracked product has no lot."""
    product = move.get("product_id")
    if line.get("lot_id") or not line.get("lot_name"):
        return line.get("lot_id") or False
    if val(db, "product.product", product, "tracking") in (None, False, "none") or not val(
            db, "stock.picking.type", move.get("picking_type_id"), "use_create_lots"):
        return False
    found = db.search("stock.lot", [("product_id", "=", product), ("name", "=", line["lot_name"])], limit=1)
    return found[0] if found else db.create("stock.lot", [{"name": line["lot_name"], "product_id": product,
                                                          "company_id": COMPANY}])[0]


def _move_done(db: Database, move: int) -> None:
    m = db._touch("stock.move", move)
    m["state"], m["date"] = "done", now_string()
    uom = val(db, "product.product", m["product_id"], "uom_id")
    for lid in db.lookup("stock.move.line", "move_id", move):
        line = db._touch("stock.move.line", lid)
        line["date"], line["picked"] = now_string(), True
        line["lot_id"] = _line_lot(db, m, line)
        qty = convert_qty(db, line.get("quantity") or 0.0, line.get("product_uom_id"), uom)
        _update_quant(db, m["product_id"], line.get("location_id"), -qty, line["lot_id"], line.get("package_id"))
        _update_quant(db, m["product_id"], line.get("location_dest_id"), qty, line["lot_id"],
                      line.get("result_package_id"))


def _copy_move(db: Database, move: int, demand: float, picking_id: int | bool) -> int:
    m = rec(db, "stock.move", move)
    keep = ("name", "product_id", "product_uom", "location_id", "location_dest_id", "partner_id", "picking_type_id",
            "origin", "sale_line_id", "purchase_line_id", "date_deadline", "company_id", "sequence")
    return db.create("stock.move", [{**{k: m.get(k) for k in keep if m.get(k) is not None},
                                     "product_uom_qty": demand, "picking_id": picking_id, "state": "confirmed"}])[0]


def validate_pickings(db: Database, ids: list[int], backorder: bool) -> None:
    """``_action_done``: done quantities are done, the rest goes to a backorder or is cancelled."""
    for pid in ids:
        moves = [i for i in db.lookup("stock.move", "picking_id", pid)
                 if rec(db, "stock.move", i).get("state") not in ("done", "cancel")]
        picked_mode = any(rec(db, "stock.move", i).get("picked") for i in moves)
        rest: list[tuple[int, float]] = []
        for mid in moves:
            m = rec(db, "stock.move", mid)
            done = (m.get("quantity") or 0.0) if (m.get("picked") or not picked_mode) else 0.0
            demand = m.get("product_uom_qty") or 0.0
            if done <= 0 and demand <= 0:  # a line ordered down to nothing: Odoo cancels its move
                _set_move_quantity(db, mid, 0.0)
                db._touch("stock.move", mid)["state"] = "cancel"
                continue
            if done <= 0:
                rest.append((mid, demand))
                continue
            if done < demand:
                rest.append((mid, demand - done))
            db._touch("stock.move", mid)["product_uom_qty"] = done
            _move_done(db, mid)
        if rest and backorder:
            p = rec(db, "stock.picking", pid)
            new = db.create("stock.picking", [{
                "picking_type_id": p.get("picking_type_id"), "partner_id": p.get("partner_id"),
                "origin": p.get("origin"), "sale_id": p.get("sale_id"), "location_id": p.get("location_id"),
                "location_dest_id": p.get("location_dest_id"), "scheduled_date": p.get("scheduled_date"),
                "date_deadline": p.get("date_deadline"), "backorder_id": pid}])[0]
            for mid, qty in rest:
                m = rec(db, "stock.move", mid)
                if m.get("state") == "done":
                    target = _copy_move(db, mid, qty, new)
                else:
                    target = mid
                    db._touch("stock.move", mid)["picking_id"] = new
                    for lid in db.lookup("stock.move.line", "move_id", mid):
                        db._touch("stock.move.line", lid)["picking_id"] = new
                    db._touch("stock.move", mid)["picked"] = False
                reserve(db, target)
        else:
            for mid, qty in rest:
                m = rec(db, "stock.move", mid)
                target = _copy_move(db, mid, qty, pid) if m.get("state") == "done" else mid
                _set_move_quantity(db, target, 0.0)
                db._touch("stock.move", target)["state"] = "cancel"
        db._touch("stock.picking", pid)["date_done"] = now_string()


def button_validate(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> Any:
    context = context or {}
    need_backorder = []
    for pid in ids:
        moves = [m for m in (rec(db, "stock.move", i) for i in db.lookup("stock.move", "picking_id", pid))
                 if m.get("state") not in ("done", "cancel")]
        if not moves:
            raise UserError("You can't validate an empty transfer. Please add some products to move before "
                            "proceeding.")
        picked_mode = any(m.get("picked") for m in moves)
        done = [(m.get("quantity") or 0.0) if (m.get("picked") or not picked_mode) else 0.0 for m in moves]
        if not any(done):
            raise UserError("You cannot validate a transfer if no quantities are reserved nor done. You can use "
                            "the info button on the top right corner of your screen to know why the picking is "
                            "not reserved.")
        without_lot = _products_without_lot(db, pid)
        if without_lot:  # stock.picking._sanity_check (18)
            # the wording of stock.move.line._action_done, which a real Odoo 18 answered over RPC
            raise UserError("You need to supply a Lot/Serial Number for product:\n" + "\n".join(
                f"- {name}" for name in without_lot))
        if any(d < (m.get("product_uom_qty") or 0.0) for d, m in zip(done, moves)):
            need_backorder.append(pid)
    if need_backorder and not context.get("skip_backorder") and not context.get("cancel_backorder"):
        return {"name": "Create Backorder?", "type": "ir.actions.act_window", "view_mode": "form",
                "res_model": "stock.backorder.confirmation", "views": [[BACKORDER_VIEW, "form"]],
                "view_id": BACKORDER_VIEW, "target": "new",
                "context": {**context, "button_validate_picking_ids": ids, "default_show_transfers": False,
                            "default_pick_ids": [[4, p] for p in need_backorder]}}
    validate_pickings(db, ids, backorder=not context.get("cancel_backorder"))
    return True


def _products_without_lot(db: Database, picking: int) -> list[str]:
    """Tracked products on lines with neither lot nor lot name.  Only lines coming from outside the
    warehouse are checked: the sandbox reserves stock without choosing lots, where Odoo reserves the
    lotted quants (and so fills ``lot_id``) for what leaves the stock."""
    names = []
    for lid in db.lookup("stock.move.line", "picking_id", picking):
        line = rec(db, "stock.move.line", lid)
        if _internal(db, line.get("location_id")):
            continue
        move_rec = rec(db, "stock.move", line["move_id"]) if db.exists("stock.move", line.get("move_id")) else {}
        product = line.get("product_id")
        ptype = move_rec.get("picking_type_id") or val(db, "stock.picking", picking, "picking_type_id")
        uses_lots = val(db, "stock.picking.type", ptype, "use_create_lots") or val(
            db, "stock.picking.type", ptype, "use_existing_lots")
        if (val(db, "product.product", product, "tracking") not in (None, False, "none") and uses_lots
                and line.get("quantity") and not line.get("lot_id") and not line.get("lot_name")):
            names.append(_product_name(db, product))
    return list(dict.fromkeys(names))  # in the order of the lines, as Odoo lists them


def cancel_pickings(db: Database, ids: list[int]) -> None:
    for pid in ids:
        for mid in db.lookup("stock.move", "picking_id", pid):
            if rec(db, "stock.move", mid).get("state") != "done":
                _set_move_quantity(db, mid, 0.0)
                db._touch("stock.move", mid)["state"] = "cancel"
        db._touch("stock.picking", pid)["state"] = "cancel"


def _confirm_pickings(db: Database, ids: list[int], **_: Any) -> bool:
    for pid in ids:
        for mid in db.lookup("stock.move", "picking_id", pid):
            reserve(db, mid)
    return True


picking.methods.update(
    button_validate=lambda db, ids, context=None, **k: button_validate(db, ids, context),
    action_confirm=lambda db, ids, context=None, **k: _confirm_pickings(db, ids),
    action_assign=lambda db, ids, context=None, **k: _confirm_pickings(db, ids),
    action_cancel=lambda db, ids, context=None, **k: cancel_pickings(db, ids) or True,
)


def _backorder_after_create(db: Database, rid: int, vals: dict, context: dict) -> None:
    for pick in rec(db, "stock.backorder.confirmation", rid).get("pick_ids") or []:
        db.create("stock.backorder.confirmation.line", [{"backorder_confirmation_id": rid, "picking_id": pick,
                                                         "to_backorder": True}])


def _backorder_process(db: Database, ids: list[int], backorder: bool, context: dict | None) -> bool:
    context = context or {}
    for wid in ids:
        picks = rec(db, "stock.backorder.confirmation", wid).get("pick_ids") or []
        others = [p for p in context.get("button_validate_picking_ids") or [] if p not in picks]
        validate_pickings(db, [p for p in picks if db.exists("stock.picking", p)], backorder)
        validate_pickings(db, [p for p in others if db.exists("stock.picking", p)], True)
    return True


wizard = behaviour("stock.backorder.confirmation")
wizard.after_create = _backorder_after_create
wizard.methods.update(
    process=lambda db, ids, context=None, **k: _backorder_process(db, ids, True, context),
    process_cancel_backorder=lambda db, ids, context=None, **k: _backorder_process(db, ids, False, context),
)


def _quant_create(db: Database, vals_list: Any, context: dict | None = None, **_: Any) -> Any:
    """In inventory mode, a quant for an existing product and location is that quant, counted again."""
    single = isinstance(vals_list, dict)
    out = []
    for vals in [vals_list] if single else vals_list:
        vals = dict(vals)
        if (context or {}).get("inventory_mode") and "inventory_quantity" in vals:
            vals["inventory_quantity_set"] = True
        existing = [i for i, q in db.records["stock.quant"].items()
                    if q.get("product_id") == vals.get("product_id") and q.get("location_id") == vals.get(
                "location_id") and (q.get("lot_id") or False) == (vals.get("lot_id") or False)]
        if existing:
            db.write("stock.quant", existing[:1], {k: v for k, v in vals.items()
                                                   if k not in ("product_id", "location_id", "lot_id")}, context)
            out.append(existing[0])
        else:
            out.extend(db.create("stock.quant", [vals], context))
    return out[0] if single else out


def _apply_inventory(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> None:
    for qid in ids:
        q = db._touch("stock.quant", qid)
        diff = (q.get("inventory_quantity") or 0.0) - (q.get("quantity") or 0.0)
        if diff:
            src, dest = (LOC_INVENTORY, q["location_id"]) if diff > 0 else (q["location_id"], LOC_INVENTORY)
            mid = db.create("stock.move", [{"name": "Product Quantity Updated", "product_id": q["product_id"],
                                            "product_uom_qty": abs(diff), "location_id": src,
                                            "location_dest_id": dest, "is_inventory": True,
                                            "state": "confirmed"}])[0]
            _set_move_quantity(db, mid, abs(diff))
            _move_done(db, mid)
        q.update(inventory_quantity=0.0, inventory_quantity_set=False)
    return None


quant = behaviour("stock.quant")
quant.defaults = lambda db, vals, ctx: {"company_id": COMPANY, "quantity": 0.0}
quant.methods.update(create=_quant_create, action_apply_inventory=_apply_inventory)


# --------------------------------------------------------------------------- sale
def _sale_before_create(db: Database, vals: dict, context: dict) -> None:
    # Odoo draws the number before anything is checked: a failed create uses it up.
    if not vals.get("name") or vals.get("name") == "New":
        vals["name"] = f"S{db.next_sequence('sale.order'):05d}"


def address_get(db: Database, partner: int, kind: str) -> int:
    """res.partner.address_get: the first contact of type `kind` among the partner and its contacts (depth
    first, then up to its company's), else the partner itself."""
    if not partner or not db.exists("res.partner", partner):
        return partner
    visited: set[int] = set()
    current = partner
    while current:
        to_scan = [current]
        while to_scan:
            record = to_scan.pop(0)
            visited.add(record)
            if rec(db, "res.partner", record).get("type") == kind:
                return record
            to_scan = [c for c in db.search("res.partner", [("parent_id", "=", record)])
                       if c not in visited and not rec(db, "res.partner", c).get("is_company")] + to_scan
        r = rec(db, "res.partner", current)
        if r.get("is_company") or not r.get("parent_id"):
            break
        current = r["parent_id"]
    return partner


def _sale_defaults(db: Database, vals: dict, context: dict) -> dict:
    customer = vals.get("partner_id")
    return {"date_order": now_string(), "company_id": COMPANY, "user_id": db.uid,
            "pricelist_id": val(db, "res.partner", customer, "property_product_pricelist")
            if customer and db.exists("res.partner", customer) else False,
            "warehouse_id": 1 if db.exists("stock.warehouse", 1) else False,
            "partner_invoice_id": address_get(db, customer, "invoice"),
            "partner_shipping_id": address_get(db, customer, "delivery")}


def _order_lines(db: Database, model: str, rid: int) -> list[int]:
    return db.search(model, [("order_id", "=", rid)], active_test=False)


def _line_amounts(db: Database, model: str, rid: int) -> tuple[float, float, float]:
    r = rec(db, model, rid)
    qty = r.get("product_uom_qty" if model == "sale.order.line" else "product_qty") or 0.0
    taxes = r.get("tax_id" if model == "sale.order.line" else "taxes_id") or []
    if r.get("display_type"):
        return 0.0, 0.0, 0.0
    subtotal = money(qty * (r.get("price_unit") or 0.0) * (1 - (r.get("discount") or 0.0) / 100.0))
    total = money(subtotal + tax_amount(db, taxes, subtotal))
    return subtotal, total - subtotal, total


def _order_amount(db: Database, model: str, rid: int, which: str) -> float:
    lines = [_line_amounts(db, f"{model}.line", line) for line in _order_lines(db, f"{model}.line", rid)]
    untaxed = money(sum(a[0] for a in lines))
    tax = money(sum(a[1] for a in lines))
    return {"amount_untaxed": untaxed, "amount_tax": tax, "amount_total": untaxed + tax}[which]


def _sale_line_defaults(db: Database, vals: dict, context: dict) -> dict:
    prod = vals.get("product_id")
    if not prod or not db.exists("product.product", prod):
        return {}
    uom = vals.get("product_uom") or val(db, "product.product", prod, "uom_id")
    price = convert_price(db, val(db, "product.product", prod, "lst_price"),
                          val(db, "product.product", prod, "uom_id"), uom)
    order = vals.get("order_id")
    if order and db.exists("sale.order", order):  # the list price in the pricelist's currency
        price = to_currency(db, price, val(db, "sale.order", order, "currency_id"))
    description = val(db, "product.product", prod, "description_sale")
    return {"product_uom": uom, "price_unit": price, "tax_id": list(val(db, "product.product", prod, "taxes_id")),
            "name": _product_name(db, prod) + (f"\n{description}" if description else ""),
            "customer_lead": float(val(db, "product.product", prod, "sale_delay") or 0)}


def _sale_line_before_create(db: Database, vals: dict, context: dict) -> None:
    prod = vals.get("product_id")
    if prod and not db.exists("product.product", prod):
        from gateway.odoo.sandbox.orm import MissingError
        raise MissingError("product.product", [prod], db.uid)


def _qty_delivered(db: Database, line: int) -> float:
    uom = rec(db, "sale.order.line", line).get("product_uom")
    total = 0.0
    for m in (rec(db, "stock.move", i) for i in db.lookup("stock.move", "sale_line_id", line)):
        if m.get("state") == "done":
            qty = convert_qty(db, m.get("quantity") or 0.0, m.get("product_uom"), uom)
            total += -qty if _internal(db, m.get("location_dest_id")) else qty
    return total


INVOICED_SIGN = {"sale_line_ids": {"out_invoice": 1, "out_refund": -1},
                 "purchase_line_id": {"in_invoice": 1, "in_refund": -1}}


def _invoiced(db: Database, link_field: str, line: int, uom: int) -> float:
    """``_compute_qty_invoiced``: lines of every bill or invoice not cancelled (drafts too), refunds negative."""
    total = 0.0
    for aml in db.records["account.move.line"].values():
        linked = aml.get(link_field) or []
        if line not in (linked if isinstance(linked, list) else [linked]):
            continue
        inv = rec(db, "account.move", aml["move_id"])
        if inv.get("state") == "cancel":
            continue
        qty = convert_qty(db, aml.get("quantity") or 0.0, aml.get("product_uom_id"), uom)
        total += INVOICED_SIGN[link_field].get(inv.get("move_type"), 0) * qty
    return total


def _sale_qty_to_invoice(db: Database, line: int) -> float:
    r = rec(db, "sale.order.line", line)
    if val(db, "sale.order", r.get("order_id"), "state") != "sale" or r.get("display_type"):
        return 0.0
    policy = val(db, "product.product", r.get("product_id"), "invoice_policy")
    base = _qty_delivered(db, line) if policy == "delivery" else r.get("product_uom_qty") or 0.0
    return base - _invoiced(db, "sale_line_ids", line, r.get("product_uom"))


def _sale_line_invoice_status(db: Database, line: int) -> str:
    r = rec(db, "sale.order.line", line)
    if val(db, "sale.order", r.get("order_id"), "state") != "sale":
        return "no"
    if _sale_qty_to_invoice(db, line):
        return "to invoice"
    if _invoiced(db, "sale_line_ids", line, r.get("product_uom")) >= (r.get("product_uom_qty") or 0.0):
        return "invoiced"
    return "no"


def _sale_invoice_status(db: Database, rid: int) -> str:
    if rec(db, "sale.order", rid).get("state") != "sale":
        return "no"
    states = [_sale_line_invoice_status(db, line) for line in _order_lines(db, "sale.order.line", rid)
              if not rec(db, "sale.order.line", line).get("display_type")]
    if "to invoice" in states:
        return "to invoice"
    return "invoiced" if states and all(s == "invoiced" for s in states) else "no"


def _delivery_status(db: Database, rid: int, pickings: list[int]) -> Any:
    states = [_picking_state(db, p) for p in pickings]
    states = [s for s in states if s != "cancel"]
    if not states:
        return False
    if all(s == "done" for s in states):
        return "full"
    return "partial" if "done" in states else "pending"


def _sale_invoices(db: Database, rid: int) -> list[int]:
    lines = set(_order_lines(db, "sale.order.line", rid))
    moves = {aml.get("move_id") for aml in db.records["account.move.line"].values()
             if lines & set(aml.get("sale_line_ids") or [])}
    return sorted(m for m in moves if m)


def _sale_line_name(db: Database, rid: int) -> str:
    r = rec(db, "sale.order.line", rid)
    order = rec(db, "sale.order", r["order_id"])
    label = val(db, "product.product", r.get("product_id"), "name") or (r.get("name") or "").split("\n")[0]
    ref = val(db, "res.partner", order.get("partner_id"), "ref")
    return f"{order.get('name')} - {label}" + (f" ({ref})" if ref else "")


def sync_sale_moves(db: Database, line: int) -> None:
    """Keep a confirmed order line's open delivery move at the ordered quantity."""
    r = rec(db, "sale.order.line", line)
    order = rec(db, "sale.order", r["order_id"])
    prod = r.get("product_id")
    if order.get("state") != "sale" or not prod or val(db, "product.product", prod, "type") != "consu":
        return
    if (r.get("product_uom_qty") or 0.0) < _qty_delivered(db, line) - 1e-9:
        raise UserError("The ordered quantity of a sale order line cannot be decreased below the amount already "
                        "delivered. Instead, create a return in your inventory.")
    uom = val(db, "product.product", prod, "uom_id")
    needed = convert_qty(db, r.get("product_uom_qty") or 0.0, r.get("product_uom"), uom)
    moves = db.lookup("stock.move", "sale_line_id", line)
    done = sum(rec(db, "stock.move", m).get("product_uom_qty") or 0.0 for m in moves
               if rec(db, "stock.move", m).get("state") == "done")
    open_moves = [m for m in moves if rec(db, "stock.move", m).get("state") not in ("done", "cancel")]
    missing = needed - done - sum(rec(db, "stock.move", m).get("product_uom_qty") or 0.0 for m in open_moves)
    if abs(missing) < 1e-9:
        return
    if open_moves:
        target = open_moves[0]
        m = db._touch("stock.move", target)
        m["product_uom_qty"] = max(0.0, (m.get("product_uom_qty") or 0.0) + missing)
        if not m["product_uom_qty"]:  # recorded (14, SOA line 3 -> 0): the move is cancelled, kept in its picking
            _set_move_quantity(db, target, 0.0)
            m["state"] = "cancel"
            return
    elif missing > 0:
        target = _copy_move_for_sale(db, r, order, prod, uom, missing)
    else:
        return
    reserve(db, target)


def _copy_move_for_sale(db: Database, r: dict, order: dict, prod: int, uom: int, qty: float) -> int:
    open_pickings = [p for p in db.search("stock.picking", [("sale_id", "=", order["id"])])
                     if _picking_open(db, p) and val(db, "stock.picking", p, "picking_type_code") == "outgoing"]
    if open_pickings:
        pick = open_pickings[-1]
    else:
        ref = order.get("client_order_ref")
        pick = db.create("stock.picking", [{
            "picking_type_id": TYPE_OUT, "partner_id": order.get("partner_shipping_id"), "sale_id": order["id"],
            "move_type": order.get("picking_policy") or "direct",
            "origin": f"{order['name']} - {ref}" if ref else order["name"],
            "scheduled_date": order.get("commitment_date") or order.get("date_order"),
            "date_deadline": order.get("commitment_date") or order.get("date_order")}])[0]
    return db.create("stock.move", [{"picking_id": pick, "product_id": prod, "product_uom_qty": qty,
                                     "product_uom": uom, "sale_line_id": r["id"], "state": "confirmed",
                                     "name": r.get("name"), "partner_id": order.get("partner_shipping_id"),
                                     "date_deadline": _sale_line_deadline(db, r, order)}])[0]


def _sale_line_deadline(db: Database, line: dict, order: dict) -> Any:
    """sale_stock ``_prepare_procurement_values``: the commitment date, else the line's expected date (the
    order date plus the customer lead time), as recorded (14, SOA)."""
    if order.get("commitment_date"):
        return order["commitment_date"]
    start, lead = order.get("date_order"), line.get("customer_lead") or 0.0
    if not start or not lead:
        return start or False
    when = datetime.strptime(start, "%Y-%m-%d %H:%M:%S") + timedelta(days=lead)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _sale_confirm(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> bool:
    for oid in ids:
        order = rec(db, "sale.order", oid)
        if order.get("state") not in ("draft", "sent"):
            raise UserError("Some orders are not in a state requiring confirmation.")
        if any(not rec(db, "sale.order.line", line).get("product_id") and not rec(
                db, "sale.order.line", line).get("display_type") for line in _order_lines(db, "sale.order.line", oid)):
            raise UserError("A line on these orders missing a product, you cannot confirm it.")
        for line in _order_lines(db, "sale.order.line", oid):
            r = rec(db, "sale.order.line", line)
            prod = r.get("product_id")
            if not prod or not r.get("product_uom"):
                continue
            line_cat = val(db, "uom.uom", r["product_uom"], "category_id")
            prod_uom = val(db, "product.product", prod, "uom_id")
            if line_cat != val(db, "uom.uom", prod_uom, "category_id"):
                raise UserError(
                    f"The unit of measure {val(db, 'uom.uom', r['product_uom'], 'name')} defined on the order "
                    f"line doesn't belong to the same category as the unit of measure "
                    f"{val(db, 'uom.uom', prod_uom, 'name')} defined on the product. Please correct the unit of "
                    "measure defined on the order line or on the product. They should belong to the same "
                    "category.")
    for oid in ids:
        order = db._touch("sale.order", oid)
        track_state(db, "sale.order", oid, order.get("state"), "sale")
        order.update(state="sale", date_order=now_string())
        for line in _order_lines(db, "sale.order.line", oid):
            sync_sale_moves(db, line)
    return True


def _sale_cancel(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> Any:
    context = context or {}
    if not context.get("disable_cancel_warning") and any(rec(db, "sale.order", i).get("state") != "draft"
                                                         for i in ids):
        if len(ids) != 1:
            raise InvalidValue(f"Expected singleton: sale.order({', '.join(map(str, ids))})")
        return {"name": "Cancel Sales Order", "view_mode": "form", "res_model": "sale.order.cancel",
                "view_id": SO_CANCEL_VIEW, "type": "ir.actions.act_window",
                "context": {"default_template_id": 17, "default_order_id": ids[0], "mark_so_as_canceled": True,
                            "default_email_layout_xmlid":
                                "mail.mail_notification_layout_with_responsible_signature",
                            "model_description": "Sales Order"},
                "target": "new"}
    for oid in ids:
        track_state(db, "sale.order", oid, rec(db, "sale.order", oid).get("state"), "cancel")
        db._touch("sale.order", oid)["state"] = "cancel"
        cancel_pickings(db, [p for p in db.search("stock.picking", [("sale_id", "=", oid)])
                             if _picking_state(db, p) != "done"])
    return True


def _sale_unlink_check(db: Database, ids: list[int]) -> None:
    for oid in ids:
        if rec(db, "sale.order", oid).get("state") not in ("draft", "cancel"):
            raise UserError("You can not delete a sent quotation or a confirmed sales order. You must first "
                            "cancel it.")


def _sale_line_after_save(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    for line in ids:
        sync_sale_moves(db, line)


sale = behaviour("sale.order")
sale.before_create = _sale_before_create
sale.defaults = _sale_defaults
sale.before_unlink = _sale_unlink_check
sale.computes.update(
    **{k: (lambda w: lambda db, rid: _order_amount(db, "sale.order", rid, w))(k)
       for k in ("amount_untaxed", "amount_tax", "amount_total")},
    picking_ids=lambda db, rid: db.search("stock.picking", [("sale_id", "=", rid)]),
    delivery_count=lambda db, rid: len(db.search("stock.picking", [("sale_id", "=", rid)])),
    delivery_status=lambda db, rid: _delivery_status(db, rid, db.search("stock.picking", [("sale_id", "=", rid)])),
    invoice_ids=_sale_invoices,
    invoice_count=lambda db, rid: len(_sale_invoices(db, rid)),
    invoice_status=_sale_invoice_status,
    # readonly, computed from the pricelist: a currency_id given at create is ignored, as in Odoo (16)
    currency_id=lambda db, rid: val(db, "product.pricelist", rec(db, "sale.order", rid).get("pricelist_id"),
                                    "currency_id") or USD,
    currency_rate=lambda db, rid: currency_rate(db, val(db, "sale.order", rid, "currency_id")),
)
sale.methods.update(
    action_confirm=_sale_confirm,
    action_cancel=_sale_cancel,
    action_draft=lambda db, ids, **k: all(track_state(db, "sale.order", i, rec(db, "sale.order", i).get("state"),
                                                      "draft") or db._touch("sale.order", i).update(state="draft")
                                          or True for i in ids),
    _create_invoices=None,
)
sale_line = behaviour("sale.order.line")
sale_line.display_name = _sale_line_name
sale_line.defaults = _sale_line_defaults
sale_line.before_create = _sale_line_before_create
sale_line.after_create = lambda db, rid, vals, ctx: _sale_line_after_save(db, [rid], vals, ctx)
sale_line.after_write = _sale_line_after_save
sale_line.computes.update(
    price_subtotal=lambda db, rid: _line_amounts(db, "sale.order.line", rid)[0],
    price_tax=lambda db, rid: _line_amounts(db, "sale.order.line", rid)[1],
    price_total=lambda db, rid: _line_amounts(db, "sale.order.line", rid)[2],
    qty_delivered=_qty_delivered,
    qty_delivered_method=lambda db, rid: "stock_move",
    qty_invoiced=lambda db, rid: _invoiced(db, "sale_line_ids", rid, rec(db, "sale.order.line", rid).get(
        "product_uom")),
    qty_to_invoice=_sale_qty_to_invoice,
    invoice_status=_sale_line_invoice_status,
    state=lambda db, rid: val(db, "sale.order", rec(db, "sale.order.line", rid)["order_id"], "state"),
    currency_id=lambda db, rid: val(db, "sale.order", rec(db, "sale.order.line", rid)["order_id"], "currency_id"),
    company_id=lambda db, rid: COMPANY,
    order_partner_id=lambda db, rid: val(db, "sale.order", rec(db, "sale.order.line", rid)["order_id"],
                                         "partner_id"),
    product_template_id=lambda db, rid: val(db, "product.product", rec(db, "sale.order.line", rid).get(
        "product_id"), "product_tmpl_id"),
    product_uom_category_id=lambda db, rid: val(db, "uom.uom", rec(db, "sale.order.line", rid).get(
        "product_uom"), "category_id"),
    product_qty=lambda db, rid: convert_qty(
        db, rec(db, "sale.order.line", rid).get("product_uom_qty") or 0.0,
        rec(db, "sale.order.line", rid).get("product_uom"),
        val(db, "product.product", rec(db, "sale.order.line", rid).get("product_id"), "uom_id")),
    invoice_lines=lambda db, rid: [i for i, aml in db.records["account.move.line"].items()
                                   if rid in (aml.get("sale_line_ids") or [])],
)


def _advance_defaults(db: Database, vals: dict, context: dict) -> dict:
    if context.get("active_model") == "sale.order" and context.get("active_ids"):
        return {"sale_order_ids": [(6, 0, list(context["active_ids"]))]}
    return {}


def _create_invoices(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> dict:
    context = context or {}
    invoices = []
    for wid in ids:
        w = rec(db, "sale.advance.payment.inv", wid)
        if w.get("advance_payment_method") != "delivered":
            raise UserError("The Odoo sandbox only emulates regular invoices (advance_payment_method 'delivered').")
        for oid in w.get("sale_order_ids") or context.get("active_ids") or []:
            order = rec(db, "sale.order", oid)
            lines = [(0, 0, {"product_id": r.get("product_id"), "quantity": _sale_qty_to_invoice(db, line),
                             "price_unit": r.get("price_unit"), "discount": r.get("discount") or 0.0,
                             "tax_ids": [(6, 0, list(r.get("tax_id") or []))], "name": r.get("name"),
                             "product_uom_id": r.get("product_uom"), "sale_line_ids": [(6, 0, [line])],
                             "sequence": n})
                     for n, line in enumerate(_order_lines(db, "sale.order.line", oid))
                     for r in [rec(db, "sale.order.line", line)] if _sale_qty_to_invoice(db, line)]
            if not lines:
                raise UserError("Cannot create an invoice. No items are available to invoice.\n\nTo resolve this "
                                "issue, please ensure that:\n   \u2022 The products have been delivered before "
                                "attempting to invoice them.\n   \u2022 The invoicing policy of the product is "
                                "configured correctly.\n\nIf you want to invoice based on ordered quantities "
                                "instead:\n   \u2022 For consumable or storable products, open the product, go to "
                                "the 'General Information' tab and change the 'Invoicing Policy' from 'Delivered "
                                "Quantities' to 'Ordered Quantities'.\n   \u2022 For services (and other "
                                "products), change the 'Invoicing Policy' to 'Prepaid/Fixed Price'.\n")
            invoices += db.create("account.move", [{
                "move_type": "out_invoice", "partner_id": order.get("partner_invoice_id"),
                "partner_shipping_id": order.get("partner_shipping_id"), "ref": order.get("client_order_ref"),
                "invoice_origin": order.get("name"), "currency_id": val(db, "sale.order", order["id"], "currency_id"),
                "invoice_payment_term_id": order.get("payment_term_id"), "invoice_line_ids": lines}],
                {"default_move_type": "out_invoice"})
    first = rec(db, "account.move", invoices[0]) if invoices else {}
    action = {
        "id": 262, "name": "Invoices", "type": "ir.actions.act_window", "xml_id": "account.action_move_out_invoice_type",
        "path": "invoicing", "help": "", "binding_model_id": False, "binding_type": "action",
        "binding_view_types": "list,form", "display_name": "Invoices", "view_id": [708, "account.out.invoice.list"],
        "domain": "[('move_type', 'in', ['out_invoice', 'out_refund'])]",
        "context": {"default_move_type": "out_invoice", "default_partner_id": first.get("partner_id"),
                    "default_partner_shipping_id": first.get("partner_shipping_id"),
                    "default_invoice_payment_term_id": first.get("invoice_payment_term_id") or None,
                    "default_invoice_origin": first.get("invoice_origin")},
        "res_model": "account.move", "target": "current", "view_mode": "list,kanban,form,activity",
        "mobile_view_mode": "kanban", "views": [[715, "form"], [708, "list"], [False, "kanban"],
                                                [False, "activity"]],
        "limit": 80, "groups_id": [], "search_view_id": [718, "account.invoice.select"], "embedded_action_ids": [],
        "filter": False}
    if len(invoices) == 1:
        action["res_id"] = invoices[0]
    else:
        action["domain"] = [["id", "in", invoices]]
    return action


advance = behaviour("sale.advance.payment.inv")
advance.defaults = _advance_defaults
advance.methods["create_invoices"] = _create_invoices
behaviour("sale.order.cancel").methods["action_cancel"] = lambda db, ids, context=None, **k: _sale_cancel(
    db, [rec(db, "sale.order.cancel", i)["order_id"] for i in ids], {"disable_cancel_warning": True})


# --------------------------------------------------------------------------- purchase
def _purchase_before_create(db: Database, vals: dict, context: dict) -> None:
    if not vals.get("name") or vals.get("name") == "New":
        vals["name"] = f"P{db.next_sequence('purchase.order'):05d}"


def _purchase_line_defaults(db: Database, vals: dict, context: dict) -> dict:
    prod = vals.get("product_id")
    out: dict[str, Any] = {"product_qty": 1.0, "date_planned": now_string()}
    order = vals.get("order_id")
    if order and db.exists("purchase.order", order):
        out["date_planned"] = rec(db, "purchase.order", order).get("date_planned") or now_string()
    if not prod or not db.exists("product.product", prod):
        return out
    uom = vals.get("product_uom") or val(db, "product.product", prod, "uom_po_id")
    vendor = val(db, "purchase.order", order, "partner_id")
    sellers = [s for s in db.records["product.supplierinfo"].values()
               if s.get("partner_id") == vendor and (s.get("product_id") == prod or s.get(
                   "product_tmpl_id") == val(db, "product.product", prod, "product_tmpl_id"))]
    price = sellers[0].get("price") if sellers else to_currency(db, convert_price(
        db, val(db, "product.product", prod, "standard_price"), val(db, "product.product", prod, "uom_id"), uom),
        val(db, "purchase.order", order, "currency_id"))
    out.update(product_uom=uom, price_unit=price, name=_product_name(db, prod),
               taxes_id=list(val(db, "product.product", prod, "supplier_taxes_id")))
    return out


def _purchase_qty(db: Database, line: int, what: str) -> float:
    r = rec(db, "purchase.order.line", line)
    uom = r.get("product_uom")
    if what == "received":
        total = 0.0
        for m in (rec(db, "stock.move", i) for i in db.lookup("stock.move", "purchase_line_id", line)):
            if m.get("state") == "done":
                qty = convert_qty(db, m.get("quantity") or 0.0, m.get("product_uom"), uom)
                total += qty if _internal(db, m.get("location_dest_id")) else -qty
        return total
    invoiced = _invoiced(db, "purchase_line_id", line, uom)
    if what == "invoiced":
        return invoiced
    if val(db, "purchase.order", r.get("order_id"), "state") not in ("purchase", "done"):
        return 0.0
    policy = val(db, "product.product", r.get("product_id"), "purchase_method")
    base = _purchase_qty(db, line, "received") if policy == "receive" else r.get("product_qty") or 0.0
    return base - invoiced


def _purchase_pickings(db: Database, rid: int) -> list[int]:
    lines = set(_order_lines(db, "purchase.order.line", rid))
    picks = {m.get("picking_id") for m in db.records["stock.move"].values() if m.get("purchase_line_id") in lines}
    return sorted(p for p in picks if p)


def _purchase_invoices(db: Database, rid: int) -> list[int]:
    lines = set(_order_lines(db, "purchase.order.line", rid))
    return sorted({a["move_id"] for a in db.records["account.move.line"].values()
                   if a.get("purchase_line_id") in lines})


def _purchase_invoice_status(db: Database, rid: int) -> str:
    if rec(db, "purchase.order", rid).get("state") not in ("purchase", "done"):
        return "no"
    lines = [line for line in _order_lines(db, "purchase.order.line", rid)
             if not rec(db, "purchase.order.line", line).get("display_type")]
    if any(_purchase_qty(db, line, "to_invoice") for line in lines):
        return "to invoice"
    return "invoiced" if lines and _purchase_invoices(db, rid) else "no"


def _purchase_confirm(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> bool:
    for oid in ids:
        order = db._touch("purchase.order", oid)
        if order.get("state") not in ("draft", "sent"):
            continue
        track_state(db, "purchase.order", oid, order.get("state"), "purchase")
        order.update(state="purchase", date_approve=now_string())
        lines = [line for line in _order_lines(db, "purchase.order.line", oid)
                 if val(db, "product.product", rec(db, "purchase.order.line", line).get("product_id"),
                        "type") == "consu"]
        if not lines:
            continue
        pick = db.create("stock.picking", [{
            "picking_type_id": order.get("picking_type_id") or TYPE_IN, "partner_id": order.get("partner_id"),
            "origin": order.get("name"), "scheduled_date": _purchase_date_planned(db, oid),
            "date_deadline": _purchase_date_planned(db, oid)}])[0]
        for line in lines:
            r = rec(db, "purchase.order.line", line)
            uom = val(db, "product.product", r["product_id"], "uom_id")
            mid = db.create("stock.move", [{
                "picking_id": pick, "product_id": r["product_id"], "purchase_line_id": line, "state": "confirmed",
                "product_uom_qty": convert_qty(db, r.get("product_qty") or 0.0, r.get("product_uom"), uom),
                "product_uom": uom, "name": r.get("name"), "origin": order.get("name"),
                "date_deadline": r.get("date_planned")}])[0]
            reserve(db, mid)
    return True


def _purchase_date_planned(db: Database, rid: int) -> Any:
    dates = [rec(db, "purchase.order.line", line).get("date_planned")
             for line in _order_lines(db, "purchase.order.line", rid)]
    dates = [d for d in dates if d]
    return min(dates) if dates else rec(db, "purchase.order", rid).get("date_planned") or False


def format_list(items: list[str]) -> str:
    """``odoo.tools.format_list`` in en_US (babel's standard list): "A", "A and B", "A, B, and C"."""
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _purchase_cancel(db: Database, ids: list[int], **_: Any) -> None:
    """purchase_stock's ``button_cancel`` (18), then purchase's: refused once something was received or
    billed; otherwise the open receipts are cancelled with the order."""
    received = [o for o in ids if any(rec(db, "stock.move", m).get("state") == "done"
                                      for line in _order_lines(db, "purchase.order.line", o)
                                      for m in db.lookup("stock.move", "purchase_line_id", line))]
    if received:
        raise UserError(f"Unable to cancel purchase order(s): "
                        f"{format_list([db.display_name('purchase.order', o) for o in received])} since they have "
                        "receipts that are already done.")
    billed = [o for o in ids if any(rec(db, "account.move", m).get("state") not in ("cancel", "draft")
                                    for m in _purchase_invoices(db, o))]
    if billed:
        raise UserError(f"Unable to cancel purchase order(s): "
                        f"{format_list([db.display_name('purchase.order', o) for o in billed])}. You must first "
                        "cancel their related vendor bills.")
    for oid in ids:
        track_state(db, "purchase.order", oid, rec(db, "purchase.order", oid).get("state"), "cancel")
        db._touch("purchase.order", oid)["state"] = "cancel"
        cancel_pickings(db, [p for p in _purchase_pickings(db, oid) if _picking_state(db, p) != "cancel"])
    return None  # Odoo 18's button_cancel returns nothing: the caller gets null, not true


def _effective_date(db: Database, rid: int) -> Any:
    """purchase_stock: "Arrival", when the first receipt was done."""
    dates = [rec(db, "stock.picking", p).get("date_done") for p in _purchase_pickings(db, rid)
             if _picking_state(db, p) == "done" and val(db, "stock.location", rec(db, "stock.picking", p).get(
                 "location_dest_id"), "usage") != "supplier"]
    return min((d for d in dates if d), default=False)


def _to_vendor(db: Database, move: dict) -> bool:
    return val(db, "stock.location", move.get("location_dest_id"), "usage") == "supplier"


def sync_purchase_moves(db: Database, line: int) -> None:
    """purchase_stock ``_create_or_update_picking`` (18): a confirmed line's change becomes a new move.

    Odoo creates a move for the difference between the ordered quantity and what the line's moves bring
    in (incoming minus outgoing, done or open).  The new move is merged into an open incoming move of the
    line with the same deadline; otherwise a raise is a new incoming move in the line's open receipt (or the
    order's), and a cut is a new *outgoing* move, Stock -> Vendors, in an open Delivery Orders picking of
    the order (a new one at first), as recorded in 14: the receipt keeps expecting what it expected.
    A cut that would take an open move to nothing is not merged (recorded: writing 0 gives an outgoing
    move of the full quantity while the receipt still expects it).
    """
    r = rec(db, "purchase.order.line", line)
    order = rec(db, "purchase.order", r["order_id"])
    prod = r.get("product_id")
    if (order.get("state") != "purchase" or r.get("display_type") or not prod
            or val(db, "product.product", prod, "type") != "consu"):
        return
    ordered, uom = r.get("product_qty") or 0.0, r.get("product_uom")
    if ordered < _purchase_qty(db, line, "received"):
        raise UserError("You cannot decrease the ordered quantity below the received quantity.\n"
                        "Create a return first.")
    moves = [rec(db, "stock.move", m) for m in db.lookup("stock.move", "purchase_line_id", line)]
    moves = [m for m in moves if m.get("state") != "cancel"]
    procured = sum((-1 if _to_vendor(db, m) else 1) * convert_qty(
        db, (m.get("quantity") if m.get("state") == "done" else m.get("product_uom_qty")) or 0.0,
        m.get("product_uom"), uom) for m in moves)
    if abs(ordered - procured) < 1e-9:
        return
    product_uom = val(db, "product.product", prod, "uom_id")
    missing = convert_qty(db, ordered - procured, uom, product_uom)
    date = r.get("date_planned")
    mergeable = [m["id"] for m in moves if m.get("state") not in ("done", "cancel") and not _to_vendor(db, m)
                 and m.get("picking_id") and _picking_open(db, m["picking_id"]) and m.get("date_deadline") == date
                 and (m.get("product_uom_qty") or 0.0) + missing > 1e-9]
    if mergeable:
        target = db._touch("stock.move", mergeable[0])
        target["product_uom_qty"] = (target.get("product_uom_qty") or 0.0) + missing
        follow_demand(db, target["id"])
        return
    if missing > 0:
        picks = [m["picking_id"] for m in moves if m.get("state") not in ("done", "cancel")
                 and not _to_vendor(db, m) and m.get("picking_id") and _picking_open(db, m["picking_id"])]
        picks = picks or [p for p in _purchase_pickings(db, order["id"]) if _picking_open(db, p)
                          and _internal(db, rec(db, "stock.picking", p).get("location_dest_id"))]
        pick = picks[0] if picks else db.create("stock.picking", [{
            "picking_type_id": order.get("picking_type_id") or TYPE_IN, "partner_id": order.get("partner_id"),
            "origin": order.get("name"), "scheduled_date": date, "date_deadline": date}])[0]
        source, dest = LOC_VENDORS, rec(db, "stock.picking", pick).get("location_dest_id")
    else:
        picks = [p for p in _purchase_pickings(db, order["id"]) if _picking_open(db, p)
                 and val(db, "stock.location", rec(db, "stock.picking", p).get("location_dest_id"), "usage")
                 == "supplier"]
        # purchase_stock gives the cut's move (and so its picking) the order's dest_address_id, a dropship
        # address, not the vendor: a real Odoo 18 leaves the return picking without a partner.
        pick = picks[0] if picks else db.create("stock.picking", [{
            "picking_type_id": TYPE_OUT, "partner_id": order.get("dest_address_id") or False,
            "origin": order.get("name"),
            "location_id": LOC_STOCK, "location_dest_id": LOC_VENDORS, "scheduled_date": date,
            "date_deadline": date}])[0]
        source, dest = LOC_STOCK, LOC_VENDORS
    mid = db.create("stock.move", [{
        "picking_id": pick, "product_id": prod, "purchase_line_id": line, "state": "confirmed",
        "product_uom_qty": abs(missing), "product_uom": product_uom, "name": r.get("name"),
        "location_id": source, "location_dest_id": dest, "origin": order.get("name"), "date": date,
        "date_deadline": date}])[0]
    reserve(db, mid)
    _follow_move_dates(db, pick)


def _follow_move_dates(db: Database, pick: int) -> None:
    """A picking's scheduled date is the earliest date of its open moves (``_compute_scheduled_date``)."""
    dates = [m.get("date") for m in (rec(db, "stock.move", i) for i in db.lookup("stock.move", "picking_id", pick))
             if m.get("state") not in ("done", "cancel") and m.get("date")]
    if dates:
        db._touch("stock.picking", pick)["scheduled_date"] = min(dates)


def _purchase_line_after_save(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    for line in ids:
        r = rec(db, "purchase.order.line", line)
        if vals.get("date_planned") and not r.get("display_type"):
            _update_move_date_deadline(db, line, r.get("date_planned"))
        if "product_qty" in vals:
            _confirmed_line_reprice(db, line, vals)
            sync_purchase_moves(db, line)


def _confirmed_line_reprice(db: Database, line: int, vals: dict) -> None:
    """``_compute_price_unit_and_date_planned_and_name`` on a confirmed line (14): confirming made the vendor
    one of the product's sellers, so a new quantity takes the seller's date, the order date (no lead time),
    unless ``date_planned`` is written with it; at 0 no seller applies, the date stays and the price becomes
    the product's cost."""
    r = rec(db, "purchase.order.line", line)
    order = rec(db, "purchase.order", r["order_id"])
    if order.get("state") != "purchase" or r.get("display_type") or not r.get("product_id"):
        return
    if r.get("product_qty"):
        if "date_planned" not in vals:
            db._touch("purchase.order.line", line)["date_planned"] = order.get("date_order")
    elif "price_unit" not in vals:
        prod = r["product_id"]
        db._touch("purchase.order.line", line)["price_unit"] = convert_price(
            db, val(db, "product.product", prod, "standard_price"), val(db, "product.product", prod, "uom_id"),
            r.get("product_uom"))


def _update_move_date_deadline(db: Database, line: int, date: str) -> None:
    """The open receipt moves take the line's new date as their deadline; the picking's deadline is the
    earliest of its moves' (``_compute_date_deadline``, move_type 'direct')."""
    pickings = set()
    for mid in db.lookup("stock.move", "purchase_line_id", line):
        if rec(db, "stock.move", mid).get("state") not in ("done", "cancel"):
            db._touch("stock.move", mid)["date_deadline"] = date
            pickings.add(rec(db, "stock.move", mid).get("picking_id"))
    for pid in pickings - {False, None}:
        deadlines = [rec(db, "stock.move", m).get("date_deadline") for m in db.lookup("stock.move", "picking_id", pid)]
        db._touch("stock.picking", pid)["date_deadline"] = min((d for d in deadlines if d), default=False)


def _purchase_unlink_check(db: Database, ids: list[int]) -> None:
    for oid in ids:
        if rec(db, "purchase.order", oid).get("state") != "cancel":  # a draft (RFQ) too, in Odoo 18
            raise UserError("In order to delete a purchase order, you must cancel it first.")


purchase = behaviour("purchase.order")
purchase.before_create = _purchase_before_create
purchase.before_unlink = _purchase_unlink_check
purchase.defaults = lambda db, vals, ctx: {"date_order": now_string(), "company_id": COMPANY, "currency_id": USD,
                                           "user_id": db.uid, "picking_type_id": TYPE_IN if db.exists(
        "stock.picking.type", TYPE_IN) else False}
purchase.display_name = lambda db, rid: rec(db, "purchase.order", rid).get("name") + (
    f" ({rec(db, 'purchase.order', rid)['partner_ref']})" if rec(db, "purchase.order", rid).get("partner_ref")
    else "")
purchase.computes.update(
    **{k: (lambda w: lambda db, rid: _order_amount(db, "purchase.order", rid, w))(k)
       for k in ("amount_untaxed", "amount_tax", "amount_total")},
    date_planned=_purchase_date_planned,
    picking_ids=_purchase_pickings,
    incoming_picking_count=lambda db, rid: len(_purchase_pickings(db, rid)),
    receipt_status=lambda db, rid: _delivery_status(db, rid, _purchase_pickings(db, rid)),
    effective_date=_effective_date,
    is_shipped=lambda db, rid: bool(_purchase_pickings(db, rid)) and all(
        _picking_state(db, p) in ("done", "cancel") for p in _purchase_pickings(db, rid)),
    invoice_ids=_purchase_invoices,
    invoice_count=lambda db, rid: len(_purchase_invoices(db, rid)),
    invoice_status=_purchase_invoice_status,
    currency_rate=lambda db, rid: currency_rate(db, rec(db, "purchase.order", rid).get("currency_id")),
)
def _purchase_draft(db: Database, ids: list[int], **_: Any) -> dict:
    for oid in ids:
        track_state(db, "purchase.order", oid, rec(db, "purchase.order", oid).get("state"), "draft")
        db._touch("purchase.order", oid)["state"] = "draft"
    return {}


purchase.methods.update(button_confirm=_purchase_confirm, button_cancel=_purchase_cancel, button_draft=_purchase_draft)
purchase_line = behaviour("purchase.order.line")
purchase_line.defaults = _purchase_line_defaults
purchase_line.before_create = _sale_line_before_create
purchase_line.after_create = lambda db, rid, vals, ctx: sync_purchase_moves(db, rid)
purchase_line.after_write = _purchase_line_after_save
purchase_line.display_name = lambda db, rid: (rec(db, "purchase.order.line", rid).get("name") or "").split("\n")[0]
purchase_line.computes.update(
    price_subtotal=lambda db, rid: _line_amounts(db, "purchase.order.line", rid)[0],
    price_tax=lambda db, rid: _line_amounts(db, "purchase.order.line", rid)[1],
    price_total=lambda db, rid: _line_amounts(db, "purchase.order.line", rid)[2],
    product_uom_qty=lambda db, rid: convert_qty(
        db, rec(db, "purchase.order.line", rid).get("product_qty") or 0.0,
        rec(db, "purchase.order.line", rid).get("product_uom"),
        val(db, "product.product", rec(db, "purchase.order.line", rid).get("product_id"), "uom_id")),
    qty_received=lambda db, rid: _purchase_qty(db, rid, "received"),
    qty_invoiced=lambda db, rid: _purchase_qty(db, rid, "invoiced"),
    qty_to_invoice=lambda db, rid: _purchase_qty(db, rid, "to_invoice"),
    qty_received_method=lambda db, rid: "stock_moves" if val(db, "product.product", rec(
        db, "purchase.order.line", rid).get("product_id"), "type") == "consu" else "manual",
    state=lambda db, rid: val(db, "purchase.order", rec(db, "purchase.order.line", rid)["order_id"], "state"),
    partner_id=lambda db, rid: val(db, "purchase.order", rec(db, "purchase.order.line", rid)["order_id"],
                                   "partner_id"),
    currency_id=lambda db, rid: val(db, "purchase.order", rec(db, "purchase.order.line", rid)["order_id"],
                                    "currency_id"),
)


# --------------------------------------------------------------------------- invoicing
SALE_TYPES, PURCHASE_TYPES = ("out_invoice", "out_refund", "out_receipt"), ("in_invoice", "in_refund", "in_receipt")


def _move_before_create(db: Database, vals: dict, context: dict) -> None:
    db._moves_in_creation = getattr(db, "_moves_in_creation", 0) + 1  # journal items follow once, at the end
    vals.setdefault("move_type", context.get("default_move_type") or "entry")
    kind = vals["move_type"]
    lines = vals.get("line_ids") or vals.get("invoice_line_ids") or []
    if kind == "entry" and any(isinstance(c, (list, tuple)) and len(c) > 2 and c[0] == 0 and isinstance(c[2], dict)
                               and not c[2].get("account_id") and not c[2].get("display_type") for c in lines):
        # without move_type the invoice is a journal entry, whose lines take no account from a product (13)
        raise ValidationError("The operation cannot be completed: Missing required account on accountable line.")
    vals.setdefault("journal_id", JOURNAL_PURCHASE if kind in PURCHASE_TYPES else JOURNAL_SALE)
    if "invoice_line_ids" in vals and "line_ids" not in vals:
        vals["line_ids"] = vals.pop("invoice_line_ids")


def _account_move_defaults(db: Database, vals: dict, context: dict) -> dict:
    return {"date": today_string(), "currency_id": USD, "company_id": COMPANY,  # a draft's name is False in 18
            "partner_shipping_id": vals.get("partner_id") if vals.get("move_type") != "entry" else False,
            "payment_state": "not_paid"}


def _aml_defaults(db: Database, vals: dict, context: dict) -> dict:
    move_id = vals.get("move_id")
    kind = val(db, "account.move", move_id, "move_type") if move_id and db.exists("account.move", move_id) else "entry"
    purchase_side = kind in PURCHASE_TYPES
    currency = val(db, "account.move", move_id, "currency_id") if move_id and db.exists("account.move", move_id) else USD
    out: dict[str, Any] = {"currency_id": currency or USD, "quantity": 1.0, "display_type": "product",
                           "account_id": ACC_EXPENSE if purchase_side else ACC_INCOME}
    prod = vals.get("product_id")
    if prod and db.exists("product.product", prod):
        uom = vals.get("product_uom_id") or val(db, "product.product", prod, "uom_po_id" if purchase_side else "uom_id")
        price = val(db, "product.product", prod, "standard_price" if purchase_side else "lst_price")
        out.update(name=_product_name(db, prod), product_uom_id=uom,
                   price_unit=convert_price(db, price, val(db, "product.product", prod, "uom_id"), uom),
                   tax_ids=list(val(db, "product.product", prod, "supplier_taxes_id" if purchase_side else "taxes_id")))
    return out


def _aml_amounts(db: Database, rid: int) -> tuple[float, float]:
    r = rec(db, "account.move.line", rid)
    if r.get("display_type") != "product":
        return 0.0, 0.0
    subtotal = money((r.get("quantity") or 0.0) * (r.get("price_unit") or 0.0) * (1 - (r.get("discount") or 0.0) / 100))
    return subtotal, money(subtotal + tax_amount(db, r.get("tax_ids") or [], subtotal))


def sync_journal_items(db: Database, move_id: int) -> None:
    """Recompute the tax and payment-term journal items and every line's debit/credit."""
    if getattr(db, "_syncing", False) or not db.exists("account.move", move_id):
        return
    move_rec = rec(db, "account.move", move_id)
    kind = move_rec.get("move_type")
    if kind == "entry":
        return
    db._syncing = True
    try:
        sign = -1 if kind in ("out_invoice", "in_refund", "out_receipt") else 1  # balance sign of product lines
        # amounts are in the move's currency (amount_currency), balances in the company's, at the latest rate
        rate = currency_rate(db, move_rec.get("currency_id"))
        lines = [i for i, a in db.records["account.move.line"].items() if a.get("move_id") == move_id]
        products, taxes = [], {}
        existing = {}
        for line in lines:
            a = rec(db, "account.move.line", line)
            if a.get("display_type") == "tax":
                existing[("tax", a.get("tax_line_id"))] = line
                continue
            if a.get("display_type") == "payment_term":
                existing[("payment_term", None)] = line
                continue
            if a.get("display_type") != "product":
                continue
            subtotal, _ = _aml_amounts(db, line)
            products.append(line)
            balance = money(sign * subtotal / rate)
            db._touch("account.move.line", line).update(debit=max(balance, 0.0), credit=max(-balance, 0.0),
                                                         balance=balance, amount_currency=sign * subtotal,
                                                         currency_id=move_rec.get("currency_id") or USD,
                                                         partner_id=move_rec.get("partner_id"))
            for tax in a.get("tax_ids") or []:
                taxes[tax] = taxes.get(tax, 0.0) + tax_amount(db, [tax], subtotal)
        total, balances = 0.0, sum(rec(db, "account.move.line", line).get("balance") or 0.0 for line in products)
        for tax, amount in taxes.items():
            balance = money(sign * money(amount) / rate)
            balances += balance
            _upsert_line(db, existing.pop(("tax", tax), None), {
                "move_id": move_id, "display_type": "tax", "name": val(db, "account.tax", tax, "name"),
                "tax_line_id": tax, "sequence": 10000, "quantity": 0.0, "price_unit": 0.0,
                "account_id": ACC_TAX_PURCHASE if kind in PURCHASE_TYPES else ACC_TAX_SALE,
                "debit": max(balance, 0.0), "credit": max(-balance, 0.0), "balance": balance,
                "amount_currency": sign * money(amount), "currency_id": move_rec.get("currency_id") or USD,
                "partner_id": move_rec.get("partner_id")})
            total += money(amount)
        total += sum(_aml_amounts(db, line)[0] for line in products)
        if products:
            balance = money(-balances)  # what balances the entry in the company's currency
            name = move_rec.get("payment_reference") or move_rec.get("ref") or ""
            if move_rec.get("ref") and move_rec.get("name") not in (None, "/", False):
                name = f"{move_rec['ref']} - {move_rec['name']}"
            _upsert_line(db, existing.pop(("payment_term", None), None), {
                "move_id": move_id, "display_type": "payment_term", "name": name or False, "sequence": 12000,
                "quantity": 0.0, "price_unit": 0.0,
                "account_id": ACC_PAYABLE if kind in PURCHASE_TYPES else ACC_RECEIVABLE,
                "debit": max(balance, 0.0), "credit": max(-balance, 0.0), "balance": balance,
                "amount_currency": -sign * money(total), "currency_id": move_rec.get("currency_id") or USD,
                "partner_id": move_rec.get("partner_id")})
        if existing:
            db.unlink("account.move.line", list(existing.values()))
    finally:
        db._syncing = False


def _upsert_line(db: Database, line: int | None, vals: dict) -> None:
    if line is None:
        db.create("account.move.line", [vals])
    else:
        db._touch("account.move.line", line).update(vals)


def _amount_currency(db: Database, rid: int) -> float:
    """A journal item's amount in its move's currency (its balance where none was computed)."""
    line = rec(db, "account.move.line", rid)
    amount = line.get("amount_currency")
    return amount if isinstance(amount, (int, float)) and not isinstance(amount, bool) else line.get("balance") or 0.0


def _move_amount(db: Database, rid: int, which: str) -> float:
    lines = [i for i, a in db.records["account.move.line"].items() if a.get("move_id") == rid]
    untaxed = money(sum(_aml_amounts(db, i)[0] for i in lines))
    tax = money(sum(abs(_amount_currency(db, i)) for i in lines
                    if rec(db, "account.move.line", i).get("display_type") == "tax"))
    return {"amount_untaxed": untaxed, "amount_tax": tax}.get(which, untaxed + tax)


def _post(db: Database, ids: list[int], context: dict | None = None, **_: Any) -> bool:
    for mid in ids:
        m = rec(db, "account.move", mid)
        kind = m.get("move_type")
        if m.get("state") == "posted":
            raise UserError("The entry %s (id %s) is already posted." % (m.get("name"), mid))
        if kind in PURCHASE_TYPES and not m.get("invoice_date"):
            raise UserError("The Bill/Refund date is required to validate this document.")
        if not any(a.get("move_id") == mid and a.get("display_type") == "product"
                   for a in db.records["account.move.line"].values()) and kind != "entry":
            raise UserError("You need to add a line before posting.")
    for mid in ids:
        m = db._touch("account.move", mid)
        kind = m.get("move_type")
        m["invoice_date"] = m.get("invoice_date") or today_string()
        m["date"] = m["invoice_date"] if kind != "entry" else m.get("date")
        m["invoice_date_due"] = m.get("invoice_date_due") or m["invoice_date"]
        year, month = m["date"][:4], m["date"][5:7]
        if not m.get("name") or m["name"] == "/":
            if kind in PURCHASE_TYPES:
                prefix = "RBILL" if kind == "in_refund" else "BILL"
                m["name"] = f"{prefix}/{year}/{month}/{db.next_sequence(f'{prefix}/{year}/{month}'):04d}"
            else:
                prefix = {"out_refund": "RINV", "entry": "MISC"}.get(kind, "INV")
                m["name"] = f"{prefix}/{year}/{db.next_sequence(f'{prefix}/{year}'):05d}"
        if kind in SALE_TYPES and not m.get("payment_reference"):
            m["payment_reference"] = m["name"]
        m["state"] = "posted"
        sync_journal_items(db, mid)
    return False


def _move_after_save(db: Database, ids: list[int], vals: dict, context: dict) -> None:
    for mid in ids:
        sync_journal_items(db, mid)


account_move = behaviour("account.move")
account_move.before_create = _move_before_create
account_move.defaults = _account_move_defaults
def _move_after_create(db: Database, rid: int, vals: dict, context: dict) -> None:
    db._moves_in_creation -= 1
    _move_after_save(db, [rid], vals, context)


account_move.after_create = _move_after_create
account_move.after_write = _move_after_save
account_move.before_unlink = lambda db, ids: [
    (_ for _ in ()).throw(UserError("You cannot delete an entry which has been posted once."))
    for i in ids if rec(db, "account.move", i).get("state") == "posted"] and None
account_move.computes.update(
    **{k: (lambda w: lambda db, rid: _move_amount(db, rid, w))(k) for k in ("amount_untaxed", "amount_tax",
                                                                           "amount_total")},
    amount_residual=lambda db, rid: _move_amount(db, rid, "amount_total"),
    commercial_partner_id=lambda db, rid: _commercial_partner(db, rec(db, "account.move", rid)["partner_id"])
    if rec(db, "account.move", rid).get("partner_id") else False,
    invoice_line_ids=lambda db, rid: [i for i in db.search("account.move.line", [("move_id", "=", rid)],
                                                           order="sequence, id")
                                      if rec(db, "account.move.line", i).get("display_type") == "product"],
    line_ids=lambda db, rid: db.search("account.move.line", [("move_id", "=", rid)], order="id"),
)
account_move.methods.update(
    action_post=_post,
    # Odoo 18's button_draft and button_cancel return nothing: the caller gets null
    button_draft=lambda db, ids, **k: [db._touch("account.move", i).update(state="draft") for i in ids] and None,
    button_cancel=lambda db, ids, **k: [db._touch("account.move", i).update(state="cancel") for i in ids] and None,
)
aml = behaviour("account.move.line")
aml.defaults = _aml_defaults
aml.after_create = lambda db, rid, vals, ctx: None if getattr(db, "_moves_in_creation", 0) else sync_journal_items(
    db, rec(db, "account.move.line", rid)["move_id"])
aml.after_write = lambda db, ids, vals, ctx: [sync_journal_items(db, m) for m in
                                              {rec(db, "account.move.line", i)["move_id"] for i in ids}] and None
aml.computes.update(
    amount_currency=_amount_currency,
    price_subtotal=lambda db, rid: _aml_amounts(db, rid)[0],
    price_total=lambda db, rid: _aml_amounts(db, rid)[1],
    purchase_order_id=lambda db, rid: val(db, "purchase.order.line", rec(db, "account.move.line", rid).get(
        "purchase_line_id"), "order_id"),
    parent_state=lambda db, rid: val(db, "account.move", rec(db, "account.move.line", rid)["move_id"], "state"),
    move_name=lambda db, rid: val(db, "account.move", rec(db, "account.move.line", rid)["move_id"], "name"),
    date=lambda db, rid: val(db, "account.move", rec(db, "account.move.line", rid)["move_id"], "date"),
)
behaviour("account.account").display_name = lambda db, rid: "{code} {name}".format(**rec(db, "account.account", rid))


def _warehouse_type(code: str) -> Any:
    def compute(db: Database, rid: int) -> Any:
        found = db.search("stock.picking.type", [("warehouse_id", "=", rid), ("code", "=", code)], limit=1)
        return found[0] if found else False
    return compute


behaviour("stock.warehouse").computes.update(in_type_id=_warehouse_type("incoming"),
                                             out_type_id=_warehouse_type("outgoing"))


# --------------------------------------------------------------------------- packages and credit notes
behaviour("stock.quant.package").defaults = lambda db, vals, ctx: {
    "name": f"PACK{db.next_sequence('stock.quant_package'):07d}", "company_id": COMPANY}
behaviour("stock.quant.package").computes["location_id"] = lambda db, rid: next(
    (q.get("location_id") for q in (rec(db, "stock.quant", i) for i in db.lookup("stock.quant", "package_id", rid))
     if q.get("quantity")), False)
behaviour("stock.package.type").defaults = lambda db, vals, ctx: {"company_id": COMPANY}


def _reversal_defaults(db: Database, vals: dict, context: dict) -> dict:
    """``account.move.reversal.default_get``: the moves are the action's ``active_ids``."""
    moves = list(context.get("active_ids") or []) if context.get("active_model") == "account.move" else []
    if any(rec(db, "account.move", m).get("state") != "posted" for m in moves if db.exists("account.move", m)):
        raise UserError("You can only reverse posted moves.")
    out: dict[str, Any] = {"company_id": COMPANY, "date": today_string()}
    if moves:
        out["move_ids"] = [(6, 0, moves)]
    return out  # no journal_id: Odoo 18 leaves it to the caller and refuses the wizard without one


REFUND_TYPE = {"out_invoice": "out_refund", "in_invoice": "in_refund", "out_refund": "out_invoice",
               "in_refund": "in_invoice", "entry": "entry"}


def _reverse_moves(db: Database, ids: list[int], is_modify: bool = False, context: dict | None = None,
                   **_: Any) -> dict:
    """``reverse_moves``: a draft credit note per move, its lines (and their order links) copied."""
    new_moves: list[int] = []
    for wid in ids:
        w = rec(db, "account.move.reversal", wid)
        date = w.get("date") or today_string()
        reason = w.get("reason")
        for mid in w.get("move_ids") or []:
            m = rec(db, "account.move", mid)
            lines = [a for a in (rec(db, "account.move.line", i)
                                 for i in db.search("account.move.line", [("move_id", "=", mid)], order="sequence, id"))
                     if a.get("display_type") == "product"]
            copy = ("product_id", "name", "quantity", "price_unit", "discount", "product_uom_id", "account_id",
                    "sequence", "purchase_line_id")
            vals = {"move_type": REFUND_TYPE[m["move_type"]], "partner_id": m.get("partner_id"),
                    "partner_shipping_id": m.get("partner_shipping_id"), "currency_id": m.get("currency_id"),
                    "journal_id": w.get("journal_id") or m.get("journal_id"), "invoice_origin": m.get("invoice_origin"),
                    "ref": f"Reversal of: {m.get('name')}, {reason}" if reason else f"Reversal of: {m.get('name')}",
                    "date": date, "invoice_date": date, "invoice_date_due": date, "reversed_entry_id": mid,
                    "fiscal_position_id": m.get("fiscal_position_id"),
                    "line_ids": [(0, 0, {**{k: a.get(k) for k in copy if a.get(k) not in (None, False)},
                                         "tax_ids": [(6, 0, list(a.get("tax_ids") or []))],
                                         "sale_line_ids": [(6, 0, list(a.get("sale_line_ids") or []))]})
                                 for a in lines]}
            refund = db.create("account.move", [vals], {"default_move_type": vals["move_type"]})[0]
            new_moves.append(refund)
            if is_modify:  # the credit note cancels the invoice, and a new draft takes its place
                _post(db, [refund])
                again = {k: v for k, v in vals.items() if k not in ("ref", "reversed_entry_id", "invoice_date",
                                                                    "invoice_date_due")}
                again.update(move_type=m["move_type"], ref=m.get("ref"))
                new_moves.append(db.create("account.move", [again], {"default_move_type": m["move_type"]})[0])
        db._touch("account.move.reversal", wid)["new_move_ids"] = list(new_moves)
    action: dict[str, Any] = {"name": "Reverse Moves", "type": "ir.actions.act_window", "res_model": "account.move"}
    types = {rec(db, "account.move", m)["move_type"] for m in new_moves}
    if len(new_moves) == 1:
        action.update(view_mode="form", res_id=new_moves[0], context={"default_move_type": types.pop()})
    else:
        action.update(view_mode="list,form", domain=[["id", "in", new_moves]])
        if len(types) == 1:
            action["context"] = {"default_move_type": types.pop()}
    return action


reversal = behaviour("account.move.reversal")
reversal.defaults = _reversal_defaults
reversal.computes.update(
    move_type=lambda db, rid: (lambda moves: rec(db, "account.move", moves[0])["move_type"] if len(moves) == 1
                               else False)(rec(db, "account.move.reversal", rid).get("move_ids") or []),
    currency_id=lambda db, rid: USD,
    residual=lambda db, rid: sum(_move_amount(db, m, "amount_total")
                                 for m in rec(db, "account.move.reversal", rid).get("move_ids") or []),
)
reversal.methods.update(
    reverse_moves=lambda db, ids, is_modify=False, context=None, **k: _reverse_moves(db, ids, is_modify, context),
    refund_moves=lambda db, ids, context=None, **k: _reverse_moves(db, ids, False, context),
    modify_moves=lambda db, ids, context=None, **k: _reverse_moves(db, ids, True, context),
)


# --------------------------------------------------------------------------- chatter (mail.thread)
THREAD_MODELS = ("purchase.order", "stock.picking", "account.move", "sale.order")


def _xmlid_to_res_id(db: Database, xmlid: str, missing_ok: bool = False) -> int:
    module, _, name = xmlid.rpartition(".")
    found = db.search("ir.model.data", [("module", "=", module), ("name", "=", name)], limit=1)
    if not found and missing_ok:
        return False
    if not found:
        raise InvalidValue(f"External ID not found in the system: {xmlid}")
    return rec(db, "ir.model.data", found[0])["res_id"]


def message_body(body: Any, body_is_html: bool = False) -> Any:
    """What mail.message.body holds: message_post escapes a str (``escape(body)``: only a Markup is HTML)
    and the Html field's sanitizer puts bare text in a paragraph, so "a < b" is stored "<p>a &lt; b</p>"."""
    if body in (None, False, ""):
        return False
    text = str(body) if body_is_html else html.escape(str(body), quote=False)
    return text if text.lstrip().startswith("<") else f"<p>{text}</p>"


def _poster(model: str) -> Any:
    def message_post(db: Database, ids: list[int], body: Any = "", subject: Any = None,
                     message_type: str = "notification", email_from: Any = None, author_id: Any = None,
                     parent_id: Any = False, subtype_xmlid: Any = None, subtype_id: Any = False,
                     partner_ids: Any = None, attachments: Any = None, attachment_ids: Any = None,
                     body_is_html: bool = False, context: dict | None = None, **kwargs: Any) -> int:
        """``mail.thread.message_post`` (18): one record, returns the new mail.message (its id over RPC,
        through ``@api.returns('mail.message', lambda value: value.id)``)."""
        if len(ids) != 1:
            raise InvalidValue(f"Expected singleton: {model}({', '.join(map(str, ids))})")
        forbidden = {"model", "res_id", "subtype"} & set(kwargs)
        if forbidden:
            raise InvalidValue(f"The following parameters are forbidden: {', '.join(sorted(forbidden))}")
        if message_type == "user_notification":
            raise InvalidValue("Use message_notify to send a notification to an user.")
        if subtype_xmlid:  # an unknown one is no error: the message is a note (15)
            subtype_id = _xmlid_to_res_id(db, subtype_xmlid, missing_ok=True)
        fields = db.models["mail.message"].fields
        author = author_id or val(db, "res.users", db.uid, "partner_id")
        return db.create("mail.message", [{
            **{k: v for k, v in kwargs.items() if k in fields},
            "body": message_body(body, body_is_html), "subject": subject or False, "message_type": message_type,
            "model": model, "res_id": ids[0], "record_name": kwargs.get("record_name") or db.display_name(model, ids[0]),
            "subtype_id": subtype_id or _xmlid_to_res_id(db, "mail.mt_note"), "author_id": author,
            "email_from": email_from or val(db, "res.partner", author, "email") or False,
            "parent_id": parent_id or False, "partner_ids": [(6, 0, list(partner_ids or []))],
            "date": now_string(), "is_internal": False}], context)[0]
    return message_post


for _model in THREAD_MODELS:
    behaviour(_model).methods["message_post"] = _poster(_model)
    behaviour(_model).computes["message_ids"] = (lambda m: lambda db, rid: db.search(
        "mail.message", [("model", "=", m), ("res_id", "=", rid)]))(_model)
behaviour("mail.message").defaults = lambda db, vals, ctx: {
    "date": now_string(), "author_id": val(db, "res.users", db.uid, "partner_id")}


# --------------------------------------------------------------------------- reordering rules
def _orderpoint_before_create(db: Database, vals: dict, context: dict) -> None:
    """Odoo names a rule from its sequence and puts it in the warehouse's stock location."""
    if not vals.get("name"):
        vals["name"] = f"OP/{db.next_sequence('stock.orderpoint'):05d}"
    if not vals.get("location_id") and vals.get("warehouse_id"):
        vals["location_id"] = val(db, "stock.warehouse", vals["warehouse_id"], "lot_stock_id")
    if vals.get("product_id"):
        vals["product_tmpl_id"] = val(db, "product.product", vals["product_id"], "product_tmpl_id")


orderpoint = behaviour("stock.warehouse.orderpoint")
orderpoint.defaults = lambda db, vals, ctx: {"company_id": COMPANY}
orderpoint.before_create = _orderpoint_before_create


# --------------------------------------------------------------------------- Odoo's own messages
# What Odoo 18 logs in an order's chatter by itself (15-drafts-notes-wizards.json): "<p>Sales Order
# created</p>" on create, and on each change of status a message without body carrying the change
# (mail.tracking.value), with the subtype of the new status when there is one ("Sales Order Confirmed",
# "RFQ Confirmed"), else an internal note.  Internal messages show no record name.
CREATED = {"sale.order": "Sales Order created", "purchase.order": "Purchase Order created"}
STATE_SUBTYPES = {("sale.order", "sale"): "sale.mt_order_confirmed",
                  ("purchase.order", "purchase"): "purchase.mt_rfq_confirmed"}


def _log_message(db: Database, model: str, rid: int, body: Any, subtype_xmlid: str) -> int:
    subtype = _xmlid_to_res_id(db, subtype_xmlid)
    internal = bool(val(db, "mail.message.subtype", subtype, "internal"))
    message = db.create("mail.message", [{
        "body": body, "message_type": "notification", "model": model, "res_id": rid, "subtype_id": subtype,
        "is_internal": internal, "record_name": False if internal else db.display_name(model, rid),
        "author_id": val(db, "res.users", db.uid, "partner_id"), "date": now_string()}])[0]
    if not body:
        db._touch("mail.message", message)["body"] = ""  # a tracking message's body is empty, not False
    return message


def _model_field(db: Database, model: str, name: str) -> int:
    """The ir.model.fields record of a field, made when a tracking value first names it."""
    found = db.search("ir.model.fields", [("model", "=", model), ("name", "=", name)], limit=1)
    if found:
        return found[0]
    f = db.models[model].fields[name]
    return db.create("ir.model.fields", [{
        "name": name, "field_description": f.string, "model": model, "ttype": f.type,
        "model_id": db.search("ir.model", [("model", "=", model)], limit=1)[0]}])[0]


def track_state(db: Database, model: str, rid: int, old: str, new: str) -> None:
    if old == new:
        return
    labels = dict(db.models[model].fields["state"].selection or [])
    message = _log_message(db, model, rid, False, STATE_SUBTYPES.get((model, new), "mail.mt_note"))
    db.create("mail.tracking.value", [{
        "field_id": _model_field(db, model, "state"), "mail_message_id": message,
        "old_value_char": labels.get(old, old or ""), "new_value_char": labels.get(new, new or "")}])


def _log_created(model: str, then: Any) -> Any:
    def after_create(db: Database, rid: int, vals: dict, context: dict) -> None:
        if then:
            then(db, rid, vals, context)
        _log_message(db, model, rid, f"<p>{CREATED[model]}</p>", "mail.mt_note")
    return after_create


for _model in CREATED:
    behaviour(_model).after_create = _log_created(_model, behaviour(_model).after_create)
behaviour("ir.model.fields").display_name = lambda db, rid: (
    f"{rec(db, 'ir.model.fields', rid).get('field_description')} "
    f"({db.models[rec(db, 'ir.model.fields', rid).get('model')].description})")
