"""A supplier's answers to our purchase orders, reconciled with the order as it stands in Odoo.

`Purchasing.deliver` takes the documents a supplier sends back and never overwrites the
purchase order blindly: it compares, line by line, and every difference becomes a `Difference`
(an exception, in words a buyer acts on), posted to the record's chatter. The partner's profile
(`purchasing:`) says which differences the gateway may apply by itself.

- `OrderResponse` (855 / ORDRSP) → the `purchase.order`: the supplier's reference (`partner_ref`),
  the confirmed dates (`date_planned`); quantities, prices, rejected and substituted lines,
  and lines the order never had are exceptions, applied only where the profile allows. A second
  response is compared with the order as the first one left it, and names what the first said.
- `DespatchAdvice` (856 / DESADV) → the open incoming `stock.picking` of the order: the shipped
  quantities on its moves as move lines with lots and packages (SSCC), what is not shipped split
  into a backorder receipt, the ship notice's number in the receipt's `origin` (which is also
  how a second copy of the same notice is recognised). More than ordered is an exception.
- `Invoice` (810 / INVOIC) → a vendor bill (`in_invoice`, or `in_refund` for a credit note) whose
  lines point at the purchase lines, after a three-way match per line: ordered, received (or
  shipped per the ship notices), billed before, and the price. A matching bill is posted when
  the profile says so; a mismatch makes a draft bill with the differences listed, or holds the
  message. The same invoice number from the same supplier is never billed twice.

A response, notice or invoice for an order Odoo does not have, or that was cancelled, is held
with the reason. Everything is looked up before anything is written; a failure that may pass
raises `TransientFailure` (through the client) and the pipeline tries again later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from loguru import logger

from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.writing import barcode_forms, held_for, odoo_datetime
from gateway.odoo.outbound import many2one_id, many2one_name, present_fields, read_by_id, vendor_codes
from gateway.order_threads import Difference
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import Profile, PurchasingPolicy

PROCUREMENT_TYPES = ("OrderResponse", "DespatchAdvice", "Invoice")
PURCHASE = "purchase.order"
ORDER_FIELDS = ["name", "state", "partner_id", "partner_ref", "picking_ids", "receipt_status", "invoice_status",
                "date_planned", "currency_id"]
LINE_FIELDS = ["sequence", "display_type", "product_id", "name", "product_qty", "qty_received", "qty_invoiced",
               "price_unit", "product_uom", "date_planned"]
PRODUCT_FIELDS = ["display_name", "default_code", "barcode", "product_tmpl_id", "uom_id"]
PICKING_FIELDS = ["name", "state", "origin", "partner_id", "picking_type_id", "location_id", "location_dest_id",
                  "scheduled_date", "backorder_id", "carrier_tracking_ref"]
MOVE_FIELDS = ["product_id", "product_uom_qty", "quantity", "product_uom", "purchase_line_id", "state",
               "location_id", "location_dest_id", "name"]
RESPONSE_KINDS = ("quantity", "date", "price", "rejected", "substituted", "unknown_line", "missing_line",
                  "order_rejected")
NOTICE_TAG = " ASN "
CLOSED = ("cancel",)
NOTE = {"message_type": "comment", "subtype_xmlid": "mail.mt_note"}


def number(value: Any) -> Decimal | None:
    """A document's decimal string (or an Odoo float) as a Decimal; None when there is none."""
    if value in (None, "", False):
        return None
    try:
        return Decimal(str(value)) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        return None


def shown(value: Decimal | None) -> str:
    """A quantity or price as a person writes it: 30, 2.5, 1.80 stays 1.8."""
    if value is None:
        return "?"
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def money(value: Decimal | None) -> str:
    """A price as a buyer reads it: at least two decimals (1.80, 0.125)."""
    if value is None:
        return "?"
    return shown(value) if -value.normalize().as_tuple().exponent > 2 else str(value.quantize(Decimal("0.01")))


def day(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@dataclass
class OrderLines:
    """A purchase order's product lines, and the ways a supplier may name each of them."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    products: dict[int, dict[str, Any]]
    codes: dict[int, str] = field(default_factory=dict)  # purchase line id → the supplier's item code

    def label(self, line: dict[str, Any]) -> str:
        """How a buyer knows the line: "line 2 (AX-220 Widget, blue)"."""
        product = self.products.get(many2one_id(line.get("product_id")) or 0) or {}
        name = product.get("display_name") or line.get("name") or "?"
        code = product.get("default_code")
        if code and not str(name).startswith(f"[{code}]"):
            name = f"{code} {name}"
        return f"line {self.position(line)} ({str(name).replace('[', '').replace(']', '')})"

    def position(self, line: dict[str, Any]) -> int:
        return self.lines.index(line) + 1

    def find(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The purchase line a document line answers: by its identifiers, else by its number."""
        by_id = [line for line in self.lines if self._names(line, item)]
        if len(by_id) == 1:
            return by_id[0]
        for key in ("order_line_number", "line_number"):
            value = str(item.get(key) or "").strip().lstrip("0")
            if value.isdigit() and 1 <= int(value) <= len(self.lines):
                candidate = self.lines[int(value) - 1]
                if not by_id or candidate in by_id:
                    return candidate
        return by_id[0] if by_id else None

    def _names(self, line: dict[str, Any], item: dict[str, Any]) -> bool:
        product = self.products.get(many2one_id(line.get("product_id")) or 0) or {}
        barcode = str(product.get("barcode") or "")
        for key in ("gtin", "upc"):  # GTIN-13 ⇄ UPC-A, either way round
            code = str(item.get(key) or "")
            if code and barcode and (barcode in barcode_forms(code) or code in barcode_forms(barcode)):
                return True
        if item.get("buyer_item") and item["buyer_item"] == product.get("default_code"):
            return True
        return bool(item.get("supplier_item")) and item["supplier_item"] == self.codes.get(line["id"])

    def planned(self, line: dict[str, Any]) -> dt.date | None:
        return day(line.get("date_planned"))

    def unit_differences(self, line: dict[str, Any], item: dict[str, Any], what: str) -> list[Difference]:
        """A document line in another unit than the purchase line: its quantities are not ours as they are."""
        theirs, ours = item.get("uom"), many2one_name(line.get("product_uom"))
        if not theirs or not ours or str(theirs).casefold() == str(ours).casefold():
            return []
        return [Difference("unit", f"{self.label(line)}: the {what} counts in {theirs}, the order in {ours}; its "
                           "quantities were compared as they are: convert them before acting",
                           str(self.position(line)))]


def profile_partner(client: OdooClient, profile: Profile) -> dict[str, Any] | DeliveryResult:
    """The Odoo partner the profile names (`odoo_partner`), or the held result that says why not."""
    partner = profile.odoo_partner
    domain = [("id", "=", int(partner["id"]))] if partner.get("id") is not None else \
        [("ref", "=", str(partner.get("ref"))), ("parent_id", "=", False)]
    rows = client.search_read("res.partner", domain, ["name", "ref"], limit=2)
    if len(rows) != 1:
        what = f"id {partner['id']}" if partner.get("id") is not None else f"ref {partner.get('ref')}"
        return DeliveryResult("held", f"{'no' if not rows else 'more than one'} Odoo partner with {what} "
                                      f"(odoo_partner in {profile.file.name}); fix it and reprocess from deliver")
    return rows[0]


class Purchasing:
    """Reconciles a supplier's documents with Odoo's purchase orders (see the module docstring)."""

    TYPES = PROCUREMENT_TYPES

    def __init__(self, client: OdooClient, dry_run: bool = False) -> None:
        self.client = client
        self.dry_run = dry_run  # compare only: nothing is written to Odoo (`edigw partners test`)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> dict[str, Any]:
        """What delivering would do, with nothing written: the record matched and the differences."""
        result = Purchasing(self.client, dry_run=True).deliver(profile, document_type, document, thread)
        action = {"delivered": "reconcile", "duplicate": "exists"}.get(result.state, "hold")
        return {"model": (result.record or {}).get("model"), "action": action, "record": result.record,
                "problems": [result.reason] if action == "hold" and result.reason else [],
                "differences": [{"kind": d.kind, "line": d.line, "text": d.text, "applied": d.applied}
                                for d in result.differences],
                "notes": [result.reason] if action != "hold" and result.reason else []}

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> DeliveryResult:
        try:
            vendor = self._vendor(profile)
            if isinstance(vendor, DeliveryResult):
                return vendor
            if document_type == "Invoice":
                duplicate = self._billed_already(profile, vendor, document)
                if duplicate is not None:
                    return duplicate
            found = self._order(profile, vendor, document_type, document)
            if isinstance(found, DeliveryResult):
                return found
            if document_type == "OrderResponse":
                return self._response(profile, vendor, found, document, thread)
            if document_type == "DespatchAdvice":
                return self._notice(profile, found, document, thread)
            return self._bill(profile, vendor, found, document, thread)
        except OdooError as error:
            return held_for(error, f"Odoo refused a call while applying {describe(document_type, document)}: "
                                   f"{error.kind}: {error.message}; fix it and reprocess from deliver")

    # --- look-ups --------------------------------------------------------------------------

    def _vendor(self, profile: Profile) -> dict[str, Any] | DeliveryResult:
        return profile_partner(self.client, profile)

    def _order(self, profile: Profile, vendor: dict[str, Any], document_type: str,
               document: dict[str, Any]) -> OrderLines | DeliveryResult:
        what = describe(document_type, document)
        reference = document.get("order_number")
        if not reference:
            return DeliveryResult("held", f"{what} names no purchase order, so it cannot be matched; "
                                          "ask the supplier for the order number")
        rows = self.client.search_read(PURCHASE, [("name", "=", str(reference)), ("partner_id", "child_of", vendor["id"])],
                                       present_fields(self.client, PURCHASE, ORDER_FIELDS), limit=1)
        if not rows:
            elsewhere = self.client.search_read(PURCHASE, [("name", "=", str(reference))], ["partner_id"], limit=1)
            if elsewhere:
                return DeliveryResult("held", f"{what} is for purchase order {reference}, which was placed with "
                                              f"{many2one_name(elsewhere[0]['partner_id'])}, not {vendor['name']}")
            return DeliveryResult("held", f"{what} is for purchase order {reference}, which Odoo does not have "
                                          f"for {vendor['name']}; check the number with the supplier")
        order = rows[0]
        if order["state"] in CLOSED:
            return DeliveryResult("held", f"{what} is for purchase order {order['name']}, which is cancelled in Odoo; "
                                          "nothing was applied", self._record(order))
        if order["state"] not in ("purchase", "done"):
            return DeliveryResult("held", f"{what} is for purchase order {order['name']}, which is not confirmed in "
                                          f"Odoo (it is {order['state']}); confirm it, then reprocess from deliver",
                                  self._record(order))
        lines = [line for line in self.client.search_read(
            "purchase.order.line", [("order_id", "=", order["id"])],
            present_fields(self.client, "purchase.order.line", LINE_FIELDS), order="sequence, id")
            if not line.get("display_type")]
        products = read_by_id(self.client, "product.product", (many2one_id(line.get("product_id")) for line in lines),
                              PRODUCT_FIELDS)
        found = OrderLines(order, lines, products)
        for entry in vendor_codes(self.client, {vendor["id"]}, products):
            for line in lines:
                product = products.get(many2one_id(line.get("product_id")) or 0) or {}
                if entry.get("product_code") and line["id"] not in found.codes and (
                        many2one_id(entry.get("product_id")) == product.get("id") or (
                        not entry.get("product_id") and many2one_id(entry.get("product_tmpl_id"))
                        == many2one_id(product.get("product_tmpl_id")))):
                    found.codes[line["id"]] = entry["product_code"]
        return found

    @staticmethod
    def _record(order: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"model": PURCHASE, "id": order["id"], "name": order["name"], "state": order["state"], **more}

    def _post(self, model: str, record_id: int, lines: Iterable[str]) -> None:
        """A note in the record's chatter, one paragraph per line (Odoo escapes plain text)."""
        body = "\n".join(lines)
        if body and not self.dry_run:
            self.client.call(model, "message_post", [[record_id]], {"body": body, **NOTE})

    # --- order responses -------------------------------------------------------------------

    def _response(self, profile: Profile, vendor: dict[str, Any], found: OrderLines, document: dict[str, Any],
                  thread: Sequence[Earlier]) -> DeliveryResult:
        order, policy = found.order, profile.purchasing
        what = describe("OrderResponse", document)
        if order.get("receipt_status") == "full":
            return DeliveryResult("held", f"{what} arrived after purchase order {order['name']} was received in full; "
                                          "nothing was applied", self._record(order))
        earlier = [e for e in thread if e.document_type == "OrderResponse"]
        differences: list[Difference] = []
        writes: dict[int, dict[str, Any]] = {}
        answered: set[int] = set()
        for item in document.get("lines") or []:
            line = found.find(item)
            if line is None:
                differences.append(Difference("unknown_line", f"the response has a line {item.get('line_number') or '?'} "
                                              f"({product_words(item)}, {shown(number(item.get('confirmed_quantity') or item.get('quantity')))}) "
                                              f"that purchase order {order['name']} never had", item.get("line_number")))
                continue
            answered.add(line["id"])
            differences += found.unit_differences(line, item, "response")
            before = previous_line(earlier, found, line)
            for difference, values in self._line_differences(found, line, item, policy, before):
                differences.append(difference)
                if difference.applied:
                    writes.setdefault(line["id"], {}).update(values)
        status = document.get("status")
        if status == "rejected" and not document.get("lines"):
            differences.append(Difference("order_rejected", f"{vendor['name']} rejects purchase order {order['name']} "
                                          f"as a whole{reason_words(document.get('note'))}; cancel it or talk to them"))
        elif document.get("lines"):
            for line in found.lines:
                if line["id"] not in answered:
                    differences.append(Difference("missing_line", f"{found.label(line)}: the response says nothing "
                                                  f"about it (ordered {shown(number(line.get('product_qty')))})",
                                                  str(found.position(line))))
        values: dict[str, Any] = {}
        if document.get("document_number") and document["document_number"] != order.get("partner_ref"):
            values["partner_ref"] = document["document_number"]
        if writes:
            values["order_line"] = [[1, line_id, changes] for line_id, changes in writes.items()]
        if values:
            if not self.dry_run:
                self._lower_receipts(found, writes)
                self.client.call(PURCHASE, "write", [[order["id"]], values])
        self._post(PURCHASE, order["id"], self._response_note(vendor, document, differences, found, earlier))
        waiting = [d for d in differences if not d.applied]
        logger.info("purchase order {}: {} from {}: {} difference(s), {} applied", order["name"], what, profile.id,
                    len(differences), len(differences) - len(waiting))
        return DeliveryResult("delivered", waiting_reason(waiting, order["name"]),
                              self._record(order, partner_ref=values.get("partner_ref", order.get("partner_ref")),
                                           lines_changed=len(writes), exceptions=len(waiting)),
                              tuple(differences), settles=("late_response",), supersedes=RESPONSE_KINDS)

    def _lower_receipts(self, found: OrderLines, writes: dict[int, dict[str, Any]]) -> None:
        """Lines whose quantity goes down: the open receipt's demand first, then the line with its own date.

        Writing a lower `product_qty` alone makes Odoo 18 expect the difference back as an outgoing
        move to the vendor (a return of what never came), leave the receipt at the old quantity and
        reset `date_planned` to the order date. With the receipt's moves lowered first, the line
        and its moves agree and Odoo adds no move; the line's `date_planned` is written with it so
        it stays (recorded: 2026-12/14-confirmed-po-line-changes.json).
        """
        for line_id, changes in writes.items():
            line = next(l for l in found.lines if l["id"] == line_id)
            ordered = number(line.get("product_qty")) or Decimal(0)
            if "product_qty" not in changes or Decimal(str(changes["product_qty"])) >= ordered:
                continue
            changes.setdefault("date_planned", line.get("date_planned"))
            [row] = self.client.read("purchase.order.line", [line_id], ["product_uom_qty"])
            ratio = (number(row.get("product_uom_qty")) or ordered) / ordered if ordered else Decimal(1)
            excess = (ordered - Decimal(str(changes["product_qty"]))) * ratio
            moves = self.client.search_read("stock.move", [("purchase_line_id", "=", line_id),
                                                           ("state", "not in", ["done", "cancel"]),
                                                           ("picking_id.picking_type_code", "=", "incoming")],
                                            ["product_uom_qty"], order="id desc")
            for move in moves:
                if excess <= 0:
                    break
                demand = number(move.get("product_uom_qty")) or Decimal(0)
                cut = min(demand, excess)
                self.client.call("stock.move", "write", [[move["id"]], {"product_uom_qty": float(demand - cut)}])
                excess -= cut

    def _line_differences(self, found: OrderLines, line: dict[str, Any], item: dict[str, Any],
                          policy: PurchasingPolicy, before: dict[str, Any] | None
                          ) -> list[tuple[Difference, dict[str, Any]]]:
        """What one response line says against the purchase line, each with the write that would apply it."""
        label, position = found.label(line), str(found.position(line))
        ordered = number(line.get("product_qty")) or Decimal(0)
        status = item.get("status") or "accepted"
        confirmed = number(item.get("confirmed_quantity"))
        date = day(item.get("delivery_date"))
        was = earlier_words(before, item)
        reason = reason_words(item.get("reason"), none="no reason given")
        found_lines: list[tuple[Difference, dict[str, Any]]] = []
        if status == "rejected":
            text = f"{label}: ordered {shown(ordered)}, the supplier rejects it, {reason}{was}"
            applied = policy.lower_quantity and ordered > 0 and not number(line.get("qty_received"))
            return [(Difference("rejected", text + ("; quantity set to 0" if applied else ""), position, applied),
                     {"product_qty": 0})]
        if status == "substituted":
            offered = product_words({"gtin": item.get("substitute_gtin"), "supplier_item": item.get("substitute_supplier_item"),
                                     "description": item.get("substitute_description")})
            return [(Difference("substituted", f"{label}: the supplier offers {offered} instead; ordered "
                                f"{shown(ordered)}, {reason}{was}; accept the substitute in Odoo or refuse it",
                                position), {})]
        if confirmed is not None and confirmed != ordered:
            when = f" for {date.isoformat()}" if date else ""
            if confirmed < ordered:
                # Odoo refuses an ordered quantity below what was received: that one waits for a person.
                applied = policy.lower_quantity and confirmed >= (number(line.get("qty_received")) or Decimal(0))
                text = f"{label}: ordered {shown(ordered)}, supplier confirms {shown(confirmed)}{when}, {reason}{was}"
                found_lines.append((Difference("quantity", text + ("; order changed to " + shown(confirmed) if applied else ""),
                                               position, applied), {"product_qty": float(confirmed)}))
            else:
                text = (f"{label}: ordered {shown(ordered)}, supplier confirms {shown(confirmed)}{when} "
                        f"({shown(confirmed - ordered)} more than ordered), {reason}{was}")
                found_lines.append((Difference("quantity", text, position), {}))
        planned = found.planned(line)
        if date and planned and date != planned:
            shift = (date - planned).days
            applied = (0 < shift <= policy.later_date_days) or (shift < 0 and policy.earlier_date)
            text = (f"{label}: planned for {planned.isoformat()}, supplier confirms {date.isoformat()} "
                    f"({abs(shift)} day{'s' if abs(shift) != 1 else ''} {'later' if shift > 0 else 'earlier'}){was}")
            found_lines.append((Difference("date", text + ("; expected date changed" if applied else ""), position, applied),
                                {"date_planned": odoo_datetime(date.isoformat())}))
        price, ours = number(item.get("unit_price")), number(line.get("price_unit"))
        if price is not None and ours is not None and price.quantize(Decimal("0.0001")) != ours.quantize(Decimal("0.0001")):
            change = (price - ours) / ours * 100 if ours else None
            applied = price < ours and policy.lower_price
            text = (f"{label}: ordered at {money(ours)}, supplier confirms {money(price)}"
                    + (f" ({change:+.1f}%)" if change is not None else "") + was)
            found_lines.append((Difference("price", text + ("; price changed" if applied else ""), position, applied),
                                {"price_unit": float(price)}))
        return found_lines

    @staticmethod
    def _response_note(vendor: dict[str, Any], document: dict[str, Any], differences: list[Difference],
                       found: OrderLines, earlier: Sequence[Earlier]) -> list[str]:
        head = (f"Order response {document.get('document_number') or '(no number)'} from {vendor['name']} (EDI)"
                + (f", replacing the earlier response {earlier[-1].document.get('document_number') or ''}".rstrip()
                   if earlier else "") + ":")
        if not differences:
            return [head, f"all {len(found.lines)} line(s) accepted as ordered."]
        return [head, *(("Applied: " if d.applied else "To check: ") + d.text for d in differences)]

    # --- ship notices ----------------------------------------------------------------------

    def _notice(self, profile: Profile, found: OrderLines, document: dict[str, Any],
                thread: Sequence[Earlier]) -> DeliveryResult:
        order, what = found.order, describe("DespatchAdvice", document)
        tag = f"{order['name']}{NOTICE_TAG}{document.get('document_number') or '(no number)'}"
        fields = present_fields(self.client, "stock.picking", PICKING_FIELDS)
        pickings = self.client.search_read("stock.picking", [("id", "in", order.get("picking_ids") or []),
                                                              ("picking_type_code", "=", "incoming")], fields,
                                           order="id")
        applied = [p for p in pickings if p.get("origin") == tag]
        if document.get("document_number") and applied:
            return DeliveryResult("delivered", f"{what} was already applied to receipt {applied[0]['name']}; "
                                               "nothing changed", self._picking_record(applied[0], order),
                                  settles=("late_asn",))
        open_ = [p for p in pickings if p["state"] not in ("done", "cancel") and NOTICE_TAG not in (p.get("origin") or "")]
        if not open_:
            claimed = [p["name"] for p in pickings if p["state"] not in ("done", "cancel")]
            return DeliveryResult("held", f"{what}: purchase order {order['name']} has no receipt left to expect it on"
                                  + (f" (receipts {', '.join(claimed)} already follow other ship notices)" if claimed
                                     else " (everything was received or cancelled)")
                                  + "; check with the supplier what this shipment is", self._record(order))
        receipt = open_[0]
        moves = self.client.search_read("stock.move", [("picking_id", "=", receipt["id"])],
                                        present_fields(self.client, "stock.move", MOVE_FIELDS), order="id")
        shipped, differences = self._shipped_per_line(found, document)
        if not shipped:
            return DeliveryResult("held", f"{what} ships nothing purchase order {order['name']} expects"
                                  + (": " + "; ".join(d.text for d in differences) if differences else
                                     " (no quantities)") + "; the receipt was left as it was", self._record(order),
                                  tuple(differences))
        confirmed = confirmed_quantities(thread, found)
        expected_elsewhere = self._expected_elsewhere(pickings, receipt, moves)
        remainders: list[tuple[dict[str, Any], Decimal]] = []
        expected: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for move in moves:
            line_id = many2one_id(move.get("purchase_line_id"))
            line = next((l for l in found.lines if l["id"] == line_id), None)
            if line is None or move["state"] in ("done", "cancel"):
                continue
            demand = number(move.get("product_uom_qty")) or Decimal(0)
            parts = shipped.pop(line_id, [])
            total = sum((part["quantity"] for part in parts), Decimal(0))
            ordered = number(line.get("product_qty")) or Decimal(0)
            received = number(line.get("qty_received")) or Decimal(0)
            coming = received + expected_elsewhere.get(line_id, Decimal(0)) + total
            if coming > ordered:
                differences.append(Difference("over_shipment", f"{found.label(line)}: supplier ships {shown(total)}, "
                                              f"{shown(coming - ordered)} more than ordered (ordered {shown(ordered)}"
                                              + (f", {shown(received)} received before" if received else "") + ")",
                                              str(found.position(line))))
            elif line_id in confirmed and coming > confirmed[line_id]:
                differences.append(Difference("over_shipment", f"{found.label(line)}: supplier ships {shown(total)}, "
                                              f"more than the {shown(confirmed[line_id])} they confirmed",
                                              str(found.position(line))))
            if total < demand:
                remainders.append((move, demand - total))
            expected.append((move, parts))
        for line_id, parts in shipped.items():  # lines of the order with no move left on this receipt
            line = next(l for l in found.lines if l["id"] == line_id)
            differences.append(Difference("over_shipment", f"{found.label(line)}: supplier ships "
                                          f"{shown(sum((p['quantity'] for p in parts), Decimal(0)))}, but nothing more "
                                          f"is expected of it on {receipt['name']}", str(found.position(line))))
        if self.dry_run:
            return DeliveryResult("delivered", f"the expected quantities would be set on {receipt['name']}"
                                  + (", the rest split into a backorder receipt" if remainders else ""),
                                  self._picking_record(receipt, order), tuple(differences))
        expiries = self._expect(receipt, expected)
        backorder = self._split(receipt, remainders, found) if remainders else None
        values: dict[str, Any] = {"origin": tag}
        if document.get("delivery_date"):
            values["scheduled_date"] = odoo_datetime(document["delivery_date"])
        if document.get("tracking_reference") and "carrier_tracking_ref" in fields:
            values["carrier_tracking_ref"] = document["tracking_reference"]
        self.client.call("stock.picking", "write", [[receipt["id"]], values])
        self._post("stock.picking", receipt["id"], self._notice_note(document, receipt, backorder, differences)
                   + ([f"Expiry per the notice: {'; '.join(expiries)}."] if expiries else []))
        waiting = [d for d in differences if not d.applied]
        if waiting:
            self._post(PURCHASE, order["id"], [f"Ship notice {document.get('document_number') or ''} on "
                                               f"{receipt['name']}:", *(d.text for d in waiting)])
        logger.info("purchase order {}: {} on receipt {}{}", order["name"], what, receipt["name"],
                    f", the rest on {backorder['name']}" if backorder else "")
        record = self._picking_record({**receipt, **values}, order, backorder=backorder and backorder["name"],
                                      exceptions=len(waiting))
        return DeliveryResult("delivered", waiting_reason(waiting, order["name"]), record, tuple(differences),
                              settles=("late_asn",))

    def _shipped_per_line(self, found: OrderLines, document: dict[str, Any]
                          ) -> tuple[dict[int, list[dict[str, Any]]], list[Difference]]:
        """The notice's quantities per purchase line, each part with its lot, serial, expiry and SSCC."""
        shipped: dict[int, list[dict[str, Any]]] = {}
        differences = []
        entries = [(item, package.get("sscc")) for package in document.get("packages") or []
                   for item in package.get("lines") or []]
        entries += [(item, None) for item in document.get("lines") or []]
        for item, sscc in entries:
            quantity = number(item.get("quantity"))
            line = found.find(item)
            if line is None:
                differences.append(Difference("unknown_line", f"the ship notice has {product_words(item)} "
                                              f"({shown(quantity)}) that purchase order {found.order['name']} never "
                                              "had; it is not expected on the receipt", item.get("line_number")))
                continue
            differences += found.unit_differences(line, item, "ship notice")
            if quantity is not None and quantity < 0:
                differences.append(Difference("quantity", f"{found.label(line)}: the ship notice ships {shown(quantity)}; "
                                              "a negative quantity is not expected on the receipt",
                                              str(found.position(line))))
                continue
            if not quantity:
                continue
            shipped.setdefault(line["id"], []).append({"quantity": quantity, "lot": item.get("lot") or item.get("serial"),
                                                       "expiry": item.get("expiry_date"), "sscc": sscc})
        return shipped, differences

    def _expected_elsewhere(self, pickings: list[dict[str, Any]], receipt: dict[str, Any],
                            moves: list[dict[str, Any]]) -> dict[int, Decimal]:
        """Per purchase line, what other open receipts already expect under an earlier ship notice."""
        others = [p["id"] for p in pickings if p["id"] != receipt["id"] and p["state"] not in ("done", "cancel")
                  and NOTICE_TAG in (p.get("origin") or "")]
        expected: dict[int, Decimal] = {}
        if others:
            for move in self.client.search_read("stock.move", [("picking_id", "in", others)],
                                                ["purchase_line_id", "product_uom_qty", "quantity"]):
                line_id = many2one_id(move.get("purchase_line_id"))
                if line_id:
                    expected[line_id] = expected.get(line_id, Decimal(0)) + (number(move.get("quantity")) or Decimal(0))
        return expected

    def _expect(self, receipt: dict[str, Any], expected: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[str]:
        """The receipt's expected quantities as the notice says: one move line per lot and package.

        Demands are lowered to what is shipped first (the rest goes to the backorder), then the
        receipt's move lines — whatever Odoo reserved, before or after that — are replaced.
        Returns the expiry dates this Odoo has no field for (without the product_expiry app),
        for the receipt's note.
        """
        for move, parts in expected:
            total = sum((part["quantity"] for part in parts), Decimal(0))
            if 0 < total < (number(move.get("product_uom_qty")) or Decimal(0)):
                self.client.call("stock.move", "write", [[move["id"]], {"product_uom_qty": float(total)}])
        reserved = self.client.call("stock.move.line", "search", [[("picking_id", "=", receipt["id"])]])
        if reserved:
            self.client.call("stock.move.line", "unlink", [reserved])
        has_expiry = self.client.has_field("stock.move.line", "expiration_date")
        packages = self._packages([part["sscc"] for _, parts in expected for part in parts if part.get("sscc")])
        values, unrecorded = [], []
        for move, parts in expected:
            for part in parts:
                line = {"move_id": move["id"], "picking_id": receipt["id"],
                        "product_id": many2one_id(move["product_id"]),
                        "product_uom_id": many2one_id(move.get("product_uom")),
                        "location_id": many2one_id(move.get("location_id")) or many2one_id(receipt.get("location_id")),
                        "location_dest_id": many2one_id(move.get("location_dest_id"))
                        or many2one_id(receipt.get("location_dest_id")),
                        "quantity": float(part["quantity"])}
                if part.get("lot"):
                    line["lot_name"] = part["lot"]
                if part.get("sscc"):
                    line["result_package_id"] = packages[part["sscc"]]
                if part.get("expiry") and has_expiry:
                    line["expiration_date"] = odoo_datetime(part["expiry"])
                elif part.get("expiry"):
                    unrecorded.append(f"lot {part.get('lot') or '(none)'} of {many2one_name(move['product_id'])} "
                                      f"expires {part['expiry'][:10]}")
                values.append(line)
        if values:
            self.client.call("stock.move.line", "create", [values])
        return unrecorded

    def _packages(self, ssccs: list[str]) -> dict[str, int]:
        """The packages named by these SSCCs, those Odoo does not have yet created: two calls at most."""
        if not ssccs:
            return {}
        found = {row["name"]: row["id"] for row in self.client.search_read(
            "stock.quant.package", [("name", "in", sorted(set(ssccs)))], ["name"])}
        missing = sorted(set(ssccs) - set(found))
        if missing:
            found.update(zip(missing, self.client.call("stock.quant.package", "create",
                                                       [[{"name": sscc} for sscc in missing]])))
        return found

    def _split(self, receipt: dict[str, Any], remainders: list[tuple[dict[str, Any], Decimal]],
               found: OrderLines) -> dict[str, Any]:
        """What the notice does not ship goes to a backorder receipt, as Odoo's own backorders do it:
        a move shipped in part leaves a new move for the rest; a move not shipped at all moves over.
        The rest is expected when its lines are planned (`date_planned`, the confirmed date once
        applied), not now, which is what Odoo gives a picking created without a date."""
        order = found.order
        whole = [move["id"] for move, rest in remainders if rest == (number(move.get("product_uom_qty")) or Decimal(0))]
        planned = {line["id"]: line.get("date_planned") for line in found.lines}
        dates = sorted(d for d in (planned.get(many2one_id(move.get("purchase_line_id"))) for move, _ in remainders) if d)
        values = {"partner_id": many2one_id(receipt.get("partner_id")),
                  "picking_type_id": many2one_id(receipt.get("picking_type_id")),
                  "location_id": many2one_id(receipt.get("location_id")),
                  "location_dest_id": many2one_id(receipt.get("location_dest_id")),
                  "origin": order["name"], "backorder_id": receipt["id"],
                  "move_ids": [[0, 0, {"name": move.get("name") or order["name"],
                                       "product_id": many2one_id(move["product_id"]),
                                       "product_uom_qty": float(rest), "product_uom": many2one_id(move.get("product_uom")),
                                       "purchase_line_id": many2one_id(move.get("purchase_line_id")),
                                       "location_id": many2one_id(move.get("location_id")),
                                       "location_dest_id": many2one_id(move.get("location_dest_id")),
                                       **({"date": planned[line]} if planned.get(line := many2one_id(
                                           move.get("purchase_line_id"))) else {})}]
                               for move, rest in remainders if move["id"] not in whole]}
        if dates:
            values["scheduled_date"] = dates[0]
        backorder_id = self.client.create("stock.picking", values)
        if whole:
            self.client.call("stock.move", "write", [whole, {"picking_id": backorder_id}])
        if dates:  # the moves that came over keep their dates; the picking is the earliest of them
            self.client.call("stock.picking", "write", [[backorder_id], {"scheduled_date": dates[0]}])
        self.client.call("stock.picking", "action_confirm", [[backorder_id]])
        self.client.call("stock.picking", "action_assign", [[backorder_id]])
        [backorder] = self.client.read("stock.picking", [backorder_id], ["name", "state"])
        return backorder

    @staticmethod
    def _notice_note(document: dict[str, Any], receipt: dict[str, Any], backorder: dict[str, Any] | None,
                     differences: list[Difference]) -> list[str]:
        facts = [f"shipped {document['despatch_date'][:10]}" if document.get("despatch_date") else None,
                 f"expected {document['delivery_date'][:10]}" if document.get("delivery_date") else None,
                 f"carrier {document['carrier']}" if document.get("carrier") else None,
                 f"tracking {document['tracking_reference']}" if document.get("tracking_reference") else None,
                 f"{len(document.get('packages') or [])} package(s)" if document.get("packages") else None]
        head = (f"Ship notice {document.get('document_number') or '(no number)'} (EDI)"
                + (f": {', '.join(f for f in facts if f)}" if any(facts) else "") + ".")
        lines = [head, f"Expected quantities, lots and packages set on {receipt['name']} as the notice says."]
        if backorder:
            lines.append(f"What the notice does not ship is expected on {backorder['name']}.")
        lines += [f"To check: {d.text}" for d in differences if not d.applied]
        return lines

    @staticmethod
    def _picking_record(picking: dict[str, Any], order: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"model": "stock.picking", "id": picking["id"], "name": picking["name"], "purchase_order": order["name"],
                **{k: v for k, v in more.items() if v is not None}}

    # --- invoices --------------------------------------------------------------------------

    def _billed_already(self, profile: Profile, vendor: dict[str, Any], document: dict[str, Any]) -> DeliveryResult | None:
        reference = document.get("document_number")
        if not reference:
            return DeliveryResult("held", "the invoice has no number, so it cannot be billed exactly once; "
                                          "ask the supplier for a corrected invoice")
        rows = self.client.search_read("account.move", [("move_type", "in", ["in_invoice", "in_refund"]),
                                                        ("partner_id", "child_of", vendor["id"]),
                                                        ("ref", "=", str(reference)), ("state", "!=", "cancel")],
                                       ["name", "state", "move_type", "amount_total"], limit=1)
        if not rows:
            return None
        bill = rows[0]
        kind = "credit note" if bill["move_type"] == "in_refund" else "invoice"
        return DeliveryResult("duplicate", f"{kind} {reference} from {vendor['name']} is already in Odoo as "
                                           f"{bill['name'] or 'a draft bill'} ({bill['state']}); it is not billed twice",
                              {"model": "account.move", "id": bill["id"], "name": bill["name"], "state": bill["state"],
                               "created": False})

    def _bill(self, profile: Profile, vendor: dict[str, Any], found: OrderLines, document: dict[str, Any],
              thread: Sequence[Earlier]) -> DeliveryResult:
        order, policy = found.order, profile.purchasing
        refund = document.get("document_type") == "credit_note"
        what = describe("Invoice", document)
        shipped = shipped_quantities(thread, found) if policy.bill_quantity == "shipped" else {}
        differences: list[Difference] = []
        invoice_lines = []
        billed_now: dict[int, Decimal] = {}
        for item in document.get("lines") or []:
            quantity, price = number(item.get("quantity")) or Decimal(0), number(item.get("unit_price"))
            line = found.find(item)
            if line is None:
                differences.append(Difference("unknown_line", f"the invoice bills {product_words(item)} "
                                              f"({shown(quantity)} at {money(price)}) that purchase order "
                                              f"{order['name']} never had", item.get("line_number")))
                invoice_lines.append({"name": product_words(item), "quantity": float(quantity),
                                      "price_unit": float(price or 0)})
                continue
            differences += found.unit_differences(line, item, "invoice")
            differences += self._match(found, line, quantity, price, policy, refund, shipped,
                                       billed_now.get(line["id"], Decimal(0)))
            billed_now[line["id"]] = billed_now.get(line["id"], Decimal(0)) + quantity
            product = many2one_id(line.get("product_id"))
            invoice_lines.append({"product_id": product, "quantity": float(quantity),
                                  "price_unit": float(price if price is not None else number(line.get("price_unit")) or 0),
                                  "purchase_line_id": line["id"], "product_uom_id": many2one_id(line.get("product_uom"))})
        if not invoice_lines:
            return DeliveryResult("held", f"{what} has no lines to bill", self._record(order))
        differences += currency_differences(document, order)
        if differences and policy.on_mismatch == "hold":
            return self._hold_bill(vendor, order, what, differences)
        move_type = "in_refund" if refund else "in_invoice"
        values = {"move_type": move_type, "partner_id": vendor["id"], "ref": document["document_number"],
                  "invoice_origin": order["name"], "invoice_line_ids": [[0, 0, line] for line in invoice_lines]}
        if many2one_id(order.get("currency_id")):  # as Odoo bills an order: in its currency, not the company's
            values["currency_id"] = many2one_id(order["currency_id"])
        if document.get("document_date"):
            values["invoice_date"] = document["document_date"][:10]
        if document.get("due_date"):
            values["invoice_date_due"] = document["due_date"][:10]
        if self.dry_run:
            return DeliveryResult("delivered", f"a {'refund' if refund else 'vendor bill'} would be made, "
                                  + ("posted" if policy.post_bills and not differences else "as a draft"),
                                  self._record(order), tuple(differences))
        bill_id = self.client.create("account.move", values, {"default_move_type": move_type})
        [bill] = self.client.read("account.move", [bill_id], ["name", "state", "amount_total", "amount_untaxed"])
        totals = total_differences(document, bill)
        if totals and policy.on_mismatch == "hold":
            # only the bill Odoo computed knows its total: the draft made to learn it goes again
            self.client.call("account.move", "unlink", [[bill_id]])
            return self._hold_bill(vendor, order, what, differences + totals)
        differences += totals
        post = policy.post_bills and not differences
        if post and not values.get("invoice_date"):
            differences.append(Difference("date", f"{what} carries no date; the bill is left as a draft to date it"))
            post = False
        if post:
            self.client.call("account.move", "action_post", [[bill_id]])
            [bill] = self.client.read("account.move", [bill_id], ["name", "state", "amount_total", "amount_untaxed"])
        self._post("account.move", bill_id, [f"{what} from {vendor['name']} (EDI), for {order['name']}: "
                                             + ("matches the order and the receipts." if not differences else
                                                "does not match; the bill is a draft until someone checks it."),
                                             *(f"To check: {d.text}" for d in differences)])
        logger.info("purchase order {}: {} billed as {} ({}), {} difference(s)", order["name"], what,
                    bill["name"] or bill_id, bill["state"], len(differences))
        return DeliveryResult("delivered", waiting_reason(differences, order["name"]),
                              {"model": "account.move", "id": bill_id, "name": bill["name"], "state": bill["state"],
                               "move_type": move_type, "purchase_order": order["name"], "created": True,
                               "amount_total": bill["amount_total"], "exceptions": len(differences)},
                              tuple(differences), settles=("late_invoice",))

    def _hold_bill(self, vendor: dict[str, Any], order: dict[str, Any], what: str,
                   differences: list[Difference]) -> DeliveryResult:
        self._post(PURCHASE, order["id"], [f"{what} from {vendor['name']} (EDI) is held, not billed:",
                                           *(d.text for d in differences)])
        return DeliveryResult("held", f"{what} does not match purchase order {order['name']}: "
                              + "; ".join(d.text for d in differences), self._record(order), tuple(differences),
                              settles=("late_invoice",))

    @staticmethod
    def _match(found: OrderLines, line: dict[str, Any], quantity: Decimal, price: Decimal | None,
               policy: PurchasingPolicy, refund: bool, shipped: dict[int, Decimal], also: Decimal) -> list[Difference]:
        """The three-way match of one billed line: ordered, received (or shipped), billed before; and the price."""
        label, position = found.label(line), str(found.position(line))
        ordered = number(line.get("product_qty")) or Decimal(0)
        received = number(line.get("qty_received")) or Decimal(0)
        billed = (number(line.get("qty_invoiced")) or Decimal(0)) + also
        basis, word = received, "received"
        if policy.bill_quantity == "shipped" and shipped.get(line["id"], Decimal(0)) > received:
            basis, word = shipped[line["id"]], "shipped per the ship notices"
        found_differences = []
        if refund:
            if quantity > billed:
                found_differences.append(Difference("refund_quantity", f"{label}: the credit note credits "
                                                    f"{shown(quantity)}, only {shown(billed)} was billed", position))
        elif billed + quantity > basis:
            before = f", {shown(billed)} billed before" if billed else ""
            found_differences.append(Difference("billed_quantity", f"{label}: billed {shown(quantity)}, "
                                                f"{word} {shown(basis)} (ordered {shown(ordered)}{before})", position))
        elif billed + quantity > ordered:
            # more came than was ordered (an over-shipment): what was received does not make it billable
            before = f", {shown(billed)} billed before" if billed else ""
            found_differences.append(Difference("billed_quantity", f"{label}: billed {shown(quantity)}, "
                                                f"ordered {shown(ordered)} ({word} {shown(basis)}{before})", position))
        ours = number(line.get("price_unit"))
        if price is not None and ours:
            off = abs(price - ours) / ours * 100
            if off > Decimal(str(policy.price_tolerance)) and price.quantize(Decimal("0.0001")) != ours.quantize(Decimal("0.0001")):
                found_differences.append(Difference("billed_price", f"{label}: billed at {money(price)}, ordered at "
                                                    f"{money(ours)} ({(price - ours) / ours * 100:+.1f}%)", position))
        return found_differences


# --- words and the thread ------------------------------------------------------------------


def describe(document_type: str, document: dict[str, Any]) -> str:
    names = {"OrderResponse": "order response", "DespatchAdvice": "ship notice", "Invoice": "invoice"}
    name = names.get(document_type, document_type)
    if document_type == "Invoice" and document.get("document_type") == "credit_note":
        name = "credit note"
    return f"{name} {document.get('document_number') or '(no number)'}"


def product_words(item: dict[str, Any]) -> str:
    """A document line's product as the partner named it: "EAN 4006381333931 (Widget)"."""
    parts = [f"EAN {item['gtin']}" if item.get("gtin") else None, f"UPC {item['upc']}" if item.get("upc") else None,
             f"their item {item['supplier_item']}" if item.get("supplier_item") else None,
             f"our item {item['buyer_item']}" if item.get("buyer_item") else None]
    named = next((p for p in parts if p), "an unnamed product")
    return f"{named} ({item['description']})" if item.get("description") else named


def reason_words(reason: Any, none: str = "") -> str:
    if reason:
        return f"reason: {reason}" if none else f" (reason: {reason})"
    return none


def waiting_reason(waiting: Sequence[Difference], order: str) -> str | None:
    if not waiting:
        return None
    return f"{len(waiting)} difference(s) wait for a person: edigw exceptions list --order {order}"


def previous_line(earlier: Sequence[Earlier], found: OrderLines, line: dict[str, Any]) -> dict[str, Any] | None:
    """What the latest earlier response said of this purchase line, with that response's number."""
    for entry in reversed(earlier):
        for item in entry.document.get("lines") or []:
            if found.find(item) is line:
                return {**item, "_response": entry.document.get("document_number") or f"message {entry.message_id}"}
    return None


def earlier_words(before: dict[str, Any] | None, item: dict[str, Any]) -> str:
    """" (the earlier response 77 confirmed 30 for 2026-12-01)" when it said something else."""
    if not before:
        return ""
    said = []
    if before.get("status") != item.get("status") and before.get("status") in ("rejected", "substituted"):
        said.append(f"had {before['status']} it")
    if before.get("confirmed_quantity") != item.get("confirmed_quantity") and before.get("confirmed_quantity"):
        said.append(f"confirmed {shown(number(before['confirmed_quantity']))}")
    if before.get("delivery_date") != item.get("delivery_date") and before.get("delivery_date"):
        said.append(f"promised {before['delivery_date'][:10]}")
    if before.get("unit_price") != item.get("unit_price") and before.get("unit_price"):
        said.append(f"quoted {money(number(before['unit_price']))}")
    return f" (the earlier response {before['_response']} {' and '.join(said)})" if said else ""


def confirmed_quantities(thread: Sequence[Earlier], found: OrderLines) -> dict[int, Decimal]:
    """Per purchase line, the quantity the latest response confirmed (rejected: 0)."""
    confirmed: dict[int, Decimal] = {}
    for entry in thread:
        if entry.document_type != "OrderResponse":
            continue
        for item in entry.document.get("lines") or []:
            line = found.find(item)
            if line is None:
                continue
            if item.get("status") == "rejected":
                confirmed[line["id"]] = Decimal(0)
            elif number(item.get("confirmed_quantity")) is not None:
                confirmed[line["id"]] = number(item["confirmed_quantity"])
    return confirmed


def shipped_quantities(thread: Sequence[Earlier], found: OrderLines) -> dict[int, Decimal]:
    """Per purchase line, what the ship notices delivered so far say was shipped."""
    shipped: dict[int, Decimal] = {}
    for entry in thread:
        if entry.document_type != "DespatchAdvice":
            continue
        items = [i for p in entry.document.get("packages") or [] for i in p.get("lines") or []]
        for item in items + list(entry.document.get("lines") or []):
            line = found.find(item)
            if line is not None:
                shipped[line["id"]] = shipped.get(line["id"], Decimal(0)) + (number(item.get("quantity")) or Decimal(0))
    return shipped


def currency_differences(document: dict[str, Any], order: dict[str, Any]) -> list[Difference]:
    """An invoice in another currency than its purchase order: the bill is made in the order's
    currency (its prices are the order's), so the amounts the supplier asks for would be misread."""
    theirs, ours = (document.get("currency") or "").strip().upper(), many2one_name(order.get("currency_id"))
    if not theirs or not ours or theirs == ours.upper():
        return []
    return [Difference("currency", f"the invoice is in {theirs}, purchase order {order['name']} is in {ours}")]


def total_differences(document: dict[str, Any], bill: dict[str, Any]) -> list[Difference]:
    """The invoice's own totals against the bill Odoo computed from the lines.

    The stated total (TDS, MOA 77/86 …) is what the supplier asks to be paid, so it is compared
    with the bill's total as Odoo computes it, taxes included, whether or not the invoice lists
    its taxes: an invoice without tax lines whose products carry a purchase tax in Odoo would
    otherwise be paid above what it states.
    """
    found = []
    for key, odoo_key, words in (("total_net", "amount_untaxed", "net total"), ("total_amount", "amount_total", "total")):
        theirs, ours = number(document.get(key)), number(bill.get(odoo_key))
        if theirs is not None and ours is not None and abs(abs(theirs) - abs(ours)) > Decimal("0.01"):
            untaxed = key == "total_amount" and not (document.get("total_tax") or document.get("taxes"))
            found.append(Difference("billed_total", f"the invoice's {words} is {money(theirs)}, the bill Odoo computed "
                                    f"from its lines is {money(ours)}"
                                    + (" (the invoice states no taxes; Odoo added its own)" if untaxed and ours > theirs
                                       else "")))
    return found
