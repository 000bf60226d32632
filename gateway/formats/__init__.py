"""Bytes → interchanges and message trees, for EDIFACT, X12 and CSV; the standard is sniffed.

`formats` knows syntax, not business meaning: `parse()` yields the events of
`gateway.formats.model` whatever the standard, so the pipeline never looks at separators.
"""

from __future__ import annotations

import mmap
from typing import Any, Iterator

from gateway.formats import edifact, x12
from gateway.formats.model import Events, UnreadableFile
from gateway.formats.validation import DEFAULT_OPTIONS, Options

SNIFFERS = (("edifact", edifact.sniff), ("x12", x12.sniff))
_BLOCK = 1 << 20


def sniff(data: bytes) -> str | None:
    """'edifact' or 'x12' when the bytes start like one; None otherwise (maybe a CSV)."""
    head = data[:4096]
    for standard, looks_like in SNIFFERS:
        if looks_like(head):
            return standard
    return None


def parse(data: bytes | mmap.mmap, *, csv_layout: Any = None, expected_sender: str | None = None,
          options: Options = DEFAULT_OPTIONS) -> tuple[str, Events]:
    """The standard of the bytes and the events of their parse.

    EDIFACT and X12 are recognised by their envelopes; anything else is read as CSV when a
    CSV layout is given (the partner's template says it), and is unreadable otherwise.
    """
    standard = sniff(data)
    if standard == "edifact":  # reads an mmap a block at a time
        return standard, edifact.parse(data, expected_sender=expected_sender, options=options)
    if isinstance(data, mmap.mmap):
        data = data[:]  # X12 and CSV are read from bytes
    if standard == "x12":
        return standard, x12.parse(data, expected_sender=expected_sender, options=options)
    if csv_layout is not None:
        from gateway.formats import csv

        return "csv", csv.parse(data, csv_layout)
    if not data.strip():
        raise UnreadableFile("the file is empty")
    raise UnreadableFile(
        "not EDIFACT (no UNA/UNB at the start), not X12 (no ISA at the start), "
        "and the partner has no CSV layout to read it with"
    )


def envelope_senders(data: bytes | mmap.mmap) -> list[tuple[str, str]]:
    """Who the envelopes say sent the bytes, read before anything is parsed or answered:
    ("ISA06", id) and ("GS02", id) for X12, ("UNB", id) for EDIFACT, in file order.

    The bytes are read a block at a time; only segments that can be envelopes are split."""
    standard = sniff(data)
    found: list[tuple[str, str]] = []
    if standard == "x12":
        head = bytes(data[:4096]).decode("latin-1")
        start = head.find("ISA")
        if start < 0 or len(data) < start + 106:
            return found
        element, terminator = head[start + 3], head[start + 105]
        for segment in _pieces(data, start, terminator, ("ISA", "GS")):
            fields = segment.strip().split(element)
            if fields[0] == "ISA" and len(fields) > 6:
                found.append(("ISA06", fields[6].strip()))
            elif fields[0] == "GS" and len(fields) > 2:
                found.append(("GS02", fields[2].strip()))
    elif standard == "edifact":
        head = bytes(data[:64]).decode("latin-1")
        start = head.find("UNA")
        chars = head[start + 3:start + 9] if 0 <= start < 16 else ""
        separators = edifact.Separators.from_una(chars.encode("latin-1")) if len(chars) == 6 else edifact.Separators()
        for segment in _pieces(data, 0, separators.terminator, ("UNB",)):
            fields = segment.strip().split(separators.element)
            if fields[0] == "UNB" and len(fields) > 2:
                found.append(("UNB", fields[2].split(separators.component)[0].strip()))
    return found


def _pieces(data: bytes | mmap.mmap, start: int, terminator: str, tags: tuple[str, ...]) -> Iterator[str]:
    """The text of data[start:] split at every `terminator` (as str.split would), keeping only
    the pieces that hold one of `tags`; read a block at a time, as ISO-8859-1."""
    carry = ""
    for offset in range(start, len(data), _BLOCK):
        text = carry + data[offset:offset + _BLOCK].decode("latin-1")
        edifact.release_pages(data, offset, _BLOCK)
        pieces = text.split(terminator)
        carry = pieces.pop()
        for piece in pieces:
            if any(tag in piece for tag in tags):
                yield piece
    yield carry
