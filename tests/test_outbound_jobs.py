"""Odoo's work reaches partners: order responses, despatch advices and invoices to customers, purchase
orders to suppliers, each once, from `edigw run --once`; `edigw replay` sends them again.

The gateway runs through its real CLI against the Odoo sandbox (seeded from samples/odoo-seed.yaml)
over real HTTP; the tests drive Odoo only through the calls a person's Odoo 18 sees (confirm, put
the delivery's lines in packages and validate it, the invoicing wizard, post, confirm a purchase).
"""

from __future__ import annotations

import random
import textwrap

import odoorpc
import pytest

from conftest import ROOT
from gateway import formats
from gateway.config import OdooSettings
from gateway.formats import render
from gateway.formats.model import Interchange, Message
from gateway.odoo.client import OdooClient
from gateway.odoo.sandbox import start
from gateway.profiles import ProfileError, load_profile
from gateway_fixtures import Gateway, age, make_gateway

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
SEED = ROOT / "samples" / "odoo-seed.yaml"
SAMPLES = ROOT / "samples" / "inbox"
X12_RULES = """
send:
  OrderResponse: {template: outbound/x12/855_004010}
  DespatchAdvice: {template: outbound/x12/856_004010}
  Invoice: {template: outbound/x12/810_004010}
delivery: {confirm: true}
"""
EDIFACT_RULES = """
send:
  OrderResponse: {template: outbound/edifact/ORDRSP_D96A}
  DespatchAdvice: {template: outbound/edifact/DESADV_D96A}
  Invoice: {template: outbound/edifact/INVOIC_D96A, file_name: "{document}_{number}_{control}.{ext}"}
delivery: {confirm: true}
"""
SUPPLIER = """
name: Nordic Parts AB
odoo_partner: {ref: NORDIC-PARTS}
identifiers:
  edifact: {id: "7300009000001", qualifier: "14"}
channels:
  orders:
    type: folder
    inbox: inbox/nordic-parts
    outbox: outbox/nordic-parts
send:
  Order: {template: outbound/edifact/ORDERS_D96A}
"""


class Odoo:
    """The sandbox, as the tests' own JSON-RPC client (odoorpc) sees it."""

    def __init__(self, url: str) -> None:
        self.url = url
        probe = OdooClient(OdooSettings(url=url, db="edi", user="admin"))
        self.rpc = odoorpc.ODOO(probe.host, protocol=probe.protocol, port=probe.port, timeout=60)
        self.rpc.login("edi", "admin", "admin")

    def call(self, model: str, method: str, *args, **kwargs):
        return self.rpc.execute_kw(model, method, list(args), kwargs)

    def id_of(self, model: str, domain: list) -> int:
        [found] = self.call(model, "search", domain)
        return found

    def prepare(self) -> None:
        """Our company's GLN (the supplier in what we send) and stock of the sample products."""
        [company] = self.call("res.company", "search_read", [], fields=["partner_id"], limit=1)
        self.call("res.partner", "write", [company["partner_id"][0]], {"barcode": "5790000000006"})
        [warehouse] = self.call("stock.warehouse", "search_read", [], fields=["lot_stock_id"], limit=1)
        products = self.call("product.product", "search", [("default_code", "in", ["AX-100", "AX-220", "AX-310"])])
        context = {"context": {"inventory_mode": True}}
        quants = self.rpc.execute_kw("stock.quant", "create", [[
            {"product_id": p, "location_id": warehouse["lot_stock_id"][0], "inventory_quantity": 10000}
            for p in products]], context)
        self.rpc.execute_kw("stock.quant", "action_apply_inventory", [quants], context)

    def sale_order(self, number: str) -> dict:
        [order] = self.call("sale.order", "search_read", [("client_order_ref", "=", number)],
                            fields=["name", "state", "picking_ids", "amount_total"])
        return order

    def ship_in_packages(self, order: dict) -> list[str]:
        """Each move line of the order's delivery in a package of its own (two at most), then validate."""
        [picking] = self.call("stock.picking", "search", [("id", "in", order["picking_ids"]),
                                                          ("state", "not in", ["done", "cancel"])])
        lines = self.call("stock.move.line", "search_read", [("picking_id", "=", picking)], fields=["quantity"],
                          order="id")
        codes = ["00" + "".join(random.choice("0123456789") for _ in range(16)) for _ in lines[:2]]
        packages = [self.call("stock.quant.package", "create", {"name": code}) for code in codes]
        for number, line in enumerate(lines):
            self.call("stock.move.line", "write", [line["id"]], {
                "result_package_id": packages[min(number, len(packages) - 1)], "picked": True})
        action = self.call("stock.picking", "button_validate", [picking])
        assert action is True, action
        return codes

    def invoice(self, order_id: int) -> dict:
        context = {"active_model": "sale.order", "active_ids": [order_id], "active_id": order_id}
        wizard = self.rpc.execute_kw("sale.advance.payment.inv", "create", [{
            "advance_payment_method": "delivered", "sale_order_ids": [[6, 0, [order_id]]]}], {"context": context})
        action = self.rpc.execute_kw("sale.advance.payment.inv", "create_invoices", [[wizard]], {"context": context})
        self.call("account.move", "action_post", [action["res_id"]])
        [move] = self.call("account.move", "read", [action["res_id"]], fields=["name", "amount_total", "state"])
        return move


@pytest.fixture
def odoo(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "admin")
    running = start(data=SEED, state_file=tmp_path / "odoo-state.json")
    odoo = Odoo(running.url)
    odoo.prepare()
    yield odoo
    running.stop()


def gateway_for(tmp_path, odoo: Odoo) -> Gateway:
    gateway = make_gateway(tmp_path / "gateway", partners=("acme-retail", "bigbox-stores"))
    for partner, rules in (("bigbox-stores", X12_RULES), ("acme-retail", EDIFACT_RULES)):
        path = gateway.partners / f"{partner}.yaml"
        path.write_text(path.read_text(encoding="utf-8") + rules, encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(textwrap.dedent(f"""
            [identity.edifact]
            id = "5790000000006"
            qualifier = "14"
            [identity.x12]
            id = "NORDICSUPPLY"
            qualifier = "ZZ"
            gs_id = "NORDICSUPPLY"
            [odoo]
            url = "{odoo.url}"
            db = "edi"
            user = "admin"
            password_env = "{PASSWORD_ENV}"
            """))
    return gateway


def receive(gateway: Gateway, partner: str, sample: str) -> None:
    target = gateway.inbox(partner) / sample
    target.write_bytes((SAMPLES / partner / sample).read_bytes())
    age(target)
    gateway.run("run", "--once")


def outbox(gateway: Gateway, partner: str) -> dict[str, bytes]:
    folder = gateway.state / "outbox" / partner
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())} if folder.exists() else {}


def read_back(files: dict[str, bytes]) -> list[tuple[str, str, list[list]]]:
    """(interchange control number, message type, body segments) of every message, each accepted."""
    found = []
    for name, data in files.items():
        _, events = formats.parse(data)
        events = list(events)
        [interchange] = [e for e in events if isinstance(e, Interchange)]
        assert interchange.status == "accepted", (name, interchange.errors)
        for message in (e for e in events if isinstance(e, Message)):
            assert message.status == "accepted", (name, [i.reason for i in message.errors])
            found.append((interchange.control_ref, message.type, render.body_segments(message.tree)))
    return found


def tagged(segments: list[list], tag: str, qualifier: str | None = None) -> list[list]:
    def first(element):
        return element[0] if isinstance(element, list) else element
    return [s for s in segments if s[0] == tag and (qualifier is None or first(s[1]) == qualifier)]


def component(element, index: int = 0) -> str:
    return element[index] if isinstance(element, list) else (element if index == 0 else "")


# --- customers -------------------------------------------------------------------------------


def test_an_x12_order_confirmed_shipped_and_invoiced_leaves_an_855_856_and_810_that_agree_once(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    receive(gateway, "bigbox-stores", "850_PO-77812.x12")
    order = odoo.sale_order("PO-77812")
    assert order["state"] == "sale"
    sscc = odoo.ship_in_packages(order)
    invoice = odoo.invoice(order["id"])
    gateway.run("run", "--once")

    files = outbox(gateway, "bigbox-stores")
    messages = read_back(files)
    by_type = {kind: segments for _, kind, segments in messages}
    assert sorted(kind for _, kind, _ in messages) == ["810", "855", "856", "997"]
    assert len({control for control, _, _ in messages}) == 4
    [bak] = tagged(by_type["855"], "BAK")
    assert (bak[2], bak[3]) == ("AD", "PO-77812")
    assert [(s[1], s[2]) for s in tagged(by_type["855"], "ACK")] == [("IA", "24"), ("IA", "500")]
    [prf] = tagged(by_type["856"], "PRF")
    assert prf[1] == "PO-77812"
    assert sorted(s[2] for s in tagged(by_type["856"], "SN1")) == ["24", "500"]
    assert sorted(s[2] for s in tagged(by_type["856"], "MAN")) == sorted(sscc)
    [big] = tagged(by_type["810"], "BIG")
    assert (big[2], big[4]) == (invoice["name"], "PO-77812")
    assert [s[1] for s in tagged(by_type["810"], "TDS")] == [str(round(invoice["amount_total"] * 100))]
    assert [s[2] for s in tagged(by_type["810"], "IT1")] == ["24", "500"]

    gateway.run("run", "--once")
    assert outbox(gateway, "bigbox-stores") == files
    sent = gateway.messages(direction="out", partner="bigbox-stores")
    assert sorted(m["type"] for m in sent if m["state"] == "sent") == ["810", "855", "856", "997"]


def test_an_edifact_order_leaves_an_ordrsp_desadv_and_invoic_that_agree_once(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    receive(gateway, "acme-retail", "ORDERS_4500012.edi")
    order = odoo.sale_order("4500012")
    sscc = odoo.ship_in_packages(order)
    invoice = odoo.invoice(order["id"])
    gateway.run("run", "--once")

    files = outbox(gateway, "acme-retail")
    messages = read_back(files)
    kinds = sorted(kind for _, kind, _ in messages)
    # The sample holds two orders (4500012, 4500013): both are answered, one is shipped and invoiced.
    assert kinds == ["CONTRL", "DESADV", "INVOIC", "ORDRSP", "ORDRSP"]
    assert len({control for control, _, _ in messages}) == len(files) == 5
    responses = [segments for _, kind, segments in messages if kind == "ORDRSP"]
    assert sorted(component(tagged(s, "RFF", "ON")[0][1], 1) for s in responses) == ["4500012", "4500013"]
    [advice] = [segments for _, kind, segments in messages if kind == "DESADV"]
    assert component(tagged(advice, "RFF", "ON")[0][1], 1) == "4500012"
    assert sorted(component(s[2]) for s in tagged(advice, "GIN", "BJ")) == sorted(sscc)
    [bill] = [segments for _, kind, segments in messages if kind == "INVOIC"]
    assert component(tagged(bill, "BGM")[0][2]) == invoice["name"]
    assert component(tagged(bill, "RFF", "ON")[0][1], 1) == "4500012"
    [total] = [s for s in tagged(bill, "MOA") if component(s[1]) == "77"]
    assert float(component(total[1], 1)) == pytest.approx(invoice["amount_total"])
    assert any(name.startswith("Invoice_") for name in files)  # the rule's own file name pattern

    gateway.run("run", "--once")
    assert outbox(gateway, "acme-retail") == files


def test_replay_sends_the_same_documents_again_with_new_control_numbers(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    receive(gateway, "bigbox-stores", "850_PO-77812.x12")
    before = outbox(gateway, "bigbox-stores")
    [(old_control, _, response)] = [m for m in read_back(before) if m[1] == "855"]

    done = gateway.run("replay", "--partner", "bigbox-stores", "--document", "OrderResponse")
    assert "1 of 1 document(s) sent again to bigbox-stores" in done.stdout.decode()
    after = outbox(gateway, "bigbox-stores")
    [new_name] = set(after) - set(before)
    [(new_control, kind, segments)] = read_back({new_name: after[new_name]})
    assert kind == "855" and new_control != old_control and segments == response
    gateway.run("run", "--once")
    assert set(outbox(gateway, "bigbox-stores")) == set(after)  # replay does not make the job send it again


# --- suppliers -------------------------------------------------------------------------------


def test_a_confirmed_purchase_order_leaves_an_orders_in_the_supplier_s_outbox(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    (gateway.partners / "nordic-parts.yaml").write_text(SUPPLIER, encoding="utf-8")
    vendor = odoo.call("res.partner", "create", {"name": "Nordic Parts AB", "is_company": True, "supplier_rank": 1,
                                                 "ref": "NORDIC-PARTS", "barcode": "7300009000001"})
    product = odoo.id_of("product.product", [("default_code", "=", "AX-100")])
    purchase = odoo.call("purchase.order", "create", {"partner_id": vendor, "order_line": [
        [0, 0, {"product_id": product, "product_qty": 400, "price_unit": 1.8, "date_planned": "2030-01-15 08:00:00"}]]})
    gateway.run("run", "--once")
    assert outbox(gateway, "nordic-parts") == {}  # a draft is not sent
    odoo.call("purchase.order", "button_confirm", [purchase])
    gateway.run("run", "--once")

    [(_, kind, segments)] = read_back(outbox(gateway, "nordic-parts"))
    [name] = [row["name"] for row in odoo.call("purchase.order", "read", [purchase], fields=["name"])]
    assert kind == "ORDERS" and component(tagged(segments, "BGM")[0][2]) == name
    assert [component(s[1], 1) for s in tagged(segments, "QTY")] == ["400"]


# --- profiles --------------------------------------------------------------------------------


def test_send_rules_are_checked_when_the_profile_is_loaded_naming_the_line(tmp_path):
    path = tmp_path / "nordic-parts.yaml"
    rules = ("  Order: {template: outbound/edifact/ORDRSP_D96A}\n"
             "  Invoice: {template: outbound/x12/810_004010, schedule: soon}\n"
             "  Shipment: {template: outbound/x12/856_004010}\n")
    path.write_text(SUPPLIER.replace("  Order: {template: outbound/edifact/ORDERS_D96A}\n", rules), encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile(path, tmp_path / "state", ROOT / "templates")
    problems = [(p.line, p.reason) for p in raised.value.problems]
    assert any(line == 12 and "writes OrderResponse documents, not Order" in reason for line, reason in problems)
    assert any(line == 13 and "schedule" in reason for line, reason in problems)
    assert any(line == 13 and "identifiers.x12.id is not set" in reason for line, reason in problems)
    assert any(line == 14 and "unknown document type 'Shipment'" in reason for line, reason in problems)
