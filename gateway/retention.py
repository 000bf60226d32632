"""Retention: exchanges older than `[retention] days`, their rows and archived bytes, removed when nothing needs them.

An exchange is kept while any of its messages still has work or a person waiting (a state that
is not final), while an open exception concerns one of them or the order thread one of them
belongs to, while Odoo documents sent in it guard against sending them twice (sent records),
and while an exchange or message that is kept points to it (a duplicate, an acknowledgment).
The audit trail is never purged: its chain stays whole. `edigw purge --dry-run` says what would go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from loguru import logger

FINAL_MESSAGE_STATES = ("delivered", "acknowledged", "rejected", "duplicate", "superseded", "sent")
FINAL_EXCHANGE_STATES = ("processed", "rejected", "duplicate", "sent")


@dataclass(frozen=True)
class Purge:
    exchanges: int
    messages: int
    archive_files: int
    archive_bytes: int
    kept: int  # old enough, but still needed

    def describe(self, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        return (f"{verb} {self.exchanges} exchange(s), {self.messages} message(s), {self.archive_files} archived "
                f"file(s) ({self.archive_bytes:,} bytes); {self.kept} old exchange(s) kept, still needed")


def purge(store, archive, days: float, dry_run: bool = False, now: datetime | None = None) -> Purge:
    from sqlalchemy import delete, select, update

    from gateway.store.models import Exchange, Interchange, Message, OrderException, SentRecord, StockLevelSent

    cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).replace(tzinfo=None)
    with store.session() as session:
        old = {row.id: row for row in session.execute(select(Exchange).where(Exchange.received_at < cutoff)).scalars()}
        messages = list(session.execute(select(Message).where(Message.exchange_id.in_(old))).scalars()) if old else []
        open_orders = {ref for ref, in session.execute(select(Message.order_ref).join(
            OrderException, OrderException.message_id == Message.id).where(OrderException.state == "open"))} | {
            ref for ref, in session.execute(select(Message.order_ref).where(
                Message.state.not_in(FINAL_MESSAGE_STATES), Message.order_ref.is_not(None)))}
        open_messages = {mid for mid, in session.execute(select(OrderException.message_id).where(
            OrderException.state == "open"))}
        guarded = {eid for eid, in session.execute(select(SentRecord.exchange_id).distinct())}
        # The stock report a product's last reported quantity went out in (replay moves SentRecord on).
        guarded |= {eid for eid, in session.execute(select(StockLevelSent.exchange_id).distinct())}
        candidates = {eid for eid, row in old.items() if row.state in FINAL_EXCHANGE_STATES and eid not in guarded}
        for message in messages:
            if (message.state not in FINAL_MESSAGE_STATES or message.id in open_messages
                    or (message.order_ref and message.order_ref in open_orders)):
                candidates.discard(message.exchange_id)
        # What is kept must not point to what goes: repeat until nothing changes.
        while True:
            removed_messages = {m.id for m in messages if m.exchange_id in candidates}
            pointed = {eid for ex in session.execute(select(Exchange).where(Exchange.id.not_in(candidates))).scalars()
                       for eid in (ex.duplicate_of, ex.ack_exchange_id) if eid in candidates}
            # A kept message acknowledged by a removed one keeps the acknowledgment's exchange.
            acknowledgers = {mid for mid, in session.execute(select(Message.acknowledged_by_id).where(
                Message.acknowledged_by_id.in_(removed_messages), Message.exchange_id.not_in(candidates)))}
            pointed |= {m.exchange_id for m in messages if m.id in acknowledgers}
            if not pointed:
                break
            candidates -= pointed
        hashes = {old[eid].sha256: old[eid].size for eid in candidates}
        still_used = {sha for sha, in session.execute(select(Exchange.sha256).where(
            Exchange.sha256.in_(hashes), Exchange.id.not_in(candidates)))} if hashes else set()
        files = {sha: size for sha, size in hashes.items() if sha not in still_used and archive.exists(sha)}
        result = Purge(len(candidates), len(removed_messages), len(files), sum(files.values()),
                       len(old) - len(candidates))
        if dry_run or not candidates:
            return result
        session.execute(update(Message).where(Message.id.in_(removed_messages)).values(acknowledged_by_id=None))
        session.execute(update(Exchange).where(Exchange.id.in_(candidates)).values(duplicate_of=None,
                                                                                   ack_exchange_id=None))
        session.execute(delete(OrderException).where(OrderException.message_id.in_(removed_messages)))
        session.execute(delete(Message).where(Message.id.in_(removed_messages)))
        session.execute(delete(Interchange).where(Interchange.exchange_id.in_(candidates)))
        session.execute(delete(Exchange).where(Exchange.id.in_(candidates)))
    for sha in files:  # after the rows are gone for good: a crash here leaves bytes, never rows without bytes
        archive.remove(sha)
    logger.info("retention: {}", result.describe(dry_run=False))
    return result
