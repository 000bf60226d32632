"""The store: migrations, the archive, the audit chain; on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from gateway.store.archive import Archive
from gateway.store.db import (GENESIS, Event, head_revision, insert_rows, open_store, record_event, record_events,
                              seal_of, transition, verify_chain)
from gateway.store.models import AuditEvent, Base, Exchange, Message
from conftest import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'edigw.db'}")
        yield store
        store.close()
        return
    with postgres_database() as url:
        store = open_store(url)
        yield store
        store.close()


def test_migrations_create_exactly_the_tables_the_models_describe(store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(inspect(connection).get_table_names())
    assert differences == []
    assert {"exchanges", "interchanges", "messages", "audit_events", "alembic_version"} <= tables


def test_migrating_twice_changes_nothing(store):
    store.migrate()
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


@pytest.mark.parametrize("table", ["messages", "interchanges"])
def test_an_exchanges_messages_and_interchanges_are_found_through_the_unique_exchange_and_position_index(
        store, table):
    """exchange_id leads the unique (exchange_id, position) index, which serves a look-up by
    exchange_id alone; an index on exchange_id by itself would only cost every insert."""
    postgresql = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as connection:
        alone = [index["name"] for index in inspect(connection).get_indexes(table)
                 if index["column_names"] == ["exchange_id"]]
        if postgresql:
            connection.exec_driver_sql("SET enable_seqscan = off")  # the empty table would be scanned
        explain = "EXPLAIN" if postgresql else "EXPLAIN QUERY PLAN"
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
            f"{explain} SELECT * FROM {table} WHERE exchange_id = 7"))
    assert alone == []
    unique = f"{table}_exchange_id_position_key" if postgresql else f"sqlite_autoindex_{table}_1"
    assert f"{unique} " in plan and "exchange_id" in plan, plan


def test_sqlite_store_runs_in_wal_mode(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'edigw.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def _exchange(session, name="a.edi") -> Exchange:
    exchange = Exchange(partner="acme", channel="acme/inbox", direction="in", original_name=name,
                        size=3, sha256="0" * 64, state="received")
    session.add(exchange)
    session.flush()
    return exchange


def test_every_transition_is_an_audit_event_chained_to_the_one_before(store):
    with store.session() as session:
        exchange = _exchange(session)
        record_event(session, "exchange", exchange.id, None, "received", "test")
        transition(session, exchange, "processed", "test", "all messages recorded")
    with store.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.from_state, e.to_state) for e in events] == [(None, "received"), ("received", "processed")]
        assert events[1].prev_hash == events[0].hash
        assert verify_chain(session) == (2, [])


def test_a_changed_audit_event_breaks_the_chain(store):
    with store.session() as session:
        exchange = _exchange(session)
        record_event(session, "exchange", exchange.id, None, "received", "test")
        transition(session, exchange, "rejected", "test", "bad file")
    with store.session() as session:
        session.execute(text("UPDATE audit_events SET reason = 'fine file' WHERE to_state = 'rejected'"))
    with store.session() as session:
        count, problems = verify_chain(session)
    assert count == 2
    assert [p.reason for p in problems] == ["its content does not match its hash (the row was changed)"]


# Texts a partner's file can put into a reason: quotes, backslashes, line breaks, control
# characters (not NUL: PostgreSQL keeps no text with it, and the parser escapes it), letters
# outside ASCII, a character JSON leaves as it is (U+2028).
AWKWARD = 'PO "4500012" \\ line\nbreak\t\x1f\x7f \u2028 Müller & Søn 😀'


def _as_released(values: list) -> str:
    """How released versions wrote what an event's hash and a row's seal cover: json.dumps, compact."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)


def test_an_audit_chain_and_seals_written_by_released_versions_still_verify(store):
    """Hashes and seals are now written without the json module; a store written before must verify
    as it did, and what is written now must be byte for byte what was written then."""
    key = b"k" * 32
    with store.session() as session:
        exchange = _exchange(session, name=AWKWARD)
        at = datetime(2026, 11, 30, 12, 0, 0, 123456)
        prev = GENESIS
        for from_state, to_state, reason in ((None, "received", AWKWARD), ("received", "rejected", None)):
            content = [prev, "exchange", exchange.id, from_state, to_state, "pipeline", reason, at.isoformat()]
            digest = hashlib.sha256(_as_released(content).encode("utf-8")).hexdigest()
            session.add(AuditEvent(subject="exchange", subject_id=exchange.id, from_state=from_state,
                                   to_state=to_state, actor="pipeline", reason=reason, at=at, prev_hash=prev,
                                   hash=digest))
            prev = digest
        session.flush()
        released_seal = hmac.new(key, _as_released(["exchanges", "in", "acme", "acme/inbox", AWKWARD, 3, "0" * 64,
                                                    "received", None]).encode("utf-8"), hashlib.sha256).hexdigest()
        assert seal_of(exchange, key) == released_seal
    with store.session() as session:
        assert verify_chain(session) == (2, [])
        record_event(session, "exchange", exchange.id, "rejected", "received", "support", AWKWARD)
    with store.session() as session:
        newest = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        content = [newest.prev_hash, "exchange", exchange.id, "rejected", "received", "support", AWKWARD,
                   newest.at.isoformat()]
        assert newest.hash == hashlib.sha256(_as_released(content).encode("utf-8")).hexdigest()
        assert verify_chain(session) == (3, [])


def test_messages_stored_in_one_statement_read_back_as_those_the_orm_writes(store):
    """A big file's messages and their events go in with one statement each (on SQLite not through
    SQLAlchemy's per-row conversion): the columns they leave out take the same defaults, times are
    written in the same form, and the ids come back in order."""
    with store.session() as session:
        exchange = _exchange(session)
        written_by_orm = Message(exchange_id=exchange.id, position=0, interchange_position=0, partner="acme",
                                 standard="edifact", state="translated", ref="1")
        session.add(written_by_orm)
        session.flush()
        rows = [{"exchange_id": exchange.id, "position": n, "interchange_position": 0, "partner": "acme",
                 "standard": "edifact", "state": "translated", "ref": str(n + 1), "reason": AWKWARD}
                for n in (1, 2, 3)]
        ids = insert_rows(session, Message, rows, returning_ids=True)
        record_events(session, [Event("message", message_id, None, "received", "pipeline", AWKWARD)
                                for message_id in ids])
    with store.session() as session:
        found = session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)).all()
        assert [(m.id, m.position, m.ref) for m in found] == [(ids[0], 1, "2"), (ids[1], 2, "3"), (ids[2], 3, "4")]
        orm = session.get(Message, written_by_orm.id)
        for message in found:
            assert (message.direction, message.attempts, message.errors, message.document) == \
                (orm.direction, orm.attempts, orm.errors, orm.document) == ("in", 0, "[]", None)
            assert message.reason == AWKWARD
            assert isinstance(message.created_at, datetime) and message.created_at >= orm.created_at
        if session.bind.dialect.name == "sqlite":  # times are text there: the same form sorts the same
            stored = session.execute(text("SELECT created_at, updated_at FROM messages ORDER BY id")).all()
            assert all(len(value) == len("2026-12-06 04:25:12.564861") for row in stored for value in row)
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.subject_id, e.reason) for e in events] == [(message_id, AWKWARD) for message_id in ids]
        assert verify_chain(session) == (3, [])


def test_the_archive_stores_bytes_once_under_their_sha256(tmp_path):
    archive = Archive(tmp_path / "archive")
    sha, size = archive.put_stream(io.BytesIO(b"UNB+UNOA:2'"))
    again, _ = archive.put_bytes(b"UNB+UNOA:2'")
    assert sha == again == hashlib.sha256(b"UNB+UNOA:2'").hexdigest()
    assert size == 11
    assert archive.read(sha) == b"UNB+UNOA:2'"
    assert archive.path(sha).relative_to(tmp_path / "archive").parts == (sha[:2], sha[2:4], sha)
    assert [p for p in (tmp_path / "archive").rglob("*") if p.is_file()] == [archive.path(sha)]


def test_the_archive_refuses_a_name_that_is_not_a_sha256(tmp_path):
    archive = Archive(tmp_path / "archive")
    with pytest.raises(ValueError):
        archive.path("../../etc/passwd")


# --- upgrades: never silent --------------------------------------------------------------------


def _store_at(url: str, revision: str) -> None:
    """A store as an older edigw left it: migrated up to `revision` only."""
    from alembic import command
    from alembic.config import Config

    from gateway.store.db import MIGRATIONS_DIR, Store

    store = Store(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    store.close()


def test_the_head_read_from_the_migration_files_is_alembics_own():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gateway.store.db import MIGRATIONS_DIR, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_an_older_store_is_refused_until_upgraded_and_says_how(tmp_path):
    from gateway.store.db import StoreNeedsUpgrade, head_revision

    url = f"sqlite:///{tmp_path / 'edigw.db'}"
    _store_at(url, "0003")
    with pytest.raises(StoreNeedsUpgrade, match=r"revision 0003.*edigw db upgrade"):
        open_store(url)
    store = open_store(url, upgrade=True)
    assert store.revision() == head_revision()
    store.close()


def test_edigw_db_upgrade_dry_run_then_upgrade_and_the_daemon_refusing_meanwhile(tmp_path):
    import subprocess
    import sys

    from gateway.store.db import head_revision

    (tmp_path / "gateway.toml").write_text('state_dir = "state"\n', encoding="utf-8")
    _store_at(f"sqlite:///{tmp_path / 'state' / 'edigw.db'}", "0002")

    def edigw(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway", "--config", str(tmp_path / "gateway.toml"), *args],
                              capture_output=True, text=True, timeout=120)

    refused = edigw("run", "--once")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "schema revision 0002" in refused.stderr and "edigw db upgrade" in refused.stderr
    dry = edigw("db", "upgrade", "--dry-run")
    assert dry.returncode == 0 and f"would bring it to {head_revision()}" in dry.stdout
    assert edigw("messages", "list").returncode == 1  # still refused: the dry run changed nothing
    done = edigw("db", "upgrade")
    assert done.returncode == 0 and f"now at {head_revision()}" in done.stdout
    assert edigw("messages", "list").stdout.strip() == "no messages"
    assert "nothing to upgrade" in edigw("db", "upgrade").stdout
