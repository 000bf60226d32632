"""The sandbox's lookups by parent (an order's lines, a picking's moves) stay right as records move and roll back.

They use indexes rather than scans (``Database.lookup``): these tests change links in every way the API
allows and check that searches see the change.  What they check is what Odoo 18 does, so they run against
the sandbox and, with EDIGW_ODOO_* set, a real Odoo (fresh names each run); the timing one is the sandbox's.
"""

from __future__ import annotations

import time
import uuid

import odoorpc
import pytest
from test_sandbox_purchasing import odoo  # noqa: F401  (the two-Odoo fixture)

from gateway.odoo.sandbox import Sandbox
from gateway.odoo.sandbox.orm import OdooError


def widget_vals() -> dict:
    tag = uuid.uuid4().hex[:8].upper()
    return {"name": f"Widget {tag}", "default_code": f"W-{tag}", "type": "consu", "is_storable": True,
            "list_price": 2.0}


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


def new_order(sandbox: Sandbox | odoorpc.ODOO, product: int, *quantities: float) -> int:
    customer = sandbox.execute_kw("res.partner", "create", [{"name": f"Customer {uuid.uuid4().hex[:8]}",
                                                             "is_company": True}])
    return sandbox.execute_kw("sale.order", "create", [{"partner_id": customer, "order_line": [
        [0, 0, {"product_id": product, "product_uom_qty": qty}] for qty in quantities]}])


def test_a_line_written_to_another_order_is_found_under_that_order(odoo):
    widget = odoo.execute_kw("product.product", "create", [widget_vals()])
    first, second = new_order(odoo, widget, 1, 2), new_order(odoo, widget, 3)
    moved = odoo.execute_kw("sale.order.line", "search", [[["order_id", "=", first]]])[0]
    odoo.execute_kw("sale.order.line", "write", [[moved], {"order_id": second}])
    assert moved not in odoo.execute_kw("sale.order.line", "search", [[["order_id", "=", first]]])
    assert moved in odoo.execute_kw("sale.order.line", "search", [[["order_id", "=", second]]])
    assert odoo.execute_kw("sale.order", "read", [[second], ["amount_untaxed"]])[0]["amount_untaxed"] == 8.0


def test_records_of_a_rolled_back_call_are_not_found(odoo):
    widget = odoo.execute_kw("product.product", "create", [widget_vals()])
    order = new_order(odoo, widget, 1)
    with pytest.raises((OdooError, odoorpc.error.RPCError)):
        odoo.execute_kw("sale.order", "write", [[order], {"order_line": [
            [0, 0, {"product_id": widget, "product_uom_qty": 5}], [0, 0, {"no_such_field": 1}]]}])
    assert odoo.execute_kw("sale.order.line", "search_count", [[["order_id", "=", order]]]) == 1


def test_unlinked_lines_are_not_found(odoo):
    widget = odoo.execute_kw("product.product", "create", [widget_vals()])
    order = new_order(odoo, widget, 1, 2)
    lines = odoo.execute_kw("sale.order.line", "search", [[["order_id", "=", order]]])
    odoo.execute_kw("sale.order.line", "unlink", [lines[:1]])
    assert odoo.execute_kw("sale.order.line", "search", [[["order_id", "=", order]]]) == lines[1:]


def test_a_backorder_holds_the_moves_left_over_and_the_delivery_the_done_ones(odoo):
    widget = odoo.execute_kw("product.product", "create", [{**widget_vals(), "is_storable": False}])
    order = new_order(odoo, widget, 10)
    odoo.execute_kw("sale.order", "action_confirm", [[order]])
    [picking] = odoo.execute_kw("sale.order", "read", [[order], ["picking_ids"]])[0]["picking_ids"]
    [move] = odoo.execute_kw("stock.picking", "read", [[picking], ["move_ids"]])[0]["move_ids"]
    odoo.execute_kw("stock.move", "write", [[move], {"quantity": 4}])
    odoo.execute_kw("stock.picking", "button_validate", [[picking]], {"context": {"skip_backorder": True}})
    [backorder] = odoo.execute_kw("stock.picking", "search", [[["backorder_id", "=", picking]]])
    moves = {p["id"]: p for p in odoo.execute_kw("stock.picking", "read", [[picking, backorder]],
                                                    {"fields": ["move_ids", "state"]})}
    assert moves[picking]["state"] == "done" and moves[backorder]["state"] != "done"
    [left] = moves[backorder]["move_ids"]
    assert odoo.execute_kw("stock.move", "read", [[left], ["product_uom_qty"]])[0]["product_uom_qty"] == 6.0
    assert odoo.execute_kw("sale.order.line", "search_read", [[["order_id", "=", order]]],
                              {"fields": ["qty_delivered"]})[0]["qty_delivered"] == 4.0


def test_confirming_a_thousand_line_order_does_not_slow_down_as_orders_pile_up(sandbox):
    widget = sandbox.execute_kw("product.product", "create", [widget_vals()])

    def seconds_to_create_and_confirm() -> float:
        started = time.perf_counter()
        order = new_order(sandbox, widget, *[1] * 1000)
        sandbox.execute_kw("sale.order", "action_confirm", [[order]])
        return time.perf_counter() - started

    first = seconds_to_create_and_confirm()
    for _ in range(3):
        seconds_to_create_and_confirm()
    # Scanning every stock move per line made the fifth order about three times slower than the first.
    assert seconds_to_create_and_confirm() < 2 * first + 0.2
