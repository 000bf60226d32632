"""The gateway's connection to Odoo: `execute_kw` with explicit fields, retries and version hiding.

One `OdooClient` per deliverer, over one of two transports chosen by `[odoo] api`:

- `jsonrpc` (default, Odoo 16 to 21): odoorpc. Each worker thread gets its own authenticated
  connection, opened lazily and opened again after a failure (an Odoo restart, a proxy that
  dropped us).
- `json2` (Odoo 19 and later; Odoo 22 removes `/jsonrpc`): `POST /json/2/<model>/<method>`
  with a bearer API key and the method's arguments by name. Stateless: no login, one HTTP
  request per call. The gateway's positional `execute_kw` calls are named here
  (`json2_arguments`), so the rest of the gateway does not know which transport it uses.

Over either, a failure that may pass (connection refused, 502/503/504, a time-out, Odoo's
serialization failure) is retried with exponential back-off and jitter, then raised as
`TransientFailure`; anything else Odoo answers is an `OdooError` at once.

A call that writes is retried inside the client only when Odoo certainly did not apply it
(the connection was refused, or Odoo rolled the transaction back on a serialization
failure). After a time-out or a 502/504 nobody knows whether a `create` happened, so the
failure goes up to the pipeline, whose next attempt looks the business key up first.

Field names that moved between Odoo versions are learned once per connection from
`fields_get` (see `field_name`), never from a version table.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any, Callable
from urllib.parse import urlsplit

import odoorpc
import odoorpc.error

from gateway.config import OdooSettings
from gateway.pipeline import TransientFailure

READ_METHODS = frozenset({"search", "search_read", "search_count", "read", "fields_get", "name_search",
                          "read_group", "default_get", "exists", "context_get"})
# Odoo's own names for "the transaction lost a race; run it again" (PostgreSQL 40001 / 40P01).
RETRYABLE_ODOO_ERRORS = ("SerializationFailure", "TransactionRollbackError", "DeadlockDetected",
                         "could not serialize access")
RETRYABLE_HTTP = (502, 503, 504)
APIS = ("jsonrpc", "json2")

# JSON-2 passes arguments by name. Odoo's @api.model methods take no ids; their positional
# parameters in order (Odoo 19's signatures):
JSON2_MODEL_METHODS: dict[str, tuple[str, ...]] = {
    "search": ("domain", "offset", "limit", "order"),
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "search_count": ("domain", "limit"),
    "name_search": ("name", "domain", "operator", "limit"),
    "fields_get": ("allfields", "attributes"),
    "create": ("vals_list",),
    "default_get": ("fields_list",),
    "read_group": ("domain", "fields", "groupby", "offset", "limit", "orderby", "lazy"),
    "context_get": (),
}
# Any other method runs on records: the first positional argument is the ids, then these.
JSON2_RECORD_METHODS: dict[str, tuple[str, ...]] = {
    "read": ("fields", "load"),
    "write": ("vals",),
    "unlink": (),
    "exists": (),
    "web_save": ("vals", "specification", "next_id"),
}


class OdooError(Exception):
    """Odoo refused a call: `name` is Odoo's exception class (`error.data.name`), `message` its text."""

    def __init__(self, name: str, message: str, model: str | None = None, method: str | None = None) -> None:
        self.name = name
        self.message = message
        self.model = model
        self.method = method
        where = f"{model}.{method}: " if model and method else ""
        super().__init__(f"{where}{self.kind}: {message}")

    @property
    def kind(self) -> str:
        """The exception class without its module, e.g. ValidationError."""
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class _Failure:
    """A transient failure, and whether the request certainly did not reach Odoo's database."""

    reason: str
    not_applied: bool


class _Retry(Exception):
    """A JSON-2 answer that may pass (a proxy's 503, Odoo's serialization failure)."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def json2_arguments(method: str, args: list | tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON-2 body for `execute_kw(model, method, args, kwargs)`: every argument by its name.

    `ids` for a method on records, the method's own parameters, and `context` as given.
    """
    args = list(args)
    body: dict[str, Any] = {}
    if method in JSON2_MODEL_METHODS:
        names = JSON2_MODEL_METHODS[method]
    else:
        names = JSON2_RECORD_METHODS.get(method, ())
        if args:
            ids = args.pop(0)
            body["ids"] = [ids] if isinstance(ids, int) else list(ids)
    if len(args) > len(names):
        raise TypeError(f"{method}: JSON-2 passes arguments by name; give the arguments after the ids "
                        f"as keywords (positional {args[len(names):]!r} has no known name)")
    body.update(zip(names, args))
    for name, value in kwargs.items():
        if name in body:
            raise TypeError(f"{method}: argument {name!r} given twice (positionally and by name)")
        body[name] = value
    return body


class _CountingHandler(urllib.request.BaseHandler):
    """Counts every HTTP request made to Odoo (odoorpc's version probe, login, execute_kw; each JSON-2 call)."""

    handler_order = 1000

    def __init__(self, count: Callable[[], None]) -> None:
        self._count = count

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        self._count()
        return request

    https_request = http_request


class OdooClient:
    """Calls Odoo's external API; thread-safe, one lazy connection per thread.

    `calls` counts the HTTP requests made so far (all threads), so tests and benchmarks can
    hold the gateway to its budget of RPC calls per order.
    """

    def __init__(self, settings: OdooSettings, *, attempts: int = 4, backoff: float = 0.5,
                 max_backoff: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.url:
            raise ValueError("[odoo] url is not set")
        parts = urlsplit(settings.url if "//" in settings.url else f"http://{settings.url}")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"[odoo] url {settings.url!r}: the scheme must be http or https")
        if settings.api not in APIS:
            raise ValueError(f"[odoo] api {settings.api!r}: use 'jsonrpc' or 'json2'")
        self.settings = settings
        self.api = settings.api
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.protocol = "jsonrpc+ssl" if parts.scheme == "https" else "jsonrpc"
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        self._calls = 0
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}
        self._json2_opener = urllib.request.build_opener(_CountingHandler(self._count))

    # --- counting ------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        return self._calls

    def _count(self) -> None:
        with self._lock:
            self._calls += 1

    # --- the connection ------------------------------------------------------------------

    def _connection(self) -> odoorpc.ODOO:
        odoo = getattr(self._local, "odoo", None)
        if odoo is not None:
            return odoo
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()),
                                             _CountingHandler(self._count))
        odoo = odoorpc.ODOO(self.host, protocol=self.protocol, port=self.port, timeout=self.settings.timeout,
                            opener=opener)
        password = self.settings.password()
        if password is None:
            raise OdooError("gateway.ConfigError", "no Odoo password: set [odoo] password_file or password_env"
                            + (f" (${self.settings.password_env} is not set)" if self.settings.password_env else ""))
        try:
            odoo.login(self.settings.db, self.settings.user, password)
        except odoorpc.error.RPCError as error:
            if not error.info:  # odoorpc's own "Wrong login ID or password": Odoo answered `false`
                raise OdooError("odoo.exceptions.AccessDenied",
                                f"Odoo refused the login of {self.settings.user!r} on database "
                                f"{self.settings.db!r}: wrong login or password") from None
            raise
        self._local.odoo = odoo
        with self._lock:
            self._fields.clear()  # learned per connection: the server may have been upgraded meanwhile
        return odoo

    def close(self) -> None:
        """Forget this thread's connection (JSON-RPC is stateless: there is nothing to log out of)."""
        self._local.odoo = None
        if self.api == "json2":  # no connection to reopen; what was learned from the server is what goes
            with self._lock:
                self._fields.clear()

    @property
    def version(self) -> str:
        if self.api == "json2":
            return str(self._with_retries("web", "version", self._json2_version, read=True))
        return str(self._with_retries("common", "version", lambda: self._connection().version, read=True))

    # --- calls ---------------------------------------------------------------------------

    def call(self, model: str, method: str, args: list | tuple = (), kwargs: dict[str, Any] | None = None) -> Any:
        """`model.method(*args, **kwargs)` in Odoo; OdooError if Odoo refuses, TransientFailure if unreachable."""
        read = method in READ_METHODS
        if self.api == "json2":
            body = json2_arguments(method, args, dict(kwargs or {}))
            one = method == "create" and isinstance(body.get("vals_list"), dict)
            if one:
                body["vals_list"] = [body["vals_list"]]
            result = self._with_retries(model, method, lambda: self._json2_post(model, method, body), read=read)
            return result[0] if one else result  # JSON-2 answers created records as a list of ids
        return self._with_retries(model, method, lambda: self._connection().execute_kw(
            model, method, list(args), dict(kwargs or {})), read=read)

    def search_read(self, model: str, domain: list, fields: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        return self.call(model, "search_read", [domain], {"fields": fields, **kwargs})

    def read(self, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        return self.call(model, "read", [ids], {"fields": fields})

    def create(self, model: str, values: dict[str, Any], context: dict[str, Any] | None = None) -> int:
        kwargs = {"context": context} if context else {}
        return self.call(model, "create", [values], kwargs)

    def _with_retries(self, model: str, method: str, attempt: Callable[[], Any], read: bool) -> Any:
        started = time.monotonic()
        for number in range(1, self.attempts + 1):
            try:
                return attempt()
            except _Retry as retry:
                failure = retry.failure
            except odoorpc.error.RPCError as error:
                failure = self._odoo_failure(error, model, method)
            except Exception as error:  # noqa: BLE001 (sorted out just below)
                failure = self._transport_failure(error)
                if failure is None:
                    raise
            self.close()  # the next attempt opens a new connection (Odoo may have restarted)
            if not (read or failure.not_applied):
                raise TransientFailure(
                    f"Odoo at {self.url} did not answer {model}.{method}: {failure.reason}; "
                    "whether it was applied is unknown, so the next attempt looks it up first")
            if number < self.attempts:
                delay = min(self.max_backoff, self.backoff * 2 ** (number - 1)) * random.uniform(0.5, 1.5)
                self._sleep(delay)
        raise TransientFailure(f"Odoo at {self.url} is unreachable: {failure.reason} "
                               f"({self.attempts} attempts over {time.monotonic() - started:.1f} s)")

    @staticmethod
    def _odoo_failure(error: odoorpc.error.RPCError, model: str, method: str) -> _Failure:
        info = error.info if isinstance(error.info, dict) else {}
        data = info.get("data") or {}
        name = str(data.get("name") or "odoorpc.error.RPCError")
        message = str(data.get("message") or info.get("message") or error)
        if any(marker in name or marker in message for marker in RETRYABLE_ODOO_ERRORS):
            return _Failure(f"{name.rsplit('.', 1)[-1]} (a concurrent update in Odoo)", not_applied=True)
        raise OdooError(name, message, model, method) from None

    @staticmethod
    def _transport_failure(error: Exception) -> _Failure | None:
        if isinstance(error, urllib.error.HTTPError):
            if error.code in RETRYABLE_HTTP:
                return _Failure(f"HTTP {error.code} {error.reason}", not_applied=False)
            return None
        if isinstance(error, urllib.error.URLError):
            reason = error.reason
            if isinstance(reason, ConnectionRefusedError):
                return _Failure("connection refused", not_applied=True)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                return _Failure("time-out", not_applied=False)
            if isinstance(reason, socket.gaierror):
                return _Failure(f"host not found ({reason})", not_applied=True)
            return _Failure(str(reason), not_applied=False)
        if isinstance(error, ConnectionRefusedError):
            return _Failure("connection refused", not_applied=True)
        if isinstance(error, (socket.timeout, TimeoutError)):
            return _Failure("time-out", not_applied=False)
        if isinstance(error, (ConnectionError, http.client.HTTPException)):
            return _Failure(f"connection lost ({type(error).__name__})", not_applied=False)
        if isinstance(error, json.JSONDecodeError):
            return _Failure("the answer was not JSON (a proxy error page?)", not_applied=False)
        return None

    # --- JSON-2 -------------------------------------------------------------------------

    def _json2_post(self, model: str, method: str, body: dict[str, Any]) -> Any:
        key = self.settings.api_key()
        if not key:
            raise OdooError("gateway.ConfigError", "no Odoo API key: set [odoo] api_key_file or api_key_env"
                            + (f" (${self.settings.api_key_env} is not set)" if self.settings.api_key_env else ""))
        headers = {"Authorization": f"bearer {key}", "Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "edigw"}
        if self.settings.db:
            headers["X-Odoo-Database"] = self.settings.db
        request = urllib.request.Request(f"{self.url}/json/2/{model}/{method}", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with self._json2_opener.open(request, timeout=self.settings.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise self._json2_refusal(error, model, method) from None

    def _json2_version(self) -> str:
        request = urllib.request.Request(f"{self.url}/web/version", headers={"User-Agent": "edigw"})
        try:
            with self._json2_opener.open(request, timeout=self.settings.timeout) as response:
                return str(json.loads(response.read())["version"])
        except urllib.error.HTTPError as error:
            raise self._json2_refusal(error, "web", "version") from None

    def _json2_refusal(self, error: urllib.error.HTTPError, model: str, method: str) -> Exception:
        """What an error status means: `_Retry` for what may pass, an `OdooError` for the rest."""
        try:
            body = json.loads(error.read() or b"null")
        except (ValueError, OSError):
            body = None
        body = body if isinstance(body, dict) else {}
        name, message = str(body.get("name") or ""), str(body.get("message") or "")
        if error.code >= 500 and any(marker in name or marker in message for marker in RETRYABLE_ODOO_ERRORS):
            return _Retry(_Failure(f"{name.rsplit('.', 1)[-1]} (a concurrent update in Odoo)", not_applied=True))
        if error.code in RETRYABLE_HTTP:
            return _Retry(_Failure(f"HTTP {error.code} {error.reason}", not_applied=False))
        if error.code == 401:  # as the JSON-RPC login's refusal, so both transports say the same
            return OdooError("odoo.exceptions.AccessDenied",
                             f"Odoo refused the API key ({message or 'Unauthorized'}) on database "
                             f"{self.settings.db!r}: check [odoo] api_key_file or api_key_env", model, method)
        if name:
            return OdooError(name, message, model, method)
        return OdooError(f"HTTP {error.code}", f"{error.reason} (no JSON error in the answer)", model, method)

    # --- version differences -------------------------------------------------------------

    def fields(self, model: str) -> dict[str, dict[str, Any]]:
        """The model's fields (type, relation, digits), asked once per connection."""
        known = self._fields.get(model)
        if known is None:
            known = self.call(model, "fields_get", [], {"attributes": ["type", "relation", "digits"]})
            self._fields[model] = known
        return known

    def has_field(self, model: str, name: str) -> bool:
        return name in self.fields(model)

    def field_name(self, model: str, *candidates: str) -> str:
        """The first of `candidates` this Odoo has on `model` (e.g. `product_uom_id` or `product_uom`)."""
        known = self.fields(model)
        for name in candidates:
            if name in known:
                return name
        raise OdooError("gateway.UnsupportedVersion",
                        f"this Odoo has none of the fields {', '.join(candidates)} on {model}")

    def digits(self, model: str, field: str, default: int = 2) -> int:
        """Decimal places Odoo keeps for a float field (its decimal precision, e.g. "Product Price")."""
        digits = self.fields(model).get(field, {}).get("digits")
        if isinstance(digits, (list, tuple)) and len(digits) == 2 and digits[1] is not None:
            return int(digits[1])
        return default

    def storable_product_values(self) -> dict[str, Any]:
        """The values that make a product tracked in stock on this Odoo (18+, 17, 16 spell it differently)."""
        known = self.fields("product.template")
        if "is_storable" in known:
            return {"type": "consu", "is_storable": True}
        if "detailed_type" in known:
            return {"detailed_type": "product"}
        return {"type": "product"}

    def done_quantity_field(self, model: str = "stock.move.line") -> str:
        """Where a picked quantity is written: `qty_done` up to 16, `quantity` from 17."""
        return self.field_name(model, "qty_done", "quantity")
