"""Segments → bytes: EDIFACT and X12 interchanges we send, envelopes, counts and escaping included.

The reverse of the parsers, and as pure: a caller hands over the body segments of each message
(no UNH/UNT, no ST/SE), the control numbers it was given by the store and both parties'
identifiers; this module writes the envelope around them (UNA UNB [UNG] UNH…UNT [UNE] UNZ,
ISA GS ST…SE GE IEA), counts segments, messages and groups itself, and escapes what must be
escaped. Nothing is read from a clock unless no `when` is given. `write_edifact` and `write_x12`
write the bytes into a binary file a block at a time (a CONTRL answering 500,000 messages never
sits whole in memory, and its segments may be made as they are written); `render_edifact` and
`render_x12` return the same bytes.

A segment is `[tag, element, …]` as `gateway.formats.tree.segments_of` gives it: an element is
a string (a simple element), a list of strings (a composite's components) or a list of such
lists (repetitions); "" or None is an empty element. Trailing empty elements and components are
left out, as the standards want.

EDIFACT values are escaped with the release character. X12 has no release character: a value
holding one of the interchange's delimiters cannot be written, and `RenderError` says which.

Characters: what the partner's syntax cannot carry is transliterated (Göteborg → Goteborg: the
letter without its accents, by Unicode NFKD), never dropped silently: X12 and EDIFACT UNOA/UNOB
are written in ASCII (UNOA in capitals: its level A has no small letters), UNOC in ISO 8859-1,
UNOD/UNOE/UNOF in ISO 8859-2/5/7, UNOW/UNOY in UTF-8. A character with no such spelling
is a `RenderError` naming it.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Iterable, Sequence

from lxml import etree

Segment = Sequence[Any]
BLOCK = 1 << 20  # characters written at a time: a normal interchange is one block


class _Blocks:
    """Text written to a binary file a block at a time, each block made writable (`finish`) and encoded.

    Every check and transliteration is per character, so the bytes are those of the whole text
    finished at once; an interchange shorter than BLOCK is exactly that.
    """

    def __init__(self, out: BinaryIO, finish: Callable[[str], bytes]) -> None:
        self.out, self.finish = out, finish
        self.pending: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.pending.append(text)
        self.size += len(text)
        if self.size >= BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.out.write(self.finish("".join(self.pending)))
            self.pending, self.size = [], 0


class RenderError(ValueError):
    """A value cannot be written in this syntax (an X12 delimiter in data, a missing identifier)."""


# --- characters ------------------------------------------------------------------------------

EDIFACT_CODECS = {"UNOA": "ascii", "UNOB": "ascii", "UNOC": "iso8859-1", "UNOD": "iso8859-2",
                  "UNOE": "iso8859-5", "UNOF": "iso8859-7", "UNOW": "utf-8", "UNOY": "utf-8"}
# UN/EDIFACT level A (UNOA): capitals, digits, space and these marks.
UNOA_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>\r\n")


def transliterated(text: str, codec: str, where: str) -> str:
    """`text` as the codec can carry it: a character it cannot carry is written without its accents
    (NFKD, combining marks dropped: é → e; ß → ss where the codec lacks ß); else RenderError."""
    try:
        text.encode(codec)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for index, char in enumerate(text):
        try:
            char.encode(codec)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        plain = {"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ł": "L", "ł": "l",
                 "Œ": "OE", "œ": "oe", "Þ": "TH", "þ": "th"}.get(char, plain)
        try:
            plain.encode(codec)
        except UnicodeEncodeError:
            plain = ""
        if not plain:
            around = text[max(0, index - 20):index + 20].strip()
            raise RenderError(f"{where}: {char!r} (in {around!r}) cannot be written in {codec} nor transliterated")
        out.append(plain)
    return "".join(out)


# --- EDIFACT ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdifactSyntax:
    """Service characters and syntax of an interchange we write (UNA is always written)."""

    component: str = ":"
    element: str = "+"
    decimal_mark: str = "."
    release: str = "?"
    repetition: str = " "  # none in syntax 3; "*" in syntax 4
    terminator: str = "'"
    identifier: str = "UNOC"
    version: str = "3"
    newline: bool = False  # a line break after every terminator (some partners' viewers want it)

    @property
    def una(self) -> str:
        return f"UNA{self.component}{self.element}{self.decimal_mark}{self.release}{self.repetition}{self.terminator}"

    def escape(self, value: str) -> str:
        special, table = self._escapes
        return value.translate(table) if special.search(value) else value

    @functools.cached_property
    def _escapes(self) -> tuple[re.Pattern, dict[int, str]]:
        """The service characters (a pattern finding one), and each → itself after the release character."""
        special = {self.component, self.element, self.release, self.terminator}
        if self.repetition.strip():
            special.add(self.repetition)
        return (re.compile("[" + re.escape("".join(sorted(special))) + "]"),
                {ord(char): self.release + char for char in special})


def edifact_segment(segment: Segment, syntax: EdifactSyntax = EdifactSyntax()) -> str:
    """One segment as text, with its terminator."""
    tag, *elements = segment
    written = [_edifact_element(element, syntax) for element in elements]
    while written and not written[-1]:
        written.pop()
    return syntax.element.join([str(tag), *written]) + syntax.terminator + ("\n" if syntax.newline else "")


def _edifact_element(element: Any, syntax: EdifactSyntax) -> str:
    if element is None:
        return ""
    if isinstance(element, str):
        return syntax.escape(element)
    if element and all(isinstance(item, (list, tuple)) for item in element):
        if not syntax.repetition.strip():
            raise RenderError(f"a repeated data element {element!r} needs syntax version 4 (a repetition separator)")
        return syntax.repetition.join(_components(item, syntax.component, syntax.escape) for item in element)
    return _components(element, syntax.component, syntax.escape)


def _components(parts: Sequence[Any], separator: str, escape) -> str:
    values = ["" if part is None else escape(str(part)) for part in parts]
    while values and not values[-1]:
        values.pop()
    return separator.join(values)


@dataclass
class EdifactMessage:
    """A message to envelope: its reference (UNH 0062), identifier (S009) and body segments."""

    ref: str
    identifier: Sequence[str]  # ("CONTRL", "D", "3", "UN") or ("ORDERS", "D", "96A", "UN", "EAN008")
    segments: list[Segment]


@dataclass
class EdifactGroup:
    """A functional group (UNG…UNE) when the partner uses them."""

    ref: str
    functional_id: str
    sender: Sequence[str]
    receiver: Sequence[str]
    version: Sequence[str]  # S008: version, release, association
    messages: list[EdifactMessage] = field(default_factory=list)


@dataclass
class EdifactInterchange:
    sender: Sequence[str]  # S002: id, qualifier
    receiver: Sequence[str]  # S003
    control_ref: str
    messages: list[EdifactMessage] = field(default_factory=list)
    groups: list[EdifactGroup] = field(default_factory=list)
    test: bool = False
    ack_request: bool = False
    application_ref: str | None = None  # 0026
    when: datetime | None = None
    syntax: EdifactSyntax = field(default_factory=EdifactSyntax)


def render_edifact(interchange: EdifactInterchange) -> bytes:
    """The interchange as bytes (in its syntax identifier's character set), with UNA."""
    out = io.BytesIO()
    write_edifact(interchange, out)
    return out.getvalue()


def write_edifact(interchange: EdifactInterchange, out: BinaryIO) -> None:
    """The interchange's bytes written into `out` a block at a time (see `render_edifact`)."""
    if interchange.messages and interchange.groups:
        raise RenderError("an interchange holds groups or loose messages, not both (0085 code 30)")
    syntax = interchange.syntax
    when = interchange.when or datetime.now(timezone.utc)
    date = when.strftime("%Y%m%d" if syntax.version == "4" else "%y%m%d")
    codec = EDIFACT_CODECS.get(syntax.identifier, "iso8859-1")

    def finish(text: str) -> bytes:
        text = transliterated(text, codec, syntax.identifier)
        if syntax.identifier == "UNOA":
            text = text.upper()
            bad = sorted(set(text) - UNOA_CHARACTERS - set(syntax.una))
            if bad:
                raise RenderError(f"{bad[0]!r} cannot be written in UNOA (level A: capitals, digits and a few marks)")
        return text.encode(codec)

    blocks = _Blocks(out, finish)
    blocks.add(syntax.una + ("\n" if syntax.newline else ""))
    blocks.add(edifact_segment([
        "UNB", [syntax.identifier, syntax.version], list(interchange.sender), list(interchange.receiver),
        [date, when.strftime("%H%M")], interchange.control_ref, "", interchange.application_ref or "", "",
        "1" if interchange.ack_request else "", "", "1" if interchange.test else "",
    ], syntax))
    for message in interchange.messages:
        _edifact_message(message, syntax, blocks.add)
    for group in interchange.groups:
        blocks.add(edifact_segment(["UNG", group.functional_id, list(group.sender), list(group.receiver),
                                    [date, when.strftime("%H%M")], group.ref, "UN", list(group.version)], syntax))
        for message in group.messages:
            _edifact_message(message, syntax, blocks.add)
        blocks.add(edifact_segment(["UNE", str(len(group.messages)), group.ref], syntax))
    count = len(interchange.groups) or len(interchange.messages)
    blocks.add(edifact_segment(["UNZ", str(count), interchange.control_ref], syntax))
    blocks.flush()


def _edifact_message(message: EdifactMessage, syntax: EdifactSyntax, write: Callable[[str], None]) -> None:
    write(edifact_segment(["UNH", message.ref, list(message.identifier)], syntax))
    count = _written(message.segments, lambda segment: edifact_segment(segment, syntax), write)
    write(edifact_segment(["UNT", str(count + 2), message.ref], syntax))


def _written(segments: Iterable[Segment], text: Callable[[Segment], str], write: Callable[[str], None]) -> int:
    """Body segments written one by one (they may be made as they are read); how many."""
    count = 0
    for segment in segments:
        write(text(segment))
        count += 1
    return count


# --- X12 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class X12Syntax:
    """Delimiters and version of an X12 interchange we write."""

    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str = "^"  # written in ISA11 from version 00402 on; "U" before
    version: str = "00401"  # ISA12
    newline: bool = True  # a line break after every terminator

    def check(self, value: str, where: str) -> str:
        delimiters = {self.element, self.component, self.segment}
        if self.version >= "00402":
            delimiters.add(self.repetition)
        bad = sorted(set(value) & delimiters)
        if bad:
            raise RenderError(f"{where} {value!r} holds the delimiter {bad[0]!r}; X12 cannot escape it")
        return value


def x12_segment(segment: Segment, syntax: X12Syntax = X12Syntax()) -> str:
    tag, *elements = segment
    written = [_x12_element(element, syntax, f"{tag}{number:02d}") for number, element in enumerate(elements, 1)]
    while written and not written[-1]:
        written.pop()
    return syntax.element.join([str(tag), *written]) + syntax.segment + ("\n" if syntax.newline else "")


def _x12_element(element: Any, syntax: X12Syntax, where: str) -> str:
    if element is None:
        return ""
    if isinstance(element, str):
        return syntax.check(element, where)
    if element and all(isinstance(item, (list, tuple)) for item in element):
        if syntax.version < "00402":
            raise RenderError(f"{where} repeats, which needs X12 version 00402 or later")
        return syntax.repetition.join(
            _components(item, syntax.component, lambda v: syntax.check(v, where)) for item in element)
    return _components(element, syntax.component, lambda v: syntax.check(v, where))


@dataclass
class X12Set:
    """A transaction set to envelope: ST01, ST02, optional ST03, and its body segments."""

    type: str
    control_number: str
    segments: list[Segment]
    convention: str | None = None  # ST03 (005010 implementation convention reference)


@dataclass
class X12Group:
    functional_id: str
    sender: str  # GS02
    receiver: str  # GS03
    control_number: int  # GS06
    version: str  # GS08
    sets: list[X12Set] = field(default_factory=list)


@dataclass
class X12Interchange:
    sender: tuple[str, str]  # ISA05 qualifier, ISA06 id
    receiver: tuple[str, str]  # ISA07, ISA08
    control_number: int  # ISA13
    groups: list[X12Group] = field(default_factory=list)
    technical_acks: list[Segment] = field(default_factory=list)  # TA1 segments, written before the groups
    test: bool = False
    ack_requested: bool = False
    when: datetime | None = None
    syntax: X12Syntax = field(default_factory=X12Syntax)


def render_x12(interchange: X12Interchange) -> bytes:
    out = io.BytesIO()
    write_x12(interchange, out)
    return out.getvalue()


def write_x12(interchange: X12Interchange, out: BinaryIO) -> None:
    """The interchange's bytes written into `out` a block at a time (see `render_x12`)."""
    syntax = interchange.syntax
    when = interchange.when or datetime.now(timezone.utc)
    if not 0 < interchange.control_number <= 999_999_999:
        raise RenderError(f"interchange control number {interchange.control_number} does not fit ISA13 (9 digits)")
    (sender_q, sender), (receiver_q, receiver) = interchange.sender, interchange.receiver
    for name, value, width in (("ISA05", sender_q, 2), ("ISA06", sender, 15), ("ISA07", receiver_q, 2),
                               ("ISA08", receiver, 15)):
        if not value or len(value) > width:
            raise RenderError(f"{name} {value!r} must be 1 to {width} characters")
        syntax.check(value, name)
    isa = [
        "ISA", "00", " " * 10, "00", " " * 10, sender_q.ljust(2), sender.ljust(15), receiver_q.ljust(2),
        receiver.ljust(15), when.strftime("%y%m%d"), when.strftime("%H%M"),
        syntax.repetition if syntax.version >= "00402" else "U", syntax.version,
        f"{interchange.control_number:09d}", "1" if interchange.ack_requested else "0",
        "T" if interchange.test else "P", syntax.component,
    ]
    # X12's basic and extended character sets are ASCII.
    blocks = _Blocks(out, lambda text: transliterated(text, "ascii", "X12").encode("ascii"))
    write = blocks.add
    write(syntax.element.join(isa) + syntax.segment + ("\n" if syntax.newline else ""))
    for segment in interchange.technical_acks:
        write(x12_segment(segment, syntax))
    for group in interchange.groups:
        write(x12_segment(["GS", group.functional_id, group.sender, group.receiver, when.strftime("%Y%m%d"),
                           when.strftime("%H%M"), str(group.control_number), "X", group.version], syntax))
        for transaction in group.sets:
            write(x12_segment(["ST", transaction.type, transaction.control_number, transaction.convention or ""],
                              syntax))
            count = _written(transaction.segments, lambda segment: x12_segment(segment, syntax), write)
            write(x12_segment(["SE", str(count + 2), transaction.control_number], syntax))
        write(x12_segment(["GE", str(len(group.sets)), str(group.control_number)], syntax))
    write(x12_segment(["IEA", str(len(interchange.groups)), f"{interchange.control_number:09d}"], syntax))
    blocks.flush()


# --- trees -----------------------------------------------------------------------------------


def body_segments(tree: etree._Element) -> list[list]:
    """A message tree's segments without its header and trailer (UNH/UNT, ST/SE), ready to envelope."""
    from gateway.formats.tree import segments_of

    return [segment for segment in segments_of(tree) if segment[0] not in ("UNH", "UNT", "ST", "SE")]
