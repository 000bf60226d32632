"""The archive: raw bytes of every exchange, content-addressed by sha256 and durable.

By default a folder: a file is stored under `<dir>/<aa>/<bb>/<sha256>`, fsync'd. With
`[archive] url` (a database, normally the PostgreSQL store itself) the bytes are rows of 1 MiB
chunks (`StoreArchive`), so nodes on different machines share one archive with no shared
file system. Either way the same bytes are stored once, and nothing acknowledges or removes a
partner's file before `put_stream` has returned.
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

from gateway.files import fsync_folder, mapped, private_folder, remove_leftovers

CHUNK = 1024 * 1024


class Archive:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_folder(directory)
        remove_leftovers(directory, ".incoming-*")

    def path(self, sha256: str) -> Path:
        check_name(sha256)
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
        handle, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as temp:
                digest, size, complete = copy_limited(stream, limit, temp)
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

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def remove(self, sha256: str) -> None:
        """Forget the bytes of `sha256` (retention, once no row names them)."""
        self.path(sha256).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        """The archived bytes, checked against their sha256 (ArchiveMismatch when they differ)."""
        data = self._file(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArchiveMismatch(self._mismatch(sha256))
        return data

    @contextmanager
    def open(self, sha256: str) -> Iterator[BinaryIO]:
        """The archived bytes as a binary file opened for reading, checked against their sha256 first:
        what is sent to a partner is read from it a block at a time, never whole."""
        problem = self.check(sha256)
        if problem:
            raise ArchiveMismatch(problem)
        with self._file(sha256).open("rb") as stream:
            yield stream

    @contextmanager
    def view(self, sha256: str) -> Iterator[bytes | mmap.mmap]:
        """The archived bytes as a read-only mmap (b"" when empty), checked against their sha256 first.

        Nothing is read into memory up front: a parser reads the pages it needs (and may give
        them back), so a file of a gigabyte costs no more memory than one of a megabyte.
        """
        with self.open(sha256) as stream, mapped(stream) as view:
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


def copy_limited(stream: BinaryIO, limit: int | None, sink: BinaryIO) -> tuple["hashlib._Hash", int, bool]:
    """Copy at most `limit` bytes of `stream` to `sink` in chunks: (their sha256, their size, whether that was all)."""
    digest = hashlib.sha256()
    size = 0
    complete = True
    while chunk := stream.read(CHUNK if limit is None else min(CHUNK, limit + 1 - size)):
        if limit is not None and size + len(chunk) > limit:
            chunk = chunk[:limit - size]
            complete = False
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
        if not complete:
            break
    return digest, size, complete


def check_name(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return sha256


class StoreArchive(Archive):
    """The archive as rows of a database (`[archive] url`): `archive_files` names each sha256 once,
    `archive_chunks` holds its bytes in chunks of 1 MiB, written in one transaction.

    Pointed at the PostgreSQL store, several nodes on several machines share it with the store;
    two nodes archiving the same bytes at once store them once (the second finds the row).
    The bytes are spooled (in memory up to a few MiB, then a temporary file) while their sha256
    is computed, then written; a file is read back chunk by chunk, never whole, by `chunks`.
    """

    def __init__(self, url: str, engine=None) -> None:
        from sqlalchemy import create_engine, text

        from gateway.store.models import ArchiveChunk, ArchiveFile

        self.url = url
        self.engine = engine if engine is not None else create_engine(url, future=True)
        with self.engine.begin() as connection:  # a database of its own: made here (the store's: migration 0007)
            if self.engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('edigw archive tables'))"))
            for table in (ArchiveFile.__table__, ArchiveChunk.__table__):
                table.create(connection, checkfirst=True)
        self._files, self._chunks_table = ArchiveFile.__table__, ArchiveChunk.__table__

    def __repr__(self) -> str:
        return f"StoreArchive({self.engine.url.render_as_string(hide_password=True)!r})"

    def path(self, sha256: str) -> Path:
        raise TypeError("the archive is in a database ([archive] url): its files have no path")

    def put_limited(self, stream: BinaryIO, limit: int | None) -> tuple[str, int, bool]:
        from sqlalchemy import select

        from gateway.store.models import utcnow

        with tempfile.SpooledTemporaryFile(max_size=4 * CHUNK) as spool:
            digest, size, complete = copy_limited(stream, limit, spool)
            sha256 = digest.hexdigest()
            spool.seek(0)
            row = {"sha256": sha256, "size": size, "stored_at": utcnow()}
            with self.engine.begin() as connection:
                if self.engine.dialect.name == "postgresql":
                    # Two nodes archiving the same bytes at once: the second waits for the first's
                    # commit, then inserts nothing (and writes no chunk).
                    fresh = connection.scalar(self._insert_once().values(**row).returning(self._files.c.sha256)) is not None
                else:
                    fresh = connection.scalar(select(self._files.c.size).where(self._files.c.sha256 == sha256)) is None
                    if fresh:
                        connection.execute(self._files.insert().values(**row))
                for seq, chunk in enumerate(_pieces(spool) if fresh else ()):
                    connection.execute(self._chunks_table.insert().values(sha256=sha256, seq=seq, data=chunk))
        return sha256, size, complete

    def _insert_once(self):
        from sqlalchemy.dialects.postgresql import insert

        return insert(self._files).on_conflict_do_nothing(index_elements=["sha256"])

    def read(self, sha256: str) -> bytes:
        data = b"".join(self._chunks(sha256))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArchiveMismatch(self._mismatch(sha256))
        return data

    @contextmanager
    def open(self, sha256: str) -> Iterator[BinaryIO]:
        """The chunks spooled (in memory up to a chunk, then into a temporary file), hashed on the
        way, and given from its start: a big file costs no more memory than in the folder archive."""
        digest = hashlib.sha256()
        with tempfile.SpooledTemporaryFile(max_size=CHUNK, prefix="edigw-view-") as spool:
            for chunk in self._chunks(sha256):
                digest.update(chunk)
                spool.write(chunk)
            if digest.hexdigest() != sha256:
                raise ArchiveMismatch(self._mismatch(sha256))
            spool.seek(0)
            yield spool

    @contextmanager
    def view(self, sha256: str) -> Iterator[bytes | mmap.mmap]:
        """A file of up to a chunk as its bytes (no temporary file); a bigger one mapped from its spool."""
        with self.open(sha256) as stream:
            head = stream.read(CHUNK + 1)
            if len(head) <= CHUNK:
                yield head
                return
            stream.seek(0)
            with mapped(stream) as view:
                yield view

    def exists(self, sha256: str) -> bool:
        from sqlalchemy import select

        with self.engine.connect() as connection:
            return connection.scalar(select(self._files.c.size).where(self._files.c.sha256 == check_name(sha256))) \
                is not None

    def remove(self, sha256: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(self._chunks_table.delete().where(self._chunks_table.c.sha256 == check_name(sha256)))
            connection.execute(self._files.delete().where(self._files.c.sha256 == sha256))

    def _chunks(self, sha256: str) -> Iterator[bytes]:
        """The chunks in order, one query each: a big file is never held whole.

        Every chunk but the last is CHUNK bytes (`_pieces`), so a shorter one ends the file: a
        small file is one query. (A chunk shortened in the database ends it early, and the
        sha256 its readers check then differs.) Archived bytes never change, so the queries need
        no transaction around them.
        """
        from sqlalchemy import select

        check_name(sha256)
        seq = 0
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            while True:
                data = connection.scalar(select(self._chunks_table.c.data).where(
                    self._chunks_table.c.sha256 == sha256, self._chunks_table.c.seq == seq))
                if data is None:
                    if seq == 0:
                        raise ArchiveMismatch(f"the archived file {sha256} is missing from the archive in the "
                                              "database")
                    return
                yield bytes(data)
                if len(data) < CHUNK:
                    return
                seq += 1

    def _mismatch(self, sha256: str) -> str:
        return (f"the archived file {sha256} in the database does not match its sha256: its bytes were changed "
                "after they were archived; refusing to use them")


def _pieces(stream: BinaryIO) -> Iterator[bytes]:
    """A stream's bytes in chunks of CHUNK; one empty chunk for an empty stream (its row says it is there)."""
    chunk = stream.read(CHUNK)
    yield chunk
    while chunk := stream.read(CHUNK):
        yield chunk


def open_archive(settings) -> Archive:
    """The archive `[archive]` names: a database (`url`), or the folder (`dir`, the default)."""
    if settings.archive_url:
        return StoreArchive(settings.archive_url)
    return Archive(settings.archive_dir)

