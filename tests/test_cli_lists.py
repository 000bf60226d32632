"""The CLI's lists as an operator meets them: times, limits, formats, usage errors, exit codes."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone

import pytest

from gateway.when import parse_when
from gateway_fixtures import drop_samples, make_gateway

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-01T08:00", datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)),
    ("2026-11-01T08:00+01:00", datetime(2026, 11, 1, 7, 0, tzinfo=timezone.utc)),
    ("2026-11-01T08:00Z", datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)),
    ("today", datetime(2026, 12, 4, tzinfo=timezone.utc)),
    ("yesterday", datetime(2026, 12, 3, tzinfo=timezone.utc)),
    ("2h", datetime(2026, 12, 4, 13, 30, tzinfo=timezone.utc)),
    ("7d", datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)),
    ("30m", datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc)),
])
def test_times_are_read_as_operators_type_them(text, expected):
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["bogus", "2h ago", "-3d", "2026-13-01", ""])
def test_a_time_that_is_none_says_what_is_accepted(text):
    with pytest.raises(ValueError, match="yesterday.*7d"):
        parse_when(text, NOW)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = make_gateway(tmp_path_factory.mktemp("lists"))
    drop_samples(gateway)
    gateway.run("run", "--once")
    return gateway


def test_lists_say_how_many_of_how_many_are_shown(gateway):
    everything = gateway.messages()
    assert len(everything) >= 3
    one = gateway.run("messages", "list", "--direction", "in", "--limit", "1").stdout.decode()
    assert one.splitlines()[-1] == f"1 of {len(everything)} shown (--limit 0 for all)"
    assert len(one.splitlines()) == 3  # header, one row, the count
    every = gateway.run("messages", "list", "--direction", "in", "--limit", "0").stdout.decode()
    assert every.splitlines()[-1] == f"{len(everything)} of {len(everything)} shown"


def test_tables_label_their_times_utc_or_local(gateway):
    [newest, *_] = gateway.messages()
    utc = gateway.run("messages", "list", "--direction", "in").stdout.decode()
    assert "RECEIVED UTC" in utc.splitlines()[0]
    received = datetime.fromisoformat(newest["received_at"].replace("Z", "+00:00"))
    assert re.search(rf"^\s*{newest['id']}\s+{received:%Y-%m-%d %H:%M}\s", utc, re.M)
    local = gateway.run("messages", "list", "--direction", "in", "--local").stdout.decode()
    assert "RECEIVED LOCAL" in local.splitlines()[0]


def test_since_and_until_take_relative_forms(gateway):
    count = len(gateway.messages())
    assert len(gateway.messages(since="2h")) == count
    assert len(gateway.messages(since="yesterday")) == count
    assert gateway.messages(until="7d") == []
    assert gateway.messages(since="2000-01-01", until="2100-01-01") == gateway.messages()


@pytest.mark.parametrize("args, complaint", [
    (("--since", "bogus"), "argument --since: 'bogus' is not a time"),
    (("--until", "next week"), "argument --until: 'next week' is not a time"),
    (("--state", "bogus"), "argument --state: 'bogus' is not a message state: use one of received"),
    (("--limit", "-5"), "argument --limit: '-5' is not a number of rows"),
])
def test_bad_values_are_usage_errors_not_tracebacks(gateway, args, complaint):
    done = gateway.run("messages", "list", *args, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 2 and complaint in stderr and stderr.startswith("usage:")
    assert "Traceback" not in stderr


@pytest.mark.parametrize("command", [("messages", "find", "4500012"), ("replay", "--partner", "acme-retail")])
def test_find_and_replay_take_the_same_times_as_list(gateway, command):
    done = gateway.run(*command, "--since", "bogus", check=False)
    assert done.returncode == 2 and "argument --since: 'bogus' is not a time" in done.stderr.decode()
    assert gateway.run(*command, "--since", "7d", "--json").returncode == 0


def test_messages_find_counts_back_from_now(gateway):
    def found(*args):
        done = gateway.run("messages", "find", "4500012", *args, "--json")
        return [message["id"] for message in json.loads(done.stdout)["messages"]]

    assert found() and found("--since", "2h") == found()
    assert found("--until", "7d") == []


def test_csv_lists_the_same_messages_as_json(gateway):
    text = gateway.run("messages", "list", "--direction", "in", "--format", "csv").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(row["id"]) for row in rows] == [row["id"] for row in gateway.messages()]
    assert {"partner", "state", "received_at", "document_number"} <= set(rows[0])


def test_status_exits_0_when_nothing_waits_for_a_person(gateway):
    done = gateway.run("status", check=False)
    assert done.returncode == 0, done.stdout.decode()
    assert "waiting for a person (held, dead, overdue, open exceptions): 0" in done.stdout.decode()
