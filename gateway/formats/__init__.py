"""Bytes → interchanges and message trees, for EDIFACT, X12 and CSV; the standard is sniffed.

`formats` knows syntax, not business meaning: `parse()` yields the events of
`gateway.formats.model` whatever the standard, so the pipeline never looks at separators.
"""

from __future__ import annotations

import mmap
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


def parse(data: bytes | mmap.mmap, *, csv_layout: Any = None, expected_sender: str | None = None,
          options: Options = DEFAULT_OPTIONS) -> tuple[str, Events]:
    """The standard of the bytes and the events of their parse.

    EDIFACT and X12 are recognised by their envelopes; anything else is read as CSV when a
    CSV layout is given (the partner's template says it), and is unreadable otherwise.
    """
    standard = sniff(data)
    if standard == "edifact":  # each standard reads an mmap a chunk at a time
        return standard, edifact.parse(data, expected_sender=expected_sender, options=options)
    if standard == "x12":
        return standard, x12.parse(data, expected_sender=expected_sender, options=options)
    from gateway.formats import csv

    if csv_layout is not None:
        return "csv", csv.parse(data, csv_layout)
    if csv.blank(data):
        raise UnreadableFile("the file is empty")
    raise UnreadableFile(
        "not EDIFACT (no UNA/UNB at the start), not X12 (no ISA at the start), "
        "and the partner has no CSV layout to read it with"
    )
