"""A file's bytes as segments for the message page: which belong to the message shown, which have findings.

Only splitting, for showing: the parsers in `gateway.formats` decide what the bytes mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEADERS, TRAILERS = ("UNH", "ST"), ("UNT", "SE")


@dataclass
class Segment:
    text: str
    ours: bool = False  # part of the message shown
    position: int | None = None  # 1-based in the message (UNH / ST = 1), as findings count
    findings: list[dict] = field(default_factory=list)


def _split(text: str) -> tuple[list[str], str]:
    """The segments of an EDIFACT or X12 file (else its lines) and the separator of their elements."""
    stripped = text.lstrip()
    if stripped.startswith("UNA") and len(stripped) >= 9:
        terminator, separator, release = stripped[8], stripped[4], stripped[6]
    elif stripped.startswith("UNB"):
        terminator, separator, release = "'", "+", "?"
    elif stripped.startswith("ISA") and len(stripped) >= 106:
        terminator, separator, release = stripped[105], stripped[3], None
    else:
        return text.splitlines(), ","
    parts, current, escaped = [], [], False
    for char in stripped:
        current.append(char)
        if escaped:
            escaped = False
        elif release and char == release:
            escaped = True
        elif char == terminator:
            parts.append("".join(current).strip())
            current = []
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return [part for part in parts if part], separator


def segments(data: bytes, message_position: int, findings: list[dict]) -> list[Segment]:
    """The file's segments, those of the `message_position`-th message (0-based) marked with their findings."""
    texts, separator = _split(data.decode("utf-8", errors="replace"))
    shown: list[Segment] = []
    seen, inside, position = -1, False, 0
    for text in texts:
        tag = text.split(separator, 1)[0].strip()
        segment = Segment(text)
        if tag in HEADERS:
            seen += 1
            inside, position = seen == message_position, 0
        if inside:
            position += 1
            segment.ours, segment.position = True, position
            segment.findings = [f for f in findings if f.get("position") == position]
        if tag in TRAILERS:
            inside = False
        shown.append(segment)
    if seen < 0:  # CSV or XML: no message envelopes, the whole file is the message
        for segment in shown:
            segment.ours = True
    return shown
