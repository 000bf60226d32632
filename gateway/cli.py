"""The `edigw` command: parses arguments and calls the package; nothing else lives here.

Exit codes: 0 ok, 1 failure (something was found wrong, or could not be done), 2 usage.
Every listing takes `--json`, whose shapes are stable and documented in the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from gateway import inspection
from gateway.config import ConfigError, load_settings
from gateway.profiles import ProfileError


class CommandError(Exception):
    """What a command could not do, said in a sentence (exit code 1)."""


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _app(args: argparse.Namespace):
    from gateway.app import App, setup_logging

    settings = load_settings(args.config)
    setup_logging(settings, json_lines=getattr(args, "log_json", False))
    return App(settings)


# --- run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from gateway import daemon

    app = _app(args)
    try:
        if args.once:
            daemon.run_once(app)
        else:
            daemon.run_forever(app)
    finally:
        app.close()
    return 0


# --- messages ----------------------------------------------------------------------------


def cmd_messages_list(args: argparse.Namespace) -> int:
    from gateway import queries

    app = _app(args)
    if args.order:
        return _print_thread(queries.order_thread(app.store, args.order, args.partner), args)
    since = datetime.fromisoformat(args.since) if args.since else None
    rows = queries.list_messages(app.store, partner=args.partner, state=args.state, since=since,
                                 direction=args.direction, limit=args.limit)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no messages")
        return 0
    print(f"{'ID':>6}  {'PARTNER':<16} {'DIR':<3} {'TYPE':<7} {'REF':<14} {'NUMBER':<16} {'STATE':<11} REASON")
    for row in rows:
        print(f"{row['id']:>6}  {row['partner']:<16.16} {row['direction']:<3} {row['type'] or '':<7.7} "
              f"{row['ref'] or '':<14.14} "
              f"{row['document_number'] or '':<16.16} {row['state']:<11} {row['reason'] or ''}")
    return 0


def _print_thread(rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """An order's thread, oldest first: each document, its state, and the exceptions it raised."""
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no messages concern order {args.order}")
        return 0
    print(f"order {args.order}: {len(rows)} message(s), oldest first")
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
    if args.json:
        _print_json(counts)
        return 0
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
    return 0


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
    from gateway.outbound_jobs import OutboundJobs

    app = _app(args)
    try:
        profile = _profile(app, args.partner)
        since = None
        if args.since:
            try:
                since = datetime.fromisoformat(args.since)
            except ValueError:
                raise CommandError(f"--since {args.since!r} is not an ISO date or time (e.g. 2026-11-01T08:00)")
        from gateway.odoo.client import OdooClient

        # Replay needs no Odoo: it sends the segments kept in the store, in a new envelope.
        client = OdooClient(app.settings.odoo) if app.settings.odoo.url else None
        jobs = OutboundJobs(app.store, app.profiles, app.pipeline.outbound, client, app.settings.templates_dir)
        replayed = jobs.replay(profile.id, since=since, document_type=args.document)
        sent = {s.exchange_id for s in replayed if s.exchange_state == "rendered" and app.pipeline.outbound.send(
            s.exchange_id)}
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
    from gateway.profiles import load_profile, profile_files

    app = _app(args)
    files = [Path(name) for name in args.files] or profile_files(app.settings.partners_dir)
    problems = []
    for path in files:
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        try:
            profile = load_profile(path, app.settings.state_dir, app.settings.templates_dir)
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
    app = _app(args)
    profile = _profile(app, args.partner)
    report = inspection.inspect_file(Path(args.file), profile, app.templates)
    report["dry_run"] = True
    held = _preview_in_odoo(app, profile, report)
    if args.json:
        _print_json(report)
    else:
        print(inspection.describe(report))
        if isinstance(report["odoo"], str):
            print("dry run: nothing was stored; " + report["odoo"])
        else:
            print("dry run: nothing was stored or written; in Odoo it would come to:")
            for entry in report["odoo"]:
                print("  " + _describe_preview(entry))
    return 0 if inspection.all_accepted(report) and not held else 1


def _preview_in_odoo(app, profile, report: dict[str, Any]) -> bool:
    """Put what each translated document would make in Odoo under report["odoo"]; True if any would be held."""
    if app.deliverer is None:
        report["odoo"] = "no deliverer is configured ([odoo] url in gateway.toml): nothing would be written to Odoo"
        return False
    from gateway.odoo.client import OdooError
    from gateway.pipeline import TransientFailure

    previews = []
    for interchange in report["interchanges"]:
        for message in interchange["messages"]:
            document = message.get("document")
            if document is None:
                continue
            try:
                preview = app.deliverer.preview(profile, message["document_type"] or "Order", document)
            except (TransientFailure, OdooError) as error:
                report["odoo"] = f"Odoo could not be asked: {error}"
                return True
            previews.append({"document_number": document.get("document_number"), **preview})
    report["odoo"] = previews
    return any(entry["action"] == "hold" for entry in previews)


def _describe_preview(entry: dict[str, Any]) -> str:
    number = entry.get("document_number")
    if entry["action"] == "hold":
        return f"{number}: would be held: " + "; ".join(entry["problems"])
    if "answer" in entry:  # a customer's change to its order
        lines = [f"{number}: a change to {(entry.get('record') or {}).get('name')}"]
        lines.extend(f"    Odoo would get: {write['model']} {write['method']} {write['args']}" for write in entry["writes"])
        lines.extend(f"    answered {a['status']}{' (' + a['reason'] + ')' if a.get('reason') else ''}: {a['text']}"
                     for a in entry["answer"])
        return "\n".join(lines)
    if "differences" in entry:  # a supplier's document, compared with its purchase order
        record = entry.get("record") or {}
        if entry["action"] == "exists":
            return f"{number}: already in Odoo as {record.get('name')}; nothing would be made"
        lines = [f"{number}: reconciled with {record.get('name') or 'its record'}"
                 + (f" ({'; '.join(entry['notes'])})" if entry["notes"] else "")]
        lines.extend(f"    {'would apply' if d['applied'] else 'exception'}: {d['text']}" for d in entry["differences"])
        if not entry["differences"]:
            lines.append("    no differences")
        return "\n".join(lines)
    if entry["action"] == "exists":
        existing = entry["existing"]
        return f"{number}: already in Odoo as {existing['name']} ({existing['state']}); nothing would be created"
    lines = [f"{number}: {entry['action']} a sale order for {entry['customer']['name']}"]
    for line in entry["lines"]:
        lines.append(f"    line {line['line']}: {line['quantity']} {line['unit']} of {line['product']} "
                     f"at {line['price_unit']}")
    lines.extend(f"    note: {note}" for note in entry["notes"])
    return "\n".join(lines)


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
    from gateway.pipeline import TemplateSet

    settings = load_settings(args.config)
    profile = None
    if args.partner:
        from gateway.profiles import load_profile

        path = settings.partners_dir / f"{args.partner}.yaml"
        if not path.is_file():
            raise CommandError(f"no partner {args.partner!r} in {settings.partners_dir}")
        profile = load_profile(path, settings.state_dir, settings.templates_dir)
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"{args.file}: no such file")
    report = inspection.inspect_file(path, profile, TemplateSet(settings.templates_dir))
    if args.json:
        _print_json(report)
    else:
        print(inspection.describe(report))
    return 0 if inspection.all_accepted(report) else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.store.db import verify_chain

    app = _app(args)
    with app.store.session() as session:
        count, problems = verify_chain(session)
    if args.json:
        _print_json({"events": count, "ok": not problems,
                     "problems": [{"event": p.event_id, "reason": p.reason} for p in problems]})
    else:
        for problem in problems:
            print(f"audit event {problem.event_id}: {problem.reason}")
        print(f"{count} audit events checked: " + ("the chain is intact" if not problems else
                                                    f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(load_settings(args.config), sys.stdout)


def cmd_odoo_sandbox(args: argparse.Namespace) -> int:
    from gateway.odoo import sandbox

    sandbox.serve(host=args.host, port=args.port, data_file=Path(args.data) if args.data else None,
                  state_file=Path(args.state) if args.state else None)
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
    run.set_defaults(handler=cmd_run)

    messages = commands.add_parser("messages", help="find and read messages").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = messages.add_parser("list", help="list messages, newest first")
    listing.add_argument("--partner")
    listing.add_argument("--state", help="received, parsed, translated, delivered, rejected, held, …")
    listing.add_argument("--since", help="ISO date or time, e.g. 2026-11-01")
    listing.add_argument("--direction", choices=("in", "out"),
                         help="in: what partners sent us; out: what we sent them (acknowledgments, documents)")
    listing.add_argument("--order", help="the thread of one order (our purchase order's or a customer's number), "
                         "oldest first, with each document's exceptions")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_messages_list)
    show = messages.add_parser("show", help="one message: raw bytes, tree, document, result, audit trail")
    show.add_argument("id", type=int)
    form = show.add_mutually_exclusive_group()
    form.add_argument("--raw", action="store_true", help="the archived bytes of its file, byte for byte")
    form.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_messages_show)

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
                                 "late documents, what waits for a person")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    reprocess = commands.add_parser("reprocess", help="run messages again from a stage, from their archived bytes")
    reprocess.add_argument("ids", type=int, nargs="+", metavar="ID")
    reprocess.add_argument("--from", dest="stage", choices=("parse", "translate", "deliver"), default="parse")
    reprocess.set_defaults(handler=cmd_reprocess)

    replay = commands.add_parser("replay", help="send again, with new control numbers, the documents sent to a "
                                 "partner from Odoo (order responses, despatch advices, invoices, orders)")
    replay.add_argument("--partner", required=True)
    replay.add_argument("--since", help="only what was first sent at or after this ISO date or time (UTC)")
    replay.add_argument("--document", choices=("OrderResponse", "DespatchAdvice", "Invoice", "Order"),
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

    demo = commands.add_parser("demo", help="the shipped samples through the gateway into an Odoo sandbox, then "
                                             "the sale orders made")
    demo.set_defaults(handler=cmd_demo)

    odoo = commands.add_parser("odoo-sandbox", help="a local emulator of Odoo 18's external API, for trials and tests")
    odoo.add_argument("--host", default="127.0.0.1")
    odoo.add_argument("--port", type=int, default=8069)
    odoo.add_argument("--data", help="seed records (YAML or JSON: {model: [values, …]})")
    odoo.add_argument("--state", help="keep the data in this JSON file across restarts")
    odoo.set_defaults(handler=cmd_odoo_sandbox)

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
    except ProfileError as error:
        print(f"edigw: partner profiles have problems:\n{error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
