"""Demand signals: retailers' sell-through (`SalesReport` documents in the store) as a flat feed for forecasting.

One row per item and location of a sales report (a line that lists its locations inside it,
852 SDQ, gives a row per location): the period, the retailer (partner), the location, our product reference (as the Odoo delivery found it, see
`gateway.odoo.replenishment.SalesReports`), the retailer's item ids, units sold, returned,
on hand and on order. `edigw signals export` writes the rows as CSV (standard library) or
Parquet (pyarrow, the optional extra `edigw[parquet]`); a profile's `signals:` section has the
daemon deliver a file of the rows that came in since its last one over the profile's channel.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from loguru import logger
from sqlalchemy import select

from gateway.store.db import Store, record_event, transition
from gateway.store.models import Exchange, Message, OutboundCursor, utcnow

DOCUMENT_TYPE = "SalesReport"
FEED = "DemandSignals"  # the outbound cursor's document type: how far a partner's feed has read
# States of a sales report whose figures count: read (translated) and, with Odoo, looked up.
COUNTED_STATES = ("translated", "delivered", "acknowledged")
COLUMNS = ("period_start", "period_end", "partner", "location", "product", "gtin", "partner_item",
           "sold", "returned", "on_hand", "on_order", "uom", "document_number", "message_id")
FIGURES = ("sold", "returned", "on_hand", "on_order")  # a sales line's quantity_* fields; the SDQ activities
DECIMAL_COLUMNS = FIGURES
ACTOR = "signals"


class SignalsError(Exception):
    """The feed cannot be written as asked (an unknown format, pyarrow missing); the text says what to do."""


def item_key(line: dict[str, Any]) -> str | None:
    """How a sales line names its product, as one key: the GTIN, else the UPC, else an item number."""
    for kind in ("gtin", "upc", "supplier_item", "buyer_item"):
        if line.get(kind):
            return f"{kind}:{line[kind]}"
    return None


def figures_by_location(line: dict[str, Any]) -> list[tuple[str | None, dict[str, str | None]]]:
    """A sales line's figures (sold, returned, on_hand, on_order) per location, in the report's order.

    A line reported per location (852 SDQ pairs: `location_quantities`) gives a row per location;
    a figure of the line that no location spreads (its own total) stays on the line's location,
    and one that they spread is not counted a second time as the line's total.
    """
    own = line.get("location") or {}
    totals = {figure: line.get(f"quantity_{figure}") for figure in FIGURES}
    spread = [entry for entry in line.get("location_quantities") or [] if entry.get("activity") in FIGURES]
    if not spread:
        return [(own.get("gln") or own.get("id"), totals)]
    places: dict[str | None, dict[str, str | None]] = {}
    for entry in spread:
        place = entry.get("location") or {}
        figures = places.setdefault(place.get("gln") or place.get("id"), {})
        before, quantity = figures.get(entry["activity"]), entry.get("quantity")
        figures[entry["activity"]] = quantity if before is None or quantity is None else str(
            Decimal(before) + Decimal(quantity))  # a location named twice for one activity: both count
    spread_figures = {entry["activity"] for entry in spread}
    rest = {figure: value for figure, value in totals.items() if figure not in spread_figures and value is not None}
    return ([(own.get("gln") or own.get("id"), rest)] if rest else []) + list(places.items())


def rows_of(partner: str, message_id: int, document: dict[str, Any], result: dict[str, Any] | None,
            since: date | None = None) -> Iterable[dict[str, Any]]:
    """The signal rows of one sales report (pure): its lines, a row per location, with the report's
    period filled in."""
    products = (result or {}).get("products") or {}
    for line in document.get("lines") or []:
        start = line.get("period_start") or document.get("period_start")
        end = line.get("period_end") or document.get("period_end") or start or document.get("document_date")
        if since is not None and (end or "") < since.isoformat():
            continue
        key = item_key(line)
        for location, figures in figures_by_location(line):
            yield {"period_start": start or end, "period_end": end, "partner": partner, "location": location,
                   "product": products.get(key) if key else None, "gtin": line.get("gtin") or line.get("upc"),
                   "partner_item": line.get("buyer_item") or line.get("supplier_item"),
                   "sold": figures.get("sold"), "returned": figures.get("returned"),
                   "on_hand": figures.get("on_hand"), "on_order": figures.get("on_order"),
                   "uom": line.get("uom"), "document_number": document.get("document_number"),
                   "message_id": message_id}


def signals(store: Store, *, since: date | None = None, partners: Iterable[str] = (),
            after_message: int = 0) -> list[dict[str, Any]]:
    """Every signal row in the store, oldest report first: of the partners named (else all), for
    periods ending on or after `since`, from messages after `after_message`."""
    wanted = list(partners)
    query = select(Message.id, Message.partner, Message.document, Message.result).where(
        Message.direction == "in", Message.document_type == DOCUMENT_TYPE, Message.state.in_(COUNTED_STATES),
        Message.id > after_message).order_by(Message.id)
    if wanted:
        query = query.where(Message.partner.in_(wanted))
    rows: list[dict[str, Any]] = []
    with store.session() as session:
        for message_id, partner, document, result in session.execute(query):
            rows.extend(rows_of(partner, message_id, json.loads(document or "{}"),
                                json.loads(result) if result else None, since))
    return rows


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows as CSV with a header row, comma separated, decimals with a point (UTF-8)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if row.get(key) is None else row[key]) for key in COLUMNS} for row in rows)
    return out.getvalue().encode("utf-8")


def to_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The rows as a Parquet file: quantities as decimal(18, 4), dates as dates, the rest as text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SignalsError("Parquet needs pyarrow: pip install 'edigw[parquet]' (or use --format csv)") from None

    types = {name: pa.decimal128(18, 4) for name in DECIMAL_COLUMNS}
    types.update(period_start=pa.date32(), period_end=pa.date32(), message_id=pa.int64())
    columns = {}
    for name in COLUMNS:
        values = [row.get(name) for row in rows]
        kind = types.get(name, pa.string())
        if name in DECIMAL_COLUMNS:
            values = [Decimal(v).quantize(Decimal("0.0001")) if v is not None else None for v in values]
        elif kind == pa.date32():
            values = [date.fromisoformat(v) if v else None for v in values]
        columns[name] = pa.array(values, type=kind)
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "parquet":
        return to_parquet(rows)
    if fmt == "json":
        return (json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    raise SignalsError(f"unknown format {fmt!r}: csv, parquet or json")


@dataclass(frozen=True)
class FeedFile:
    exchange_id: int
    name: str
    rows: int


def record_feed(store: Store, archive: Any, outbound: Any, profile: Any) -> FeedFile | None:
    """A profile's feed file of the signals that came in since its last one, archived and recorded
    as an outbound exchange ready to send (`Outbound.send_pending` sends it); None when nothing came.

    The cursor (the last sales report's message id) moves in the transaction that records the
    exchange: a crash leaves both or neither, and no report is sent twice or skipped.
    """
    feed = profile.signals
    with store.session() as session:
        cursor = session.scalar(select(OutboundCursor).where(
            OutboundCursor.partner == profile.id, OutboundCursor.document_type == FEED))
        after = cursor.record_id if cursor is not None else 0
    rows = signals(store, partners=feed.partners, after_message=after)
    if not rows:
        return None
    data = render(rows, feed.format)
    sha256, size = archive.put_bytes(data)
    channel = feed.channel and f"{profile.id}/{feed.channel}" or outbound.channel_name(profile)
    name = feed.file_name.format(partner=profile.id, timestamp=utcnow().strftime("%Y%m%d%H%M%S"), ext=feed.format)
    last = max(row["message_id"] for row in rows)
    with store.session() as session:
        exchange = Exchange(partner=profile.id, channel=channel or "-", direction="out", original_name=name,
                            size=size, sha256=sha256, state="pending", standard=feed.format)
        session.add(exchange)
        session.flush()
        record_event(session, "exchange", exchange.id, None, "pending", ACTOR,
                     f"demand signals: {len(rows)} rows of sales reports up to message {last}")
        transition(session, exchange, "rendered" if channel else "held", ACTOR,
                   None if channel else f"partner {profile.id} has no channel with an outbox to send to")
        cursor = session.scalar(select(OutboundCursor).where(
            OutboundCursor.partner == profile.id, OutboundCursor.document_type == FEED))
        if cursor is None:
            session.add(OutboundCursor(partner=profile.id, document_type=FEED, write_date="", record_id=last))
        else:
            cursor.record_id = last
        exchange_id = exchange.id
    logger.info("{}: demand signals {} ({} rows) recorded to send", profile.id, name, len(rows))
    return FeedFile(exchange_id, name, len(rows))
