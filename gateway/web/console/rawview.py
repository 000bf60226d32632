"""A file's bytes as segments for the message page: which belong to the message shown, which have findings.

Only splitting, for showing: the parsers in `gateway.formats` decide what the bytes mean. A file is
read a block at a time, and of a big one only the segments around the message are shown (a page of
a gigabyte's segments would help nobody and cost gigabytes); the rest is a download away.
"""

from __future__ import annotations

import codecs
import itertools
import mmap
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

from gateway.formats.edifact import release_pages

HEADERS, TRAILERS = ("UNH", "ST"), ("UNT", "SE")


@dataclass
class Segment:
    text: str
    ours: bool = False  # part of the message shown
    position: int | None = None  # 1-based in the message (UNH / ST = 1), as findings count
    findings: list[dict] = field(default_factory=list)
    number: int | None = None  # 1-based in the file; None: a note of segments left out, not a segment


BLOCK = 1 << 18  # bytes decoded and cut into segments at a time
HEAD = 20  # the file's first segments (its envelopes), always shown
AROUND = 100  # segments shown just before and just after the message; others are counted, not shown
LINES = 1000  # lines shown of a file without envelopes (CSV, XML)
LONGEST = 4096  # characters shown of a segment (or of what is not one: padding, junk)


def _text_blocks(data: bytes | mmap.mmap) -> Iterator[str]:
    """The file as text, a block at a time (a character cut between two blocks is carried over)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for at in range(0, len(data), BLOCK):
        text = decoder.decode(data[at:at + BLOCK], final=at + BLOCK >= len(data))
        release_pages(data, at, BLOCK)
        yield text


def _pieces(blocks: Iterator[str], piece: re.Pattern, lines: bool = False) -> Iterator[str]:
    """The pieces of the text `piece` cuts it into (what follows the last is one too): segments
    stripped, blank ones left out; or `lines` as they are, without their line breaks. A piece longer
    than LONGEST is shown cut, and is not held whole."""
    carried, cut = "", None  # cut: the start of an overlong piece, once it is over LONGEST
    for block in blocks:
        text, at = carried + block, 0
        end = len(text) - (lines and text.endswith("\r"))  # a CR may be the first half of a CRLF
        while found := piece.match(text, at, end):
            whole = found.group() if cut is None else cut + "…"
            cut, at = None, found.end()
            if lines:
                yield whole.rstrip("\r\n")
            elif whole.strip():
                yield whole.strip()
        carried = text[at:]
        if not lines and (carried.isspace() or not carried):
            carried = ""  # blank space between segments is not shown
        if len(carried) > LONGEST:  # not a segment: keep its start to show, and the end it may close on
            cut = cut or carried[:LONGEST]
            carried = carried[-2:]
    if cut is not None:
        yield cut + "…"
    elif lines and carried:
        yield carried.rstrip("\r\n")
    elif carried.strip():
        yield carried.strip()


def _split(data: bytes | mmap.mmap) -> tuple[Iterator[str], str, bool]:
    """The segments of an EDIFACT or X12 file (else its lines), the separator of their elements, and
    whether they are segments."""
    opening = data[:4096].decode("utf-8", errors="replace").lstrip()
    if opening.startswith("UNA") and len(opening) >= 9:
        terminator, separator, release = opening[8], opening[4], opening[6]
    elif opening.startswith("UNB"):
        terminator, separator, release = "'", "+", "?"
    elif opening.startswith("ISA") and len(opening) >= 106:
        terminator, separator, release = opening[105], opening[3], None
    else:
        return _pieces(_text_blocks(data), re.compile(r"[^\r\n]*(?:\r\n|\r|\n)"), lines=True), ",", False
    t = re.escape(terminator)
    # Possessive: a text with no terminator is read once, not once from each of its characters.
    piece = rf"(?:{re.escape(release)}.|[^{re.escape(release)}{t}])*+{t}" if release else rf"[^{t}]*+{t}"
    return _pieces(_text_blocks(data), re.compile(piece, re.S)), separator, True


def segments(data: bytes | mmap.mmap, message_position: int, findings: list[dict]) -> list[Segment]:
    """The segments of the file around its `message_position`-th message (0-based), those of the message
    marked with their findings.

    A small file is shown whole. Of a big one: its first HEAD segments, the AROUND before the message,
    the message, the AROUND after it, and where segments are left out how many; the file is read a
    block at a time, and no further than that.
    """
    texts, separator, enveloped = _split(data)
    if not enveloped:  # CSV or XML: no message envelopes, the whole file is the message
        shown = [Segment(text, ours=True, number=n) for n, text in enumerate(itertools.islice(texts, LINES), 1)]
        if next(texts, None) is not None:
            shown.append(Segment(f"… the lines after line {LINES} are not shown: download the file to read them"))
        return shown
    shown: list[Segment] = []
    waiting: deque[Segment] = deque(maxlen=AROUND)  # the segments just before the message, not shown yet
    left_out = after = 0
    seen, inside, position, past = -1, False, 0, False
    for number, text in enumerate(texts, 1):
        tag = text.split(separator, 1)[0].strip()
        segment = Segment(text, number=number)
        if tag in HEADERS:
            seen += 1
            inside, position = seen == message_position, 0
        if inside:
            position += 1
            segment.ours, segment.position = True, position
            segment.findings = [f for f in findings if f.get("position") == position]
        if tag in TRAILERS and inside:
            inside, past = False, True
            after = -1  # the trailer itself is the message's
        if segment.ours or past:
            if waiting or left_out:
                _flush(shown, waiting, left_out)
                left_out = 0
            if past and after >= AROUND:
                shown.append(Segment("… the segments after these are not shown: download the file to read them"))
                break
            after += past
            shown.append(segment)
        elif len(shown) < HEAD:
            shown.append(segment)
        else:
            left_out += len(waiting) == AROUND
            waiting.append(segment)
    _flush(shown, waiting, left_out)
    if seen < 0:  # no message envelopes: the file is the message
        for segment in shown:
            segment.ours = True
    return shown


def _flush(shown: list[Segment], waiting: deque[Segment], left_out: int) -> None:
    if left_out:
        shown.append(Segment(f"… {left_out} segments are not shown: download the file to read them"))
    shown.extend(waiting)
    waiting.clear()
