"""Finding messages by whatever support is told: a number, a record's name, a control number, a file.

One box, many keys: a document or order number with or without its leading zeros, the name of
the Odoo record delivery made (S00012, INV/2026/00007), a control number (ISA13, GS06, ST02, UNB,
UNH), a file name (or its start), a sha256 prefix. Filters narrow it; the total counts every
match, a page shows some. `edigw messages find` and the console's search both call `find`.
Every key is an indexed column looked up by equality or by prefix range, so the search stays
fast on a big store (benchmarks/console_search.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, union

from gateway.queries import _summary
from gateway.store.db import Store
from gateway.store.models import Exchange, Message

MOST_LEADING_ZEROS = 10  # "4500012" also finds "0004500012"; control numbers are zero-padded to 9 or 14
HEX = re.compile(r"[0-9a-f]{6,64}")


@dataclass(frozen=True)
class Filters:
    partner: str | None = None
    direction: str | None = None
    state: str | None = None
    document_type: str | None = None
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before the end of this day (a date) or this time


def number_forms(text: str) -> list[str]:
    """The spellings a number may be stored under: as typed, without leading zeros, with up to ten."""
    bare = text.lstrip("0") if text.isdigit() else text
    if not text.isdigit() or not bare:
        return [text]
    forms = {text, bare}
    forms.update("0" * zeros + bare for zeros in range(1, MOST_LEADING_ZEROS + 1))
    return sorted(forms)


def _prefix(column, text: str):
    """`column` starts with `text`, as a range an ordinary index answers (LIKE would not use it everywhere)."""
    return and_(column >= text, column < text + "\uffff")


def _matches(text: str):
    """The ids of the messages `text` names: one indexed look-up per key, united (an OR over the join
    would make the database read every row)."""
    forms = number_forms(text)
    by_file = select(Message.id).join(Exchange, Exchange.id == Message.exchange_id)
    keys = [select(Message.id).where(Message.document_number.in_(forms)),
            select(Message.id).where(Message.order_ref.in_(forms)),
            select(Message.id).where(Message.record_name == text),
            select(Message.id).where(Message.ref.in_(forms)),
            select(Message.id).where(Message.interchange_ref.in_(forms)),
            select(Message.id).where(Message.group_ref.in_(forms)),
            by_file.where(_prefix(Exchange.original_name, text))]
    if HEX.fullmatch(text.lower()):
        keys.append(by_file.where(_prefix(Exchange.sha256, text.lower())))
    return Message.id.in_(union(*keys))


def _filtered(query, filters: Filters):
    if filters.partner:
        query = query.where(Message.partner == filters.partner)
    if filters.direction:
        query = query.where(Message.direction == filters.direction)
    if filters.state:
        query = query.where(Message.state == filters.state)
    if filters.document_type:
        query = query.where(or_(Message.document_type == filters.document_type, Message.type == filters.document_type))
    if filters.since:
        query = query.where(Exchange.received_at >= filters.since.replace(tzinfo=None))
    if filters.until:
        until = filters.until.replace(tzinfo=None)
        if until.time() == datetime.min.time():
            until += timedelta(days=1)  # a date means the whole day
        query = query.where(Exchange.received_at < until)
    return query


def find(store: Store, text: str | None, filters: Filters = Filters(), *, page: int = 1,
         per_page: int = 50) -> dict[str, Any]:
    """Messages matching `text` (all when empty) and the filters, newest first: one page and the total.

    Returns {"query", "total", "page", "per_page", "pages", "messages": [summary, …]}; a summary
    has the keys of `messages list --json`.
    """
    text = (text or "").strip()
    page, per_page = max(1, page), max(1, min(per_page, 1000))
    base = select(Message.id).join(Exchange, Exchange.id == Message.exchange_id)
    if text:
        base = base.where(_matches(text))
    base = _filtered(base, filters)
    with store.session() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery()))
        ids = list(session.scalars(base.order_by(Message.id.desc()).limit(per_page).offset((page - 1) * per_page)))
        rows = session.execute(select(Message, Exchange).join(Exchange, Exchange.id == Message.exchange_id)
                               .where(Message.id.in_(ids)).order_by(Message.id.desc())) if ids else []
        found = [_summary(message, exchange) for message, exchange in rows]
    return {"query": text, "total": total, "page": page, "per_page": per_page,
            "pages": max(1, -(-total // per_page)), "messages": found}


CSV_COLUMNS = ("id", "partner", "direction", "type", "document_type", "document_number", "order", "record_name",
               "ref", "interchange_ref", "group_ref", "state", "reason", "file", "received_at")


def csv_text(rows: list[dict[str, Any]]) -> str:
    """A result as CSV (a header row, then one row per message), for a spreadsheet."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row[column] for column in CSV_COLUMNS])
    return out.getvalue()
