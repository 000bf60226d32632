"""The daemon's workers: one partner's slow file does not hold another partner's files.

A real daemon watches real folders. Partner A (acme-retail) drops one big interchange of
thousands of orders, which takes a worker a long while; partner B (bigbox-stores) then drops
two small files. What B sees (its orders translated, its 997s in its outbox, in the order it
sent them) comes while A's file is still being processed, and A's file, stopped in the middle
by SIGTERM, is finished by the next run.
"""

from __future__ import annotations

import signal
import sqlite3

import pytest
from conftest import ROOT
from gateway_fixtures import age, make_gateway

ACME = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()
BIGBOX = (ROOT / "samples/inbox/bigbox-stores/850_PO-77812.x12").read_bytes()
ORDERS = 20_000  # a file a worker needs many seconds for (a 12 MB interchange), next to B's two orders


def big_interchange(orders: int) -> bytes:
    """The ACME sample's first ORDERS `orders` times in one interchange, each with its own reference."""
    head, rest = ACME.split(b"UNH+1+", 1)
    message = b"UNH+1+" + rest[:rest.index(b"UNH+2+")]
    assert message.rstrip().endswith(b"UNT+23+1'")
    body = b"".join(message.replace(b"UNH+1+", b"UNH+%d+" % n).replace(b"UNT+23+1'", b"UNT+23+%d'" % n)
                    for n in range(1, orders + 1))
    return head + body + b"UNZ+%d+ACME000117'\n" % orders


def bigbox_order(number: int) -> bytes:
    """The BigBox sample with its own interchange, group (GS06 `number`) and order numbers."""
    return (BIGBOX.replace(b"000000311", b"%09d" % number).replace(b"*311*X*", b"*%d*X*" % number)
            .replace(b"GE*1*311~", b"GE*1*%d~" % number).replace(b"PO-77812", b"PO-%05d" % number))


def exchanges(gateway) -> dict[str, tuple[int, str]]:
    """Inbound exchanges by file name: (id, state), as the store has them now."""
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        rows = db.execute("SELECT original_name, id, state FROM exchanges WHERE direction = 'in'").fetchall()
    return {name: (exchange_id, state) for name, exchange_id, state in rows}


def outbox(gateway, partner: str) -> list[str]:
    folder = gateway.state / "outbox" / partner
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_a_partners_slow_file_does_not_hold_another_partners_files(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail", "bigbox-stores"))
    gateway.config.write_text(gateway.config.read_text() + "\n[processing]\nworkers = 2\n")
    slow = gateway.inbox("acme-retail") / "big.edi"
    slow.write_bytes(big_interchange(ORDERS))
    age(slow)
    daemon = gateway.start()
    try:
        assert gateway.wait_for(lambda: "big.edi" in exchanges(gateway), timeout=60), gateway.daemon_log()
        for number in (101, 102):
            path = gateway.inbox("bigbox-stores") / f"order-{number}.x12"
            path.write_bytes(bigbox_order(number))
            age(path)
        answered = gateway.wait_for(lambda: len(outbox(gateway, "bigbox-stores")) == 2, timeout=60)
        # What B sees, while A's file is still in a worker's hands: no CONTRL for A yet.
        seen = exchanges(gateway)
        a_outbox = outbox(gateway, "acme-retail")
        assert answered, gateway.daemon_log()[-3000:]
        assert seen["big.edi"][1] == "received" and a_outbox == [], "B was answered only once A's file was done"
        assert [seen[f"order-{n}.x12"][1] for n in (101, 102)] == ["processed", "processed"]
        assert [m["state"] for m in gateway.messages(partner="bigbox-stores")] == ["translated", "translated"]
        # B's files were answered one after another in the order they were taken: the first 997 answers
        # the group of the file recorded first
        taken = sorted((seen[f"order-{n}.x12"][0], n) for n in (101, 102))
        answers = [(gateway.state / "outbox/bigbox-stores" / name).read_bytes()
                   for name in ["997_000000001.x12", "997_000000002.x12"]]
        assert [b"AK1*PO*%d~" % n in answer for (_, n), answer in zip(taken, answers)] == [True, True]
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, gateway.daemon_log()[-3000:]
    assert exchanges(gateway)["big.edi"][1] == "received"  # stopped in the middle, taken up again below
    gateway.run("run", "--once", timeout=600)
    assert exchanges(gateway)["big.edi"][1] == "processed"
    assert outbox(gateway, "acme-retail") == ["CONTRL_1.edi"]
    assert len(gateway.messages(partner="acme-retail")) == ORDERS



def test_processing_workers_is_read_and_checked(tmp_path):
    from gateway.config import ConfigError, settings_from

    assert settings_from({}, tmp_path).workers == 2
    assert settings_from({"processing": {"workers": 4}}, tmp_path).workers == 4
    for wrong in ({"workers": 0}, {"workers": "2"}, {"workers": 2, "threads": 3}):
        with pytest.raises(ConfigError, match=r"\[processing\] takes workers = N"):
            settings_from({"processing": wrong}, tmp_path)
