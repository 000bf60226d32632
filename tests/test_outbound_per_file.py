"""A file of many interchanges is answered with one file of acknowledgments, one interchange each.

Each interchange a partner sends still gets its own CONTRL/997/TA1, with the content it gets when it
comes alone; what changes is that they travel together, as one outbound file numbered from one
reservation of control numbers, so that a file of thousands of interchanges costs one archive
write and one outbound exchange. The partner's TA1s are matched to what we sent all at once.
"""

from __future__ import annotations

import re

import pytest
from test_outbound import ACME, BIGBOX, Gateway, read_back, send_order

from gateway.formats import acks
from gateway.store.db import verify_chain, verify_rows
from gateway.store.models import Exchange


def edifact_interchanges(count: int) -> bytes:
    """The ACME sample (two ORDERS) `count` times, each interchange with its own reference."""
    return b"".join(ACME.replace(b"ACME000117", b"ACME%06d" % n) for n in range(count))


def x12_interchanges(count: int) -> bytes:
    return b"".join(BIGBOX.replace(b"000000311", b"%09d" % (500 + n)) for n in range(count))


def audited(gateway: Gateway) -> Gateway:
    """The store's audit chain keyed and anchored, as the daemon and the CLI have it: rows are sealed."""
    gateway.store.keep_anchor(gateway.settings.state_dir)
    return gateway


def assert_audit_verifies(gateway: Gateway) -> None:
    with gateway.store.session() as session:
        assert verify_chain(session, gateway.store.anchor)[1] == []
        assert verify_rows(session, gateway.store.anchor)[1] == []


def test_every_interchange_of_a_file_gets_its_own_contrl_in_one_outbound_file(tmp_path):
    gateway = audited(Gateway(tmp_path))
    exchange_id = gateway.receive("acme", edifact_interchanges(30))
    [(name, data)] = gateway.files("acme").items()  # one file, not thirty
    assert acks.check(data) == []
    interchanges, messages = read_back(data)
    assert [i.control_ref for i in interchanges] == [str(n) for n in range(1, 31)]  # consecutive, from one reservation
    assert [m.type for m in messages] == ["CONTRL"] * 30
    assert [m.tree.xpath("string(//UCI/UCI01)") for m in messages] == [f"ACME{n:06d}" for n in range(30)]
    assert name == "CONTRL_1.edi"
    inbound = gateway.exchange(exchange_id)
    assert inbound.ack_state == "made"
    out = gateway.rows(exchange_id=inbound.ack_exchange_id)
    assert [(m.interchange_position, m.interchange_ref, m.state) for m in out] == [
        (n, str(n + 1), "sent") for n in range(30)]
    # each inbound message points at the CONTRL of its own interchange
    by_id = {m.id: m for m in out}
    for message in gateway.rows(exchange_id=exchange_id):
        assert by_id[message.acknowledged_by_id].interchange_position == message.interchange_position
    assert_audit_verifies(gateway)
    gateway.store.close()


def test_each_contrl_says_what_it_says_when_its_interchange_comes_alone(tmp_path):
    broken = ACME.replace(b"UNT+12+2", b"UNT+13+2")  # its second message rejected: UCM 4 29
    together = Gateway(_folder(tmp_path / "together"))
    together.receive("acme", ACME + broken.replace(b"ACME000117", b"ACME000118") + ACME.replace(
        b"ACME000117", b"ACME000119"))
    [data] = together.files("acme").values()
    alone = []
    for number, part in enumerate((ACME, broken.replace(b"ACME000117", b"ACME000118"),
                                   ACME.replace(b"ACME000117", b"ACME000119"))):
        gateway = Gateway(_folder(tmp_path / f"alone-{number}"))
        gateway.receive("acme", part)
        [single] = gateway.files("acme").values()
        alone.append(_contrl_body(single))
        gateway.store.close()
    assert _contrl_body(data) == alone[0] + alone[1] + alone[2]
    assert "UCM+2+ORDERS:D:96A:UN:EAN008+4+29" in alone[1][0] and len(alone[1]) == 1
    together.store.close()


def _folder(path):
    path.mkdir()
    return path


def _contrl_body(data: bytes) -> list[str]:
    """The bodies of a file's CONTRL messages, between UNH and UNT (envelopes carry dates and numbers)."""
    return re.findall(r"UNH\+[^']*'(.*?)UNT\+", data.decode("latin-1"), re.S)


def test_every_x12_interchange_of_a_file_gets_its_own_997_numbered_one_after_another(tmp_path):
    gateway = Gateway(tmp_path)
    gateway.receive("bigbox", x12_interchanges(12))
    [data] = gateway.files("bigbox").values()
    assert acks.check(data) == []
    interchanges, messages = read_back(data)
    assert [i.control_ref for i in interchanges] == [f"{n:09d}" for n in range(1, 13)]
    assert [g.control_ref for i in interchanges for g in i.groups] == [str(n) for n in range(1, 13)]
    assert [m.ref for m in messages] == [f"{n:04d}" for n in range(1, 13)]
    assert {m.tree.xpath("string(//AK5/AK501)") for m in messages} == {"A"}
    gateway.store.close()


def test_an_acknowledgment_that_cannot_be_written_is_held_apart_and_the_others_go(tmp_path, monkeypatch):
    original = acks.contrl

    def broken_for_one(interchange, messages):
        ack = original(interchange, messages)
        if interchange.control_ref == "ACME000002":
            ack.segments[0][4] = "9"  # not an action code (0083)
        return ack

    monkeypatch.setattr(acks, "contrl", broken_for_one)
    gateway = Gateway(tmp_path)
    exchange_id = gateway.receive("acme", edifact_interchanges(4))
    [data] = gateway.files("acme").values()
    _, messages = read_back(data)
    assert [m.tree.xpath("string(//UCI/UCI01)") for m in messages] == ["ACME000000", "ACME000001", "ACME000003"]
    inbound = gateway.exchange(exchange_id)
    assert inbound.ack_state == "held"
    held = [e for e in _outbound(gateway) if e.state == "held"]
    [exchange] = held
    assert "UCI" in exchange.reason and "'9'" in exchange.reason
    [row] = gateway.rows(exchange_id=exchange.id)
    assert (row.state, row.interchange_ref) == ("held", "3")  # it kept its number; the others are 1, 2 and 4
    gateway.store.close()


def _outbound(gateway: Gateway) -> list[Exchange]:
    with gateway.store.session() as session:
        return list(session.query(Exchange).filter(Exchange.direction == "out").order_by(Exchange.id))


@pytest.fixture
def expecting(tmp_path):
    gateway = audited(Gateway(tmp_path, bigbox="{send: true, expect: true, overdue_after: 2h}",
                              identity={"x12": {"id": "NORDICSUPPLY", "qualifier": "ZZ"}}))
    yield gateway
    gateway.store.close()


def test_the_ta1s_of_a_file_are_matched_to_each_interchange_we_sent(expecting):
    first, first_row = send_order(expecting, "bigbox")
    second, second_row = send_order(expecting, "bigbox")
    head = "ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261121*0900*U*00401*000000901*0*P*>~"
    ta1s = (f"TA1*{first.control_ref}*261121*0900*R*006~"
            f"TA1*{int(second.control_ref)}*261121*0900*R*006~"  # without its leading zeros: still ours
            "TA1*000777777*261121*0900*A*000~")
    expecting.receive("bigbox", (head + ta1s + "IEA*0*000000901~").encode())
    received = expecting.rows(direction="in", type="TA1")
    assert [m.state for m in received] == ["delivered", "delivered", "held"]
    assert "777777" in received[2].reason
    assert [expecting.rows(id=row.id)[0].state for row in (first_row, second_row)] == ["rejected", "rejected"]
    assert expecting.rows(id=first_row.id)[0].acknowledged_by_id == received[0].id
    assert expecting.rows(id=second_row.id)[0].acknowledged_by_id == received[1].id
    assert_audit_verifies(expecting)  # each row sealed in the state its last event names
