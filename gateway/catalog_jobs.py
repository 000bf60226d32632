"""The outbound catalog job: each customer with a `send: Catalog` rule gets its catalog (PRICAT / 832)
when it changed, at most once per the rule's `schedule`.

The catalog is read from Odoo (`gateway.odoo.catalogs.customer_catalog`) and compared with the items
of the last catalog sent to that customer (kept in the store, `catalog_items`). Nothing changed:
nothing is sent. `mode: full` sends the whole catalog; `mode: changes` sends only the items added,
changed or deleted since (the first one is whole). The catalog's number is the day and a count
(`20260302-4`), its thread in the store; `replay` sends it again like any other document.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from loguru import logger
from sqlalchemy import delete, func, select

from gateway.mapping.outbound import DocumentError
from gateway.odoo.catalogs import catalog_lines, changes_since, customer_catalog, fingerprint, item_key
from gateway.profiles import Profile, SendRule
from gateway.store.models import CatalogItem, SentRecord, utcnow

if TYPE_CHECKING:
    from gateway.outbound_jobs import OutboundJobs, Report

CATALOG = "Catalog"
MODEL = "res.partner"  # a catalog is sent for the customer, not for one Odoo record of its own


def send_catalog(jobs: OutboundJobs, profile: Profile, rule: SendRule, report: Report,
                 now: datetime | None = None) -> None:
    """Record this customer's catalog for sending, if it is due and anything changed."""
    from gateway.outbound_jobs import Rendered

    now = now or utcnow()
    with jobs.store.session() as session:
        last, count = session.execute(select(func.max(SentRecord.sent_at), func.count(SentRecord.id)).where(
            SentRecord.partner == profile.id, SentRecord.document_type == CATALOG)).one()
        sent = catalog_lines({"key": row.key, "fingerprint": row.fingerprint, "line": row.line}
                             for row in session.scalars(select(CatalogItem).where(CatalogItem.partner == profile.id)))
    if last is not None and now - last < timedelta(seconds=rule.schedule_seconds):
        return
    partner_id = jobs.odoo_partner(profile)
    document, left_out = customer_catalog(jobs.client, partner_id, products=rule.products, pricelist=rule.pricelist,
                                          item_xref=profile.delivery.item_xref, today=now.date())
    for reason in left_out:
        logger.info("{}: catalog leaves out {}", profile.id, reason)
    if not document.lines and not sent:
        logger.info("{}: no catalog to send yet: its pricelist prices none of the products asked for", profile.id)
        return
    current = {item_key(line): (fingerprint(line), line) for line in document.lines}
    if sent and {key: fp for key, (fp, _) in current.items()} == {key: fp for key, (fp, _) in sent.items()}:
        return
    if rule.mode == "changes" and sent:
        document = changes_since(document, sent)
    number = f"{now:%Y%m%d}-{count + 1}"
    document = dataclasses.replace(document, document_number=number)
    template = jobs.template(rule)
    try:
        segments = template.render(document)
    except DocumentError as error:
        report.not_written.append(f"{profile.id} {CATALOG} {number}: {error}")
        jobs._not_sent(profile, CATALOG, document, number, str(error), f"{MODEL},{partner_id}")
        return
    recorded = jobs._record(profile, rule, template, MODEL, [Rendered(partner_id, number, document, segments)])
    if not recorded:
        return
    report.sent += recorded
    with jobs.store.session() as session:
        session.execute(delete(CatalogItem).where(CatalogItem.partner == profile.id))
        session.add_all(CatalogItem(partner=profile.id, key=key, fingerprint=fp, exchange_id=recorded[0].exchange_id,
                                    line=json.dumps(dataclasses.asdict(line)))
                        for key, (fp, line) in current.items())
