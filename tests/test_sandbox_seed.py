"""samples/odoo-seed.yaml holds every customer, delivery address and product the shipped samples name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from gateway.documents import Order
from gateway.formats import csv, edifact, x12
from gateway.formats.model import Message
from gateway.mapping import load_template
from gateway.odoo.sandbox import Sandbox

TEMPLATES = ROOT / "templates"
SAMPLES = {  # profile → (sample, parser, template), as the profiles in partners/ receive them
    "acme-retail": ("acme-retail/ORDERS_4500012.edi", edifact, "edifact/ORDERS_D96A"),
    "bigbox-stores": ("bigbox-stores/850_PO-77812.x12", x12, "x12/850_004010"),
    "corner-shop": ("corner-shop/orders-2026-11-20.csv", csv, "csv/orders_flat"),
}


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(ROOT / "samples" / "odoo-seed.yaml")


def orders(profile: str) -> list[Order]:
    sample, parser, template_name = SAMPLES[profile]
    template = load_template(TEMPLATES, template_name)
    data = (ROOT / "samples" / "inbox" / sample).read_bytes()
    events = parser.parse(data, template.layout) if parser is csv else parser.parse(data)
    translated = [template.translate(event.tree) for event in events if isinstance(event, Message)]
    assert translated and all(problems == [] for _, problems in translated)
    return [order for order, _ in translated]


def customer_of(sandbox: Sandbox, profile: str) -> dict:
    ref = yaml.safe_load((ROOT / "partners" / f"{profile}.yaml").read_text())["odoo_partner"]["ref"]
    found = sandbox.execute_kw("res.partner", "search_read", [[["ref", "=", ref]]],
                               {"fields": ["name", "barcode", "is_company", "customer_rank"]})
    assert len(found) == 1, f"{profile}: no single partner with ref {ref!r}"
    return found[0]


def product_for(sandbox: Sandbox, line) -> dict:
    """Barcode (GTIN, then UPC), then our item number: the order the gateway looks products up in."""
    for field, code in (("barcode", line.gtin), ("barcode", line.upc), ("default_code", line.supplier_item)):
        if code:
            found = sandbox.execute_kw("product.product", "search_read", [[[field, "=", code]]],
                                       {"fields": ["uom_id", "default_code"]})
            if found:
                return found[0]
    raise AssertionError(f"no product for line {line}")


@pytest.mark.parametrize("profile", sorted(SAMPLES))
def test_the_profile_customer_is_a_company_with_the_buyer_gln(sandbox, profile):
    customer = customer_of(sandbox, profile)
    assert customer["is_company"] and customer["customer_rank"] > 0
    for order in orders(profile):
        if order.buyer and order.buyer.gln:
            assert customer["barcode"] == order.buyer.gln


@pytest.mark.parametrize("profile", sorted(SAMPLES))
def test_every_ship_to_gln_is_a_delivery_address_of_the_customer(sandbox, profile):
    customer = customer_of(sandbox, profile)
    for order in orders(profile):
        if order.ship_to and order.ship_to.gln:
            found = sandbox.execute_kw("res.partner", "search_read", [[["barcode", "=", order.ship_to.gln]]],
                                       {"fields": ["parent_id", "type"]})
            assert [(a["parent_id"][0], a["type"]) for a in found] == [(customer["id"], "delivery")]


def test_the_samples_send_two_ship_to_glns():
    assert sorted(o.ship_to.gln for p in SAMPLES for o in orders(p) if o.ship_to and o.ship_to.gln) == [
        "0614141000029", "4012345000016"]


@pytest.mark.parametrize("profile", sorted(SAMPLES))
def test_every_ordered_item_is_a_product_in_a_unit_of_the_ordered_category(sandbox, profile):
    for order in orders(profile):
        for line in order.lines:
            product = product_for(sandbox, line)
            if line.supplier_item:
                assert product["default_code"] == line.supplier_item
            if not line.uom:
                continue
            [unit] = sandbox.execute_kw("uom.uom", "search_read", [[["name", "=", line.uom]]],
                                        {"fields": ["category_id"]})
            [product_unit] = sandbox.execute_kw("uom.uom", "read", [[product["uom_id"][0]]],
                                                {"fields": ["category_id"]})
            assert unit["category_id"] == product_unit["category_id"], (order.document_number, line)


def test_a_kilogram_line_lands_on_a_product_sold_by_weight(sandbox):
    [line] = [line for order in orders("acme-retail") for line in order.lines if line.uom == "kg"]
    assert product_for(sandbox, line)["uom_id"][1] == "kg"


def test_a_sale_order_from_the_seed_confirms(sandbox):
    customer = customer_of(sandbox, "acme-retail")
    # the seed is the samples' data (the sandbox only: no real Odoo has it); ship to the address they name
    order_in = next(o for o in orders("acme-retail") if o.ship_to and o.ship_to.gln)
    [address] = sandbox.execute_kw("res.partner", "search", [[["barcode", "=", order_in.ship_to.gln]]])
    products = {p["default_code"]: p for p in sandbox.execute_kw(
        "product.product", "search_read", [[]], {"fields": ["default_code", "uom_id"]})}
    order = sandbox.execute_kw("sale.order", "create", [{
        "partner_id": customer["id"], "partner_shipping_id": address, "client_order_ref": order_in.document_number,
        "order_line": [[0, 0, {"product_id": products[code]["id"], "product_uom_qty": qty,
                               "product_uom": products[code]["uom_id"][0]}] for code, qty in (("AX-100", 48),
                                                                                            ("AX-220", 12.5))]}])
    assert sandbox.execute_kw("sale.order", "action_confirm", [[order]]) is True
    [read] = sandbox.execute_kw("sale.order", "read", [[order]], {"fields": ["amount_untaxed"]})
    assert read["amount_untaxed"] == pytest.approx(48 * 3.25 + 12.5 * 11.9)
