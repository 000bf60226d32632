"""`edigw run --once` on a big file: a progress line on a terminal, nothing of it in a pipe or a log."""

from __future__ import annotations

import os
import pty
import re
import subprocess

from conftest import ROOT
from gateway.progress import messages_in
from gateway_fixtures import age, make_gateway

SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"


def big_interchange(copies: int) -> bytes:
    """The ACME sample's first order repeated `copies` times in one interchange, each with its own reference."""
    text = SAMPLE.read_text(encoding="latin-1")
    start, end = text.index("UNH+"), text.index("UNH+", text.index("UNH+") + 1)
    head, order = text[:start], text[start:end]
    body = "".join(order.replace("UNH+1+", f"UNH+{n}+", 1).replace("UNT+23+1'", f"UNT+23+{n}'", 1)
                   for n in range(1, copies + 1))
    return (head + body + f"UNZ+{copies}+ACME000117'\n").encode("latin-1")


def drop(gateway, name: str, data: bytes):
    path = gateway.inbox("acme-retail") / name
    path.write_bytes(data)
    age(path)


def test_the_message_headers_of_a_file_are_counted_for_its_progress():
    assert messages_in(SAMPLE.read_bytes()) == 2
    assert messages_in(big_interchange(37)) == 37
    x12 = (ROOT / "samples" / "inbox" / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    assert messages_in(x12) == 1  # its N1*ST (ship-to) is no transaction set
    assert messages_in(x12 + x12) == 2  # two interchanges in one file
    assert messages_in(b"order;line;qty\n1;1;5\n") is None  # a CSV file: no headers to count


def _run_on_a_terminal(gateway) -> str:
    """`edigw run --once` with its standard error on a pseudo-terminal; what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(gateway.command("run", "--once"), stdout=subprocess.DEVNULL, stderr=follower,
                               env=gateway.env(), cwd=gateway.home)
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=600) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_a_big_file_shows_its_progress_on_a_terminal_and_not_a_line_per_message(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    drop(gateway, "ORDERS_big.edi", big_interchange(6000))  # several seconds: 1,500 now take under one
    shown = _run_on_a_terminal(gateway)

    updates = re.findall(r"exchange 1 'ORDERS_big\.edi': ([\d,]+) of about 6,000 messages \((\d+)%\), [\d,]+/s", shown)
    assert updates, shown[-2000:]
    done = [int(count.replace(",", "")) for count, _ in updates]
    assert done == sorted(done) and done[-1] <= 6000
    assert re.search(r"exchange 1 'ORDERS_big\.edi': 6,000 messages in [\d.]+ s \([\d,]+/s\)\r?\n", shown)
    assert len(re.findall(r"message \d+ acme-retail ORDERS ref", shown)) == 0  # the progress line stands for them
    assert len(gateway.messages(state="translated")) == 6000


def test_a_pipe_gets_no_progress_line_but_a_line_per_message(tmp_path):
    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    drop(gateway, "ORDERS_big.edi", big_interchange(300))
    text = gateway.run("run", "--once").stderr.decode()
    assert "of about" not in text and "\r" not in text
    assert len(re.findall(r"message \d+ acme-retail ORDERS ref \d+: translated", text)) == 300
