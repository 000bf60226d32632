"""Partner input that used to stop a file, an inbox or the gateway: each ends in a readable state.

Every test drops a real sample (or corpus file), changed the way a partner's file was found
changed, into a real folder inbox and runs the real CLI on a real SQLite store.
"""

from __future__ import annotations

import json
import time
import pytest
import sqlalchemy

from gateway_fixtures import age, make_gateway, SAMPLE_INBOX


@pytest.fixture
def gateway(tmp_path):
    return make_gateway(tmp_path)


def drop(gateway, partner: str, name: str, data: bytes):
    path = gateway.inbox(partner) / name
    path.write_bytes(data)
    age(path)
    return path


def exchanges(gateway, direction: str = "in") -> list[tuple]:
    url = getattr(gateway, "store_url", f"sqlite:///{gateway.state / 'edigw.db'}")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sqlalchemy.text(
                "SELECT original_name, state, reason FROM exchanges WHERE direction = :direction ORDER BY id"),
                {"direction": direction})]
    finally:
        engine.dispose()


def test_a_control_character_in_an_edifact_name_rejects_that_message_with_contrl_code_21(gateway):
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    data = data.replace(b"+ACME Retail GmbH+", b"+ACME\x01Retail GmbH+", 1)
    drop(gateway, "acme-retail", "orders.edi", data)
    gateway.run("run", "--once")
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]
    by_number = {m["document_number"]: m for m in gateway.messages()}
    assert by_number["4500012"]["state"] == "rejected"
    assert "NAD04 holds a control character" in by_number["4500012"]["reason"]
    assert by_number["4500013"]["state"] == "translated"  # the rest of the file goes on
    contrl = b"".join(p.read_bytes() for p in (gateway.state / "outbox" / "acme-retail").iterdir())
    assert b"UCM+1+ORDERS:D:96A:UN:EAN008+4'UCS+6'UCD+21+4'" in contrl  # invalid character, NAD04


def test_a_nul_in_an_x12_name_rejects_the_transaction_set_with_ak4_code_6(gateway):
    data = (SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    data = data.replace(b"N1*BY*BigBox", b"N1*BY*Big\x00Box", 1)
    drop(gateway, "bigbox-stores", "850.x12", data)
    gateway.run("run", "--once")
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]
    [message] = gateway.messages()
    assert message["state"] == "rejected" and "N102 holds a control character" in message["reason"]
    errors = json.loads(gateway.run("messages", "show", str(message["id"]), "--json").stdout)["errors"]
    assert {(e["tag"], e["element"], e["code"]) for e in errors} >= {("N1", 2, "6")}


def test_a_control_character_in_an_x12_name_is_answered_by_a_997_without_a_copy_of_the_bad_value(gateway):
    """AK404, the copy of the bad data element, is optional: one holding a control character cannot
    be written, so the 997 goes without it instead of being held (the partner heard nothing)."""
    data = (SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    drop(gateway, "bigbox-stores", "850.x12", data.replace(b"N1*BY*BigBox", b"N1*BY*Big\x07Box", 1))
    gateway.run("run", "--once")
    [(name, state, _)] = exchanges(gateway, "out")
    assert (name, state) == ("997_000000001.x12", "sent")
    ack = (gateway.state / "outbox" / "bigbox-stores" / name).read_text()
    assert "AK3*N1*5**8~AK4*2**6~AK5*R*5~AK9*R*1*1*0~" in ack.replace("\n", "")


def test_a_control_character_in_an_edifact_envelope_rejects_the_interchange_with_code_21(gateway):
    """UNB05, the interchange's reference, with a control character: the interchange is rejected
    (0085 code 21, as for a message's segment), not its messages translated. Its CONTRL would
    have to quote that reference: it is held, saying so, for support to take up with the partner."""
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    drop(gateway, "acme-retail", "orders.edi", data.replace(b"ACME000117", b"ACME\x07117"))
    gateway.run("run", "--once")
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]
    messages = gateway.messages()
    assert [m["state"] for m in messages] == ["rejected", "rejected"]
    assert all(m["reason"] == "interchange rejected: segment 1 (UNB): UNB05 holds a control character "
               "('ACME\\x07117'), not allowed in a data element" for m in messages)
    [(_, state, reason)] = exchanges(gateway, "out")
    assert state == "held" and "UCI01 holds a control character" in reason


def test_a_control_character_in_an_x12_group_number_rejects_its_interchange(gateway):
    data = (SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    data = data.replace(b"*0930*311*X", b"*0930*3\x0711*X").replace(b"GE*1*311", b"GE*1*3\x0711")
    drop(gateway, "bigbox-stores", "850.x12", data)
    gateway.run("run", "--once")
    [message] = gateway.messages()
    assert message["state"] == "rejected"
    assert message["reason"] == ("interchange rejected: segment 2 (GS): GS06 holds a control character "
                                 "('3\\x0711'), not allowed in a data element")
    [(_, state, reason)] = exchanges(gateway, "out")
    assert state == "held" and "AK102 holds a control character" in reason  # the 997 cannot quote it


def test_a_byte_order_mark_is_read_past_and_messages_show_says_so_under_the_interchange(gateway):
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    drop(gateway, "acme-retail", "orders.edi", b"\xef\xbb\xbf" + data)
    gateway.run("run", "--once")
    by_number = {m["document_number"]: m for m in gateway.messages()}
    assert by_number["4500012"]["state"] == by_number["4500013"]["state"] == "translated"
    shown = gateway.run("messages", "show", str(by_number["4500012"]["id"])).stdout.decode().splitlines()
    at = shown.index("  interchange ACME000117 from 4012345000009 to 5790000000006: accepted")
    assert shown[at + 1] == ("    warning: segment 1 UNB: the file starts with a UTF-8 byte order mark, which the "
                             "standard does not use; it was skipped")


@pytest.mark.parametrize("date", ["2026112²", "2026112١"])
def test_a_non_ascii_digit_in_an_x12_envelope_date_does_not_hold_the_file(gateway, date):
    data = (SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12").read_bytes()
    data = data.replace(b"*NORDICSUPPLY*20261120*", f"*NORDICSUPPLY*{date}*".encode(), 1)
    drop(gateway, "bigbox-stores", "850.x12", data)
    gateway.run("run", "--once")
    [(_, state, reason)] = exchanges(gateway)
    assert state == "processed", reason
    [message] = gateway.messages()
    assert message["document_number"] == "PO-77812"


def test_a_control_character_in_a_csv_cell_rejects_only_its_document(gateway):
    data = (SAMPLE_INBOX / "corner-shop" / "orders-2026-11-20.csv").read_bytes()
    data = data.replace(b"Corner Shop Ltd", b"Corner\x02Shop Ltd", 1)
    drop(gateway, "corner-shop", "orders.csv", data)
    gateway.run("run", "--once")
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]
    by_number = {m["document_number"]: m for m in gateway.messages()}
    assert by_number["CS-1001"]["state"] == "rejected" and "control character" in by_number["CS-1001"]["reason"]
    assert by_number["CS-1002"]["state"] == "translated"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_gateway(request, tmp_path):
    from conftest import postgres_database

    gateway = make_gateway(tmp_path)
    if request.param == "sqlite":
        yield gateway
        return
    with postgres_database("edigw_long") as url:
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{url}"\n')
        gateway.store_url = url
        yield gateway


def test_values_longer_than_their_columns_reject_that_message_alike_on_both_stores(any_store_gateway):
    gateway = any_store_gateway
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    long_ref, long_number = "R" * 60, "4" * 120
    data = data.replace(b"UNH+1+ORDERS:D:96A:UN:EAN008'", f"UNH+{long_ref}+ORDERS:D:96A:UN:EAN008'".encode(), 1)
    data = data.replace(b"UNT+23+1'", f"UNT+23+{long_ref}'".encode(), 1)
    data = data.replace(b"BGM+220+4500013+9'", f"BGM+220+{long_number}+9'".encode(), 1)
    drop(gateway, "acme-retail", "orders.edi", data)
    gateway.run("run", "--once")
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]
    first, second = sorted(gateway.messages(), key=lambda m: m["id"])
    assert first["state"] == "rejected" and "ref is 60 characters" in first["reason"]
    assert first["document_number"] == "4500012"
    assert second["state"] == "rejected" and "document_number is 120 characters" in second["reason"]


def test_a_name_too_long_to_claim_with_a_suffix_is_taken_and_the_inbox_goes_on(gateway):
    sample = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    long_name = "ORDERS_" + "x" * 240 + ".edi"  # 251 bytes: legal, but not with ".processing" after it
    drop(gateway, "acme-retail", long_name, sample)
    drop(gateway, "acme-retail", "zz_later.edi", sample.replace(b"4500012", b"4500099"))
    gateway.run("run", "--once")
    assert sorted((name, state) for name, state, _ in exchanges(gateway)) == [
        (long_name, "processed"), ("zz_later.edi", "processed")]
    assert (gateway.inbox("acme-retail") / "processed" / long_name).is_file()
    assert "4500099" in {m["document_number"] for m in gateway.messages()}


def test_symlinks_and_fifos_are_recorded_once_as_rejected_and_moved_aside(gateway, tmp_path):
    import os

    inbox = gateway.inbox("acme-retail")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not for partners")
    (inbox / "link.edi").symlink_to(secret)
    os.mkfifo(inbox / "pipe.edi")
    drop(gateway, "acme-retail", "good.edi", (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    gateway.run("run", "--once")
    gateway.run("run", "--once")
    found = {name: (state, reason) for name, state, reason in exchanges(gateway)}
    assert len(exchanges(gateway)) == 3
    assert found["good.edi"][0] == "processed"
    assert found["link.edi"][0] == "rejected" and "symbolic link" in found["link.edi"][1]
    assert found["pipe.edi"][0] == "rejected" and "named pipe" in found["pipe.edi"][1]
    assert sorted(p.name for p in inbox.iterdir() if not p.is_dir()) == []
    assert (inbox / "failed" / "link.edi").is_symlink() and secret.read_bytes() == b"not for partners"
    assert "symbolic link" in (inbox / "failed" / "link.edi.reason.txt").read_text()


def test_the_store_and_archive_are_readable_by_the_gateway_user_only(gateway):
    drop(gateway, "acme-retail", "orders.edi", (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    gateway.run("run", "--once")
    assert oct(gateway.state.stat().st_mode & 0o777) == "0o700"
    assert oct((gateway.state / "archive").stat().st_mode & 0o777) == "0o700"
    assert oct((gateway.state / "edigw.db").stat().st_mode & 0o777) == "0o600"


def test_temporary_files_left_by_a_crash_are_removed_at_start_and_acks_are_written_out_of_sight(gateway):
    import os
    import time

    archive, outbox = gateway.state / "archive", gateway.state / "outbox" / "acme-retail"
    archive.mkdir(parents=True)
    outbox.mkdir(parents=True)
    leftovers = [archive / ".incoming-k3j4h5", outbox / ".CONTRL_1.edi.1a2b3c4d.tmp"]
    long_ago = time.time() - 2 * 3600
    for path in leftovers:
        path.write_bytes(b"half a file")
        os.utime(path, (long_ago, long_ago))
    drop(gateway, "acme-retail", "orders.edi", (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    gateway.run("run", "--once")
    assert not any(path.exists() for path in leftovers)
    sent = [p.name for p in outbox.iterdir()]
    assert len([name for name in sent if not name.startswith(".")]) == 1  # the CONTRL
    assert [name for name in sent if name.startswith(".")] in ([], [".edigw-tmp"])


def test_a_file_over_the_size_limit_is_read_only_up_to_the_limit(gateway):
    gateway.config.write_text(gateway.config.read_text() + "[limits]\nmax_file_size = 100000\n")
    path = gateway.inbox("acme-retail") / "huge.edi"
    with path.open("wb") as sparse:  # 1 GiB on paper, nothing on disk
        sparse.write(b"UNA:+.? 'UNB+UNOC:3+")
        sparse.truncate(1024 ** 3)
    age(path)
    gateway.run("run", "--once")
    [(name, state, reason)] = exchanges(gateway)
    assert state == "rejected" and "over the limit of 100000 bytes" in reason
    assert "only its first 100000 bytes were read" in reason
    archived = [p for p in (gateway.state / "archive").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in archived) <= 100000
    assert any(p.read_bytes().startswith(b"UNA:+.? 'UNB+UNOC:3+") for p in archived)


def test_changed_archive_bytes_are_refused_by_show_reprocess_and_audit_verify(gateway):
    drop(gateway, "acme-retail", "orders.edi", (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    gateway.run("run", "--once")
    assert gateway.run("audit", "verify").returncode == 0
    message = next(m for m in gateway.messages() if m["document_number"] == "4500012")
    [archived] = [p for p in (gateway.state / "archive").rglob("*") if p.is_file() and b"QTY+21:48" in p.read_bytes()]
    archived.write_bytes(archived.read_bytes().replace(b"QTY+21:48:PCE", b"QTY+21:99:PCE"))

    shown = gateway.run("messages", "show", str(message["id"]), "--raw", check=False)
    assert shown.returncode == 1 and shown.stdout == b""
    assert b"does not match its sha256" in shown.stderr
    again = gateway.run("reprocess", str(message["id"]), "--from", "parse", check=False)
    assert again.returncode == 1 and b"does not match its sha256" in again.stderr
    detail = gateway.json("messages", "show", str(message["id"]))
    assert detail["document"]["lines"][0]["quantity"] == "48"
    verified = gateway.run("audit", "verify", check=False)
    assert verified.returncode == 1 and b"does not match its sha256" in verified.stdout


def test_a_newline_in_a_partner_file_name_cannot_forge_a_log_line(gateway):
    name = "po.edi\n2026-12-04 10:00:00.000 ERROR   exchange 1 forged.edi: deleted by admin"
    drop(gateway, "acme-retail", name, (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes())
    text = gateway.run("run", "--once").stderr.decode()
    assert not any(line.startswith("2026-12-04 10:00:00.000") for line in text.splitlines())
    assert "po.edi\\n2026-12-04" in text  # escaped, on the line of its own event
    assert [state for _, state, _ in exchanges(gateway)] == ["processed"]

    drop(gateway, "acme-retail", name + " again", b"not EDI at all")
    lines = gateway.run("run", "--once", "--log-json").stderr.decode().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert any(record.get("file") == name + " again" for record in records)


def _processed_samples(gateway):
    from gateway_fixtures import drop_samples

    for path in drop_samples(gateway):
        age(path)
    gateway.run("run", "--once")
    assert gateway.run("audit", "verify").returncode == 0


def _verify_fails(gateway, text: str) -> None:
    verified = gateway.run("audit", "verify", check=False)
    assert verified.returncode == 1, verified.stdout.decode()
    assert text in verified.stdout.decode()


@pytest.mark.parametrize("count", [1, 10])
def test_audit_verify_finds_the_newest_events_deleted(gateway, count):
    import sqlite3

    _processed_samples(gateway)
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        db.execute("DELETE FROM audit_events WHERE id > (SELECT max(id) FROM audit_events) - ?", (count,))
    _verify_fails(gateway, "the newest events were deleted")


def test_audit_verify_finds_an_event_edited_and_every_hash_after_it_recomputed(gateway):
    import hashlib
    import sqlite3

    _processed_samples(gateway)
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        db.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE id = 3")
        previous = db.execute("SELECT hash FROM audit_events WHERE id = 2").fetchone()[0]
        rows = db.execute("SELECT id, subject, subject_id, from_state, to_state, actor, reason, at "
                          "FROM audit_events WHERE id >= 3 ORDER BY id").fetchall()
        for event_id, *content, at in rows:  # what anyone without the key can do: plain SHA-256
            from datetime import datetime
            payload = json.dumps([previous, *content, datetime.fromisoformat(at).isoformat()],
                                 ensure_ascii=False, separators=(",", ":"))
            digest = hashlib.sha256(payload.encode()).hexdigest()
            db.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", (previous, digest, event_id))
            previous = digest
    _verify_fails(gateway, "audit event 3: its content does not match its hash")
    assert oct((gateway.state / "audit.key").stat().st_mode & 0o777) == "0o600"


def test_a_file_still_being_written_after_a_pause_is_taken_whole_by_the_daemon(gateway):
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    daemon = gateway.start()
    path = gateway.inbox("acme-retail") / "slow-writer.edi"
    with path.open("wb") as writer:
        writer.write(data[:200])
        writer.flush()
        time.sleep(2.5)  # far longer than settle_seconds (0.2): the daemon claims it meanwhile
        writer.write(data[200:])
    processed = gateway.inbox("acme-retail") / "processed" / "slow-writer.edi"
    assert gateway.wait_for(lambda: [row for row in exchanges(gateway) if row[1] != "received"], timeout=30)
    assert daemon.poll() is None
    [(name, state, reason)] = exchanges(gateway)
    assert (name, state) == ("slow-writer.edi", "processed"), reason
    assert gateway.wait_for(processed.exists) and processed.read_bytes() == data
    [message_id] = [m["id"] for m in gateway.messages() if m["document_number"] == "4500012"]
    assert gateway.run("messages", "show", str(message_id), "--raw").stdout == data  # the archive holds it all
    assert "still being written" in gateway.daemon_log()


def test_a_file_over_the_time_budget_is_held_with_the_reason_and_the_other_partners_go_on(gateway):
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write("[limits]\nfile_seconds = 1\n")
    daemon = gateway.start()
    # Thousands of interchange headers: each a broken interchange, recorded and checked one by one.
    slow = b"".join(f"UNB+UNOC:3+4012345000009:14+5790000000006:14+261120:0815+{n}'\n".encode() for n in range(20000))
    drop(gateway, "acme-retail", "headers.edi", slow)
    time.sleep(0.5)
    drop(gateway, "bigbox-stores", "850.x12", (SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12").read_bytes())
    assert gateway.wait_for(lambda: {state for _, state, _ in exchanges(gateway)} <= {"held", "processed"} and len(
        exchanges(gateway)) == 2, timeout=120)
    assert daemon.poll() is None
    states = {name: (state, reason) for name, state, reason in exchanges(gateway)}
    assert states["850.x12"] == ("processed", None)
    state, reason = states["headers.edi"]
    assert state == "held" and "over the per-file budget of 1 s" in reason and "file_seconds" in reason


@pytest.mark.parametrize("edit, finding", [
    ("UPDATE messages SET state = 'delivered' WHERE id = (SELECT min(id) FROM messages)",
     "its state was changed outside the gateway"),
    ("UPDATE messages SET document = replace(document, '\"quantity\": \"48\"', '\"quantity\": \"99\"') "
     "WHERE document LIKE '%\"quantity\": \"48\"%'", "its state, document or result was changed outside the gateway"),
    ("UPDATE exchanges SET sha256 = (SELECT sha256 FROM exchanges WHERE id = 2) WHERE id = 1",
     "its sha256, size, name or state was changed outside the gateway"),
])
def test_audit_verify_finds_a_message_state_or_document_or_an_exchange_sha256_edited(gateway, edit, finding):
    import sqlite3

    _processed_samples(gateway)
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        assert db.execute(edit).rowcount >= 1
    _verify_fails(gateway, finding)


def test_values_too_long_for_the_store_are_reported_in_the_contrl_as_data_element_too_long(gateway):
    """A version with no definition in the gateway (D01B): only the store's column lengths catch the values."""
    data = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    data = data.replace(b"ORDERS:D:96A:UN:EAN008", b"ORDERS:D:01B:UN:EAN010")
    long_ref = "R" * 60
    data = data.replace(b"UNH+1+ORDERS", f"UNH+{long_ref}+ORDERS".encode(), 1)
    data = data.replace(b"UNT+23+1'", f"UNT+23+{long_ref}'".encode(), 1)
    data = data.replace(b"BGM+220+4500013+9'", f"BGM+220+{'4' * 120}+9'".encode(), 1)
    drop(gateway, "acme-retail", "orders.edi", data)
    gateway.run("run", "--once")
    first, second = sorted(gateway.messages(), key=lambda m: m["id"])
    assert first["state"] == "rejected" and second["state"] == "rejected"
    [contrl] = [path.read_bytes() for path in (gateway.state / "outbox" / "acme-retail").iterdir()]
    assert b"UCI+ACME000117+4012345000009:14+5790000000006:14+4'" not in contrl  # the interchange itself is fine
    # the reference, cut to the 14 characters UCM 0062 holds, and the UNH reference element too long
    assert b"UCM+RRRRRRRRRRRRRR+ORDERS:D:01B:UN:EAN010+4'UCS+1'UCD+39+1" in contrl
    assert b"UCM+2+ORDERS:D:01B:UN:EAN010+4'UCS+2'UCD+39+2:1'" in contrl  # BGM 1004, data element too long


def test_a_file_that_cannot_be_claimed_is_recorded_rejected_once_across_runs_and_the_inbox_goes_on(gateway):
    sample = (SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes()
    long_name = "ORDERS_" + "y" * 240 + ".edi"
    # Where long names are claimed, something that is not a folder: the claim fails for real.
    (gateway.inbox("acme-retail") / ".processing").write_bytes(b"in the way")
    drop(gateway, "acme-retail", long_name, sample)
    drop(gateway, "acme-retail", "later.edi", sample)
    gateway.run("run", "--once")
    gateway.run("run", "--once")  # a second process finds it still there: not recorded again
    rows = exchanges(gateway)
    assert sorted((name, state) for name, state, _ in rows) == sorted([("later.edi", "processed"),
                                                                      (long_name, "rejected")])
    [reason] = [reason for name, _, reason in rows if name == long_name]
    assert "cannot be claimed" in reason
