"""What a person does in Odoo, as the RPC calls their Odoo 18 sends: shared by the outbound tests."""

from __future__ import annotations

import odoorpc


def validate_picking(rpc: odoorpc.ODOO, picking: int, backorder: bool = True) -> None:
    """Validate a transfer; for a partial one, answer the backorder question as the person would."""
    action = rpc.execute_kw("stock.picking", "button_validate", [[picking]], {})
    if action is True:
        return
    assert action["res_model"] == "stock.backorder.confirmation", action
    context = action["context"]
    wizard = rpc.execute_kw("stock.backorder.confirmation", "create", [{}], {"context": context})
    rpc.execute_kw("stock.backorder.confirmation", "process" if backorder else "process_cancel_backorder",
                   [[wizard]], {"context": context})
