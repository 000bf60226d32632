"""The store's tables: exchanges, interchanges, messages, control numbers and the append-only audit trail.

The schema is owned by the Alembic migrations in `gateway/store/migrations/`; these classes
must describe the same tables (a test compares them).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Exchange(Base):
    """One file in or out: where it came from and the sha256 of its archived bytes."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    original_name: Mapped[str] = mapped_column(String(500), index=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    standard: Mapped[str | None] = mapped_column(String(10), default=None)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id"), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # HMAC of what `audit verify` protects (gateway.store.db.SEALED), with the audit chain's key.
    seal: Mapped[str | None] = mapped_column(String(64), default=None)
    # Inbound: what was decided about acknowledging it (None: not yet; "none", "made", "held"),
    # and the outbound exchange that carries our acknowledgment.
    ack_state: Mapped[str | None] = mapped_column(String(10), default=None, index=True)
    ack_exchange_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id"), default=None)


class Interchange(Base):
    """An interchange (UNB…UNZ / ISA…IEA / one CSV file) as the parser found it."""

    __tablename__ = "interchanges"
    __table_args__ = (UniqueConstraint("exchange_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: it leads the unique (exchange_id, position) index, which serves it.
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based within the file
    standard: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str | None] = mapped_column(String(100), default=None)
    receiver: Mapped[str | None] = mapped_column(String(100), default=None)
    control_ref: Mapped[str | None] = mapped_column(String(50), default=None)
    status: Mapped[str] = mapped_column(String(10))
    header: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON
    direction: Mapped[str] = mapped_column(String(3), default="in")


class Message(Base):
    """One message (UNH…UNT / ST…SE / CSV document), its state and its document."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("exchange_id", "position"),
        Index("ix_messages_partner_state", "partner", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: it leads the unique (exchange_id, position) index, which serves it.
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based among the file's messages
    interchange_position: Mapped[int] = mapped_column(Integer)
    partner: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(3), default="in")
    standard: Mapped[str] = mapped_column(String(10))
    type: Mapped[str | None] = mapped_column(String(20), default=None)
    version: Mapped[str | None] = mapped_column(String(30), default=None)
    ref: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    interchange_ref: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    group_ref: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    document_type: Mapped[str | None] = mapped_column(String(30), default=None)
    document_number: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    # The order the message concerns (an order's own number, else the order it answers): the
    # thread `messages list --order` shows.
    order_ref: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The name of the Odoo record delivery made or found (S00012, INV/2026/00007): what support
    # searches by (`messages find`, the console).
    record_name: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    errors: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of issues
    document: Mapped[str | None] = mapped_column(Text, default=None)  # JSON
    result: Mapped[str | None] = mapped_column(Text, default=None)  # JSON: what delivery did
    # HMAC of what `audit verify` protects (gateway.store.db.SEALED), with the audit chain's key.
    seal: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # The acknowledgment that answered this message: for an inbound message the CONTRL/997 we
    # sent, for an outbound one the partner's; `ack_detail` (JSON) is what it said of it.
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), default=None, index=True)
    ack_due_at: Mapped[datetime | None] = mapped_column(default=None)
    ack_detail: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ControlNumber(Base):
    """The next control number of one kind (interchange, group, message) per partner and standard.

    Allocated in the transaction that records the outbound exchange using it (see
    `gateway.outbound.allocate`): a rolled-back transaction gives its numbers back untouched, a
    committed one has used them for good. Gaps are allowed, reuse never.
    """

    __tablename__ = "control_numbers"
    __table_args__ = (UniqueConstraint("partner", "standard", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100))
    standard: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(12))  # interchange, group, message
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEvent(Base):
    """One state change; `hash` covers the event and the previous event's hash (a chain)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(10))  # "exchange" or "message"
    subject_id: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(20), default=None)
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_subject", "subject", "subject_id"),)


class OutboundCursor(Base):
    """How far change detection has read one partner's records of one document type in Odoo.

    The cursor is Odoo's (`write_date` as Odoo shows it, record id) of the last record read; the
    next run asks for records changed after it (`gateway.odoo.outbound.changed_since`).
    """

    __tablename__ = "outbound_cursors"
    __table_args__ = (UniqueConstraint("partner", "document_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100))
    document_type: Mapped[str] = mapped_column(String(30))
    write_date: Mapped[str] = mapped_column(String(19))
    record_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SentRecord(Base):
    """An Odoo record sent to a partner as a document in one of its states: sent once per state.

    Written in the transaction that records the outbound exchange carrying it, so a crash leaves
    both or neither. A replay points `exchange_id` at the new exchange; the row stays one.
    """

    __tablename__ = "sent_records"
    __table_args__ = (UniqueConstraint("partner", "document_type", "model", "record_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100))
    document_type: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(30))  # the Odoo record's state when it was sent
    document_number: Mapped[str | None] = mapped_column(String(100), default=None)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    replays: Mapped[int] = mapped_column(Integer, default=0)


class StockLevelSent(Base):
    """The quantity of a product last reported to a customer in a stock report (846 / INVRPT).

    A report in `changes` mode sends the products whose quantity differs from this. Written in the
    transaction that records the report's exchange, like `SentRecord`; one row per partner and
    product, updated in place.
    """

    __tablename__ = "stock_levels_sent"
    __table_args__ = (UniqueConstraint("partner", "product_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100))
    product_id: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[str] = mapped_column(String(40))
    document_number: Mapped[str] = mapped_column(String(100))
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogItem(Base):
    """One item of the last catalog sent to a customer, as sent: what the next `changes` catalog is
    compared with. `key` names the item (product and minimum quantity), `fingerprint` its values;
    `line` is the CatalogLine sent (JSON), kept to write its deletion when it leaves the catalog."""

    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("partner", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(100), index=True)
    key: Mapped[str] = mapped_column(String(120))
    fingerprint: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(Text)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrderException(Base):
    """An exception: where a partner's document and Odoo disagree, or a document is late.

    `state` is `open` (waits for a person), `applied` (the profile let the gateway apply it; kept
    for the record), `resolved` (a person, or a later document, settled it) or `superseded` (a
    later document of the same kind replaced the one that raised it). Changes are audit events
    with subject "exception".
    """

    __tablename__ = "exceptions"
    __table_args__ = (Index("ix_exceptions_partner_state", "partner", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), default=None, index=True)
    partner: Mapped[str] = mapped_column(String(100))
    order_ref: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    document_type: Mapped[str | None] = mapped_column(String(30), default=None)
    # The Odoo record an exception is about ("stock.picking,7"), when it is about one of ours:
    # only a document written from that record settles it.
    record: Mapped[str | None] = mapped_column(String(120), default=None)
    line: Mapped[str | None] = mapped_column(String(30), default=None)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A person who signs in to the support console, with a role: viewer, operator or admin.

    `password_hash` is argon2's encoded hash (salt and parameters inside it). `failed_logins`
    counts wrong passwords since the last good one; past the limit the account waits until
    `locked_until`.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveFile(Base):
    """One file of the archive kept in the database (`[archive] url`): its sha256 and size."""

    __tablename__ = "archive_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveChunk(Base):
    """Up to 1 MiB of an archived file's bytes; `seq` orders them from 0."""

    __tablename__ = "archive_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("archive_files.sha256"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
