"""The Odoo sandbox answers Odoo 19's JSON-2 API (POST /json/2/<model>/<method>) over the same database."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any

import odoorpc
import pytest

from test_sandbox import ean13

from gateway.odoo.sandbox import DEFAULT_API_KEY, start

CUSTOMER = {"name": "ACME Retail GmbH", "is_company": True, "ref": "ACME"}
WIDGET = {"name": "EDI Widget A", "default_code": "EDI-A", "barcode": ean13(), "list_price": 12.5,
          "type": "consu"}  # JSON-2 is Odoo 19's API: these tests run against the sandbox only


@pytest.fixture
def running():
    with start() as sandbox:
        yield sandbox


def post(running, path: str, body: Any = None, key: str | None = DEFAULT_API_KEY,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(running.host, running.port, timeout=30)
    sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    if key is not None:
        sent["Authorization"] = f"bearer {key}"
    connection.request("POST", path, body=json.dumps(body if body is not None else {}), headers=sent)
    response = connection.getresponse()
    status, data = response.status, json.loads(response.read())
    connection.close()
    return status, data


def call(running, model: str, method: str, **params: Any) -> Any:
    status, result = post(running, f"/json/2/{model}/{method}", params)
    assert status == 200, result
    return result


def test_search_read_answers_the_bare_records(running):
    result = call(running, "res.partner", "search_read", domain=[["id", "=", 3]], fields=["name"])
    assert result == [{"id": 3, "name": "Administrator"}]


def test_create_write_and_action_confirm_make_a_confirmed_sale_order(running):
    [customer] = call(running, "res.partner", "create", vals_list=[CUSTOMER])
    [widget] = call(running, "product.product", "create", vals_list=WIDGET)
    [order] = call(running, "sale.order", "create", vals_list=[{
        "partner_id": customer, "order_line": [[0, 0, {"product_id": widget, "product_uom_qty": 10}]]}])

    assert call(running, "sale.order", "write", ids=[order], vals={"client_order_ref": "PO-1"}) is True
    assert call(running, "sale.order", "action_confirm", ids=[order]) is True
    [read] = call(running, "sale.order", "read", ids=[order],
                  fields=["name", "state", "client_order_ref", "partner_id", "amount_untaxed"])
    assert re.fullmatch(r"S\d{5}", read.pop("name"))  # the order's number, from its sequence
    assert read == {"id": order, "state": "sale", "client_order_ref": "PO-1",
                    "partner_id": [customer, "ACME Retail GmbH"], "amount_untaxed": 125.0}


def test_json2_and_jsonrpc_share_one_database(running):
    [customer] = call(running, "res.partner", "create", vals_list=[CUSTOMER])
    odoo = odoorpc.ODOO(running.host, port=running.port, timeout=30)
    odoo.login("edi", "admin", "admin")
    assert odoo.execute_kw("res.partner", "read", [[customer]], {"fields": ["ref"]}) == [
        {"id": customer, "ref": "ACME"}]


def test_a_wrong_api_key_is_401_with_odoo_error_object(running):
    status, error = post(running, "/json/2/res.partner/search", {"domain": []}, key="not-a-key")
    assert status == 401
    assert error["name"] == "werkzeug.exceptions.Unauthorized"
    assert (error["message"], error["arguments"]) == ("Invalid apikey", ["Invalid apikey", 401])
    assert set(error) == {"name", "message", "arguments", "context", "debug"}


def test_a_request_without_api_key_is_401(running):
    assert post(running, "/json/2/res.partner/search", {"domain": []}, key=None)[0] == 401


def test_an_unknown_model_is_404_not_found(running):
    status, error = post(running, "/json/2/no.such.model/search_read", {})
    assert (status, error["name"]) == (404, "werkzeug.exceptions.NotFound")
    assert error["message"] == "the model 'no.such.model' does not exist"


def test_an_unknown_method_is_404_and_a_private_one_403(running):
    assert post(running, "/json/2/res.partner/no_such_method", {})[0] == 404
    status, error = post(running, "/json/2/sale.order/_create_invoices", {"ids": [1]})
    assert (status, error["name"]) == (403, "odoo.exceptions.AccessError")


def test_ids_for_a_model_method_and_unknown_arguments_are_422(running):
    status, error = post(running, "/json/2/res.partner/create", {"ids": [1], "vals_list": [{"name": "X"}]})
    assert (status, error["name"]) == (422, "werkzeug.exceptions.UnprocessableEntity")
    assert post(running, "/json/2/res.partner/search_count", {"domain": [], "bogus": 1})[0] == 422


def test_a_user_error_is_422_and_a_missing_record_404(running):
    [customer] = call(running, "res.partner", "create", vals_list=[CUSTOMER])
    [order] = call(running, "sale.order", "create", vals_list=[{"partner_id": customer}])
    call(running, "sale.order", "action_confirm", ids=[order])
    status, error = post(running, "/json/2/sale.order/action_confirm", {"ids": [order], "context": {"lang": "en_US"}})
    assert (status, error["name"]) == (422, "odoo.exceptions.UserError")
    assert error["context"] == {"lang": "en_US"}
    status, error = post(running, "/json/2/res.partner/write", {"ids": [999999], "vals": {"ref": "x"}})
    assert (status, error["name"]) == (404, "odoo.exceptions.MissingError")


def test_a_failed_call_changes_nothing(running):
    status, _ = post(running, "/json/2/res.partner/create", {"vals_list": [{"name": "kept?"}, {"nope": 1}]})
    assert status == 500
    assert call(running, "res.partner", "search_count", domain=[["name", "=", "kept?"]]) == 0


def test_another_database_named_in_the_header_is_404(running):
    assert post(running, "/json/2/res.partner/search", {"domain": []}, headers={"X-Odoo-Database": "other"})[0] == 404
    assert post(running, "/json/2/res.partner/search", {"domain": []}, headers={"X-Odoo-Database": "edi"})[0] == 200


def test_the_json2_root_hints_at_the_right_url(running):
    status, error = post(running, "/json/2", {})
    assert status == 404 and "Did you mean POST /json/2/<model>/<method>?" in error["message"]


def test_web_version_answers_without_a_key(running):
    connection = http.client.HTTPConnection(running.host, running.port, timeout=30)
    connection.request("GET", "/web/version")
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {"version_info": [18, 0, 0, "final", 0, ""], "version": "18.0"}


def test_context_get_tells_the_key_owner(running):
    assert call(running, "res.users", "context_get")["uid"] == 2


def test_a_generated_key_works_until_it_is_revoked(running):
    key = call(running, "res.users.apikeys", "generate", key=DEFAULT_API_KEY, scope=None, name="edigw",
               expiration_date="2099-12-31")
    assert post(running, "/json/2/res.users/context_get", {}, key=key)[0] == 200
    assert call(running, "res.users.apikeys", "revoke", key=key) is True
    assert post(running, "/json/2/res.users/context_get", {}, key=key)[0] == 401
    assert post(running, "/json/2/res.users.apikeys/revoke", {"key": key})[0] == 403


def test_an_expired_key_is_refused(running):
    key = call(running, "res.users.apikeys", "generate", key=DEFAULT_API_KEY, scope="rpc", name="old",
               expiration_date="2000-01-01")
    assert post(running, "/json/2/res.users/context_get", {}, key=key)[0] == 401


def test_the_api_key_is_configurable_and_generated_keys_survive_a_restart(tmp_path: Path):
    state = tmp_path / "state.json"
    with start(state_file=state, api_key="my-key") as first:
        assert post(first, "/json/2/res.users/context_get", {}, key=DEFAULT_API_KEY)[0] == 401
        status, key = post(first, "/json/2/res.users.apikeys/generate", {
            "key": "my-key", "scope": None, "name": "kept", "expiration_date": "2099-12-31"}, key="my-key")
        assert status == 200
    with start(state_file=state, api_key="my-key") as second:
        assert post(second, "/json/2/res.users/context_get", {}, key=key)[0] == 200
