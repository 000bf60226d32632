"""The folder channel: a local or mounted folder partners drop files into, watched with watchdog.

A file is claimed only once it is complete: at once when the watch saw it closed after writing
or renamed into the inbox (watchdog's close-write and move events) and it has not changed since;
otherwise once it has settled (its size and modification time unchanged for `settle_seconds`),
so a file still growing waits. It is claimed by renaming it to `<name>.processing` in the same
folder: the rename is
atomic, so of two scanners on one inbox exactly one gets each file. Settled files go to
processed/ (or are deleted), unreadable ones to failed/ with a reason file; names there are
never overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Literal

from loguru import logger
from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MOVED,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from gateway.channels.base import (
    CLAIM_FOLDER,
    CLAIM_SUFFIX,
    MAX_NAME_BYTES,
    REASON_SUFFIX,
    Channel,
    ChannelError,
    ClaimedFile,
    base_name,
    blocks,
    is_inbound_name,
    safe_file_name,
)
from gateway.files import candidate_names, fsync_folder, remove_leftovers, remove_quietly

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

# Extra wait after the settle time before watch() calls back again, so the rescan it prompts
# finds the file settled rather than just short of it.
_SETTLE_MARGIN = 0.1


@dataclass(frozen=True)
class _Sighting:
    """What a scan saw of one file, and since when (monotonic clock) it has looked like this."""

    size: int
    mtime_ns: int
    since: float


class FolderChannel(Channel):
    """A watched inbox (and optionally an outbox) for one partner; see the module text."""

    def __init__(
        self,
        name: str,
        inbox: Path,
        processed_dir: Path | None = None,
        failed_dir: Path | None = None,
        after: Literal["move", "delete"] = "move",
        settle_seconds: float = 1.0,
        patterns: Iterable[str] = ("*",),
        max_size: int | None = None,
        outbox: Path | None = None,
    ) -> None:
        if after not in ("move", "delete"):
            raise ValueError(f"channel {name}: after must be 'move' or 'delete', not {after!r}")
        if settle_seconds < 0:
            raise ValueError(f"channel {name}: settle_seconds must not be negative, not {settle_seconds!r}")
        self.name = name
        self.inbox = Path(inbox)
        self.processed_dir = Path(processed_dir) if processed_dir is not None else self.inbox / "processed"
        self.failed_dir = Path(failed_dir) if failed_dir is not None else self.inbox / "failed"
        self.after = after
        self.settle_seconds = float(settle_seconds)
        self.patterns = tuple(patterns)
        self.max_size = max_size
        self.outbox = Path(outbox) if outbox is not None else None
        self._seen: dict[str, _Sighting] = {}
        # Names the watch saw closed after writing or renamed in: (size, mtime_ns) then, and when.
        self._complete: dict[str, tuple[int, int, float]] = {}
        self._refused: list[tuple[str, str]] = []
        self._reported: set[str] = set()  # names refused or warned about once in this process
        self._lock = threading.RLock()  # scans refuse entries while holding it
        self._log = logger.bind(channel=name)

    def __repr__(self) -> str:
        return f"FolderChannel(name={self.name!r}, inbox={str(self.inbox)!r})"

    # inbound

    def recover(self) -> Iterator[ClaimedFile]:
        """Every `*.processing` file in the inbox, oldest first: claimed before a crash, never settled.

        Only one process may work an inbox while recover() runs (the daemon's channel lock):
        another scanner's claim in hand looks exactly like a crashed one.
        """
        found = []
        for entry in self._entries():
            name = entry.name
            original = name[: -len(CLAIM_SUFFIX)]
            if not name.endswith(CLAIM_SUFFIX) or not original or original.startswith("."):
                continue
            status = self._regular_stat(entry)
            if status is not None:
                found.append((status.st_mtime_ns, str(self.inbox / name), original, status))
        for entry in self._claim_folder_entries():
            status = self._regular_stat(entry)
            if status is not None:
                found.append((status.st_mtime_ns, entry.path, entry.name, status))
        for _, path, original, status in sorted(found):
            claimed = self._claimed(Path(path), original, status)
            self._log.info("recovered {file!r} ({size} bytes), claimed earlier and not recorded then "
                           "(a restart or a full disk)", file=original, size=claimed.size)
            yield claimed

    def scan(self) -> Iterator[ClaimedFile]:
        """Settled inbound files, oldest first, each claimed just before it is handed out."""
        for name in self._settled_names():
            claimed = self._claim(name)
            if claimed is not None:
                yield claimed

    def refusals(self) -> list[tuple[str, str]]:
        with self._lock:
            refused, self._refused = self._refused, []
        return refused

    def _refuse(self, name: str, reason: str) -> None:
        """Report `name` once (to the log and, through `refusals`, to the store)."""
        with self._lock:
            if name in self._reported:
                return
            self._reported.add(name)
            self._refused.append((name, reason))
        self._log.warning("{file!r} cannot be taken: {reason}", file=name, reason=reason)

    def _set_aside(self, entry: os.DirEntry[str], reason: str) -> None:
        """Move a symlink or special file (the entry itself, never what it points to) to failed/."""
        try:
            self.failed_dir.mkdir(parents=True, exist_ok=True)
            destination = _reserve_name(self.failed_dir, base_name(entry.name))
            os.replace(entry.path, destination)
            _write_atomically(destination.with_name(destination.name + REASON_SUFFIX),
                              f"reason: {reason}\nfile: {entry.name}\nchannel: {self.name}\n".encode(
                                  "utf-8", "backslashreplace"))
        except (OSError, ChannelError) as err:
            reason += f"; it could not be moved to {self.failed_dir}: {err}"
        self._refuse(entry.name, reason)

    def _claim_folder_entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.inbox / CLAIM_FOLDER) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []  # nothing was claimed there (a file of that name makes long names unclaimable: refused)
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot list {self.inbox / CLAIM_FOLDER}: {err.strerror}") from err

    def waiting(self) -> bool:
        """Whether inbound files are in the inbox that a later scan will hand out (still settling)."""
        return any(
            is_inbound_name(entry.name, self.patterns) and self._regular_stat(entry) is not None
            for entry in self._entries()
        )

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        """The claimed file for reading; refuses to follow a symlink swapped in after the claim."""
        try:
            descriptor = os.open(claimed.path, _OPEN_FLAGS)
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot read {claimed.path}: {err.strerror}") from err
        return os.fdopen(descriptor, "rb")

    def still_written(self, claimed: ClaimedFile, stream: BinaryIO, size_read: int) -> str | None:
        """Whether the file changed since its claim, or another process still has it open for writing.

        A partner's tool that pauses longer than the settle time keeps writing to the same file
        after we renamed it: what we read would be cut short. Its size and modification time
        must still be those seen at the claim and the size read; on Linux a read lease (which
        the kernel grants only while nobody has the file open for writing) is tried as well.
        """
        status = os.fstat(stream.fileno())
        if status.st_size != size_read or status.st_size != claimed.size or status.st_mtime != claimed.mtime:
            return (f"it changed while it was read ({claimed.size} bytes at the claim, {size_read} read, "
                    f"{status.st_size} now)")
        if _open_for_writing(stream.fileno()):
            return "another program still has it open for writing"
        return None

    def put_back(self, claimed: ClaimedFile) -> None:
        """Rename the claim back to the partner's name; it must then settle again before a later scan takes it."""
        original = self.inbox / claimed.original_name
        if os.path.lexists(original):
            return  # the partner wrote a new file of that name meanwhile; this claim is recovered at restart
        try:
            os.rename(claimed.path, original)
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot put {claimed.path} back: {err.strerror}") from err
        with self._lock:
            status = os.lstat(original)
            self._seen[claimed.original_name] = _Sighting(status.st_size, status.st_mtime_ns, time.monotonic())
        self._log.warning("{file!r} was still being written; put back, taken again whole once it settles",
                          file=claimed.original_name)

    def done(self, claimed: ClaimedFile) -> Path | None:
        """Archived and recorded: move the file to processed/ under its own name (or delete it)."""
        if self.after == "delete":
            try:
                os.unlink(claimed.path)
            except OSError as err:
                raise ChannelError(f"channel {self.name}: cannot delete {claimed.path}: {err.strerror}") from err
            self._log.info("deleted {file!r} after intake", file=claimed.original_name)
            return None
        destination = self._move_aside(claimed, self.processed_dir)
        self._log.info("moved {file!r} to {destination}", file=claimed.original_name, destination=str(destination))
        return destination

    def fail(self, claimed: ClaimedFile, reason: str) -> Path:
        """Move the file to failed/ and write `<name>.reason.txt` beside it."""
        destination = self._move_aside(claimed, self.failed_dir)
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = (
            f"reason: {reason}\n"
            f"file: {claimed.original_name}\n"
            f"channel: {self.name}\n"
            f"size: {claimed.size} bytes\n"
            f"failed at: {when}\n"
        )
        reason_path = destination.with_name(destination.name + REASON_SUFFIX)
        _write_atomically(reason_path, text.encode("utf-8", "backslashreplace"))
        self._log.warning("failed {file!r}, moved to {destination}: {reason}", file=claimed.original_name,
                          destination=str(destination), reason=reason)
        return destination

    def watch(self, callback: Callable[[], None]) -> BaseObserver:
        """A started watchdog observer calling `callback()` (from its thread) on inbox file events.

        It calls back at once on an event, and once more `settle_seconds` after the last event,
        when a file that was still being written may have settled. The callback should be
        quick (set an Event, wake a worker); an exception from it is logged, not raised.
        """
        self._require_inbox()
        handler = _InboxEvents(self, callback)
        observer = _InboxObserver(handler)
        observer.schedule(handler, str(self.inbox), recursive=False)
        observer.start()
        self._log.debug("watching {inbox}", inbox=str(self.inbox))
        return observer

    # outbound

    def clean_leftovers(self) -> None:
        """Remove the temporary files a crash left while writing to the outbox (or failed/)."""
        for folder in (self.outbox, self.processed_dir, self.failed_dir):
            if folder is not None and folder.is_dir():
                remove_leftovers(folder, ".*.tmp")  # written beside the file by earlier versions
                remove_leftovers(folder / TEMPORARY_FOLDER, "*.tmp")

    def send(self, name: str, data: bytes | BinaryIO) -> Path:
        """Write `data` (bytes, or a binary file copied a block at a time) to the outbox as `name`:
        a hidden temporary file, fsync, then a rename.

        Partners never see a half-written file. An existing file of that name (not yet picked
        up) is never overwritten: ChannelError.
        """
        safe_file_name(name)
        if self.outbox is None:
            raise ChannelError(f"channel {self.name}: has no outbox to send {name} to")
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / name
        if os.path.lexists(target):
            raise ChannelError(f"channel {self.name}: {target} exists and has not been picked up; not overwritten")
        size = _write_atomically(target, data)
        self._log.info("sent {file!r} ({size} bytes) to {outbox}", file=name, size=size, outbox=str(self.outbox))
        return target

    # the parts

    def _require_inbox(self) -> None:
        if not self.inbox.is_dir():
            raise ChannelError(f"channel {self.name}: inbox {self.inbox} does not exist or is not a folder")

    def _entries(self) -> list[os.DirEntry[str]]:
        self._require_inbox()
        try:
            with os.scandir(self.inbox) as entries:
                return list(entries)
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot list inbox {self.inbox}: {err.strerror}") from err

    @staticmethod
    def _regular_stat(entry: os.DirEntry[str]) -> os.stat_result | None:
        """The entry's own status if it is a regular file; symlinks and folders are never ours."""
        try:
            status = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None
        return status if stat.S_ISREG(status.st_mode) else None

    def _settled_names(self) -> list[str]:
        """Inbound names whose size and mtime have stood still for the settle time, oldest first."""
        with self._lock:
            wall, now = time.time(), time.monotonic()
            seen: dict[str, _Sighting] = {}
            settled = []
            for entry in self._entries():
                if not is_inbound_name(entry.name, self.patterns):
                    if entry.name.startswith(".") and entry.name != CLAIM_FOLDER and entry.name not in self._reported:
                        # A partner's tool may be writing it under a hidden name: said once, never moved.
                        self._reported.add(entry.name)
                        self._log.warning("{file!r} is a hidden file: not taken (partners' tools write under "
                                          "hidden names; rename it if it is meant for us)", file=entry.name)
                    continue
                status = self._regular_stat(entry)
                if status is None:
                    kind = _kind(entry)
                    if kind is not None:
                        self._set_aside(entry, f"a {kind}, not a regular file: never read, moved to failed/")
                    continue
                if self._complete.get(entry.name, ())[:2] == (status.st_size, status.st_mtime_ns):
                    settled.append((status.st_mtime_ns, entry.name))  # closed or renamed in, unchanged since
                    continue
                previous = self._seen.get(entry.name)
                unchanged = previous is not None and (previous.size, previous.mtime_ns) == (
                    status.st_size,
                    status.st_mtime_ns,
                )
                if unchanged:
                    seen[entry.name] = previous
                    stable = now - previous.since >= self.settle_seconds
                else:
                    seen[entry.name] = _Sighting(status.st_size, status.st_mtime_ns, now)
                    stable = False
                # A file seen for the first time, or unchanged since, counts as settled when its
                # mtime is old enough; one that changed between scans waits a full settle time.
                old_enough = wall - status.st_mtime >= self.settle_seconds
                if (previous is None or unchanged) and (old_enough or stable):
                    settled.append((status.st_mtime_ns, entry.name))
                else:
                    self._log.debug("{file!r} not settled yet ({size} bytes)", file=entry.name, size=status.st_size)
            self._seen = seen
            present = {name for _, name in settled} | set(seen)
            self._complete = {name: mark for name, mark in self._complete.items() if name in present or mark[2] >= now}
            return [name for _, name in sorted(settled)]

    def mark_complete(self, name: str) -> None:
        """The watch saw `name` closed after writing, or renamed into the inbox: the next scan takes
        it without waiting for it to settle, unless its size or mtime change before then."""
        try:
            status = os.lstat(self.inbox / name)
        except OSError:
            return
        if stat.S_ISREG(status.st_mode):
            with self._lock:
                self._complete[name] = (status.st_size, status.st_mtime_ns, time.monotonic())

    def _claim(self, name: str) -> ClaimedFile | None:
        """Rename `name` to `name.processing`; None when another scanner got there first."""
        source = self.inbox / name
        target = self.inbox / (name + CLAIM_SUFFIX)
        if len(target.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            target = self.inbox / CLAIM_FOLDER / name  # the name itself always fits
            try:
                target.parent.mkdir(exist_ok=True)
            except OSError as err:
                self._refuse(name, f"cannot be claimed: cannot make {target.parent}: {err.strerror}")
                return None
        with self._lock:
            self._seen.pop(name, None)
            self._complete.pop(name, None)
        if os.path.lexists(target):
            # An earlier file of the same name is still in hand; renaming would replace it.
            self._log.debug("{file!r} waits: an earlier file of that name is still being processed", file=name)
            return None
        try:
            os.rename(source, target)
        except FileNotFoundError:
            self._log.debug("{file!r} was claimed by another scanner", file=name)
            return None
        except OSError as err:
            if not os.access(self.inbox, os.W_OK):
                raise ChannelError(
                    f"channel {self.name}: cannot claim {source} (rename to {target.name}): {err.strerror}; "
                    "the gateway needs write access to the inbox"
                ) from err
            self._refuse(name, f"cannot be claimed (rename to {target.name}): {err.strerror}; the rest of the "
                               "inbox goes on")
            return None
        try:
            status = os.lstat(target)
        except FileNotFoundError:
            self._log.debug("{file!r} vanished right after its claim", file=name)
            return None
        claimed = self._claimed(target, name, status)
        if not stat.S_ISREG(status.st_mode):
            # Swapped for a symlink or special file between the scan and the rename.
            self.fail(claimed, "not a regular file (a symlink or special file replaced it while it was claimed)")
            return None
        self._log.info("claimed {file!r} ({size} bytes)", file=name, size=claimed.size)
        if self.max_size is not None and claimed.size > self.max_size:
            self._log.warning("{file!r} is {size} bytes, over the limit of {limit}", file=name, size=claimed.size,
                              limit=self.max_size)
        return claimed

    def _claimed(self, path: Path, original: str, status: os.stat_result) -> ClaimedFile:
        return ClaimedFile(path=path, original_name=original, size=status.st_size, channel=self.name,
                           mtime=status.st_mtime)

    def _move_aside(self, claimed: ClaimedFile, folder: Path) -> Path:
        """Move a claimed file into `folder` under its original base name, never overwriting.

        A hard link takes the name atomically (it fails if the name is taken) and the claim is
        unlinked after it, so a crash in between leaves both names on one file: the next try
        sees the same file under the name and only removes the claim. Where links cannot be
        made (another file system), the name is reserved and the bytes copied.
        """
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot write to {folder}: {err.strerror}") from err
        for candidate in candidate_names(base_name(claimed.original_name)):
            destination = folder / candidate
            try:
                os.link(claimed.path, destination, follow_symlinks=False)
            except FileExistsError:
                if _same_file(claimed.path, destination):
                    break
                continue
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise ChannelError(
                        f"channel {self.name}: cannot move {claimed.path} to {folder}: {err.strerror}"
                    ) from err
                destination = self._reserve_and_copy(claimed, folder)
                return destination
            break
        fsync_folder(folder)
        try:
            os.unlink(claimed.path)
        except FileNotFoundError:
            pass
        return destination

    def _reserve_and_copy(self, claimed: ClaimedFile, folder: Path) -> Path:
        try:
            destination = _reserve_name(folder, base_name(claimed.original_name))
        except OSError as err:
            raise ChannelError(f"channel {self.name}: cannot write to {folder}: {err.strerror}") from err
        self._copy_across(claimed.path, destination)
        return destination

    def _copy_across(self, source: Path, destination: Path) -> None:
        """Move between file systems: copy to a hidden temporary name, fsync, rename, then unlink."""
        temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(source, "rb") as reader, open(temporary, "xb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
                writer.flush()
                os.fsync(writer.fileno())
            shutil.copystat(source, temporary)
            os.replace(temporary, destination)
            os.unlink(source)
        except OSError as err:
            remove_quietly(temporary)
            raise ChannelError(f"channel {self.name}: cannot move {source} to {destination}: {err.strerror}") from err


class _InboxEvents(FileSystemEventHandler):
    """Turns watchdog events about inbound candidates into callbacks, plus one after they settle."""

    def __init__(self, channel: FolderChannel, callback: Callable[[], None]) -> None:
        self._channel = channel
        self._callback = callback
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE, EVENT_TYPE_DELETED):
            return
        path = event.dest_path if event.event_type == EVENT_TYPE_MOVED else event.src_path
        name = os.path.basename(os.fsdecode(path))
        if not is_inbound_name(name, self._channel.patterns) or os.path.dirname(os.fsdecode(path)) != str(
                self._channel.inbox):
            return
        if event.event_type in (EVENT_TYPE_CLOSED, EVENT_TYPE_MOVED):
            # Closed after writing, or renamed in whole: taken at once if it does not change.
            self._channel.mark_complete(name)
            self._notify()
            return
        self._notify()
        self._rearm()

    def _rearm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._stopped:
                return
            self._timer = threading.Timer(self._channel.settle_seconds + _SETTLE_MARGIN, self._notify)
            self._timer.daemon = True
            self._timer.start()

    def _notify(self) -> None:
        if self._stopped:
            return
        try:
            self._callback()
        except Exception:
            logger.bind(channel=self._channel.name).exception("the inbox watch callback failed")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()


class _InboxObserver(Observer):  # type: ignore[misc, valid-type]
    """A watchdog observer that also silences its handler's pending settle callback on stop()."""

    def __init__(self, handler: _InboxEvents) -> None:
        try:  # a file renamed in from outside the inbox is a move event too, not a creation
            super().__init__(generate_full_events=True)
        except TypeError:  # observers other than inotify's
            super().__init__()
        self._handler = handler

    def stop(self) -> None:
        self._handler.stop()
        super().stop()


def _reserve_name(folder: Path, name: str) -> Path:
    """Create an empty `folder/name` (or `stem.<UTC time>[-n].ext` when taken) and return it.

    Creating the file exclusively reserves the name, so two movers never pick the same one;
    the caller then renames the real file over its own reservation.
    """
    for candidate in candidate_names(name):
        try:
            descriptor = os.open(folder / candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.close(descriptor)
        return folder / candidate
    raise AssertionError("unreachable: _candidate_names never ends")


def _kind(entry: os.DirEntry[str]) -> str | None:
    """What a non-regular inbox entry is, in words; None for folders (processed/, failed/ …)."""
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return None


def _open_for_writing(descriptor: int) -> bool:
    """True when the kernel refuses a read lease because the file is open for writing elsewhere.

    Where leases cannot be had (not Linux, not the file's owner, a network file system) this
    says False and the size and time comparison stands alone.
    """
    lease = getattr(fcntl, "F_SETLEASE", None)
    if lease is None:
        return False
    try:
        fcntl.fcntl(descriptor, lease, fcntl.F_RDLCK)
    except OSError as err:
        return err.errno in (errno.EAGAIN, errno.EBUSY)
    fcntl.fcntl(descriptor, lease, fcntl.F_UNLCK)
    return False


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


COPY_BLOCK = 1024 * 1024
"""How much of an outbound file is read and written at a time."""

TEMPORARY_FOLDER = ".edigw-tmp"
"""Beside the files we write: their temporary copies, in a folder partners' pickers do not list."""


def _write_atomically(target: Path, data: bytes | BinaryIO) -> int:
    """Write `target` through a temporary file in `.edigw-tmp/` beside it: fsync, rename, fsync folder;
    returns its size. A binary file is copied a block at a time.

    The folder is removed again once empty, so a partner listing the outbox (hidden files too)
    sees only whole files; another writer that finds it gone makes it again.
    """
    folder = target.parent / TEMPORARY_FOLDER
    temporary = folder / f"{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        for attempt in range(3):
            folder.mkdir(exist_ok=True)
            try:
                writer = open(temporary, "xb")
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        with writer:
            for block in blocks(data, COPY_BLOCK):
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
            size = writer.tell()
        os.replace(temporary, target)
    except OSError as err:
        remove_quietly(temporary)
        raise ChannelError(f"cannot write {target}: {err.strerror}") from err
    try:
        folder.rmdir()
    except OSError:
        pass  # another write is under way in it
    fsync_folder(target.parent)
    return size


