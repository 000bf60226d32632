"""Sell-through (852 / SLSRPT, and a retailer's flat CSV) is read by the base templates into a SalesReport,
one line per item and location, from the corpus files EXPECTED.md describes; the demand-signal feed
is those lines as CSV or Parquet; a forecasting tool's recommendations CSV becomes a Replenishment
whose lines keep their line in the file."""

import csv
import io
from datetime import date

import pytest
from conftest import CORPUS, ROOT

from gateway.inspection import inspect_bytes, inspect_file
from gateway.pipeline import TemplateSet
from gateway.profiles import ProfileError, load_profile
from gateway.signals import COLUMNS, SignalsError, item_key, rows_of, to_csv, to_parquet

TEMPLATES = TemplateSet(ROOT / "templates")
SLSRPT = CORPUS / "edifact/SLSRPT/bots_slsrpt_d96a_ean004.edi"
X12_852 = CORPUS / "x12/852/oopfactory_852_003030_caret_term.x12"
SLSRPT_CSV = CORPUS / "csv/SLSRPT/bots_slsrpt_quoted_decimal_comma.csv"


def messages(report: dict) -> list[dict]:
    return [message for interchange in report["interchanges"] for message in interchange["messages"]]


def profile_with(tmp_path, body: str, name: str = "partner"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return load_profile(path, tmp_path, ROOT / "templates")


def test_the_corpus_slsrpt_gives_a_sales_report_per_message_with_its_period_parties_and_196_lines():
    report = inspect_file(SLSRPT, None, TEMPLATES)
    first, second = messages(report)
    assert [first["status"], second["status"]] == ["accepted", "accepted"]
    assert first["document_type"] == "SalesReport" and first["problems"] == []
    header = {key: value for key, value in first["document"].items() if key != "lines"}
    assert header == {"document_number": "20060801005", "document_date": "2008-04-01",
                      "period_start": "2008-03-31", "period_end": "2008-03-31", "currency": "EUR",
                      "buyer": {"gln": "8712345000000"}, "supplier": {"gln": "8712345678906"}}
    lines = first["document"]["lines"]
    assert len(lines) == 196
    assert [(line["gtin"], line["unit_price"], line["quantity_sold"], line["uom"]) for line in lines[:5]] == [
        ("8712345275208", "27", "2", "Units"), ("8712345717343", "19.9", "2", "Units"),
        ("8712345071429", "12.5", "1", "Units"), ("8712345717473", "39.8", "4", "Units"),
        ("8712345206130", "13.5", "1", "Units")]
    assert {line["location"]["gln"] for line in lines[:5]} == {"8712345001472"}
    assert lines[0]["period_end"] == "2008-03-31"  # the store's DTM 356
    second_store = lines[5:9]  # the second LOC group, LIN 6 … 9
    assert {line["location"]["gln"] for line in second_store} == {"8712345000345"}
    assert [(line["gtin"], line["quantity_sold"]) for line in second_store if line["quantity_sold"].startswith("-")] == [
        ("8712345275208", "-1"), ("8712345619448", "-1")]
    assert (lines[-1]["line_number"], lines[-1]["gtin"], lines[-1]["location"]["gln"]) == (
        "196", "8712345372103", "8712345001403")
    groups = [gln for n, gln in enumerate(line["location"]["gln"] for line in lines)
              if n == 0 or lines[n - 1]["location"]["gln"] != gln]
    assert len(groups) == 52 and len(set(groups)) == 50  # two stores report in two LOC groups each
    # The second interchange (no UNA, test indicator): the same stores and lines, another period.
    assert (second["document"]["document_number"], second["document"]["period_end"]) == ("XXX", "2006-07-31")
    assert second["document"]["supplier"] == {"gln": "4007060000007"}
    assert len(second["document"]["lines"]) == 196


def test_the_corpus_852_gives_one_line_per_item_and_reporting_location_with_stock_and_on_order():
    report = inspect_file(X12_852, None, TEMPLATES)
    [message] = messages(report)
    assert message["status"] == "accepted" and message["document_type"] == "SalesReport"
    document = message["document"]
    assert (document["period_start"], document["period_end"]) == ("1995-06-13", "1995-06-13")
    assert "document_number" not in document  # an 852 has none: never invented
    assert [(line["location"]["id"], line["buyer_item"], line["supplier_item"], line.get("quantity_on_hand"),
             line.get("quantity_on_order")) for line in document["lines"]] == [
        ("007061617", "54-P96A", "P96A", "10", "6"),
        ("007061617", "54-P99A", "P99A", "77", None),
        ("007061618", "54-P99A", "P99A", None, None)]
    # Read with leniency: the 6-digit date and the location loop after the items are warnings.
    warnings = [error["reason"] for error in message["errors"]]
    assert any("XQ02" in reason for reason in warnings) and any("out of order" in reason for reason in warnings)
    assert all(error["severity"] == "warning" for error in message["errors"])


# No 852 of the corpus lists its stores in SDQ segments: this one follows the standard's layout
# (004010 SDQ: unit, id qualifier, up to ten location/quantity pairs), as retailers use it: a ZA
# without its own quantity whose stores take two SDQ segments, a ZA with a total and its stores, an
# activity the template does not read (QO), and a line with its total and stores named by GLN.
SDQ_852 = b"""ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*DISTRIBUTOR    *261207*0600*U*00401*000004901*0*P*>~
GS*PD*BIGBOX*DISTRIBUTOR*20261207*0600*4901*X*004010~
ST*852*0001~
XQ*H*20261130*20261206~
N9*IA*W49-2026~
N1*BY*BigBox Stores Inc*UL*0614141000012~
LIN*1*EN*5790000012345*VN*AX-100~
ZA*QS**EA~
SDQ*EA*92*114*30*207*12*301*7*302*5*303*4*304*3*305*2*306*2*307*1*308*1~
SDQ*EA*92*309*6~
ZA*QA*260*EA~
SDQ*EA*92*114*140*207*20*309*100~
ZA*QO~
SDQ*EA*92*207*1~
LIN*2*EN*5790000012369*VN*AX-310~
ZA*QS*1250*EA~
ZA*QP~
SDQ*EA*UL*0614141000114*500~
CTT*2~
SE*18*0001~
GE*1*4901~
IEA*1*000004901~
"""


def test_an_852_listing_its_stores_in_sdq_gives_each_line_its_quantities_per_store_and_activity():
    [message] = messages(inspect_bytes(SDQ_852, "852_W49-2026.x12", None, TEMPLATES))
    assert (message["status"], message["problems"]) == ("accepted", [])
    first, second = message["document"]["lines"]
    assert [(entry["activity"], entry["location"], entry["quantity"]) for entry in first["location_quantities"]] == [
        ("sold", {"id": store}, sold) for store, sold in (("114", "30"), ("207", "12"), ("301", "7"), ("302", "5"),
                                                          ("303", "4"), ("304", "3"), ("305", "2"), ("306", "2"),
                                                          ("307", "1"), ("308", "1"), ("309", "6"))] + [
        ("on_hand", {"id": "114"}, "140"), ("on_hand", {"id": "207"}, "20"), ("on_hand", {"id": "309"}, "100")]
    # the line's own figures are what its ZA02 say: none sold as a total, 260 on hand; the unit is ZA03's
    assert ("quantity_sold" in first, first["quantity_on_hand"], first["uom"]) == (False, "260", "Units")
    assert second["location_quantities"] == [
        {"activity": "on_order", "location": {"gln": "0614141000114"}, "quantity": "500"}]
    assert second["quantity_sold"] == "1250"


def test_signal_rows_of_an_852_with_sdq_are_one_per_item_and_store_and_count_nothing_twice():
    [message] = messages(inspect_bytes(SDQ_852, "852_W49-2026.x12", None, TEMPLATES))
    rows = list(rows_of("bigbox", 3, message["document"], {"products": {"gtin:5790000012345": "AX-100"}}))
    assert [(row["gtin"], row["location"], row["sold"], row["on_hand"], row["on_order"]) for row in rows] == [
        ("5790000012345", "114", "30", "140", None), ("5790000012345", "207", "12", "20", None),
        *[("5790000012345", store, sold, None, None) for store, sold in (
            ("301", "7"), ("302", "5"), ("303", "4"), ("304", "3"), ("305", "2"), ("306", "2"), ("307", "1"),
            ("308", "1"))],
        ("5790000012345", "309", "6", "100", None),
        # the second item: its total sold (no store named), then the store its on-order is spread over
        ("5790000012369", None, "1250", None, None), ("5790000012369", "0614141000114", None, None, "500")]
    assert {row["product"] for row in rows if row["gtin"] == "5790000012345"} == {"AX-100"}
    assert {(row["period_start"], row["period_end"], row["document_number"]) for row in rows} == {
        ("2026-11-30", "2026-12-06", "W49-2026")}
    read = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8"))))
    assert sum(int(row["sold"] or 0) for row in read) == 73 + 1250 and sum(int(row["on_hand"] or 0) for row in read) == 260


def bigbox_852(control: str, *segments: str) -> bytes:
    """One 852 from BigBox to us, enveloped, from its segments between ST and SE."""
    body = ["ST*852*0001", *segments]
    return "~\n".join([
        f"ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*DISTRIBUTOR    *261214*0600*U*00401*00000{control}*0*P*>",
        f"GS*PD*BIGBOX*DISTRIBUTOR*20261214*0600*{control}*X*004010", *body, f"SE*{len(body) + 1}*0001",
        f"GE*1*{control}", f"IEA*1*00000{control}", ""]).encode()


# No 852 of the corpus carries a CTP: this one follows the 004010 layout, where CTP may follow LIN
# (the item's price) and may sit in each ZA loop after ZA (the price of that activity). Line 1 prices
# its stock and its order at cost and its sales at retail; line 2 has only its own price; line 3 both,
# its sales at a promotional price; line 4 prices only its stock.
CTP_852 = bigbox_852(
    "4902", "XQ*H*20261207*20261213", "N9*IA*W50-2026", "N1*BY*BigBox Stores Inc*UL*0614141000012", "N1*RL**92*0114",
    "LIN*1*EN*5790000012345*VN*AX-100", "ZA*QA*140*EA", "CTP**UCP*6.10", "ZA*QS*30*EA", "CTP**RES*12.99",
    "ZA*QP*24*EA", "CTP**UCP*6.10",
    "LIN*2*EN*5790000012369*VN*AX-310", "CTP**RES*24.50", "ZA*QS*4*EA",
    "LIN*3*EN*5790000012376*VN*AX-320", "CTP**RES*9.99", "ZA*QS*7*EA", "CTP**PRP*7.49",
    "LIN*4*EN*5790000012383*VN*AX-330", "ZA*QA*9*EA", "CTP**UCP*3.00",
    "CTT*4")


def test_an_852_line_is_priced_at_what_its_units_sold_for_not_at_what_its_stock_or_orders_cost():
    """The 852 above, built from the standard's layout (no corpus 852 has CTP): a CTP inside the
    quantity-sold ZA loop is the line's unit price, ahead of the item's own CTP; a CTP in another
    activity's loop (on hand, on order) is never taken for it."""
    [message] = messages(inspect_bytes(CTP_852, "852_W50-2026.x12", None, TEMPLATES))
    assert (message["status"], message["problems"], message["errors"]) == ("accepted", [], [])
    assert [(line["supplier_item"], line.get("quantity_sold"), line.get("unit_price"))
            for line in message["document"]["lines"]] == [
        ("AX-100", "30", "12.99"), ("AX-310", "4", "24.50"), ("AX-320", "7", "7.49"), ("AX-330", None, None)]


def test_the_flat_sales_csv_reads_as_the_slsrpt_it_was_flattened_from(tmp_path):
    retailer = profile_with(tmp_path, "name: Retailer\nodoo_partner: {ref: R}\nreceive:\n"
                                      "  SLSRPT: {template: csv/sales_flat}\n", "retailer")
    report = inspect_bytes(SLSRPT_CSV.read_bytes(), SLSRPT_CSV.name, retailer, TEMPLATES)
    [message] = messages(report)
    assert message["problems"] == []
    lines = message["document"]["lines"]
    assert len(lines) == 196
    assert lines[0] == {"line_number": "1", "gtin": "8712345275208", "location": {"gln": "8712345001472"},
                        "period_end": "2008-03-31", "quantity_sold": "2", "unit_price": "27.000"}
    assert (lines[6]["location"]["gln"], lines[6]["gtin"], lines[6]["quantity_sold"], lines[6]["unit_price"]) == (
        "8712345000345", "8712345275208", "-1", "19.950")
    edifact = messages(inspect_file(SLSRPT, None, TEMPLATES))[0]["document"]["lines"]
    assert [(line["location"]["gln"], line["gtin"], line["quantity_sold"]) for line in lines] == [
        (line["location"]["gln"], line["gtin"], line["quantity_sold"]) for line in edifact]


def test_signal_rows_name_period_location_our_reference_and_quantities():
    document = messages(inspect_file(X12_852, None, TEMPLATES))[0]["document"]
    result = {"products": {"supplier_item:P96A": "WIDGET-96"}}
    rows = list(rows_of("aftermarket", 7, document, result))
    assert [(row["location"], row["product"], row["partner_item"], row["on_hand"], row["on_order"]) for row in rows] == [
        ("007061617", "WIDGET-96", "54-P96A", "10", "6"), ("007061617", None, "54-P99A", "77", None),
        ("007061618", None, "54-P99A", None, None)]
    assert {(row["period_start"], row["period_end"], row["partner"], row["message_id"]) for row in rows} == {
        ("1995-06-13", "1995-06-13", "aftermarket", 7)}
    assert list(rows_of("aftermarket", 7, document, result, since=date(1995, 6, 14))) == []
    assert item_key({"gtin": "123", "buyer_item": "X"}) == "gtin:123" and item_key({}) is None


def test_the_feed_as_csv_and_parquet_holds_the_same_rows():
    pyarrow = pytest.importorskip("pyarrow.parquet")
    document = messages(inspect_file(SLSRPT, None, TEMPLATES))[0]["document"]
    rows = list(rows_of("bigbox", 1, document, None))
    read = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8"))))
    assert tuple(read[0]) == COLUMNS and len(read) == 196
    assert (read[6]["location"], read[6]["gtin"], read[6]["sold"], read[6]["period_end"]) == (
        "8712345000345", "8712345275208", "-1", "2008-03-31")
    table = pyarrow.read_table(io.BytesIO(to_parquet(rows)))
    assert table.num_rows == 196 and tuple(table.column_names) == COLUMNS
    as_python = table.to_pylist()
    assert str(as_python[6]["sold"]) == "-1.0000" and as_python[6]["period_end"] == date(2008, 3, 31)
    assert sum(row["sold"] for row in as_python) == sum(int(row["sold"]) for row in read)


def test_parquet_without_pyarrow_says_how_to_get_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(SignalsError, match=r"edigw\[parquet\]"):
        to_parquet([])


RECOMMENDATIONS = (b"product,warehouse,quantity,date,supplier\n"
                   b"HINGE-100,WH,120,2026-12-14,\n"
                   b"SCREW-440,WH,2500,2026-12-10,NORDIC\n")


def test_a_recommendations_csv_keeps_each_line_of_the_file(tmp_path):
    tool = profile_with(tmp_path, "name: Forecast\nodoo_partner: {ref: F}\nreceive:\n"
                                  "  REPLENISHMENT: {template: csv/replenishment}\n", "forecast")
    [message] = messages(inspect_bytes(RECOMMENDATIONS, "recs.csv", tool, TEMPLATES))
    assert message["document_type"] == "Replenishment" and message["problems"] == []
    assert message["document"]["lines"] == [
        {"line_number": "2", "product": "HINGE-100", "warehouse": "WH", "quantity": "120", "date": "2026-12-14"},
        {"line_number": "3", "product": "SCREW-440", "warehouse": "WH", "quantity": "2500", "date": "2026-12-10",
         "supplier": "NORDIC"}]


def test_signals_and_replenishment_sections_are_checked_naming_the_line(tmp_path):
    with pytest.raises(ProfileError) as raised:
        profile_with(tmp_path, "name: F\nodoo_partner: {ref: F}\nsignals:\n  format: xlsx\n  schedule: often\n"
                               "replenishment:\n  apply: confirm\n", "forecast")
    problems = [str(problem) for problem in raised.value.problems]
    assert any("forecast.yaml:4" in p and "csv or parquet" in p for p in problems), problems
    assert any("forecast.yaml:5" in p and "signals.schedule" in p for p in problems), problems
    assert any("forecast.yaml:7" in p and "rfq or orderpoints" in p for p in problems), problems
    assert any("no channel with an outbox" in p for p in problems), problems
    good = profile_with(tmp_path, "name: F\nodoo_partner: {ref: F}\nchannels:\n  drop: {type: folder, inbox: in, "
                                  "outbox: out}\nsignals: {format: parquet, schedule: 1h, partners: [bigbox]}\n"
                                  "replenishment: {apply: orderpoints, warehouse: WH}\n", "good")
    assert (good.signals.format, good.signals.schedule_seconds, good.signals.partners) == ("parquet", 3600.0, ("bigbox",))
    assert (good.replenishment.apply, good.replenishment.warehouse) == ("orderpoints", "WH")


def test_the_shipped_samples_read_with_the_shipped_profiles(tmp_path):
    report = inspect_file(ROOT / "samples/demand/bigbox-stores/852_W48-2026.x12", None, TEMPLATES)
    columbus, dayton = (message["document"] for message in messages(report))
    assert [message["status"] for message in messages(report)] == ["accepted", "accepted"]
    assert (columbus["document_number"], columbus["period_start"], columbus["period_end"]) == (
        "W48-2026-114", "2026-11-23", "2026-11-29")
    assert [(line["location"]["id"], line["supplier_item"], line["quantity_sold"], line["quantity_on_hand"])
            for line in columbus["lines"] + dayton["lines"]] == [
        ("114", "AX-100", "36", "140"), ("114", "AX-310", "1250", "800"), ("207", "AX-100", "12", "20")]
    assert dayton["lines"][0]["quantity_returned"] == "2"
    tool = load_profile(ROOT / "partners/forecaster.yaml", tmp_path, ROOT / "templates")
    assert (tool.signals.partners, tool.replenishment.apply) == (("bigbox-stores",), "rfq")
    sample = ROOT / "samples/demand/forecaster/recommendations-2026-W49.csv"
    [message] = messages(inspect_bytes(sample.read_bytes(), sample.name, tool, TEMPLATES))
    assert [(line["line_number"], line["product"], line["quantity"], line["supplier"], line["minimum"])
            for line in message["document"]["lines"]] == [("2", "AX-100", "200", "NORDIC-PARTS", "60"),
                                                          ("3", "AX-310", "5000", "NORDIC-PARTS", "1500")]


def test_a_recommendation_that_is_not_a_number_or_a_date_holds_the_file_naming_line_and_value(tmp_path):
    tool = profile_with(tmp_path, "name: Forecast\nodoo_partner: {ref: F}\nreceive:\n"
                                  "  REPLENISHMENT: {template: csv/replenishment}\n", "forecast")
    data = b"product,warehouse,quantity,date\nHINGE-100,WH,lots,2026-12-14\nSCREW-440,WH,25,next week\n"
    [message] = messages(inspect_bytes(data, "recs.csv", tool, TEMPLATES))
    problems = message["problems"]
    assert any("lines[1].quantity" in p and "not a number" in p and "lots" in p for p in problems), problems
    assert any("lines[2].date" in p and "next week" in p for p in problems), problems
