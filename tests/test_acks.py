"""The acknowledgments the gateway writes (CONTRL, 997, 999, TA1) say what the standards say they should,
and the partners' acknowledgments are read into one neutral form.

Each test parses a real file (the shipped samples, the shared corpus) or one broken in exactly
one way, and asserts the acknowledgment's segments and codes. Validity against the
acknowledgments' own definitions is proved through the store path in test_outbound.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

from gateway import formats
from gateway.formats import acks
from gateway.formats.model import Message

ACME = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_text()
BIGBOX = (ROOT / "samples/inbox/bigbox-stores/850_PO-77812.x12").read_text()


def acknowledge(data: bytes | str, **policy) -> list[acks.Acknowledgment]:
    if isinstance(data, str):
        data = data.encode("latin-1")
    _, events = formats.parse(data)
    messages: list[Message] = []
    found = []
    for event in events:
        if isinstance(event, Message):
            messages.append(event)
        else:
            found.extend(acks.acknowledgments(event, [m for m in messages if m.interchange is event], **policy))
    return found


def only(found: list[acks.Acknowledgment], kind: str) -> acks.Acknowledgment:
    [ack] = [a for a in found if a.kind == kind]
    return ack


def tags(ack: acks.Acknowledgment, *wanted: str) -> list[list]:
    return [segment for segment in ack.segments if segment[0] in wanted]


def edifact_order(*body: str, unt: str | None = None, unz: str = "1", ref: str = "M1") -> str:
    """One ORDERS D96A in an interchange from 4012345000009 to 5790000000006; body without UNH/UNT."""
    count = unt or str(len(body) + 2)
    return ("UNA:+.? 'UNB+UNOC:3+4012345000009:14+5790000000006:14+261120:0815+ICR1'"
            f"UNH+{ref}+ORDERS:D:96A:UN:EAN008'{''.join(body)}UNT+{count}+{ref}'UNZ+{unz}+ICR1'")


GOOD_BODY = ("BGM+220+PO1+9'", "DTM+137:20261120:102'", "NAD+BY+4012345000009::9'", "LIN+1++5790000012345:EN'",
             "QTY+21:48'", "UNS+S'", "CNT+2:1'")


def with_body(index: int, segment: str | None) -> tuple[str, ...]:
    body = list(GOOD_BODY)
    if segment is None:
        del body[index]
    else:
        body[index] = segment
    return tuple(body)


# --- CONTRL --------------------------------------------------------------------------------------


def test_an_accepted_interchange_gets_uci_7_and_a_ucm_7_per_message():
    ack = only(acknowledge(ACME), "contrl")
    assert ack.status == "accepted"
    assert ack.segments == [
        ["UCI", "ACME000117", ["4012345000009", "14"], ["5790000000006", "14"], "7"],
        ["UCM", "1", ["ORDERS", "D", "96A", "UN", "EAN008"], "7"],
        ["UCM", "2", ["ORDERS", "D", "96A", "UN", "EAN008"], "7"],
    ]
    assert list(ack.answers) == [0, 1]


def test_a_wrong_unt_count_rejects_with_ucm_4_29_unt_and_uci_4():
    ack = only(acknowledge(edifact_order(*GOOD_BODY, unt="99")), "contrl")
    assert ack.segments == [
        ["UCI", "ICR1", ["4012345000009", "14"], ["5790000000006", "14"], "4"],
        ["UCM", "M1", ["ORDERS", "D", "96A", "UN", "EAN008"], "4", "29", "UNT"],
    ]


def test_a_corpus_file_with_a_wrong_unt_count_gets_29():
    ack = only(acknowledge((CORPUS / "edifact/ORDERS/oca_orders_no_pri_bad_unt.txt").read_bytes()), "contrl")
    assert ack.segments[0][4] == "4"
    assert ack.segments[1][3:] == ["4", "29", "UNT"]


def test_a_unt_reference_that_does_not_match_unh_is_28():
    text = edifact_order(*GOOD_BODY).replace("UNT+9+M1", "UNT+9+M2")
    ack = only(acknowledge(text), "contrl")
    assert tags(ack, "UCM") == [["UCM", "M1", ["ORDERS", "D", "96A", "UN", "EAN008"], "4", "28", "UNT"]]


def test_a_wrong_unz_count_rejects_the_interchange_with_uci_4_29_unz():
    ack = only(acknowledge(edifact_order(*GOOD_BODY, unz="3")), "contrl")
    assert ack.segments[0] == ["UCI", "ICR1", ["4012345000009", "14"], ["5790000000006", "14"], "4", "29", "UNZ"]
    assert ack.segments[1][3] == "4"  # its message goes with it


def test_a_unz_reference_mismatch_from_the_corpus_is_uci_28():
    ack = only(acknowledge((CORPUS / "edifact/ORDERS/pydifact_wikipedia_de_unz_ref_mismatch.edi").read_bytes()),
               "contrl")
    assert ack.segments[0][4:] == ["4", "28", "UNZ"]


def test_an_unknown_segment_is_ucs_15_at_its_position():
    ack = only(acknowledge(edifact_order(*GOOD_BODY[:2], "XYZ+1'", *GOOD_BODY[2:])), "contrl")
    assert tags(ack, "UCM", "UCS", "UCD") == [
        ["UCM", "M1", ["ORDERS", "D", "96A", "UN", "EAN008"], "4"],
        ["UCS", "4", "15"],
    ]


def test_a_missing_mandatory_segment_is_ucs_13():
    ack = only(acknowledge(edifact_order(*with_body(1, None))), "contrl")  # no DTM
    assert tags(ack, "UCS") == [["UCS", "3", "13"]]


def test_a_missing_mandatory_element_is_ucd_13_with_its_position():
    ack = only(acknowledge(edifact_order(*with_body(4, "QTY+:48'"))), "contrl")
    assert tags(ack, "UCS", "UCD") == [["UCS", "6", ""], ["UCD", "13", ["1", "1"]]]


def test_an_element_too_long_is_ucd_39():
    ack = only(acknowledge(edifact_order(*with_body(0, f"BGM+220+{'9' * 36}+9'"))), "contrl")
    assert tags(ack, "UCS", "UCD") == [["UCS", "2", ""], ["UCD", "39", ["2", ""]]]  # BGM 1004 is simple in D96A


def test_a_bad_date_is_ucd_12():
    ack = only(acknowledge(edifact_order(*with_body(1, "DTM+137:20261320:102'"))), "contrl")
    assert tags(ack, "UCS", "UCD") == [["UCS", "3", ""], ["UCD", "12", ["1", "2"]]]


def test_a_bad_qualifier_is_ucd_12():
    ack = only(acknowledge(edifact_order(*with_body(5, "UNS+X'"))), "contrl")
    assert tags(ack, "UCS", "UCD") == [["UCS", "7", ""], ["UCD", "12", ["1", ""]]]


def test_a_sender_that_is_not_the_partner_rejects_with_uci_23():
    _, events = formats.parse(ACME.encode(), expected_sender="5450534000000")
    messages = []
    for event in events:
        if isinstance(event, Message):
            messages.append(event)
        else:
            ack = acks.contrl(event, messages)
    assert ack.segments[0][4:] == ["4", "23", "UNB"]
    assert [segment[3] for segment in tags(ack, "UCM")] == ["4", "4"]


def test_one_bad_message_of_two_is_partial_uci_7_with_ucm_7_and_ucm_4():
    broken = ACME.replace("UNT+12+2", "UNT+13+2")
    ack = only(acknowledge(broken), "contrl")
    assert ack.status == "partial"
    assert ack.segments[0][4] == "7"
    assert [segment[3:] for segment in tags(ack, "UCM")] == [["7"], ["4", "29", "UNT"]]


def test_a_group_gets_a_ucf_with_its_messages_inside():
    ack = only(acknowledge((CORPUS / "edifact/ORDERS/staedi_orders_d96b_ung_group.edi").read_bytes()), "contrl")
    assert [segment[0] for segment in ack.segments] == ["UCI", "UCF", "UCM"]
    assert ack.segments[1][:2] == ["UCF", "1"]
    assert ack.segments[2][3:] == ["4", "29", "UNT"]


def test_contrls_are_not_acknowledged():
    assert acknowledge((CORPUS / "edifact/CONTRL/edifactmapper_contrl_ucm_ucs_ucd.edi").read_bytes()) == []


# --- 997 -----------------------------------------------------------------------------------------


def x12_order(*body: str, se: str | None = None, ge: str = "1", iea_ref: str = "000000311", isa14: str = "0",
              gs08: str = "004010") -> str:
    """BigBox's 850 with its body (between ST and SE) replaced."""
    count = se or str(len(body) + 2)
    return ("ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261120*0930*U*00401*000000311*"
            f"{isa14}*P*>~GS*PO*BIGBOX*NORDICSUPPLY*20261120*0930*311*X*{gs08}~ST*850*0001~{''.join(body)}"
            f"SE*{count}*0001~GE*{ge}*311~IEA*1*{iea_ref}~")


X12_BODY = ("BEG*00*SA*PO-77812**20261120~", "N1*BY*BigBox Stores Inc*UL*0614141000012~",
            "PO1*1*24*EA*12.5**UP*061414100017~", "CTT*1~")


def x12_with(index: int, segment: str | None) -> tuple[str, ...]:
    body = list(X12_BODY)
    if segment is None:
        del body[index]
    else:
        body[index] = segment
    return tuple(body)


def test_an_accepted_850_gets_ak5_a_and_ak9_a():
    ack = only(acknowledge(BIGBOX), "997")
    assert ack.segments == [["AK1", "PO", "311"], ["AK2", "850", "0001"], ["AK5", "A"], ["AK9", "A", "1", "1", "1"]]
    assert ack.version == "004010"
    assert acknowledge(BIGBOX, ta1="on-request")[0].kind == "997"  # ISA14=0: no TA1


def test_a_wrong_se_count_is_ak5_r_4_and_ak9_r():
    ack = only(acknowledge(x12_order(*X12_BODY, se="9")), "997")
    assert tags(ack, "AK5", "AK9") == [["AK5", "R", "4"], ["AK9", "R", "1", "1", "0"]]


def test_an_unknown_segment_is_ak3_code_1():
    ack = only(acknowledge(x12_order(*X12_BODY[:1], "ZZZ*1~", *X12_BODY[1:])), "997")
    assert tags(ack, "AK3", "AK5") == [["AK3", "ZZZ", "3", "", "1"], ["AK5", "R", "5"]]


def test_a_missing_mandatory_segment_is_ak3_code_3():
    ack = only(acknowledge(x12_order(*x12_with(0, None))), "997")
    assert tags(ack, "AK3", "AK5") == [["AK3", "BEG", "2", "", "3"], ["AK5", "R", "5"]]


def test_a_missing_mandatory_element_is_ak4_code_1():
    ack = only(acknowledge(x12_order(*x12_with(0, "BEG*00*SA***20261120~"))), "997")
    assert tags(ack, "AK3", "AK4") == [["AK3", "BEG", "2", "", "8"], ["AK4", ["3", ""], "324", "1", ""]]


def test_an_element_too_long_is_ak4_code_5_with_the_value():
    long = "P" * 23
    ack = only(acknowledge(x12_order(*x12_with(0, f"BEG*00*SA*{long}**20261120~"))), "997")
    assert tags(ack, "AK4") == [["AK4", ["3", ""], "324", "5", long]]


def test_a_bad_date_is_ak4_code_8():
    ack = only(acknowledge(x12_order(*x12_with(0, "BEG*00*SA*PO-77812**20261340~"))), "997")
    assert tags(ack, "AK4") == [["AK4", ["5", ""], "373", "8", "20261340"]]


def test_a_bad_qualifier_is_ak4_code_7():
    ack = only(acknowledge(x12_order(*x12_with(0, "BEG*000*SA*PO-77812**20261120~"))), "997")
    assert tags(ack, "AK4") == [["AK4", ["1", ""], "353", "7", "000"]]


def test_warnings_only_are_accepted_with_errors_ak5_e_ak9_e():
    ack = only(acknowledge((CORPUS / "x12/850/bots_850_004010_ctt_wrong.x12").read_bytes()), "997")
    assert tags(ack, "AK5", "AK9") == [["AK5", "E"], ["AK9", "E", "1", "1", "1"]]
    assert ack.status == "accepted_with_errors"


def test_one_bad_set_of_two_is_partially_accepted_ak9_p():
    two = BIGBOX.replace("SE*14*0001~", "SE*14*0001~ST*850*0002~BEG*00*SA*PO-2**20261120~SE*9*0002~").replace(
        "GE*1*311", "GE*2*311")
    ack = only(acknowledge(two), "997")
    # The short second set also lacks its PO1 loop: 5, segments in error, besides 4, the count.
    assert tags(ack, "AK5", "AK9") == [["AK5", "A"], ["AK5", "R", "4", "5"], ["AK9", "P", "2", "2", "1"]]
    assert ack.status == "partial"


def test_a_wrong_ge_count_rejects_the_group_with_ak9_code_5():
    ack = only(acknowledge(x12_order(*X12_BODY, ge="4")), "997")
    assert tags(ack, "AK9") == [["AK9", "R", "1", "1", "0", "5"]]


def test_997s_are_not_acknowledged():
    for name in ("bots_997_four_sets_accept.x12", "bots_997_ak3_ak4_reject.x12"):
        assert acknowledge((CORPUS / "x12/997" / name).read_bytes(), ta1="always") == []


# --- TA1 -----------------------------------------------------------------------------------------


def test_isa14_asks_for_a_ta1_which_accepts_and_a_997_still_follows():
    found = acknowledge(x12_order(*X12_BODY, isa14="1"))
    assert [a.kind for a in found] == ["ta1", "997"]
    assert found[0].segments == [["TA1", "000000311", "261120", "0930", "A", "000"]]


def test_a_broken_envelope_gets_a_rejecting_ta1_and_no_997():
    found = acknowledge(x12_order(*X12_BODY, iea_ref="000000312"))
    assert [a.kind for a in found] == ["ta1"]
    assert found[0].segments == [["TA1", "000000311", "261120", "0930", "R", "001"]]


def test_the_corpus_iea_mismatch_is_ta1_r_001():
    [ta1] = acknowledge((CORPUS / "x12/865/oopfactory_865_iea_ctrl_mismatch.x12").read_bytes())
    assert ta1.segments[0][4:] == ["R", "001"]


def test_ta1_never_sends_none_even_for_a_broken_envelope():
    assert acknowledge(x12_order(*X12_BODY, iea_ref="000000312"), ta1="never") == []


def test_ta1_always_answers_every_interchange():
    assert [a.kind for a in acknowledge(BIGBOX, ta1="always")] == ["ta1", "997"]


# --- 999 -----------------------------------------------------------------------------------------


def test_a_999_answers_a_005010_group_with_ik3_ctx_ik4_ik5():
    text = x12_order(*x12_with(0, "BEG*000*SA*PO-77812**20261120~"), gs08="005010")
    ack = only(acknowledge(text, kind="999"), "999")
    assert ack.segments == [
        ["AK1", "PO", "311", "005010"],
        ["AK2", "850", "0001"],
        ["IK3", "BEG", "2", "", "8"],
        ["CTX", [["BEG03", "PO-77812"]]],
        ["IK4", ["1", "", ""], "353", "7", "000"],
        ["IK5", "R", "5"],
        ["AK9", "R", "1", "1", "0"],
    ]
    assert ack.version == "005010X231A1"


def test_a_999_is_not_written_for_a_004010_group():
    assert only(acknowledge(BIGBOX, kind="999"), "997").version == "004010"


# --- reading the partners' acknowledgments -------------------------------------------------------


def read_all(path: Path) -> list[dict]:
    _, events = formats.parse(path.read_bytes())
    return [acks.read(e) for e in events if isinstance(e, Message)]


def test_a_997_rejecting_with_ak3_ak4_is_read():
    [ack] = read_all(CORPUS / "x12/997/bots_997_ak3_ak4_reject.x12")
    [group] = ack["groups"]
    assert (group["group_ref"], group["status"], group["accepted"]) == ("1", "rejected", "0")
    [message] = group["messages"]
    assert (message["type"], message["ref"], message["status"], message["codes"]) == ("837", "300145997", "rejected",
                                                                                      ["5"])
    assert [(e["tag"], e["position"], e["code"]) for e in message["errors"]] == [("SV2", "57", "8"), ("SVD", "59", "8")]
    assert message["errors"][0]["elements"][0] == {"element": "2", "component": "1", "ref": "235", "code": "7",
                                                   "value": "  "}
    assert "segment 57 SV2: 8 (segment has data element errors)" in acks.describe_message("997", message)


def test_a_999_is_read_with_its_ik_segments():
    [ack] = read_all(CORPUS / "x12/999/staedi_999_005010X231.x12")
    [group] = ack["groups"]
    assert group["status"] == "partial"
    assert [(m["ref"], m["status"]) for m in group["messages"]] == [
        ("0001", "accepted"), ("0002", "rejected"), ("0003", "rejected")]
    assert group["messages"][1]["errors"][0]["elements"][0]["code"] == "1"


def test_a_contrl_is_read_with_ucm_ucs_ucd():
    [ack] = read_all(CORPUS / "edifact/CONTRL/edifactmapper_contrl_ucm_ucs_ucd.edi")
    assert (ack["interchange_ref"], ack["status"], ack["code"]) == ("GENERATED00001", "rejected", "2")
    [message] = ack["messages"]
    assert (message["ref"], message["type"], message["status"], message["code"]) == (
        "GENERATED00001", "APERAK", "rejected", "12")
    assert [e["code"] for e in message["errors"]] == ["13", "13"]
    assert message["errors"][1]["elements"] == [{"code": "12", "element": "X", "component": "X"}]


def test_a_ta1_is_read():
    _, events = formats.parse((CORPUS / "x12/TA1/bots_ta1_only_iea0.x12").read_bytes())
    [interchange] = [e for e in events if not isinstance(e, Message)]
    [ack] = [acks.read_technical_ack(t) for t in interchange.technical_acks]
    assert ack == {"kind": "TA1", "interchange_ref": "000484889", "status_code": "R", "status": "rejected",
                   "code": "015"}
    assert acks.describe_interchange(ack) == "TA1 R 015 (invalid interchange time)"


def test_check_finds_an_invalid_acknowledgment():
    bad = ("UNA:+.? 'UNB+UNOC:3+5790000000006:14+4012345000009:14+261120:0815+1'UNH+1+CONTRL:D:3:UN'"
           "UCI+ACME000117+4012345000009:14+5790000000006:14+9'UNT+3+1'UNZ+1+1'").encode()
    problems = acks.check(bad)
    assert [(p.tag, p.code) for p in problems] == [("UCI", "12")]


@pytest.mark.parametrize("segment, code", [(["TA1", "311", "261120", "0930", "A", "000"], "4"),
                                           (["TA1", "000000311", "261120", "0930", "Q", "000"], "7")])
def test_check_finds_an_invalid_ta1(segment, code):
    interchange = formats.model.Interchange("x12", 0)
    ack = acks.Acknowledgment("ta1", interchange, "accepted", [segment])
    assert [p.code for p in acks.check(b"", [ack]) if p.tag == "TA1"] == [code]


def test_a_message_kept_for_its_acknowledgment_keeps_only_its_envelope_and_business_reference():
    _, events = formats.parse((CORPUS / "x12/850/bots_850_004010_isa00200.x12").read_bytes())
    [message] = [event for event in events if isinstance(event, Message)]
    assert len(message.tree) > 5
    acks.keep_for_acknowledgment(message)
    assert [child.tag for child in message.tree] == ["BEG"]
    assert message.tree.get("type") == "850"
    assert message.tree.xpath("string(//BEG/BEG03)") == "0123456789123"


def big_ack(standard: str, messages: int, bad: tuple[int, ...] = (), long_ref: int | None = None) -> bytes:
    """Our CONTRL (997) answering `messages` messages, as rendered to be sent; the messages `bad` get
    a status the standard does not have, message `long_ref` a reference longer than the standard allows."""
    from gateway.formats import render

    if standard == "edifact":
        segments = [["UCI", "BIG000001", ["4012345000009", "14"], ["5790000000006", "14"], "7"]]
        segments += [["UCM", str(n).zfill(15) if n == long_ref else str(n), ["ORDERS", "D", "96A", "UN", "EAN008"],
                      "X" if n in bad else "7"] for n in range(1, messages + 1)]
        return render.render_edifact(render.EdifactInterchange(
            sender=["5790000000006", "14"], receiver=["4012345000009", "14"], control_ref="7",
            messages=[render.EdifactMessage("1", acks.CONTRL_VERSION, segments)]))
    segments = [["AK1", "PO", "1"]]
    for n in range(1, messages + 1):
        segments += [["AK2", "850", str(n).zfill(10 if n == long_ref else 4)], ["AK5", "Z" if n in bad else "A"]]
    segments.append(["AK9", "A", str(messages), str(messages), str(messages)])
    return render.render_x12(render.X12Interchange(
        sender=("ZZ", "DISTRIBUTOR"), receiver=("ZZ", "BIGBOX"), control_number=7, groups=[render.X12Group(
            "FA", "DISTRIBUTOR", "BIGBOX", 7, "004010", [render.X12Set("997", "0001", segments, None)])]))


def read_whole(data: bytes) -> set[tuple]:
    """The errors of reading the bytes back whole, as check did before reading big acknowledgments in pieces."""
    return {(issue.position, issue.tag, issue.code) for event in formats.parse(data)[1] for issue in event.errors
            if issue.severity == "error"}


@pytest.mark.parametrize("standard", ["edifact", "x12"])
@pytest.mark.parametrize("change", ["none", "an invalid status deep inside", "a wrong trailer count",
                                    "invalid statuses in two pieces alike", "a reference too long deep inside"])
def test_a_big_acknowledgment_is_read_back_in_pieces_with_the_findings_of_reading_it_whole(standard, change):
    bad = {"an invalid status deep inside": (9_001,), "invalid statuses in two pieces alike": (2_101, 2_601)}
    data = big_ack(standard, 12_000, bad.get(change, ()), 9_700 if change == "a reference too long deep inside" else None)
    if change == "a wrong trailer count":  # UNH, UCI, 12,000 UCMs, UNT; ST, AK1, 12,000 AK2 and AK5, AK9, SE
        trailer = b"UNT+12003+1'" if standard == "edifact" else b"SE*24004*0001~"
        assert trailer in data
        data = data.replace(trailer, trailer.replace(b"+12003+", b"+12002+").replace(b"*24004*", b"*24003*"))
    assert len(data) > acks.CHECK_WHOLE and 12_000 > 2 * acks.CHECK_SEGMENTS  # read back in several pieces
    found = {(issue.position, issue.tag, issue.code) for issue in acks.check(data)}
    assert found == read_whole(data)
    assert bool(found) == (change != "none")
