"""`edigw inspect` and `partners test`: parse and translate a file, store nothing, report all.

The report's shape is a contract (README, "inspect --json"):
{"file", "standard", "error"?, "interchanges": [{"sender", "receiver", "control_ref", "status",
"errors", "messages": [{"type", "version", "ref", "status", "errors", "document_type", "document",
"problems", "segments"}]}]}
"""

from __future__ import annotations

import json
import mmap
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, TextIO

from gateway.files import mapped
from gateway.formats.model import Interchange, Message, UnreadableFile, issue_text
from gateway.formats.tree import segments_of
from gateway.pipeline import TemplateSet, parse_for, translate_parsed
from gateway.profiles import Profile


def inspect_bytes(data: bytes | mmap.mmap, name: str, profile: Profile | None,
                  templates: TemplateSet) -> dict[str, Any]:
    report: dict[str, Any] = {"file": name, "standard": None, "interchanges": []}
    pending: list[dict[str, Any]] = []
    for kind, value in _report_parts(data, profile, templates):
        if kind == "message":
            pending.append(value)
        elif kind == "interchange":
            report["interchanges"].append({**value, "messages": pending})
            pending = []
        else:
            report[kind] = value
    return report


def _report_parts(data: bytes | mmap.mmap, profile: Profile | None,
                  templates: TemplateSet) -> Iterator[tuple[str, Any]]:
    """The report's parts in the order the parse finds them: ("standard", name), then ("message",
    entry) for each message and ("interchange", its values but its messages) after its messages,
    and ("error", why) when the file cannot be read further."""
    try:
        standard, events = parse_for(data, profile, templates)
        yield "standard", standard
        for event in events:
            if isinstance(event, Message):
                yield "message", message_report(event, profile, templates)
            elif isinstance(event, Interchange):
                yield "interchange", {
                    "sender": event.sender,
                    "receiver": event.receiver,
                    "control_ref": event.control_ref,
                    "status": event.status,
                    "errors": [issue.as_dict() for issue in event.errors],
                }
    except UnreadableFile as error:
        yield "error", str(error)


def write_report(path: Path, profile: Profile | None, templates: TemplateSet, out: TextIO,
                 as_json: bool) -> bool:
    """`edigw inspect` of a file of any size: the report written as the parse goes.

    As JSON, it is the text json.dump (indent 2) makes of `inspect_file`'s report; as text, the
    text of `describe`, but that a file that cannot be read to its end says so after the
    interchanges before that point, not above them. An interchange's messages wait in a
    temporary file until its end (its values come first): nothing in memory grows with the
    file. Returns whether every interchange was accepted (`all_accepted`).
    """
    statuses: list[str] = []
    failed = False
    with path.open("rb") as stream, mapped(stream) as data, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        parts = _report_parts(data, profile, templates)
        standard = next(parts)
        if standard[0] == "error":  # nothing could be read: the whole report is this small one
            report = {"file": str(path), "standard": None, "interchanges": [], "error": standard[1]}
            out.write(_json(report, 0) + "\n" if as_json else describe(report) + "\n")
            return False
        if as_json:
            out.write(f'{{\n  "file": {_json(str(path), 0)},\n  "standard": {_json(standard[1], 0)},\n'
                      f'  "interchanges": [')
        else:
            out.write(f"{path}: {standard[1]}\n")
        messages = 0
        for kind, value in parts:
            if kind == "message":
                if as_json:
                    spool.write(("," if messages else "") + "\n        " + _json(value, 8))
                else:
                    spool.writelines(line + "\n" for line in _message_lines(value))
                messages += 1
                continue
            if kind == "error":
                failed = True
                if as_json:
                    out.write(("\n  " if statuses else "") + f'],\n  "error": {_json(value, 0)}\n}}\n')
                else:
                    out.write(f"  rejected: {value}\n")
                break
            if as_json:
                head = _json(value, 4)
                head = head[:head.rindex("\n")]  # its values, the object left open for its messages
                out.write(("," if statuses else "") + "\n    " + head + ',\n      "messages": [')
            else:
                out.writelines(line + "\n" for line in _interchange_lines(value))
            spool.seek(0)
            shutil.copyfileobj(spool, out)
            if as_json:
                out.write("\n      ]\n    }" if messages else "]\n    }")
            spool.seek(0)
            spool.truncate()
            messages = 0
            statuses.append(value["status"])
        else:
            if as_json:
                out.write("\n  ]\n}\n" if statuses else "]\n}\n")
    return not failed and bool(statuses) and all(status == "accepted" for status in statuses)


def _json(value: Any, indent: int) -> str:
    """A value as json.dump(indent=2) writes it where it stands `indent` spaces in."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text.replace("\n", "\n" + " " * indent) if indent else text


def message_report(message: Message, profile: Profile | None, templates: TemplateSet) -> dict[str, Any]:
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
        lines.extend(_interchange_lines(interchange))
        for message in interchange["messages"]:
            lines.extend(_message_lines(message))
    return "\n".join(lines)


def _interchange_lines(interchange: dict[str, Any]) -> list[str]:
    return [f"  interchange {interchange['control_ref']} from {interchange['sender']} "
            f"to {interchange['receiver']}: {interchange['status']}",
            *(f"    ! {issue_text(issue)}" for issue in interchange["errors"])]


def _message_lines(message: dict[str, Any]) -> list[str]:
    number = (message["document"] or {}).get("document_number", "")
    return [f"    message {message['ref']} {message['type']} {message['version'] or ''}: "
            f"{message['status']}{' ' + number if number else ''}"
            f"{', ' + str(len((message['document'] or {}).get('lines', []))) + ' lines' if message['document'] else ''}",
            *(f"      ! {issue_text(issue)}" for issue in message["errors"]),
            *(f"      ? {problem}" for problem in message["problems"])]


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
