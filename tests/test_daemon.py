"""The daemon under real signals: file events, SIGTERM, and SIGKILL at any moment."""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import time

from conftest import ROOT
from gateway_fixtures import acme_orders, age, make_gateway

SAMPLE = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()


def order_file(number: int) -> bytes:
    """The shipped sample with its own order numbers, so that every file has other bytes."""
    return SAMPLE.replace(b"4500012", b"%07d" % (6_000_000 + 2 * number)).replace(
        b"4500013", b"%07d" % (6_000_001 + 2 * number))


def test_a_dropped_file_is_taken_within_seconds_of_its_event(tmp_path):
    gateway = make_gateway(tmp_path)
    gateway.config.write_text(gateway.config.read_text().replace("rescan_seconds = 2", "rescan_seconds = 3600"))
    daemon = gateway.start()
    try:
        (gateway.inbox("acme-retail") / "new.edi").write_bytes(order_file(1))
        started = time.monotonic()
        translated = gateway.wait_for(lambda: len(gateway.messages(state="translated")) == 2, timeout=10)
        assert translated, "the file was not taken without a rescan"
        assert time.monotonic() - started < 10
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)


def test_sigterm_stops_the_daemon_with_exit_code_zero(tmp_path):
    gateway = make_gateway(tmp_path)
    daemon = gateway.start()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert "edigw stopped" in gateway.daemon_log()


def test_a_daemon_killed_at_any_moment_loses_nothing_and_duplicates_nothing(tmp_path):
    gateway = make_gateway(tmp_path)
    inbox = gateway.inbox("acme-retail")
    files = 300
    for number in range(files):
        path = inbox / f"order-{number:04d}.edi"
        path.write_bytes(order_file(number))
        age(path)
    rng = random.Random(20261122)
    kills = 0
    for _ in range(12):
        daemon = gateway.start(wait=False)  # killed at any moment: while starting up too
        time.sleep(rng.uniform(0.4, 2.0))
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)
            kills += 1
        daemon.wait(timeout=20)
    assert kills >= 10
    gateway.run("run", "--once")

    with sqlite3.connect(gateway.state / "edigw.db") as db:
        exchanges = db.execute("SELECT original_name, state FROM exchanges WHERE direction = 'in'").fetchall()
        messages = db.execute("SELECT exchange_id, position, state FROM messages WHERE direction = 'in'").fetchall()
        acks = db.execute("SELECT state FROM exchanges WHERE direction = 'out'").fetchall()
    names = [name for name, _ in exchanges]
    assert sorted(names) == sorted(f"order-{n:04d}.edi" for n in range(files)), "a file was lost or recorded twice"
    assert {state for _, state in exchanges} == {"processed"}
    assert len(messages) == 2 * files
    assert len({(e, p) for e, p, _ in messages}) == 2 * files
    assert {state for _, _, state in messages} == {"translated"}
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert len(list((inbox / "processed").iterdir())) == files
    # one CONTRL per interchange received, each sent once, whatever the kills interrupted
    assert acks == [("sent",)] * files
    # what the partner picks up: every file it sees is a CONTRL, one per interchange. A kill while writing
    # may leave a temporary file in the hidden .edigw-tmp/ folder (removed once old, another node may be
    # writing there); the partner never sees it.
    visible = [path.name for path in (gateway.state / "outbox" / "acme-retail").iterdir()
               if not path.name.startswith(".")]
    assert len(visible) == files and all(re.fullmatch(r"CONTRL_\d+\.edi", name) for name in visible), visible
    gateway.run("audit", "verify")


def test_one_edigw_run_at_a_time_works_a_sqlite_store(tmp_path):
    gateway = make_gateway(tmp_path)
    daemon = gateway.start()
    try:
        once = gateway.run("run", "--once")  # exit 0: the work is in hand, a cron job need not complain
        said = once.stderr.decode()
        assert f"another edigw run (pid {daemon.pid}) is working on the store {gateway.state / 'edigw.db'}" in said
        assert "this run --once leaves the work to it" in said
        second = gateway.run("run", check=False, timeout=30)  # a second daemon on the same store
        assert second.returncode == 1
        assert second.stderr.decode().startswith(f"edigw: another edigw run (pid {daemon.pid})")
        (gateway.inbox("acme-retail") / "new.edi").write_bytes(order_file(7))
        assert gateway.wait_for(lambda: len(gateway.messages(state="translated")) == 2, timeout=20)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
    after = gateway.run("run", "--once")  # the lock went with the daemon
    assert "another edigw run" not in after.stderr.decode()


def test_a_run_once_started_while_another_works_through_a_big_file_leaves_the_file_to_it(tmp_path):
    """A cron `run --once` each minute, one file taking longer: the runs must not both process it."""
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    gateway.run("run", "--once")
    path = gateway.inbox("acme-retail") / "many.edi"
    path.write_bytes(acme_orders(3000))
    age(path)
    with gateway.log.open("ab") as log:
        first = subprocess.Popen(gateway.command("run", "--once"), stdout=subprocess.DEVNULL, stderr=log,
                                 env=gateway.env(), cwd=gateway.home)
    try:
        assert gateway.wait_for(lambda: b"'many.edi' from acme-retail: received" in gateway.log.read_bytes(),
                                timeout=60, interval=0.05), gateway.daemon_log()
        second = gateway.run("run", "--once")
        assert "this run --once leaves the work to it" in second.stderr.decode()
        assert first.wait(timeout=300) == 0, gateway.daemon_log()
    finally:
        if first.poll() is None:
            first.kill()
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        states = [state for (state,) in db.execute(
            "SELECT to_state FROM audit_events WHERE subject = 'exchange' AND subject_id = "
            "(SELECT id FROM exchanges WHERE original_name = 'many.edi') ORDER BY id")]
        messages = db.execute("SELECT count(*), count(DISTINCT position) FROM messages "
                              "WHERE direction = 'in' AND state = 'translated'").fetchone()
        acks = db.execute("SELECT count(*) FROM exchanges WHERE direction = 'out'").fetchone()[0]
    assert states[:2] == ["received", "processed"] and "held" not in states, states  # no collision with another run
    assert messages == (3000, 3000)
    assert acks == 1
