"""Opening the store: engine, SQLite pragmas, Alembic migrations, sessions, and the audit chain.

SQLite (WAL, one file under the state directory) is the default; a PostgreSQL URL works the
same. Every state change goes through `transition()`, which writes the audit event in the
same transaction as the change, chained by hash to the event before it when the transaction
commits; a batch of new rows and their events (the messages of a big file) go in with
`insert_rows()` and `record_events()`, one statement each, chained the same way.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from loguru import logger
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.files import private_folder
from gateway.store.models import AuditEvent, Exchange, Message, utcnow

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
GENESIS = "0" * 64
# Serialises writers of the audit chain on PostgreSQL (SQLite serialises all writers anyway).
AUDIT_LOCK_KEY = 0x6564_6967  # "edig"
AUDIT_PENDING = "audit events to chain at commit"
AUDIT_KEY = "audit chain key"
AUDIT_NEWEST = "audit chain newest event"
KEY_FILE_ENV = "EDIGW_AUDIT_KEY_FILE"
# The columns a row's seal covers: what the gateway decided (state, document, result) and what
# came (name, size, sha256 of the archived bytes). An edit of any of them in the store, without
# the audit key, shows in `audit verify`.
SEALED: dict[type, tuple[str, ...]] = {
    Exchange: ("direction", "partner", "channel", "original_name", "size", "sha256", "state", "reason"),
    Message: ("direction", "exchange_id", "position", "partner", "state", "reason", "document_type",
              "document_number", "document", "result"),
}


class Store:
    """The store of one gateway: call `session()` for a unit of work."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))
            private_folder(path.parent)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite's -wal and -shm take its mode
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.anchor: AuditAnchor | None = None
        self._deferred = threading.local()  # see one_anchor

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent).

        On PostgreSQL nodes starting together take turns (an advisory lock held by the migrating
        transaction): the first migrates, the others then find the schema up to date.
        """
        # Alembic is imported only to migrate: a store already at the head opens without it.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrations")})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            with session.begin():
                session.info[AUDIT_KEY] = self.anchor.key if self.anchor else None
                yield session
            newest = session.info.get(AUDIT_NEWEST)
            if newest is not None and self.anchor is not None:
                if getattr(self._deferred, "active", False):
                    held = self._deferred.newest
                    if held is None or newest.id > held.id:
                        self._deferred.newest = newest
                else:
                    self.anchor.advance(newest.id, newest.hash)

    @contextmanager
    def one_anchor(self) -> Iterator[None]:
        """The audit anchor moved once, when the block ends, for every transaction this thread
        commits in it (a file's intake, processing and acknowledgment are a dozen).

        Each move writes and syncs `audit-head.json`; an anchor a few transactions behind the
        chain is still a true one (`audit verify` finds the events after it, and any deletion
        below it), and a crash inside the block leaves it at the block's start, never ahead.
        """
        if self.anchor is None or getattr(self._deferred, "active", False):
            yield  # no anchor kept, or an enclosing block moves it
            return
        self._deferred.active, self._deferred.newest = True, None
        try:
            yield
        finally:
            newest = self._deferred.newest
            self._deferred.active, self._deferred.newest = False, None
            if newest is not None:
                self.anchor.advance(newest.id, newest.hash)

    def keep_anchor(self, state_dir: Path) -> None:
        """Key the audit chain and anchor its head in files of the state directory (see AuditAnchor)."""
        with self._sessions() as session:
            newest = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
        self.anchor = AuditAnchor.open(state_dir, newest)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this process may do the work called `name` now, none other at the same time.

        On PostgreSQL (several nodes, one store) it is a session advisory lock taken without
        waiting, on a connection of its own, held for the block: True when this node holds it,
        False when another does. On SQLite (one machine) it is always True.
        """
        with self._advisory(name, shared=False) as held:
            yield held

    @contextmanager
    def shared(self, name: str) -> Iterator[bool]:
        """Whether this process may do the work called `name` now beside others doing it too, while
        none holds it `exclusive`: the same lock, taken shared (PostgreSQL; always True on SQLite)."""
        with self._advisory(name, shared=True) as held:
            yield held

    @contextmanager
    def _advisory(self, name: str, shared: bool) -> Iterator[bool]:
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        key = lock_key(name)
        kind = "_shared" if shared else ""
        # No transaction around them: a session lock needs none, and each statement is one round trip.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            held = bool(connection.execute(text(f"SELECT pg_try_advisory_lock{kind}(:key)"), {"key": key}).scalar())
            try:
                yield held
            finally:
                if held:
                    connection.execute(text(f"SELECT pg_advisory_unlock{kind}(:key)"), {"key": key})

    @contextmanager
    def claim_received(self, limit: int, after: int = 0, partner: str | None = None) -> Iterator[list[int]]:
        """Up to `limit` received inbound exchanges (ids above `after`, oldest first) for this process to parse.

        On PostgreSQL the candidates are read with FOR UPDATE SKIP LOCKED, so nodes claiming at the
        same moment neither wait on nor pick the same rows, and each one kept is held, for the
        block, with the advisory lock `exclusive(f"exchange {id}")` takes, on a connection of its
        own: no other node processes it until the block ends or this process dies (the lock goes
        with its connection, so a crashed node's claims are free at once). On SQLite (one machine,
        one worker), simply the oldest.
        """
        query = select(Exchange.id).where(Exchange.state == "received", Exchange.direction == "in",
                                          Exchange.id > after).order_by(Exchange.id)
        if partner is not None:  # one partner's files (a daemon worker's turn)
            query = query.where(Exchange.partner == partner)
        if self.engine.dialect.name != "postgresql":
            with self._sessions() as session:
                found = list(session.scalars(query.limit(limit)))
            yield found
            return
        held: list[int] = []
        with self.engine.connect() as connection:
            try:
                # More candidates than asked for: some may be held by other nodes' claims. They are
                # tried in order, in one statement, until `limit` are held: the LIMIT stops the tries
                # (nothing may sort or count the rows first, or every candidate would be locked).
                candidates = list(connection.scalars(query.limit(limit * 8).with_for_update(skip_locked=True)))
                if candidates:
                    held = list(connection.scalars(text(
                        "SELECT id FROM unnest(CAST(:ids AS integer[]), CAST(:keys AS bigint[])) AS candidate(id, key) "
                        "WHERE pg_try_advisory_lock(key) LIMIT :limit"),
                        {"ids": candidates, "keys": [lock_key(f"exchange {id_}") for id_ in candidates],
                         "limit": limit}))
                connection.commit()  # the rows are free again; the advisory locks stay with the connection
                yield held
            finally:
                connection.rollback()
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"),
                                       {"keys": [lock_key(f"exchange {id_}") for id_ in held]})
                connection.commit()

    def revision(self) -> str | None:
        """The store's schema revision (Alembic's `alembic_version`), None for a store never migrated."""
        with self.engine.connect() as connection:
            if not self.engine.dialect.has_table(connection, "alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def close(self) -> None:
        self.engine.dispose()


def lock_key(name: str) -> int:
    """The advisory lock number of a named piece of work (a signed 64-bit int, as PostgreSQL wants)."""
    return int.from_bytes(hashlib.sha256(f"edigw {name}".encode()).digest()[:8], "big", signed=True)



def head_revision() -> str:
    """The newest migration shipped with this edigw, read from the migration files' `revision`
    and `down_revision` lines (the one no other migration names as its parent); reading them
    this way spares every command Alembic's import, and tests/test_store.py checks it against
    Alembic's own answer."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
        parent = re.search(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
        if revision:
            revisions.add(revision.group(1))
        if parent:
            parents.add(parent.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the store's migrations have {len(heads)} heads ({', '.join(sorted(heads))}), not one")
    return heads.pop()


class StoreNeedsUpgrade(Exception):
    """The store was made by an older edigw: its schema must be upgraded before use."""


def open_store(url: str, upgrade: bool = False) -> Store:
    """Open the store. A new, empty store is created at the newest schema; an older one is
    upgraded only when `upgrade` is asked (`edigw db upgrade`, `edigw run --upgrade`), never
    silently, so that an operator backs it up first."""
    store = Store(url)
    current = store.revision()
    if current == head_revision():
        return store
    if current is None or upgrade:
        store.migrate()
        return store
    store.close()
    raise StoreNeedsUpgrade(
        f"the store {_safe_url(url)} is at schema revision {current}; this edigw needs {head_revision()}: "
        "back it up (edigw backup DEST), then run `edigw db upgrade` (or start with `edigw run --upgrade`)")


def _safe_url(url: str) -> str:
    """A store URL without its password, fit for a message."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    # Take the write lock at the start, so two processes never both read then fail to write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- the audit chain -------------------------------------------------------------------------


class AuditAnchor:
    """The audit chain's key and the record of its head, both kept outside the store.

    `audit.key` (0600, made at first start; `EDIGW_AUDIT_KEY_FILE` names another, e.g. one
    shared by every node) keys each event's hash (HMAC-SHA256), so whoever can edit the store
    but not read the key cannot recompute the hashes after an edit. `audit-head.json` holds the
    newest event this machine wrote, so deleting the newest events shows, and the first keyed
    event: the events of an earlier version before it carry plain SHA-256 hashes.
    """

    def __init__(self, key: bytes, head_file: Path, keyed_from: int, head_id: int, head_hash: str,
                 sealed_from: int | None = None) -> None:
        self.key = key
        self.head_file = head_file
        self.keyed_from = keyed_from
        self.head_id = head_id
        self.head_hash = head_hash
        # Rows whose newest event is this one or later must carry a seal (earlier versions made none).
        self.sealed_from = keyed_from if sealed_from is None else sealed_from
        self._advancing = threading.Lock()  # the daemon's workers commit side by side

    @classmethod
    def open(cls, state_dir: Path, newest_event: int) -> "AuditAnchor":
        key_file = Path(os.environ.get(KEY_FILE_ENV) or state_dir / "audit.key")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it a moment ago
            else:
                with os.fdopen(descriptor, "w") as writer:
                    writer.write(secrets.token_hex(32))
        key = bytes.fromhex(key_file.read_text().strip())
        head_file = state_dir / "audit-head.json"
        try:
            head = json.loads(head_file.read_text())
        except FileNotFoundError:
            head = {"keyed_from": newest_event + 1, "id": 0, "hash": GENESIS, "sealed_from": newest_event + 1}
            state_dir.mkdir(parents=True, exist_ok=True)  # not made for the key when EDIGW_AUDIT_KEY_FILE names it
            _write_head(head_file, head)
        if "sealed_from" not in head:  # anchored by a version that did not seal rows yet
            head["sealed_from"] = newest_event + 1
            _write_head(head_file, head)
        return cls(key, head_file, head["keyed_from"], head["id"], head["hash"], head["sealed_from"])

    def advance(self, event_id: int, event_hash: str) -> None:
        """Record a newer head. When the file cannot be written (a full disk), the anchor stays at
        the head written before, which is still a true one (see Store.one_anchor): the work that
        committed goes on, and a later commit writes the head again."""
        with self._advancing:
            if event_id <= self.head_id:
                return  # another process or thread of this machine wrote a newer one
            try:
                _write_head(self.head_file, {"keyed_from": self.keyed_from, "id": event_id, "hash": event_hash,
                                             "sealed_from": self.sealed_from})
            except OSError as error:
                logger.error("the audit anchor {} could not be moved to event {} ({}): it stays at event {} "
                             "until a later commit can write it", self.head_file, event_id, error.strerror or error,
                             self.head_id)
                return
            self.head_id, self.head_hash = event_id, event_hash


def _write_head(path: Path, head: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as writer:
            json.dump(head, writer)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


NO_ROOM_RETRY_SECONDS = 60  # after a full disk stopped the work: when it is tried again


class NoRoom(Exception):
    """The archive's or the store's disk (or the database server) had no room for the work: it was
    left where it was (a file claimed, an exchange received) and is tried again later, not held."""


def out_of_room(error: BaseException | None) -> str | None:
    """Why `error` (or what caused it) is a disk, a quota or a database server with no room left,
    or None when it is anything else.

    Such an error is not the file's fault nor a bug: the work it stopped is left where it was and
    tried again later, instead of being held for support. Looked for: ENOSPC and EDQUOT from any
    write (the archive, a spool, SQLite's journal), SQLite's SQLITE_FULL and SQLITE_IOERR_SHMSIZE
    (what opening a WAL store on a full disk says), and PostgreSQL's class 53 (insufficient
    resources: disk full, out of memory, too many connections).
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"{error.strerror}" + (f" ({error.filename})" if error.filename else "")
        code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
        if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:  # extended codes keep the primary in the low byte
            return f"the store's disk is full (SQLite: {error})"
        if code == sqlite3.SQLITE_IOERR_SHMSIZE:  # opening a WAL store: its -shm file could not be made or grown
            return f"the store's disk has no room for SQLite's shared-memory file (SQLite: {error})"
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("53"):
            return f"the store's database server is out of resources (PostgreSQL {sqlstate}: {error})"
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return None


# What json.dumps(..., ensure_ascii=False, separators=(",", ":"), default=str) writes: what an
# event's hash and a row's seal are taken over.
_COMPACT_ANY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_QUOTED = json.encoder.encode_basestring  # a JSON string as that encoder writes it (C, when there)


def _compact(values: list) -> str:
    """`_COMPACT_ANY.encode(values)` for a list of texts, whole numbers and None, written directly:
    an event's hash and a row's seal are computed for every message of a big file, and the
    encoder's set-up per call costs more than the writing. Anything else goes to the encoder."""
    parts = []
    for value in values:
        kind = type(value)
        if kind is str:
            parts.append(_QUOTED(value))
        elif value is None:
            parts.append("null")
        elif kind is int:
            parts.append(int.__repr__(value))
        else:
            return _COMPACT_ANY.encode(values)
    return f"[{','.join(parts)}]"


def _event_digest(prev_hash: str, subject: str, subject_id: int, from_state: str | None,
                  to_state: str, actor: str, reason: str | None, at: str, key: bytes | None = None) -> str:
    payload = _compact([prev_hash, subject, subject_id, from_state, to_state, actor, reason, at]).encode("utf-8")
    return hmac.digest(key, payload, "sha256").hex() if key else hashlib.sha256(payload).hexdigest()


def record_event(session: Session, subject: str, subject_id: int, from_state: str | None,
                 to_state: str, actor: str, reason: str | None = None) -> None:
    """Append one audit event, chained to the newest one when the transaction commits.

    The event is kept in the session until then (see `_chain_pending`); events added in one
    transaction are chained and inserted in the order they were added.
    """
    session.info.setdefault(AUDIT_PENDING, []).append(
        (subject, subject_id, from_state, to_state, actor, reason, utcnow()))


class Event(NamedTuple):
    """One state change to record with others (`record_events`): the columns of an audit event but its chain.

    A tuple: a big file's messages record three each, and `record_events` keeps them as they are."""

    subject: str
    subject_id: int
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None = None


@dataclass(frozen=True)
class Newest:
    """The newest event a transaction wrote, for the anchor."""

    id: int
    hash: str


def record_events(session: Session, events: list[Event]) -> None:
    """Append many audit events at once (a batch of messages), recorded at one moment.

    They are chained exactly as `record_event` chains them, so `audit verify` reads them the
    same; they follow the events added before them in this transaction.
    """
    at = (utcnow(),)
    session.info.setdefault(AUDIT_PENDING, []).extend(item + at for item in events)


# Built once: they run in every transaction that records an event.
_AUDIT_LOCK = text(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})")
_CHAIN_HEAD = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)


@event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    """Chain and insert the transaction's audit events, as the last thing before it commits.

    The chain's head is read under a lock (PostgreSQL: an advisory lock held to the commit;
    SQLite: the write lock the transaction took at BEGIN), so the lock is held only for this
    insert and the commit, not while the transaction does its work: nodes sharing a store
    wait on each other that little. The events' ids follow the chain's order.
    """
    pending = session.info.pop(AUDIT_PENDING, None)
    if not pending:
        return
    session.flush()  # the transaction's own rows before the lock is taken
    if session.bind.dialect.name == "postgresql":
        session.execute(_AUDIT_LOCK)
    prev_hash = session.scalar(_CHAIN_HEAD) or GENESIS
    key = session.info.get(AUDIT_KEY)
    rows = []
    at, stamp = None, ""
    for subject, subject_id, from_state, to_state, actor, reason, when in pending:
        if when is not at:
            at, stamp = when, when.isoformat()
        digest = _event_digest(prev_hash, subject, subject_id, from_state, to_state, actor, reason, stamp, key)
        rows.append({"subject": subject, "subject_id": subject_id, "from_state": from_state,
                     "to_state": to_state, "actor": actor, "reason": reason, "at": when,
                     "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    ids = _insert_with_ids(session, AuditEvent.__table__, rows)
    session.info[AUDIT_NEWEST] = Newest(ids[-1], prev_hash)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """Events of a transaction rolled back were never recorded."""
    session.info.pop(AUDIT_PENDING, None)
    session.info.pop(AUDIT_NEWEST, None)


def insert_rows(session: Session, model: type, rows: list[dict], returning_ids: bool = False) -> list[int]:
    """Insert many rows of one table at once (no ORM objects), in the order given; their ids when asked.

    Exchanges and messages are sealed here as `_seal_rows` seals those written through the ORM.
    Every row names the same columns; the others take their defaults.
    """
    key = session.info.get(AUDIT_KEY)
    if key and model in SEALED:
        for row in rows:
            row["seal"] = _seal(model, [row.get(name) for name in SEALED[model]], key)
    if returning_ids:
        return _insert_with_ids(session, model.__table__, rows)
    session.execute(insert(model.__table__), rows)
    return []


def _insert_with_ids(session: Session, table, rows: list[dict]) -> list[int]:
    """Insert rows and return their ids, in the order given.

    PostgreSQL returns them from the insert (RETURNING, a thousand rows a statement). SQLite
    would run such an insert a row at a time; there the rows go in one executemany, and as the
    transaction holds the database's write lock from BEGIN, each took the id after the newest.
    """
    if session.bind.dialect.name != "sqlite":
        return list(session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    _sqlite_insert(session, table, rows)
    newest = session.scalar(select(func.max(table.c.id)))
    return list(range(newest - len(rows) + 1, newest + 1))


def _sqlite_insert(session: Session, table, rows: list[dict]) -> None:
    """One executemany of rows that name the same columns, their values converted as SQLAlchemy
    converts them (datetimes to text), the columns they leave out given their defaults.

    SQLAlchemy's own executemany converts every value of every row through the statement's
    parameters; here only the values that need it are, which halves storing a big file's
    messages and their audit events."""
    names = tuple(rows[0])
    sql, converters, defaults = _sqlite_statement(session.bind.dialect, table, names)
    filled = tuple(default() for default in defaults)
    params = []
    for row in rows:
        values = [row[name] for name in names]
        for index, convert in converters:
            values[index] = convert(values[index])
        params.append((*values, *filled))
    session.connection().exec_driver_sql(sql, params)


@functools.cache
def _sqlite_statement(dialect, table, names: tuple[str, ...]) -> tuple[str, tuple, tuple]:
    """The insert for rows naming `names` (built once per table and set of columns): its SQL, the
    (position, converter) of the values SQLAlchemy converts for SQLite, and for each column left
    out that has a default, what gives its value (called once per statement)."""
    left_out = [column for column in table.columns
                if column.name not in names and column.default is not None and not column.primary_key]
    converters = tuple((index, convert) for index, name in enumerate(names)
                       if (convert := _converter(dialect, table.c[name])) is not None)
    quote = dialect.identifier_preparer.quote
    columns = [*names, *(column.name for column in left_out)]
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    return sql, converters, tuple(_default_of(dialect, column) for column in left_out)


def _converter(dialect, column):
    """How SQLAlchemy converts a column's values for SQLite (its dialect's type), or None."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _default_of(dialect, column):
    """What gives a left-out column's default as SQLite takes it: a function of no arguments."""
    default, convert = column.default, _converter(dialect, column) or (lambda value: value)
    if default.is_callable:
        return lambda: convert(default.arg(None))  # SQLAlchemy's wrapper takes an execution context
    if not default.is_scalar:
        raise ValueError(f"column {column.name} has a default this insert cannot give")
    value = convert(default.arg)
    return lambda: value


def seal_of(row: Exchange | Message, key: bytes) -> str:
    """The HMAC of a row's protected columns (SEALED) under the audit chain's key."""
    return _seal(type(row), [getattr(row, name) for name in SEALED[type(row)]], key)


def _seal(model: type, values: list, key: bytes) -> str:
    payload = _compact([model.__tablename__] + values).encode("utf-8")
    return hmac.digest(key, payload, "sha256").hex()


@event.listens_for(Session, "before_flush")
def _seal_rows(session: Session, _context, _instances) -> None:
    """Every exchange and message written through a store session is sealed as it is flushed."""
    key = session.info.get(AUDIT_KEY)
    if not key:
        return
    for row in list(session.new) + list(session.dirty):
        if type(row) in SEALED:
            row.seal = seal_of(row, key)


def transition(session: Session, row: Exchange | Message, to_state: str, actor: str,
               reason: str | None = None) -> None:
    """Move an exchange or message to a new state and record why, in the same transaction."""
    subject = "exchange" if isinstance(row, Exchange) else "message"
    from_state = row.state
    row.state = to_state
    row.reason = reason
    if row.id is None:
        session.flush()
    record_event(session, subject, row.id, from_state, to_state, actor, reason)


def clip_to_columns(row: object, names: tuple[str, ...]) -> list[str]:
    """Cut the named values longer than their columns to fit; says which, in words, for a reason.

    PostgreSQL refuses a value longer than its column where SQLite keeps it: cutting it here
    (and rejecting the message that carried it, see the pipeline) makes both stores agree.
    """
    values = {name: getattr(row, name) for name in names}
    problems = clip_values(type(row), values, names)
    for name in names:
        if values[name] is not getattr(row, name):
            setattr(row, name, values[name])
    return problems


def clip_values(model: type, values: dict, names: tuple[str, ...]) -> list[str]:
    """`clip_to_columns` for the values of a row not made yet (a dict, changed in place)."""
    problems = []
    for name, length in _lengths(model, names):
        value = values.get(name)
        if isinstance(value, str) and length and len(value) > length:
            problems.append(f"{name} is {len(value)} characters, over the {length} the gateway keeps "
                            f"({value[:40]!r}…)")
            values[name] = value[:length]
    return problems


@functools.cache
def _lengths(model: type, names: tuple[str, ...]) -> tuple[tuple[str, int | None], ...]:
    """The columns' lengths (None: unbounded), looked up once: a big file clips every message's values."""
    columns = model.__table__.columns
    return tuple((name, getattr(columns[name].type, "length", None)) for name in names)


def verify_rows(session: Session, anchor: AuditAnchor) -> tuple[int, list[tuple[str, int, str]]]:
    """Check every exchange and message against its seal and its audit trail: (rows checked, problems).

    A row's state must be the state its newest audit event moved it to, and its seal must match
    its protected columns (SEALED); a row whose newest event predates sealing may be unsealed.
    """
    problems: list[tuple[str, int, str]] = []
    count = 0
    for model, subject in ((Exchange, "exchange"), (Message, "message")):
        newest = (select(AuditEvent.subject_id, func.max(AuditEvent.id).label("event_id"))
                  .where(AuditEvent.subject == subject).group_by(AuditEvent.subject_id).subquery())
        query = (select(model, AuditEvent.id, AuditEvent.to_state)
                 .outerjoin(newest, newest.c.subject_id == model.id)
                 .outerjoin(AuditEvent, AuditEvent.id == newest.c.event_id).order_by(model.id))
        for row, event_id, to_state in session.execute(query).yield_per(1000):
            count += 1
            if event_id is None:
                problems.append((subject, row.id, "has no audit event (its events were deleted, or it was inserted "
                                                  "outside the gateway)"))
                continue
            if row.state != to_state:
                problems.append((subject, row.id, f"is {row.state!r} but its audit trail ends in {to_state!r} "
                                                  f"(event {event_id}): its state was changed outside the gateway"))
            if row.seal is None:
                if event_id >= anchor.sealed_from:
                    problems.append((subject, row.id, "has no seal: it was written outside the gateway"))
            elif not hmac.compare_digest(row.seal, seal_of(row, anchor.key)):
                changed = "sha256, size, name or state" if model is Exchange else "state, document or result"
                problems.append((subject, row.id, f"does not match its seal: its {changed} was changed outside "
                                                  "the gateway"))
    return count, problems


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str


def verify_chain(session: Session, anchor: AuditAnchor | None = None) -> tuple[int, list[ChainProblem]]:
    """Walk the audit trail and recompute every hash; returns (events checked, problems).

    With an anchor, events from its `keyed_from` on must carry the keyed hash, and the newest
    event this machine recorded (its head file) must still be there, unchanged.
    """
    problems: list[ChainProblem] = []
    prev_hash = GENESIS
    count = 0
    head_seen = anchor is None or anchor.head_id == 0
    for audit in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if audit.prev_hash != prev_hash:
            problems.append(ChainProblem(audit.id, "does not follow the event before it (an event was removed or reordered)"))
        content = (audit.prev_hash, audit.subject, audit.subject_id, audit.from_state, audit.to_state, audit.actor,
                   audit.reason, audit.at.isoformat())
        expected = {_event_digest(*content, anchor.key)} if anchor else set()
        if anchor is None or audit.id < anchor.keyed_from:
            expected.add(_event_digest(*content))  # recorded before the chain was keyed
        if audit.hash not in expected:
            problems.append(ChainProblem(audit.id, "its content does not match its hash (the row was changed)"))
        if anchor is not None and audit.id == anchor.head_id:
            head_seen = True
            if audit.hash != anchor.head_hash:
                problems.append(ChainProblem(audit.id, f"is not the event recorded as the chain's head in "
                                                       f"{anchor.head_file}"))
        prev_hash = audit.hash
    if not head_seen:
        problems.append(ChainProblem(anchor.head_id, f"is missing: {anchor.head_file} records it as the newest event "
                                                     "(the newest events were deleted)"))
    return count, problems
