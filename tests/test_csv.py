"""CSV files become one interchange and one message per document, in the uniform tree shape."""

import codecs
import mmap

import pytest

from gateway.formats import csv
from gateway.formats.model import Interchange, Message, UnreadableFile

SMOOKS = "csv/ORDERS/smooks_pipelines_orders.csv"
BOTS_QUOTED = "csv/ORDERS/bots_flat_orders_quoted.csv"

ORDERS_BY_PO = csv.Layout(message="ORDERS", document_key=("PO_NUMBER",))


def events(data: bytes, layout: csv.Layout) -> tuple[list[Message], Interchange]:
    found = list(csv.parse(data, layout))
    *messages, interchange = found
    assert isinstance(interchange, Interchange)
    assert all(isinstance(message, Message) for message in messages)
    return messages, interchange


def test_rows_with_the_same_key_value_form_one_message_each(corpus):
    messages, interchange = events((corpus / SMOOKS).read_bytes(), ORDERS_BY_PO)

    assert [m.ref for m in messages] == ["128576", "128577", "128578"]
    assert [m.index for m in messages] == [0, 1, 2]
    assert interchange.standard == "csv"
    assert interchange.status == "accepted"
    assert interchange.messages_accepted == 3


def test_message_tree_has_rows_with_line_numbers_and_named_columns(corpus):
    messages, _ = events((corpus / SMOOKS).read_bytes(), ORDERS_BY_PO)

    tree = messages[1].tree
    assert tree.tag == "message"
    assert tree.attrib == {"standard": "csv", "type": "ORDERS", "ref": "128577", "decimal_mark": "."}
    (row,) = tree
    assert row.tag == "row" and row.get("pos") == "3"
    assert row.findtext("UPC_NUMBER") == "4000862141405"
    assert row.findtext("CITY") == "Innsbruck"
    assert row.find("STATE") is None  # empty cells are left out


def test_headerless_file_uses_the_layout_column_names(corpus):
    columns = tuple(f"C{n}" for n in range(1, 31))
    layout = csv.Layout(message="ORDERS", header=False, columns=columns, document_key=("C5",))

    messages, _ = events((corpus / BOTS_QUOTED).read_bytes(), layout)

    assert [m.ref for m in messages] == ["BGMREF", "1-4500094289", "1-4500094290", "1-4500094291"]
    assert [len(m.tree) for m in messages] == [4, 2, 1, 1]
    assert [row.get("pos") for row in messages[1].tree] == ["5", "6"]
    assert messages[3].tree[0].findtext("C30") == "9.000"


def test_without_document_key_the_whole_file_is_one_message(corpus):
    messages, _ = events((corpus / SMOOKS).read_bytes(), csv.Layout(message="ORDERS"))

    assert len(messages) == 1
    assert messages[0].ref is None
    assert [row.get("pos") for row in messages[0].tree] == ["2", "3", "4"]


def test_column_names_are_made_valid_xml_names():
    data = b"Unit Price,1st,,qty\n9,a,b,2\n"

    (message,), _ = events(data, csv.Layout(message="ORDERS"))

    assert [cell.tag for cell in message.tree[0]] == ["Unit_Price", "c_1st", "c_3", "qty"]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name():
    data = b"\xef\xbb\xbfPO_NUMBER,QTY\n7,1\n"

    (message,), _ = events(data, ORDERS_BY_PO)

    assert message.ref == "7"


def test_semicolon_delimiter_and_decimal_mark_go_on_the_tree():
    layout = csv.Layout(message="ORDERS", delimiter=";", decimal_mark=",")

    (message,), _ = events(b"ITEM;PRICE\nA;12,5\n", layout)

    assert message.tree.get("decimal_mark") == ","
    assert message.decimal_mark == ","
    assert message.tree[0].findtext("PRICE") == "12,5"


def test_a_row_with_the_wrong_column_count_rejects_only_its_document():
    data = b"PO_NUMBER,QTY\n1,5\n2,5,extra\n3,7\n"

    messages, interchange = events(data, ORDERS_BY_PO)

    assert [m.status for m in messages] == ["accepted", "rejected", "accepted"]
    (issue,) = messages[1].errors
    assert "line 3" in issue.reason and issue.position == 3
    assert interchange.status == "partial"


def test_undecodable_bytes_make_the_file_unreadable():
    with pytest.raises(UnreadableFile, match="offset 17"):
        list(csv.parse(b"PO_NUMBER,NAME\n1,\xff\xfe\n", ORDERS_BY_PO))


def test_empty_file_is_unreadable():
    with pytest.raises(UnreadableFile, match="empty"):
        list(csv.parse(b"\n\n", ORDERS_BY_PO))


def test_document_key_missing_from_the_header_is_unreadable():
    with pytest.raises(UnreadableFile, match="PO_NUMBER"):
        list(csv.parse(b"ORDER,QTY\n1,2\n", ORDERS_BY_PO))


def test_layout_from_mapping_rejects_unknown_keys_naming_the_source():
    with pytest.raises(csv.LayoutError, match="templates/csv/x.yaml, line 4: layout: unknown key"):
        csv.Layout.from_mapping({"message": "ORDERS", "separator": ";"}, "templates/csv/x.yaml, line 4")


def test_layout_without_header_needs_columns():
    with pytest.raises(csv.LayoutError, match="needs `columns`"):
        csv.Layout.from_mapping({"message": "ORDERS", "header": False}, "x.yaml")


def test_layout_from_mapping_reads_a_full_layout():
    layout = csv.Layout.from_mapping(
        {"message": "ORDERS", "delimiter": ";", "decimal_mark": ",", "header": False,
         "columns": ["A", "B"], "document_key": "A", "encoding": "latin-1"},
        "x.yaml",
    )

    assert layout == csv.Layout(
        message="ORDERS", delimiter=";", decimal_mark=",", header=False, columns=("A", "B"),
        document_key=("A",), encoding="latin-1",
    )


def big_orders(count: int, name: str) -> bytes:
    """`count` one-line orders naming their customer `name`: over 1 MB for a few tens of thousands,
    so the reader decodes and cuts the file in several chunks."""
    rows = "".join(f"PO-{n},{n % 7 + 1},{name}\n" for n in range(count))
    return ("PO_NUMBER,QTY,NAME\n" + rows).encode("utf-8")


def test_a_big_file_is_read_a_chunk_at_a_time_from_the_archive_s_map(tmp_path):
    data = codecs.BOM_UTF8 + big_orders(60_000, "Müller & Søn €")
    assert len(data) > 1 << 20  # more than one chunk
    path = tmp_path / "orders.csv"
    path.write_bytes(data)
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
        messages, interchange = events(view, ORDERS_BY_PO)
    assert len(messages) == 60_000 and interchange.status == "accepted"
    assert {m.tree.findtext("row/NAME") for m in messages} == {"Müller & Søn €"}
    assert messages[0].tree.attrib["ref"] == "PO-0"  # the byte order mark is not part of the first column
    assert [m.tree.find("row").get("pos") for m in messages[-2:]] == ["60000", "60001"]


def test_a_byte_the_encoding_cannot_read_past_the_first_megabyte_is_named_by_its_offset():
    data = big_orders(60_000, "Muller")
    at = data.rindex(b"Muller") + 1
    data = data[:at] + b"\xfc" + data[at + 1:]
    with pytest.raises(UnreadableFile, match=rf"the bytes at offset {at} \(b'\\xfclle'\) are not utf-8"):
        list(csv.parse(data, ORDERS_BY_PO))


def test_a_broken_quote_near_the_end_makes_the_file_unreadable_before_any_document_is_given():
    data = big_orders(20_000, "Muller") + b'PO-X,1,"Muller\n'
    documents = csv.parse(data, ORDERS_BY_PO)
    with pytest.raises(UnreadableFile, match="line 20002"):
        next(documents)  # not the first 20,000 orders, then the error: none is delivered from a bad file
