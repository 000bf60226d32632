"""One thread per order, and the exceptions that wait for a person.

Every message that concerns an order carries its `order_ref`: an order's own number, or the
number of the order it answers (a response, a ship notice, an invoice), in both directions. The
thread of a purchase order is then our 850/ORDERS, the supplier's acknowledgment of it, and the
supplier's 855/856/810 — `edigw messages list --order PO`.

An exception is a difference between a partner's document and what Odoo holds (or a document
that is late), written as a sentence a buyer acts on. Delivery raises them (`Difference` in a
`DeliveryResult`); the late-documents check raises them too; a later document settles some of
them (a response arriving settles "no response yet"). Every change of an exception is an audit
event with subject "exception".
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.db import Store, record_event
from gateway.store.models import Exchange, Message, OrderException, utcnow

OPEN, APPLIED, RESOLVED, SUPERSEDED = "open", "applied", "resolved", "superseded"
STATES = (OPEN, APPLIED, RESOLVED, SUPERSEDED)


@dataclass(frozen=True)
class Difference:
    """A difference between a partner's document and Odoo, in words a buyer acts on.

    `applied` says the gateway changed Odoo to follow it (the profile allows it); otherwise it
    waits for a person. `kind` is a short stable word (quantity, date, price, rejected, …).
    """

    kind: str
    text: str
    line: str | None = None
    applied: bool = False


# Documents that are their own thread, under their own number (a catalog answers no order).
OWN_THREAD = ("Order", "Catalog")


def order_ref(document_type: str | None, document: dict[str, Any] | None) -> str | None:
    """The order a document concerns: an order's own number, or the order it answers."""
    if not document:
        return None
    key = "document_number" if document_type in OWN_THREAD else "order_number"
    value = document.get(key)
    return str(value) if value not in (None, "") else None


def change(session: Session, row: OrderException, state: str, actor: str, note: str | None = None) -> None:
    """Move an exception to a state, with the audit event that says who and why."""
    previous = row.state
    row.state = state
    row.note = note if note is not None else row.note
    if row.id is None:
        session.flush()
    record_event(session, "exception", row.id, previous, state, actor, note or row.text)


def raise_exceptions(session: Session, message: Message | None, differences: Iterable[Difference], actor: str, *,
                     partner: str, order: str | None, document_type: str | None,
                     record: str | None = None) -> list[OrderException]:
    """Record the differences a message raised; the ones it raised before are superseded by them."""
    if message is not None and message.id is not None:
        for earlier in session.scalars(select(OrderException).where(
                OrderException.message_id == message.id, OrderException.state.in_((OPEN, APPLIED)))):
            change(session, earlier, SUPERSEDED, actor, f"message {message.id} was delivered again")
    rows = []
    for difference in differences:
        row = OrderException(message_id=message.id if message is not None else None, partner=partner,
                             order_ref=order, document_type=document_type, record=record, line=difference.line,
                             kind=difference.kind, text=difference.text, state="new")
        session.add(row)
        change(session, row, APPLIED if difference.applied else OPEN, actor)
        rows.append(row)
    return rows


def settle(session: Session, *, partner: str, order: str | None, kinds: Iterable[str], actor: str, why: str,
           state: str = RESOLVED, exclude_message: int | None = None, document_type: str | None = None,
           record: str | None = None) -> int:
    """Close the open exceptions of some kinds on an order (a later document answered them); with
    `document_type` and `record`, only those about that document of that Odoo record."""
    kinds = list(kinds)
    if order is None or not kinds:
        return 0
    query = select(OrderException).where(
        OrderException.partner == partner, OrderException.order_ref == order,
        OrderException.kind.in_(kinds), OrderException.state == OPEN)
    if document_type is not None:
        query = query.where(OrderException.document_type == document_type)
    if record is not None:
        query = query.where(OrderException.record == record)
    if exclude_message is not None:
        query = query.where((OrderException.message_id != exclude_message) | OrderException.message_id.is_(None))
    rows = list(session.scalars(query))
    for row in rows:
        change(session, row, state, actor, why)
    return len(rows)


def open_exception(session: Session, *, partner: str, order: str | None, kind: str,
                   record: str | None = None) -> OrderException | None:
    query = select(OrderException).where(
        OrderException.partner == partner, OrderException.order_ref == order,
        OrderException.kind == kind, OrderException.state == OPEN)
    if record is not None:
        query = query.where(OrderException.record == record)
    return session.scalar(query.limit(1))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def exception_dict(row: OrderException) -> dict[str, Any]:
    return {"id": row.id, "partner": row.partner, "order": row.order_ref, "message_id": row.message_id,
            "document_type": row.document_type, "record": row.record, "line": row.line, "kind": row.kind,
            "text": row.text,
            "state": row.state, "note": row.note, "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at)}


def list_exceptions(store: Store, *, partner: str | None = None, only_open: bool = False,
                    order: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    with store.session() as session:
        query = select(OrderException)
        if partner:
            query = query.where(OrderException.partner == partner)
        if only_open:
            query = query.where(OrderException.state == OPEN)
        if order:
            query = query.where(OrderException.order_ref == order)
        query = query.order_by(OrderException.id.desc()).limit(limit)
        return [exception_dict(row) for row in session.scalars(query)]


def exceptions_of(session: Session, message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if message_ids:
        for row in session.scalars(select(OrderException).where(OrderException.message_id.in_(message_ids))
                                   .order_by(OrderException.id)):
            found.setdefault(row.message_id, []).append(exception_dict(row))
    return found


def resolve(store: Store, exception_ids: list[int], note: str | None = None, actor: str | None = None) -> list[dict]:
    """A person settled these exceptions (in Odoo, with the supplier); their note says how."""
    actor = actor or f"resolved by {getpass.getuser()}"
    done = []
    with store.session() as session:
        for exception_id in exception_ids:
            row = session.get(OrderException, exception_id)
            if row is None:
                raise LookupError(f"no exception {exception_id}")
            if row.state != OPEN:
                raise LookupError(f"exception {exception_id} is {row.state}, not open")
            change(session, row, RESOLVED, actor, note or "resolved")
            done.append(exception_dict(row))
    return done


def thread(store: Store, order: str, partner: str | None = None) -> list[tuple[Message, Exchange]]:
    """The messages of an order in the order they happened, with the acknowledgments of each."""
    with store.session() as session:
        query = select(Message, Exchange).join(Exchange, Exchange.id == Message.exchange_id).where(
            Message.order_ref == order)
        if partner:
            query = query.where(Message.partner == partner)
        rows = list(session.execute(query))
        ack_ids = {message.acknowledged_by_id for message, _ in rows if message.acknowledged_by_id}
        ack_ids -= {message.id for message, _ in rows}
        if ack_ids:
            rows += list(session.execute(select(Message, Exchange).join(
                Exchange, Exchange.id == Message.exchange_id).where(Message.id.in_(ack_ids))))
        session.expunge_all()
    return sorted(rows, key=lambda pair: (pair[0].created_at or utcnow(), pair[0].id))
