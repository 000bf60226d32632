"""Stock per warehouse, as the stock reports read it and write it, against the sandbox (and a real
Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB, EDIGW_ODOO_USER, EDIGW_ODOO_PASSWORD are set):
a new warehouse comes with its locations, a product's quantities count the warehouse the context
names, and an inventory count applied is recorded as inventory moves under the name given."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import odoorpc
import pytest

from conftest import live_odoo
from gateway.odoo.sandbox import start


@pytest.fixture(params=["sandbox", "live"])
def rpc(request, tmp_path):
    running = None
    if request.param == "live":
        url, db, user, password = live_odoo("the sandbox's stock tests")
    else:
        running = start(state_file=tmp_path / "odoo-state.json")
        url, db, user, password = running.url, "edi", "admin", "admin"
    parts = urlsplit(url)
    odoo = odoorpc.ODOO(parts.hostname, protocol="jsonrpc+ssl" if parts.scheme == "https" else "jsonrpc",
                        port=parts.port or (443 if parts.scheme == "https" else 80), timeout=60)
    odoo.login(db, user, password)
    yield lambda model, method, *args, **kwargs: odoo.execute_kw(model, method, list(args), kwargs)
    if running is not None:
        running.stop()


def storable(call) -> dict:
    fields = call("product.template", "fields_get", attributes=["type"])
    return {"type": "consu", "is_storable": True} if "is_storable" in fields else {"type": "product"}


def counted(call, product: int, location: int, quantity: float, name: str | None = None) -> list[int]:
    ids = call("stock.quant", "create", [{"product_id": product, "location_id": location,
                                          "inventory_quantity": quantity}], context={"inventory_mode": True})
    call("stock.quant", "action_apply_inventory", ids,
         context={"inventory_mode": True, **({"inventory_name": name} if name else {})})
    return ids


def test_a_new_warehouse_has_its_view_and_stock_locations_and_they_know_it(rpc):
    tag = uuid.uuid4().hex[:4].upper()
    warehouse = rpc("stock.warehouse", "create", {"name": f"Overflow {tag}", "code": f"O{tag}"})
    [row] = rpc("stock.warehouse", "read", [warehouse], fields=["lot_stock_id", "view_location_id"])

    internal = rpc("stock.location", "search_read", [("warehouse_id", "=", warehouse), ("usage", "=", "internal")],
                   fields=["complete_name", "location_id"])
    assert row["lot_stock_id"][0] in [location["id"] for location in internal]
    assert rpc("stock.location", "read", [row["view_location_id"][0]], fields=["usage", "name"])[0][
        "usage"] == "view"
    assert f"O{tag}/" in row["lot_stock_id"][1]


def test_a_products_quantities_count_only_the_warehouse_the_context_names(rpc):
    tag = uuid.uuid4().hex[:4].upper()
    product = rpc("product.product", "create", {"name": f"Counted {tag}", **storable(rpc)})
    first = rpc("stock.warehouse", "create", {"name": f"North {tag}", "code": f"N{tag}"})
    second = rpc("stock.warehouse", "create", {"name": f"South {tag}", "code": f"S{tag}"})
    stocks = {row["id"]: row["lot_stock_id"][0] for row in rpc("stock.warehouse", "read", [first, second],
                                                                 fields=["lot_stock_id"])}
    counted(rpc, product, stocks[first], 7)
    counted(rpc, product, stocks[second], 3)
    fields = ["qty_available", "free_qty", "virtual_available"]

    everywhere = rpc("product.product", "read", [product], fields=fields)[0]
    north = rpc("product.product", "read", [product], fields=fields, context={"warehouse_id": first})[0]
    south_stock = rpc("product.product", "read", [product], fields=fields, context={"location": stocks[second]})[0]
    assert [everywhere[f] for f in fields] == [10, 10, 10]
    assert [north[f] for f in fields] == [7, 7, 7]
    assert [south_stock[f] for f in fields] == [3, 3, 3]
    # in the warehouses' locations (Odoo also keeps the counts' opposite, -10, in Inventory adjustment)
    quants = rpc("stock.quant", "search_read", [("product_id", "=", product)], fields=["warehouse_id", "quantity"])
    assert sorted((q["warehouse_id"][0], q["quantity"]) for q in quants if q["warehouse_id"]) == sorted(
        [(first, 7), (second, 3)])


def test_an_inventory_count_applied_is_recorded_as_inventory_moves_under_its_name(rpc):
    tag = uuid.uuid4().hex[:6].upper()
    product = rpc("product.product", "create", {"name": f"Recounted {tag}", **storable(rpc)})
    [warehouse] = rpc("stock.warehouse", "search_read", [], fields=["lot_stock_id"], limit=1)
    location = warehouse["lot_stock_id"][0]
    counted(rpc, product, location, 5)
    [quant] = counted(rpc, product, location, 8, name=f"EDI stock report {tag}")

    assert rpc("stock.quant", "read", [quant], fields=["quantity", "inventory_quantity_set"])[0] == {
        "id": quant, "quantity": 8, "inventory_quantity_set": False}
    # Odoo names them after the count and, for any user but the superuser, the user: "… (Administrator)"
    moves = rpc("stock.move", "search_read", [("product_id", "=", product),
                                               ("name", "=like", f"EDI stock report {tag} (%)")],
                fields=["is_inventory", "state", "product_uom_qty", "location_dest_id"])
    assert [(m["is_inventory"], m["state"], m["product_uom_qty"], m["location_dest_id"][0]) for m in moves] == [
        (True, "done", 3, location)]
