"""Several gateway nodes on one PostgreSQL store: every file is processed, acknowledged and
recorded once, whichever node takes it.

Two `edigw run` processes share a store and an inbox (the shared folder of two machines, here one
folder on one machine) and race for the same files: the folder channel lets one node claim a
file, the store's advisory locks let one node at a time process an exchange, deliver a
message or send one, and a row lock lets one acknowledge an exchange.
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


def test_an_acknowledgment_applied_on_another_node_while_check_overdue_runs_is_not_overwritten():
    # Node A finds a sent 810 overdue; between its read and its write, node B applies the partner's
    # 997 to the same message (reading it as the acknowledgment code does). Whichever order the
    # two end in, the message ends acknowledged and its trail says from which state.
    import threading
    from datetime import datetime, timedelta

    from sqlalchemy import event, select
    from sqlalchemy.orm import Session

    from gateway.outbound import Outbound
    from gateway.store.db import open_store, transition
    from gateway.store.models import AuditEvent, Exchange, Message

    with postgres_database("edigw_overdue") as url:
        store = open_store(url)
        with store.session() as session:
            exchange = Exchange(partner="bigbox-stores", channel="out", direction="out", original_name="810_1.x12",
                                size=1, sha256="0" * 64, state="sent")
            session.add(exchange)
            session.flush()
            message = Message(exchange_id=exchange.id, position=0, interchange_position=0, partner="bigbox-stores",
                              direction="out", standard="x12", type="810", ref="0001", interchange_ref="000000001",
                              state="sent", ack_due_at=datetime.utcnow() - timedelta(hours=1))
            session.add(message)
            session.flush()
            message_id = message.id
        node_a, node_b = Outbound.__new__(Outbound), Outbound.__new__(Outbound)
        node_a.store = node_b.store = store

        def node_b_applies_the_997():
            with store.session() as session:
                [ours] = node_b._ours(session, "bigbox-stores", "x12", interchange_ref="1")
                transition(session, ours, "acknowledged", "node B", "997 from bigbox-stores: accepted")

        applying: list[threading.Thread] = []

        def between_read_and_write(session, _context, _instances):
            if not applying and any(isinstance(row, Message) and row.state == "overdue" for row in session.dirty):
                applying.append(threading.Thread(target=node_b_applies_the_997))
                applying[0].start()
                applying[0].join(timeout=1.0)  # done now, unless node A's lock makes it wait for A's commit

        event.listen(Session, "before_flush", between_read_and_write)
        try:
            node_a.check_overdue()
        finally:
            event.remove(Session, "before_flush", between_read_and_write)
        applying[0].join(timeout=10)
        with store.session() as session:
            state = session.get(Message, message_id).state
            trail = [(e.from_state, e.to_state) for e in session.scalars(select(AuditEvent).where(
                AuditEvent.subject == "message", AuditEvent.subject_id == message_id).order_by(AuditEvent.id))]
        store.engine.dispose()
    assert state == "acknowledged"
    assert trail == [("sent", "overdue"), ("overdue", "acknowledged")]


def test_two_nodes_acknowledging_one_exchange_at_once_record_one_acknowledgment(tmp_path):
    # A node finished a file and stopped before acknowledging it; at the next start two nodes'
    # `acknowledge_pending` find it together. Node B records its CONTRL while node A, which read
    # the exchange before B began, is about to write its own: A must find it made and add none.
    import threading

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from gateway.app import App
    from gateway.config import load_settings

    with postgres_database("edigw_ack_race") as url:
        gateway = make_gateway(tmp_path / "gw", partners=("acme-retail",))
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{url}"\n')
        dropped = gateway.inbox("acme-retail") / SAMPLE.name
        dropped.write_bytes(SAMPLE.read_bytes())
        age(dropped)
        run = subprocess.run(gateway.command("run", "--once"), capture_output=True, env=gateway.env(),
                             cwd=gateway.home, timeout=120)
        assert run.returncode == 0, run.stderr.decode(errors="replace")
        with psycopg.connect(url.replace("+psycopg", "")) as db:  # as if it had stopped before acknowledging
            db.execute("UPDATE messages SET acknowledged_by_id = NULL")
            db.execute("UPDATE exchanges SET ack_state = NULL, ack_exchange_id = NULL WHERE direction = 'in'")
            for table in ("interchanges", "messages"):
                db.execute(f"DELETE FROM {table} WHERE exchange_id IN (SELECT id FROM exchanges WHERE direction = 'out')")
            db.execute("DELETE FROM exchanges WHERE direction = 'out'")
            [(exchange_id,)] = db.execute("SELECT id FROM exchanges WHERE direction = 'in'").fetchall()

        node_a, node_b = (App(load_settings(str(gateway.config))) for _ in range(2))
        made_by_b: list[list[int]] = []
        begun: list[Session] = []

        def b_acknowledges_between_a_read_and_a_write(session, _transaction, connection):
            store_a = node_a.__dict__.get("store")  # node A's store, once opened
            if store_a is None or connection.engine is not store_a.engine:
                return
            begun.append(session)
            if len(begun) == 2:  # A's second transaction: the one that writes
                racer = threading.Thread(target=lambda: made_by_b.append(node_b.pipeline.outbound.acknowledge(exchange_id)))
                racer.start()
                racer.join(timeout=30)

        event.listen(Session, "after_begin", b_acknowledges_between_a_read_and_a_write)
        try:
            made_by_a = node_a.pipeline.outbound.acknowledge(exchange_id)
        finally:
            event.remove(Session, "after_begin", b_acknowledges_between_a_read_and_a_write)
        node_a.close()
        node_b.close()
        with psycopg.connect(url.replace("+psycopg", "")) as db:
            outbound = db.execute("SELECT id FROM exchanges WHERE direction = 'out'").fetchall()
            acknowledged = db.execute("SELECT ack_state, ack_exchange_id FROM exchanges WHERE id = %s",
                                      (exchange_id,)).fetchone()
    assert len(made_by_b) == 1 and len(made_by_b[0]) == 1, "node B acknowledged while node A waited to write"
    assert made_by_a == []
    assert [row[0] for row in outbound] == made_by_b[0]  # one CONTRL, node B's
    assert acknowledged == ("made", made_by_b[0][0])


def test_a_transaction_still_working_does_not_hold_up_another_nodes_audit_events():
    # Node A has recorded a state change and is still at work in its transaction (a big batch,
    # an acknowledgment being written); node B commits its own change meanwhile without waiting
    # for A, because the chain is extended at commit. Both end in one unbroken chain, B's first.
    import threading

    from sqlalchemy import select

    from gateway.store.db import open_store, record_event, verify_chain
    from gateway.store.models import AuditEvent

    with postgres_database("edigw_chain_at_commit") as url:
        store_a, store_b = open_store(url), open_store(url)
        b_done = threading.Event()

        def node_b() -> None:
            with store_b.session() as session:
                record_event(session, "exchange", 2, None, "received", "node B")
            b_done.set()

        with store_a.session() as session:
            record_event(session, "exchange", 1, None, "received", "node A")
            session.execute(select(AuditEvent.id).limit(1))  # A's transaction is open and has worked
            racer = threading.Thread(target=node_b)
            racer.start()
            b_committed_while_a_worked = b_done.wait(timeout=10)
        racer.join(timeout=10)
        with store_a.session() as session:
            actors = [event.actor for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
            checked = verify_chain(session)
        store_a.close()
        store_b.close()
    assert b_committed_while_a_worked, "node B waited for node A's transaction to end"
    assert actors == ["node B", "node A"]
    assert checked == (2, [])
