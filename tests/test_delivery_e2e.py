"""Corpus orders into Odoo through watched folders, and a daemon killed in the middle of delivery.

The gateway runs as the real CLI in a subprocess against the Odoo sandbox started here, or against the
real Odoo EDIGW_ODOO_* names; the test reads what Odoo has through odoorpc, as a person's Odoo would show it.
Each run has its own customer (and pricelists) under a tag, so a live Odoo can be used again.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import CORPUS, ROOT
from gateway.inspection import inspect_file
from gateway.pipeline import TemplateSet
from gateway_fixtures import Gateway, OdooSession, age, odoo_session
from test_corpus import WELL_FORMED_ORDERS

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
TEMPLATES = TemplateSet(ROOT / "templates")
CORPUS_ORDERS = WELL_FORMED_ORDERS  # every well-formed ORDERS and 850 file of the corpus
PROFILE = """name: Corpus customer
odoo_partner: {ref: {customer_ref}}
channels:
  inbox: {type: folder, inbox: inbox/corpus-customer, settle_seconds: 0.2}
receive:
  ORDERS: {template: edifact/ORDERS_D96A}
  "850": {template: x12/850_004010}
delivery:
  create_addresses: true
  price_decimals: note
  item_xref: {xref}
  units: {units}
  pricelists: {pricelists}
"""


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    with odoo_session(request.param, tmp_path, monkeypatch, "the corpus deliveries", PASSWORD_ENV) as session:
        yield session, Customer.made(session.rpc)


class Customer:
    """This run's corpus customer: its ref and name carry a tag, so that its orders are told apart from
    an earlier run's on a live Odoo."""

    def __init__(self, rpc, tag: str):
        self.tag = tag
        self.ref, self.name = f"CORPUS-{tag}", f"Corpus customer {tag}"
        self.id = call(rpc, "res.partner", "create", {"name": self.name, "ref": self.ref, "is_company": True})

    @classmethod
    def made(cls, rpc) -> "Customer":
        return cls(rpc, uuid.uuid4().hex[:8].upper())


def call(rpc, model, method, *args, **kwargs):
    return rpc.execute_kw(model, method, list(args), kwargs)


def corpus_gateway(tmp_path, session: OdooSession, customer: Customer, xref: dict[str, str] | None = None,
                   units: dict[str, str] | None = None, pricelists: dict[str, str] | None = None) -> Gateway:
    gateway = Gateway(tmp_path)
    gateway.partners.mkdir(exist_ok=True)
    (gateway.partners / "corpus-customer.yaml").write_text(
        PROFILE.replace("{xref}", json.dumps(xref or {})).replace("{units}", json.dumps(units or {})).replace(
            "{pricelists}", json.dumps(pricelists or {})).replace("{customer_ref}", customer.ref))
    gateway.config.write_text(
        f'state_dir = "state"\npartners_dir = "partners"\ntemplates_dir = "{ROOT / "templates"}"\n'
        f'rescan_seconds = 1\n[odoo]\nurl = "{session.url}"\ndb = "{session.db}"\nuser = "{session.user}"\n'
        f'password_env = "{PASSWORD_ENV}"\n')
    return gateway


def corpus_documents(relative: str) -> list[dict]:
    report = inspect_file(CORPUS / relative, None, TEMPLATES)
    return [m["document"] for i in report["interchanges"] for m in i["messages"]]


def seed_for(rpc, documents: list[dict]) -> dict[str, str]:
    """Every product the documents order, in Units, as an admin would set them up.

    A line that names only the customer's item number gets a product of ours and an entry in the
    profile's cross-reference (returned), as an admin would add one. A product an earlier run made (a
    live Odoo) is set up again rather than made twice: a barcode is unique in Odoo, and two products
    with one code would hold the order.
    """
    made: set[str] = set()
    xref: dict[str, str] = {}
    for document in documents:
        for line in document.get("lines", []):
            if not identified(line):
                continue
            values = {"name": line.get("description") or "An item", "list_price": float(line.get("unit_price") or 1)}
            found = call(rpc, "uom.uom", "search", [("name", "=", line.get("uom") or "Units")])
            if found and line.get("uom") not in (None, "Units"):  # sold in the unit the customer orders in
                values["uom_id"] = values["uom_po_id"] = found[0]
            if line.get("gtin") or line.get("upc"):
                code = values["barcode"] = line.get("gtin") or line.get("upc")
            elif line.get("supplier_item"):
                code = values["default_code"] = line["supplier_item"]
            else:
                code = values["default_code"] = xref[line["buyer_item"]] = f"OURS-{line['buyer_item']}"
            if code not in made:
                made.add(code)
                key = "barcode" if "barcode" in values else "default_code"
                found = call(rpc, "product.template", "search", [(key, "=", code)])
                if found:
                    call(rpc, "product.template", "write", found, values)
                else:
                    call(rpc, "product.template", "create", values)
    return xref


def free_ship_to_glns(rpc, documents: list[dict]) -> None:
    """Take the documents' ship-to GLNs off the partners an earlier run (a live Odoo) gave them to: a
    barcode is unique in Odoo, and the gateway gives each to the address it creates for this customer."""
    glns = sorted({d["ship_to"]["gln"] for d in documents if (d.get("ship_to") or {}).get("gln")})
    taken = call(rpc, "res.partner", "search", [("barcode", "in", glns)], context={"active_test": False})
    if taken:
        call(rpc, "res.partner", "write", taken, {"barcode": False})


def pricelists_for(rpc, documents: list[dict], customer: Customer) -> dict[str, str]:
    """A pricelist in every currency the orders are in, the currency made active (or added: the corpus has
    guilders), as an admin would; the profile names them under delivery.pricelists (returned)."""
    names = {}
    for code in sorted({d["currency"] for d in documents if d.get("currency")}):
        found = call(rpc, "res.currency", "search_read", [("name", "=", code)], fields=["active"],
                     context={"active_test": False})
        currency = found[0]["id"] if found else call(rpc, "res.currency", "create", {"name": code, "symbol": code})
        if found and not found[0]["active"]:
            call(rpc, "res.currency", "write", [currency], {"active": True})
        names[code] = f"Corpus {code} {customer.tag}"
        call(rpc, "product.pricelist", "create", {"name": names[code], "currency_id": currency})
    return names


def identified(line: dict) -> bool:
    return any(line.get(key) for key in ("gtin", "upc", "supplier_item", "buyer_item"))


def unknown_units(rpc, documents: list[dict]) -> dict[str, str]:
    """The partner's unit codes Odoo has no unit for: the admin maps them to Units in the profile."""
    codes = {line.get("uom") for d in documents for line in d.get("lines", []) if line.get("uom")}
    return {code: "Units" for code in sorted(codes) if not call(rpc, "uom.uom", "search", [("name", "=", code)])}


def must_be_held(document: dict) -> bool:
    """An order a person must look at: no lines, a line with no product identifier, or a quantity of 0."""
    lines = document.get("lines", [])
    return not lines or any(not identified(line) or Decimal(line["quantity"]) == 0 for line in lines)


def sale_orders(rpc, customer: Customer) -> list[dict]:
    return call(rpc, "sale.order", "search_read", [("partner_id", "=", customer.id)],
                fields=["client_order_ref", "partner_id", "order_line", "currency_id"])


def test_every_corpus_order_becomes_one_sale_order_or_is_held_with_its_reason(tmp_path, odoo):
    session, customer = odoo
    rpc = session.rpc
    documents = [d for relative in CORPUS_ORDERS for d in corpus_documents(relative)]
    xref = seed_for(rpc, documents)
    free_ship_to_glns(rpc, documents)
    gateway = corpus_gateway(tmp_path, session, customer, xref, unknown_units(rpc, documents),
                             pricelists_for(rpc, documents, customer))
    for relative in CORPUS_ORDERS:
        path = gateway.inbox("corpus-customer") / relative.replace("/", "_")
        path.write_bytes((CORPUS / relative).read_bytes())
        age(path)
    gateway.run("run", "--once")

    with sqlite3.connect(gateway.state / "edigw.db") as db:
        rows = db.execute("SELECT document_number, state, reason, document FROM messages "
                          "WHERE direction = 'in' ORDER BY id").fetchall()
    assert len(rows) == len(documents)
    created: set[str] = set()
    for number, state, reason, document in rows:  # in the order the gateway took them
        if number in created:  # the same order number again is a duplicate naming the first
            assert state == "duplicate" and reason.startswith(f"order {number} was delivered before as "), reason
        elif must_be_held(json.loads(document)):
            assert state == "held" and (reason.startswith("line ") or reason == "the order has no lines"), reason
        else:
            assert state == "delivered", reason
            created.add(number)
    orders = {order["client_order_ref"]: order for order in sale_orders(rpc, customer)}
    assert sorted(orders) == sorted(created)  # one sale order per order number
    delivered = [d for d in documents if d["document_number"] in created and not must_be_held(d)]
    checked = set()
    for document in delivered:
        if document["document_number"] in checked:
            continue  # the same number again (resent, or another file): it found the first order
        checked.add(document["document_number"])
        order = orders[document["document_number"]]
        assert order["partner_id"][1] == customer.name
        assert order["currency_id"][1] == (document.get("currency") or "USD")  # the order's, never the company's
        lines = call(rpc, "sale.order.line", "read", order["order_line"],
                     fields=["product_uom_qty", "price_unit", "product_id"])
        assert [Decimal(str(line["product_uom_qty"])) for line in lines] == [
            Decimal(line["quantity"]) for line in document["lines"]]
        priced = [line for line in document["lines"] if line.get("unit_price")]
        if len(priced) == len(document["lines"]):
            # Odoo keeps prices to its "Product Price" precision (2); the profile says to note, not hold
            assert [Decimal(str(line["price_unit"])) for line in lines] == [
                Decimal(line["unit_price"]).quantize(Decimal("0.01"), ROUND_HALF_UP) for line in document["lines"]]


def test_a_daemon_killed_in_the_middle_of_delivery_makes_each_sale_order_once(tmp_path, odoo):
    session, customer = odoo
    rpc = session.rpc
    sample = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()
    gateway = corpus_gateway(tmp_path, session, customer)
    documents = corpus_documents("edifact/ORDERS/oca_retail_orders_sample1.txt")
    files = 60
    for number in range(files):
        data = sample.replace(b"4500012", b"K%06d" % (2 * number)).replace(b"4500013", b"K%06d" % (2 * number + 1))
        path = gateway.inbox("corpus-customer") / f"order-{number:03d}.edi"
        path.write_bytes(data)
        age(path)
    report = inspect_file(gateway.inbox("corpus-customer") / "order-000.edi", None, TEMPLATES)
    documents += [m["document"] for i in report["interchanges"] for m in i["messages"]]
    seed_for(rpc, documents)
    free_ship_to_glns(rpc, documents)
    corpus_gateway(tmp_path, session, customer, pricelists=pricelists_for(rpc, documents, customer))  # in EUR
    rng = random.Random(4500012)
    kills = 0
    for _ in range(8):
        daemon = gateway.start(wait=False)
        time.sleep(rng.uniform(0.8, 2.5))
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)
            kills += 1
        daemon.wait(timeout=20)
    gateway.run("run", "--once")

    assert kills >= 6
    references = sorted(order["client_order_ref"] for order in sale_orders(rpc, customer))
    assert references == sorted(f"K{n:06d}" for n in range(2 * files)), "an order was lost or made twice"
    assert {m["state"] for m in gateway.messages()} == {"delivered"}
