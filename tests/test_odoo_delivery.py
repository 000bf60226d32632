"""Customer orders delivered into Odoo as sale orders: once, correct, economical, or held with a reason.

Every test runs against the Odoo sandbox over real HTTP, once with the gateway on JSON-RPC and
once on Odoo 19's JSON-2 API, and again against a real Odoo when EDIGW_ODOO_URL,
EDIGW_ODOO_DB, EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, when they
are not); that run uses JSON-2 when EDIGW_ODOO_API=json2 and EDIGW_ODOO_API_KEY are set too.
The tests' own checks and set-up always go through JSON-RPC (odoorpc). They create the
customers, addresses and products they need through the API, with references unique to the
run, so they pass on a server that has seen them before. Documents come from the shipped
samples, parsed and translated by the pipeline's own code.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import odoorpc
import pytest

from conftest import ROOT, live_odoo
from gateway import formats
from gateway.config import OdooSettings, settings_from
from gateway.formats.model import Message as ParsedMessage
from gateway.odoo.client import OdooClient
from gateway.odoo.inbound import OdooDeliverer
from gateway.odoo.sandbox import DEFAULT_API_KEY, RunningSandbox, Sandbox, start
from gateway.pipeline import Pipeline, TemplateSet, claimed_file_for, translate_parsed
from gateway.profiles import Profile, load_profile
from gateway.store.archive import Archive
from gateway.store.db import open_store
from gateway.store.models import Message, utcnow
from gateway_fixtures import age, drop_samples, make_gateway, odoorpc_login

PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
API_KEY_ENV = "EDIGW_TEST_ODOO_API_KEY"
SAMPLES = ROOT / "samples" / "inbox"
TEMPLATES = TemplateSet(ROOT / "templates")
# The products the shipped samples order (barcodes and codes as the sample files carry them).
PRODUCTS = [
    {"name": "Steel hinge 100 mm", "default_code": "AX-100", "barcode": "5790000012345", "list_price": 3.25,
     "uom": "Units"},
    {"name": "Door handle, brushed", "default_code": "AX-220", "barcode": "5790000012352", "list_price": 11.9,
     "uom": "kg"},
    {"name": "Wood screw 4x40", "default_code": "AX-310", "barcode": "5790000012369", "list_price": 0.45,
     "uom": "Units"},
]
ADDRESSES = {"ACME": ("ACME Lager Nord", "4012345000016"), "BIGBOX": ("BigBox DC 4", "0614141000029")}


@dataclass
class Odoo:
    """The Odoo the test talks to (sandbox or live), with master data for the samples under unique refs."""

    url: str
    db: str
    user: str
    password: str
    rpc: odoorpc.ODOO
    tag: str
    sandbox: RunningSandbox | None
    customers: dict[str, int]
    products: dict[str, int]
    api: str = "jsonrpc"  # the gateway's transport; the tests' own `rpc` is always JSON-RPC

    def settings(self) -> OdooSettings:
        return OdooSettings(url=self.url, db=self.db, user=self.user, password_env=PASSWORD_ENV, timeout=60,
                            api=self.api, api_key_env=API_KEY_ENV)

    def ref(self, customer: str) -> str:
        return f"{customer}-{self.tag}"

    def call(self, model: str, method: str, *args, **kwargs):
        return self.rpc.execute_kw(model, method, list(args), kwargs)

    def orders(self, customer: str, number: str | None = None) -> list[dict]:
        domain = [("partner_id", "=", self.customers[customer])]
        if number:
            domain.append(("client_order_ref", "=", number))
        return self.call("sale.order", "search_read", domain, fields=[
            "name", "partner_id", "partner_shipping_id", "client_order_ref", "commitment_date", "note", "state",
            "order_line", "amount_total"], order="id")

    def lines(self, order: dict) -> list[dict]:
        return self.call("sale.order.line", "read", order["order_line"],
                         fields=["product_id", "product_uom_qty", "product_uom", "price_unit"])


def _unit(rpc: odoorpc.ODOO, name: str) -> int:
    return rpc.execute_kw("uom.uom", "search", [[("name", "=", name)]])[0]


EURO_PRICELIST = "EUR (edigw tests)"


def euro_pricelist(rpc: odoorpc.ODOO) -> int:
    """An EUR pricelist, EUR made active as an admin would (ACME orders in EUR: CUX+2:EUR)."""
    [eur] = rpc.execute_kw("res.currency", "search_read", [[("name", "=", "EUR")]],
                           {"fields": ["active"], "context": {"active_test": False}})
    if not eur["active"]:
        rpc.execute_kw("res.currency", "write", [[eur["id"]], {"active": True}])
    found = rpc.execute_kw("product.pricelist", "search", [[("name", "=", EURO_PRICELIST),
                                                             ("currency_id", "=", eur["id"])]])
    return found[0] if found else rpc.execute_kw("product.pricelist", "create", [{"name": EURO_PRICELIST,
                                                                                  "currency_id": eur["id"]}])


def _seed(rpc: odoorpc.ODOO, client: OdooClient, tag: str) -> tuple[dict[str, int], dict[str, int]]:
    """Customers ACME/BIGBOX/CORNER-<tag> with their delivery addresses (ACME buying in EUR), and the sample
    products."""
    customers = {}
    for key in ("ACME", "BIGBOX", "CORNER"):
        customers[key] = rpc.execute_kw("res.partner", "create", [{
            "name": f"{key.title()} {tag}", "is_company": True, "customer_rank": 1, "ref": f"{key}-{tag}",
            **({"property_product_pricelist": euro_pricelist(rpc)} if key == "ACME" else {})}])
        if key in ADDRESSES:
            delivery_address(rpc, customers[key], *ADDRESSES[key])
    products = {product["default_code"]: sample_product(rpc, client, product) for product in PRODUCTS}
    return customers, products


def free_gln(rpc: odoorpc.ODOO, gln: str) -> None:
    """Take a GLN off the partners an earlier run gave it to: a barcode is unique in Odoo."""
    taken = rpc.execute_kw("res.partner", "search", [[("barcode", "=", gln)]], {"context": {"active_test": False}})
    if taken:
        rpc.execute_kw("res.partner", "write", [taken, {"barcode": False}])


def delivery_address(rpc: odoorpc.ODOO, customer: int, name: str, gln: str) -> int:
    """A delivery address of the customer whose barcode is the ship-to GLN (taken off an earlier run's address)."""
    free_gln(rpc, gln)
    return rpc.execute_kw("res.partner", "create", [{"name": name, "type": "delivery", "parent_id": customer,
                                                     "barcode": gln}])


def archive_products_with_barcode(rpc: odoorpc.ODOO, barcode: str) -> None:
    """Free a product barcode that an earlier run's product holds, as an admin would retire a product: Odoo keeps
    a barcode to one active product."""
    holders = rpc.execute_kw("product.product", "search", [[("barcode", "=", barcode)]])
    if holders:
        rpc.execute_kw("product.product", "write", [holders, {"active": False}])


def sample_product(rpc: odoorpc.ODOO, client: OdooClient, product: dict) -> int:
    """One of PRODUCTS: found by its barcode (an earlier run made it) and set up again, or made."""
    unit = _unit(rpc, product["uom"])
    values = {"name": product["name"], "default_code": product["default_code"], "barcode": product["barcode"],
              "list_price": product["list_price"], "uom_id": unit, "uom_po_id": unit,
              **client.storable_product_values()}
    found = rpc.execute_kw("product.product", "search", [[("barcode", "=", product["barcode"])]])
    if found:
        rpc.execute_kw("product.product", "write", [found, {k: v for k, v in values.items() if k != "barcode"}])
        return found[0]
    return rpc.execute_kw("product.product", "create", [values])


@pytest.fixture(params=["sandbox-jsonrpc", "sandbox-json2", "live"])
def odoo(request, monkeypatch, tmp_path):
    tag = uuid.uuid4().hex[:8].upper()
    if request.param == "live":
        url, db, user, password = live_odoo("the delivery tests")
        json2 = os.environ.get("EDIGW_ODOO_API") == "json2" and bool(os.environ.get("EDIGW_ODOO_API_KEY"))
        api, api_key = ("json2", os.environ["EDIGW_ODOO_API_KEY"]) if json2 else ("jsonrpc", "")
        running = None
    else:
        running = start(state_file=tmp_path / "odoo-state.json")  # kept in a file: it can restart
        url, db, user, password = running.url, "edi", "admin", "admin"
        api, api_key = request.param.removeprefix("sandbox-"), DEFAULT_API_KEY
    monkeypatch.setenv(PASSWORD_ENV, password)
    monkeypatch.setenv(API_KEY_ENV, api_key)
    json2_requests = _count_json2_requests(monkeypatch)
    rpc = odoorpc_login(url, db, user, password)
    client = OdooClient(OdooSettings(url=url, db=db, user=user, password_env=PASSWORD_ENV))
    customers, products = _seed(rpc, client, tag)
    odoo = Odoo(url, db, user, password, rpc, tag, running, customers, products, api)
    yield odoo
    if odoo.sandbox is not None:
        odoo.sandbox.stop()
        # The tests' own calls are JSON-RPC: any JSON-2 request came from the gateway.
        assert bool(json2_requests) == (api == "json2"), f"the gateway did not talk to Odoo over {api}"


def _count_json2_requests(monkeypatch) -> list[str]:
    """The paths of the JSON-2 requests the sandbox (this one or a restarted one) answers from now on."""
    seen: list[str] = []
    answer = Sandbox.json2

    def counted(sandbox: Sandbox, path: str, *args):
        seen.append(path)
        return answer(sandbox, path, *args)

    monkeypatch.setattr(Sandbox, "json2", counted)
    return seen


def make_profile(tmp_path: Path, odoo: Odoo, partner: str, ref: str | None = None, **delivery) -> Profile:
    """A shipped partner profile pointing at this run's customer (or `ref`), with `delivery:` settings."""
    text = (ROOT / "partners" / f"{partner}.yaml").read_text(encoding="utf-8")
    for key in ("ACME", "BIGBOX", "CORNER"):
        text = text.replace(f"ref: {key}}}", f"ref: {ref or odoo.ref(key)}}}")
    if delivery:
        text += "delivery: " + json.dumps(delivery) + "\n"
    folder = tmp_path / "partners"
    folder.mkdir(exist_ok=True)
    path = folder / f"{partner}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path, tmp_path / "state", ROOT / "templates")


def documents(sample: str, profile: Profile) -> dict[str, dict]:
    """The documents a shipped sample translates to, by document number (the pipeline's own code)."""
    data = (SAMPLES / sample).read_bytes()
    _, events = formats.parse(data, csv_layout=TEMPLATES.csv_layout(profile),
                              expected_sender=profile.sender_id(formats.sniff(data) or "csv"))
    found = {}
    for event in events:
        if isinstance(event, ParsedMessage):
            outcome = translate_parsed(event, profile, TEMPLATES)
            assert outcome.state == "translated", outcome.reason
            found[outcome.document["document_number"]] = outcome.document
    return found


def deliverer_for(odoo: Odoo, **client_options) -> OdooDeliverer:
    settings = odoo.settings()
    return OdooDeliverer(settings, OdooClient(settings, **client_options) if client_options else None)


ACME = "acme-retail/ORDERS_4500012.edi"
BIGBOX = "bigbox-stores/850_PO-77812.x12"
CORNER = "corner-shop/orders-2026-11-20.csv"


# --- a correct sale order, once -------------------------------------------------------------


def test_an_edifact_order_becomes_one_sale_order_with_customer_address_products_units_and_prices(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    result = deliverer_for(odoo).deliver(profile, "Order", order)
    assert result.state == "delivered", result.reason
    [made] = odoo.orders("ACME", "4500012")
    assert result.record == {"model": "sale.order", "id": made["id"], "name": made["name"], "created": True,
                             "state": "draft", "amount_total": made["amount_total"], "lines": 2}
    assert made["partner_id"][0] == odoo.customers["ACME"]
    assert made["partner_shipping_id"][1].endswith("ACME Lager Nord")
    assert made["commitment_date"].startswith("2026-11-27")
    assert "Deliver to dock 3 before noon" in made["note"]
    lines = odoo.lines(made)
    assert [(line["product_id"][0], line["product_uom_qty"], line["product_uom"][1], line["price_unit"])
            for line in lines] == [(odoo.products["AX-100"], 48.0, "Units", 3.25),
                                   (odoo.products["AX-220"], 12.5, "kg", 11.9)]


def test_an_x12_order_finds_products_by_our_code_when_their_upc_is_unknown(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "bigbox-stores")
    order = documents(BIGBOX, profile)["PO-77812"]
    order["lines"] = order["lines"][:1]  # AX-100 in Units; their UPC is not our barcode
    result = deliverer_for(odoo).deliver(profile, "Order", order)
    assert result.state == "delivered", result.reason
    [made] = odoo.orders("BIGBOX", "PO-77812")
    assert made["partner_shipping_id"][1].endswith("BigBox DC 4")
    [line] = odoo.lines(made)
    assert (line["product_id"][0], line["product_uom_qty"], line["price_unit"]) == (odoo.products["AX-100"], 24.0, 12.5)


def test_a_csv_order_without_a_delivery_address_goes_to_the_customer(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "corner-shop")
    order = documents(CORNER, profile)["CS-1001"]
    assert deliverer_for(odoo).deliver(profile, "Order", order).state == "delivered"
    [made] = odoo.orders("CORNER", "CS-1001")
    assert made["partner_shipping_id"][0] == odoo.customers["CORNER"]
    assert [line["product_id"][0] for line in odoo.lines(made)] == [odoo.products["AX-100"], odoo.products["AX-310"]]


def test_the_customers_item_number_finds_our_product_through_the_profile_cross_reference(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail", item_xref={"8812": "AX-220"})
    order = documents(ACME, profile)["4500012"]
    line = order["lines"][1]
    del line["gtin"], line["supplier_item"]
    assert line["buyer_item"] == "8812"
    assert deliverer_for(odoo).deliver(profile, "Order", order).state == "delivered"
    [made] = odoo.orders("ACME", "4500012")
    assert odoo.lines(made)[1]["product_id"][0] == odoo.products["AX-220"]


def test_delivering_the_same_order_twice_makes_one_sale_order(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    deliverer = deliverer_for(odoo)
    first = deliverer.deliver(profile, "Order", order)
    second = deliverer_for(odoo).deliver(profile, "Order", order)
    assert first.record["created"] is True and second.record["created"] is False
    assert second.state == "delivered" and second.record["id"] == first.record["id"]
    assert len(odoo.orders("ACME", "4500012")) == 1


def test_the_profile_can_have_orders_confirmed(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail", confirm=True)
    result = deliverer_for(odoo).deliver(profile, "Order", documents(ACME, profile)["4500012"])
    assert result.state == "delivered" and result.record["state"] == "sale"
    assert odoo.orders("ACME", "4500012")[0]["state"] == "sale"


# --- the order's currency ---------------------------------------------------------------------


def currency_of(odoo: Odoo, order: dict) -> tuple[str, str]:
    [row] = odoo.call("sale.order", "read", [order["id"]], fields=["currency_id", "pricelist_id"])
    return row["currency_id"][1], row["pricelist_id"] and row["pricelist_id"][1]


def test_an_order_in_euros_becomes_a_sale_order_in_euros_on_the_customers_pricelist(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    assert order["currency"] == "EUR"
    assert deliverer_for(odoo).deliver(profile, "Order", order).state == "delivered"
    [made] = odoo.orders("ACME", "4500012")
    assert currency_of(odoo, made) == ("EUR", f"{EURO_PRICELIST} (EUR)")
    assert [line["price_unit"] for line in odoo.lines(made)] == [3.25, 11.9]  # the order's prices, in EUR


def test_an_order_in_a_currency_the_customer_does_not_buy_in_is_held_until_the_profile_names_a_pricelist(
        odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail", ref=odoo.ref("CORNER"))  # CORNER buys in USD
    order = documents(ACME, profile)["4500012"]
    del order["ship_to"]  # ACME's dock: CORNER has none
    held = deliverer_for(odoo).deliver(profile, "Order", order)
    assert held.state == "held"
    assert held.reason.startswith(f"the order is in EUR, but customer Corner {odoo.tag} buys in USD (")
    assert (f"give the customer a EUR pricelist in Odoo or name one under delivery.pricelists in acme-retail.yaml "
            f"(EUR pricelists in Odoo: ") in held.reason and f"{EURO_PRICELIST} (EUR)" in held.reason
    assert odoo.orders("CORNER") == []
    named = make_profile(tmp_path, odoo, "acme-retail", ref=odoo.ref("CORNER"), pricelists={"EUR": EURO_PRICELIST})
    assert deliverer_for(odoo).deliver(named, "Order", order).state == "delivered"
    [made] = odoo.orders("CORNER", "4500012")
    assert currency_of(odoo, made)[0] == "EUR"


def test_a_pricelist_the_profile_names_in_another_currency_or_not_at_all_holds_the_order(odoo, tmp_path):
    order = documents(ACME, make_profile(tmp_path, odoo, "acme-retail"))["4500012"]
    usd = odoo.call("product.pricelist", "search_read", [("currency_id.name", "=", "USD")], fields=["name"], limit=1)
    wrong = {"EUR": usd[0]["name"]} if usd else {"EUR": "no such pricelist"}
    held = deliverer_for(odoo).deliver(make_profile(tmp_path, odoo, "acme-retail", pricelists=wrong), "Order", order)
    assert held.state == "held"
    assert held.reason.startswith(f"delivery.pricelists in acme-retail.yaml names pricelist ")
    assert ("but that pricelist is in USD" if usd else "and Odoo has none of that name or id") in held.reason
    order["currency"] = "XQZ"  # no such ISO 4217 code
    held = deliverer_for(odoo).deliver(make_profile(tmp_path, odoo, "acme-retail"), "Order", order)
    assert held.reason == f"the order is in XQZ, a currency Odoo does not know (customer Acme {odoo.tag} buys in EUR)"
    assert odoo.orders("ACME") == []


def test_an_order_in_the_customers_own_currency_needs_no_pricelist(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "bigbox-stores")
    order = documents(BIGBOX, profile)["PO-77812"]
    order["lines"] = order["lines"][:1]
    assert order["currency"] == "USD"
    assert deliverer_for(odoo).deliver(profile, "Order", order).state == "delivered"
    assert currency_of(odoo, odoo.orders("BIGBOX", "PO-77812")[0])[0] == "USD"


# --- held, not lost -------------------------------------------------------------------------


def test_an_unknown_product_holds_the_message_naming_the_code_the_partner_sent(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    order["lines"][1].update(gtin="5790000099999", supplier_item="AX-999")
    result = deliverer_for(odoo).deliver(profile, "Order", order)
    assert result.state == "held"
    assert result.reason == "line 2: no product with barcode 5790000099999 or code AX-999 or customer item 8812 " \
                            "(not in delivery.item_xref)"
    assert odoo.orders("ACME") == []


def test_a_unit_of_another_category_is_held_before_anything_is_written(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    order["lines"][1]["uom"] = "Units"  # 12.5 Units of a product sold by the kg: Odoo's create would accept it
    result = deliverer_for(odoo).deliver(profile, "Order", order)
    assert result.state == "held"
    assert result.reason == "line 2: unit Units (Unit) does not fit product [AX-220] Door handle, brushed, " \
                            "which is sold in kg (Weight)"
    assert odoo.orders("ACME") == []


def test_an_unknown_unit_is_held_and_a_partner_override_maps_it(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    order["lines"][0]["uom"] = "BX6"
    assert "line 1: no unit 'BX6' in Odoo" in deliverer_for(odoo).deliver(profile, "Order", order).reason
    mapped = make_profile(tmp_path, odoo, "acme-retail", units={"BX6": "Dozens"})
    assert deliverer_for(odoo).deliver(mapped, "Order", order).state == "delivered"
    [made] = odoo.orders("ACME", "4500012")
    assert odoo.lines(made)[0]["product_uom"][1] == "Dozens"


def test_a_price_with_more_decimals_than_odoo_keeps_is_held_or_noted_per_profile(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    order["lines"][0]["unit_price"] = "3.125"
    held = deliverer_for(odoo).deliver(profile, "Order", order)
    assert held.state == "held" and "line 1: price 3.125 has more decimals than Odoo keeps (2)" in held.reason
    noting = make_profile(tmp_path, odoo, "acme-retail", price_decimals="note")
    delivered = deliverer_for(odoo).deliver(noting, "Order", order)
    assert delivered.state == "delivered" and "Odoo rounds it to 3.13" in delivered.reason


def test_a_price_outside_the_profile_tolerance_is_held(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "bigbox-stores", price_tolerance=10)
    order = documents(BIGBOX, profile)["PO-77812"]
    order["lines"] = order["lines"][:1]  # AX-100 at 12.50 against a sales price of 3.25
    result = deliverer_for(odoo).deliver(profile, "Order", order)
    assert result.state == "held"
    assert "line 1: price 12.5 is 284.6% off the sales price 3.25 of [AX-100] Steel hinge 100 mm (tolerance 10%)" \
           == result.reason


def test_an_unknown_delivery_address_is_held_unless_the_profile_allows_creating_it(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    gln = "40" + str(uuid.uuid4().int)[:11]
    order["ship_to"] = {"gln": gln, "name": "ACME Lager Süd", "city": "München", "country": "DE"}
    held = deliverer_for(odoo).deliver(profile, "Order", order)
    assert held.state == "held" and f"no delivery address with GLN {gln} under customer" in held.reason
    creating = make_profile(tmp_path, odoo, "acme-retail", create_addresses=True)
    result = deliverer_for(odoo).deliver(creating, "Order", order)
    assert result.state == "delivered"
    [made] = odoo.orders("ACME", "4500012")
    [address] = odoo.call("res.partner", "read", [made["partner_shipping_id"][0]],
                          fields=["parent_id", "type", "barcode", "city", "country_id"])
    assert (address["parent_id"][0], address["type"], address["barcode"], address["city"]) == (
        odoo.customers["ACME"], "delivery", gln, "München")
    assert address["country_id"][1] == "Germany"


def test_a_new_delivery_address_whose_gln_another_partner_has_is_held_naming_that_partner(odoo, tmp_path):
    # A barcode is unique among Odoo's active partners: creating the address would be refused.
    profile = make_profile(tmp_path, odoo, "acme-retail", create_addresses=True)
    order = documents(ACME, profile)["4500012"]
    gln = "40" + str(uuid.uuid4().int)[:11]
    odoo.call("res.partner", "create", {"name": f"Other DC {odoo.tag}", "type": "delivery", "barcode": gln,
                                        "parent_id": odoo.customers["BIGBOX"]})
    order["ship_to"] = {"gln": gln, "name": "ACME Lager Süd", "city": "München", "country": "DE"}
    held = deliverer_for(odoo).deliver(profile, "Order", order)
    assert held.state == "held"
    assert held.reason == (f"the ship-to GLN {gln} is the barcode of Other DC {odoo.tag} (a contact of Bigbox "
                           f"{odoo.tag}), not of a contact of Acme {odoo.tag}: make it a delivery address of Acme "
                           f"{odoo.tag} or take the barcode off it in Odoo")
    assert odoo.orders("ACME", "4500012") == []


def test_an_unknown_customer_is_held(odoo, tmp_path):
    unknown = make_profile(tmp_path, odoo, "acme-retail", ref=f"NOBODY-{odoo.tag}")
    order = documents(ACME, unknown)["4500012"]
    result = deliverer_for(odoo).deliver(unknown, "Order", order)
    assert result.state == "held" and f"no Odoo customer with ref NOBODY-{odoo.tag}" in result.reason


def test_a_held_order_is_delivered_once_the_product_exists(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    order = documents(ACME, profile)["4500012"]
    code = f"NEW-{odoo.tag}"
    order["lines"][1].update(gtin=None, supplier_item=code, buyer_item=None, uom="Units", quantity="12")
    deliverer = deliverer_for(odoo)
    assert deliverer.deliver(profile, "Order", order).state == "held"
    odoo.call("product.product", "create", {"name": "New thing", "default_code": code})
    result = deliverer.deliver(profile, "Order", order)
    assert result.state == "delivered", result.reason


# --- through the pipeline: crashes, outages, the store ---------------------------------------


def pipeline_for(tmp_path: Path, profile: Profile, deliverer: OdooDeliverer) -> Pipeline:
    settings = settings_from({"state_dir": str(tmp_path / "state")}, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'edigw.db'}")
    return Pipeline(settings, store, Archive(tmp_path / "archive"), {profile.id: profile}, TEMPLATES,
                    deliverer=deliverer)


def take_in(pipeline: Pipeline, profile: Profile, sample: str) -> int:
    path = SAMPLES / sample
    with path.open("rb") as stream:
        return pipeline.intake(profile, claimed_file_for(path, f"{profile.id}/inbox"), stream)


def message_rows(pipeline: Pipeline) -> dict[str, Message]:
    with pipeline.store.session() as session:
        rows = session.query(Message).filter(Message.direction == "in").all()
        session.expunge_all()
    return {row.document_number: row for row in rows}


def test_a_crash_between_odoo_s_commit_and_ours_makes_no_second_order(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    first = pipeline_for(tmp_path, profile, None)
    first.process(take_in(first, profile, ACME))  # translated, not yet delivered
    message = message_rows(first)["4500012"]
    # The delivery reached Odoo and the process died before the store recorded it:
    deliverer_for(odoo).deliver(profile, "Order", json.loads(message.document))
    restarted = pipeline_for(tmp_path, profile, deliverer_for(odoo))
    restarted.deliver_pending()
    row = message_rows(restarted)["4500012"]
    assert row.state == "delivered" and json.loads(row.result)["created"] is False
    assert len(odoo.orders("ACME", "4500012")) == 1
    assert restarted.reprocess(row.id, "deliver") == "delivered"
    assert len(odoo.orders("ACME", "4500012")) == 1


def test_the_pipeline_looks_up_the_orders_it_delivers_in_one_call(odoo, tmp_path):
    profile = make_profile(tmp_path, odoo, "acme-retail")
    deliverer = deliverer_for(odoo)
    for number, order in documents(ACME, profile).items():  # warm: connection, customer, products, units
        assert deliverer.deliver(profile, "Order", {**order, "document_number": f"W{number}"}).state == "delivered"
    pipeline = pipeline_for(tmp_path, profile, deliverer)
    translated = pipeline_for(tmp_path, profile, None)
    translated.process(take_in(translated, profile, ACME))
    before = deliverer.client.calls
    assert pipeline.deliver_pending() == 2
    assert deliverer.client.calls - before == 3  # one look-up for both orders, one create each
    assert {row.state for row in message_rows(pipeline).values()} == {"delivered"}
    assert len(odoo.orders("ACME", "4500012")) == 1 and len(odoo.orders("ACME", "4500013")) == 1


def test_odoo_down_makes_the_message_retrying_and_it_goes_through_when_odoo_is_back(odoo, tmp_path):
    if odoo.sandbox is None:
        pytest.skip("stopping and restarting a live Odoo is not the test's to do")
    profile = make_profile(tmp_path, odoo, "acme-retail")
    state, port = odoo.sandbox.sandbox.state_file, odoo.sandbox.port
    odoo.sandbox.stop()
    pipeline = pipeline_for(tmp_path, profile, deliverer_for(odoo, attempts=2, backoff=0.01))
    pipeline.process(take_in(pipeline, profile, ACME))
    rows = message_rows(pipeline)
    assert {row.state for row in rows.values()} == {"retrying"}
    assert all(row.next_attempt_at > utcnow() for row in rows.values())
    assert "connection refused" in rows["4500012"].reason
    odoo.sandbox = start(port=port, state_file=state)
    with pipeline.store.session() as session:  # the next attempt is due
        for row in session.query(Message):
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
    assert pipeline.deliver_pending() == 2
    assert {row.state for row in message_rows(pipeline).values()} == {"delivered"}
    assert len(odoo.orders("ACME", "4500012")) == 1 and len(odoo.orders("ACME", "4500013")) == 1


# --- economy ---------------------------------------------------------------------------------


@pytest.fixture
def many_products(odoo):
    """100 products with barcodes unique to this run, made in one call."""
    client = OdooClient(odoo.settings())
    values = [{"name": f"Bulk {odoo.tag} {n}", "default_code": f"BULK-{odoo.tag}-{n}",
               "barcode": f"29{odoo.tag}{n:03d}", **client.storable_product_values()} for n in range(100)]
    ids = odoo.call("product.product", "create", values)
    return [value["barcode"] for value in values], ids


def bulk_order(number: str, barcodes: list[str], count: int) -> dict:
    return {"document_number": number, "lines": [
        {"line_number": str(n + 1), "gtin": barcodes[n % len(barcodes)], "quantity": "2", "uom": "Units",
         "unit_price": "1.50"} for n in range(count)]}


@pytest.mark.parametrize("lines", [1, 10, 100])
@pytest.mark.parametrize("confirm", [False, True])
def test_an_order_costs_at_most_3_rpc_calls_after_warm_up_whatever_its_size(odoo, tmp_path, many_products,
                                                                             lines, confirm):
    barcodes, _ = many_products
    profile = make_profile(tmp_path, odoo, "corner-shop", confirm=confirm)
    deliverer = deliverer_for(odoo)
    assert deliverer.deliver(profile, "Order", bulk_order(f"WARM-{lines}", barcodes, 100)).state == "delivered"
    before = deliverer.client.calls
    result = deliverer.deliver(profile, "Order", bulk_order(f"BULK-{lines}", barcodes, lines))
    assert result.state == "delivered" and result.record["lines"] == lines
    assert deliverer.client.calls - before <= (3 if confirm else 2)  # look-up, create (web_save), confirm
    [made] = odoo.orders("CORNER", f"BULK-{lines}")
    assert len(made["order_line"]) == lines
    # no read-back, and the record says what Odoo has
    assert (result.record["name"], result.record["state"], result.record["amount_total"]) == (
        made["name"], made["state"], made["amount_total"])


@pytest.mark.parametrize("confirm", [False, True])
def test_a_batch_of_orders_is_looked_up_in_one_call_and_each_costs_its_create(odoo, tmp_path, many_products, confirm):
    barcodes, _ = many_products
    profile = make_profile(tmp_path, odoo, "corner-shop", confirm=confirm)
    deliverer = deliverer_for(odoo)
    assert deliverer.deliver(profile, "Order", bulk_order("WARM", barcodes, 100)).state == "delivered"
    before = deliverer.client.calls
    orders = [bulk_order(f"BATCH-{n}", barcodes, 10) for n in range(10)] + [bulk_order("WARM", barcodes, 100)]
    deliverer.prepare([(profile, "Order", order) for order in orders])
    results = [deliverer.deliver(profile, "Order", order) for order in orders]
    assert [r.record["created"] for r in results] == [True] * 10 + [False]  # WARM was found in the batch look-up
    assert deliverer.client.calls - before == 1 + 10 * (2 if confirm else 1)
    assert len(odoo.orders("CORNER")) == 11
    again = deliverer.deliver(profile, "Order", orders[0])  # a look-up stands for one delivery: this one looks
    assert again.record["created"] is False and again.record["id"] == results[0].record["id"]


def test_products_not_seen_before_cost_one_search_read_for_the_whole_order(odoo, tmp_path, many_products):
    barcodes, _ = many_products
    profile = make_profile(tmp_path, odoo, "corner-shop")
    deliverer = deliverer_for(odoo)
    deliverer.deliver(profile, "Order", bulk_order("WARM", barcodes[:1], 1))
    before = deliverer.client.calls
    assert deliverer.deliver(profile, "Order", bulk_order("COLD", barcodes[1:], 99)).state == "delivered"
    assert deliverer.client.calls - before == 3  # look-up, products, create (web_save: no read back)


# --- the command line ------------------------------------------------------------------------


def gateway_for(tmp_path: Path, odoo: Odoo):
    gateway = make_gateway(tmp_path / "gw")
    for path in gateway.partners.iterdir():
        text = path.read_text(encoding="utf-8")
        for key in ("ACME", "BIGBOX", "CORNER"):
            text = text.replace(f"ref: {key}}}", f"ref: {odoo.ref(key)}}}")
        path.write_text(text, encoding="utf-8")
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(f'\n[odoo]\nurl = "{odoo.url}"\ndb = "{odoo.db}"\nuser = "{odoo.user}"\n'
                     f'password_env = "{PASSWORD_ENV}"\napi = "{odoo.api}"\napi_key_env = "{API_KEY_ENV}"\n')
    return gateway


def test_run_once_delivers_the_shipped_samples_as_sale_orders(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    states = {m["document_number"]: m["state"] for m in gateway.messages()}
    assert states == {"4500012": "delivered", "4500013": "delivered", "CS-1001": "delivered",
                      "CS-1002": "delivered", "PO-77812": "delivered"}
    assert [o["client_order_ref"] for o in odoo.orders("ACME")] == ["4500012", "4500013"]
    assert [o["client_order_ref"] for o in odoo.orders("CORNER")] == ["CS-1001", "CS-1002"]
    [po] = odoo.orders("BIGBOX")
    assert po["client_order_ref"] == "PO-77812" and po["partner_shipping_id"][1].endswith("BigBox DC 4")
    assert [(line["product_id"][0], line["product_uom_qty"], line["price_unit"]) for line in odoo.lines(po)] == [
        (odoo.products["AX-100"], 24.0, 12.5), (odoo.products["AX-310"], 500.0, 0.52)]
    [cs1002] = odoo.orders("CORNER", "CS-1002")
    [line] = odoo.lines(cs1002)
    assert (line["product_id"][0], line["product_uom_qty"], line["product_uom"][1], line["price_unit"]) == (
        odoo.products["AX-220"], 2.0, "kg", 12.1)
    delivered = next(m for m in gateway.messages() if m["document_number"] == "4500012")
    detail = gateway.json("messages", "show", str(delivered["id"]))
    assert detail["result"]["name"] == odoo.orders("ACME", "4500012")[0]["name"]
    gateway.run("reprocess", str(delivered["id"]), "--from", "deliver")
    gateway.run("reprocess", str(delivered["id"]), "--from", "parse")
    assert len(odoo.orders("ACME", "4500012")) == 1


def test_partners_test_shows_the_sale_order_a_file_would_make_and_writes_nothing(odoo, tmp_path):
    gateway = gateway_for(tmp_path, odoo)
    shown = gateway.run("partners", "test", "acme-retail", str(SAMPLES / ACME))
    text = shown.stdout.decode()
    assert "4500012: create a sale order for Acme" in text
    assert "line 2: 12.5 kg of [AX-220] Door handle, brushed at 11.9" in text
    report = json.loads(gateway.run("partners", "test", "bigbox-stores", str(SAMPLES / BIGBOX), "--json").stdout)
    [preview] = report["odoo"]
    assert preview["action"] == "create" and preview["values"]["client_order_ref"] == "PO-77812"
    assert [line["product"] for line in preview["lines"]] == ["[AX-100] Steel hinge 100 mm", "[AX-310] Wood screw 4x40"]
    assert odoo.orders("ACME") == [] and odoo.orders("BIGBOX") == []
