"""A customer's changes to its orders (860 / ORDCHG) applied to the sale order, under the profile's rules.

`OrderChanges.deliver` finds the sale order by customer and `client_order_ref`, and never
overwrites it blindly: each line of the change is checked against what Odoo holds, applied when
the profile's `changes:` section allows that kind of change, and otherwise becomes an exception
(a `Difference`, posted to the order's chatter) and is answered as rejected with a reason code.

- A draft quotation is changed in place. A confirmed order is changed the way Odoo 18 does it
  (`product_uom_qty` written on its lines: the delivery move follows, see ADDENDUM-2026-12 of
  the recordings), or every change is an exception when the profile says `on_confirmed:
  exception`.
- Refused whatever the profile says: a quantity below what was delivered, a change to a line
  fully shipped, a price outside `price_tolerance`, any change to a cancelled or invoiced order.
- A change carries new values, not differences: delivering it again finds them in Odoo already
  and writes nothing twice.
- A change for an order Odoo does not have is held with the reason; the pipeline delivers it
  again after the order arrives (see `Pipeline`), so a change sent before its order is not lost.

The result's record holds the answer per line (`answer`: line, change, status accepted |
rejected, reason code, text): what an 865 / ORDRSP to the customer says.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Sequence

from gateway.odoo.client import OdooClient, OdooError
from gateway.odoo.inbound import barcode_forms, held_for, odoo_datetime
from gateway.odoo.outbound import many2one_id, present_fields
from gateway.odoo.purchasing import number, profile_partner, shown
from gateway.documents import OrderResponse, Party, ResponseLine
from gateway.order_threads import Difference
from gateway.pipeline import DeliveryResult, Earlier
from gateway.profiles import ChangePolicy, Profile

SALE_ORDER = "sale.order"
ORDER_FIELDS = ["name", "state", "partner_id", "client_order_ref", "invoice_status", "commitment_date"]
LINE_FIELDS = ["sequence", "display_type", "product_id", "name", "product_uom_qty", "qty_delivered",
               "qty_invoiced", "price_unit", "product_uom"]
NOTE = {"message_type": "comment", "subtype_xmlid": "mail.mt_note"}

# Reason codes of a rejected change, as the answer carries them.
NOT_ALLOWED = "not_allowed"  # the profile does not let the gateway apply this kind of change
CONFIRMED = "order_confirmed"  # on_confirmed: exception
CANCELLED = "order_cancelled"
INVOICED = "order_invoiced"
BELOW_DELIVERED = "below_delivered"
SHIPPED = "line_shipped"
PRICE = "price_tolerance"
UNKNOWN_LINE = "unknown_line"
UNKNOWN_PRODUCT = "unknown_product"


class OrderChanges:
    """Applies customers' order changes to sale orders (see the module docstring)."""

    TYPES = ("OrderChange",)

    def __init__(self, client: OdooClient, dry_run: bool = False) -> None:
        self.client = client
        self.dry_run = dry_run  # check only, write nothing (`edigw partners test`)

    def preview(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> dict[str, Any]:
        """What delivering would do, nothing written: the writes Odoo would get and the answer."""
        result = OrderChanges(self.client, dry_run=True).deliver(profile, document_type, document, thread)
        record = result.record or {}
        return {"model": record.get("model"), "action": "apply" if result.state == "delivered" else "hold",
                "record": record, "writes": record.get("writes", []), "answer": record.get("answer", []),
                "problems": [result.reason] if result.state != "delivered" and result.reason else [],
                "differences": [{"kind": d.kind, "line": d.line, "text": d.text, "applied": d.applied}
                                for d in result.differences]}

    def deliver(self, profile: Profile, document_type: str, document: dict[str, Any],
                thread: Sequence[Earlier] = ()) -> DeliveryResult:
        reference = document.get("order_number")
        try:
            customer = profile_partner(self.client, profile)
            if isinstance(customer, DeliveryResult):
                return customer
            if not reference:
                return DeliveryResult("held", "the order change names no order (BCH03 / RFF ON); "
                                              "ask the customer for the order number")
            rows = self.client.search_read(
                SALE_ORDER, [("partner_id", "child_of", customer["id"]), ("client_order_ref", "=", str(reference))],
                ORDER_FIELDS, order="id desc", limit=1)
            if not rows:
                return DeliveryResult(
                    "held", f"order change {document.get('document_number') or ''} is for order {reference}, which "
                            f"Odoo does not have for {customer['name']} (yet): it waits, and is applied when the "
                            "order arrives; if the order came another way, reprocess from deliver")
            return _Applying(self, profile.changes, rows[0], document).run()
        except OdooError as error:
            return held_for(error, f"Odoo refused a call while applying the change to order {reference}: "
                                   f"{error.kind}: {error.message}; fix it and reprocess from deliver")


class _Applying:
    """One change applied to one sale order: the checks, the writes, the answer."""

    def __init__(self, owner: OrderChanges, policy: ChangePolicy, order: dict[str, Any],
                 document: dict[str, Any]) -> None:
        self.client, self.dry_run, self.policy = owner.client, owner.dry_run, policy
        self.order, self.document = order, document
        self.differences: list[Difference] = []
        self.answer: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []
        self.applied: list[str] = []

    # --- the whole change --------------------------------------------------------------

    def run(self) -> DeliveryResult:
        order, document = self.order, self.document
        lines = [line for line in self.client.search_read(
            "sale.order.line", [("order_id", "=", order["id"])],
            present_fields(self.client, "sale.order.line", LINE_FIELDS), order="sequence, id")
            if not line.get("display_type")]
        blocked = self._order_blocked()
        if document.get("purpose") == "cancel":
            self._cancel_order(lines, blocked)
        else:
            if document.get("requested_delivery_date"):
                self._order_date(blocked)
            for position, change in enumerate(document.get("lines") or [], start=1):
                self._line(change, position, lines, blocked)
        if self.applied:
            self._post([f"EDI order change {document.get('document_number') or ''} applied:"] + self.applied)
        if self.differences:
            self._post([f"EDI order change {document.get('document_number') or ''}: not applied, for a person:"]
                       + [d.text for d in self.differences if not d.applied])
        state = self.client.read(SALE_ORDER, [order["id"]], ["state"])[0]["state"] if self.writes and not \
            self.dry_run else order["state"]
        record = {"model": SALE_ORDER, "id": order["id"], "name": order["name"], "state": state,
                  "writes": self.writes, "answer": self.answer}
        rejected = sum(1 for entry in self.answer if entry["status"] == "rejected")
        reason = f"{rejected} of {len(self.answer)} changes rejected" if rejected else None
        return DeliveryResult("delivered", reason, record, tuple(self.differences))

    def _order_blocked(self) -> str | None:
        """Why no change may touch this order at all, whatever the profile says, as a reason code."""
        if self.order["state"] == "cancel":
            return CANCELLED
        if self.order.get("invoice_status") == "invoiced":
            return INVOICED
        if self.order["state"] in ("sale", "done") and self.policy.on_confirmed != "apply":
            return CONFIRMED
        return None

    def _blocked_text(self, code: str) -> str:
        name = self.order["name"]
        return {CANCELLED: f"{name} is cancelled in Odoo", INVOICED: f"{name} is fully invoiced",
                CONFIRMED: f"{name} is confirmed and the profile applies changes to quotations only "
                           "(changes.on_confirmed: exception)"}[code]

    def _cancel_order(self, lines: list[dict[str, Any]], blocked: str | None) -> None:
        if self.order["state"] == "cancel":
            self._accept(None, "cancel_order", f"{self.order['name']} was cancelled already")
            return
        refused = blocked or (NOT_ALLOWED if "cancel_order" not in self.policy.apply else None)
        if refused is None and any((number(line.get("qty_delivered")) or 0) > 0 for line in lines):
            refused = SHIPPED
        if refused is not None:
            text = {NOT_ALLOWED: f"the customer cancels {self.order['name']}; the profile does not cancel orders by "
                                 "itself (changes.apply: cancel_order)",
                    SHIPPED: f"the customer cancels {self.order['name']}, which has shipped goods already"
                    }.get(refused) or f"the customer cancels {self.order['name']}, but {self._blocked_text(refused)}"
            self._reject(None, "cancel_order", refused, text)
            return
        self._write(SALE_ORDER, "action_cancel", [[self.order["id"]]], {"context": {"disable_cancel_warning": True}})
        self._accept(None, "cancel_order", f"{self.order['name']} cancelled at the customer's request")

    def _order_date(self, blocked: str | None) -> None:
        wanted = self.document["requested_delivery_date"]
        current = (self.order.get("commitment_date") or "")[:10]
        if current == wanted[:10]:
            self._accept(None, "date", f"delivery date {wanted} (already so)")
            return
        refused = blocked or (NOT_ALLOWED if "date" not in self.policy.apply else None)
        if refused is not None:
            self._reject(None, "date", refused, f"the customer asks delivery on {wanted} instead of "
                                                f"{current or 'no date'}: {self._why(refused)}")
            return
        self._write(SALE_ORDER, "write", [[self.order["id"]], {"commitment_date": odoo_datetime(wanted)}])
        self._accept(None, "date", f"delivery date {current or 'none'} → {wanted}")

    # --- one line ------------------------------------------------------------------------

    def _line(self, change: dict[str, Any], position: int, lines: list[dict[str, Any]], blocked: str | None) -> None:
        label = change.get("line_number") or str(position)
        kind = change.get("change") or "change"
        if kind == "no_change":
            self._accept(label, kind, "no change")
            return
        product = self._product(change)
        line = self._sale_line(change, product, lines)
        if kind in ("add", "replace") and line is None:
            self._add(label, change, product, blocked)
            return
        if line is None and kind == "cancel" and product is not None:
            self._accept(label, "cancel_line", f"line {label}: {product['display_name']} is not on the order (already so)")
            return
        if line is None:
            self._reject(label, kind, UNKNOWN_LINE, f"line {label}: {self.order['name']} has no such line "
                                                     f"({self._item(change)})")
            return
        if kind == "cancel":
            self._set_quantity(label, "cancel_line", line, Decimal(0), blocked)
            return
        wanted = number(change.get("quantity"))
        if wanted is not None and wanted != number(line.get("product_uom_qty")):
            grows = wanted > (number(line.get("product_uom_qty")) or 0)
            self._set_quantity(label, "quantity_increase" if grows else "quantity_decrease", line, wanted, blocked)
        price = number(change.get("unit_price"))
        if price is not None and price != number(line.get("price_unit")):
            self._set_price(label, line, price, blocked)
        if change.get("delivery_date") and not self.document.get("requested_delivery_date"):
            self.document = {**self.document, "requested_delivery_date": change["delivery_date"]}
            self._order_date(blocked)
        if not any(entry["line"] == label for entry in self.answer):
            self._accept(label, kind, "already so in Odoo")

    def _set_quantity(self, label: str, kind: str, line: dict[str, Any], wanted: Decimal,
                      blocked: str | None) -> None:
        current = number(line.get("product_uom_qty")) or Decimal(0)
        delivered = number(line.get("qty_delivered")) or Decimal(0)
        what = f"line {label} ({line['name'].splitlines()[0] if line.get('name') else 'product'})"
        if wanted == current:
            self._accept(label, kind, f"{what}: quantity {shown(wanted)} (already so)")
            return
        refused = blocked or (NOT_ALLOWED if kind not in self.policy.apply else None)
        if refused is None and delivered > 0 and delivered >= current:
            refused = SHIPPED
        elif refused is None and wanted < delivered:
            refused = BELOW_DELIVERED
        if refused is not None:
            self._reject(label, kind, refused, f"{what}: the customer asks {shown(wanted)} instead of "
                                               f"{shown(current)}: {self._why(refused, delivered)}")
            return
        if wanted == 0 and self.order["state"] in ("draft", "sent"):
            self._write("sale.order.line", "unlink", [[line["id"]]])  # a quotation simply loses the line
        else:  # a confirmed order keeps the line at 0: Odoo cancels its delivery move
            self._write("sale.order.line", "write", [[line["id"]], {"product_uom_qty": float(wanted)}])
        line["product_uom_qty"] = float(wanted)
        self._accept(label, kind, f"{what}: quantity {shown(current)} → {shown(wanted)}")

    def _set_price(self, label: str, line: dict[str, Any], wanted: Decimal, blocked: str | None) -> None:
        current = number(line.get("price_unit")) or Decimal(0)
        refused = blocked or (NOT_ALLOWED if "price" not in self.policy.apply else None)
        tolerance = self.policy.price_tolerance
        if refused is None and tolerance is not None and current and \
                abs(wanted - current) * 100 / current > Decimal(str(tolerance)):
            refused = PRICE
        if refused is None and (number(line.get("qty_invoiced")) or 0) > 0:
            refused = INVOICED
        if refused is not None:
            self._reject(label, "price", refused, f"line {label}: the customer asks price {wanted} instead of "
                                                  f"{current}: {self._why(refused)}")
            return
        self._write("sale.order.line", "write", [[line["id"]], {"price_unit": float(wanted)}])
        self._accept(label, "price", f"line {label}: price {current} → {wanted}")

    def _add(self, label: str, change: dict[str, Any], product: dict[str, Any] | None, blocked: str | None) -> None:
        refused = blocked or (NOT_ALLOWED if "add_line" not in self.policy.apply else None)
        if refused is None and product is None:
            refused = UNKNOWN_PRODUCT
        quantity = number(change.get("quantity")) or Decimal(1)
        if refused is not None:
            self._reject(label, "add_line", refused, f"line {label}: the customer adds {shown(quantity)} × "
                                                     f"{self._item(change)}: {self._why(refused)}")
            return
        values: dict[str, Any] = {"order_id": self.order["id"], "product_id": product["id"],
                                  "product_uom_qty": float(quantity)}
        if change.get("unit_price"):
            values["price_unit"] = float(Decimal(change["unit_price"]))
        self._write("sale.order.line", "create", [values])
        self._accept(label, "add_line", f"line {label} added: {shown(quantity)} × {product['display_name']}")

    # --- look-ups --------------------------------------------------------------------------

    def _product(self, change: dict[str, Any]) -> dict[str, Any] | None:
        barcodes = [form for key in ("gtin", "upc") if change.get(key) for form in barcode_forms(change[key])]
        codes = [change[key] for key in ("supplier_item", "buyer_item") if change.get(key)]
        for field, values in (("barcode", barcodes), ("default_code", codes)):
            if values:
                rows = self.client.search_read("product.product", [(field, "in", values)], ["display_name"], limit=1)
                if rows:
                    return rows[0]
        return None

    @staticmethod
    def _sale_line(change: dict[str, Any], product: dict[str, Any] | None,
                   lines: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The order's line of the product the change names, else the line at its line number."""
        if product is not None:
            return next((line for line in lines if many2one_id(line.get("product_id")) == product["id"]), None)
        label = change.get("line_number") or ""
        if label.isdigit() and 0 < int(label) <= len(lines) and change.get("change") not in ("add", "replace"):
            return lines[int(label) - 1]
        return None

    @staticmethod
    def _item(change: dict[str, Any]) -> str:
        for key in ("gtin", "upc", "supplier_item", "buyer_item", "description"):
            if change.get(key):
                return f"{key.replace('_', ' ')} {change[key]}"
        return "no item number"

    def _why(self, code: str, delivered: Decimal | None = None) -> str:
        if code in (CANCELLED, INVOICED, CONFIRMED):
            return self._blocked_text(code)
        return {NOT_ALLOWED: "the profile does not apply this kind of change by itself (changes.apply)",
                BELOW_DELIVERED: f"{shown(delivered)} were delivered already; a return comes first",
                SHIPPED: "the line is shipped",
                PRICE: f"more than the {self.policy.price_tolerance or 0:g}% the profile allows "
                       "(changes.price_tolerance)",
                INVOICED: "the line is invoiced",
                UNKNOWN_PRODUCT: "Odoo has no product with that number"}.get(code, code)

    # --- results --------------------------------------------------------------------------

    def _accept(self, label: str | None, kind: str, text: str) -> None:
        self.answer.append({"line": label, "change": kind, "status": "accepted", "text": text})
        if "already" not in text and "no change" not in text:
            self.applied.append(text)
            self.differences.append(Difference(kind, text, label, applied=True))

    def _reject(self, label: str | None, kind: str, code: str, text: str) -> None:
        self.answer.append({"line": label, "change": kind, "status": "rejected", "reason": code, "text": text})
        self.differences.append(Difference(kind, text, label))

    def _write(self, model: str, method: str, args: list, kwargs: dict | None = None) -> None:
        self.writes.append({"model": model, "method": method, "args": args})
        if not self.dry_run:
            self.client.call(model, method, args, kwargs or {})

    def _post(self, lines: list[str]) -> None:
        """A note in the order's chatter, once: a change delivered again does not say it twice."""
        if len(lines) < 2 or self.dry_run:
            return
        body = "\n".join(lines)
        said = self.client.search_read("mail.message", [("model", "=", SALE_ORDER), ("res_id", "=", self.order["id"]),
                                                        ("body", "ilike", lines[0])], ["body"])
        if any(body.splitlines()[-1] in (row.get("body") or "") for row in said):
            return
        self.client.call(SALE_ORDER, "message_post", [[self.order["id"]]], {"body": body, **NOTE})


def change_answer(change: dict[str, Any], result: dict[str, Any], today: str | None = None) -> OrderResponse:
    """Our answer to a customer's change (865 / ORDRSP), from the change and what delivering it did.

    A line is accepted when everything its change asked was applied (or was so already), else
    rejected with the first reason code; the whole answer is accepted, rejected, or changed (part
    of it rejected).
    """
    entries = result.get("answer") or []
    lines = []
    for position, asked in enumerate(change.get("lines") or [], start=1):
        label = asked.get("line_number") or str(position)
        refused = [entry for entry in entries if entry["line"] == label and entry["status"] == "rejected"]
        cancelled = asked.get("change") == "cancel"
        lines.append(ResponseLine(
            line_number=label, gtin=asked.get("gtin"), upc=asked.get("upc"), buyer_item=asked.get("buyer_item"),
            supplier_item=asked.get("supplier_item"), status="rejected" if refused else "accepted",
            change_code=asked.get("change_code") or "CA", quantity=asked.get("quantity"),
            confirmed_quantity=None if refused else ("0" if cancelled else asked.get("quantity")),
            uom=asked.get("uom"), unit_price=asked.get("unit_price"),
            reason=refused[0].get("reason") if refused else None))
    statuses = {entry["status"] for entry in entries} or {"accepted"}
    status = statuses.pop() if len(statuses) == 1 else "changed"
    return OrderResponse(
        document_number=change.get("document_number"), document_date=today or dt.date.today().isoformat(),
        order_number=change.get("order_number"), order_date=change.get("order_date"), status=status,
        buyer=_party(change.get("buyer")), supplier=_party(change.get("supplier")), lines=lines)


def _party(value: dict[str, Any] | None) -> Party | None:
    return Party(**value) if value else None
