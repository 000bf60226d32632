"""Stock reports (846 / INVRPT) read with the base templates, no partner needed: the real 846 of
the corpus, the shipped samples; and the profile keys that say what a report holds or means."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT
from gateway.profiles import ProfileError, load_profile

CORPUS_846 = CORPUS / "x12/846/oopfactory_846_004010_star_term_merged_segments.x12"


def inspect(path: Path) -> dict:
    """`edigw inspect --json`: its exit code is 1 when a message is rejected, the report is the same."""
    done = subprocess.run([sys.executable, "-m", "gateway", "inspect", "--json", str(path)], capture_output=True,
                          cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def only_message(report: dict) -> dict:
    [interchange] = report["interchanges"]
    [message] = interchange["messages"]
    return message


def test_the_corpus_846_with_two_lost_terminators_is_rejected_naming_both_fused_segments():
    message = only_message(inspect(CORPUS_846))

    assert (message["type"], message["version"], message["status"]) == ("846", "004010", "rejected")
    fused = {(error["position"], error["tag"]) for error in message["errors"] if error["severity"] == "error"}
    assert fused == {(13, "REF"), (23, "QTY")}  # REF~ZZ~ASIAQTY~17~403.32~FT and QTY~17~7280~FTCTT~5
    assert any("FTCTT" in error["reason"] for error in message["errors"])


def test_the_corpus_846_with_its_terminators_restored_reads_as_five_products(tmp_path):
    data = CORPUS_846.read_bytes()
    data = data.replace(b"ASIAQTY~17~403.32~FT*", b"ASIA*\r\n        QTY~17~403.32~FT*")
    data = data.replace(b"FTCTT~5*", b"FT*\r\n    CTT~5*").replace(b"SE~24~", b"SE~26~")
    repaired = tmp_path / "846.x12"
    repaired.write_bytes(data)
    message = only_message(inspect(repaired))

    assert message["status"] == "accepted" and message["document_type"] == "InventoryReport"
    document = message["document"]
    assert (document["document_number"], document["document_date"]) == ("20030828234648", "2003-08-28")
    assert [(line["buyer_item"], line["supplier_item"], line["unit_price"], line["quantity"], line["quantity_type"],
             line["uom"]) for line in document["lines"]] == [
        ("38490-B", "H304L0750040", "2.6", "1998.61", "on_hand", "ft"),
        ("38499-B", "H304L0750080", "3", "1777.18", "on_hand", "ft"),
        ("38496-B", "H316L0750040", "2.83", "403.32", "on_hand", "ft"),
        ("38502-B", "H316L0750080", "3.26", "3621.25", "on_hand", "ft"),
        ("35933", "I304/0250035Z", "0.567", "7280", "on_hand", "ft")]
    third = document["lines"][2]
    assert (third["on_order"], third["available_date"]) == ("1000", "2003-08-22")  # QTY 63 with its DTM 371


def test_a_3pls_invrpt_reads_with_its_location_and_each_products_stock_and_what_is_in_transit():
    message = only_message(inspect(ROOT / "samples/stock/INVRPT_antwerp-3pl.edi"))

    assert message["status"] == "accepted"
    document = message["document"]
    assert (document["location"], document["report_date"], document["ship_from"]["name"]) == (
        "ANTW1", "2026-12-05", "Example 3PL Antwerp")
    assert [(line["gtin"], line["quantity"], line["quantity_type"], line["quantity_code"], line.get("on_order"))
            for line in document["lines"]] == [
        ("4006381333931", "120", "free", "145", "40"), ("4006381333948", "0", "free", "145", None),
        ("4006381333955", "18.5", "free", "145", None)]
    assert document["lines"][2]["uom"] == "kg"


def test_a_suppliers_846_reads_with_what_it_has_on_order_and_when():
    message = only_message(inspect(ROOT / "samples/stock/846_nordic-parts.x12"))

    lines = message["document"]["lines"]
    assert [(line["supplier_item"], line["quantity"], line["quantity_type"], line.get("on_order"),
             line.get("available_date")) for line in lines] == [
        ("NP-HINGE-100", "480", "on_hand", "1000", "2026-12-19"), ("NP-HANDLE-BR", "0", "free", None, None)]


PROFILE = """\
name: Buyer
odoo_partner: {ref: BUYER}
identifiers:
  x12: {id: BUYER, qualifier: ZZ, gs_id: BUYER}
channels:
  edi: {type: folder, inbox: inbox/b, outbox: outbox/b}
"""


def test_a_customers_stock_report_rule_says_warehouses_quantity_products_and_mode(tmp_path):
    path = tmp_path / "buyer.yaml"
    path.write_text(PROFILE + """\
send:
  InventoryReport: {template: outbound/x12/846_004010, schedule: 15m, warehouses: [WH, WH2],
                    quantity: on_hand, products: all, mode: changes}
""", encoding="utf-8")
    profile = load_profile(path, tmp_path, ROOT / "templates")
    rule = profile.send_rule("InventoryReport")

    assert rule.schedule_seconds == 900
    assert (rule.inventory.warehouses, rule.inventory.quantity, rule.inventory.products, rule.inventory.mode) == (
        ("WH", "WH2"), "on_hand", "all", "changes")


@pytest.mark.parametrize("section, problem", [
    ("send:\n  InventoryReport: {template: outbound/x12/846_004010, quantity: reserved}\n",
     "buyer.yaml:8: send.InventoryReport.quantity must be one of free, on_hand, forecast, not 'reserved'"),
    ("send:\n  InventoryReport: {template: outbound/x12/846_004010, products: catalog}\n",
     "buyer.yaml:8: send.InventoryReport.products must be one of ordered, pricelist, all, not 'catalog'"),
    ("send:\n  OrderResponse: {template: outbound/x12/855_004010, warehouses: [WH]}\n",
     "buyer.yaml:8: unknown key 'warehouses' in send.OrderResponse"),
    ("inventory: {apply: adjust}\n",
     "buyer.yaml:7: inventory.apply: adjust needs inventory.warehouse"),
    ("inventory: {warehouse: WH2, apply: adjust, tolerance: lots}\n",
     "buyer.yaml:7: inventory.tolerance must be units (2) or a percent"),
])
def test_a_wrong_stock_report_setting_is_named_with_its_line(tmp_path, section, problem):
    path = tmp_path / "buyer.yaml"
    path.write_text(PROFILE + section, encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile(path, tmp_path, ROOT / "templates")
    assert any(problem in str(found) for found in raised.value.problems), raised.value.problems


def test_a_3pl_tolerance_is_units_or_a_percent_of_odoos_quantity(tmp_path):
    path = tmp_path / "threepl.yaml"
    for tolerance, expected in (("2", (2.0, None)), ('"5%"', (None, 5.0))):
        path.write_text(PROFILE + f"inventory: {{warehouse: ANT1, apply: adjust, tolerance: {tolerance}}}\n",
                        encoding="utf-8")
        policy = load_profile(path, tmp_path, ROOT / "templates").inventory
        assert (policy.warehouse, policy.apply, (policy.tolerance, policy.tolerance_percent)) == (
            "ANT1", "adjust", expected)
