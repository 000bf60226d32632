"""The canonical business documents: what a message means, independent of Odoo and of syntax.

Templates produce them, `gateway.odoo` writes and reads them, and support reads them in
`messages show --json` and `inspect --json`. Quantities, prices and amounts are decimal
strings with a point as the decimal mark; dates are ISO 8601; a value the message does not
carry is None and is left out of `as_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


def as_dict(document: Any) -> dict[str, Any]:
    """A document as plain JSON-ready data, without the keys the message did not carry."""
    result: dict[str, Any] = {}
    for item in fields(document):
        value = getattr(document, item.name)
        if value is None or value == [] or value == "":
            continue
        if is_dataclass(value):
            value = as_dict(value)
        elif isinstance(value, list):
            value = [as_dict(entry) if is_dataclass(entry) else entry for entry in value]
        result[item.name] = value
    return result


@dataclass(frozen=True)
class Party:
    gln: str | None = None
    id: str | None = None
    name: str | None = None
    street: str | None = None
    city: str | None = None
    zip: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class OrderLine:
    line_number: str | None = None
    gtin: str | None = None
    upc: str | None = None
    buyer_item: str | None = None
    supplier_item: str | None = None
    description: str | None = None
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


# Document type name (as templates and the store call it) → (class, nested classes by field).
DOCUMENT_TYPES: dict[str, type] = {"Order": Order}
NESTED_TYPES: dict[tuple[str, str], type] = {
    ("Order", "buyer"): Party,
    ("Order", "supplier"): Party,
    ("Order", "ship_to"): Party,
    ("Order", "invoice_to"): Party,
    ("Order", "lines"): OrderLine,
}
