"""Stock reports end to end: our stock to a customer (846 out, on its schedule, full or only what
moved), a 3PL's count compared with our quants there (and adjusted within the tolerance), and a
supplier's stock kept as its availability; each through `edigw run --once`, and what a person sees:
the files in the outbox (read back with `edigw inspect`), the quantities in Odoo (over odoorpc),
`edigw exceptions list`, `edigw stock availability`.

The Odoo is the sandbox over real HTTP, and a real Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB,
EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, otherwise). Master data (a
customer, a supplier, a warehouse, three products) is made per test under a unique tag.
"""

from __future__ import annotations

import csv
import io
import itertools
import textwrap
import time
import uuid
from dataclasses import dataclass, field

import odoorpc
import pytest

from gateway_fixtures import Gateway, age, make_gateway, odoo_session
from test_procure_to_pay import gtin

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
CONTROLS = itertools.count(701)


@dataclass
class Odoo:
    url: str
    db: str
    user: str
    rpc: odoorpc.ODOO
    tag: str
    warehouse: dict = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    barcodes: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    def call(self, model: str, method: str, *args, **kwargs):
        return self.rpc.execute_kw(model, method, list(args), kwargs)

    def count(self, product: str, quantity: float, location: int | None = None) -> None:
        """Set a product's counted quantity on a location, as a person's inventory count would."""
        ids = self.call("stock.quant", "create", [{"product_id": self.products[product],
                                                   "location_id": location or self.warehouse["lot_stock_id"][0],
                                                   "inventory_quantity": quantity}],
                        context={"inventory_mode": True})
        self.call("stock.quant", "action_apply_inventory", ids)

    def on_hand(self, product: str) -> float:
        [row] = self.call("product.product", "read", [self.products[product]], fields=["qty_available"],
                          context={"warehouse_id": self.warehouse["id"], "warehouse": self.warehouse["id"]})
        return row["qty_available"]


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    tag = uuid.uuid4().hex[:8].upper()
    with odoo_session(request.param, tmp_path, monkeypatch, "stock reports", PASSWORD_ENV) as session:
        odoo = Odoo(session.url, session.db, session.user, session.rpc, tag)
        odoo.call("res.partner", "create", {"name": f"Buyer Co {tag}", "is_company": True, "customer_rank": 1,
                                            "ref": f"BUYER-{tag}"})
        odoo.call("res.partner", "create", {"name": f"Steel Supply {tag}", "is_company": True, "supplier_rank": 1,
                                            "ref": f"STEEL-{tag}"})
        code = "S" + tag[:4]  # Odoo keeps warehouse codes to 5 characters
        created = odoo.call("stock.warehouse", "create", {"name": f"3PL Antwerp {tag}", "code": code})
        [odoo.warehouse] = odoo.call("stock.warehouse", "read", [created], fields=["code", "lot_stock_id", "name"])
        unit = odoo.call("uom.uom", "search", [("name", "=", "Units")])[0]
        digits = str(int(tag, 16) % 10 ** 8).zfill(8)
        for number in (1, 2, 3):
            odoo.barcodes[f"P{number}"] = gtin(f"22{digits}0{number}")
            odoo.codes[f"P{number}"] = f"ST{number}-{tag}"
            odoo.products[f"P{number}"] = odoo.call("product.product", "create", {
                "name": f"Steel bar {number} {tag}", "default_code": odoo.codes[f"P{number}"],
                "barcode": odoo.barcodes[f"P{number}"], "list_price": 5.0, "uom_id": unit, "uom_po_id": unit,
                **session.probe.storable_product_values()})
        yield odoo


def gateway_for(tmp_path, odoo: Odoo, partner: str, profile: str) -> Gateway:
    gateway = make_gateway(tmp_path / "gw", partners=())
    (gateway.partners / f"{partner}.yaml").write_text(textwrap.dedent(profile), encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(textwrap.dedent(f"""
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


def write_846(path, sender: str, number: str, *lines: str) -> None:
    """A stock report as the partner's EDI writes it (846 004010)."""
    control = next(CONTROLS)
    body = [f"ST*846*0001", f"BIA*00*MM*{number}*20261205*0700", f"N1*WH*Antwerp DC*92*ANTW1", *lines,
            f"CTT*{sum(1 for line in lines if line.startswith('LIN'))}"]
    text = "~".join([
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{'DISTRIBUTOR':<15}*261205*0700*U*00401*"
        f"{control:09d}*0*T*>",
        f"GS*IB*{sender}*DISTRIBUTOR*20261205*0700*{control}*X*004010",
        *body, f"SE*{len(body) + 1}*0001", f"GE*1*{control}", f"IEA*1*{control:09d}"]) + "~"
    path.write_text(text)


def drop_846(gateway: Gateway, partner: str, sender: str, number: str, *lines: str) -> None:
    """The stock report dropped into the partner's watched folder, and the gateway run once."""
    target = gateway.inbox(partner) / f"846-{number}.x12"
    write_846(target, sender, number, *lines)
    age(target)
    gateway.run("run", "--once")


def stock_reports(gateway: Gateway, partner: str) -> list[dict[str, str]]:
    """The 846s in the partner's outbox, oldest first, each as {barcode: QTY} (what the customer's EDI reads)."""
    found = []
    for path in sorted((gateway.state / "outbox" / partner).glob("*"), key=lambda p: p.stat().st_mtime):
        for interchange in gateway.json("inspect", str(path))["interchanges"]:
            for message in interchange["messages"]:
                assert message["type"] == "846" and message["status"] == "accepted", message
                quantities, barcode = {}, None
                for segment in message["segments"]:
                    if segment[0] == "LIN":
                        barcode = segment[segment.index("EN") + 1] if "EN" in segment else None
                    if segment[0] == "QTY":
                        quantities[barcode] = (segment[1], segment[2])
                found.append(quantities)
    return found


CUSTOMER = """\
    name: Buyer Co
    odoo_partner: {{ref: BUYER-{tag}}}
    identifiers:
      x12: {{id: BUYERCO, qualifier: ZZ, gs_id: BUYERCO}}
    channels:
      edi: {{type: folder, inbox: inbox/buyer-co, outbox: outbox/buyer-co, after: move, settle_seconds: 0.2}}
    send:
      InventoryReport: {{template: outbound/x12/846_004010, schedule: 1s, warehouses: [{warehouse}],
                         quantity: free, products: ordered, mode: changes}}
    """


def test_a_customer_gets_the_free_stock_of_what_it_ordered_and_then_only_what_moved(tmp_path, odoo):
    odoo.count("P1", 7)
    odoo.count("P2", 12)
    odoo.count("P1", 3, location=odoo.call("stock.warehouse", "search_read", [("code", "!=", odoo.warehouse["code"])],
                                           fields=["lot_stock_id"], limit=1)[0]["lot_stock_id"][0])
    [customer] = odoo.call("res.partner", "search", [("ref", "=", f"BUYER-{odoo.tag}")])
    odoo.call("sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": odoo.products["P1"], "product_uom_qty": 2}],
        [0, 0, {"product_id": odoo.products["P3"], "product_uom_qty": 1}]]})
    gateway = gateway_for(tmp_path, odoo, "buyer-co", CUSTOMER.format(tag=odoo.tag, warehouse=odoo.warehouse["code"]))

    gateway.run("run", "--once")
    # What it ordered (P1, P3), not P2; P1's free stock in that warehouse only, not the 3 elsewhere.
    assert stock_reports(gateway, "buyer-co") == [{odoo.barcodes["P1"]: ("33", "7"), odoo.barcodes["P3"]: ("33", "0")}]

    time.sleep(1.2)
    gateway.run("run", "--once")
    assert len(stock_reports(gateway, "buyer-co")) == 1  # nothing moved: nothing sent

    odoo.count("P1", 9)
    time.sleep(1.2)
    gateway.run("run", "--once")
    assert stock_reports(gateway, "buyer-co")[1:] == [{odoo.barcodes["P1"]: ("33", "9")}]

    replayed = gateway.json("replay", "--partner", "buyer-co", "--document", "InventoryReport")
    assert len(replayed) == 2  # both reports again, as they were sent, in new envelopes
    assert stock_reports(gateway, "buyer-co")[2:] == stock_reports(gateway, "buyer-co")[:2]


def test_a_customer_on_edifact_gets_an_invrpt_of_the_stock_on_hand_of_every_product(tmp_path, odoo):
    odoo.count("P1", 5)
    odoo.count("P3", 2)
    profile = CUSTOMER.format(tag=odoo.tag, warehouse=odoo.warehouse["code"]).replace(
        "x12: {id: BUYERCO, qualifier: ZZ, gs_id: BUYERCO}", 'edifact: {id: "5790000000099", qualifier: "14"}').replace(
        "outbound/x12/846_004010", "outbound/edifact/INVRPT_D96A").replace(
        "quantity: free, products: ordered, mode: changes", "quantity: on_hand, products: all, mode: full")
    gateway = gateway_for(tmp_path, odoo, "buyer-co", profile)
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write('[identity.edifact]\nid = "5790000000006"\nqualifier = "14"\n')
    gateway.run("run", "--once")

    [path] = (gateway.state / "outbox" / "buyer-co").glob("*")
    [interchange] = gateway.json("inspect", str(path))["interchanges"]
    [message] = interchange["messages"]
    assert (message["type"], message["status"], message["document_type"]) == ("INVRPT", "accepted", "InventoryReport")
    ours = {line["gtin"]: (line["quantity"], line["quantity_type"], line["quantity_code"])
            for line in message["document"]["lines"] if line.get("gtin") in odoo.barcodes.values()}
    assert ours == {odoo.barcodes["P1"]: ("5", "on_hand", "17"), odoo.barcodes["P2"]: ("0", "on_hand", "17"),
                    odoo.barcodes["P3"]: ("2", "on_hand", "17")}
    assert message["document"]["location"] == odoo.warehouse["code"]


def test_a_stock_report_is_not_sent_before_its_schedule_comes_round(tmp_path, odoo):
    odoo.count("P1", 4)
    [customer] = odoo.call("res.partner", "search", [("ref", "=", f"BUYER-{odoo.tag}")])
    odoo.call("sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": odoo.products["P1"], "product_uom_qty": 2}]]})
    profile = CUSTOMER.format(tag=odoo.tag, warehouse=odoo.warehouse["code"]).replace(
        "schedule: 1s", "schedule: 1h").replace("mode: changes", "mode: full")
    gateway = gateway_for(tmp_path, odoo, "buyer-co", profile)
    gateway.run("run", "--once")
    odoo.count("P1", 5)
    gateway.run("run", "--once")
    assert stock_reports(gateway, "buyer-co") == [{odoo.barcodes["P1"]: ("33", "4")}]


THREE_PL = """\
    name: Antwerp 3PL
    odoo_partner: {{ref: STEEL-{tag}}}
    identifiers:
      x12: {{id: ANTW3PL, qualifier: ZZ, gs_id: ANTW3PL}}
    channels:
      edi: {{type: folder, inbox: inbox/antwerp-3pl, outbox: outbox/antwerp-3pl, after: move, settle_seconds: 0.2}}
    receive:
      "846": {{template: x12/846_004010}}
    inventory: {{warehouse: {warehouse}, apply: adjust, tolerance: 2}}
    """


def test_a_3pl_count_is_compared_with_our_quants_and_small_differences_are_adjusted(tmp_path, odoo):
    odoo.count("P1", 7)
    odoo.count("P2", 10)
    odoo.count("P3", 5)
    gateway = gateway_for(tmp_path, odoo, "antwerp-3pl",
                          THREE_PL.format(tag=odoo.tag, warehouse=odoo.warehouse["code"]))
    number = f"CNT-{odoo.tag}"
    lines = (f"LIN**EN*{odoo.barcodes['P1']}", "QTY*17*8*EA", f"LIN**VN*{odoo.codes['P2']}", "QTY*17*4*EA",
             "LIN**VN*NOT-OURS-1", "QTY*17*3*EA")
    write_846(tmp_path / "count.x12", "ANTW3PL", number, *lines)
    dry = gateway.run("partners", "test", "antwerp-3pl", str(tmp_path / "count.x12"), check=False).stdout.decode()
    assert f"compared with Odoo's stock at {odoo.warehouse['code']}" in dry
    assert "would adjust" in dry and "exception" in dry and "NOT-OURS-1" in dry
    assert odoo.on_hand("P1") == 7  # a dry run writes nothing

    drop_846(gateway, "antwerp-3pl", "ANTW3PL", number, *lines)
    [message] = gateway.messages(partner="antwerp-3pl")
    assert message["state"] == "delivered"
    found = gateway.json("messages", "find", number)["messages"]
    assert [(row["id"], row["type"], row["record_name"]) for row in found] == [
        (message["id"], "846", odoo.warehouse["code"])]
    assert odoo.on_hand("P1") == 8  # 1 more than Odoo had: within 2, adjusted
    assert odoo.on_hand("P2") == 10  # 6 fewer: beyond the tolerance, a person decides
    moves = odoo.call("stock.move", "search_read", [("product_id", "=", odoo.products["P1"]),
                                                    ("name", "like", number)], fields=["is_inventory", "state"])
    assert [(m["is_inventory"], m["state"]) for m in moves] == [(True, "done")]
    texts = {row["kind"]: [] for row in gateway.json("exceptions", "list", "--partner", "antwerp-3pl")}
    for row in gateway.json("exceptions", "list", "--partner", "antwerp-3pl"):
        texts[row["kind"]].append((row["state"], row["text"]))
    stock = sorted(texts["stock"])
    assert [state for state, _ in stock] == ["applied", "open", "open"]
    assert "counts 8 on hand" in stock[0][1] and "Odoo has 7" in stock[0][1] and "adjusted" in stock[0][1]
    assert any("counts 4 on hand" in text and "Odoo has 10 " in text for _, text in stock[1:])
    assert any(odoo.codes["P3"] in text and "does not list it" in text for _, text in stock[1:])
    assert [state for state, _ in texts["unknown_product"]] == ["open"]
    assert "NOT-OURS-1" in texts["unknown_product"][0][1]

    gateway.run("reprocess", str(message["id"]), "--from", "deliver")
    assert odoo.on_hand("P1") == 8  # the same count again adjusts nothing more
    assert len(odoo.call("stock.move", "search", [("product_id", "=", odoo.products["P1"]),
                                                  ("name", "like", number)])) == 1


SUPPLIER = """\
    name: Steel Supply
    odoo_partner: {{ref: STEEL-{tag}}}
    identifiers:
      x12: {{id: STEELSUP, qualifier: ZZ, gs_id: STEELSUP}}
    channels:
      edi: {{type: folder, inbox: inbox/steel-supply, outbox: outbox/steel-supply, after: move, settle_seconds: 0.2}}
    receive:
      "846": {{template: x12/846_004010}}
    """


def test_a_supplier_report_is_kept_as_its_availability_and_odoo_is_not_written(tmp_path, odoo):
    odoo.count("P1", 2)
    [vendor] = odoo.call("res.partner", "search", [("ref", "=", f"STEEL-{odoo.tag}")])
    [template] = odoo.call("product.product", "read", [odoo.products["P1"]], fields=["product_tmpl_id"])
    odoo.call("product.supplierinfo", "create", {"partner_id": vendor, "product_tmpl_id": template["product_tmpl_id"][0],
                                                 "product_code": f"THEIRS-{odoo.tag}", "price": 3.0})
    moves_before = odoo.call("stock.move", "search_count", [("product_id", "in", list(odoo.products.values()))])
    gateway = gateway_for(tmp_path, odoo, "steel-supply", SUPPLIER.format(tag=odoo.tag))
    drop_846(gateway, "steel-supply", "STEELSUP", f"AV-{odoo.tag}",
             f"LIN**VN*THEIRS-{odoo.tag}", "QTY*17*50*EA", "QTY*63*200*EA", "DTM*371*20261220",
             f"LIN**EN*{odoo.barcodes['P2']}", "QTY*33*0*EA",
             "LIN**VN*ONLY-THEY-HAVE", "QTY*17*9*EA")

    [message] = gateway.messages(partner="steel-supply")
    assert message["state"] == "delivered"
    rows = gateway.json("stock", "availability", "--partner", "steel-supply")
    assert [(r["product"], r["their_item"], r["quantity"], r["quantity_type"], r["on_order"], r["available_date"])
            for r in rows] == [
        (odoo.codes["P1"], f"THEIRS-{odoo.tag}", "50", "on_hand", "200", "2026-12-20"),
        (odoo.codes["P2"], None, "0", "free", None, None)]
    exported = list(csv.DictReader(io.StringIO(gateway.run("stock", "availability", "--csv",
                                                           "--product", odoo.codes["P1"]).stdout.decode())))
    assert [(r["partner"], r["product"], r["quantity"]) for r in exported] == [("steel-supply", odoo.codes["P1"], "50")]
    shown = gateway.json("messages", "show", str(message["id"]))
    assert "ONLY-THEY-HAVE" in " ".join(shown["result"]["not_carried"])
    # Nothing written: no stock moved in Odoo, its quantities are its own.
    assert odoo.call("stock.move", "search_count", [("product_id", "in", list(odoo.products.values()))]) == moves_before
    assert odoo.on_hand("P1") == 2


def test_a_customer_on_a_pricelist_gets_the_stock_of_the_products_it_prices(tmp_path, odoo):
    fields = odoo.call("res.partner", "fields_get", attributes=["type"])
    models = odoo.call("ir.model", "search", [("model", "=", "product.pricelist.item")])
    if "property_product_pricelist" not in fields or not models:
        pytest.skip("this Odoo keeps no pricelist items on its customers (the sale app's pricelists)")
    odoo.count("P1", 6)
    odoo.count("P2", 4)
    pricelist = odoo.call("product.pricelist", "create", {"name": f"Buyer Co prices {odoo.tag}"})
    odoo.call("product.pricelist.item", "create", {"pricelist_id": pricelist, "applied_on": "0_product_variant",
                                                   "product_id": odoo.products["P2"], "fixed_price": 4.0})
    [customer] = odoo.call("res.partner", "search", [("ref", "=", f"BUYER-{odoo.tag}")])
    odoo.call("res.partner", "write", [customer], {"property_product_pricelist": pricelist})
    profile = CUSTOMER.format(tag=odoo.tag, warehouse=odoo.warehouse["code"]).replace(
        "quantity: free, products: ordered, mode: changes", "quantity: on_hand, products: pricelist, mode: full")
    gateway = gateway_for(tmp_path, odoo, "buyer-co", profile)
    gateway.run("run", "--once")

    assert stock_reports(gateway, "buyer-co") == [{odoo.barcodes["P2"]: ("17", "4")}]
