"""Outbound exchanges: control numbers, enveloping, sending, and the acknowledgments they wait for.

Everything we send walks `pending → rendered → sent → acknowledged | rejected | overdue`, each
step an audit event. `record()` allocates the partner's next control numbers, renders the
interchange (`formats.render`), validates it by reading it back (an invalid one is `held`,
never sent), archives the bytes and records the exchange, its interchange and messages — all in
one transaction. `send_pending()` hands rendered exchanges to the partner's channel;
`check_overdue()` flags sent documents whose acknowledgment is late.

Acknowledgments in both directions live here too: `acknowledge()` answers a processed inbound
exchange with the CONTRL/997/999/TA1 its partner's policy asks for (`formats.acks` writes
them), and `apply_ack()` / `apply_technical_acks()` match a partner's acknowledgment to what we
sent, by partner and control numbers.

Control numbers: per partner, standard and kind (interchange, group, message), in the
`control_numbers` table. `allocate()` moves the row on in one upsert, which locks it (on
SQLite every write transaction holds the database's write lock from BEGIN IMMEDIATE), so
concurrent senders never get the same number; it runs in the transaction that records the
exchange, so a crash before commit gives the numbers back untouched and one after commit has
recorded them with the exchange. Gaps are allowed (a held exchange keeps its numbers), reuse
never: at the end of a number's range allocation fails rather than wrapping around.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable

from loguru import logger
from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway import formats
from gateway.channels.base import Channel, ChannelError
from gateway.config import Settings
from gateway.formats import acks as ackformats
from gateway.formats import render
from gateway.formats.model import Interchange as ParsedInterchange
from gateway.formats.model import Message as ParsedMessage
from gateway.formats.model import Issue, UnreadableFile
from gateway.formats.tree import NOT_XML
from gateway.formats.x12 import FUNCTIONAL_IDS, X12Interchange
from gateway.profiles import FolderChannelSettings, Profile
from gateway.store.archive import Archive
from gateway.store.db import Event, Store, record_event, record_events, transition
from gateway.store.models import ControlNumber, Exchange, Interchange, Message, utcnow

ACTOR = "outbound"
KINDS = ("interchange", "group", "message")
# The largest number each envelope field can hold: UNB 0020 / UNG 0048 / UNH 0062 an..14;
# ISA13 and GS06 n9; ST02 an4..9 (written with at least 4 digits).
LIMITS = {"edifact": 10**14 - 1, "x12": 999_999_999}
EXTENSIONS = {"edifact": "edi", "x12": "x12"}
FINAL_STATES = ("acknowledged", "rejected")
# A partner's TA1s are stored as messages numbered from here, after any message index a file can have.
TA1_POSITIONS = 1_000_000_000
# An acknowledgment answering more messages than this is stored as a summary, not segment by segment:
# each answered message's row links to it (acknowledged_by_id) and says what it said of that message.
STORED_ANSWERS = 1000


class ControlNumbersExhausted(RuntimeError):
    """A partner's control numbers reached the end of their range: never reused, so none is left."""


def allocate(session: Session, partner: str, standard: str, kind: str, count: int = 1) -> int:
    """The first of `count` consecutive control numbers, taken for good when the session commits.

    One statement: the row is made at its first use or moved on by `count`, and locked till the
    commit by the update itself, so a concurrent sender waits and then takes the numbers after.
    Past the end of the range it raises, and the caller's transaction, rolled back, takes none.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown control number kind {kind!r} (one of {', '.join(KINDS)})")
    after = session.scalar(_taking(session.bind.dialect.name), {
        "partner": partner, "standard": standard, "kind": kind, "count": count, "now": utcnow()})
    first = after - count
    if after - 1 > LIMITS.get(standard, LIMITS["x12"]):
        raise ControlNumbersExhausted(f"{partner} {standard} {kind} control numbers are used up at {first - 1}; "
                                      "they are never reused (agree a new sender id with the partner)")
    return first


@functools.cache
def _taking(dialect: str):
    """The upsert `allocate` runs, built once per database kind."""
    insert = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}[dialect]
    table = ControlNumber.__table__
    count = bindparam("count", type_=Integer)
    statement = insert(table).values(partner=bindparam("partner"), standard=bindparam("standard"),
                                     kind=bindparam("kind"), next_value=1 + count, updated_at=bindparam("now"))
    return statement.on_conflict_do_update(
        index_elements=["partner", "standard", "kind"],
        set_={"next_value": table.c.next_value + count, "updated_at": bindparam("now")},
    ).returning(table.c.next_value)


@dataclass
class OutboundMessage:
    """One message to send, before enveloping: its type, version and body segments.

    `identifier` is the EDIFACT S009 (("ORDERS", "D", "96A", "UN", "EAN008")); `version` the X12
    GS08 ("004010"). Body segments are without UNH/UNT or ST/SE (`render.body_segments(tree)`).
    """

    type: str
    segments: list[list]
    version: str | None = None
    identifier: tuple[str, ...] | None = None
    functional_id: str | None = None
    convention: str | None = None
    document_type: str | None = None
    document_number: str | None = None
    order_ref: str | None = None  # the order it concerns (see gateway.order_threads)
    summary: dict[str, Any] | None = None  # stored instead of the segments (a big acknowledgment)


@dataclass
class Recorded:
    """What `record()` wrote: the exchange and its messages' ids, and whether it may be sent."""

    exchange_id: int
    message_ids: list[int]
    state: str
    control_ref: str
    file_name: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Envelope:
    """One interchange of an outbound file, before its control numbers are taken: its messages (or
    its TA1s alone) and how it is enveloped (None: our and the partner's identifiers, the default syntax)."""

    messages: list[OutboundMessage]
    test: bool
    sender: tuple[str | None, str | None] | None = None
    receiver: tuple[str | None, str | None] | None = None
    technical_acks: list[list] = field(default_factory=list)
    acknowledgments: list[ackformats.Acknowledgment] = field(default_factory=list)
    syntax: Any = None
    groups_from: dict[str, str | None] | None = None


@dataclass
class Written:
    """An envelope with its numbers taken: its bytes (rendered into a temporary file and read back;
    None when it could not be rendered) or why it cannot go, and once recorded, its file's exchange
    and its own message rows."""

    envelope: Envelope
    sender: tuple[str | None, str | None]
    receiver: tuple[str | None, str | None]
    control_ref: str
    refs: list[str]
    group_refs: dict[int, str]
    group_numbers: list[int]
    data: BinaryIO | None
    problems: list[str]
    message_ids: list[int] = field(default_factory=list)
    recorded: Recorded | None = None


def _groups(messages: list[OutboundMessage]) -> dict[tuple[str, str], list[int]]:
    """An X12 interchange's functional groups: (GS01, GS08) → the indexes of the messages in it."""
    found: dict[tuple[str, str], list[int]] = {}
    for index, message in enumerate(messages):
        key = (message.functional_id or FUNCTIONAL_IDS.get(message.type, "ZZ"), message.version or "004010")
        found.setdefault(key, []).append(index)
    return found


class AckPlanner:
    """The acknowledgments of one inbound file, planned as its parse events go by.

    What the acknowledgment reads of each message is kept on disk (`AckSpool`) until its
    interchange ends, then the interchange's acknowledgments are planned. `complete` is set by
    whoever fed every event of the file (the pipeline's first pass); an incomplete plan is
    not used.
    """

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.pending = ackformats.AckSpool(business_unit=policy.kind == "999")
        self.plans: list[tuple[ParsedInterchange, ackformats.AckRecords, list[ackformats.Acknowledgment]]] = []
        self.complete = False

    def take(self, event: Any) -> None:
        if isinstance(event, ParsedMessage):  # a small record of it, on disk: memory stays flat on big files
            self.pending.add(event)
            return
        mine = self.pending.of(event)
        found = ackformats.acknowledgments(event, mine, kind=self.policy.kind, ta1=self.policy.ta1)
        self.plans.append((event, mine, found))


class Outbound:
    def __init__(self, settings: Settings, store: Store, archive: Archive, profiles: dict[str, Profile]) -> None:
        self.settings = settings
        self.store = store
        self.archive = archive
        self.profiles = profiles
        # Acknowledgments planned while the pipeline read an exchange (AckPlanner), by exchange id:
        # `_acknowledge` takes them instead of parsing the file a second time.
        self.prepared: dict[int, AckPlanner] = {}

    def planner(self, exchange_id: int, profile: Profile | None, standard: str) -> "AckPlanner | None":
        """A planner the pipeline feeds with the events of its parse, when the exchange will be acknowledged."""
        policy = profile.acknowledgments if profile else None
        if policy is None or not policy.send or standard not in ("edifact", "x12"):
            return None
        planner = self.prepared[exchange_id] = AckPlanner(policy)
        return planner

    # --- channels --------------------------------------------------------------------------

    def channel_name(self, profile: Profile) -> str | None:
        wanted = profile.acknowledgments.channel
        for settings in profile.channels:
            short = settings.name.split("/", 1)[1]
            if (wanted is None or short == wanted) and settings.outbox:
                return settings.name
        return None

    def channel(self, profile: Profile, name: str) -> Channel:
        """The channel to send over, built for sending only (its inbox is not touched)."""
        from gateway.channels.folder import FolderChannel
        from gateway.channels.sftp import SftpChannel

        settings = next(s for s in profile.channels if s.name == name)
        if isinstance(settings, FolderChannelSettings):
            return FolderChannel(name=settings.name, inbox=settings.inbox, processed_dir=settings.processed,
                                 failed_dir=settings.failed, after=settings.after, outbox=settings.outbox)
        spool = self.settings.state_dir / "spool" / profile.id / name.split("/", 1)[1]
        return SftpChannel(settings, spool, max_size=self.settings.max_file_size)

    # --- recording ---------------------------------------------------------------------------

    def record(self, profile: Profile, standard: str, messages: list[OutboundMessage], *,
               test: bool | None = None, sender: tuple[str, str] | None = None,
               receiver: tuple[str, str] | None = None, file_name: str | None = None,
               session: Session | None = None) -> Recorded:
        """Envelope, validate, archive and record an outbound interchange in one transaction.

        `file_name` is a pattern (the profile's `send.<type>.file_name`; default: the
        acknowledgments' one). With `session` the caller's transaction is used, so what it
        records alongside (the records sent, `gateway.outbound_jobs`) commits with the exchange.
        """
        envelope = Envelope(messages, profile.test if test is None else test, sender, receiver)
        if session is not None:
            return self._record(session, profile, standard, [envelope], file_name)[0].recorded
        with self.store.session() as session:
            return self._record(session, profile, standard, [envelope], file_name)[0].recorded

    def _record(self, session: Session, profile: Profile, standard: str, envelopes: list["Envelope"],
                file_name: str | None = None) -> list["Written"]:
        """Interchanges written one after another into one outbound file, numbered from one reservation.

        The control numbers of all of them are taken at once (one `allocate` per kind), so a file
        of thousands of interchanges costs one lock per kind, one archive write and one exchange.
        An interchange that cannot be written or read back is recorded apart, in a `held` exchange
        of its own kind (never sent); the others still go.
        """
        messages = sum(len(envelope.messages) for envelope in envelopes)
        groups = sum(len(_groups(envelope.messages)) for envelope in envelopes) if standard == "x12" else 0
        interchange_number = allocate(session, profile.id, standard, "interchange", len(envelopes))
        message_number = allocate(session, profile.id, standard, "message", messages) if messages else 0
        group_number = allocate(session, profile.id, standard, "group", groups) if groups else 0
        written = []
        for envelope in envelopes:
            written.append(self._write(profile, standard, envelope, interchange_number, message_number, group_number))
            interchange_number += 1
            message_number += len(envelope.messages)
            group_number += len(written[-1].group_numbers)
        channel = self.channel_name(profile)
        if channel is None:
            for one in written:
                one.problems.append(f"partner {profile.id} has no channel with an outbox to send to")
        for part in ([one for one in written if not one.problems], [one for one in written if one.problems]):
            if part:
                self._record_file(session, profile, standard, part, channel, file_name)
        return written

    def _write(self, profile: Profile, standard: str, envelope: "Envelope", interchange_number: int,
               message_first: int, group_first: int) -> "Written":
        """One interchange enveloped with the numbers given, rendered, and read back to check it."""
        ours = self.settings.identity.of(standard)
        theirs = profile.identifiers.get(standard) or {}
        sender = envelope.sender or (ours.get("id"), ours.get("qualifier"))
        receiver = envelope.receiver or (theirs.get("id"), theirs.get("qualifier"))
        messages = envelope.messages
        problems: list[str] = []
        if not sender[0]:
            problems.append(f"our own {standard} identifier is not set ([identity.{standard}] id in gateway.toml)")
        if not receiver[0]:
            problems.append(f"partner {profile.id} has no {standard} identifier (identifiers.{standard}.id)")
        refs = [str(message_first + n) for n in range(len(messages))]
        group_refs: dict[int, str] = {}
        group_numbers: list[int] = []
        if standard == "edifact":
            control_ref = str(interchange_number)
            rendered = render.EdifactInterchange(
                sender=[sender[0] or "", sender[1] or ""], receiver=[receiver[0] or "", receiver[1] or ""],
                control_ref=control_ref, test=envelope.test,
                syntax=envelope.syntax or render.EdifactSyntax(identifier=theirs.get("syntax") or "UNOC"),
                messages=[render.EdifactMessage(ref, m.identifier or (m.type,), m.segments)
                          for ref, m in zip(refs, messages)])
            writer = lambda out: render.write_edifact(rendered, out)  # noqa: E731
        else:
            control_ref = f"{interchange_number:09d}"
            refs = [ref.zfill(4) for ref in refs]
            x12_groups = []
            groups_from = envelope.groups_from or {}
            for number, ((functional_id, version), indexes) in enumerate(_groups(messages).items(), group_first):
                group_numbers.append(number)
                x12_groups.append(render.X12Group(
                    functional_id, groups_from.get("sender") or ours.get("gs_id") or sender[0] or "",
                    groups_from.get("receiver") or theirs.get("gs_id") or receiver[0] or "", number, version,
                    [render.X12Set(messages[i].type, refs[i], messages[i].segments, messages[i].convention)
                     for i in indexes]))
                for i in indexes:
                    group_refs[i] = str(number)
            x12_syntax = envelope.syntax or render.X12Syntax(version="00501" if any(
                g.version >= "005010" for g in x12_groups) else "00401")
            rendered = render.X12Interchange(
                sender=(sender[1] or "ZZ", sender[0] or ""), receiver=(receiver[1] or "ZZ", receiver[0] or ""),
                control_number=interchange_number, groups=x12_groups, technical_acks=envelope.technical_acks,
                test=envelope.test, syntax=x12_syntax)
            writer = lambda out: render.write_x12(rendered, out)  # noqa: E731
        data = None
        if not problems:
            # A big acknowledgment goes to disk as it is written, and is read back from there.
            data = tempfile.SpooledTemporaryFile(max_size=render.BLOCK)
            try:
                writer(data)
            except render.RenderError as error:
                problems.append(str(error))
                data.close()
                data = None
        if data is not None and not problems:
            problems.extend(_describe(issue) for issue in ackformats.check(data, envelope.acknowledgments))
        return Written(envelope, sender, receiver, control_ref, refs, group_refs, group_numbers, data, problems)

    def _record_file(self, session: Session, profile: Profile, standard: str, part: list["Written"],
                     channel: str | None, file_name: str | None) -> Recorded:
        """Archive the interchanges' bytes as one file and record its exchange, interchanges and messages."""
        # Held ones too: support reads what was not sent.
        sha256, size = self.archive.put_stream(_Concatenated([one.data for one in part if one.data is not None]))
        first = part[0]
        leading = first.envelope.messages[0] if first.envelope.messages else None
        kind_name = leading.type if leading else "TA1"
        alone = leading if len(part) == 1 and len(first.envelope.messages) == 1 else None
        file_name = (file_name or profile.acknowledgments.file_name).format(
            type=kind_name, control=first.control_ref, partner=profile.id, ext=EXTENSIONS[standard],
            standard=standard, document=(leading.document_type if leading else None) or kind_name,
            number=_safe_name((alone.document_number if alone else None) or first.control_ref),
            timestamp=utcnow().strftime("%Y%m%d%H%M%S"))
        if len(part) == 1:
            reason = "; ".join(first.problems) or None
        else:
            reason = "; ".join(f"interchange {one.control_ref}: " + "; ".join(one.problems)
                               for one in part if one.problems) or None
        state = "held" if reason else "rendered"
        # Written in the state it ends in, as its messages are; its events say pending, then that.
        exchange = Exchange(partner=profile.id, channel=channel or "-", direction="out", original_name=file_name,
                            size=size, sha256=sha256, state=state, reason=reason, standard=standard)
        session.add(exchange)
        session.flush()
        record_event(session, "exchange", exchange.id, None, "pending", ACTOR,
                     f"{kind_name} interchange {first.control_ref} to {profile.id}" if len(part) == 1 else
                     f"{len(part)} interchanges ({kind_name} {first.control_ref} to {part[-1].control_ref}) "
                     f"to {profile.id}")
        rows: list[tuple[Written, Message]] = []
        interchanges = []
        for interchange_position, one in enumerate(part):
            envelope = one.envelope
            interchanges.append(dict(
                exchange_id=exchange.id, position=interchange_position, standard=standard, sender=one.sender[0],
                receiver=one.receiver[0], control_ref=one.control_ref, direction="out",
                status="rejected" if one.problems else "accepted",
                header=json.dumps({"sender": one.sender[0], "sender_qualifier": one.sender[1],
                                   "receiver": one.receiver[0], "receiver_qualifier": one.receiver[1],
                                   "control_ref": one.control_ref, "test": envelope.test}),
                errors=json.dumps([{"reason": p, "severity": "error"} for p in one.problems])))
            entries = list(envelope.messages) or [OutboundMessage("TA1", envelope.technical_acks)]
            for index, message in enumerate(entries):
                ref = one.refs[index] if envelope.messages else None
                # Written in the state it ends in (no update after the insert); its events say pending, then that.
                row = Message(exchange_id=exchange.id, position=len(rows), interchange_position=interchange_position,
                              partner=profile.id, direction="out", standard=standard, type=message.type,
                              version=message.version or (
                                  "".join(message.identifier[1:3]) if message.identifier else None),
                              ref=ref, interchange_ref=one.control_ref,
                              group_ref=one.group_refs.get(index), document_type=message.document_type,
                              document_number=message.document_number, order_ref=message.order_ref, state=state,
                              reason="; ".join(one.problems) if one.problems else
                              f"interchange {one.control_ref}, message {ref or '-'}, file {file_name}",
                              document=json.dumps(message.summary or {"segments": list(message.segments)}))
                session.add(row)
                rows.append((one, row))
        session.execute(insert(Interchange.__table__), interchanges)  # one statement: nothing reads them back here
        session.flush()  # the file's rows in one go: they have their ids, in order
        events = []
        for one, row in rows:
            events += [Event("message", row.id, None, "pending", ACTOR, f"in exchange {exchange.id}"),
                       Event("message", row.id, "pending", state, ACTOR, row.reason)]
            one.message_ids.append(row.id)
        record_events(session, events)  # the file's events in one statement
        record_event(session, "exchange", exchange.id, "pending", state, ACTOR, reason)
        if reason:
            logger.warning("outbound {} to {} held, not sent: {}", file_name, profile.id, reason)
        recorded = Recorded(exchange.id, [row.id for _, row in rows], state, first.control_ref, file_name,
                            [p for one in part for p in one.problems])
        for one in part:
            one.recorded = recorded
            if one.data is not None:
                one.data.close()  # archived
        return recorded

    # --- sending -----------------------------------------------------------------------------

    def send_pending(self, partner: str | None = None) -> int:
        """Send every rendered outbound exchange (of one partner) over its channel; returns how many went."""
        query = select(Exchange.id).where(Exchange.direction == "out", Exchange.state == "rendered")
        with self.store.session() as session:
            ids = list(session.scalars(_of(query, partner).order_by(Exchange.id)))
        sent = 0
        for exchange_id in ids:
            sent += self.send(exchange_id)
        return sent

    def send(self, exchange_id: int) -> bool:
        """Send one rendered outbound exchange; on PostgreSQL one node at a time (an advisory lock)."""
        with self.store.exclusive(f"send {exchange_id}") as ours:
            return ours and self._send(exchange_id)

    def _send(self, exchange_id: int) -> bool:
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id)
            if exchange is None or exchange.state != "rendered":
                return False
            profile = self.profiles.get(exchange.partner)
            name, channel_name, sha256 = exchange.original_name, exchange.channel, exchange.sha256
        if profile is None:
            logger.warning("outbound exchange {}: no partner profile {!r} is loaded; not sent", exchange_id,
                           exchange.partner)
            return False
        channel = self.channel(profile, channel_name)
        try:
            with self.archive.open(sha256) as data:  # sent a block at a time: a big acknowledgment is not held
                where = channel.send(name, data)
        except ChannelError as error:
            where = _already_there(channel, name, sha256)
            if where is None:
                logger.warning("outbound exchange {} {} to {}: not sent ({}); tried again at the next run",
                               exchange_id, name, profile.id, error)
                return False
        expects = profile.acknowledgments.expect
        due = utcnow() + timedelta(seconds=profile.acknowledgments.overdue_after_seconds)
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id)
            transition(session, exchange, "sent", ACTOR, f"to {where} over {channel_name}")
            for row in session.scalars(select(Message).where(Message.exchange_id == exchange_id)):
                if row.state != "rendered":
                    continue
                if expects and row.type not in ackformats.ACK_TYPES and row.type != "TA1":
                    row.ack_due_at = due
                transition(session, row, "sent", ACTOR, f"{name} over {channel_name}" + (
                    f"; acknowledgment due by {due.isoformat(timespec='seconds')}Z" if row.ack_due_at else ""))
        return True

    def check_overdue(self, now: datetime | None = None) -> list[int]:
        """Sent documents whose acknowledgment is late become `overdue` (a warning each); their ids."""
        now = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
        with self.store.session() as session:
            # Locked as read (PostgreSQL; SQLite's write lock is taken at BEGIN): a message another
            # node is applying an acknowledgment to is skipped, and one read here waits for it.
            rows = list(session.scalars(select(Message).where(
                Message.direction == "out", Message.state == "sent", Message.ack_due_at.is_not(None),
                Message.ack_due_at <= now).order_by(Message.id).with_for_update(skip_locked=True)))
            for row in rows:
                transition(session, row, "overdue", ACTOR, f"no acknowledgment from {row.partner} since "
                           f"{row.ack_due_at.isoformat(timespec='seconds')}Z (interchange {row.interchange_ref}, "
                           f"message {row.ref})")
                logger.warning("message {} {} {} to {}: acknowledgment overdue since {}Z", row.id, row.type,
                               row.ref, row.partner, row.ack_due_at.isoformat(timespec="seconds"))
            return [row.id for row in rows]

    # --- acknowledging what partners send ----------------------------------------------------

    def acknowledge_pending(self, partner: str | None = None) -> int:
        """Inbound exchanges (of one partner) finished but not yet acknowledged (after a crash, say); how many."""
        query = select(Exchange.id).where(Exchange.direction == "in", Exchange.ack_state.is_(None),
                                          Exchange.state == "processed")
        with self.store.session() as session:
            ids = list(session.scalars(_of(query, partner).order_by(Exchange.id)))
        for exchange_id in ids:
            try:
                self.acknowledge(exchange_id)
            except Exception:  # our bug: logged once, not retried on every run
                logger.exception("exchange {}: the acknowledgment could not be made; not tried again", exchange_id)
                self._decide(exchange_id, "held", None)
        return len(ids)

    def acknowledge(self, exchange_id: int) -> list[int]:
        """Record the acknowledgments a finished inbound exchange calls for; the outbound exchange ids.

        Everything (the outbound exchanges, their control numbers, the links from the inbound
        messages, the decision on the inbound exchange) is one transaction: after a crash either
        all of it is there, or none of it and the next run makes it. That transaction starts by
        locking the inbound exchange's row and reading it again: of nodes acknowledging the same
        exchange at once (one finishing it, another's `acknowledge_pending`), the first records
        the acknowledgment and the others find it made.
        """
        prepared = self.prepared.pop(exchange_id, None)
        # Planned from the pipeline's own pass; else (a restart, another node) the file is read again.
        planned = prepared.plans if prepared is not None and prepared.complete else self._plan_again(exchange_id)
        if planned is None:
            return []
        made: list[int] = []
        held = False
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id, with_for_update=True, populate_existing=True)
            if self._nothing_to_answer(exchange):
                return []  # made meanwhile by another node, or none is due
            profile = self.profiles[exchange.partner]
            links = []
            for recorded, answered in self._record_acks(session, profile, [(i, f) for i, _, f in planned if f]):
                if recorded.exchange_id not in made:
                    made.append(recorded.exchange_id)
                held = held or recorded.state == "held"
                links.extend({"in_exchange": exchange_id, "first": first, "last": last, "ack": message_id}
                             for message_id, positions in answered for first, last in _runs(positions))
            if links:  # a run of positions a statement: a CONTRL answering a file's 500,000 messages is one
                table = Message.__table__
                session.execute(update(table).where(
                    table.c.exchange_id == bindparam("in_exchange"),
                    table.c.position.between(bindparam("first"), bindparam("last"))).values(
                    acknowledged_by_id=bindparam("ack")), links)
            exchange.ack_state = "held" if held else "made" if made else "none"
            exchange.ack_exchange_id = made[0] if made else None
            if made:
                record_event(session, "exchange", exchange_id, exchange.state, exchange.state, ACTOR,
                             "acknowledgment " + ("held (invalid, not sent)" if held else "recorded") +
                             f" as outbound exchange(s) {', '.join(map(str, made))}")
        return made

    def _nothing_to_answer(self, exchange: Exchange | None) -> bool:
        """Whether an inbound exchange needs no acknowledgment from us now: answered already, not
        processed (unreadable, oversized, duplicate: its ack_state becomes `none`), or its partner
        asks for none (likewise)."""
        if exchange is None or exchange.direction != "in" or exchange.ack_state is not None:
            return True
        profile = self.profiles.get(exchange.partner)
        if exchange.state != "processed" or profile is None or not profile.acknowledgments.send:
            exchange.ack_state = "none"
            return True
        return False

    def _plan_again(self, exchange_id: int) -> list | None:
        """The acknowledgment's plans from the archived file read again, a block at a time as the
        first pass read it; None when none is due (decided on the exchange)."""
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id)
            if self._nothing_to_answer(exchange):
                return None
            profile = self.profiles[exchange.partner]
            sha256 = exchange.sha256
        with self.archive.view(sha256) as data:
            standard = formats.sniff(data)
            if standard not in ("edifact", "x12"):
                self._decide(exchange_id, "none", "not EDIFACT or X12: no syntax acknowledgment exists for it")
                return None
            planner = AckPlanner(profile.acknowledgments)
            try:
                _, events = formats.parse(data, expected_sender=profile.sender_id(standard),
                                          options=profile.validation)
                for event in events:
                    if isinstance(event, ParsedMessage):  # what the first pass added to it beyond the parse
                        self._add_stored_findings(exchange_id, [event])
                    planner.take(event)
            except UnreadableFile as error:
                self._decide(exchange_id, "none", f"unreadable ({error}): there is no envelope to acknowledge")
                return None
        return planner.plans

    def _add_stored_findings(self, exchange_id: int, messages: list[ParsedMessage]) -> None:
        """The element findings the pipeline recorded beyond the parse (values too long for the
        store, see gateway.pipeline.too_long_for_the_store), so the acknowledgment reports them."""
        if not messages:
            return
        positions = [message.index for message in messages]
        with self.store.session() as session:
            stored = dict(session.execute(select(Message.position, Message.errors).where(
                Message.exchange_id == exchange_id, Message.position.in_(positions),
                Message.errors.like('%"level": "element"%'))).all())
        for message in messages:
            known = {(i.position, i.element, i.component, i.code) for i in message.errors}
            for found in json.loads(stored.get(message.index) or "[]"):
                issue = Issue(**found)
                if issue.level == "element" and (issue.position, issue.element, issue.component, issue.code) not in known:
                    message.errors.append(issue)

    def _decide(self, exchange_id: int, state: str, reason: str | None) -> None:
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id)
            if exchange.ack_state is None:
                exchange.ack_state = state
        if reason:
            logger.info("exchange {}: no acknowledgment: {}", exchange_id, reason)

    def _record_acks(self, session: Session, profile: Profile,
                     answering: list[tuple[ParsedInterchange, list[ackformats.Acknowledgment]]],
                     ) -> list[tuple[Recorded, list[tuple[int, list[int]]]]]:
        """Each interchange's acknowledgments in an interchange of their own, all written into one
        outbound file (one per syntax: a file is in one character set); for each interchange its
        file's record and (our message id, the positions of the inbound messages it answers)."""
        if not answering:
            return []
        standard = answering[0][0].standard
        by_syntax: dict[Any, list[tuple[ParsedInterchange, Envelope]]] = {}
        for interchange, found in answering:
            envelope = self._ack_envelope(profile, interchange, found)
            by_syntax.setdefault(envelope.syntax, []).append((interchange, envelope))
        results = []
        for answered in by_syntax.values():
            written = self._record(session, profile, standard, [envelope for _, envelope in answered])
            for one, (interchange, envelope) in zip(written, answered):
                found = envelope.acknowledgments
                functional = [a for a in found if a.kind != "ta1"]
                links = [(message_id, ack.answers) for ack, message_id in zip(functional, one.message_ids)]
                if not functional:  # a TA1 alone answers the whole interchange
                    links.append((one.message_ids[0], [a for ack in found for a in ack.answers]))
                results.append((one.recorded, links))
                logger.debug("exchange {}: {} for interchange {} of {} ({})", one.recorded.exchange_id,
                             "+".join(a.message_type for a in found), interchange.control_ref, profile.id,
                             ", ".join(a.status for a in found))
            for recorded in {id(one.recorded): one.recorded for one in written}.values():
                logger.info("exchange {}: {} acknowledgment interchange(s) to {}, file {}{}", recorded.exchange_id,
                            sum(1 for one in written if one.recorded is recorded), profile.id, recorded.file_name,
                            " (held)" if recorded.state == "held" else "")
        return results

    def _ack_envelope(self, profile: Profile, interchange: ParsedInterchange,
                      found: list[ackformats.Acknowledgment]) -> Envelope:
        """How an interchange's acknowledgments are enveloped: back to its sender, in its syntax."""
        standard = interchange.standard
        ours = self.settings.identity.of(standard)
        sender = (ours.get("id") or interchange.receiver, ours.get("qualifier") or interchange.receiver_qualifier)
        receiver = (interchange.sender, interchange.sender_qualifier)
        technical = [a.segments[0] for a in found if a.kind == "ta1"]
        functional = [a for a in found if a.kind != "ta1"]
        messages = [OutboundMessage(
            a.message_type, a.segments, version=a.version if standard == "x12" else None,
            identifier=ackformats.CONTRL_VERSION if a.kind == "contrl" else None, functional_id="FA",
            convention=ackformats.IMPLEMENTATION_999 if a.kind == "999" else None,
            document_type=ackformats.DOCUMENT_TYPE, summary=_summary(a, interchange)) for a in functional]
        syntax = None
        groups_from = None
        if standard == "edifact":
            identifier = (interchange.syntax or "UNOC").split(":")[0]
            syntax = render.EdifactSyntax(identifier=identifier if identifier in (
                "UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOW", "UNOY") else "UNOC")
        else:
            delimiters = interchange.delimiters if isinstance(interchange, X12Interchange) else None
            version = "00501" if any(a.version and a.version >= "005010" for a in functional) else "00401"
            if delimiters is not None and all(c.isascii() and c.isprintable() or c in "\r\n" for c in (
                    delimiters.element, delimiters.component, delimiters.segment)):
                repetition = delimiters.repetition or next(
                    c for c in "^|!~`" if c not in (delimiters.element, delimiters.component, delimiters.segment))
                syntax = render.X12Syntax(element=delimiters.element, component=delimiters.component,
                                          segment=delimiters.segment, repetition=repetition, version=version,
                                          newline=delimiters.segment not in "\r\n")
            else:
                syntax = render.X12Syntax(version=version)  # the partner's delimiters cannot be written in ASCII
            group = interchange.groups[0] if interchange.groups else None
            groups_from = {"sender": ours.get("gs_id") or (group.receiver if group else None),
                           "receiver": (profile.identifiers.get("x12") or {}).get("gs_id") or (
                               group.sender if group else None)}
            for message in messages:
                message.segments = ackformats.AckSegments(lambda segments=message.segments: _writable(segments, syntax))
        return Envelope(messages, interchange.test, sender, receiver, technical, found, syntax, groups_from)

    # --- the partner's acknowledgments -------------------------------------------------------

    def apply_ack(self, session: Session, row: Message, ack: dict[str, Any], actor: str = ACTOR) -> None:
        """Match a partner's CONTRL/997/999 (its neutral form) to what we sent; update both sides."""
        partner, kind = row.partner, ack["kind"]
        outcomes: list[tuple[Message, str, str, dict[str, Any]]] = []  # (our message, state, reason, detail)
        unmatched: list[str] = []
        if kind == "contrl":
            ours = self._ours(session, partner, "edifact", interchange_ref=ack["interchange_ref"])
            if not ours:
                unmatched.append(f"interchange {ack['interchange_ref']}")
            verdicts = {m["ref"]: m for m in ack["messages"]}
            group_verdicts = {}
            for group in ack["groups"]:
                group_verdicts[group["group_ref"]] = group
                verdicts.update({m["ref"]: m for m in group["messages"]})
            for message in ours:
                entry = verdicts.get(message.ref)
                group = group_verdicts.get(message.group_ref or "")
                if entry is not None:
                    status, why = entry["status"], ackformats.describe_message("contrl", entry)
                elif group is not None:
                    status, why = group["status"], ackformats.describe_group("contrl", group)
                else:
                    status, why = ack["status"], ackformats.describe_interchange(ack)
                if ack["status"] == "rejected" and ack.get("code"):
                    why = ackformats.describe_interchange(ack) + "; " + why
                outcomes.append((message, status, why, entry or {}))
        else:
            for group in ack["groups"]:
                ours = self._ours(session, partner, "x12", group_ref=group["group_ref"])
                if not ours:
                    unmatched.append(f"group {group['group_ref']}")
                    continue
                verdicts = {_number(m["ref"]): m for m in group["messages"]}
                for message in ours:
                    entry = verdicts.get(_number(message.ref))
                    if entry is not None and "status" in entry:
                        status, why = entry["status"], ackformats.describe_message(kind, entry)
                    else:
                        status = group.get("status", "received")
                        status = "accepted" if status == "partial" else status
                        why = ackformats.describe_group(kind, group)
                    outcomes.append((message, status, why, entry or {}))
        label = f"{kind.upper() if kind == 'contrl' else kind} {row.ref} (message {row.id})"
        for message, status, why, entry in outcomes:
            state = "rejected" if status == "rejected" else "acknowledged"
            message.acknowledged_by_id = row.id
            message.ack_detail = json.dumps({"by": row.id, "kind": kind, "status": status, "reason": why,
                                             "detail": entry}, ensure_ascii=False)
            message.ack_due_at = None
            transition(session, message, state, actor, f"{label} from {partner}: {status} — {why}")
        row.result = json.dumps({"acknowledges": [m.id for m, *_ in outcomes], "unmatched": unmatched})
        if unmatched and not outcomes:
            transition(session, row, "held", actor, f"nothing we sent to {partner} has "
                       + " or ".join(unmatched) + "; check the control numbers, or the partner acknowledges "
                       "another gateway's interchange")
            logger.warning("{} from {}: unmatched ({})", label, partner, ", ".join(unmatched))
            return
        counts = {s: sum(1 for _, st, *_ in outcomes if (st == "rejected") == (s == "rejected"))
                  for s in ("acknowledged", "rejected")}
        transition(session, row, "delivered", actor, f"acknowledges {len(outcomes)} message(s) we sent: "
                   f"{counts['acknowledged']} acknowledged, {counts['rejected']} rejected"
                   + (f"; unmatched: {', '.join(unmatched)}" if unmatched else ""))

    def apply_technical_acks(self, session: Session, exchange_id: int, partner: str,
                             interchange: ParsedInterchange, actor: str = ACTOR) -> None:
        """A partner's TA1s (kept on the parsed X12 interchange): each is recorded as a message and matched.

        What we sent is looked up for all of the interchange's TA1s at once and their rows written
        in one flush: a file of thousands of TA1s costs a few statements, not a few per TA1.
        """
        technical_acks = getattr(interchange, "technical_acks", ()) or ()
        if not technical_acks:
            return
        # Numbered after every parsed message and one after another across the file's interchanges: the
        # TA1s of the interchanges before this one were recorded with theirs (one transaction each).
        before = session.scalar(select(func.count()).select_from(Message).where(
            Message.exchange_id == exchange_id, Message.type == "TA1", Message.position >= TA1_POSITIONS,
            Message.interchange_position < interchange.index)) or 0
        first = TA1_POSITIONS + before
        recorded = set(session.scalars(select(Message.position).where(
            Message.exchange_id == exchange_id, Message.position >= first,
            Message.position < first + len(technical_acks))))
        ours = self._ours_by_interchange(session, partner, [ta1.control_ref or "" for ta1 in technical_acks])
        rows = []
        for position, ta1 in enumerate(technical_acks, first):
            if position in recorded:
                continue
            ack = ackformats.read_technical_ack(ta1)
            theirs = ours(ta1.control_ref or "")
            why = ackformats.describe_interchange(ack)
            # Written in the state it ends in (no update after the insert); its events tell the steps.
            # direction is given, not left to the column default: the row is sealed before it is inserted
            row = Message(exchange_id=exchange_id, position=position, interchange_position=interchange.index,
                          direction="in", partner=partner, standard="x12", type="TA1", version=interchange.syntax,
                          ref=ta1.control_ref, interchange_ref=interchange.control_ref,
                          state="delivered" if theirs else "held",
                          reason=f"interchange {ta1.control_ref}: {ack['status']} ({why})" if theirs else
                          f"nothing we sent to {partner} has interchange control number {ta1.control_ref}",
                          result=json.dumps({"acknowledges": [m.id for m in theirs]}) if theirs else None,
                          document_type=ackformats.DOCUMENT_TYPE, document=json.dumps(ack))
            session.add(row)
            rows.append((row, ack, theirs, why))
        session.flush()  # every TA1's row in one go
        record_events(session, [event for row, *_ in rows for event in (
            Event("message", row.id, None, "received", actor, f"TA1 in exchange {exchange_id}"),
            Event("message", row.id, "received", "parsed", actor))])
        for row, ack, theirs, why in rows:
            for message in theirs if ack["status"] == "rejected" else ():
                message.acknowledged_by_id = row.id
                message.ack_detail = json.dumps({"by": row.id, "kind": "TA1", "status": "rejected", "reason": why})
                message.ack_due_at = None
                transition(session, message, "rejected", actor, f"TA1 from {partner}: interchange rejected — {why}")
        record_events(session, [Event("message", row.id, "parsed", row.state, actor, row.reason) for row, *_ in rows])

    def _ours_by_interchange(self, session: Session, partner: str, refs: list[str]):
        """What we sent to the partner under any of these X12 interchange control numbers, read at once;
        a function from one of them to its messages (as `_ours` finds them)."""
        variants = {ref: _variants(ref, 9) for ref in set(refs)}
        wanted = sorted({variant for found in variants.values() for variant in found})
        by_ref: dict[str, list[Message]] = {}
        for start in range(0, len(wanted), 500):
            for message in session.scalars(select(Message).where(
                    Message.direction == "out", Message.partner == partner, Message.standard == "x12",
                    Message.interchange_ref.in_(wanted[start:start + 500])).order_by(Message.id)
                    .with_for_update().execution_options(populate_existing=True)):
                by_ref.setdefault(message.interchange_ref, []).append(message)

        def ours(ref: str) -> list[Message]:
            return sorted((m for variant in variants[ref] for m in by_ref.get(variant, ())), key=lambda m: m.id)

        return ours

    def _ours(self, session: Session, partner: str, standard: str, *, interchange_ref: str | None = None,
              group_ref: str | None = None) -> list[Message]:
        query = select(Message).where(Message.direction == "out", Message.partner == partner,
                                      Message.standard == standard)
        if interchange_ref is not None:
            query = query.where(Message.interchange_ref.in_(_variants(interchange_ref, 9 if standard == "x12" else 0)))
        if group_ref is not None:
            query = query.where(Message.group_ref.in_(_variants(group_ref, 0)))
        # Locked, and read as they are now: `check_overdue` on another node may have just changed them.
        return list(session.scalars(query.order_by(Message.id).with_for_update().execution_options(
            populate_existing=True)))


def _writable(segments: Iterable[list], syntax: render.X12Syntax) -> Iterable[list]:
    """A 997/999's segments as the interchange's delimiters can carry them."""
    delimiters = {syntax.element, syntax.component, syntax.segment, syntax.repetition}
    for segment in segments:
        if segment[0] in ("AK4", "IK4") and segment[4] and (set(segment[4]) & delimiters or
                                                           NOT_XML.search(segment[4])):
            segment[4] = ""  # a copy of bad data we cannot write (a delimiter, a control character): AK404 is optional
        yield segment


def _summary(ack: ackformats.Acknowledgment, interchange: ParsedInterchange) -> dict[str, Any] | None:
    """What is stored of an acknowledgment answering more than STORED_ANSWERS messages (None: its segments)."""
    if len(ack.answers) <= STORED_ANSWERS:
        return None
    return {"summary": f"{ack.message_type} answering {len(ack.answers)} messages of interchange "
                       f"{interchange.control_ref}" + (f", group {ack.group_ref}" if ack.group_ref else "")
                       + f": {ack.status}; stored as this summary, not segment by segment: each answered "
                       "message says what it answered of it",
            "acknowledgment": ack.message_type, "status": ack.status, "answers": len(ack.answers),
            "interchange_ref": interchange.control_ref, "group_ref": ack.group_ref}


def _runs(positions: Iterable[int]) -> Iterable[tuple[int, int]]:
    """Positions as runs of consecutive ones, (first, last) each: a range is one."""
    if isinstance(positions, range) and positions.step == 1:
        if positions:
            yield positions[0], positions[-1]
        return
    first = last = None
    for position in sorted(positions):
        if last is not None and position == last + 1:
            last = position
            continue
        if first is not None:
            yield first, last
        first = last = position
    if first is not None:
        yield first, last


class _Concatenated:
    """Files read one after another as one stream (what `Archive.put_stream` reads)."""

    def __init__(self, files: list[BinaryIO]) -> None:
        for file in files:
            file.seek(0)
        self._files = iter(files)
        self._current = next(self._files, None)

    def read(self, size: int = -1) -> bytes:
        while self._current is not None:
            chunk = self._current.read(size)
            if chunk:
                return chunk
            self._current = next(self._files, None)
        return b""


def _of(query: Any, partner: str | None) -> Any:
    """An exchange query narrowed to one partner's exchanges, when one is named."""
    return query if partner is None else query.where(Exchange.partner == partner)


def _safe_name(value: str) -> str:
    """A document number as part of a file name: Odoo's `INV/2026/00001` becomes `INV-2026-00001`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-.") or "-"


def _number(value: str | None) -> str:
    value = (value or "").strip()
    return value.lstrip("0") or "0" if value.isdigit() else value


def _variants(value: str, width: int) -> list[str]:
    """A control number as partners may write it back: as is, without or with leading zeros."""
    value = (value or "").strip()
    found = {value}
    if value.isdigit():
        found.add(value.lstrip("0") or "0")
        if width:
            found.add(value.zfill(width))
    return sorted(found)


def _describe(issue: Any) -> str:
    where = f"segment {issue.position} ({issue.tag}): " if issue.position and issue.tag else ""
    return where + issue.reason


def _already_there(channel: Channel, name: str, sha256: str) -> Path | None:
    """After a crash between writing a file and recording it as sent, the file is already there
    (the same bytes: its sha256, read a block at a time)."""
    outbox = getattr(channel, "outbox", None)
    if outbox is None:
        return None
    target = Path(outbox) / name
    try:
        with target.open("rb") as written:
            return target if hashlib.file_digest(written, "sha256").hexdigest() == sha256 else None
    except OSError:
        return None

