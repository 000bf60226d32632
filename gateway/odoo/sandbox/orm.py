"""The sandbox's ORM: Odoo's records, fields, domains and errors, kept in memory.

This is the generic half of the Odoo sandbox (see ``server.py``): it knows what
Odoo 18's ORM does at the API (read, search, create, write, unlink, one2many
commands, domains, ``read_group``, ``fields_get``) and nothing about sales or
stock.  Business behaviour (defaults, computed fields, ``action_confirm`` …)
registers itself in :data:`BEHAVIOURS` from ``flows.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

MODELS_DIR = Path(__file__).with_name("models")
# fields_get and default_get recorded on a real Odoo 18.0, one <model>.json each (see its INDEX.md): beside
# a source checkout at ../shared/odoo-transcripts/fields, or wherever EDIGW_SANDBOX_FIELDS names.
RECORDED_FIELDS = Path(os.environ.get("EDIGW_SANDBOX_FIELDS")
                       or Path(__file__).resolve().parents[4] / "shared" / "odoo-transcripts" / "fields")
# The attributes the recording decides for each field the sandbox implements.
RECORDED_ATTRIBUTES = ("type", "string", "required", "readonly", "store", "selection", "company_dependent")


# --------------------------------------------------------------------------- errors
class OdooError(Exception):
    """An error the sandbox answers the way Odoo does: ``error.data.name`` is ``odoo_name``.

    ``http_status`` is the status JSON-2 answers it with: Odoo 19's ``odoo.exceptions`` give 422 to
    ``UserError`` (and ``ValidationError``), 403 to ``AccessError``/``AccessDenied``, 404 to
    ``MissingError``; any other exception is a 500.  JSON-RPC answers every error with 200.
    """

    odoo_name = "odoo.exceptions.UserError"
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def debug(self) -> str:
        short = self.odoo_name.removeprefix("builtins.")
        return f"Traceback (most recent call last):\n  (odoo sandbox)\n{short}: {self.message}"


class UserError(OdooError):
    odoo_name = "odoo.exceptions.UserError"


class ValidationError(OdooError):
    odoo_name = "odoo.exceptions.ValidationError"


class AccessError(OdooError):
    odoo_name = "odoo.exceptions.AccessError"
    http_status = 403


class AccessDenied(OdooError):
    odoo_name = "odoo.exceptions.AccessDenied"
    http_status = 403

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class MissingError(OdooError):
    odoo_name = "odoo.exceptions.MissingError"
    http_status = 404

    def __init__(self, model: str, ids: list[int], uid: int = 2) -> None:
        record = f"{model}({', '.join(map(str, ids))},)"
        super().__init__(f"Record does not exist or has been deleted.\n(Record: {record}, User: {uid})")


class InvalidValue(OdooError):
    """Odoo raises a plain ``ValueError`` for unknown fields and bad selection values."""

    odoo_name = "builtins.ValueError"
    http_status = 500


class DatetimeExpected(OdooError):
    """What Odoo's ORM asserts when a required date-time is written False."""

    odoo_name = "builtins.AssertionError"
    http_status = 500

    def __init__(self) -> None:
        super().__init__("Datetime instance expected")


class MethodMissing(OdooError):
    odoo_name = "builtins.AttributeError"
    http_status = 500


class BadArguments(OdooError):
    odoo_name = "builtins.TypeError"
    http_status = 500


class DatabaseMissing(OdooError):
    odoo_name = "psycopg2.OperationalError"
    http_status = 500

    def __init__(self, db: str) -> None:
        super().__init__(
            f'connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "{db}" does not exist\n'
        )


# --------------------------------------------------------------------------- fields
RELATIONAL = {"many2one", "one2many", "many2many"}
X2MANY = {"one2many", "many2many"}
EMPTY = {"integer": 0, "float": 0.0, "monetary": 0.0, "boolean": False, "many2many": [], "one2many": []}


@dataclass
class Field:
    """One field of a model, as Odoo 18 defines it."""

    model: str
    name: str
    type: str
    relation: str | None = None
    inverse: str | None = None
    string: str = ""
    required: bool = False
    readonly: bool = False
    store: bool = True
    selection: list[list[str]] | None = None
    default: Any = None
    digits: tuple[int, int] | None = None
    company_dependent: bool = False
    delegate: tuple[str, str] | None = None  # (parent model, link field) for _inherits
    # False for a field known only from the recording: it holds what is written (or Odoo's recorded
    # default), and nothing of the sandbox computes it.
    implemented: bool = True

    @property
    def owner(self) -> str:
        return self.delegate[0] if self.delegate else self.model

    def empty(self) -> Any:
        value = EMPTY.get(self.type, False)
        return list(value) if isinstance(value, list) else value

    def describe(self) -> dict[str, Any]:
        """The field as ``fields_get`` shows it."""
        out: dict[str, Any] = {
            "change_default": False,
            "company_dependent": self.company_dependent,
            "default_export_compatible": self.name == "name",
            "depends": [],
            "exportable": True,
            "groupable": self.store and self.type not in X2MANY,
            "manual": False,
            "name": self.name,
            "readonly": self.readonly,
            "required": self.required,
            "searchable": True,
            "sortable": self.store and self.type not in X2MANY,
            "store": self.store,
            "string": self.string,
            "type": self.type,
        }
        if self.type in ("char", "text", "html"):
            out["translate"] = False
        if self.type == "char":
            out["trim"] = True
        if self.type in RELATIONAL:
            out.update(relation=self.relation, context={}, domain=[], allow_hierachy_operators=self.relation == self.model)
        if self.type == "one2many":
            out["relation_field"] = self.inverse
        if self.type == "selection":
            out["selection"] = [list(pair) for pair in self.selection or []]
        if self.type in ("float", "monetary", "integer") and self.store:
            out["aggregator"] = "sum"
        if self.type == "float" and self.digits:
            out["digits"] = list(self.digits)
        if self.type == "monetary":
            out["currency_field"] = "currency_id"
        if self.delegate:
            out["related"] = f"{self.delegate[1]}.{self.name}"
        return out


@dataclass
class ModelDef:
    name: str
    description: str
    order: str
    fields: dict[str, Field]
    inherits: dict[str, str] = field(default_factory=dict)


def _string_of(name: str) -> str:
    base = re.sub(r"_ids?$", "", name) if name.endswith(("_id", "_ids")) else name
    return base.replace("_", " ").title()


def _parse_field(model: str, name: str, spec: Any) -> Field:
    attrs = dict(spec) if isinstance(spec, dict) else {"type": spec}
    kind, *rel = str(attrs.pop("type")).split()
    digits = attrs.pop("digits", None)
    for pair in attrs.get("selection") or []:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"field {name}: selection item {pair!r} is not a [value, label] pair")
    return Field(
        model=model,
        name=name,
        type=kind,
        relation=rel[0] if rel else None,
        inverse=rel[1] if len(rel) > 1 else None,
        string=attrs.pop("string", None) or _string_of(name),
        digits=tuple(digits) if digits else None,
        **attrs,
    )


def recording(model: str, directory: Path | None = None) -> dict[str, Any]:
    """What a real Odoo 18.0 answered to ``fields_get`` (``fields``) and ``default_get`` (``defaults``) for
    `model` ({} when it was not recorded or the recording is not on this machine)."""
    path = (directory or RECORDED_FIELDS) / f"{model}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _recorded_only(model: str, name: str, attrs: dict[str, Any], default: Any) -> Field:
    """A field of Odoo's that the sandbox does not implement: it answers fields_get as Odoo does, keeps
    what is written to it, and starts from Odoo's recorded default when that one is the same every day."""
    static = default not in (None, False) and attrs["type"] not in ("date", "datetime", *RELATIONAL) and name != "name"
    return Field(model=model, name=name, type=attrs["type"], relation=attrs.get("relation"),
                 inverse=attrs.get("relation_field"), string=attrs.get("string", _string_of(name)),
                 default=default if static else None, implemented=False)


def _as_recorded(f: Field, recorded: dict[str, dict[str, Any]]) -> None:
    """Odoo's own attributes over the YAML's, for a field Odoo has: the YAML says which fields the
    sandbox implements and how, the recording what Odoo 18 says of them."""
    attrs = recorded.get(f.name)
    if not attrs:
        return
    for attr in RECORDED_ATTRIBUTES:
        if attr in attrs:
            value = attrs[attr]
            setattr(f, attr, [list(pair) for pair in value] if attr == "selection" else value)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml when PyYAML has it (ten times faster on the models and seed)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_models(directory: Path = MODELS_DIR, recorded: Path | None = None) -> dict[str, ModelDef]:
    """Read every ``*.yaml`` field definition file, with the attributes Odoo 18 recorded for each field
    (see :data:`RECORDED_FIELDS`); errors name the file and model.

    Read once per process and folder: the definitions are not changed once loaded, so every database
    (each test starts one) shares them instead of parsing some 60 files again."""
    return _load_models(Path(directory).resolve(), Path(recorded or RECORDED_FIELDS).resolve())


@functools.lru_cache(maxsize=8)
def _load_models(directory: Path, recorded: Path) -> dict[str, ModelDef]:
    models: dict[str, ModelDef] = {}
    for path in sorted(directory.glob("*.yaml")):
        for model, spec in (load_yaml(path.read_text()) or {}).items():
            try:
                fields = {name: _parse_field(model, name, f) for name, f in spec.get("fields", {}).items()}
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path.name}: model {model}: {exc}") from exc
            fields.setdefault("display_name", Field(model, "display_name", "char", string="Display Name",
                                                    readonly=True, store=False))
            for magic in ("create_date", "write_date"):
                fields.setdefault(magic, Field(model, magic, "datetime", string=_string_of(magic), readonly=True))
            models[model] = ModelDef(model, spec.get("description", model), spec.get("order", "id"), fields,
                                     dict(spec.get("inherits", {})))
    for mdef in models.values():
        for parent, link in mdef.inherits.items():
            for name, pfield in models[parent].fields.items():
                if name not in mdef.fields and name not in ("id",):
                    inherited = Field(**{**pfield.__dict__, "model": mdef.name, "delegate": (parent, link)})
                    mdef.fields[name] = inherited
    for mdef in models.values():
        known = recording(mdef.name, recorded)
        odoo = known.get("fields", {})
        for name, attrs in odoo.items():
            relation = attrs.get("relation")
            if name not in mdef.fields and (not relation or relation in models) and (
                    attrs["type"] != "one2many" or attrs.get("relation_field") in models[relation].fields):
                mdef.fields[name] = _recorded_only(mdef.name, name, attrs, known.get("defaults", {}).get(name))
        for f in mdef.fields.values():
            _as_recorded(f, odoo)
        if odoo:  # a model without Odoo's log fields (res.users.apikeys has no write_date)
            for magic in ("create_date", "write_date"):
                if magic not in odoo:
                    mdef.fields.pop(magic, None)
    return models


# --------------------------------------------------------------------------- values
def float_round(value: float, digits: int) -> float:
    """Round half away from zero, as Odoo's ``float_round`` does (3.125 → 3.13)."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def now_string() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def transaction_timestamp() -> str:
    """``now() AT TIME ZONE 'UTC'`` as PostgreSQL keeps it: with microseconds.

    Odoo stamps ``create_date``/``write_date`` with the transaction's timestamp, stored to the
    microsecond, while ``read`` shows whole seconds (odoo/odoo#24102): a domain
    ``('write_date', '>', <a value read back>)`` still matches the record itself.
    """
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def today_string() -> str:
    return dt.date.today().isoformat()


def as_html(text: str) -> str:
    """What Odoo's sanitizer keeps of a value written to an HTML field: text outside any element goes in a
    paragraph, and a bare ``&`` becomes ``&amp;`` (markup inside is kept)."""
    text = re.sub(r"&(?![A-Za-z]+;|#[0-9]+;|#x[0-9A-Fa-f]+;)", "&amp;", text)
    return text if text.lstrip().startswith("<") else f"<p>{text}</p>"


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.DOTALL | re.IGNORECASE)


# --------------------------------------------------------------------------- behaviours
DELEGATED_FROM = "sandbox: created for"  # context key: a parent record made by an _inherits child's create


@dataclass
class Behaviour:
    """What a model does beyond plain storage; filled in by ``flows``."""

    defaults: Callable[..., dict[str, Any]] | None = None  # (db, vals, context) -> defaults
    before_create: Callable[..., None] | None = None  # (db, vals, context), may edit vals
    after_create: Callable[..., None] | None = None  # (db, id, vals, context)
    after_write: Callable[..., None] | None = None  # (db, ids, vals, context)
    before_unlink: Callable[..., None] | None = None  # (db, ids)
    after_unlink: Callable[..., None] | None = None  # (db, rows): the deleted records' stored values
    check: Callable[..., None] | None = None  # (db, ids) constraints
    display_name: Callable[..., str] | None = None  # (db, id)
    computes: dict[str, Callable[..., Any]] = field(default_factory=dict)  # field -> (db, id)
    methods: dict[str, Callable[..., Any]] = field(default_factory=dict)  # name -> (db, ids, *a, context=)
    search_name: Callable[..., list] | None = None  # (db, name, operator) -> domain


BEHAVIOURS: dict[str, Behaviour] = {}
NO_BEHAVIOUR = Behaviour()  # of a model without one: shared, never filled in (``behaviour()`` registers anew)


def behaviour(model: str) -> Behaviour:
    return BEHAVIOURS.setdefault(model, Behaviour())


# --------------------------------------------------------------------------- database
class Database:
    """Records of every model in memory, with Odoo's ORM semantics at the API."""

    def __init__(self, models: dict[str, ModelDef] | None = None, uid: int = 2) -> None:
        self.models = models or load_models()
        self.records: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in self.models}
        self.next_ids: dict[str, int] = {m: 1 for m in self.models}
        self.sequences: dict[str, int] = {}
        self.uid = uid
        self._undo: list[tuple[str, int, dict[str, Any] | None]] | None = None
        self._now: str | None = None  # the transaction's timestamp, for create_date and write_date
        # Indexes: (model, field) -> value -> ids, for the lookups that would otherwise scan every record
        # (a move's lines, an order's lines, a picking's moves).  Kept up to date lazily: every change goes
        # through ``_touch`` (or ``create``/``write``, which call it), which marks the record stale, and a
        # lookup re-indexes the stale records of its model first.
        self._indexes: dict[tuple[str, str], dict[Any, set[int]]] = {}
        self._indexed: dict[tuple[str, str], dict[int, Any]] = {}
        self._stale: dict[str, set[int]] = {}

    # -- transactions: a failed call leaves no trace, except used ids and sequence numbers
    def begin(self) -> None:
        self._undo = []
        self._now = transaction_timestamp()

    def now(self) -> str:
        """The timestamp of the running transaction (one per call, as Odoo's ``cr.now()``)."""
        return self._now or transaction_timestamp()

    def rollback(self) -> None:
        for model, rid, old in reversed(self._undo or []):
            if old is None:
                self.records[model].pop(rid, None)
            else:
                self.records[model][rid] = old
        self._undo = None
        self._now = None
        self.drop_indexes()

    def commit(self) -> None:
        self._undo = None
        self._now = None

    def _touch(self, model: str, rid: int) -> dict[str, Any]:
        """The record, to be changed: kept for a rollback and marked for re-indexing.

        Change indexed fields (many2one links) only through the dict this returns, in the same statement
        (``db._touch(model, rid)["picking_id"] = new``), or through ``write``: a lookup in between would
        miss the change.
        """
        rec = self.records[model][rid]
        if self._undo is not None:
            self._undo.append((model, rid, dict(rec)))
        rec["write_date"] = self.now()  # every change of a stored value is a write, workflows included
        if model in self._stale:
            self._stale[model].add(rid)
        return rec

    # -- indexes
    def lookup(self, model: str, name: str, value: Any) -> list[int]:
        """Ids of the records whose stored ``name`` equals ``value`` (a scalar), in id order, without a scan."""
        return sorted(self.linked(model, name, value))

    def linked(self, model: str, name: str, value: Any) -> Iterator[int]:
        """``lookup`` in no particular order, lazily: for ``any(...)`` over many records."""
        key = (model, name)
        index = self._indexes.get(key)
        if index is None:
            index, indexed = {}, {}
            for rid, rec in self.records[model].items():
                current = rec.get(name)
                index.setdefault(current, set()).add(rid)
                indexed[rid] = current
            self._indexes[key], self._indexed[key] = index, indexed
            self._stale.setdefault(model, set())
        self._refresh(model)
        records = self.records[model]
        return (rid for rid in list(index.get(value, ())) if rid in records and records[rid].get(name) == value)

    def _refresh(self, model: str) -> None:
        stale = self._stale.get(model)
        if not stale:
            return
        records = self.records[model]
        for (owner, name), index in self._indexes.items():
            if owner != model:
                continue
            indexed = self._indexed[(owner, name)]
            for rid in stale:
                if rid in indexed:
                    index.get(indexed.pop(rid), set()).discard(rid)
                if rid in records:
                    current = records[rid].get(name)
                    index.setdefault(current, set()).add(rid)
                    indexed[rid] = current
        stale.clear()

    def drop_indexes(self) -> None:
        """Forget every index (after a rollback or a restore replaced records wholesale); rebuilt on use."""
        self._indexes.clear()
        self._indexed.clear()
        self._stale.clear()

    def _indexable(self, model: str, name: str) -> bool:
        f = self.models[model].fields.get(name)
        return bool(f and f.type in ("many2one", "many2one_reference") and f.store and not f.delegate
                    and name not in BEHAVIOURS.get(model, NO_BEHAVIOUR).computes)

    def next_sequence(self, code: str) -> int:
        self.sequences[code] = self.sequences.get(code, 0) + 1
        return self.sequences[code]

    # -- model and field lookup
    def model(self, name: str) -> ModelDef:
        if name not in self.models:
            raise UserError(f"Object {name} doesn't exist")
        return self.models[name]

    def field(self, model: str, name: str) -> Field:
        f = self.model(model).fields.get(name)
        if f is None and name != "id":
            raise InvalidValue(f"Invalid field {name!r} on model {model!r}")
        return f or Field(model, "id", "integer", string="ID", readonly=True)

    def exists(self, model: str, rid: Any) -> bool:
        return isinstance(rid, int) and rid in self.records[model]

    # -- reading values
    def get(self, model: str, rid: int, name: str) -> Any:
        """The raw value: ids for relations (int/False, list), strings for dates."""
        if name == "id":
            return rid
        f = self.field(model, name)
        if f.delegate:
            parent_id = self.records[model][rid].get(f.delegate[1])
            return self.get(f.delegate[0], parent_id, name) if parent_id else f.empty()
        compute = BEHAVIOURS.get(model, NO_BEHAVIOUR).computes.get(name)
        if compute:
            return compute(self, rid)
        if name == "display_name":
            return self.display_name(model, rid)
        if f.type == "one2many":
            domain = [(f.inverse, "=", rid)]
            if self.models[f.relation].fields[f.inverse].type == "many2one_reference":
                domain.append(("model", "=", model))  # mail.message.res_id: an id of the model it names
            return self.search(f.relation, domain, active_test=False)
        value = self.records[model][rid].get(name)
        if value is None:
            return f.empty()
        return list(value) if isinstance(value, list) else value

    def display_name(self, model: str, rid: int) -> str:
        custom = BEHAVIOURS.get(model, NO_BEHAVIOUR).display_name
        if custom:
            return custom(self, rid)
        rec = self.records[model][rid]
        for name in ("name", "complete_name", "code"):
            if name in self.models[model].fields and rec.get(name):
                return str(self.get(model, rid, name))
        return f"{model},{rid}"

    def to_client(self, f: Field, value: Any) -> Any:
        if f.type == "many2one":
            return [value, self.display_name(f.relation, value)] if value and self.exists(f.relation, value) else False
        if f.type in X2MANY:
            return list(value)
        if f.type in ("float", "monetary"):
            return float(value or 0.0)
        if f.type == "integer":
            return int(value or 0)
        if f.type == "many2one_reference":
            return value or 0
        if f.type == "boolean":
            return bool(value)
        if f.type == "datetime" and isinstance(value, str):
            return value[:19]  # whole seconds, as Odoo shows them (create_date/write_date keep microseconds)
        return value if value not in (None, "") or f.type in ("char", "text", "html") else False

    def read(self, model: str, ids: list[int], fields: list[str] | None = None) -> list[dict[str, Any]]:
        mdef = self.model(model)
        names = list(fields) if fields else [n for n in mdef.fields if n not in ("create_date", "write_date")]
        fdefs = [self.field(model, n) for n in names]
        out = []
        for rid in ids:
            if not self.exists(model, rid):
                continue
            row: dict[str, Any] = {"id": rid}
            for f in fdefs:
                if f.name != "id":
                    row[f.name] = self.to_client(f, self.get(model, rid, f.name))
            out.append(row)
        return out

    # -- writing values
    def convert(self, model: str, name: str, value: Any) -> Any:
        """A client value in storage form, checked as Odoo checks it."""
        f = self.field(model, name)
        if f.type == "many2one":
            if isinstance(value, (list, tuple)):
                value = value[0] if value else False
            if value and not self.exists(f.relation, value):
                raise MissingError(f.relation, [value], self.uid)
            return value or False
        if f.type == "selection" and value not in (False, None):
            allowed = [k for k, _ in f.selection or []]
            if value not in allowed:
                raise InvalidValue(f"Wrong value for {f.owner}.{name}: {value!r}")
        if f.type in ("float", "monetary"):
            value = float(value or 0.0)
            return float_round(value, f.digits[1]) if f.digits else value
        if f.type == "integer":
            return int(value or 0)
        if f.type == "boolean":
            return bool(value)
        if f.type == "datetime" and value:
            text = str(value).replace("T", " ")
            return text if len(text) > 10 else f"{text} 00:00:00"
        if f.type == "date" and value:
            return str(value)[:10]
        if f.type == "html" and value:
            return as_html(str(value))
        return value

    def _check_given_empty(self, model: str, vals: dict[str, Any]) -> None:
        """A required field the caller sends empty is refused, whatever Odoo would have filled in."""
        for name, value in vals.items():
            f = self.models[model].fields.get(name)
            inherits_link = name in self.models[model].inherits.values()  # made with the record when empty
            if f and f.required and value in (None, False) and f.type not in EMPTY and not f.delegate \
                    and not inherits_link:
                if f.type == "datetime":
                    raise DatetimeExpected()
                self._refuse_empty(model, f)

    def _check_fields(self, model: str, vals: dict[str, Any]) -> None:
        self._check_given_empty(model, vals)
        for name, value in vals.items():
            f = self.field(model, name)
            if f.type == "selection" and value not in (False, None):
                self.convert(model, name, value)  # before any record (and id) is made, as Odoo does
            if f.type in X2MANY and isinstance(value, list):
                for cmd in value:
                    if isinstance(cmd, (list, tuple)) and cmd and cmd[0] in (0, 1) and len(cmd) > 2:
                        # the line's link to this record is the parent's to set
                        self._check_fields(f.relation, {k: v for k, v in (cmd[2] or {}).items() if k != f.inverse})

    def create(self, model: str, vals_list: list[dict[str, Any]], context: dict | None = None) -> list[int]:
        context = context or {}
        return [self._create_one(model, dict(vals), context) for vals in vals_list]

    def _create_one(self, model: str, vals: dict[str, Any], context: dict) -> int:
        mdef = self.model(model)
        beh = BEHAVIOURS.get(model, NO_BEHAVIOUR)
        self._check_given_empty(model, vals)  # before a behaviour fills it (an order's name)
        if beh.before_create:
            beh.before_create(self, vals, context)
        self._check_fields(model, vals)
        given = set(vals)
        vals = {**self.default_get(model, list(mdef.fields), context, vals), **vals}
        # _inherits: the parent record is created first with the parent's fields; an existing
        # parent only takes the values the caller gave, not this model's defaults.
        for parent, link in mdef.inherits.items():
            pvals = {k: vals.pop(k) for k in list(vals) if mdef.fields[k].delegate and mdef.fields[k].delegate[0] == parent}
            if not vals.get(link):
                vals[link] = self._create_one(parent, pvals, {DELEGATED_FROM: model})
            elif pvals.keys() & given:
                self.write(parent, [vals[link]], {k: v for k, v in pvals.items() if k in given}, {})
        rid = self.next_ids[model]
        self.next_ids[model] = rid + 1
        self.records[model][rid] = {"id": rid, "create_date": self.now(), "write_date": self.now()}
        if self._undo is not None:
            self._undo.append((model, rid, None))
        self._assign(model, rid, vals, context)
        if beh.after_create:
            beh.after_create(self, rid, vals, context)
        # Odoo computes what the sandbox does not implement: only the sandbox's own fields, and what the
        # caller sent, are checked.
        self._check_required(model, [rid], [n for n, f in mdef.fields.items() if f.required and (
            f.implemented or n in given)])
        if beh.check:
            beh.check(self, [rid])
        return rid

    def _check_required(self, model: str, ids: list[int], names: list[str]) -> None:
        """Odoo's NOT NULL constraint on a required stored field, once defaults and computes are done."""
        for name in names:
            f = self.field(model, name)
            if not f.required or not f.store or f.delegate or f.type in X2MANY or f.type in EMPTY:
                continue
            if any(self.records[model][rid].get(name) in (None, False) for rid in ids):
                self._refuse_empty(model, f)

    def _refuse_empty(self, model: str, f: Field) -> None:
        raise ValidationError(
            "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n"
            "- Delete: another model requires the record being deleted. If possible, archive it "
            f"instead.\n\nModel: {self.model(model).description} ({model})\nField: {f.string} ({f.name})\n")

    def _assign(self, model: str, rid: int, vals: dict[str, Any], context: dict) -> None:
        rec = self._touch(model, rid)
        later = []
        for name, value in vals.items():
            f = self.field(model, name)
            if f.type in X2MANY:
                later.append((f, value))
            elif f.delegate:
                self.write(f.delegate[0], [rec[f.delegate[1]]], {name: value}, context)
            elif f.store or name not in BEHAVIOURS.get(model, NO_BEHAVIOUR).computes:
                rec[name] = self.convert(model, name, value)
        rec["write_date"] = self.now()
        for f, value in later:
            self._x2many(model, rid, f, value, context)

    def _x2many(self, model: str, rid: int, f: Field, commands: Any, context: dict) -> None:
        if commands and all(isinstance(c, int) for c in commands):
            commands = [(6, 0, commands)]
        current = self.get(model, rid, f.name) if f.type == "one2many" else list(
            self.records[model][rid].get(f.name) or [])
        for cmd in commands or []:
            op = cmd[0]
            if op == 0:
                vals = dict(cmd[2] or {})
                if f.type == "one2many":
                    vals[f.inverse] = rid
                new = self._create_one(f.relation, vals, context)
                current.append(new)
            elif op == 1:
                self.write(f.relation, [cmd[1]], cmd[2] or {}, context)
            elif op == 2:
                self.unlink(f.relation, [cmd[1]])
                current = [i for i in current if i != cmd[1]]
            elif op == 3:
                current = [i for i in current if i != cmd[1]]
                if f.type == "one2many":
                    self.write(f.relation, [cmd[1]], {f.inverse: False}, context)
            elif op == 4:
                if not self.exists(f.relation, cmd[1]):
                    raise MissingError(f.relation, [cmd[1]], self.uid)
                if cmd[1] not in current:
                    current.append(cmd[1])
                if f.type == "one2many":
                    self.write(f.relation, [cmd[1]], {f.inverse: rid}, context)
            elif op == 5:
                if f.type == "one2many":
                    self.unlink(f.relation, current)
                current = []
            elif op == 6:
                ids = list(cmd[2] or [])
                for i in ids:
                    if not self.exists(f.relation, i):
                        raise MissingError(f.relation, [i], self.uid)
                if f.type == "one2many":
                    self.unlink(f.relation, [i for i in current if i not in ids])
                    for i in ids:
                        self.write(f.relation, [i], {f.inverse: rid}, context)
                current = ids
            else:
                raise InvalidValue(f"Invalid command {op!r} for field {f.name!r}")
        if f.type == "many2many":
            self._touch(model, rid)[f.name] = current

    def write(self, model: str, ids: list[int], vals: dict[str, Any], context: dict | None = None) -> bool:
        context = context or {}
        self.model(model)
        missing = [i for i in ids if not self.exists(model, i)]
        if missing:
            raise MissingError(model, missing, self.uid)
        self._check_fields(model, vals)
        for rid in ids:
            self._assign(model, rid, vals, context)
        beh = BEHAVIOURS.get(model, NO_BEHAVIOUR)
        if beh.after_write:
            beh.after_write(self, ids, vals, context)
        self._check_required(model, ids, list(vals))
        if beh.check:
            beh.check(self, ids)
        return True

    def unlink(self, model: str, ids: list[int]) -> bool:
        self.model(model)
        missing = [i for i in ids if not self.exists(model, i)]
        if missing:
            raise MissingError(model, missing, self.uid)
        beh = BEHAVIOURS.get(model, NO_BEHAVIOUR)
        if beh.before_unlink:
            beh.before_unlink(self, ids)
        removed: list[dict[str, Any]] = []
        for rid in ids:
            for f in self.models[model].fields.values():
                if f.type == "one2many" and not f.delegate and f.relation in self.records:
                    children = [c for c in self.search(f.relation, [(f.inverse, "=", rid)], active_test=False)]
                    inverse = self.models[f.relation].fields.get(f.inverse)
                    if children and inverse and inverse.required:
                        self.unlink(f.relation, children)
            self._touch(model, rid)
            removed.append(self.records[model].pop(rid))
        if beh.after_unlink:
            beh.after_unlink(self, removed)
        return True

    def default_get(self, model: str, names: list[str], context: dict | None = None,
                    vals: dict[str, Any] | None = None) -> dict[str, Any]:
        context = context or {}
        mdef = self.model(model)
        out: dict[str, Any] = {}
        for name in names:
            f = self.field(model, name)
            if f.default is not None and not f.delegate:
                out[name] = f.default
        beh = BEHAVIOURS.get(model, NO_BEHAVIOUR)
        if beh.defaults:  # computed defaults win over the static ones, context defaults over both
            out.update((k, v) for k, v in beh.defaults(self, {**out, **(vals or {})}, context).items() if k in names)
        for name in names:
            key = f"default_{name}"
            if key in context and self.field(model, name).type not in X2MANY:
                out[name] = context[key]
        for name in names:
            f = mdef.fields.get(name)
            key = f"default_{name}"
            if f and f.type in X2MANY and key in context:
                out[name] = context[key]
        return out

    # -- searching
    def search(self, model: str, domain: list | None = None, offset: int = 0, limit: int | None = None,
               order: str | None = None, active_test: bool = True) -> list[int]:
        mdef = self.model(model)
        domain = list(domain or [])
        predicate = self._compile(model, domain)
        mentions_active = any(isinstance(leaf, (list, tuple)) and leaf[0] == "active" for leaf in domain)
        filter_active = active_test and "active" in mdef.fields and not mentions_active
        candidates = self._candidates(model, domain)
        ids = [rid for rid in (self.records[model] if candidates is None else candidates)
               if (not filter_active or self.get(model, rid, "active")) and predicate(rid)]
        ids = self.sort(model, ids, order or mdef.order)
        ids = ids[offset:]
        return ids[:limit] if limit else ids

    def _candidates(self, model: str, domain: list) -> list[int] | None:
        """The ids an AND-only domain with a ``(many2one, "=", id)`` leaf can match, from the index; else None."""
        if any(item in ("|", "!") for item in domain if isinstance(item, str)):
            return None
        for item in domain:
            if isinstance(item, (list, tuple)) and len(item) == 3 and item[1] == "=":
                name, value = item[0], item[2]
                if (isinstance(name, str) and "." not in name and isinstance(value, int)
                        and not isinstance(value, bool) and self._indexable(model, name)):
                    return self.lookup(model, name, value)
        return None

    def sort(self, model: str, ids: list[int], order: str) -> list[int]:
        terms = []
        for part in order.split(","):
            words = part.split()
            if not words:
                continue
            name, desc = words[0], len(words) > 1 and words[1].lower() == "desc"
            if name != "id" and name not in self.models[model].fields:
                raise InvalidValue(f"Invalid field {name!r} on model {model!r}")
            terms.append((name, desc))
        if len(ids) < 2:  # most one2many reads: nothing to order
            return list(ids)

        def key_of(rid: int, name: str) -> Any:
            value = self.get(model, rid, name)
            f = self.models[model].fields.get(name)
            if f is not None and f.type == "many2one" and value:
                return value
            if isinstance(value, list):
                return len(value)
            return value

        def compare(a: int, b: int) -> int:
            for name, desc in terms:
                va, vb = key_of(a, name), key_of(b, name)
                if va == vb:
                    continue
                if va is None or va is False:  # NULLs sort last ascending, first descending, as in PostgreSQL
                    return -1 if desc else 1
                if vb is None or vb is False:
                    return 1 if desc else -1
                result = -1 if va < vb else 1
                return -result if desc else result
            return 0

        return sorted(ids, key=functools.cmp_to_key(compare))

    def _compile(self, model: str, domain: list) -> Callable[[int], bool]:
        stack: list[Callable[[int], bool]] = []
        for item in reversed(domain):
            if item == "!":
                inner = stack.pop()
                stack.append(lambda rid, p=inner: not p(rid))
            elif item in ("&", "|"):
                a, b = stack.pop(), stack.pop()
                if item == "&":
                    stack.append(lambda rid, a=a, b=b: a(rid) and b(rid))
                else:
                    stack.append(lambda rid, a=a, b=b: a(rid) or b(rid))
            elif isinstance(item, (list, tuple)) and len(item) == 3:
                path, op, value = item
                self._leaf_check(model, path, op)
                stack.append(lambda rid, p=path, o=op, v=value: self._match(model, rid, p, o, v))
            elif item in (True, 1, (1, "=", 1)):
                stack.append(lambda rid: True)
            else:
                raise InvalidValue(f"Invalid leaf {item!r}")
        return lambda rid: all(p(rid) for p in stack)

    def _leaf_check(self, model: str, path: str, op: str) -> None:
        operators = {"=", "!=", "<", ">", "<=", ">=", "in", "not in", "like", "ilike", "not like", "not ilike",
                     "=like", "=ilike", "child_of", "parent_of", "=?"}
        if op not in operators:
            raise InvalidValue(f"Invalid operator {op!r}")
        current = model
        for name in path.split("."):
            f = self.field(current, name)
            current = f.relation or current

    def _match(self, model: str, rid: int, path: str, op: str, value: Any) -> bool:
        name, _, rest = path.partition(".")
        f = self.field(model, name)
        raw = self.get(model, rid, name)
        if rest:
            related = raw if isinstance(raw, list) else ([raw] if raw else [])
            if op in ("!=", "not in", "not like", "not ilike") and not related:
                return True
            return any(self._match(f.relation, r, rest, op, value) for r in related if self.exists(f.relation, r))
        if op == "=?":
            return True if value in (False, None) else self._match(model, rid, path, "=", value)
        if op == "child_of":
            roots = value if isinstance(value, list) else [value]
            targets = self._descendants(f.relation or model, roots)
            own = raw if isinstance(raw, list) else [raw if f.relation else rid]
            return any(i in targets for i in own)
        if op == "parent_of":
            own = raw if isinstance(raw, list) else [raw if f.relation else rid]
            roots = value if isinstance(value, list) else [value]
            return any(i in self._descendants(f.relation or model, own) for i in roots)
        if f.type in X2MANY:
            values = value if isinstance(value, (list, tuple)) else [value]
            if op in ("=", "in"):
                return bool(set(raw) & set(values)) if values != [False] else not raw
            if op in ("!=", "not in"):
                return not (set(raw) & set(values)) if values != [False] else bool(raw)
            names = [self.display_name(f.relation, r) for r in raw]
            return any(self._compare(n, op, value) for n in names)
        if f.type == "many2one" and isinstance(value, str) and op in ("=", "!=", "like", "ilike", "not like",
                                                                     "not ilike", "=like", "=ilike"):
            shown = self.display_name(f.relation, raw) if raw else False
            return self._compare(shown, op, value)
        return self._compare(raw, op, value)

    @staticmethod
    def _compare(raw: Any, op: str, value: Any) -> bool:
        if op == "=":
            return raw == value or (value is False and raw in (None, "", False)) or (
                raw is False and value is None)
        if op == "!=":
            return not Database._compare(raw, "=", value)
        if op in ("in", "not in"):
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            inside = raw in values or (raw in (False, None) and False in values)
            return inside if op == "in" else not inside
        if op in ("like", "ilike", "not like", "not ilike"):
            if value is False:
                found = raw in (False, None, "")
            else:
                text, needle = str(raw or ""), str(value)
                found = raw not in (False, None) and (needle in text if op.endswith(" like") or op == "like"
                                                      else needle.lower() in text.lower())
            return found if not op.startswith("not") else not found
        if op in ("=like", "=ilike"):
            if raw in (False, None):
                return False
            regex = _like_regex(str(value))
            return bool(regex.match(str(raw))) if op == "=ilike" else bool(
                re.compile(regex.pattern, re.DOTALL).match(str(raw)))
        if raw is None or raw is False or value is None or value is False:  # not ``in (False, None)``: 0 == False
            return False
        return {"<": raw < value, ">": raw > value, "<=": raw <= value, ">=": raw >= value}[op]

    def _descendants(self, model: str, roots: list[int]) -> set[int]:
        parent = "parent_id" if "parent_id" in self.models[model].fields else None
        found, todo = set(), [r for r in roots if r]
        while todo:
            rid = todo.pop()
            if rid in found:
                continue
            found.add(rid)
            if parent:
                todo.extend(c for c, rec in self.records[model].items() if rec.get(parent) == rid)
        return found

    def name_search(self, model: str, name: str = "", domain: list | None = None, operator: str = "ilike",
                    limit: int | None = 100) -> list[list[Any]]:
        ids = self.search(model, domain or [])
        beh = BEHAVIOURS.get(model, NO_BEHAVIOUR)
        if name:
            if beh.search_name:
                ids = [i for i in ids if i in set(self.search(model, beh.search_name(self, name, operator)))]
            else:
                ids = [i for i in ids if self._compare(self.display_name(model, i), operator, name)]
        if limit:
            ids = ids[:limit]
        return [[i, self.display_name(model, i)] for i in ids]

    def read_group(self, model: str, domain: list, fields: list[str], groupby: list[str] | str,
                   offset: int = 0, limit: int | None = None, orderby: str | bool = False,
                   lazy: bool = True) -> list[dict[str, Any]]:
        groupby = [groupby] if isinstance(groupby, str) else list(groupby)
        if lazy:
            groupby = groupby[:1]
        aggregates = []
        for spec in fields:
            name, _, func = spec.partition(":")
            name = name.split("(")[0]
            if name in groupby or name in ("__count", "id"):
                continue
            f = self.field(model, name)
            if f.type in ("integer", "float", "monetary"):
                aggregates.append((name, func or "sum"))
        for name in groupby:
            self.field(model, name.split(":")[0])
        ids = self.search(model, domain)
        groups: dict[tuple, list[int]] = {}
        for rid in ids:
            key = tuple(self._group_value(model, rid, g) for g in groupby)
            groups.setdefault(key, []).append(rid)
        out = []
        for key, members in groups.items():
            row: dict[str, Any] = {}
            for g, v in zip(groupby, key):
                f = self.field(model, g)
                row[g] = [v, self.display_name(f.relation, v)] if f.type == "many2one" and v else v
            row["__count" if not lazy else f"{groupby[0]}_count" if groupby else "__count"] = len(members)
            for name, func in aggregates:
                values = [self.get(model, r, name) or 0 for r in members]
                row[name] = {"sum": sum(values), "max": max(values), "min": min(values),
                             "avg": sum(values) / len(values), "count": len(values)}.get(func, sum(values))
            extra = [[g, "=", v] for g, v in zip(groupby, key)]
            row["__domain"] = and_domains(list(domain), extra)
            out.append(row)
        if orderby:
            out.sort(key=lambda r: [str(r.get(t.split()[0])) for t in str(orderby).split(",")])
        return out[offset:][:limit] if limit else out[offset:]

    def _group_value(self, model: str, rid: int, spec: str) -> Any:
        name, _, granularity = spec.partition(":")
        value = self.get(model, rid, name)
        if isinstance(value, list):
            return tuple(value)
        if granularity and value:
            text = str(value)
            return {"year": text[:4], "month": text[:7], "day": text[:10]}.get(granularity, text)
        return value

    def fields_get(self, model: str, allfields: list[str] | None = None,
                   attributes: list[str] | None = None) -> dict[str, dict[str, Any]]:
        mdef = self.model(model)
        names = allfields or list(mdef.fields)
        out = {}
        for name in names:
            if name not in mdef.fields:
                continue
            desc = mdef.fields[name].describe()
            out[name] = {k: v for k, v in desc.items() if not attributes or k in attributes}
        return out


def and_domains(domain: list, extra: list) -> list:
    """``expression.AND``: both domains joined in prefix notation."""
    leaves = [d for d in (domain, extra) if d]
    if len(leaves) < 2:
        return leaves[0] if leaves else []
    return ["&"] + _flatten(domain) + _flatten(extra)


def _count_terms(domain: list) -> int:
    """How many top-level terms an implicitly AND-ed domain has."""
    needed, terms = 0, 0
    for item in domain:
        if needed == 0:
            terms += 1
            needed = 1
        if item in ("&", "|"):
            needed += 1
        elif item != "!":
            needed -= 1
    return terms


def _flatten(domain: list) -> list:
    terms = _count_terms(domain)
    return ["&"] * (terms - 1) + [list(i) if isinstance(i, tuple) else i for i in domain]
