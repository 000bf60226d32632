"""Health and metrics on the daemon's `[http]` port, read over real HTTP from a running `edigw run`."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.error
import urllib.request

from conftest import ROOT
from gateway_fixtures import drop_samples, make_gateway


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _start_with_http(gateway, extra: str = ""):
    gateway.config.write_text(gateway.config.read_text() + f"{extra}\n[http]\nport = 0\n", encoding="utf-8")
    daemon = gateway.start()
    found = gateway.wait_for(lambda: re.search(r"health and metrics on (http://\S+/)", gateway.daemon_log()),
                             timeout=20)
    assert found, gateway.daemon_log()
    return daemon, found.group(1)


def test_a_running_daemon_answers_healthz_readyz_and_metrics_from_its_store(tmp_path):
    gateway = make_gateway(tmp_path)
    drop_samples(gateway)
    daemon, base = _start_with_http(gateway)
    try:
        assert gateway.wait_for(lambda: len(gateway.messages(partner="acme-retail", state="translated")) == 2)
        assert _get(base + "healthz") == (200, '{"status":"alive"}\n')
        status, body = _get(base + "readyz")
        ready = json.loads(body)
        assert status == 200 and ready["ready"] is True, body
        assert ready["store"]["ok"] and ready["odoo"] == {"ok": True, "configured": False}
        polled = {entry["channel"]: entry for entry in ready["channels"]}
        assert "acme-retail/inbox" in polled and polled["acme-retail/inbox"]["last_success"] is not None

        status, text = _get(base + "metrics")
        assert status == 200
        assert 'edigw_messages{direction="in",partner="acme-retail",state="translated"} 2.0' in text
        assert 'edigw_work_waiting{state="translated"}' in text
        # every inbound message was recorded within the histogram's largest bucket
        count = re.search(r"^edigw_processing_latency_seconds_count (\S+)$", text, re.M)
        inf = re.search(r'^edigw_processing_latency_seconds_bucket\{le="\+Inf"\} (\S+)$', text, re.M)
        assert count and inf and float(count.group(1)) == float(inf.group(1)) >= 2
        archived = re.search(r"^edigw_archive_bytes (\S+)$", text, re.M)
        assert archived and float(archived.group(1)) > 0
        assert re.search(r'^edigw_channel_poll_errors\{channel="acme-retail/inbox",partner="acme-retail"\} 0.0$',
                         text, re.M)
        # the shipped alert rules and dashboard use only metrics the daemon serves
        shipped = set()
        for path in (ROOT / "ops").glob("*.*"):
            shipped |= set(re.findall(r"\bedigw_[a-z_]+", path.read_text(encoding="utf-8")))
        assert shipped and {name for name in shipped if name not in text} == set()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0


def test_readyz_says_503_and_why_when_odoo_cannot_be_reached(tmp_path):
    with socket.socket() as closed:  # a port on which nothing listens once this socket is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    daemon, base = _start_with_http(
        gateway, f'\n[odoo]\nurl = "http://127.0.0.1:{port}"\ndb = "x"\nuser = "admin"\npassword_env = "NONE"\n')
    try:
        status, body = _get(base + "readyz")
        ready = json.loads(body)
        assert status == 503 and ready["ready"] is False
        assert ready["store"]["ok"] is True
        assert ready["odoo"]["ok"] is False and f"127.0.0.1:{port} cannot be reached" in ready["odoo"]["reason"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
