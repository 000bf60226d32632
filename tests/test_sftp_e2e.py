"""SFTP partners end to end: the real `edigw` CLI and daemon against OpenSSH's own sshd."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time

import psycopg
import pytest
import yaml

from conftest import ROOT, postgres_database
from gateway.app import App
from gateway.channels.base import ChannelError
from gateway.config import load_settings
from gateway.daemon import build_inboxes, poll
from gateway.store.db import lock_key
from gateway_fixtures import Gateway, make_gateway
from sshd import SshServer, sshd, stalled_server  # noqa: F401 (fixtures)

ACME_SAMPLE = ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi"
BIGBOX_SAMPLE = ROOT / "samples/inbox/bigbox-stores/850_PO-77812.x12"


def use_sftp(gateway: Gateway, partner: str, channel: dict) -> None:
    """Point a shipped partner's profile at an SFTP channel instead of its folder."""
    path = gateway.partners / f"{partner}.yaml"
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile["channels"] = {"sftp": channel}
    if "outbox" not in channel:  # acknowledgments need somewhere to go
        profile["acknowledgments"] = {"send": False}
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")


def exchanges(gateway: Gateway) -> list[tuple[str, str, str]]:
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        return db.execute("SELECT partner, original_name, state FROM exchanges WHERE direction = 'in' ORDER BY id").fetchall()


def test_files_dropped_on_the_server_are_fetched_archived_processed_and_removed_exactly_once(sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail", "bigbox-stores"))
    sshd.make_folder("acme")
    sshd.make_folder("bigbox")
    use_sftp(gateway, "acme-retail", sshd.channel_settings(inbox=sshd.remote("acme")))
    use_sftp(gateway, "bigbox-stores", sshd.channel_settings(inbox=sshd.remote("bigbox"), after="move"))
    sshd.drop(ACME_SAMPLE.name, ACME_SAMPLE.read_bytes(), folder="acme")
    sshd.drop(BIGBOX_SAMPLE.name, BIGBOX_SAMPLE.read_bytes(), folder="bigbox")

    gateway.run("run", "--once")
    gateway.run("run", "--once")

    assert sorted(exchanges(gateway)) == [("acme-retail", ACME_SAMPLE.name, "processed"),
                                          ("bigbox-stores", BIGBOX_SAMPLE.name, "processed")]
    assert {m["state"] for m in gateway.messages()} == {"translated"}
    assert {m["partner"] for m in gateway.messages()} == {"acme-retail", "bigbox-stores"}
    assert list(sshd.local("acme").iterdir()) == []
    assert [p.name for p in sshd.local("bigbox").iterdir()] == ["processed"]
    assert (sshd.local("bigbox/processed") / BIGBOX_SAMPLE.name).read_bytes() == BIGBOX_SAMPLE.read_bytes()
    assert [p for p in (gateway.state / "spool").rglob("*") if p.is_file()] == []
    message = gateway.messages(partner="acme-retail")[0]
    raw = gateway.run("messages", "show", str(message["id"]), "--raw").stdout
    assert raw == ACME_SAMPLE.read_bytes()


def test_a_crash_between_recording_and_the_remote_delete_records_nothing_twice(sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
    use_sftp(gateway, "acme-retail", sshd.channel_settings())
    sshd.drop(ACME_SAMPLE.name, ACME_SAMPLE.read_bytes())
    app = App(load_settings(str(gateway.config)))
    inbox = build_inboxes(app)[0]
    with inbox.channel.session():
        for claimed in inbox.channel.scan():
            with inbox.channel.open(claimed) as stream:
                app.pipeline.intake(inbox.profile, claimed, stream)
            break  # the process dies here: recorded, the remote file still there, done() never called
    app.close()
    assert (sshd.local("inbox") / ACME_SAMPLE.name).exists()

    gateway.run("run", "--once")

    assert exchanges(gateway) == [("acme-retail", ACME_SAMPLE.name, "processed")]
    assert list(sshd.local("inbox").iterdir()) == []
    assert len(gateway.messages()) == 2


def test_the_daemon_polls_on_its_schedule_and_takes_a_file_dropped_later(sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
    use_sftp(gateway, "acme-retail", sshd.channel_settings(schedule=1))
    daemon = gateway.start()
    try:
        sshd.drop(ACME_SAMPLE.name, ACME_SAMPLE.read_bytes(), age=0)
        assert gateway.wait_for(lambda: len(gateway.messages(state="translated")) == 2, timeout=20)
        assert gateway.wait_for(lambda: list(sshd.local("inbox").iterdir()) == [], timeout=5)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0


def test_a_stalled_server_times_out_while_the_daemon_runs_on_and_folder_partners_are_processed(
        stalled_server, sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail", "bigbox-stores"))
    use_sftp(gateway, "bigbox-stores", sshd.channel_settings(port=stalled_server, timeout=1, schedule=1,
                                                             known_hosts=None, host_key=sshd.host_fingerprint))
    daemon = gateway.start()
    try:
        shutil.copyfile(ACME_SAMPLE, gateway.inbox("acme-retail") / ACME_SAMPLE.name)
        assert gateway.wait_for(lambda: len(gateway.messages(state="translated")) == 2, timeout=15)
        time.sleep(2)
        assert daemon.poll() is None, "the daemon ended"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    log = gateway.daemon_log()
    assert "bigbox-stores/sftp" in log and "accepted the connection but never spoke" in log
    assert "next try in" in log


def test_test_connection_reports_what_it_found_and_names_both_fingerprints_on_a_mismatch(sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
    use_sftp(gateway, "acme-retail", sshd.channel_settings())
    sshd.drop(ACME_SAMPLE.name, ACME_SAMPLE.read_bytes())

    done = gateway.run("partners", "test-connection", "acme-retail")
    assert "logged in" in done.stdout.decode() and "1 file(s) to fetch" in done.stdout.decode()

    pinned = "SHA256:" + "B" * 43
    use_sftp(gateway, "acme-retail", sshd.channel_settings(known_hosts=None, host_key=pinned))
    refused = gateway.run("partners", "test-connection", "acme-retail", "--json", check=False)
    assert refused.returncode == 1
    report = json.loads(refused.stdout)[0]
    assert not report["logged_in"]
    assert pinned in report["problems"][0] and sshd.host_fingerprint in report["problems"][0]
    assert (sshd.local("inbox") / ACME_SAMPLE.name).exists()


def test_partners_show_gives_secret_references_never_secrets(sshd, tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
    use_sftp(gateway, "acme-retail", sshd.channel_settings(key_passphrase_env="ACME_PASSPHRASE"))
    shown = gateway.run("partners", "show", "acme-retail").stdout.decode()
    assert "key_passphrase_env: ACME_PASSPHRASE" in shown


def test_a_partner_that_is_down_is_logged_and_backed_off_and_run_once_still_exits_0(tmp_path):
    gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
    use_sftp(gateway, "acme-retail", {"type": "sftp", "host": "127.0.0.1", "port": 9, "user": "x",
                                      "key_file": str(tmp_path / "none"), "host_key": "SHA256:" + "C" * 43,
                                      "inbox": "/in", "timeout": 1})
    done = gateway.run("run", "--once")
    assert b"acme-retail/sftp" in done.stderr and b"next try in" in done.stderr
    app = App(load_settings(str(gateway.config)))
    inbox = build_inboxes(app)[0]
    with pytest.raises(ChannelError, match="key file .* does not exist"):
        poll(app, inbox)
    assert inbox.channel.backing_off()
    assert poll(app, inbox) == 0  # backing off: no connection tried
    app.close()


def test_on_postgresql_one_node_at_a_time_polls_a_channel(sshd, tmp_path):
    """Two gateways on one PostgreSQL store: while one node polls a partner's server (here: the test
    holds that node's advisory lock), the other leaves the channel alone; then it takes the file."""
    with postgres_database() as url:
        gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{url}"\n')
        sshd.make_folder("acme")
        use_sftp(gateway, "acme-retail", sshd.channel_settings(inbox=sshd.remote("acme")))
        sshd.drop(ACME_SAMPLE.name, ACME_SAMPLE.read_bytes(), folder="acme")
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as other_node:
            other_node.execute("SELECT pg_advisory_lock(%s)", (lock_key("channel acme-retail/sftp"),))
            done = gateway.run("run", "--once")
            assert "acme-retail/sftp: another node is polling this channel" in done.stderr.decode()
            assert [p.name for p in sshd.local("acme").iterdir()] == [ACME_SAMPLE.name]
            assert gateway.messages() == []
        gateway.run("run", "--once")  # the other node is gone, and its lock with it
        assert list(sshd.local("acme").iterdir()) == []
        assert sorted(m["document_number"] for m in gateway.messages()) == ["4500012", "4500013"]
