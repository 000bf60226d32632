"""X12 reader: bytes → interchanges, functional groups and transaction sets, envelope checked.

X12 declares its delimiters in the fixed-width ISA segment that opens each interchange, so they
are read there, one interchange at a time (a file may hold several, each with its own). Segments
are cut with `str.split` a chunk of text at a time, and each transaction set's tree is built,
yielded and dropped before the next is read, so a large file streams through in bounded memory.

Decisions worth knowing (see also the `_check_*` functions):
- A message's `version` is GS08 as written (`004010`, `005010X222A1`), or ISA12 without a GS.
- TA1 segments (interchange acknowledgments) are not messages: they are kept on the
  interchange as `X12Interchange.technical_acks`. ISB/ISE service segments are skipped.
- Envelope problems of a group (GE missing, counts, references) are recorded on the `Group`
  and on its `Interchange`, whose status they must reject.
- Data after the last IEA that is not another ISA is an error of the interchange before it.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Iterator

from lxml import etree

from gateway.formats import tree
from gateway.formats.edifact import BOM_SKIPPED, MessageRefs, first_undecodable, release_pages
from gateway.formats.model import Group, Interchange, Issue, Message, UnreadableFile, is_digits
from gateway.formats.validation import DEFAULT_OPTIONS, Options

_BOM = b"\xef\xbb\xbf"
_EBCDIC_ISA = b"\xc9\xe2\xc1"
_EBCDIC_BLANKS = b"\x40\x25\x15\x0d\x05"
_EBCDIC_CODEC = "cp037"
# What may stand between segments. Not str.strip()'s default: that also eats 0x1C-0x1F and
# U+0085, which partners use as delimiters.
_BLANK = " \t\r\n\x0b\x0c"
# After the last IEA: blank space, a DOS end-of-file mark, NUL padding.
_FILE_END_NOISE = _BLANK + "\x1a\x00"
_CHUNK = 1 << 20

# ISA01…ISA16 widths; the ISA is 106 characters with its segment terminator.
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_ISA_LENGTH = 106
_ISA_WINDOW = 256  # enough for an ISA wrapped at 15 columns with CRLF
# ISA12: 00 + version (2…8) + two-digit release, e.g. 00401, 00501.
_ISA_VERSION = re.compile(r"00[2-8]\d\d\Z")
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")

# GS01 functional identifier code each transaction set belongs in (X12 data element 479).
FUNCTIONAL_IDS = {
    "180": "AN", "204": "SM", "210": "IM", "214": "QM", "270": "HS", "271": "HB",
    "276": "HR", "277": "HN", "810": "IN", "812": "CD", "816": "OR", "820": "RA",
    "824": "AG", "830": "PS", "832": "SC", "835": "HP", "837": "HC", "840": "RQ",
    "843": "RR", "846": "IB", "850": "PO", "852": "PD", "855": "PR", "856": "SH",
    "857": "BS", "860": "PC", "861": "RC", "862": "SS", "864": "TX", "865": "CA",
    "867": "PT", "869": "RS", "870": "RS", "875": "OG", "880": "GP", "940": "OW",
    "943": "AR", "944": "RE", "945": "SW", "947": "AW", "990": "GF", "997": "FA",
    "999": "FA",
}
# The segment counted by CTT01 (number of line items) in each transaction set that has one.
# Not the 856: partners count HL loops, items or packs there, all in use.
LINE_SEGMENTS = {"850": "PO1", "855": "PO1", "860": "POC", "865": "POC", "810": "IT1"}

_OUTSIDE_SETS_TOLERATED = {"ISB", "ISE"}


@dataclass(frozen=True)
class Delimiters:
    """The four delimiters of an interchange, as ISA declares them."""

    element: str
    component: str
    segment: str
    repetition: str | None = None


@dataclass(frozen=True)
class TechnicalAck:
    """A TA1 segment: the partner's answer to one of our interchanges, not a transaction set."""

    control_ref: str | None  # TA101: the ISA13 it answers
    date: str | None  # TA102, ISO
    time: str | None  # TA103
    status: str | None  # TA104: A accepted, E accepted with errors, R rejected
    note_code: str | None  # TA105: the TA1 error code, 000 for none
    position: int  # in the interchange, ISA = 1


@dataclass
class X12Interchange(Interchange):
    """An X12 interchange; also carries the TA1 acknowledgments found between ISA and GS."""

    technical_acks: list[TechnicalAck] = field(default_factory=list)
    delimiters: Delimiters | None = None


def sniff(data: bytes) -> bool:
    """True when the bytes start (after a UTF-8 BOM and blank space) with an ISA segment."""
    head = data[:1024]
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if head.lstrip(b" \t\r\n").startswith(b"ISA"):
        return True
    return head.lstrip(_EBCDIC_BLANKS).startswith(_EBCDIC_ISA)


def parse(data: bytes, *, expected_sender: str | None = None,
          options: Options = DEFAULT_OPTIONS) -> Iterator[Message | Interchange]:
    """Yield each transaction set as a `Message` once its SE is read, and each `Interchange`
    once its IEA (or the end of the file) is checked.

    Raises `UnreadableFile` before yielding anything when the file holds no readable ISA.
    `expected_sender`, when given, is the ISA06 the partner must use; another one is an error.
    Transaction sets with a definition are validated against it, with the partner's `options`.
    """
    text = _Text.of(data)
    start = _skip(text, text.base, _BLANK)
    if start >= len(text):
        raise UnreadableFile("the file is empty" if not data else "the file holds only blank space")
    if not text.startswith("ISA", start):
        raise UnreadableFile(
            f"not X12: the file does not start with an ISA segment (it starts {text[start:start + 20]!r})"
        )
    isa = _read_isa(text, start)
    if isinstance(isa, str):
        raise UnreadableFile(isa)
    yield from _FileReader(text, text.issues, expected_sender, options).events(isa)


# --- decoding and the ISA ---------------------------------------------------------------------


class _Text:
    """A file's bytes (or an mmap of them) read as text where the reader looks: each slice is
    decoded when it is asked for, and the pages read are given back, so a file of a gigabyte is
    never decoded, nor copied, whole.

    Offsets are byte offsets. The codec is the file's: EBCDIC (cp037) when the ISA is in EBCDIC,
    UTF-8 when every byte of the file is (checked a chunk at a time before reading), ISO-8859-1
    otherwise, with a warning naming the first byte that is not. The delimiters of UTF-8 and of
    the one-byte codecs never fall inside another character, so cutting the bytes at them cuts
    the text at them."""

    def __init__(self, data: bytes | mmap.mmap, base: int, codec: str, issues: list[Issue]) -> None:
        self.data = data
        self.base = base  # after a UTF-8 byte order mark
        self.codec = codec
        self.issues = issues
        self.one_byte = codec != "utf-8"  # a character is a byte: decoded text has the bytes' offsets

    @classmethod
    def of(cls, data: bytes | mmap.mmap) -> "_Text":
        base = len(_BOM) if data[: len(_BOM)] == _BOM else 0
        # As Windows tools write it: read on, and said.
        skipped = [Issue(BOM_SKIPPED, 1, "ISA", severity="warning")] if base else []
        head = bytes(data[base : base + 4096])
        if not head.lstrip(b" \t\r\n").startswith(b"ISA") and head.lstrip(_EBCDIC_BLANKS).startswith(_EBCDIC_ISA):
            return cls(data, base, _EBCDIC_CODEC, skipped)
        wrong = first_undecodable(data, base, "utf-8")
        if wrong is None:
            return cls(data, base, "utf-8", skipped)
        return cls(data, base, "latin-1", skipped + [
            Issue(f"the file is not UTF-8 (byte {wrong - base}); it was read as ISO-8859-1", severity="warning")
        ])

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, at: int | slice) -> str:
        if isinstance(at, int):
            return self.decode(self.data[at : at + 1])
        return self.decode(self.data[at])

    def decode(self, raw: bytes) -> str:
        # Only a window cut at a fixed width (the ISA's) can end inside a UTF-8 character.
        return raw.decode(self.codec, "replace")

    def encode(self, text: str) -> bytes:
        return text.encode(self.codec)

    def startswith(self, prefix: str, at: int) -> bool:
        wanted = self.encode(prefix)
        return self.data[at : at + len(wanted)] == wanted

    def find(self, sub: str, start: int, end: int | None = None) -> int:
        return self.data.find(self.encode(sub), start, len(self.data) if end is None else end)

    def rfind(self, sub: str, start: int, end: int) -> int:
        return self.data.rfind(self.encode(sub), start, end)

    def offset_in(self, window: str, index: int) -> int:
        """The bytes that `window[:index]` takes (its length where a character is a byte)."""
        return index if self.one_byte or window.isascii() else len(self.encode(window[:index]))

    def release(self, start: int, end: int) -> None:
        release_pages(self.data, start, end - start)


def _skip(text: "_Text | str", position: int, characters: str) -> int:
    end = len(text)
    while position < end and text[position] in characters:
        position += 1
    return position


@dataclass
class _Isa:
    """An ISA as read: its 16 elements, delimiters, where the next segment starts, its issues."""

    elements: list[str]
    delimiters: Delimiters
    start: int
    end: int
    issues: list[Issue]


def _read_isa(text: _Text, start: int) -> _Isa | str:
    """Read the ISA at `start`, or say why it cannot be read.

    The delimiters are found by counting element separators rather than by fixed offsets, so an
    ISA with a short element is still read (and reported); line breaks inside it are wrapping.
    """
    window = text[start : start + _ISA_WINDOW]
    if len(window) < 4:
        return f"the ISA segment is cut short after {len(window)} characters (an ISA has {_ISA_LENGTH})"
    element = window[3]
    if element.isalnum() or element in _BLANK:
        return f"the ISA segment has no valid element separator (character 4 is {element!r})"
    separators = [3]
    while len(separators) < 16:
        found = window.find(element, separators[-1] + 1)
        if found < 0:
            return (
                f"the ISA segment is cut short: {len(separators)} of its 16 elements found "
                f"in {len(window)} characters"
            )
        separators.append(found)
    elements = [
        window[a + 1 : b].replace("\r", "").replace("\n", "")
        for a, b in zip(separators, separators[1:])
    ]
    at = _skip(window, separators[-1] + 1, "\r\n")
    if at + 1 >= len(window):
        return "the ISA segment ends before its component separator and segment terminator"
    component = window[at]
    elements.append(component)
    terminator, next_segment = _terminator(window, at + 1)
    delimiters = _delimiters(elements, element, component, terminator)
    if isinstance(delimiters, str):
        return delimiters
    issues = _check_isa_widths(elements)
    return _Isa(elements, delimiters, start, start + text.offset_in(window, next_segment), issues)


def _terminator(window: str, at: int) -> tuple[str, int]:
    """The segment terminator at `at` and where the next segment starts.

    A line break there is the terminator unless it only wraps the line: then the first
    character after the break is a delimiter, not the start of a segment tag.
    """
    character = window[at]
    if character in "\r\n":
        after = _skip(window, at, "\r\n")
        if after < len(window) and not window[after].isalnum() and window[after] not in _BLANK:
            return window[after], after + 1
    return character, at + 1


def _delimiters(elements: list[str], element: str, component: str, terminator: str) -> Delimiters | str:
    repetition = None
    candidate, version = elements[10], elements[11]
    if version >= "00402" and len(candidate) == 1 and not candidate.isalnum() and candidate != " ":
        repetition = candidate
    used = [element, component, terminator] + ([repetition] if repetition else [])
    if len(set(used)) != len(used):
        return (
            "the ISA declares the same character for two delimiters "
            f"(element {element!r}, component {component!r}, segment {terminator!r}"
            + (f", repetition {repetition!r})" if repetition else ")")
        )
    if component.isalnum() or terminator.isalnum():
        return f"the ISA declares a letter or digit as a delimiter (component {component!r}, segment {terminator!r})"
    return Delimiters(element, component, terminator, repetition)


def _check_isa_widths(elements: list[str]) -> list[Issue]:
    wrong = [
        f"ISA{number:02d} is {len(value)} characters, not {width}"
        for number, (value, width) in enumerate(zip(elements, _ISA_WIDTHS), start=1)
        if len(value) != width
    ]
    if not wrong:
        return []
    length = sum(len(value) for value in elements) + 20  # 'ISA', 16 separators, terminator
    return [Issue(f"ISA is {length} characters, not {_ISA_LENGTH}: " + "; ".join(wrong), 1, "ISA")]


# --- cutting segments -------------------------------------------------------------------------


def _pieces(text: _Text, start: int, terminator: str) -> Iterator[tuple[str, int]]:
    """Cut the file from `start` at each terminator, a chunk at a time: each piece and its byte
    offset. A chunk is decoded once and split as text, or, where a character may be several
    bytes, split as bytes and each piece decoded.

    The last piece of the file has no terminator; it comes too, so a final segment without
    one is still read.
    """
    data, cut_at = text.data, text.encode(terminator)
    end_of_text = len(data)
    position = start
    while position < end_of_text:
        cut = data.rfind(cut_at, position, position + _CHUNK)
        if cut < 0:
            cut = data.find(cut_at, position + _CHUNK)
            if cut < 0:
                cut = end_of_text
        chunk = data[position:cut]
        offset = position
        if text.one_byte or chunk.isascii():
            for piece in text.decode(chunk).split(terminator):
                yield piece, offset
                offset += len(piece) + 1
        else:
            for raw in chunk.split(cut_at):
                yield text.decode(raw), offset
                offset += len(raw) + len(cut_at)
        text.release(position, cut)
        position = cut + len(cut_at)


def _plain(segment: str, delimiters: Delimiters) -> bool:
    """Whether a segment's data elements are single values with nothing to escape in XML."""
    return delimiters.component not in segment and (
        delimiters.repetition is None or delimiters.repetition not in segment) and not tree.needs_escaping(segment)


def _data_elements(fields: list[str], delimiters: Delimiters) -> list[list[list[str]]]:
    """Each data element as tree.segment_element wants it: repetitions of components."""
    component, repetition = delimiters.component, delimiters.repetition
    elements = []
    for value in fields:
        if repetition and repetition in value:
            elements.append([part.split(component) for part in value.split(repetition)])
        elif component in value:
            elements.append([value.split(component)])
        else:
            elements.append([[value]])
    return elements


# --- dates, numbers ---------------------------------------------------------------------------


def _iso_date(value: str) -> str | None:
    """CCYYMMDD or YYMMDD as ISO 8601; YY below 69 is 20YY (as strptime's %y)."""
    if not is_digits(value) or len(value) not in (6, 8):
        return None
    if len(value) == 6:
        year = int(value[:2])
        year += 2000 if year < 69 else 1900
        month, day = int(value[2:4]), int(value[4:6])
    else:
        year, month, day = int(value[:4]), int(value[4:6]), int(value[6:8])
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _iso_time(value: str) -> str | None:
    """HHMM, HHMMSS or HHMMSSd… as HH:MM[:SS]."""
    if not is_digits(value) or len(value) < 4:
        return None
    hours, minutes = int(value[:2]), int(value[2:4])
    if hours > 23 or minutes > 59:
        return None
    text = f"{value[:2]}:{value[2:4]}"
    if len(value) >= 6:
        if int(value[4:6]) > 59:
            return None
        text += f":{value[4:6]}"
    return text


def _number(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if is_digits(value) else None


def _field(fields: list[str], number: int) -> str | None:
    """Data element `number` (1-based) of a segment's fields, or None when absent or empty."""
    if number < len(fields) and fields[number]:
        return fields[number]
    return None


# --- reading a file -------------------------------------------------------------------------


class _FileReader:
    """Walks a decoded file interchange by interchange; remembers what must be unique in it."""

    def __init__(self, text: _Text, file_issues: list[Issue], expected_sender: str | None,
                 options: Options = DEFAULT_OPTIONS) -> None:
        self.text = text
        self.options = options
        self.file_issues = file_issues
        self.expected_sender = expected_sender
        self.message_index = 0
        self.interchange_index = 0
        self.control_refs: dict[str, int] = {}  # ISA13 → index of the first interchange using it

    def events(self, isa: _Isa | str) -> Iterator[Message | Interchange]:
        while True:
            if isinstance(isa, str):
                interchange = X12Interchange("x12", self.interchange_index)
                interchange.errors.append(Issue(f"an interchange cannot be read: {isa}", 1, "ISA"))
                yield interchange
                return
            reader = _InterchangeReader(self, isa)
            next_isa = yield from reader.read()
            self.interchange_index += 1
            if next_isa is None:
                return
            isa = _read_isa(self.text, next_isa)


class _OpenMessage:
    """A transaction set being read: its tree so far and what its trailer will be checked against."""

    def __init__(self, root: etree._Element, type_: str | None, ref: str | None, options: Options) -> None:
        self.root = root
        self.type = type_
        self.ref = ref
        version = root.get("version")
        definition = tree.load_structure("x12", type_, version) if type_ else None
        self.builder = tree.MessageBuilder(root, definition, options, version=version)
        self.errors: list[Issue] = []
        self.count = 0
        self.line_segment = LINE_SEGMENTS.get(type_ or "")
        self.lines = 0
        self.ctt: tuple[str | None, int] | None = None  # CTT01 and the CTT's position
        self.association: str | None = None  # ST03, the implementation convention (005010X…)


class _OpenGroup:
    def __init__(self, group: Group, position: int) -> None:
        self.group = group
        self.position = position
        self.sets = 0
        self.set_refs = MessageRefs()  # a group of 500,000 sets keeps their ST02s in a few bits each


class _InterchangeReader:
    """Reads one interchange segment by segment, yielding its messages, then itself."""

    def __init__(self, file: _FileReader, isa: _Isa) -> None:
        self.file = file
        self.isa = isa
        self.delimiters = isa.delimiters
        self.interchange = _interchange(file.interchange_index, isa)
        self.interchange.errors.extend(file.file_issues)
        self.position = 1  # ISA
        self.group: _OpenGroup | None = None
        self.message: _OpenMessage | None = None
        self.groups = 0
        self.group_refs: set[str] = set()
        self.known = tree.KnownSegments()
        self._check_header()

    # The generator returns the offset of the next ISA, or None at the end of the file.
    def read(self) -> Iterator[Message | Interchange]:
        text, delimiters = self.file.text, self.delimiters
        element, terminator = delimiters.element, delimiters.segment
        unwrap = terminator not in "\r\n"
        for piece, start in _pieces(text, self.isa.end, terminator):
            segment = piece
            if unwrap:
                if "\n" in segment or "\r" in segment:
                    segment = segment.replace("\r", "").replace("\n", "")
            elif segment.endswith("\r"):
                segment = segment[:-1]
            segment = segment.lstrip(_BLANK)
            if not segment:
                continue
            fields = segment.split(element)
            tag = fields[0]
            if tag == "ISA":
                yield from self._close_all()
                self._error("IEA missing: another ISA starts before this interchange ends", "IEA", code="023")
                yield self.interchange
                return _skip(text, start, _BLANK)
            self.position += 1
            if self.message is not None and tag not in ("SE", "ST", "GS", "GE", "IEA"):
                self._add(tag, fields, segment)
            elif tag == "ST":
                yield from self._start_message(fields)
            elif tag == "SE":
                finished = self._end_message(fields)
                if finished is not None:
                    yield finished
            elif tag == "GS":
                yield from self._start_group(fields)
            elif tag == "GE":
                yield from self._end_group(fields)
            elif tag == "IEA":
                yield from self._close_all()
                self._check_trailer(fields)
                next_isa = self._after_trailer(start + len(text.encode(piece + terminator)))  # bytes
                yield self.interchange
                return next_isa
            elif tag == "TA1" and self.group is None:
                self.interchange.technical_acks.append(_technical_ack(fields, self.position))
            elif tag not in _OUTSIDE_SETS_TOLERATED:
                self._error(f"segment {tag[:10]!r} is outside any transaction set (ST…SE)", tag[:10])
        yield from self._close_all()
        self._error("IEA missing: the file ends inside the interchange", "IEA", code="023")
        yield self.interchange
        return None

    # --- interchange ---

    def _envelope_characters(self, tag: str, fields: list[str], codes: dict[int, str], default: str | None,
                             group: _OpenGroup | None = None) -> None:
        """A control character in ISA, GS, GE or IEA rejects the interchange (TA1 `codes` by element,
        else `default`) or the group (AK9 codes), as one in a set's segment rejects the set."""
        elements = [[[value]] for value in fields[1:]]
        for issue in tree.invalid_characters(tag, elements, self.position, ""):
            self._error(issue.reason, tag, code=codes.get(issue.element, default), group=group)

    def _check_header(self) -> None:
        interchange, elements = self.interchange, self.isa.elements
        interchange.errors.extend(self.isa.issues)
        self._envelope_characters("ISA", ["ISA", *elements], {13: "018"}, "024")
        if not _ISA_VERSION.match(elements[11]):
            self._error(
                f"ISA12 interchange version {elements[11]!r} is not an X12 version (00200 … 00801)",
                "ISA", position=1, code="017",
            )
        if interchange.date is None:
            self._error(f"ISA09 date {elements[8]!r} is not a date (YYMMDD)", "ISA", position=1, code="014")
        if interchange.time is None:
            self._error(f"ISA10 time {elements[9]!r} is not a time (HHMM)", "ISA", position=1, code="015")
        control_ref = interchange.control_ref or ""
        first = self.file.control_refs.setdefault(control_ref, interchange.index)
        if first != interchange.index:
            self._error(
                f"duplicate interchange control number {control_ref} (also interchange {first + 1} of this file)",
                "ISA", position=1, code="025",
            )
        expected = self.file.expected_sender
        if expected is not None and (interchange.sender or "") != expected.strip():
            self._error(
                f"sender {interchange.sender} is not this partner (expected {expected.strip()})",
                "ISA", position=1, code="006",
            )

    def _check_trailer(self, fields: list[str]) -> None:
        self._envelope_characters("IEA", fields, {1: "021", 2: "001"}, "024")
        count, control_ref = _field(fields, 1), _field(fields, 2)
        if _number(count) != self.groups:
            self._error(
                f"IEA01 says {count} functional groups, the interchange has {self.groups}", "IEA", code="021"
            )
        if (control_ref or "").strip() != self.interchange.control_ref:
            self._error(
                f"IEA02 control number {control_ref} does not match ISA13 {self.interchange.control_ref}",
                "IEA", code="001",
            )

    def _after_trailer(self, offset: int) -> int | None:
        """Where the next ISA starts after this IEA; anything else there is reported."""
        text = self.file.text
        start = _skip(text, offset, _FILE_END_NOISE)
        if start >= len(text):
            return None
        if text.startswith("ISA", start):
            return start
        next_isa = text.find("ISA", start)
        size = (next_isa if next_isa >= 0 else len(text)) - start  # counted, not copied: it may be most of the file
        self._error(
            f"data after IEA that is not an interchange: {text[start:start + min(size, 40)]!r}"
            + (f" ({size} characters)" if size > 40 else ""),
            "IEA", position=self.position,
        )
        return next_isa if next_isa >= 0 else None

    def _error(self, reason: str, tag: str | None, *, position: int | None = None, code: str | None = None,
               group: _OpenGroup | None = None) -> None:
        level = None if code is None else "group" if group is not None else "interchange"  # AK9 716 / TA1 I18
        issue = Issue(reason, self.position if position is None else position, tag, code, level=level)
        self.interchange.errors.append(issue)
        if group is not None:
            group.group.errors.append(issue)

    def _close_all(self) -> Iterator[Message]:
        if self.message is not None:
            yield self._close_message_without_trailer()
        if self.group is not None:
            self._error(
                f"GE missing: functional group {self.group.group.control_ref} is not closed",
                "GE", code="3", group=self.group,
            )
            self.group = None

    # --- groups ---

    def _start_group(self, fields: list[str]) -> Iterator[Message]:
        yield from self._close_all()
        self.groups += 1
        group = Group(
            functional_id=_field(fields, 1),
            sender=(_field(fields, 2) or "").strip() or None,
            receiver=(_field(fields, 3) or "").strip() or None,
            control_ref=_field(fields, 6),
            version=_field(fields, 8),
            date=_iso_date(_field(fields, 4) or ""),
        )
        self.interchange.groups.append(group)
        self.group = opened = _OpenGroup(group, self.position)
        self._envelope_characters("GS", fields, {6: "6"}, None, group=opened)
        if group.control_ref in self.group_refs:
            self._error(
                f"duplicate group control number {group.control_ref} in this interchange",
                "GS", group=opened,
            )
        self.group_refs.add(group.control_ref or "")
        if group.date is None:
            self._error(f"GS04 date {_field(fields, 4)!r} is not a date (CCYYMMDD)", "GS", group=opened)

    def _end_group(self, fields: list[str]) -> Iterator[Message]:
        if self.message is not None:
            yield self._close_message_without_trailer()
        opened = self.group
        if opened is None:
            self._error("GE without a GS", "GE")
            return
        self._envelope_characters("GE", fields, {2: "6"}, None, group=opened)
        count, control_ref = _field(fields, 1), _field(fields, 2)
        if _number(count) != opened.sets:
            self._error(
                f"GE01 says {count} transaction sets, group {opened.group.control_ref} has {opened.sets}",
                "GE", code="5", group=opened,
            )
        if (control_ref or "").strip() != opened.group.control_ref:
            self._error(
                f"GE02 control number {control_ref} does not match GS06 {opened.group.control_ref}",
                "GE", code="4", group=opened,
            )
        self.group = None

    # --- transaction sets ---

    def _start_message(self, fields: list[str]) -> Iterator[Message]:
        if self.message is not None:
            yield self._close_message_without_trailer()
        type_, ref = _field(fields, 1), _field(fields, 2)
        interchange, opened = self.interchange, self.group
        group = opened.group if opened else None
        root = tree.message_element(
            standard="x12",
            type=type_,
            version=(group.version if group and group.version else None) or interchange.syntax,
            ref=ref,
            sender=interchange.sender,
            receiver=interchange.receiver,
            interchange_ref=interchange.control_ref,
            group_ref=group.control_ref if group else None,
            functional_id=group.functional_id if group else None,
            decimal_mark=".",
            test="1" if interchange.test else None,
        )
        message = self.message = _OpenMessage(root, type_, ref, self.file.options)
        message.association = _field(fields, 3)
        self._add("ST", fields, None)
        if opened is None:
            message.errors.append(Issue("transaction set outside a functional group (no GS before ST)", 1, "ST"))
        else:
            opened.sets += 1
            if not opened.set_refs.add(ref or "") and ref is not None:
                message.errors.append(
                    Issue(f"duplicate transaction set control number {ref} in group {group.control_ref}",
                          1, "ST", "23")
                )
            wanted = FUNCTIONAL_IDS.get(type_ or "")
            if wanted and group.functional_id != wanted:
                message.errors.append(
                    Issue(f"functional group GS01 {group.functional_id!r} does not carry {type_} "
                          f"transaction sets (expected {wanted!r})", 1, "ST", "6")
                )
        if type_ is None:
            message.errors.append(Issue("ST01 transaction set identifier is missing", 1, "ST", "6"))
        if ref is None:
            message.errors.append(Issue("ST02 transaction set control number is missing", 1, "ST", "7"))

    def _add(self, tag: str, fields: list[str], segment: str | None) -> None:
        message = self.message
        message.count += 1
        position = message.count
        if tag not in _valid_tags and not _remember_tag(tag):
            message.errors.append(
                Issue(f"{(segment or tag)[:40]!r} is not a segment (no valid segment tag)", position, tag[:10] or None)
            )
            return
        if tag == message.line_segment:
            message.lines += 1
        elif tag == "CTT":
            message.ctt = (_field(fields, 1), position)
        builder = message.builder
        known = self.known.xml(builder.definition, segment, tag, position)
        if known is not None:
            builder.add(tag, position, known)
            return
        findings, found = builder.finding_count, len(message.errors)
        delimiters = self.delimiters
        elements = _data_elements(fields[1:], delimiters)
        if segment is not None and _plain(segment, delimiters):
            xml, escaped = tree.plain_segment_text(tag, fields[1:], position), False
        else:
            xml, escaped = tree.segment_text(tag, elements, position)
        if escaped:
            message.errors.extend(tree.invalid_characters(tag, elements, position, "6"))
        builder.add(tag, position, xml, elements)
        if len(message.errors) == found and builder.finding_count == findings:
            self.known.remember(builder.definition, segment, xml)

    def _end_message(self, fields: list[str]) -> Message | None:
        message = self.message
        if message is None:
            self._error("SE without an ST", "SE")
            return None
        self._add("SE", fields, None)
        count, ref = _field(fields, 1), _field(fields, 2)
        if _number(count) != message.count:
            message.errors.append(
                Issue(f"SE01 says {count} segments, the transaction set has {message.count}",
                      message.count, "SE", "4")
            )
        if (ref or "").strip() != (message.ref or ""):
            message.errors.append(
                Issue(f"SE02 control number {ref} does not match ST02 {message.ref}", message.count, "SE", "3")
            )
        return self._finish_message()

    def _close_message_without_trailer(self) -> Message:
        message = self.message
        message.errors.append(
            Issue(f"SE missing: transaction set {message.ref} is not closed", message.count + 1, "SE", "2")
        )
        return self._finish_message()

    def _finish_message(self) -> Message:
        message, self.message = self.message, None
        _check_line_count(message)
        for issue in message.errors:  # the envelope's own codes are AK5/IK5 (718) codes
            if issue.code is not None and issue.level is None:
                issue.level = "message"
        root = message.root
        group = self.group.group if self.group else None
        finished = Message(
            interchange=self.interchange,
            group=group,
            index=self.file.message_index,
            type=message.type,
            version=root.get("version"),
            ref=message.ref,
            tree=root,
            association=message.association,
            errors=message.errors + message.builder.issues,
        )
        message.builder.finish()
        self.file.message_index += 1
        self.interchange.count(finished)
        return finished


_valid_tags: set[str] = set()


def _remember_tag(tag: str) -> bool:
    """Whether `tag` is a valid segment tag; valid ones are remembered (the check runs per segment)."""
    if _TAG.match(tag) and len(_valid_tags) < 4096:
        _valid_tags.add(tag)
    return bool(_TAG.match(tag))


def _check_line_count(message: _OpenMessage) -> None:
    """CTT01 must be the number of line-item segments (PO1 in an 850, IT1 in an 810 …)."""
    if message.ctt is None or message.line_segment is None:
        return
    value, position = message.ctt
    if _number(value) != message.lines:
        # A warning: every line is there and enveloped, only the control total disagrees (real
        # partners send such files); it is reported, and the document is still made.
        message.errors.append(
            Issue(f"CTT01 says {value} line items, the transaction set has {message.lines} "
                  f"{message.line_segment} segments", position, "CTT", severity="warning")
        )


def _interchange(index: int, isa: _Isa) -> X12Interchange:
    elements = isa.elements
    return X12Interchange(
        standard="x12",
        index=index,
        sender=elements[5].strip() or None,
        sender_qualifier=elements[4].strip() or None,
        receiver=elements[7].strip() or None,
        receiver_qualifier=elements[6].strip() or None,
        control_ref=elements[12].strip() or None,
        date=_iso_date(elements[8]),
        time=_iso_time(elements[9]),
        syntax=elements[11],
        test=elements[14] == "T",
        ack_requested=elements[13] == "1",
        delimiters=isa.delimiters,
    )


def _technical_ack(fields: list[str], position: int) -> TechnicalAck:
    return TechnicalAck(
        control_ref=_field(fields, 1),
        date=_iso_date(_field(fields, 2) or ""),
        time=_iso_time(_field(fields, 3) or ""),
        status=_field(fields, 4),
        note_code=_field(fields, 5),
        position=position,
    )
