"""An in-memory Odoo 18 that answers odoorpc over real HTTP, for tests, demos and benchmarks.

``Sandbox`` is the database and the external API (``execute_kw``, the JSON-RPC
services ``common``, ``object`` and ``db``, the ``/web/...`` routes); ``start``
runs it on a background thread for tests, ``serve`` runs it in the foreground
for ``edigw odoo-sandbox``.  Field definitions are data in ``models/``,
the fresh database in ``seed.yaml``, the ORM in ``orm.py`` and
the business workflows in ``flows.py``.  Behaviour follows the
recordings of a real Odoo 18 in ``../shared/odoo-transcripts/``.

It also answers the JSON-2 API of Odoo 19 (``POST /json/2/<model>/<method>``, ``GET /web/version``) over
the same database, as Odoo 19's documentation ("External JSON-2 API") and its ``rpc`` addon describe it:
``Authorization: bearer <API key>`` (the admin's key is ``api_key=``, default :data:`DEFAULT_API_KEY`;
``res.users.apikeys/generate`` makes more), an optional ``X-Odoo-Database``, a JSON object of named
arguments (``ids``, ``context`` and the method's own parameters), the bare result with 200, and errors
as ``{name, message, arguments, context, debug}`` with the status Odoo gives them: 401 for a missing or
unknown key, 404 for an unknown model or method (``werkzeug.exceptions.NotFound``), 422 for arguments
that do not fit the method or ids given to a model method (``werkzeug.exceptions.UnprocessableEntity``),
the exception's own status otherwise (422 ``UserError``/``ValidationError``, 403 ``AccessError``, 404
``MissingError``, 500 anything else).  A real Odoo 18 has neither route; the sandbox chooses to answer
both, reporting its own (18.0) version.

Seed data (``data=`` or ``--data FILE``, YAML or JSON) is ``{model: [vals, ...]}``.
A record may carry ``xml_id: "module.name"`` (registered in ``ir.model.data``,
module ``__import__`` when the name has no dot), and any value written
``{ref: "module.name"}`` (or a list of them for a many2many) is replaced by that
record's id, so records can point at each other and at the seed's own records
(``uom.product_uom_unit``, ``base.main_company`` …).
"""

from __future__ import annotations

import functools
import inspect
import json
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from gateway.odoo.sandbox import flows  # registers the business behaviours
from gateway.odoo.sandbox import stock_levels  # noqa: F401  stock per warehouse, on top of flows
from gateway.odoo.sandbox import pricing  # noqa: F401  (registers vendors' prices and pricelist rules)
from gateway.odoo.sandbox.orm import (
    BEHAVIOURS,
    AccessDenied,
    AccessError,
    BadArguments,
    Database,
    DatabaseMissing,
    MethodMissing,
    MissingError,
    OdooError,
    UserError,
    load_yaml,
)

SEED_FILE = Path(__file__).with_name("seed.yaml")
VERSION_INFO = {"server_version": "18.0", "server_version_info": [18, 0, 0, "final", 0, ""],
                "server_serie": "18.0", "protocol_version": 1}
INSTALLED_LANGS = ("en_US",)
READ_ONLY_METHODS = {"read", "search", "search_read", "search_count", "name_search", "read_group", "fields_get",
                     "default_get", "exists", "context_get"}
DEFAULT_API_KEY = "edigw-sandbox-admin-api-key"  # the admin's JSON-2 key unless api_key= says otherwise
# Methods Odoo decorates with @api.model: JSON-2 calls them without ids (and refuses ids with 422).
JSON2_MODEL_METHODS = {"create", "search", "search_read", "search_count", "name_search", "read_group",
                       "fields_get", "default_get", "context_get", "generate", "revoke"}
XMLID_BASE = {"uom.uom": 6142}  # ir.model.data ids of the uom xml ids are Odoo's (uom.product_uom_unit = 6143)
# The chatter's subtypes with the ids and values of Odoo 18's mail module data (mail_message_subtype_data.xml).
MAIL_SUBTYPES = {"mail.message.subtype": [
    {"id": 1, "xml_id": "mail.mt_comment", "name": "Discussions", "sequence": 0},
    {"id": 2, "xml_id": "mail.mt_note", "name": "Note", "internal": True, "default": False, "sequence": 100},
    {"id": 3, "xml_id": "mail.mt_activities", "name": "Activities", "internal": True, "default": False,
     "sequence": 90},
    # the subtypes Odoo's own messages carry when an order is confirmed, with the recorded ids (15)
    {"id": 7, "xml_id": "purchase.mt_rfq_confirmed", "name": "RFQ Confirmed", "res_model": "purchase.order",
     "default": False, "internal": False},
    {"id": 12, "xml_id": "sale.mt_order_confirmed", "name": "Sales Order Confirmed", "res_model": "sale.order",
     "default": False, "internal": False}]}


@functools.lru_cache(maxsize=1)
def _seed_text() -> str:
    return SEED_FILE.read_text()


def seed_data() -> dict[str, list[dict]]:
    """The seed's records, parsed anew (a seed row may be changed while it is loaded)."""
    return load_yaml(_seed_text())


def detached(value: Any) -> Any:
    """A copy of an answer's lists and dicts, so that the caller cannot change the database through it
    (``copy.deepcopy`` without its memo: answers are JSON trees, and this is what each call returns)."""
    if isinstance(value, dict):
        return {key: detached(item) for key, item in value.items()}
    if isinstance(value, list):
        return [detached(item) for item in value]
    if isinstance(value, tuple):
        return tuple(detached(item) for item in value)
    return value


class Sandbox:
    """One Odoo database with one user, answering Odoo's external API."""

    def __init__(self, data: dict[str, list[dict]] | Path | str | None = None, *, db_name: str = "edi",
                 login: str = "admin", password: str = "admin", state_file: Path | None = None,
                 api_key: str = DEFAULT_API_KEY) -> None:
        self.db_name, self.login_name, self.password, self.api_key = db_name, login, password, api_key
        self.state_file = Path(state_file) if state_file else None
        self.lock = threading.RLock()
        self.sessions: dict[str, int] = {}
        # Why ``data`` was not loaded, for the one who passed it (None: loaded, or none given).
        self.data_not_loaded: str | None = None
        if self.state_file and self.state_file.exists():
            # A saved state already holds the seed data: loading it again would duplicate records.
            self.db = Database()
            self._restore(json.loads(self.state_file.read_text()))
            self._ensure_api_key()
            if data is not None:
                given = str(data) if isinstance(data, (str, Path)) else "the seed data"
                self.data_not_loaded = (
                    f"{given} not loaded: {self.state_file} already holds a database, which is served as it was "
                    f"saved (loading the seed again would duplicate its records); delete {self.state_file} to "
                    "start afresh from the seed")
            return
        self.db = Database()
        self._seed(seed_data(), fixed_ids=True)
        for model in sorted(self.db.models):
            self.db.create("ir.model", [{"model": model, "name": self.db.models[model].description}])
        self._seed(MAIL_SUBTYPES, fixed_ids=True)
        self._ensure_api_key()
        if data is not None:
            self.load(data)
        self._save()

    def _ensure_api_key(self) -> None:
        if self.api_key and flows.api_key_user(self.db, self.api_key) != self.db.uid:
            flows.add_api_key(self.db, self.db.uid, "edigw sandbox", key=self.api_key, scope="rpc")

    # -- seed data and state
    def load(self, data: dict[str, list[dict]] | Path | str) -> dict[str, list[int]]:
        """Add records from a mapping or a YAML/JSON file; returns the new ids per model."""
        if isinstance(data, (str, Path)):
            path = Path(data)
            text = path.read_text()
            try:
                data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (json.JSONDecodeError, yaml.YAMLError) as exc:
                raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a mapping of model names to lists of records")
        with self.lock:
            created = self._seed(data, fixed_ids=False)
            self._save()
        return created

    def _seed(self, data: dict[str, list[dict]], fixed_ids: bool) -> dict[str, list[int]]:
        created: dict[str, list[int]] = {}
        for model, rows in (data or {}).items():
            if model not in self.db.models:
                raise ValueError(f"seed data: unknown model {model!r}")
            for row in rows or []:
                vals = {k: self._resolve(v) for k, v in dict(row).items() if k not in ("id", "xml_id")}
                if fixed_ids and "id" in row:
                    self.db.next_ids[model] = row["id"]
                try:
                    rid = self.db.create(model, [vals])[0]
                except OdooError as exc:
                    raise ValueError(f"seed data: {model} {row.get('xml_id') or vals}: {exc.message}") from exc
                self.db.next_ids[model] = max(self.db.records[model]) + 1
                created.setdefault(model, []).append(rid)
                if row.get("xml_id"):
                    module, _, name = str(row["xml_id"]).rpartition(".")
                    ids = self.db.next_ids["ir.model.data"]
                    if model in XMLID_BASE:
                        self.db.next_ids["ir.model.data"] = XMLID_BASE[model] + rid
                    self.db.create("ir.model.data", [{"module": module or "__import__", "name": name,
                                                      "model": model, "res_id": rid}])
                    self.db.next_ids["ir.model.data"] = max(ids, max(self.db.records["ir.model.data"]) + 1)
        return created

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"ref"}:
            return self.ref(value["ref"])
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def ref(self, xml_id: str) -> int:
        """The id of the record with this external id (``module.name``)."""
        module, _, name = xml_id.rpartition(".")
        found = self.db.search("ir.model.data", [("module", "=", module or "__import__"), ("name", "=", name)])
        if not found:
            raise ValueError(f"seed data: no record with xml_id {xml_id!r}")
        return self.db.records["ir.model.data"][found[0]]["res_id"]

    def _save(self) -> None:
        if not self.state_file:
            return
        state = {"records": {m: list(r.values()) for m, r in self.db.records.items() if r},
                 "next_ids": self.db.next_ids, "sequences": self.db.sequences}
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    def _restore(self, state: dict[str, Any]) -> None:
        for model, rows in state.get("records", {}).items():
            if model in self.db.records:
                self.db.records[model] = {row["id"]: row for row in rows}
        self.db.next_ids.update(state.get("next_ids", {}))
        self.db.sequences.update(state.get("sequences", {}))
        self.db.drop_indexes()

    # -- the external API
    def authenticate(self, db: str, login: str, password: str) -> int | bool:
        """``common.login``: the uid, or False for a wrong login or password."""
        self._check_db(db)
        return self.db.uid if (login, password) == (self.login_name, self.password) else False

    def _check_db(self, db: str) -> None:
        if db != self.db_name:
            raise DatabaseMissing(db)

    def execute_kw(self, model: str, method: str, args: list | None = None, kwargs: dict | None = None) -> Any:
        """Call ``model.method(*args, **kwargs)`` as the logged-in user, in one transaction."""
        args, kwargs = list(args or []), dict(kwargs or {})
        context = dict(kwargs.pop("context", None) or {})
        lang = context.get("lang")
        if lang and lang not in INSTALLED_LANGS:
            raise UserError(f"Invalid language code: {lang}")
        if method.startswith("_"):
            raise AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        with self.lock:
            self.db.model(model)
            self.db.begin()
            self.db.context = context  # computed fields that depend on it (stock per warehouse) read it
            try:
                result = self._call(model, method, args, kwargs, context)
            except BaseException:
                self.db.rollback()
                raise
            self.db.commit()
            if method not in READ_ONLY_METHODS:
                self._save()
            return detached(result)

    def _call(self, model: str, method: str, args: list, kwargs: dict, context: dict) -> Any:
        beh = BEHAVIOURS.get(model)
        custom = beh.methods.get(method) if beh else None
        if custom:
            if args and isinstance(args[0], int):
                args[0] = [args[0]]
            if args and isinstance(args[0], list) and method != "create" and all(isinstance(i, int) for i in args[0]):
                missing = [i for i in args[0] if not self.db.exists(model, i)]
                if missing:
                    raise MissingError(model, missing, self.db.uid)
            return self._bind(custom, [self.db, *args], {**kwargs, "context": context})
        generic = self._generic(model, method, context)
        if generic is None:
            raise MethodMissing(f"The method '{model}.{method}' does not exist")
        return self._bind(generic, args, kwargs)

    @staticmethod
    def _bind(function: Callable[..., Any], args: list, kwargs: dict) -> Any:
        try:
            bound = inspect.signature(function).bind(*args, **kwargs)
        except TypeError as exc:
            raise BadArguments(f"{getattr(function, '__name__', 'method')}() {exc}") from exc
        return function(*bound.args, **bound.kwargs)

    def _generic(self, model: str, method: str, context: dict) -> Callable[..., Any] | None:
        db = self.db
        active_test = context.get("active_test", True)

        def as_ids(ids: Any) -> list[int]:
            return [ids] if isinstance(ids, int) else list(ids)

        def search(domain, offset=0, limit=None, order=None):
            return db.search(model, domain, offset, limit, order, active_test)

        def search_count(domain, limit=None):
            return len(db.search(model, domain, 0, limit, None, active_test))

        def search_read(domain=None, fields=None, offset=0, limit=None, order=None):
            return db.read(model, db.search(model, domain or [], offset, limit, order, active_test), fields)

        def read(ids, fields=None, load="_classic_read"):
            rows = db.read(model, as_ids(ids), fields)
            if load != "_classic_read":  # odoorpc's '_classic_write': a many2one is its id, not [id, name]
                for row in rows:
                    for name, value in row.items():
                        if isinstance(value, list) and name != "id" and db.field(model, name).type == "many2one":
                            row[name] = value[0]
            return rows

        def create(vals_list):
            if isinstance(vals_list, dict):
                return db.create(model, [vals_list], context)[0]
            return db.create(model, list(vals_list), context)

        def write(ids, vals):
            return db.write(model, as_ids(ids), vals, context)

        def unlink(ids):
            return db.unlink(model, as_ids(ids))

        def name_search(name="", domain=None, operator="ilike", limit=100, args=None):
            return db.name_search(model, name, domain or args, operator, limit)

        def read_group(domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
            return db.read_group(model, domain, fields, groupby, offset, limit, orderby, lazy)

        def fields_get(allfields=None, attributes=None):
            return db.fields_get(model, allfields, attributes)

        def default_get(fields_list):
            return db.default_get(model, list(fields_list), context)

        def exists(ids):
            return [i for i in as_ids(ids) if db.exists(model, i)]

        def web_save(ids, vals, specification, next_id=None):
            """The web client's save (Odoo 17+ ``web_save``): create (no ids) or write, then ``web_read`` of the
            specification; a many2one without sub-fields reads as its id, with ``{fields: {display_name: {}}}``
            as ``{id, display_name}``."""
            ids = as_ids(ids)
            if ids:
                db.write(model, ids, vals, context)
            else:
                ids = db.create(model, [vals], context)
            if next_id:
                ids = [next_id]
            rows = db.read(model, ids, [name for name in specification or {} if name != "id"])
            for row in rows:
                for name, spec in (specification or {}).items():
                    if db.field(model, name).type == "many2one" and isinstance(row.get(name), list):
                        row[name] = ({"id": row[name][0], "display_name": row[name][1]}
                                     if (spec or {}).get("fields") else row[name][0])
            return rows

        return {f.__name__: f for f in (search, search_count, search_read, read, create, write, unlink,
                                        name_search, read_group, fields_get, default_get, exists,
                                        web_save)}.get(method)

    # -- JSON-RPC
    def handle(self, path: str, payload: dict[str, Any], session: str | None = None) -> tuple[dict, str | None]:
        """Answer one JSON-RPC request body; returns the response body and a new session id, if any."""
        request_id = payload.get("id")
        params = payload.get("params") or {}
        new_session = None
        try:
            if path == "/web/webclient/version_info":
                result = dict(VERSION_INFO)
            elif path == "/jsonrpc":
                result = self._service(params.get("service"), params.get("method"), list(params.get("args") or []))
            elif path == "/web/session/authenticate":
                uid = self.authenticate(params.get("db"), params.get("login"), params.get("password"))
                if not uid:
                    raise AccessDenied()
                new_session = secrets.token_hex(20)
                self.sessions[new_session] = uid
                result = self._session_info(uid)
            elif path == "/web/session/get_session_info":
                result = self._session_info(self._session_uid(session))
            elif path == "/web/session/destroy":
                self.sessions.pop(session or "", None)
                result = None
            elif path.startswith("/web/dataset/call_kw") or path.startswith("/web/dataset/call_button"):
                self._session_uid(session)
                result = self.execute_kw(params.get("model"), params.get("method"), params.get("args"),
                                         params.get("kwargs"))
            else:
                raise NotFound(path)
        except OdooError as exc:
            return {"jsonrpc": "2.0", "id": request_id, "error": error_payload(exc)}, new_session
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if result is not None:  # Odoo leaves "result" out when a method returns None
            body["result"] = result
        return body, new_session

    def _service(self, service: str | None, method: str | None, args: list) -> Any:
        if service == "common":
            if method == "version":
                return dict(VERSION_INFO)
            if method in ("login", "authenticate"):
                return self.authenticate(*args[:3])
            if method == "about":
                return "See http://openerp.com"
        elif service == "db":
            if method == "list":
                return [self.db_name]
            if method == "server_version":
                return VERSION_INFO["server_version"]
            if method == "db_exist":
                return args[:1] == [self.db_name]
        elif service == "object" and method in ("execute", "execute_kw"):
            db, uid, password, model, name = (args + [None] * 5)[:5]
            self._check_db(db)
            if uid != self.db.uid or not self.authenticate(db, self.login_name, password):
                raise AccessDenied()
            if method == "execute":
                return self.execute_kw(model, name, args[5:], {})
            return self.execute_kw(model, name, args[5] if len(args) > 5 else [], args[6] if len(args) > 6 else {})
        raise UnknownService(f"{service}.{method}")

    def _session_uid(self, session: str | None) -> int:
        if not session or session not in self.sessions:
            raise SessionExpired("Session expired")
        return self.sessions[session]

    def _session_info(self, uid: int) -> dict[str, Any]:
        user = self.db.read("res.users", [uid], ["name", "login", "partner_id", "company_id", "lang", "tz"])[0]
        return {"uid": uid, "is_system": True, "is_admin": True, "is_public": False, "db": self.db_name,
                "name": user["name"], "username": user["login"], "partner_id": user["partner_id"][0],
                "company_id": user["company_id"][0],
                "user_context": {"lang": user["lang"] or "en_US", "tz": user["tz"], "uid": uid},
                "user_companies": {"current_company": 1, "allowed_companies": {
                    "1": {"id": 1, "name": self.db.display_name("res.company", 1)}}},
                "server_version": VERSION_INFO["server_version"],
                "server_version_info": VERSION_INFO["server_version_info"]}

    # -- JSON-2 (Odoo 19)
    def json2(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """Answer ``POST /json/2/<model>/<method>``: the HTTP status and the JSON body (result or error)."""
        context: dict[str, Any] = {}
        try:
            parts = path.split("/")  # "", "json", "2", model, method
            model, method = (parts[3], parts[4]) if len(parts) == 5 else ("", "")
            if not model or not method:
                raise HTTPError(404, "Did you mean POST /json/2/<model>/<method>?")
            database = headers.get("X-Odoo-Database")
            if database and database != self.db_name:
                raise HTTPError(404, f"database {database!r} not found")
            scheme, _, key = (headers.get("Authorization") or "").partition(" ")
            with self.lock:
                uid = flows.api_key_user(self.db, key.strip()) if scheme.lower() == "bearer" else None
            if uid is None:
                raise HTTPError(401, "Invalid apikey")
            try:
                params = json.loads(body) if body else {}
            except ValueError as exc:
                raise HTTPError(400, f"could not parse the body as json: {exc}") from exc
            params = dict(params) if isinstance(params, dict) else {}
            ids = params.pop("ids", None) or []
            ids = [ids] if isinstance(ids, int) else ids
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise HTTPError(422, f"ids must be an array of record ids, not {ids!r}")
            context = dict(params.pop("context", None) or {})
            result = self._json2_call(model, method, ids, params, context)
        except OdooError as exc:
            return exc.http_status, json2_error_body(exc, context)
        except Exception as exc:  # a defect of the sandbox: answered as Odoo answers any other exception
            error = OdooError(str(exc))
            error.odoo_name, error.http_status = f"builtins.{type(exc).__name__}", 500
            return 500, json2_error_body(error, context)
        return 200, result

    def _json2_call(self, model: str, method: str, ids: list[int], params: dict[str, Any],
                    context: dict[str, Any]) -> Any:
        if model not in self.db.models:
            raise HTTPError(404, f"the model {model!r} does not exist")
        if method.startswith("_"):
            raise AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        beh = BEHAVIOURS.get(model)
        if not (beh and beh.methods.get(method)) and self._generic(model, method, context) is None:
            raise HTTPError(404, f"The method '{model}.{method}' does not exist")
        model_method = method in JSON2_MODEL_METHODS
        if model_method and ids:
            raise HTTPError(422, f"cannot call {model}.{method} with ids")
        try:
            result = self.execute_kw(model, method, [] if model_method else [list(ids)], {**params, "context": context})
        except BadArguments as exc:  # JSON-2 checks the arguments against the signature before calling
            raise HTTPError(422, exc.message) from exc
        if method == "create" and isinstance(result, int):
            return [result]  # create returns records, which JSON-2 answers with their ids, even for one
        return result


class HTTPError(OdooError):
    """A ``werkzeug.exceptions`` HTTP error, as Odoo raises them in its routes (``arguments``: text and code)."""

    NAMES = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 422: "UnprocessableEntity"}

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.odoo_name = f"werkzeug.exceptions.{self.NAMES[status]}"
        self.arguments = [message, status]


def json2_error_body(exc: OdooError, context: dict[str, Any]) -> dict[str, Any]:
    """Odoo 19's ``serialize_exception``: what a JSON-2 error answers."""
    return {"name": exc.odoo_name, "message": exc.message, "arguments": getattr(exc, "arguments", [exc.message]),
            "context": context, "debug": exc.debug()}


class NotFound(OdooError):
    odoo_name = "werkzeug.exceptions.NotFound"
    http_status = 404

    def __init__(self, path: str) -> None:
        super().__init__(f"404: Not Found ({path})")


class UnknownService(OdooError):
    odoo_name = "builtins.NameError"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such service or method: {what}")


class SessionExpired(OdooError):
    odoo_name = "odoo.http.SessionExpiredException"


def error_payload(exc: OdooError) -> dict[str, Any]:
    """Odoo's JSON-RPC error object (always sent with HTTP 200)."""
    code, message = (100, "Odoo Session Expired") if isinstance(exc, SessionExpired) else (200, "Odoo Server Error")
    return {"code": code, "message": message,
            "data": {"name": exc.odoo_name, "debug": exc.debug(), "message": exc.message,
                     "arguments": [exc.message], "context": {}}}


# --------------------------------------------------------------------------- HTTP
def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Werkzeug/2.2.2 (edigw odoo sandbox)"
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            if self.path.split("?")[0].rstrip("/") == "/json/2" or self.path.startswith("/json/2/"):
                self._send(*sandbox.json2(self.path.split("?")[0], self.headers, raw))
                return
            try:
                payload = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": "request body is not JSON"})
                return
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
            session = cookie["session_id"].value if "session_id" in cookie else None
            body, new_session = sandbox.handle(self.path.split("?")[0], payload, session)
            error = body.get("error", {}).get("data", {}).get("name")
            status = 404 if error == NotFound.odoo_name else 200
            self._send(status, body, new_session)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/web/webclient/version_info"):
                self._send(200, {"jsonrpc": "2.0", "id": None, "result": VERSION_INFO})
            elif self.path.split("?")[0] in ("/web/version", "/json/version"):
                self._send(200, {"version_info": VERSION_INFO["server_version_info"],
                                 "version": VERSION_INFO["server_version"]})
            elif self.path.startswith("/json/2"):
                self._send(*sandbox.json2("/json/2", self.headers, b""))
            else:
                self._send(404, {"error": f"{self.path}: the Odoo sandbox answers JSON-RPC POST requests only"})

        def _send(self, status: int, body: Any, session: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if session:
                self.send_header("Set-Cookie", f"session_id={session}; HttpOnly; Path=/")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the sandbox serves tests and demos, not an audience."""

    return Handler


@dataclass
class RunningSandbox:
    """A sandbox serving HTTP on a background thread; ``stop()`` or use it as a context manager."""

    sandbox: Sandbox
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(host: str = "127.0.0.1", port: int = 0, data: dict | Path | str | None = None,
          state_file: Path | None = None, api_key: str = DEFAULT_API_KEY) -> RunningSandbox:
    """Serve a fresh sandbox on a background thread (port 0: any free port)."""
    sandbox = Sandbox(data, state_file=state_file, api_key=api_key)
    server = ThreadingHTTPServer((host, port), _handler_for(sandbox))
    server.daemon_threads = True
    # A short poll interval: stop() waits for it, and tests start and stop many sandboxes.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="odoo-sandbox",
                              daemon=True)
    thread.start()
    return RunningSandbox(sandbox, server, thread)


def serve(host: str = "127.0.0.1", port: int = 8069, data_file: Path | None = None,
          state_file: Path | None = None, api_key: str = DEFAULT_API_KEY) -> None:
    """Serve in the foreground until SIGTERM or SIGINT (``edigw odoo-sandbox``)."""
    sandbox = Sandbox(data_file, state_file=state_file, api_key=api_key)
    server = ThreadingHTTPServer((host, port), _handler_for(sandbox))
    server.daemon_threads = True
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if sandbox.data_not_loaded:
        print(f"warning: {sandbox.data_not_loaded}", file=sys.stderr, flush=True)
    print(f"Odoo 18 sandbox on http://{host}:{server.server_address[1]} (database {sandbox.db_name!r}, "
          f"login {sandbox.login_name!r}/{sandbox.password!r}, JSON-2 API key {sandbox.api_key!r}); "
          "Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
