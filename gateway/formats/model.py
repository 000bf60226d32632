"""What a parser finds in a file: interchanges, groups, messages and the issues found in them.

Every format module (edifact, x12, csv) yields these same objects, so the pipeline and
`edigw inspect` never look at syntax. A parser is a generator of `Message` and `Interchange`
events: each `Message` as soon as its trailer is read (with its lxml tree), and each
`Interchange` after its last message, once its trailer (or the end of the file) has been
checked. A file that cannot be read at all raises `UnreadableFile` before anything is yielded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from lxml import etree

Severity = Literal["error", "warning"]
Status = Literal["accepted", "rejected", "partial"]
Level = Literal["interchange", "group", "message", "segment", "element"]


class UnreadableFile(Exception):
    """The file is not EDIFACT, X12 or the partner's CSV layout, or is empty: rejected whole."""


@dataclass
class Issue:
    """One problem found while parsing, precise enough for support and for an acknowledgment.

    `position` is the segment's 1-based position in its message (UNH / ST = 1) for message
    issues, and in the interchange (UNB / ISA = 1) for interchange issues; `tag` is that
    segment's tag. `code` is the standard's own error code where one applies, and `level` says
    which of the standard's lists it comes from, so an acknowledgment knows where it goes:
    "interchange" (EDIFACT 0085 in UCI; X12 TA1 I18), "group" (0085 in UCF; X12 AK9 716),
    "message" (0085 in UCM; X12 AK5/IK5 718), "segment" (0085 in UCS; X12 AK3/IK3 720),
    "element" (0085 in UCD; X12 AK4/IK4 723, its segment's AK3 code being 8).

    For an element finding: `element` is the data element's 1-based position in its segment,
    `component` the component's in its composite, `repetition` the occurrence of a repeated
    element, `element_ref` the data element's reference number (EDIFACT 3035, X12 479), and
    `value` the offending value as written (at most 99 characters, as AK404 allows).
    """

    reason: str
    position: int | None = None
    tag: str | None = None
    code: str | None = None
    severity: Severity = "error"
    level: Level | None = None
    element: int | None = None
    component: int | None = None
    repetition: int | None = None
    element_ref: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "tag": self.tag,
            "code": self.code,
            "severity": self.severity,
            "reason": self.reason,
            "level": self.level,
            "element": self.element,
            "component": self.component,
            "repetition": self.repetition,
            "element_ref": self.element_ref,
            "value": self.value,
        }


def issue_text(issue: dict[str, Any]) -> str:
    """An issue as stored (`Issue.as_dict`), in one line for people: severity, where, why."""
    where = f"segment {issue['position']} {issue['tag'] or ''}: " if issue.get("position") else (
        f"{issue['tag']}: " if issue.get("tag") else "")
    return f"{issue['severity']}: {where}{issue['reason']}"


def _has_errors(issues: list[Issue]) -> bool:
    return any(issue.severity == "error" for issue in issues)


@dataclass
class Group:
    """A functional group (EDIFACT UNG…UNE, X12 GS…GE)."""

    functional_id: str | None
    sender: str | None
    receiver: str | None
    control_ref: str | None
    version: str | None = None
    date: str | None = None
    errors: list[Issue] = field(default_factory=list)


@dataclass
class Interchange:
    """An interchange (UNB…UNZ, ISA…IEA, or one CSV file), filled in as the parser reads it.

    `errors` are envelope problems (missing or wrong trailer, counts, references, a sender
    that is not the partner); any of them rejects the whole interchange.
    """

    standard: Literal["edifact", "x12", "csv"]
    index: int
    sender: str | None = None
    sender_qualifier: str | None = None
    receiver: str | None = None
    receiver_qualifier: str | None = None
    control_ref: str | None = None
    date: str | None = None
    time: str | None = None
    syntax: str | None = None
    test: bool = False
    ack_requested: bool = False
    errors: list[Issue] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    messages_accepted: int = 0
    messages_rejected: int = 0

    def count(self, message: "Message") -> None:
        """Record a finished message of this interchange for its status."""
        if message.status == "accepted":
            self.messages_accepted += 1
        else:
            self.messages_rejected += 1

    @property
    def status(self) -> Status:
        if _has_errors(self.errors) or (self.messages_rejected and not self.messages_accepted):
            return "rejected"
        if self.messages_rejected:
            return "partial"
        return "accepted"

    def header(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "sender_qualifier": self.sender_qualifier,
            "receiver": self.receiver,
            "receiver_qualifier": self.receiver_qualifier,
            "control_ref": self.control_ref,
            "date": self.date,
            "time": self.time,
            "syntax": self.syntax,
            "test": self.test,
        }


@dataclass
class Message:
    """One message (UNH…UNT, ST…SE, or one document of a CSV file) and its tree.

    `index` is the message's 0-based position among all messages of the file, which is how
    the store finds it again in the archived bytes. `tree` is the message as an lxml element
    (see `gateway.formats.tree`); it is None only when the message could not be read at all.
    """

    interchange: Interchange
    group: Group | None
    index: int
    type: str | None
    version: str | None
    ref: str | None
    tree: etree._Element | None
    association: str | None = None
    decimal_mark: str = "."
    errors: list[Issue] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return "rejected" if _has_errors(self.errors) else "accepted"


Event = Message | Interchange
Events = Iterator[Event]


def is_digits(text: str) -> bool:
    """Whether `text` is ASCII digits only: what the standards call numeric ("1²" and "١" are not)."""
    return text.isascii() and text.isdigit()
