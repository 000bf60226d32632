"""Local file operations the gateway relies on to lose nothing: durable renames and free names.

Shared by the channels and the archive: a rename is only durable once its folder is synced,
and a name the gateway picks for a partner's file must never replace another file.
"""

from __future__ import annotations

import itertools
import mmap
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from loguru import logger


def fsync_folder(folder: Path) -> None:
    """Make the renames and creations in a folder durable (where the platform can open folders)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open folders; the rename is as durable as that platform makes it
    try:
        os.fsync(descriptor)
    except OSError as err:
        logger.debug("fsync of folder {folder} failed: {error}", folder=str(folder), error=err.strerror)
    finally:
        os.close(descriptor)


LEFTOVER_AGE_SECONDS = 3600
"""A temporary file of ours this old was left by a crash (a live copy takes seconds, even on shared storage)."""


def private_folder(folder: Path) -> Path:
    """Make `folder` (and its parents) if missing, readable by the gateway's user only (0700).

    Business data lives under it; an existing folder is tightened too, where we may.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
    except OSError as error:
        logger.warning("cannot make {folder} private (0700): {error}", folder=str(folder), error=error.strerror)
    return folder


def remove_leftovers(folder: Path, pattern: str) -> int:
    """Remove our temporary files matching `pattern` in `folder` that a crash left; returns how many."""
    removed = 0
    now = time.time()
    for path in folder.glob(pattern):
        try:
            if path.is_file() and not path.is_symlink() and now - path.stat().st_mtime > LEFTOVER_AGE_SECONDS:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        logger.info("removed {count} temporary file(s) left by a crash in {folder}", count=removed, folder=str(folder))
    return removed


def remove_quietly(path: Path) -> None:
    """Remove a temporary or reserved file of ours, if it is still there; other failures are logged."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        logger.warning("cannot remove {path}: {error}", path=str(path), error=error.strerror)


def split_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if dot > 0 else (name, "")


def candidate_names(name: str) -> Iterator[str]:
    """`name`, then `stem.<UTC time>.ext`, then `stem.<UTC time>-2.ext` … for a name that is taken."""
    yield name
    stem, suffix = split_suffix(name)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    yield f"{stem}.{stamp}{suffix}"
    for counter in itertools.count(2):
        yield f"{stem}.{stamp}-{counter}{suffix}"


@contextmanager
def mapped(stream: BinaryIO) -> Iterator[bytes | mmap.mmap]:
    """A file opened for reading as a read-only mmap (b"" when it is empty: an empty file cannot be mapped).

    What the parsers read: they take the pages they need a block at a time and give them back,
    so a file of a gigabyte costs no more memory than one of a megabyte.
    """
    if os.fstat(stream.fileno()).st_size == 0:
        yield b""
        return
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield view
