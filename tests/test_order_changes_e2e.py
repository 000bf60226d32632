"""A customer's order changes end to end: the 850 and then its 860 dropped into the customer's
watched folder, `edigw run --once`, and what a salesperson sees: the sale order and its delivery
in Odoo (over odoorpc), the notes in its chatter, `edigw exceptions list` and the order's thread.

The Odoo is the sandbox over real HTTP, and a real Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB,
EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, otherwise). Master data is
made per test under a unique tag, so the tests can run against a shared Odoo.
"""

from __future__ import annotations

import itertools
import re
import textwrap
import uuid
from dataclasses import dataclass, field

import pytest

from gateway_fixtures import Gateway, age, make_gateway, odoo_session
from odoo_actions import validate_picking
import test_procure_to_pay as procure
from test_procure_to_pay import gtin

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
CONTROLS = itertools.count(501)


@dataclass
class Odoo(procure.Odoo):
    """The Odoo the test talks to, with a customer and three products of its own (unique per test)."""

    barcodes: dict[str, str] = field(default_factory=dict)

    def sale_order(self, reference: str) -> dict:
        [order] = self.call("sale.order", "search_read", [("client_order_ref", "=", reference),
                                                          ("partner_id.ref", "=", f"BUYER-{self.tag}")],
                            fields=["name", "state", "picking_ids"])
        order["lines"] = {self._code(line["product_id"][0]): line for line in self.call(
            "sale.order.line", "search_read", [("order_id", "=", order["id"])],
            fields=["product_id", "product_uom_qty", "price_unit", "qty_delivered"])}
        order["moves"] = {self._code(move["product_id"][0]): move for move in self.call(
            "stock.move", "search_read", [("picking_id", "in", order["picking_ids"])],
            fields=["product_id", "product_uom_qty", "state"])}
        return order

    def _code(self, product_id: int) -> str:
        [row] = self.call("product.product", "read", [product_id], fields=["default_code"])
        return row["default_code"].split("-")[0]

    def notes(self, order: dict) -> str:
        rows = self.call("mail.message", "search_read", [("model", "=", "sale.order"), ("res_id", "=", order["id"]),
                                                         ("message_type", "=", "comment")], fields=["body"])
        return "\n".join(" ".join(re.sub(r"<[^>]+>", " ", row["body"] or "").replace("&gt;", ">").split())
                         for row in rows)


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    tag = uuid.uuid4().hex[:8].upper()
    with odoo_session(request.param, tmp_path, monkeypatch, "order changes", PASSWORD_ENV) as session:
        odoo = Odoo(session.url, session.db, session.user, session.rpc, tag, session.running)
        odoo.call("res.partner", "create", {"name": f"Buyer Co {tag}", "is_company": True, "customer_rank": 1,
                                            "ref": f"BUYER-{tag}"})
        unit = odoo.call("uom.uom", "search", [("name", "=", "Units")])[0]
        digits = str(int(tag, 16) % 10 ** 8).zfill(8)
        for number in (1, 2, 3):
            odoo.barcodes[f"P{number}"] = gtin(f"21{digits}0{number}")
            odoo.call("product.product", "create", {
                "name": f"Widget {number} {tag}", "default_code": f"P{number}-{tag}",
                "barcode": odoo.barcodes[f"P{number}"], "list_price": 5.0, "uom_id": unit, "uom_po_id": unit, **session.probe.storable_product_values()})
        yield odoo


EDIFACT_RULES = """\
    receive:
      ORDERS: {template: edifact/ORDERS_D96A}
      ORDCHG: {template: edifact/ORDCHG_D96A}
    send:
      OrderChangeResponse: {template: outbound/edifact/ORDRSP_D96A}
    """
X12_RULES = """\
    receive:
      "850": {template: x12/850_004010}
      "860": {template: x12/860_004010}
    send:
      OrderChangeResponse: {template: outbound/x12/865_004010}
    """


def customer(tmp_path, odoo: Odoo, confirm: bool = False, changes: str = "", rules: str = X12_RULES) -> Gateway:
    gateway = make_gateway(tmp_path / "gw", partners=())
    (gateway.partners / "buyer-co.yaml").write_text(textwrap.dedent(f"""\
        name: Buyer Co
        odoo_partner: {{ref: BUYER-{odoo.tag}}}
        identifiers:
          x12: {{id: BUYERCO, qualifier: ZZ, gs_id: BUYERCO}}
          edifact: {{id: "5790000000099", qualifier: "14"}}
        channels:
          edi: {{type: folder, inbox: inbox/buyer-co, outbox: outbox/buyer-co, after: move, settle_seconds: 0.2}}
        delivery: {{confirm: {str(confirm).lower()}}}
        """) + textwrap.dedent(rules) + textwrap.dedent(changes), encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(textwrap.dedent(f"""
            [identity.edifact]
            id = "5790000000006"
            qualifier = "14"
            [identity.x12]
            id = "DISTRIBUTOR"
            qualifier = "ZZ"
            gs_id = "DISTRIBUTOR"
            [odoo]
            url = "{odoo.url}"
            db = "{odoo.db}"
            user = "{odoo.user}"
            password_env = "{PASSWORD_ENV}"
            """))
    return gateway


def drop(gateway: Gateway, functional_id: str, segments: list[str], run: bool = True) -> None:
    """An interchange as the customer's EDI writes it, dropped into the watched folder."""
    control = next(CONTROLS)
    body = [f"ST*{segments[0]}*0001"] + segments[1:]
    text = "~".join([
        f"ISA*00*          *00*          *ZZ*{'BUYERCO':<15}*ZZ*{'DISTRIBUTOR':<15}*261201*0900*U*00401*"
        f"{control:09d}*0*T*>",
        f"GS*{functional_id}*BUYERCO*DISTRIBUTOR*20261201*0900*{control}*X*004010",
        *body, f"SE*{len(body) + 1}*0001", f"GE*1*{control}", f"IEA*1*{control:09d}"]) + "~"
    target = gateway.inbox("buyer-co") / f"{functional_id}-{control}.x12"
    target.write_text(text)
    age(target)
    if run:
        gateway.run("run", "--once")


def order(gateway: Gateway, odoo: Odoo, number: str, run: bool = True) -> None:
    """The customer orders 10 × P1 at 5.00 and 4 × P2 at 2.50."""
    drop(gateway, "PO", ["850", f"BEG*00*SA*{number}**20261120", "N1*BY*Buyer Co",
                         f"PO1*1*10*EA*5.00**UP*{odoo.barcodes['P1']}", f"PO1*2*4*EA*2.50**UP*{odoo.barcodes['P2']}",
                         "CTT*2"], run)


def change(gateway: Gateway, odoo: Odoo, number: str, *lines: str, purpose: str = "04", run: bool = True) -> None:
    drop(gateway, "PC", ["860", f"BCH*{purpose}*SA*{number}**1*20261120****20261201", *lines,
                         f"CTT*{len(lines)}"], run)


def up(odoo: Odoo, product: str) -> str:
    return f"UP*{odoo.barcodes[product]}"


def answers(gateway: Gateway) -> list[list[list]]:
    """The 865s in the customer's outbox, each as its segments (what the customer's EDI reads)."""
    found = []
    for path in sorted((gateway.state / "outbox" / "buyer-co").glob("*")):
        for interchange in gateway.json("inspect", str(path))["interchanges"]:
            found += [message["segments"] for message in interchange["messages"] if message["type"] == "865"]
    return found


def acks(segments: list[list]) -> list[tuple]:
    """Per POC of an 865: its line, its change code, the ACK status and the reason code."""
    result = []
    for index, segment in enumerate(segments):
        if segment[0] == "POC":
            ack = next(s for s in segments[index + 1:] if s[0] == "ACK")
            result.append((segment[1], segment[2], ack[1], ack[29] if len(ack) > 29 else None))
    return result


def exceptions(gateway: Gateway, number: str) -> list[dict]:
    return gateway.json("exceptions", "list", "--order", number)


def test_a_quotation_is_changed_in_place_and_the_same_change_again_changes_nothing(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, changes="""\
        changes: {apply: [quantity_increase, quantity_decrease, date, price, add_line, cancel_line]}
        """)
    number = f"PO-{odoo.tag}-A"
    order(gateway, odoo, number)
    change(gateway, odoo, number, f"POC*1*QI*15*15*EA*5.00**{up(odoo, 'P1')}",
           f"POC*2*DI*0*0*EA***{up(odoo, 'P2')}", f"POC*3*AI*3*3*EA*7.25**{up(odoo, 'P3')}")
    sale = odoo.sale_order(number)
    assert sale["state"] == "draft"
    assert {code: line["product_uom_qty"] for code, line in sale["lines"].items()} == {"P1": 15.0, "P3": 3.0}
    assert sale["lines"]["P3"]["price_unit"] == 7.25
    assert "quantity 10 → 15" in odoo.notes(sale) and "line 3 added: 3 ×" in odoo.notes(sale)
    [message] = [m for m in gateway.messages() if m["document_type"] == "OrderChange"]
    assert message["state"] == "delivered"

    [answer] = answers(gateway)
    assert [s for s in answer if s[0] == "BCA"][0][1:4] == ["00", "AD", number]
    assert acks(answer) == [("1", "QI", "IA", None), ("2", "DI", "IA", None), ("3", "AI", "IA", None)]

    thread = gateway.json("messages", "list", "--order", number)
    assert [(m["direction"], m["type"]) for m in thread] == [("in", "850"), ("in", "860"), ("out", "865")]

    gateway.run("reprocess", str(message["id"]), "--from", "deliver")
    gateway.run("run", "--once")
    again = odoo.sale_order(number)
    assert {code: line["product_uom_qty"] for code, line in again["lines"].items()} == {"P1": 15.0, "P3": 3.0}
    assert odoo.notes(again) == odoo.notes(sale)  # nothing applied twice, nothing posted twice
    assert len(answers(gateway)) == 1  # and answered once


def test_a_confirmed_order_is_changed_as_odoo_does_it_and_its_delivery_follows(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [quantity_increase, quantity_decrease, cancel_line], on_confirmed: apply}
        """)
    number = f"PO-{odoo.tag}-B"
    order(gateway, odoo, number)
    assert odoo.sale_order(number)["moves"]["P1"]["product_uom_qty"] == 10.0
    change(gateway, odoo, number, f"POC*1*QD*6*6*EA*5.00**{up(odoo, 'P1')}", f"POC*2*DI*0*0*EA***{up(odoo, 'P2')}")
    sale = odoo.sale_order(number)
    assert sale["state"] == "sale"
    assert sale["lines"]["P1"]["product_uom_qty"] == 6.0 and sale["moves"]["P1"]["product_uom_qty"] == 6.0
    assert sale["lines"]["P2"]["product_uom_qty"] == 0.0
    assert sale["moves"]["P2"]["product_uom_qty"] == 0.0 or sale["moves"]["P2"]["state"] == "cancel"
    assert {(e["kind"], e["state"]) for e in exceptions(gateway, number)} == {
        ("quantity_decrease", "applied"), ("cancel_line", "applied")}


def test_what_the_profile_does_not_allow_is_an_exception_answered_as_rejected(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [quantity_increase, price], on_confirmed: apply, price_tolerance: 5}
        """)
    number = f"PO-{odoo.tag}-C"
    order(gateway, odoo, number)
    change(gateway, odoo, number, f"POC*1*PC*10*10*EA*4.00**{up(odoo, 'P1')}",
           f"POC*2*QD*2*2*EA*2.50**{up(odoo, 'P2')}", f"POC*3*AI*1*1*EA*1.00**{up(odoo, 'P3')}")
    sale = odoo.sale_order(number)
    assert sale["lines"]["P1"]["price_unit"] == 5.0 and sale["lines"]["P2"]["product_uom_qty"] == 4.0
    assert set(sale["lines"]) == {"P1", "P2"}
    found = {e["kind"]: e for e in exceptions(gateway, number)}
    assert {kind: e["state"] for kind, e in found.items()} == {
        "price": "open", "quantity_decrease": "open", "add_line": "open"}
    assert "more than the 5% the profile allows" in found["price"]["text"]
    assert "not applied, for a person" in odoo.notes(sale)
    [message] = [m for m in gateway.messages() if m["document_type"] == "OrderChange"]
    shown = gateway.json("messages", "show", str(message["id"]))
    answer = {(a["line"], a["status"], a.get("reason")) for a in shown["result"]["answer"]}
    assert answer == {("1", "rejected", "price_tolerance"), ("2", "rejected", "not_allowed"),
                      ("3", "rejected", "not_allowed")}
    [sent] = answers(gateway)
    assert [s for s in sent if s[0] == "BCA"][0][2] == "RJ"
    assert acks(sent) == [("1", "PC", "IR", "price_tolerance"), ("2", "QD", "IR", "not_allowed"),
                          ("3", "AI", "IR", "not_allowed")]

    gateway.run("reprocess", str(message["id"]), "--from", "deliver")
    assert odoo.notes(odoo.sale_order(number)) == odoo.notes(sale)  # the exceptions are not posted twice
    assert len([e for e in exceptions(gateway, number) if e["state"] == "open"]) == 3


def test_a_change_before_its_order_waits_and_is_applied_after_the_order(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, changes="""\
        changes: {apply: [quantity_increase]}
        """)
    number = f"PO-{odoo.tag}-D"
    change(gateway, odoo, number, f"POC*1*QI*12*12*EA*5.00**{up(odoo, 'P1')}")
    [held] = gateway.messages()
    assert held["state"] == "held" and "does not have" in held["reason"] and "waits" in held["reason"]
    order(gateway, odoo, number)
    assert odoo.sale_order(number)["lines"]["P1"]["product_uom_qty"] == 12.0
    assert {m["document_type"]: m["state"] for m in gateway.messages()} == {"Order": "delivered",
                                                                           "OrderChange": "delivered"}
    assert [m["document_type"] for m in gateway.json("messages", "list", "--order", number)].count("OrderChange") == 1


def test_a_cancellation_cancels_the_order_when_the_profile_allows_and_is_refused_on_a_cancelled_one(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [cancel_order], on_confirmed: apply}
        """)
    number = f"PO-{odoo.tag}-E"
    order(gateway, odoo, number)
    change(gateway, odoo, number, purpose="01")
    assert odoo.sale_order(number)["state"] == "cancel"
    change(gateway, odoo, number, f"POC*1*QI*12*12*EA*5.00**{up(odoo, 'P1')}")
    [late] = [e for e in exceptions(gateway, number) if e["state"] == "open"]
    assert "is cancelled in Odoo" in late["text"]


def test_partners_test_shows_what_odoo_would_get_and_what_would_be_answered_and_writes_nothing(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, changes="""\
        changes: {apply: [quantity_increase]}
        """)
    number = f"PO-{odoo.tag}-F"
    order(gateway, odoo, number)
    change(gateway, odoo, number, f"POC*1*QI*20*20*EA*5.00**{up(odoo, 'P1')}",
           f"POC*2*DI*0*0*EA***{up(odoo, 'P2')}", run=False)
    [dropped] = gateway.inbox("buyer-co").glob("PC-*")
    done = gateway.run("partners", "test", "buyer-co", str(dropped))
    text = done.stdout.decode()
    assert "Odoo would get: sale.order.line write" in text and "'product_uom_qty': 20.0" in text
    assert "answered rejected (not_allowed): line 2" in text
    sale = odoo.sale_order(number)
    assert sale["lines"]["P1"]["product_uom_qty"] == 10.0 and odoo.notes(sale) == ""


def test_a_decrease_below_what_was_delivered_and_a_change_to_a_shipped_line_are_rejected(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [quantity_increase, quantity_decrease, cancel_line], on_confirmed: apply}
        """)
    number = f"PO-{odoo.tag}-G"
    order(gateway, odoo, number)
    sale = odoo.sale_order(number)
    # The warehouse ships 6 of P1 and all 4 of P2, the rest of P1 on a backorder.
    [picking] = sale["picking_ids"]
    for code, done in (("P1", 6.0), ("P2", 4.0)):
        odoo.call("stock.move", "write", [sale["moves"][code]["id"]], {"quantity": done})
    validate_picking(odoo.rpc, picking)
    change(gateway, odoo, number, f"POC*1*QD*4*4*EA*5.00**{up(odoo, 'P1')}", f"POC*2*DI*0*0*EA***{up(odoo, 'P2')}")
    after = odoo.sale_order(number)
    assert after["lines"]["P1"]["product_uom_qty"] == 10.0 and after["lines"]["P2"]["product_uom_qty"] == 4.0
    texts = {e["line"]: e["text"] for e in exceptions(gateway, number) if e["state"] == "open"}
    assert "asks 4 instead of 10: 6 were delivered already" in texts["1"]
    assert "the line is shipped" in texts["2"]
    assert acks(answers(gateway)[0]) == [("1", "QD", "IR", "below_delivered"), ("2", "DI", "IR", "line_shipped")]


def test_a_confirmed_order_is_left_alone_when_the_profile_applies_changes_to_quotations_only(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [quantity_increase, date]}
        """)
    number = f"PO-{odoo.tag}-H"
    order(gateway, odoo, number)
    change(gateway, odoo, number, "DTM*002*20261224", f"POC*1*QI*12*12*EA*5.00**{up(odoo, 'P1')}")
    sale = odoo.sale_order(number)
    assert sale["lines"]["P1"]["product_uom_qty"] == 10.0
    found = exceptions(gateway, number)
    assert {(e["kind"], e["state"]) for e in found} == {("date", "open"), ("quantity_increase", "open")}
    assert all("changes.on_confirmed: exception" in e["text"] for e in found)
    assert acks(answers(gateway)[0]) == [("1", "QI", "IR", "order_confirmed")]


def drop_edifact(gateway: Gateway, message: str, segments: list[str]) -> None:
    control = next(CONTROLS)
    body = [f"UNH+1+{message}:D:96A:UN:EAN008"] + segments
    text = "'".join([f"UNB+UNOC:3+5790000000099:14+5790000000006:14+261201:0900+{control}", *body,
                     f"UNT+{len(body) + 1}+1", f"UNZ+1+{control}"]) + "'"
    target = gateway.inbox("buyer-co") / f"{message}-{control}.edi"
    target.write_text(text)
    age(target)
    gateway.run("run", "--once")


def test_an_ordchg_changes_the_order_and_is_answered_with_an_ordrsp(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, rules=EDIFACT_RULES, changes="""\
        changes: {apply: [quantity_increase]}
        """)
    number = f"PO-{odoo.tag}-E1"
    drop_edifact(gateway, "ORDERS", [f"BGM+220+{number}+9", "DTM+137:20261120:102", "NAD+BY+5790000000099::9",
                                     f"LIN+1++{odoo.barcodes['P1']}:EN", "QTY+21:10:PCE", "PRI+AAA:5.00",
                                     f"LIN+2++{odoo.barcodes['P2']}:EN", "QTY+21:4:PCE", "PRI+AAA:2.50", "UNS+S"])
    drop_edifact(gateway, "ORDCHG", ["BGM+230+CHG-1+4", "DTM+137:20261201:102", f"RFF+ON:{number}",
                                     "NAD+BY+5790000000099::9",
                                     f"LIN+1+3+{odoo.barcodes['P1']}:EN", "QTY+21:14:PCE",
                                     f"LIN+2+2+{odoo.barcodes['P2']}:EN", "QTY+21:0:PCE", "UNS+S"])
    sale = odoo.sale_order(number)
    assert sale["lines"]["P1"]["product_uom_qty"] == 14.0 and sale["lines"]["P2"]["product_uom_qty"] == 4.0
    [path] = (gateway.state / "outbox" / "buyer-co").glob("*")
    [message] = gateway.json("inspect", str(path))["interchanges"][0]["messages"]
    assert message["type"] == "ORDRSP" and message["status"] == "accepted"
    assert message["document"]["order_number"] == number
    assert [(line["line_number"], line["status"]) for line in message["document"]["lines"]] == [
        ("1", "accepted"), ("2", "rejected")]


def test_a_change_to_an_invoiced_order_is_an_exception_answered_order_invoiced(tmp_path, odoo):
    gateway = customer(tmp_path, odoo, confirm=True, changes="""\
        changes: {apply: [quantity_increase, price], on_confirmed: apply}
        """)
    number = f"PO-{odoo.tag}-I"
    order(gateway, odoo, number)
    sale = odoo.sale_order(number)
    for move in sale["moves"].values():
        odoo.call("stock.move", "write", [move["id"]], {"quantity": move["product_uom_qty"]})
    validate_picking(odoo.rpc, sale["picking_ids"][0])
    context = {"active_model": "sale.order", "active_ids": [sale["id"]], "active_id": sale["id"]}
    wizard = odoo.rpc.execute_kw("sale.advance.payment.inv", "create", [{
        "advance_payment_method": "delivered", "sale_order_ids": [[6, 0, [sale["id"]]]]}], {"context": context})
    action = odoo.rpc.execute_kw("sale.advance.payment.inv", "create_invoices", [[wizard]], {"context": context})
    odoo.call("account.move", "action_post", [action["res_id"]])
    change(gateway, odoo, number, f"POC*1*QI*12*12*EA*5.00**{up(odoo, 'P1')}")
    assert odoo.sale_order(number)["lines"]["P1"]["product_uom_qty"] == 10.0
    [found] = exceptions(gateway, number)
    assert found["state"] == "open" and "is fully invoiced" in found["text"]
    assert acks(answers(gateway)[0]) == [("1", "QI", "IR", "order_invoiced")]
