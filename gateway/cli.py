"""The `edigw` command: parses arguments and calls the package; nothing else lives here.

Exit codes: 0 ok, 1 failure (something was found wrong, or could not be done), 2 usage;
`edigw status` exits 3 when something waits for a person (held, dead, overdue, open exceptions).
Every listing takes `--json`, whose shapes are stable and documented in the README.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

# Only what every command needs is imported here: each handler imports its own parts, so that
# `edigw --help` and the quick listings answer at once (benchmarks/cli_start.py).
from gateway.config import ConfigError, load_settings


NEEDS_A_PERSON = 3  # `edigw status`'s exit code when something waits for a person, for monitoring


class CommandError(Exception):
    """What a command could not do, said in a sentence (exit code 1)."""


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _app(args: argparse.Namespace):
    from gateway.app import App, setup_logging

    settings = load_settings(args.config)
    setup_logging(settings, json_lines=getattr(args, "log_json", False))
    return App(settings, upgrade=getattr(args, "upgrade", False))


# --- run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from gateway import daemon

    app = _app(args)
    # What starting made (modules, settings) lasts as long as the process: the collector need not
    # look at it again at each full collection (a big file's parse makes several).
    gc.freeze()
    try:
        with daemon.sole_runner(app.settings.store_url):
            return _run(app, args)
    except daemon.AlreadyRunning as error:
        if args.once:  # the work is in hand: a cron run that overlaps the last is not a failure
            print(f"edigw: {error}; this run --once leaves the work to it", file=sys.stderr)
            return 0
        raise CommandError(str(error)) from None
    finally:
        app.close()


def _run(app: Any, args: argparse.Namespace) -> int:
    from gateway import daemon

    if not args.once:
        daemon.run_forever(app)
        return 0
    if sys.stderr.isatty() and app.settings.log_format == "text" and not args.log_json:
        from gateway.progress import Progress

        app.pipeline.progress = Progress(sys.stderr)
    undone = daemon.run_once(app)
    if undone:  # a full disk: nothing lost, but the run did not do all it found (exit 1 tells cron)
        print("edigw: a full disk left work for the next run:\n" + "\n".join(f"  {what}" for what in undone),
              file=sys.stderr)
        return 1
    return 0


# --- messages ----------------------------------------------------------------------------


def cmd_messages_list(args: argparse.Namespace) -> int:
    from gateway import queries

    app = _app(args)
    if args.order:
        return _print_thread(queries.order_thread(app.store, args.order, args.partner), args)
    filters = {"partner": args.partner, "state": args.state, "since": args.since, "until": args.until,
               "direction": args.direction}
    rows = queries.list_messages(app.store, **filters, limit=args.limit or None)
    if args.json or args.format == "json":
        _print_json(rows)
        return 0
    if args.format == "csv":
        _print_csv(rows)
        return 0
    if not rows:
        print("no messages")
        return 0
    zone = "LOCAL" if args.local else "UTC"
    print(f"{'ID':>6}  {'RECEIVED ' + zone:<16} {'PARTNER':<16} {'DIR':<3} {'TYPE':<7} {'REF':<14} {'NUMBER':<16} "
          f"{'STATE':<11} REASON")
    for row in rows:
        print(f"{row['id']:>6}  {_shown_time(row['received_at'], args.local):<16} {row['partner']:<16.16} "
              f"{row['direction']:<3} {row['type'] or '':<7.7} {row['ref'] or '':<14.14} "
              f"{row['document_number'] or '':<16.16} {row['state']:<11} {row['reason'] or ''}")
    total = len(rows) if not args.limit or len(rows) < args.limit else queries.count_messages(app.store, **filters)
    print(f"{len(rows):,} of {total:,} shown" + (" (--limit 0 for all)" if total > len(rows) else ""))
    return 0


def _shown_time(iso: str | None, local: bool) -> str:
    """A stored UTC time (ISO, with Z) as the tables show it: to the minute, in UTC or the local zone."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment.astimezone() if local else moment).strftime("%Y-%m-%d %H:%M")


def _print_csv(rows: list[dict[str, Any]]) -> None:
    import csv

    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _when(text: str) -> datetime:
    """An argparse type: --since/--until values (gateway.when); a bad one is a usage error (exit 2)."""
    from gateway.when import parse_when

    try:
        return parse_when(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _until(text: str) -> datetime:
    """--until: like --since, but a bare date means up to the end of that day."""
    import re
    from datetime import timedelta

    moment = _when(text)
    return moment + timedelta(days=1) if re.fullmatch(r"\d{4}-\d\d-\d\d", text.strip()) else moment


def _message_state(text: str) -> str:
    from gateway.queries import MESSAGE_STATES

    if text not in MESSAGE_STATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a message state: use one of {', '.join(MESSAGE_STATES)}")
    return text


def _limit(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (0 for all)")
    return int(text)


def _print_thread(rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """An order's thread, oldest first: each document, its state, and the exceptions it raised."""
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no messages concern order {args.order}")
        return 0
    print(f"order {args.order}: {len(rows)} message(s), oldest first, times UTC")
    for row in rows:
        arrow = "→" if row["direction"] == "out" else "←"
        print(f"{row['id']:>6}  {row['received_at'][:19].replace('T', ' ')}  {arrow} {row['partner']:<16.16} "
              f"{row['type'] or '':<7.7} {row['document_type'] or '':<15.15} {row['document_number'] or '':<16.16} "
              f"{row['state']}{' (' + row['reason'] + ')' if row['reason'] else ''}")
        for entry in row["exceptions"]:
            print(f"{'':>8}  exception {entry['id']} [{entry['state']}] {entry['text']}")
    return 0


def cmd_exceptions_list(args: argparse.Namespace) -> int:
    from gateway import order_threads

    app = _app(args)
    rows = order_threads.list_exceptions(app.store, partner=args.partner, only_open=args.open, order=args.order,
                                         limit=args.limit)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no exceptions" + (" open" if args.open else ""))
        return 0
    print(f"{'ID':>6}  {'PARTNER':<16} {'ORDER':<12} {'KIND':<15} {'STATE':<10} TEXT")
    for row in rows:
        print(f"{row['id']:>6}  {row['partner']:<16.16} {row['order'] or '':<12.12} {row['kind']:<15.15} "
              f"{row['state']:<10} {row['text']}{' — ' + row['note'] if row['note'] and row['state'] != 'open' else ''}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    print(", ".join(f"{count} {state}" for state, count in sorted(counts.items())))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gateway import queries

    counts = queries.status(_app(args).store)
    waiting = NEEDS_A_PERSON if counts["needing_a_person"] else 0
    if args.json:
        _print_json(counts)
        return waiting
    partners = sorted(set(counts["messages"]) | set(counts["open_exceptions"]))
    if not partners:
        print("nothing yet: no messages, no exceptions")
        return 0
    for partner in partners:
        print(partner)
        for direction, states in sorted(counts["messages"].get(partner, {}).items()):
            print(f"  {'received' if direction == 'in' else 'sent'}: "
                  + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
        kinds = counts["open_exceptions"].get(partner)
        if kinds:
            print("  open exceptions: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
    print(f"late documents: {counts['late_documents']}; waiting for a person (held, dead, overdue, open "
          f"exceptions): {counts['needing_a_person']}")
    return waiting


def cmd_exceptions_resolve(args: argparse.Namespace) -> int:
    from gateway import order_threads

    app = _app(args)
    try:
        done = order_threads.resolve(app.store, args.ids, args.note)
    except LookupError as error:
        raise CommandError(str(error)) from None
    for row in done:
        print(f"exception {row['id']} resolved: {row['text']}")
    return 0


def cmd_messages_show(args: argparse.Namespace) -> int:
    from gateway import queries

    app = _app(args)
    try:
        if args.raw:
            for chunk in queries.raw_chunks(app.store, app.archive, args.id):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        detail = queries.show_message(app.store, app.archive, args.id, with_tree=True)
    except LookupError as error:
        print(f"edigw: {error}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(detail)
        return 0
    print(queries.describe_message(detail))
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    app = _app(args)
    failed = False
    for message_id in args.ids:
        try:
            state = app.pipeline.reprocess(message_id, args.stage)
        except (LookupError, ValueError) as error:
            print(f"edigw: {error}", file=sys.stderr)
            failed = True
            continue
        print(f"message {message_id}: {state}")
    return 1 if failed else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from gateway.outbound_jobs import replay_and_send

    app = _app(args)
    try:
        profile = _profile(app, args.partner)
        replayed, sent = replay_and_send(app, profile.id, since=args.since, document_type=args.document)
    finally:
        app.close()
    if args.json:
        _print_json([{**vars(s), "sent": s.exchange_id in sent} for s in replayed])
        return 0
    for item in replayed:
        print(("sent again: " if item.exchange_id in sent else "recorded, not sent yet: ") + item.describe())
    print(f"{len(sent)} of {len(replayed)} document(s) sent again to {profile.id}")
    return 0 if len(sent) == len(replayed) else 1


# --- partners ----------------------------------------------------------------------------


def _profile(app, partner: str):
    profile = app.profiles.get(partner)
    if profile is None:
        raise CommandError(f"no partner {partner!r} in {app.settings.partners_dir}")
    return profile


def cmd_partners_list(args: argparse.Namespace) -> int:
    app = _app(args)
    rows = [{"id": p.id, "name": p.name, "channels": [c.name for c in p.channels],
             "receive": sorted({r.message_type for r in p.receive})} for p in app.profiles.values()]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['id']:<20} {row['name']:<30} receives {', '.join(row['receive']) or '-'}")
    return 0


def cmd_partners_show(args: argparse.Namespace) -> int:
    app = _app(args)
    profile = _profile(app, args.partner)
    shown = {"id": profile.id, "file": str(profile.file), **profile.raw}
    if args.json:
        _print_json(shown)
    else:
        import yaml

        print(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True), end="")
    return 0


def cmd_partners_validate(args: argparse.Namespace) -> int:
    from gateway.profiles import ProfileError, load_profile, profile_files

    app = _app(args)
    files = [Path(name) for name in args.files] or profile_files(app.settings.partners_dir)
    problems = []
    for path in files:
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        try:
            profile = load_profile(path, app.settings.state_dir, app.settings.templates)
            for rule in profile.receive:
                app.templates.load(rule.template, rule.overrides)
        except ProfileError as error:
            problems.extend(str(problem) for problem in error.problems)
        except Exception as error:  # a template's own validation error names its file and line
            problems.append(f"{path}: {error}")
    if args.json:
        _print_json({"files": [str(p) for p in files], "problems": problems})
    else:
        for line in problems:
            print(line)
        print(f"{len(files)} profile(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_partners_test(args: argparse.Namespace) -> int:
    from gateway import inspection

    app = _app(args)
    profile = _profile(app, args.partner)
    report = inspection.inspect_file(Path(args.file), profile, app.templates)
    report["dry_run"] = True
    held = inspection.preview_in_odoo(app.deliverer, profile, report)
    if args.json:
        _print_json(report)
    else:
        print(inspection.describe(report))
        if isinstance(report["odoo"], str):
            print("dry run: nothing was stored; " + report["odoo"])
        else:
            print("dry run: nothing was stored or written; in Odoo it would come to:")
            for entry in report["odoo"]:
                print("  " + inspection.describe_preview(entry))
    return 0 if inspection.all_accepted(report) and not held else 1


def cmd_partners_test_connection(args: argparse.Namespace) -> int:
    from gateway.daemon import build_inboxes

    app = _app(args)
    profile = _profile(app, args.partner)
    reports = [inbox.channel.test_connection().as_dict() for inbox in build_inboxes(app)
               if inbox.profile.id == profile.id and hasattr(inbox.channel, "test_connection")]
    if args.json:
        _print_json(reports)
    elif not reports:
        print(f"partner {profile.id} has no SFTP channel to test")
    for report in [] if args.json else reports:
        print(f"{report['channel']}: {report['user']}@{report['server']}: "
              + ("logged in" if report["logged_in"] else "not logged in")
              + (f", host key {report['host_key']}" if report["host_key"] else ""))
        for role, folder in report["folders"].items():
            state = (f"{folder['files']} entr{'y' if folder['files'] == 1 else 'ies'}, {folder['waiting']} file(s) "
                     + ("to fetch" if role == "inbox" else "waiting") if folder["exists"] else "missing")
            print(f"  {role:<9} {folder['path']}: {state}")
        for problem in report["problems"]:
            print(f"  problem: {problem}")
    return 0 if reports and all(report["ok"] for report in reports) else 1


# --- inspect, audit ----------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace) -> int:
    from gateway import inspection
    from gateway.pipeline import TemplateSet

    settings = load_settings(args.config)
    profile = None
    if args.partner:
        from gateway.profiles import load_profile

        path = settings.partners_dir / f"{args.partner}.yaml"
        if not path.is_file():
            raise CommandError(f"no partner {args.partner!r} in {settings.partners_dir}")
        profile = load_profile(path, settings.state_dir, settings.templates)
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{args.file}: no such file")
    # Written as the parse goes: a report holds every segment of every message, many times the file.
    accepted = inspection.write_report(path, profile, TemplateSet(settings.templates), sys.stdout, args.json)
    return 0 if accepted else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.store.db import verify_chain, verify_rows

    from gateway.queries import verify_archive

    app = _app(args)
    with app.store.session() as session:
        count, problems = verify_chain(session, app.store.anchor)
        rows, row_problems = verify_rows(session, app.store.anchor)
    files, archive_problems = verify_archive(app.store, app.archive)
    if args.json:
        _print_json({"events": count, "ok": not problems and not archive_problems and not row_problems,
                     "problems": [{"event": p.event_id, "reason": p.reason} for p in problems],
                     "archive": {"files": files, "problems": [{"exchange": exchange, "reason": reason}
                                                              for exchange, reason in archive_problems]},
                     "rows": {"checked": rows, "problems": [{"subject": subject, "id": row_id, "reason": reason}
                                                            for subject, row_id, reason in row_problems]}})
    else:
        for problem in problems:
            print(f"audit event {problem.event_id}: {problem.reason}")
        for exchange, reason in archive_problems:
            print(f"exchange {exchange}: {reason}")
        for subject, row_id, reason in row_problems:
            print(f"{subject} {row_id}: {reason}")
        print(f"{count} audit events checked: " + ("the chain is intact" if not problems else
                                                    f"{len(problems)} problem(s)"))
        print(f"{files} archived files checked: " + ("every one matches its sha256" if not archive_problems else
                                                     f"{len(archive_problems)} problem(s)"))
        print(f"{rows} exchanges and messages checked: " + (
            "each matches its seal and its audit trail" if not row_problems else f"{len(row_problems)} problem(s)"))
    return 1 if problems or archive_problems or row_problems else 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.store.db import Store, head_revision

    store = Store(load_settings(args.config).store_url)
    try:
        current, head = store.revision(), head_revision()
        if current == head:
            print(f"the store is at schema revision {head}: nothing to upgrade")
            return 0
        if args.dry_run:
            print(f"the store is at schema revision {current or '(new)'}; `edigw db upgrade` would bring it to {head}")
            return 0
        store.migrate()
        print(f"the store was at schema revision {current or '(new)'}, now at {store.revision()}")
    finally:
        store.close()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from gateway.backup import BackupError, backup

    try:
        manifest = backup(load_settings(args.config), Path(args.destination))
    except BackupError as error:
        raise CommandError(str(error)) from None
    print(f"backed up to {args.destination}: the {manifest['store']} store"
          + (f" (schema {manifest['revision']})" if manifest.get("revision") else "")
          + f" and {manifest['archive_files']} archived file(s)" + (f"; {manifest['note']}" if "note" in manifest else ""))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from gateway.backup import BackupError, restore

    try:
        manifest = restore(load_settings(args.config), Path(args.source), force=args.force)
    except BackupError as error:
        raise CommandError(str(error)) from None
    print(f"restored the backup of {manifest['created_at']} ({manifest['archive_files']} archived file(s))")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from gateway.retention import purge

    app = _app(args)
    days = args.days or app.settings.retention_days
    if not days:
        raise CommandError("no retention: set [retention] days = N in gateway.toml, or give --days N")
    try:
        result = purge(app.store, app.archive, days, dry_run=args.dry_run)
    finally:
        app.close()
    print(f"older than {days:g} days: " + result.describe(args.dry_run))
    return 0


def cmd_signals_export(args: argparse.Namespace) -> int:
    from gateway.signals import SignalsError, render, signals

    since = args.since.date() if args.since else None
    if args.format == "parquet" and not args.output:
        raise CommandError("--format parquet is binary: give --output FILE")
    app = _app(args)
    try:
        rows = signals(app.store, since=since, partners=args.partner or ())
    finally:
        app.close()
    try:
        data = render(rows, args.format)
    except SignalsError as error:
        raise CommandError(str(error)) from None
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"{len(rows)} demand signals written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(load_settings(args.config), sys.stdout)


def cmd_odoo_sandbox(args: argparse.Namespace) -> int:
    from gateway.odoo import sandbox

    sandbox.serve(host=args.host, port=args.port, data_file=Path(args.data) if args.data else None,
                  state_file=Path(args.state) if args.state else None)
    return 0


# --- the support console -----------------------------------------------------------------


def cmd_messages_find(args: argparse.Namespace) -> int:
    from gateway import search

    app = _app(args)
    filters = search.Filters(partner=args.partner, direction=args.direction, state=args.state,
                             document_type=args.type, since=args.since, until=args.until)
    result = search.find(app.store, args.text, filters, page=args.page, per_page=args.limit)
    if args.json:
        _print_json(result)
        return 0
    if args.csv:
        sys.stdout.write(search.csv_text(result["messages"]))
        return 0
    for row in result["messages"]:
        print(f"{row['id']:>6}  {row['partner']:<16.16} {row['direction']:<3} {row['type'] or '':<7.7} "
              f"{row['document_number'] or row['ref'] or '':<16.16} {row['record_name'] or '':<14.14} "
              f"{row['state']:<11} {row['file']}")
    shown = len(result["messages"])
    print(f"{result['total']} message(s) found" + (f"; {shown} shown (page {result['page']} of {result['pages']}, "
                                                      f"--page N for more)" if shown < result["total"] else ""))
    return 0


def cmd_stock_availability(args: argparse.Namespace) -> int:
    from gateway.stock_queries import as_csv, availability

    rows = availability(_app(args).store, partner=args.partner, product=args.product)
    if args.json:
        _print_json(rows)
    elif args.csv:
        sys.stdout.write(as_csv(rows))
    elif not rows:
        print("no supplier has reported its stock" + (f" of {args.product}" if args.product else ""))
    else:
        print(f"{'PARTNER':<16} {'PRODUCT':<20} {'THEIR ITEM':<16} {'QUANTITY':>10} {'ON ORDER':>10} {'AVAILABLE':<10} REPORT")
        for row in rows:
            print(f"{row['partner']:<16.16} {row['product'] or '':<20.20} {row['their_item'] or '':<16.16} "
                  f"{row['quantity'] or '':>10} {row['on_order'] or '':>10} {row['available_date'] or '':<10} "
                  f"{row['report']} ({row['report_date'] or ''})")
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    import signal
    import threading

    from gateway.web.app import create_app
    from gateway.web.server import WebServer

    app = _app(args)
    server = WebServer()
    server.start(create_app(app.settings), args.host, args.port)
    print(f"edigw console on http://{server.host}:{server.port}/ (Ctrl-C stops it)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        app.close()
    return 0


def _new_password(args: argparse.Namespace) -> str:
    import getpass
    import os

    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise CommandError(f"the environment variable {args.password_env} is not set")
        return password
    password = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != password:
        raise CommandError("the two passwords differ")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    from gateway.web import users

    app = _app(args)
    app.store.migrate()
    try:
        if args.action == "add":
            users.add(app.store, args.name, args.role, _new_password(args))
            print(f"user {args.name} added as {args.role}")
        elif args.action == "passwd":
            users.set_password(app.store, args.name, _new_password(args))
            print(f"password of {args.name} changed")
        elif args.action == "remove":
            users.remove(app.store, args.name)
            print(f"user {args.name} removed")
        else:
            rows = [{"name": a.name, "role": a.role, "last_login_at": a.last_login_at} for a in users.accounts(app.store)]
            if args.json:
                _print_json(rows)
            for row in [] if args.json else rows:
                print(f"{row['name']:<24} {row['role']:<9} last signed in {row['last_login_at'] or 'never'}")
    except users.UserError as error:
        raise CommandError(str(error)) from None
    return 0


# --- the parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edigw", description="EDI and file gateway for Odoo: EDIFACT, X12 and CSV partners.")
    parser.add_argument("--config", help="gateway.toml (default: $EDIGW_CONFIG, then ./gateway.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the gateway: watch inboxes, process files")
    run.add_argument("--once", action="store_true", help="process everything pending, then exit 0")
    run.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    run.add_argument("--upgrade", action="store_true", help="upgrade a store made by an older edigw before "
                     "starting (otherwise the daemon refuses it; back it up first)")
    run.set_defaults(handler=cmd_run)

    messages = commands.add_parser("messages", help="find and read messages").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = messages.add_parser("list", help="list messages, newest first")
    listing.add_argument("--partner")
    listing.add_argument("--state", type=_message_state, help="received, parsed, translated, delivered, rejected, "
                         "held, retrying, dead, … (a message state)")
    listing.add_argument("--since", type=_when, help="received at or after: a date or time in UTC (2026-11-01, "
                         "2026-11-01T08:00), today, yesterday, or an age (30m, 2h, 7d)")
    listing.add_argument("--until", type=_until, help="received before: the same forms (a bare date: up to its end)")
    listing.add_argument("--direction", choices=("in", "out"),
                         help="in: what partners sent us; out: what we sent them (acknowledgments, documents)")
    listing.add_argument("--order", help="the thread of one order (our purchase order's or a customer's number), "
                         "oldest first, with each document's exceptions")
    listing.add_argument("--limit", type=_limit, default=200, help="at most this many, newest first (default "
                         "200; 0 for all); the table says how many of how many are shown")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table")
    listing.add_argument("--json", action="store_true", help="the same as --format json")
    listing.add_argument("--local", action="store_true", help="show times in the local zone, not UTC")
    listing.set_defaults(handler=cmd_messages_list)
    show = messages.add_parser("show", help="one message: raw bytes, tree, document, result, audit trail")
    show.add_argument("id", type=int)
    form = show.add_mutually_exclusive_group()
    form.add_argument("--raw", action="store_true", help="the archived bytes of its file, byte for byte")
    form.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_messages_show)

    find = messages.add_parser("find", help="the console's search: a document or order number (with or without "
                               "leading zeros), an Odoo record's name, a control number, a file name, a sha256 prefix")
    find.add_argument("text", nargs="?", default="", help="what to look for (empty: every message)")
    find.add_argument("--partner")
    find.add_argument("--direction", choices=("in", "out"))
    find.add_argument("--state")
    find.add_argument("--type", help="document type or message type: Order, 850, DESADV, …")
    find.add_argument("--since", type=_when, help="received at or after: a date or time in UTC, yesterday, 2h, 7d")
    find.add_argument("--until", type=_when, help="received before the end of this date, or before this time")
    find.add_argument("--page", type=int, default=1)
    find.add_argument("--limit", type=int, default=50, help="messages per page (at most 1000)")
    form = find.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="{query, total, page, per_page, pages, messages}")
    form.add_argument("--csv", action="store_true", help="the page as CSV")
    find.set_defaults(handler=cmd_messages_find)

    exceptions = commands.add_parser("exceptions", help="where partners' documents and Odoo disagree, and late "
                                     "documents: what waits for a person").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    elist = exceptions.add_parser("list", help="exceptions, newest first")
    elist.add_argument("--partner")
    elist.add_argument("--order", help="only this order's")
    elist.add_argument("--open", action="store_true", help="only those still waiting for a person")
    elist.add_argument("--limit", type=int, default=500)
    elist.add_argument("--json", action="store_true")
    elist.set_defaults(handler=cmd_exceptions_list)
    eresolve = exceptions.add_parser("resolve", help="mark exceptions settled (after acting in Odoo or with the partner)")
    eresolve.add_argument("ids", type=int, nargs="+", metavar="ID")
    eresolve.add_argument("--note", help="what was done, for the audit trail")
    eresolve.set_defaults(handler=cmd_exceptions_resolve)

    status = commands.add_parser("status", help="counts: messages per partner and state, open exceptions, "
                                 "late documents, what waits for a person (then exit code 3, for monitoring)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    reprocess = commands.add_parser("reprocess", help="run messages again from a stage, from their archived bytes")
    reprocess.add_argument("ids", type=int, nargs="+", metavar="ID")
    reprocess.add_argument("--from", dest="stage", choices=("parse", "translate", "deliver"), default="parse")
    reprocess.set_defaults(handler=cmd_reprocess)

    replay = commands.add_parser("replay", help="send again, with new control numbers, the documents sent to a "
                                 "partner from Odoo (order responses, despatch advices, invoices, orders)")
    replay.add_argument("--partner", required=True)
    replay.add_argument("--since", type=_when,
                        help="only what was first sent at or after: a date or time in UTC, yesterday, 2h, 7d")
    replay.add_argument("--document",
                        choices=("OrderResponse", "DespatchAdvice", "Invoice", "Order", "InventoryReport", "Catalog"),
                        help="only this document type")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=cmd_replay)

    partners = commands.add_parser("partners", help="partner profiles").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    plist = partners.add_parser("list", help="the loaded profiles")
    plist.add_argument("--json", action="store_true")
    plist.set_defaults(handler=cmd_partners_list)
    pshow = partners.add_parser("show", help="one profile")
    pshow.add_argument("partner")
    pshow.add_argument("--json", action="store_true")
    pshow.set_defaults(handler=cmd_partners_show)
    validate = partners.add_parser("validate", help="check profiles (all, or the files named) and their templates")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=cmd_partners_validate)
    test = partners.add_parser("test", help="dry run of a file through a partner's profile: nothing is stored")
    test.add_argument("partner")
    test.add_argument("file")
    test.add_argument("--json", action="store_true")
    test.set_defaults(handler=cmd_partners_test)
    connection = partners.add_parser("test-connection", help="log in to a partner's SFTP server, list its inbox and "
                                     "outbox, and say what is wrong, if anything")
    connection.add_argument("partner")
    connection.add_argument("--json", action="store_true")
    connection.set_defaults(handler=cmd_partners_test_connection)

    inspect = commands.add_parser("inspect", help="parse and translate a file without storing anything")
    inspect.add_argument("file")
    inspect.add_argument("--partner", help="read it with this partner's templates (default: base templates)")
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(handler=cmd_inspect)

    demand = commands.add_parser("signals", help="demand signals (retailers' sell-through) for forecasting tools"
                                 ).add_subparsers(dest="action", required=True, metavar="ACTION")
    export = demand.add_parser("export", help="one row per period, retailer, location and product: units sold, "
                               "returned, on hand, on order (from 852 / SLSRPT sales reports)")
    export.add_argument("--since", type=_when, help="periods ending on or after this day (2026-11-01, "
                        "yesterday, 7d)")
    export.add_argument("--partner", action="append", help="only this retailer (repeatable)")
    export.add_argument("--format", choices=("csv", "parquet", "json"), default="csv",
                        help="csv (default), parquet (needs --output and pyarrow: pip install 'edigw[parquet]'), json")
    export.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")
    export.add_argument("--output", "-o", help="write to this file (default: standard output, CSV only)")
    export.set_defaults(handler=cmd_signals_export)

    demo = commands.add_parser("demo", help="the shipped samples through the gateway into an Odoo sandbox, then "
                                             "the sale orders made")
    demo.set_defaults(handler=cmd_demo)

    stock = commands.add_parser("stock", help="stock reports partners sent us").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    savail = stock.add_parser("availability", help="suppliers' availability: the products of each supplier's "
                              "newest stock report (846 / INVRPT)")
    savail.add_argument("--partner", help="one supplier (profile id)")
    savail.add_argument("--product", help="one product: our code or the supplier's item number")
    sformat = savail.add_mutually_exclusive_group()
    sformat.add_argument("--json", action="store_true")
    sformat.add_argument("--csv", action="store_true", help="a header row and a row per product, for a spreadsheet")
    savail.set_defaults(handler=cmd_stock_availability)

    odoo = commands.add_parser("odoo-sandbox", help="a local emulator of Odoo 18's external API, for trials and tests")
    odoo.add_argument("--host", default="127.0.0.1")
    odoo.add_argument("--port", type=int, default=8069)
    odoo.add_argument("--data", help="seed records (YAML or JSON: {model: [values, …]}); not loaded into a "
                      "--state file that already exists, which is said on stderr")
    odoo.add_argument("--state", help="keep the data in this JSON file across restarts")
    odoo.set_defaults(handler=cmd_odoo_sandbox)

    backup = commands.add_parser("backup", help="a consistent copy of the store (SQLite's online backup, while "
                                 "the daemon runs) and the archive, into a new folder")
    backup.add_argument("destination", metavar="DEST")
    backup.set_defaults(handler=cmd_backup)
    restore = commands.add_parser("restore", help="put a backup back (stop the daemon first)")
    restore.add_argument("source", metavar="SRC")
    restore.add_argument("--force", action="store_true", help="replace the store that is there")
    restore.set_defaults(handler=cmd_restore)

    purge = commands.add_parser("purge", help="remove exchanges older than [retention] days, their rows and "
                                "archived bytes, unless something still needs them (open exceptions, threads, "
                                "work waiting); the audit trail stays")
    purge.add_argument("--days", type=float, help="instead of [retention] days")
    purge.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    purge.set_defaults(handler=cmd_purge)

    db = commands.add_parser("db", help="the store's schema").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    upgrade = db.add_parser("upgrade", help="bring a store made by an older edigw to this version's schema "
                            "(back it up first: edigw backup DEST)")
    upgrade.add_argument("--dry-run", action="store_true", help="say which revision it is at and would go to")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    web = commands.add_parser("web", help="the support console: find, explain and fix any message in a browser")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    web.add_argument("--port", type=int, default=8080)
    web.set_defaults(handler=cmd_web)

    people = commands.add_parser("users", help="who may sign in to the console, with which role").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    for action, text in (("add", "add a user"), ("passwd", "set a user's password"), ("remove", "remove a user")):
        one = people.add_parser(action, help=text)
        one.add_argument("name")
        if action == "add":
            one.add_argument("--role", required=True, choices=("viewer", "operator", "admin"),
                             help="viewer reads; operator also reprocesses and resolves; admin also manages users")
        if action != "remove":
            one.add_argument("--password-env", metavar="VAR", help="take the password from this environment "
                             "variable (else it is asked for)")
        one.set_defaults(handler=cmd_users)
    ulist = people.add_parser("list", help="the users and their roles")
    ulist.add_argument("--json", action="store_true")
    ulist.set_defaults(handler=cmd_users)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    verify = audit.add_parser("verify", help="check that no audit event was changed or removed")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, CommandError) as error:
        print(f"edigw: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as error:
        # These modules are loaded if the command got as far as reading a profile or the store.
        profiles, store = sys.modules.get("gateway.profiles"), sys.modules.get("gateway.store.db")
        if profiles is not None and isinstance(error, profiles.ProfileError):
            print(f"edigw: partner profiles have problems:\n{error}", file=sys.stderr)
            return 1
        if store is not None and isinstance(error, store.StoreNeedsUpgrade):
            print(f"edigw: {error}", file=sys.stderr)
            return 1
        room = store.out_of_room(error) if store is not None else None
        if room is not None:  # e.g. the store could not even be opened: no traceback for a full disk
            print(f"edigw: stopped by a full disk: {room}; nothing is lost: make room and run the command again",
                  file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
