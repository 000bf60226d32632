"""Partner input that used to stop a file, an inbox or the gateway: each ends in a readable state.

Every test drops a real sample (or corpus file), changed the way a partner's file was found
changed, into a real folder inbox and runs the real CLI on a real SQLite store.
"""

from __future__ import annotations

import json
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


def exchanges(gateway) -> list[tuple]:
    url = getattr(gateway, "store_url", f"sqlite:///{gateway.state / 'edigw.db'}")
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sqlalchemy.text(
                "SELECT original_name, state, reason FROM exchanges WHERE direction = 'in' ORDER BY id"))]
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
