"""Retention: `edigw purge` removes what is old and finished, never what a person or a thread still needs."""

from __future__ import annotations

import sqlite3

from conftest import ROOT
from gateway_fixtures import age, make_gateway

ACME = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()


def _age_everything(gateway, days: int) -> None:
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        db.execute(f"UPDATE exchanges SET received_at = datetime(received_at, '-{days} days')")
    db.close()


def test_purge_removes_old_finished_exchanges_and_their_bytes_but_keeps_waiting_work(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    gateway.config.write_text(gateway.config.read_text() + "[retention]\ndays = 30\n", encoding="utf-8")
    bad = gateway.inbox("acme-retail") / "bad.edi"  # both messages rejected (segment counts): finished
    bad.write_bytes(ACME.replace(b"4500012", b"9900001").replace(b"4500013", b"9900003").replace(b"UNT+23+1", b"UNT+99+1")
                    .replace(b"UNT+12+2", b"UNT+99+2"))
    good = gateway.inbox("acme-retail") / "good.edi"  # translated, waiting for delivery: still needed
    good.write_bytes(ACME)
    age(bad), age(good)
    gateway.run("run", "--once")
    before = gateway.messages()
    rejected = [m for m in before if m["file"] == "bad.edi"]
    assert len(rejected) == 2 and {m["state"] for m in rejected} == {"rejected"}
    _age_everything(gateway, 100)
    before = gateway.messages()
    files_before = sorted(p for p in (gateway.state / "archive").rglob("*") if p.is_file())

    dry = gateway.run("purge", "--dry-run").stdout.decode()
    # the file and the CONTRL we sent for it; the good file's CONTRL stays with it
    assert "would remove 2 exchange(s), 3 message(s), 2 archived file(s)" in dry, dry
    assert "2 old exchange(s) kept, still needed" in dry
    assert gateway.messages() == before
    assert sorted(p for p in (gateway.state / "archive").rglob("*") if p.is_file()) == files_before

    done = gateway.run("purge").stdout.decode()
    assert "removed 2 exchange(s), 3 message(s)" in done
    assert [m["file"] for m in gateway.messages(direction="out")] == ["CONTRL_2.edi"]
    left = gateway.messages()
    assert {m["file"] for m in left} == {"good.edi"} and {m["state"] for m in left} == {"translated"}
    assert gateway.run("messages", "show", str(left[0]["id"]), "--raw").stdout == ACME
    assert len(sorted(p for p in (gateway.state / "archive").rglob("*") if p.is_file())) == len(files_before) - 2
    assert "the chain is intact" in gateway.run("audit", "verify").stdout.decode()
    assert "would remove 0 exchange(s)" in gateway.run("purge", "--dry-run").stdout.decode()


def test_nothing_younger_than_the_retention_is_removed(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    bad = gateway.inbox("acme-retail") / "bad.edi"
    bad.write_bytes(ACME.replace(b"UNT+23+1", b"UNT+99+1").replace(b"UNT+12+2", b"UNT+99+2"))
    age(bad)
    gateway.run("run", "--once")
    assert "would remove 0 exchange(s)" in gateway.run("purge", "--days", "1", "--dry-run").stdout.decode()
    missing = gateway.run("purge", check=False)
    assert missing.returncode == 1 and "set [retention] days = N" in missing.stderr.decode()
