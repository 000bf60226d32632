"""The inbound pipeline end to end: real folders, real SQLite, the real CLI as a subprocess."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import CORPUS, ROOT
from gateway_fixtures import age, drop_samples, make_gateway

SAMPLES = ROOT / "samples" / "inbox"


@pytest.fixture
def gateway(tmp_path):
    return make_gateway(tmp_path)


def test_run_once_translates_every_shipped_sample(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    messages = gateway.messages()
    by_number = {m["document_number"]: m for m in messages}
    assert set(by_number) == {"4500012", "4500013", "PO-77812", "CS-1001", "CS-1002"}
    assert {m["state"] for m in messages} == {"translated"}
    assert by_number["PO-77812"]["partner"] == "bigbox-stores"
    assert by_number["4500012"]["type"] == "ORDERS"


def test_processed_files_leave_the_inbox_for_processed(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    inbox = gateway.inbox("acme-retail")
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert (inbox / "processed" / "ORDERS_4500012.edi").is_file()


def test_messages_show_raw_prints_the_archived_bytes_byte_for_byte(gateway):
    sample = drop_samples(gateway)[0]
    original = sample.read_bytes()
    age(sample)
    gateway.run("run", "--once")
    message = gateway.messages(partner="acme-retail")[0]
    shown = gateway.run("messages", "show", str(message["id"]), "--raw")
    assert shown.stdout == original


def test_messages_show_json_gives_document_envelope_and_audit_trail(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    message = next(m for m in gateway.messages() if m["document_number"] == "4500012")
    detail = gateway.json("messages", "show", str(message["id"]))
    assert detail["document"]["buyer"]["gln"] == "4012345000009"
    assert detail["document"]["lines"][1]["quantity"] == "12.5"
    assert detail["interchange"]["control_ref"] == "ACME000117"
    assert [event["to"] for event in detail["audit"] if event["subject"] == "message"] == [
        "received", "parsed", "translated"]
    assert "<BGM" in detail["tree"]


def test_reprocess_from_translate_runs_again_and_is_audited(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    message = gateway.messages(partner="bigbox-stores")[0]
    done = gateway.run("reprocess", str(message["id"]), "--from", "translate")
    assert f"message {message['id']}: translated" in done.stdout.decode()
    detail = gateway.json("messages", "show", str(message["id"]))
    states = [event["to"] for event in detail["audit"] if event["subject"] == "message"]
    assert states == ["received", "parsed", "translated", "received", "parsed", "translated"]
    assert any(event["actor"].startswith("reprocess by") for event in detail["audit"])
    gateway.run("audit", "verify")


def test_audit_verify_fails_on_a_tampered_event(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    assert gateway.run("audit", "verify").returncode == 0
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        db.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE id = 3")
    failed = gateway.run("audit", "verify", check=False)
    assert failed.returncode == 1
    assert "audit event 3: its content does not match its hash" in failed.stdout.decode()


def test_audit_verify_fails_when_an_event_is_removed(gateway):
    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        db.execute("DELETE FROM audit_events WHERE id = 4")
    failed = gateway.run("audit", "verify", check=False)
    assert failed.returncode == 1
    assert "audit event 5: does not follow the event before it" in failed.stdout.decode()


def test_the_same_file_sent_twice_is_recorded_as_a_duplicate_and_not_processed_again(gateway):
    sample = drop_samples(gateway)[0]
    data = sample.read_bytes()
    age(sample)
    gateway.run("run", "--once")
    again = gateway.inbox("acme-retail") / "ORDERS_4500012_again.edi"
    again.write_bytes(data)
    age(again)
    gateway.run("run", "--once")
    assert len(gateway.messages(partner="acme-retail")) == 2
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        rows = db.execute("SELECT original_name, state, duplicate_of FROM exchanges "
                          "WHERE partner = 'acme-retail' AND direction = 'in' ORDER BY id").fetchall()
    assert rows == [("ORDERS_4500012.edi", "processed", None), ("ORDERS_4500012_again.edi", "duplicate", 1)]


BAD_FILES = {
    "empty.edi": b"",
    "blank.edi": b"\r\n  \n",
    "junk.edi": bytes(range(256)) * 4,
    "truncated.edi": (CORPUS / "edifact/ORDERS/oca_retail_orders_sample1.txt").read_bytes()[:300],
    "bom_then_junk.edi": b"\xef\xbb\xbfHello, this is not EDI\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_ends_rejected_with_a_reason_and_its_bytes_archived(gateway, name):
    path = gateway.inbox("acme-retail") / name
    path.write_bytes(BAD_FILES[name])
    age(path)
    gateway.run("run", "--once")
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        exchange = db.execute("SELECT id, state, reason, sha256 FROM exchanges WHERE direction = 'in'").fetchone()
        messages = db.execute("SELECT state, reason FROM messages WHERE direction = 'in'").fetchall()
    _, state, reason, sha256 = exchange
    archived = gateway.state / "archive" / sha256[:2] / sha256[2:4] / sha256
    assert archived.read_bytes() == BAD_FILES[name]
    if state == "rejected":
        assert reason
    else:
        assert state == "processed"
        assert messages and all(m_state == "rejected" and m_reason for m_state, m_reason in messages)


def test_a_file_over_the_size_limit_is_archived_and_rejected(gateway):
    gateway.config.write_text(gateway.config.read_text() + "[limits]\nmax_file_size = 1000\n")
    path = gateway.inbox("acme-retail") / "big.edi"
    path.write_bytes(b"UNB+" + b"x" * 5000)
    age(path)
    gateway.run("run", "--once")
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        state, reason = db.execute("SELECT state, reason FROM exchanges WHERE direction = 'in'").fetchone()
    assert state == "rejected"
    assert "over the limit of 1000 bytes" in reason


def test_a_message_with_a_wrong_count_is_rejected_while_its_neighbours_go_on(gateway):
    good = (CORPUS / "edifact/ORDERS/bots_orders_two_messages.edi").read_bytes()
    text = good.decode("latin-1")
    first_unt = text.index("UNT+")
    end = text.index("+", first_unt + 4)
    broken = text[:first_unt + 4] + "99" + text[end:]
    profile = gateway.partners / "acme-retail.yaml"
    profile.write_text(profile.read_text().replace('id: "4012345000009", ', ""))
    path = gateway.inbox("acme-retail") / "two.edi"
    path.write_bytes(broken.encode("latin-1"))
    age(path)
    gateway.run("run", "--once")
    states = sorted(m["state"] for m in gateway.messages())
    assert states == ["rejected", "translated"]
    rejected = gateway.messages(state="rejected")[0]
    assert "99" in rejected["reason"]


def test_a_file_from_another_sender_is_rejected_naming_both(gateway):
    path = gateway.inbox("acme-retail") / "foreign.edi"
    path.write_bytes((CORPUS / "edifact/ORDERS/oca_retail_orders_sample1.txt").read_bytes())
    age(path)
    gateway.run("run", "--once")
    message = gateway.messages()[0]
    assert message["state"] == "rejected"
    assert "5450534000000" in message["reason"] and "4012345000009" in message["reason"]


def outbox_files(gateway) -> list[str]:
    folder = gateway.state / "outbox"
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def exchange_row(gateway, name: str) -> tuple[str, str]:
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        return db.execute("SELECT state, reason FROM exchanges WHERE original_name = ?", (name,)).fetchone()


def test_an_edifact_file_in_an_x12_partner_s_inbox_is_not_from_that_partner_and_nothing_is_sent(gateway):
    path = gateway.inbox("bigbox-stores") / "ORDERS_4500012.edi"
    path.write_bytes((SAMPLES / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    age(path)
    gateway.run("run", "--once")
    state, reason = exchange_row(gateway, "ORDERS_4500012.edi")
    assert state == "rejected"
    assert reason == "not from bigbox-stores: an EDIFACT file, and the profile has identifiers only for x12"
    assert {m["state"] for m in gateway.messages(partner="bigbox-stores")} == {"rejected"}
    assert outbox_files(gateway) == []


def test_an_x12_group_from_another_gs_sender_is_not_translated_nor_acknowledged(gateway):
    text = (SAMPLES / "bigbox-stores" / "850_PO-77812.x12").read_text(encoding="latin-1")
    assert "GS*PO*BIGBOX*" in text
    path = gateway.inbox("bigbox-stores") / "850_other_gs.x12"
    path.write_text(text.replace("GS*PO*BIGBOX*", "GS*PO*SOMEONEELSE*"), encoding="latin-1")
    age(path)
    gateway.run("run", "--once")
    state, reason = exchange_row(gateway, "850_other_gs.x12")
    assert state == "rejected"
    assert reason == "not from bigbox-stores: GS02 sender 'SOMEONEELSE' is not the profile's 'BIGBOX'"
    [message] = gateway.messages(partner="bigbox-stores")
    assert message["state"] == "rejected" and message["reason"] == reason
    assert outbox_files(gateway) == []


def test_a_second_interchange_from_another_isa_sender_makes_the_whole_file_not_from_the_partner(gateway):
    # The senders are taken from every envelope the one parse reads, not only the first.
    text = (SAMPLES / "bigbox-stores" / "850_PO-77812.x12").read_text(encoding="latin-1")
    isa06 = text[text.index("ISA"):].split("*")[6]
    other = text.replace(isa06, "SOMEONEELSE".ljust(len(isa06)), 1)
    path = gateway.inbox("bigbox-stores") / "850_two_senders.x12"
    path.write_text(text.rstrip() + "\n" + other, encoding="latin-1")
    age(path)
    gateway.run("run", "--once")
    state, reason = exchange_row(gateway, "850_two_senders.x12")
    assert state == "rejected"
    assert reason == f"not from bigbox-stores: ISA06 sender 'SOMEONEELSE' is not the profile's {isa06.strip()!r}"
    messages = gateway.messages(partner="bigbox-stores")
    assert len(messages) == 2 and {m["state"] for m in messages} == {"rejected"}
    assert outbox_files(gateway) == []


def test_reprocess_reads_again_only_as_far_as_the_message_s_own_interchange(gateway):
    # The first of two interchanges: the reread stops at its end, and lets go of the archive's map.
    text = (SAMPLES / "bigbox-stores" / "850_PO-77812.x12").read_text(encoding="latin-1")
    second = text.replace("PO-77812", "PO-77813").replace("000000311", "000000312")
    path = gateway.inbox("bigbox-stores") / "850_two_interchanges.x12"
    path.write_text(text.rstrip() + "\n" + second, encoding="latin-1")
    age(path)
    gateway.run("run", "--once")
    first = next(m for m in gateway.messages(partner="bigbox-stores") if m["document_number"] == "PO-77812")
    done = gateway.run("reprocess", str(first["id"]))
    assert f"message {first['id']}: translated" in done.stdout.decode()
    detail = gateway.json("messages", "show", str(first["id"]))
    assert detail["document"]["document_number"] == "PO-77812"
    assert [event["to"] for event in detail["audit"] if event["subject"] == "message"][-3:] == [
        "received", "parsed", "translated"]
