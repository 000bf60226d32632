"""What every channel (folder, SFTP) offers the pipeline: find files, claim them, hand them out, settle them, send.

A channel knows how files travel, nothing of what they contain: no parsing, no store, no
archive. The pipeline drives it in this order for every inbound file::

    for claimed in channel.recover(): ...   # claimed before a crash, handed out again
    for claimed in channel.scan(): ...      # settled files, each claimed before anyone reads it
        with channel.open(claimed) as stream: ...   # archive the bytes
        channel.done(claimed)   # or channel.fail(claimed, reason)

File names come from partners and are never trusted as paths: `safe_file_name` is the one
gate for names we write, and names we move are reduced to their last component.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, Protocol

CLAIM_SUFFIX = ".processing"
"""A claimed file is renamed to `<name>.processing` before it is read."""

CLAIM_FOLDER = ".processing"
"""Where a file is claimed whose `<name>.processing` would be longer than a file name may be."""

REASON_SUFFIX = ".reason.txt"
"""Written beside a file moved to failed/, saying why."""

# Names partners' tools (scp, WinSCP, FileZilla, rsync, editors) use while a file is still being
# written, and the names the gateway itself leaves in the inbox.
IGNORED_SUFFIXES = (".tmp", ".part", ".filepart", CLAIM_SUFFIX, REASON_SUFFIX)

MAX_NAME_BYTES = 255


@dataclass(frozen=True)
class ClaimedFile:
    """A file a channel has claimed: no other scanner will hand it out while it is in hand."""

    path: Path
    """Where the claimed bytes are on this machine (`<name>.processing`, or a spool file)."""
    original_name: str
    """The partner's file name, as it arrived (a name, never a path)."""
    size: int
    """Bytes, at claim time; the pipeline compares it with the profile's size limit."""
    channel: str
    """The name of the channel that claimed it."""
    mtime: float
    """Modification time at claim time, seconds since the epoch."""


class ChannelError(OSError):
    """A channel could not do what was asked (read, move, write); the message says what and where.

    It is an OSError so that one `except OSError` around a channel call also covers errors
    raised while reading the stream `open()` returned.
    """


class UnsafeFileName(ValueError):
    """A file name that could reach outside its folder, or is not a plain file name at all."""


class Stoppable(Protocol):
    """What `Channel.watch` returns: a running watcher (a watchdog observer for folders)."""

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


def safe_file_name(name: str) -> str:
    """`name` itself when it is a plain file name we may write, else UnsafeFileName says why.

    Refused: empty, `.` and `..`, path separators of any platform, NUL and other control
    characters, a leading dot (hidden, and ignored by partners' pickers), over 255 bytes.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeFileName(f"file name {name!r} is empty")
    if name in (".", ".."):
        raise UnsafeFileName(f"file name {name!r} is not a file name")
    if "/" in name or "\\" in name:
        raise UnsafeFileName(f"file name {name!r} contains a path separator")
    if ".." in name:
        raise UnsafeFileName(f"file name {name!r} contains '..'")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise UnsafeFileName(f"file name {name!r} contains NUL or a control character")
    if name.startswith("."):
        raise UnsafeFileName(f"file name {name!r} starts with a dot (a hidden file partners never pick up)")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise UnsafeFileName(f"file name {name[:40]!r}… is longer than {MAX_NAME_BYTES} bytes")
    return name


def base_name(name: str) -> str:
    """The last component of a partner's file name, whatever separators it uses; never empty."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    return last if last not in ("", ".", "..") else "unnamed"


def blocks(data: bytes | BinaryIO, size: int) -> Iterator[bytes | memoryview]:
    """What a channel sends, `size` bytes at a time: slices of bytes, or reads of a binary file."""
    if isinstance(data, (bytes, bytearray)):
        view = memoryview(data)
        for start in range(0, len(view), size):
            yield view[start:start + size]
        return
    while block := data.read(size):
        yield block


def is_inbound_name(name: str, patterns: Iterable[str] = ("*",)) -> bool:
    """Whether a file called `name` is one to claim: not hidden, not in transit, matching a pattern.

    Suffixes and patterns compare without regard to case: partners on Windows send `ORDERS.EDI`
    to a profile that says `*.edi`.
    """
    folded = name.casefold()
    if not name or name.startswith(".") or folded.endswith(IGNORED_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


class Channel(ABC):
    """One way files travel to and from one partner; see the module text for the calling order."""

    name: str

    @abstractmethod
    def recover(self) -> Iterator[ClaimedFile]:
        """Files this channel claimed before a crash and never settled: handed out again."""

    @abstractmethod
    def scan(self) -> Iterator[ClaimedFile]:
        """Settled files, each claimed (atomically, exclusively) just before it is handed out."""

    @abstractmethod
    def open(self, claimed: ClaimedFile) -> BinaryIO:
        """The claimed bytes as a binary stream, to be read in chunks and closed by the caller."""

    @abstractmethod
    def done(self, claimed: ClaimedFile) -> PurePath | None:
        """Called once the file is archived and recorded: move it aside (returns where) or delete it."""

    @abstractmethod
    def fail(self, claimed: ClaimedFile, reason: str) -> PurePath:
        """The file cannot be read: move it to failed/ with a reason file beside it; returns where."""

    @abstractmethod
    def send(self, name: str, data: bytes | BinaryIO) -> PurePath:
        """Write an outbound file atomically under `name` (checked by `safe_file_name`); returns where.

        `data` is the bytes, or a binary file opened for reading (an archived file of many
        megabytes): read from where it stands to its end, a block at a time (`blocks`), never whole.
        """

    def still_written(self, claimed: ClaimedFile, stream: BinaryIO, size_read: int) -> str | None:
        """Why the bytes just read from `stream` may not be the whole file (a partner is still
        writing it), or None. Asked when the stream reached its end, before anything is recorded."""
        return None

    def put_back(self, claimed: ClaimedFile) -> None:
        """Undo a claim whose file was still being written: a later scan takes it again, whole."""

    def watch(self, callback: Callable[[], None]) -> Stoppable | None:
        """Call `callback()` soon after files arrive; None when this channel can only be polled."""
        return None

    def refusals(self) -> list[tuple[str, str]]:
        """Entries found since the last call that cannot be taken, each once: (name, reason).

        The pipeline records each as a rejected exchange, so nothing in an inbox is silent.
        """
        return []
