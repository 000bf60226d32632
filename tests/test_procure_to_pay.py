"""Procure-to-pay end to end: our purchase order goes out, the supplier's answers come back.

A purchase order confirmed in Odoo leaves as an 850 (or ORDERS) through `edigw run --once`; the
supplier — played here by the test, which reads our order from the outbox as the supplier's
system would and writes its answers with the project's outbound templates in the supplier's
envelope — drops order responses, ship notices and invoices into the watched folder; the next
`edigw run --once` reconciles them with the purchase order as it stands. Each test then reads
what a buyer sees: the purchase order, its receipts and vendor bills in Odoo (over odoorpc), the
notes in their chatter, `edigw exceptions list` and `edigw messages list --order`.

The Odoo is the sandbox over real HTTP, and a real Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB,
EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, otherwise). Master data is
made per test under a unique tag, so the tests can run against a shared Odoo.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import textwrap
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import odoorpc
import pytest

from conftest import CORPUS, ROOT, live_odoo
from gateway.config import OdooSettings
from gateway import formats
from gateway.formats import acks, render
from gateway.formats.model import Interchange, Message
from gateway.mapping.outbound import load_outbound_template
from gateway.odoo.client import OdooClient
from gateway.odoo.sandbox import DEFAULT_API_KEY, RunningSandbox, Sandbox, start
from gateway_fixtures import Gateway, age, make_gateway
from odoo_actions import validate_picking

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
API_KEY_ENV = "EDIGW_TEST_ODOO_API_KEY"
TEMPLATES = ROOT / "templates"
US = {"x12": ("ZZ", "DISTRIBUTOR"), "edifact": ("5790000000006", "14")}
SUPPLIER_IDS = {"x12": ("ZZ", "NORDICPARTS"), "edifact": ("7300009000001", "14")}
TEMPLATE_OF = {
    "x12": {"OrderResponse": "outbound/x12/855_004010", "DespatchAdvice": "outbound/x12/856_004010",
            "Invoice": "outbound/x12/810_004010"},
    "edifact": {"OrderResponse": "outbound/edifact/ORDRSP_D96A", "DespatchAdvice": "outbound/edifact/DESADV_D96A",
                "Invoice": "outbound/edifact/INVOIC_D96A"},
}
PLANNED = "2026-12-01"


def gtin(body: str) -> str:
    """A GTIN-13 with its check digit (GS1's mod-10), from 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@dataclass
class Odoo:
    """The Odoo the test talks to, with a vendor and three products of its own (unique per test)."""

    url: str
    db: str
    user: str
    rpc: odoorpc.ODOO
    tag: str
    sandbox: RunningSandbox | None
    vendor: int = 0
    products: dict[str, int] | None = None
    json2_requests: list[str] | None = None  # the sandbox's JSON-2 requests (the gateway's, when api = json2)

    def call(self, model: str, method: str, *args, **kwargs):
        return self.rpc.execute_kw(model, method, list(args), kwargs)

    def seed(self) -> None:
        """Our company's GLN (the buyer and delivery address in our orders), a vendor, three products."""
        [company] = self.call("res.company", "search_read", [], fields=["partner_id"], limit=1)
        [us] = self.call("res.partner", "read", [company["partner_id"][0]], fields=["barcode"])
        if not us["barcode"]:
            self.call("res.partner", "write", [us["id"]], {"barcode": "5790000000006"})
        self.vendor = self.call("res.partner", "create", {"name": f"Nordic Parts {self.tag}", "is_company": True,
                                                          "supplier_rank": 1, "ref": f"NORDIC-{self.tag}"})
        unit = self.call("uom.uom", "search", [("name", "=", "Units")])[0]
        client = OdooClient(OdooSettings(url=self.url, db=self.db, user=self.user, password_env=PASSWORD_ENV))
        digits = str(int(self.tag, 16) % 10 ** 8).zfill(8)
        self.products = {}
        for number, name in enumerate(("Steel hinge 100 mm", "Door handle, brushed", "Wood screw 4x40"), start=1):
            code = f"PTP{number}-{self.tag}"
            self.products[f"P{number}"] = self.call("product.product", "create", {
                "name": name, "default_code": code, "barcode": gtin(f"20{digits}0{number}"),
                "uom_id": unit, "uom_po_id": unit, **client.storable_product_values()})

    def purchase(self, lines: list[tuple[str, float, float]], confirm: bool = True, currency: int | None = None) -> dict:
        """A purchase order from the vendor, lines (product, quantity, price), planned for PLANNED."""
        order = self.call("purchase.order", "create", {"partner_id": self.vendor, **(
            {"currency_id": currency} if currency else {}), "order_line": [
            [0, 0, {"product_id": self.products[p], "product_qty": q, "price_unit": price,
                    "date_planned": f"{PLANNED} 12:00:00"}] for p, q, price in lines]})
        if confirm:
            self.call("purchase.order", "button_confirm", [order])
        return self.order(order)

    def order(self, order_id: int) -> dict:
        [row] = self.call("purchase.order", "read", [order_id], fields=[
            "name", "state", "partner_ref", "picking_ids", "receipt_status", "invoice_ids", "invoice_status"])
        row["lines"] = self.call("purchase.order.line", "search_read", [("order_id", "=", order_id)], fields=[
            "product_qty", "price_unit", "date_planned", "qty_received", "qty_invoiced"], order="sequence, id")
        return row

    def receipts(self, order: dict) -> list[dict]:
        """The order's receipts, oldest first, each with its moves and their move lines."""
        order = self.order(order["id"])
        pickings = self.call("stock.picking", "search_read", [("id", "in", order["picking_ids"])],
                             fields=["name", "state", "origin", "backorder_id", "scheduled_date"], order="id")
        for picking in pickings:
            picking["moves"] = self.call("stock.move", "search_read", [("picking_id", "=", picking["id"])], fields=[
                "product_id", "product_uom_qty", "quantity", "purchase_line_id", "state"], order="id")
            picking["lines"] = self.call("stock.move.line", "search_read", [("picking_id", "=", picking["id"])],
                                         fields=["product_id", "quantity", "lot_name", "result_package_id"], order="id")
        return pickings

    def receive(self, picking: dict, backorder: bool = True) -> None:
        """The warehouse validates a receipt with the quantities it holds (as the ship notice set them)."""
        validate_picking(self.rpc, picking["id"], backorder)

    def bills(self, order: dict) -> list[dict]:
        return self.call("account.move", "search_read", [("invoice_origin", "=", order["name"]),
                                                         ("move_type", "in", ["in_invoice", "in_refund"])],
                         fields=["name", "state", "move_type", "ref", "invoice_date", "amount_total", "currency_id"],
                         order="id")

    def euros(self) -> int:
        """EUR, made active as an admin would."""
        [eur] = self.call("res.currency", "search_read", [("name", "=", "EUR")], fields=["active"],
                          context={"active_test": False})
        if not eur["active"]:
            self.call("res.currency", "write", [eur["id"]], {"active": True})
        return eur["id"]

    def bill_lines(self, bill: dict) -> list[dict]:
        return self.call("account.move.line", "search_read", [("move_id", "=", bill["id"]),
                                                              ("display_type", "=", "product")],
                         fields=["quantity", "price_unit", "purchase_line_id"], order="id")

    def notes(self, model: str, record_id: int) -> str:
        """The chatter notes of a record, as plain text, newest first."""
        rows = self.call("mail.message", "search_read", [("model", "=", model), ("res_id", "=", record_id),
                                                         ("message_type", "=", "comment")], fields=["body"])
        return "\n".join(" ".join(re.sub(r"<[^>]+>", " ", row["body"] or "").replace("&gt;", ">")
                                  .replace("&lt;", "<").replace("&amp;", "&").split()) for row in rows)


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    tag = uuid.uuid4().hex[:8].upper()
    if request.param == "live":
        url, db, user, password = live_odoo("procure-to-pay")
        running = None
        api_key = os.environ.get("EDIGW_ODOO_API_KEY", "")
    else:
        running = start(state_file=tmp_path / "odoo-state.json")
        url, db, user, password = running.url, "edi", "admin", "admin"
        api_key = DEFAULT_API_KEY
    monkeypatch.setenv(PASSWORD_ENV, password)
    monkeypatch.setenv(API_KEY_ENV, api_key)
    probe = OdooClient(OdooSettings(url=url, db=db, user=user))
    rpc = odoorpc.ODOO(probe.host, protocol=probe.protocol, port=probe.port, timeout=60)
    rpc.login(db, user, password)
    odoo = Odoo(url, db, user, rpc, tag, running)
    if running is not None:
        odoo.json2_requests = []
        answer = Sandbox.json2

        def counted(sandbox: Sandbox, path: str, *args):
            odoo.json2_requests.append(path)
            return answer(sandbox, path, *args)

        monkeypatch.setattr(Sandbox, "json2", counted)
    odoo.seed()
    yield odoo
    if running is not None:
        running.stop()


class Supplier:
    """The supplier's side of the folder: reads our orders from its outbox, answers into its inbox."""

    def __init__(self, gateway: Gateway, standard: str) -> None:
        self.gateway = gateway
        self.standard = standard
        self.controls = itertools.count(101)
        self.then_run = True  # `edigw run --once` after each drop; False when a daemon is watching

    @property
    def outbox(self) -> Path:
        return self.gateway.state / "outbox" / "nordic-parts"

    def orders(self) -> list[dict]:
        """Every purchase order we sent, as the supplier's system reads it (our own inbound templates)."""
        found = []
        for path in sorted(self.outbox.glob("*")) if self.outbox.exists() else []:
            report = self.gateway.json("inspect", str(path))
            for interchange in report["interchanges"]:
                for message in interchange["messages"]:
                    if message["type"] in ("850", "ORDERS"):
                        found.append(message["document"])
        return found

    def order(self, number: str) -> dict:
        [order] = [o for o in self.orders() if o["document_number"] == number]
        return order

    def send(self, document_type: str, document: dict) -> None:
        """Write a document as the supplier's EDI would and drop it into the gateway's folder."""
        template = load_outbound_template(TEMPLATES, TEMPLATE_OF[self.standard][document_type])
        identity = template.identifier if self.standard == "edifact" else (
            template.functional_id, template.version, template.message)
        self.drop(document_type, identity, template.render(document))

    def acknowledge(self) -> None:
        """The supplier's EDI acknowledges every interchange we sent it (997 / CONTRL), as partners do."""
        for path in sorted(self.outbox.glob("*")):
            _, events = formats.parse(path.read_bytes())
            events = list(events)
            [interchange] = [e for e in events if isinstance(e, Interchange)]
            for ack in acks.acknowledgments(interchange, [e for e in events if isinstance(e, Message)]):
                identity = (("CONTRL", "D", "3", "UN") if self.standard == "edifact"
                            else ("FA", ack.version or "004010", ack.message_type))
                self.drop("ack", identity, ack.segments)

    def drop(self, name: str, identity: tuple, segments: list[list]) -> None:
        control = next(self.controls)
        when = datetime.now(timezone.utc).replace(tzinfo=None)
        if self.standard == "edifact":
            data = render.render_edifact(render.EdifactInterchange(
                sender=list(SUPPLIER_IDS["edifact"]), receiver=list(US["edifact"]), control_ref=str(control),
                when=when, messages=[render.EdifactMessage("1", identity, segments)]))
        else:
            functional_id, version, message = identity
            data = render.render_x12(render.X12Interchange(
                sender=SUPPLIER_IDS["x12"], receiver=US["x12"], control_number=control, when=when,
                groups=[render.X12Group(functional_id, SUPPLIER_IDS["x12"][1], US["x12"][1], control,
                                        version, [render.X12Set(message, "0001", segments)])],
                syntax=render.X12Syntax()))
        target = self.gateway.inbox("nordic-parts") / f"{name}-{control}.{'edi' if self.standard == 'edifact' else 'x12'}"
        target.write_bytes(data)
        age(target)
        if self.then_run:
            self.gateway.run("run", "--once")


def gateway_for(tmp_path: Path, odoo: Odoo, standard: str = "x12", purchasing: str = "",
                api: str = "jsonrpc") -> tuple[Gateway, Supplier]:
    gateway = make_gateway(tmp_path / "gw", partners=())
    message_types = {"x12": ("855", "856", "810", "865"), "edifact": ("ORDRSP", "DESADV", "INVOIC")}[standard]
    inbound = {"x12": ("x12/855_004010", "x12/856_004010", "x12/810_004010", "x12/865_004010"),
               "edifact": ("edifact/ORDRSP_D96A", "edifact/DESADV_D96A", "edifact/INVOIC_D96A")}[standard]
    ids = SUPPLIER_IDS[standard]
    identifiers = (f'x12: {{id: {ids[1]}, qualifier: {ids[0]}, gs_id: {ids[1]}}}' if standard == "x12"
                   else f'edifact: {{id: "{ids[0]}", qualifier: "{ids[1]}"}}')
    order_template = "outbound/x12/850_004010" if standard == "x12" else "outbound/edifact/ORDERS_D96A"
    receive = "\n".join(f'  "{kind}": {{template: {template}}}' for kind, template in zip(message_types, inbound))
    profile = textwrap.dedent(f"""\
        name: Nordic Parts AB
        odoo_partner: {{ref: NORDIC-{odoo.tag}}}
        identifiers:
          {identifiers}
        channels:
          edi: {{type: folder, inbox: inbox/nordic-parts, outbox: outbox/nordic-parts, after: move, settle_seconds: 0.2}}
        send:
          Order: {{template: {order_template}}}
        receive:
        """) + receive + "\n" + textwrap.dedent(purchasing)
    (gateway.partners / "nordic-parts.yaml").write_text(profile, encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(textwrap.dedent(f"""
            [identity.edifact]
            id = "{US['edifact'][0]}"
            qualifier = "{US['edifact'][1]}"
            [identity.x12]
            id = "{US['x12'][1]}"
            qualifier = "{US['x12'][0]}"
            gs_id = "{US['x12'][1]}"
            [odoo]
            url = "{odoo.url}"
            db = "{odoo.db}"
            user = "{odoo.user}"
            password_env = "{PASSWORD_ENV}"
            api = "{api}"
            api_key_env = "{API_KEY_ENV}"
            """))
    return gateway, Supplier(gateway, standard)


# --- what the supplier answers -----------------------------------------------------------------


def response(order: dict, number: str = "SO-5501", status: str = "accepted", **changes: dict) -> dict:
    """The supplier's order response: every line accepted as ordered for PLANNED, but for `changes`
    (line number → the fields the supplier says differently, e.g. {"1": {"confirmed_quantity": "30"}})."""
    lines = []
    for line in order["lines"]:
        said = {"line_number": line["line_number"], "gtin": line.get("gtin"), "buyer_item": line.get("buyer_item"),
                "quantity": line["quantity"], "confirmed_quantity": line["quantity"], "uom": line.get("uom"),
                "unit_price": line.get("unit_price"), "delivery_date": PLANNED, "status": "accepted"}
        said.update(changes.get(f"line{line['line_number']}", {}))
        lines.append({k: v for k, v in said.items() if v is not None})
    return {"document_number": number, "document_date": "2026-11-22", "order_number": order["document_number"],
            "order_date": order.get("document_date") or "2026-11-22", "status": status, "lines": lines}


def notice(order: dict, number: str, shipped: dict[str, str], lots: bool = True) -> dict:
    """A ship notice: line number → quantity shipped, each line in a package of its own, with a lot."""
    packages = []
    for index, line in enumerate(order["lines"]):
        if line["line_number"] not in shipped:
            continue
        item = {"line_number": line["line_number"], "order_line_number": line["line_number"],
                "gtin": line.get("gtin"), "buyer_item": line.get("buyer_item"),
                "quantity": shipped[line["line_number"]], "uom": line.get("uom")}
        if lots:
            item.update(lot=f"L{number}-{line['line_number']}", expiry_date="2028-06-30")
        packages.append({"sscc": "00" + str(uuid.uuid4().int)[:16],  # unique: packages outlive a test in Odoo
                         "lines": [{k: v for k, v in item.items() if v is not None}]})
    return {"document_number": number, "document_date": "2026-11-23", "despatch_date": "2026-11-23T08:00:00",
            "delivery_date": "2026-11-25", "order_number": order["document_number"], "carrier": "DHL",
            "tracking_reference": f"JD0146{number}", "packages": packages}


def invoice(order: dict, number: str, billed: dict[str, tuple[str, str]], credit: bool = False,
            tax: str | None = "15", currency: str = "USD") -> dict:
    """An invoice: line number → (quantity, unit price), with its tax at `tax` percent (Odoo's
    default purchase tax: 15 %) summed up and in the total, as a supplier states them; `tax=None`
    for an invoice that states a total and no taxes."""
    lines, net, taxed = [], 0.0, 0.0
    for line in order["lines"]:
        if line["line_number"] not in billed:
            continue
        quantity, price = billed[line["line_number"]]
        amount = float(quantity) * float(price)
        net += amount
        taxed += round(amount * float(tax or 0) / 100 + 1e-9, 2)  # per line, as Odoo rounds
        lines.append({k: v for k, v in {
            "line_number": line["line_number"], "order_line_number": line["line_number"], "gtin": line.get("gtin"),
            "buyer_item": line.get("buyer_item"), "quantity": quantity, "uom": line.get("uom"), "unit_price": price,
            "net_amount": f"{amount:.2f}"}.items() if v is not None})
    document = {"document_number": number, "document_type": "credit_note" if credit else "invoice",
                "document_date": "2026-11-26", "due_date": "2026-12-26", "currency": currency,
                "order_number": order["document_number"], "lines": lines, "total_net": f"{net:.2f}",
                "total_amount": f"{net + taxed:.2f}"}
    if tax is not None:
        document.update(total_tax=f"{taxed:.2f}",
                        taxes=[{"rate": tax, "tax_amount": f"{taxed:.2f}", "taxable_amount": f"{net:.2f}"}])
    return document


def exceptions(gateway: Gateway, **filters) -> list[dict]:
    """`edigw exceptions list --json` with filters (order="P00002", open=True …)."""
    args = [item for key, value in filters.items() for item in ([f"--{key}"] if value is True else [f"--{key}", value])]
    return gateway.json("exceptions", "list", *args)


def thread(gateway: Gateway, order: str) -> list[dict]:
    return gateway.json("messages", "list", "--order", order)


def start_order(tmp_path, odoo: Odoo, lines=(("P1", 40, 1.8), ("P2", 10, 12.5)), standard: str = "x12",
                purchasing: str = "", api: str = "jsonrpc") -> tuple[Gateway, Supplier, dict, dict]:
    """A confirmed purchase order sent to the supplier: the gateway, the supplier, Odoo's order, ours as sent."""
    gateway, supplier = gateway_for(tmp_path, odoo, standard, purchasing, api)
    order = odoo.purchase(list(lines))
    gateway.run("run", "--once")
    return gateway, supplier, order, supplier.order(order["name"])


# --- the whole loop ------------------------------------------------------------------------------


@pytest.mark.parametrize("standard, api", [("x12", "jsonrpc"), ("edifact", "jsonrpc"), ("x12", "json2")])
def test_full_acceptance_then_shipment_then_invoice_ends_with_a_posted_bill_and_one_thread(odoo, tmp_path, standard,
                                                                                           api):
    if api == "json2" and not os.environ.get(API_KEY_ENV):
        pytest.skip("no API key for JSON-2: set EDIGW_ODOO_API_KEY to run this against a live Odoo 19")
    sent_type, response_type, notice_type, invoice_type = {
        "x12": ("850", "855", "856", "810"), "edifact": ("ORDERS", "ORDRSP", "DESADV", "INVOIC")}[standard]
    gateway, supplier, order, sent = start_order(tmp_path, odoo, standard=standard, api=api,
                                                 purchasing="purchasing: {bills: {post: true}}\n")
    assert [line["quantity"] for line in sent["lines"]] == ["40", "10"]
    supplier.acknowledge()

    supplier.send("OrderResponse", response(sent))
    now = odoo.order(order["id"])
    assert now["partner_ref"] == "SO-5501"
    assert [line["product_qty"] for line in now["lines"]] == [40, 10]
    assert "Order response SO-5501 from Nordic Parts" in odoo.notes("purchase.order", order["id"])
    assert "all 2 line(s) accepted" in odoo.notes("purchase.order", order["id"])

    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    [receipt] = odoo.receipts(order)
    assert receipt["origin"] == f"{order['name']} ASN ASN-001"
    assert sorted((line["quantity"], line["lot_name"]) for line in receipt["lines"]) == [
        (10, "LASN-001-2"), (40, "LASN-001-1")]
    assert all(line["result_package_id"] for line in receipt["lines"])
    note = odoo.notes("stock.picking", receipt["id"])
    assert "Ship notice ASN-001 (EDI): shipped 2026-11-23, expected 2026-11-25, carrier DHL, tracking JD0146ASN-001" in note
    assert f"lot LASN-001-1 of [PTP1-{odoo.tag}] Steel hinge 100 mm expires 2028-06-30" in note or \
        odoo.call("stock.move.line", "fields_get", attributes=["type"]).get("expiration_date")
    odoo.receive(receipt)
    assert [line["qty_received"] for line in odoo.order(order["id"])["lines"]] == [40, 10]

    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}))
    [bill] = odoo.bills(order)
    assert (bill["move_type"], bill["state"], bill["ref"], bill["invoice_date"]) == (
        "in_invoice", "posted", "INV-9001", "2026-11-26")
    assert bill["amount_total"] >= 197.0  # 72 + 125 before the vendor taxes Odoo adds
    assert sorted(line["quantity"] for line in odoo.bill_lines(bill)) == [10, 40]
    assert all(line["purchase_line_id"] for line in odoo.bill_lines(bill))
    assert [line["qty_invoiced"] for line in odoo.order(order["id"])["lines"]] == [40, 10]

    assert exceptions(gateway) == []
    story = thread(gateway, order["name"])
    acknowledgment = {"x12": "997", "edifact": "CONTRL"}[standard]
    assert [(m["direction"], m["type"], m["document_type"], m["state"]) for m in story] == [
        ("out", sent_type, "Order", "acknowledged"), ("in", acknowledgment, "Acknowledgment", "delivered"),
        ("in", response_type, "OrderResponse", "delivered"), ("in", notice_type, "DespatchAdvice", "delivered"),
        ("in", invoice_type, "Invoice", "delivered")]
    text = gateway.run("messages", "list", "--order", order["name"]).stdout.decode()
    assert f"order {order['name']}: 5 message(s), oldest first" in text
    if odoo.json2_requests is not None:  # the tests' own calls are JSON-RPC: JSON-2 ones are the gateway's
        assert any("/message_post" in path for path in odoo.json2_requests) == (api == "json2")


# --- order responses ----------------------------------------------------------------------------


def test_a_short_confirmation_is_an_exception_in_words_and_the_order_keeps_its_quantity(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("OrderResponse", response(sent, status="changed", line1={
        "confirmed_quantity": "30", "delivery_date": "2026-12-04", "status": "changed"}))
    [short, later] = sorted(exceptions(gateway, order=order["name"]), key=lambda e: e["kind"], reverse=True)
    label = f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm)"
    assert short["text"] == f"{label}: ordered 40, supplier confirms 30 for 2026-12-04, no reason given"
    assert (short["kind"], short["state"]) == ("quantity", "open")
    assert later["text"] == f"{label}: planned for 2026-12-01, supplier confirms 2026-12-04 (3 days later)"
    assert [line["product_qty"] for line in odoo.order(order["id"])["lines"]] == [40, 10]
    assert short["text"] in odoo.notes("purchase.order", order["id"])
    [message] = [m for m in thread(gateway, order["name"]) if m["document_type"] == "OrderResponse"]
    assert message["state"] == "delivered" and "2 difference(s) wait for a person" in message["reason"]


def test_the_profile_lets_the_gateway_apply_a_lower_quantity_and_a_date_within_its_window(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing=(
        "purchasing: {apply: {later_date_days: 7, lower_quantity: true}}\n"))
    supplier.send("OrderResponse", response(sent, status="changed", line1={
        "confirmed_quantity": "30", "delivery_date": "2026-12-04", "status": "changed"},
        line2={"delivery_date": "2026-12-20"}))
    now = odoo.order(order["id"])
    assert [line["product_qty"] for line in now["lines"]] == [30, 10]
    assert [line["date_planned"][:10] for line in now["lines"]] == ["2026-12-04", "2026-12-01"]
    found = {(e["line"], e["kind"]): e for e in exceptions(gateway, order=order["name"])}
    assert found[("1", "quantity")]["state"] == "applied" and found[("1", "date")]["state"] == "applied"
    assert found[("2", "date")]["state"] == "open"
    assert found[("2", "date")]["text"].endswith("supplier confirms 2026-12-20 (19 days later)")
    assert [e["id"] for e in exceptions(gateway, open=True)] == [found[("2", "date")]["id"]]


def test_a_lower_quantity_applied_lowers_the_receipt_and_sends_nothing_back_to_the_supplier(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, lines=(("P1", 40, 1.8), ("P2", 10, 12.5), ("P3", 5, 0.4)),
                                                 purchasing="purchasing: {apply: {lower_quantity: true}}\n")
    supplier.send("OrderResponse", response(sent, status="changed", line1={
        "confirmed_quantity": "30", "status": "changed"}, line2={"status": "rejected", "confirmed_quantity": "0"}))
    now = odoo.order(order["id"])
    assert [line["product_qty"] for line in now["lines"]] == [30, 0, 5]
    assert [line["date_planned"][:10] for line in now["lines"]] == [PLANNED] * 3  # not reset to the order date
    pickings = odoo.call("stock.picking", "search_read", [("id", "in", now["picking_ids"])],
                         fields=["picking_type_code", "state"])
    assert [p["picking_type_code"] for p in pickings] == ["incoming"]  # no return of what never came
    [receipt] = odoo.receipts(order)
    expected = {}
    for move in receipt["moves"]:
        if move["state"] != "cancel":
            line = move["purchase_line_id"][0]
            expected[line] = expected.get(line, 0) + move["product_uom_qty"]
    assert [expected.get(line["id"], 0) for line in now["lines"]] == [30, 0, 5]
    assert {e["kind"]: e["state"] for e in exceptions(gateway, order=order["name"])} == {
        "quantity": "applied", "rejected": "applied"}


def test_a_rejected_line_and_a_price_change_wait_for_a_person(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("OrderResponse", response(sent, status="changed", line1={"unit_price": "2.10", "status": "changed"},
                                            line2={"status": "rejected", "confirmed_quantity": "0"}))
    texts = sorted(e["text"] for e in exceptions(gateway, order=order["name"]))
    assert texts == [f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): ordered at 1.80, supplier confirms 2.10 (+16.7%)",
                     f"line 2 (PTP2-{odoo.tag} Door handle, brushed): ordered 10, the supplier rejects it, "
                     "no reason given"]
    now = odoo.order(order["id"])
    assert [(line["product_qty"], line["price_unit"]) for line in now["lines"]] == [(40, 1.8), (10, 12.5)]


def test_a_suppliers_865_without_acks_is_read_by_its_change_codes_as_an_order_response(odoo, tmp_path):
    """Suppliers answer with an 865 as in the corpus: a POC per line, its change code and no ACK."""
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    first, second = sent["lines"]
    supplier.drop("865", ("CA", "004010", "865"), [
        ["BCA", "06", "AC", sent["document_number"], "", "1", "20261125"],
        ["POC", first["line_number"], "PC", first["quantity"], first["quantity"], "EA", "2.10", "", "EN", first["gtin"]],
        ["POC", second["line_number"], "DI", second["quantity"], "0", "EA", second["unit_price"], "", "EN",
         second["gtin"]],
        ["CTT", "2"]])
    [message] = [m for m in thread(gateway, order["name"]) if m["type"] == "865"]
    assert (message["document_type"], message["state"]) == ("OrderResponse", "delivered")
    texts = sorted(e["text"] for e in exceptions(gateway, order=order["name"]))
    assert texts == [f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): ordered at 1.80, supplier confirms 2.10 (+16.7%)",
                     f"line 2 (PTP2-{odoo.tag} Door handle, brushed): ordered 10, the supplier rejects it, "
                     "no reason given"]
    assert [(line["product_qty"], line["price_unit"]) for line in odoo.order(order["id"])["lines"]] == [
        (40, 1.8), (10, 12.5)]


def test_a_second_response_is_compared_with_the_order_and_names_what_the_first_said(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("OrderResponse", response(sent, number="SO-5501", status="changed",
                                            line1={"confirmed_quantity": "30", "status": "changed"}))
    supplier.send("OrderResponse", response(sent, number="SO-5501-2", status="changed",
                                            line1={"confirmed_quantity": "35", "status": "changed"}))
    found = exceptions(gateway, order=order["name"])
    [first] = [e for e in found if "confirms 30" in e["text"]]
    [second] = [e for e in found if "confirms 35" in e["text"]]
    assert first["state"] == "superseded" and second["state"] == "open"
    assert second["text"].endswith("(the earlier response SO-5501 confirmed 30)")
    assert odoo.order(order["id"])["partner_ref"] == "SO-5501-2"


def test_a_response_for_an_unknown_or_cancelled_order_is_held_with_the_reason(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("OrderResponse", {**response(sent), "order_number": "P99999"})
    [held] = gateway.messages(state="held")
    assert "purchase order P99999, which Odoo does not have for Nordic Parts" in held["reason"]
    odoo.call("purchase.order", "button_cancel", [order["id"]])
    supplier.send("OrderResponse", response(sent, number="SO-5502"))
    [cancelled] = [m for m in gateway.messages(state="held") if m["document_number"] == "SO-5502"]
    assert f"purchase order {order['name']}, which is cancelled in Odoo" in cancelled["reason"]


def test_a_response_after_the_order_was_received_in_full_is_held(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("OrderResponse", response(sent, status="changed", line1={"confirmed_quantity": "20",
                                                                           "status": "changed"}))
    [held] = gateway.messages(state="held")
    assert held["reason"] == (f"order response SO-5501 arrived after purchase order {order['name']} was received "
                              "in full; nothing was applied")
    assert odoo.order(order["id"])["partner_ref"] is False


# --- ship notices -------------------------------------------------------------------------------


def test_a_split_shipment_in_two_notices_fills_the_receipt_and_its_backorder(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "25", "2": "10"}))
    first, rest = odoo.receipts(order)
    assert first["origin"] == f"{order['name']} ASN ASN-001" and rest["backorder_id"][0] == first["id"]
    assert sorted(move["product_uom_qty"] for move in first["moves"] if move["product_uom_qty"]) == [10, 25]
    assert [move["product_uom_qty"] for move in rest["moves"]] == [15]
    assert f"What the notice does not ship is expected on {rest['name']}" in odoo.notes("stock.picking", first["id"])

    supplier.send("DespatchAdvice", notice(sent, "ASN-002", {"1": "15"}))
    first, rest = odoo.receipts(order)
    assert rest["origin"] == f"{order['name']} ASN ASN-002"
    assert [(line["quantity"], line["lot_name"]) for line in rest["lines"]] == [(15, "LASN-002-1")]
    odoo.receive(first)
    odoo.receive(rest)
    assert [line["qty_received"] for line in odoo.order(order["id"])["lines"]] == [40, 10]
    assert exceptions(gateway) == []


def test_the_backorder_of_a_partial_notice_is_expected_on_the_lines_confirmed_date_not_now(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {apply: {later_date_days: 7}}\n")
    supplier.send("OrderResponse", response(sent, line1={"delivery_date": "2026-12-05"}))
    assert odoo.order(order["id"])["lines"][0]["date_planned"][:10] == "2026-12-05"
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "25", "2": "10"}))
    first, rest = odoo.receipts(order)
    assert rest["backorder_id"][0] == first["id"] and [move["product_uom_qty"] for move in rest["moves"]] == [15]
    assert rest["scheduled_date"][:10] == "2026-12-05"
    assert first["scheduled_date"][:10] == "2026-11-25"  # the notice's expected delivery

    gateway, supplier, order, sent = start_order(tmp_path / "second", odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-002", {"1": "25"}))  # line 2 not shipped at all
    first, rest = odoo.receipts(order)
    assert sorted(move["product_uom_qty"] for move in rest["moves"]) == [10, 15]
    assert rest["scheduled_date"][:10] == PLANNED


def test_an_over_shipment_is_expected_as_shipped_and_flagged(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "45", "2": "10"}))
    [receipt] = odoo.receipts(order)
    assert sorted(line["quantity"] for line in receipt["lines"]) == [10, 45]
    [over] = exceptions(gateway, order=order["name"])
    assert over["text"] == (f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): supplier ships 45, 5 more than ordered "
                            "(ordered 40)")
    assert over["text"] in odoo.notes("purchase.order", order["id"])


def test_a_notice_before_the_response_and_the_same_notice_twice(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    supplier.send("OrderResponse", response(sent))
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    [receipt] = odoo.receipts(order)
    assert sorted(line["quantity"] for line in receipt["lines"]) == [10, 40]
    notices = [m for m in thread(gateway, order["name"]) if m["document_type"] == "DespatchAdvice"]
    assert [m["state"] for m in notices] == ["delivered", "delivered"]
    assert f"was already applied to receipt {receipt['name']}; nothing changed" in notices[1]["reason"]
    assert odoo.order(order["id"])["partner_ref"] == "SO-5501"
    assert exceptions(gateway) == []


# --- invoices -----------------------------------------------------------------------------------


def test_an_invoice_for_more_than_was_received_makes_a_draft_bill_listing_the_difference(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {post: true}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "30", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}))
    [bill] = odoo.bills(order)
    assert bill["state"] == "draft"
    [difference] = exceptions(gateway, order=order["name"])
    assert difference["text"] == (f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): billed 40, received 30 "
                                  "(ordered 40)")
    assert difference["text"] in odoo.notes("account.move", bill["id"])


def test_a_mismatching_invoice_is_held_without_a_bill_when_the_profile_says_hold(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {on_mismatch: hold}}\n")
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80")}))
    assert odoo.bills(order) == []
    [held] = gateway.messages(state="held")
    assert held["reason"].startswith(f"invoice INV-9001 does not match purchase order {order['name']}: ")
    assert "billed 40, received 0 (ordered 40)" in held["reason"]


def test_an_invoice_for_more_than_was_ordered_is_a_difference_even_when_as_much_was_received(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {post: true}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "45", "2": "10"}))  # 5 more than ordered
    odoo.receive(odoo.receipts(order)[0])
    assert [line["qty_received"] for line in odoo.order(order["id"])["lines"]] == [45, 10]
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("45", "1.80"), "2": ("10", "12.50")}))
    [bill] = odoo.bills(order)
    assert bill["state"] == "draft"
    billed = [e["text"] for e in exceptions(gateway, order=order["name"]) if "billed" in e["text"]]
    assert billed == [f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): billed 45, ordered 40 (received 45)"]
    assert billed[0] in odoo.notes("account.move", bill["id"])


def test_an_invoice_stating_a_total_and_no_taxes_is_checked_against_the_total_odoo_computes(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {post: true}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}, tax=None))
    [bill] = odoo.bills(order)
    assert bill["state"] == "draft" and bill["amount_total"] > 197  # Odoo added the products' purchase tax
    [difference] = exceptions(gateway, order=order["name"])
    assert difference["text"] == (f"the invoice's total is 197.00, the bill Odoo computed from its lines is "
                                  f"{bill['amount_total']:.2f} (the invoice states no taxes; Odoo added its own)")
    assert difference["text"] in odoo.notes("account.move", bill["id"])


def test_a_total_odoo_computes_otherwise_holds_the_invoice_and_leaves_no_bill_when_the_profile_says_hold(
        odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {on_mismatch: hold}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}, tax=None))
    assert odoo.bills(order) == []
    [held] = gateway.messages(state="held")
    assert held["reason"].startswith(f"invoice INV-9001 does not match purchase order {order['name']}: "
                                     "the invoice's total is 197.00, the bill Odoo computed from its lines is ")
    assert "is held, not billed" in odoo.notes("purchase.order", order["id"])


def test_an_order_in_euros_is_billed_in_euros_and_an_invoice_in_another_currency_is_a_difference(odoo, tmp_path):
    gateway, supplier = gateway_for(tmp_path, odoo, purchasing="purchasing: {bills: {post: true}}\n")
    order = odoo.purchase([("P1", 40, 1.8), ("P2", 10, 12.5)], currency=odoo.euros())
    gateway.run("run", "--once")
    sent = supplier.order(order["name"])
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])

    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80")}, currency="EUR"))
    [bill] = odoo.bills(order)
    assert (bill["currency_id"][1], bill["state"]) == ("EUR", "posted")
    assert [line["price_unit"] for line in odoo.bill_lines(bill)] == [1.8]  # the order's price, in euros
    assert exceptions(gateway, order=order["name"]) == []

    supplier.send("Invoice", invoice(sent, "INV-9002", {"2": ("10", "12.50")}, currency="USD"))
    [_, second] = odoo.bills(order)
    assert (second["currency_id"][1], second["state"]) == ("EUR", "draft")
    [difference] = exceptions(gateway, order=order["name"])
    assert difference["text"] == f"the invoice is in USD, purchase order {order['name']} is in EUR"
    assert difference["text"] in odoo.notes("account.move", second["id"])


def test_a_duplicate_invoice_is_never_billed_twice_even_in_a_new_envelope(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    document = invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")})
    supplier.send("Invoice", document)
    supplier.send("Invoice", document)  # the same invoice, new control numbers
    [bill] = odoo.bills(order)
    invoices = [m for m in thread(gateway, order["name"]) if m["document_type"] == "Invoice"]
    assert [m["state"] for m in invoices] == ["delivered", "duplicate"]
    # a draft bill has no name in Odoo 18 (False) until it is posted
    assert invoices[1]["reason"] == (f"invoice INV-9001 from Nordic Parts {odoo.tag} is already in Odoo as "
                                     f"{bill['name'] or 'a draft bill'} ({bill['state']}); it is not billed twice")


def test_a_credit_note_becomes_a_vendor_refund_linked_to_the_order(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {bills: {post: true}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}))
    supplier.send("Invoice", invoice(sent, "CN-9001", {"2": ("2", "12.50")}, credit=True))
    bill, refund = odoo.bills(order)
    assert (refund["move_type"], refund["ref"], refund["state"]) == ("in_refund", "CN-9001", "posted")
    assert [line["qty_invoiced"] for line in odoo.order(order["id"])["lines"]] == [40, 8]
    assert exceptions(gateway) == []


# --- late documents -----------------------------------------------------------------------------


def test_a_response_that_never_comes_is_flagged_once_and_settled_when_it_comes(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {late: {response: 1s}}\n")
    time.sleep(1.2)
    gateway.run("run", "--once")
    gateway.run("run", "--once")
    [late] = exceptions(gateway, open=True)
    assert late["kind"] == "late_response" and late["order"] == order["name"]
    assert re.fullmatch(rf"purchase order {order['name']} was sent to Nordic Parts AB on \d{{4}}-\d\d-\d\d \d\d:\d\d "
                        r"UTC; no order response after 1 s", late["text"]), late["text"]
    listing = gateway.run("exceptions", "list", "--open").stdout.decode()
    assert late["text"] in listing and "1 open" in listing
    waiting = gateway.run("status", "--json", check=False)
    assert waiting.returncode == 3  # a person is needed (the late response), for monitoring
    counts = json.loads(waiting.stdout)
    assert counts["late_documents"] == 1 and counts["open_exceptions"] == {"nordic-parts": {"late_response": 1}}
    assert counts["messages"]["nordic-parts"] == {"out": {"sent": 1}}
    assert "late documents: 1;" in gateway.run("status", check=False).stdout.decode()
    supplier.send("OrderResponse", response(sent))
    [settled] = exceptions(gateway)
    assert settled["state"] == "resolved" and "OrderResponse SO-5501 arrived" in settled["note"]
    assert gateway.json("status")["late_documents"] == 0


def test_a_notice_late_after_the_confirmed_date_and_an_invoice_late_after_the_receipt_are_flagged(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing=(
        "purchasing: {late: {asn: 1s, invoice: 1s}, apply: {earlier_date: true}}\n"))
    supplier.send("OrderResponse", response(sent, line1={"delivery_date": "2026-11-20"},
                                            line2={"delivery_date": "2026-11-20"}))
    gateway.run("run", "--once")
    [late] = exceptions(gateway, open=True)
    assert (late["kind"], late["text"]) == ("late_asn", f"Nordic Parts AB confirmed delivery of {order['name']} for "
                                                        "2026-11-20; no ship notice 1 s after that")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "40", "2": "10"}))
    assert exceptions(gateway, open=True) == []
    odoo.receive(odoo.receipts(order)[0])
    time.sleep(1.2)
    gateway.run("run", "--once")
    [late] = exceptions(gateway, open=True)
    assert late["kind"] == "late_invoice"
    assert re.fullmatch(rf"purchase order {order['name']} was received on \d{{4}}-\d\d-\d\d \d\d:\d\d UTC; "
                        r"no invoice from Nordic Parts AB after 1 s", late["text"]), late["text"]
    supplier.send("Invoice", invoice(sent, "INV-9001", {"1": ("40", "1.80"), "2": ("10", "12.50")}))
    assert exceptions(gateway, open=True) == []
    assert {e["kind"]: e["state"] for e in exceptions(gateway)} == {
        "late_asn": "resolved", "late_invoice": "resolved", "date": "applied"}


# --- a supplier's real file -----------------------------------------------------------------------


def test_a_real_855_from_the_corpus_reconciles_with_the_purchase_order_it_answers(odoo, tmp_path):
    """nodex12_855_isbn_lines.x12 (corpus, EXPECTED.md #12) answers PO POTEST1112: lines 1 and 4
    accepted, 2 and 3 rejected. The purchase order is made in Odoo as the file expects it."""
    corpus = CORPUS / "x12" / "855" / "nodex12_855_isbn_lines.x12"
    gateway = make_gateway(tmp_path / "gw", partners=())
    (gateway.partners / "book-supplier.yaml").write_text(textwrap.dedent(f"""\
        name: Book Supplier
        odoo_partner: {{ref: NORDIC-{odoo.tag}}}
        identifiers:
          x12: {{id: "1556150", qualifier: ZZ}}
        channels:
          edi: {{type: folder, inbox: inbox/book-supplier, after: move, settle_seconds: 0.2}}
        receive:
          "855": {{template: x12/855_004010}}
        """), encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(f'\n[odoo]\nurl = "{odoo.url}"\ndb = "{odoo.db}"\nuser = "{odoo.user}"\n'
                     f'password_env = "{PASSWORD_ENV}"\n')
    unit = odoo.call("uom.uom", "search", [("name", "=", "Units")])[0]
    books = []
    for isbn, title in (("9780446360265", "Webster's New World Dictionary"), ("9780767928427", "Clapton"),
                        ("9780099599531", "A paperback"), ("9780446360272", "Webster's New World Thesaurus")):
        found = odoo.call("product.product", "search", [("barcode", "=", isbn)])
        books.append(found[0] if found else odoo.call("product.product", "create", {
            "name": title, "barcode": isbn, "uom_id": unit, "uom_po_id": unit}))
    order = odoo.call("purchase.order", "create", {"name": "POTEST1112", "partner_id": odoo.vendor, "order_line": [
        [0, 0, {"product_id": book, "product_qty": quantity, "price_unit": price, "date_planned": "2020-10-20 12:00:00"}]
        for book, quantity, price in zip(books, (3, 2, 1, 2), (4.5, 15.99, 0, 4.5))]})
    odoo.call("purchase.order", "button_confirm", [order])

    target = gateway.inbox("book-supplier") / corpus.name
    target.write_bytes(corpus.read_bytes())
    age(target)
    gateway.run("run", "--once")

    [message] = gateway.messages()
    assert (message["document_type"], message["order"], message["state"]) == ("OrderResponse", "POTEST1112", "delivered")
    found = exceptions(gateway, order="POTEST1112")
    assert sorted((e["line"], e["kind"], e["text"].split(": ", 1)[1]) for e in found) == [
        ("2", "rejected", "ordered 2, the supplier rejects it, reason: CW"),
        ("3", "rejected", "ordered 1, the supplier rejects it, reason: KK")]
    assert [line["product_qty"] for line in odoo.order(order)["lines"]] == [3, 2, 1, 2]
    assert "To check: line 2 (Clapton): ordered 2, the supplier rejects it, reason: CW" in odoo.notes(
        "purchase.order", order)


def test_the_daemon_sends_the_order_and_reconciles_the_answer_dropped_into_its_folder(odoo, tmp_path):
    gateway, supplier = gateway_for(tmp_path, odoo)
    order = odoo.purchase([("P1", 40, 1.8), ("P2", 10, 12.5)])
    daemon = gateway.start()
    try:
        assert gateway.wait_for(lambda: supplier.outbox.exists() and any(supplier.outbox.iterdir()), timeout=60), \
            gateway.daemon_log()
        sent = supplier.order(order["name"])
        supplier.then_run = False
        supplier.send("OrderResponse", response(sent, status="changed", line2={"status": "rejected",
                                                                               "confirmed_quantity": "0"}))
        [rejected] = gateway.wait_for(lambda: exceptions(gateway, order=order["name"]), timeout=60) or [None]
        assert rejected is not None, gateway.daemon_log()
        assert rejected["text"] == (f"line 2 (PTP2-{odoo.tag} Door handle, brushed): ordered 10, the supplier "
                                    "rejects it, no reason given")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert daemon.returncode == 0


def test_an_order_the_template_cannot_write_is_an_exception_until_odoo_is_fixed(odoo, tmp_path):
    gateway, supplier = gateway_for(tmp_path, odoo)
    [company] = odoo.call("res.company", "search_read", [], fields=["partner_id"], limit=1)
    [us] = odoo.call("res.partner", "read", [company["partner_id"][0]], fields=["barcode"])
    odoo.call("res.partner", "write", [us["id"]], {"barcode": False})
    try:
        order = odoo.purchase([("P1", 40, 1.8)])
        gateway.run("run", "--once")
        gateway.run("run", "--once")
        [waiting] = exceptions(gateway, open=True)
        assert waiting["kind"] == "not_sent" and waiting["order"] == order["name"]
        assert waiting["text"].startswith(f"Order {order['name']} was not sent to Nordic Parts AB: ")
        assert "buyer.gln or buyer.id" in waiting["text"] and waiting["text"].endswith(
            "fix it in Odoo and it is sent at the next run")
    finally:
        odoo.call("res.partner", "write", [us["id"]], {"barcode": us["barcode"] or "5790000000006"})
    odoo.call("purchase.order", "write", [order["id"]], {"notes": "our GLN is set now"})  # a change Odoo reports
    gateway.run("run", "--once")
    assert supplier.order(order["name"])["document_number"] == order["name"]
    [settled] = exceptions(gateway)
    assert settled["state"] == "resolved" and settled["note"].startswith("sent in interchange ")


def test_a_notice_of_products_the_order_never_had_is_held_and_leaves_the_receipt_alone(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    stranger = {**sent, "lines": [{"line_number": "7", "gtin": "4006381333931", "quantity": "5", "uom": "Units"}]}
    supplier.send("DespatchAdvice", notice(stranger, "ASN-009", {"7": "5"}))
    [held] = gateway.messages(state="held")
    assert held["reason"] == (f"ship notice ASN-009 ships nothing purchase order {order['name']} expects: the ship "
                              f"notice has EAN 4006381333931 (5) that purchase order {order['name']} never had; it "
                              "is not expected on the receipt; the receipt was left as it was")
    [receipt] = odoo.receipts(order)
    assert receipt["origin"] == order["name"] and sorted(m["product_uom_qty"] for m in receipt["moves"]) == [10, 40]


def test_a_substituted_line_in_a_hand_written_855_waits_for_a_person(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    first, second = sent["lines"]
    segments = [
        "ST*855*0001", f"BAK*00*AC*{order['name']}*20261122****SO-7001*20261122",
        f"PO1*1*40*EA*1.8**EN*{first['gtin']}", "ACK*IA*40*EA*068*20261201",
        f"PO1*2*10*EA*12.5**EN*{second['gtin']}", "ACK*IS*10*EA*068*20261201**EN*4006381333931",
        "CTT*2"]
    segments.append(f"SE*{len(segments) + 1}*0001")
    text = "~\n".join([
        "ISA*00*          *00*          *ZZ*NORDICPARTS    *ZZ*DISTRIBUTOR    *261122*1200*U*00401*000000201*0*P*>",
        "GS*PR*NORDICPARTS*DISTRIBUTOR*20261122*1200*201*X*004010", *segments, "GE*1*201",
        "IEA*1*000000201"]) + "~\n"
    target = gateway.inbox("nordic-parts") / "855-substitute.x12"
    target.write_text(text, encoding="ascii")
    age(target)
    gateway.run("run", "--once")
    [substitute] = exceptions(gateway, order=order["name"])
    assert (substitute["kind"], substitute["state"]) == ("substituted", "open")
    assert substitute["text"] == (f"line 2 (PTP2-{odoo.tag} Door handle, brushed): the supplier offers EAN "
                                  "4006381333931 instead; ordered 10, no reason given; accept the substitute in Odoo "
                                  "or refuse it")
    assert odoo.order(order["id"])["partner_ref"] == "SO-7001"


def test_partners_test_compares_a_response_with_the_order_and_writes_nothing(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    document = response(sent, status="changed", line1={"confirmed_quantity": "30", "status": "changed"})
    supplier.then_run = False
    supplier.send("OrderResponse", document)
    [dropped] = gateway.inbox("nordic-parts").glob("OrderResponse-*")
    done = gateway.run("partners", "test", "nordic-parts", str(dropped))
    text = done.stdout.decode()
    assert f"SO-5501: reconciled with {order['name']}" in text
    assert (f"exception: line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): ordered 40, supplier confirms 30 for "
            "2026-12-01, no reason given") in text
    report = gateway.json("partners", "test", "nordic-parts", str(dropped))
    [preview] = report["odoo"]
    assert preview["action"] == "reconcile" and [d["kind"] for d in preview["differences"]] == ["quantity"]
    assert odoo.order(order["id"])["partner_ref"] is False
    assert odoo.notes("purchase.order", order["id"]) == ""
    assert gateway.messages() == []


def test_an_answer_in_another_unit_says_so_rather_than_comparing_blindly(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo)
    supplier.send("OrderResponse", response(sent, line1={"uom": "Dozens", "quantity": "40", "confirmed_quantity": "40"}))
    [unit] = exceptions(gateway, order=order["name"])
    assert unit["text"] == (f"line 1 (PTP1-{odoo.tag} Steel hinge 100 mm): the response counts in Dozens, the order "
                            "in Units; its quantities were compared as they are: convert them before acting")


def test_a_lower_quantity_below_what_was_received_is_not_applied_even_when_the_profile_allows(odoo, tmp_path):
    gateway, supplier, order, sent = start_order(tmp_path, odoo, purchasing="purchasing: {apply: {lower_quantity: true}}\n")
    supplier.send("DespatchAdvice", notice(sent, "ASN-001", {"1": "30", "2": "10"}))
    odoo.receive(odoo.receipts(order)[0])
    supplier.send("OrderResponse", response(sent, status="changed", line1={"confirmed_quantity": "20",
                                                                           "status": "changed"}))
    [short] = exceptions(gateway, order=order["name"])
    assert (short["state"], short["kind"]) == ("open", "quantity")  # Odoo refuses to go below the 30 received
    assert [line["product_qty"] for line in odoo.order(order["id"])["lines"]] == [40, 10]
    [message] = [m for m in thread(gateway, order["name"]) if m["document_type"] == "OrderResponse"]
    assert message["state"] == "delivered"
