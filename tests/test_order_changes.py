"""A customer's order change (860 / ORDCHG) is read by the base templates into an OrderChange:
the order it changes, its purpose, and per line what changes, from the corpus files EXPECTED.md
describes and from changes our tests write the way customers do."""

from conftest import CORPUS, ROOT

from gateway.inspection import inspect_bytes, inspect_file
from gateway.pipeline import TemplateSet

TEMPLATES = TemplateSet(ROOT / "templates")


def report_problems(path) -> list[str]:
    report = inspect_file(path, None, TEMPLATES)
    return [problem for interchange in report["interchanges"] for message in interchange["messages"]
            for problem in message["problems"]]


def documents(report: dict) -> list[dict]:
    return [message["document"] for interchange in report["interchanges"] for message in interchange["messages"]]


def test_the_corpus_860_gives_each_set_the_order_it_changes_and_its_purpose():
    report = inspect_file(CORPUS / "x12/860/edisupport_860_004010_two_sets_blank_lines.x12", None, TEMPLATES)
    first, second = documents(report)
    assert first == {"document_number": "123", "document_date": "2023-11-14", "order_number": "PO001",
                     "order_date": "2023-10-25", "purpose": "change", "currency": "USD"}
    assert second["order_number"] == "PO002"


def test_the_corpus_860_with_deleted_lines_reads_each_poc_as_a_cancelled_line_with_its_items():
    # The file's envelope is broken (short ISA, wrong SE count); its POC lines still read.
    report = inspect_file(CORPUS / "x12/860/oopfactory_860_short_isa_missing_terminator.x12", None, TEMPLATES)
    [document] = documents(report)
    assert document["order_number"] == "PO NUMBER"
    assert document["lines"] == [
        {"line_number": "1", "buyer_item": "59123", "supplier_item": "018100775285", "change": "cancel",
         "change_code": "DI"},
        {"line_number": "2", "buyer_item": "86111", "supplier_item": "039307384346", "change": "cancel",
         "change_code": "DI"},
    ]


def test_the_corpus_ordchg_d20b_is_a_cancellation_of_the_order_its_rff_on_names():
    for name in ("edifactmapper_ordchg_d20b.edi", "edifactmapper_ordchg_d20b_39001.edi"):
        [document] = documents(inspect_file(CORPUS / "edifact/ORDCHG" / name, None, TEMPLATES))
        assert document["purpose"] == "cancel"  # BGM 1225 = 1
        assert document["order_number"] == "GENERATED00001"
        assert document["buyer"] == {"gln": "1234567890128"}  # NAD MS, the message sender
        assert document["document_date"] == "2025-04-01"  # DTM 137 in format 303, with a zone
        assert report_problems(CORPUS / "edifact/ORDCHG" / name) == []


X12_CHANGE = (
    "ISA*00*          *00*          *ZZ*BUYERCO        *ZZ*NORDIC         *261201*0900*U*00401*000000301*0*T*>~"
    "GS*PC*BUYERCO*NORDIC*20261201*0900*301*X*004010~"
    "ST*860*0001~"
    "BCH*04*SA*PO-77001**3*20261120****20261201~"
    "DTM*002*20261215~"
    "N1*BY*Buyer Co*UL*5790000000099~"
    "POC*1*QI*12*12*EA*9.50**UP*012345678905*VN*WW-100~"
    "POC*2*QD*3*3*EA*12.40**EN*4006381333948~"
    "POC*3*DI*0*0*EA***VN*WW-300~"
    "POC*4*AI*5*5*EA*3.10**VN*WW-400~"
    "PID*F****Green widget~"
    "DTM*002*20261218~"
    "POC*5*PC*10*10*EA*8.75**VN*WW-500~"
    "CTT*5~"
    "SE*14*0001~"
    "GE*1*301~"
    "IEA*1*000000301~"
)


def test_an_860_gives_per_line_the_change_type_the_new_values_and_all_item_ids():
    [document] = documents(inspect_bytes(X12_CHANGE.encode(), "change.x12", None, TEMPLATES))
    assert (document["order_number"], document["document_number"], document["purpose"]) == ("PO-77001", "3", "change")
    assert document["requested_delivery_date"] == "2026-12-15"
    assert document["buyer"] == {"gln": "5790000000099", "name": "Buyer Co"}
    assert [(line["line_number"], line["change"], line["quantity"]) for line in document["lines"]] == [
        ("1", "quantity_increase", "12"), ("2", "quantity_decrease", "3"), ("3", "cancel", "0"),
        ("4", "add", "5"), ("5", "price", "10")]
    first, _, _, added, price = document["lines"]
    assert (first["upc"], first["supplier_item"], first["uom"], first["unit_price"]) == (
        "012345678905", "WW-100", "Units", "9.50")
    assert (added["description"], added["delivery_date"]) == ("Green widget", "2026-12-18")
    assert price["unit_price"] == "8.75"


def test_an_860_of_005010_reads_as_the_004010_one():
    text = X12_CHANGE.replace("*00401*", "*00501*").replace("*X*004010~", "*X*005010~")
    [document] = documents(inspect_bytes(text.encode(), "change.x12", None, TEMPLATES))
    assert document["order_number"] == "PO-77001"
    assert len(document["lines"]) == 5


EDIFACT_CHANGE = (
    "UNA:+.? '"
    "UNB+UNOC:3+5790000000099:14+5790000000006:14+261201:0900+CHG1'"
    "UNH+1+ORDCHG:D:96A:UN:EAN005'"
    "BGM+230+CHG-9+4'"
    "DTM+137:20261201:102'"
    "RFF+ON:PO-77002'"
    "DTM+171:20261120:102'"
    "NAD+BY+5790000000099::9'"
    "NAD+SU+5790000000006::9'"
    "LIN+1+3+4006381333931:EN'"
    "QTY+21:15:PCE'"
    "DTM+2:20261220:102'"
    "LIN+2+2+4006381333948:EN'"
    "QTY+21:0:PCE'"
    "LIN+3+1+4006381333955:EN'"
    "PIA+1+WW-300:SA'"
    "QTY+21:4:PCE'"
    "PRI+AAA:3.10'"
    "UNS+S'"
    "UNT+18+1'"
    "UNZ+1+CHG1'"
)


def test_an_ordchg_d96a_gives_per_line_its_1229_action_and_new_values():
    report = inspect_bytes(EDIFACT_CHANGE.encode(), "change.edi", None, TEMPLATES)
    [message] = report["interchanges"][0]["messages"]
    assert message["status"] == "accepted", message["errors"]
    document = message["document"]
    assert (document["order_number"], document["order_date"], document["purpose"]) == (
        "PO-77002", "2026-11-20", "change")
    assert document["buyer"] == {"gln": "5790000000099"}
    assert [(line["line_number"], line["change"], line.get("quantity")) for line in document["lines"]] == [
        ("1", "change", "15"), ("2", "cancel", "0"), ("3", "add", "4")]
    assert document["lines"][0]["delivery_date"] == "2026-12-20"
    assert (document["lines"][2]["supplier_item"], document["lines"][2]["unit_price"]) == ("WW-300", "3.10")


# --- the answer and the profile ----------------------------------------------------------------

ANSWERED = {"answer": [
    {"line": "1", "change": "quantity_increase", "status": "accepted", "text": "line 1: quantity 10 → 15"},
    {"line": "2", "change": "cancel_line", "status": "rejected", "reason": "line_shipped", "text": "shipped"}]}


def test_a_change_answered_as_an_ordrsp_reads_back_line_by_line_as_accepted_and_rejected():
    from test_outbound_templates import written

    from gateway.odoo.changes import change_answer

    [document] = documents(inspect_bytes(EDIFACT_CHANGE.encode(), "change.edi", None, TEMPLATES))
    answer = change_answer(document, ANSWERED, today="2026-12-02")
    assert (answer.status, answer.order_number) == ("changed", "PO-77002")
    _, segments = written("outbound/edifact/ORDRSP_D96A", answer)
    lines = [segment for segment in segments if segment[0] == "LIN"]
    assert [(line[1], line[2]) for line in lines] == [("1", "5"), ("2", "7"), ("3", "5")]  # 1229 accepted / not


def test_a_profile_with_an_unknown_kind_of_change_is_refused_naming_the_line(tmp_path):
    import pytest

    from gateway.profiles import ProfileError, load_profile

    path = tmp_path / "buyer.yaml"
    path.write_text("name: Buyer\nodoo_partner: {ref: B}\nchanges:\n  apply: [quantity_increase, colour]\n"
                    "  on_confirmed: sometimes\n", encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile(path, tmp_path, ROOT / "templates")
    problems = [str(problem) for problem in raised.value.problems]
    assert any("buyer.yaml:4" in p and "changes.apply must be a list of" in p for p in problems), problems
    assert any("buyer.yaml:5" in p and "on_confirmed must be apply or exception" in p for p in problems), problems
    good = tmp_path / "good.yaml"
    good.write_text("name: Buyer\nodoo_partner: {ref: B}\nchanges: {apply: [price], on_confirmed: apply}\n")
    assert load_profile(good, tmp_path, ROOT / "templates").changes.apply == ("price",)
