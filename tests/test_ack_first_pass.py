"""The acknowledgment of an inbound file is planned from the pipeline's own parse (issue 14, goal 2).

The same files are acknowledged twice: by a gateway that acknowledges right after processing
(the plan of its first pass), and by one that processed them with acknowledgments off, then
was told to send them and acknowledged them on the next run, after a restart (reading the
archived file again). Both acknowledgments must say the same, segment for segment, apart from
their own envelopes (control numbers, dates).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from gateway_fixtures import SAMPLE_INBOX, age, make_gateway

SAMPLES = {
    "acme-retail": SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi",
    "bigbox-stores": SAMPLE_INBOX / "bigbox-stores" / "850_PO-77812.x12",
}
ENVELOPES = {b"UNA", b"UNB", b"UNZ", b"UNH", b"UNT", b"ISA", b"IEA", b"GS", b"GE", b"ST", b"SE"}


def drop(gateway, partner: str, name: str, data: bytes) -> None:
    path = gateway.inbox(partner) / name
    path.write_bytes(data)
    age(path)


def files(gateway) -> None:
    """Each sample as sent, and broken in one way the acknowledgment reports in detail."""
    for partner, sample in SAMPLES.items():
        gateway.inbox(partner).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, gateway.inbox(partner) / sample.name)
        age(gateway.inbox(partner) / sample.name)
    acme = SAMPLES["acme-retail"].read_bytes()
    drop(gateway, "acme-retail", "broken.edi", acme.replace(b"QTY+21:48:PCE", b"QTY+21:48:PCE:X")
         .replace(b"PRI+AAA:3.25", b"PRI+AAA:3.25'FOO+1"))
    bigbox = SAMPLES["bigbox-stores"].read_bytes()
    drop(gateway, "bigbox-stores", "broken.x12", bigbox.replace(b"PO1*1*24*EA", b"PO1*1*24*EACHES"))


def acknowledgments(gateway) -> dict[str, list[bytes]]:
    """Every acknowledgment written, per partner, as its segments without envelopes, in file order."""
    found: dict[str, list[bytes]] = {}
    with sqlite3.connect(gateway.state / "edigw.db") as db:
        rows = db.execute("SELECT i.original_name, o.partner, o.sha256 FROM exchanges i JOIN exchanges o "
                          "ON o.id = i.ack_exchange_id ORDER BY i.original_name").fetchall()
    for name, partner, sha256 in rows:
        [stored] = [p for p in (gateway.state / "archive").rglob(sha256)]
        data = stored.read_bytes()
        terminator = b"'" if data.startswith((b"UNA", b"UNB")) else data[105:106]
        separator = b"+" if terminator == b"'" else data[3:4]
        segments = [s.strip() for s in data.split(terminator) if s.strip()]
        found[name] = [s for s in segments if s.split(separator)[0] not in ENVELOPES]
    return found


def test_the_acknowledgment_from_the_first_pass_says_what_a_second_parse_says(tmp_path: Path):
    first = make_gateway(tmp_path / "first", partners=tuple(SAMPLES))
    files(first)
    first.run("run", "--once")
    planned = acknowledgments(first)

    later = make_gateway(tmp_path / "later", partners=tuple(SAMPLES))
    for profile in later.partners.iterdir():
        profile.write_text(profile.read_text().replace("acknowledgments: {send: true", "acknowledgments: {send: false"))
    files(later)
    later.run("run", "--once")
    assert acknowledgments(later) == {}
    for profile in later.partners.iterdir():
        profile.write_text(profile.read_text().replace("acknowledgments: {send: false", "acknowledgments: {send: true"))
    with sqlite3.connect(later.state / "edigw.db") as db:
        db.execute("UPDATE exchanges SET ack_state = NULL WHERE direction = 'in'")
    later.run("run", "--once")
    reparsed = acknowledgments(later)

    assert sorted(planned) == ["850_PO-77812.x12", "ORDERS_4500012.edi", "broken.edi", "broken.x12"]
    assert planned == reparsed
    # What the broken files' acknowledgments say: the message rejected, the segments named.
    assert any(s.startswith(b"UCM+1+ORDERS:D:96A:UN:EAN008+4") for s in planned["broken.edi"])
    assert any(s.startswith(b"UCS+") for s in planned["broken.edi"])
    assert any(s.startswith(b"AK5*R") for s in planned["broken.x12"])
    assert any(s.startswith(b"UCM+1+ORDERS:D:96A:UN:EAN008+7") for s in planned["ORDERS_4500012.edi"])
