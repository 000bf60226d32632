"""The stock report job: our stock to a customer (846 / INVRPT) on the schedule of its send rule.

`send.InventoryReport` in a profile names the warehouses, the kind of quantity (free, on hand,
forecast), the products (ordered, pricelist, all) and the mode (full, changes). When the rule is
due (its `schedule` since the last report recorded for the partner), Odoo's quantities are read
in pages (`gateway.odoo.stock_reports`), the report is rendered with the rule's template and
recorded as one interchange. In the same transaction each product's quantity sent is kept
(`StockLevelSent`), so a `changes` report holds only what moved since, and the report itself is a
`SentRecord` (model stock.warehouse, state = the report's number) that `edigw replay` resends.
A `changes` run where nothing moved sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from loguru import logger
from sqlalchemy import func, select

from gateway.documents import Party
from gateway.mapping.outbound import DocumentError
from gateway.odoo.purchasing import shown
from gateway.odoo.stock_reports import PAGE_SIZE, product_ids, read_levels, stock_report, warehouses
from gateway.profiles import InventorySend, Profile, SendRule
from gateway.store.models import SentRecord, StockLevelSent, utcnow

if TYPE_CHECKING:
    from gateway.outbound_jobs import OutboundJobs, Report

DOCUMENT_TYPE = "InventoryReport"
MODEL = "stock.warehouse"  # what a stock report is recorded as sent for: its (first) warehouse
DUE_SLACK_SECONDS = 5.0  # a job woken a little early still sends


def due(jobs: "OutboundJobs", profile: Profile, rule: SendRule, now: datetime | None = None) -> bool:
    """Whether the rule's schedule has passed since the partner's last stock report was recorded."""
    with jobs.store.session() as session:
        last = session.scalar(select(func.max(SentRecord.sent_at)).where(
            SentRecord.partner == profile.id, SentRecord.document_type == DOCUMENT_TYPE))
    if last is None:
        return True
    return (now or utcnow()) - last >= timedelta(seconds=max(0.0, rule.schedule_seconds - DUE_SLACK_SECONDS))


def send_stock_report(jobs: "OutboundJobs", profile: Profile, rule: SendRule, report: "Report",
                      page_size: int = PAGE_SIZE) -> None:
    """Read, render and record one stock report for the partner, when due and when there is something to say."""
    from gateway.outbound_jobs import Sent, _message

    if not due(jobs, profile, rule):
        return
    options = rule.inventory or InventorySend()
    client = jobs.client
    customer = jobs.odoo_partner(profile)
    rows = warehouses(client, options.warehouses)
    ids = product_ids(client, customer, options.products)
    levels = read_levels(client, ids, [row["id"] for row in rows], options.quantity, page_size=page_size)
    with jobs.store.session() as session:
        last = dict(session.execute(select(StockLevelSent.product_id, StockLevelSent.quantity).where(
            StockLevelSent.partner == profile.id)).all())
    chosen = [level for level in levels.values()
              if options.mode == "full" or last.get(level.product_id) != shown(level.quantity)]
    if not chosen:
        logger.info("{}: no stock report: {}", profile.id, "nothing moved since the last one"
                    if levels else f"no products ({options.products}) to report")
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    moment = now.replace(microsecond=0)
    number = f"ST{now:%Y%m%d%H%M%S%f}"[:19]  # to the millisecond: two runs never share a number
    template = jobs.template(rule)
    company = rows[0].get("partner_id")
    parties = {row["id"]: row for row in client.read("res.partner", [customer] + ([company[0]] if company else []),
                                                     ["name", "ref", "barcode"])}
    buyer, supplier = _party(parties.get(customer), (profile.identifiers.get(template.standard) or {}).get("id")), \
        _party(parties.get(company[0]) if company else None)
    document = stock_report(chosen, options, number_=number, when=moment.isoformat(), warehouse_rows=rows,
                            buyer=buyer, supplier=supplier,
                            buyer_items={ours: theirs for theirs, ours in profile.delivery.item_xref.items()})
    try:
        segments = template.render(document)
    except DocumentError as error:
        logger.warning("{}: stock report {} cannot be written with {}: {}", profile.id, number, rule.template, error)
        report.not_written.append(f"{profile.id} {DOCUMENT_TYPE} {number}: {error}")
        return
    with jobs.store.session() as session:
        recorded = jobs.outbound.record(profile, template.standard,
                                        [_message(template, segments, DOCUMENT_TYPE, number, None)],
                                        file_name=rule.file_name, session=session)
        if recorded.state == "held":
            report.not_written.append(f"{profile.id} {DOCUMENT_TYPE} {number}: {'; '.join(recorded.problems)}")
            return
        session.add(SentRecord(partner=profile.id, document_type=DOCUMENT_TYPE, model=MODEL, record_id=rows[0]["id"],
                               state=number, document_number=number, exchange_id=recorded.exchange_id))
        kept = {row.product_id: row for row in session.scalars(select(StockLevelSent).where(
            StockLevelSent.partner == profile.id, StockLevelSent.product_id.in_([lv.product_id for lv in chosen])))}
        for level in chosen:
            row = kept.get(level.product_id)
            if row is None:
                session.add(StockLevelSent(partner=profile.id, product_id=level.product_id,
                                           quantity=shown(level.quantity), document_number=number,
                                           exchange_id=recorded.exchange_id))
            else:
                row.quantity, row.document_number = shown(level.quantity), number
                row.exchange_id, row.sent_at = recorded.exchange_id, utcnow()
    sent = Sent(profile.id, DOCUMENT_TYPE, number, MODEL, rows[0]["id"], number, recorded.exchange_id, recorded.state,
                recorded.control_ref, recorded.file_name)
    logger.info("outbound {} ({} products, {})", sent.describe(), len(chosen), options.mode)
    report.sent.append(sent)


def _party(row: dict | None, fallback_id: str | None = None) -> Party | None:
    """An Odoo partner as a report's party: its GLN (a 13-digit barcode), else its ref, else the id the
    partner's envelope carries; None when it has no number at all (an N1 / NAD needs one)."""
    if row is None:
        return None
    barcode = str(row.get("barcode") or "")
    gln = barcode if len(barcode) == 13 and barcode.isdigit() else None
    ident = row.get("ref") or fallback_id
    if not gln and not ident:
        return None
    return Party(gln=gln, id=None if gln else str(ident), name=row.get("name") or None)
