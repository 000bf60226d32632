"""`edigw inspect` and `partners test`: parse and translate a file, store nothing, report all.

The report's shape is a contract (README, "inspect --json"):
{"file", "standard", "error"?, "interchanges": [{"sender", "receiver", "control_ref", "status",
"errors", "messages": [{"type", "version", "ref", "status", "errors", "document_type", "document",
"problems", "segments"}]}]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.formats.model import Interchange, Message, UnreadableFile
from gateway.formats.tree import segments_of
from gateway.pipeline import TemplateSet, parse_for, translate_parsed
from gateway.profiles import Profile


def inspect_bytes(data: bytes, name: str, profile: Profile | None, templates: TemplateSet) -> dict[str, Any]:
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
    return inspect_bytes(path.read_bytes(), str(path), profile, templates)


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
