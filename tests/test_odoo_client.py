"""The Odoo client over real HTTP: login, counting, retries on what may pass, none on what will not.

What Odoo itself answers (logins, errors, field metadata) is tested against the sandbox and again
against the real Odoo EDIGW_ODOO_* names (skipped, saying so, without one). Failures come from a small
faulty proxy in front of the sandbox that answers 503/504, stalls, or sends Odoo's own
serialization-failure error, as a real proxy or a busy Odoo would. What does not depend on the
transport runs over both, JSON-RPC (odoorpc) and Odoo 19's JSON-2 (`api = "json2"`): JSON-2 on the
sandbox only, as the real Odoo the tests run against is 18, which has no JSON-2.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.config import ConfigError, OdooSettings, settings_from
from gateway.odoo.client import OdooClient, OdooError, json2_arguments
from gateway.odoo.sandbox import DEFAULT_API_KEY, start
from gateway.pipeline import TransientFailure
from gateway_fixtures import OdooSession, odoo_session

PASSWORD_ENV = "EDIGW_TEST_ODOO_CLIENT_PASSWORD"
API_KEY_ENV = "EDIGW_TEST_ODOO_CLIENT_API_KEY"
SERIALIZATION_ERROR = {"name": "psycopg2.errors.SerializationFailure", "debug": "",
                       "message": "could not serialize access due to concurrent update", "arguments": [],
                       "context": {}}
SERIALIZATION_FAILURE = {"code": 200, "message": "Odoo Server Error", "data": SERIALIZATION_ERROR}
FORWARDED_HEADERS = ("Content-Type", "Authorization", "X-Odoo-Database")


class FaultyProxy:
    """Forwards JSON-RPC and JSON-2 to the sandbox, except for the faults queued in `faults` (one per request)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[str] = []
        self.requests: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests.append(json.loads(body or b"{}"))
                fault = proxy.faults.pop(0) if proxy.faults else "pass"
                if fault in ("502", "503", "504"):
                    self._answer(int(fault), b"<html>bad gateway</html>", "text/html")
                    return
                if fault == "stall":
                    time.sleep(1.0)
                if fault == "serialization" and self.path.startswith("/json/2/"):  # JSON-2: Odoo's error, 500
                    self._answer(500, json.dumps(SERIALIZATION_ERROR).encode(), "application/json")
                    return
                if fault == "serialization":
                    payload = {"jsonrpc": "2.0", "id": json.loads(body).get("id"), "error": SERIALIZATION_FAILURE}
                    self._answer(200, json.dumps(payload).encode(), "application/json")
                    return
                headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers[name]}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        self._answer(response.status, response.read(), "application/json")
                except urllib.error.HTTPError as error:  # JSON-2 answers Odoo's errors with 4xx/5xx
                    self._answer(error.code, error.read(), "application/json")

            def _answer(self, status: int, data: bytes, kind: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (the time-out test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, tmp_path, monkeypatch):
    """What Odoo itself answers: a fresh sandbox, or the real Odoo EDIGW_ODOO_* names."""
    with odoo_session(request.param, tmp_path, monkeypatch, "the Odoo client's tests", PASSWORD_ENV) as session:
        yield session


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """The sandbox alone, for what a real Odoo cannot be made to do in a test: stop, restart, speak JSON-2."""
    with odoo_session("sandbox", tmp_path, monkeypatch, "the Odoo client's tests", PASSWORD_ENV) as session:
        yield session


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "admin")
    monkeypatch.setenv(API_KEY_ENV, DEFAULT_API_KEY)


@pytest.fixture(params=["jsonrpc", "json2"])
def api(request) -> str:
    """The transport: what does not depend on it is tested over both."""
    return request.param


@pytest.fixture(params=["sandbox-jsonrpc", "sandbox-json2", "live"])
def odoo_api(request, tmp_path, monkeypatch):
    """What Odoo answers over each transport: the sandbox over both, the real Odoo (18, no JSON-2) over JSON-RPC."""
    kind, _, api = request.param.partition("-")
    with odoo_session(kind, tmp_path, monkeypatch, "the Odoo client's tests", PASSWORD_ENV) as session:
        yield session, api or "jsonrpc"


def logged_in_partner(odoo: OdooSession) -> dict:
    """The partner of the user the tests log in as, as `search_read` shows it: {"id": …, "name": …}."""
    [user] = odoo.rpc.execute_kw("res.users", "read", [[odoo.rpc.env.uid], ["partner_id"]])
    partner_id, name = user["partner_id"]
    return {"id": partner_id, "name": name}


@pytest.fixture
def proxy(sandbox):
    """Faults injected in front of the sandbox: a real Odoo cannot be made to answer them on cue."""
    faulty = FaultyProxy(sandbox.url)
    yield faulty
    faulty.stop()


def client_for(odoo: OdooSession, delays: list | None = None, timeout: float = 5.0, attempts: int = 4,
               api: str = "jsonrpc", url: str | None = None) -> OdooClient:
    """A client of `odoo` (its database and user), or of `url` in front of it (the faulty proxy)."""
    settings = OdooSettings(url=url or odoo.url, db=odoo.db, user=odoo.user, password_env=PASSWORD_ENV,
                            timeout=timeout, api=api, api_key_env=API_KEY_ENV)
    return OdooClient(settings, attempts=attempts, backoff=0.01,
                      sleep=(delays.append if delays is not None else time.sleep))


def test_login_is_lazy_and_every_http_request_is_counted(odoo):
    client = client_for(odoo)
    assert client.calls == 0
    me = logged_in_partner(odoo)
    rows = client.search_read("res.partner", [("id", "=", me["id"])], ["name"])
    assert rows == [me]
    assert client.calls == 4  # version probe, common.login, context_get, search_read
    client.read("res.partner", [me["id"]], ["name"])
    assert client.calls == 5  # the connection is kept


def test_a_wrong_password_is_an_odoo_error_and_is_not_retried(odoo, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    client = client_for(odoo)
    with pytest.raises(OdooError) as raised:
        client.search_read("res.partner", [], ["name"])
    assert raised.value.kind == "AccessDenied"
    assert "not-the-password" not in str(raised.value)
    assert client.calls == 2  # version probe and common.login, once


def test_an_unknown_database_is_odoo_s_error_not_a_transient_one(odoo):
    client = OdooClient(OdooSettings(url=odoo.url, db="nope", user=odoo.user, password_env=PASSWORD_ENV))
    with pytest.raises(OdooError) as raised:
        client.search_read("res.partner", [], ["name"])
    assert raised.value.name.startswith("psycopg2")


def test_a_validation_error_carries_odoo_s_name_and_message_and_is_not_retried(odoo_api):
    odoo, api = odoo_api
    client = client_for(odoo, api=api)
    barcode = "".join(random.choice("0123456789") for _ in range(13))  # new on an Odoo that has seen runs before
    client.create("product.product", {"name": "A", "barcode": barcode})
    before = client.calls
    with pytest.raises(OdooError) as raised:
        client.create("product.product", {"name": "B", "barcode": barcode})
    assert raised.value.name == "odoo.exceptions.ValidationError"
    assert barcode in raised.value.message
    assert client.calls == before + 1


def test_an_unknown_field_is_a_value_error(odoo_api):
    odoo, api = odoo_api
    client = client_for(odoo, api=api)
    with pytest.raises(OdooError) as raised:
        client.read("sale.order.line", [1], ["tax_ids"])
    assert raised.value.name == "builtins.ValueError"
    assert "tax_ids" in str(raised.value)


def test_503_answers_are_retried_with_growing_jittered_back_off(sandbox, proxy, api):
    delays: list[float] = []
    client = client_for(sandbox, delays, api=api, url=proxy.url)
    client.search_read("res.partner", [], ["name"], limit=1)  # connected
    proxy.faults[:] = ["503", "503"]
    me = logged_in_partner(sandbox)
    assert client.search_read("res.partner", [("id", "=", me["id"])], ["name"]) == [me]
    assert len(delays) == 2 and 0.005 <= delays[0] <= 0.015 and 0.01 <= delays[1] <= 0.03


def test_retries_run_out_into_a_transient_failure_with_a_readable_reason(sandbox, proxy, api):
    delays: list[float] = []
    client = client_for(sandbox, delays, attempts=3, api=api, url=proxy.url)
    client.search_read("res.partner", [], ["name"], limit=1)
    proxy.faults[:] = ["502"] * 10
    with pytest.raises(TransientFailure) as raised:
        client.search_read("res.partner", [], ["name"])
    assert "HTTP 502" in str(raised.value) and "3 attempts" in str(raised.value)
    assert len(delays) == 2


def test_a_serialization_failure_is_retried_even_for_a_write(sandbox, proxy, api):
    client = client_for(sandbox, [], api=api, url=proxy.url)
    client.search_read("res.partner", [], ["name"], limit=1)
    proxy.faults[:] = ["serialization"]
    partner = client.create("res.partner", {"name": "Raced"})
    assert client.read("res.partner", [partner], ["name"]) == [{"id": partner, "name": "Raced"}]
    assert client.search_read("res.partner", [("name", "=", "Raced")], ["id"]) == [{"id": partner}]


def test_a_write_that_may_have_been_applied_is_not_retried(sandbox, proxy, api):
    client = client_for(sandbox, [], api=api, url=proxy.url)
    client.search_read("res.partner", [], ["name"], limit=1)
    proxy.faults[:] = ["504"]
    seen = len(proxy.requests)
    with pytest.raises(TransientFailure) as raised:
        client.create("res.partner", {"name": "Maybe"})
    assert "looks it up first" in str(raised.value)
    assert len(proxy.requests) == seen + 1


def test_a_call_that_takes_longer_than_the_time_out_is_a_transient_failure(sandbox, proxy, api):
    client = client_for(sandbox, [], timeout=0.3, attempts=2, api=api, url=proxy.url)
    client.search_read("res.partner", [], ["name"], limit=1)
    proxy.faults[:] = ["stall", "stall"]
    with pytest.raises(TransientFailure) as raised:
        client.search_read("res.partner", [], ["name"])
    assert "time-out" in str(raised.value)


def test_connection_refused_is_retried_then_a_transient_failure(sandbox, api):
    """On the sandbox only: the test stops the Odoo it talks to."""
    sandbox.running.stop()
    delays: list[float] = []
    client = client_for(sandbox, delays, api=api)
    with pytest.raises(TransientFailure) as raised:
        client.search_read("res.partner", [], ["name"])
    assert "connection refused" in str(raised.value) and "4 attempts" in str(raised.value)
    assert len(delays) == 3


def test_the_client_reconnects_after_odoo_restarts_on_the_same_port(tmp_path, api):
    """On the sandbox only: the test stops and starts the Odoo it talks to."""
    state = tmp_path / "odoo.json"
    first = start(state_file=state)
    port = first.port
    facts = OdooSession(first.url, first.sandbox.db_name, first.sandbox.login_name, None, first, None)
    client = client_for(facts, [], api=api)
    partner = client.create("res.partner", {"name": "Survivor"})
    first.stop()
    with pytest.raises(TransientFailure):
        client.read("res.partner", [partner], ["name"])
    second = start(port=port, state_file=state)
    try:
        assert client.read("res.partner", [partner], ["name"]) == [{"id": partner, "name": "Survivor"}]
    finally:
        second.stop()


def test_field_names_that_moved_between_versions_are_learned_from_fields_get(odoo_api):
    odoo, api = odoo_api
    client = client_for(odoo, api=api)
    assert client.field_name("sale.order.line", "product_uom_id", "product_uom") == "product_uom"
    assert client.storable_product_values() == {"type": "consu", "is_storable": True}
    assert client.done_quantity_field() == "quantity"
    assert client.digits("sale.order.line", "price_unit") == 2
    before = client.calls
    client.field_name("sale.order.line", "product_uom_id", "product_uom")
    assert client.calls == before  # asked once per connection
    with pytest.raises(OdooError):
        client.field_name("sale.order.line", "no_such_field")


# --- JSON-2 (Odoo 19+): on the sandbox only, the real Odoo the tests run against is 18 ----------


def test_json2_makes_one_request_per_call_and_no_login(sandbox):
    client = client_for(sandbox, api="json2")
    me = logged_in_partner(sandbox)
    assert client.search_read("res.partner", [("id", "=", me["id"])], ["name"]) == [me]
    assert client.calls == 1
    assert client.version == "18.0"  # GET /web/version: the sandbox reports its own version
    assert client.calls == 2


def test_json2_names_the_positional_arguments_of_execute_kw():
    assert json2_arguments("search_read", [[("id", "=", 3)], ["name"]], {"limit": 1}) == {
        "domain": [("id", "=", 3)], "fields": ["name"], "limit": 1}
    assert json2_arguments("read", [[7], ["name"]], {}) == {"ids": [7], "fields": ["name"]}
    assert json2_arguments("write", [7, {"name": "A"}], {}) == {"ids": [7], "vals": {"name": "A"}}
    assert json2_arguments("action_confirm", [[7]], {"context": {"lang": "en_US"}}) == {
        "ids": [7], "context": {"lang": "en_US"}}
    assert json2_arguments("fields_get", [], {"attributes": ["type"]}) == {"attributes": ["type"]}
    assert json2_arguments("name_search", ["Adm", [("active", "=", True)]], {}) == {
        "name": "Adm", "domain": [("active", "=", True)]}
    with pytest.raises(TypeError):
        json2_arguments("action_confirm", [[7], "unnamed"], {})


def test_json2_create_answers_one_id_for_one_record_and_ids_for_a_list(sandbox):
    client = client_for(sandbox, api="json2")
    one = client.create("res.partner", {"name": "One"})
    two = client.call("res.partner", "create", [[{"name": "Two"}, {"name": "Three"}]])
    assert isinstance(one, int) and len(two) == 2
    assert client.read("res.partner", [one, *two], ["name"]) == [
        {"id": one, "name": "One"}, {"id": two[0], "name": "Two"}, {"id": two[1], "name": "Three"}]


def test_json2_a_wrong_api_key_is_access_denied_and_is_not_retried(sandbox, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "not-the-key")
    client = client_for(sandbox, api="json2")
    with pytest.raises(OdooError) as raised:
        client.search_read("res.partner", [], ["name"])
    assert raised.value.kind == "AccessDenied" and "api_key" in raised.value.message
    assert "not-the-key" not in str(raised.value)
    assert client.calls == 1


def test_json2_without_an_api_key_says_which_setting_is_missing(sandbox, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV)
    client = client_for(sandbox, api="json2")
    with pytest.raises(OdooError) as raised:
        client.search_read("res.partner", [], ["name"])
    assert f"${API_KEY_ENV} is not set" in raised.value.message
    assert client.calls == 0


def test_json2_an_unknown_model_is_an_odoo_error_and_is_not_retried(sandbox):
    client = client_for(sandbox, api="json2")
    with pytest.raises(OdooError) as raised:
        client.search_read("no.such.model", [], ["name"])
    assert raised.value.kind == "NotFound" and "no.such.model" in raised.value.message
    assert client.calls == 1


def test_json2_an_unknown_database_is_an_odoo_error(sandbox):
    settings = OdooSettings(url=sandbox.url, db="nope", api="json2", api_key_env=API_KEY_ENV)
    with pytest.raises(OdooError) as raised:
        OdooClient(settings).search_read("res.partner", [], ["name"])
    assert raised.value.kind == "NotFound" and "nope" in raised.value.message


def test_json2_a_user_error_carries_odoo_s_name_and_message(sandbox):
    client = client_for(sandbox, api="json2")
    customer = client.create("res.partner", {"name": "Customer"})
    order = client.create("sale.order", {"partner_id": customer})
    client.call("sale.order", "action_confirm", [[order]])
    before = client.calls
    with pytest.raises(OdooError) as raised:
        client.call("sale.order", "action_confirm", [[order]])
    assert raised.value.name == "odoo.exceptions.UserError"
    assert raised.value.message == "Some orders are not in a state requiring confirmation."
    assert client.calls == before + 1


def test_json2_a_private_method_is_an_access_error(sandbox):
    client = client_for(sandbox, api="json2")
    with pytest.raises(OdooError) as raised:
        client.call("res.partner", "_compute_display_name", [[3]])
    assert raised.value.name == "odoo.exceptions.AccessError"


# --- the settings that choose the transport --------------------------------------------------


def test_the_config_chooses_json2_with_an_api_key_named_by_reference(tmp_path):
    settings = settings_from({"odoo": {"url": "http://odoo", "api": "json2", "api_key_file": "odoo.key"}}, tmp_path)
    assert (settings.odoo.api, settings.odoo.api_key_file) == ("json2", tmp_path / "odoo.key")
    assert settings_from({}, tmp_path).odoo.api == "jsonrpc"


@pytest.mark.parametrize("odoo, complaint", [
    ({"api": "json2", "api_key": "secret"}, "api_key must not be written in the config"),
    ({"api": "json2"}, "needs api_key_file or api_key_env"),
    ({"api": "xmlrpc"}, "api must be 'jsonrpc' or 'json2'"),
])
def test_the_config_refuses_a_written_api_key_a_missing_one_and_an_unknown_api(tmp_path, odoo, complaint):
    with pytest.raises(ConfigError) as raised:
        settings_from({"odoo": odoo}, tmp_path)
    assert complaint in str(raised.value) and "secret" not in str(raised.value)
