"""What support reads: message listings and one message's whole story, as plain data.

The dictionaries returned here are the `--json` output of `messages list` and `messages show`;
their keys are a contract (README).
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import case, func, select

from gateway import order_threads
from gateway.formats.model import issue_text
from gateway.store.archive import Archive, ArchiveMismatch
from gateway.store.db import Store
from gateway.store.models import AuditEvent, Exchange, Interchange, Message


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def _summary(message: Message, exchange: Exchange) -> dict[str, Any]:
    return {
        "id": message.id,
        "exchange_id": message.exchange_id,
        "partner": message.partner,
        "direction": message.direction,
        "standard": message.standard,
        "type": message.type,
        "version": message.version,
        "ref": message.ref,
        "interchange_ref": message.interchange_ref,
        "group_ref": message.group_ref,
        "document_type": message.document_type,
        "document_number": message.document_number,
        "order": message.order_ref,
        "record_name": message.record_name,
        "state": message.state,
        "reason": message.reason,
        "file": exchange.original_name,
        "received_at": _iso(exchange.received_at),
        "updated_at": _iso(message.updated_at),
    }


# Every state a message takes (DESIGN.md "States"; outbound ones after `duplicate`): `--state` is one of these.
MESSAGE_STATES = ("received", "parsed", "translated", "delivered", "acknowledged", "rejected", "held", "retrying",
                  "dead", "duplicate", "superseded", "pending", "rendered", "sent", "overdue")


def _messages_where(query, partner: str | None, state: str | None, since: datetime | None,
                    until: datetime | None, direction: str | None):
    if partner:
        query = query.where(Message.partner == partner)
    if state:
        query = query.where(Message.state == state)
    if direction:
        query = query.where(Message.direction == direction)
    # The store keeps naive UTC times.
    if since:
        query = query.where(Exchange.received_at >= _naive_utc(since))
    if until:
        query = query.where(Exchange.received_at < _naive_utc(until))
    return query


def _naive_utc(moment: datetime) -> datetime:
    from datetime import timezone

    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def list_messages(store: Store, *, partner: str | None = None, state: str | None = None,
                  since: datetime | None = None, until: datetime | None = None, direction: str | None = None,
                  limit: int | None = 200) -> list[dict[str, Any]]:
    """Messages, newest first; `limit` None (or 0) for all."""
    with store.session() as session:
        query = _messages_where(select(Message, Exchange).join(Exchange, Exchange.id == Message.exchange_id),
                                partner, state, since, until, direction).order_by(Message.id.desc())
        if limit:
            query = query.limit(limit)
        return [_summary(message, exchange) for message, exchange in session.execute(query)]


def count_messages(store: Store, *, partner: str | None = None, state: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   direction: str | None = None) -> int:
    """How many messages `list_messages` would find with no limit (for "200 of 3,812 shown")."""
    from sqlalchemy import func

    with store.session() as session:
        query = _messages_where(select(func.count()).select_from(Message).join(
            Exchange, Exchange.id == Message.exchange_id), partner, state, since, until, direction)
        return session.execute(query).scalar()


def status(store: Store) -> dict[str, Any]:
    """What the gateway holds, counted: messages per partner, direction and state; open exceptions
    per partner and kind (late documents among them). `edigw status`."""
    from sqlalchemy import func

    from gateway.store.models import OrderException

    with store.session() as session:
        messages: dict[str, dict[str, dict[str, int]]] = {}
        for partner, direction, state, count in session.execute(
                select(Message.partner, Message.direction, Message.state, func.count()).group_by(
                    Message.partner, Message.direction, Message.state)):
            messages.setdefault(partner, {}).setdefault(direction, {})[state] = count
        exceptions: dict[str, dict[str, int]] = {}
        for partner, kind, count in session.execute(
                select(OrderException.partner, OrderException.kind, func.count()).where(
                    OrderException.state == order_threads.OPEN).group_by(OrderException.partner, OrderException.kind)):
            exceptions.setdefault(partner, {})[kind] = count
    late = sum(count for kinds in exceptions.values() for kind, count in kinds.items() if kind.startswith("late_"))
    return {"messages": messages, "open_exceptions": exceptions, "late_documents": late,
            "needing_a_person": sum(sum(kinds.values()) for kinds in exceptions.values()) + sum(
                states.get(state, 0) for partner in messages.values() for states in partner.values()
                for state in ("held", "dead", "overdue"))}


def order_thread(store: Store, order: str, partner: str | None = None) -> list[dict[str, Any]]:
    """The messages of one order, oldest first, each with its exceptions (`messages list --order`)."""
    pairs = order_threads.thread(store, order, partner)
    with store.session() as session:
        raised = order_threads.exceptions_of(session, [message.id for message, _ in pairs])
    return [{**_summary(message, exchange), "exceptions": raised.get(message.id, [])} for message, exchange in pairs]


def _audit(session, subject: str, subject_id: int) -> list[dict[str, Any]]:
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.subject == subject, AuditEvent.subject_id == subject_id).order_by(AuditEvent.id))
    return [{"at": _iso(e.at), "subject": e.subject, "from": e.from_state, "to": e.to_state,
             "actor": e.actor, "reason": e.reason} for e in events]


def show_message(store: Store, archive: Archive, message_id: int, *, with_tree: bool = False) -> dict[str, Any]:
    """Everything about one message: summary, envelope, errors, document, result, audit trail."""
    with store.session() as session:
        message = session.get(Message, message_id)
        if message is None:
            raise LookupError(f"no message {message_id}")
        exchange = session.get(Exchange, message.exchange_id)
        interchange = session.scalar(select(Interchange).where(
            Interchange.exchange_id == exchange.id, Interchange.position == message.interchange_position))
        detail = _summary(message, exchange)
        detail.update({
            "exchange": {
                "id": exchange.id, "channel": exchange.channel, "file": exchange.original_name,
                "size": exchange.size, "sha256": exchange.sha256, "state": exchange.state,
                "reason": exchange.reason, "received_at": _iso(exchange.received_at),
                "duplicate_of": exchange.duplicate_of,
            },
            "interchange": {
                "sender": interchange.sender, "receiver": interchange.receiver,
                "control_ref": interchange.control_ref, "status": interchange.status,
                "errors": json.loads(interchange.errors),
            } if interchange else None,
            "errors": json.loads(message.errors),
            "document": json.loads(message.document) if message.document else None,
            "result": json.loads(message.result) if message.result else None,
            "audit": _audit(session, "exchange", exchange.id) + _audit(session, "message", message.id),
            "acknowledgment": _acknowledgment(session, message),
            "exceptions": order_threads.exceptions_of(session, [message.id]).get(message.id, []),
        })
        if detail["document"] and "summary" in detail["document"] and message.direction == "out":
            detail["answers"] = _answers(session, message)
        detail["audit"].sort(key=lambda event: event["at"])
    if with_tree and "answers" in detail:
        detail["tree"] = None  # a tree of its thousands of segments would take gigabytes; the file has them
    elif with_tree:
        try:
            detail["tree"] = _tree_text(archive, exchange, message.position)
        except ArchiveMismatch as error:  # what the store holds is still shown; the bytes are not used
            detail["tree"] = None
            detail["archive_problem"] = str(error)
    return detail


def _tree_text(archive: Archive, exchange: Exchange, position: int) -> str | None:
    """The message's parsed tree, parsed again from the archive (trees are not stored)."""
    from lxml import etree

    # The parsers are imported here, not above: listing messages needs none of them.
    from gateway import formats
    from gateway.formats.model import Message as ParsedMessage
    from gateway.formats.model import UnreadableFile

    with archive.view(exchange.sha256) as data:  # a block at a time, up to the message: a big file is not read whole
        if formats.sniff(data) is None:
            return None  # CSV: the layout lives in the partner's template; `inspect --partner` shows it
        try:
            _, events = formats.parse(data)
            with closing(events):  # the parse lets go of the map before it is closed
                for event in events:
                    if isinstance(event, ParsedMessage) and event.index == position and event.tree is not None:
                        return etree.tostring(event.tree, pretty_print=True, encoding="unicode")
        except UnreadableFile:
            return None
    return None


def _acknowledgment(session, message: Message) -> dict[str, Any] | None:
    """Which acknowledgment answered this message, and what it said (None: none yet).

    Inbound: the CONTRL/997/999/TA1 we sent for it. Outbound: the partner's, with its status
    and reasons; or, while we wait, when it is due.
    """
    detail = json.loads(message.ack_detail) if message.ack_detail else None
    if message.acknowledged_by_id is None:
        if message.direction == "out" and message.ack_due_at is not None:
            return {"status": "waiting", "due_at": _iso(message.ack_due_at)}
        return None
    ack = session.get(Message, message.acknowledged_by_id)
    exchange = session.get(Exchange, ack.exchange_id)
    found = {"message_id": ack.id, "type": ack.type, "ref": ack.ref, "interchange_ref": ack.interchange_ref,
             "group_ref": ack.group_ref, "direction": ack.direction, "state": ack.state,
             "file": exchange.original_name, "exchange_id": exchange.id, "exchange_state": exchange.state}
    if detail is not None:
        found.update(status=detail.get("status"), reason=detail.get("reason"), detail=detail.get("detail"))
    elif message.direction == "in":
        found["status"] = _our_verdict(ack, message)
    return found


ANSWERS_SHOWN = 20


def _answers(session, ack: Message) -> dict[str, Any]:
    """What a big acknowledgment of ours (stored as a summary) said of each message it answers, from
    those messages' rows: how many of each verdict, and the first ANSWERS_SHOWN of them."""
    answered = select(Message).where(Message.acknowledged_by_id == ack.id)
    counts: dict[str, int] = {}
    verdict = case((Message.state == "rejected", "rejected"), (Message.errors.in_(("[]", "")), "accepted"),
                   else_="accepted_with_errors")  # as _our_verdict says it of one message
    for status, count in session.execute(select(verdict, func.count()).where(
            Message.acknowledged_by_id == ack.id).group_by(verdict)):
        counts[status] = count
    first = [{"message_id": m.id, "position": m.position, "ref": m.ref, "state": m.state,
              "status": _our_verdict(ack, m)}
             for m in session.scalars(answered.order_by(Message.position).limit(ANSWERS_SHOWN))]
    return {"messages": sum(counts.values()), "by_status": counts, "first": first}


def _our_verdict(ack: Message, message: Message) -> str:
    """What our acknowledgment said of an inbound message: accepted, accepted with errors or rejected."""
    if message.state == "rejected":
        return "rejected"
    errors = json.loads(message.errors or "[]")
    return "accepted_with_errors" if errors else "accepted"


def raw_chunks(store: Store, archive: Archive, message_id: int) -> Iterator[bytes]:
    with store.session() as session:
        message = session.get(Message, message_id)
        if message is None:
            raise LookupError(f"no message {message_id}")
        sha256 = session.get(Exchange, message.exchange_id).sha256
    return archive.chunks(sha256)


def describe_message(detail: dict[str, Any]) -> str:
    """`messages show` for people."""
    lines = [
        f"message {detail['id']}: {detail['type']} {detail['version'] or ''} ref {detail['ref']} "
        f"{'to' if detail['direction'] == 'out' else 'from'} {detail['partner']} — {detail['state']}",
    ]
    if detail.get("archive_problem"):
        lines.append(f"  ARCHIVE: {detail['archive_problem']}")
    if detail["reason"]:
        lines.append(f"  reason: {detail['reason']}")
    exchange = detail["exchange"]
    lines.append(f"  file: {exchange['file']} ({exchange['size']} bytes, sha256 {exchange['sha256'][:12]}…) "
                 f"via {exchange['channel']}, received {exchange['received_at']}")
    if detail["interchange"]:
        ic = detail["interchange"]
        lines.append(f"  interchange {ic['control_ref']} from {ic['sender']} to {ic['receiver']}: {ic['status']}")
        lines.extend(f"    {issue_text(issue)}" for issue in ic["errors"])  # its envelope's findings, warnings too
    lines.extend(f"  {issue_text(issue)}" for issue in detail["errors"])
    if detail.get("answers") is not None:
        answers = detail["answers"]
        lines.append(f"  {detail['document']['summary']}")
        lines.append(f"  answers, from the {answers['messages']} answered messages' rows: " + ", ".join(
            f"{count} {status}" for status, count in sorted(answers["by_status"].items())))
        lines.extend(f"    message {a['message_id']} (position {a['position']}, ref {a['ref']}): {a['status']}"
                     for a in answers["first"])
        if answers["messages"] > len(answers["first"]):
            lines.append(f"    … and {answers['messages'] - len(answers['first'])} more "
                         f"(edigw messages list shows them all)")
    elif detail["document"]:
        document = detail["document"]
        # Lists inside lines (an 852's figures per location) are told below, a text per entry,
        # rather than as pages of JSON.
        lists = [(_line_name(line, index), key, value) for index, line in enumerate(document.get("lines") or [], 1)
                 for key, value in line.items() if isinstance(value, list)]
        if lists:
            document = {**document, "lines": [{k: v for k, v in line.items() if not isinstance(v, list)}
                                              for line in document["lines"]]}
        lines.append(f"  document ({detail['document_type']}):")
        lines.extend("    " + line for line in json.dumps(document, indent=2, ensure_ascii=False).splitlines())
        for name, key, value in lists:
            lines.append(f"    {name}, {key.replace('_', ' ')}:")
            lines.extend("      " + text for text in describe_entries(value))
    if detail["result"]:
        lines.append(f"  result: {json.dumps(detail['result'], ensure_ascii=False)}")
    ack = detail.get("acknowledgment")
    if ack:
        if ack.get("message_id") is None:
            lines.append(f"  acknowledgment: waiting, due by {ack['due_at']}")
        else:
            lines.append(f"  acknowledgment: {ack['type']} (message {ack['message_id']}, interchange "
                         f"{ack['interchange_ref']}, file {ack['file']}, {ack['state']}): {ack.get('status')}"
                         + (f" — {ack['reason']}" if ack.get("reason") else ""))
    for entry in detail.get("exceptions") or []:
        lines.append(f"  exception {entry['id']} [{entry['state']}]: {entry['text']}"
                     + (f" — {entry['note']}" if entry["note"] and entry["state"] != "open" else ""))
    lines.append("  audit trail:")
    for event in detail["audit"]:
        lines.append(f"    {event['at']} {event['subject']} {event['from'] or '-'} → {event['to']} by {event['actor']}"
                     f"{': ' + event['reason'] if event['reason'] else ''}")
    return "\n".join(lines)


def describe_entries(entries: list[Any]) -> list[str]:
    """A list inside a document's line as a person reads it, one text per entry. Figures per
    location (an 852's SDQ) read one location each, its figures together, in the message's order:
    "location 114: 30 sold, 140 on hand"; entries of another shape read as their keys and values."""
    shown: list[tuple[str, list[str] | None]] = []  # a text, and its figures when it names a location
    figures: dict[str, list[str]] = {}
    for entry in entries:
        if isinstance(entry, dict) and "quantity" in entry and set(entry) <= {"activity", "location", "quantity"}:
            where = party_text(entry.get("location")) or "not given"
            if where not in figures:
                figures[where] = []
                shown.append((f"location {where}", figures[where]))
            figures[where].append(f"{entry['quantity']} {(entry.get('activity') or 'quantity').replace('_', ' ')}")
        elif isinstance(entry, dict):
            shown.append((", ".join(f"{key.replace('_', ' ')} {party_text(value) if isinstance(value, dict) else value}"
                                    for key, value in entry.items()), None))
        else:
            shown.append((str(entry), None))
    return [f"{text}: {', '.join(found)}" if found is not None else text for text, found in shown]


def party_text(party: dict[str, Any] | None) -> str:
    """A party inside a line (a sales report's store) in one piece: its identifiers and name."""
    return " ".join(str(value) for value in (party or {}).values() if value not in (None, ""))


def _line_name(line: dict[str, Any], index: int) -> str:
    """How `messages show` names a document's line: its number and the item's first identifier."""
    item = next((line[key] for key in ("gtin", "upc", "buyer_item", "supplier_item") if line.get(key)), None)
    return f"line {line.get('line_number', index)}" + (f" ({item})" if item else "")


def verify_archive(store: Store, archive: Archive) -> tuple[int, list[tuple[int, str]]]:
    """Every exchange's archived bytes re-hashed: (files checked, [(exchange id, problem)])."""
    with store.session() as session:
        rows = list(session.execute(select(Exchange.id, Exchange.sha256).order_by(Exchange.id)))
    problems: list[tuple[int, str]] = []
    checked: dict[str, str | None] = {}
    for exchange_id, sha256 in rows:
        if sha256 not in checked:
            try:
                checked[sha256] = archive.check(sha256)
            except ValueError as error:  # not even a sha256: the row was edited
                checked[sha256] = f"its sha256 column is not a sha256 ({error})"
        if checked[sha256]:
            problems.append((exchange_id, checked[sha256]))
    return len(checked), problems


def list_exchanges(store: Store, *, partner: str | None = None, state: str | None = None,
                   direction: str | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """Files in and out, newest first, duplicates and rejected files among them: one page and the total."""
    from sqlalchemy import func

    query = select(Exchange)
    if partner:
        query = query.where(Exchange.partner == partner)
    if state:
        query = query.where(Exchange.state == state)
    if direction:
        query = query.where(Exchange.direction == direction)
    with store.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Exchange.id.desc()).limit(per_page).offset((max(page, 1) - 1) * per_page))
        found = [{"id": e.id, "partner": e.partner, "channel": e.channel, "direction": e.direction,
                  "file": e.original_name, "size": e.size, "sha256": e.sha256, "state": e.state, "reason": e.reason,
                  "standard": e.standard, "duplicate_of": e.duplicate_of, "received_at": _iso(e.received_at),
                  "messages": [m for m in session.scalars(select(Message.id).where(Message.exchange_id == e.id))]}
                 for e in rows]
    return {"total": total, "page": max(page, 1), "per_page": per_page, "pages": max(1, -(-total // per_page)),
            "exchanges": found}


def partners_overview(store: Store) -> dict[str, dict[str, Any]]:
    """Per partner: when we last received and sent a file, messages per direction and state, open exceptions."""
    from sqlalchemy import func

    counts = status(store)
    with store.session() as session:
        last = {(partner, direction): at for partner, direction, at in session.execute(
            select(Exchange.partner, Exchange.direction, func.max(Exchange.received_at)).group_by(
                Exchange.partner, Exchange.direction))}
    partners = {partner for partner, _ in last} | set(counts["messages"]) | set(counts["open_exceptions"])
    return {partner: {"last_received": _iso(last.get((partner, "in"))), "last_sent": _iso(last.get((partner, "out"))),
                      "messages": counts["messages"].get(partner, {}),
                      "open_exceptions": counts["open_exceptions"].get(partner, {})} for partner in sorted(partners)}


def last_hour(store: Store) -> dict[str, int]:
    """Files received and sent in the last hour."""
    from datetime import timedelta

    from sqlalchemy import func

    from gateway.store.models import utcnow

    with store.session() as session:
        return {direction: count for direction, count in session.execute(
            select(Exchange.direction, func.count()).where(Exchange.received_at >= utcnow() - timedelta(hours=1))
            .group_by(Exchange.direction))}
