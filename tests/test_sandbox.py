"""The Odoo sandbox behaves as Odoo 18 does for the calls the gateway makes (odoorpc over real HTTP).

The tests of Odoo's behaviour take the two-Odoo ``odoo`` fixture: they run against the sandbox and, with
EDIGW_ODOO_* set, against a real Odoo 18, so they name no record by a number Odoo gives (S00001) and use
fresh names and barcodes.  The tests of the sandbox's own features (seed data, state file, the command) run
against the sandbox only."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import odoorpc
import pytest
from test_sandbox_purchasing import call, odoo, read, rpc_error  # noqa: F401  (odoo: the two-Odoo fixture)

from gateway.odoo.sandbox import Sandbox



def rpc(url: str, service: str, method: str, *args) -> dict:
    body = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": list(args)},
            "id": 1}
    request = urllib.request.Request(url + "/jsonrpc", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def tagged() -> str:
    """A mark unique to this run: a real Odoo keeps the records of every run, so names, references and
    barcodes must not repeat."""
    return uuid.uuid4().hex[:8].upper()


def ean13() -> str:
    """A fresh, valid EAN-13 (GS1 check digit) in the range GS1 leaves for internal numbering (20-29)."""
    body = f"2{uuid.uuid4().int % 10**11:011d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def customer_vals(odoo: odoorpc.ODOO) -> dict:
    tag = tagged()
    [germany] = call(odoo, "res.country", "search", [("code", "=", "DE")])
    return {"name": f"ACME Retail GmbH {tag}", "is_company": True, "customer_rank": 1, "ref": f"CUST-{tag}",
            "barcode": ean13(), "country_id": germany}


def widget_vals() -> dict:
    tag = tagged()
    return {"name": f"EDI Widget A {tag}", "default_code": f"EDI-A-{tag}", "barcode": ean13(), "list_price": 12.5,
            "type": "consu", "is_storable": True}


def unit(odoo: odoorpc.ODOO, name: str) -> int:
    [found] = call(odoo, "uom.uom", "search", [("name", "=", name)])
    return found


def rpc_info(odoo: odoorpc.ODOO, service: str, method: str, *args) -> dict:
    """The error a raw JSON-RPC call answers (code, message, data), as odoorpc hands it over."""
    with pytest.raises(odoorpc.error.RPCError) as caught:
        odoo.json("/jsonrpc", {"service": service, "method": method, "args": list(args)})
    return caught.value.info


def test_odoorpc_creates_and_confirms_a_sale_order_and_reads_it_back(odoo):
    partner = customer_vals(odoo)
    customer = call(odoo, "res.partner", "create", partner)
    widget = call(odoo, "product.product", "create", widget_vals())
    order = call(odoo, "sale.order", "create", {
        "partner_id": customer, "client_order_ref": f"PO-{partner['ref']}",
        "order_line": [[0, 0, {"product_id": widget, "product_uom_qty": 10, "product_uom": unit(odoo, "Units"),
                               "price_unit": 12.0}]]})

    assert call(odoo, "sale.order", "action_confirm", [order]) is True
    read_back = read(odoo, "sale.order", order, "name", "state", "partner_id", "amount_untaxed", "amount_total",
                     "picking_ids")
    assert read_back["state"] == "sale" and re.fullmatch(r"S\d{5,}", read_back["name"])
    assert read_back["partner_id"] == [customer, partner["name"]]
    assert read_back["amount_untaxed"] == 120.0 and read_back["amount_total"] == 138.0  # the default 15 % tax
    [picking] = call(odoo, "stock.picking", "read", read_back["picking_ids"], fields=["name", "origin"])
    assert re.fullmatch(r"WH/OUT/\d{5,}", picking["name"])
    assert picking["origin"] == f"{read_back['name']} - PO-{partner['ref']}"


def test_odoorpc_model_api_reads_a_browsed_record(odoo):
    user = odoo.env.user
    assert odoo.env["res.partner"].browse(user.partner_id.id).name == user.name


def test_price_unit_is_rounded_to_the_product_price_precision(odoo):
    customer = call(odoo, "res.partner", "create", customer_vals(odoo))
    widget = call(odoo, "product.product", "create", widget_vals())
    order = call(odoo, "sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 1, "price_unit": 3.125}]]})
    [line] = call(odoo, "sale.order.line", "search_read", [("order_id", "=", order)], fields=["price_unit"])
    assert line["price_unit"] == 3.13


def test_unit_of_another_category_passes_create_and_fails_confirmation(odoo):
    customer = call(odoo, "res.partner", "create", customer_vals(odoo))
    widget = call(odoo, "product.product", "create", widget_vals())
    order = call(odoo, "sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 1, "product_uom": unit(odoo, "kg")}]]})
    name, message = rpc_error(odoo, "sale.order", "action_confirm", [order])
    assert name == "odoo.exceptions.UserError"
    assert message.startswith(
        "The unit of measure kg defined on the order line doesn't belong to the same category as the unit of "
        "measure Units defined on the product.")
    assert read(odoo, "sale.order", order, "state", "picking_ids") == {"id": order, "state": "draft",
                                                                       "picking_ids": []}


def test_a_line_in_dozens_is_priced_per_dozen_from_the_list_price(odoo):
    customer = call(odoo, "res.partner", "create", customer_vals(odoo))
    widget = call(odoo, "product.product", "create", widget_vals())
    order = call(odoo, "sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 2, "product_uom": unit(odoo, "Dozens")}]]})
    [line] = call(odoo, "sale.order.line", "search_read", [("order_id", "=", order)],
                  fields=["price_unit", "price_subtotal"])
    assert (line["price_unit"], line["price_subtotal"]) == (150.0, 300.0)


def test_read_of_a_missing_id_is_empty_and_write_to_it_is_a_missing_error(odoo):
    missing = call(odoo, "res.partner", "search", [], order="id desc", limit=1)[0] + 1000
    assert call(odoo, "res.partner", "read", [missing], fields=["name"]) == []
    name, _ = rpc_error(odoo, "res.partner", "write", [missing], {"ref": "x"})
    assert name == "odoo.exceptions.MissingError"


def test_unknown_field_in_read_is_a_value_error_sent_with_http_200(odoo):
    with pytest.raises(odoorpc.error.RPCError) as caught:
        call(odoo, "sale.order.line", "read", [1], fields=["tax_ids"])
    answer = caught.value.info
    assert answer["code"] == 200 and answer["message"] == "Odoo Server Error"
    assert answer["data"]["name"] == "builtins.ValueError"
    assert answer["data"]["message"] == "Invalid field 'tax_ids' on model 'sale.order.line'"


def test_private_methods_cannot_be_called_remotely(odoo):
    name, _ = rpc_error(odoo, "sale.order", "_create_invoices", [1])
    assert name == "odoo.exceptions.AccessError"


def test_product_barcodes_are_unique(odoo):
    widget = widget_vals()
    call(odoo, "product.product", "create", widget)
    duplicate = f"dup {tagged()}"
    name, _ = rpc_error(odoo, "product.product", "create", {"name": duplicate, "barcode": widget["barcode"]})
    assert name == "odoo.exceptions.ValidationError"
    assert call(odoo, "product.product", "search_count", [("name", "=", duplicate)]) == 0


def test_partner_barcodes_are_unique_but_references_are_not(odoo):
    partner = customer_vals(odoo)
    call(odoo, "res.partner", "create", partner)
    call(odoo, "res.partner", "create", {"name": f"same ref {tagged()}", "ref": partner["ref"]})
    name, message = rpc_error(odoo, "res.partner", "create", {"name": f"dup GLN {tagged()}",
                                                              "barcode": partner["barcode"]})
    assert message == "Another partner already has this barcode"


def test_an_archived_partner_does_not_keep_its_barcode_from_another(odoo):
    # Odoo 18 counts the active partners with the barcode (recorded on a live Odoo 18.0, 2026-12-06).
    old = customer_vals(odoo)
    old_id = call(odoo, "res.partner", "create", old)
    call(odoo, "res.partner", "write", [old_id], {"active": False})
    new = call(odoo, "res.partner", "create", {"name": f"same GLN {tagged()}", "barcode": old["barcode"]})
    assert call(odoo, "res.partner", "search", [("barcode", "=", old["barcode"])]) == [new]


def test_an_archived_product_does_not_keep_its_barcode_from_another(odoo):
    old = widget_vals()
    old_id = call(odoo, "product.product", "create", old)
    call(odoo, "product.product", "write", [old_id], {"active": False})
    new = call(odoo, "product.product", "create", {"name": f"same barcode {tagged()}", "barcode": old["barcode"]})
    assert call(odoo, "product.product", "search", [("barcode", "=", old["barcode"])]) == [new]


def test_wrong_password_at_login_is_false_and_in_execute_kw_is_access_denied(odoo):
    db, uid, login = odoo.env.db, odoo.env.uid, odoo.env.user.login
    assert odoo.json("/jsonrpc", {"service": "common", "method": "login",
                                  "args": [db, login, f"WRONG-{tagged()}"]})["result"] is False
    answer = rpc_info(odoo, "object", "execute_kw", db, uid, f"WRONG-{tagged()}", "res.partner", "search", [[]])
    assert answer["data"]["name"] == "odoo.exceptions.AccessDenied"


def test_unknown_database_is_a_psycopg2_operational_error(odoo):
    answer = rpc_info(odoo, "common", "login", f"nodb_{tagged().lower()}", "admin", "admin")
    assert answer["data"]["name"] == "psycopg2.OperationalError"


def test_a_failed_create_uses_up_the_order_number(odoo):
    customer = call(odoo, "res.partner", "create", customer_vals(odoo))
    before = call(odoo, "sale.order", "create", {"partner_id": customer})
    with pytest.raises(odoorpc.error.RPCError, match="Invalid field 'product_uom_id'"):
        call(odoo, "sale.order", "create", {"partner_id": customer, "order_line": [[0, 0, {"product_uom_id": 1}]]})
    after = call(odoo, "sale.order", "create", {"partner_id": customer})
    numbers = [int(read(odoo, "sale.order", o, "name")["name"][1:]) for o in (before, after)]
    assert numbers[1] - numbers[0] == 2


def test_cancelling_a_confirmed_order_returns_the_wizard_unless_the_warning_is_disabled(odoo):
    customer = call(odoo, "res.partner", "create", customer_vals(odoo))
    order = call(odoo, "sale.order", "create", {"partner_id": customer})
    call(odoo, "sale.order", "action_confirm", [order])
    assert call(odoo, "sale.order", "action_cancel", [order])["res_model"] == "sale.order.cancel"
    assert call(odoo, "sale.order", "action_cancel", [order], context={"disable_cancel_warning": True}) is True
    assert read(odoo, "sale.order", order, "state")["state"] == "cancel"


def test_domains_follow_dotted_paths_and_child_of(odoo):
    partner = customer_vals(odoo)
    customer = call(odoo, "res.partner", "create", partner)
    dock = f"DC Nord {tagged()}"
    address = call(odoo, "res.partner", "create", {"name": dock, "parent_id": customer, "type": "delivery"})
    assert set(call(odoo, "res.partner", "search", [("id", "child_of", customer)])) == {customer, address}
    assert call(odoo, "res.partner", "search", [("parent_id.ref", "=", partner["ref"])]) == [address]
    assert call(odoo, "res.partner", "search", ["!", ("parent_id", "=", False),
                                                ("name", "=ilike", dock.lower())]) == [address]


def test_seed_data_records_refer_to_each_other_by_xml_id(tmp_path: Path):
    data = tmp_path / "seed.yaml"
    data.write_text("res.partner:\n  - {xml_id: edigw.acme, name: ACME, is_company: true}\n"
                    "  - {name: ACME DC, parent_id: {ref: edigw.acme}, type: delivery}\n"
                    "product.product:\n  - {name: Widget, uom_id: {ref: uom.product_uom_dozen}}\n")
    sandbox = Sandbox(data)
    [address] = sandbox.execute_kw("res.partner", "search_read", [[["name", "=", "ACME DC"]]],
                                   {"fields": ["parent_id"]})
    assert address["parent_id"] == [sandbox.ref("edigw.acme"), "ACME"]
    assert sandbox.execute_kw("product.product", "search_read", [[["name", "=", "Widget"]]],
                              {"fields": ["uom_id"]})[0]["uom_id"] == [2, "Dozens"]


def test_state_file_keeps_records_across_restarts(tmp_path: Path):
    state = tmp_path / "state.json"
    first = Sandbox(state_file=state)
    customer = first.execute_kw("res.partner", "create", [{"name": "ACME Retail GmbH", "is_company": True}])
    second = Sandbox(state_file=state)
    assert second.execute_kw("res.partner", "read", [[customer], ["name"]]) == [{"id": customer,
                                                                                 "name": "ACME Retail GmbH"}]
    assert second.execute_kw("res.partner", "create", [{"name": "next"}]) == customer + 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_until_answering(*args: str) -> tuple[subprocess.Popen, str]:
    """``edigw odoo-sandbox`` with `args` on a free port, once it answers; returns the process and its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gateway", "odoo-sandbox", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(150):
        try:
            rpc(f"http://127.0.0.1:{port}", "common", "version")
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the sandbox did not start: {process.communicate()[1]}")


def partner_names(url: str) -> list[str]:
    uid = rpc(url, "common", "login", "edi", "admin", "admin")["result"]
    found = rpc(url, "object", "execute_kw", "edi", uid, "admin", "res.partner", "search_read",
                [[["customer_rank", ">", 0]]], {"fields": ["name"]})
    return sorted(row["name"] for row in found["result"])


def test_a_seed_given_with_an_existing_state_file_is_not_loaded_and_the_command_says_so(tmp_path: Path):
    state = tmp_path / "state.json"
    first_seed, second_seed = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first_seed.write_text("res.partner:\n  - {name: First Seed Customer, customer_rank: 1}\n")
    second_seed.write_text("res.partner:\n  - {name: Second Seed Customer, customer_rank: 1}\n")
    process, url = serve_until_answering("--data", str(first_seed), "--state", str(state))
    assert partner_names(url) == ["First Seed Customer"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0

    process, url = serve_until_answering("--data", str(second_seed), "--state", str(state))
    try:
        assert partner_names(url) == ["First Seed Customer"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert f"{second_seed} not loaded: {state} already holds a database" in stderr
    assert f"delete {state} to start afresh from the seed" in stderr


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", f"from gateway.odoo.sandbox import serve; serve(port={port})"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                assert rpc(f"http://127.0.0.1:{port}", "common", "version")["result"]["server_serie"] == "18.0"
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the sandbox did not start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_template_created_on_its_own_gets_one_variant_with_its_barcode_code_and_unit(odoo):
    kg, code, barcode = unit(odoo, "kg"), f"AX-{tagged()}", ean13()
    template = call(odoo, "product.template", "create", {
        "name": "Door handle", "default_code": code, "barcode": barcode, "uom_id": kg, "uom_po_id": kg})
    [variant] = call(odoo, "product.product", "search_read", [("barcode", "=", barcode)],
                     fields=["default_code", "uom_id", "product_tmpl_id"])
    assert {k: v for k, v in variant.items() if k != "id"} == {
        "default_code": code, "uom_id": [kg, "kg"], "product_tmpl_id": [template, f"[{code}] Door handle"]}
    assert read(odoo, "product.template", template, "product_variant_ids")["product_variant_ids"] == [variant["id"]]
