"""Under systemd: sd_notify over a real datagram socket, SIGHUP reloading profiles, the hardened unit."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT
from gateway_fixtures import SAMPLE_INBOX, age, make_gateway


def _datagrams(sock: socket.socket, until: str, timeout: float = 30) -> list[str]:
    """What the daemon told 'systemd', up to and including the first datagram containing `until`."""
    received = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            received.append(sock.recv(4096).decode())
        except socket.timeout:
            break
        if until in received[-1]:
            return received
    raise AssertionError(f"no {until!r} among {received}")


def test_the_daemon_tells_systemd_ready_status_watchdog_reloading_and_stopping(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        environment = {**gateway.env(), "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
        gateway.env = lambda: environment
        daemon = gateway.start()
        try:
            ready = _datagrams(sock, "READY=1")
            assert "STATUS=running: 1 inbox(es), 0 SFTP channel(s)" in ready[-1]
            assert _datagrams(sock, "WATCHDOG=1", timeout=5)
            daemon.send_signal(signal.SIGHUP)
            reload = _datagrams(sock, "READY=1")
            assert any("RELOADING=1" in datagram for datagram in reload)
        finally:
            daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        assert _datagrams(sock, "STOPPING=1")


def test_sighup_takes_a_new_profile_and_keeps_the_old_ones_when_a_profile_is_bad(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    daemon = gateway.start()
    try:
        shutil.copyfile(ROOT / "partners" / "corner-shop.yaml", gateway.partners / "corner-shop.yaml")
        daemon.send_signal(signal.SIGHUP)
        assert gateway.wait_for(lambda: "reloaded 2 partner profile(s)" in gateway.daemon_log())
        for sample in (SAMPLE_INBOX / "corner-shop").iterdir():
            age(shutil.copyfile(sample, gateway.inbox("corner-shop") / sample.name))
        assert gateway.wait_for(lambda: gateway.messages(partner="corner-shop", state="translated"), timeout=30), \
            gateway.daemon_log()

        (gateway.partners / "broken.yaml").write_text("id: broken\nchannels: [\n", encoding="utf-8")
        daemon.send_signal(signal.SIGHUP)
        assert gateway.wait_for(lambda: "reload refused, the profiles in use stay" in gateway.daemon_log())
        assert "broken.yaml" in gateway.daemon_log().split("reload refused")[-1]
        assert daemon.poll() is None
        for sample in (SAMPLE_INBOX / "acme-retail").iterdir():  # the profiles in use go on working
            age(shutil.copyfile(sample, gateway.inbox("acme-retail") / sample.name))
        assert gateway.wait_for(lambda: gateway.messages(partner="acme-retail", state="translated"), timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_shipped_unit_rates_2_5_or_better_and_writes_where_the_readme_says():
    unit = ROOT / "systemd" / "edigw.service"
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True,
                          text=True, timeout=60)
    rating = re.search(r"Overall exposure level for edigw.service: (\d+\.\d)", done.stdout)
    assert rating and float(rating.group(1)) <= 2.5, done.stdout[-2000:]
    text = unit.read_text(encoding="utf-8")
    [paths] = re.findall(r"^ReadWritePaths=(.*)$", text, re.M)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in paths.split():
        assert f"`{path}" in readme, f"{path} is writable by the unit but the README's layout does not say it"
    assert "UMask=0027" in text and "Type=notify" in text and "WatchdogSec=" in text
