"""Health and metrics for operators: `/healthz` (alive), `/readyz` (able to work), `/metrics` (Prometheus).

The metrics are read from the store at each scrape (counts, sums and latency buckets computed
by SQL), so they are right after a restart and the same from every node of one store; only
the channels' polls are this process's own (`gateway.runtime`).
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import flask
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, HistogramMetricFamily

blueprint = flask.Blueprint("ops", __name__)

# Seconds from a file's arrival to a message's processing (parsed, translated) and to its delivery.
LATENCY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
WAITING_STATES = ("received", "translated", "retrying")  # work the gateway still has to do
STALE_POLLS = 3  # a channel not polled for this many of its intervals (plus a minute) makes /readyz fail


def _settings():
    return flask.current_app.config["EDIGW_SETTINGS"]


def _runtime():
    return flask.current_app.config.get("EDIGW_RUNTIME")


def _store():
    """The web side's own store connection, opened once per application (never upgraded from here)."""
    store = flask.current_app.extensions.get("edigw_store")
    if store is None:
        from gateway.store.db import Store

        store = flask.current_app.extensions["edigw_store"] = Store(_settings().store_url)
    return store


@blueprint.get("/healthz")
def healthz():
    return {"status": "alive"}


@blueprint.get("/readyz")
def readyz():
    checks = {"store": _check_store(), "odoo": _check_odoo(), "channels": _check_channels()}
    ready = checks["store"]["ok"] and checks["odoo"]["ok"] and all(c["ok"] for c in checks["channels"])
    return flask.jsonify({"ready": ready, **checks}), 200 if ready else 503


def _check_store() -> dict[str, Any]:
    from gateway.store.db import head_revision

    try:
        revision = _store().revision()
    except Exception as error:  # the store's own error says what is wrong (file, server, login)
        return {"ok": False, "reason": f"the store cannot be read: {error}"}
    if revision != head_revision():
        return {"ok": False, "revision": revision,
                "reason": f"the store is at schema revision {revision}, not {head_revision()}: run `edigw db upgrade`"}
    return {"ok": True, "revision": revision}


def _check_odoo() -> dict[str, Any]:
    odoo = _settings().odoo
    if not odoo.url:
        return {"ok": True, "configured": False}
    request = urllib.request.Request(odoo.url.rstrip("/") + "/web/webclient/version_info", method="POST",
                                     data=b'{"jsonrpc": "2.0", "method": "call", "params": {}}',
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=min(odoo.timeout, 5.0)) as answer:
            version = json.load(answer).get("result", {}).get("server_version")
    except (OSError, ValueError) as error:
        return {"ok": False, "configured": True, "reason": f"Odoo at {odoo.url} cannot be reached: {error}"}
    return {"ok": True, "configured": True, "version": version}


def _check_channels() -> list[dict[str, Any]]:
    runtime = _runtime()
    if runtime is None:
        return []
    now = datetime.now(timezone.utc)
    found = []
    for state in runtime.snapshot():
        allowed = timedelta(seconds=state.interval_seconds * STALE_POLLS + 60)
        since = state.last_poll or runtime.started_at
        ok = now - since <= allowed
        entry = {**state.as_dict(), "ok": ok}
        if not ok:
            entry["reason"] = f"not polled for {int((now - since).total_seconds())} s (every {state.interval_seconds:g} s)"
        found.append(entry)
    return found


@blueprint.get("/metrics")
def metrics():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(_store(), _settings(), _runtime()))
    return flask.Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _StoreCollector:
    def __init__(self, store, settings, runtime) -> None:
        self.store, self.settings, self.runtime = store, settings, runtime

    def collect(self) -> Iterator:
        from sqlalchemy import func, select

        from gateway.store.models import Exchange, Message, OrderException

        with self.store.session() as session:
            exchanges = GaugeMetricFamily("edigw_exchanges", "Files exchanged with partners, by state",
                                          labels=["partner", "direction", "state"])
            for partner, direction, state, count in session.execute(
                    select(Exchange.partner, Exchange.direction, Exchange.state, func.count())
                    .group_by(Exchange.partner, Exchange.direction, Exchange.state)):
                exchanges.add_metric([partner, direction, state], count)
            yield exchanges

            messages = GaugeMetricFamily("edigw_messages", "Messages, by partner, direction and state",
                                         labels=["partner", "direction", "state"])
            waiting = GaugeMetricFamily("edigw_work_waiting", "Messages the gateway still has to work on, by state",
                                        labels=["state"])
            dead = GaugeMetricFamily("edigw_dead_messages", "Messages given up after their delivery attempts",
                                     labels=["partner"])
            overdue = GaugeMetricFamily("edigw_overdue_acknowledgments",
                                        "Documents sent whose acknowledgment is overdue", labels=["partner"])
            by_state: dict[str, int] = {}
            for partner, direction, state, count in session.execute(
                    select(Message.partner, Message.direction, Message.state, func.count())
                    .group_by(Message.partner, Message.direction, Message.state)):
                messages.add_metric([partner, direction, state], count)
                by_state[state] = by_state.get(state, 0) + count
                if state == "dead":
                    dead.add_metric([partner], count)
                if state == "overdue":
                    overdue.add_metric([partner], count)
            for state in WAITING_STATES:
                waiting.add_metric([state], by_state.get(state, 0))
            yield from (messages, waiting, dead, overdue)

            retries = GaugeMetricFamily("edigw_delivery_retries", "Delivery attempts beyond the first, summed",
                                        labels=["partner"])
            for partner, extra in session.execute(
                    select(Message.partner, func.sum(Message.attempts - 1)).where(Message.attempts > 1)
                    .group_by(Message.partner)):
                retries.add_metric([partner], extra or 0)
            yield retries

            exceptions = GaugeMetricFamily("edigw_open_exceptions", "Exceptions waiting for a person, by kind",
                                           labels=["partner", "kind"])
            late = GaugeMetricFamily("edigw_late_documents", "Suppliers' documents late (open late_* exceptions)",
                                     labels=["partner"])
            late_counts: dict[str, int] = {}
            for partner, kind, count in session.execute(
                    select(OrderException.partner, OrderException.kind, func.count())
                    .where(OrderException.state == "open").group_by(OrderException.partner, OrderException.kind)):
                exceptions.add_metric([partner, kind], count)
                if kind.startswith("late_"):
                    late_counts[partner] = late_counts.get(partner, 0) + count
            for partner, count in late_counts.items():
                late.add_metric([partner], count)
            yield from (exceptions, late)

            yield _latency(session, "edigw_processing_latency_seconds",
                           "From a file's arrival to its message being recorded (parsed)", Message.created_at, None)
            yield _latency(session, "edigw_delivery_latency_seconds",
                           "From a file's arrival to its message delivered to Odoo", Message.updated_at, "delivered")

            archive_bytes = session.execute(
                select(func.coalesce(func.sum(Exchange.size), 0)).where(Exchange.duplicate_of.is_(None))).scalar()
        yield GaugeMetricFamily("edigw_archive_bytes", "Bytes of the files kept in the archive (one copy each)",
                                value=archive_bytes)
        yield from self._channels()

    def _channels(self) -> Iterator:
        errors = GaugeMetricFamily("edigw_channel_poll_errors", "Failed polls since the daemon started",
                                   labels=["partner", "channel"])
        success = GaugeMetricFamily("edigw_channel_last_success_timestamp_seconds",
                                    "When the channel was last polled without error (Unix time)",
                                    labels=["partner", "channel"])
        for state in self.runtime.snapshot() if self.runtime is not None else []:
            errors.add_metric([state.partner, state.name], state.errors)
            if state.last_success is not None:
                success.add_metric([state.partner, state.name], state.last_success.timestamp())
        yield from (errors, success)


def _latency(session, name: str, documentation: str, until, state: str | None) -> HistogramMetricFamily:
    """A histogram of (until - the exchange's arrival) over inbound messages, bucketed by SQL."""
    from sqlalchemy import case, func, select

    from gateway.store.models import Exchange, Message

    seconds = _seconds_between(session, Exchange.received_at, until)
    columns = [func.count(), func.coalesce(func.sum(seconds), 0)]
    columns += [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
    query = (select(*columns).select_from(Message).join(Exchange, Exchange.id == Message.exchange_id)
             .where(Message.direction == "in"))
    if state is not None:
        query = query.where(Message.state == state)
    count, total, *within = session.execute(query).one()
    buckets = [(str(bound), value or 0) for bound, value in zip(LATENCY_BUCKETS, within)] + [("+Inf", count)]
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], buckets, float(total))
    return family


def _seconds_between(session, start, end):
    from sqlalchemy import func

    if session.bind.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
