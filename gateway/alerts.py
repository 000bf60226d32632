"""Alerts: what needs a person, sent by webhook (JSON POST) and e-mail (SMTP), grouped per interval.

Every `interval_seconds` the daemon reads what happened since its last look: messages that
became held, rejected, dead or overdue (from the audit trail), late documents (new `late_*`
exceptions) and channels whose polls failed. Each event goes to its partner's route
(`[alerts.partners.ID]`) or else to the default one; each route gets one message per interval
listing all its events, never one per file. A failed send is logged and not retried: the next
interval carries only new events, and the store still holds every one of them.

    [alerts]
    interval_seconds = 300
    webhook = "https://chat.example.com/hooks/edi"   # JSON POST
    email = ["edi-support@example.com"]
    smtp_host = "localhost"
    smtp_port = 25
    smtp_from = "edigw@example.com"
    [alerts.partners.acme-retail]
    email = ["acme-account@example.com"]
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from loguru import logger

ALERTING_STATES = ("held", "rejected", "dead", "overdue")


@dataclass(frozen=True)
class Route:
    webhook: str | None = None
    email: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.webhook or self.email)


@dataclass(frozen=True)
class AlertSettings:
    interval_seconds: float = 300.0
    default: Route = Route()
    partners: dict[str, Route] = field(default_factory=dict)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "edigw@localhost"

    @property
    def enabled(self) -> bool:
        return bool(self.default) or any(self.partners.values())

    def route(self, partner: str | None) -> Route:
        return self.partners.get(partner or "", self.default)


def alert_settings(data: dict[str, Any], where: str) -> AlertSettings:
    """`[alerts]` of gateway.toml; ValueError names the key that is wrong."""
    def route(table: dict[str, Any], name: str) -> Route:
        unknown = set(table) - {"webhook", "email"}
        if unknown:
            raise ValueError(f"{where}: [{name}] has unknown key(s) {', '.join(sorted(unknown))}")
        email = table.get("email", [])
        email = [email] if isinstance(email, str) else list(email)
        return Route(webhook=table.get("webhook"), email=tuple(email))

    known = {"interval_seconds", "webhook", "email", "smtp_host", "smtp_port", "smtp_from", "partners"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: [alerts] has unknown key(s) {', '.join(sorted(unknown))}")
    partners = {partner: route(table, f"alerts.partners.{partner}") for partner, table in data.get("partners", {}).items()}
    return AlertSettings(interval_seconds=float(data.get("interval_seconds", 300)),
                         default=route({k: v for k, v in data.items() if k in ("webhook", "email")}, "alerts"),
                         partners=partners, smtp_host=str(data.get("smtp_host", "localhost")),
                         smtp_port=int(data.get("smtp_port", 25)), smtp_from=str(data.get("smtp_from", "edigw@localhost")))


class Alerter:
    """Looks at the store since its last look and sends what it finds, grouped by route."""

    def __init__(self, settings: AlertSettings, store, runtime=None) -> None:
        self.settings, self.store, self.runtime = settings, store, runtime
        self.last_event, self.last_exception = self._newest()  # what happened before start was seen before
        self.channel_errors: dict[str, int] = {}

    def _newest(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from gateway.store.models import AuditEvent, OrderException

        with self.store.session() as session:
            return (session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar(),
                    session.execute(select(func.coalesce(func.max(OrderException.id), 0))).scalar())

    def events(self) -> list[dict[str, Any]]:
        """What needs a person since the last look (and moves the look on)."""
        from sqlalchemy import select

        from gateway.store.models import AuditEvent, Exchange, Message, OrderException

        found = []
        with self.store.session() as session:
            for event, message in session.execute(
                    select(AuditEvent, Message).join(Message, Message.id == AuditEvent.subject_id)
                    .where(AuditEvent.subject == "message", AuditEvent.id > self.last_event,
                           AuditEvent.to_state.in_(ALERTING_STATES)).order_by(AuditEvent.id)):
                found.append({"event": event.to_state, "partner": message.partner, "message_id": message.id,
                              "document_number": message.document_number, "type": message.type,
                              "reason": event.reason, "at": event.at.isoformat() + "Z"})
            for event, exchange in session.execute(
                    select(AuditEvent, Exchange).join(Exchange, Exchange.id == AuditEvent.subject_id)
                    .where(AuditEvent.subject == "exchange", AuditEvent.id > self.last_event,
                           AuditEvent.to_state == "rejected").order_by(AuditEvent.id)):
                found.append({"event": "rejected", "partner": exchange.partner, "exchange_id": exchange.id,
                              "file": exchange.original_name, "reason": event.reason,
                              "at": event.at.isoformat() + "Z"})
            for row in session.execute(select(OrderException).where(
                    OrderException.id > self.last_exception, OrderException.kind.like("late_%"))).scalars():
                found.append({"event": "late", "partner": row.partner, "order": row.order_ref, "reason": row.text,
                              "at": row.created_at.isoformat() + "Z"})
        self.last_event, self.last_exception = self._newest()
        for state in self.runtime.snapshot() if self.runtime is not None else []:
            seen = self.channel_errors.get(state.name, 0)
            if state.errors > seen:
                found.append({"event": "channel failing", "partner": state.partner, "channel": state.name,
                              "reason": f"{state.errors - seen} failed poll(s); last: {state.last_error}"})
            self.channel_errors[state.name] = state.errors
        return found

    def run(self) -> int:
        """One interval: the events grouped by route and sent; how many messages were sent."""
        groups: dict[Route, list[dict[str, Any]]] = {}
        for event in self.events():
            route = self.settings.route(event.get("partner"))
            if route:
                groups.setdefault(route, []).append(event)
        sent = 0
        for route, events in groups.items():
            subject = f"edigw: {len(events)} event(s) need a person: " + ", ".join(
                f"{n} {kind}" for kind, n in sorted(_count(events, "event").items()))
            if route.webhook:
                sent += self._post(route.webhook, {"subject": subject, "events": events})
            if route.email:
                sent += self._mail(route.email, subject, events)
        return sent

    def _post(self, url: str, body: dict[str, Any]) -> int:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30):
                return 1
        except OSError as error:
            logger.error("alert webhook {} failed: {}; these events stay in the store and `edigw status`", url, error)
            return 0

    def _mail(self, to: tuple[str, ...], subject: str, events: list[dict[str, Any]]) -> int:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.settings.smtp_from, ", ".join(to), subject
        mail.set_content("\n".join(_line(event) for event in events) + "\n")
        try:
            with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=30) as smtp:
                smtp.send_message(mail)
            return 1
        except (OSError, smtplib.SMTPException) as error:
            logger.error("alert e-mail to {} failed: {}; these events stay in the store", ", ".join(to), error)
            return 0


def _count(events: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event[key]] = counts.get(event[key], 0) + 1
    return counts


def _line(event: dict[str, Any]) -> str:
    subject = (f"message {event['message_id']}" if "message_id" in event else f"exchange {event['exchange_id']}"
               if "exchange_id" in event else f"order {event['order']}" if "order" in event else event.get("channel"))
    return f"{event['event']}: {event['partner']} {subject}: {event.get('reason') or ''}".rstrip(": ")
