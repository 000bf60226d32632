"""The sandbox fills in, names and refuses what Odoo 18 does (recorded in ``../shared/odoo-transcripts/
2026-12/``): a sale order's delivery address, its note as HTML, a draft bill's name, cancel answers, a
required field left out.  Each test runs against the sandbox and, with EDIGW_ODOO_* set, a real Odoo."""

from __future__ import annotations

import uuid

import odoorpc

from gateway.odoo.sandbox import start
from test_sandbox_purchasing import call, odoo, read, rpc_error  # noqa: F401  (odoo: the two-Odoo fixture)

MANDATORY = "The operation cannot be completed:\n- Create/update: a mandatory field is not set."


def customer(odoo: odoorpc.ODOO, **more) -> int:
    return call(odoo, "res.partner", "create", {"name": f"Customer {uuid.uuid4().hex[:8]}", "is_company": True,
                                                **more})


def test_a_sale_order_ships_to_the_customers_delivery_contact_when_none_is_given(odoo):
    company = customer(odoo)
    dock = call(odoo, "res.partner", "create", {"name": "Dock 4", "parent_id": company, "type": "delivery"})
    order = call(odoo, "sale.order", "create", {"partner_id": company})
    read_back = read(odoo, "sale.order", order, "partner_shipping_id", "partner_invoice_id")
    assert (read_back["partner_shipping_id"][0], read_back["partner_invoice_id"][0]) == (dock, company)


def test_a_sale_order_without_a_customer_is_refused_as_a_missing_required_field(odoo):
    name, message = rpc_error(odoo, "sale.order", "create", {"client_order_ref": "no customer"})
    assert name == "odoo.exceptions.ValidationError"
    assert message.startswith(MANDATORY) and "Field: Customer (partner_id)" in message


def test_a_note_written_as_text_is_kept_as_html(odoo):
    order = call(odoo, "sale.order", "create", {"partner_id": customer(odoo), "note": "Line 1\nfish & chips"})
    assert read(odoo, "sale.order", order, "note")["note"] == "<p>Line 1\nfish &amp; chips</p>"


def test_a_draft_bill_has_no_name_until_it_is_posted(odoo):
    vendor = customer(odoo, supplier_rank=1)
    bill = call(odoo, "account.move", "create", {"move_type": "in_invoice", "partner_id": vendor},
                context={"default_move_type": "in_invoice"})
    assert read(odoo, "account.move", bill, "name", "state") == {"id": bill, "name": False, "state": "draft"}


def test_a_credit_note_wizard_needs_a_journal(odoo):
    invoice = call(odoo, "account.move", "create", {
        "move_type": "out_invoice", "partner_id": customer(odoo), "invoice_line_ids": [[0, 0, {
            "name": "Service", "quantity": 1, "price_unit": 10.0}]]}, context={"default_move_type": "out_invoice"})
    call(odoo, "account.move", "action_post", [invoice])
    context = {"active_model": "account.move", "active_ids": [invoice], "active_id": invoice}
    name, message = rpc_error(odoo, "account.move.reversal", "create", {"reason": "no journal"}, context=context)
    assert name == "odoo.exceptions.ValidationError" and "Field: Journal (journal_id)" in message
    journal = read(odoo, "account.move", invoice, "journal_id")["journal_id"][0]
    wizard = call(odoo, "account.move.reversal", "create", {"reason": "with the invoice's journal",
                                                             "journal_id": journal}, context=context)
    action = call(odoo, "account.move.reversal", "refund_moves", [wizard], context=context)
    assert read(odoo, "account.move", action["res_id"], "move_type")["move_type"] == "out_refund"


def test_cancelling_a_purchase_order_answers_nothing(odoo):
    vendor = customer(odoo, supplier_rank=1)
    order = call(odoo, "purchase.order", "create", {"partner_id": vendor})
    assert call(odoo, "purchase.order", "button_cancel", [order]) is None
    assert read(odoo, "purchase.order", order, "state")["state"] == "cancel"


# --- currencies and pricelists (16) --------------------------------------------------------------


def euro(odoo: odoorpc.ODOO) -> dict:
    """EUR made active with a rate, as 16's probe left it: its id and its rate (EUR per unit of the company's)."""
    [eur] = call(odoo, "res.currency", "search_read", [("name", "=", "EUR")], fields=["active"],
                 context={"active_test": False})
    if not eur["active"]:
        call(odoo, "res.currency", "write", [eur["id"]], {"active": True})
    if not call(odoo, "res.currency.rate", "search", [("currency_id", "=", eur["id"])]):
        call(odoo, "res.currency.rate", "create", {"currency_id": eur["id"], "name": "2026-01-01", "rate": 0.9})
    return read(odoo, "res.currency", eur["id"], "name", "rate")


def product(odoo: odoorpc.ODOO, list_price: float, standard_price: float) -> int:
    tag = uuid.uuid4().hex[:8]
    return call(odoo, "product.product", "create", {"name": f"Priced {tag}", "default_code": f"PR-{tag}",
                                                    "type": "consu", "list_price": list_price,
                                                    "standard_price": standard_price})


def test_a_sale_order_takes_its_currency_from_the_customers_pricelist_never_from_the_values(odoo):
    eur = euro(odoo)
    pricelist = call(odoo, "product.pricelist", "create", {"name": f"EUR {uuid.uuid4().hex[:6]}",
                                                           "currency_id": eur["id"]})
    buyer = customer(odoo, property_product_pricelist=pricelist)
    assert read(odoo, "res.partner", buyer, "property_product_pricelist")["property_product_pricelist"][0] == pricelist
    item = product(odoo, 20.0, 12.0)
    order = call(odoo, "sale.order", "create", {"partner_id": buyer, "currency_id": 1, "order_line": [
        [0, 0, {"product_id": item, "product_uom_qty": 1}], [0, 0, {"product_id": item, "product_uom_qty": 1,
                                                                    "price_unit": 7.5}]]})
    header = read(odoo, "sale.order", order, "currency_id", "pricelist_id")
    assert (header["currency_id"][1], header["pricelist_id"][0]) == ("EUR", pricelist)  # the USD given is ignored
    lines = call(odoo, "sale.order.line", "search_read", [("order_id", "=", order)], fields=["price_unit", "currency_id"],
                 order="id")
    assert [(line["price_unit"], line["currency_id"][1]) for line in lines] == [
        (round(20.0 * eur["rate"], 2), "EUR"), (7.5, "EUR")]  # the list price converted; a given price kept
    call(odoo, "sale.order", "write", [order], {"pricelist_id": False})
    assert read(odoo, "sale.order", order, "currency_id")["currency_id"][1] == "USD"
    assert call(odoo, "sale.order.line", "read", [lines[1]["id"]], fields=["price_unit"])[0]["price_unit"] == 7.5


def test_a_customer_without_a_pricelist_orders_in_the_companys_currency_whatever_currency_is_given(odoo):
    eur = euro(odoo)
    order = call(odoo, "sale.order", "create", {"partner_id": customer(odoo), "currency_id": eur["id"]})
    header = read(odoo, "sale.order", order, "currency_id", "pricelist_id")
    assert header["currency_id"][1] == "USD"
    assert header["pricelist_id"] and header["pricelist_id"][1].endswith("(USD)")  # the company's default


def test_a_fresh_database_has_no_pricelist_until_a_second_currency_is_activated():
    with start() as running:  # a fresh database (04: pricelist_id False), the sandbox's only
        sandbox = odoorpc.ODOO(running.host, port=running.port, timeout=30)
        sandbox.login("edi", "admin", "admin")
        assert call(sandbox, "product.pricelist", "search", []) == []
        order = call(sandbox, "sale.order", "create", {"partner_id": customer(sandbox)})
        assert read(sandbox, "sale.order", order, "pricelist_id", "currency_id")["pricelist_id"] is False
        euro(sandbox)
        [default] = call(sandbox, "product.pricelist", "search_read", [], fields=["display_name"])
        assert default["display_name"] == "Default (USD)"


def test_a_purchase_order_keeps_the_currency_it_is_given_and_converts_the_cost(odoo):
    eur = euro(odoo)
    vendor = customer(odoo, supplier_rank=1)
    item = product(odoo, 10.0, 6.0)
    order = call(odoo, "purchase.order", "create", {"partner_id": vendor, "currency_id": eur["id"], "order_line": [
        [0, 0, {"product_id": item, "product_qty": 1}], [0, 0, {"product_id": item, "product_qty": 1,
                                                                "price_unit": 5.0}]]})
    assert read(odoo, "purchase.order", order, "currency_id")["currency_id"][1] == "EUR"
    lines = call(odoo, "purchase.order.line", "search_read", [("order_id", "=", order)],
                 fields=["price_unit", "currency_id"], order="id")
    assert [(line["price_unit"], line["currency_id"][1]) for line in lines] == [
        (round(6.0 * eur["rate"], 2), "EUR"), (5.0, "EUR")]
