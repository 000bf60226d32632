"""Templates turn message trees into canonical documents, and say precisely what went wrong."""

from pathlib import Path

import pytest
from conftest import ROOT
from lxml import etree

from gateway.documents import Order, OrderLine, Party
from gateway.formats import csv, edifact, x12
from gateway.formats.model import Message
from gateway.formats.tree import message_element, segment_element
from gateway.mapping import Problem, TemplateError, base_template_names, load_template, yamlfile

TEMPLATES = ROOT / "templates"


def messages(path: Path, module) -> list[Message]:
    return [event for event in module.parse(path.read_bytes()) if isinstance(event, Message)]


def translate(template_name: str, tree: etree._Element, overrides=None) -> tuple[Order, list[Problem]]:
    return load_template(TEMPLATES, template_name, overrides).translate(tree)


def csv_messages(path: Path, template_name: str) -> list[Message]:
    layout = load_template(TEMPLATES, template_name).layout
    return [event for event in csv.parse(path.read_bytes(), layout) if isinstance(event, Message)]


def order_tree(*segments: tuple, decimal_mark: str = ".") -> etree._Element:
    """A flat hand-built message tree: each segment as (tag, [[components], …]) (no groups)."""
    root = message_element(standard="edifact", type="ORDERS", version="D96A", decimal_mark=decimal_mark)
    for position, (tag, elements) in enumerate(segments, start=1):
        root.append(segment_element(tag, [[components] for components in elements], position))
    return root


def group(name: str, *segments: etree._Element) -> etree._Element:
    element = etree.Element(name)
    element.extend(segments)
    return element


def line_group(number: str, quantity: str, *prices: tuple[str, str], unit: str = "") -> etree._Element:
    sg25 = group(
        "SG25",
        segment_element("LIN", [[[number]], [[""]], [["4000862141404", "EN"]]], 10),
        segment_element("QTY", [[["21", quantity, unit]]], 11),
    )
    for qualifier, price in prices:
        sg25.append(group("SG28", segment_element("PRI", [[[qualifier, price]]], 12)))
    return sg25


# --- EDIFACT ----------------------------------------------------------------------------------


def test_edifact_eancom_order_translates_to_order(corpus):
    (message,) = messages(corpus / "edifact/ORDERS/oca_retail_orders_sample1.txt", edifact)

    order, problems = translate("edifact/ORDERS_D96A", message.tree)

    assert problems == []
    assert order.document_number == "1AA1TEST"
    assert order.document_date == "2023-06-06"
    assert order.currency == "EUR"
    assert order.buyer == Party(gln="5450534000017")
    assert order.supplier == Party(gln="8450534000000")
    assert order.ship_to == Party(gln="5450534008617", country="GB")
    assert order.invoice_to == Party(
        gln="5450534008143", name="AMAZON EU SARL", street="38 Avenue J.F. Kennedy",
        city="Luxembourg", zip="1855", country="LU",
    )
    assert [(l.line_number, l.gtin, l.quantity, l.unit_price) for l in order.lines] == [
        ("1", "9783898307529", "5", "27.5"),
        ("2", "9783898307538", "1", "10.87"),
        ("3", "9783898307645", "3", "3.85"),
    ]


def test_edifact_requested_delivery_date_prefers_earliest_over_latest():
    tree = order_tree(
        ("BGM", [["220"], ["PO1"]]),
        ("DTM", [["63", "20230620", "102"]]),
        ("DTM", [["64", "202306101200", "203"]]),
    )

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert problems == []
    assert order.requested_delivery_date == "2023-06-10T12:00"


def test_edifact_d03b_order_with_isbn_ids_and_no_prices(corpus):
    (message,) = messages(corpus / "edifact/ORDERS/smooks_orders_d03b_syntax4.txt", edifact)

    order, problems = translate("edifact/ORDERS_D96A", message.tree)

    assert problems == []
    assert order.document_number == "BKOD99"
    assert (order.buyer.gln, order.supplier.gln) == ("5412345000176", "4012345000094")
    assert [(l.supplier_item, l.quantity, l.description) for l in order.lines] == [
        ("0764569104", "25", "Lord of the Rings"),
        ("0764569090", "25", "The Hobbit"),
        ("1861004656", "16", "The Silmarillion"),
        ("0596006756", "10", "The Children of Hurin"),
    ]
    assert all(line.unit_price is None and line.gtin is None for line in order.lines)


def test_edifact_pia_buyer_item_and_imd_description(corpus):
    (message,) = messages(corpus / "edifact/ORDERS/staedi_orders_d96b_ung_group.edi", edifact)

    order, _ = translate("edifact/ORDERS_D96A", message.tree)

    (line,) = order.lines
    assert (line.gtin, line.buyer_item, line.description) == ("5400111864181", "8641800", "WIDGETS")
    assert (line.quantity, line.unit_price) == ("288", "12.80")


def test_comma_decimal_mark_becomes_a_point():
    tree = order_tree(("BGM", [["220"], ["PO1"]]), decimal_mark=",")
    tree.append(line_group("1", "12,5", ("AAA", "1,25")))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert problems == []
    assert (order.lines[0].quantity, order.lines[0].unit_price) == ("12.5", "1.25")


def test_net_price_is_preferred_and_gross_used_without_it():
    tree = order_tree(("BGM", [["220"], ["PO1"]]))
    tree.append(line_group("1", "1", ("AAB", "12"), ("AAA", "10")))
    tree.append(line_group("2", "1", ("AAB", "7")))

    order, _ = translate("edifact/ORDERS_D96A", tree)

    assert [line.unit_price for line in order.lines] == ["10", "7"]


def test_unit_codes_map_through_the_units_code_list():
    tree = order_tree(("BGM", [["220"], ["PO1"]]))
    tree.append(line_group("1", "2", unit="KGM"))
    tree.append(line_group("2", "3", unit="PCE"))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert problems == []
    assert [line.uom for line in order.lines] == ["kg", "Units"]


def test_an_unknown_unit_code_is_kept_with_a_warning():
    tree = order_tree(("BGM", [["220"], ["PO1"]]))
    tree.append(line_group("1", "2", unit="XYZ"))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert order.lines[0].uom == "XYZ"
    (problem,) = problems
    assert (problem.field, problem.value, problem.severity) == ("lines[1].uom", "XYZ", "warning")
    assert "not in code list units" in problem.reason


def test_a_value_that_is_not_a_number_is_a_problem_naming_the_field():
    tree = order_tree(("BGM", [["220"], ["PO1"]]))
    tree.append(line_group("1", "5"))
    tree.append(line_group("2", "12x"))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert order.lines[1] == OrderLine(line_number="2", gtin="4000862141404", quantity=None)
    (problem,) = problems
    assert problem.field == "lines[2].quantity"
    assert problem.path == "QTY/QTY01[QTY01.1='21']/QTY01.2"
    assert problem.value == "12x"
    assert problem.reason == "not a number"
    assert problem.severity == "error"
    assert problem.position == 11  # the QTY segment's position
    assert "lines[2].quantity: '12x' at QTY/QTY01" in str(problem)


def test_an_unknown_date_format_code_is_a_problem():
    tree = order_tree(("BGM", [["220"], ["PO1"]]), ("DTM", [["137", "20230606", "999"]]))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert order.document_date is None
    (problem,) = problems
    assert (problem.field, problem.value, problem.reason) == (
        "document_date", "20230606", "no date format code 999"
    )


def test_an_impossible_date_is_a_problem():
    tree = order_tree(("BGM", [["220"], ["PO1"]]), ("DTM", [["137", "19999715", "102"]]))

    _, problems = translate("edifact/ORDERS_D96A", tree)

    assert [(p.field, p.reason) for p in problems] == [("document_date", "not a date in format 102")]


def test_a_missing_required_value_is_a_problem():
    tree = order_tree(("BGM", [["220"]]))

    order, problems = translate("edifact/ORDERS_D96A", tree)

    assert order.document_number is None
    assert [(p.field, p.reason) for p in problems] == [("document_number", "required, not found")]


# --- X12 --------------------------------------------------------------------------------------


def test_x12_850_004010_translates_lines_with_isbn_ids(corpus):
    (message,) = messages(corpus / "x12/850/bots_850_004010_isa00200.x12", x12)

    order, problems = translate("x12/850_004010", message.tree)

    assert problems == []
    assert (order.document_number, order.document_date) == ("0123456789123", "1998-01-06")
    assert order.ship_to == Party(id="6678157")
    assert order.invoice_to == Party(id="1135309")
    assert [(l.line_number, l.supplier_item, l.quantity, l.uom, l.unit_price) for l in order.lines] == [
        ("1", "0835201031", "2", "Units", "10.5"),
        ("2", "0835202151", "10", "Units", "9.25"),
        ("3", "0835208338", "5", "Units", "30"),
    ]


def test_x12_850_005010_keeps_quantities_as_sent_and_pairs_item_qualifiers(corpus):
    (message,) = messages(corpus / "x12/850/stedi_850_005010_gs_ow.x12", x12)
    template = load_template(TEMPLATES, "x12/850_005010")
    assert template.applies_to("x12", message.type, message.version)

    order, problems = template.translate(message.tree)

    assert problems == []
    assert order.document_number == "365465413"
    assert order.ship_to == Party(
        id="123", name="Wile E Coyote", street="111 Canyon Court", city="Phoenix", zip="85001", country="US"
    )
    assert order.lines == [
        OrderLine(line_number="item-1", supplier_item="VND1234567", buyer_item="ACM/8900-400",
                  description="400 pound anvil", quantity="0008", uom="Units", unit_price="400"),
        OrderLine(line_number="item-2", supplier_item="VND000111222", buyer_item="ACM/1100-001",
                  description="Detonator", quantity="0004", uom="Units", unit_price="125"),
    ]


def test_x12_850_four_sets_in_one_group(corpus):
    found = messages(corpus / "x12/850/bots_850_004010_pipe_elemsep_4sets.x12", x12)

    orders = [translate("x12/850_004010", message.tree)[0] for message in found]

    assert [o.document_number for o in orders] == ["P1234567", "Q1234567", "V1234567", "W1234567"]
    assert [len(o.lines) for o in orders] == [5, 2, 1, 11]
    assert orders[0].requested_delivery_date == "2002-08-27"  # DTM 064, do not deliver before
    last = orders[3].lines
    assert (last[6].upc, last[7].upc, last[8].quantity) == ("717119.837242", "B000056EWE", "0")
    assert all(line.unit_price is None for line in last)


def test_x12_n1_party_with_ul_qualifier_is_a_gln():
    root = message_element(standard="x12", type="850", version="004010")
    root.append(segment_element("BEG", [[["00"]], [["NE"]], [["PO9"]], [[""]], [["20240131"]]], 2))
    root.append(group("N1_loop", segment_element("N1", [[["BY"]], [["ACME"]], [["UL"]], [["4012345000009"]]], 3)))
    root.append(group("N1_loop", segment_element("N1", [[["SE"]], [["Supplier"]], [["92"]], [["S-1"]]], 4)))

    order, _ = translate("x12/850_004010", root)

    assert order.buyer == Party(gln="4012345000009", name="ACME")
    assert order.supplier == Party(id="S-1", name="Supplier")


# --- CSV --------------------------------------------------------------------------------------


def test_csv_flat_orders_become_three_orders(corpus):
    found = csv_messages(corpus / "csv/ORDERS/smooks_pipelines_orders.csv", "csv/orders_flat")

    results = [translate("csv/orders_flat", message.tree) for message in found]

    assert all(problems == [] for _, problems in results)
    orders = [order for order, _ in results]
    assert [o.document_number for o in orders] == ["128576", "128577", "128578"]
    assert {o.document_date for o in orders} == {"2002-08-30"}
    assert orders[0].buyer == Party(
        id="123456", name="KION GROUP AG", street="Abraham-Lincoln-Str", city="Wiesbaden", zip="65189"
    )
    assert [(o.lines[0].gtin, o.lines[0].quantity, o.lines[0].unit_price, o.lines[0].uom) for o in orders] == [
        ("4000862141404", "48", "5", "Units"),
        ("4000862141405", "2", "55", "kg"),
        ("4000862141406", "17", "15", "Units"),
    ]


def test_csv_quoted_headerless_orders(corpus):
    found = csv_messages(corpus / "csv/ORDERS/bots_flat_orders_quoted.csv", "csv/orders_flat_quoted")

    orders = [translate("csv/orders_flat_quoted", message.tree)[0] for message in found]

    assert [o.document_number for o in orders] == ["BGMREF", "1-4500094289", "1-4500094290", "1-4500094291"]
    first = orders[0]
    assert (first.buyer.gln, first.supplier.gln, first.ship_to.gln, first.invoice_to.gln) == (
        "8712345002206", "8712345003203", "8712345002015", "8799999000000"
    )
    assert first.requested_delivery_date == "1997-08-30T12:00"
    assert orders[1].requested_delivery_date == "2005-08-29"
    assert orders[2].buyer is not None and orders[2].buyer.gln is None
    assert [[l.quantity for l in o.lines] for o in orders] == [["1.000"] * 4, ["1.000"] * 2, ["1.000"], ["9.000"]]


def test_csv_comma_decimal_layout(tmp_path):
    (tmp_path / "codelists").mkdir()
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv/semicolon.yaml").write_text(
        "standard: csv\nmessage: ORDERS\ndocument: Order\n"
        "layout: {message: ORDERS, delimiter: ';', decimal_mark: ','}\n"
        "fields:\n  lines: {each: row, fields: {quantity: {path: QTY, type: decimal}}}\n"
    )
    template = load_template(tmp_path, "csv/semicolon")
    (message, _) = list(csv.parse(b"QTY\n1.234,5\n12,5\n", template.layout))

    order, problems = template.translate(message.tree)

    assert [line.quantity for line in order.lines] == [None, "12.5"]
    assert [(p.field, p.value, p.reason, p.position) for p in problems] == [
        ("lines[1].quantity", "1.234,5", "not a number", 2)
    ]


# --- overrides --------------------------------------------------------------------------------


def test_override_changes_a_field_path():
    tree = order_tree(("BGM", [["220"], ["PO1"]]))
    tree.append(line_group("1", "1", ("AAA", "10"), ("AAB", "12")))
    overrides = {"fields": {"lines.unit_price": "SG28/PRI/PRI01[PRI01.1='AAB']/PRI01.2"}}

    order, problems = translate("edifact/ORDERS_D96A", tree, overrides)

    assert problems == []
    assert order.lines[0].unit_price == "12"
    assert order.lines[0].quantity == "1"  # the rest of the line mapping is the base's


def test_override_of_one_party_leaves_the_shared_mapping_alone(corpus):
    (message,) = messages(corpus / "edifact/ORDERS/oca_retail_orders_sample1.txt", edifact)
    overrides = {"fields": {"buyer.name": {"default": "Retail Buyer"}}}

    order, _ = translate("edifact/ORDERS_D96A", message.tree, overrides)

    assert order.buyer == Party(gln="5450534000017", name="Retail Buyer")
    assert order.supplier == Party(gln="8450534000000")


def test_override_changes_a_code_list_entry(corpus):
    (message,) = messages(corpus / "x12/850/bots_850_004010_isa00200.x12", x12)
    overrides = {"codelists": {"units": {"UN": "Dozens"}}}

    order, _ = translate("x12/850_004010", message.tree, overrides)
    base, _ = translate("x12/850_004010", message.tree)

    assert {line.uom for line in order.lines} == {"Dozens"}
    assert {line.uom for line in base.lines} == {"Units"}


def test_override_of_an_unknown_field_names_the_profile():
    overrides = {"fields": {"lines.colour": "IMD/IMD03"}}

    with pytest.raises(TemplateError, match=r"partners/acme.yaml.*OrderLine has no field 'colour'"):
        load_template(TEMPLATES, "edifact/ORDERS_D96A", overrides, source="partners/acme.yaml")


def test_override_with_bad_xpath_is_rejected():
    with pytest.raises(TemplateError, match=r"partners/acme.yaml.*bad XPath 'QTY\[\['"):
        load_template(TEMPLATES, "edifact/ORDERS_D96A", {"fields": {"lines.quantity": "QTY[["}},
                      source="partners/acme.yaml")


def test_override_of_an_unknown_code_list_is_rejected():
    with pytest.raises(TemplateError, match="no code list 'colours'"):
        load_template(TEMPLATES, "edifact/ORDERS_D96A", {"codelists": {"colours": {"R": "red"}}})


# --- loading and validation -------------------------------------------------------------------


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "codelists").mkdir()
    (tmp_path / "codelists/units.yaml").write_text("codes:\n  PCE: Units\n")
    (tmp_path / "edifact").mkdir()
    return tmp_path


def write(templates: Path, body: str) -> None:
    header = "standard: edifact\nmessage: ORDERS\nversions: [D96A]\ndocument: Order\n"
    (templates / "edifact/T.yaml").write_text(header + body)


def test_unknown_key_is_reported_with_file_and_line(templates):
    write(templates, "fields:\n  document_number: {path: BGM/BGM02, typ: string}\n")

    with pytest.raises(TemplateError, match=r"templates/edifact/T.yaml, line 6: unknown key 'typ'"):
        load_template(templates, "edifact/T")


def test_bad_xpath_is_reported_with_file_and_line(templates):
    write(templates, "fields:\n  currency: CUX/CUX01\n  note: \"FTX[@\"\n")

    with pytest.raises(TemplateError, match=r"templates/edifact/T.yaml, line 7: bad XPath 'FTX\[@'"):
        load_template(templates, "edifact/T")


def test_unknown_xpath_function_is_reported(templates):
    write(templates, "fields:\n  note: \"string-join(FTX, ' ')\"\n")

    with pytest.raises(TemplateError, match=r"line 6: bad XPath"):
        load_template(templates, "edifact/T")


def test_unknown_document_type_is_reported(templates):
    (templates / "edifact/T.yaml").write_text("standard: edifact\nmessage: ORDERS\ndocument: Ordre\nfields: {}\n")

    with pytest.raises(TemplateError, match=r"T.yaml, line 3: unknown document type 'Ordre'"):
        load_template(templates, "edifact/T")


def test_unknown_code_list_is_reported(templates):
    write(templates, "fields:\n  lines:\n    each: SG25\n    fields:\n      uom: {path: QTY, codelist: unitz}\n")

    with pytest.raises(TemplateError, match=r"T.yaml, line 9: no code list 'unitz'"):
        load_template(templates, "edifact/T")


def test_unknown_type_is_reported(templates):
    write(templates, "fields:\n  document_date: {path: DTM, type: datetime}\n")

    with pytest.raises(TemplateError, match=r"T.yaml, line 6: unknown type 'datetime'"):
        load_template(templates, "edifact/T")


def test_unknown_mapping_name_is_reported(templates):
    write(templates, "fields:\n  buyer: {from: SG2, mapping: partie}\n")

    with pytest.raises(TemplateError, match=r"T.yaml, line 6: no mapping 'partie'"):
        load_template(templates, "edifact/T")


def test_a_list_field_needs_each(templates):
    write(templates, "fields:\n  lines: {from: SG25, fields: {quantity: QTY}}\n")

    with pytest.raises(TemplateError, match=r"T.yaml, line 6: lines is a list: use `each`"):
        load_template(templates, "edifact/T")


def test_invalid_yaml_is_reported_with_file_and_line(templates):
    write(templates, "fields:\n  note: [unclosed\n")

    with pytest.raises(TemplateError, match=r"templates/edifact/T.yaml, line \d+: not valid YAML"):
        load_template(templates, "edifact/T")


def test_template_names_cannot_leave_the_templates_folder(templates):
    with pytest.raises(TemplateError, match="is not a template name"):
        load_template(templates, "../etc/passwd")


def test_extends_changes_only_the_keys_it_gives(templates):
    write(templates, "fields:\n  document_number: {path: BGM/BGM02/BGM02.1, required: true}\n"
                     "  currency: CUX/CUX01/CUX01.2\n")
    (templates / "edifact/Child.yaml").write_text(
        "extends: edifact/T\nversions: [D01B]\nfields:\n  document_number: BGM/BGM03\n"
    )
    child = load_template(templates, "edifact/Child")
    tree = order_tree(("BGM", [["220"], ["PO1"], ["9"]]), ("CUX", [["2", "EUR"]]))

    order, _ = child.translate(tree)
    _, problems = child.translate(order_tree(("CUX", [["2", "EUR"]])))

    assert (order.document_number, order.currency) == ("9", "EUR")
    assert [p.reason for p in problems] == ["required, not found"]  # `required` kept from the base
    assert child.versions == ("D01B",)


def test_template_says_which_messages_it_applies_to():
    template = load_template(TEMPLATES, "edifact/ORDERS_D96A")

    assert (template.standard, template.message, template.document) == ("edifact", "ORDERS", "Order")
    assert template.applies_to("edifact", "ORDERS", "D:96A")
    assert template.applies_to("edifact", "ORDERS", "D96A")
    assert not template.applies_to("edifact", "ORDERS", "D93A")
    assert not template.applies_to("edifact", "INVOIC", "D96A")
    assert not template.applies_to("x12", "ORDERS", "D96A")
    assert not load_template(TEMPLATES, "x12/850_005010").applies_to("x12", "850", "004010")


@pytest.mark.parametrize(
    "name", ["edifact/ORDERS_D96A", "x12/850_004010", "x12/850_005010", "csv/orders_flat", "csv/orders_flat_quoted"]
)
def test_shipped_templates_load(name):
    template = load_template(TEMPLATES, name)

    assert template.document == "Order"
    assert (template.layout is not None) == (template.standard == "csv")


def test_base_template_names_lists_templates_but_not_code_lists():
    names = base_template_names(TEMPLATES)

    assert "edifact/ORDERS_D96A" in names and "x12/850_005010" in names and "csv/orders_flat" in names
    assert not any(name.startswith("codelists/") for name in names)


def test_overrides_read_with_line_numbers_are_reported_at_their_line():
    profile = yamlfile.loads(
        "id: acme\noverrides:\n  fields:\n    lines.quantity: {path: QTY, type: number}\n", "partners/acme.yaml"
    )

    with pytest.raises(TemplateError, match=r"partners/acme.yaml, line 4: unknown type 'number'"):
        load_template(TEMPLATES, "edifact/ORDERS_D96A", profile["overrides"])


def test_an_orders_item_named_in_lin_by_vp_sa_in_or_bp_or_in_pia_by_any_identifier_is_read():
    from gateway.inspection import inspect_bytes
    from gateway.pipeline import TemplateSet

    sample = (ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi").read_text(encoding="latin-1")
    lines = {"LIN+1++5790000012345:EN'\nPIA+1+AX-100:SA'": "LIN+1++AX-100:VP'",
             "LIN+2++5790000012352:EN'\nPIA+1+AX-220:SA+8812:IN'": "LIN+2++8812:IN'\nPIA+1+5790000012352:EN+036000291452:UP'"}
    for old, new in lines.items():
        assert old in sample
        sample = sample.replace(old, new)
    report = inspect_bytes(sample.encode("latin-1"), "orders.edi", None, TemplateSet(TEMPLATES))
    message = report["interchanges"][0]["messages"][0]
    assert message["document"]["document_number"] == "4500012"
    first, second = message["document"]["lines"][:2]
    assert first["supplier_item"] == "AX-100"
    assert (second["buyer_item"], second["gtin"], second["upc"]) == ("8812", "5790000012352", "036000291452")
