"""Outbound jobs: what happens in Odoo reaches partners — order responses, despatch advices,
invoices to customers, purchase orders to suppliers — each record once per state worth sending.

Per partner with `send:` rules and per document type, a job asks Odoo for the records changed
since the cursor kept in the store (`changed_since`, `write_date` and id), a page at a time; reads
them with the document type's reader (`gateway.odoo.outbound.SOURCES`); skips the records already
sent in their present state (`sent_records`); renders each with the partner's template and
overrides; and records it with `Outbound.record`, one interchange per document — or, where the
rule says `batch: true`, one interchange for all the documents of the type that the run found.

A crash anywhere neither loses nor doubles a document: the exchange and the row that marks the
record sent are written in one transaction, and the cursor moves only after the page (in a batch:
every page) is recorded.
After a crash the page is read again and what is marked is skipped; `Outbound.send_pending`
sends whatever was recorded and not yet sent. A record is sent again only by `replay`, which
takes the segments sent before and envelopes them with new control numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.documents import as_dict
from gateway.mapping.templatedirs import TemplateDirs
from gateway.mapping.outbound import DocumentError, OutboundTemplate, load_outbound_template
from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.outbound import SOURCES, Cursor, Source, changed_since
from gateway.order_threads import Difference, open_exception, order_ref, raise_exceptions, settle
from gateway.outbound import Outbound, OutboundMessage
from gateway.pipeline import TransientFailure
from gateway.profiles import Profile, SendRule
from gateway.store.db import Store, record_event
from gateway.store.models import Message, OutboundCursor, SentRecord, utcnow

ACTOR = "outbound documents"
CHANGE_ANSWER = "OrderChangeResponse"  # our answer to a customer's order change, made from the store
CHANGE_MODEL = "edigw.message"  # what a change answer is sent for: the change's message, not an Odoo record
PAGE_SIZE = 100


@dataclass(frozen=True)
class Sent:
    """One document recorded for sending: which Odoo record, in which state, in which exchange."""

    partner: str
    document_type: str
    document_number: str | None
    model: str
    record_id: int
    state: str
    exchange_id: int
    exchange_state: str
    control_ref: str
    file_name: str

    def describe(self) -> str:
        held = "" if self.exchange_state == "rendered" else f" ({self.exchange_state}: not sent)"
        return (f"{self.partner}: {self.document_type} {self.document_number} ({self.model} {self.record_id}, "
                f"{self.state}) as interchange {self.control_ref}, file {self.file_name}{held}")


@dataclass(frozen=True)
class Rendered:
    """An Odoo record read, in the state it was read in, and its document written with the template."""

    record_id: int
    state: str
    document: Any
    segments: list[list]


@dataclass
class Report:
    """What a run of the jobs did: documents recorded, documents that could not be written, failures."""

    sent: list[Sent] = field(default_factory=list)
    not_written: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class OutboundJobs:
    def __init__(self, store: Store, profiles: dict[str, Profile], outbound: Outbound, client: OdooClient | None,
                 templates_dir: Path, page_size: int = PAGE_SIZE) -> None:
        self.store = store
        self.profiles = profiles
        self.outbound = outbound
        self.client = client
        self.templates_dir = TemplateDirs.of(templates_dir)
        self.page_size = page_size
        self._templates: dict[tuple[str, str], OutboundTemplate] = {}
        self._partner_ids: dict[str, int] = {}

    def senders(self) -> list[Profile]:
        """The partners that have documents sent to them."""
        return [profile for profile in self.profiles.values() if profile.send]

    # --- detecting and recording -------------------------------------------------------------

    def run(self, partners: list[str] | None = None, document_types: list[str] | None = None) -> Report:
        """Every send rule (of the partners and document types named, else all): record what changed.

        Odoo unreachable or refusing is logged and reported per rule; the other rules go on.
        """
        report = Report()
        for profile in self.senders():
            if partners is not None and profile.id not in partners:
                continue
            for rule in profile.send:
                if document_types is not None and rule.document_type not in document_types:
                    continue
                try:
                    with self.store.exclusive(f"documents {profile.id} {rule.document_type}") as ours:
                        if ours and rule.document_type == CHANGE_ANSWER:
                            self.answer_changes(profile, rule, report)
                        elif ours and rule.document_type == "InventoryReport":  # our stock, on its own schedule
                            from gateway.stock_jobs import send_stock_report

                            send_stock_report(self, profile, rule, report)
                        elif ours and rule.document_type == "Catalog":
                            from gateway.catalog_jobs import send_catalog

                            send_catalog(self, profile, rule, report)
                        elif ours:  # on PostgreSQL another node may be reading these right now
                            self.run_rule(profile, rule, report)
                except (OdooError, TransientFailure, LookupError) as error:
                    logger.warning("{}: {} documents not read from Odoo this time: {}", profile.id,
                                   rule.document_type, error)
                    report.failed.append(f"{profile.id} {rule.document_type}: {error}")
        return report

    def run_rule(self, profile: Profile, rule: SendRule, report: Report) -> None:
        source = SOURCES[rule.document_type]
        template = self.template(rule)
        domain = source.domain_for(self.odoo_partner(profile))
        cursor = self.cursor(profile.id, rule.document_type)
        batch: list[Rendered] = []
        while True:
            ids, following = changed_since(self.client, source.model, domain, cursor, limit=self.page_size)
            if not ids:
                break
            rendered = self._render_page(profile, rule, template, source, ids, report)
            if rule.batch:
                batch += rendered
            else:
                for item in rendered:
                    report.sent += self._record(profile, rule, template, source.model, [item])
                self._save_cursor(profile.id, rule.document_type, following)
            if following == cursor:
                break
            cursor = following
        if rule.batch:
            # The cursor passes the pages only once the batch that holds them is recorded.
            if batch:
                report.sent += self._record(profile, rule, template, source.model, batch)
            self._save_cursor(profile.id, rule.document_type, cursor)

    def answer_changes(self, profile: Profile, rule: SendRule, report: Report) -> None:
        """Each change of this customer's orders delivered to Odoo is answered once (865 / ORDRSP)."""
        from gateway.odoo.changes import change_answer

        template = self.template(rule)
        with self.store.session() as session:
            answered = select(SentRecord.record_id).where(
                SentRecord.partner == profile.id, SentRecord.document_type == CHANGE_ANSWER,
                SentRecord.model == CHANGE_MODEL)
            changes = session.execute(select(Message.id, Message.document, Message.result).where(
                Message.partner == profile.id, Message.direction == "in", Message.document_type == "OrderChange",
                Message.state.in_(("delivered", "acknowledged")), Message.id.not_in(answered)
            ).order_by(Message.id)).all()
        for message_id, document, result in changes:
            answer = change_answer(json.loads(document or "{}"), json.loads(result or "{}"))
            try:
                segments = template.render(answer)
            except DocumentError as error:
                report.not_written.append(f"{profile.id} {CHANGE_ANSWER} {answer.order_number}: {error}")
                self._not_sent(profile, CHANGE_ANSWER, answer, answer.order_number or "", str(error))
                continue
            report.sent += self._record(profile, rule, template, CHANGE_MODEL,
                                        [Rendered(message_id, "answered", answer, segments)])

    def _render_page(self, profile: Profile, rule: SendRule, template: OutboundTemplate, source: Source,
                     ids: list[int], report: Report) -> list[Rendered]:
        """The page's records not yet sent in their present state, each read and rendered."""
        fields = ["name", "state"] + (["client_order_ref"] if source.model == "sale.order" else [])
        rows = {row["id"]: row for row in self.client.read(source.model, ids, fields)}
        with self.store.session() as session:
            done = set(session.execute(select(SentRecord.record_id, SentRecord.state).where(
                SentRecord.partner == profile.id, SentRecord.document_type == rule.document_type,
                SentRecord.model == source.model, SentRecord.record_id.in_(list(rows)))).all())
        todo = [i for i in ids if i in rows and (i, str(rows[i]["state"])) not in done]
        if not todo:
            return []
        if rule.document_type == "OrderResponse":
            ordered = self._ordered(profile, [rows[i].get("client_order_ref") for i in todo])
            documents = source.reader(self.client, todo, ordered=ordered)
        else:
            documents = source.reader(self.client, todo)
        by_number = {document.document_number: document for document in documents}
        rendered: list[Rendered] = []
        for record_id in todo:
            row = rows[record_id]
            document = by_number.get(row["name"])
            if document is None:
                continue  # gone from Odoo between the two reads
            try:
                segments = template.render(document)
            except DocumentError as error:
                logger.warning("{}: {} {} ({} {}) cannot be written with {}; not sent until it changes in Odoo: {}",
                               profile.id, rule.document_type, row["name"], source.model, record_id,
                               rule.template, error)
                report.not_written.append(f"{profile.id} {rule.document_type} {row['name']}: {error}")
                self._not_sent(profile, rule.document_type, document, row["name"], str(error),
                               f"{source.model},{record_id}")
                continue
            rendered.append(Rendered(record_id, str(row["state"]), document, segments))
        return rendered

    def _not_sent(self, profile: Profile, document_type: str, document: Any, name: str, error: str,
                  record: str, session: Session | None = None) -> None:
        """A record that cannot be written waits for a person: an open exception on its order, once
        per record (an order's ship notice and invoice can both wait)."""
        if session is None:
            with self.store.session() as session:
                return self._not_sent(profile, document_type, document, name, error, record, session)
        order = order_ref(document_type, as_dict(document)) or name
        if open_exception(session, partner=profile.id, order=order, kind="not_sent", record=record) is None:
            raise_exceptions(session, None, [Difference("not_sent", f"{document_type} {name} was not sent to "
                             f"{profile.name}: {error}; fix it in Odoo and it is sent at the next run")],
                             ACTOR, partner=profile.id, order=order, document_type=document_type, record=record)

    def _record(self, profile: Profile, rule: SendRule, template: OutboundTemplate, model: str,
                items: list[Rendered]) -> list[Sent]:
        """Record the documents in one interchange, and mark their records sent in the same transaction."""
        with self.store.session() as session:
            marked = set(session.execute(select(SentRecord.record_id, SentRecord.state).where(
                SentRecord.partner == profile.id, SentRecord.document_type == rule.document_type,
                SentRecord.model == model, SentRecord.record_id.in_([item.record_id for item in items]))).all())
            # What another gateway process recorded a moment ago is left out.
            items = [item for item in items if (item.record_id, item.state) not in marked]
            if not items:
                return []
            messages = [_message(template, item.segments, rule.document_type, item.document.document_number,
                                 order_ref(rule.document_type, as_dict(item.document))) for item in items]
            recorded = self.outbound.record(profile, template.standard, messages, file_name=rule.file_name,
                                            session=session)
            if recorded.state == "held":
                # Not written: nothing is marked sent, so the record goes again when it changes in Odoo.
                why = "; ".join(recorded.problems)
                for item in items:
                    self._not_sent(profile, rule.document_type, item.document, item.document.document_number, why,
                                   f"{model},{item.record_id}", session=session)
                return []
            for item in items:
                settle(session, partner=profile.id, order=order_ref(rule.document_type, as_dict(item.document))
                       or item.document.document_number, kinds=("not_sent",), actor=ACTOR,
                       why=f"sent in interchange {recorded.control_ref}", document_type=rule.document_type,
                       record=f"{model},{item.record_id}")
                session.add(SentRecord(partner=profile.id, document_type=rule.document_type, model=model,
                                       record_id=item.record_id, state=item.state,
                                       document_number=item.document.document_number,
                                       exchange_id=recorded.exchange_id))
        sent = [Sent(profile.id, rule.document_type, item.document.document_number, model, item.record_id,
                     item.state, recorded.exchange_id, recorded.state, recorded.control_ref, recorded.file_name)
                for item in items]
        for each in sent:
            logger.info("outbound {}", each.describe())
        return sent

    # --- replay ------------------------------------------------------------------------------

    def replay(self, partner: str, since: datetime | None = None, document_type: str | None = None,
               actor: str | None = None) -> list[Sent]:
        """Record again, with new control numbers, the documents sent to a partner (since a time, of a type).

        The segments are the ones sent before, from the store: the partner gets the same
        document in a new envelope, whatever Odoo holds now. A document sent in a batch is sent
        again on its own.
        """
        profile = self.profiles.get(partner)
        if profile is None:
            raise LookupError(f"no partner profile {partner!r}")
        replayed: list[Sent] = []
        for sent_id in [row["id"] for row in replayable(self.store, partner, since, document_type)]:
            with self.store.session() as session:
                row = session.get(SentRecord, sent_id)
                earlier = list(session.scalars(select(Message).where(
                    Message.exchange_id == row.exchange_id).order_by(Message.position)))
                if len(earlier) > 1:  # a batch: this record's own message
                    earlier = [m for m in earlier if m.document_number == row.document_number]
                if not earlier:
                    continue
                rule = profile.send_rule(row.document_type)
                template = self.template(rule) if rule is not None else None
                messages = [_again(m, template) for m in earlier]
                recorded = self.outbound.record(profile, earlier[0].standard, messages,
                                                file_name=rule.file_name if rule else None, session=session)
                row.exchange_id = recorded.exchange_id
                row.replays += 1
                if actor is not None:  # who asked for it, on the new exchange's trail
                    record_event(session, "exchange", recorded.exchange_id, recorded.state, recorded.state, actor,
                                 f"replay of {row.document_type} {row.document_number}")
                sent = Sent(partner, row.document_type, row.document_number, row.model, row.record_id, row.state,
                            recorded.exchange_id, recorded.state, recorded.control_ref, recorded.file_name)
            logger.info("replayed {}", sent.describe())
            replayed.append(sent)
        return replayed

    # --- the store's and Odoo's side -----------------------------------------------------------

    def template(self, rule: SendRule) -> OutboundTemplate:
        key = (rule.template, json.dumps(rule.overrides, sort_keys=True))
        if key not in self._templates:
            self._templates[key] = load_outbound_template(self.templates_dir, rule.template, rule.overrides,
                                                          source=f"send.{rule.document_type}.overrides")
        return self._templates[key]

    def odoo_partner(self, profile: Profile) -> int:
        """The Odoo id of the profile's `odoo_partner` (by id, or by a ref that one company has)."""
        if profile.id in self._partner_ids:
            return self._partner_ids[profile.id]
        wanted = profile.odoo_partner
        if wanted.get("id") is not None:
            found = int(wanted["id"])
        else:
            rows = self.client.search_read("res.partner", [("ref", "=", str(wanted.get("ref"))),
                                                           ("parent_id", "=", False)], ["id"], order="id")
            if len(rows) != 1:
                raise LookupError(f"{len(rows) or 'no'} Odoo partner(s) with ref {wanted.get('ref')} "
                                  f"(odoo_partner in {profile.file.name}); exactly one is needed")
            found = rows[0]["id"]
        self._partner_ids[profile.id] = found
        return found

    def cursor(self, partner: str, document_type: str) -> Cursor | None:
        with self.store.session() as session:
            row = session.scalar(select(OutboundCursor).where(OutboundCursor.partner == partner,
                                                              OutboundCursor.document_type == document_type))
            return (row.write_date, row.record_id) if row is not None else None

    def _save_cursor(self, partner: str, document_type: str, cursor: Cursor | None) -> None:
        if cursor is None:
            return
        with self.store.session() as session:
            row = session.scalar(select(OutboundCursor).where(OutboundCursor.partner == partner,
                                                              OutboundCursor.document_type == document_type))
            if row is None:
                session.add(OutboundCursor(partner=partner, document_type=document_type, write_date=cursor[0],
                                           record_id=cursor[1], updated_at=utcnow()))
            else:
                row.write_date, row.record_id = cursor

    def _ordered(self, profile: Profile, numbers: list[Any]) -> dict[str, dict[str, Any]]:
        """The orders as the partner sent them, by number: an order response answers their lines."""
        wanted = sorted({str(n) for n in numbers if n})
        if not wanted:
            return {}
        found: dict[str, dict[str, Any]] = {}
        with self.store.session() as session:
            for number, document in session.execute(select(Message.document_number, Message.document).where(
                    Message.partner == profile.id, Message.direction == "in", Message.document_type == "Order",
                    Message.document_number.in_(wanted), Message.state == "delivered").order_by(Message.id)):
                if document:
                    found[number] = json.loads(document)
        return found


def _message(template: OutboundTemplate, segments: list[list], document_type: str,
             document_number: str | None, order: str | None) -> OutboundMessage:
    edifact = template.standard == "edifact"
    return OutboundMessage(template.message, segments, version=None if edifact else template.version,
                           identifier=template.identifier if edifact else None,
                           functional_id=template.functional_id, document_type=document_type,
                           document_number=document_number, order_ref=order)


def _again(message: Message, template: OutboundTemplate | None) -> OutboundMessage:
    """A message sent before, to be enveloped again: its segments as stored, its identity from the template."""
    segments = json.loads(message.document or "{}").get("segments") or []
    if template is not None and template.message == message.type:
        return _message(template, segments, message.document_type, message.document_number, message.order_ref)
    version = message.version or ""
    edifact = message.standard == "edifact"
    return OutboundMessage(message.type, segments, version=None if edifact else version,
                           identifier=(message.type, version[:1], version[1:], "UN") if edifact else None,
                           document_type=message.document_type, document_number=message.document_number,
                           order_ref=message.order_ref)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def jobs_for(app: Any) -> OutboundJobs | None:
    """The outbound jobs of an app, when Odoo is configured and some partner has `send:` rules."""
    if not app.settings.odoo.url or not any(profile.send for profile in app.profiles.values()):
        return None
    return OutboundJobs(app.store, app.profiles, app.pipeline.outbound, OdooClient(app.settings.odoo),
                        app.settings.templates)


def replayable(store: Store, partner: str, since: datetime | None = None,
               document_type: str | None = None) -> list[dict[str, Any]]:
    """What `replay` would send again to a partner, oldest first: the records sent (since, of a type)."""
    with store.session() as session:
        query = select(SentRecord).where(SentRecord.partner == partner)
        if since is not None:
            query = query.where(SentRecord.sent_at >= _utc(since))
        if document_type is not None:
            query = query.where(SentRecord.document_type == document_type)
        return [{"id": row.id, "document_type": row.document_type, "document_number": row.document_number,
                 "model": row.model, "record_id": row.record_id, "state": row.state, "exchange_id": row.exchange_id,
                 "sent_at": row.sent_at.isoformat() + "Z", "replays": row.replays}
                for row in session.scalars(query.order_by(SentRecord.sent_at, SentRecord.id))]


def replay_and_send(app, partner: str, since: datetime | None = None, document_type: str | None = None,
                    actor: str | None = None) -> tuple[list[Sent], set[int]]:
    """`edigw replay` and the console's: record the documents again in new envelopes and send them; returns
    what was replayed and the ids of the exchanges sent. Needs no Odoo: the segments come from the store."""
    client = OdooClient(app.settings.odoo) if app.settings.odoo.url else None
    jobs = OutboundJobs(app.store, app.profiles, app.pipeline.outbound, client, app.settings.templates)
    replayed = jobs.replay(partner, since=since, document_type=document_type, actor=actor)
    sent = {s.exchange_id for s in replayed if s.exchange_state == "rendered" and app.pipeline.outbound.send(
        s.exchange_id)}
    return replayed, sent
