"""Catalogs end to end, through `edigw run --once`: a supplier's real PRICAT dropped in its folder
updates (or, per the profile, only compares) our vendor prices in Odoo, lists the items we do not
carry and never creates them; our catalog for a customer is read from its pricelist and written
as an 832, whole the first time and then only what changed.

The Odoo is the sandbox over real HTTP, and a real Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB,
EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, otherwise). Master data is made
per test under a unique tag; the corpus file's own item codes are matched through vendor prices of
the test's own vendor, so no barcode is fixed.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import uuid
from dataclasses import dataclass

import odoorpc
import pytest

from conftest import CORPUS, ROOT
from gateway.config import OdooSettings
from gateway.odoo.client import OdooClient
from gateway.odoo.sandbox import start
from gateway_fixtures import Gateway, age, make_gateway, odoo_session
from test_procure_to_pay import gtin

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
SAP_PRICAT = CORPUS / "edifact/PRICAT/bots_pricat_d96a_ean005_sap.edi"  # 62 items, NTP 100 for the first three
BAD_DATES = CORPUS / "edifact/PRICAT/bots_pricat_d96a_ean006_bad_dates.edi"
# The SAP file's prices are PRI NTP with price type SRP; this supplier's net price is written so.
NET_PRICE = {"lines.unit_price": {"path": "SG37/PRI/PRI01[PRI01.1='NTP']/PRI01.2", "type": "decimal"}}


@dataclass
class Odoo:
    url: str
    db: str
    user: str
    rpc: odoorpc.ODOO
    tag: str

    def call(self, model: str, method: str, *args, **kwargs):
        return self.rpc.execute_kw(model, method, list(args), kwargs)

    def product(self, name: str, **values) -> int:
        unit = self.call("uom.uom", "search", [("name", "=", "Units")])[0]
        return self.call("product.product", "create", {"name": f"{name} {self.tag}", "default_code": f"{name[:3].upper()}-{self.tag}",
                                                       "uom_id": unit, "uom_po_id": unit, **values})

    def template(self, product: int) -> int:
        [row] = self.call("product.product", "read", [product], fields=["product_tmpl_id"])
        return row["product_tmpl_id"][0]

    def vendor_prices(self, vendor: int) -> dict[tuple[str, float], float]:
        rows = self.call("product.supplierinfo", "search_read", [("partner_id", "=", vendor)],
                         fields=["product_code", "min_qty", "price"])
        return {(row["product_code"], row["min_qty"]): row["price"] for row in rows}


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    with odoo_session(request.param, tmp_path, monkeypatch, "catalogs", PASSWORD_ENV) as session:
        yield Odoo(session.url, session.db, session.user, session.rpc, uuid.uuid4().hex[:8].upper())


def gateway_for(tmp_path, odoo: Odoo, profile: str) -> Gateway:
    gateway = make_gateway(tmp_path / "gw", partners=())
    (gateway.partners / "partner.yaml").write_text(textwrap.dedent(profile), encoding="utf-8")
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


# --- a supplier's catalog -------------------------------------------------------------------------


@dataclass
class Supplier:
    vendor: int
    carried: dict[str, int]  # the supplier's item code → our product


def supplier(odoo: Odoo) -> Supplier:
    """A vendor whose catalog is the SAP PRICAT (in EUR, which we activate): we buy three of its 62 items,
    known by its codes."""
    [eur] = odoo.call("res.currency", "search", [("name", "=", "EUR")], context={"active_test": False})
    odoo.call("res.currency", "write", [eur], {"active": True})
    vendor = odoo.call("res.partner", "create", {"name": f"Mid Client {odoo.tag}", "is_company": True,
                                                 "supplier_rank": 1, "ref": f"MID-{odoo.tag}"})
    carried = {}
    for code, price, minimum in (("4110010101", 90.0, 0.0), ("4110010102", 50.0, 0.0), ("4110010103", 95.0, 10.0)):
        product = odoo.product(f"Reference article {code}")
        odoo.call("product.supplierinfo", "create", {"partner_id": vendor, "product_tmpl_id": odoo.template(product),
                                                     "product_code": code, "price": price, "min_qty": minimum})
        carried[code] = product
    return Supplier(vendor, carried)


def supplier_gateway(tmp_path, odoo: Odoo, apply: str = "prices") -> Gateway:
    return gateway_for(tmp_path, odoo, f"""\
        name: Mid Client
        odoo_partner: {{ref: MID-{odoo.tag}}}
        identifiers:
          edifact: {{id: MIDCLNT010, qualifier: "14"}}
        channels:
          edi: {{type: folder, inbox: inbox/partner, outbox: outbox/partner, after: move, settle_seconds: 0.2}}
        receive:
          PRICAT: {{template: edifact/PRICAT_D96A, overrides: {{fields: {NET_PRICE}}}}}
        catalogs: {{apply: {apply}, price_tolerance: 20}}
        """)


def drop(gateway: Gateway, path) -> None:
    target = gateway.inbox("partner") / path.name
    shutil.copyfile(path, target)
    age(target)
    gateway.run("run", "--once")


def test_a_supplier_catalog_updates_our_vendor_prices_within_tolerance_and_lists_what_we_do_not_carry(
        tmp_path, odoo):
    ours = supplier(odoo)
    gateway = supplier_gateway(tmp_path, odoo)
    drop(gateway, SAP_PRICAT)

    [message] = gateway.messages()
    assert (message["document_type"], message["state"]) == ("Catalog", "delivered"), message["reason"]
    prices = odoo.vendor_prices(ours.vendor)
    assert prices[("4110010101", 0.0)] == 100.0  # 90 → 100: +11.1%, within the 20% tolerance
    assert prices[("4110010102", 0.0)] == 50.0  # 50 → 100: +100%, waits for a person
    assert prices[("4110010103", 10.0)] == 95.0 and prices[("4110010103", 0.0)] == 100.0  # a new price from 1 unit
    exceptions = {(e["kind"], e["state"]): e for e in gateway.json("exceptions", "list", "--order", "267789")}
    assert "100.0% up" in exceptions[("price", "open")]["text"]
    assert exceptions[("price", "applied")]["line"] == "1"
    assert exceptions[("unknown_items", "open")]["text"].startswith("59 item(s) of the catalog are not products of ours")
    shown = gateway.json("messages", "show", str(message["id"]))
    assert len(shown["result"]["unknown_items"]) == 59
    # Nothing was created for the items we do not carry.
    assert odoo.call("product.product", "search_count", [("barcode", "=", "1641100101045")]) == 0
    # Support finds the catalog by its number, and its thread shows it with the exceptions it raised.
    assert [m["id"] for m in gateway.json("messages", "find", "267789")["messages"]] == [message["id"]]
    [entry] = gateway.json("messages", "list", "--order", "267789")
    assert entry["document_type"] == "Catalog" and len(entry["exceptions"]) == 3


def test_the_same_catalog_again_writes_nothing(tmp_path, odoo):
    ours = supplier(odoo)
    gateway = supplier_gateway(tmp_path, odoo)
    drop(gateway, SAP_PRICAT)
    before = odoo.call("product.supplierinfo", "search_read", [("partner_id", "=", ours.vendor)],
                       fields=["price", "min_qty", "write_date"])
    [message] = gateway.messages()
    gateway.run("reprocess", str(message["id"]), "--from", "deliver")

    after = odoo.call("product.supplierinfo", "search_read", [("partner_id", "=", ours.vendor)],
                      fields=["price", "min_qty", "write_date"])
    assert after == before
    shown = gateway.json("messages", "show", str(message["id"]))
    assert shown["result"]["unchanged"] == 2 and shown["result"]["added"] == []


def test_with_apply_none_a_catalog_only_reports_the_price_changes(tmp_path, odoo):
    ours = supplier(odoo)
    gateway = supplier_gateway(tmp_path, odoo, apply="none")
    drop(gateway, SAP_PRICAT)

    assert odoo.vendor_prices(ours.vendor) == {("4110010101", 0.0): 90.0, ("4110010102", 0.0): 50.0,
                                               ("4110010103", 10.0): 95.0}
    kinds = sorted(e["kind"] for e in gateway.json("exceptions", "list", "--order", "267789") if e["state"] == "open")
    assert kinds == ["price", "price", "unknown_items"]


def test_a_catalog_with_dates_not_in_their_format_is_rejected_with_the_reason_and_kept(tmp_path, odoo):
    supplier(odoo)
    gateway = supplier_gateway(tmp_path, odoo)
    profile = gateway.partners / "partner.yaml"
    profile.write_text(profile.read_text().replace("MIDCLNT010", '"8712345678906"'))
    drop(gateway, BAD_DATES)

    [message] = gateway.messages()
    assert message["state"] == "rejected"
    assert "'30-06-2008' is not a valid date in format 102" in message["reason"]
    assert gateway.run("messages", "show", str(message["id"]), "--raw").stdout == BAD_DATES.read_bytes()


# --- our catalog for a customer -------------------------------------------------------------------


def customer_gateway(tmp_path, odoo: Odoo, mode: str) -> Gateway:
    return gateway_for(tmp_path, odoo, f"""\
        name: Buyer Co
        odoo_partner: {{ref: BUYER-{odoo.tag}}}
        identifiers:
          x12: {{id: BUYERCO, qualifier: ZZ, gs_id: BUYERCO}}
        channels:
          edi: {{type: folder, inbox: inbox/partner, outbox: outbox/partner, after: move, settle_seconds: 0.2}}
        delivery: {{item_xref: {{"B-77": "WID-{odoo.tag}"}}}}
        send:
          Catalog: {{template: outbound/x12/832_004010, schedule: 1s, mode: {mode}}}
        """)


def priced_customer(odoo: Odoo) -> dict[str, int]:
    """A customer on its own pricelist: a widget at 12.50, 11.75 from 100, and a gadget at 40 until June."""
    digits = str(int(odoo.tag, 16) % 10 ** 8).zfill(8)
    widget = odoo.product("Widget", barcode=gtin(f"22{digits}01"), list_price=20.0)
    gadget = odoo.product("Gadget", list_price=45.0)
    [usd] = odoo.call("res.currency", "search", [("name", "=", "USD")])
    pricelist = odoo.call("product.pricelist", "create", {"name": f"Buyer Co {odoo.tag}", "currency_id": usd, "item_ids": [
        [0, 0, {"applied_on": "1_product", "product_tmpl_id": odoo.template(widget), "compute_price": "fixed",
                "fixed_price": 12.5}],
        [0, 0, {"applied_on": "1_product", "product_tmpl_id": odoo.template(widget), "compute_price": "fixed",
                "fixed_price": 11.75, "min_quantity": 100}],
        [0, 0, {"applied_on": "1_product", "product_tmpl_id": odoo.template(gadget), "compute_price": "fixed",
                "fixed_price": 40.0, "date_end": "2099-06-30 23:59:59"}]]})
    odoo.call("res.partner", "create", {"name": f"Buyer Co {odoo.tag}", "is_company": True, "customer_rank": 1,
                                        "ref": f"BUYER-{odoo.tag}", "property_product_pricelist": pricelist})
    return {"widget": widget, "gadget": gadget, "pricelist": pricelist}


def sent_catalogs(gateway: Gateway) -> list[list[list]]:
    found = []
    for path in sorted((gateway.state / "outbox" / "partner").glob("*")):
        for interchange in gateway.json("inspect", str(path))["interchanges"]:
            found += [message["segments"] for message in interchange["messages"] if message["type"] == "832"]
    return found


def test_a_customer_gets_its_catalog_then_only_what_changed_and_nothing_when_nothing_did(tmp_path, odoo):
    records = priced_customer(odoo)
    gateway = customer_gateway(tmp_path, odoo, mode="changes")
    gateway.run("run", "--once")

    [first] = sent_catalogs(gateway)
    assert [s for s in first if s[0] == "BCT"][0][10] == "00"  # the whole catalog
    lins = [s for s in first if s[0] == "LIN"]
    assert [lin[3] for lin in lins] == [f"GAD-{odoo.tag}", f"WID-{odoo.tag}", f"WID-{odoo.tag}"]
    assert lins[1][lins[1].index("BP") + 1] == "B-77"  # the customer's own number for our widget
    prices = [s[3] for s in first if s[0] == "CTP"]
    assert prices == ["40", "12.5", "11.75"]
    assert ["CTB", "OR", "", "57", "100"] in first
    assert ["DTM", "197", "20990630"] in first

    [widget_item] = odoo.call("product.pricelist.item", "search", [("pricelist_id", "=", records["pricelist"]),
                                                                   ("min_quantity", "=", 0),
                                                                   ("fixed_price", "=", 12.5)])
    odoo.call("product.pricelist.item", "write", [widget_item], {"fixed_price": 12.9})
    time.sleep(1.1)
    gateway.run("run", "--once")

    first_again, second = sent_catalogs(gateway)
    assert [s for s in second if s[0] == "BCT"][0][10] == "04"  # only the changes
    assert [s[3] for s in second if s[0] == "LIN"] == [f"WID-{odoo.tag}"]
    assert [s[3] for s in second if s[0] == "CTP"] == ["12.9"]

    time.sleep(1.1)
    gateway.run("run", "--once")
    assert len(sent_catalogs(gateway)) == 2  # nothing changed: nothing sent
    sent = gateway.messages(direction="out")
    assert [m["document_type"] for m in sent] == ["Catalog", "Catalog"]


def test_the_console_shows_a_supplier_catalog_its_items_and_its_thread(tmp_path, odoo, monkeypatch):
    from test_console import PASSWORDS, _session, _started

    supplier(odoo)
    gateway = supplier_gateway(tmp_path, odoo)
    drop(gateway, SAP_PRICAT)
    [message] = gateway.messages()
    monkeypatch.setenv("NEW_PASSWORD", PASSWORDS["vic"])
    gateway.run("users", "add", "vic", "--role", "viewer", "--password-env", "NEW_PASSWORD")
    web, found = _started(gateway.command("web", "--port", "0"), gateway.env(), gateway.home,
                          r"on (http://[\d.]+:\d+)/")
    try:
        opener, _ = _session(found.group(1), "vic")
        page = opener.open(f"{found.group(1)}/messages/{message['id']}").read().decode()
        thread = opener.open(f"{found.group(1)}/orders/267789").read().decode()
    finally:
        web.terminate()
        web.wait(timeout=20)
    document = page[page.index("<h2>The document</h2>"):page.index("<h2>Findings</h2>")]
    assert "PRICAT 267789" in page and "1641100101014" in document and "REFERENCE ARTICLE" in document
    assert "retail price" in document  # the items' columns
    assert "not products of ours" in thread


def test_the_shipped_supplier_catalog_sample_dry_run_then_applied_to_the_seeded_sandbox(tmp_path, monkeypatch):
    """samples/catalogs/832_NP-2026-12.x12 with partners/nordic-parts.yaml and samples/odoo-seed.yaml:
    what `partners test` says it would do, then what `run` does (the sandbox only: the seed is its own)."""
    monkeypatch.setenv(PASSWORD_ENV, "admin")
    running = start(data=ROOT / "samples" / "odoo-seed.yaml", state_file=tmp_path / "odoo-state.json")
    try:
        probe = OdooClient(OdooSettings(url=running.url, db="edi", user="admin"))
        rpc = odoorpc.ODOO(probe.host, protocol=probe.protocol, port=probe.port, timeout=60)
        rpc.login("edi", "admin", "admin")
        odoo = Odoo(running.url, "edi", "admin", rpc, "SEED")
        gateway = make_gateway(tmp_path / "gw", partners=("nordic-parts",))
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'[odoo]\nurl = "{running.url}"\ndb = "edi"\nuser = "admin"\npassword_env = "{PASSWORD_ENV}"\n')
        sample = ROOT / "samples" / "catalogs" / "832_NP-2026-12.x12"
        [vendor] = odoo.call("res.partner", "search", [("ref", "=", "NORDIC-PARTS")])

        dry = gateway.json("partners", "test", "nordic-parts", str(sample))
        assert odoo.vendor_prices(vendor) == {}  # a dry run writes nothing
        assert "Cabinet lock" in json.dumps(dry) and "not products of ours" in json.dumps(dry)

        target = gateway.inbox("nordic-parts") / sample.name
        shutil.copyfile(sample, target)
        age(target)
        gateway.run("run", "--once")
        assert odoo.vendor_prices(vendor) == {("NP-H100", 0.0): 2.95, ("NP-S430", 500.0): 0.38}
    finally:
        running.stop()


def test_products_ordered_are_those_the_customer_ordered_at_the_sales_price_without_a_rule(odoo):
    from gateway.odoo.catalogs import customer_catalog

    [usd] = odoo.call("res.currency", "search", [("name", "=", "USD")])
    pricelist = odoo.call("product.pricelist", "create", {"name": f"Plain {odoo.tag}", "currency_id": usd})
    customer = odoo.call("res.partner", "create", {"name": f"Orderer {odoo.tag}", "is_company": True,
                                                   "property_product_pricelist": pricelist})
    ordered = odoo.product("Ordered thing", list_price=7.0)
    odoo.product("Never ordered", list_price=8.0)
    odoo.call("sale.order", "create", {"partner_id": customer, "order_line": [
        [0, 0, {"product_id": ordered, "product_uom_qty": 2}]]})
    client = OdooClient(OdooSettings(url=odoo.url, db=odoo.db, user=odoo.user, password_env=PASSWORD_ENV))

    document, left_out = customer_catalog(client, customer, products="ordered")

    assert [(line.supplier_item, line.unit_price, line.minimum_quantity) for line in document.lines] == [
        (f"ORD-{odoo.tag}", "7", None)]
    assert document.currency == "USD" and left_out == []
