"""Partner profiles: one YAML file per partner in `partners_dir`, the file name is its id.

A profile says who the partner is (envelope identifiers, the Odoo partner), where its files
come and go (channels), which messages it sends us and the template for each, and its
acknowledgment policy. Profiles are validated when loaded; every problem names the file and
the line, so `edigw partners validate` can list them all at once.

    name: ACME Retail
    odoo_partner: {ref: ACME}
    identifiers:
      edifact: {id: "5450534000000", qualifier: "14"}   # syntax: UNOA … UNOY for what we write (UNOC)
      x12: {id: ACMEX12, qualifier: ZZ}
    channels:
      inbox: {type: folder, inbox: inbox/acme, after: move}
      their-server: {type: sftp, host: sftp.acme.example, user: distributor, key_file: keys/acme,
                     host_key: "SHA256:…", inbox: /out, outbox: /in, schedule: 300}
    receive:
      ORDERS: {template: edifact/ORDERS_D96A, overrides: {…}}
    acknowledgments:
      send: true                # write CONTRL / 997 / 999 for what this partner sends
      kind: contrl              # contrl | 997 | 999 (default: contrl for EDIFACT, 997 for X12)
      ta1: on-request           # X12 TA1: on-request (ISA14=1, or a broken envelope) | always | never
      expect: true              # the partner acknowledges what we send ...
      overdue_after: 24h        # ... within this long (s, m, h, d), else it is overdue
      channel: their-server     # whose outbox (default: the first channel with an outbox)
      file_name: "{type}_{control}.{ext}"
    send:                       # documents read from Odoo and sent to this partner
      OrderResponse: {template: outbound/edifact/ORDRSP_D96A}      # confirmed / cancelled sale orders
      DespatchAdvice: {template: outbound/edifact/DESADV_D96A, schedule: 10m}   # done deliveries
      Invoice: {template: outbound/edifact/INVOIC_D96A, overrides: {…},         # posted invoices, credit notes
                file_name: "{document}_{number}_{control}.{ext}"}
      # Order: {template: outbound/x12/850_004010}                 # confirmed purchase orders, to a supplier
      # OrderChangeResponse: {template: outbound/x12/865_004010}   # answers to the customer's changes (or ORDRSP)
      # InventoryReport: {template: outbound/x12/846_004010, schedule: 15m, warehouses: [WH],
      #                   quantity: free, products: ordered, mode: changes}   # our stock (846 / INVRPT)
    inventory:                  # a 3PL's or a supplier's stock reports (846, INVRPT) to us
      warehouse: WH2            # the Odoo warehouse (code) this partner keeps: a 3PL; absent: a supplier
      apply: adjust             # adjust: Odoo's count follows the 3PL's within the tolerance; none (default)
      tolerance: 2              # units a count may differ and still be adjusted ("5%": percent of Odoo's)
      # Catalog: {template: outbound/edifact/PRICAT_D96A, schedule: 1d, mode: changes,  # our prices (PRICAT, 832)
      #           products: pricelist}   # pricelist | ordered | all; pricelist: <id or name> (default: the customer's)
    changes:                    # a customer's changes to its orders (860, ORDCHG)
      apply: [quantity_increase, quantity_decrease, date, price, add_line, cancel_line, cancel_order]
      on_confirmed: apply       # apply: change a confirmed order too (its delivery follows); exception
      price_tolerance: 5        # percent a new price may differ from the order's (absent: any)
    catalogs:                   # a supplier's catalogs (832, PRICAT): its prices for what we buy
      apply: prices             # prices: update product.supplierinfo; none: compare and report only
      price_tolerance: 10       # percent a price may change by itself; beyond it, an exception
    purchasing:                 # a supplier's answers to our purchase orders (855, 856, 810)
      apply:                    # differences the gateway applies by itself; the rest wait for a person
        later_date_days: 7      # a later confirmed date, up to this many days after the planned one
        earlier_date: false     # an earlier confirmed date
        lower_price: false      # a lower confirmed price
        lower_quantity: false   # a lower confirmed quantity (or a rejected line: quantity 0)
      bills:
        post: true              # post a vendor bill whose every line matches
        on_mismatch: draft      # draft: a draft bill with the differences listed; hold: no bill
        price_tolerance: 0      # percent a billed price may differ from the order's
        quantity: received      # bill up to what was received, or `shipped` (per the ship notices)
      late:                     # flagged as exceptions (and logged) when nothing came in time
        response: 2d            # no order response this long after our order was sent
        asn: 1d                 # no ship notice this long after the confirmed delivery date
        invoice: 14d            # no invoice this long after the goods were received

`send:` keys are document types (OrderResponse, DespatchAdvice, Invoice, Order). `schedule` is how
often the daemon looks in Odoo (s, m, h, d; default 5m); `file_name` may use {type} {document}
{number} {control} {timestamp} {partner} {standard} {ext} and must contain {control}. `batch: true`
puts all the documents of the type that one run finds in one interchange (one file, a message each)
instead of one interchange per document; its `{number}` is then the interchange's control number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.mapping import yamlfile
from gateway.mapping.templatedirs import TemplateDirs
from gateway.mapping.yamlfile import Located

from gateway.formats.render import EDIFACT_CODECS
from gateway.formats.validation import Options
from apscheduler.triggers.cron import CronTrigger

from gateway.channels.secrets import SecretRef

PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
PROFILE_KEYS = {"name", "odoo_partner", "identifiers", "channels", "receive", "send",
                "acknowledgments", "test", "description", "delivery", "validation", "purchasing",
                "changes", "inventory", "catalogs", "signals", "replenishment"}
VALIDATION_KEYS = {"strict", "check_digits", "segment_order"}
CHANNEL_KEYS = {"type", "inbox", "outbox", "processed", "failed", "after", "settle_seconds",
                "rescan_seconds", "patterns"}
SFTP_CHANNEL_KEYS = {"type", "host", "port", "user", "known_hosts", "host_key", "key_file",
                     "key_passphrase_file", "key_passphrase_env", "password_file", "password_env",
                     "inbox", "outbox", "processed", "failed", "after", "patterns", "settle_seconds",
                     "schedule", "timeout", "keepalive_seconds", "max_connections", "upload", "temp_prefix"}
# Keys that would put a secret into the profile's own text: refused, with the reference to use instead.
INLINE_SECRETS = {"password": "password_file or password_env", "passphrase": "key_passphrase_file or key_passphrase_env",
                  "key_passphrase": "key_passphrase_file or key_passphrase_env", "private_key": "key_file"}
RECEIVE_KEYS = {"template", "overrides", "versions"}
ACK_KEYS = {"send", "kind", "ta1", "expect", "overdue_after", "channel", "file_name"}
ACK_FILE_FIELDS = {"type", "control", "partner", "ext", "standard"}
SEND_KEYS = {"template", "overrides", "schedule", "file_name", "batch"}
INVENTORY_SEND_KEYS = {"warehouses", "quantity", "products", "mode"}  # send.InventoryReport only
SEND_DOCUMENTS = ("OrderResponse", "DespatchAdvice", "Invoice", "Order", "OrderChangeResponse", "InventoryReport",
                  "Catalog")
SEND_KEYS |= {"mode", "products", "pricelist"}  # Catalog
CATALOG_MODES = ("full", "changes")
CATALOG_PRODUCTS = ("pricelist", "ordered", "all")
CATALOGS_KEYS = {"apply", "price_tolerance"}
SEND_FILE_FIELDS = ACK_FILE_FIELDS | {"document", "number", "timestamp"}
SEND_FILE_NAME = "{type}_{number}_{control}.{ext}"
SEND_SCHEDULE_SECONDS = 300.0
PURCHASING_KEYS = {"apply", "bills", "late"}
APPLY_KEYS = {"later_date_days", "earlier_date", "lower_price", "lower_quantity"}
BILL_KEYS = {"post", "on_mismatch", "price_tolerance", "quantity"}
LATE_KEYS = {"response", "asn", "invoice"}
DELIVERY_KEYS = {"confirm", "price_tolerance", "price_decimals", "create_addresses", "item_xref", "units"}
STANDARDS = ("edifact", "x12", "csv")


@dataclass(frozen=True)
class Problem:
    """A profile problem: where (file, line) and what."""

    file: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.reason}"


class ProfileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class FolderChannelSettings:
    name: str
    inbox: Path
    outbox: Path | None
    processed: Path | None
    failed: Path
    after: str
    settle_seconds: float
    rescan_seconds: float | None
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class SftpChannelSettings:
    """A partner's SFTP server we log in to: where, as whom, which host key, which remote folders."""

    name: str
    host: str
    port: int
    user: str
    inbox: str
    outbox: str | None
    processed: str | None
    failed: str | None
    after: str
    patterns: tuple[str, ...]
    known_hosts: Path | None = None
    host_key: str | None = None
    key_file: Path | None = None
    key_passphrase: SecretRef | None = None
    password: SecretRef | None = None
    settle_seconds: float = 2.0
    schedule_seconds: float | None = None
    cron: str | None = None
    timeout: float = 30.0
    keepalive_seconds: float = 15.0
    max_connections: int = 2
    upload: str = "rename"
    temp_prefix: str | None = None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


ChannelSettings = FolderChannelSettings | SftpChannelSettings


@dataclass(frozen=True)
class ReceiveRule:
    """Which template reads a message type from this partner (optionally only some versions)."""

    message_type: str
    template: str
    overrides: dict[str, Any] = field(default_factory=dict)
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendRule:
    """Which template writes a document type read from Odoo for this partner, how often, under what name."""

    document_type: str
    template: str
    overrides: dict[str, Any] = field(default_factory=dict)
    schedule_seconds: float = SEND_SCHEDULE_SECONDS
    file_name: str = SEND_FILE_NAME
    batch: bool = False
    inventory: "InventorySend | None" = None  # what a stock report holds (send.InventoryReport)
    # Catalog: the whole catalog or only what changed since the last one sent; which products; the
    # pricelist (id or name) when not the customer's own.
    mode: str = "full"
    products: str = "pricelist"
    pricelist: int | str | None = None


@dataclass(frozen=True)
class DeliveryPolicy:
    """How this partner's orders become Odoo records (`delivery:` in the profile).

    confirm: confirm the sale order (`action_confirm`) after creating it.
    price_tolerance: percent the order's price may differ from the product's sales price
      before the message is held; None (the default) checks nothing.
    price_decimals: `hold` (default) or `note` when a price has more decimals than Odoo keeps.
    create_addresses: create an unknown delivery address under the customer instead of holding.
    item_xref: the customer's item numbers → our `default_code` (products they order by their code).
    units: the document's unit → an Odoo unit name, over the shared code list.
    """

    confirm: bool = False
    price_tolerance: float | None = None
    price_decimals: str = "hold"
    create_addresses: bool = False
    item_xref: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PurchasingPolicy:
    """How a supplier's answers to our purchase orders are reconciled (`purchasing:` in the profile).

    Nothing is applied by itself unless the profile says so: every difference is an exception
    for a person. Late windows are seconds; None checks nothing.
    """

    later_date_days: float = 0.0
    earlier_date: bool = False
    lower_price: bool = False
    lower_quantity: bool = False
    post_bills: bool = False
    on_mismatch: str = "draft"
    price_tolerance: float = 0.0
    bill_quantity: str = "received"
    late_response: float | None = None
    late_asn: float | None = None
    late_invoice: float | None = None


CHANGE_KINDS = ("quantity_increase", "quantity_decrease", "date", "price", "add_line", "cancel_line",
                "cancel_order")
CHANGES_KEYS = {"apply", "on_confirmed", "price_tolerance"}


@dataclass(frozen=True)
class ChangePolicy:
    """How a customer's changes to its orders (860 / ORDCHG) are applied (`changes:` in the profile).

    `apply` lists the kinds of change the gateway applies by itself (CHANGE_KINDS); any other is
    an exception, answered as rejected. `on_confirmed`: apply also changes a confirmed order
    (its delivery follows), or make every change to it an exception. `price_tolerance`: percent a
    new price may differ from the order's.
    """

    apply: tuple[str, ...] = ()
    on_confirmed: str = "exception"
    price_tolerance: float | None = None


@dataclass(frozen=True)
class CatalogPolicy:
    """What a supplier's catalogs (832 / PRICAT) do to our purchase prices (`catalogs:` in the profile).

    `apply`: `prices` writes the supplier's prices, minimum quantities, validity and item codes to
    Odoo's vendor prices (product.supplierinfo); `none` only compares and reports. `price_tolerance`:
    percent a price may move by itself; a larger change waits for a person as an exception (None:
    any change is applied). Items we do not carry are listed, never created.
    """

    apply: str = "none"
    price_tolerance: float | None = None


@dataclass(frozen=True)
class AckPolicy:
    """The `acknowledgments:` section: what we send back, and what we expect of the partner."""

    send: bool = False
    kind: str | None = None  # None: contrl for EDIFACT, 997 for X12
    ta1: str = "on-request"
    expect: bool = False
    overdue_after_seconds: float = 24 * 3600.0
    channel: str | None = None
    file_name: str = "{type}_{control}.{ext}"

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


SIGNALS_KEYS = {"format", "schedule", "partners", "channel", "file_name"}
SIGNAL_FORMATS = ("csv", "parquet")
REPLENISHMENT_KEYS = {"apply", "warehouse"}
REPLENISHMENT_MODES = ("rfq", "orderpoints")


@dataclass(frozen=True)
class SignalsFeed:
    """The demand-signal feed this partner (a forecasting tool) gets (`signals:` in the profile).

    Every `schedule` the sell-through that came in since the last file (from the retailers in
    `partners`, or all) is written as one file (`format` csv or parquet) to the outbox of
    `channel` (default: the first channel with an outbox), named by `file_name` ({partner}
    {timestamp} {ext}).
    """

    format: str = "csv"
    schedule_seconds: float = 86400.0
    partners: tuple[str, ...] = ()
    channel: str | None = None
    file_name: str = "demand-signals_{timestamp}.{ext}"


@dataclass(frozen=True)
class ReplenishmentPolicy:
    """What a forecasting tool's recommendations become in Odoo (`replenishment:` in the profile).

    apply: `rfq` — draft requests for quotation, one per supplier and warehouse; `orderpoints` —
      the min/max of the product's reordering rule in the warehouse (created when it has none).
    warehouse: the Odoo warehouse (short name) of lines that name none.
    """

    apply: str = "rfq"
    warehouse: str | None = None


@dataclass(frozen=True)
class Profile:
    id: str
    file: Path
    name: str
    odoo_partner: dict[str, Any]
    identifiers: dict[str, dict[str, str]]
    channels: tuple[ChannelSettings, ...]
    receive: tuple[ReceiveRule, ...]
    acknowledgments: AckPolicy
    test: bool
    raw: dict[str, Any]
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    validation: Options = field(default_factory=Options)
    send: tuple[SendRule, ...] = ()
    purchasing: PurchasingPolicy = field(default_factory=PurchasingPolicy)
    changes: ChangePolicy = field(default_factory=ChangePolicy)
    inventory: "InventoryPolicy" = field(default_factory=lambda: InventoryPolicy())
    catalogs: CatalogPolicy = field(default_factory=CatalogPolicy)
    signals: SignalsFeed | None = None
    replenishment: ReplenishmentPolicy = field(default_factory=ReplenishmentPolicy)

    def send_rule(self, document_type: str) -> SendRule | None:
        return next((rule for rule in self.send if rule.document_type == document_type), None)

    def sender_id(self, standard: str) -> str | None:
        """The sender id this partner's envelopes must carry for a standard, if the profile says."""
        ids = self.identifiers.get(standard) or {}
        return ids.get("id")

    def rules_for(self, message_type: str | None) -> list[ReceiveRule]:
        return [rule for rule in self.receive if rule.message_type == message_type]

    def csv_rules(self) -> list[ReceiveRule]:
        return [rule for rule in self.receive if rule.template.startswith("csv/")]


def _line(mapping: Any, key: Any = None) -> int | None:
    """The line of a key in a mapping read from the profile (or of the mapping itself)."""
    if isinstance(mapping, Located):
        return mapping.key_lines.get(key, mapping.line) if key is not None else mapping.line
    return None


def _plain(value: Any) -> Any:
    """Line-tracking dicts back to plain dicts (profiles are compared and printed as data)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def load_profile(path: Path, state_dir: Path, templates_dir: Path | None = None) -> Profile:
    """Load and validate one profile; raises ProfileError listing every problem found."""
    problems: list[Problem] = []

    def problem(line: int | None, reason: str) -> None:
        problems.append(Problem(path, line, reason))

    partner_id = path.stem
    if not PARTNER_ID.match(partner_id):
        problem(None, f"file name {path.name!r} is not a valid partner id (lowercase letters, digits, - _ .)")
    try:
        data = yamlfile.load(path)
    except yamlfile.YAMLFileError as error:
        raise ProfileError([Problem(path, error.line, error.reason)]) from None
    except UnicodeDecodeError:
        raise ProfileError([Problem(path, None, "not UTF-8 text")]) from None
    if not isinstance(data, dict):
        raise ProfileError([Problem(path, None, "a profile is a YAML mapping")])

    for key in data:
        if key not in PROFILE_KEYS:
            problem(_line(data, key), f"unknown key {key!r} (known: {', '.join(sorted(PROFILE_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problem(_line(data), "'name' is required: the partner's name as people know it")

    odoo_partner = data.get("odoo_partner") or {}
    if not isinstance(odoo_partner, dict) or not ({"ref", "id"} & set(odoo_partner)):
        problem(_line(data, "odoo_partner"), "'odoo_partner' must give the Odoo partner's 'ref' or 'id'")

    identifiers = data.get("identifiers") or {}
    if not isinstance(identifiers, dict):
        problem(_line(data, "identifiers"), "'identifiers' must be a mapping per standard")
        identifiers = {}
    for standard, ids in identifiers.items():
        if standard not in STANDARDS:
            problem(_line(identifiers, standard), f"unknown standard {standard!r} in identifiers (known: {', '.join(STANDARDS)})")
        elif not isinstance(ids, dict):
            problem(_line(identifiers, standard), f"identifiers.{standard} must be a mapping (id, qualifier)")
        elif standard == "edifact" and "syntax" in ids and ids["syntax"] not in EDIFACT_CODECS:
            # The syntax identifier (UNB 0001) of the documents we write to this partner.
            problem(_line(ids, "syntax"), f"identifiers.edifact.syntax {ids['syntax']!r} is not one of "
                                          f"{', '.join(EDIFACT_CODECS)}")

    channels: list[ChannelSettings] = []
    raw_channels = data.get("channels") or {}
    if not isinstance(raw_channels, dict):
        problem(_line(data, "channels"), "'channels' must be a mapping of channel name → settings")
        raw_channels = {}
    for channel_name, settings in raw_channels.items():
        line = _line(raw_channels, channel_name)
        if not isinstance(settings, dict):
            problem(line, f"channel {channel_name!r} must be a mapping")
            continue
        kind = settings.get("type")
        if kind == "sftp":
            sftp = _sftp_channel(f"{partner_id}/{channel_name}", channel_name, settings, path.parent, problem)
            if sftp is not None:
                channels.append(sftp)
            continue
        for key in settings:
            if key not in CHANNEL_KEYS:
                problem(_line(settings, key), f"unknown key {key!r} in channel {channel_name!r}")
        if kind != "folder":
            problem(_line(settings, "type"), f"channel {channel_name!r}: type {kind!r} is not supported here (folder, sftp)")
            continue
        if not settings.get("inbox"):
            problem(line, f"channel {channel_name!r}: 'inbox' (a folder) is required")
            continue
        after = settings.get("after", "move")
        if after not in ("move", "delete"):
            problem(_line(settings, "after"), f"channel {channel_name!r}: 'after' must be move or delete, not {after!r}")
        inbox = state_dir / settings["inbox"]
        channels.append(FolderChannelSettings(
            name=f"{partner_id}/{channel_name}",
            inbox=inbox,
            outbox=state_dir / settings["outbox"] if settings.get("outbox") else None,
            processed=(state_dir / settings["processed"] if settings.get("processed") else inbox / "processed")
            if after == "move" else None,
            failed=state_dir / settings["failed"] if settings.get("failed") else inbox / "failed",
            after=after,
            settle_seconds=float(settings.get("settle_seconds", 1.0)),
            rescan_seconds=float(settings["rescan_seconds"]) if settings.get("rescan_seconds") else None,
            patterns=tuple(settings.get("patterns") or ("*",)),
        ))

    receive: list[ReceiveRule] = []
    raw_receive = data.get("receive") or {}
    if not isinstance(raw_receive, dict):
        problem(_line(data, "receive"), "'receive' must map a message type to its template")
        raw_receive = {}
    for message_type, rules in raw_receive.items():
        for rule in rules if isinstance(rules, list) else [rules]:
            line = _line(raw_receive, message_type)
            if not isinstance(rule, dict) or not rule.get("template"):
                problem(line, f"receive.{message_type}: a 'template' is required")
                continue
            for key in rule:
                if key not in RECEIVE_KEYS:
                    problem(_line(rule, key), f"unknown key {key!r} in receive.{message_type}")
            template = str(rule["template"])
            if templates_dir is not None and not TemplateDirs.of(templates_dir).file(f"{template}.yaml").is_file():
                problem(_line(rule, "template"), f"receive.{message_type}: no template {template!r} in {templates_dir}")
            receive.append(ReceiveRule(
                message_type=str(message_type),
                template=template,
                overrides=_plain(rule.get("overrides") or {}),
                versions=tuple(str(v) for v in rule.get("versions") or ()),
            ))

    acknowledgments = _ack_policy(data, problem, [c.name.split("/", 1)[1] for c in channels],
                                  {c.name.split("/", 1)[1] for c in channels if c.outbox})
    delivery = _delivery_policy(data, problem)
    purchasing = _purchasing_policy(data, problem)
    changes = _change_policy(data, problem)
    inventory = _inventory_policy(data, problem)
    catalogs = _catalog_policy(data, problem)
    signals = _signals_feed(data, problem, {c.name.split("/", 1)[1] for c in channels if c.outbox})
    replenishment = _replenishment_policy(data, problem)
    validation = _validation_options(data, problem)
    send = _send_rules(data, problem, templates_dir, identifiers if isinstance(identifiers, dict) else {},
                       any(c.outbox for c in channels))
    if problems:
        raise ProfileError(problems)
    return Profile(
        id=partner_id,
        file=path,
        name=name,
        odoo_partner=_plain(odoo_partner),
        identifiers=_plain(identifiers),
        channels=tuple(channels),
        receive=tuple(receive),
        acknowledgments=acknowledgments,
        test=bool(data.get("test", False)),
        raw=_plain(data),
        delivery=delivery,
        validation=validation,
        send=send,
        purchasing=purchasing,
        changes=changes,
        inventory=inventory,
        catalogs=catalogs,
        signals=signals,
        replenishment=replenishment,
    )


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float | None:
    """Seconds from 90, "90s", "15m", "24h" or "2d"; None when it is none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    match = DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        return None
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def _ack_policy(data: dict, problem: Any, channel_names: list[str], outboxes: set[str]) -> AckPolicy:
    """The `acknowledgments:` section, checked (see AckPolicy and the module text)."""
    raw = _section(data, "acknowledgments", ACK_KEYS, problem, "acknowledgments")
    if not raw:
        return AckPolicy()
    _flags(raw, ("send", "expect"), "acknowledgments", problem)
    kind = raw.get("kind")
    if kind is not None:
        kind = str(kind).lower()
        if kind not in ("contrl", "997", "999"):
            problem(_line(raw, "kind"), f"acknowledgments.kind must be contrl, 997 or 999, not {raw['kind']!r}")
            kind = None
    ta1 = str(raw.get("ta1", "on-request"))
    if ta1 not in ("on-request", "always", "never"):
        problem(_line(raw, "ta1"), f"acknowledgments.ta1 must be on-request, always or never, not {raw['ta1']!r}")
        ta1 = "on-request"
    overdue = parse_duration(raw.get("overdue_after", "24h"))
    if overdue is None:
        problem(_line(raw, "overdue_after"), f"acknowledgments.overdue_after must be a duration like 30m, 24h "
                                             f"or 2d, not {raw.get('overdue_after')!r}")
        overdue = 24 * 3600.0
    channel = raw.get("channel")
    if channel is not None and str(channel) not in channel_names:
        problem(_line(raw, "channel"), f"acknowledgments.channel {channel!r} is not one of this profile's channels")
    elif raw.get("send") is True and not (outboxes if channel is None else {str(channel)} & outboxes):
        problem(_line(raw, "send"), "acknowledgments.send is true but no channel has an 'outbox' to send them to")
    file_name = str(raw.get("file_name", "{type}_{control}.{ext}"))
    fields = set(re.findall(r"{(\w*)}", file_name))
    if fields - ACK_FILE_FIELDS or "{control}" not in file_name:
        problem(_line(raw, "file_name"), f"acknowledgments.file_name {file_name!r} must contain {{control}} and only "
                                         f"{', '.join('{' + f + '}' for f in sorted(ACK_FILE_FIELDS))}")
        file_name = "{type}_{control}.{ext}"
    return AckPolicy(send=raw.get("send") is True, kind=kind, ta1=ta1, expect=raw.get("expect") is True,
                     overdue_after_seconds=overdue, channel=None if channel is None else str(channel),
                     file_name=file_name)


def _send_rules(data: dict, problem: Any, templates_dir: Path | None, identifiers: dict,
                has_outbox: bool) -> tuple[SendRule, ...]:
    """The `send:` section: document type → {template, overrides, schedule, file_name, batch}, checked."""
    raw = data.get("send")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problem(_line(data, "send"), f"'send' must map a document type ({', '.join(SEND_DOCUMENTS)}) to its template")
        return ()
    if raw and not has_outbox:
        problem(_line(data, "send"), "'send' has documents but no channel has an 'outbox' to send them to")
    rules = []
    for document_type, rule in raw.items():
        line = _line(raw, document_type)
        if document_type not in SEND_DOCUMENTS:
            problem(line, f"send: unknown document type {document_type!r} (known: {', '.join(SEND_DOCUMENTS)})")
            continue
        if not isinstance(rule, dict) or not rule.get("template"):
            problem(line, f"send.{document_type}: a 'template' is required, e.g. {{template: outbound/x12/810_004010}}")
            continue
        for key in rule:
            if key not in SEND_KEYS and not (document_type == "InventoryReport" and key in INVENTORY_SEND_KEYS):
                problem(_line(rule, key), f"unknown key {key!r} in send.{document_type} "
                                          f"(known: {', '.join(sorted(SEND_KEYS))})")
        schedule = parse_duration(rule.get("schedule", SEND_SCHEDULE_SECONDS))
        if schedule is None:
            problem(_line(rule, "schedule"), f"send.{document_type}.schedule must be a duration like 90s, 5m or 1h, "
                                             f"not {rule.get('schedule')!r}")
            schedule = SEND_SCHEDULE_SECONDS
        file_name = str(rule.get("file_name", SEND_FILE_NAME))
        if set(re.findall(r"{(\w*)}", file_name)) - SEND_FILE_FIELDS or "{control}" not in file_name:
            problem(_line(rule, "file_name"), f"send.{document_type}.file_name {file_name!r} must contain {{control}} "
                    f"and only {', '.join('{' + f + '}' for f in sorted(SEND_FILE_FIELDS))}")
            file_name = SEND_FILE_NAME
        batch = rule.get("batch", False)
        if not isinstance(batch, bool):
            problem(_line(rule, "batch"), f"send.{document_type}.batch must be true or false, not {batch!r}")
            batch = False
        template, overrides = str(rule["template"]), _plain(rule.get("overrides") or {})
        if templates_dir is not None:
            _check_send_template(templates_dir, template, overrides, document_type, identifiers,
                                 lambda reason, key="template": problem(_line(rule, key), reason))
        inventory = _inventory_send(rule, problem) if document_type == "InventoryReport" else None
        rules.append(SendRule(document_type=str(document_type), template=template, overrides=overrides,
                              schedule_seconds=schedule, file_name=file_name, batch=batch, inventory=inventory,
                              **_catalog_send_options(rule, str(document_type), problem)))
    return tuple(rules)


def _check_send_template(templates_dir: Path, template: str, overrides: dict, document_type: str,
                         identifiers: dict, problem: Any) -> None:
    from gateway.mapping import TemplateError
    from gateway.mapping.outbound import load_outbound_template

    if not TemplateDirs.of(templates_dir).file(f"{template}.yaml").is_file():
        problem(f"send.{document_type}: no template {template!r} in {templates_dir}")
        return
    try:
        loaded = load_outbound_template(templates_dir, template, overrides, source=f"send.{document_type}.overrides")
    except (TemplateError, ValueError) as error:
        problem(f"send.{document_type}: {error}", "overrides" if overrides else "template")
        return
    if loaded.document_type != ("OrderResponse" if document_type == "OrderChangeResponse" else document_type):
        problem(f"send.{document_type}: template {template!r} writes {loaded.document_type} documents, "
                f"not {document_type}")
    elif not (identifiers.get(loaded.standard) or {}).get("id"):
        problem(f"send.{document_type}: template {template!r} is {loaded.standard.upper()}, but "
                f"identifiers.{loaded.standard}.id is not set (the receiver in the envelope)")


def _validation_options(data: dict, problem: Any) -> Options:
    """The `validation:` section: `strict` (default true: code-list and length findings reject the
    message; false: they are warnings), `check_digits` (GS1 check digits of GTINs and GLNs) and
    `segment_order` (strict, or lenient: a segment out of order where its place is unambiguous is
    a warning)."""
    raw = data.get("validation")
    if raw is None:
        return Options()
    if not isinstance(raw, dict):
        problem(_line(data, "validation"), "'validation' must be a mapping (strict, check_digits)")
        return Options()
    for key, value in raw.items():
        if key not in VALIDATION_KEYS:
            problem(_line(raw, key), f"unknown key {key!r} in validation (known: {', '.join(sorted(VALIDATION_KEYS))})")
        elif key == "segment_order":
            if value not in ("strict", "lenient"):
                problem(_line(raw, key), f"validation.segment_order must be strict or lenient, not {value!r}")
        elif not isinstance(value, bool):
            problem(_line(raw, key), f"validation.{key} must be true or false, not {value!r}")
    return Options(strict=raw.get("strict", True) is not False, check_digits=raw.get("check_digits") is True,
                   segment_order="lenient" if raw.get("segment_order") == "lenient" else "strict")


def _delivery_policy(data: dict, problem: Any) -> DeliveryPolicy:
    """The `delivery:` section, checked; problems are reported through `problem(line, reason)`."""
    raw = _section(data, "delivery", DELIVERY_KEYS, problem, "delivery")
    if not raw:
        return DeliveryPolicy()
    _flags(raw, ("confirm", "create_addresses"), "delivery", problem)
    tolerance = raw.get("price_tolerance")
    if isinstance(tolerance, str) and tolerance.strip().endswith("%"):
        tolerance = tolerance.strip()[:-1]
    try:
        tolerance = None if tolerance is None else float(tolerance)
        if tolerance is not None and tolerance < 0:
            raise ValueError
    except (TypeError, ValueError):
        problem(_line(raw, "price_tolerance"),
                f"delivery.price_tolerance must be a percentage such as 5 or '2.5%', not {raw['price_tolerance']!r}")
        tolerance = None
    decimals = raw.get("price_decimals", "hold")
    if decimals not in ("hold", "note"):
        problem(_line(raw, "price_decimals"), f"delivery.price_decimals must be hold or note, not {decimals!r}")
    tables = {}
    for key in ("item_xref", "units"):
        table = raw.get(key) or {}
        if not isinstance(table, dict) or not all(
                isinstance(k, (str, int)) and isinstance(v, (str, int)) for k, v in table.items()):
            problem(_line(raw, key), f"delivery.{key} must map codes to codes, e.g. {{\"8812\": AX-220}}")
            table = {}
        tables[key] = {str(k): str(v) for k, v in table.items()}
    return DeliveryPolicy(confirm=raw.get("confirm") is True, price_tolerance=tolerance,
                          price_decimals=decimals if decimals in ("hold", "note") else "hold",
                          create_addresses=raw.get("create_addresses") is True, **tables)


def _section(data: dict, key: str, known: set[str], problem: Any, where: str) -> dict:
    """A mapping inside the profile, its unknown keys reported; {} when absent or not a mapping."""
    raw = data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problem(_line(data, key), f"'{where}' must be a mapping ({', '.join(sorted(known))})")
        return {}
    for name in raw:
        if name not in known:
            problem(_line(raw, name), f"unknown key {name!r} in {where} (known: {', '.join(sorted(known))})")
    return raw


def _flags(section: dict, keys: tuple[str, ...], where: str, problem: Any) -> dict[str, bool]:
    """The section's true/false settings (absent: false), each other value reported."""
    for key in keys:
        if key in section and not isinstance(section[key], bool):
            problem(_line(section, key), f"{where}.{key} must be true or false, not {section[key]!r}")
    return {key: section.get(key) is True for key in keys}


def _purchasing_policy(data: dict, problem: Any) -> PurchasingPolicy:
    """The `purchasing:` section, checked; problems are reported through `problem(line, reason)`."""
    raw = _section(data, "purchasing", PURCHASING_KEYS, problem, "purchasing")
    apply = _section(raw, "apply", APPLY_KEYS, problem, "purchasing.apply")
    bills = _section(raw, "bills", BILL_KEYS, problem, "purchasing.bills")
    late = _section(raw, "late", LATE_KEYS, problem, "purchasing.late")

    def number(section: dict, key: str, where: str) -> float:
        value = section.get(key, 0)
        if isinstance(value, str) and value.strip().endswith("%"):
            value = value.strip()[:-1]
        try:
            number = float(value)
            if number < 0 or isinstance(value, bool):
                raise ValueError
        except (TypeError, ValueError):
            problem(_line(section, key), f"{where}.{key} must be a number of 0 or more, not {section[key]!r}")
            return 0.0
        return number

    def choice(section: dict, key: str, where: str, choices: tuple[str, ...]) -> str:
        value = section.get(key, choices[0])
        if value not in choices:
            problem(_line(section, key), f"{where}.{key} must be {' or '.join(choices)}, not {value!r}")
            return choices[0]
        return value

    windows = {}
    for key in LATE_KEYS:
        windows[key] = parse_duration(late[key]) if key in late else None
        if key in late and windows[key] is None:
            problem(_line(late, key), f"purchasing.late.{key} must be a duration such as 36h or 2d, not {late[key]!r}")
    return PurchasingPolicy(
        later_date_days=number(apply, "later_date_days", "purchasing.apply"),
        **_flags(apply, ("earlier_date", "lower_price", "lower_quantity"), "purchasing.apply", problem),
        post_bills=_flags(bills, ("post",), "purchasing.bills", problem)["post"],
        on_mismatch=choice(bills, "on_mismatch", "purchasing.bills", ("draft", "hold")),
        price_tolerance=number(bills, "price_tolerance", "purchasing.bills"),
        bill_quantity=choice(bills, "quantity", "purchasing.bills", ("received", "shipped")),
        late_response=windows["response"], late_asn=windows["asn"], late_invoice=windows["invoice"])


def _change_policy(data: dict, problem: Any) -> ChangePolicy:
    """The `changes:` section, checked; problems are reported through `problem(line, reason)`."""
    raw = _section(data, "changes", CHANGES_KEYS, problem, "changes")
    apply = raw.get("apply", [])
    if not isinstance(apply, list) or any(kind not in CHANGE_KINDS for kind in apply):
        problem(_line(raw, "apply"), f"changes.apply must be a list of {', '.join(CHANGE_KINDS)}, not {apply!r}")
        apply = [kind for kind in apply if kind in CHANGE_KINDS] if isinstance(apply, list) else []
    on_confirmed = raw.get("on_confirmed", "exception")
    if on_confirmed not in ("apply", "exception"):
        problem(_line(raw, "on_confirmed"), f"changes.on_confirmed must be apply or exception, not {on_confirmed!r}")
        on_confirmed = "exception"
    return ChangePolicy(apply=tuple(apply), on_confirmed=on_confirmed,
                        price_tolerance=_percent(raw, "price_tolerance", "changes", problem))


def _percent(raw: dict, key: str, where: str, problem: Any) -> float | None:
    """An optional percent of 0 or more (a tolerance); None when absent or wrong (reported)."""
    value = raw.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        problem(_line(raw, key), f"{where}.{key} must be a percent of 0 or more, not {value!r}")
        return None
    return float(value) if value is not None else None


def _catalog_send_options(rule: dict, document_type: str, problem: Any) -> dict[str, Any]:
    """send.Catalog's own keys (mode, products, pricelist), checked; other documents may not have them."""
    options: dict[str, Any] = {}
    for key, choices in (("mode", CATALOG_MODES), ("products", CATALOG_PRODUCTS)):
        if key not in rule or document_type == "InventoryReport":  # a stock report's own (_inventory_send)
            continue
        if document_type != "Catalog":
            problem(_line(rule, key), f"send.{document_type}.{key}: only a Catalog has it")
        elif rule[key] not in choices:
            problem(_line(rule, key), f"send.Catalog.{key} must be {' or '.join(choices)}, not {rule[key]!r}")
        else:
            options[key] = rule[key]
    if "pricelist" in rule:
        value = rule["pricelist"]
        if document_type != "Catalog" or isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
            problem(_line(rule, "pricelist"), f"send.{document_type}.pricelist must be a Catalog's Odoo pricelist "
                                              f"(its id or name), not {value!r}")
        else:
            options["pricelist"] = value
    return options


def _catalog_policy(data: dict, problem: Any) -> CatalogPolicy:
    """The `catalogs:` section (a supplier's catalogs), checked."""
    raw = _section(data, "catalogs", CATALOGS_KEYS, problem, "catalogs")
    apply = raw.get("apply", "none")
    if apply not in ("prices", "none"):
        problem(_line(raw, "apply"), f"catalogs.apply must be prices or none, not {apply!r}")
        apply = "none"
    return CatalogPolicy(apply=apply, price_tolerance=_percent(raw, "price_tolerance", "catalogs", problem))


def _signals_feed(data: dict, problem: Any, outboxes: set[str]) -> SignalsFeed | None:
    """The `signals:` section, checked; None when the profile has none."""
    if "signals" not in data:
        return None
    raw = _section(data, "signals", SIGNALS_KEYS, problem, "signals")
    fmt = raw.get("format", "csv")
    if fmt not in SIGNAL_FORMATS:
        problem(_line(raw, "format"), f"signals.format must be csv or parquet, not {fmt!r}")
        fmt = "csv"
    schedule = parse_duration(raw.get("schedule", "1d"))
    if schedule is None or schedule <= 0:
        problem(_line(raw, "schedule"), f"signals.schedule must be a duration (s, m, h, d), not {raw.get('schedule')!r}")
        schedule = 86400.0
    partners = raw.get("partners", [])
    if not isinstance(partners, list) or not all(isinstance(p, str) for p in partners):
        problem(_line(raw, "partners"), f"signals.partners must be a list of partner ids, not {partners!r}")
        partners = []
    channel = raw.get("channel")
    if channel is not None and channel not in outboxes:
        problem(_line(raw, "channel"), f"signals.channel {channel!r} is not a channel of this profile with an outbox")
    elif not outboxes:
        problem(_line(data, "signals"), "signals: the profile has no channel with an outbox to deliver the feed to")
    return SignalsFeed(format=fmt, schedule_seconds=schedule, partners=tuple(partners),
                       channel=channel if channel in outboxes else None,
                       file_name=str(raw.get("file_name", SignalsFeed.file_name)))


def _replenishment_policy(data: dict, problem: Any) -> ReplenishmentPolicy:
    """The `replenishment:` section, checked; problems are reported through `problem(line, reason)`."""
    raw = _section(data, "replenishment", REPLENISHMENT_KEYS, problem, "replenishment")
    apply = raw.get("apply", "rfq")
    if apply not in REPLENISHMENT_MODES:
        problem(_line(raw, "apply"), f"replenishment.apply must be rfq or orderpoints, not {apply!r}")
        apply = "rfq"
    warehouse = raw.get("warehouse")
    return ReplenishmentPolicy(apply=apply, warehouse=str(warehouse) if warehouse is not None else None)


def _sftp_channel(name: str, channel_name: str, settings: dict, base: Path, problem) -> SftpChannelSettings | None:
    """The settings of an SFTP channel, or None after reporting every problem found in them.

    Paths on this machine (key_file, known_hosts, *_file) are taken from the profile's folder
    when relative, after `$VARIABLES` and `~` are expanded (`$CREDENTIALS_DIRECTORY/acme-key`).
    Remote paths are the server's own, used as written.
    """
    count = 0

    def bad(key: str | None, reason: str) -> None:
        nonlocal count
        count += 1
        problem(_line(settings, key) if key else _line(settings), f"channel {channel_name!r}: {reason}")

    for key in settings:
        if key in INLINE_SECRETS:
            bad(key, f"{key!r} must not be written in the profile; use {INLINE_SECRETS[key]}")
        elif key not in SFTP_CHANNEL_KEYS:
            bad(key, f"unknown key {key!r} (sftp channels know: {', '.join(sorted(SFTP_CHANNEL_KEYS))})")

    def text(key: str, required: bool = False) -> str | None:
        value = settings.get(key)
        if value is None or value == "":
            if required:
                bad(None, f"{key!r} is required")
            return None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            bad(key, f"{key!r} must be text")
            return None
        return str(value)

    def number(key: str, default: float, minimum: float = 0.0) -> float:
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            bad(key, f"{key!r} must be a number of at least {minimum:g}, not {value!r}")
            return default
        return float(value)

    def local_path(key: str) -> Path | None:
        value = text(key)
        if value is None:
            return None
        path = Path(os.path.expandvars(value)).expanduser()
        return path if path.is_absolute() else base / path

    def secret(prefix: str) -> SecretRef | None:
        file, env = local_path(f"{prefix}_file"), text(f"{prefix}_env")
        if file is not None and env is not None:
            bad(f"{prefix}_env", f"give one of {prefix}_file and {prefix}_env, not both")
            return None
        return SecretRef(file=file) if file is not None else SecretRef(env=env) if env is not None else None

    host, user, inbox = text("host", True), text("user", True), text("inbox", True)
    port = settings.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        bad("port", f"'port' must be a TCP port number, not {port!r}")
        port = 22
    known_hosts, host_key = local_path("known_hosts"), text("host_key")
    if known_hosts is None and host_key is None:
        bad(None, "pin the server's host key: 'known_hosts' (a file) or 'host_key' (its SHA256:… fingerprint, "
                  "as `ssh-keygen -lf` prints it); unknown host keys are never accepted")
    if host_key is not None and not re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}=?", host_key):
        bad("host_key", "'host_key' must be a SHA256 fingerprint like SHA256:3a0Q… (43 base64 characters)")
    key_file, password = local_path("key_file"), secret("password")
    if key_file is None and password is None:
        bad(None, "say how to log in: 'key_file' (preferred) or 'password_file' / 'password_env'")
    after = settings.get("after", "delete")
    if after not in ("move", "delete"):
        bad("after", f"'after' must be move or delete, not {after!r}")
    processed = text("processed")
    if after == "move" and processed is None and inbox is not None:
        processed = inbox.rstrip("/") + "/processed"
    upload = settings.get("upload", "rename")
    if upload not in ("rename", "direct"):
        bad("upload", f"'upload' must be rename (temporary name, then rename) or direct, not {upload!r}")
    patterns = settings.get("patterns") or ["*"]
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        bad("patterns", "'patterns' must be a list of file name patterns like '*.edi'")
        patterns = ["*"]
    schedule, schedule_seconds, cron = settings.get("schedule", 60), None, None
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool) and schedule > 0:
        schedule_seconds = float(schedule)
    elif isinstance(schedule, str):
        try:
            CronTrigger.from_crontab(schedule)
            cron = schedule
        except ValueError as error:
            bad("schedule", f"'schedule' {schedule!r} is not a cron expression (minute hour day month weekday): {error}")
    else:
        bad("schedule", f"'schedule' must be seconds between polls or a cron expression, not {schedule!r}")
    temp_prefix = text("temp_prefix")
    if temp_prefix is not None and ("/" in temp_prefix or not temp_prefix.strip()):
        bad("temp_prefix", "'temp_prefix' must be a plain name prefix like '.' or 'tmp_'")
    passphrase = secret("key_passphrase")
    settle, timeout = number("settle_seconds", 2.0), number("timeout", 30.0, 0.1)
    keepalive, connections = number("keepalive_seconds", 15.0), number("max_connections", 2, 1)
    if count or host is None or user is None or inbox is None:
        return None
    return SftpChannelSettings(
        name=name, host=host, port=port, user=user, inbox=inbox, outbox=text("outbox"), processed=processed,
        failed=text("failed"), after=after, patterns=tuple(patterns), known_hosts=known_hosts,
        host_key=host_key, key_file=key_file, key_passphrase=passphrase, password=password,
        settle_seconds=settle, schedule_seconds=schedule_seconds, cron=cron, timeout=timeout,
        keepalive_seconds=keepalive, max_connections=int(connections), upload=upload, temp_prefix=temp_prefix)


def profile_files(partners_dir: Path) -> list[Path]:
    return sorted(p for p in partners_dir.glob("*.yaml") if not p.name.startswith("."))


def load_profiles(partners_dir: Path, state_dir: Path, templates_dir: Path | None = None) -> dict[str, Profile]:
    """Every profile in the folder; raises ProfileError with the problems of all of them."""
    profiles: dict[str, Profile] = {}
    problems: list[Problem] = []
    for path in profile_files(partners_dir):
        try:
            profile = load_profile(path, state_dir, templates_dir)
        except ProfileError as error:
            problems.extend(error.problems)
            continue
        profiles[profile.id] = profile
    if problems:
        raise ProfileError(problems)
    return profiles


# --- stock reports (846 / INVRPT) --------------------------------------------------------------

INVENTORY_QUANTITIES = ("free", "on_hand", "forecast")
INVENTORY_PRODUCTS = ("ordered", "pricelist", "all")
INVENTORY_MODES = ("full", "changes")
INVENTORY_KEYS = {"warehouse", "apply", "tolerance"}


@dataclass(frozen=True)
class InventorySend:
    """What our stock report to a customer holds (`send.InventoryReport`).

    `warehouses`: the Odoo warehouses (codes) whose stock is added up (absent: every warehouse);
    `quantity`: free (on hand less reserved), on_hand, or forecast (Odoo's forecasted quantity);
    `products`: ordered (what the customer ever ordered), pricelist (on its pricelist), all
    (every storable product); `mode`: full (every product each time) or changes (only the
    products whose quantity moved since the last report sent).
    """

    warehouses: tuple[str, ...] = ()
    quantity: str = "free"
    products: str = "ordered"
    mode: str = "full"


@dataclass(frozen=True)
class InventoryPolicy:
    """What a partner's stock reports to us mean (`inventory:` in the profile).

    With `warehouse` the partner is a 3PL keeping that Odoo warehouse: its counts are compared with
    Odoo's quants there, every difference an exception; `apply: adjust` makes Odoo's count follow
    the 3PL's (an inventory adjustment) when the difference is within `tolerance` units (or
    `tolerance_percent` of Odoo's quantity). Without it the partner is a supplier, and its report
    is kept as its availability, nothing written to Odoo.
    """

    warehouse: str | None = None
    apply: str = "none"
    tolerance: float | None = None
    tolerance_percent: float | None = None


def _choice(rule: dict, key: str, choices: tuple[str, ...], default: str, where: str, problem: Any) -> str:
    value = rule.get(key, default)
    if value not in choices:
        problem(_line(rule, key), f"{where}.{key} must be one of {', '.join(choices)}, not {value!r}")
        return default
    return str(value)


def _inventory_send(rule: dict, problem: Any) -> InventorySend:
    """The stock report keys of `send.InventoryReport`, checked."""
    warehouses = rule.get("warehouses", [])
    if isinstance(warehouses, str):
        warehouses = [warehouses]
    if not isinstance(warehouses, list) or not all(isinstance(w, (str, int)) for w in warehouses):
        problem(_line(rule, "warehouses"), f"send.InventoryReport.warehouses must be a list of Odoo warehouse "
                                           f"codes, e.g. [WH], not {warehouses!r}")
        warehouses = []
    where = "send.InventoryReport"
    return InventorySend(warehouses=tuple(str(w) for w in warehouses),
                         quantity=_choice(rule, "quantity", INVENTORY_QUANTITIES, "free", where, problem),
                         products=_choice(rule, "products", INVENTORY_PRODUCTS, "ordered", where, problem),
                         mode=_choice(rule, "mode", INVENTORY_MODES, "full", where, problem))


def _inventory_policy(data: dict, problem: Any) -> InventoryPolicy:
    """The `inventory:` section, checked; problems are reported through `problem(line, reason)`."""
    raw = _section(data, "inventory", INVENTORY_KEYS, problem, "inventory")
    warehouse = raw.get("warehouse")
    if warehouse is not None and not isinstance(warehouse, (str, int)):
        problem(_line(raw, "warehouse"), f"inventory.warehouse must be an Odoo warehouse code, not {warehouse!r}")
        warehouse = None
    apply = _choice(raw, "apply", ("none", "adjust"), "none", "inventory", problem)
    if apply == "adjust" and warehouse is None:
        problem(_line(raw, "apply"), "inventory.apply: adjust needs inventory.warehouse (the 3PL's Odoo "
                                     "warehouse); a supplier's stock is never written to Odoo")
        apply = "none"
    tolerance = raw.get("tolerance")
    units = percent = None
    if tolerance is not None:
        text = str(tolerance).strip()
        try:
            value = float(text[:-1] if text.endswith("%") else text)
        except ValueError:
            value = -1.0
        if isinstance(tolerance, bool) or value < 0:
            problem(_line(raw, "tolerance"), f"inventory.tolerance must be units (2) or a percent (\"5%\") of 0 or "
                                             f"more, not {tolerance!r}")
        elif text.endswith("%"):
            percent = value
        else:
            units = value
    return InventoryPolicy(warehouse=str(warehouse) if warehouse is not None else None, apply=apply,
                           tolerance=units, tolerance_percent=percent)
