"""edigw backup and restore: the store and the archive, copied while the daemon runs, put back after a loss."""

from __future__ import annotations

import json

from gateway.store.db import head_revision
import shutil
import signal

from gateway.store.db import head_revision
from gateway_fixtures import age, drop_samples, make_gateway


def test_a_backup_taken_while_the_daemon_runs_restores_every_message_and_its_bytes(tmp_path):
    gateway = make_gateway(tmp_path / "gw")
    for path in drop_samples(gateway):
        age(path)
    daemon = gateway.start()
    try:
        assert gateway.wait_for(lambda: len(gateway.messages(state="translated")) >= 5, timeout=60)
        done = gateway.run("backup", str(tmp_path / "backup"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
    assert "backed up to" in done.stdout.decode() and f"schema {head_revision()}" in done.stdout.decode()
    manifest = json.loads((tmp_path / "backup" / "edigw-backup.json").read_text())
    assert manifest["store"] == "sqlite" and manifest["archive_files"] >= 3
    before = gateway.messages()
    raw = gateway.run("messages", "show", str(before[0]["id"]), "--raw").stdout

    shutil.rmtree(gateway.state / "archive")
    (gateway.state / "edigw.db").unlink()
    for leftover in gateway.state.glob("edigw.db-*"):
        leftover.unlink()
    restored = gateway.run("restore", str(tmp_path / "backup"))
    assert "restored the backup" in restored.stdout.decode()
    assert gateway.messages() == before
    assert gateway.run("messages", "show", str(before[0]["id"]), "--raw").stdout == raw
    assert "the chain is intact" in gateway.run("audit", "verify").stdout.decode()


def test_backup_and_restore_refuse_what_would_lose_data(tmp_path):
    gateway = make_gateway(tmp_path / "gw")
    gateway.run("run", "--once")
    gateway.run("backup", str(tmp_path / "backup"))
    again = gateway.run("backup", str(tmp_path / "backup"), check=False)
    assert again.returncode == 1 and "is not empty: back up into a new folder" in again.stderr.decode()
    over = gateway.run("restore", str(tmp_path / "backup"), check=False)
    assert over.returncode == 1 and "exists: stop the daemon, then restore with --force" in over.stderr.decode()
    assert gateway.run("restore", str(tmp_path / "backup"), "--force").returncode == 0
    nothing = gateway.run("restore", str(tmp_path), check=False)
    assert nothing.returncode == 1 and "is not an edigw backup" in nothing.stderr.decode()
