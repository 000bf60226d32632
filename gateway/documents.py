"""The canonical business documents: what a message means, independent of Odoo and of syntax.

Templates produce them, `gateway.odoo` writes and reads them, and support reads them in
`messages show --json` and `inspect --json`. Quantities, prices and amounts are decimal
strings with a point as the decimal mark; dates are ISO 8601; a value the message does not
carry is None and is left out of `as_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def as_dict(document: Any) -> dict[str, Any]:
    """A document as plain JSON-ready data, without the keys the message did not carry."""
    result: dict[str, Any] = {}
    values = document.__dict__  # a frozen dataclass's fields, set in their order by __init__
    for name in _field_names(type(document)):
        value = values[name]
        if value is None or value == "":
            continue
        if type(value) is list:
            if not value:
                continue
            value = [as_dict(entry) if hasattr(entry, "__dataclass_fields__") else entry for entry in value]
        elif hasattr(value, "__dataclass_fields__"):
            value = as_dict(value)
        result[name] = value
    return result


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, read once per class (`as_dict` runs for every message)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(item.name for item in fields(cls))
    return names


@dataclass(frozen=True)
class Party:
    gln: str | None = None
    id: str | None = None
    name: str | None = None
    street: str | None = None
    city: str | None = None
    zip: str | None = None
    country: str | None = None
    vat: str | None = None


@dataclass(frozen=True)
class Item:
    """What every document line starts with: its number and the ways partners name the product."""

    line_number: str | None = None
    gtin: str | None = None
    upc: str | None = None
    buyer_item: str | None = None
    supplier_item: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class OrderLine(Item):
    quantity: str | None = None
    uom: str | None = None
    unit_price: str | None = None


@dataclass(frozen=True)
class Order:
    document_number: str | None = None
    document_date: str | None = None
    requested_delivery_date: str | None = None
    currency: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    ship_to: Party | None = None
    invoice_to: Party | None = None
    lines: list[OrderLine] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseLine(Item):
    """One line of an order response: what we confirm of the ordered line."""

    status: str | None = None  # accepted | changed | rejected | substituted
    quantity: str | None = None  # as ordered
    confirmed_quantity: str | None = None
    uom: str | None = None
    unit_price: str | None = None  # the price confirmed
    delivery_date: str | None = None  # the date confirmed for this line
    reason: str | None = None  # why the line changed, as the message says it (code or text)
    # The product offered instead of the ordered one (status substituted).
    substitute_gtin: str | None = None
    substitute_supplier_item: str | None = None
    substitute_description: str | None = None
    change_code: str | None = None  # answering a customer's change: its code as the change said it (POC02)


@dataclass(frozen=True)
class OrderResponse:
    """Our answer to a customer's order (ORDRSP / 855), or a supplier's answer to ours."""

    document_number: str | None = None  # the response's own number
    document_date: str | None = None
    order_number: str | None = None  # the order it answers (the customer's number)
    order_date: str | None = None
    status: str | None = None  # accepted | changed | rejected, for the whole order
    currency: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    ship_to: Party | None = None
    lines: list[ResponseLine] = field(default_factory=list)


@dataclass(frozen=True)
class DespatchLine(Item):
    order_line_number: str | None = None
    quantity: str | None = None  # shipped
    ordered_quantity: str | None = None
    uom: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry_date: str | None = None


@dataclass(frozen=True)
class Package:
    sscc: str | None = None
    package_type: str | None = None
    lines: list[DespatchLine] = field(default_factory=list)


@dataclass(frozen=True)
class DespatchAdvice:
    """A shipment (DESADV / 856): what left, in which packages, for which order."""

    document_number: str | None = None  # the shipment's number
    document_date: str | None = None
    despatch_date: str | None = None
    delivery_date: str | None = None  # expected arrival
    order_number: str | None = None
    order_date: str | None = None
    carrier: str | None = None
    tracking_reference: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    ship_to: Party | None = None
    ship_from: Party | None = None
    packages: list[Package] = field(default_factory=list)
    lines: list[DespatchLine] = field(default_factory=list)  # lines not in any package


@dataclass(frozen=True)
class InvoiceLine(Item):
    quantity: str | None = None
    uom: str | None = None
    unit_price: str | None = None
    net_amount: str | None = None
    tax_rate: str | None = None  # percent
    tax_amount: str | None = None
    order_line_number: str | None = None


@dataclass(frozen=True)
class TaxLine:
    rate: str | None = None  # percent
    taxable_amount: str | None = None
    tax_amount: str | None = None
    category: str | None = None  # e.g. EDIFACT 5305 S (standard), Z, E


@dataclass(frozen=True)
class Invoice:
    """An invoice or credit note (INVOIC / 810), ours to a customer or a supplier's to us."""

    document_number: str | None = None
    document_type: str | None = None  # invoice | credit_note
    document_date: str | None = None
    due_date: str | None = None
    payment_terms: str | None = None
    currency: str | None = None
    order_number: str | None = None
    despatch_number: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None  # the seller
    ship_to: Party | None = None
    invoice_to: Party | None = None
    lines: list[InvoiceLine] = field(default_factory=list)
    taxes: list[TaxLine] = field(default_factory=list)
    total_net: str | None = None
    total_tax: str | None = None
    total_amount: str | None = None


@dataclass(frozen=True)
class ChangeLine(Item):
    """One line of a customer's order change: what to do to the ordered line, and its new values."""

    # add | cancel | quantity_increase | quantity_decrease | price | date | change | replace |
    # no_change: POC02 / LIN 1229 through codelists/change_type_*; "change" says only that some
    # value differs, the values say which.
    change: str | None = None
    change_code: str | None = None  # the code as the message says it (POC02 QI, LIN 1229 3)
    quantity: str | None = None  # the new quantity ordered
    quantity_left: str | None = None  # what is left to ship, as the customer counts it (POC04)
    uom: str | None = None
    unit_price: str | None = None  # the new price
    delivery_date: str | None = None  # the new requested date of this line


@dataclass(frozen=True)
class OrderChange:
    """A customer's change to an order it sent (ORDCHG / 860): change, cancel or replace it."""

    document_number: str | None = None  # the change's own number or sequence
    document_date: str | None = None
    order_number: str | None = None  # the order it changes (the customer's number)
    order_date: str | None = None
    purpose: str | None = None  # change | cancel | replace (BCH01 / BGM 1225)
    requested_delivery_date: str | None = None  # a new date for the whole order
    currency: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    ship_to: Party | None = None
    lines: list[ChangeLine] = field(default_factory=list)


@dataclass(frozen=True)
class InventoryLine(Item):
    """One product of an inventory report: how many of it there are, of which kind, where."""

    quantity: str | None = None
    quantity_type: str | None = None  # on_hand | free | forecast (X12 QTY01 / EDIFACT 6063 through a code list)
    quantity_code: str | None = None  # the qualifier as the message says it (QTY01 17, QTY+145)
    uom: str | None = None
    on_order: str | None = None  # what the sender has on order or in transit for it, when it says so
    available_date: str | None = None  # when what is on order becomes available
    unit_price: str | None = None


@dataclass(frozen=True)
class InventoryReport:
    """Stock per product (INVRPT / 846): ours to a customer, or a 3PL's or a supplier's to us."""

    document_number: str | None = None
    document_date: str | None = None
    report_date: str | None = None  # when the quantities were counted (the report's "as of")
    warehouse: str | None = None  # our warehouse the quantities are of (its code), outbound
    location: str | None = None  # the sender's own name for the place (N1 WH / LOC+18), inbound
    mode: str | None = None  # full | changes: every product, or only what moved since the last report
    currency: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    ship_from: Party | None = None  # the warehouse whose stock it is
    lines: list[InventoryLine] = field(default_factory=list)


@dataclass(frozen=True)
class CatalogLine(Item):
    """One item of a price/sales catalog: how it is named, sold and priced, and from when to when."""

    action: str | None = None  # add | change | delete | no_change (LIN 1229 / catalog_action_*); absent: as listed
    uom: str | None = None  # the unit the price is for
    unit_price: str | None = None  # the net price (the buyer pays); for a supplier's catalog, our purchase price
    retail_price: str | None = None  # a suggested or retail price the catalog also gives
    minimum_quantity: str | None = None  # the price holds from this quantity on
    pack_quantity: str | None = None  # units in the unit the item is sold in (a case of 12)
    currency: str | None = None  # when the line's differs from the catalog's
    valid_from: str | None = None
    valid_to: str | None = None


@dataclass(frozen=True)
class Catalog:
    """A price/sales catalog (PRICAT / 832): ours to a customer from its pricelist, or a supplier's to us."""

    document_number: str | None = None  # the catalog's number (BGM 1004 / BCT02)
    document_date: str | None = None
    purpose: str | None = None  # full (the whole catalog, replaces the last) | changes (only what changed)
    currency: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    note: str | None = None
    buyer: Party | None = None
    supplier: Party | None = None
    lines: list[CatalogLine] = field(default_factory=list)


@dataclass(frozen=True)
class LocationQuantity:
    """One location's figure for one activity of a sales line, where the report lists its locations
    inside the line (X12 852: SDQ location/quantity pairs under a ZA) rather than a line per location."""

    activity: str | None = None  # which figure: sold | returned | on_hand | on_order (the line's quantity_*)
    location: Party | None = None  # gln when the report qualifies it so, else the retailer's own id
    quantity: str | None = None


@dataclass(frozen=True)
class SalesLine(Item):
    """One product at one location in a retailer's sales report: what sold, what is left."""

    location: Party | None = None  # the store or warehouse the figures are for (LOC 162, N1*RL)
    period_start: str | None = None  # the period the figures cover, when the line says its own
    period_end: str | None = None
    quantity_sold: str | None = None  # net of returns: a negative value is more returned than sold
    quantity_returned: str | None = None
    quantity_on_hand: str | None = None
    quantity_on_order: str | None = None
    uom: str | None = None
    unit_price: str | None = None  # the retail price the units sold at
    sales_amount: str | None = None
    # The same figures location by location, when the report spreads the line over its locations (852 SDQ).
    location_quantities: list[LocationQuantity] = field(default_factory=list)


@dataclass(frozen=True)
class SalesReport:
    """A retailer's sell-through (SLSRPT / 852): per location and period, units sold and stock."""

    document_number: str | None = None
    document_date: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    currency: str | None = None
    note: str | None = None
    buyer: Party | None = None  # the retailer
    supplier: Party | None = None  # us, as the retailer names us
    lines: list[SalesLine] = field(default_factory=list)


@dataclass(frozen=True)
class Recommendation:
    """One line of a forecasting tool's replenishment file: buy or keep this much of a product."""

    line_number: str | None = None  # the file's line, so every draft in Odoo names where it came from
    product: str | None = None  # our internal reference (default_code)
    gtin: str | None = None
    description: str | None = None
    warehouse: str | None = None  # the Odoo warehouse's short name (code)
    quantity: str | None = None
    uom: str | None = None
    date: str | None = None  # when the goods are needed
    supplier: str | None = None  # the supplier's reference in Odoo, when the tool chose one
    minimum: str | None = None  # for reordering rules: the min and max to set
    maximum: str | None = None


@dataclass(frozen=True)
class Replenishment:
    """A forecasting tool's recommendations (a CSV): draft RFQs or reordering rules, per profile."""

    document_number: str | None = None  # the run or file the tool names, else the file's own
    document_date: str | None = None
    note: str | None = None
    lines: list[Recommendation] = field(default_factory=list)


# Document type name (as templates and the store call it) → (class, nested classes by field).
DOCUMENT_TYPES: dict[str, type] = {"Order": Order, "OrderResponse": OrderResponse,
                                    "DespatchAdvice": DespatchAdvice, "Invoice": Invoice,
                                    "OrderChange": OrderChange, "InventoryReport": InventoryReport,
                                    "Catalog": Catalog, "SalesReport": SalesReport,
                                    "Replenishment": Replenishment}
NESTED_TYPES: dict[tuple[str, str], type] = {
    ("Order", "buyer"): Party,
    ("Order", "supplier"): Party,
    ("Order", "ship_to"): Party,
    ("Order", "invoice_to"): Party,
    ("Order", "lines"): OrderLine,
    **{(name, item.name): Party for name, cls in (("OrderResponse", OrderResponse),
                                                 ("DespatchAdvice", DespatchAdvice), ("Invoice", Invoice),
                                                 ("OrderChange", OrderChange), ("InventoryReport", InventoryReport),
                                                 ("Catalog", Catalog))
       for item in fields(cls) if item.type == "Party | None"},
    ("OrderResponse", "lines"): ResponseLine,
    ("DespatchAdvice", "packages"): Package,
    ("DespatchAdvice", "lines"): DespatchLine,
    ("Package", "lines"): DespatchLine,
    ("Invoice", "lines"): InvoiceLine,
    ("Invoice", "taxes"): TaxLine,
    ("OrderChange", "lines"): ChangeLine,
    ("InventoryReport", "lines"): InventoryLine,
    ("Catalog", "lines"): CatalogLine,
    ("SalesReport", "buyer"): Party,
    ("SalesReport", "supplier"): Party,
    ("SalesReport", "lines"): SalesLine,
    ("SalesLine", "location"): Party,
    ("SalesLine", "location_quantities"): LocationQuantity,
    ("LocationQuantity", "location"): Party,
    ("Replenishment", "lines"): Recommendation,
}
