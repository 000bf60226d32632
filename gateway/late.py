"""Late documents in procure-to-pay: what a supplier should have sent by now and has not.

For each supplier whose profile has `purchasing.late` windows, from the order threads in the
store (and, for invoices, the receipts in Odoo):
- `late_response`: our purchase order was sent (the 850/ORDERS left) longer ago than
  `late.response`, and no order response has come;
- `late_asn`: the supplier's response confirmed a delivery date, `late.asn` has passed since,
  and no ship notice has come;
- `late_invoice`: Odoo received goods of the order (`effective_date`, the first receipt) longer
  ago than `late.invoice`, and no invoice has come.

Each becomes one open exception (raised once, however often the check runs; logged at warning)
and is settled by the document it waited for (see `DeliveryResult.settles`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from loguru import logger
from sqlalchemy import select

from gateway.odoo.client import OdooClient, OdooError
from gateway.order_threads import Difference, open_exception, raise_exceptions
from gateway.pipeline import TransientFailure
from gateway.profiles import Profile
from gateway.store.db import Store
from gateway.store.models import Message

ACTOR = "late-documents check"
ANSWERED = ("delivered", "acknowledged", "held", "retrying", "duplicate", "translated")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _days(seconds: float) -> str:
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    return f"{seconds:g} s"


def check_late(store: Store, profiles: dict[str, Profile], client: OdooClient | None,
               now: datetime | None = None) -> list[dict[str, Any]]:
    """Raise the exceptions for late documents; returns what was raised (partner, order, kind, text)."""
    now = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    raised: list[dict[str, Any]] = []
    for profile in profiles.values():
        policy = profile.purchasing
        if policy.late_response is None and policy.late_asn is None and policy.late_invoice is None:
            continue
        with store.exclusive(f"late documents {profile.id}") as ours:
            if ours:  # on PostgreSQL another node may be checking this partner right now
                raised += _check_partner(store, profile, client, now)
    return raised


def _check_partner(store: Store, profile: Profile, client: OdooClient | None, now: datetime) -> list[dict[str, Any]]:
    """One supplier's late documents, each raised once."""
    policy, raised = profile.purchasing, []
    with store.session() as session:
        sent = {row.order_ref: row for row in session.scalars(select(Message).where(
            Message.partner == profile.id, Message.direction == "out", Message.document_type == "Order",
            Message.order_ref.is_not(None), Message.state.in_(("sent", "acknowledged", "overdue")))
            .order_by(Message.id))}
        answers: dict[str, dict[str, list[Message]]] = {}
        if sent:
            for row in session.scalars(select(Message).where(
                    Message.partner == profile.id, Message.direction == "in",
                    Message.order_ref.in_(list(sent)), Message.state.in_(ANSWERED)).order_by(Message.id)):
                answers.setdefault(row.order_ref, {}).setdefault(row.document_type, []).append(row)
        found = _late(profile, sent, answers, now)
        unbilled = [order for order in sent if "Invoice" not in answers.get(order, {})]
    if policy.late_invoice is not None:  # Odoo is asked outside any store transaction
        found += _received(client, profile, unbilled, now)
    with store.session() as session:
        for order, kind, text in found:
            if open_exception(session, partner=profile.id, order=order, kind=kind) is not None:
                continue
            raise_exceptions(session, session.get(Message, sent[order].id), [Difference(kind, text)], ACTOR,
                             partner=profile.id, order=order, document_type="Order")
            logger.warning("{} {}: {}", profile.id, order, text)
            raised.append({"partner": profile.id, "order": order, "kind": kind, "text": text})
    return raised


def _late(profile: Profile, sent: dict[str, Message], answers: dict[str, dict[str, list[Message]]],
          now: datetime) -> list[tuple[str, str, str]]:
    policy, found = profile.purchasing, []
    for order, message in sent.items():
        came = answers.get(order, {})
        if policy.late_response is not None and "OrderResponse" not in came:
            if message.created_at + timedelta(seconds=policy.late_response) <= now:
                found.append((order, "late_response", f"purchase order {order} was sent to {profile.name} on "
                              f"{_utc(message.created_at)}; no order response after {_days(policy.late_response)}"))
        if policy.late_asn is not None and "OrderResponse" in came and "DespatchAdvice" not in came:
            promised = _promised(came["OrderResponse"][-1])
            if promised is not None and promised + timedelta(seconds=policy.late_asn) <= now:
                found.append((order, "late_asn", f"{profile.name} confirmed delivery of {order} for "
                              f"{promised.date().isoformat()}; no ship notice {_days(policy.late_asn)} after that"))
    return found


def _promised(response: Message) -> datetime | None:
    """The latest delivery date a response confirmed (its lines', else none)."""
    document = json.loads(response.document or "{}")
    dates = [line.get("delivery_date") for line in document.get("lines") or []
             if line.get("delivery_date") and line.get("status") != "rejected"]
    if not dates:
        return None
    try:
        return datetime.fromisoformat(max(dates)[:10])
    except ValueError:
        return None


def _received(client: OdooClient | None, profile: Profile, orders: list[str],
              now: datetime) -> list[tuple[str, str, str]]:
    """Orders whose goods Odoo received longer ago than the invoice window, with no invoice come."""
    if client is None or not orders:
        return []
    window = profile.purchasing.late_invoice
    try:
        if not client.has_field("purchase.order", "effective_date"):
            return []
        rows = client.search_read("purchase.order", [("name", "in", orders), ("effective_date", "!=", False)],
                                  ["name", "effective_date", "receipt_status"])
    except (OdooError, TransientFailure) as error:
        logger.warning("{}: cannot read receipts from Odoo for the late-invoice check: {}", profile.id, error)
        return []
    found = []
    for row in rows:
        received = datetime.fromisoformat(str(row["effective_date"])[:19])
        if received + timedelta(seconds=window) <= now:
            found.append((row["name"], "late_invoice", f"purchase order {row['name']} was received on "
                          f"{_utc(received)}; no invoice from {profile.name} after {_days(window)}"))
    return found
