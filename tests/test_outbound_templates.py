"""Outbound templates write canonical documents as valid EDIFACT and X12 messages, and say which
field is missing when they cannot."""

import dataclasses
import shutil
from datetime import datetime, timezone

import pytest
from conftest import ROOT

from gateway import formats
from gateway.documents import (
    Catalog, CatalogLine, DespatchAdvice, DespatchLine, InventoryLine, InventoryReport, Invoice, InvoiceLine, Order,
    OrderLine, OrderResponse, Package, Party, ResponseLine, TaxLine,
)
from gateway.formats import render
from gateway.formats.model import Interchange, Message
from gateway.formats.tree import segments_of
from gateway.formats.validation import validate
from gateway.mapping import TemplateError, base_template_names, load_template
from gateway.mapping.codelists import load_codelist as load_inbound_codelist
from gateway.mapping.outbound import (
    DocumentError, load_codelist, load_outbound_template, outbound_template_names, render_document,
)

TEMPLATES = ROOT / "templates"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)

US = Party(gln="5790000000006", name="Nordic Supply A/S", street="Havnegade 12", city="Aarhus", zip="8000",
           country="DK", vat="DK12345678")
BUYER = Party(gln="4012345000009", name="ACME Retail GmbH", street="Hauptstrasse 1", city="Berlin",
              zip="10115", country="DE", vat="DE987654321")
STORE = Party(gln="4012345000016", name="ACME Store 16", street="Marktplatz 3", city="Potsdam", zip="14467",
              country="DE")


# --- documents --------------------------------------------------------------------------------


def purchase_order() -> Order:
    return Order(
        document_number="PO-4500012", document_date="2026-03-01", requested_delivery_date="2026-03-10",
        currency="EUR", note="Deliver to gate 4", buyer=US, supplier=BUYER, ship_to=STORE,
        invoice_to=Party(gln="5790000000013", name="Nordic Supply Accounts"),
        lines=[
            OrderLine(line_number="1", gtin="4006381333931", supplier_item="SUP-100", buyer_item="NS-100",
                      description="Blue widget", quantity="10", uom="Units", unit_price="9.50"),
            OrderLine(line_number="2", upc="036000291452", description="Grey powder", quantity="2.5", uom="kg",
                      unit_price="4.20"),
        ],
    )


def order_response() -> OrderResponse:
    return OrderResponse(
        document_number="SO-0042", document_date="2026-03-02", order_number="PO-4500012", order_date="2026-03-01",
        status="changed", currency="EUR", buyer=BUYER, supplier=US, ship_to=STORE,
        lines=[
            ResponseLine(line_number="1", gtin="4006381333931", supplier_item="SUP-100", status="accepted",
                         quantity="10", confirmed_quantity="10", uom="Units", unit_price="9.50",
                         delivery_date="2026-03-10"),
            ResponseLine(line_number="2", gtin="4006381333948", status="changed", quantity="10",
                         confirmed_quantity="6", uom="Units", unit_price="12.00", delivery_date="2026-03-17"),
            ResponseLine(line_number="3", gtin="4006381333955", status="rejected", quantity="4",
                         confirmed_quantity="0", uom="Units", unit_price="3.10"),
        ],
    )


def change_answer() -> OrderResponse:
    """Our answer to a customer's 860 (as gateway.odoo.changes.change_answer makes it)."""
    return OrderResponse(
        document_number="3", document_date="2026-03-02", order_number="PO-4500012", order_date="2026-03-01",
        status="changed", buyer=BUYER, supplier=US,
        lines=[
            ResponseLine(line_number="1", gtin="4006381333931", change_code="QI", status="accepted", quantity="12",
                         confirmed_quantity="12", uom="Units", unit_price="9.50"),
            ResponseLine(line_number="2", gtin="4006381333948", change_code="QD", status="rejected", quantity="2",
                         uom="Units", reason="below_delivered"),
        ],
    )


def despatch_advice() -> DespatchAdvice:
    return DespatchAdvice(
        document_number="WH-OUT-00077", document_date="2026-03-05T14:30", despatch_date="2026-03-05",
        delivery_date="2026-03-07", order_number="PO-4500012", order_date="2026-03-01", carrier="DHL Freight",
        tracking_reference="JJD0099887766", buyer=BUYER, supplier=US, ship_to=STORE,
        ship_from=Party(gln="5790000000020", name="Nordic Supply Warehouse", city="Aarhus", country="DK"),
        packages=[
            Package(sscc="357900000000000012", package_type="201", lines=[
                DespatchLine(line_number="1", order_line_number="1", gtin="4006381333931",
                             supplier_item="SUP-100", quantity="6", ordered_quantity="10", uom="Units"),
            ]),
            Package(sscc="357900000000000029", lines=[
                DespatchLine(line_number="2", order_line_number="1", gtin="4006381333931", quantity="4",
                             uom="Units"),
                DespatchLine(line_number="3", order_line_number="2", gtin="4006381333948", quantity="6",
                             uom="Units", lot="LOT-2026-11", expiry_date="2027-11-30"),
            ]),
        ],
    )


def invoice(document_type: str = "invoice") -> Invoice:
    return Invoice(
        document_number="INV/2026/00031" if document_type == "invoice" else "RINV/2026/00004",
        document_type=document_type, document_date="2026-03-06", due_date="2026-04-05",
        payment_terms="30 days net", currency="EUR", order_number="PO-4500012", despatch_number="WH-OUT-00077",
        buyer=BUYER, supplier=US, ship_to=STORE, invoice_to=BUYER,
        lines=[
            InvoiceLine(line_number="1", gtin="4006381333931", description="Blue widget", quantity="10",
                        uom="Units", unit_price="9.50", net_amount="95.00", tax_rate="19", tax_amount="18.05"),
            InvoiceLine(line_number="2", gtin="4006381333948", description="Book", quantity="6", uom="Units",
                        unit_price="12.00", net_amount="72.00", tax_rate="7", tax_amount="5.04"),
        ],
        taxes=[TaxLine(rate="19", taxable_amount="95.00", tax_amount="18.05", category="S"),
               TaxLine(rate="7", taxable_amount="72.00", tax_amount="5.04", category="AA")],
        total_net="167.00", total_tax="23.09", total_amount="190.09",
    )


def inventory_report() -> InventoryReport:
    return InventoryReport(
        document_number="ST20260302093000", document_date="2026-03-02T09:30", report_date="2026-03-02T09:30",
        warehouse="WH", buyer=BUYER, supplier=US, ship_from=Party(id="WH", name="Aarhus warehouse"),
        lines=[
            InventoryLine(line_number="1", gtin="4006381333931", supplier_item="AX-220", buyer_item="88-1042",
                          description="Blue widget", quantity="120", quantity_type="free", uom="Units"),
            InventoryLine(line_number="2", gtin="4006381333948", supplier_item="AX-221", description="Book",
                          quantity="0", quantity_type="free", uom="Units"),
        ],
    )


def catalog() -> Catalog:
    return Catalog(
        document_number="CAT-20260302-7", document_date="2026-03-02", purpose="full", currency="EUR",
        valid_from="2026-03-02", note="Prices for ACME Retail",
        buyer=dataclasses.replace(BUYER, vat=None), supplier=dataclasses.replace(US, vat=None),
        lines=[
            CatalogLine(line_number="1", gtin="4006381333931", supplier_item="WID-100", buyer_item="A-77",
                        description="Widget, blue", uom="Units", unit_price="12.5", minimum_quantity="1",
                        valid_from="2026-03-02", valid_to="2026-12-31", retail_price="19.99"),
            CatalogLine(line_number="2", supplier_item="WID-100", description="Widget, blue", uom="Units",
                        unit_price="11.75", minimum_quantity="100", valid_from="2026-03-02"),
            CatalogLine(line_number="3", upc="012345678905", supplier_item="GAD-7", description="Gadget",
                        uom="Dozens", unit_price="40"),
        ])


DOCUMENTS = {
    "ORDERS": purchase_order, "850": purchase_order, "ORDRSP": order_response, "855": order_response,
    "DESADV": despatch_advice, "856": despatch_advice, "INVOIC": invoice, "810": invoice, "865": change_answer,
    "INVRPT": inventory_report, "846": inventory_report,
    "PRICAT": catalog, "832": catalog,
}


# --- rendering, enveloping and reading back ---------------------------------------------------


def envelope(template, segments: list[list], decimal_mark: str = ".") -> bytes:
    if template.standard == "edifact":
        return render.render_edifact(render.EdifactInterchange(
            sender=["5790000000006", "14"], receiver=["4012345000009", "14"], control_ref="17", when=WHEN,
            messages=[render.EdifactMessage("1", template.identifier, segments)],
            syntax=render.EdifactSyntax(decimal_mark=decimal_mark)))
    return render.render_x12(render.X12Interchange(
        sender=("ZZ", "NORDICSUPPLY"), receiver=("ZZ", "BIGBOX"), control_number=17, when=WHEN,
        groups=[render.X12Group(template.functional_id, "NORDICSUPPLY", "BIGBOX", 17, template.version,
                                [render.X12Set(template.message, "0001", segments)])],
        syntax=render.X12Syntax(version="00501" if template.version >= "005010" else "00401")))


def read_back(data: bytes) -> Message:
    """The one message of the bytes, after checking the interchange and message are accepted."""
    _, events = formats.parse(data)
    events = list(events)
    [interchange] = [e for e in events if isinstance(e, Interchange)]
    [message] = [e for e in events if isinstance(e, Message)]
    assert interchange.errors == [] and interchange.status == "accepted"
    assert [i.reason for i in message.errors if i.severity == "error"] == []
    assert message.status == "accepted"
    assert [i.reason for i in validate(message) if i.severity == "error"] == []
    return message


def written(name: str, document, overrides=None, decimal_mark: str = ".") -> tuple[Message, list[list]]:
    """The document rendered with a template, enveloped, parsed back: the message and its segments."""
    template = load_outbound_template(TEMPLATES, name, overrides)
    message = read_back(envelope(template, template.render(document, decimal_mark=decimal_mark), decimal_mark))
    return message, render.body_segments(message.tree)


def tagged(segments: list[list], tag: str) -> list[list]:
    return [segment for segment in segments if segment[0] == tag]


# --- every template -----------------------------------------------------------------------


@pytest.mark.parametrize("name", outbound_template_names(TEMPLATES))
def test_every_template_writes_a_message_valid_against_its_definition(name):
    template = load_outbound_template(TEMPLATES, name)
    message, segments = written(name, DOCUMENTS[template.message]())

    assert (message.type, message.version.replace(":", "")[:6]) == (template.message, template.version[:6])
    assert len(segments) > 5


def test_the_base_outbound_templates_are_all_there():
    assert outbound_template_names(TEMPLATES) == [
        "outbound/edifact/DESADV_D96A", "outbound/edifact/INVOIC_D96A", "outbound/edifact/INVRPT_D96A",
        "outbound/edifact/ORDERS_D96A", "outbound/edifact/ORDRSP_D96A", "outbound/edifact/PRICAT_D96A",
        "outbound/x12/810_004010", "outbound/x12/810_005010", "outbound/x12/832_004010", "outbound/x12/846_004010",
        *[f"outbound/x12/{m}_{v}" for m in ("850", "855", "856") for v in ("004010", "005010")],
        "outbound/x12/865_004010", "outbound/x12/865_005010",
    ]


def test_outbound_templates_are_not_taken_for_inbound_ones():
    assert not any(name.startswith("outbound/") for name in base_template_names(TEMPLATES))


def test_a_dataclass_and_its_dict_render_the_same():
    template = load_outbound_template(TEMPLATES, "outbound/edifact/INVOIC_D96A")

    assert template.render(invoice()) == template.render(dataclasses.asdict(invoice()))


def test_the_envelope_identifiers_come_from_the_template():
    ordrsp = load_outbound_template(TEMPLATES, "outbound/edifact/ORDRSP_D96A")
    asn = load_outbound_template(TEMPLATES, "outbound/x12/856_005010")

    assert ordrsp.identifier == ("ORDRSP", "D", "96A", "UN", "EAN005")
    assert (asn.message, asn.version, asn.functional_id, asn.document_type) == ("856", "005010", "SH",
                                                                               "DespatchAdvice")


# --- order responses ----------------------------------------------------------------------


def test_an_ordrsp_carries_the_response_and_each_line_accepted_changed_or_rejected():
    _, segments = written("outbound/edifact/ORDRSP_D96A", order_response())

    assert tagged(segments, "BGM") == [["BGM", "231", "SO-0042", "4"]]
    assert ["RFF", ["ON", "PO-4500012"]] in segments
    assert [s[:3] for s in tagged(segments, "LIN")] == [["LIN", "1", "5"], ["LIN", "2", "3"], ["LIN", "3", "7"]]
    assert [s[1] for s in tagged(segments, "QTY") if s[1][0] == "113"] == [
        ["113", "10", "PCE"], ["113", "6", "PCE"], ["113", "0", "PCE"]]
    assert ["DTM", ["2", "20260317", "102"]] in segments
    assert tagged(segments, "CNT") == [["CNT", ["2", "3"]]]


def test_an_855_acknowledges_each_line_with_its_status_and_confirmed_quantity():
    _, segments = written("outbound/x12/855_004010", order_response())

    assert tagged(segments, "BAK") == [["BAK", "00", "AC", "PO-4500012", "20260301", "", "", "", "SO-0042",
                                        "20260302"]]
    assert tagged(segments, "ACK") == [["ACK", "IA", "10", "EA", "067", "20260310"],
                                       ["ACK", "IC", "6", "EA", "067", "20260317"],
                                       ["ACK", "IR", "0", "EA"]]
    assert tagged(segments, "CTT") == [["CTT", "3"]]


# --- despatch advices ---------------------------------------------------------------------


def test_an_856_nests_shipment_order_packs_and_items_with_parent_ids():
    _, segments = written("outbound/x12/856_004010", despatch_advice())

    hierarchy = [(s[1], s[2], s[3]) for s in tagged(segments, "HL")]
    assert hierarchy == [("1", "", "S"), ("2", "1", "O"), ("3", "2", "P"), ("4", "3", "I"), ("5", "2", "P"),
                         ("6", "5", "I"), ("7", "5", "I")]
    assert tagged(segments, "MAN") == [["MAN", "GM", "357900000000000012"], ["MAN", "GM", "357900000000000029"]]
    assert tagged(segments, "BSN") == [["BSN", "00", "WH-OUT-00077", "20260305", "1430"]]
    assert ["PRF", "PO-4500012", "", "", "20260301"] in segments
    assert [s[2] for s in tagged(segments, "SN1")] == ["6", "4", "6"]
    assert ["REF", "LT", "LOT-2026-11"] in segments and ["DTM", "036", "20271130"] in segments
    assert tagged(segments, "CTT") == [["CTT", "7"]]


def test_an_856_puts_lines_in_no_package_under_the_order():
    advice = dataclasses.replace(despatch_advice(), packages=[], lines=[
        DespatchLine(line_number="1", gtin="4006381333931", quantity="3", uom="Units")])
    _, segments = written("outbound/x12/856_004010", advice)

    assert [(s[1], s[2], s[3]) for s in tagged(segments, "HL")] == [("1", "", "S"), ("2", "1", "O"),
                                                                     ("3", "2", "I")]


def test_a_desadv_has_a_package_level_per_sscc_and_batch_and_expiry_on_the_tracked_line():
    _, segments = written("outbound/edifact/DESADV_D96A", despatch_advice())

    assert tagged(segments, "CPS") == [["CPS", "1"], ["CPS", "2", "1"], ["CPS", "3", "1"]]
    assert [s for s in tagged(segments, "GIN") if s[1] == "BJ"] == [["GIN", "BJ", "357900000000000012"],
                                                                   ["GIN", "BJ", "357900000000000029"]]
    assert ["DTM", ["36", "20271130", "102"]] in segments and ["GIN", "BX", "LOT-2026-11"] in segments
    assert [s[1] for s in tagged(segments, "QTY") if s[1][0] == "12"] == [["12", "6", "PCE"], ["12", "4", "PCE"],
                                                                          ["12", "6", "PCE"]]
    assert ["TDT", "20", "", "", "", ["", "", "", "DHL Freight"]] in segments
    assert tagged(segments, "CNT") == [["CNT", ["2", "3"]]]


# --- invoices -----------------------------------------------------------------------------


def test_an_invoic_carries_totals_and_one_tax_summary_per_rate():
    _, segments = written("outbound/edifact/INVOIC_D96A", invoice())

    assert tagged(segments, "BGM") == [["BGM", "380", "INV/2026/00031", "9"]]
    moa = [s[1] for s in tagged(segments, "MOA")]
    assert moa[-7:] == [["77", "190.09"], ["79", "167.00"], ["176", "23.09"], ["124", "18.05"], ["125", "95.00"],
                        ["124", "5.04"], ["125", "72.00"]]
    assert [s for s in tagged(segments, "TAX")][-2:] == [["TAX", "7", "VAT", "", "", ["", "", "", "19"], "S"],
                                                         ["TAX", "7", "VAT", "", "", ["", "", "", "7"], "AA"]]
    assert ["DTM", ["13", "20260405", "102"]] in segments


def test_a_credit_note_is_an_invoic_381_and_an_810_credit_memo():
    _, edifact = written("outbound/edifact/INVOIC_D96A", invoice("credit_note"))
    _, x12 = written("outbound/x12/810_004010", invoice("credit_note"))

    assert tagged(edifact, "BGM") == [["BGM", "381", "RINV/2026/00004", "9"]]
    assert tagged(x12, "BIG") == [["BIG", "20260306", "RINV/2026/00004", "", "PO-4500012", "", "", "CR"]]


def test_an_810_has_the_total_in_cents_and_a_tax_line_per_rate():
    _, segments = written("outbound/x12/810_004010", invoice())

    assert tagged(segments, "TDS") == [["TDS", "19009"]]
    assert tagged(segments, "TXI")[-2:] == [["TXI", "VA", "18.05", "19"], ["TXI", "VA", "5.04", "7"]]
    assert tagged(segments, "BIG") == [["BIG", "20260306", "INV/2026/00031", "", "PO-4500012"]]
    # no UPC: the GTIN takes the first ID pair (IT106/IT107), never an empty pair before it
    assert tagged(segments, "IT1")[0][:8] == ["IT1", "1", "10", "EA", "9.50", "", "EN", "4006381333931"]
    assert ["ITD", "01", "3", "", "", "", "20260405", "", "", "", "", "", "30 days net"] in segments
    assert tagged(segments, "CTT") == [["CTT", "2"]]


# --- round trips through the inbound templates ----------------------------------------------


@pytest.mark.parametrize("outbound, inbound, decimal_mark", [
    ("outbound/edifact/ORDERS_D96A", "edifact/ORDERS_D96A", "."),
    ("outbound/edifact/ORDERS_D96A", "edifact/ORDERS_D96A", ","),
    ("outbound/x12/850_004010", "x12/850_004010", "."),
    ("outbound/x12/850_005010", "x12/850_005010", "."),
])
def test_an_order_written_and_read_back_is_the_same_order(outbound, inbound, decimal_mark):
    order = purchase_order()
    message, _ = written(outbound, order, decimal_mark=decimal_mark)
    back, problems = load_template(TEMPLATES, inbound).translate(message.tree)

    assert [p for p in problems if p.severity == "error"] == []
    no_vat = {name: dataclasses.replace(getattr(order, name), vat=None) for name in
              ("buyer", "supplier", "ship_to", "invoice_to")}
    expected = dataclasses.replace(order, **no_vat)  # the inbound templates do not read VAT numbers
    if outbound.startswith("outbound/x12"):
        expected = dataclasses.replace(expected, note=None)  # 850 notes go in N9/MSG, the inbound reads NTE
    assert back == expected


@pytest.mark.parametrize("outbound, inbound, code", [
    ("outbound/edifact/INVRPT_D96A", "edifact/INVRPT_D96A", "145"),
    ("outbound/x12/846_004010", "x12/846_004010", "33"),
])
def test_a_stock_report_written_and_read_back_has_the_same_products_and_quantities(outbound, inbound, code):
    report = inventory_report()
    message, _ = written(outbound, report)
    back, problems = load_template(TEMPLATES, inbound).translate(message.tree)

    assert [p for p in problems if p.severity == "error"] == []
    assert (back.document_number, back.document_date[:10], back.ship_from.id) == (
        report.document_number, "2026-03-02", "WH")
    assert [(line.gtin, line.supplier_item, line.buyer_item, line.quantity, line.quantity_type, line.quantity_code,
             line.uom) for line in back.lines] == [
        ("4006381333931", "AX-220", "88-1042", "120", "free", code, "Units"),
        ("4006381333948", "AX-221", None, "0", "free", code, "Units")]


def test_edifact_decimals_take_the_partners_decimal_mark():
    _, segments = written("outbound/edifact/ORDERS_D96A", purchase_order(), decimal_mark=",")

    assert ["QTY", ["21", "2,5", "KGM"]] in segments and ["PRI", ["AAA", "4,20"]] in segments


# --- partner overrides --------------------------------------------------------------------


def test_overrides_replace_remove_change_and_add_segments_and_code_list_entries():
    overrides = {
        "segments": {
            "DTM[137]": ["DTM", ["137", "{document_date:203}", "203"]],
            "FTX[AAI]": None,
            "BGM/BGM04": "AB",
            "lines/QTY[113]/QTY01.1": "12",
        },
        "add": [{"after": "BGM", "segments": [["DTM", ["4", "{order_date:102}", "102"]]]}],
        "codelists": {"units_edifact": {"Units": "EA"}},
    }
    response = dataclasses.replace(order_response(), note="will be dropped")
    _, segments = written("outbound/edifact/ORDRSP_D96A", response, overrides)

    assert segments[0] == ["BGM", "231", "SO-0042", "4", "AB"]
    assert segments[1] == ["DTM", ["4", "20260301", "102"]]
    assert segments[2] == ["DTM", ["137", "202603020000", "203"]]
    assert tagged(segments, "FTX") == []
    assert ["QTY", ["12", "6", "EA"]] in segments


def test_an_extending_template_changes_segments_by_key(tmp_path):
    shutil.copytree(TEMPLATES / "outbound", tmp_path / "outbound")
    (tmp_path / "outbound/x12/855_partner.yaml").write_text(
        "extends: outbound/x12/855_004010\n"
        "segments:\n"
        "  CUR: null\n"
        "  lines/PO1/PO105: PE\n")

    segments = render_document(tmp_path, "outbound/x12/855_partner", order_response())

    assert tagged(segments, "CUR") == [] and tagged(segments, "PO1")[0][5] == "PE"


@pytest.mark.parametrize("overrides, problem", [
    ({"segments": {"DTM[999]": None}}, "the template has no segment 'DTM[999]'; its segments: BGM[231], DTM[137]"),
    ({"segments": {"lines/PIA": None}}, "'lines/PIA' is more than one segment: lines/PIA[1], lines/PIA[1]#2"),
    ({"segments": {"BGM": "not a segment"}}, "takes a segment like [TAG, element, …]"),
    ({"colour": "blue"}, "unknown override key 'colour'"),
    ({"codelists": {"nope": {"a": "b"}}}, "no outbound code list 'nope'"),
    ({"segments": {"BGM": ["BGM", ["231"], "{document_numbr}"]}}, "has no field 'document_numbr'"),
])
def test_a_wrong_override_is_an_error_naming_the_profile_and_what_is_wrong(overrides, problem):
    with pytest.raises(TemplateError) as error:
        load_outbound_template(TEMPLATES, "outbound/edifact/ORDRSP_D96A", overrides, source="partners/acme.yaml")

    assert "partners/acme.yaml" in str(error.value) and problem in str(error.value)


# --- documents that cannot be written -----------------------------------------------------


def test_a_document_without_a_required_value_is_an_error_naming_the_field_not_a_file():
    order = dataclasses.replace(purchase_order(), document_number=None)

    with pytest.raises(DocumentError) as error:
        render_document(TEMPLATES, "outbound/x12/850_004010", order)

    assert [(p.field, p.reason) for p in error.value.problems] == [("document_number",
                                                                   "required by the template, missing")]


def test_a_line_without_its_quantity_is_named_with_its_position():
    order = purchase_order()
    order.lines[1] = dataclasses.replace(order.lines[1], quantity=None)

    with pytest.raises(DocumentError) as error:
        render_document(TEMPLATES, "outbound/edifact/ORDERS_D96A", order)

    assert [p.field for p in error.value.problems] == ["lines[2].quantity"]


def test_a_value_the_standard_needs_is_named_even_when_the_template_does_not_require_it():
    # IT1 02, 03 and 04 go together (X12 syntax note P020304): a line without a price cannot be written.
    bill = invoice()
    bill.lines[0] = dataclasses.replace(bill.lines[0], unit_price=None)

    with pytest.raises(DocumentError) as error:
        render_document(TEMPLATES, "outbound/x12/810_004010", bill)

    [problem] = error.value.problems
    assert problem.field == "lines[1].unit_price" and "IT104" in problem.reason and problem.path == "lines/IT1"


def test_a_unit_the_code_list_lacks_is_named_with_the_list_to_extend():
    order = purchase_order()
    order.lines[0] = dataclasses.replace(order.lines[0], uom="Pallets")

    with pytest.raises(DocumentError) as error:
        render_document(TEMPLATES, "outbound/x12/850_004010", order)

    [problem] = error.value.problems
    assert (problem.field, problem.value) == ("lines[1].uom", "Pallets")
    assert "code list units_x12 has no code for it" in problem.reason


def test_a_decimal_with_a_comma_in_the_document_is_refused():
    order = purchase_order()
    order.lines[0] = dataclasses.replace(order.lines[0], unit_price="9,50")

    with pytest.raises(DocumentError, match=r"lines\[1\]\.unit_price '9,50'.*not a decimal number with a point"):
        render_document(TEMPLATES, "outbound/edifact/ORDERS_D96A", order)


def test_an_optional_value_missing_leaves_its_segment_or_element_out():
    order = dataclasses.replace(purchase_order(), currency=None, requested_delivery_date=None,
                                buyer=Party(gln="5790000000006"))
    segments = render_document(TEMPLATES, "outbound/edifact/ORDERS_D96A", order)

    assert tagged(segments, "CUX") == [] and [s for s in tagged(segments, "DTM") if s[1][0] == "2"] == []
    assert tagged(segments, "NAD")[0] == ["NAD", "BY", ["5790000000006", "", "9"]]


def test_a_party_without_a_gln_is_written_with_its_id():
    order = dataclasses.replace(purchase_order(), supplier=Party(id="V-1042", name="Small Supplier"))
    segments = render_document(TEMPLATES, "outbound/x12/850_004010", order)

    assert ["N1", "VN", "Small Supplier", "92", "V-1042"] in segments


# --- template errors ----------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path):
    shutil.copytree(TEMPLATES / "outbound" / "codelists", tmp_path / "outbound" / "codelists")

    def write(text: str) -> str:
        (tmp_path / "outbound" / "t.yaml").write_text(
            "standard: x12\nmessage: '855'\nversion: '004010'\ndocument: OrderResponse\n" + text)
        return "outbound/t"
    write.dir = tmp_path
    return write


@pytest.mark.parametrize("text, problem", [
    ("segments:\n  - [BAK, '00', AC, '{order_numbr}', '{order_date:CCYYMMDD}']\n",
     "line 6: BAK03: OrderResponse has no field 'order_numbr'"),
    ("segments:\n  - [BAK, '00', AC, '{order_number}', '{order_date:102x}']\n", "line 6: BAK04: unknown format '102x'"),
    ("segments:\n  - [BAK, 00, AC, '{order_number}', '{order_date:CCYYMMDD}']\n", "quote it"),
    ("segments:\n  - [UNS, S]\n", "line 6: 855 004010 has no segment UNS"),
    ("segments:\n  - [BAK, '00', AC, '{order_number}']\n", "line 6: BAK04 is mandatory; the template leaves it empty"),
    ("segments:\n  - each: buyer\n    segments: []\n", "line 6: buyer is not a list field"),
    ("segments:\n  - [CTT, '{@index}']\n", "@index is the item number of an `each:` group"),
    ("segments:\n  - {use: nothing}\n", "no block 'nothing'"),
    ("segments:\n  - [PO1, '{lines}']\n", "lines is a list, not a value"),
    ("segments:\n  - [CUR, SE, '{currency|nope}']\n", "no outbound code list 'nope'"),
])
def test_a_wrong_template_is_an_error_naming_its_file_and_line(scratch, text, problem):
    name = scratch(text)

    with pytest.raises(TemplateError) as error:
        load_outbound_template(scratch.dir, name)

    assert "templates/outbound/t.yaml" in str(error.value) and problem in str(error.value)


# --- code lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["units_edifact", "units_x12"])
def test_every_unit_code_we_write_reads_back_as_the_same_unit(name):
    outbound = load_codelist(TEMPLATES, name)
    inbound = load_inbound_codelist(TEMPLATES, "units")

    assert {unit: inbound.lookup(code) for unit, code in outbound.codes.items()} == {
        unit: unit for unit in outbound.codes}


# --- X12 item numbers in qualifier/value pairs ---------------------------------------------------


def test_x12_item_numbers_fill_the_id_pairs_in_order_never_an_empty_pair_before_a_filled_one():
    no_upc = OrderLine(line_number="1", gtin="4006381333931", supplier_item="SUP-100", buyer_item="NS-100",
                       quantity="10", uom="Units", unit_price="9.50")
    codes_only = OrderLine(line_number="2", supplier_item="SUP-200", buyer_item="NS-200", quantity="1", uom="Units",
                           unit_price="4.20")
    order = dataclasses.replace(purchase_order(), lines=[no_upc, codes_only])
    _, segments = written("outbound/x12/850_004010", order)
    assert [s[6:] for s in tagged(segments, "PO1")] == [
        ["EN", "4006381333931", "VN", "SUP-100", "BP", "NS-100"], ["VN", "SUP-200", "BP", "NS-200"]]
    lines = [dataclasses.replace(line, gtin=None, supplier_item=f"SUP-{n}") for n, line in
             enumerate(invoice().lines, start=1)]
    _, segments = written("outbound/x12/810_004010", dataclasses.replace(invoice(), lines=lines))
    assert [s[6:] for s in tagged(segments, "IT1")] == [["VN", "SUP-1"], ["VN", "SUP-2"]]
    lines = [dataclasses.replace(line, gtin=None, supplier_item=f"SUP-{n}") for n, line in
             enumerate(order_response().lines, start=1)]
    _, segments = written("outbound/x12/855_004010", dataclasses.replace(order_response(), lines=lines))
    assert [s[6:8] for s in tagged(segments, "PO1")] == [["VN", "SUP-1"], ["VN", "SUP-2"], ["VN", "SUP-3"]]


def test_an_856_item_without_gtin_or_upc_is_named_by_its_item_codes():
    shipment = despatch_advice()
    packages = [dataclasses.replace(package, lines=[dataclasses.replace(line, gtin=None, supplier_item="SUP-100",
                                                                        buyer_item="NS-100")
                                                    for line in package.lines]) for package in shipment.packages]
    _, segments = written("outbound/x12/856_004010", dataclasses.replace(shipment, packages=packages))
    assert {tuple(s[2:]) for s in tagged(segments, "LIN")} == {("VN", "SUP-100", "BP", "NS-100")}


def test_our_x12_validation_knows_the_pairs_of_lin_and_the_rules_of_pid():
    data = (b"ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261120*0930*U*00401*000000311*0*P*>~"
            b"GS*SH*BIGBOX*NORDICSUPPLY*20261120*0930*311*X*004010~ST*856*0001~BSN*00*S1*20261120*0930~"
            b"HL*1**S~HL*2*1*I~LIN**VN*SUP-1*BP~PID*F***WIDGET~SE*7*0001~GE*1*311~IEA*1*000000311~")
    _, events = formats.parse(data)
    [message] = [e for e in events if isinstance(e, Message)]
    reasons = [i.reason for i in validate(message) if i.severity == "error"]
    assert any("LIN04" in r and "P0405" in r for r in reasons), reasons
    assert any("PID03" in r and "C0403" in r for r in reasons), reasons


def test_an_x12_party_in_goteborg_is_written_in_ascii_as_goteborg():
    order = dataclasses.replace(purchase_order(), supplier=dataclasses.replace(BUYER, city="Göteborg"))
    template = load_outbound_template(TEMPLATES, "outbound/x12/850_004010")
    data = envelope(template, template.render(order))
    assert data.isascii() and b"N4*Goteborg*" in data
    read_back(data)
