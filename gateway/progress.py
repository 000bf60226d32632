"""Progress on a terminal while `edigw run --once` works through a big file.

Only when standard error is a terminal, and only for a file that takes more than a second: one
line, rewritten in place, with the messages done, about how many the file holds (its message
headers counted, a fast scan of the bytes), the share done and the rate; a last line when the
file is finished. Logs and pipes never see it.
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterator, TextIO

from gateway.formats.model import Message

SHOW_AFTER = 1.0  # seconds: a file done sooner shows nothing
EVERY = 0.5  # seconds between two updates of the line


def messages_in(data: Any) -> int | None:
    """About how many messages an EDIFACT or X12 file holds (UNH or ST headers), None for others."""
    head = bytes(data[:256]).lstrip()
    if head.startswith(b"ISA") and len(head) > 105:
        tag, separator, terminator = b"ST", head[3:4], head[105:106]  # ISA is fixed width: ISA16, then the terminator
    elif head.startswith(b"UNA") and len(head) > 8:
        tag, separator, terminator = b"UNH", head[4:5], head[8:9]
    elif head.startswith(b"UNB"):
        tag, separator, terminator = b"UNH", b"+", b"'"
    else:
        return None
    # a header is a segment of its own: at the start, or after a segment terminator (and line breaks)
    header = re.compile(rb"(?:^|[" + re.escape(terminator) + rb"\r\n])[\r\n \t]*" + tag + re.escape(separator))
    return sum(1 for _ in header.finditer(data))


class Progress:
    """Wraps a file's parse events and draws the progress line on `stream`."""

    def __init__(self, stream: TextIO, clock=time.monotonic) -> None:
        self.stream = stream
        self.clock = clock

    def follow(self, events: Iterator, data: Any, label: str) -> Iterator:
        total = messages_in(data)
        start = last = self.clock()
        done = 0
        shown = False
        for event in events:
            yield event
            if not isinstance(event, Message):
                continue
            done += 1
            now = self.clock()
            if now - start >= SHOW_AFTER and now - last >= EVERY:
                self._draw(label, done, total, now - start)
                last, shown = now, True
        if shown:
            self._draw(label, done, total, self.clock() - start, final=True)

    def _draw(self, label: str, done: int, total: int | None, seconds: float, final: bool = False) -> None:
        rate = done / seconds if seconds > 0 else 0.0
        if final:
            text = f"{label}: {done:,} messages in {seconds:.1f} s ({rate:,.0f}/s)"
        elif total:
            text = f"{label}: {done:,} of about {total:,} messages ({min(done / total, 1):.0%}), {rate:,.0f}/s"
        else:
            text = f"{label}: {done:,} messages, {rate:,.0f}/s"
        self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        self.stream.flush()
