"""Outbound documents read from Odoo: what we answer, ship, bill and order, as canonical documents.

Each reader takes an `OdooClient` and record ids and returns one document per record, in the
order of the ids (ids Odoo does not have are left out, as Odoo's `read` leaves them out):

- `order_responses`: a confirmed (or cancelled) `sale.order` → `OrderResponse` (ORDRSP / 855)
- `despatch_advices`: a done outgoing `stock.picking` → `DespatchAdvice` (DESADV / 856)
- `invoices`: a posted customer `account.move` → `Invoice` (INVOIC / 810); a credit note is an
  `Invoice` whose `document_type` is `credit_note`, its amounts positive
- `purchase_orders`: a confirmed `purchase.order` → `Order` to the supplier (ORDERS / 850)

Every reader reads in batches — one `read` or `search_read` per model for all the records and all
their lines — so the number of calls does not grow with lines or records. Fields that exist only
with some apps (`carrier_id` and `carrier_tracking_ref` come with stock_delivery, a lot's
`expiration_date` with product_expiry) are read only where this Odoo has them (`fields_get`, once
per connection), because Odoo refuses to read an unknown field.

`changed_since` is the Odoo half of change detection: the ids of the records changed after a
cursor (`write_date`, id), page by page; `SOURCES` names the model and domain worth sending per
document type.

Odoo keeps date-times in UTC: dates here are UTC dates ("2026-11-22"), the despatch time an ISO
date-time ("2026-11-22T09:30:57").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from gateway.documents import (
    DespatchAdvice,
    as_dict,
    DespatchLine,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    OrderResponse,
    Package,
    Party,
    ResponseLine,
    TaxLine,
)
from gateway.odoo.client import OdooClient

Row = dict[str, Any]
PARTNER_FIELDS = ["name", "ref", "barcode", "vat", "street", "city", "zip", "country_id", "country_code",
                  "commercial_partner_id"]
PRODUCT_FIELDS = ["name", "barcode", "default_code", "tracking", "product_tmpl_id"]
ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
SSCC_LENGTH = 18
# One truncated second: Odoo stores write_date to the microsecond and shows whole seconds.
SECOND = dt.timedelta(seconds=1)


# --- values --------------------------------------------------------------------------------


def decimal(value: Any, places: int | None = None) -> str | None:
    """A float from Odoo as a decimal string with a point: exact to `places`, else as short as it goes."""
    if value is None or value is False:
        return None
    number = Decimal(repr(float(value)))
    if places is not None:
        return str(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def iso_date(value: Any) -> str | None:
    """Odoo's `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (UTC) as an ISO date."""
    return str(value)[:10] if value else None


def iso_datetime(value: Any) -> str | None:
    return str(value)[:19].replace(" ", "T") if value else None


def many2one_id(value: Any) -> int | None:
    return value[0] if isinstance(value, (list, tuple)) and value else None


def many2one_name(value: Any) -> str | None:
    return value[1] if isinstance(value, (list, tuple)) and len(value) > 1 else None


def text(value: Any) -> str | None:
    return str(value) if value not in (None, False, "") else None


def identifiers(product: Row | None) -> dict[str, str | None]:
    """A product's barcode as a GTIN (8, 13 or 14 digits) or UPC (12), its code, its name."""
    if not product:
        return {}
    barcode = text(product.get("barcode"))
    out: dict[str, str | None] = {"supplier_item": text(product.get("default_code")),
                                  "description": text(product.get("name"))}
    if barcode and barcode.isdigit() and len(barcode) == 12:
        out["upc"] = barcode
    elif barcode:
        out["gtin"] = barcode
    return out


def party(row: Row | None) -> Party | None:
    """A partner as a party: its barcode is the GLN, its reference the id."""
    if not row:
        return None
    return Party(gln=text(row.get("barcode")), id=text(row.get("ref")), name=text(row.get("name")),
                 street=text(row.get("street")), city=text(row.get("city")), zip=text(row.get("zip")),
                 country=text(row.get("country_code")), vat=text(row.get("vat")))


# --- batched reads -------------------------------------------------------------------------


def present_fields(client: OdooClient, model: str, fields: Iterable[str]) -> list[str]:
    """The fields this Odoo has on `model` (apps add some), in the order asked."""
    known = client.fields(model)
    return [name for name in fields if name in known]


def read_by_id(client: OdooClient, model: str, ids: Iterable[int | None], fields: list[str]) -> dict[int, Row]:
    """Records by id, in one `read` (nothing asked when there are no ids)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {row["id"]: row for row in client.read(model, wanted, present_fields(client, model, fields))}


def _by_id(rows: Iterable[Row], ids: Sequence[int]) -> list[Row]:
    """The rows in the order of `ids`, without the ids Odoo did not return."""
    found = {row["id"]: row for row in rows}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


@dataclass
class _Partners:
    """The partners a batch of documents names, and each company's own partner, read in two calls."""

    rows: dict[int, Row]
    company_partner: dict[int, int]

    @classmethod
    def load(cls, client: OdooClient, partner_ids: Iterable[int | None], company_ids: Iterable[int | None]) -> _Partners:
        companies = read_by_id(client, "res.company", company_ids, ["partner_id"])
        company_partner = {cid: many2one_id(row.get("partner_id")) for cid, row in companies.items()}
        rows = read_by_id(client, "res.partner", [*partner_ids, *company_partner.values()],
                     present_fields(client, "res.partner", PARTNER_FIELDS))
        return cls(rows, {cid: pid for cid, pid in company_partner.items() if pid})

    def party(self, partner: Any) -> Party | None:
        return party(self.rows.get(partner if isinstance(partner, int) else many2one_id(partner)))

    def commercial(self, partner: Any) -> Any:
        """The partner's commercial entity (the company of a contact or address), as an id."""
        pid = partner if isinstance(partner, int) else many2one_id(partner)
        row = self.rows.get(pid) or {}
        return many2one_id(row.get("commercial_partner_id")) or pid

    def company(self, company: Any) -> Party | None:
        return self.party(self.company_partner.get(many2one_id(company) or 0))


# --- order responses -----------------------------------------------------------------------


SALE_ORDER_FIELDS = ["name", "state", "date_order", "client_order_ref", "partner_id", "partner_invoice_id",
                     "partner_shipping_id", "commitment_date", "currency_id", "company_id", "order_line"]
SALE_LINE_FIELDS = ["order_id", "sequence", "display_type", "product_id", "name", "product_uom_qty",
                    "product_uom", "price_unit", "customer_lead"]


def order_responses(client: OdooClient, sale_order_ids: Sequence[int],
                    ordered: Mapping[str, Order | Mapping[str, Any]] | None = None) -> list[OrderResponse]:
    """Our answer to each sale order: a line is accepted as it stands, rejected at quantity 0 (or when
    the order is cancelled).

    Odoo does not keep what the customer first asked for. Where the caller has it — the `Order`
    the order arrived as, by its number (`client_order_ref`) in `ordered` — each line is compared
    with it: a different quantity, price or date makes the line `changed`, an ordered line Odoo no
    longer has is `rejected`, and the customer's own line numbers are used.
    """
    orders = _by_id(client.read("sale.order", list(sale_order_ids), SALE_ORDER_FIELDS), sale_order_ids)
    if not orders:
        return []
    lines = client.search_read("sale.order.line", [("order_id", "in", [o["id"] for o in orders])],
                               present_fields(client, "sale.order.line", SALE_LINE_FIELDS), order="order_id, sequence, id")
    products = read_by_id(client, "product.product", (many2one_id(line["product_id"]) for line in lines), PRODUCT_FIELDS)
    partners = _Partners.load(client, (many2one_id(o[name]) for o in orders for name in
                                       ("partner_id", "partner_shipping_id")),
                              (many2one_id(o["company_id"]) for o in orders))
    by_order: dict[int, list[Row]] = {}
    for line in lines:
        if not line.get("display_type"):
            by_order.setdefault(many2one_id(line["order_id"]), []).append(line)
    responses = []
    for order in orders:
        original = (ordered or {}).get(order.get("client_order_ref") or "")
        if original is not None and not isinstance(original, Mapping):
            original = as_dict(original)
        response_lines = _response_lines(order, by_order.get(order["id"], []), products, original)
        statuses = {line.status for line in response_lines}
        if order["state"] == "cancel" or not response_lines or statuses == {"rejected"}:
            status = "rejected"
        elif statuses == {"accepted"}:
            status = "accepted"
        else:
            status = "changed"
        responses.append(OrderResponse(
            document_number=order["name"], document_date=iso_date(order["date_order"]),
            order_number=text(order.get("client_order_ref")),
            order_date=text((original or {}).get("document_date")) or iso_date(order["date_order"]),
            status=status, currency=many2one_name(order.get("currency_id")),
            buyer=partners.party(order["partner_id"]), supplier=partners.company(order["company_id"]),
            ship_to=partners.party(order["partner_shipping_id"]), lines=response_lines))
    return responses


def _line_date(order: Row, line: Row) -> str | None:
    """The date we promise for a line: the order's commitment date, else order date + customer lead time."""
    if order.get("commitment_date"):
        return iso_date(order["commitment_date"])
    if not order.get("date_order"):
        return None
    ordered_at = dt.datetime.strptime(str(order["date_order"])[:19], ODOO_DATETIME)
    return (ordered_at + dt.timedelta(days=float(line.get("customer_lead") or 0))).date().isoformat()


def _response_lines(order: Row, lines: list[Row], products: dict[int, Row],
                    original: Mapping[str, Any] | None) -> list[ResponseLine]:
    cancelled = order["state"] == "cancel"
    wanted = list((original or {}).get("lines") or [])
    matches = _match_ordered(wanted, lines, products) if original is not None else {}
    out = []
    for position, line in enumerate(lines, start=1):
        product = products.get(many2one_id(line["product_id"]) or 0)
        asked = matches.get(line["id"])
        confirmed = Decimal(repr(float(line.get("product_uom_qty") or 0)))
        date = _line_date(order, line)
        price = decimal(line.get("price_unit"))
        if cancelled or confirmed == 0:
            status = "rejected"
        elif asked is not None and _differs(asked, confirmed, price, date, original):
            status = "changed"
        else:
            status = "accepted"
        out.append(ResponseLine(
            line_number=text((asked or {}).get("line_number")) or str(position), **identifiers(product),
            buyer_item=text((asked or {}).get("buyer_item")), status=status,
            quantity=text((asked or {}).get("quantity")) if original is not None else (
                decimal(confirmed) if confirmed else None),  # a line ordered down to 0 no longer says how many
            confirmed_quantity="0" if cancelled else decimal(confirmed),
            uom=many2one_name(line.get("product_uom")), unit_price=price,
            delivery_date=None if status == "rejected" else date))
    answered = {id(asked) for asked in matches.values()}
    for asked in wanted:  # ordered, and no longer in Odoo: rejected as sent
        if id(asked) not in answered:
            out.append(ResponseLine(
                line_number=text(asked.get("line_number")), gtin=text(asked.get("gtin")), upc=text(asked.get("upc")),
                buyer_item=text(asked.get("buyer_item")), supplier_item=text(asked.get("supplier_item")),
                description=text(asked.get("description")), status="rejected", quantity=text(asked.get("quantity")),
                confirmed_quantity="0", uom=text(asked.get("uom")), unit_price=text(asked.get("unit_price"))))
    return out


def _match_ordered(wanted: list[Mapping[str, Any]], lines: list[Row],
                   products: dict[int, Row]) -> dict[int, Mapping[str, Any]]:
    """Each Odoo line's ordered line: the first unused one naming its product (barcode or code)."""
    used: set[int] = set()
    matches: dict[int, Mapping[str, Any]] = {}
    for line in lines:
        product = products.get(many2one_id(line["product_id"]) or 0) or {}
        names = {str(product.get(key)).lstrip("0") for key in ("barcode", "default_code") if product.get(key)}
        for index, asked in enumerate(wanted):
            sent = {str(asked.get(key)).lstrip("0") for key in ("gtin", "upc", "supplier_item") if asked.get(key)}
            if index not in used and names & sent:
                used.add(index)
                matches[line["id"]] = asked
                break
    return matches


def _differs(asked: Mapping[str, Any], confirmed: Decimal, price: str | None, date: str | None,
             original: Mapping[str, Any] | None) -> bool:
    def number(value: Any) -> Decimal | None:
        try:
            return Decimal(str(value)) if value not in (None, "") else None
        except ArithmeticError:
            return None

    quantity, asked_price = number(asked.get("quantity")), number(asked.get("unit_price"))
    if quantity is not None and quantity != confirmed:
        return True
    if asked_price is not None and price is not None and asked_price != Decimal(price):
        return True
    requested = (original or {}).get("requested_delivery_date")
    return bool(requested and date and str(requested)[:10] != date)


# --- despatch advices ----------------------------------------------------------------------


PICKING_FIELDS = ["name", "state", "picking_type_code", "origin", "sale_id", "partner_id", "company_id",
                  "scheduled_date", "date_deadline", "date_done", "carrier_id", "carrier_tracking_ref"]
MOVE_LINE_FIELDS = ["picking_id", "move_id", "product_id", "quantity", "product_uom_id", "lot_id", "lot_name",
                    "result_package_id"]


def despatch_advices(client: OdooClient, picking_ids: Sequence[int]) -> list[DespatchAdvice]:
    """What left in each picking, per package, for which order; lines not packed are the shipment's own."""
    pickings = _by_id(client.read("stock.picking", list(picking_ids), present_fields(client, "stock.picking",
                                                                               PICKING_FIELDS)), picking_ids)
    if not pickings:
        return []
    ids = [p["id"] for p in pickings]
    move_lines = client.search_read("stock.move.line", [("picking_id", "in", ids), ("state", "=", "done")],
                                    MOVE_LINE_FIELDS, order="picking_id, id")
    moves = {row["id"]: row for row in client.search_read(
        "stock.move", [("picking_id", "in", ids)], ["sale_line_id", "product_uom_qty", "product_uom"])}
    orders = _sale_orders_of(client, pickings)
    sale_lines = {row["id"]: row for row in client.search_read(
        "sale.order.line", [("order_id", "in", [o["id"] for o in orders.values()])],
        ["order_id", "display_type", "product_uom_qty", "product_uom"], order="order_id, sequence, id")} if orders else {}
    products = read_by_id(client, "product.product", (many2one_id(line["product_id"]) for line in move_lines),
                     PRODUCT_FIELDS)
    packages = read_by_id(client, "stock.quant.package", (many2one_id(line["result_package_id"]) for line in move_lines),
                     ["name", "package_type_id"])
    lots = (read_by_id(client, "stock.lot", (many2one_id(line["lot_id"]) for line in move_lines),
                  ["name", "expiration_date"]) if client.has_field("stock.lot", "expiration_date") else {})
    partners = _Partners.load(client, [*(many2one_id(p["partner_id"]) for p in pickings),
                                       *(many2one_id(o["partner_id"]) for o in orders.values())],
                              (many2one_id(p["company_id"]) for p in pickings))
    positions = _line_positions(sale_lines.values())
    by_picking: dict[int, list[Row]] = {}
    for line in move_lines:
        if line.get("quantity"):
            by_picking.setdefault(many2one_id(line["picking_id"]), []).append(line)
    advices = []
    for picking in pickings:
        order = orders.get(picking["id"])
        packed: dict[int, list[DespatchLine]] = {}
        loose: list[DespatchLine] = []
        number = 0
        for line in sorted(by_picking.get(picking["id"], []),
                           key=lambda row: (many2one_id(row["result_package_id"]) is None,
                                            many2one_id(row["result_package_id"]) or 0, row["id"])):
            number += 1
            despatch_line = _despatch_line(number, line, products, lots, moves, sale_lines, positions)
            package = many2one_id(line["result_package_id"])
            (packed.setdefault(package, []) if package else loose).append(despatch_line)
        advices.append(DespatchAdvice(
            document_number=picking["name"], document_date=iso_date(picking.get("date_done")),
            despatch_date=iso_datetime(picking.get("date_done")),
            delivery_date=iso_date(picking.get("date_deadline") or picking.get("scheduled_date")),
            order_number=text((order or {}).get("client_order_ref")), order_date=iso_date((order or {}).get("date_order")),
            carrier=many2one_name(picking.get("carrier_id")), tracking_reference=text(picking.get("carrier_tracking_ref")),
            buyer=partners.party((order or {}).get("partner_id")),
            supplier=partners.company(picking["company_id"]), ship_to=partners.party(picking.get("partner_id")),
            packages=[_package(packages.get(pid) or {}, lines) for pid, lines in packed.items()], lines=loose))
    return advices


def _sale_orders_of(client: OdooClient, pickings: list[Row]) -> dict[int, Row]:
    """Each picking's sale order: its `sale_id`, else the order named first in its origin ("S00002 - PO-1")."""
    ids = {many2one_id(p.get("sale_id")) for p in pickings} - {None}
    names = {str(p["origin"]).split(" - ")[0].strip() for p in pickings
             if not p.get("sale_id") and p.get("origin")}
    if not ids and not names:
        return {}
    domain: list = [("id", "in", sorted(ids))]
    if names:
        domain = ["|", *domain, ("name", "in", sorted(names))]
    rows = client.search_read("sale.order", domain, ["name", "client_order_ref", "date_order", "partner_id"])
    by_id, by_name = {row["id"]: row for row in rows}, {row["name"]: row for row in rows}
    out = {}
    for picking in pickings:
        order = by_id.get(many2one_id(picking.get("sale_id")) or 0)
        if order is None and picking.get("origin"):
            order = by_name.get(str(picking["origin"]).split(" - ")[0].strip())
        if order is not None:
            out[picking["id"]] = order
    return out


def _line_positions(lines: Iterable[Row]) -> dict[int, int]:
    """Each order line's position in its order (1, 2, …; sections and notes not counted)."""
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for line in lines:
        if line.get("display_type"):
            continue
        order = many2one_id(line.get("order_id")) or 0
        counters[order] = counters.get(order, 0) + 1
        positions[line["id"]] = counters[order]
    return positions


def _despatch_line(number: int, line: Row, products: dict[int, Row], lots: dict[int, Row], moves: dict[int, Row],
                   sale_lines: dict[int, Row], positions: dict[int, int]) -> DespatchLine:
    product = products.get(many2one_id(line["product_id"]) or 0) or {}
    lot_name = many2one_name(line.get("lot_id")) or text(line.get("lot_name"))
    lot = lots.get(many2one_id(line.get("lot_id")) or 0) or {}
    serial = product.get("tracking") == "serial"
    move = moves.get(many2one_id(line.get("move_id")) or 0) or {}
    sale_line = sale_lines.get(many2one_id(move.get("sale_line_id")) or 0)
    uom = many2one_name(line.get("product_uom_id"))
    ordered = None
    if sale_line and many2one_name(sale_line.get("product_uom")) == uom:
        ordered = decimal(sale_line.get("product_uom_qty"))
    return DespatchLine(
        line_number=str(number), order_line_number=str(positions[sale_line["id"]]) if sale_line and sale_line["id"]
        in positions else None, **identifiers(product), quantity=decimal(line.get("quantity")),
        ordered_quantity=ordered, uom=uom, lot=None if serial else lot_name, serial=lot_name if serial else None,
        expiry_date=iso_date(lot.get("expiration_date")))


def _package(row: Row, lines: list[DespatchLine]) -> Package:
    name = text(row.get("name")) or ""
    sscc = name if name.isdigit() and len(name) == SSCC_LENGTH else None
    return Package(sscc=sscc, package_type=many2one_name(row.get("package_type_id")), lines=lines)


# --- invoices ------------------------------------------------------------------------------


MOVE_FIELDS = ["name", "move_type", "state", "partner_id", "commercial_partner_id", "partner_shipping_id",
               "company_id", "invoice_date", "invoice_date_due", "invoice_origin", "ref", "currency_id",
               "invoice_payment_term_id", "amount_untaxed", "amount_tax", "amount_total"]
INVOICE_LINE_FIELDS = ["move_id", "sequence", "display_type", "product_id", "name", "quantity", "product_uom_id",
                       "price_unit", "discount", "tax_ids", "price_subtotal", "price_total", "tax_line_id",
                       "balance", "amount_currency", "sale_line_ids"]
INVOICE_TYPES = {"out_invoice": "invoice", "out_refund": "credit_note", "in_invoice": "invoice",
                 "in_refund": "credit_note"}


def invoices(client: OdooClient, move_ids: Sequence[int]) -> list[Invoice]:
    """Each posted invoice or credit note with its lines, its tax summary (per rate) and its totals."""
    moves = _by_id(client.read("account.move", list(move_ids), present_fields(client, "account.move", MOVE_FIELDS)),
                   move_ids)
    if not moves:
        return []
    items = client.search_read("account.move.line", [("move_id", "in", [m["id"] for m in moves]),
                                                     ("display_type", "in", ["product", "tax"])],
                               present_fields(client, "account.move.line", INVOICE_LINE_FIELDS), order="move_id, sequence, id")
    lines = [item for item in items if item["display_type"] == "product"]
    taxes = read_by_id(client, "account.tax", {tax for line in lines for tax in line.get("tax_ids") or []} |
                  {many2one_id(item.get("tax_line_id")) for item in items}, ["name", "amount", "amount_type"])
    products = read_by_id(client, "product.product", (many2one_id(line["product_id"]) for line in lines), PRODUCT_FIELDS)
    currencies = read_by_id(client, "res.currency", (many2one_id(m["currency_id"]) for m in moves),
                       ["name", "decimal_places"])
    orders = _orders_invoiced(client, moves, lines)
    partners = _Partners.load(client, (many2one_id(m[name]) for m in moves for name in
                                       ("partner_id", "commercial_partner_id", "partner_shipping_id") if name in m),
                              (many2one_id(m["company_id"]) for m in moves))
    by_move: dict[int, list[Row]] = {}
    for item in items:
        by_move.setdefault(many2one_id(item["move_id"]), []).append(item)
    documents = []
    for move in moves:
        places = int((currencies.get(many2one_id(move["currency_id"]) or 0) or {}).get("decimal_places") or 2)
        own = by_move.get(move["id"], [])
        order = orders.get(move["id"]) or {}
        buyer = move.get("commercial_partner_id") or partners.commercial(move.get("partner_id"))
        documents.append(Invoice(
            document_number=move["name"], document_type=INVOICE_TYPES.get(move["move_type"], move["move_type"]),
            document_date=iso_date(move.get("invoice_date")), due_date=iso_date(move.get("invoice_date_due")),
            payment_terms=many2one_name(move.get("invoice_payment_term_id")),
            currency=many2one_name(move.get("currency_id")), order_number=text(order.get("client_order_ref")),
            despatch_number=text(order.get("despatch_number")),
            buyer=partners.party(buyer), supplier=partners.company(move["company_id"]),
            ship_to=partners.party(move.get("partner_shipping_id")), invoice_to=partners.party(move.get("partner_id")),
            lines=[_invoice_line(number, line, products, taxes, order.get("positions") or {}, places)
                   for number, line in enumerate((i for i in own if i["display_type"] == "product"), start=1)],
            taxes=_tax_summary(own, taxes, places),
            total_net=decimal(abs(move.get("amount_untaxed") or 0), places),
            total_tax=decimal(abs(move.get("amount_tax") or 0), places),
            total_amount=decimal(abs(move.get("amount_total") or 0), places)))
    return documents


def _orders_invoiced(client: OdooClient, moves: list[Row], lines: list[Row]) -> dict[int, dict[str, Any]]:
    """Per invoice, the sale order it bills (through its lines' order lines, else its origin), the
    order's line positions, and the order's despatch when there was exactly one."""
    sale_line_ids = sorted({sid for line in lines for sid in line.get("sale_line_ids") or []})
    names = sorted({name.strip() for m in moves for name in str(m.get("invoice_origin") or "").split(",")
                    if name.strip()})
    if not sale_line_ids and not names:
        return {}
    terms = ([("order_line", "in", sale_line_ids)] if sale_line_ids else []) + (
        [("name", "in", names)] if names else [])
    orders = client.search_read("sale.order", ["|", *terms] if len(terms) == 2 else terms,
                                ["name", "client_order_ref", "order_line"])
    order_of_line = {sid: o["id"] for o in orders for sid in o.get("order_line") or []}
    by_id, by_name = {o["id"]: o for o in orders}, {o["name"]: o for o in orders}
    pickings = client.search_read("stock.picking", [("sale_id", "in", sorted(by_id)), ("state", "=", "done"),
                                                    ("picking_type_code", "=", "outgoing")],
                                  ["name", "sale_id"]) if by_id else []
    despatches: dict[int, list[str]] = {}
    for picking in pickings:
        despatches.setdefault(many2one_id(picking["sale_id"]), []).append(picking["name"])
    out: dict[int, dict[str, Any]] = {}
    for move in moves:
        linked = [order_of_line[sid] for line in lines if many2one_id(line["move_id"]) == move["id"]
                  for sid in line.get("sale_line_ids") or [] if sid in order_of_line]
        origin = str(move.get("invoice_origin") or "").split(",")[0].strip()
        order = by_id.get(linked[0]) if linked else by_name.get(origin)
        if order is None:
            continue
        shipped = despatches.get(order["id"], [])
        out[move["id"]] = {"client_order_ref": order.get("client_order_ref"),
                           "positions": {sid: n for n, sid in enumerate(order.get("order_line") or [], start=1)},
                           "despatch_number": shipped[0] if len(shipped) == 1 else None}
    return out


def _rate(taxes: dict[int, Row], tax_ids: Iterable[int]) -> Decimal | None:
    """The percentage of a line's taxes (summed when several); None for fixed-amount taxes."""
    rates = [taxes[t] for t in tax_ids if t in taxes]
    if any(t.get("amount_type") not in ("percent", "division") for t in rates):
        return None
    return sum((Decimal(repr(float(t.get("amount") or 0))) for t in rates), Decimal(0))


def _invoice_line(number: int, line: Row, products: dict[int, Row], taxes: dict[int, Row],
                  positions: dict[int, int], places: int) -> InvoiceLine:
    product = products.get(many2one_id(line["product_id"]) or 0)
    rate = _rate(taxes, line.get("tax_ids") or [])
    subtotal = Decimal(repr(float(line.get("price_subtotal") or 0)))
    total = Decimal(repr(float(line.get("price_total") or 0)))
    sale_lines = [positions[s] for s in line.get("sale_line_ids") or [] if s in positions]
    described = identifiers(product)
    described["description"] = text(line.get("name")) or described.get("description")
    return InvoiceLine(
        line_number=str(number), **described, quantity=decimal(line.get("quantity")),
        uom=many2one_name(line.get("product_uom_id")), unit_price=decimal(line.get("price_unit")),
        net_amount=decimal(abs(subtotal), places), tax_rate=decimal(rate) if rate is not None else None,
        tax_amount=decimal(abs(total - subtotal), places),
        order_line_number=str(sale_lines[0]) if sale_lines else None)


def _tax_summary(items: list[Row], taxes: dict[int, Row], places: int) -> list[TaxLine]:
    """Per rate: the net amount of the lines taxed at it and the tax posted for it (the tax journal items)."""
    taxable: dict[Decimal | None, Decimal] = {}
    posted: dict[Decimal | None, Decimal] = {}
    for item in items:
        if item["display_type"] == "product":
            rate = _rate(taxes, item.get("tax_ids") or []) if item.get("tax_ids") else Decimal(0)
            amount = Decimal(repr(float(item.get("price_subtotal") or 0)))
            taxable[rate] = taxable.get(rate, Decimal(0)) + amount
        else:
            tax = many2one_id(item.get("tax_line_id"))
            rate = _rate(taxes, [tax]) if tax else None
            amount = item.get("amount_currency") if "amount_currency" in item else item.get("balance")
            posted[rate] = posted.get(rate, Decimal(0)) + abs(Decimal(repr(float(amount or 0))))
    summary = []
    for rate in sorted(set(taxable) | set(posted), key=lambda r: (r is None, r or 0)):
        summary.append(TaxLine(rate=decimal(rate) if rate is not None else None,
                               taxable_amount=decimal(abs(taxable.get(rate, Decimal(0))), places),
                               tax_amount=decimal(posted.get(rate, Decimal(0)), places),
                               category="S" if rate else None))
    return summary


# --- purchase orders -----------------------------------------------------------------------


PURCHASE_FIELDS = ["name", "state", "date_order", "date_approve", "date_planned", "partner_id", "currency_id",
                   "company_id", "picking_type_id", "dest_address_id", "notes", "origin"]
PURCHASE_LINE_FIELDS = ["order_id", "sequence", "display_type", "product_id", "name", "product_qty", "product_uom",
                        "price_unit", "date_planned"]


def purchase_orders(client: OdooClient, purchase_order_ids: Sequence[int]) -> list[Order]:
    """Each purchase order as the order the supplier receives: their item codes, our delivery address."""
    orders = _by_id(client.read("purchase.order", list(purchase_order_ids),
                                present_fields(client, "purchase.order", PURCHASE_FIELDS)), purchase_order_ids)
    if not orders:
        return []
    lines = client.search_read("purchase.order.line", [("order_id", "in", [o["id"] for o in orders])],
                               PURCHASE_LINE_FIELDS, order="order_id, sequence, id")
    products = read_by_id(client, "product.product", (many2one_id(line["product_id"]) for line in lines), PRODUCT_FIELDS)
    types = read_by_id(client, "stock.picking.type", (many2one_id(o.get("picking_type_id")) for o in orders),
                  ["warehouse_id"])
    warehouses = read_by_id(client, "stock.warehouse", (many2one_id(t.get("warehouse_id")) for t in types.values()),
                       ["partner_id"])
    addresses = {tid: many2one_id((warehouses.get(many2one_id(t.get("warehouse_id")) or 0) or {}).get("partner_id"))
                 for tid, t in types.items()}
    partners = _Partners.load(client, [*(many2one_id(o["partner_id"]) for o in orders),
                                       *(many2one_id(o.get("dest_address_id")) for o in orders), *addresses.values()],
                              (many2one_id(o["company_id"]) for o in orders))
    vendors = {many2one_id(o["partner_id"]) for o in orders} | {partners.commercial(o["partner_id"]) for o in orders}
    codes = vendor_codes(client, vendors - {None}, products)
    by_order: dict[int, list[Row]] = {}
    for line in lines:
        if not line.get("display_type"):
            by_order.setdefault(many2one_id(line["order_id"]), []).append(line)
    documents = []
    for order in orders:
        vendor = many2one_id(order["partner_id"])
        vendor_ids = (vendor, partners.commercial(vendor))
        ship_to = many2one_id(order.get("dest_address_id")) or addresses.get(
            many2one_id(order.get("picking_type_id")) or 0)
        documents.append(Order(
            document_number=order["name"], document_date=iso_date(order.get("date_approve") or order.get("date_order")),
            requested_delivery_date=iso_date(order.get("date_planned")),
            currency=many2one_name(order.get("currency_id")), note=_plain(order.get("notes")),
            buyer=partners.company(order["company_id"]), supplier=partners.party(vendor),
            ship_to=partners.party(ship_to) if ship_to else partners.company(order["company_id"]),
            invoice_to=partners.company(order["company_id"]),
            lines=[_purchase_line(number, line, products, codes, vendor_ids)
                   for number, line in enumerate(by_order.get(order["id"], []), start=1)]))
    return documents


def vendor_codes(client: OdooClient, vendors: set[int], products: dict[int, Row]) -> list[Row]:
    """The vendors' price list entries (product.supplierinfo) for these products, best first."""
    if not vendors or not products:
        return []
    templates = {many2one_id(p.get("product_tmpl_id")) for p in products.values()} - {None}
    return client.search_read("product.supplierinfo", [
        ("partner_id", "in", sorted(vendors)), "|", ("product_id", "in", sorted(products)),
        ("product_tmpl_id", "in", sorted(templates))],
        ["partner_id", "product_id", "product_tmpl_id", "product_code", "sequence"], order="sequence, id")


def _purchase_line(number: int, line: Row, products: dict[int, Row], codes: list[Row],
                   vendor_ids: tuple[int | None, ...]) -> OrderLine:
    product = products.get(many2one_id(line["product_id"]) or 0) or {}
    ours = identifiers(product)
    theirs = None
    for entry in codes:  # one for this variant first, then one for its template
        if many2one_id(entry["partner_id"]) not in vendor_ids or not entry.get("product_code"):
            continue
        if many2one_id(entry.get("product_id")) == product.get("id"):
            theirs = entry["product_code"]
            break
        if theirs is None and not entry.get("product_id") and \
                many2one_id(entry.get("product_tmpl_id")) == many2one_id(product.get("product_tmpl_id")):
            theirs = entry["product_code"]
    return OrderLine(line_number=str(number), gtin=ours.get("gtin"), upc=ours.get("upc"),
                     buyer_item=ours.get("supplier_item"), supplier_item=text(theirs),
                     description=text(line.get("name")) or ours.get("description"),
                     quantity=decimal(line.get("product_qty")), uom=many2one_name(line.get("product_uom")),
                     unit_price=decimal(line.get("price_unit")))


def _plain(html: Any) -> str | None:
    """Odoo's HTML notes as plain text."""
    if not html:
        return None
    cleaned = re.sub(r"<[^>]+>", " ", str(html))
    return " ".join(cleaned.split()) or None


# --- change detection ----------------------------------------------------------------------


Cursor = tuple[str, int]


def changed_since(client: OdooClient, model: str, domain: list, cursor: Cursor | None,
                  limit: int = 100) -> tuple[list[int], Cursor | None]:
    """The ids of the records matching `domain` changed after `cursor`, oldest first, at most `limit`,
    and the cursor to ask with next time (`cursor` itself when nothing changed).

    A cursor is (`write_date` as Odoo shows it, id). Odoo stores `write_date` to the microsecond but
    shows whole seconds, so a second is the unit: "after (d, i)" is any later second, or second d
    with an id above i. A page never ends inside a second unless the whole page is that second;
    then that second is paged by id. Records written in one transaction share a `write_date`, so
    equal dates are the rule, not the exception.
    """
    after: list = []
    if cursor is not None:
        second, last_id = cursor
        following = _shift(second, SECOND)
        after = ["|", ("write_date", ">=", following),
                 "&", "&", ("write_date", ">=", second), ("write_date", "<", following), ("id", ">", last_id)]
    rows = client.search_read(model, [*after, *domain], ["write_date"], order="write_date, id", limit=limit)
    if not rows:
        return [], cursor
    seconds = [str(row["write_date"])[:19] for row in rows]
    last = seconds[-1]
    if len(rows) < limit:
        return [row["id"] for row in rows], (last, max(row["id"] for row, s in zip(rows, seconds) if s == last))
    if seconds[0] != last:  # a full page: leave the last second, which may go on, for the next page
        kept = [row for row, s in zip(rows, seconds) if s != last]
        end = str(kept[-1]["write_date"])[:19]
        return [row["id"] for row in kept], (end, max(row["id"] for row in kept if str(row["write_date"])[:19] == end))
    # The whole page is one second: page through that second by id.
    start = cursor[1] if cursor is not None and cursor[0] == last else 0
    rows = client.search_read(model, [("write_date", ">=", last), ("write_date", "<", _shift(last, SECOND)),
                                      ("id", ">", start), *domain], ["id"], order="id", limit=limit)
    return [row["id"] for row in rows], (last, rows[-1]["id"]) if rows else cursor


def _shift(second: str, delta: dt.timedelta) -> str:
    return (dt.datetime.strptime(second[:19], ODOO_DATETIME) + delta).strftime(ODOO_DATETIME)


@dataclass(frozen=True)
class Source:
    """Where a document type comes from in Odoo: the model, the records worth sending, the reader,
    and the field that links a record to the partner (a `child_of` the partner's Odoo id)."""

    model: str
    domain: tuple
    reader: Callable[[OdooClient, Sequence[int]], list]
    partner_field: str

    def domain_for(self, partner_id: int | None = None) -> list:
        domain = [tuple(term) if isinstance(term, list) else term for term in self.domain]
        return domain + ([(self.partner_field, "child_of", partner_id)] if partner_id else [])


SOURCES: dict[str, Source] = {
    # A cancelled order is answered too: its response rejects every line.
    "OrderResponse": Source("sale.order", (("state", "in", ["sale", "cancel"]),), order_responses, "partner_id"),
    "DespatchAdvice": Source("stock.picking", (("picking_type_code", "=", "outgoing"), ("state", "=", "done")),
                             despatch_advices, "partner_id"),
    "Invoice": Source("account.move", (("move_type", "in", ["out_invoice", "out_refund"]), ("state", "=", "posted")),
                      invoices, "partner_id"),
    "Order": Source("purchase.order", (("state", "in", ["purchase", "done"]),), purchase_orders, "partner_id"),
}
