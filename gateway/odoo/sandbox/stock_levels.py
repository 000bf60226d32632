"""Stock per warehouse in the sandbox: what a stock report reads and an inventory count writes.

On top of `flows` (quants, moves, inventory mode), as Odoo 18 does it:
- `product.product` quantities (`qty_available`, `free_qty`, `virtual_available`,
  `incoming_qty`, `outgoing_qty`) count only the locations the context names: `location` (ids)
  or `warehouse_id` (ids; Odoo 16 called the key `warehouse`), each with its sub-locations; with
  neither, every internal location.
- `stock.warehouse.create({name, code})` makes its view location (named by the code) and its
  stock location under it, as Odoo does; `stock.location.warehouse_id` is the warehouse whose
  view location holds it, and `stock.quant.warehouse_id` follows its location.
- `stock.quant.action_apply_inventory` names its moves after the context's `inventory_name`
  (the name a person types in the "Apply" dialog), else "Product Quantity Updated", followed by
  " (<user>)" for any user but the superuser, as a real Odoo 18 does.
"""

from __future__ import annotations

from typing import Any

from gateway.odoo.sandbox import flows
from gateway.odoo.sandbox.flows import rec
from gateway.odoo.sandbox.orm import BEHAVIOURS, Database, behaviour

ROOT_LOCATIONS = 1  # "Physical Locations", the parent of every warehouse's view location
SUPERUSER = 1  # OdooBot (__system__), whose inventory moves carry no user's name


def _ids(value: Any) -> list[int]:
    if value in (None, False, ""):
        return []
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _under(db: Database, roots: list[int]) -> set[int]:
    """The locations under `roots`, themselves included (Odoo's `child_of` on `location_id`)."""
    children: dict[int, list[int]] = {}
    for rid, row in db.records["stock.location"].items():
        if row.get("location_id"):
            children.setdefault(row["location_id"], []).append(rid)
    found, todo = set(), list(roots)
    while todo:
        rid = todo.pop()
        if rid not in found:
            found.add(rid)
            todo.extend(children.get(rid, []))
    return found


def scope(db: Database) -> set[int]:
    """The internal locations the present call's context counts stock in."""
    context = getattr(db, "context", None) or {}
    internal = set(db.search("stock.location", [("usage", "=", "internal")], active_test=False))
    roots = _ids(context.get("location"))
    for warehouse in _ids(context.get("warehouse_id") or context.get("warehouse")):
        if db.exists("stock.warehouse", warehouse):
            roots.append(rec(db, "stock.warehouse", warehouse).get("view_location_id"))
    return internal & _under(db, [r for r in roots if r]) if roots else internal


def stock(db: Database, product: int, what: str) -> float:
    """A product's quantity of one kind (`qty_available` …) in the locations of the context."""
    return flows._stock(db, product, what, scope(db))


behaviour("product.product").computes.update(
    {what: (lambda kind: lambda db, rid: stock(db, rid, kind))(what)
     for what in ("qty_available", "virtual_available", "free_qty", "incoming_qty", "outgoing_qty")})


def _warehouse_before_create(db: Database, vals: dict, context: dict) -> None:
    """A warehouse gets its view location (named by its code) and its stock location, as in Odoo."""
    if not vals.get("view_location_id"):
        vals["view_location_id"] = db.create("stock.location", [{
            "name": vals.get("code") or vals.get("name"), "usage": "view", "location_id": ROOT_LOCATIONS}])[0]
    if not vals.get("lot_stock_id"):
        vals["lot_stock_id"] = db.create("stock.location", [{
            "name": "Stock", "usage": "internal", "location_id": vals["view_location_id"]}])[0]
    vals.setdefault("company_id", flows.COMPANY)


def _location_warehouse(db: Database, rid: int) -> int | bool:
    views = {row.get("view_location_id"): wid for wid, row in db.records["stock.warehouse"].items()}
    seen = set()
    while rid and rid not in seen:
        seen.add(rid)
        if rid in views:
            return views[rid]
        rid = rec(db, "stock.location", rid).get("location_id")
    return False


behaviour("stock.warehouse").before_create = _warehouse_before_create
behaviour("stock.location").computes["warehouse_id"] = _location_warehouse
behaviour("stock.quant").computes.update(
    warehouse_id=lambda db, rid: _location_warehouse(db, rec(db, "stock.quant", rid).get("location_id")),
    available_quantity=lambda db, rid: (rec(db, "stock.quant", rid).get("quantity") or 0.0)
    - (rec(db, "stock.quant", rid).get("reserved_quantity") or 0.0),
    inventory_diff_quantity=lambda db, rid: ((rec(db, "stock.quant", rid).get("inventory_quantity") or 0.0)
                                             - (rec(db, "stock.quant", rid).get("quantity") or 0.0))
    if rec(db, "stock.quant", rid).get("inventory_quantity_set") else 0.0,
)

_apply = BEHAVIOURS["stock.quant"].methods["action_apply_inventory"]


def _apply_named(db: Database, ids: list[int], context: dict | None = None, **kwargs: Any) -> None:
    before = max(db.records["stock.move"], default=0)
    _apply(db, ids, context=context, **kwargs)
    # Odoo 18's _get_inventory_move_values: the context's name (else its default), and, for any user but
    # the superuser, " (<the user's name>)" after it, as a real Odoo 18 names them.
    given = (context or {}).get("inventory_name")
    suffix = f" ({db.display_name('res.users', db.uid)})" if db.uid != SUPERUSER else ""
    for mid in [m for m in db.records["stock.move"] if m > before]:
        move = db._touch("stock.move", mid)
        move["name"] = (given or move.get("name") or "Product Quantity Updated") + suffix
    return None


BEHAVIOURS["stock.quant"].methods["action_apply_inventory"] = _apply_named
