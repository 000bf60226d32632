"""What Odoo 18 computes on vendors' prices (product.supplierinfo) and pricelist rules
(product.pricelist.item) in the sandbox: names, related fields, the discounted price.

Kept apart from ``flows.py`` because the catalog flows (832 / PRICAT) are what need it; the
supplierinfo defaults the purchase flows use stay in ``flows.py``.
"""

from __future__ import annotations

from gateway.odoo.sandbox.flows import money, rec, val
from gateway.odoo.sandbox.orm import Database, behaviour


def _supplier_name(db: Database, rid: int) -> str:
    """A vendor line shows its vendor (``display_name`` depends on ``partner_id`` only)."""
    return db.display_name("res.partner", partner) if (partner := rec(db, "product.supplierinfo", rid).get(
        "partner_id")) else ""


def _discounted(db: Database, rid: int) -> float:
    r = rec(db, "product.supplierinfo", rid)
    return money((r.get("price") or 0.0) * (1 - (r.get("discount") or 0.0) / 100))


seller = behaviour("product.supplierinfo")
seller.display_name = _supplier_name
seller.computes["price_discounted"] = _discounted


def _item_name(db: Database, rid: int) -> str:
    """``_compute_name`` of Odoo 18: the product's name for a product rule, a prefix for the others."""
    r = rec(db, "product.pricelist.item", rid)
    applied = r.get("applied_on")
    if applied == "2_product_category" and r.get("categ_id"):
        return f"Category: {db.display_name('product.category', r['categ_id'])}"
    if applied == "1_product" and r.get("product_tmpl_id"):
        return db.display_name("product.template", r["product_tmpl_id"])
    if applied == "0_product_variant" and r.get("product_id"):
        return f"Variant: {db.display_name('product.product', r['product_id'])}"
    return "All Categories" if r.get("display_applied_on") == "2_product_category" else "All Products"


def _of_pricelist(name: str):
    return lambda db, rid: val(db, "product.pricelist", rec(db, "product.pricelist.item", rid).get("pricelist_id"), name)


item = behaviour("product.pricelist.item")
item.display_name = _item_name
item.computes.update(name=_item_name, currency_id=_of_pricelist("currency_id"),
                     company_id=_of_pricelist("company_id"))
