"""The support console: find a message, read its whole story on one page, fix it from there.

Server-rendered pages (Jinja2 templates in `templates/`, one stylesheet in `static/`, no
JavaScript needed). Views read through `gateway.queries` and `gateway.search` and act through
the pipeline and `gateway.order_threads`, as the CLI does; every action is confirmed on a page
that first shows what will happen, and is audited under the signed-in user's name.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import flask

from gateway.web import users
from gateway.web.console import guard

blueprint = flask.Blueprint("console", __name__, template_folder="templates", static_folder="static",
                            static_url_path="/console-static")

STATES = ("received", "parsed", "translated", "delivered", "acknowledged", "held", "retrying", "dead",
          "rejected", "duplicate", "pending", "rendered", "sent", "overdue")
PLAIN = {
    "received": "received, not read yet", "parsed": "read, not translated yet",
    "translated": "translated; not delivered to Odoo (no Odoo configured, or waiting)",
    "delivered": "delivered to Odoo", "acknowledged": "delivered and acknowledged",
    "held": "held: it waits for a person to fix the cause, then to reprocess it",
    "retrying": "Odoo could not be reached; the gateway tries again by itself",
    "dead": "the gateway gave up retrying; fix the cause and reprocess it",
    "rejected": "rejected for its syntax; a negative acknowledgment was sent where the standard has one",
    "duplicate": "a duplicate of a document already received; nothing was done with it",
    "pending": "waiting to be written", "rendered": "written, not sent yet", "sent": "sent, waiting for the "
    "partner's acknowledgment", "overdue": "sent, and the partner's acknowledgment is late",
}
STAGES = ("parse", "translate", "deliver")


def install(app: flask.Flask, settings) -> None:
    """Session key, cookies and the gateway's parts for one app."""
    from gateway.app import App

    guard.configure(app, settings.state_dir, settings.http.secure_cookies)
    app.extensions["edigw"] = App(settings)


def _gateway():
    return flask.current_app.extensions["edigw"]


@blueprint.before_app_request
def _who() -> None:
    flask.g.account = guard.current(_gateway().store, _gateway().settings.http.trusted_user_header)
    guard.check_csrf()


@blueprint.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"csrf_token": guard.csrf_token, "account": flask.g.get("account"), "plain": PLAIN,
            "odoo_link": _odoo_link}


@blueprint.app_template_filter("when")
def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


@blueprint.app_errorhandler(403)
def _forbidden(error):
    return flask.render_template("error.html", title="Not allowed", text=error.description), 403


@blueprint.app_errorhandler(404)
def _missing(error):
    return flask.render_template("error.html", title="Not found", text=error.description), 404


def _odoo_link(result: dict | None) -> str | None:
    url = _gateway().settings.odoo.url
    if not url or not result or not result.get("model") or not result.get("id"):
        return None
    return f"{url.rstrip('/')}/web#id={int(result['id'])}&model={result['model']}&view_type=form"


# --- signing in ------------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    problem = None
    target = flask.request.values.get("next") or flask.url_for("console.dashboard")
    if urlsplit(target).netloc or not target.startswith("/"):
        target = flask.url_for("console.dashboard")  # never send a person elsewhere after signing in
    if flask.request.method == "POST":
        try:
            account = users.sign_in(_gateway().store, flask.request.form.get("name", ""),
                                    flask.request.form.get("password", ""))
        except users.UserError as error:
            problem = str(error)
        else:
            flask.session.clear()
            flask.session.permanent = True
            flask.session["user"] = account.name
            return flask.redirect(target)
    return flask.render_template("login.html", problem=problem, target=target), 401 if problem else 200


@blueprint.route("/logout", methods=["POST"])
def logout():
    flask.session.clear()
    return flask.redirect(flask.url_for("console.login"))


# --- reading ---------------------------------------------------------------------------


@blueprint.route("/")
@guard.requires("viewer")
def dashboard():
    from gateway import order_threads, queries, search

    store = _gateway().store
    counts = queries.status(store)
    totals: dict[str, int] = {}
    for directions in counts["messages"].values():
        for states in directions.values():
            for state, count in states.items():
                totals[state] = totals.get(state, 0) + count
    waiting = search.find(store, None, search.Filters(state="held"), per_page=10)
    overdue = search.find(store, None, search.Filters(state="overdue"), per_page=10)
    late = [row for row in order_threads.list_exceptions(store, only_open=True, limit=200)
            if row["kind"].startswith("late_")]
    return flask.render_template("dashboard.html", totals=totals, counts=counts, waiting=waiting, overdue=overdue,
                                 late=late, hour=queries.last_hour(store))


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        flask.abort(400, f"{value!r} is not a date (e.g. 2026-11-20)")


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value else default
    except ValueError:
        return default


@blueprint.route("/messages")
@guard.requires("viewer")
def messages():
    from gateway import search

    args = flask.request.args
    filters = search.Filters(partner=args.get("partner") or None, direction=args.get("direction") or None,
                             state=args.get("state") or None, document_type=args.get("type") or None,
                             since=_date(args.get("from")), until=_date(args.get("to")))
    if args.get("format") == "csv":
        result = search.find(_gateway().store, args.get("q"), filters, per_page=1000, page=_int(args.get("page"), 1))
        return flask.Response(search.csv_text(result["messages"]), mimetype="text/csv", headers={
            "Content-Disposition": "attachment; filename=messages.csv"})
    result = search.find(_gateway().store, args.get("q"), filters, page=_int(args.get("page"), 1))
    return flask.render_template("messages.html", result=result, args=args, states=STATES,
                                 partners=sorted(_gateway().profiles), page_args=_page_args)


def _page_args(page: int, **more) -> str:
    from urllib.parse import urlencode

    values = {key: value for key, value in flask.request.args.items() if value and key != "page"}
    values.update(page=page, **more)
    return "?" + urlencode(values)


@blueprint.route("/messages/<int:message_id>")
@guard.requires("viewer")
def message(message_id: int):
    from gateway import queries
    from gateway.web.console import rawview

    gateway = _gateway()
    try:
        try:
            detail = queries.show_message(gateway.store, gateway.archive, message_id, with_tree=True)
        except OSError:  # the tree is parsed from the archived file; said below where the file is shown
            detail = queries.show_message(gateway.store, gateway.archive, message_id)
    except LookupError as error:
        flask.abort(404, str(error))
    with gateway.store.session() as session:
        from gateway.store.models import Message

        position = session.get(Message, message_id).position
    try:
        with gateway.archive.view(detail["exchange"]["sha256"]) as data:  # a block at a time, around the message
            segments = rawview.segments(data, position, detail["errors"])
        missing = None
    except OSError as error:  # the page still tells the rest of the story
        segments, missing = [], f"the archived file cannot be read: {error.strerror} ({error.filename})"
    return flask.render_template("message.html", m=detail, segments=segments, document=_readable(detail["document"]),
                                 stages=STAGES, missing=missing)


@blueprint.route("/messages/<int:message_id>/raw")
@guard.requires("viewer")
def raw(message_id: int):
    from gateway import queries

    try:
        chunks = queries.raw_chunks(_gateway().store, _gateway().archive, message_id)
    except LookupError as error:
        flask.abort(404, str(error))
    # Streamed a chunk at a time as the browser takes them: a file of a gigabyte is never held whole.
    return flask.Response(chunks, mimetype="application/octet-stream",
                          headers={"Content-Disposition": f"attachment; filename=message-{message_id}.edi"})


def _readable(document: dict | None) -> dict[str, Any] | None:
    """A document as a page shows it: its plain fields, its parties, its lines and their total."""
    from gateway import queries

    if not document:
        return None
    fields = {k: v for k, v in document.items() if not isinstance(v, (dict, list)) and v not in (None, "")}
    parties = {k: {key: value for key, value in v.items() if value not in (None, "")}
               for k, v in document.items() if isinstance(v, dict)}
    lines = document.get("lines") if isinstance(document.get("lines"), list) else []
    # A party inside a line (a sales report's store) shows as one cell: its identifiers and name;
    # a list inside a line (an 852's figures per location) as one cell of a text per entry.
    lines = [{k: queries.party_text(v) if isinstance(v, dict) else queries.describe_entries(v) if isinstance(v, list)
              else v for k, v in line.items()} for line in lines]
    columns = [key for key in ("line_number", "gtin", "upc", "buyer_item", "supplier_item", "description",
                               "quantity", "uom", "unit_price") if any(line.get(key) for line in lines)]
    columns += sorted({k for line in lines for k, v in line.items()
                       if k not in columns and v not in (None, "") and not isinstance(v, list)})
    columns += sorted({k for line in lines for k, v in line.items() if isinstance(v, list) and v})
    total = Decimal(0)
    try:
        for line in lines:
            total += Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"]))
    except (KeyError, TypeError, InvalidOperation):
        total = None
    others = {k: v for k, v in document.items() if isinstance(v, list) and k != "lines"}
    return {"fields": fields, "parties": parties, "lines": lines, "columns": columns,
            "total": f"{total:.2f}" if total is not None and lines else None, "others": others}


@blueprint.route("/orders/<path:order>")
@guard.requires("viewer")
def thread(order: str):
    from gateway import order_threads, queries

    rows = queries.order_thread(_gateway().store, order, flask.request.args.get("partner") or None)
    open_exceptions = order_threads.list_exceptions(_gateway().store, order=order)
    return flask.render_template("thread.html", order=order, rows=rows, exceptions=open_exceptions)


@blueprint.route("/files")
@guard.requires("viewer")
def files():
    from gateway import queries

    args = flask.request.args
    result = queries.list_exchanges(_gateway().store, partner=args.get("partner") or None,
                                    state=args.get("state") or None, direction=args.get("direction") or None,
                                    page=_int(args.get("page"), 1))
    return flask.render_template("files.html", result=result, args=args, page_args=_page_args,
                                 partners=sorted(_gateway().profiles))


@blueprint.route("/exceptions")
@guard.requires("viewer")
def exceptions():
    from gateway import order_threads

    only_open = flask.request.args.get("all") is None
    rows = order_threads.list_exceptions(_gateway().store, partner=flask.request.args.get("partner") or None,
                                         only_open=only_open, limit=500)
    return flask.render_template("exceptions.html", rows=rows, only_open=only_open)


@blueprint.route("/partners")
@guard.requires("viewer")
def partners():
    from gateway import queries

    overview = queries.partners_overview(_gateway().store)
    for partner in _gateway().profiles:
        overview.setdefault(partner, {"last_received": None, "last_sent": None, "messages": {},
                                      "open_exceptions": {}})
    return flask.render_template("partners.html", overview=dict(sorted(overview.items())),
                                 profiles=_gateway().profiles)


@blueprint.route("/partners/<partner>")
@guard.requires("admin")
def partner(partner: str):
    import yaml

    from gateway.profiles import ProfileError, load_profile

    profile = _gateway().profiles.get(partner)
    if profile is None:
        flask.abort(404, f"no partner {partner}")
    problems = []
    try:
        load_profile(profile.file, _gateway().settings.state_dir, _gateway().settings.templates_dir)
        for rule in profile.receive:
            _gateway().templates.load(rule.template, rule.overrides)
    except ProfileError as error:
        problems = [str(problem) for problem in error.problems]
    except Exception as error:  # a template's validation error names its file and line
        problems = [str(error)]
    text = yaml.safe_dump(profile.raw, sort_keys=False, allow_unicode=True)
    return flask.render_template("partner.html", profile=profile, text=text, problems=problems)


@blueprint.route("/users")
@guard.requires("admin")
def user_list():
    return flask.render_template("users.html", accounts=users.accounts(_gateway().store), roles=users.ROLES)


@blueprint.route("/users", methods=["POST"])
@guard.requires("admin")
def user_change():
    form, store = flask.request.form, _gateway().store
    try:
        if form.get("remove"):
            if form["remove"] == flask.g.account.name:
                raise users.UserError("you cannot remove yourself")
            users.remove(store, form["remove"])
            flask.flash(f"user {form['remove']} removed")
        else:
            users.add(store, form.get("name", "").strip(), form.get("role", ""), form.get("password", ""))
            flask.flash(f"user {form.get('name')} added as {form.get('role')}")
    except users.UserError as error:
        flask.flash(str(error), "problem")
    return flask.redirect(flask.url_for("console.user_list"))


# --- actions: confirm, then do -----------------------------------------------------------


def _actor() -> str:
    return f"{flask.g.account.name} (console)"


@blueprint.route("/messages/<int:message_id>/reprocess", methods=["GET", "POST"])
@guard.requires("operator")
def reprocess(message_id: int):
    from gateway import queries

    gateway = _gateway()
    stage = flask.request.values.get("stage", "parse")
    if stage not in STAGES:
        flask.abort(400, f"no stage {stage!r}")
    try:
        detail = queries.show_message(gateway.store, gateway.archive, message_id)
    except LookupError as error:
        flask.abort(404, str(error))
    if flask.request.method == "POST":
        try:
            state = gateway.pipeline.reprocess(message_id, stage, actor=_actor())
        except (LookupError, ValueError) as error:
            flask.flash(f"not reprocessed: {error}", "problem")
        else:
            flask.flash(f"message {message_id} reprocessed from {stage}: now {state}")
        return flask.redirect(flask.url_for("console.message", message_id=message_id))
    return flask.render_template("reprocess.html", m=detail, stage=stage, preview=_dry_run(detail, stage))


def _dry_run(detail: dict[str, Any], stage: str) -> dict[str, Any]:
    """What a reprocess would give: the message read and translated again (or its stored document, from
    deliver), and what Odoo would make of it — the dry run of `partners test`, nothing written."""
    from gateway import inspection
    from gateway.formats.model import UnreadableFile

    gateway = _gateway()
    profile = gateway.profiles.get(detail["partner"])
    if profile is None:
        return {"problem": f"no partner profile {detail['partner']} is loaded: it cannot be reprocessed"}
    if stage == "deliver":
        message = {"document_type": detail["document_type"], "document": detail["document"], "errors": [],
                   "problems": [], "status": "stored"}
    else:
        with gateway.store.session() as session:
            from gateway.store.models import Message

            position = session.get(Message, detail["id"]).position
        try:  # as the reprocess reads it: this message, its interchange checked, no report of the others
            parsed = gateway.pipeline.parse_again(detail["exchange"]["sha256"], profile, position)
        except UnreadableFile as error:
            return {"problem": str(error)}
        if parsed is None:
            return {"problem": f"the file no longer yields message {position + 1}"}
        message = inspection.message_report(parsed, profile, gateway.templates)
    report = {"interchanges": [{"messages": [message]}]}
    inspection.preview_in_odoo(gateway.deliverer, profile, report)
    odoo = report["odoo"]
    return {"message": message, "odoo": odoo if isinstance(odoo, str) else
            [inspection.describe_preview(entry) for entry in odoo]}


@blueprint.route("/exceptions/<int:exception_id>/resolve", methods=["GET", "POST"])
@guard.requires("operator")
def resolve(exception_id: int):
    from gateway import order_threads

    store = _gateway().store
    with store.session() as session:
        from gateway.store.models import OrderException

        row = session.get(OrderException, exception_id)
        if row is None:
            flask.abort(404, f"no exception {exception_id}")
        entry = order_threads.exception_dict(row)
    if flask.request.method == "POST":
        try:
            order_threads.resolve(store, [exception_id], flask.request.form.get("note") or None, actor=_actor())
        except LookupError as error:
            flask.flash(str(error), "problem")
        else:
            flask.flash(f"exception {exception_id} resolved")
        if entry["message_id"]:
            return flask.redirect(flask.url_for("console.message", message_id=entry["message_id"]))
        return flask.redirect(flask.url_for("console.exceptions"))
    return flask.render_template("resolve.html", e=entry)


@blueprint.route("/partners/<partner>/replay", methods=["GET", "POST"])
@guard.requires("operator")
def replay(partner: str):
    from gateway import outbound_jobs

    gateway = _gateway()
    if partner not in gateway.profiles:
        flask.abort(404, f"no partner {partner}")
    document = flask.request.values.get("document") or None
    since = _date(flask.request.values.get("since"))
    if flask.request.method == "POST":
        replayed, sent = outbound_jobs.replay_and_send(gateway, partner, since=since, document_type=document,
                                                       actor=_actor())
        flask.flash(f"{len(sent)} of {len(replayed)} document(s) sent again to {partner}",
                    None if len(sent) == len(replayed) else "problem")
        return flask.redirect(flask.url_for("console.files", partner=partner))
    would = outbound_jobs.replayable(gateway.store, partner, since=since, document_type=document)
    return flask.render_template("replay.html", partner=partner, would=would, document=document or "",
                                 since=flask.request.values.get("since") or "")
