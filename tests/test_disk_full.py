"""A full disk under the gateway's state (archive, SQLite store, audit anchor): nothing is lost,
nothing is blamed on the partner's file, and the work goes on by itself once there is room.

The disk is real: a small tmpfs mounted for the test (skipped, saying why, where this user may
not mount one), filled to its last byte by a file of zeros. The partners' inboxes are on another
disk, as a drop folder often is.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from conftest import POSTGRES, ROOT
from gateway_fixtures import Gateway, acme_orders, age, make_gateway

SAMPLES = ROOT / "samples" / "inbox"
PARTNERS = ("acme-retail", "bigbox-stores")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs of the test's own, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small disk of the test's own needs `mount -t tmpfs` (root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the disk has no byte left; the file that holds them."""
    filler = disk / f"filler-{uuid.uuid4().hex[:6]}"
    block = bytes(1 << 16)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    for size in (4096, 512, 1):  # the last part-block too
        try:
            with filler.open("ab", buffering=0) as out:
                while True:
                    out.write(bytes(size))
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


def gateway_on(disk: Path, home: Path) -> Gateway:
    """ACME (EDIFACT) and BigBox (X12) with the state on `disk` and their inboxes beside `home`."""
    gateway = make_gateway(home, settle_seconds=0, partners=PARTNERS)
    text = gateway.config.read_text().replace('state_dir = "state"', f'state_dir = "{disk / "state"}"')
    gateway.config.write_text(text)
    for partner in PARTNERS:
        profile = gateway.partners / f"{partner}.yaml"
        profile.write_text(profile.read_text().replace(f"inbox: inbox/{partner}", f"inbox: {home / 'drop' / partner}"))
    return gateway


def drop(gateway: Gateway, partner: str, name: str, data: bytes) -> Path:
    inbox = gateway.home / "drop" / partner
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    age(path)
    return path


def test_files_the_disk_has_no_room_for_stay_in_their_inbox_and_are_taken_once_there_is(small_disk, tmp_path):
    gateway = gateway_on(small_disk, tmp_path / "home")
    gateway.run("run", "--once")  # the store made while there is room
    filler = fill(small_disk)
    big = drop(gateway, "acme-retail", "many.edi", acme_orders(3000))
    sample = SAMPLES / "bigbox-stores" / "850_PO-77812.x12"
    small = drop(gateway, "bigbox-stores", sample.name, sample.read_bytes())

    # Not a byte left: the store cannot even be opened. Said in a line; the files are not touched.
    full = gateway.run("run", "--once", check=False)
    said = full.stderr.decode()
    assert full.returncode == 1 and "Traceback" not in said, said
    assert said.startswith("edigw: stopped by a full disk: the store's disk has no room"), said
    assert big.exists() and small.exists()

    # Room for the small file, not for the big one.
    os.truncate(filler, filler.stat().st_size - 1024 * 1024)
    short = gateway.run("run", "--once", check=False)
    said = short.stderr.decode()
    assert short.returncode == 1, said  # a cron job or a timer sees that the run left work
    assert "edigw: a full disk left work for the next run:" in said and "Traceback" not in said
    # Not the partner's fault: not moved to failed/, not said to be unreadable.
    assert "'many.edi' could not be archived and recorded: No space left on device" in said
    assert "could not be read" not in said
    assert big.with_name("many.edi.processing").exists() and not (big.parent / "failed").exists()
    # The other partner's file went through.
    assert [(m["partner"], m["document_number"], m["state"]) for m in gateway.messages()] == [
        ("bigbox-stores", "PO-77812", "translated")]
    assert (small.parent / "processed" / small.name).exists()

    filler.unlink()
    done = gateway.run("run", "--once")
    assert "recovered 'many.edi'" in done.stderr.decode()
    messages = [m for m in gateway.messages() if m["partner"] == "acme-retail"]
    assert sorted(m["document_number"] for m in messages) == [f"46{n:05d}" for n in range(1, 3001)]
    assert {m["state"] for m in messages} == {"translated"}
    assert (big.parent / "processed" / "many.edi").read_bytes() == acme_orders(3000)
    acknowledgments = gateway.messages(direction="out")
    assert sorted((m["partner"], m["type"], m["state"]) for m in acknowledgments) == [
        ("acme-retail", "CONTRL", "sent"), ("bigbox-stores", "997", "sent")]
    gateway.run("audit", "verify")


def test_an_exchange_the_store_has_no_room_for_stays_received_and_resumes_after_what_it_recorded(small_disk, tmp_path):
    from sqlalchemy import select

    from gateway import daemon
    from gateway.app import App
    from gateway.config import load_settings
    from gateway.store.models import Exchange

    gateway = gateway_on(small_disk, tmp_path / "home")
    gateway.run("run", "--once")
    drop(gateway, "acme-retail", "many.edi", acme_orders(3000))
    app = App(load_settings(str(gateway.config)))
    try:
        for inbox in daemon.build_inboxes(app):
            daemon.poll(app, inbox)  # taken in: archived and recorded, not yet processed
        filler = fill(small_disk)
        assert app.pipeline.process_pending() == 0
        assert "the store's disk is full (SQLite: database or disk is full)" in app.pipeline.no_room
        assert "it stays received" in app.pipeline.no_room
        assert app.pipeline.process_pending() == 0  # not tried again at once: the disk is still full
        with app.store.session() as session:  # not held for support: left for the next attempt
            assert session.execute(select(Exchange.original_name, Exchange.state)).all() == [("many.edi", "received")]
    finally:
        app.close()

    filler.unlink()
    gateway.run("run", "--once")  # the next run (or the daemon, a minute later) takes it up
    messages = gateway.messages()
    assert len(messages) == 3000
    assert {m["state"] for m in messages} == {"translated"}
    assert sorted(m["document_number"] for m in messages) == [f"46{n:05d}" for n in range(1, 3001)]
    contrl = [m for m in gateway.messages(direction="out") if m["type"] == "CONTRL"]
    assert [m["state"] for m in contrl] == ["sent"]
    gateway.run("audit", "verify")


def test_a_full_disk_is_told_from_other_failures_of_the_store(tmp_path):
    import sqlite3

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from gateway.store.db import out_of_room

    assert out_of_room(OSError(errno.ENOSPC, "No space left on device", "/var/lib/edigw/archive/x")) == \
        "No space left on device (/var/lib/edigw/archive/x)"
    assert out_of_room(OSError(errno.EACCES, "Permission denied")) is None
    assert out_of_room(ValueError("a bug")) is None

    # PostgreSQL's class 53 (insufficient resources), from a real server through the store's driver:
    # a sort that needs more temporary space than the session may use.
    engine = create_engine(f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/test")
    try:
        with engine.connect() as connection, pytest.raises(DBAPIError) as refused:
            connection.execute(text("SET work_mem = '64kB'"))
            connection.execute(text("SET temp_file_limit = '1MB'"))
            connection.execute(text("SELECT g FROM generate_series(1, 500000) AS g ORDER BY g DESC")).all()
    finally:
        engine.dispose()
    assert refused.value.orig.sqlstate == "53400"
    assert out_of_room(refused.value).startswith("the store's database server is out of resources (PostgreSQL 53400")

    # A SQLite error that is not a full disk.
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(tmp_path / "missing" / "store.db")
    assert out_of_room(locked.value) is None


def test_an_audit_anchor_that_cannot_be_written_stays_where_it_was_and_the_work_goes_on(small_disk, tmp_path):
    """The anchor (state folder) on the full disk; the store, the archive and the outboxes on another."""
    home = tmp_path / "home"
    gateway = gateway_on(small_disk, home)
    with gateway.config.open("a") as config:
        config.write(f'[store]\nurl = "sqlite:///{home / "edigw.db"}"\n[archive]\ndir = "{home / "archive"}"\n')
    for partner in PARTNERS:
        profile = gateway.partners / f"{partner}.yaml"
        text = profile.read_text().replace(f"outbox: outbox/{partner}", f"outbox: {home / 'out' / partner}")
        profile.write_text(text)
    gateway.run("run", "--once")
    anchor = small_disk / "state" / "audit-head.json"
    before = anchor.read_text()
    filler = fill(small_disk)
    drop(gateway, "bigbox-stores", "850_PO-77812.x12", (SAMPLES / "bigbox-stores" / "850_PO-77812.x12").read_bytes())

    run = gateway.run("run", "--once")  # the work is done: only the anchor could not move
    said = run.stderr.decode()
    assert "the audit anchor" in said and "could not be moved" in said and "No space left on device" in said
    assert "Traceback" not in said
    assert [(m["document_number"], m["state"]) for m in gateway.messages()] == [("PO-77812", "translated")]
    assert (home / "out" / "bigbox-stores").is_dir() and len(list((home / "out" / "bigbox-stores").iterdir())) == 1
    assert anchor.read_text() == before  # still a true anchor, behind the chain
    assert not list(anchor.parent.glob(".audit-head.json.*.tmp"))  # no empty temporary file left behind
    gateway.run("audit", "verify")

    filler.unlink()
    drop(gateway, "acme-retail", "ORDERS_4500012.edi", (SAMPLES / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    gateway.run("run", "--once")
    assert anchor.read_text() != before  # moved again at the first commit with room
    gateway.run("audit", "verify")
