"""The Odoo sandbox behaves as Odoo 18 does for the calls the gateway makes (odoorpc over real HTTP)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import odoorpc
import pytest

from gateway.odoo.sandbox import Sandbox, start

CUSTOMER = {"name": "ACME Retail GmbH", "is_company": True, "customer_rank": 1, "ref": "CUST-1",
            "barcode": "4012345000053", "country_id": 57}
WIDGET = {"name": "EDI Widget A", "default_code": "EDI-A", "barcode": "4006381393053", "list_price": 12.5,
          "type": "consu", "is_storable": True}


@pytest.fixture
def running():
    with start() as sandbox:
        yield sandbox


@pytest.fixture
def odoo(running):
    client = odoorpc.ODOO(running.host, port=running.port, timeout=30)
    client.login("edi", "admin", "admin")
    return client


def rpc(url: str, service: str, method: str, *args) -> dict:
    body = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": list(args)},
            "id": 1}
    request = urllib.request.Request(url + "/jsonrpc", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def error_name(answer: dict) -> str:
    return answer["error"]["data"]["name"]


def test_odoorpc_creates_and_confirms_a_sale_order_and_reads_it_back(odoo):
    customer = odoo.execute_kw("res.partner", "create", [CUSTOMER])
    widget = odoo.execute_kw("product.product", "create", [WIDGET])
    order = odoo.execute_kw("sale.order", "create", [{
        "partner_id": customer, "client_order_ref": "PO-1",
        "order_line": [[0, 0, {"product_id": widget, "product_uom_qty": 10, "product_uom": 1, "price_unit": 12.0}]]}])

    assert odoo.execute_kw("sale.order", "action_confirm", [[order]]) is True
    [read] = odoo.execute_kw("sale.order", "read", [[order]], {"fields": ["name", "state", "partner_id",
                                                                          "amount_total", "picking_ids"]})
    assert read["state"] == "sale" and read["name"] == "S00001"
    assert read["partner_id"] == [customer, "ACME Retail GmbH"]
    assert read["amount_total"] == 138.0
    [picking] = odoo.execute_kw("stock.picking", "read", [read["picking_ids"]], {"fields": ["name", "origin"]})
    assert picking["name"] == "WH/OUT/00001" and picking["origin"] == "S00001 - PO-1"


def test_odoorpc_model_api_reads_a_browsed_record(odoo):
    assert odoo.env["res.partner"].browse(3).name == "Administrator"


def test_price_unit_is_rounded_to_the_product_price_precision(odoo):
    customer = odoo.execute_kw("res.partner", "create", [CUSTOMER])
    widget = odoo.execute_kw("product.product", "create", [WIDGET])
    order = odoo.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 1, "price_unit": 3.125}]]}])
    [line] = odoo.execute_kw("sale.order.line", "search_read", [[["order_id", "=", order]]], {"fields": ["price_unit"]})
    assert line["price_unit"] == 3.13


def test_unit_of_another_category_passes_create_and_fails_confirmation():
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    widget = sandbox.execute_kw("product.product", "create", [WIDGET])
    kg = sandbox.execute_kw("uom.uom", "search", [[["name", "=", "kg"]]])[0]
    order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 1, "product_uom": kg}]]}])
    answer, _ = sandbox.handle("/jsonrpc", {"id": 1, "params": {"service": "object", "method": "execute_kw", "args": [
        "edi", 2, "admin", "sale.order", "action_confirm", [[order]]]}})
    assert error_name(answer) == "odoo.exceptions.UserError"
    assert answer["error"]["data"]["message"].startswith(
        "The unit of measure kg defined on the order line doesn't belong to the same category as the unit of "
        "measure Units defined on the product.")
    assert sandbox.execute_kw("sale.order", "read", [[order], ["state", "picking_ids"]]) == [
        {"id": order, "state": "draft", "picking_ids": []}]


def test_a_line_in_dozens_is_priced_per_dozen_from_the_list_price():
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    widget = sandbox.execute_kw("product.product", "create", [WIDGET])
    order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
        [0, 0, {"product_id": widget, "product_uom_qty": 2, "product_uom": 2}]]}])
    [line] = sandbox.execute_kw("sale.order.line", "search_read", [[["order_id", "=", order]]],
                                {"fields": ["price_unit", "price_subtotal"]})
    assert (line["price_unit"], line["price_subtotal"]) == (150.0, 300.0)


def test_read_of_a_missing_id_is_empty_and_write_to_it_is_a_missing_error(running):
    assert rpc(running.url, "object", "execute_kw", "edi", 2, "admin", "res.partner", "read", [[999999]],
               {"fields": ["name"]})["result"] == []
    answer = rpc(running.url, "object", "execute_kw", "edi", 2, "admin", "res.partner", "write",
                 [[999999], {"ref": "x"}])
    assert error_name(answer) == "odoo.exceptions.MissingError"


def test_unknown_field_in_read_is_a_value_error_sent_with_http_200(running):
    answer = rpc(running.url, "object", "execute_kw", "edi", 2, "admin", "sale.order.line", "read", [[1]],
                 {"fields": ["tax_ids"]})
    assert answer["error"]["code"] == 200 and answer["error"]["message"] == "Odoo Server Error"
    assert error_name(answer) == "builtins.ValueError"
    assert answer["error"]["data"]["message"] == "Invalid field 'tax_ids' on model 'sale.order.line'"


def test_private_methods_cannot_be_called_remotely(running):
    answer = rpc(running.url, "object", "execute_kw", "edi", 2, "admin", "sale.order", "_create_invoices", [[1]])
    assert error_name(answer) == "odoo.exceptions.AccessError"


def test_product_barcodes_are_unique():
    sandbox = Sandbox()
    sandbox.execute_kw("product.product", "create", [WIDGET])
    answer, _ = sandbox.handle("/jsonrpc", {"id": 1, "params": {"service": "object", "method": "execute_kw", "args": [
        "edi", 2, "admin", "product.product", "create", [{"name": "dup", "barcode": WIDGET["barcode"]}]]}})
    assert error_name(answer) == "odoo.exceptions.ValidationError"
    assert sandbox.execute_kw("product.product", "search_count", [[["name", "=", "dup"]]]) == 0


def test_partner_barcodes_are_unique_but_references_are_not():
    sandbox = Sandbox()
    sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    sandbox.execute_kw("res.partner", "create", [{"name": "same ref", "ref": CUSTOMER["ref"]}])
    answer, _ = sandbox.handle("/jsonrpc", {"id": 1, "params": {"service": "object", "method": "execute_kw", "args": [
        "edi", 2, "admin", "res.partner", "create", [{"name": "dup GLN", "barcode": CUSTOMER["barcode"]}]]}})
    assert answer["error"]["data"]["message"] == "Another partner already has this barcode"


def test_wrong_password_at_login_is_false_and_in_execute_kw_is_access_denied(running):
    assert rpc(running.url, "common", "login", "edi", "admin", "WRONG")["result"] is False
    answer = rpc(running.url, "object", "execute_kw", "edi", 2, "WRONG", "res.partner", "search", [[]])
    assert error_name(answer) == "odoo.exceptions.AccessDenied"


def test_unknown_database_is_a_psycopg2_operational_error(running):
    assert error_name(rpc(running.url, "common", "login", "nodb", "admin", "admin")) == "psycopg2.OperationalError"


def test_a_failed_create_uses_up_the_order_number():
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    with pytest.raises(Exception, match="Invalid field 'product_uom_id'"):
        sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
            [0, 0, {"product_uom_id": 1}]]}])
    order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer}])
    assert sandbox.execute_kw("sale.order", "read", [[order], ["name"]])[0]["name"] == "S00002"


def test_cancelling_a_confirmed_order_returns_the_wizard_unless_the_warning_is_disabled():
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    order = sandbox.execute_kw("sale.order", "create", [{"partner_id": customer}])
    sandbox.execute_kw("sale.order", "action_confirm", [[order]])
    assert sandbox.execute_kw("sale.order", "action_cancel", [[order]])["res_model"] == "sale.order.cancel"
    assert sandbox.execute_kw("sale.order", "action_cancel", [[order]],
                              {"context": {"disable_cancel_warning": True}}) is True
    assert sandbox.execute_kw("sale.order", "read", [[order], ["state"]])[0]["state"] == "cancel"


def test_domains_follow_dotted_paths_and_child_of():
    sandbox = Sandbox()
    customer = sandbox.execute_kw("res.partner", "create", [CUSTOMER])
    address = sandbox.execute_kw("res.partner", "create", [{"name": "DC Nord", "parent_id": customer,
                                                            "type": "delivery"}])
    assert set(sandbox.execute_kw("res.partner", "search", [[["id", "child_of", customer]]])) == {customer, address}
    assert sandbox.execute_kw("res.partner", "search", [[["parent_id.ref", "=", "CUST-1"]]]) == [address]
    assert sandbox.execute_kw("res.partner", "search", [["!", ["parent_id", "=", False], ["name", "=ilike", "dc%"]]]
                              ) == [address]


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
    customer = first.execute_kw("res.partner", "create", [CUSTOMER])
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


def test_a_template_created_on_its_own_gets_one_variant_with_its_barcode_code_and_unit():
    sandbox = Sandbox()
    kg = sandbox.execute_kw("uom.uom", "search", [[["name", "=", "kg"]]])[0]
    template = sandbox.execute_kw("product.template", "create", [{
        "name": "Door handle", "default_code": "AX-220", "barcode": "5790000012352", "uom_id": kg, "uom_po_id": kg}])
    assert sandbox.execute_kw("product.product", "search_read", [[["barcode", "=", "5790000012352"]]],
                              {"fields": ["default_code", "uom_id", "product_tmpl_id"]}) == [
        {"id": 1, "default_code": "AX-220", "uom_id": [kg, "kg"], "product_tmpl_id": [template, "[AX-220] Door handle"]}]
