"""The inbound pipeline: intake → parse → translate (→ deliver), every step a recorded state.

Nothing here knows a format or Odoo: `formats` turns bytes into message trees, `mapping`
turns trees into documents, a deliverer (when configured) writes documents to Odoo. This
module decides the states and records them, with an audit event for every transition, so
that a run can stop anywhere (even SIGKILL) and the next run goes on from the store.

Exchange states: received → processed | rejected | duplicate | held (our own failure).
Message states: received → parsed → translated → delivered → acknowledged; off the happy path
rejected (syntax, final), held (needs a person), retrying, dead, duplicate.
"""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Protocol, Sequence

from loguru import logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import formats
from gateway.channels.base import ClaimedFile
from gateway.config import Settings
from gateway.documents import as_dict
from gateway.formats.model import Interchange as ParsedInterchange
from gateway.formats.model import Message as ParsedMessage
from gateway.formats import acks
from gateway.formats.model import Issue, UnreadableFile
from gateway.mapping import TemplateError, base_template_names, load_template, version_matches
from gateway.order_threads import Difference, order_ref, raise_exceptions, settle
from gateway.outbound import Outbound
from gateway.profiles import Profile
from gateway.store.archive import Archive, ArchiveMismatch
from gateway.store.db import (NO_ROOM_RETRY_SECONDS, Event, NoRoom, Store, clip_to_columns, clip_values, insert_rows,
                              out_of_room, record_event, record_events, transition)
from gateway.store.models import Exchange, Interchange, Message, utcnow

ACTOR = "pipeline"
BATCH = 500  # messages recorded per transaction
CLAIM_BATCH = 10  # received exchanges a node claims at a time (several nodes share the rest)
STAGES = ("parse", "translate", "deliver")
# A message's values that come from the partner's file, cut to their columns (clip_to_columns).
PARTNER_VALUES = ("type", "version", "ref", "interchange_ref", "group_ref")
DOCUMENT_VALUES = ("document_type", "document_number", "order_ref")

RETRY_FIRST_SECONDS = 30
RETRY_MAX_SECONDS = 3600


class OverBudget(Exception):
    """A file took longer to parse and translate than `[limits] file_seconds`: held, the others go on."""


def within_budget(events: Iterator, seconds: float, what: str) -> Iterator:
    """The parse events of one file, until `seconds` have passed since the first was asked for.

    The time is checked between messages (each is parsed and translated while the consumer
    holds it), so one slow file is stopped after about its budget: the messages recorded so far
    stay, the rest of the file is not read, and the other partners' files go on.
    """
    if not seconds:
        yield from events
        return
    started = time.monotonic()
    count = 0
    for event in events:
        elapsed = time.monotonic() - started
        if elapsed > seconds:
            raise OverBudget(
                f"{what} was still being processed after {elapsed:.0f} s, over the per-file budget of {seconds:g} s "
                f"([limits] file_seconds in gateway.toml); {count} message(s) and envelope(s) before it were recorded, "
                "the rest was not read. Split the file, or raise the budget, and reprocess it")
        count += 1
        yield event


class TransientFailure(Exception):
    """The deliverer could not reach its system (Odoo down, time-out): try again later."""


@dataclass(frozen=True)
class DeliveryResult:
    """What delivering a document came to: `delivered`, `duplicate`, or `held` with a reason a person can act on.

    `record` says what the target system has now, e.g. {"model": "sale.order", "id": 12,
    "name": "S00012", "created": true}; it is kept on the message (`messages show`, `result`).
    `differences` become the message's exceptions; `settles` names the kinds of open exceptions
    on the same order this document answers (a response settles "late_response"), `supersedes`
    the kinds an earlier document of the same type raised that this one replaces.
    """

    state: str
    reason: str | None = None
    record: dict[str, Any] | None = None
    differences: tuple[Difference, ...] = ()
    settles: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Earlier:
    """A message delivered before on the same order, from the same partner (the thread so far)."""

    message_id: int
    document_type: str
    document: dict[str, Any]
    state: str
    record: dict[str, Any] | None


class Deliverer(Protocol):
    """Writes a document to the target system; documents of SOURCED_TYPES also get `source=`
    ({"file", "message_id"}: where they came from)."""

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = (), source: dict[str, Any] | None = None) -> DeliveryResult: ...


@dataclass
class Outcome:
    """What translating one parsed message came to (pure: nothing stored yet)."""

    state: str
    reason: str | None = None
    document_type: str | None = None
    document: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


# Documents whose deliverer is told the file and message they came from (`source=`).
SOURCED_TYPES = ("Replenishment",)
PREPARE_BATCH = 100  # messages whose documents the deliverer may look up at once before delivering them

# The states only a delivery to Odoo reaches.
DELIVERY_STATES = ("delivered", "acknowledged", "retrying", "dead", "duplicate")


def parse_for(data: bytes, profile: Profile | None, templates: TemplateSet) -> tuple[str, Iterator]:
    """Parse bytes as this partner sends them: its CSV layout, its envelope ids, its validation."""
    if profile is None:
        return formats.parse(data)
    return formats.parse(data, csv_layout=templates.csv_layout(profile),
                         expected_sender=profile.sender_id(formats.sniff(data) or "csv"),
                         options=profile.validation)


class SenderCheck:
    """Whether a file can be this partner's, from the envelopes its parse reads; `reason` says why
    not (None while it can be).

    A file in a standard the profile has no identifiers for, or whose ISA06, GS02 or UNB
    sender is not the profile's, came from someone else: nothing is said to the partner about
    it (an acknowledgment would go to the wrong party). The envelopes are taken from the one
    parse as they end, so the file is not read a second time for them."""

    def __init__(self, profile: Profile, standard: str) -> None:
        self.profile = profile
        self.reason: str | None = None
        self.expected: dict[str, Any] = {}
        if standard not in ("edifact", "x12") or not profile.identifiers:
            return
        ids = profile.identifiers.get(standard)
        if not ids:
            self.reason = (f"not from {profile.id}: an {standard.upper() if standard == 'x12' else 'EDIFACT'} file, "
                           f"and the profile has identifiers only for {', '.join(sorted(profile.identifiers))}")
            return
        self.expected = {"ISA06": ids.get("id"), "UNB": ids.get("id"), "GS02": ids.get("gs_id") or ids.get("id")}

    def take(self, interchange: ParsedInterchange) -> None:
        if self.reason is not None or not self.expected:
            return
        senders = [("ISA06" if interchange.standard == "x12" else "UNB", interchange.sender)]
        senders += [("GS02", group.sender) for group in interchange.groups if interchange.standard == "x12"]
        for where, sender in senders:
            wanted = self.expected[where]
            if wanted and sender is not None and sender.strip() != str(wanted).strip():
                self.reason = (f"not from {self.profile.id}: {where} sender {sender.strip()!r} is not the "
                               f"profile's {wanted!r}")
                return


def describe_issues(issues: list) -> str:
    """Message issues as one sentence for the `reason` column."""
    parts = []
    for issue in issues:
        if issue.severity != "error":
            continue
        where = f"segment {issue.position} ({issue.tag}): " if issue.position and issue.tag else (
            f"{issue.tag}: " if issue.tag else "")
        parts.append(where + issue.reason)
    return "; ".join(parts)


def translate_parsed(message: ParsedMessage, profile: Profile | None, templates: TemplateSet) -> Outcome:
    """Parse verdict and translation of one message, the same for the pipeline and `inspect`.

    A value longer than the store keeps (a reference, a version, a document number) is the
    standard's "data element too long" at its element, added to the message's errors so that
    its acknowledgment says so, and the message is rejected."""
    outcome = _translate_parsed(message, profile, templates)
    found = too_long_for_the_store(message, outcome.document)
    if not found:
        return outcome
    message.errors.extend(found)
    reasons = [outcome.reason] if outcome.state == "rejected" and outcome.reason else []
    return Outcome("rejected", "; ".join(reasons + [describe_issues(found)]), outcome.document_type,
                   outcome.document, outcome.problems)


def outcome_values(outcome: Outcome, too_long: list[str]) -> tuple[dict[str, Any], list[tuple[str, str | None]]]:
    """What an outcome sets on its message's row, and the states it then goes through from received,
    each with its reason. A document value longer than its column is cut and, like the partner
    values in `too_long`, rejects the message."""
    values = {"document_type": outcome.document_type,
              "document": json.dumps(outcome.document) if outcome.document is not None else None,
              "document_number": (outcome.document or {}).get("document_number"),
              "order_ref": order_ref(outcome.document_type, outcome.document)}
    too_long = too_long + clip_values(Message, values, DOCUMENT_VALUES)
    state, reason = outcome.state, outcome.reason
    if too_long:
        reasons = [reason] if state == "rejected" and reason else []
        state, reason = "rejected", "; ".join(reasons + too_long)
    if state == "rejected":
        return values, [("rejected", reason)]
    return values, [("parsed", None), (state, reason)]


# How long the store keeps each of a message's own values (None: as long as it comes).
_KEPT_LENGTH = {name: Message.__table__.columns[name].type.length
                for name in ("type", "version", "ref", "document_number")}


def too_long_for_the_store(message: ParsedMessage, document: dict[str, Any] | None) -> list[Issue]:
    """Findings (code 39 in EDIFACT, AK4 5 in X12) for the message's values longer than their columns."""
    values = {"type": message.type, "version": message.version, "ref": message.ref,
              "document_number": (document or {}).get("document_number")}
    found: list[Issue] = []
    for name, value in values.items():
        if not isinstance(value, str) or len(value) <= (_KEPT_LENGTH[name] or len(value)):
            continue
        where = _element_holding(message.tree, value) if message.tree is not None else None
        position, tag, element, component = where or (None, None, None, None)
        if any(issue.severity == "error" and issue.code == acks_code(message, "too_long")
               and issue.position == position and issue.element == element for issue in message.errors):
            continue  # the message's definition found it already
        found.append(Issue(f"{name} is {len(value)} characters long, over the {_KEPT_LENGTH[name]} the "
                           f"gateway keeps", position, tag, acks_code(message, "too_long"), level="element",
                           element=element, component=component, value=value[:99]))
    return found


def acks_code(message: ParsedMessage, kind: str) -> str:
    from gateway.formats.validation import CODES

    return CODES["edifact" if message.interchange.standard == "edifact" else "x12"][kind]


def _element_holding(tree: Any, value: str) -> tuple[int, str, int, int | None] | None:
    """(segment position, segment tag, element, component) of the first element whose text is `value`."""
    for node in tree.iter():
        if len(node) or (node.text or "") != value:
            continue
        segment = node
        while segment is not None and segment.get("pos") is None:
            segment = segment.getparent()
        if segment is None:
            return None
        number, _, part = node.tag[len(segment.tag):].partition(".")
        if not number.isdigit():
            return None
        return int(segment.get("pos")), segment.tag, int(number), int(part) if part.isdigit() else None
    return None


def _translate_parsed(message: ParsedMessage, profile: Profile | None, templates: TemplateSet) -> Outcome:
    """Parse verdict and translation of one message, the same for the pipeline and `inspect`.

    A rejected message is translated too, as far as its tree allows: its document number is
    how support finds it ("what happened to PO 4500012?"), but its state stays rejected.
    """
    rejection = describe_issues(message.errors)
    envelope = describe_issues(message.interchange.errors)
    if not rejection and envelope:
        rejection = "interchange rejected: " + envelope
    if message.tree is None:
        return Outcome("rejected", rejection or "the message could not be read")
    if acks.is_acknowledgment(message):  # gateway state, not a business document: no template
        try:
            read = acks.read(message)
        except acks.AckError as error:
            return Outcome("rejected", rejection) if rejection else Outcome("held", str(error))
        return Outcome("rejected" if rejection else "translated", rejection or None, acks.DOCUMENT_TYPE, read)
    try:
        template = templates.for_message(profile, message)
    except LookupError as error:
        return Outcome("rejected", rejection) if rejection else Outcome("held", str(error), problems=[str(error)])
    document, problems = template.translate(message.tree)
    texts = [str(problem) for problem in problems]
    made = as_dict(document) if document is not None else None
    if rejection:
        return Outcome("rejected", rejection, template.document_type, made, texts)
    errors = [str(problem) for problem in problems if problem.severity == "error"]
    if errors:
        return Outcome("held", "translation: " + "; ".join(errors), template.document_type, made, texts)
    return Outcome("translated", None, template.document_type, made, texts)


class TemplateSet:
    """Finds and caches the template that reads a message: the partner's, or a base one."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir
        self._cache: dict[tuple[str, str], Any] = {}
        # The template found for a partner's kind of message, with the profile it was found for (a
        # reloaded profile is another object, and finds its own): a file's thousands of messages
        # look it up once.
        self._found: dict[tuple, tuple[Profile, Any]] = {}

    def load(self, name: str, overrides: dict[str, Any] | None = None) -> Any:
        key = (name, json.dumps(overrides or {}, sort_keys=True))
        if key not in self._cache:
            self._cache[key] = load_template(self.templates_dir, name, overrides or None)
        return self._cache[key]

    def for_message(self, profile: Profile | None, message: ParsedMessage) -> Any:
        """The template for a message; LookupError says in words why there is none."""
        if profile is None:
            return self._base_template(message)
        key = (id(profile), message.interchange.standard, message.type, message.version)
        found = self._found.get(key)
        if found is not None and found[0] is profile:
            return found[1]
        template = self._for_message(profile, message)
        self._found[key] = (profile, template)
        return template

    def _for_message(self, profile: Profile, message: ParsedMessage) -> Any:
        rules = profile.rules_for(message.type) or (profile.csv_rules() if message.interchange.standard == "csv" else [])
        for rule in rules:
            if rule.versions and not version_matches(message.version, rule.versions):
                continue
            try:
                template = self.load(rule.template, rule.overrides)
            except TemplateError as error:
                raise LookupError(f"template {rule.template} for {profile.id} cannot be used: {error}") from None
            if template.standard == "csv" or rule.versions or template.applies_to(
                    message.interchange.standard, message.type, message.version):
                return template
        raise LookupError(
            f"partner {profile.id} has no template for {message.type} {message.version or ''}".rstrip()
            + f"; add one under 'receive' in {profile.file.name} and reprocess")

    def csv_layout(self, profile: Profile) -> Any:
        for rule in profile.csv_rules():
            return self.load(rule.template, rule.overrides).layout
        return None

    def _base_template(self, message: ParsedMessage) -> Any:
        for name in base_template_names(self.templates_dir):
            template = self.load(name)
            if template.applies_to(message.interchange.standard, message.type, message.version):
                return template
        raise LookupError(f"no base template reads {message.type} {message.version or ''}".rstrip())


class Pipeline:
    def __init__(self, settings: Settings, store: Store, archive: Archive,
                 profiles: dict[str, Profile], templates: TemplateSet,
                 deliverer: Deliverer | None = None) -> None:
        self.settings = settings
        self.store = store
        self.archive = archive
        self.profiles = profiles
        self.templates = templates
        self.deliverer = deliverer
        self.outbound = Outbound(settings, store, archive, profiles)
        self.stopping = False  # set by the daemon on SIGTERM: finish the message in hand, then stop
        # After a full disk stopped processing: why, and not before when (monotonic) it is tried again.
        self.no_room: str | None = None
        self.no_room_until = 0.0
        # `run --once` on a terminal: a progress line per file (gateway.progress) instead of a line per message.
        self.progress: Any = None

    # --- intake ---------------------------------------------------------------------------

    def intake(self, profile: Profile, claimed: ClaimedFile, stream: BinaryIO, *, recovered: bool = False) -> int:
        """Archive a claimed file and record its exchange; returns the exchange id.

        The caller removes the partner's file only after this returns. A file recovered from
        a crash (still claimed) whose exchange was already recorded is not recorded twice.
        """
        limit = self.settings.max_file_size
        sha256, size, complete = self.archive.put_limited(stream, limit)
        with self.store.session() as session:
            if recovered:
                existing = session.scalar(select(Exchange).where(
                    Exchange.partner == profile.id, Exchange.channel == claimed.channel,
                    Exchange.original_name == claimed.original_name, Exchange.sha256 == sha256,
                    Exchange.direction == "in"))
                if existing is not None:
                    logger.info("exchange {} {file!r} was recorded before a restart", existing.id, file=claimed.original_name)
                    return existing.id
            first = session.scalar(select(Exchange).where(
                Exchange.partner == profile.id, Exchange.sha256 == sha256, Exchange.direction == "in",
                Exchange.state != "duplicate",
                # nothing-read refusals (gateway.pipeline.refuse) are nobody's original
                ~((Exchange.state == "rejected") & (Exchange.size == 0))).order_by(Exchange.id).limit(1))
            exchange = Exchange(partner=profile.id, channel=claimed.channel, direction="in",
                                original_name=claimed.original_name, size=size if complete else max(
                                    claimed.size, size + 1), sha256=sha256, state="received")
            clip_to_columns(exchange, ("original_name",))
            session.add(exchange)
            session.flush()
            record_event(session, "exchange", exchange.id, None, "received", f"channel {claimed.channel}",
                         f"{claimed.original_name!r}, {size} bytes, sha256 {sha256}" if complete else
                         f"{claimed.original_name!r}, {exchange.size} bytes; its first {size} bytes read, "
                         f"sha256 {sha256}")
            if not complete:
                transition(session, exchange, "rejected", ACTOR,
                           f"the file is {exchange.size} bytes, over the limit of {limit} bytes; only its first "
                           f"{size} bytes were read and archived (sha256 {sha256}), the rest was not read")
            elif first is not None:
                exchange.duplicate_of = first.id
                transition(session, exchange, "duplicate", ACTOR,
                           f"the same bytes as exchange {first.id} ({first.original_name}); not processed again")
        logger.info("exchange {} {file!r} from {}: {}", exchange.id, profile.id, exchange.state,
                    file=claimed.original_name)
        return exchange.id

    def refuse(self, profile: Profile, channel: str, name: str, reason: str) -> int:
        """Record an inbox entry that cannot be taken (a symlink, a FIFO, an unclaimable name) as rejected.

        Nothing of it was read, so nothing is archived but the empty content its sha256 names.
        An entry refused for the same reason before (an earlier run, a restart) is not recorded
        again: its exchange says so already.
        """
        sha256, size = self.archive.put_bytes(b"")
        with self.store.session() as session:
            earlier = session.scalar(select(Exchange.id).where(
                Exchange.partner == profile.id, Exchange.channel == channel, Exchange.direction == "in",
                Exchange.original_name == name, Exchange.state == "rejected", Exchange.size == 0,
                Exchange.reason == reason).limit(1))
            if earlier is not None:
                return earlier
            exchange = Exchange(partner=profile.id, channel=channel, direction="in", original_name=name,
                                size=size, sha256=sha256, state="received")
            clip_to_columns(exchange, ("original_name",))
            session.add(exchange)
            session.flush()
            record_event(session, "exchange", exchange.id, None, "received", f"channel {channel}",
                         f"{name!r} found in the inbox, not read")
            transition(session, exchange, "rejected", ACTOR, reason)
        return exchange.id

    # --- parse and translate ------------------------------------------------------------

    def pending_exchanges(self) -> list[int]:
        with self.store.session() as session:
            return list(session.scalars(select(Exchange.id).where(
                Exchange.state == "received", Exchange.direction == "in").order_by(Exchange.id)))

    def process_pending(self, partner: str | None = None) -> int:
        """Every received exchange, then every delivery due (new, or a retry whose time has come).

        Exchanges are claimed a few at a time (`Store.claim_received`): on PostgreSQL several nodes
        share the work exchange by exchange, each going on while any is left; returns how many this
        one processed. With `partner`, only that partner's work (a daemon worker's turn, see
        gateway.lanes); overdue acknowledgments are then left to the daemon's own check. The
        audit anchor moves once, at the end (see Store.one_anchor)."""
        if time.monotonic() < self.no_room_until:
            return 0  # a full disk stopped the last attempt: nothing is tried before its time
        with self.store.one_anchor():
            return self._process_pending(partner)

    def _process_pending(self, partner: str | None) -> int:
        count = last = 0
        while not self.stopping:
            with self.store.claim_received(CLAIM_BATCH, after=last, partner=partner) as claimed:
                if not claimed:
                    break
                for exchange_id in claimed:
                    if self.stopping:
                        break
                    try:
                        self._process(exchange_id)  # claimed: no other node processes it meanwhile
                    except NoRoom as error:  # every file would meet the same full disk: all wait
                        self.no_room, self.no_room_until = str(error), time.monotonic() + NO_ROOM_RETRY_SECONDS
                        logger.error("{}", error)
                        return count
                    last = exchange_id
                    count += 1
        if not self.stopping:
            self.deliver_pending(partner=partner)
        if not self.stopping:
            self.outbound.acknowledge_pending(partner)
            self.outbound.send_pending(partner)
            if partner is None:
                self.outbound.check_overdue()
        return count

    def process(self, exchange_id: int) -> None:
        """Parse and translate every message of a received exchange, resuming after a crash.

        On PostgreSQL with several nodes, the node that claims the exchange (an advisory lock)
        processes it; the others leave it.
        """
        with self.store.exclusive(f"exchange {exchange_id}") as ours:
            if ours:
                self._process(exchange_id)

    def _process(self, exchange_id: int) -> None:
        try:
            with self.store.one_anchor():  # called alone (`process`), its transactions move the anchor once
                self._process_exchange(exchange_id)
        finally:  # a plan not taken by the acknowledgment (rejected, held, stopping) is not kept
            self.outbound.prepared.pop(exchange_id, None)

    def _process_exchange(self, exchange_id: int) -> None:
        with self.store.session() as session:
            exchange = session.get(Exchange, exchange_id)
            if exchange is None or exchange.state != "received":
                return
            profile = self.profiles.get(exchange.partner)
            done = set(session.scalars(select(Message.position).where(Message.exchange_id == exchange_id)))
        if profile is None:
            self._finish_exchange(exchange_id, "held", f"no partner profile {exchange.partner!r} is loaded")
            return
        try:
            with self.archive.view(exchange.sha256) as data:  # read a block at a time: memory stays flat
                standard, events = parse_for(data, profile, self.templates)
                events = within_budget(events, self.settings.file_seconds, f"the file ({len(data)} bytes)")
                if self.progress is not None:
                    events = self.progress.follow(events, data, f"exchange {exchange_id} {exchange.original_name!r}")
                # The acknowledgment is planned from this same pass (not a second parse), unless
                # part of the file was recorded before a restart.
                planner = None if done else self.outbound.planner(exchange_id, profile, standard)
                senders = SenderCheck(profile, standard)
                finished = self._record_events(exchange, profile, standard, events, done, planner, senders)
                stranger = senders.reason
        except UnreadableFile as error:
            self._finish_exchange(exchange_id, "rejected", str(error))
            return
        except (ArchiveMismatch, OverBudget) as error:
            self._finish_exchange(exchange_id, "held", str(error))
            return
        except Exception as error:  # our own bug must not stop the daemon nor lose the file
            room = out_of_room(error)
            if room is not None:  # neither the file's fault nor a bug: it stays received, and is tried again
                raise NoRoom(f"exchange {exchange_id} {exchange.original_name!r} could not be processed: {room}; "
                             f"it stays received, processed again in {NO_ROOM_RETRY_SECONDS} s or by the next run, "
                             "after the messages already recorded") from error
            logger.exception("exchange {} could not be processed", exchange_id)
            self._finish_exchange(exchange_id, "held", f"internal error while processing: {error!r}")
            return
        if not finished:  # stopped before its end, or sent from an identifier not the partner's
            if not self.stopping:
                # Its messages are kept (support finds them by number), none delivered nor answered.
                self._reject_messages(exchange_id, stranger)
                self._finish_exchange(exchange_id, "rejected", stranger, standard)
            return
        self._log_finished(exchange_id, exchange.original_name, "processed", None)  # in the last batch's transaction
        if self.stopping:
            return  # delivered and acknowledged at the next start (deliver_pending, acknowledge_pending)
        self.deliver_pending(exchange_id)
        self.acknowledge(exchange_id)

    def acknowledge(self, exchange_id: int) -> None:
        """The CONTRL/997/999/TA1 the partner's policy asks for, recorded to be sent (gateway.outbound)."""
        try:
            self.outbound.acknowledge(exchange_id)
        except Exception:  # a bug in acknowledging must not stop the daemon; acknowledge_pending tries again
            logger.exception("exchange {}: the acknowledgment could not be made", exchange_id)

    def _record_events(self, exchange: Exchange, profile: Profile, standard: str,
                       events: Iterator, done: set[int], planner: Any, senders: SenderCheck) -> bool:
        """Store the file's messages and interchanges a batch at a time; True when the file was read
        to its end from its envelopes' expected senders, and the last batch's transaction also
        marked the exchange processed (one commit fewer per file)."""
        batch: list[tuple[ParsedMessage, Outcome]] = []
        # Interchanges are stored with the batch, after its messages: a file of thousands of tiny
        # interchanges takes a few transactions, not one each.
        envelopes: list[ParsedInterchange] = []
        for event in events:
            if isinstance(event, ParsedMessage):
                if event.index in done:
                    continue
                batch.append((event, translate_parsed(event, profile, self.templates)))
                if planner is not None:
                    planner.take(event)  # keeps a small record of what the acknowledgment reads
                event.tree = None  # the tree is not kept: memory stays flat on big files
            else:
                if planner is not None:
                    planner.take(event)  # before _store_interchange adds the store's own findings
                senders.take(event)
                envelopes.append(event)
            if len(batch) >= BATCH or len(envelopes) >= BATCH:
                self._store_messages(exchange, profile, standard, batch, envelopes)
                batch, envelopes = [], []
                if self.stopping:
                    return False
        finish = standard if senders.reason is None else None
        self._store_messages(exchange, profile, standard, batch, envelopes, finish)
        if planner is not None:
            planner.complete = True
        return finish is not None

    def _store_messages(self, exchange: Exchange, profile: Profile, standard: str,
                        batch: list[tuple[ParsedMessage, Outcome]], envelopes: list[ParsedInterchange] = (),
                        finish: str | None = None) -> None:
        """Record a batch of messages in one transaction: their rows and their audit events each in
        one statement (no ORM object per message), then the partner's acknowledgments among them,
        then the interchanges that ended with them; with `finish` (the file's standard), the
        exchange is marked processed in the same transaction."""
        if not batch and not envelopes and finish is None:
            return
        rows: list[dict[str, Any]] = []
        steps: list[list[tuple[str, str | None]]] = []
        for parsed, outcome in batch:
            values: dict[str, Any] = {
                "exchange_id": exchange.id, "position": parsed.index, "direction": "in",
                "interchange_position": parsed.interchange.index, "partner": profile.id, "standard": standard,
                "type": parsed.type, "version": parsed.version, "ref": parsed.ref,
                "interchange_ref": parsed.interchange.control_ref,
                "group_ref": parsed.group.control_ref if parsed.group else None,
                "errors": json.dumps([i.as_dict() for i in parsed.errors]) if parsed.errors else "[]"}
            too_long = clip_values(Message, values, PARTNER_VALUES)
            document_values, states = outcome_values(outcome, too_long)
            values.update(document_values, state=states[-1][0], reason=states[-1][1])
            rows.append(values)
            steps.append(states)
        ids: list[int] = []
        with self.store.session() as session:
            if rows:
                ids = insert_rows(session, Message, rows, returning_ids=True)
            events = []
            for message_id, (parsed, _), states in zip(ids, batch, steps):
                events.append(Event("message", message_id, None, "received", ACTOR,
                                    f"message {parsed.index + 1} of exchange {exchange.id}"))
                before = "received"
                for state, reason in states:
                    events.append(Event("message", message_id, before, state, ACTOR, reason))
                    before = state
            if events:
                record_events(session, events)
            for message_id, (_, outcome), values in zip(ids, batch, rows):
                if values["document_type"] == acks.DOCUMENT_TYPE and values["state"] == "translated":
                    row = session.get(Message, message_id)
                    self.outbound.apply_ack(session, row, outcome.document, ACTOR)
            for parsed in envelopes:  # every message of each was stored before it, above or earlier
                self._store_interchange(session, exchange, parsed)
            if finish is not None:
                self._finish_in(session, exchange.id, "processed", None, finish)
        for message_id, values in zip(ids, rows):
            self._log_message(message_id, values["partner"], values["type"], values["ref"], values["state"],
                              values["reason"])

    def _apply(self, session: Session, row: Message, outcome: Outcome, actor: str) -> None:
        """Record an outcome on a message's row (reprocess), a transition at a time."""
        values, states = outcome_values(outcome, [])
        for name, value in values.items():
            setattr(row, name, value)
        for state, reason in states:
            transition(session, row, state, actor, reason)
        self._log_message(row.id, row.partner, row.type, row.ref, row.state, row.reason)

    def _log_message(self, message_id: int, partner: str, kind: str | None, ref: str | None, state: str,
                     reason: str | None) -> None:
        quiet = self.progress is not None and state not in ("rejected", "held")
        (logger.debug if quiet else logger.info)("message {} {} {} ref {}: {}{}", message_id, partner, kind, ref,
                                                 state, f" ({reason})" if reason else "")

    def _store_interchange(self, session: Session, exchange: Exchange, parsed: ParsedInterchange) -> None:
        with session.no_autoflush:  # only a row of this position could answer, and none waits to be flushed
            row = session.scalar(select(Interchange).where(
                Interchange.exchange_id == exchange.id, Interchange.position == parsed.index))
        if row is None:
            row = Interchange(exchange_id=exchange.id, position=parsed.index)
            session.add(row)
        row.standard = parsed.standard
        row.sender = parsed.sender
        row.receiver = parsed.receiver
        row.control_ref = parsed.control_ref
        row.status = parsed.status
        row.header = json.dumps(parsed.header())
        for problem in clip_to_columns(row, ("sender", "receiver", "control_ref")):
            parsed.errors.append(Issue(f"interchange {problem}", 1))
        row.errors = json.dumps([issue.as_dict() for issue in parsed.errors])
        self.outbound.apply_technical_acks(session, exchange.id, exchange.partner, parsed, ACTOR)
        envelope_errors = [issue for issue in parsed.errors if issue.severity == "error"]
        if not envelope_errors:
            return
        reason = "interchange rejected: " + describe_issues(envelope_errors)
        messages = session.scalars(select(Message).where(
            Message.exchange_id == exchange.id, Message.interchange_position == parsed.index,
            Message.state != "rejected")) if parsed.messages_accepted + parsed.messages_rejected else ()
        for message in messages:
            transition(session, message, "rejected", ACTOR, reason)
        logger.warning("exchange {} interchange {}: {}", exchange.id, parsed.control_ref, reason)

    def _reject_messages(self, exchange_id: int, reason: str) -> None:
        with self.store.session() as session:
            for message in session.scalars(select(Message).where(
                    Message.exchange_id == exchange_id, Message.state != "rejected")):
                transition(session, message, "rejected", ACTOR, reason)

    def _finish_exchange(self, exchange_id: int, state: str, reason: str | None,
                         standard: str | None = None) -> None:
        with self.store.session() as session:
            name = self._finish_in(session, exchange_id, state, reason, standard)
        self._log_finished(exchange_id, name, state, reason)

    @staticmethod
    def _finish_in(session: Session, exchange_id: int, state: str, reason: str | None, standard: str | None) -> str:
        """Move an exchange to where its processing ended, in the caller's transaction; its file name."""
        exchange = session.get(Exchange, exchange_id)
        if standard:
            exchange.standard = standard
        transition(session, exchange, state, ACTOR, reason)
        return exchange.original_name

    @staticmethod
    def _log_finished(exchange_id: int, name: str, state: str, reason: str | None) -> None:
        log = logger.warning if state in ("rejected", "held") else logger.info
        log("exchange {} {file!r}: {}{}", exchange_id, state, f" ({reason})" if reason else "", file=name)

    # --- deliver -------------------------------------------------------------------------

    def deliver_pending(self, exchange_id: int | None = None, partner: str | None = None) -> int:
        """Hand translated documents (and retries now due; of one exchange, or partner) to the deliverer; how many."""
        if self.deliverer is None:
            return 0
        now = utcnow()
        with self.store.session() as session:
            query = select(Message.id).where(Message.direction == "in").where(
                (Message.state == "translated")
                | ((Message.state == "retrying") & (Message.next_attempt_at <= now)))
            if exchange_id is not None:
                query = query.where(Message.exchange_id == exchange_id)
            if partner is not None:
                query = query.where(Message.partner == partner)
            ids = list(session.scalars(query.order_by(Message.id)))
        for start in range(0, len(ids), PREPARE_BATCH):
            chunk = ids[start:start + PREPARE_BATCH]
            self._prepare(chunk)
            for message_id in chunk:
                if self.stopping:
                    break
                self.deliver(message_id, ACTOR, only_if=("translated", "retrying"))
        return len(ids)

    def _prepare(self, ids: list[int]) -> None:
        """Tell a deliverer that can use it (`prepare`) what comes next, so it looks a batch up at once;
        a failure only costs the batch look-up (each delivery then looks for itself)."""
        prepare = getattr(self.deliverer, "prepare", None)
        if prepare is None:
            return
        with self.store.session() as session:
            rows = list(session.scalars(select(Message).where(Message.id.in_(ids))))
            items = [(self.profiles[row.partner], row.document_type, json.loads(row.document))
                     for row in rows if row.document and row.partner in self.profiles]
        try:
            prepare(items)
        except Exception as error:  # noqa: BLE001 — an optimisation, never a reason to stop delivering
            logger.debug("batch look-up before delivery failed: {!r}", error)

    def deliver(self, message_id: int, actor: str, only_if: tuple[str, ...] | None = None) -> str:
        """Deliver one message's document (if it is still in one of `only_if`'s states); its state after.

        The RPC runs outside any store transaction. A crash between the deliverer's write and the
        state recorded here is safe: the deliverer looks the business key up first, so the next
        attempt finds the record. On PostgreSQL with several nodes, one node at a time delivers a
        message (an advisory lock); another finds it claimed and leaves it.
        """
        with self.store.exclusive(f"message {message_id}") as ours:
            if ours:
                return self._deliver(message_id, actor, only_if)
        with self.store.session() as session:
            return session.get(Message, message_id).state

    def _deliver(self, message_id: int, actor: str, only_if: tuple[str, ...] | None) -> str:
        with self.store.session() as session:
            row = session.get(Message, message_id)
            if only_if is not None and row.state not in only_if:
                return row.state  # another node delivered it a moment ago
            profile = self.profiles.get(row.partner)
            document_type, document = row.document_type, json.loads(row.document or "null")
            thread = self._thread(session, row)
            # Where the document came from, for writers that trace Odoo records to a file and line.
            source = {"file": session.get(Exchange, row.exchange_id).original_name, "message_id": row.id}
            order = row.order_ref
            first = self._delivered_before(session, row)
            if first is not None:
                transition(session, row, "duplicate", actor, first)
                logger.warning("message {} {}: duplicate ({})", message_id, row.partner, first)
                return row.state
        if profile is None or document is None:
            raise LookupError(f"message {message_id} has no partner profile or no document to deliver")
        try:
            result = (self.deliverer.deliver(profile, document_type, document, thread, source=source)
                      if document_type in SOURCED_TYPES else self.deliverer.deliver(profile, document_type, document, thread))
        except TransientFailure as failure:
            return self._retry_later(message_id, actor, str(failure))
        except Exception as error:  # a bug of ours must hold one message, not stop the daemon
            logger.exception("message {}: delivery failed", message_id)
            result = DeliveryResult("held", f"internal error while delivering: {error!r}; reprocess from deliver "
                                            "once it is fixed")
        with self.store.session() as session:
            row = session.get(Message, message_id)
            if result.record is not None:
                row.result = json.dumps(result.record)
                row.record_name = str(result.record["name"])[:100] if result.record.get("name") else row.record_name
            row.next_attempt_at = None
            transition(session, row, result.state, actor, result.reason)
            self._record_differences(session, row, result, actor)
        log = logger.info if result.state == "delivered" else logger.warning
        log("message {} {} {}: {}{}", message_id, profile.id, document.get("document_number"), result.state,
            f" ({result.reason})" if result.reason else "")
        if result.state == "delivered" and document_type == "Order" and order:
            self._deliver_waiting_changes(profile.id, order, actor)
        return result.state

    def _deliver_waiting_changes(self, partner: str, order: str, actor: str) -> None:
        """Changes to an order that came before the order (held) are applied now that it is there."""
        with self.store.session() as session:
            waiting = list(session.scalars(select(Message.id).where(
                Message.partner == partner, Message.order_ref == order, Message.direction == "in",
                Message.document_type == "OrderChange", Message.state == "held").order_by(Message.id)))
        for message_id in waiting:
            self.deliver(message_id, actor, only_if=("held",))

    @staticmethod
    def _delivered_before(session: Session, row: Message) -> str | None:
        """Why an order is a duplicate: its partner's order of the same number was delivered by
        another message (a new interchange with an old PO number); None when it is the first."""
        if row.document_type != "Order" or not row.document_number:
            return None
        first = session.scalar(select(Message).where(
            Message.partner == row.partner, Message.direction == "in", Message.document_type == "Order",
            Message.document_number == row.document_number, Message.id != row.id,
            Message.state.in_(("delivered", "acknowledged"))).order_by(Message.id).limit(1))
        if first is None:
            return None
        made = (json.loads(first.result) if first.result else {}) or {}
        record = f" as {made['name']}" if isinstance(made, dict) and made.get("name") else ""
        return (f"order {row.document_number} was delivered before{record} by message {first.id} "
                f"(interchange {first.interchange_ref or '-'}); not delivered again")

    @staticmethod
    def _thread(session: Session, row: Message) -> list[Earlier]:
        """The documents delivered before on this message's order, from its partner, oldest first."""
        if not row.order_ref:
            return []
        earlier = session.scalars(select(Message).where(
            Message.order_ref == row.order_ref, Message.partner == row.partner, Message.direction == "in",
            Message.id != row.id, Message.state.in_(("delivered", "acknowledged"))).order_by(Message.id))
        return [Earlier(m.id, m.document_type, json.loads(m.document or "{}"), m.state,
                        json.loads(m.result) if m.result else None) for m in earlier]

    @staticmethod
    def _record_differences(session: Session, row: Message, result: DeliveryResult, actor: str) -> None:
        """The exceptions a delivery raised, and the earlier ones it settles, with the message's state."""
        order = row.order_ref
        if result.supersedes:
            settle(session, partner=row.partner, order=order, kinds=result.supersedes, actor=actor,
                   why=f"replaced by {row.document_type} {row.document_number or ''} (message {row.id})",
                   state="superseded", exclude_message=row.id)
        if result.settles and result.state == "delivered":
            settle(session, partner=row.partner, order=order, kinds=result.settles, actor=actor,
                   why=f"{row.document_type} {row.document_number or ''} arrived (message {row.id})")
        raise_exceptions(session, row, result.differences, actor, partner=row.partner, order=order,
                         document_type=row.document_type)

    def _retry_later(self, message_id: int, actor: str, reason: str) -> str:
        with self.store.session() as session:
            row = session.get(Message, message_id)
            row.attempts += 1
            if row.attempts >= self.settings.delivery_attempts:
                row.next_attempt_at = None
                transition(session, row, "dead", actor, f"gave up after {row.attempts} attempts: {reason}")
            else:
                delay = min(RETRY_FIRST_SECONDS * 2 ** (row.attempts - 1), RETRY_MAX_SECONDS)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                transition(session, row, "retrying", actor,
                           f"{reason}; attempt {row.attempts}, next at {row.next_attempt_at.isoformat()}Z")
            state = row.state
        logger.warning("message {}: {}", message_id, row.reason)
        return state

    # --- reprocess -----------------------------------------------------------------------

    def reprocess(self, message_id: int, stage: str = "parse", actor: str | None = None) -> str:
        """Run one message again from a stage, from its archived bytes; returns its new state."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
        actor = actor or f"reprocess by {getpass.getuser()}"
        with self.store.session() as session:
            row = session.get(Message, message_id)
            if row is None:
                raise LookupError(f"no message {message_id}")
            exchange = session.get(Exchange, row.exchange_id)
            profile = self.profiles.get(row.partner)
            if profile is None:
                raise LookupError(f"message {message_id}: no partner profile {row.partner!r} is loaded")
            if self.deliverer is None and (row.state in DELIVERY_STATES or row.result is not None):
                # Run again without Odoo it would stop at translated, below the state it had.
                raise LookupError(f"message {message_id} is {row.state} (Odoo has answered it before) and no Odoo "
                                  "is configured now ([odoo] in gateway.toml); reprocessing it would leave it "
                                  "translated, so it was not reprocessed")
        if stage == "deliver":
            if self.deliverer is None:
                raise LookupError("no deliverer is configured ([odoo] in gateway.toml); cannot reprocess from deliver")
            if row.document is None:
                raise LookupError(f"message {message_id} has no document yet; reprocess it from translate")
            return self.deliver(message_id, actor)
        parsed = self.parse_again(exchange.sha256, profile, row.position)
        if parsed is None:
            raise LookupError(f"exchange {exchange.id} no longer yields message {row.position + 1}")
        outcome = translate_parsed(parsed, profile, self.templates)
        with self.store.session() as session:
            row = session.get(Message, message_id)
            transition(session, row, "received", actor, f"reprocess from {stage}")
            row.errors = json.dumps([issue.as_dict() for issue in parsed.errors])
            self._apply(session, row, outcome, actor)
        if self.deliverer is not None and outcome.state == "translated":
            return self.deliver(message_id, actor)
        return outcome.state

    def parse_again(self, sha256: str, profile: Profile, position: int) -> ParsedMessage | None:
        """One message of an archived file read again, as far as the end of its interchange (whose
        envelope is then checked): the other messages are only parsed by, not kept. None if the
        file no longer yields it."""
        with self.archive.view(sha256) as data:  # a block at a time: a message of a big file
            _, events = parse_for(data, profile, self.templates)
            found = None
            for event in events:
                if isinstance(event, ParsedMessage) and event.index == position:
                    found = event
                elif found is not None and event is found.interchange:
                    break  # its envelope has been checked to the end
            events.close()  # the parse lets go of the map before it is closed
        return found


def claimed_file_for(path: Path, channel: str) -> ClaimedFile:
    """A ClaimedFile for a file handed over directly (tests, `edigw` on a single file)."""
    stat = path.stat()
    return ClaimedFile(path=path, original_name=path.name, size=stat.st_size, channel=channel, mtime=stat.st_mtime)
