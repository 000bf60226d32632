"""EDIFACT (ISO 9735, syntax versions 1-4) bytes → interchanges, groups and messages with their trees.

The work is split in three layers, each blind to the next:

1. Bytes. The file is cut into interchanges where a UNA or UNB starts a segment, so that each
   interchange can declare its own separators (UNA) and character set (UNB syntax identifier),
   and bytes after a UNZ are set aside as junk rather than read as data.
2. Segments. pydifact's tokenizer splits an interchange's text into segments, data elements
   and components and applies the release character; a small subclass also stops at the
   repetition separator of syntax version 4.
3. Envelope. A state machine walks the segments (UNB, UNG, UNH … UNT, UNE, UNZ), checks the
   counts and control references, and builds one lxml tree per message as its segments arrive,
   so a file of any size is read one message at a time.

Decisions a template author or support person may need:
- `Message.version` is the UNH version and release joined as written: `D:96A` → "D96A",
  and an odd `0:96A` stays "096A". The root element also carries `release`, `agency` and
  `association` separately.
- Line breaks are not EDIFACT data: CR and LF are dropped everywhere (unless the UNA makes one
  of them a separator), which reads hard-wrapped files; a line break found inside a segment is
  reported once per interchange as a warning.
- Bytes that are not valid in the declared character set are read as UTF-8 when they are valid
  UTF-8, else as ISO-8859-1, with a warning on the interchange.
- Data after a UNZ that does not start a new interchange is an error of the interchange it
  follows.
"""

from __future__ import annotations

import codecs
import datetime
import itertools
import mmap
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pydifact.control.characters import Characters
from pydifact.exceptions import EDISyntaxError
from pydifact.token import Token
from pydifact.tokenizer import Tokenizer

from gateway.formats import tree
from gateway.formats.edifact_checks import check_party_id, check_segment
from gateway.formats.model import Events, Group, Interchange, Issue, Message, UnreadableFile, is_digits
from gateway.formats.validation import DEFAULT_OPTIONS, Options

BOM = b"\xef\xbb\xbf"
BOM_SKIPPED = "the file starts with a UTF-8 byte order mark, which the standard does not use; it was skipped"
WHITESPACE = b" \t\r\n"

# Syntax identifier (UNB 0001) → Python codec. IATA's syntax levels are ASCII like UNOA/UNOB.
CHARSETS = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "iso8859-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
    "IATA": "ascii",
    "IATB": "ascii",
}

SEGMENT_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
BLOCK = 1 << 20  # bytes decoded and cut into segments at a time
WINDOW = 8 << 20  # bytes searched at a time for the next interchange or UNZ
OVERLAP = 64 << 10


class MessageRefs:
    """The message references an interchange (UNH 0062) or a group (X12 ST02) has used, to find one used twice.

    A set of 500,000 strings takes some 150 bytes a reference. Most senders number their
    messages: a reference of ASCII digits is kept as one bit of a 256-bit page, pages keyed by
    its number and length (so "0001" and "1" stay two references, as the strings are), and
    numbered messages take a few bits each. Other references are kept as strings.
    """

    __slots__ = ("pages", "others")

    def __init__(self) -> None:
        self.pages: dict[int, int] = {}
        self.others: set[str] = set()

    def add(self, ref: str) -> bool:
        """Keep a reference: False when it was already used."""
        if ref.isdigit() and ref.isascii() and len(ref) < 32:
            number = int(ref)
            key, bit = (number >> 8) << 5 | len(ref), 1 << (number & 255)
            page = self.pages.get(key, 0)
            if page & bit:
                return False
            self.pages[key] = page | bit
            return True
        if ref in self.others:
            return False
        self.others.add(ref)
        return True


def sniff(data: bytes) -> bool:
    """True when the bytes look like EDIFACT: UNA or UNB first, after a BOM and blanks."""
    return _at(data, _skip_blanks(data, _after_bom(data)), b"UNA", b"UNB")


def parse(data: bytes | mmap.mmap, *, expected_sender: str | None = None, options: Options = DEFAULT_OPTIONS) -> Events:
    """Read an EDIFACT file: yield each Message at its UNT and each Interchange after its end.

    Raises UnreadableFile, before yielding anything, when the file holds no EDIFACT
    interchange: empty, not starting with UNA/UNB, or with a first UNB that cannot be read.
    `expected_sender` is the partner's UNB sender id; another sender is an interchange error.
    Messages with a definition are validated against it, with the partner's `options`.

    `data` may be a read-only mmap of the file: it is read a block at a time (interchanges are
    found by offset, each decoded and cut into segments a block at a time), and the blocks
    read are handed back to the kernel, so memory stays flat whatever the file's size.
    """
    start = _skip_blanks(data, _after_bom(data))
    if start == len(data):
        raise UnreadableFile("the file is empty")
    if not _at(data, start, b"UNA", b"UNB"):
        raise UnreadableFile(
            f"not EDIFACT: the file starts with {_preview(data[start:start + 40])} "
            "instead of UNA or UNB"
        )
    message_numbers = itertools.count()
    for index, chunk in enumerate(_chunks(data, start)):
        reader = _InterchangeReader(chunk, index, message_numbers, expected_sender, options)
        if index == 0 and _after_bom(data):  # as Windows tools write it: read on, and said
            reader.interchange.errors.append(Issue(BOM_SKIPPED, 1, "UNB", severity="warning"))
        yield from reader.events(first=index == 0)


# --- Layer 1: bytes → interchange chunks ------------------------------------------------------


@dataclass(frozen=True)
class Separators:
    """The service characters of one interchange, from its UNA or the defaults."""

    component: str = ":"
    element: str = "+"
    decimal_mark: str = "."
    release: str | None = "?"
    repetition: str | None = None
    terminator: str = "'"

    @classmethod
    def from_una(cls, una: bytes) -> "Separators":
        chars = una.decode("latin-1")
        return cls(
            component=chars[0],
            element=chars[1],
            decimal_mark=chars[2],
            release=None if chars[3] == " " else chars[3],
            repetition=None if chars[4] == " " else chars[4],
            terminator=chars[5],
        )

    def service_characters(self) -> list[str]:
        chars = [self.component, self.element, self.terminator]
        return chars + [c for c in (self.release, self.repetition) if c]


@dataclass
class Chunk:
    """Where one interchange lies in the file, before any decoding."""

    una: bytes | None  # the six service characters, when the interchange has a UNA
    data: bytes | mmap.mmap  # the whole file
    start: int  # its UNB (or whatever follows the UNA) …
    end: int  # … up to the end of its UNZ
    junk_end: int  # what follows UNZ before the next interchange is data[end:junk_end] (never copied whole)
    separators: Separators = field(default_factory=Separators)
    followed: bool = False  # another interchange starts after this one

    def junk(self) -> tuple[int, bytes]:
        """How many bytes follow UNZ before the next interchange, blank space around them left out,
        and the first of them; read a block at a time (a file padded to a fixed size is not copied)."""
        first = _first_not_blank(self.data, self.end, self.junk_end)
        if first is None:
            return 0, b""
        last = _last_not_blank(self.data, first, self.junk_end)
        return last + 1 - first, self.data[first:min(first + 40, last + 1)]

    def blocks(self, size: int = BLOCK) -> Iterator[bytes]:
        """The interchange's bytes a block at a time (mmap pages read are given back)."""
        for offset in range(self.start, self.end, size):
            block = self.data[offset:min(offset + size, self.end)]
            release_pages(self.data, offset, len(block))
            yield block


def _chunks(data: bytes, start: int) -> Iterator[Chunk]:
    """Cut the file into interchanges at every UNA/UNB that starts a segment."""
    position = start
    while position < len(data):
        una = None
        body_start = position
        if _at(data, position, b"UNA"):
            una = data[position + 3 : position + 9]
            body_start = _skip_blanks(data, position + 9)
        separators = Separators.from_una(una) if una and len(una) == 6 else Separators()
        following = _next_interchange(data, body_start + 3, separators)
        end = len(data) if following is None else following
        body_end = _cut_after_unz(data, body_start, end, separators)
        yield Chunk(una, data, body_start, body_end, end, separators, followed=following is not None)
        position = _skip_blanks(data, end)


def _first_not_blank(data: bytes | mmap.mmap, start: int, end: int) -> int | None:
    """The offset of the first byte of data[start:end] that is not blank space, or None; a block at a time."""
    for at in range(start, end, BLOCK):
        block = data[at:min(at + BLOCK, end)]
        rest = block.lstrip(WHITESPACE)
        if rest:
            return at + len(block) - len(rest)
        release_pages(data, at, BLOCK)
    return None


def _last_not_blank(data: bytes | mmap.mmap, start: int, end: int) -> int:
    """The offset of the last byte of data[start:end] that is not blank space (data[start] is not); a
    block at a time from the end."""
    for stop in range(end, start, -BLOCK):
        at = max(start, stop - BLOCK)
        rest = data[at:stop].rstrip(WHITESPACE)
        release_pages(data, at, stop - at)
        if rest:
            return at + len(rest) - 1
    return start


def _next_interchange(data: bytes, start: int, separators: Separators) -> int | None:
    """Offset of the next UNA or UNB that starts a segment, or None."""
    return _segment_start(data, start, (b"UNA", b"UNB"), separators)


def _cut_after_unz(data: bytes | mmap.mmap, start: int, end: int, separators: Separators) -> int:
    """Where an interchange's bytes (data[start:end]) end: after the terminator of its UNZ."""
    unz = _segment_start(data, start, (b"UNZ",), separators, end, floor=start)
    if unz is None:
        return end
    terminator = separators.terminator.encode("latin-1")
    cut = unz
    while True:
        cut = data.find(terminator, cut + 1, end)
        if cut == -1:
            return end
        if not _released(data, cut, separators, start):
            return cut + 1


def _segment_start(
    data: bytes | mmap.mmap, start: int, tags: tuple[bytes, ...], separators: Separators, end: int | None = None,
    floor: int = 0,
) -> int | None:
    """Offset of the first of `tags` that starts a segment in data[start:end], or None.

    The search goes a window at a time (the windows overlap by OVERLAP bytes, more than any
    blank run between two segments), so that an mmap's pages are given back as it goes.
    """
    terminator = re.escape(separators.terminator.encode("latin-1"))
    pattern = re.compile(terminator + rb"[ \t\r\n]*(?:" + b"|".join(tags) + rb")")
    end = len(data) if end is None else end
    window = start
    while window < end:
        stop = min(window + WINDOW + OVERLAP, end)
        for match in pattern.finditer(data, window, stop):
            if match.start() >= window + WINDOW and stop < end:
                break  # the next window finds it whole
            if not _released(data, match.start(), separators, floor):
                return match.end() - 3
        release_pages(data, window, WINDOW)
        window += WINDOW
    return None


def _at(data: bytes | mmap.mmap, offset: int, *prefixes: bytes) -> bool:
    """Whether one of `prefixes` is at `offset` (bytes.startswith, also for an mmap)."""
    return any(data[offset:offset + len(prefix)] == prefix for prefix in prefixes)


def first_undecodable(data: bytes | mmap.mmap, start: int, codec: str) -> int | None:
    """The offset of the first byte from `start` that `codec` cannot decode, or None; the file read
    a megabyte at a time (a character cut between two reads is carried to the next), its pages given
    back as they are read."""
    decoder = codecs.getincrementaldecoder(codec)()
    for at in range(start, len(data), BLOCK):
        carried = len(decoder.getstate()[0])  # bytes of a character begun in the read before
        try:
            decoder.decode(data[at:at + BLOCK], final=at + BLOCK >= len(data))
        except UnicodeDecodeError as error:
            return at - carried + error.start
        release_pages(data, at, BLOCK)
    return None


def release_pages(data: bytes | mmap.mmap, offset: int, size: int) -> None:
    """Give an mmap's pages in [offset, offset + size) back to the kernel: they have been read."""
    if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        first = offset - offset % mmap.PAGESIZE
        last = min(offset + size, len(data))
        last -= last % mmap.PAGESIZE
        if last > first:
            data.madvise(mmap.MADV_DONTNEED, first, last - first)


def _released(data: bytes | mmap.mmap, offset: int, separators: Separators, start: int = 0) -> bool:
    """Whether the byte at offset is escaped by an odd run of release characters before it (from `start`)."""
    if not separators.release:
        return False
    release = separators.release.encode("latin-1")[0]
    run = 0
    while offset - run - 1 >= start and data[offset - run - 1] == release:
        run += 1
    return run % 2 == 1


def _after_bom(data: bytes) -> int:
    return len(BOM) if _at(data, 0, BOM) else 0


def _skip_blanks(data: bytes, offset: int) -> int:
    while offset < len(data) and data[offset] in WHITESPACE:
        offset += 1
    return offset


def _preview(data: bytes, size: int = 20) -> str:
    return repr(data[:size].decode("latin-1")) + ("…" if len(data) > size else "")


# --- Character sets ----------------------------------------------------------------------------

SYNTAX_ID = re.compile(rb"UNB(.)([A-Z0-9]{4})(?:(.)([0-9]))?")


def _syntax_of(chunk: Chunk, separators: Separators) -> tuple[str | None, int | None]:
    """Syntax identifier and version from the raw UNB, which is always ASCII."""
    head = chunk.data[chunk.start:min(chunk.start + 200, chunk.end)].replace(b"\r", b"").replace(b"\n", b"")
    match = SYNTAX_ID.match(head)
    if not match or match.group(1).decode("latin-1") != separators.element:
        return None, None
    version = int(match.group(4)) if match.group(4) else None
    return match.group(2).decode("ascii"), version


def _decoding(chunk: Chunk, syntax_id: str | None) -> tuple[str, str, Issue | None]:
    """How to decode an interchange's bytes: (codec, errors, warning), in its declared character
    set or the next best one. Each check reads the bytes a block at a time."""
    if all(block.isascii() for block in chunk.blocks()):
        return "ascii", "strict", None
    codec = CHARSETS.get(syntax_id or "")
    if codec is None:
        why = f"its syntax identifier {syntax_id!r} is not known"
        if _decodes(chunk, "utf-8"):
            return "utf-8", "strict", _charset_warning(why, "UTF-8")
        return "iso8859-1", "strict", _charset_warning(why, "ISO-8859-1")
    if codec == "utf-8":
        if _decodes(chunk, "utf-8"):
            return "utf-8", "strict", None
        return "iso8859-1", "strict", _charset_warning(f"bytes that are not UTF-8 under {syntax_id}", "ISO-8859-1")
    if _decodes(chunk, "utf-8"):
        return "utf-8", "strict", _charset_warning(
            f"UTF-8 characters although {syntax_id} declares {_charset_name(codec)}", "UTF-8")
    if codec == "ascii":
        return "iso8859-1", "strict", _charset_warning(
            f"non-ASCII bytes although {syntax_id} declares ASCII", "ISO-8859-1")
    if _decodes(chunk, codec):
        return codec, "strict", None
    return codec, "replace", _charset_warning(
        f"bytes that are not valid {_charset_name(codec)}", f"{_charset_name(codec)} with U+FFFD")


def _decodes(chunk: Chunk, codec: str) -> bool:
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        for block in chunk.blocks():
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _text_blocks(chunk: Chunk, codec: str, errors: str) -> Iterator[str]:
    """The interchange's text a block at a time (a character cut by a block edge is kept whole)."""
    if codec == "ascii":
        for block in chunk.blocks():
            yield block.decode("ascii")
        return
    decoder = codecs.getincrementaldecoder(codec)(errors)
    for block in chunk.blocks():
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


def _charset_name(codec: str) -> str:
    return codec.upper().replace("ISO8859", "ISO-8859")


def _charset_warning(what: str, read_as: str) -> Issue:
    return Issue(
        f"the interchange holds {what}; it was read as {read_as}",
        position=1,
        tag="UNB",
        severity="warning",
    )


# --- Layer 2: text → segments (pydifact) -------------------------------------------------------

Elements = list[list[list[str]]]  # data elements → repetitions → components


@dataclass
class Segment:
    tag: str
    elements: Elements
    text: str | None = None  # as written, when cut by `_fast_segments` (`tree.KnownSegments`)

    def value(self, element: int, component: int = 1) -> str:
        """The text of a component (1-based positions, first repetition), or ''."""
        try:
            return self.elements[element - 1][0][component - 1]
        except IndexError:
            return ""


class SegmentProblem(Exception):
    """The text stops being readable: an unterminated segment or a tokenizer error."""

    def __init__(self, reason: str, tag: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag


class RepetitionTokenizer(Tokenizer):
    """pydifact's tokenizer, also stopping at the repetition separator of syntax version 4.

    pydifact has no token type for it; CTRL_CHARS is otherwise unused while tokenizing, so a
    repetition separator comes out as a CTRL_CHARS token.
    """

    def __init__(self, repetition: str | None) -> None:
        self._repetition = repetition
        super().__init__()

    @property
    def token_selector(self) -> dict[str, Token.Type]:
        return self._selector

    @token_selector.setter
    def token_selector(self, selector: dict[str, Token.Type]) -> None:
        self._selector = dict(selector)
        if self._repetition:
            self._selector[self._repetition] = Token.Type.CTRL_CHARS


def segments(text: str | Iterable[str], separators: Separators) -> Iterator[Segment]:
    """The segments of an interchange's text (a string, or its blocks in order), released
    characters already resolved.

    Complete segments are cut with `str.split` (`_fast_segments`), a block at a time, which
    reads a file many times faster than a tokenizer taking one character at a time. pydifact's
    tokenizer (`_tokenized_segments`) reads what the fast cut leaves to it: the text after the
    last segment terminator (an unterminated segment, whose error it words), and whole texts
    where a line break or a space is a service character, or two roles share one character,
    whose odd readings it defines. Both give the same segments, elements and errors.
    """
    blocks = [text] if isinstance(text, str) else text  # blocks hold no line break but a separator
    service = separators.service_characters()
    if len(set(service)) != len(service) or set(service) & {" ", "\r", "\n"} or (
            isinstance(text, str) and ("\r" in text or "\n" in text)):
        yield from _tokenized_segments("".join(blocks), separators)
        return
    yield from _fast_segments(blocks, separators)


def _fast_segments(blocks: Iterable[str], separators: Separators) -> Iterator[Segment]:
    release = separators.release or "\x00"  # as pydifact reads it (see _tokenized_segments)
    terminator, element, component = separators.terminator, separators.element, separators.component
    repetition = separators.repetition
    lead = re.compile(f"^(?:{re.escape(release)}?[ \r\n])+")
    pending = None  # a piece whose terminator was released: it goes on in the next piece
    first = True
    carry = ""  # the text after the last terminator of the blocks so far
    for block in blocks:
        text = carry + block
        cut = text.rfind(terminator)
        if cut < 0:
            carry = text
            continue
        carry = text[cut + 1:]
        for piece in text[:cut].split(terminator):
            if pending is not None:
                piece = pending + terminator + piece
                pending = None
            if piece.endswith(release) and _odd_run(piece, release):
                pending = piece
                continue
            if first:
                first = False
            elif piece[:1] == " " or piece[:1] == release:
                piece = lead.sub("", piece, count=1)  # pydifact skips blanks after a terminator
            if release in piece:
                elements = _released_elements(piece, separators, release)
            elif repetition is None:
                elements = [[part.split(component)] for part in piece.split(element)]
            else:
                elements = [[r.split(component) for r in part.split(repetition)] for part in piece.split(element)]
            head = elements[0]
            tag = head[0][0] if len(head) == 1 and len(head[0]) == 1 else _tag_as_written(head)
            yield Segment(tag, elements[1:], piece)
    tail = carry if pending is None else pending + terminator + carry
    if tail:
        if not first and (tail[:1] == " " or tail[:1] == release):
            tail = lead.sub("", tail, count=1)
        yield from _tokenized_segments(tail, separators)


def _odd_run(piece: str, release: str) -> bool:
    """Whether a piece ends with an odd run of release characters (its terminator is released)."""
    run = len(piece) - len(piece.rstrip(release))
    return run % 2 == 1


def _released_elements(piece: str, separators: Separators, release: str) -> Elements:
    """One segment's data elements where release characters occur: read character by character."""
    elements: Elements = []
    repetitions: list[list[str]] = []
    components: list[str] = []
    value: list[str] = []
    index, size = 0, len(piece)
    while index < size:
        char = piece[index]
        if char == release:
            if index + 1 < size:
                value.append(piece[index + 1])
            index += 2
            continue
        if char == separators.component:
            components.append("".join(value))
            value = []
        elif char == separators.element:
            components.append("".join(value))
            repetitions.append(components)
            elements.append(repetitions)
            repetitions, components, value = [], [], []
        elif char == separators.repetition:
            components.append("".join(value))
            repetitions.append(components)
            components, value = [], []
        else:
            value.append(char)
        index += 1
    components.append("".join(value))
    repetitions.append(components)
    elements.append(repetitions)
    return elements


def _tokenized_segments(text: str, separators: Separators) -> Iterator[Segment]:
    """The segments of a text as pydifact's tokenizer reads them."""
    characters = Characters(
        component_separator=separators.component,
        data_separator=separators.element,
        decimal_point=separators.decimal_mark,
        # pydifact always applies a release character; one that never occurs disables it.
        escape_character=separators.release or "\x00",
        segment_terminator=separators.terminator,
    )
    tokens = RepetitionTokenizer(separators.repetition).get_tokens(text, characters)
    elements: Elements = []
    repetitions: list[list[str]] = []
    components = [""]
    try:
        for token in tokens:
            kind = token.type
            if kind is Token.Type.CONTENT:
                components[-1] += token.value
            elif kind is Token.Type.COMPONENT_SEPARATOR:
                components.append("")
            elif kind is Token.Type.CTRL_CHARS:
                repetitions.append(components)
                components = [""]
            elif kind is Token.Type.DATA_SEPARATOR:
                repetitions.append(components)
                elements.append(repetitions)
                repetitions, components = [], [""]
            else:  # terminator
                repetitions.append(components)
                elements.append(repetitions)
                yield _segment(elements)
                elements, repetitions, components = [], [], [""]
    except EDISyntaxError as error:
        tag = _partial_tag(elements, components)
        if "Unexpected end" not in str(error):
            reason = str(error).removeprefix("EDIFACT Syntax Error: ")
            raise SegmentProblem(f"unreadable data in segment {tag or '?'}: {reason}", tag) from None
    else:
        if not (elements or repetitions or components != [""]):
            return
        tag = _partial_tag(elements, components)
    raise SegmentProblem(
        f"the data ends inside segment {tag or '?'}: it has no segment terminator "
        f"{separators.terminator!r} (file truncated?)",
        tag,
    )


def _segment(elements: Elements) -> Segment:
    return Segment(_tag_as_written(elements[0]), elements[1:])


def _tag_as_written(element: list[list[str]]) -> str:
    """A tag as written, even when it wrongly holds components or repetitions."""
    return "|".join(":".join(components) for components in element)


def _partial_tag(elements: Elements, components: list[str]) -> str | None:
    if elements:
        return _tag_as_written(elements[0])
    return components[0] or None


# --- Layer 3: segments → envelope and messages ------------------------------------------------


@dataclass
class OpenMessage:
    message: Message
    builder: tree.MessageBuilder
    segments: int = 1  # UNH counts


@dataclass
class OpenGroup:
    group: Group
    messages: int = 0


# The tags `take_inner` reads as envelope (service) segments rather than as a message's.
_SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNE", "UNH", "UNT", "UNZ"})


class _InterchangeReader:
    """Walks one interchange's segments, checks its envelope and yields its events."""

    def __init__(
        self,
        chunk: Chunk,
        index: int,
        message_numbers: Iterator[int],
        expected_sender: str | None,
        options: Options = DEFAULT_OPTIONS,
    ) -> None:
        self.chunk = chunk
        self.options = options
        self.separators = chunk.separators
        self.interchange = Interchange(standard="edifact", index=index)
        self.message_numbers = message_numbers
        self.expected_sender = expected_sender
        self.position = 0  # of the current segment in the interchange, UNB = 1
        self.open_message: OpenMessage | None = None
        self.open_group: OpenGroup | None = None
        self.message_refs = MessageRefs()
        self.known = tree.KnownSegments()
        self.loose_messages = 0
        self.unz_seen = False
        self.junk_reported = False

    def error(self, reason: str, tag: str | None = None, position: int | None = None,
              code: str | None = None) -> None:
        """An interchange error; `code` is its UN/EDIFACT syntax error code (0085) for a UCI."""
        self.interchange.errors.append(
            Issue(reason, position=self.position if position is None else position, tag=tag, code=code,
                  level="interchange" if code else None)
        )

    # The walk -----------------------------------------------------------------------------

    def events(self, *, first: bool) -> Events:
        chunk = self.chunk
        if chunk.una is not None and len(chunk.una) < 6:
            if first:
                raise UnreadableFile("the file ends inside its UNA service string advice")
            self.error("the data ends inside a UNA service string advice", "UNA", 1)
            yield self.interchange
            return
        self.check_separators()
        syntax_id, syntax_version = _syntax_of(chunk, self.separators)
        if chunk.una is None and syntax_version == 4:
            # Syntax version 4 makes '*' the repetition separator even without a UNA.
            self.separators = Separators(repetition="*")
        codec, errors, charset_issue = _decoding(chunk, syntax_id)
        if charset_issue:
            self.interchange.errors.append(charset_issue)
        text = self.without_line_breaks(_text_blocks(chunk, codec, errors))

        reading = segments(text, self.separators)
        try:
            header = next(reading, None)
        except SegmentProblem as problem:
            if first:
                raise UnreadableFile(f"the UNB interchange header cannot be read: {problem.reason}")
            header = None
            self.position = 1
            self.error(problem.reason, problem.tag)
            reading = iter(())
        if first and (header is None or header.tag != "UNB"):
            after = "after its UNA service string advice " if chunk.una is not None else ""
            found = f"starts with {header.tag}" if header else "has nothing more"
            raise UnreadableFile(f"no UNB interchange header: the file {after}{found}")
        if header is not None:
            yield from self.walk(itertools.chain([header], reading))
        yield from self.finish()

    def walk(self, reading: Iterator[Segment]) -> Events:
        try:
            for segment in reading:
                self.position += 1
                if self.open_message is not None and segment.tag not in _SERVICE_TAGS and not self.unz_seen:
                    self.add_to_message(segment)  # what `take` does with a message's segment, without its generators
                else:
                    yield from self.take(segment)
        except SegmentProblem as problem:
            self.position += 1
            if self.open_message:
                self.open_message.segments += 1
                self.message_error(problem.reason, problem.tag)
            else:
                self.error(problem.reason, problem.tag)

    def take(self, segment: Segment) -> Events:
        tag = segment.tag
        if self.unz_seen:
            if not self.junk_reported:
                self.error(f"segment {tag} after UNZ: data after the interchange trailer", tag)
                self.junk_reported = True
            return
        if self.position == 1:
            if tag == "UNB":
                self.read_unb(segment)
            else:
                self.error(f"the interchange starts with {tag} instead of UNB", tag)
                yield from self.take_inner(segment)
            return
        yield from self.take_inner(segment)

    def take_inner(self, segment: Segment) -> Events:
        tag = segment.tag
        if tag == "UNH":
            yield from self.close_message_without_unt("UNH")
            self.open_message_at(segment)
        elif tag == "UNT":
            if self.open_message:
                yield from self.close_message(segment)
            else:
                self.error("UNT without a UNH before it", tag)
        elif tag == "UNG":
            yield from self.close_message_without_unt("UNG")
            self.open_group_at(segment)
        elif tag == "UNE":
            yield from self.close_message_without_unt("UNE")
            self.close_group(segment)
        elif tag == "UNZ":
            yield from self.close_message_without_unt("UNZ")
            self.close_interchange(segment)
        elif tag in ("UNA", "UNB"):
            yield from self.close_message_without_unt(tag)
            self.error(f"{tag} inside an interchange (a UNZ is missing before it?)", tag)
        elif self.open_message:
            self.add_to_message(segment)
        elif SEGMENT_TAG.fullmatch(tag):
            self.error(f"segment {tag} is outside any message (not between UNH and UNT)", tag)
        else:
            self.error(f"{_bad_tag(tag)}, outside any message", _tag_or_none(tag))

    def finish(self) -> Events:
        yield from self.close_message_without_unt(None)
        if self.open_group:
            group = self.open_group.group
            self.group_error(group, Issue("group has no UNE trailer", tag="UNE"))
            self.open_group = None
        if not self.unz_seen:
            where = "where the next interchange starts" if self.chunk.followed else "at the end of the file"
            self.error(
                f"the interchange has no UNZ trailer: it ends {where}", "UNZ", self.position + 1, code="13"
            )
        size, opening = self.chunk.junk()
        if size:
            self.error(
                f"{size} bytes after UNZ do not belong to any interchange "
                f"(they start with {_preview(opening)})",
                None,
                self.position + 1,
            )
        yield self.interchange

    # Interchange header and trailer -------------------------------------------------------

    def check_separators(self) -> None:
        service = self.separators.service_characters()
        if len(set(service)) != len(service):
            self.error(f"the UNA declares one character for two roles: {''.join(service)!r}", "UNA", 1)

    def without_line_breaks(self, blocks: Iterator[str]) -> Iterator[str]:
        """Drop CR/LF that are not separators, a block at a time; warn once if one was inside a segment.

        The warning takes the place in the interchange's issues it would have had had the
        whole text been checked first (before any segment's).
        """
        service = set(self.separators.service_characters())
        breaks = [c for c in "\r\n" if c not in service]
        if not breaks:
            yield from blocks
            return
        terminator = re.escape(self.separators.terminator)
        inside = re.compile(rf"(?<![{terminator}\r\n ])[{''.join(breaks)}]")
        place = len(self.interchange.errors)
        warned = False
        before = ""  # the last character of the block before, for the look-behind
        for text in blocks:
            if not text:
                continue
            if any(c in text for c in breaks):
                if not warned and inside.search(before + text, len(before)):
                    warned = True
                    self.interchange.errors.insert(place, Issue(
                        "line breaks inside segments were removed (the file is wrapped, "
                        "or a value holds a raw line break)",
                        severity="warning",
                    ))
                before = text[-1]
                for char in breaks:
                    text = text.replace(char, "")
            else:
                before = text[-1]
            yield text

    def envelope_characters(self, segment: Segment) -> None:
        """A control character in UNB, UNG, UNE or UNZ rejects the interchange (0085 code 21), as
        one in a message's segment rejects the message: the envelope's values are quoted back."""
        for issue in tree.invalid_characters(segment.tag, segment.elements, self.position, "21"):
            self.error(issue.reason, segment.tag, code="21")

    def read_unb(self, unb: Segment) -> None:
        self.envelope_characters(unb)
        i = self.interchange
        syntax_id, syntax_version = unb.value(1, 1), unb.value(1, 2)
        i.syntax = f"{syntax_id}:{syntax_version}" if syntax_version else syntax_id or None
        i.sender, i.sender_qualifier = unb.value(2, 1) or None, unb.value(2, 2) or None
        i.receiver, i.receiver_qualifier = unb.value(3, 1) or None, unb.value(3, 2) or None
        i.control_ref = unb.value(5) or None
        i.ack_requested = unb.value(9) == "1"
        i.test = unb.value(11) == "1"
        if syntax_id and syntax_id not in CHARSETS:
            i.errors.append(
                Issue(f"unknown syntax identifier {syntax_id}", 1, "UNB", severity="warning")
            )
        for missing, what in (
            (not syntax_id, "syntax identifier (0001)"),
            (not i.sender, "sender identification (0004)"),
            (not i.receiver, "recipient identification (0010)"),
            (not i.control_ref, "interchange control reference (0020)"),
        ):
            if missing:
                self.error(f"UNB has no {what}", "UNB")
        for role, party, qualifier in (
            ("sender", i.sender, i.sender_qualifier),
            ("recipient", i.receiver, i.receiver_qualifier),
        ):
            if problem := check_party_id(role, party, qualifier):
                severity, reason = problem
                i.errors.append(Issue(reason, 1, "UNB", severity=severity))
        raw_date, raw_time = unb.value(4, 1), unb.value(4, 2)
        i.date = _iso_date(raw_date)
        if i.date is None:
            self.error(
                f"UNB date {raw_date!r} is not a date (expected YYMMDD or CCYYMMDD)", "UNB"
            )
        i.time = _iso_time(raw_time)
        if i.time is None:
            self.error(f"UNB time {raw_time!r} is not a time (expected HHMM)", "UNB")
        if self.expected_sender is not None and i.sender != self.expected_sender:
            self.error(
                f"sender {i.sender} is not this partner (expected {self.expected_sender})", "UNB"
            )

    def close_interchange(self, unz: Segment) -> None:
        self.unz_seen = True
        self.envelope_characters(unz)
        groups = len(self.interchange.groups)
        actual = groups + self.loose_messages
        counted = "groups" if groups and not self.loose_messages else "messages"
        if groups and self.loose_messages:
            counted = "groups and messages outside groups"
        said = unz.value(1)
        if not is_digits(said) or int(said) != actual:
            self.error(f"UNZ says {said or 'nothing'} but the interchange holds {actual} {counted}", "UNZ",
                       code="29")
        ref = unz.value(2)
        if ref != (self.interchange.control_ref or ""):
            self.error(
                f"UNZ control reference {ref!r} does not match UNB's "
                f"{self.interchange.control_ref!r}",
                "UNZ",
                code="28",
            )

    # Groups -------------------------------------------------------------------------------

    def group_error(self, group: Group, issue: Issue) -> None:
        """A group's envelope error is the interchange's too: it rejects the interchange."""
        group.errors.append(issue)
        self.interchange.errors.append(issue)

    def open_group_at(self, ung: Segment) -> None:
        self.envelope_characters(ung)
        if self.open_group:
            self.group_error(self.open_group.group, Issue("group has no UNE trailer", tag="UNE"))
        if self.loose_messages:
            self.error("UNG after messages outside any group: an interchange uses groups for all its messages or for none", "UNG")
        version = ung.value(7, 1) + ung.value(7, 2)
        group = Group(
            functional_id=ung.value(1) or None,
            sender=ung.value(2, 1) or None,
            receiver=ung.value(3, 1) or None,
            control_ref=ung.value(5) or None,
            version=version or None,
            date=_iso_date(ung.value(4, 1)),
        )
        self.interchange.groups.append(group)
        self.open_group = OpenGroup(group)

    def close_group(self, une: Segment) -> None:
        self.envelope_characters(une)
        if not self.open_group:
            self.error("UNE without a UNG before it", "UNE")
            return
        group, actual = self.open_group.group, self.open_group.messages
        said = une.value(1)
        if not is_digits(said) or int(said) != actual:
            self.group_error(
                group,
                Issue(f"UNE says {said or 'nothing'} messages but the group holds {actual}", self.position, "UNE")
            )
        ref = une.value(2)
        if ref != (group.control_ref or ""):
            self.group_error(
                group,
                Issue(
                    f"UNE group reference {ref!r} does not match UNG's {group.control_ref!r}",
                    self.position,
                    "UNE",
                )
            )
        self.open_group = None

    # Messages -----------------------------------------------------------------------------

    def open_message_at(self, unh: Segment) -> None:
        ref = unh.value(1)
        version, release = unh.value(2, 2), unh.value(2, 3)
        message_type = unh.value(2, 1) or None
        group = self.open_group.group if self.open_group else None
        root = tree.message_element(
            standard="edifact",
            type=message_type,
            version=(version + release) or None,
            release=release or None,
            agency=unh.value(2, 4) or None,
            association=unh.value(2, 5) or None,
            ref=ref or None,
            sender=self.interchange.sender,
            receiver=self.interchange.receiver,
            interchange_ref=self.interchange.control_ref,
            group_ref=group.control_ref if group else None,
            decimal_mark=self.separators.decimal_mark,
            test="1" if self.interchange.test else None,
        )
        full_version = (version + release) or None
        structure = tree.load_structure("edifact", message_type, full_version) if message_type else None
        message = Message(
            interchange=self.interchange,
            group=group,
            index=next(self.message_numbers),
            type=message_type,
            version=(version + release) or None,
            ref=ref or None,
            tree=root,
            association=unh.value(2, 5) or None,
            decimal_mark=self.separators.decimal_mark,
        )
        self.open_message = OpenMessage(
            message, tree.MessageBuilder(root, structure, self.options, version=full_version)
        )
        self.add_segment(unh)
        if not ref:
            self.message_error("UNH has no message reference number (0062)", "UNH", "13")
        elif not self.message_refs.add(ref):
            self.message_error(f"message reference {ref} is used twice in this interchange", "UNH", "26")
        if not message_type:
            self.message_error("UNH has no message type (0065)", "UNH", "13")
        if self.open_group:
            self.open_group.messages += 1
        else:
            self.loose_messages += 1
            if self.interchange.groups:
                self.message_error(
                    "message outside any group in an interchange that uses groups (UNG…UNE)",
                    "UNH",
                )

    def add_to_message(self, segment: Segment) -> None:
        assert self.open_message
        self.open_message.segments += 1
        if SEGMENT_TAG.fullmatch(segment.tag):
            self.add_segment(segment)
        else:
            self.message_error(_bad_tag(segment.tag), _tag_or_none(segment.tag))

    def add_segment(self, segment: Segment) -> None:
        opened = self.open_message
        assert opened
        builder, errors, position = opened.builder, opened.message.errors, opened.segments
        definition = builder.definition
        known = self.known.xml(definition, segment.text, segment.tag, position)
        if known is not None:
            builder.add(segment.tag, position, known)
            return
        findings, found = builder.finding_count, len(errors)
        xml, escaped = tree.segment_text(segment.tag, segment.elements, position)
        if escaped:
            errors.extend(tree.invalid_characters(segment.tag, segment.elements, position, "21"))
        builder.add(segment.tag, position, xml, segment.elements if definition else None)
        errors.extend(check_segment(
            segment.tag, segment.elements, position,
            defined=definition is not None, borrowed=definition is not None and definition.borrowed,
        ))
        if len(errors) == found and builder.finding_count == findings:
            self.known.remember(definition, segment.text, xml)

    def message_error(self, reason: str, tag: str | None, code: str | None = None) -> None:
        """A message error; `code` is its UN/EDIFACT syntax error code (0085) for a UCM."""
        assert self.open_message
        self.open_message.message.errors.append(
            Issue(reason, position=self.open_message.segments, tag=tag, code=code,
                  level="message" if code else None)
        )

    def close_message(self, unt: Segment) -> Events:
        assert self.open_message
        self.add_to_message(unt)
        opened = self.open_message
        said, actual = unt.value(1), opened.segments
        if not is_digits(said) or int(said) != actual:
            self.message_error(
                f"UNT says {said or 'nothing'} segments but the message has {actual} (UNH to UNT)",
                "UNT", "29",
            )
        ref = unt.value(2)
        if ref != (opened.message.ref or ""):
            self.message_error(
                f"UNT message reference {ref!r} does not match UNH's {opened.message.ref!r}",
                "UNT", "28",
            )
        yield self.finish_message()

    def close_message_without_unt(self, next_tag: str | None) -> Events:
        if not self.open_message:
            return
        where = f"at the next {next_tag}" if next_tag else "at the end of the data"
        self.open_message.message.errors.append(
            Issue(
                f"message has no UNT trailer: it ends {where}",
                position=self.open_message.segments + 1,
                tag="UNT",
                code="13",
                level="message",
            )
        )
        yield self.finish_message()

    def finish_message(self) -> Message:
        assert self.open_message
        message = self.open_message.message
        message.errors.extend(self.open_message.builder.issues)
        self.open_message.builder.finish()
        self.open_message = None
        self.interchange.count(message)
        return message


def _bad_tag(tag: str) -> str:
    return f"segment tag {tag!r} is not a valid EDIFACT tag (3 upper-case letters or digits)"


def _tag_or_none(tag: str) -> str | None:
    return tag[:10] or None


def _iso_date(raw: str) -> str | None:
    """YYMMDD (00-69 → 20YY, 70-99 → 19YY) or CCYYMMDD as an ISO date; None if impossible."""
    if not is_digits(raw) or len(raw) not in (6, 8):
        return None
    if len(raw) == 6:
        year = int(raw[:2])
        raw = ("20" if year < 70 else "19") + raw
    try:
        return datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])).isoformat()
    except ValueError:
        return None


def _iso_time(raw: str) -> str | None:
    if not is_digits(raw) or len(raw) != 4:
        return None
    hours, minutes = int(raw[:2]), int(raw[2:])
    if hours > 23 or minutes > 59:
        return None
    return f"{raw[:2]}:{raw[2:]}"
