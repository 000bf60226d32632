"""Shared test fixtures: where the shared test material lives, a PostgreSQL database per test."""

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
TRANSCRIPTS = SHARED / "odoo-transcripts"
LIVE_ODOO = ("EDIGW_ODOO_URL", "EDIGW_ODOO_DB", "EDIGW_ODOO_USER", "EDIGW_ODOO_PASSWORD")
POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # the machine's PostgreSQL (trust auth, database `test`)


def live_odoo(what: str) -> tuple[str, str, str, str]:
    """The real Odoo the environment names (url, db, user, password); without one the test is skipped,
    saying which variables would run `what` against one."""
    missing = [name for name in LIVE_ODOO if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no live Odoo: set {', '.join(missing)} to run {what} against one")
    url, db, user, password = (os.environ[name] for name in LIVE_ODOO)
    return url, db, user, password


@contextmanager
def postgres_database(prefix: str = "edigw_test") -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (its SQLAlchemy URL), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def corpus() -> Path:
    return CORPUS


@pytest.fixture(autouse=True)
def no_daemon_left_running():
    """A test that fails halfway must not leave an `edigw run` behind, holding its store."""
    yield
    from gateway_fixtures import STARTED

    while STARTED:
        daemon = STARTED.pop()
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
