"""X12 parsing: what a user sees of each corpus file (EXPECTED.md 9–14), and how broken ones fail."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

from gateway.formats import x12
from gateway.formats.model import Interchange, Message, UnreadableFile

X12 = CORPUS / "x12"


def events(path: str | Path, **options) -> list[Message | Interchange]:
    return list(x12.parse((X12 / path).read_bytes(), **options))


def messages(path: str | Path, **options) -> list[Message]:
    return [event for event in events(path, **options) if isinstance(event, Message)]


def interchanges(path: str | Path, **options) -> list[x12.X12Interchange]:
    return [event for event in events(path, **options) if isinstance(event, Interchange)]


def reasons(path: str | Path) -> list[str]:
    """Every reason reported on a file (errors and warnings), from its interchanges, groups and messages."""
    found = []
    for event in events(path):
        found += [issue.reason for issue in event.errors]
    return found


def lines(message: Message, loop: str = "PO1_loop", segment: str = "PO1") -> list[tuple[str, ...]]:
    """(line number, id qualifier, id, quantity, unit, price) of each line, as written."""
    return [
        tuple(
            line.xpath(f"string({segment}/{segment}{number:02d})")
            for number in (1, 6, 7, 2, 3, 4)
        )
        for line in message.tree.xpath(loop)
    ]


# --- EXPECTED.md 9: bots_850_004010_isa00200.x12 ------------------------------------------


def test_isa00200_interchange_envelope():
    [interchange] = interchanges("850/bots_850_004010_isa00200.x12")
    assert (interchange.sender, interchange.sender_qualifier) == ("1111111", "ZZ")
    assert (interchange.receiver, interchange.receiver_qualifier) == ("22222222", "ZZ")
    assert interchange.control_ref == "000000001"
    assert interchange.syntax == "00200"
    assert interchange.test is False
    assert interchange.delimiters == x12.Delimiters(element="*", component=">", segment="~")
    assert interchange.status == "accepted" and interchange.errors == []


def test_isa00200_group():
    [interchange] = interchanges("850/bots_850_004010_isa00200.x12")
    [group] = interchange.groups
    assert (group.functional_id, group.sender, group.receiver) == ("PO", "1135309", "2002450")
    assert (group.control_ref, group.version) == ("200", "004010")


def test_isa00200_order_and_lines():
    [message] = messages("850/bots_850_004010_isa00200.x12")
    assert (message.type, message.ref, message.version, message.status) == ("850", "000000101", "004010", "accepted")
    tree = message.tree
    assert tree.xpath("string(BEG/BEG03)") == "0123456789123"
    assert tree.xpath("string(BEG/BEG05)") == "19980106"
    assert tree.xpath("string(SE/SE01)") == "14"
    assert lines(message) == [
        ("1", "IB", "0835201031", "2", "UN", "10.5"),
        ("2", "IB", "0835202151", "10", "UN", "9.25"),
        ("3", "IB", "0835208338", "5", "UN", "30"),
    ]
    assert tree.xpath("string(CTT_loop/CTT/CTT02)") == "17"


def test_message_root_carries_the_envelope():
    [message] = messages("850/bots_850_004010_isa00200.x12")
    assert dict(message.tree.attrib) == {
        "standard": "x12",
        "type": "850",
        "version": "004010",
        "ref": "000000101",
        "sender": "1111111",
        "receiver": "22222222",
        "interchange_ref": "000000001",
        "group_ref": "200",
        "functional_id": "PO",
        "decimal_mark": ".",
    }


def test_tree_starts_with_st_at_position_one_and_ends_with_se():
    [message] = messages("850/bots_850_004010_isa00200.x12")
    children = list(message.tree)
    assert (children[0].tag, children[0].get("pos")) == ("ST", "1")
    assert (children[-1].tag, children[-1].get("pos")) == ("SE", "14")


# --- EXPECTED.md 10: stedi_850_005010_gs_ow.x12 --------------------------------------------


def test_005010_envelope_with_test_usage():
    [interchange] = interchanges("850/stedi_850_005010_gs_ow.x12")
    assert (interchange.sender, interchange.sender_qualifier) == ("ANOTHERMERCH", "ZZ")
    assert (interchange.receiver, interchange.receiver_qualifier) == ("AMERCHANT", "14")
    assert interchange.control_ref == "000000057"
    assert interchange.test is True
    # ISA11 'U' under 00501 is the old standards id, not a repetition separator
    assert interchange.delimiters.repetition is None


def test_005010_order_lines_keep_quantities_as_written():
    [message] = messages("850/stedi_850_005010_gs_ow.x12")
    tree = message.tree
    assert tree.get("test") == "1"
    assert tree.get("version") == "005010"
    assert tree.xpath("string(BEG/BEG03)") == "365465413"
    assert tree.xpath("string(BEG/BEG02)") == "DS"
    assert [line[0] for line in lines(message)] == ["item-1", "item-2"]
    assert [(line[3], line[4], line[5]) for line in lines(message)] == [("0008", "EA", "400"), ("0004", "EA", "125")]
    assert tree.xpath("string(CTT_loop/AMT/AMT02)") == "3700"


def test_functional_id_not_matching_the_set_rejects_it():
    [message] = messages("850/stedi_850_005010_gs_ow.x12")
    assert message.status == "rejected"
    [issue] = message.errors
    assert (issue.position, issue.tag) == (1, "ST")
    assert "GS01 'OW'" in issue.reason and "'PO'" in issue.reason


# --- EXPECTED.md 11: bots_850_004010_pipe_elemsep_4sets.x12 -------------------------------


def test_pipe_element_separator_four_sets():
    found = messages("850/bots_850_004010_pipe_elemsep_4sets.x12")
    assert [(m.ref, m.tree.xpath("string(BEG/BEG03)"), m.tree.xpath("count(PO1_loop)")) for m in found] == [
        ("0001", "P1234567", 5),
        ("0002", "Q1234567", 2),
        ("0003", "V1234567", 1),
        ("0004", "W1234567", 11),
    ]
    assert all(m.status == "accepted" for m in found)
    [interchange] = interchanges("850/bots_850_004010_pipe_elemsep_4sets.x12")
    assert interchange.delimiters.element == "|"
    assert (interchange.sender, interchange.receiver, interchange.syntax) == ("ABCCO", "XYZCO", "00305")


def test_pipe_file_keeps_odd_ids_and_zero_quantities():
    last = messages("850/bots_850_004010_pipe_elemsep_4sets.x12")[-1]
    ids = [line[2] for line in lines(last)]
    quantities = [line[3] for line in lines(last)]
    assert ids[6:8] == ["717119.837242", "B000056EWE"]
    assert quantities[8] == "0"


# --- EXPECTED.md 12: nodex12_855_isbn_lines.x12 --------------------------------------------


def test_855_acknowledged_lines():
    [message] = messages("855/nodex12_855_isbn_lines.x12")
    tree = message.tree
    assert (message.type, message.ref, message.status) == ("855", "0005", "accepted")
    assert (tree.xpath("string(BAK/BAK01)"), tree.xpath("string(BAK/BAK02)")) == ("00", "AD")
    assert (tree.xpath("string(BAK/BAK03)"), tree.xpath("string(BAK/BAK04)")) == ("POTEST1112", "20201015")
    acknowledged = [
        (line.xpath("string(PO1/PO107)"), line.xpath("string(PO1/PO104)"),
         line.xpath("string(ACK_loop/ACK/ACK01)"), line.xpath("string(ACK_loop/ACK/ACK02)"))
        for line in tree.xpath("PO1_loop")
    ]
    assert acknowledged == [
        ("9780446360265", "4.5", "IA", "3"),
        ("9780767928427", "15.99", "IR", "0"),
        ("9780099599531", "0", "IR", "0"),
        ("9780446360272", "4.5", "IA", "2"),
    ]


# --- EXPECTED.md 13: oopfactory_856_star_terminator.x12 ----------------------------------


def test_star_as_segment_terminator_with_tilde_elements():
    [interchange] = interchanges("856/oopfactory_856_star_terminator.x12")
    assert interchange.delimiters == x12.Delimiters(element="~", component="`", segment="*")
    assert (interchange.sender, interchange.sender_qualifier) == ("201495124", "01")
    assert (interchange.receiver, interchange.receiver_qualifier) == ("207663412", "01")
    [group] = interchange.groups
    assert (group.functional_id, group.sender, group.receiver) == ("SH", "207663412", "201495124")


def test_856_shipment_and_hierarchy():
    [message] = messages("856/oopfactory_856_star_terminator.x12")
    tree = message.tree
    assert (message.ref, message.status) == ("0001", "accepted")
    assert tree.xpath("string(BSN/BSN02)") == "123456"
    assert [level.xpath("string(HL/HL03)") for level in tree.xpath("HL_loop")] == ["S", "O", "I", "I", "I"]
    assert tree.xpath("string(HL_loop/PRF/PRF01)") == "123456"
    items = [(hl.xpath("string(LIN/LIN03)"), hl.xpath("string(SN1/SN102)"), hl.xpath("string(SN1/SN103)"))
             for hl in tree.xpath("HL_loop[LIN]")]
    assert items == [("1234-123456", "16", "PC"), ("1234-654321", "23", "LB"), ("1234-223456", "16", "PC")]


# --- EXPECTED.md 14: bots_997_ak3_ak4_reject.x12 ------------------------------------------


def test_997_error_detail_with_composite_positions():
    [message] = messages("997/bots_997_ak3_ak4_reject.x12")
    tree = message.tree
    assert (message.type, message.ref, tree.get("sender")) == ("997", "0001", "0000BBB")
    assert tree.xpath("string(AK1/AK101)") == "HC"
    assert tree.xpath("string(AK2_loop/AK2/AK202)") == "300145997"
    errors = [(loop.xpath("string(AK3/AK301)"), loop.xpath("string(AK3/AK302)"),
               [(ak4.xpath("string(AK401/AK401.1)"), ak4.xpath("string(AK401/AK401.2)"), ak4.xpath("string(AK402)"))
                for ak4 in loop.xpath("AK4")])
              for loop in tree.xpath("AK2_loop/AK3_loop")]
    assert errors == [
        ("SV2", "57", [("2", "1", "235"), ("2", "2", "234")]),
        ("SVD", "59", [("3", "1", "235"), ("3", "2", "234")]),
    ]
    assert tree.xpath("string(AK2_loop/AK5/AK501)") == "R"
    assert [tree.xpath(f"string(AK9/AK90{n})") for n in (1, 2, 3, 4)] == ["R", "1", "1", "0"]


# --- delimiters, encodings, layouts -------------------------------------------------------


def test_mailbag_holds_eight_interchanges_each_with_its_own_delimiters():
    found = interchanges("mixed/bots_mailbag_mixed_interchanges.x12")
    assert [i.control_ref for i in found] == [
        "000001816", "001000113", "017000934", "112240001", "000000005", "000001000", "000000010", "000000183",
    ]
    assert [i.delimiters.segment for i in found] == ["\x15", "\x15", "\x15", "\n", "~", "\x15", "~", "~"]
    assert [i.delimiters.component for i in found] == [">", ":", ":", "@", "+", "}", ">", ">"]
    assert [i.index for i in found] == list(range(8))


def test_mailbag_messages_are_numbered_across_the_file():
    found = messages("mixed/bots_mailbag_mixed_interchanges.x12")
    assert [m.index for m in found] == list(range(14))
    assert [m.type for m in found][:4] == ["997", "850", "820", "820"]


def test_ebcdic_file_reads_like_ascii():
    [message] = messages("850/bots_850_004010_ebcdic.x12")
    [interchange] = interchanges("850/bots_850_004010_ebcdic.x12")
    assert (interchange.sender, interchange.control_ref) == ("1234567890", "000000183")
    assert message.tree.xpath("string(BEG/BEG03)") == "12345678"
    assert message.tree.xpath("count(PO1_loop)") == 4
    assert message.status == "accepted" and interchange.status == "accepted"


@pytest.mark.parametrize("path", ["850/bots_850_004010_wrapped80_lf.x12", "850/bots_850_004010_wrapped80_crlf.x12"])
def test_lines_wrapped_at_80_columns_are_joined(path):
    found = messages(path)
    assert [(m.ref, m.tree.xpath("string(BEG/BEG03)"), m.tree.xpath("count(PO1_loop)")) for m in found] == [
        ("0007", "801104", 3),
        ("0001", "PONUM-1234567", 8),
    ]
    assert found[0].tree.xpath("string(N1_loop/N1/N102)") == "THERMA TRU INDIANA DOOR"
    assert all(m.status == "accepted" for m in found)
    assert interchanges(path)[0].status == "accepted"


def test_repetition_separator_splits_repeated_elements():
    [message] = messages("997/staedi_997_005010_repetitions.x12")
    ak3 = message.tree.xpath("AK2_loop/AK3_loop/AK3")[0]
    assert [element.xpath("string(.)") for element in ak3.xpath("AK302")] == [
        "AK302-R1", "AK302-R2", "AK302-R3-COMP1AK302-R3-COMP2",
    ]
    assert ak3.xpath("string(AK302[3]/AK302.2)") == "AK302-R3-COMP2"


def test_isa11_is_no_repetition_separator_before_00402():
    [message] = messages("810/edifabric_810_00204_bang_repetition.x12")
    assert any("!" in value for value in message.tree.xpath("//REF//text()"))


@pytest.mark.parametrize(
    "path, terminator",
    [
        ("850/bots_850_004010VICS_del_nak.x12", "\x15"),
        ("850/bots_850_004010_cr_term.x12", "\r"),
        ("850/bots_850_004010_space_after_term.x12", "~"),
        ("214/staedi_214_ellipsis_terminator.x12", "\u2026"),
        ("270/oopfactory_270_gs_char_terminator.x12", "\x1d"),
        ("850/oopfactory_850_bom_pipe_terminator.x12", "|"),
        ("850/bots_850_004010_lf_term_at_subsep.x12", "\n"),
    ],
)
def test_unusual_segment_terminators_are_read(path, terminator):
    [interchange] = interchanges(path)
    assert interchange.delimiters.segment == terminator
    assert interchange.status == "accepted"
    assert messages(path) and all(m.status == "accepted" for m in messages(path))


def test_ta1_is_kept_on_the_interchange_not_as_a_message():
    [interchange] = interchanges("997/bots_997_with_ta1.x12")
    [ack] = interchange.technical_acks
    assert (ack.control_ref, ack.date, ack.status, ack.note_code) == ("000001168", "2004-11-05", "A", "000")
    assert [m.type for m in messages("997/bots_997_with_ta1.x12")] == ["997"]


def test_ta1_only_interchange_has_no_messages_and_is_accepted():
    found = events("TA1/bots_ta1_only_iea0.x12")
    assert len(found) == 1 and isinstance(found[0], Interchange)
    assert found[0].status == "accepted"
    assert found[0].technical_acks[0].status == "R"


def test_interchange_date_time_and_ack_request():
    [interchange] = interchanges("850/bots_850_004010_isa00200.x12")
    [ta1_file] = interchanges("997/bots_997_with_ta1.x12")
    assert (ta1_file.date, ta1_file.time, ta1_file.ack_requested) == ("2004-12-10", "00:57", True)
    assert interchange.groups[0].date == "1998-03-19"  # GS04 written YYMMDD


# --- broken files from SOURCES.md ---------------------------------------------------------


@pytest.mark.parametrize(
    "path, reason",
    [
        ("850/bots_850_004010_ctt_wrong.x12", "CTT01 says 1 line items, the transaction set has 5 PO1"),
        ("850/bots_850_004010_two_groups_dup_ctrl.x12", "duplicate group control number 5"),
        ("850/bots_850_004010_two_groups_dup_ctrl.x12", "duplicate transaction set control number 000000001"),
        ("850/nodex12_850_duplicate_interchange.x12", "duplicate interchange control number 000003438"),
        ("850/stedi_850_005010_gs_ow.x12", "GS01 'OW'"),
        ("810/edifabric_810_00204_missing_ge.x12", "GE missing"),
        ("810/edifabric_810_00204_missing_iea.x12", "IEA missing"),
        ("810/edifabric_810_00204_junk_after_iea.x12", "data after IEA that is not an interchange: '1r"),
        ("810/oopfactory_810_bom_bad_isa_version.x12", "ISA12 interchange version '00040'"),
        ("860/oopfactory_860_short_isa_missing_terminator.x12", "ISA is 105 characters, not 106"),
        ("865/oopfactory_865_iea_ctrl_mismatch.x12", "IEA02 control number 00001660 does not match ISA13 000016680"),
    ],
)
def test_broken_file_names_its_problem(path, reason):
    assert any(reason in found for found in reasons(path)), reasons(path)


def test_a_byte_order_mark_before_the_isa_is_skipped_and_said():
    data = (ROOT / "samples" / "inbox" / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    found = list(x12.parse(b"\xef\xbb\xbf" + data))
    [interchange] = [event for event in found if isinstance(event, Interchange)]
    assert interchange.status == "accepted"
    assert [(issue.severity, issue.reason) for issue in interchange.errors] == [
        ("warning", "the file starts with a UTF-8 byte order mark, which the standard does not use; it was skipped")]
    assert [m.ref for m in found if isinstance(m, Message)] == ["0001"]


def test_a_long_tail_after_iea_is_counted_and_shown_by_its_start():
    """A real 810 with a long run of data after its IEA (a file concatenated with something else):
    the interchange says how long it is and shows its first 40 characters."""
    data = (X12 / "810/edifabric_810_00204_junk_after_iea.x12").read_bytes()
    tail = "NOT AN INTERCHANGE " * 500
    data = data[:data.rindex(b"~") + 1] + b"\n" + tail.encode()  # its own short junk ("1r") replaced
    found = [event for event in x12.parse(data) if isinstance(event, Interchange)]
    reasons = [issue.reason for event in found for issue in event.errors if "data after IEA" in issue.reason]
    assert reasons == [f"data after IEA that is not an interchange: {tail[:40]!r} ({len(tail)} characters)"]
    assert found[-1].status != "accepted"


@pytest.mark.parametrize(
    "path",
    [
        "850/nodex12_850_duplicate_interchange.x12",
        "810/edifabric_810_00204_missing_ge.x12",
        "810/edifabric_810_00204_missing_iea.x12",
        "810/edifabric_810_00204_junk_after_iea.x12",
        "810/oopfactory_810_bom_bad_isa_version.x12",
        "860/oopfactory_860_short_isa_missing_terminator.x12",
        "865/oopfactory_865_iea_ctrl_mismatch.x12",
    ],
)
def test_broken_file_is_not_accepted(path):
    assert any(i.status != "accepted" for i in interchanges(path))


def test_short_isa_still_yields_its_transaction_set():
    [message] = messages("860/oopfactory_860_short_isa_missing_terminator.x12")
    assert (message.type, message.ref) == ("860", "56488")
    # the N1 without a terminator swallows the N3 after it: one segment short of SE01
    assert "SE01 says 10 segments, the transaction set has 9" in message.errors[0].reason


def test_duplicate_interchange_rejects_only_the_second_copy():
    first, second = interchanges("850/nodex12_850_duplicate_interchange.x12")
    assert first.status == "accepted"
    assert second.status == "rejected"
    assert (second.errors[0].position, second.errors[0].tag, second.errors[0].code) == (1, "ISA", "025")


def test_duplicate_control_numbers_reject_the_repeats_not_the_first():
    found = messages("850/bots_850_004010_two_groups_dup_ctrl.x12")
    assert [m.status for m in found] == ["accepted", "rejected", "accepted", "rejected"]


def test_missing_iea_still_yields_the_messages_read():
    found = events("810/edifabric_810_00204_missing_iea.x12")
    assert [type(event).__name__ for event in found] == ["Message", "X12Interchange"]
    assert found[0].status == "accepted"
    assert found[1].errors[-1].tag == "IEA"


def test_a_wrong_ctt_count_is_a_warning_that_points_at_the_ctt_segment():
    [message] = messages("850/bots_850_004010_ctt_wrong.x12")
    [issue] = message.errors
    assert (issue.tag, issue.severity, message.status) == ("CTT", "warning", "accepted")
    assert message.tree.xpath(f"name(//*[@pos='{issue.position}'])") == "CTT"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(X12)) for p in X12.rglob("*.x12")))
def test_every_corpus_file_parses_without_crashing(path):
    try:
        found = events(path)
    except UnreadableFile as error:
        assert str(error)
        return
    assert isinstance(found[-1], Interchange)
    assert all(m.tree is not None for m in found if isinstance(m, Message))


# --- hand-made bytes ------------------------------------------------------------------------

GOOD_ISA = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*U*00401*000000001*0*P*>~"


def two_orders(first_se_count: int = 4) -> bytes:
    return GOOD_ISA + (
        b"GS*PO*SENDER*RECEIVER*20240101*1200*1*X*004010~"
        b"ST*850*0001~BEG*00*SA*PO-A**20240101~PO1*1*2*EA*3.5~SE*%d*0001~"
        b"ST*850*0002~BEG*00*SA*PO-B**20240101~PO1*1*1*EA*9~SE*4*0002~"
        b"GE*2*1~IEA*1*000000001~" % first_se_count
    )


def test_hand_made_interchange_is_accepted():
    found = list(x12.parse(two_orders()))
    assert [type(e).__name__ for e in found] == ["Message", "Message", "X12Interchange"]
    assert all(e.status == "accepted" for e in found)


def test_wrong_se_count_rejects_that_set_and_the_next_goes_on():
    first, second, interchange = x12.parse(two_orders(first_se_count=7))
    assert first.status == "rejected"
    [issue] = first.errors
    assert (issue.position, issue.tag, issue.code) == (4, "SE", "4")
    assert "SE01 says 7 segments, the transaction set has 4" in issue.reason
    assert second.status == "accepted"
    assert interchange.status == "partial"


def test_messages_are_yielded_before_the_rest_of_the_file_is_read():
    stream = x12.parse(two_orders())
    first = next(stream)
    assert isinstance(first, Message) and first.ref == "0001"
    assert first.interchange.messages_accepted == 1  # the second set is not read yet


def test_wrong_partner_is_an_interchange_error():
    [*_, interchange] = x12.parse(two_orders(), expected_sender="OTHER")
    assert interchange.status == "rejected"
    assert "sender SENDER is not this partner (expected OTHER)" in interchange.errors[0].reason


def test_right_partner_passes():
    [*_, interchange] = x12.parse(two_orders(), expected_sender="SENDER")
    assert interchange.errors == []


def test_missing_se_is_reported_and_the_set_still_yielded():
    data = GOOD_ISA + b"GS*PO*S*R*20240101*1200*1*X*004010~ST*850*0001~BEG*00*SA*X**20240101~GE*1*1~IEA*1*000000001~"
    message, interchange = x12.parse(data)
    assert message.status == "rejected"
    assert (message.errors[0].tag, message.errors[0].position) == ("SE", 3)
    assert "SE missing" in message.errors[0].reason


def test_se02_not_matching_st02_is_an_error():
    data = two_orders().replace(b"SE*4*0001", b"SE*4*0009")
    first = next(x12.parse(data))
    assert "SE02 control number 0009 does not match ST02 0001" in first.errors[0].reason


def test_ge_count_mismatch_is_a_group_and_interchange_error():
    data = two_orders().replace(b"GE*2*1", b"GE*3*1")
    *_, interchange = x12.parse(data)
    assert interchange.status == "rejected"
    assert "GE01 says 3 transaction sets, group 1 has 2" in interchange.groups[0].errors[0].reason


def test_latin1_file_is_read_with_a_warning():
    data = two_orders().replace(b"PO-A", b"PO-\xc4")
    first, _, interchange = x12.parse(data)
    assert first.tree.xpath("string(BEG/BEG03)") == "PO-\u00c4"
    assert interchange.errors[0].severity == "warning" and "ISO-8859-1" in interchange.errors[0].reason
    assert interchange.status == "accepted"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b" \r\n\t", "blank"),
        (b"\x00\x01\x02\xff\xfe junk", "does not start with an ISA"),
        (b"UNB+UNOA:2+X+Y+240101:1200+1'", "does not start with an ISA"),
        (GOOD_ISA[:60], "cut short"),
        (GOOD_ISA[:104], "ends before"),
        (b"ISA", "cut short"),
    ],
)
def test_unreadable_bytes_raise_with_a_reason(data, reason):
    with pytest.raises(UnreadableFile, match=reason):
        list(x12.parse(data))


def test_garbage_inside_the_interchange_is_an_error_not_a_crash():
    data = two_orders().replace(b"PO1*1*1*EA*9~", b"PO1*1*1*EA*9~\x01\x02 bad~")
    second = list(x12.parse(data))[1]
    assert second.status == "rejected"
    assert "is not a segment" in second.errors[0].reason


@pytest.mark.parametrize(
    "data, expected",
    [
        (GOOD_ISA, True),
        (b"\xef\xbb\xbf\r\n  " + GOOD_ISA, True),
        (GOOD_ISA.decode().encode("cp037"), True),
        (b"UNA:+.? 'UNB+UNOA:2", False),
        (b"", False),
        (b"PO_NUMBER;QTY\n", False),
    ],
)
def test_sniff(data, expected):
    assert x12.sniff(data) is expected


def test_interchange_without_iea_ends_at_the_next_isa():
    first = two_orders().replace(b"IEA*1*000000001~", b"")
    second = two_orders().replace(b"000000001", b"000000002")
    found = list(x12.parse(first + b"\n" + second))
    ends = [event for event in found if isinstance(event, Interchange)]
    assert [i.control_ref for i in ends] == ["000000001", "000000002"]
    assert "IEA missing: another ISA starts" in ends[0].errors[0].reason
    assert ends[1].status == "accepted"
    assert [m.ref for m in found if isinstance(m, Message)] == ["0001", "0002", "0001", "0002"]


def test_results_do_not_depend_on_where_chunks_are_cut(monkeypatch):
    path = "mixed/bots_mailbag_mixed_interchanges.x12"
    whole = [(m.ref, m.tree.xpath("count(//*[@pos])")) for m in messages(path)]
    monkeypatch.setattr(x12, "_CHUNK", 7)
    assert [(m.ref, m.tree.xpath("count(//*[@pos])")) for m in messages(path)] == whole


def many_orders(count: int, name: str) -> bytes:
    """An interchange of `count` one-line 850s, each naming its buyer `name` (N1*BY), over 1 MB
    when `count` is a few thousand: the reader cuts such a file a chunk at a time."""
    sets = b"".join(
        b"ST*850*%05d~BEG*00*SA*PO-%d**20240101~N1*BY*%s~PO1*1*2*EA*3.5~SE*5*%05d~"
        % (n + 1, n, name.encode("utf-8"), n + 1) for n in range(count))
    return GOOD_ISA + b"GS*PO*SENDER*RECEIVER*20240101*1200*1*X*004010~" + sets + (
        b"GE*%d*1~IEA*1*000000001~" % count)


def buyer_names(found: list) -> list[str]:
    return [event.tree.xpath("string(.//N1[N101='BY']/N102)") for event in found if isinstance(event, Message)]


def test_utf8_names_across_the_reader_s_chunks_are_read_whole(tmp_path):
    # Two-byte and three-byte characters: some fall across a chunk boundary of the bytes.
    data = many_orders(30_000, "Müller & Søn €")
    assert len(data) > 2 * (1 << 20)
    path = tmp_path / "orders.x12"
    path.write_bytes(data)
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
        found = list(x12.parse(view))  # read from the archive's map, as the pipeline reads it
    assert set(buyer_names(found)) == {"Müller & Søn €"} and len(buyer_names(found)) == 30_000
    assert found[-1].status == "accepted" and found[-1].errors == []


def test_a_byte_that_is_not_utf8_far_into_the_file_is_named_and_the_file_read_as_latin1():
    data = many_orders(30_000, "Muller")
    at = data.rindex(b"Muller") + 1  # in the last order, past the first megabyte
    data = data[:at] + b"\xfc" + data[at + 1:]  # ü in ISO-8859-1
    found = list(x12.parse(data))
    [warning] = found[-1].errors
    assert warning.severity == "warning"
    assert warning.reason == f"the file is not UTF-8 (byte {at}); it was read as ISO-8859-1"
    assert buyer_names(found)[-1] == "Müller" and buyer_names(found)[0] == "Muller"
