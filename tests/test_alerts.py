"""Alerts from a running daemon to a real local SMTP server (aiosmtpd) and a real local HTTP receiver."""

from __future__ import annotations

import json
import signal
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from conftest import ROOT
from gateway_fixtures import age, make_gateway

ACME = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()
BIGBOX = (ROOT / "samples/inbox/bigbox-stores/850_PO-77812.x12").read_bytes()


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()


@pytest.fixture
def receiver():
    posts: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    server.shutdown()


def test_rejected_messages_are_sent_grouped_to_each_partners_route(tmp_path, smtp, receiver):
    smtp_port, mailbox = smtp
    url, posts = receiver
    gateway = make_gateway(tmp_path, partners=("acme-retail", "bigbox-stores"))
    gateway.config.write_text(gateway.config.read_text() + (
        f'[alerts]\ninterval_seconds = 4\nemail = ["edi-support@example.com"]\nsmtp_host = "127.0.0.1"\n'
        f'smtp_port = {smtp_port}\nsmtp_from = "edigw@example.com"\n'
        f'[alerts.partners.acme-retail]\nwebhook = "{url}"\n'), encoding="utf-8")
    # Segment counts that do not match: each message is rejected by the syntax check.
    for number in (1, 2):
        path = gateway.inbox("acme-retail") / f"bad{number}.edi"
        path.write_bytes(ACME.replace(b"4500012", b"990000%d" % number).replace(b"UNT+23+1", b"UNT+99+1"))
        age(path)
    bad = gateway.inbox("bigbox-stores") / "bad.x12"
    bad.write_bytes(BIGBOX.replace(b"SE*14*0001", b"SE*99*0001"))
    age(bad)
    daemon = gateway.start()
    try:
        assert gateway.wait_for(lambda: posts and mailbox.mails, timeout=40), gateway.daemon_log()
        gateway.wait_for(lambda: False, timeout=6)  # one more interval: nothing new, nothing sent
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
    [post] = posts  # one message for the interval, not one per file
    rejected = [event for event in post["events"] if event["event"] == "rejected"]
    assert {event["partner"] for event in post["events"]} == {"acme-retail"}
    assert len({event.get("message_id") for event in rejected if "message_id" in event}) == 2
    assert "need a person" in post["subject"] and "rejected" in post["subject"]
    [(recipients, mail)] = mailbox.mails
    assert recipients == ["edi-support@example.com"] and mail["From"] == "edigw@example.com"
    body = mail.get_payload()
    assert "rejected: bigbox-stores" in body and "acme-retail" not in body


def test_an_unknown_alerts_key_is_a_config_error_naming_it(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    gateway.config.write_text(gateway.config.read_text() + '[alerts]\nwebhok = "http://x"\n', encoding="utf-8")
    done = gateway.run("status", check=False)
    assert done.returncode == 1 and "[alerts] has unknown key(s) webhok" in done.stderr.decode()
