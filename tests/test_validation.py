"""Validation against message definitions: each kind of error, with the standard's own code and place.

Hand-made messages, each broken in one way, and corpus files whose errors are known. The
codes are those an acknowledgment carries: UN/EDIFACT 0085 (UCS/UCD), X12 AK3 and AK4.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CORPUS, ROOT
from lxml import etree

from gateway.formats import edifact, x12
from gateway.formats.model import Message
from gateway.formats.validation import (
    DefinitionError, Options, gs1_check_digit_ok, load_definition, summary, validate,
)

# --- EDIFACT ------------------------------------------------------------------------------------

HEADER = "UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20240131:102'"
LINE = "LIN+1++4012345000009:EN'QTY+21:5'"
TRAILER = "UNS+S'"


def edifact_message(*segments: str, options: Options | None = None) -> Message:
    body = "".join(segments)
    count = body.count("'") + 1
    data = (f"UNB+UNOC:3+SENDER:14+RECEIVER:14+240131:1200+REF1'{body}UNT+{count}+M1'UNZ+1+REF1'").encode()
    found = [e for e in edifact.parse(data, **({"options": options} if options else {})) if isinstance(e, Message)]
    return found[0]


def found(message: Message) -> list[tuple]:
    """(code, position, tag, element, component, severity) of the validation findings."""
    return [(i.code, i.position, i.tag, i.element, i.component, i.severity)
            for i in message.errors if i.level in ("segment", "element")]


def test_a_valid_order_has_no_findings():
    message = edifact_message(HEADER, LINE, TRAILER)
    assert (message.status, message.errors) == ("accepted", [])


def test_edifact_unknown_segment_is_15_at_its_position():
    message = edifact_message(HEADER, "XYZ+1'", LINE, TRAILER)
    assert found(message) == [("15", 4, "XYZ", None, None, "error")]
    assert message.tree.xpath("name(XYZ)") == "XYZ"  # kept in the tree where it was


def test_edifact_segment_out_of_order_is_15():
    message = edifact_message(HEADER, LINE, TRAILER, "BGM+220+PO2+9'")
    assert found(message) == [("15", 7, "BGM", None, None, "error")]
    assert "out of order" in message.errors[0].reason


def test_edifact_missing_mandatory_segment_is_13_where_it_was_expected():
    message = edifact_message("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'", LINE, TRAILER)
    assert found(message) == [("13", 3, "DTM", None, None, "error")]


def test_edifact_too_many_repeats_of_a_segment_is_35():
    dates = "".join(f"DTM+{q}:20240131:102'" for q in range(1, 36))
    message = edifact_message(HEADER + dates, LINE, TRAILER)
    assert found(message) == [("35", 38, "DTM", None, None, "error")]


def test_edifact_too_many_repeats_of_a_group_is_36():
    parties = "".join(f"NAD+BY+{n:013d}::9'" for n in range(100))
    message = edifact_message(HEADER, parties, LINE, TRAILER)
    assert found(message) == [("36", 103, "NAD", None, None, "error")]


def test_edifact_missing_mandatory_element_is_13_with_its_position():
    message = edifact_message(HEADER, "LIN+1++4012345000009:EN'QTY+:5'", TRAILER)
    [issue] = [i for i in message.errors if i.level == "element"]
    assert (issue.code, issue.position, issue.tag, issue.element, issue.component, issue.element_ref) == (
        "13", 5, "QTY", 1, 1, "6063")


def test_edifact_element_too_long_is_39_with_the_bad_value():
    message = edifact_message(HEADER, "NAD+BUYER+4012345000009::9'", LINE, TRAILER)
    [issue] = message.errors
    assert (issue.code, issue.position, issue.tag, issue.element, issue.value) == ("39", 4, "NAD", 1, "BUYER")


def test_edifact_non_numeric_quantity_is_37():
    message = edifact_message(HEADER, "LIN+1++4012345000009:EN'QTY+21:1O'", TRAILER)
    assert found(message) == [("37", 5, "QTY", 1, 2, "error")]


def test_edifact_impossible_date_is_12():
    message = edifact_message("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20240231:102'", LINE, TRAILER)
    assert found(message) == [("12", 3, "DTM", 1, 2, "error")]


def test_edifact_qualifier_outside_a_complete_code_list_is_12():
    message = edifact_message(HEADER, LINE, "UNS+X'")
    assert found(message) == [("12", 6, "UNS", 1, None, "error")]


def test_edifact_too_many_components_is_16():
    message = edifact_message(HEADER, "LIN+1++4012345000009:EN'IMD+F++:::Red:wine:x:y'QTY+21:5'", TRAILER)
    assert found(message) == [("16", 5, "IMD", 3, 7, "error")]


def test_edifact_too_many_data_elements_is_16():
    message = edifact_message(HEADER, LINE, "UNS+S+EXTRA'")
    assert found(message) == [("16", 6, "UNS", 2, None, "error")]


def test_strict_false_makes_length_and_code_findings_warnings():
    message = edifact_message(HEADER, "NAD+BUYER+4012345000009::9'", LINE, "UNS+X'", options=Options(strict=False))
    assert [(i.code, i.severity) for i in message.errors] == [("39", "warning"), ("12", "warning")]
    assert message.status == "accepted"


def test_a_later_directory_read_with_the_d96a_table_only_warns_of_directory_differences():
    message = edifact_message(HEADER.replace("96A", "01B").replace("BGM+220+PO1", "BGM+220+PO1:X"), LINE, TRAILER)
    assert found(message) == [("16", 2, "BGM", 2, 2, "warning")]
    assert "read with the D96A definition" in message.errors[0].reason
    assert message.status == "accepted"


def test_gs1_check_digits_are_checked_when_the_partner_asks():
    bad_gtin = "LIN+1++4012345000008:EN'QTY+21:5'"
    assert edifact_message(HEADER, bad_gtin, TRAILER).status == "accepted"
    message = edifact_message(HEADER, "NAD+BY+4012345000001::9'", bad_gtin, TRAILER,
                              options=Options(check_digits=True))
    assert found(message) == [("12", 4, "NAD", 2, 1, "error"), ("12", 5, "LIN", 3, 1, "error")]


@pytest.mark.parametrize("number, ok", [("4012345000009", True), ("4012345000008", False), ("036000291452", True),
                                        ("96385074", True), ("10614141000416", False), ("abc", False)])
def test_gs1_check_digit(number, ok):
    assert gs1_check_digit_ok(number) is ok


def test_templates_still_find_lines_and_prices_in_their_groups():
    message = edifact_message(HEADER, "NAD+BY+4012345000009::9'CUX+2:EUR:9'", LINE, "PRI+AAA:9.5'", LINE, TRAILER)
    assert message.status == "accepted", message.errors
    assert message.tree.xpath("count(SG25)") == 2
    assert message.tree.xpath("string(SG25[1]/SG28/PRI/PRI01/PRI01.2)") == "9.5"
    assert message.tree.xpath("string(SG7/CUX/CUX01/CUX01.2)") == "EUR"


# --- X12 ----------------------------------------------------------------------------------------

ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*U*00401*000000001*0*P*>~"


def x12_message(*segments: str, version: str = "004010", options: Options | None = None) -> Message:
    body = "ST*850*0001~" + "".join(segments)
    count = body.count("~") + 1
    data = (f"{ISA}GS*PO*SENDER*RECEIVER*20240101*1200*1*X*{version}~{body}SE*{count}*0001~GE*1*1~"
            "IEA*1*000000001~").encode()
    return [e for e in x12.parse(data, **({"options": options} if options else {})) if isinstance(e, Message)][0]


BEG = "BEG*00*SA*PO-1**20240101~"
PO1 = "PO1*1*2*EA*3.5**UP*036000291452~"
CTT = "CTT*1~"


def x12_found(message: Message) -> list[tuple]:
    """(level, code, position, tag, element, component) of the validation findings."""
    return [(i.level, i.code, i.position, i.tag, i.element, i.component)
            for i in message.errors if i.level in ("segment", "element")]


def test_a_valid_850_has_no_findings():
    message = x12_message(BEG, "N1*BY*ACME*UL*0614141000012~", PO1, CTT)
    assert (message.status, message.errors) == ("accepted", [])


def test_x12_unrecognized_segment_is_ak3_1():
    message = x12_message(BEG, "ZZZ*1~", PO1, CTT)
    assert x12_found(message) == [("segment", "1", 3, "ZZZ", None, None)]


def test_x12_segment_of_the_directory_not_in_this_set_is_ak3_2():
    message = x12_message(BEG, "BIG*20240101*INV1~", PO1, CTT)
    assert x12_found(message) == [("segment", "2", 3, "BIG", None, None)]


def test_x12_missing_mandatory_segment_is_ak3_3():
    message = x12_message(PO1, CTT)
    assert x12_found(message) == [("segment", "3", 2, "BEG", None, None)]


def test_x12_segment_over_its_maximum_use_is_ak3_5():
    message = x12_message(BEG, "CUR*BY*USD~CUR*BY*EUR~", PO1, CTT)
    assert x12_found(message) == [("segment", "5", 4, "CUR", None, None)]


def test_x12_loop_over_its_maximum_is_ak3_4():
    message = x12_message(BEG, "SAC*A*C310~" * 26, PO1, CTT)
    assert x12_found(message) == [("segment", "4", 28, "SAC", None, None)]


def test_x12_missing_mandatory_element_is_ak4_1():
    message = x12_message("BEG*00*SA***20240101~", PO1, CTT)
    [issue] = message.errors
    assert (issue.level, issue.code, issue.position, issue.tag, issue.element, issue.element_ref) == (
        "element", "1", 2, "BEG", 3, "324")
    assert summary(message.errors) == {"status": "R", "codes": ["5"]}


def test_x12_paired_elements_are_ak4_2():
    message = x12_message(BEG, "N1*BY*ACME*UL~", PO1, CTT)
    assert x12_found(message) == [("element", "2", 3, "N1", 4, None)]


def test_x12_too_many_elements_is_ak4_3():
    message = x12_message(BEG, PO1, "CTT*1*******8~")
    assert x12_found(message) == [("element", "3", 4, "CTT", 8, None)]


def test_x12_element_too_long_is_ak4_5_and_too_short_ak4_4():
    message = x12_message("BEG*00*SA*" + "P" * 23 + "**20240101~", PO1, "CTT*1~N9*ZZ~")
    assert x12_found(message)[0] == ("element", "5", 2, "BEG", 3, None)
    assert message.errors[0].value == "P" * 23


def test_x12_non_numeric_quantity_is_ak4_6():
    message = x12_message(BEG, "PO1*1*2X*EA*3.5~", CTT)
    assert x12_found(message) == [("element", "6", 3, "PO1", 2, None)]


def test_x12_code_of_the_wrong_length_is_ak4_7():
    message = x12_message("BEG*000*SA*PO-1**20240101~", PO1, CTT)
    assert x12_found(message) == [("element", "7", 2, "BEG", 1, None)]


def test_x12_bad_date_is_ak4_8_and_bad_time_ak4_9():
    message = x12_message("BEG*00*SA*PO-1**20241301~", "DTM*002*20240101*2561~", PO1, CTT)
    assert x12_found(message) == [("element", "8", 2, "BEG", 5, None), ("element", "9", 3, "DTM", 3, None)]


def test_x12_005010_too_many_components_is_ik4_13():
    message = x12_message(BEG, "PO1*1*2*EA>X*3.5~", CTT, version="005010")
    assert x12_found(message) == [("element", "13", 3, "PO1", 3, 2)]


def test_x12_check_digits_of_gtins_and_glns():
    message = x12_message(BEG, "N1*BY*ACME*UL*0614141000013~", "PO1*1*2*EA*3.5**UP*036000291453~", CTT,
                          options=Options(check_digits=True))
    assert x12_found(message) == [("element", "7", 3, "N1", 4, None), ("element", "7", 4, "PO1", 7, None)]


# --- corpus files with known errors --------------------------------------------------------


def corpus_messages(relative: str, parse) -> list[Message]:
    return [e for e in parse((CORPUS / relative).read_bytes()) if isinstance(e, Message)]


def test_staedi_997_invalid_codes_gives_ak4_7_on_ak101_and_ak4_6_on_ak402():
    [message] = corpus_messages("x12/997/staedi_997_invalid_codes.x12", x12.parse)
    assert [(i.code, i.position, i.tag, i.element, i.element_ref, i.value) for i in message.errors] == [
        ("7", 2, "AK1", 1, "479", "HC NOT IN CODESET"), ("6", 5, "AK4", 2, "725", "66 NON NUMERIC")]
    assert message.status == "rejected"


def test_999_with_repeated_context_is_accepted():
    [message] = corpus_messages("x12/999/staedi_999_005010X231.x12", x12.parse)
    assert (message.status, message.errors) == ("accepted", [])


def test_too_many_dtm_in_the_smooks_order_is_35():
    [message] = corpus_messages("edifact/ORDERS/smooks_orders_d03b_too_many_dtm.txt", edifact.parse)
    assert ("35", 38, "DTM") in [(i.code, i.position, i.tag) for i in message.errors]


def test_impossible_date_of_the_d93a_invoice_is_12():
    [message] = corpus_messages("edifact/INVOIC/staedi_invoic_d93a_comma_decimal.edi", edifact.parse)
    [issue] = [i for i in message.errors if i.code]
    assert (issue.code, issue.tag, issue.element, issue.component, issue.value) == ("12", "DTM", 1, 2, "19999715")


def test_inspect_json_shows_the_codes():
    done = subprocess.run([sys.executable, "-m", "gateway", "inspect", str(CORPUS / "x12/997/staedi_997_invalid_codes.x12"),
                           "--json"], capture_output=True, cwd=ROOT, timeout=120)
    report = json.loads(done.stdout)
    [error, _] = report["interchanges"][0]["messages"][0]["errors"]
    assert {key: error[key] for key in ("position", "tag", "code", "level", "element", "element_ref", "value")} == {
        "position": 2, "tag": "AK1", "code": "7", "level": "element", "element": 1, "element_ref": "479",
        "value": "HC NOT IN CODESET"}


# --- definitions ----------------------------------------------------------------------------


def test_validate_checks_a_tree_again_with_other_options():
    message = edifact_message(HEADER, "NAD+BUYER+4012345000009::9'", LINE, TRAILER)
    assert [(i.code, i.severity) for i in validate(message)] == [("39", "error")]
    assert [(i.code, i.severity) for i in validate(message, strict=False)] == [("39", "warning")]


def test_every_definition_loads_and_later_versions_borrow_the_nearest():
    for standard, message, version in [("edifact", "ORDERS", "D96A"), ("edifact", "ORDRSP", "D96A"),
                                       ("edifact", "DESADV", "D96A"), ("edifact", "INVOIC", "D96A"),
                                       ("edifact", "CONTRL", "D3"), ("x12", "850", "004010"), ("x12", "855", "004010"),
                                       ("x12", "856", "004010"), ("x12", "810", "004010"), ("x12", "997", "004010"),
                                       ("x12", "860", "004010"), ("x12", "865", "004010"), ("x12", "999", "005010X231")]:
        definition = load_definition(standard, message, version)
        assert definition is not None and not definition.borrowed, (message, version)
    assert load_definition("edifact", "ORDERS", "D01B").borrowed
    assert load_definition("x12", "850", "005010").directory == "005010"  # shared table, 005010 segments
    assert load_definition("edifact", "IFTMIN", "D00B") is None


def test_a_broken_definition_names_its_file(tmp_path, monkeypatch):
    from gateway.formats import validation

    folder = tmp_path / "x12" / "004010"
    folder.mkdir(parents=True)
    (folder / "segments.yaml").write_text("segments:\n  ST: [143 M ID]\n")
    (folder / "850.yaml").write_text("message: '850'\ndirectory: '004010'\nsegments: [ST M 1]\n")
    monkeypatch.setattr(validation, "DEFINITIONS_DIR", tmp_path)
    validation._definitions.cache_clear()
    validation._directory.cache_clear()
    try:
        with pytest.raises(DefinitionError, match="segments.yaml: segment ST: '143 M ID' has no type"):
            validation._definitions("x12")
    finally:
        validation._definitions.cache_clear()
        validation._directory.cache_clear()


def x12_855(*segments: str, options: Options | None = None) -> Message:
    body = "ST*855*0001~BAK*00*AC*PO-1*20240101~" + "".join(segments) + "CTT*1~"
    count = body.count("~") + 1
    data = (f"{ISA}GS*PR*SENDER*RECEIVER*20240101*1200*1*X*004010~{body}SE*{count}*0001~GE*1*1~"
            "IEA*1*000000001~").encode()
    return [e for e in x12.parse(data, **({"options": options} if options else {})) if isinstance(e, Message)][0]


PID_AND_REF_AFTER_ACK = ("PO1*1*2*EA*3.5**VN*AX-100~", "ACK*IA*2*EA~", "PID*F****Steel hinge~", "REF*VN*SO-7001~")


def test_a_pid_and_ref_after_ack_in_an_855_po1_loop_are_out_of_order_by_default():
    message = x12_855(*PID_AND_REF_AFTER_ACK)
    assert message.status == "rejected"
    assert [(i.tag, i.severity) for i in message.errors if "out of order" in i.reason] == [
        ("PID", "error"), ("REF", "error")]


def test_segment_order_lenient_reads_them_in_their_place_with_a_warning():
    message = x12_855(*PID_AND_REF_AFTER_ACK, options=Options(segment_order="lenient"))
    assert message.status == "accepted"
    warnings = [(i.tag, i.reason) for i in message.errors if i.severity == "warning"]
    assert [tag for tag, _ in warnings] == ["PID", "REF"]
    assert all("read in its place (validation.segment_order: lenient)" in reason for _, reason in warnings)
    [loop] = message.tree.xpath("//PO1_loop")
    assert loop.xpath("string(.//PID/PID05)") == "Steel hinge" and loop.xpath("string(REF/REF02)") == "SO-7001"


# --- a segment repeated across the messages of a file -------------------------------------------
# A segment read without any finding is remembered by its text (`tree.KnownSegments`), so that the
# same NAD or DTM in every message of a file is not checked again. A repeat must still be placed
# in its own message, and a segment with a finding must be checked in every message it is in.


def edifact_messages(*bodies: str) -> list[Message]:
    data = "UNB+UNOC:3+SENDER:14+RECEIVER:14+240131:1200+REF1'"
    for number, body in enumerate(bodies, start=1):
        data += f"UNH+M{number}+ORDERS:D:96A:UN'{body}UNT+{body.count(chr(39)) + 2}+M{number}'"
    data += f"UNZ+{len(bodies)}+REF1'"
    return [e for e in edifact.parse(data.encode()) if isinstance(e, Message)]


def test_a_bad_segment_repeated_in_every_message_is_reported_in_each():
    body = "BGM+220+PO1+9'DTM+137:20240231:102'" + LINE + TRAILER
    first, second, third = edifact_messages(body, body, body)
    for message in (first, second, third):
        assert found(message) == [("12", 3, "DTM", 1, 2, "error")]


def test_a_good_segment_repeated_out_of_place_is_reported_where_it_is_out_of_place():
    first, second = edifact_messages("BGM+220+PO1+9'DTM+137:20240131:102'" + LINE + TRAILER,
                                     "DTM+137:20240131:102'BGM+220+PO1+9'" + LINE + TRAILER)
    assert found(first) == []
    assert [(code, position, tag) for code, position, tag, *_ in found(second)] == [
        ("13", 2, "BGM"), ("15", 3, "BGM")]  # passed over by the DTM, then out of order


def test_repeated_segments_make_the_same_tree_in_every_message():
    body = HEADER[HEADER.index("BGM"):] + LINE + TRAILER
    first, second = edifact_messages(body, body)
    assert etree.tostring(second.tree).replace(b"M2", b"M1") == etree.tostring(first.tree)


def test_an_x12_segment_repeated_in_two_sets_is_checked_in_both():
    n4 = "N1*ST*Store~N4*Columbus*OH*432150000000*US~"  # N403 is 3 to 15 characters: 12 is fine
    bad = "N1*ST*Store~N4*Columbus*OHIO*43215*US~"  # N402 is a 2-character code: AK4 7
    body = "ST*850*{ref}~" + BEG + "{n4}" + PO1 + CTT
    sets = "".join(
        (body.format(ref=ref, n4=segments) + f"SE*{body.count('~') + segments.count('~')}*{ref}~")
        for ref, segments in (("0001", n4), ("0002", bad), ("0003", bad), ("0004", n4)))
    data = f"{ISA}GS*PO*SENDER*RECEIVER*20240101*1200*1*X*004010~{sets}GE*4*1~IEA*1*000000001~".encode()
    messages = [e for e in x12.parse(data) if isinstance(e, Message)]
    assert [x12_found(message) for message in messages] == [
        [], [("element", "7", 4, "N4", 2, None)], [("element", "7", 4, "N4", 2, None)], []]
