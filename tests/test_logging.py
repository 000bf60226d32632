"""Logs: one line per state change, human-readable or JSON; secrets never in logs or the store."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from gateway_fixtures import SAMPLE_INBOX, age, drop_samples, make_gateway, odoo_session

SECRET = "Wr0ng-Secret-4500012"


def test_log_json_writes_one_json_object_per_line_with_each_state_change(tmp_path):
    gateway = make_gateway(tmp_path)
    for path in drop_samples(gateway):
        age(path)
    done = gateway.run("run", "--once", "--log-json")
    records = [json.loads(line) for line in done.stderr.decode().splitlines() if line.strip()]
    messages = [record["message"] for record in records]
    assert sum(": translated" in text for text in messages) == 5
    assert any("ORDERS_4500012.edi" in text and "received" in text for text in messages)
    assert {record["level"] for record in records} <= {"INFO", "WARNING", "DEBUG"}
    # flat objects, times in UTC: the fields a log system filters on are fields, not words in the text
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"]) for record in records)
    assert all(not isinstance(value, (dict, list)) for record in records for value in record.values())
    translated = [record for record in records if record.get("event") == "translated"]
    assert {(record["partner"], record["message_id"]) for record in translated} == {
        (message["partner"], message["id"]) for message in gateway.messages()}
    received = next(record for record in records if "'ORDERS_4500012.edi' from" in record["message"])
    assert received["file"] == "ORDERS_4500012.edi"  # quoted in the text, as it is in its own field
    assert (received["partner"], received["event"], type(received["exchange_id"])) == ("acme-retail", "received", int)
    claimed = next(record for record in records if record["message"].startswith("claimed 'ORDERS_4500012.edi'"))
    assert (claimed["partner"], claimed["channel"]) == ("acme-retail", "acme-retail/inbox")


def test_text_logs_say_their_times_are_utc(tmp_path):
    gateway = make_gateway(tmp_path)
    for path in drop_samples(gateway):
        age(path)
    lines = gateway.run("run", "--once").stderr.decode().splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC ", line) for line in lines), lines[:3]


@pytest.mark.parametrize("kind", ["sandbox", "live"])
def test_the_odoo_password_never_reaches_the_logs_the_store_or_messages_show(tmp_path, monkeypatch, kind):
    """ACME's file alone: a real Odoo refuses every login from an address for a minute after five wrong
    passwords, and the live tests that follow log in from the same one."""
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    monkeypatch.setenv("EDIGW_TEST_SECRET", SECRET)
    with odoo_session(kind, tmp_path, monkeypatch, "the password test") as odoo:
        gateway.config.write_text(gateway.config.read_text() + (
            f'[odoo]\nurl = "{odoo.url}"\ndb = "{odoo.db}"\nuser = "{odoo.user}"\n'
            'password_env = "EDIGW_TEST_SECRET"\n'))
        sample = gateway.inbox("acme-retail") / "ORDERS_4500012.edi"
        shutil.copyfile(SAMPLE_INBOX / "acme-retail" / sample.name, sample)
        age(sample)
        done = gateway.run("run", "--once")
        messages = gateway.messages(partner="acme-retail")
        shown = gateway.run("messages", "show", str(messages[0]["id"]), "--json")
        odoo.rpc.login(odoo.db, odoo.user, os.environ["EDIGW_TEST_ODOO_PASSWORD"])  # Odoo forgets the failures
    # the password is wrong: Odoo refuses it
    assert len(messages) == 2 and {message["state"] for message in messages} <= {"held", "retrying", "dead"}
    assert SECRET not in done.stderr.decode() + done.stdout.decode()
    assert SECRET not in shown.stdout.decode()
    stored = b"".join(p.read_bytes() for p in gateway.state.glob("edigw.db*"))
    assert SECRET.encode() not in stored
    assert os.environ["EDIGW_TEST_SECRET"] == SECRET
