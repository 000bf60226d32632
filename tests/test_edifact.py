"""The EDIFACT parser, specified on the shared corpus (see corpus EXPECTED.md) and hand-made bytes."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT
from gateway_fixtures import BIG_FILE, WELL_BELOW, heap_peak

from gateway.formats import edifact
from gateway.formats.model import Interchange, Issue, Message, UnreadableFile

EDIFACT = CORPUS / "edifact"


def read(name: str, **options) -> list[Message | Interchange]:
    return list(edifact.parse((EDIFACT / name).read_bytes(), **options))


def messages(events) -> list[Message]:
    return [event for event in events if isinstance(event, Message)]


def interchanges(events) -> list[Interchange]:
    return [event for event in events if isinstance(event, Interchange)]


def issues(events) -> list[Issue]:
    found = []
    for event in events:
        found.extend(event.errors)
        if isinstance(event, Interchange):
            for group in event.groups:
                found.extend(group.errors)
    return found


def errors(events) -> list[str]:
    return [issue.reason for issue in issues(events) if issue.severity == "error"]


def order(*body: str, unz: str = "UNZ+1+REF1'") -> bytes:
    """A small hand-made interchange around the given message segments."""
    return (
        "UNB+UNOC:3+SENDER:ZZZ+RECEIVER:ZZZ+240131:1200+REF1'"
        + "".join(body)
        + unz
    ).encode("latin-1")


GOOD_MESSAGE = "UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20240131:102'LIN+1++123:EN'QTY+21:5'UNS+S'UNT+7+M1'"


# --- Recognising EDIFACT -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"UNA:+.? 'UNB+UNOA:1'", b"UNB+UNOA:1+X'", b"\xef\xbb\xbf\r\n  UNB+UNOB:1'"],
)
def test_sniff_recognises_una_or_unb_after_bom_and_blanks(data):
    assert edifact.sniff(data)


@pytest.mark.parametrize("data", [b"", b"ISA*00*", b"BGM+220+1'", b"\x00\x01\x02UNB"])
def test_sniff_rejects_other_data(data):
    assert not edifact.sniff(data)


# --- EXPECTED.md entries -----------------------------------------------------------------------


def test_retail_order_envelope_is_read_from_unb_and_unh():
    events = read("ORDERS/oca_retail_orders_sample1.txt")
    [interchange] = interchanges(events)
    assert (interchange.sender, interchange.sender_qualifier) == ("5450534000000", "14")
    assert (interchange.receiver, interchange.receiver_qualifier) == ("8450534000000", "14")
    assert interchange.control_ref == "4234"
    assert interchange.syntax == "UNOA:2"
    assert interchange.ack_requested is True
    assert interchange.status == "accepted"
    [message] = messages(events)
    assert (message.type, message.version, message.ref, message.association) == (
        "ORDERS",
        "D96A",
        "1",
        "EAN008",
    )
    assert message.status == "accepted"


def test_retail_order_tree_nests_lines_and_prices_in_their_groups():
    [message] = messages(read("ORDERS/oca_retail_orders_sample1.txt"))
    tree = message.tree
    assert tree.xpath("string(BGM/BGM01)") == "220"
    assert tree.xpath("string(BGM/BGM02)") == "1AA1TEST"
    assert tree.xpath("SG25/LIN/LIN03/LIN03.1/text()") == [
        "9783898307529",
        "9783898307538",
        "9783898307645",
    ]
    assert tree.xpath("SG25/QTY/QTY01/QTY01.2/text()") == ["5", "1", "3"]
    assert tree.xpath("SG25/SG28/PRI/PRI01/PRI01.2/text()") == ["27.5", "10.87", "3.85"]
    assert tree.xpath("SG2/NAD[NAD01='BY']/NAD02/NAD02.1/text()") == ["5450534000017"]


def test_tree_root_carries_envelope_facts_and_keeps_unh_and_unt():
    [message] = messages(read("ORDERS/oca_retail_orders_sample1.txt"))
    root = message.tree
    assert dict(root.attrib) == {
        "standard": "edifact",
        "type": "ORDERS",
        "version": "D96A",
        "release": "96A",
        "agency": "UN",
        "association": "EAN008",
        "ref": "1",
        "sender": "5450534000000",
        "receiver": "8450534000000",
        "interchange_ref": "4234",
        "decimal_mark": ".",
    }
    assert root[0].tag == "UNH" and root[0].get("pos") == "1"
    assert root[-1].tag == "UNT" and root[-1].get("pos") == "24"


def test_syntax_4_splits_repeated_data_elements_on_the_default_repetition_separator():
    events = read("ORDERS/smooks_orders_d03b_syntax4.txt")
    [interchange] = interchanges(events)
    assert interchange.date == "2005-11-07"
    [message] = messages(events)
    assert message.tree.xpath("//COM/COM01/COM01.1/text()") == ["s11", "s21", "s31"]
    assert message.tree.xpath("count(SG25)") == 4
    assert message.status == "accepted"


def test_una_comma_decimal_mark_is_an_attribute_and_values_stay_raw():
    [message] = messages(read("INVOIC/staedi_invoic_d93a_comma_decimal.edi"))
    assert message.decimal_mark == ","
    assert message.tree.get("decimal_mark") == ","
    assert "19,9" in message.tree.xpath("//PRI/PRI01/PRI01.2/text()")


@pytest.mark.parametrize(
    "name",
    [
        "INVOIC/staedi_invoic_d97b_una_custom_separators.edi",
        "INVOIC/staedi_invoic_d97b_custom_separators_wrapped15.edi",
    ],
)
def test_custom_una_separators_and_released_digit_are_read(name):
    events = read(name)
    [interchange] = interchanges(events)
    assert interchange.receiver == "006415160"
    assert interchange.control_ref == "00000000000778"
    [message] = messages(events)
    assert message.tree.xpath("string(BGM/BGM02)") == "342459"
    assert message.tree.xpath("//MOA[MOA01/MOA01.1='39']/MOA01/MOA01.2/text()") == ["2137.58"]
    assert message.status == "accepted"


def test_hard_wrapped_file_is_read_with_a_warning():
    [interchange] = interchanges(read("INVOIC/staedi_invoic_d97b_custom_separators_wrapped15.edi"))
    warnings = [i.reason for i in interchange.errors if i.severity == "warning"]
    assert any("line breaks inside segments" in reason for reason in warnings)
    assert interchange.status == "accepted"


def test_functional_group_is_reported_and_linked_to_its_message():
    events = read("ORDERS/staedi_orders_d96b_ung_group.edi")
    [interchange] = interchanges(events)
    assert interchange.test is True
    [group] = interchange.groups
    assert (group.functional_id, group.control_ref, group.errors) == ("ORDERS", "1", [])
    [message] = messages(events)
    assert message.group is group
    assert message.tree.get("group_ref") == "1"
    assert message.tree.get("test") == "1"
    assert message.version == "D96B"


def test_sap_interchange_yields_twelve_messages_with_their_order_numbers_and_lines():
    events = read("ORDERS/bots_sap_orders_una_crlf.edi")
    found = messages(events)
    assert [m.ref for m in found] == [str(ref) for ref in range(107, 119)]
    assert [m.index for m in found] == list(range(12))
    assert [m.tree.xpath("string(BGM/BGM02)") for m in found][:4] == [
        "4200000064",
        "4200001051",
        "4200006016",
        "4200000063",
    ]
    assert [int(m.tree.xpath("count(SG25)")) for m in found] == [2, 1, 1, 1, 3, 1, 2, 3, 1, 1, 1, 1]
    assert interchanges(events)[0].messages_accepted == 12


def test_utf8_bytes_under_unoc_are_read_as_utf8_with_a_warning():
    events = read("DESADV/phpedifact_desadv_utf8.edi")
    [message] = messages(events)
    assert any("Ë" in text for text in message.tree.xpath("//IMD//text()"))
    [interchange] = interchanges(events)
    assert any(
        i.severity == "warning" and "read as UTF-8" in i.reason for i in interchange.errors
    )
    assert message.status == "accepted"


def test_odd_unh_version_is_kept_as_written():
    [message] = messages(read("DESADV/phpedifact_desadv_utf8.edi"))
    assert message.version == "096A"
    assert message.tree.get("release") == "96A"


def test_contrl_message_is_parsed_like_any_other():
    [message] = messages(read("CONTRL/edifactmapper_contrl_ucm_ucs_ucd.edi"))
    assert (message.type, message.version, message.association) == ("CONTRL", "D3", "2.0b")
    assert message.tree.xpath("string(UCI/UCI01)") == "GENERATED00001"
    assert message.tree.xpath("string(UCI/UCI04)") == "4"
    assert message.tree.xpath("string(SG1/UCM/UCM02/UCM02.1)") == "APERAK"
    assert message.tree.xpath("count(SG1/SG2/UCS)") == 2
    # a generated file: its positions (UCS 0096, S011 0098, n..6 / n..3) are placeholders 'X'
    assert message.status == "rejected"
    assert ("37", 5, "UCS", 1, "X") in [(i.code, i.position, i.tag, i.element, i.value) for i in message.errors]


# --- Hostile but valid files -------------------------------------------------------------------


def test_second_interchange_may_bring_its_own_una_separators():
    events = read("INVOIC/edifabric_two_interchanges_una_midfile.txt")
    assert [i.status for i in interchanges(events)] == ["accepted", "accepted"]
    assert [m.tree.xpath("string(BGM/BGM02/BGM02.1)") for m in messages(events)] == [
        "12345678",
        "12345678",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "INVOIC/edifabric_invoic_d00a_bom.txt",
        "INVOIC/edifabric_invoic_d00a_cr_only.txt",
        "INVOIC/edifabric_invoic_d00a_trailing_blanks.txt",
        "INVOIC/edifabric_invoic_d00a_pipe_separator.txt",
        "ORDERS/bots_wrapped_mid_element.edi",
        "PAORES/phpedifact_single_line.edi",
    ],
)
def test_line_ends_boms_blanks_and_separators_do_not_change_the_result(name):
    events = read(name)
    assert [i.status for i in interchanges(events)] == ["accepted"]
    assert messages(events) and all(m.status == "accepted" for m in messages(events))


def test_released_segment_terminator_stays_in_the_value():
    [message] = messages(read("INVOIC/edifabric_invoic_d00a_escaped_apostrophe.txt"))
    assert any(text.endswith("'") for text in message.tree.xpath("//NAD//text()"))


def test_wrapped_date_is_joined_again():
    [message] = messages(read("ORDERS/bots_wrapped_mid_element.edi"))
    assert message.tree.xpath("string(DTM/DTM01/DTM01.2)") == "20050819"


def test_declared_single_byte_charsets_are_honoured():
    [cyrillic] = messages(read("ORDERS/edireader_orders_d01b_unoe_cyrillic.edi"))
    assert any("Лорем" in text for text in cyrillic.tree.xpath("//text()"))
    [latin] = messages(read("ORDRSP/edireader_ordrsp_d01b_unoc_latin1.edi"))
    assert any("Lörém" in text for text in latin.tree.xpath("//text()"))


def test_every_corpus_file_parses_or_is_unreadable():
    for path in sorted(EDIFACT.rglob("*")):
        if path.is_file():
            try:
                list(edifact.parse(path.read_bytes()))
            except UnreadableFile:
                pass


# --- Broken corpus files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ORDERS/pydifact_order_ean008_no_unz.edi", "has no UNZ trailer"),
        ("ORDERS/pydifact_order2_no_una_no_unz.edi", "has no UNZ trailer"),
        ("ORDERS/smooks_orders_unob4_no_unz.txt", "has no UNZ trailer"),
        ("INVOIC/edifabric_missing_unz_then_una.txt", "has no UNZ trailer"),
        ("ORDERS/pydifact_wikipedia_de_unz_ref_mismatch.edi", "UNZ control reference '1234567'"),
        ("ORDERS/oca_orders_no_pri_bad_unt.txt", "UNT says 267 segments but the message has 21"),
        ("ORDERS/staedi_orders_d96b_ung_group.edi", "UNT says 21 segments but the message has 18"),
        ("ORDERS/smooks_orders_d03b_too_many_dtm.txt", "UNT says 22 segments but the message has 57"),
        ("APERAK/pydifact_aperak_rejected.edi", "UNT says 8 segments but the message has 7"),
        ("PAORES/phpedifact_release_chars_bad_unt.edi", "UNT says 14 segments"),
        ("IFTMBC/phpedifact_newline_inside_segment.edi", "UNT says 10 segments"),
        ("INVOIC/edifabric_corrupt_unb_tag.txt", "segment LNB is outside any message"),
        ("INVOIC/edifabric_corrupt_unb_tag.txt", "UNZ says 1 but the interchange holds 2"),
        ("MIXED/smooks_ung_then_loose_messages.edi", "message outside any group"),
        ("MIXED/smooks_ung_then_loose_messages.edi", "'BBBB' is not a valid EDIFACT tag"),
        ("INVOIC/bots_invoic_odd_codes.edi", "message reference 111425 is used twice"),
        ("INVOIC/bots_invoic_odd_codes.edi", "DTM01.2 (2380, date/time) is empty"),
        ("INVOIC/staedi_invoic_d93a_comma_decimal.edi", "'19999715' is not a valid date"),
        ("INVOIC/staedi_invoic_d97b_bad_values.edi", "'1020A' is not a number"),
        ("INVOIC/staedi_invoic_d97b_bad_values.edi", "'BYZZ' is longer than a code"),
        ("IFTMIN/chemaclass_iftmin_blank_lines.edi", "UNB date '19101' is not a date"),
        ("ORDERS/phpedifact_d01b_ean010_orders_unescaped_colon.edi", "IMD03 (item description) has 7"),
        ("ORDERS/oca_retail_orders_sample2_placeholders.txt", "'<Supplier GLN>' is an unfilled"),
    ],
)
def test_broken_corpus_file_reports_its_problem(name, expected):
    assert any(expected in reason for reason in errors(read(name)))


@pytest.mark.parametrize("refs, twice", [
    (["1", "2", "3", "2"], ["2"]),
    (["0001", "1", "01", "0001"], ["0001"]),  # the same number written otherwise is another reference
    (["255", "256", "511", "512", "256"], ["256"]),  # either side of a page's edge
    (["M1", "M2", "M1", "99999999999999", "99999999999999"], ["M1", "99999999999999"]),
])
def test_a_message_reference_used_twice_in_an_interchange_rejects_the_second_message(refs, twice):
    body = [GOOD_MESSAGE.replace("+M1'", f"+{ref}'").replace("UNH+M1+", f"UNH+{ref}+") for ref in refs]
    events = list(edifact.parse(order(*body, unz=f"UNZ+{len(refs)}+REF1'")))
    found = [(m.ref, [(i.code, i.reason) for i in m.errors]) for m in messages(events) if m.errors]
    assert found == [(ref, [("26", f"message reference {ref} is used twice in this interchange")]) for ref in twice]


def test_wrong_unt_count_rejects_only_that_message():
    [message] = messages(read("ORDERS/oca_orders_no_pri_bad_unt.txt"))
    assert message.status == "rejected"
    [issue] = [i for i in message.errors if i.tag == "UNT"]
    assert issue.position == 21


def test_duplicate_reference_rejects_the_second_message_only():
    first, second = messages(read("INVOIC/edifabric_corrupt_unb_tag.txt"))[:2]
    assert first.status == "accepted"
    assert second.status == "rejected"
    assert [(i.position, i.tag) for i in second.errors if i.severity == "error"] == [(1, "UNH")]


def test_missing_unz_rejects_the_interchange_and_the_next_one_is_read():
    first, second = interchanges(read("INVOIC/edifabric_missing_unz_then_una.txt"))
    assert first.status == "rejected"
    assert second.status == "accepted"
    assert second.index == 1


@pytest.mark.parametrize(
    "name",
    ["INVOIC/smooks_invoic_body_without_envelope.edi", "ORDERS/edifactrs_d01b_orders_malformed.edi"],
)
def test_file_without_unb_is_unreadable(name):
    with pytest.raises(UnreadableFile, match="UNB|UNA"):
        read(name)


# --- Hand-made bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"  \r\n ", "empty"),
        (b"\x00\xff\x10binary\x00junk", "not EDIFACT"),
        (b"UNA:+.? 'BGM+220+1'", "^no UNB interchange header: the file after its UNA service string advice starts "
                                 "with BGM$"),
        (b"UNA:+.? '", "^no UNB interchange header: the file after its UNA service string advice has nothing more$"),
        (b"UNB+UNOC:3+SEND", "cannot be read"),
        (b"UNA:+.", "ends inside its UNA"),
    ],
)
def test_unreadable_bytes_raise_with_a_reason(data, reason):
    with pytest.raises(UnreadableFile, match=reason):
        list(edifact.parse(data))


def test_a_byte_order_mark_before_the_interchange_is_skipped_and_said():
    """Windows tools often write a UTF-8 BOM before UNA: the file is read as without it, and the
    interchange carries a warning saying it was skipped (lenient, not silent)."""
    sample = (ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    plain, marked = list(edifact.parse(sample)), list(edifact.parse(b"\xef\xbb\xbf" + sample))
    [interchange] = [event for event in marked if isinstance(event, Interchange)]
    assert interchange.status == "accepted"
    assert [(issue.severity, issue.reason) for issue in interchange.errors] == [
        ("warning", "the file starts with a UTF-8 byte order mark, which the standard does not use; it was skipped")]
    assert [m.tree.xpath("string(//BGM02)") for m in marked if isinstance(m, Message)] == \
        [m.tree.xpath("string(//BGM02)") for m in plain if isinstance(m, Message)] == ["4500012", "4500013"]


def test_release_character_before_a_line_break_terminator_is_reported_not_raised():
    data = b"UNA:+.? \nUNB+UNOC:3+S:ZZZ+R:ZZZ+240131:1200+R1\nUNH+M1+ORDERS:D:96A:UN?\nUNZ+1+R1\n"
    events = list(edifact.parse(data))
    assert any("unreadable data in segment UNH" in reason for reason in errors(events))


def test_good_message_is_accepted_and_tree_keeps_raw_values():
    events = list(edifact.parse(order(GOOD_MESSAGE)))
    [message] = messages(events)
    assert message.status == "accepted"
    assert message.tree.xpath("string(SG25/QTY/QTY01/QTY01.2)") == "5"
    [interchange] = interchanges(events)
    assert (interchange.date, interchange.time, interchange.status) == ("2024-01-31", "12:00", "accepted")


def test_truncated_message_is_rejected_with_the_segment_named():
    data = order("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'LIN+1++12", unz="")
    events = list(edifact.parse(data))
    [message] = messages(events)
    assert message.status == "rejected"
    assert any("ends inside segment LIN" in issue.reason for issue in message.errors)
    assert interchanges(events)[0].status == "rejected"


def test_unt_count_and_reference_are_checked():
    data = order("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20240131:102'UNT+9+M2'")
    [message] = messages(edifact.parse(data))
    assert [(i.position, i.tag, i.code) for i in message.errors] == [
        (4, "UNT", "29"), (4, "UNT", "28"), (4, "UNS", "13")]  # UNS: mandatory in ORDERS
    assert "UNT says 9 segments but the message has 4" in message.errors[0].reason
    assert "'M2' does not match UNH's 'M1'" in message.errors[1].reason


def test_unz_count_is_checked():
    events = list(edifact.parse(order(GOOD_MESSAGE, unz="UNZ+2+REF1'")))
    assert errors(events) == ["UNZ says 2 but the interchange holds 1 messages"]


def test_message_without_unt_ends_at_the_next_unh():
    data = order("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO1+9'", GOOD_MESSAGE.replace("M1", "M2"), unz="UNZ+2+REF1'")
    first, second = messages(edifact.parse(data))
    assert first.status == "rejected"
    assert "no UNT trailer" in first.errors[0].reason
    assert second.status == "accepted"


def test_one_bad_message_leaves_the_interchange_partial():
    bad = "UNH+M2+ORDERS:D:96A:UN'BGM+220+PO2+9'UNT+5+M2'"
    events = list(edifact.parse(order(GOOD_MESSAGE, bad, unz="UNZ+2+REF1'")))
    assert [m.status for m in messages(events)] == ["accepted", "rejected"]
    assert interchanges(events)[0].status == "partial"


def test_junk_after_unz_is_an_error_of_that_interchange():
    events = list(edifact.parse(order(GOOD_MESSAGE) + b"\r\nGARBAGE\x00\x01"))
    [interchange] = interchanges(events)
    assert any("bytes after UNZ" in issue.reason for issue in interchange.errors)
    assert messages(events)[0].status == "accepted"


def test_junk_after_unz_is_counted_and_shown_without_the_blank_space_around_it():
    events = list(edifact.parse(order(GOOD_MESSAGE) + b"\r\n GARBAGE\x00\x01 \n"))
    [interchange] = interchanges(events)
    assert [issue.reason for issue in interchange.errors] == [
        "9 bytes after UNZ do not belong to any interchange (they start with 'GARBAGE\\x00\\x01')"]


@pytest.mark.parametrize("padding, errors", [
    (b"\n", []),
    (b"\x00", [f"{BIG_FILE} bytes after UNZ do not belong to any interchange (they start with "
               f"{chr(0) * 20!r}…)"]),
])
def test_a_file_padded_after_its_unz_is_not_copied_into_memory(tmp_path, padding, errors):
    """Some partners' tools pad files to a fixed size, with blank lines or NULs: the padding is
    looked at a block at a time, never copied whole (a 1 GB file would cost a gigabyte)."""
    sample = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()
    path = tmp_path / "padded.edi"
    path.write_bytes(sample + padding * BIG_FILE)

    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data, \
            heap_peak() as peak:
        events = list(edifact.parse(data))

    [interchange] = interchanges(events)
    assert [issue.reason for issue in interchange.errors] == errors
    assert [m.status for m in messages(events)] == ["accepted", "accepted"]
    assert peak[0] < BIG_FILE * WELL_BELOW, f"peak {peak[0]} bytes for a file of {BIG_FILE}"


def test_invalid_segment_tag_is_an_error():
    data = order("UNH+M1+ORDERS:D:96A:UN'bgm+220'UNT+3+M1'")
    [message] = messages(edifact.parse(data))
    assert [(i.position, i.tag, i.code) for i in message.errors] == [
        (2, "bgm", None), (3, "BGM", "13"), (3, "DTM", "13"), (3, "UNS", "13")]
    assert message.errors[1].reason == "mandatory segment BGM is missing in the message"


def test_segment_between_messages_is_an_interchange_error():
    events = list(edifact.parse(order(GOOD_MESSAGE, "FTX+AAI+++loose'")))
    [issue] = interchanges(events)[0].errors
    assert (issue.position, issue.tag) == (9, "FTX")


def test_sender_other_than_the_partner_is_an_interchange_error():
    events = list(edifact.parse(order(GOOD_MESSAGE), expected_sender="PARTNER"))
    assert errors(events) == ["sender SENDER is not this partner (expected PARTNER)"]
    assert not errors(edifact.parse(order(GOOD_MESSAGE), expected_sender="SENDER"))


def test_dollar_terminated_fragment_is_read_and_its_missing_segments_named():
    events = read("INVOIC/edireader_tiny_dollar_terminator.edi")
    [message] = messages(events)
    assert message.tree.xpath("string(BGM/BGM02)") == "342459"
    assert [(i.position, i.tag, i.code, i.level) for i in message.errors] == [
        (3, "DTM", "13", "segment"), (4, "UNS", "13", "segment"), (4, "MOA", "13", "segment")]
    assert interchanges(events)[0].errors == []


def test_une_count_and_reference_are_checked():
    data = order("UNG+ORDERS+S+R+240131:1200+G1+UN+D:96A'", GOOD_MESSAGE, "UNE+2+G9'")
    events = list(edifact.parse(data))
    [group] = interchanges(events)[0].groups
    assert [i.reason for i in group.errors] == [
        "UNE says 2 messages but the group holds 1",
        "UNE group reference 'G9' does not match UNG's 'G1'",
    ]


def test_non_ascii_under_unoa_falls_back_with_a_warning():
    data = order(GOOD_MESSAGE).replace(b"UNOC", b"UNOA").replace(b"PO1", b"P\xd61")
    events = list(edifact.parse(data))
    [message] = messages(events)
    assert message.tree.xpath("string(BGM/BGM02)") == "PÖ1"
    assert any("read as ISO-8859-1" in i.reason for i in interchanges(events)[0].errors)


def test_messages_are_yielded_one_at_a_time():
    events = edifact.parse(order(GOOD_MESSAGE, GOOD_MESSAGE.replace("M1", "M2"), unz="UNZ+2+REF1'"))
    first = next(events)
    assert isinstance(first, Message) and first.ref == "M1"
    assert first.interchange.messages_accepted == 1  # the second one is not read yet
    assert [type(e).__name__ for e in events] == ["Message", "Interchange"]
