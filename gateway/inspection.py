"""`edigw inspect` and `partners test`: parse and translate a file, store nothing, report all.

The report's shape is a contract (README, "inspect --json"):
{"file", "standard", "error"?, "interchanges": [{"sender", "receiver", "control_ref", "status",
"errors", "messages": [{"type", "version", "ref", "status", "errors", "document_type", "document",
"problems", "segments"}]}]}
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

from gateway.files import mapped
from gateway.formats.model import Interchange, Message, UnreadableFile
from gateway.formats.tree import segments_of
from gateway.pipeline import TemplateSet, parse_for, translate_parsed
from gateway.profiles import Profile


def inspect_bytes(data: bytes | mmap.mmap, name: str, profile: Profile | None,
                  templates: TemplateSet) -> dict[str, Any]:
    report: dict[str, Any] = {"file": name, "standard": None, "interchanges": []}
    try:
        standard, events = parse_for(data, profile, templates)
        report["standard"] = standard
        pending: list[dict[str, Any]] = []
        for event in events:
            if isinstance(event, Message):
                pending.append(_message_report(event, profile, templates))
            elif isinstance(event, Interchange):
                report["interchanges"].append({
                    "sender": event.sender,
                    "receiver": event.receiver,
                    "control_ref": event.control_ref,
                    "status": event.status,
                    "errors": [issue.as_dict() for issue in event.errors],
                    "messages": pending,
                })
                pending = []
    except UnreadableFile as error:
        report["error"] = str(error)
    return report


def _message_report(message: Message, profile: Profile | None, templates: TemplateSet) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": message.type,
        "version": message.version,
        "ref": message.ref,
        "status": message.status,
        "errors": [issue.as_dict() for issue in message.errors],
        "document_type": None,
        "document": None,
        "problems": [],
        "segments": segments_of(message.tree) if message.tree is not None else [],
    }
    outcome = translate_parsed(message, profile, templates)
    entry["document_type"] = outcome.document_type
    entry["document"] = outcome.document
    entry["problems"] = outcome.problems
    message.tree = None
    return entry


def inspect_file(path: Path, profile: Profile | None, templates: TemplateSet) -> dict[str, Any]:
    """Inspect a local file read as the pipeline reads the archive: mapped, a block at a time, never whole."""
    with path.open("rb") as stream, mapped(stream) as data:
        return inspect_bytes(data, str(path), profile, templates)


def all_accepted(report: dict[str, Any]) -> bool:
    return "error" not in report and bool(report["interchanges"]) and all(
        interchange["status"] == "accepted" for interchange in report["interchanges"])


def describe(report: dict[str, Any]) -> str:
    """The report for people: one line per interchange and message, then the problems."""
    lines = [f"{report['file']}: {report['standard'] or 'unreadable'}"]
    if "error" in report:
        lines.append(f"  rejected: {report['error']}")
    for interchange in report["interchanges"]:
        lines.append(f"  interchange {interchange['control_ref']} from {interchange['sender']} "
                     f"to {interchange['receiver']}: {interchange['status']}")
        lines.extend(f"    ! {_issue(issue)}" for issue in interchange["errors"])
        for message in interchange["messages"]:
            number = (message["document"] or {}).get("document_number", "")
            lines.append(f"    message {message['ref']} {message['type']} {message['version'] or ''}: "
                         f"{message['status']}{' ' + number if number else ''}"
                         f"{', ' + str(len((message['document'] or {}).get('lines', []))) + ' lines' if message['document'] else ''}")
            lines.extend(f"      ! {_issue(issue)}" for issue in message["errors"])
            lines.extend(f"      ? {problem}" for problem in message["problems"])
    return "\n".join(lines)


def _issue(issue: dict[str, Any]) -> str:
    where = f"segment {issue['position']} {issue['tag'] or ''}: " if issue.get("position") else (
        f"{issue['tag']}: " if issue.get("tag") else "")
    return f"{issue['severity']}: {where}{issue['reason']}"


def preview_in_odoo(deliverer, profile: Profile, report: dict[str, Any]) -> bool:
    """Put what each translated document would make in Odoo under report["odoo"]; True if any would be held.

    The dry run of `partners test` and of the console's reprocess: Odoo is asked, nothing is written.
    """
    if deliverer is None:
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
                preview = deliverer.preview(profile, message["document_type"] or "Order", document)
            except (TransientFailure, OdooError) as error:
                report["odoo"] = f"Odoo could not be asked: {error}"
                return True
            previews.append({"document_number": document.get("document_number"), **preview})
    report["odoo"] = previews
    return any(entry["action"] == "hold" for entry in previews)


def describe_preview(entry: dict[str, Any]) -> str:
    number = entry.get("document_number")
    if "said" in entry:  # a writer that words its own dry run (sales reports, recommendations)
        return "\n".join([f"{number or 'the document'}: {entry['said'][0]}", *(f"    {s}" for s in entry["said"][1:])])
    if entry["action"] == "hold":
        return f"{number}: would be held: " + "; ".join(entry["problems"])
    if "answer" in entry:  # a customer's change to its order
        lines = [f"{number}: a change to {(entry.get('record') or {}).get('name')}"]
        lines.extend(f"    Odoo would get: {write['model']} {write['method']} {write['args']}" for write in entry["writes"])
        lines.extend(f"    answered {a['status']}{' (' + a['reason'] + ')' if a.get('reason') else ''}: {a['text']}"
                     for a in entry["answer"])
        return "\n".join(lines)
    if entry["action"] == "compare":  # a stock report: a 3PL's count, or a supplier's availability
        record = entry.get("record") or {}
        if "availability" in record:
            lines = [f"{number}: {len(record['availability'])} products kept as {record.get('name')}'s availability;"
                     " nothing written to Odoo"]
            lines.extend(f"    not carried: {label}" for label in record.get("not_carried", []))
            return "\n".join(lines)
        lines = [f"{number}: compared with Odoo's stock at {record.get('name')}"]
        lines.extend(f"    {'would adjust' if d['applied'] else 'exception'}: {d['text']}" for d in entry["differences"])
        if not entry["differences"]:
            lines.append("    no differences")
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
