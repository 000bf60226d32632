"""The sandbox fills in, names and refuses what Odoo 18 does (recorded in ``../shared/odoo-transcripts/
2026-12/``): a sale order's delivery address, its note as HTML, a draft bill's name, cancel answers, a
required field left out.  Each test runs against the sandbox and, with EDIGW_ODOO_* set, a real Odoo."""

from __future__ import annotations

import uuid

import odoorpc
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
