"""Outbound exchanges and acknowledgments through the store: recorded, validated, sent, matched, overdue.

The pipeline (a real SQLite store, archive and folder channels) answers what partners send with
the acknowledgment their profile asks for, writes it to their outbox and records it; documents
we send (here an ORDERS and an 850 built from sample files' segments) wait for the partner's
CONTRL/997/TA1, which moves them to acknowledged or rejected, or become overdue.
"""

from __future__ import annotations

import re

import hashlib
import io
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT
from gateway_fixtures import WELL_BELOW, age, heap_peak, make_gateway

from gateway import formats
from gateway.config import settings_from
from gateway.formats import acks, render
from gateway.formats.model import Message as ParsedMessage
from gateway.outbound import OutboundMessage
from gateway.pipeline import Pipeline, TemplateSet, claimed_file_for
from gateway.profiles import load_profiles
from gateway.queries import list_messages, show_message
from gateway.store.archive import Archive
from gateway.store.db import open_store
from gateway.store.models import Exchange, Message

ACME = (ROOT / "samples/inbox/acme-retail/ORDERS_4500012.edi").read_bytes()
BIGBOX = (ROOT / "samples/inbox/bigbox-stores/850_PO-77812.x12").read_bytes()

EDIFACT_PROFILE = """name: ACME
odoo_partner: {{ref: ACME}}
identifiers:
  edifact: {{id: "4012345000009", qualifier: "14"}}
channels:
  inbox: {{type: folder, inbox: inbox/acme, outbox: outbox/acme}}
receive:
  ORDERS: {{template: edifact/ORDERS_D96A}}
acknowledgments: {ack}
"""
X12_PROFILE = """name: BigBox
odoo_partner: {{ref: BIGBOX}}
identifiers:
  x12: {{id: BIGBOX, qualifier: ZZ, gs_id: BIGBOX}}
channels:
  inbox: {{type: folder, inbox: inbox/bigbox, outbox: outbox/bigbox}}
receive:
  "850":
    - {{template: x12/850_004010, versions: ["004*"]}}
    - {{template: x12/850_005010, versions: ["005*"]}}
acknowledgments: {ack}
"""


class Gateway:
    def __init__(self, home: Path, acme: str = "{send: true}", bigbox: str = "{send: true}",
                 identity: dict | None = None) -> None:
        (home / "partners").mkdir()
        (home / "partners/acme.yaml").write_text(EDIFACT_PROFILE.format(ack=acme))
        (home / "partners/bigbox.yaml").write_text(X12_PROFILE.format(ack=bigbox))
        data = {"state_dir": "state", "partners_dir": "partners", "templates_dir": str(ROOT / "templates")}
        if identity is not None:
            data["identity"] = identity
        self.settings = settings_from(data, home)
        self.store = open_store(self.settings.store_url)
        self.archive = Archive(self.settings.archive_dir)
        self.profiles = load_profiles(self.settings.partners_dir, self.settings.state_dir, self.settings.templates_dir)
        self.pipeline = Pipeline(self.settings, self.store, self.archive, self.profiles,
                                 TemplateSet(self.settings.templates_dir))
        self.outbound = self.pipeline.outbound

    def outbox(self, partner: str) -> Path:
        return self.settings.state_dir / "outbox" / partner

    def files(self, partner: str) -> dict[str, bytes]:
        folder = self.outbox(partner)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}

    def receive(self, partner: str, data: bytes, name: str = "in.edi") -> int:
        path = self.settings.state_dir / f"{partner}-{time.monotonic_ns()}-{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        claimed = claimed_file_for(path, f"{partner}/inbox")
        exchange_id = self.pipeline.intake(self.profiles[partner], claimed, io.BytesIO(data))
        self.pipeline.process_pending()
        return exchange_id

    def rows(self, **where) -> list[Message]:
        with self.store.session() as session:
            query = session.query(Message)
            for key, value in where.items():
                query = query.filter(getattr(Message, key) == value)
            return query.order_by(Message.id).all()

    def exchange(self, exchange_id: int) -> Exchange:
        with self.store.session() as session:
            return session.get(Exchange, exchange_id)


@pytest.fixture
def gateway(tmp_path):
    gateway = Gateway(tmp_path)
    yield gateway
    gateway.store.close()


def read_back(data: bytes) -> tuple[list, list[ParsedMessage]]:
    _, events = formats.parse(data)
    events = list(events)
    return [e for e in events if not isinstance(e, ParsedMessage)], [e for e in events if isinstance(e, ParsedMessage)]


# --- acknowledgments we write ----------------------------------------------------------------------

KINDS = {
    "contrl accepted": ("acme", ACME, "{send: true}", ["CONTRL"], "7"),
    "contrl rejected": ("acme", ACME.replace(b"UNT+23+1", b"UNT+24+1").replace(b"UNT+12+2", b"UNT+13+2"),
                        "{send: true}", ["CONTRL"], "4"),
    "997": ("bigbox", BIGBOX, "{send: true}", ["997"], "A"),
    "999": ("bigbox", BIGBOX.replace(b"*X*004010~", b"*X*005010~"), "{send: true, kind: 999}", ["999"], "A"),
    "ta1 and 997": ("bigbox", BIGBOX.replace(b"*000000311*0*P*", b"*000000311*1*P*"), "{send: true}",
                    ["997"], "A"),
    "ta1 alone": ("bigbox", BIGBOX.replace(b"IEA*1*000000311", b"IEA*1*000000312"), "{send: true}", [], "R"),
}


@pytest.mark.parametrize("case", sorted(KINDS))
def test_every_kind_of_acknowledgment_is_valid_sent_and_recorded(tmp_path, case):
    partner, data, policy, types, verdict = KINDS[case]
    gateway = Gateway(tmp_path, **{partner: policy})
    exchange_id = gateway.receive(partner, data)
    [(name, sent)] = gateway.files(partner).items()
    assert acks.check(sent) == []  # valid against the definitions, envelope read back clean
    interchanges, messages = read_back(sent)
    assert [m.type for m in messages] == types
    if partner == "acme":
        assert messages[0].tree.xpath("string(//UCI/UCI04)") == verdict
    elif types:
        assert messages[0].tree.xpath("string(//*[self::AK5 or self::IK5]/*[1])") == verdict
    if "ta1" in case:
        assert interchanges[0].technical_acks[0].status == verdict
    inbound = gateway.exchange(exchange_id)
    assert (inbound.ack_state, gateway.exchange(inbound.ack_exchange_id).state) == ("made", "sent")
    assert gateway.exchange(inbound.ack_exchange_id).original_name == name
    gateway.store.close()


def test_the_acknowledgment_is_enveloped_from_us_to_the_partner_with_fresh_control_numbers(tmp_path):
    gateway = Gateway(tmp_path, identity={"edifact": {"id": "5790000000006", "qualifier": "14"}})
    gateway.receive("acme", ACME)
    gateway.receive("acme", ACME.replace(b"ACME000117", b"ACME000118"))
    files = gateway.files("acme")
    assert sorted(files) == ["CONTRL_1.edi", "CONTRL_2.edi"]
    second = files["CONTRL_2.edi"].decode()
    assert "UNB+UNOC:3+5790000000006:14+4012345000009:14+" in second
    assert "+2'UNH+2+CONTRL:D:3:UN'UCI+ACME000118+" in second
    assert second.endswith("UNZ+1+2'")
    gateway.store.close()


def test_the_test_indicator_of_the_received_interchange_is_mirrored(gateway):
    gateway.receive("acme", ACME.replace(b"++ORDERS'", b"++ORDERS++++1'"))
    gateway.receive("bigbox", BIGBOX.replace(b"*0*P*>", b"*0*T*>"))
    [contrl] = gateway.files("acme").values()
    [fa] = gateway.files("bigbox").values()
    assert read_back(contrl)[0][0].test and read_back(fa)[0][0].test


def test_an_invalid_acknowledgment_is_held_and_never_sent(gateway, monkeypatch):
    original = acks.contrl

    def broken(interchange, messages):
        ack = original(interchange, messages)
        ack.segments[0][4] = "9"  # not an action code (0083)
        return ack

    monkeypatch.setattr(acks, "contrl", broken)
    exchange_id = gateway.receive("acme", ACME)
    assert gateway.files("acme") == {}
    inbound = gateway.exchange(exchange_id)
    held = gateway.exchange(inbound.ack_exchange_id)
    assert (inbound.ack_state, held.state) == ("held", "held")
    assert "UCI" in held.reason and "'9'" in held.reason
    assert [m.state for m in gateway.rows(exchange_id=held.id)] == ["held"]
    gateway.pipeline.process_pending()
    assert gateway.files("acme") == {}


def test_no_acknowledgment_when_the_profile_does_not_send_them(tmp_path):
    gateway = Gateway(tmp_path, acme="{send: false}")
    exchange_id = gateway.receive("acme", ACME)
    assert gateway.files("acme") == {}
    assert gateway.exchange(exchange_id).ack_state == "none"
    gateway.store.close()


def test_messages_show_says_which_acknowledgment_answered_an_inbound_message(gateway):
    gateway.receive("acme", ACME.replace(b"UNT+12+2", b"UNT+13+2"))
    first, second = gateway.rows(direction="in")
    shown = show_message(gateway.store, gateway.archive, second.id)
    ack = shown["acknowledgment"]
    assert (ack["type"], ack["file"], ack["status"], ack["state"]) == ("CONTRL", "CONTRL_1.edi", "rejected", "sent")
    assert show_message(gateway.store, gateway.archive, first.id)["acknowledgment"]["status"] == "accepted"
    assert any("acknowledgment recorded" in (e["reason"] or "") for e in shown["audit"])


def test_an_acknowledgment_lost_in_a_crash_is_made_by_the_next_run_and_only_once(gateway):
    exchange_id = gateway.receive("acme", ACME)
    assert len(gateway.files("acme")) == 1
    gateway.pipeline.process_pending()
    assert len(gateway.files("acme")) == 1  # nothing more on another run
    with gateway.store.session() as session:  # as if the process died before acknowledging
        inbound = session.get(Exchange, exchange_id)
        inbound.ack_state, inbound.ack_exchange_id = None, None
    other = gateway.receive("bigbox", BIGBOX)
    assert gateway.exchange(other).ack_state == "made"
    assert sorted(gateway.files("acme")) == ["CONTRL_1.edi", "CONTRL_2.edi"]


def test_a_file_written_before_a_crash_is_recorded_as_sent_not_written_twice(gateway, monkeypatch):
    from gateway.channels.folder import FolderChannel

    real_send = FolderChannel.send
    calls = []

    def send_then_die(self, name, data):
        calls.append(name)
        real_send(self, name, data)
        raise SystemExit("killed after writing, before recording")

    monkeypatch.setattr(FolderChannel, "send", send_then_die)
    with pytest.raises(SystemExit):
        gateway.receive("acme", ACME)
    monkeypatch.setattr(FolderChannel, "send", real_send)
    gateway.pipeline.process_pending()
    [out] = gateway.rows(direction="out")
    assert out.state == "sent"
    assert list(gateway.files("acme")) == ["CONTRL_1.edi"]


def contrl_answering(count: int) -> OutboundMessage:
    """A CONTRL accepting each of `count` ORDERS messages: what a file of as many orders is answered with."""
    orders = ["ORDERS", "D", "96A", "UN", "EAN008"]
    segments = [["UCI", "ACME000117", ["4012345000009", "14"], ["5790000000006", "14"], "7"]]
    segments += [["UCM", str(ref), orders, "7"] for ref in range(1, count + 1)]
    return OutboundMessage("CONTRL", segments, identifier=("CONTRL", "D", "3", "UN"), summary={"answers": count})


def test_a_big_acknowledgment_goes_from_the_archive_to_the_outbox_a_block_at_a_time(tmp_path):
    gateway = Gateway(tmp_path, identity={"edifact": {"id": "5790000000006", "qualifier": "14"}})
    acme = gateway.profiles["acme"]
    # The first send loads the folder channel's modules and compiles its queries: not measured.
    gateway.outbound.record(acme, "edifact", [contrl_answering(1)])
    assert gateway.outbound.send_pending() == 1
    recorded = gateway.outbound.record(acme, "edifact", [contrl_answering(400_000)])
    exchange = gateway.exchange(recorded.exchange_id)
    assert exchange.size > 14_000_000

    with heap_peak() as peak:
        assert gateway.outbound.send_pending() == 1

    sent = gateway.outbox("acme") / recorded.file_name
    assert hashlib.sha256(sent.read_bytes()).hexdigest() == exchange.sha256
    assert gateway.exchange(recorded.exchange_id).state == "sent"
    assert peak[0] < exchange.size * WELL_BELOW, f"peak {peak[0]} bytes for a file of {exchange.size}"
    gateway.store.close()


# --- documents we send, and the partners' acknowledgments of them ----------------------------------


def order_from_corpus() -> OutboundMessage:
    _, events = formats.parse((CORPUS / "edifact/ORDERS/oca_retail_orders_sample1.txt").read_bytes())
    [message] = [e for e in events if isinstance(e, ParsedMessage)]
    return OutboundMessage("ORDERS", render.body_segments(message.tree),
                           identifier=("ORDERS", "D", "96A", "UN", "EAN008"), document_type="Order",
                           document_number="1AA1TEST")


def order_850() -> OutboundMessage:
    _, events = formats.parse(BIGBOX)
    [message] = [e for e in events if isinstance(e, ParsedMessage)]
    return OutboundMessage("850", render.body_segments(message.tree), version="004010", document_type="Order",
                           document_number="PO-77812")


@pytest.fixture
def expecting(tmp_path):
    gateway = Gateway(tmp_path, acme="{send: true, expect: true, overdue_after: 2h}",
                      bigbox="{send: true, expect: true, overdue_after: 2h}",
                      identity={"edifact": {"id": "5790000000006", "qualifier": "14"},
                                "x12": {"id": "NORDICSUPPLY", "qualifier": "ZZ"}})
    yield gateway
    gateway.store.close()


def send_order(gateway: Gateway, partner: str = "acme"):
    standard, message = ("edifact", order_from_corpus()) if partner == "acme" else ("x12", order_850())
    recorded = gateway.outbound.record(gateway.profiles[partner], standard, [message])
    assert (recorded.state, recorded.problems) == ("rendered", [])
    assert gateway.outbound.send_pending() == 1
    [row] = gateway.rows(exchange_id=recorded.exchange_id)
    assert row.state == "sent" and row.ack_due_at is not None
    return recorded, row


def partner_contrl(interchange_ref: str, *body: str) -> bytes:
    count = len(body) + 2
    return ("UNB+UNOC:3+4012345000009:14+5790000000006:14+261121:0900+P1'UNH+1+CONTRL:D:3:UN'"
            + "".join(body) + f"UNT+{count}+1'UNZ+1+P1'").encode()


def partner_997(group_ref: str, *body: str) -> bytes:
    count = len(body) + 2
    return ("ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261121*0900*U*00401*000000900*0*P*>~"
            "GS*FA*BIGBOX*NORDICSUPPLY*20261121*0900*900*X*004010~ST*997*9001~" + "".join(body)
            + f"SE*{count}*9001~GE*1*900~IEA*1*000000900~").encode()


def test_an_outbound_order_is_rendered_valid_and_sent(expecting):
    recorded, row = send_order(expecting)
    [data] = expecting.files("acme").values()
    assert acks.check(data) == []
    assert (row.type, row.ref, row.interchange_ref, recorded.file_name) == ("ORDERS", "1", "1", "ORDERS_1.edi")
    states = [e["to"] for e in show_message(expecting.store, expecting.archive, row.id)["audit"]
              if e["subject"] == "message"]
    assert states == ["pending", "rendered", "sent"]


def test_a_partner_contrl_accepting_our_order_acknowledges_it(expecting):
    recorded, row = send_order(expecting)
    expecting.receive("acme", partner_contrl(recorded.control_ref, f"UCI+{recorded.control_ref}+5790000000006:14"
                                                                    "+4012345000009:14+7'"))
    [ours] = expecting.rows(id=row.id)
    assert ours.state == "acknowledged"
    [theirs] = expecting.rows(direction="in", type="CONTRL")
    assert (theirs.state, ours.acknowledged_by_id) == ("delivered", theirs.id)
    assert expecting.files("acme").keys() == {"ORDERS_1.edi"}  # their CONTRL is not acknowledged


def test_a_partner_contrl_rejecting_our_order_rejects_it_with_their_reasons(expecting):
    recorded, row = send_order(expecting)
    expecting.receive("acme", partner_contrl(
        recorded.control_ref, f"UCI+{recorded.control_ref}+5790000000006:14+4012345000009:14+7'",
        f"UCM+{row.ref}+ORDERS:D:96A:UN:EAN008+4'", "UCS+5+13'", "UCS+7'", "UCD+12+2:1'"))
    shown = show_message(expecting.store, expecting.archive, row.id)
    assert shown["state"] == "rejected"
    assert shown["acknowledgment"]["status"] == "rejected"
    reason = shown["acknowledgment"]["reason"]
    assert "UCM action 4" in reason and "segment 5: 13 (missing)" in reason
    assert "element 2.1: 12 (invalid value)" in reason


def test_a_partner_997_rejecting_our_850_rejects_it_with_ak3_ak4_reasons(expecting):
    recorded, row = send_order(expecting, "bigbox")
    expecting.receive("bigbox", partner_997(row.group_ref, f"AK1*PO*{row.group_ref}~", f"AK2*850*{row.ref}~",
                                            "AK3*BEG*2**8~", "AK4*5*373*8*20261340~", "AK5*R*5~", "AK9*R*1*1*0~"))
    shown = show_message(expecting.store, expecting.archive, row.id)
    assert shown["state"] == "rejected"
    assert "segment 2 BEG: 8 (segment has data element errors); element 5 (373): 8 (invalid date)" in shown[
        "acknowledgment"]["reason"]


def test_a_partner_997_accepting_the_group_acknowledges_sets_it_does_not_list(expecting):
    recorded, row = send_order(expecting, "bigbox")
    expecting.receive("bigbox", partner_997(row.group_ref, f"AK1*PO*{int(row.group_ref):09d}~", "AK9*A*1*1*1~"))
    assert expecting.rows(id=row.id)[0].state == "acknowledged"


def test_an_acknowledgment_of_something_we_never_sent_is_held_with_a_reason(expecting):
    expecting.receive("bigbox", partner_997("4242", "AK1*PO*4242~", "AK9*A*1*1*1~"))
    [theirs] = expecting.rows(direction="in", type="997")
    assert theirs.state == "held"
    assert "nothing we sent to bigbox has group 4242" in theirs.reason


def test_a_ta1_rejecting_our_interchange_rejects_its_documents(expecting):
    recorded, row = send_order(expecting, "bigbox")
    ta1 = ("ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261121*0900*U*00401*000000901*0*P*>~"
           f"TA1*{recorded.control_ref}*261121*0900*R*006~IEA*0*000000901~").encode()
    expecting.receive("bigbox", ta1)
    shown = show_message(expecting.store, expecting.archive, row.id)
    assert shown["state"] == "rejected"
    assert "TA1 R 006 (invalid interchange sender ID)" in shown["acknowledgment"]["reason"]


def test_every_ta1_of_a_file_is_recorded_however_many_an_interchange_holds(expecting):
    """1,001 TA1s in a first interchange and one in a second: each is its own message, none is skipped
    as "already recorded" (they were numbered interchange * 1000 + n, so the 1,001st took the second's number)."""
    recorded, row = send_order(expecting, "bigbox")
    head = "ISA*00*          *00*          *ZZ*BIGBOX         *ZZ*NORDICSUPPLY   *261121*0900*U*00401*{:09d}*0*P*>~"
    accepting = "".join(f"TA1*{900000 + n:09d}*261121*0900*A*000~" for n in range(1001))
    rejecting = f"TA1*{recorded.control_ref}*261121*0900*R*006~"
    expecting.receive("bigbox", (head.format(901) + accepting + "IEA*0*000000901~"
                                 + head.format(902) + rejecting + "IEA*0*000000902~").encode())
    ta1s = expecting.rows(direction="in", type="TA1")
    assert len(ta1s) == 1002 and len({m.position for m in ta1s}) == 1002
    assert sum(m.state == "held" for m in ta1s) == 1001  # they name interchanges we never sent
    assert expecting.rows(id=row.id)[0].state == "rejected"  # the second interchange's TA1 was not skipped


def test_a_document_without_an_acknowledgment_in_time_becomes_overdue(expecting):
    _, row = send_order(expecting)
    assert expecting.outbound.check_overdue() == []
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    assert expecting.outbound.check_overdue(later) == [row.id]
    assert [m["id"] for m in list_messages(expecting.store, state="overdue")] == [row.id]
    assert "no acknowledgment from acme since" in expecting.rows(id=row.id)[0].reason


def test_a_late_acknowledgment_still_acknowledges_an_overdue_document(expecting):
    recorded, row = send_order(expecting)
    expecting.outbound.check_overdue(datetime.now(timezone.utc) + timedelta(hours=3))
    expecting.receive("acme", partner_contrl(recorded.control_ref, f"UCI+{recorded.control_ref}+5790000000006:14"
                                                                    "+4012345000009:14+7'"))
    assert expecting.rows(id=row.id)[0].state == "acknowledged"


def test_our_own_acknowledgments_wait_for_nothing(expecting):
    expecting.receive("acme", ACME)
    [ack] = expecting.rows(direction="out")
    assert (ack.type, ack.state, ack.ack_due_at) == ("CONTRL", "sent", None)


def test_an_outbound_document_without_our_identity_is_held(gateway):
    recorded = gateway.outbound.record(gateway.profiles["acme"], "edifact", [order_from_corpus()])
    assert recorded.state == "held"
    assert "[identity.edifact] id" in recorded.problems[0]
    assert gateway.outbound.send_pending() == 0


# --- end to end through the CLI ------------------------------------------------------------------


def cli_gateway(home: Path):
    gateway = make_gateway(home, partners=("acme-retail", "bigbox-stores"))
    for partner in ("acme-retail", "bigbox-stores"):
        profile = gateway.partners / f"{partner}.yaml"
        text = re.sub(r"(?m)^acknowledgments: .*$", "acknowledgments: {send: true, expect: true, overdue_after: 1s}",
                      profile.read_text())
        assert f"outbox: outbox/{partner}" in text  # the shipped profiles send into an outbox
        profile.write_text(text)
    gateway.config.write_text(gateway.config.read_text() + '[identity.x12]\nid = "NORDICSUPPLY"\nqualifier = "ZZ"\n')
    return gateway


def test_run_once_writes_the_acknowledgment_to_the_outbox_once(tmp_path):
    gateway = cli_gateway(tmp_path)
    for partner, data, name in (("acme-retail", ACME, "ORDERS_4500012.edi"), ("bigbox-stores", BIGBOX, "850.x12")):
        path = gateway.inbox(partner) / name
        path.write_bytes(data)
        age(path)
    gateway.run("run", "--once")
    contrl = gateway.state / "outbox/acme-retail/CONTRL_1.edi"
    fa = gateway.state / "outbox/bigbox-stores/997_000000001.x12"
    assert contrl.read_bytes().endswith(b"UNZ+1+1'") and fa.read_bytes().endswith(b"IEA*1*000000001~\n")
    assert acks.check(contrl.read_bytes()) == [] and acks.check(fa.read_bytes()) == []
    sent = gateway.messages(direction="out")
    assert sorted((m["type"], m["state"]) for m in sent) == [("997", "sent"), ("CONTRL", "sent")]
    order = next(m for m in gateway.messages() if m["document_number"] == "4500012")
    detail = gateway.json("messages", "show", str(order["id"]))
    assert detail["acknowledgment"]["file"] == "CONTRL_1.edi"
    gateway.run("run", "--once")
    assert sorted(p.name for p in (gateway.state / "outbox").rglob("*") if p.is_file()) == [
        "997_000000001.x12", "CONTRL_1.edi"]


def test_run_once_matches_a_997_to_what_we_sent_and_lists_the_overdue(tmp_path):
    gateway = cli_gateway(tmp_path)
    from gateway.config import load_settings

    settings = load_settings(str(gateway.config))
    store = open_store(settings.store_url)
    profiles = load_profiles(settings.partners_dir, settings.state_dir, settings.templates_dir)
    pipeline = Pipeline(settings, store, Archive(settings.archive_dir), profiles, TemplateSet(settings.templates_dir))
    first = pipeline.outbound.record(profiles["bigbox-stores"], "x12", [order_850()])
    second = pipeline.outbound.record(profiles["bigbox-stores"], "x12", [order_850()])
    pipeline.outbound.send_pending()
    with store.session() as session:
        group = session.query(Message).filter_by(exchange_id=first.exchange_id).one().group_ref
    store.close()
    answer = gateway.inbox("bigbox-stores") / "997.x12"
    answer.write_bytes(partner_997(group, f"AK1*PO*{group}~", "AK2*850*0001~", "AK5*R*4~", "AK9*R*1*1*0~"))
    age(answer)
    time.sleep(1.1)  # overdue_after: 1s
    done = gateway.run("run", "--once")
    assert "acknowledgment overdue" in done.stderr.decode()
    [rejected] = gateway.messages(state="rejected", direction="out")
    assert rejected["exchange_id"] == first.exchange_id
    assert "AK5 R 4 (number of included segments does not match actual count)" in rejected["reason"]
    [overdue] = gateway.messages(state="overdue", direction="out")
    assert overdue["exchange_id"] == second.exchange_id
    listed = gateway.run("messages", "list", "--state", "overdue").stdout.decode()
    assert "overdue" in listed


# --- the profile's acknowledgments section ------------------------------------------------------


@pytest.mark.parametrize("section, problem", [
    ("{send: true, kind: 998}", "acknowledgments.kind must be contrl, 997 or 999"),
    ("{send: yes please}", "acknowledgments.send must be true or false"),
    ("{ta1: sometimes}", "acknowledgments.ta1 must be on-request, always or never"),
    ("{expect: true, overdue_after: soon}", "acknowledgments.overdue_after must be a duration"),
    ("{send: true, file_name: ack.edi}", "must contain {control}"),
    ("{send: true, channel: nowhere}", "acknowledgments.channel 'nowhere' is not one of this profile's channels"),
    ("{sned: true}", "unknown key 'sned' in acknowledgments"),
])
def test_a_wrong_acknowledgments_section_is_reported_with_its_line(tmp_path, section, problem):
    from gateway.profiles import ProfileError, load_profile

    path = tmp_path / "acme.yaml"
    path.write_text(EDIFACT_PROFILE.format(ack=section))
    with pytest.raises(ProfileError) as error:
        load_profile(path, tmp_path, ROOT / "templates")
    assert problem in str(error.value)
    assert f"{path}:9" in str(error.value)  # the acknowledgments line


def test_sending_acknowledgments_needs_an_outbox(tmp_path):
    from gateway.profiles import ProfileError, load_profile

    path = tmp_path / "acme.yaml"
    path.write_text(EDIFACT_PROFILE.format(ack="{send: true}").replace(", outbox: outbox/acme", ""))
    with pytest.raises(ProfileError, match="no channel has an 'outbox'"):
        load_profile(path, tmp_path, ROOT / "templates")


def test_the_acknowledgments_section_is_read_into_a_policy(tmp_path):
    from gateway.profiles import load_profile

    path = tmp_path / "acme.yaml"
    path.write_text(EDIFACT_PROFILE.format(ack="{send: true, kind: CONTRL, ta1: never, expect: true, "
                                               "overdue_after: 90m, file_name: '{partner}-{control}.{ext}'}"))
    policy = load_profile(path, tmp_path, ROOT / "templates").acknowledgments
    assert (policy.send, policy.kind, policy.ta1, policy.expect, policy.overdue_after_seconds, policy.file_name) == (
        True, "contrl", "never", True, 5400.0, "{partner}-{control}.{ext}")


def test_identity_in_gateway_toml_is_checked(tmp_path):
    from gateway.config import ConfigError

    settings = settings_from({"identity": {"x12": {"id": "US", "qualifier": "ZZ", "gs_id": "USGS"}}}, tmp_path)
    assert settings.identity.of("x12") == {"id": "US", "qualifier": "ZZ", "gs_id": "USGS"}
    with pytest.raises(ConfigError, match=r"\[identity.x12\] has unknown key"):
        settings_from({"identity": {"x12": {"isa_id": "US"}}}, tmp_path)
    with pytest.raises(ConfigError, match=r"\[identity.tradacoms\] is not known"):
        settings_from({"identity": {"tradacoms": {"id": "US"}}}, tmp_path)


# --- every corpus file ---------------------------------------------------------------------------

ANY_PARTNER = """name: Any
odoo_partner: {ref: ANY}
channels:
  inbox: {type: folder, inbox: inbox/any, outbox: outbox/any}
acknowledgments: {send: true, ta1: on-request}
"""
CORPUS_FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
                      if p.is_file() and p.parts[len(CORPUS.parts)] in ("edifact", "x12"))


# An acknowledgment echoes the partner's envelope; one that cannot be written is held, never sent.
UNADDRESSABLE = {"edifact/ORDERS/oca_retail_orders_sample2_placeholders.txt": "unfilled template placeholder"}


@pytest.fixture(scope="module")
def any_partner(tmp_path_factory):
    home = tmp_path_factory.mktemp("corpus")
    gateway = Gateway(home)
    (home / "partners/any.yaml").write_text(ANY_PARTNER)
    gateway.profiles.update(load_profiles(gateway.settings.partners_dir, gateway.settings.state_dir,
                                          gateway.settings.templates_dir))
    yield gateway
    gateway.store.close()


@pytest.mark.parametrize("relative", CORPUS_FILES)
def test_every_corpus_file_gets_a_valid_acknowledgment_that_matches_its_verdicts(any_partner, relative):
    data = (CORPUS / relative).read_bytes()
    exchange_id = any_partner.receive("any", data)
    inbound = any_partner.exchange(exchange_id)
    with any_partner.store.session() as session:
        made = session.query(Exchange).filter(Exchange.direction == "out", Exchange.id > exchange_id).all()
        ours = {m.position: m for m in session.query(Message).filter_by(exchange_id=exchange_id)}
    if inbound.state != "processed":
        assert made == [] and inbound.ack_state in (None, "none")
        return
    types = {m.type for m in ours.values()}
    if types and types <= {"CONTRL", "997", "999", "TA1"}:
        assert made == []  # acknowledgments are not acknowledged
        return
    assert made, f"{relative}: no acknowledgment"
    for exchange in made:
        if relative in UNADDRESSABLE:
            assert exchange.state == "held" and UNADDRESSABLE[relative] in exchange.reason
            continue
        assert exchange.state == "sent", f"{relative}: {exchange.reason}"
        sent = any_partner.archive.read(exchange.sha256)
        assert acks.check(sent) == []
        _, messages = read_back(sent)
        for message in messages:
            if message.type == "CONTRL":
                for ucm in message.tree.iter("UCM"):
                    ref = ucm.xpath("string(UCM01)")
                    verdict = ucm.xpath("string(UCM03)")
                    rejected = [m for m in ours.values() if m.ref == ref and m.interchange_ref ==
                                message.tree.xpath("string(//UCI/UCI01)")]
                    assert rejected and (verdict == "4") == (rejected[0].state == "rejected"), relative
            else:
                group_rejected = message.tree.xpath("string(//AK9/AK901)") == "R"
                for loop in message.tree.iter("AK2_loop"):
                    ref = loop.xpath("string(AK2/AK202)")
                    # AK5 is the set's own verdict; AK9 R rejects every set of the group with it.
                    status = "R" if group_rejected else loop.xpath("string(*[self::AK5 or self::IK5]/*[1])")
                    found = [m for m in ours.values() if m.ref == ref and m.group_ref == message.tree.xpath(
                        "string(//AK1/AK102)")]
                    assert found and (status == "R") == (found[0].state == "rejected"), relative
