"""Catalogs (PRICAT / 832) as messages: the base templates read the real catalogs of the corpus
into `Catalog` documents, and the outbound templates write our catalog so that it reads back the same."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import CORPUS, ROOT
from test_outbound_templates import catalog, envelope, read_back, tagged

from gateway import formats
from gateway.documents import Catalog, CatalogLine, Party
from gateway.formats import render
from gateway.formats.model import Message
from gateway.mapping import load_template
from gateway.mapping.outbound import load_outbound_template

TEMPLATES = ROOT / "templates"


def messages(path) -> list[Message]:
    _, events = formats.parse(path.read_bytes())
    return [event for event in events if isinstance(event, Message)]


def translated(path, name: str) -> tuple[Catalog, list]:
    [message] = messages(path)
    return load_template(TEMPLATES, name).translate(message.tree)


def test_an_eancom_pricat_from_sap_reads_as_a_catalog_of_its_62_items() -> None:
    document, problems = translated(CORPUS / "edifact/PRICAT/bots_pricat_d96a_ean005_sap.edi",
                                    "edifact/PRICAT_D96A")

    assert [p for p in problems if p.severity == "error"] == []
    assert (document.document_number, document.document_date, document.currency) == ("267789", "2013-01-23", "EUR")
    assert document.buyer.gln == "MIDCLNT010" and document.supplier.gln == "0000001173"
    assert len(document.lines) == 62
    first = document.lines[0]
    assert (first.gtin, first.supplier_item, first.description) == (
        "1641100101014", "4110010101", "REFERENCE ARTICLE , BLACK/WHITE/MET")
    # PRI NTP:100::SRP is a suggested retail price, not what the buyer pays: no unit_price is invented.
    assert (first.retail_price, first.unit_price, first.valid_from) == ("100", None, "2007-09-25")
    assert document.lines[-1].retail_price == "30"


def test_an_832_with_tiers_and_sub_lines_reads_its_contract_validity_and_first_price() -> None:
    document, problems = translated(CORPUS / "x12/832/oopfactory_832_004010_hibcc_sln.x12", "x12/832_004010")

    assert (document.document_number, document.purpose) == ("CT21000", "changes")  # BCT10 02: additions
    assert (document.valid_from, document.valid_to) == ("2000-01-01", "2000-12-31")
    assert (document.supplier.id, document.buyer.id) == ("08KUG8732", "8Y67JSD66")
    [line] = document.lines
    assert (line.gtin, line.supplier_item, line.unit_price, line.uom) == ("50387698433528", "1000", "65", "CA")
    assert any("code CA is not in code list units" in p.reason for p in problems)


def test_an_832_catalog_price_retail_price_and_minimum_order_quantity() -> None:
    [message] = messages(CORPUS / "x12/832/oopfactory_832_004010_hibcc_caret.x12")
    document, _ = load_template(TEMPLATES, "x12/832_004010").translate(message.tree)

    [line] = document.lines
    assert (line.unit_price, line.retail_price, line.minimum_quantity) == ("66.50", "88.50", "1")
    assert (document.document_number, document.note) == ("2000", "Medical/Surgical Products")


@pytest.mark.parametrize("outbound, inbound", [
    ("outbound/edifact/PRICAT_D96A", "edifact/PRICAT_D96A"),
    ("outbound/x12/832_004010", "x12/832_004010"),
])
def test_a_catalog_written_and_read_back_is_the_same_catalog(outbound, inbound) -> None:
    ours = catalog()
    template = load_outbound_template(TEMPLATES, outbound)
    message = read_back(envelope(template, template.render(ours)))
    back, problems = load_template(TEMPLATES, inbound).translate(message.tree)

    assert [p for p in problems if p.severity == "error"] == []
    assert back == ours


def test_a_changes_catalog_says_so_and_marks_each_item() -> None:
    changes = dataclasses.replace(catalog(), purpose="changes", lines=[
        dataclasses.replace(line, action="change") for line in catalog().lines[:1]] + [
        CatalogLine(line_number="2", supplier_item="OLD-1", action="delete")])
    template = load_outbound_template(TEMPLATES, "outbound/edifact/PRICAT_D96A")
    segments = render.body_segments(read_back(envelope(template, template.render(changes))).tree)

    assert tagged(segments, "BGM") == [["BGM", "9", "CAT-20260302-7", "4"]]
    assert [s[2] for s in tagged(segments, "LIN")] == ["3", "2"]


@pytest.mark.parametrize("outbound", ["outbound/edifact/PRICAT_D96A", "outbound/x12/832_004010"])
def test_a_party_known_by_name_only_is_written_without_an_identifier(outbound) -> None:
    nameless = dataclasses.replace(catalog(), supplier=Party(name="My Company", country="US"))
    template = load_outbound_template(TEMPLATES, outbound)
    segments = render.body_segments(read_back(envelope(template, template.render(nameless))).tree)

    party = [s for s in segments if s[0] in ("N1", "NAD") and s[1] == "SU"]
    assert party and "My Company" in str(party[0]) and "91" not in party[0]


def test_a_006020_fee_schedule_reads_its_seven_prices_and_names_no_product() -> None:
    document, problems = translated(CORPUS / "x12/832/stupidedi_832_006020X304_fee_schedule.x12", "x12/832_004010")

    assert [p for p in problems if p.severity == "error"] == []
    assert document.document_number == "SHP-PPO-2012"
    assert [line.unit_price for line in document.lines] == ["26.45", "37.75", "53", "72.15", "12", "15", "13"]
    # HC procedure codes are not product numbers: none is invented, so no item would match a product.
    assert all(line.gtin is None and line.supplier_item is None for line in document.lines)


# --- catalogs of changes and pricelist rules (pure functions of gateway.odoo.catalogs) ----------


def test_a_catalog_of_changes_has_the_added_changed_and_deleted_items_only() -> None:
    from gateway.odoo.catalogs import changes_since, fingerprint, item_key

    before = catalog()
    sent = {item_key(line): (fingerprint(line), dataclasses.asdict(line)) for line in before.lines}
    now = dataclasses.replace(before, lines=[
        dataclasses.replace(before.lines[0], unit_price="12.9"),  # changed
        before.lines[1],  # the same
        CatalogLine(line_number="3", supplier_item="NEW-1", unit_price="3"),  # added
    ])  # GAD-7 is gone

    changes = changes_since(now, sent)

    assert changes.purpose == "changes"
    assert [(line.line_number, line.supplier_item, line.action) for line in changes.lines] == [
        ("1", "WID-100", "change"), ("2", "NEW-1", "add"), ("3", "GAD-7", "delete")]
    assert changes.lines[2].description == "Gadget"  # a deleted item is named as it was sent


def test_the_most_specific_pricelist_rule_prices_each_minimum_quantity() -> None:
    from decimal import Decimal

    from gateway.odoo.catalogs import _prices, _Rules

    product = {"id": 5, "product_tmpl_id": [9, "Widget"], "categ_id": [2, "All"], "list_price": 20.0,
               "currency_id": [1, "USD"]}
    rules = _Rules([
        {"applied_on": "3_global", "compute_price": "percentage", "percent_price": 10, "min_quantity": 0},
        {"applied_on": "2_product_category", "categ_id": [2, "All"], "compute_price": "percentage",
         "percent_price": 15, "min_quantity": 50},
        {"applied_on": "1_product", "product_tmpl_id": [9, "Widget"], "compute_price": "fixed", "fixed_price": 16,
         "min_quantity": 50},
        {"applied_on": "1_product", "product_tmpl_id": [8, "Other"], "compute_price": "fixed", "fixed_price": 1,
         "min_quantity": 0},
    ])

    priced = [(minimum, price) for minimum, price, _ in _prices(product, rules, "USD")]

    assert priced == [(Decimal(0), Decimal("18.00")), (Decimal(50), Decimal(16))]
    assert _prices(product, rules, "EUR") == [(Decimal(50), Decimal(16), rules.of(product)[0])]  # no sales price in EUR


def test_the_hibcc_832_with_a_date_after_td4_is_rejected_strictly_and_read_where_partners_may_differ() -> None:
    from gateway.formats.validation import Options

    data = (CORPUS / "x12/832/oopfactory_832_004010_hibcc_caret.x12").read_bytes()
    [strict] = [e for e in formats.parse(data)[1] if isinstance(e, Message)]
    [lenient] = [e for e in formats.parse(data, options=Options(segment_order="lenient"))[1] if isinstance(e, Message)]

    assert strict.status == "rejected"
    assert any("DTM is out of order" in issue.reason for issue in strict.errors)
    assert lenient.status == "accepted"
    assert any(issue.severity == "warning" and "DTM" in issue.reason for issue in lenient.errors)


def test_an_eancom_pricat_of_retail_prices_only_gives_no_unit_price() -> None:
    document, problems = translated(CORPUS / "edifact/PRICAT/bots_pricat_d96a_ean005_one_item.edi",
                                    "edifact/PRICAT_D96A")

    assert problems == []
    assert (document.document_number, document.purpose, document.currency) == ("267798", "full", "EUR")
    [line] = document.lines
    assert (line.gtin, line.supplier_item, line.description) == ("1645866600002", "458666", "Marc testartikel")
    assert (line.unit_price, line.retail_price, line.valid_from) == (None, "50", "2007-09-25")


def test_a_csv_article_list_reads_as_one_catalog_of_retail_prices_with_its_dates() -> None:
    template = load_template(TEMPLATES, "csv/pricat_articles")
    data = (CORPUS / "csv/PRICAT/bots_articledata_semicolon.csv").read_bytes()
    [message] = [e for e in formats.parse(data, csv_layout=template.layout)[1] if isinstance(e, Message)]
    document, problems = template.translate(message.tree)

    assert problems == []
    assert [(line.line_number, line.buyer_item) for line in document.lines] == [
        ("2", "1234567890XXX"), ("3", "1234567891XXX"), ("4", "1234567892XXX")]
    first = document.lines[0]
    assert (first.gtin, first.supplier_item, first.description) == (
        "8712345678906", "123456", "Description article 123456 L white")  # the blanks padding 'white' gone
    assert (first.retail_price, first.unit_price, first.valid_from, first.valid_to) == (
        "40", None, "2008-06-30", "2008-06-30")  # '       30-06-2008' read as a date
