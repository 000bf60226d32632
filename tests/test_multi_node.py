"""Several gateway nodes on one PostgreSQL store: every file is processed, acknowledged and
recorded once, whichever node takes it.

Two `edigw run` processes share a store and an inbox (the shared folder of two machines, here one
folder on one machine) and race for the same files: the folder channel lets one node claim a
file, and the store's advisory locks let one node at a time process an exchange, deliver a
message, acknowledge an exchange or send one.
"""

from __future__ import annotations

import subprocess

import psycopg

from conftest import ROOT, postgres_database
from gateway_fixtures import age, make_gateway

SAMPLE = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"
FILES = 40


def test_two_nodes_racing_for_one_inbox_process_and_acknowledge_each_file_once(tmp_path):
    with postgres_database() as url:
        gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{url}"\n')
        text = SAMPLE.read_text(encoding="latin-1")
        for number in range(FILES):  # distinct files: the same bytes twice would be a duplicate
            target = gateway.inbox("acme-retail") / f"ORDERS_{number:03d}.edi"
            target.write_text(text.replace("4500012", f"46{number:05d}"), encoding="latin-1")
            age(target)
        nodes = [subprocess.Popen(gateway.command("run", "--once"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=gateway.env(), cwd=gateway.home) for _ in range(2)]
        outputs = [node.communicate(timeout=300) for node in nodes]
        for node, (_, stderr) in zip(nodes, outputs):
            assert node.returncode == 0, stderr.decode(errors="replace")
            assert b"Traceback" not in stderr and b"internal error" not in stderr, stderr.decode(errors="replace")

        with psycopg.connect(url.replace("+psycopg", "")) as db:
            states = db.execute("SELECT state, count(*) FROM exchanges WHERE direction = 'in' GROUP BY state").fetchall()
            orders = db.execute("SELECT count(*), count(DISTINCT document_number) FROM messages "
                                "WHERE direction = 'in' AND state = 'translated'").fetchone()
            acks = db.execute("SELECT count(*), count(DISTINCT ack_exchange_id) FROM exchanges "
                              "WHERE direction = 'in' AND ack_state = 'made'").fetchone()
            sent = db.execute("SELECT state, count(*) FROM exchanges WHERE direction = 'out' GROUP BY state").fetchall()
        assert states == [("processed", FILES)]
        assert orders == (2 * FILES, FILES + 1)  # each file's own order, and the sample's second, 4500013
        assert acks == (FILES, FILES)  # one CONTRL for each file, none twice
        assert sent == [("sent", FILES)]
        assert len(list((gateway.state / "outbox" / "acme-retail").iterdir())) == FILES
