"""A file of thousands of messages gets the same acknowledgment, written and checked as it is made.

The CONTRL (997) answering every message of a big interchange is made from the parse's records
on disk, written to a temporary file a block at a time and read back from there in pieces
(gateway.formats.acks, gateway.outbound): what the partner gets is what it would get from an
acknowledgment built whole. Stored, it is a summary: each answered message's row says what it
answered of it, and `messages show` says so and lists those answers.
"""

from __future__ import annotations

import re

from test_outbound import ACME, BIGBOX, Gateway, read_back

from gateway.formats import acks
from gateway.outbound import STORED_ANSWERS
from gateway.queries import describe_message, show_message

MESSAGES = 2500  # more than STORED_ANSWERS, and a CONTRL of more than acks.CHECK_WHOLE bytes


def big_interchange(count: int, broken: int) -> bytes:
    """ACME's interchange with `count` copies of its second order (refs 1…count); order `broken`
    has a trailer that miscounts its segments."""
    text = ACME.decode("latin-1")
    head = text[:text.index("UNH+1+")]
    order = text[text.index("UNH+2+"):text.index("UNZ+")]
    orders = []
    for ref in range(1, count + 1):
        one = order.replace("UNH+2+", f"UNH+{ref}+").replace("UNT+12+2'", f"UNT+{13 if ref == broken else 12}+{ref}'")
        orders.append(one)
    return (head + "".join(orders) + f"UNZ+{count}+ACME000117'\n").encode("latin-1")


def test_a_big_interchange_gets_one_contrl_with_a_ucm_for_each_message(tmp_path):
    gateway = Gateway(tmp_path)
    exchange_id = gateway.receive("acme", big_interchange(MESSAGES, broken=777))
    [data] = gateway.files("acme").values()
    assert len(data) > acks.CHECK_WHOLE  # read back in pieces, from its temporary file
    assert acks.check(data) == []
    _, [contrl] = read_back(data)
    ucms = re.findall(r"UCM\+(\d+)\+ORDERS:D:96A:UN:EAN008\+(\d)(?:\+(\d+)\+UNT)?'", data.decode("latin-1"))
    assert [ref for ref, *_ in ucms] == [str(n) for n in range(1, MESSAGES + 1)]
    assert [(ref, action, code) for ref, action, code in ucms if action != "7"] == [("777", "4", "29")]
    assert MESSAGES > STORED_ANSWERS
    assert contrl.errors == []
    inbound = gateway.exchange(exchange_id)
    assert inbound.ack_state == "made"
    [ours] = gateway.rows(exchange_id=inbound.ack_exchange_id)
    assert {m.acknowledged_by_id for m in gateway.rows(exchange_id=exchange_id)} == {ours.id}
    gateway.store.close()


def test_a_big_acknowledgment_is_stored_as_a_summary_and_shown_with_the_answers_of_its_messages(tmp_path):
    gateway = Gateway(tmp_path)
    exchange_id = gateway.receive("acme", big_interchange(MESSAGES, broken=3))
    [ours] = gateway.rows(exchange_id=gateway.exchange(exchange_id).ack_exchange_id)
    detail = show_message(gateway.store, gateway.archive, ours.id, with_tree=True)
    assert detail["document"]["answers"] == MESSAGES
    assert detail["document"]["status"] == "partial"  # one message rejected, the others accepted
    assert detail["answers"]["by_status"] == {"accepted": MESSAGES - 1, "rejected": 1}
    assert [(a["ref"], a["status"]) for a in detail["answers"]["first"][:4]] == [
        ("1", "accepted"), ("2", "accepted"), ("3", "rejected"), ("4", "accepted")]
    shown = describe_message(detail)
    assert f"CONTRL answering {MESSAGES} messages of interchange ACME000117" in shown
    assert f"answers, from the {MESSAGES} answered messages' rows: {MESSAGES - 1} accepted, 1 rejected" in shown
    assert "(position 2, ref 3): rejected" in shown
    assert f"… and {MESSAGES - 20} more" in shown
    gateway.store.close()


def test_a_normal_acknowledgment_is_stored_segment_by_segment(tmp_path):
    gateway = Gateway(tmp_path)
    exchange_id = gateway.receive("acme", ACME)
    [ours] = gateway.rows(exchange_id=gateway.exchange(exchange_id).ack_exchange_id)
    detail = show_message(gateway.store, gateway.archive, ours.id)
    assert [s[0] for s in detail["document"]["segments"]] == ["UCI", "UCM", "UCM"]
    assert "answers" not in detail
    gateway.store.close()


def test_a_big_x12_group_gets_one_997_with_an_ak2_and_ak5_for_each_set(tmp_path):
    text = BIGBOX.decode("latin-1")
    start, end = text.index("ST*850*"), text.index("GE*")
    one = text[start:end]
    sets = "".join(one.replace("ST*850*0001~", f"ST*850*{n:04d}~").replace("SE*14*0001~", f"SE*14*{n:04d}~")
                   for n in range(1, MESSAGES + 1))
    data = text[:start] + sets + text[end:].replace("GE*1*", f"GE*{MESSAGES}*", 1)
    gateway = Gateway(tmp_path)
    exchange_id = gateway.receive("bigbox", data.encode("latin-1"))
    [ack] = gateway.files("bigbox").values()
    assert acks.check(ack) == []
    written = ack.decode("latin-1")
    assert len(re.findall(r"AK2\*850\*\d{4}", written)) == MESSAGES
    assert f"AK9*A*{MESSAGES}*{MESSAGES}*{MESSAGES}" in written
    inbound = gateway.exchange(exchange_id)
    [ours] = gateway.rows(exchange_id=inbound.ack_exchange_id)
    assert {m.acknowledged_by_id for m in gateway.rows(exchange_id=exchange_id)} == {ours.id}
    gateway.store.close()
