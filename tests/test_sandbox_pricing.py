"""The sandbox keeps vendors' prices (product.supplierinfo) and pricelist rules (product.pricelist.item)
as Odoo 18 does: the fields and defaults recorded on a real Odoo 18.0, the rule's name, the pricelist's
currency on its rules, a pricelist created with its rules in one call (as recorded in
``2026-12/16-currency-and-pricelists.json``)."""

from __future__ import annotations

import json
import uuid

import odoorpc
import pytest
from conftest import TRANSCRIPTS

from gateway_fixtures import odoorpc_for

RECORDED = TRANSCRIPTS / "fields"


@pytest.fixture(scope="module", params=["sandbox", "live"])
def odoo(request):
    """odoorpc logged in to the sandbox, or to the real Odoo that EDIGW_ODOO_* name ("live")."""
    with odoorpc_for(request.param) as client:
        yield client


def call(odoo: odoorpc.ODOO, model: str, method: str, *args, **kwargs):
    return odoo.execute_kw(model, method, list(args), kwargs)


@pytest.fixture(scope="module")
def world(odoo) -> dict:
    tag = uuid.uuid4().hex[:8].upper()
    vendor = call(odoo, "res.partner", "create", {"name": f"Catalog Vendor {tag}", "is_company": True})
    product = call(odoo, "product.product", "create", {"name": f"Catalog widget {tag}", "default_code": f"CW-{tag}"})
    [tmpl] = call(odoo, "product.product", "read", [product], fields=["product_tmpl_id"])
    return {"tag": tag, "vendor": vendor, "product": product, "template": tmpl["product_tmpl_id"][0]}


@pytest.mark.parametrize("model", ["product.supplierinfo", "product.pricelist.item"])
def test_default_get_answers_what_odoo_18_recorded(odoo, model) -> None:
    recorded = json.loads((RECORDED / f"{model}.json").read_text())["defaults"]
    ours = call(odoo, model, "default_get", list(recorded))
    static = {k: v for k, v in recorded.items() if not k.endswith("_id") or v is False}
    assert {k: ours.get(k, False) for k in static} == static


def test_a_vendor_price_keeps_code_quantity_validity_and_shows_its_vendor(odoo, world) -> None:
    rid = call(odoo, "product.supplierinfo", "create", {
        "partner_id": world["vendor"], "product_tmpl_id": world["template"], "product_code": "V-778",
        "product_name": "Widget, vendor's name", "price": 12.5, "discount": 10.0, "min_qty": 24,
        "date_start": "2026-01-01", "date_end": "2026-12-31"})
    [row] = call(odoo, "product.supplierinfo", "read", [rid], fields=[
        "display_name", "product_code", "price", "min_qty", "date_start", "date_end", "price_discounted",
        "currency_id", "delay", "product_uom"])
    assert row["display_name"].startswith("Catalog Vendor")
    assert (row["product_code"], row["price"], row["min_qty"]) == ("V-778", 12.5, 24.0)
    assert (row["date_start"], row["date_end"]) == ("2026-01-01", "2026-12-31")
    assert row["price_discounted"] == 11.25
    assert row["currency_id"] and row["delay"] == 1 and row["product_uom"]
    found = call(odoo, "product.supplierinfo", "search", [("partner_id", "=", world["vendor"]),
                                                          ("product_code", "=", "V-778")])
    assert found == [rid]


def test_a_vendor_price_without_a_vendor_is_refused(odoo, world) -> None:
    with pytest.raises(odoorpc.error.RPCError) as refused:
        call(odoo, "product.supplierinfo", "create", {"product_tmpl_id": world["template"], "price": 3.0})
    assert refused.value.info["data"]["name"] == "odoo.exceptions.ValidationError"
    assert "Field: Vendor (partner_id)" in str(refused.value)


def test_a_pricelist_created_with_a_fixed_price_rule_shows_it_in_its_currency(odoo, world) -> None:
    [eur] = call(odoo, "res.currency", "search", [("name", "=", "EUR")], context={"active_test": False})
    pricelist = call(odoo, "product.pricelist", "create", {
        "name": f"Catalog EUR {world['tag']}", "currency_id": eur, "item_ids": [[0, 0, {
            "applied_on": "1_product", "product_tmpl_id": world["template"], "compute_price": "fixed",
            "fixed_price": 42.0, "min_quantity": 10, "date_start": "2027-01-01 00:00:00",
            "date_end": "2027-06-30 23:59:59"}]]})
    [pl] = call(odoo, "product.pricelist", "read", [pricelist], fields=["item_ids"])
    [item] = call(odoo, "product.pricelist.item", "read", pl["item_ids"], fields=[
        "name", "fixed_price", "min_quantity", "date_start", "date_end", "currency_id", "base", "pricelist_id"])
    assert item["name"] == f"[CW-{world['tag']}] Catalog widget {world['tag']}"
    assert (item["fixed_price"], item["min_quantity"]) == (42.0, 10.0)
    assert (item["date_start"], item["date_end"]) == ("2027-01-01 00:00:00", "2027-06-30 23:59:59")
    assert item["currency_id"][0] == eur and item["base"] == "list_price" and item["pricelist_id"][0] == pricelist


def test_a_global_rule_is_named_all_products(odoo, world) -> None:
    [usd] = call(odoo, "res.currency", "search", [("name", "=", "USD")])
    pricelist = call(odoo, "product.pricelist", "create", {"name": f"Catalog USD {world['tag']}", "currency_id": usd})
    rid = call(odoo, "product.pricelist.item", "create", {"pricelist_id": pricelist, "compute_price": "percentage",
                                                          "percent_price": 5.0})
    [row] = call(odoo, "product.pricelist.item", "read", [rid], fields=["name", "applied_on"])
    assert (row["name"], row["applied_on"]) == ("All Products", "3_global")
