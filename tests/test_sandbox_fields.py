"""The sandbox's models are Odoo 18's as recorded: each field it defines answers ``fields_get`` with the
type, relation and attributes a real Odoo 18.0 answered (``../shared/odoo-transcripts/fields/``), and a
field Odoo requires is refused empty with Odoo's own error."""

from __future__ import annotations

import json

import odoorpc
import pytest
from conftest import TRANSCRIPTS

from gateway.odoo.sandbox import Sandbox, start
from gateway.odoo.sandbox.orm import load_models

RECORDED = TRANSCRIPTS / "fields"
MODELS = sorted(load_models())
COMPARED = ("type", "relation", "relation_field", "required", "readonly", "store", "company_dependent", "string")
# What the sandbox has that the recorded database has not, with the reason.
NOT_IN_THE_RECORDED_DATABASE = {
    "delivery.carrier": "stock_delivery was not installed on the recorded server; the ship-notice reader asks for "
                        "a picking's carrier when it is",
    ("sale.order", "carrier_id"): "stock_delivery's field, as above",
    "stock.warehouse.orderpoint": "its fields_get was not recorded; the replenishment writer sets reordering rules "
                                  "(fields as Odoo 18's stock module defines them)",
    "mail.tracking.value": "not among the recorded models; its fields are the ones read in "
                           "2026-12/15-drafts-notes-wizards.json",
    "ir.model.fields": "not among the recorded models; the tracking values of 15 name a field through it",
}


def recorded(model: str) -> dict:
    return json.loads((RECORDED / f"{model}.json").read_text())


@pytest.mark.parametrize("model", MODELS)
def test_each_field_of_the_sandbox_is_the_one_odoo_18_answered(model: str) -> None:
    if model in NOT_IN_THE_RECORDED_DATABASE:
        assert not (RECORDED / f"{model}.json").exists()
        return
    odoo = recorded(model)["fields"]
    ours = Sandbox().execute_kw(model, "fields_get", [], {"attributes": list(COMPARED) + ["selection"]})
    problems = []
    for name, desc in ours.items():
        if (model, name) in NOT_IN_THE_RECORDED_DATABASE:
            continue
        if name not in odoo:
            problems.append(f"{name}: not a field of Odoo 18's {model}")
            continue
        for attr in COMPARED:
            if odoo[name].get(attr) != desc.get(attr) and attr in odoo[name]:
                problems.append(f"{name}.{attr}: Odoo {odoo[name].get(attr)!r}, sandbox {desc.get(attr)!r}")
        if "selection" in odoo[name] and [list(p) for p in odoo[name]["selection"]] != desc.get("selection"):
            problems.append(f"{name}.selection: Odoo {odoo[name]['selection']!r:.80}, sandbox {desc.get('selection')!r:.80}")
    assert not problems, "\n".join(problems)


def test_every_model_the_gateway_calls_was_recorded_and_is_in_the_sandbox() -> None:
    index = (RECORDED / "INDEX.md").read_text()
    called = [line.split("`")[1] for line in index.splitlines()
              if line.startswith("| [`") and not line.rstrip().endswith("| - |")]
    assert called and set(called) <= set(MODELS)


@pytest.fixture(scope="module")
def odoo():
    with start() as running:
        client = odoorpc.ODOO(running.host, port=running.port, timeout=30)
        client.login("edi", "admin", "admin")
        yield client


@pytest.mark.parametrize("model, values, field", [
    ("sale.order", {"client_order_ref": "no customer"}, "partner_id"),
    ("account.move.reversal", {"reason": "no journal"}, "journal_id"),
])
def test_a_field_odoo_requires_is_refused_empty_as_odoo_refuses_it(odoo, model, values, field) -> None:
    attrs = recorded(model)["fields"]
    assert attrs[field]["required"] and attrs[field]["store"]
    with pytest.raises(odoorpc.error.RPCError) as refused:
        odoo.execute_kw(model, "create", [values])
    assert refused.value.info["data"]["name"] == "odoo.exceptions.ValidationError"
    assert str(refused.value).startswith("The operation cannot be completed:\n- Create/update: a mandatory field "
                                         "is not set.")
    assert f"Field: {attrs[field]['string']} ({field})" in str(refused.value)


def test_only_the_demo_and_the_odoo_sandbox_command_import_the_emulator() -> None:
    import ast

    from conftest import ROOT

    importers = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        if "sandbox" in path.relative_to(ROOT / "gateway").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "gateway.odoo":
                names = [f"gateway.odoo.{a.name}" for a in node.names]
            if any(name.startswith("gateway.odoo.sandbox") for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"gateway/demo.py", "gateway/cli.py"}
