"""The archive: raw bytes of every exchange, content-addressed by sha256 and fsync'd.

A file is stored under `<dir>/<aa>/<bb>/<sha256>`; the same bytes are stored once. Nothing
acknowledges or removes a partner's file before `put_stream` has returned.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from gateway.files import fsync_folder, private_folder, remove_leftovers

CHUNK = 1024 * 1024


class Archive:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_folder(directory)
        remove_leftovers(directory, ".incoming-*")

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.directory / sha256[:2] / sha256[2:4] / sha256

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Copy a stream into the archive in chunks; returns (sha256, size) once it is on disk."""
        sha256, size, _ = self.put_limited(stream, None)
        return sha256, size

    def put_limited(self, stream: BinaryIO, limit: int | None) -> tuple[str, int, bool]:
        """Like `put_stream`, but reads at most `limit` bytes: (sha256, size read, whether that was all).

        A stream longer than the limit has its first `limit` bytes archived and named by their
        sha256; the rest is never read (a 2 GiB file does not grow the archive by 2 GiB).
        """
        digest = hashlib.sha256()
        size = 0
        complete = True
        handle, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as temp:
                while chunk := stream.read(CHUNK if limit is None else min(CHUNK, limit + 1 - size)):
                    if limit is not None and size + len(chunk) > limit:
                        chunk = chunk[:limit - size]
                        complete = False
                    digest.update(chunk)
                    temp.write(chunk)
                    size += len(chunk)
                    if not complete:
                        break
                temp.flush()
                os.fsync(temp.fileno())
            target = self.path(digest.hexdigest())
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.unlink(temp_name)
            else:
                os.replace(temp_name, target)
                fsync_folder(target.parent)
        except BaseException:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
            raise
        return digest.hexdigest(), size, complete

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return self.put_stream(io.BytesIO(data))

    def read(self, sha256: str) -> bytes:
        """The archived bytes, checked against their sha256 (ArchiveMismatch when they differ)."""
        data = self._file(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArchiveMismatch(self._mismatch(sha256))
        return data

    @contextmanager
    def view(self, sha256: str) -> Iterator[bytes | mmap.mmap]:
        """The archived bytes as a read-only mmap (b"" when empty), checked against their sha256 first.

        Nothing is read into memory up front: a parser reads the pages it needs (and may give
        them back), so a file of a gigabyte costs no more memory than one of a megabyte.
        """
        problem = self.check(sha256)
        if problem:
            raise ArchiveMismatch(problem)
        with self._file(sha256).open("rb") as stream:
            if os.fstat(stream.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
                yield view

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The archived bytes in chunks, checked whole against their sha256 before the first is given."""
        problem = self.check(sha256)
        if problem:
            raise ArchiveMismatch(problem)
        return self._chunks(sha256)

    def check(self, sha256: str) -> str | None:
        """Why the archived bytes of `sha256` cannot be trusted (missing, changed), or None when they can."""
        digest = hashlib.sha256()
        try:
            for chunk in self._chunks(sha256):
                digest.update(chunk)
        except ArchiveMismatch as missing:
            return str(missing)
        return None if digest.hexdigest() == sha256 else self._mismatch(sha256)

    def _file(self, sha256: str) -> Path:
        path = self.path(sha256)
        if not path.is_file():
            raise ArchiveMismatch(f"the archived file {path} is missing")
        return path

    def _chunks(self, sha256: str) -> Iterator[bytes]:
        with self._file(sha256).open("rb") as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def _mismatch(self, sha256: str) -> str:
        return (f"the archived file {self.path(sha256)} does not match its sha256: its bytes were changed "
                "after they were archived; refusing to use them")


class ArchiveMismatch(LookupError):
    """Archived bytes that are missing or no longer hash to the sha256 they were stored under."""

