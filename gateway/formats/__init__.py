"""Bytes → interchanges and message trees, for EDIFACT, X12 and CSV; the standard is sniffed.

`formats` knows syntax, not business meaning: `parse()` yields the events of
`gateway.formats.model` whatever the standard, so the pipeline never looks at separators.
"""

from __future__ import annotations

from typing import Any

from gateway.formats import edifact, x12
from gateway.formats.model import Events, UnreadableFile
from gateway.formats.validation import DEFAULT_OPTIONS, Options

SNIFFERS = (("edifact", edifact.sniff), ("x12", x12.sniff))


def sniff(data: bytes) -> str | None:
    """'edifact' or 'x12' when the bytes start like one; None otherwise (maybe a CSV)."""
    head = data[:4096]
    for standard, looks_like in SNIFFERS:
        if looks_like(head):
            return standard
    return None


def parse(data: bytes, *, csv_layout: Any = None, expected_sender: str | None = None,
          options: Options = DEFAULT_OPTIONS) -> tuple[str, Events]:
    """The standard of the bytes and the events of their parse.

    EDIFACT and X12 are recognised by their envelopes; anything else is read as CSV when a
    CSV layout is given (the partner's template says it), and is unreadable otherwise.
    """
    standard = sniff(data)
    if standard == "edifact":
        return standard, edifact.parse(data, expected_sender=expected_sender, options=options)
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


def envelope_senders(data: bytes) -> list[tuple[str, str]]:
    """Who the envelopes say sent the bytes, read before anything is parsed or answered:
    ("ISA06", id) and ("GS02", id) for X12, ("UNB", id) for EDIFACT, in file order."""
    text = data.decode("latin-1")
    standard = sniff(data)
    found: list[tuple[str, str]] = []
    if standard == "x12":
        start = text.find("ISA")
        if start < 0 or len(text) < start + 106:
            return found
        element, terminator = text[start + 3], text[start + 105]
        for segment in text[start:].split(terminator):
            fields = segment.strip().split(element)
            if fields[0] == "ISA" and len(fields) > 6:
                found.append(("ISA06", fields[6].strip()))
            elif fields[0] == "GS" and len(fields) > 2:
                found.append(("GS02", fields[2].strip()))
    elif standard == "edifact":
        start = text.find("UNA")
        chars = text[start + 3:start + 9] if 0 <= start < 16 else ""
        separators = edifact.Separators.from_una(chars.encode("latin-1")) if len(chars) == 6 else edifact.Separators()
        for segment in text.split(separators.terminator):
            fields = segment.strip().split(separators.element)
            if fields[0] == "UNB" and len(fields) > 2:
                found.append(("UNB", fields[2].split(separators.component)[0].strip()))
    return found
