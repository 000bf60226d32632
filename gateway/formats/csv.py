"""CSV files → the uniform message tree: one interchange per file, one message per document.

A partner's CSV layout is data (the `layout:` mapping of its CSV template) read into a
`Layout`. The tree of one document is

    <message standard="csv" type="ORDERS" ref="128576" decimal_mark=".">
      <row pos="2"><LINE_NUMBER>1</LINE_NUMBER><PO_NUMBER>128576</PO_NUMBER>…</row>
      …
    </message>

`pos` is the 1-based line of the file where the row starts (for error reports), and each
non-empty cell is an element named by its column (sanitized to an XML name: characters other
than ASCII letters, digits, `_`, `-`, `.` become `_`; a name not starting with a letter or `_`
gets the prefix `c_`; an empty header cell is named `c_<column number>`).

Rows with the same `document_key` values, consecutive, form one document; without a key the
whole file is one document.
"""

from __future__ import annotations

import codecs
import csv as stdcsv
import io
import itertools
import mmap
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from lxml import etree

from gateway.formats.edifact import first_undecodable, release_pages
from gateway.formats.model import Interchange, Issue, Message, UnreadableFile
from gateway.formats.tree import message_element, representable


class LayoutError(ValueError):
    """A CSV layout that cannot be used; the message names the template file."""


_CHUNK = 1 << 20
_LAYOUT_KEYS = {
    "message",
    "version",
    "delimiter",
    "quotechar",
    "header",
    "columns",
    "encoding",
    "decimal_mark",
    "document_key",
}


@dataclass(frozen=True)
class Layout:
    """How a partner's CSV file is laid out, from the `layout:` mapping of its template.

    `header`: the first row names the columns. `columns` names them instead (a headerless file,
    or to rename a header's columns; the header row is then skipped). `document_key`: the
    column(s) whose value change starts a new document. `message`: the message type the file
    carries (ORDERS, INVOIC …).
    """

    message: str
    delimiter: str = ","
    quotechar: str | None = '"'
    header: bool = True
    columns: tuple[str, ...] = ()
    encoding: str = "utf-8"
    decimal_mark: str = "."
    document_key: tuple[str, ...] = ()
    version: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> "Layout":
        """Validate a `layout:` mapping; errors name `source` (the template file and line)."""

        def fail(reason: str) -> LayoutError:
            return LayoutError(f"{source}: layout: {reason}")

        if not isinstance(data, Mapping):
            raise fail("must be a mapping")
        unknown = sorted(set(data) - _LAYOUT_KEYS)
        if unknown:
            raise fail(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_LAYOUT_KEYS))}")
        if "message" not in data:
            raise fail("`message` (the message type, e.g. ORDERS) is required")
        values: dict[str, Any] = {"message": str(data["message"])}
        for key in ("delimiter", "decimal_mark"):
            if key in data:
                if not isinstance(data[key], str) or len(data[key]) != 1:
                    raise fail(f"`{key}` must be one character, not {data[key]!r}")
                values[key] = data[key]
        if "quotechar" in data:
            quote = data["quotechar"]
            if quote is not None and (not isinstance(quote, str) or len(quote) != 1):
                raise fail(f"`quotechar` must be one character or null, not {quote!r}")
            values["quotechar"] = quote
        if "header" in data:
            if not isinstance(data["header"], bool):
                raise fail(f"`header` must be true or false, not {data['header']!r}")
            values["header"] = data["header"]
        for key in ("columns", "document_key"):
            if key in data:
                names = data[key]
                if isinstance(names, str):
                    names = [names]
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise fail(f"`{key}` must be a column name or a list of column names")
                values[key] = tuple(names)
        if "encoding" in data:
            try:
                codecs.lookup(str(data["encoding"]))
            except LookupError:
                raise fail(f"unknown encoding {data['encoding']!r}") from None
            values["encoding"] = str(data["encoding"])
        if "version" in data:
            values["version"] = str(data["version"])
        layout = cls(**values)
        if not layout.header and not layout.columns:
            raise fail("a file without a header row needs `columns` to name its columns")
        if layout.columns:
            missing = [key for key in layout.document_key if key not in layout.columns]
            if missing:
                raise fail(f"document_key column(s) {', '.join(missing)} are not in `columns`")
        return layout


_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.\-]")


def element_name(column: str, number: int) -> str:
    """The XML element name for a column name (see the module docstring)."""
    name = _NAME_CHAR.sub("_", column.strip())
    if not name:
        return f"c_{number}"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "c_" + name
    return name


def blank(data: bytes | mmap.mmap) -> bool:
    """Whether the file holds only blank space; read a chunk at a time."""
    for at in range(0, len(data), _CHUNK):
        if data[at:at + _CHUNK].strip():
            return False
        release_pages(data, at, _CHUNK)
    return True


def _codec(data: bytes | mmap.mmap, encoding: str) -> tuple[str, int]:
    """The codec that reads the file and where its text starts, the whole file checked first (a
    chunk at a time): bytes the encoding cannot decode make the file unreadable, with their offset
    (after a UTF-8 byte order mark, which is tolerated and not taken for part of the first column)."""
    codec, start = encoding, 0
    if codecs.lookup(encoding).name == "utf-8":
        codec, start = "utf-8", len(codecs.BOM_UTF8) if data[:3] == codecs.BOM_UTF8 else 0
    wrong = first_undecodable(data, start, codec)
    if wrong is not None:
        offset = wrong - start
        raise UnreadableFile(
            f"the bytes at offset {offset} ({bytes(data[wrong:wrong + 4])!r}) "
            f"are not {encoding}; check the encoding in the partner's CSV layout"
        )
    return codec, start


def _text(data: bytes | mmap.mmap, codec: str, start: int) -> io.TextIOWrapper:
    """The file's text from `start`, decoded a chunk at a time as it is read."""
    return io.TextIOWrapper(io.BufferedReader(_Bytes(data, start), _CHUNK), encoding=codec, newline="")


class _Bytes(io.RawIOBase):
    """Bytes or an mmap as a stream, from `start`: what `io.TextIOWrapper` decodes a chunk at a time."""

    def __init__(self, data: bytes | mmap.mmap, start: int) -> None:
        self.data = memoryview(data) if isinstance(data, bytes) else data
        self.position = start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self.data[self.position:self.position + len(buffer)]
        buffer[:len(piece)] = piece
        release_pages(self.data, self.position, len(piece))  # read: an mmap's pages go back
        self.position += len(piece)
        return len(piece)


def _rows(text: io.TextIOWrapper, layout: Layout) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every non-blank row."""
    options: dict[str, Any] = {"delimiter": layout.delimiter, "strict": True}
    if layout.quotechar is None:
        options["quoting"] = stdcsv.QUOTE_NONE
    else:
        options["quotechar"] = layout.quotechar
    reader = stdcsv.reader(text, **options)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except stdcsv.Error as error:
            raise UnreadableFile(f"line {start}: {error}") from None
        line, start = start, reader.line_num + 1
        if cells and any(cell.strip() for cell in cells):
            yield line, cells


def parse(data: bytes | mmap.mmap, layout: Layout) -> Iterator[Message | Interchange]:
    """Yield one `Message` per document of the file, then its `Interchange`.

    The file is decoded and read a row at a time, one document's rows held at once: a file of a
    gigabyte (an inventory feed) costs no more memory than one of a megabyte."""
    if blank(data):
        raise UnreadableFile("empty file")
    codec, start = _codec(data, layout.encoding)
    # A file that cannot be read as CSV is unreadable before any of its documents is given: its
    # rows are read once through, kept nowhere, then read again to be given.
    for _ in _rows(_text(data, codec, start), layout):
        pass
    rows = _rows(_text(data, codec, start), layout)
    columns: list[str] = list(layout.columns)
    if layout.header:
        first = next(rows, None)
        if first is None:
            raise UnreadableFile("empty file")
        _, header = first
        if not columns:
            columns = [cell.strip() for cell in header]
    first_row = next(rows, None)
    if first_row is None:
        raise UnreadableFile("the file has no data rows")
    rows = itertools.chain([first_row], rows)
    missing = [key for key in layout.document_key if key not in columns]
    if missing:
        raise UnreadableFile(
            f"document key column(s) {', '.join(missing)} are not in the header: {', '.join(columns)}"
        )
    names = [element_name(column, number) for number, column in enumerate(columns, start=1)]
    key_indexes = [columns.index(key) for key in layout.document_key]

    interchange = Interchange(standard="csv", index=0)
    index = 0
    for key, document_rows in _documents(rows, key_indexes):
        message = _message(interchange, index, key, document_rows, names, layout)
        interchange.count(message)
        index += 1
        yield message
    yield interchange


def _documents(
    rows: Iterator[tuple[int, list[str]]], key_indexes: list[int]
) -> Iterator[tuple[str | None, list[tuple[int, list[str]]]]]:
    current: tuple[str, ...] | None = None
    batch: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        key = tuple(cells[i].strip() if i < len(cells) else "" for i in key_indexes)
        if batch and key != current:
            yield _ref(current), batch
            batch = []
        current = key
        batch.append((line, cells))
    if batch:
        yield _ref(current), batch


def _ref(key: tuple[str, ...] | None) -> str | None:
    if not key or not any(key):
        return None
    return "/".join(key)


def _message(
    interchange: Interchange,
    index: int,
    ref: str | None,
    rows: list[tuple[int, list[str]]],
    names: list[str],
    layout: Layout,
) -> Message:
    root = message_element(
        standard="csv",
        type=layout.message,
        version=layout.version,
        ref=ref,
        decimal_mark=layout.decimal_mark,
    )
    errors: list[Issue] = []
    for line, cells in rows:
        if len(cells) != len(names):
            errors.append(
                Issue(
                    f"line {line} has {len(cells)} columns, the layout has {len(names)}",
                    position=line,
                    tag="row",
                )
            )
        row = etree.SubElement(root, "row", pos=str(line))
        for name, cell in zip(names, cells):
            if cell.strip():
                etree.SubElement(row, name).text = representable(cell)
                if cell != representable(cell):
                    errors.append(Issue(f"line {line} column {name} holds a control character ({cell[:40]!r})",
                                        position=line, tag="row", value=cell[:99]))
    return Message(
        interchange=interchange,
        group=None,
        index=index,
        type=layout.message,
        version=layout.version,
        ref=ref,
        tree=root,
        decimal_mark=layout.decimal_mark,
        errors=errors,
    )
