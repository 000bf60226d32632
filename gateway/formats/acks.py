"""Functional and technical acknowledgments: CONTRL, 997, 999 and TA1, written and read.

Writing: from what the parser found in one interchange (its `Interchange`, its `Message`s and
their `Issue`s), `acknowledgments()` makes the body of each acknowledgment the standard asks
for, with the standard's own codes. Enveloping them (control numbers, identifiers) is
`gateway.outbound`'s job, rendering `gateway.formats.render`'s; `check()` validates the bytes
before they leave, by reading them back with our own parser and definitions.

Reading: `read()` turns a partner's CONTRL/997/999 message, and `read_technical_ack()` a TA1,
into one neutral form (a dict, the `Acknowledgment` document) that `gateway.outbound` matches
to what we sent: interchange, group and message control numbers, each with a status —
accepted, accepted_with_errors, partial, rejected or received — and the partner's reasons.

Codes used (the tests assert them):
- CONTRL (ISO 9735): UCI/UCF/UCM action 0083 — 7 acknowledged, 4 rejected; 0085 error codes
  from the issues (e.g. 29 control count, 28 reference mismatch, 13 missing, 15 segment not
  supported in position, 35/36 too many repetitions, 12 invalid value, 39/40 too long/short);
  interchange problems the parser leaves uncoded get 23 (unknown sender), 12 (invalid date or
  time), 13 (missing), 33 (outside a message), 30 (groups and messages mixed), 18 otherwise.
- 997/999: AK5/IK5 A, E (warnings only), R, with 718/618 codes (5: segments in error); AK3/IK3
  with 720 codes, AK4/IK4 with 723/621 codes; AK9 A, E, P (some sets rejected), R, with
  716 codes of the group (5 count, 4 control number, 3 GE missing).
- TA1: TA104 A or R (E when only coded warnings); TA105 the parser's I18 code, else 022
  (control structure) for ISA/IEA problems and 024 (interchange content) for the rest.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import io
import itertools
import os
import pickle
import re
import struct
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

from lxml import etree

from gateway.formats.model import Group, Interchange, Issue, Message, is_digits
from gateway.formats.tree import segments_of
from gateway.formats.validation import summary

ACK_TYPES = frozenset({"CONTRL", "997", "999"})
KINDS = ("contrl", "997", "999")
TA1_POLICIES = ("on-request", "always", "never")
DOCUMENT_TYPE = "Acknowledgment"

CONTRL_VERSION = ("CONTRL", "D", "3", "UN")
IMPLEMENTATION_999 = "005010X231A1"
SERVICE_TAGS = {"UNB", "UNZ", "UNG", "UNE", "UNH", "UNT"}
_EDIFACT_TAG = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_X12_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")

# Where a document's own reference is, for the 999's CTX business unit identifier.
BUSINESS_UNITS = {"850": ("BEG", 3), "855": ("BAK", 3), "860": ("BCH", 3), "865": ("BCA", 3),
                  "856": ("BSN", 2), "810": ("BIG", 2)}

# For people: what the codes mean (the ones the gateway writes, and the common ones partners send).
EDIFACT_0085 = {
    "2": "syntax version or level not supported", "7": "interchange recipient not actual recipient",
    "12": "invalid value", "13": "missing", "14": "value not supported in this position",
    "15": "not supported in this position", "16": "too many constituents", "17": "no agreement",
    "18": "unspecified error", "20": "character invalid as service character", "21": "invalid character(s)",
    "22": "invalid service character(s)", "23": "unknown interchange sender", "24": "too old",
    "25": "test indicator not supported", "26": "duplicate detected", "28": "references do not match",
    "29": "control count does not match number of instances received", "30": "groups and messages mixed",
    "32": "lower level empty", "33": "invalid occurrence outside message, package or group",
    "35": "too many repetitions", "36": "too many segment group repetitions", "37": "invalid type of character(s)",
    "39": "data element too long", "40": "data element too short",
}
X12_718 = {"1": "transaction set not supported", "2": "trailer missing", "3": "control number in header and "
           "trailer do not match", "4": "number of included segments does not match actual count",
           "5": "one or more segments in error", "6": "missing or invalid transaction set identifier",
           "7": "missing or invalid transaction set control number", "23": "transaction set control number "
           "not unique within the functional group"}
X12_720 = {"1": "unrecognized segment ID", "2": "unexpected segment", "3": "mandatory segment missing",
           "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
           "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
           "8": "segment has data element errors"}
X12_723 = {"1": "mandatory data element missing", "2": "conditional required data element missing",
           "3": "too many data elements", "4": "data element too short", "5": "data element too long",
           "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date",
           "9": "invalid time", "10": "exclusion condition violated", "12": "too many repetitions",
           "13": "too many components"}
X12_716 = {"1": "functional group not supported", "2": "functional group version not supported",
           "3": "functional group trailer missing", "4": "group control number in the functional group header "
           "and trailer do not agree", "5": "number of included transaction sets does not match actual count",
           "6": "group control number violates syntax"}
X12_TA105 = {"000": "no error", "001": "control numbers in ISA and IEA do not match", "006": "invalid interchange "
             "sender ID", "008": "invalid interchange receiver ID", "014": "invalid interchange date",
             "015": "invalid interchange time", "017": "invalid interchange version ID",
             "021": "invalid number of included groups", "022": "invalid control structure",
             "023": "improper (premature) end-of-file", "024": "invalid interchange content",
             "025": "duplicate interchange control number"}

STATUS_NAMES = {"A": "accepted", "E": "accepted_with_errors", "P": "partial", "R": "rejected",
                "M": "rejected", "W": "rejected", "X": "rejected",
                "7": "accepted", "4": "rejected", "8": "received", "1": "accepted", "2": "accepted",
                "3": "accepted", "5": "rejected", "6": "rejected"}


@dataclass
class Acknowledgment:
    """One acknowledgment to send: its kind and the body of its message (or its TA1 segment).

    `answers` are the parser indexes of the messages it acknowledges (all of them for a CONTRL
    or a TA1, a group's for a 997/999). `status` says what it says of them, for the store and
    for people: accepted, accepted_with_errors, partial or rejected.
    """

    kind: str  # contrl, 997, 999, ta1
    interchange: Interchange
    status: str
    segments: "list[list] | AckSegments"
    answers: list[int] = field(default_factory=list)
    group_ref: str | None = None
    version: str | None = None  # the GS08 / message version it is written in

    @property
    def standard(self) -> str:
        return self.interchange.standard

    @property
    def message_type(self) -> str:
        return {"contrl": "CONTRL", "997": "997", "999": "999", "ta1": "TA1"}[self.kind]


def is_acknowledgment(message: Message) -> bool:
    return message.type in ACK_TYPES


def default_kind(standard: str) -> str:
    return "contrl" if standard == "edifact" else "997"


def acknowledgments(interchange: Interchange, messages: list[Message], *, kind: str | None = None,
                    ta1: str = "on-request") -> list[Acknowledgment]:
    """The acknowledgments one received interchange calls for, under the partner's policy.

    Acknowledgments are never acknowledged: an interchange of CONTRLs, 997s, 999s or TA1s only
    gets nothing. `kind` is contrl for EDIFACT; for X12 997 (the default) or 999, which is only
    written for groups of version 005010 and later (others get a 997).
    """
    if interchange.standard == "edifact":
        if messages and all(is_acknowledgment(m) for m in messages):
            return []
        if interchange.control_ref is None and not messages:
            return []
        return [contrl(interchange, messages)]
    if interchange.standard != "x12":
        return []
    found: list[Acknowledgment] = []
    acks_only = not interchange.groups or all(g.functional_id == "FA" for g in interchange.groups)
    if acks_only and not interchange.errors:
        return []
    own = _envelope_issues(interchange)
    broken = any(issue.severity == "error" for issue in own)
    if ta1 == "always" or (ta1 == "on-request" and (interchange.ack_requested or broken)):
        found.append(technical_ack(interchange))
    if broken:
        return found  # the TA1 rejects the interchange; its groups were not read on
    for group in interchange.groups:
        if group.functional_id == "FA":
            continue
        in_group = Members(messages, group)
        wanted = kind or "997"
        if wanted == "999" and (group.version or "")[:6] < "005010":
            wanted = "997"
        found.append(functional_ack(group, in_group, interchange, wanted,
                                    interchange_rejected=any(i.severity == "error" for i in interchange.errors)))
    return found


# --- EDIFACT CONTRL ----------------------------------------------------------------------------


def _envelope_issues(interchange: Interchange) -> list[Issue]:
    """The interchange's own issues: its errors that are not a group's."""
    in_groups = {id(issue) for group in interchange.groups for issue in group.errors}
    return [issue for issue in interchange.errors if id(issue) not in in_groups]


def _edifact_interchange_code(issue: Issue) -> str:
    if issue.code:
        return issue.code
    reason = issue.reason
    if "is not this partner" in reason:
        return "23"
    if " date " in reason or " time " in reason:
        return "12"
    if "has no " in reason or "missing" in reason:
        return "13"
    if "outside any message" in reason or "after UNZ" in reason or "after the interchange" in reason:
        return "33"
    if "uses groups for all its messages or for none" in reason:
        return "30"
    if "UNA" in reason and "one character for two roles" in reason:
        return "20"
    return "18"


def _party(value: str | None, qualifier: str | None) -> list[str]:
    return [value or "", qualifier or ""]


def contrl(interchange: Interchange, messages: Iterable[Message]) -> Acknowledgment:
    """A CONTRL for one EDIFACT interchange: UCI, then UCF per group or UCM per loose message.

    Its segments are made from `messages` each time they are read (`AckSegments`): `messages` may
    be read several times (a list, or an `AckSpool`'s records).
    """
    own = [i for i in _envelope_issues(interchange) if i.severity == "error"]
    rejected = interchange.status == "rejected"
    uci: list[Any] = ["UCI", interchange.control_ref or "", _party(interchange.sender, interchange.sender_qualifier),
                      _party(interchange.receiver, interchange.receiver_qualifier), "4" if rejected else "7"]
    if own:
        first = own[0]
        uci.append(_edifact_interchange_code(first))
        if first.tag in SERVICE_TAGS:
            uci.append(first.tag)

    def segments() -> Iterator[list]:
        yield uci
        for message in messages:
            if message.group is None:
                yield from _ucm(message, envelope_rejected=bool(own))
        for group in interchange.groups:
            group_errors = [i for i in group.errors if i.severity == "error"]
            members = Members(messages, group)
            count = rejected_count = 0
            for member in members:
                count += 1
                rejected_count += member.status == "rejected"
            group_rejected = bool(group_errors or own) or (count and rejected_count == count)
            ucf: list[Any] = ["UCF", group.control_ref or "", [group.sender or ""], [group.receiver or ""],
                              "4" if group_rejected else "7"]
            if group_errors:
                ucf.append(_edifact_interchange_code(group_errors[0]) if group_errors[0].code is None
                           else group_errors[0].code)
                if group_errors[0].tag in SERVICE_TAGS:
                    ucf.append(group_errors[0].tag)
            yield ucf
            for message in members:
                yield from _ucm(message, envelope_rejected=bool(own or group_errors))

    status = "rejected" if rejected else interchange.status
    if status == "accepted" and any(m.errors for m in messages):
        status = "accepted_with_errors"
    return Acknowledgment("contrl", interchange, status, AckSegments(segments), indexes(messages), version="D3")


class AckSegments:
    """An acknowledgment's segments, made again each time they are read rather than held.

    A CONTRL answering 500,000 messages is 500,000 UCMs: as lists they would take some 200 bytes
    each until the file is written. Rendering reads them once, as they are made. Read by index
    (a test changing one), they are made once and kept as a list from then on.
    """

    def __init__(self, make: Callable[[], Iterator[list]]) -> None:
        self._make = make
        self._kept: list[list] | None = None

    def __iter__(self) -> Iterator[list]:
        return iter(self._kept) if self._kept is not None else self._make()

    def _list(self) -> list[list]:
        if self._kept is None:
            self._kept = list(self._make())
        return self._kept

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (list, AckSegments)) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"AckSegments({list(self)!r})"


def _s009(message: Message) -> list[str]:
    tree = message.tree
    joined = message.version or ""
    release = (tree.get("release") if tree is not None else None) or ""
    version = joined[: len(joined) - len(release)] if release and joined.endswith(release) else joined
    agency = (tree.get("agency") if tree is not None else None) or ""
    association = message.association or ""
    if len(association) > 6:  # 0057 is an..6: a longer one (EAN008B) cannot be echoed, and is conditional
        association = ""
    found = [message.type or "", version, release, agency, association]
    # One list for every message of the same type and version: a CONTRL of 500,000 UCMs holds 500,000
    # references to it rather than as many copies of it (no one changes a segment's composite).
    return _S009_SEEN.setdefault(tuple(found), found) if len(_S009_SEEN) < 1024 else found


_S009_SEEN: dict[tuple, list[str]] = {}


def _ucm(message: Message, *, envelope_rejected: bool) -> list[list]:
    if not message.type:
        return []  # no S009 to name it by: the UCI (or UCF) speaks for it
    errors = [i for i in message.errors if i.severity == "error"]
    rejected = message.status == "rejected" or envelope_rejected
    # 0062 is an..14: a longer reference (itself reported as too long) is echoed cut to fit.
    ucm: list[Any] = ["UCM", (message.ref or "")[:14], _s009(message), "4" if rejected else "7"]
    coded = [i for i in errors if i.level == "message" and i.code]
    if coded:
        ucm.append(coded[0].code)
        if coded[0].tag in SERVICE_TAGS:
            ucm.append(coded[0].tag)
    found = [ucm]
    if message.status != "rejected":
        return found
    by_position: dict[int, list[Issue]] = {}
    for issue in errors:
        if issue.level == "message" and issue.code or issue.position is None:
            continue
        by_position.setdefault(issue.position, []).append(issue)
    for position in sorted(by_position)[:999]:
        issues = by_position[position]
        segment_code = next((i.code for i in issues if i.level == "segment" and i.code), None)
        elements = [i for i in issues if i.level == "element" and i.code and i.element]
        if segment_code is None and not elements:
            tag = issues[0].tag or ""
            segment_code = "12" if _EDIFACT_TAG.match(tag) and tag not in SERVICE_TAGS else "18"
        found.append(["UCS", str(position), segment_code or ""])
        for issue in elements[:99]:
            where = [str(issue.element), str(issue.component or "")]
            found.append(["UCD", issue.code, where])
    return found


# --- X12 997 / 999 ---------------------------------------------------------------------------


def functional_ack(group: Group, messages: Iterable[Message], interchange: Interchange, kind: str = "997", *,
                   interchange_rejected: bool = False) -> Acknowledgment:
    """A 997 (or 999) for one functional group: AK1, AK2…AK5 (IK3/IK4/IK5) per set, AK9.

    AK5 is each set's own verdict. A group with envelope errors is rejected (AK9 R, none
    accepted), and so is every group of an interchange another group broke, because the
    pipeline rejects the whole interchange then: the 997 says what the gateway did.
    """
    implementation = kind == "999"
    ak1: list[Any] = ["AK1", group.functional_id or "", group.control_ref or ""]
    if implementation:
        ak1.append(group.version or "")
    statuses = collections.Counter(summary(message.errors)["status"] for message in messages)
    total = sum(statuses.values())
    group_codes = []
    for issue in group.errors:
        if issue.severity == "error" and issue.code and issue.code not in group_codes:
            group_codes.append(issue.code)
    group_failed = interchange_rejected or any(issue.severity == "error" for issue in group.errors)
    accepted = 0 if group_failed else total - statuses["R"]
    if group_failed or (total and statuses["R"] == total):
        status = "R"
    elif statuses["R"]:
        status = "P"
    elif statuses["E"]:
        status = "E"
    else:
        status = "A"

    def segments() -> Iterator[list]:
        yield ak1
        for message in messages:
            verdict = summary(message.errors)
            ak2: list[Any] = ["AK2", message.type or "", message.ref or ""]
            if implementation and message.association:
                ak2.append(message.association)
            yield ak2
            yield from _segment_errors(message, implementation)
            yield ["IK5" if implementation else "AK5", verdict["status"], *verdict["codes"]]
        yield ["AK9", status, str(total), str(total), str(accepted), *group_codes[:5]]

    name = STATUS_NAMES[status]
    return Acknowledgment(kind, interchange, name, AckSegments(segments), indexes(messages),
                          group_ref=group.control_ref,
                          version=IMPLEMENTATION_999 if implementation else _ack_version(group.version))


def _ack_version(version: str | None) -> str:
    """The GS08 a 997 is written in: the group's own family when we have its 997, else 004010."""
    family = (version or "")[:6]
    return family if family in ("004010", "005010") else "004010"


def _segment_errors(message: Message, implementation: bool) -> list[list]:
    by_position: dict[int, list[Issue]] = {}
    for issue in message.errors:
        if issue.position is None or not issue.tag:
            continue
        if issue.level in ("segment", "element") and issue.code:
            by_position.setdefault(issue.position, []).append(issue)
        elif issue.level is None and issue.severity == "error" and not _X12_TAG.match(issue.tag):
            by_position.setdefault(issue.position, []).append(
                Issue(issue.reason, issue.position, issue.tag[:3], "1", level="segment"))
    found: list[list] = []
    context = _business_unit(message) if implementation else None
    for position in sorted(by_position):
        issues = by_position[position]
        tag = issues[0].tag
        segment_code = next((i.code for i in issues if i.level == "segment"), "8")
        found.append(["IK3" if implementation else "AK3", tag, str(position), "", segment_code])
        if context:
            found.append(["CTX", [context]])
        for issue in [i for i in issues if i.level == "element" and i.element][:99]:
            where = [str(issue.element), str(issue.component or "")]
            if implementation:
                where.append(str(issue.repetition or ""))
            ref = issue.element_ref if issue.element_ref and issue.element_ref.isdigit() and len(issue.element_ref) <= 4 else ""
            value = (issue.value or "")[:99]
            found.append(["IK4" if implementation else "AK4", where, ref, issue.code, value])
    return found


def keep_for_acknowledgment(message: Message) -> None:
    """Shrink a message's tree to what an acknowledgment reads of it: its envelope attributes and
    the segment of its business reference. A file of 50,000 messages is acknowledged at its end;
    holding their whole trees until then would hold the whole file's trees."""
    if message.tree is None:
        return
    slim = etree.Element(message.tree.tag, dict(message.tree.attrib))
    place = BUSINESS_UNITS.get(message.type or "")
    if place is not None:
        found = message.tree.find(f".//{place[0]}")
        if found is not None:
            slim.append(copy.deepcopy(found))
    message.tree = slim


class AckMessage:
    """What an acknowledgment reads of a message: its envelope values, its issues, and a tree that
    holds only what `_s009` and a 999's CTX read (shared per envelope version, or the slim tree
    `keep_for_acknowledgment` leaves)."""

    __slots__ = ("interchange", "group", "index", "type", "version", "ref", "tree", "association", "errors")

    def __init__(self, interchange: Interchange, group: Group | None, index: int, type: str | None,
                 version: str | None, ref: str | None, association: str | None, errors: Sequence[Issue],
                 tree: etree._Element | None) -> None:
        self.interchange = interchange
        self.group = group
        self.index = index
        self.type = type
        self.version = version
        self.ref = ref
        self.association = association
        self.errors = errors or _NO_ISSUES
        self.tree = tree

    @property
    def status(self) -> str:
        return "rejected" if any(issue.severity == "error" for issue in self.errors) else "accepted"


_NO_ISSUES: tuple[Issue, ...] = ()
_SHARED_TREES: dict[tuple, etree._Element] = {}
_LENGTH = struct.Struct("<I")


def _shared_tree(key: tuple) -> etree._Element:
    """A read-only tree with a message's tag, release and agency: what _s009 reads of every message like it."""
    shared = _SHARED_TREES.get(key)
    if shared is None:
        shared = etree.Element(key[0], {name: value for name, value in (
            ("release", key[1]), ("agency", key[2])) if value is not None})
        if len(_SHARED_TREES) < 1024:
            _SHARED_TREES[key] = shared
    return shared


class AckSpool:
    """What the acknowledgments of one file read of its messages, kept in a temporary file as the
    parse goes by, not in memory.

    A file of 500,000 messages in one interchange is acknowledged when the interchange ends; a
    record per message held until then grows with the file (some 600 bytes a message). Here each
    message is a few dozen bytes on disk, and `of(interchange)` reads that interchange's records
    back one at a time, as often as they are iterated. `business_unit` keeps the segment a 999's
    CTX quotes (only a 999 reads it).
    """

    def __init__(self, business_unit: bool = False) -> None:
        self.business_unit = business_unit
        self._file: Any = None
        self._objects: dict[int, Any] = {}  # the interchanges and groups records point to, by id
        self._counts: dict[int, int] = {}

    def add(self, message: Message) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        interchange, group = message.interchange, message.group
        self._objects.setdefault(id(interchange), interchange)
        if group is not None:
            self._objects.setdefault(id(group), group)
        self._counts[id(interchange)] = self._counts.get(id(interchange), 0) + 1
        tree, shared, slim = message.tree, None, None
        if tree is not None:
            if self.business_unit and BUSINESS_UNITS.get(message.type or "") is not None:
                keep_for_acknowledgment(message)
                slim = etree.tostring(message.tree)
            else:
                shared = (tree.tag, tree.get("release"), tree.get("agency"))
        record = pickle.dumps((id(interchange), id(group) if group is not None else None, message.index, message.type,
                               message.version, message.ref, message.association, message.errors or None, shared,
                               slim), pickle.HIGHEST_PROTOCOL)
        self._file.write(_LENGTH.pack(len(record)) + record)

    def of(self, interchange: Interchange) -> "AckRecords":
        """The records of one interchange's messages (in the order they came)."""
        return AckRecords(self, id(interchange), self._counts.get(id(interchange), 0))

    def _read(self, key: int) -> Iterator[AckMessage]:
        if self._file is None:
            return
        self._file.flush()
        descriptor, offset, pending = self._file.fileno(), 0, b""
        while True:
            block = os.pread(descriptor, 1 << 16, offset)
            if not block:
                return
            offset += len(block)
            pending += block
            start = 0
            while start + 4 <= len(pending):
                (size,) = _LENGTH.unpack_from(pending, start)
                if start + 4 + size > len(pending):
                    break
                record = pickle.loads(pending[start + 4:start + 4 + size])
                start += 4 + size
                if record[0] == key:
                    yield self._message(record)
            pending = pending[start:]

    def _message(self, record: tuple) -> AckMessage:
        interchange, group, index, kind, version, ref, association, errors, shared, slim = record
        tree = etree.fromstring(slim) if slim is not None else _shared_tree(shared) if shared is not None else None
        return AckMessage(self._objects[interchange], self._objects.get(group), index, kind, version, ref,
                          association, errors, tree)


class AckRecords:
    """The records of one interchange's messages in an AckSpool: read back each time they are iterated."""

    def __init__(self, spool: AckSpool, key: int, count: int) -> None:
        self._spool, self._key, self._count = spool, key, count

    def __iter__(self) -> Iterator[AckMessage]:
        return self._spool._read(self._key)

    def __len__(self) -> int:
        return self._count


class Members:
    """The messages of one group among an interchange's (iterated again each time, never held)."""

    def __init__(self, messages: Iterable[Any], group: Group) -> None:
        self._messages, self._group = messages, group

    def __iter__(self) -> Iterator[Any]:
        return (message for message in self._messages if message.group is self._group)


def indexes(messages: Iterable[Any]) -> Sequence[int]:
    """The parser indexes of messages: a range when they follow one another (they do in a file), so
    that an acknowledgment of 500,000 messages does not hold 500,000 numbers."""
    first = last = None
    scattered: list[int] | None = None
    for message in messages:
        if scattered is not None:
            scattered.append(message.index)
        elif first is None:
            first = last = message.index
        elif message.index == last + 1:
            last = message.index
        else:
            scattered = list(range(first, last + 1)) + [message.index]
    if scattered is not None:
        return scattered
    return [] if first is None else range(first, last + 1)


def _business_unit(message: Message) -> list[str] | None:
    """CTX01 for a 999: the document's own reference (BEG03 of an 850 …), when the tree has it."""
    place = BUSINESS_UNITS.get(message.type or "")
    if place is None or message.tree is None:
        return None
    tag, number = place
    value = message.tree.xpath(f"string(//{tag}/{tag}{number:02d})")
    return [f"{tag}{number:02d}", value[:35]] if value else None


# --- X12 TA1 ---------------------------------------------------------------------------------


def _ta1_code(issue: Issue) -> str:
    if issue.code and len(issue.code) == 3:
        return issue.code
    return "022" if issue.tag in ("ISA", "IEA") else "024"


def technical_ack(interchange: Interchange) -> Acknowledgment:
    """A TA1 for one X12 interchange: its ISA13, date and time, A/E/R and a note code."""
    own = _envelope_issues(interchange)
    errors = [i for i in own if i.severity == "error"]
    coded_warnings = [i for i in own if i.severity == "warning" and i.code]
    if errors:
        status, note = "R", _ta1_code(errors[0])
    elif coded_warnings:
        status, note = "E", _ta1_code(coded_warnings[0])
    else:
        status, note = "A", "000"
    control = interchange.control_ref or ""
    if is_digits(control):
        control = control.zfill(9)
    date = (interchange.date or "").replace("-", "")[2:]
    time = (interchange.time or "").replace(":", "")[:4]
    segment = ["TA1", control, date, time, status, note]
    return Acknowledgment("ta1", interchange, STATUS_NAMES[status], [segment])


# --- checking what we write ------------------------------------------------------------------


def check(data: bytes | BinaryIO, acks: Iterable[Acknowledgment] = ()) -> list[Issue]:
    """The errors found when our own acknowledgment bytes are read back: envelope, definitions, TA1s.

    Empty when the bytes are a valid interchange whose messages are valid against their
    definitions (CONTRL, 997, 999) and whose TA1 segments are valid against theirs. `data` is
    the bytes, or a binary file holding them (read a block at a time).
    """
    from gateway import formats
    from gateway.formats.validation import Findings, check_segment, load_definition

    problems: list[Issue] = []
    clean: set[bytes] = set()  # the likeness (`_Cut.likeness`) of each piece read back without an error
    try:
        for piece, before, likeness in _read_back_pieces(data, problems):
            if likeness in clean:
                continue
            _, events = formats.parse(piece)
            errors = [issue for event in events for issue in event.errors if issue.severity == "error"]
            problems.extend(_in_whole(issue, before) for issue in errors)
            if not errors and likeness is not None:
                clean.add(likeness)
    except Exception as error:  # unreadable: say so, never send it
        problems.append(Issue(f"the acknowledgment cannot be read back: {error}"))
    definition = load_definition("x12", "997", "004010")
    for ack in acks:
        if ack.kind != "ta1":
            continue
        findings = Findings(definition)
        for segment in ack.segments:
            check_segment(findings, segment[0], [[[value]] for value in segment[1:]], 1)
        problems.extend(i for i in findings.issues if i.severity == "error")
    return problems


CHECK_SEGMENTS = 500  # body segments of a big acknowledgment read back at a time
CHECK_WHOLE = 1 << 16  # an acknowledgment of fewer bytes is read back whole


@dataclass(frozen=True)
class _Cut:
    """How one of our acknowledgments is cut to be read back in pieces (`_read_back_pieces`)."""

    head: tuple[str, ...]  # the segments every piece repeats: envelope, then the message's first two
    starts: tuple[str, ...]  # the tags a run of body segments may start with
    tail: tuple[str, ...]  # the segments after the body: the message's closing ones, then the envelope's
    trailer: str  # the message trailer (UNT, SE): counted again for each piece
    codes: tuple[str, str]  # the standard's codes for a trailer's wrong count and wrong reference
    reference: int  # the element of the message's first segment (UNH, ST) its reference is in
    echoed: tuple[str, int]  # the segment and element that quote a message's reference (UCM 0062, AK202)

    def likeness(self, body: list[str], element: str) -> bytes:
        """What a piece's findings depend on: its body with each quoted message reference written
        as its shape (a digit as 9, a letter as A). Those references are data elements of type
        an (an..14, AN 4..9), read back by their length alone, so a piece like one read back
        without an error has none: it is not read back again."""
        tag, number = self.echoed
        digest = hashlib.blake2b(digest_size=16)
        for segment in body:
            if segment.startswith(tag + element):
                parts = segment.split(element, number + 1)
                parts[number] = parts[number].translate(_SHAPES)
                segment = element.join(parts)
            digest.update(segment.encode("latin-1"))
        return digest.digest()


_SHAPES = str.maketrans("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "9" * 10 + "A" * 52)


_CUTS = {
    "UNB": _Cut(("UNB", "UNH", "UCI"), ("UCM", "UCF"), ("UNT", "UNZ"), "UNT", ("29", "28"), 1, ("UCM", 1)),
    "GS": _Cut(("GS", "ST", "AK1"), ("AK2",), ("AK9", "SE", "GE", "IEA"), "SE", ("4", "3"), 2, ("AK2", 2)),
}


def _in_whole(issue: Issue, before: int) -> Issue:
    """An issue of a piece of an acknowledgment (`_read_back_pieces`) placed in the whole message: its
    body segments come after the `before` segments of the pieces before it."""
    if not before or issue.level == "interchange" or issue.position is None or issue.position <= 2:
        return issue
    return replace(issue, position=issue.position + before)


def _read_back_pieces(data: bytes | BinaryIO, problems: list[Issue]) -> Iterator[tuple[bytes, int, bytes | None]]:
    """The bytes `check` reads back, with the body segments before them: all at once, or a big
    acknowledgment (one CONTRL, or one 997/999 in one group) in pieces.

    A CONTRL answering 500,000 messages is one message of 500,000 UCMs: read back whole, its
    tree alone would take some 3 KB a UCM. A piece is the interchange's own service string
    (UNA, ISA), the segments `_Cut.head` names, a run of about CHECK_SEGMENTS segments cut
    before a UCM or UCF (AK2), the closing segments with a trailer counting that piece, and the
    interchange's own end: every segment sent is read back by the same parser against the
    same definition, but for a piece like one already read back without an error (its
    `_Cut.likeness`, given with each piece; None for the whole). The real trailer is checked
    here against the whole message, as the parser would. The bytes are read twice a block at a
    time (to count the segments and find the closing ones, then to cut the pieces): never whole.
    """
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    opening = source.read(107).decode("latin-1")
    if size < CHECK_WHOLE or not opening.startswith(("UNA", "ISA")):
        source.seek(0)
        yield source.read(), 0, None
        return
    if opening.startswith("UNA"):
        service, element, release, terminator = opening[:9], opening[4], opening[6], opening[8]
    else:
        service, element, release, terminator = opening[:106], opening[3], "", opening[105]
    service += "\n" if opening[len(service):len(service) + 1] == "\n" else ""
    escaped = f"|{re.escape(release)}." if release else ""
    cut = re.compile(rf"(?:[^{re.escape(release + terminator)}]{escaped})*{re.escape(terminator)}\n?", re.S)

    def reading() -> Iterator[str]:
        return _segments_read(source, len(service), cut)

    def values(segment: str) -> list[str]:
        return segment.rstrip("\n")[:-1].split(element)

    head = list(itertools.islice(reading(), 3))
    shape = _CUTS.get(values(head[0])[0]) if head else None
    count, last = 0, collections.deque(maxlen=len(shape.tail) if shape else 1)
    for segment in reading():
        count += 1
        last.append(segment)
    if shape is None or [values(segment)[0] for segment in (*head, *last)] != [*shape.head, *shape.tail]:
        source.seek(0)  # not shaped as our big acknowledgments are: read back whole, the parser says what is wrong
        yield source.read(), 0, None
        return
    closing = list(last)[:shape.tail.index(shape.trailer) + 1]
    ending = list(last)[len(closing):]
    in_message = count - (len(shape.head) - 2) - len(ending)  # from UNH (ST) to UNT (SE)
    reference, said = values(head[1])[shape.reference], values(closing[-1])[1:3]
    if said[:1] != [str(in_message)]:
        problems.append(Issue(f"{shape.trailer} says {said[0] if said else 'nothing'} segments but the message has "
                              f"{in_message}", in_message, shape.trailer, shape.codes[0], level="message"))
    if said[1:2] != [reference]:
        problems.append(Issue(f"{shape.trailer} reference does not match {head[1][:3].rstrip(element)}'s "
                              f"{reference!r}", in_message, shape.trailer, shape.codes[1], level="message"))
    newline = "\n" if closing[-1].endswith("\n") else ""

    def piece(body: list[str]) -> bytes:
        trailer = element.join([shape.trailer, str(len(body) + len(closing) + 2), reference]) + terminator + newline
        return "".join([service, *head, *body, *closing[:-1], trailer, *ending]).encode("latin-1")

    body: list[str] = []
    before = 0
    for segment in itertools.islice(reading(), len(shape.head), count - len(shape.tail)):
        if len(body) >= CHECK_SEGMENTS and values(segment)[0] in shape.starts:
            yield piece(body), before, shape.likeness(body, element)
            before += len(body)
            body = []
        body.append(segment)
    yield piece(body), before, shape.likeness(body, element)


def _segments_read(source: BinaryIO, offset: int, cut: re.Pattern) -> Iterator[str]:
    """The segments of a file from `offset` on, a block at a time (a character a byte: latin-1), each
    as `cut` finds it; what follows the last whole segment is not one."""
    pending = ""
    while True:
        source.seek(offset)
        block = source.read(1 << 20)
        offset += len(block)
        text = pending + block.decode("latin-1")
        at = 0
        while (match := cut.match(text, at)) is not None and (match.end() < len(text) or not block):
            yield match.group()  # one ending the text may go on in the next block (its line break)
            at = match.end()
        pending = text[at:]
        if not block:
            return


# --- reading the partner's acknowledgments ---------------------------------------------------


class AckError(ValueError):
    """A partner's acknowledgment we cannot read (no UCI, no AK1): held with this reason."""


def _text(value: Any) -> str:
    if isinstance(value, list):
        return _text(value[0]) if value else ""
    return value or ""


def _part(value: Any, index: int) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            value = value[0]
        return value[index] if index < len(value) else ""
    return value if index == 0 else ""


def _get(segment: list, number: int) -> Any:
    return segment[number] if number < len(segment) else ""


def read(message: Message) -> dict[str, Any]:
    """A partner's CONTRL, 997 or 999 in the neutral form (see the module text)."""
    if message.tree is None:
        raise AckError("the acknowledgment could not be read")
    segments = segments_of(message.tree)
    if message.type == "CONTRL":
        return _read_contrl(segments)
    return _read_functional(segments, message.type or "997")


def _status(code: str) -> str:
    return STATUS_NAMES.get(code, "rejected" if code else "received")


def _read_contrl(segments: list[list]) -> dict[str, Any]:
    ack: dict[str, Any] = {"kind": "contrl", "groups": [], "messages": []}
    current_group: dict[str, Any] | None = None
    current_message: dict[str, Any] | None = None
    current_segment: dict[str, Any] | None = None
    for segment in segments:
        tag = segment[0]
        if tag == "UCI":
            ack.update(interchange_ref=_text(_get(segment, 1)), sender=_part(_get(segment, 2), 0),
                       receiver=_part(_get(segment, 3), 0), action=_text(_get(segment, 4)),
                       status=_status(_text(_get(segment, 4))), code=_text(_get(segment, 5)) or None)
        elif tag == "UCF":
            current_group = {"group_ref": _text(_get(segment, 1)), "action": _text(_get(segment, 4)),
                             "status": _status(_text(_get(segment, 4))), "code": _text(_get(segment, 5)) or None,
                             "messages": []}
            ack["groups"].append(current_group)
        elif tag == "UCM":
            current_message = {"ref": _text(_get(segment, 1)), "type": _part(_get(segment, 2), 0),
                               "action": _text(_get(segment, 3)), "status": _status(_text(_get(segment, 3))),
                               "code": _text(_get(segment, 4)) or None, "errors": []}
            (current_group["messages"] if current_group is not None else ack["messages"]).append(current_message)
        elif tag == "UCS" and current_message is not None:
            current_segment = {"position": _text(_get(segment, 1)), "code": _text(_get(segment, 2)) or None,
                               "elements": []}
            current_message["errors"].append(current_segment)
        elif tag == "UCD" and current_segment is not None:
            where = _get(segment, 2)
            current_segment["elements"].append({"code": _text(_get(segment, 1)), "element": _part(where, 0),
                                                "component": _part(where, 1) or None})
    if "interchange_ref" not in ack:
        raise AckError("the CONTRL has no UCI: it does not say which interchange it acknowledges")
    return ack


def _read_functional(segments: list[list], kind: str) -> dict[str, Any]:
    ack: dict[str, Any] = {"kind": kind, "groups": []}
    group: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    bad_segment: dict[str, Any] | None = None
    for segment in segments:
        tag = segment[0]
        if tag == "AK1":
            group = {"functional_id": _text(_get(segment, 1)), "group_ref": _text(_get(segment, 2)), "messages": []}
            ack["groups"].append(group)
        elif tag == "AK2" and group is not None:
            message = {"type": _text(_get(segment, 1)), "ref": _text(_get(segment, 2)), "errors": []}
            group["messages"].append(message)
        elif tag in ("AK3", "IK3") and message is not None:
            bad_segment = {"tag": _text(_get(segment, 1)), "position": _text(_get(segment, 2)),
                           "code": _text(_get(segment, 4)) or None, "elements": []}
            message["errors"].append(bad_segment)
        elif tag in ("AK4", "IK4") and bad_segment is not None:
            where = _get(segment, 1)
            bad_segment["elements"].append({"element": _part(where, 0), "component": _part(where, 1) or None,
                                            "ref": _text(_get(segment, 2)) or None, "code": _text(_get(segment, 3)),
                                            "value": _text(_get(segment, 4)) or None})
        elif tag in ("AK5", "IK5") and message is not None:
            message["status_code"] = _text(_get(segment, 1))
            message["status"] = _status(message["status_code"])
            message["codes"] = [_text(v) for v in segment[2:] if _text(v)]
        elif tag == "AK9" and group is not None:
            group["status_code"] = _text(_get(segment, 1))
            group["status"] = _status(group["status_code"])
            group["included"], group["received"], group["accepted"] = (
                _text(_get(segment, 2)), _text(_get(segment, 3)), _text(_get(segment, 4)))
            group["codes"] = [_text(v) for v in segment[5:] if _text(v)]
    if not ack["groups"]:
        raise AckError(f"the {kind} has no AK1: it does not say which functional group it acknowledges")
    return ack


def read_technical_ack(ta1: Any) -> dict[str, Any]:
    """A TA1 (`gateway.formats.x12.TechnicalAck`) in the neutral form."""
    return {"kind": "TA1", "interchange_ref": ta1.control_ref, "status_code": ta1.status,
            "status": _status(ta1.status or ""), "code": ta1.note_code}


# --- the partner's reasons, for people -------------------------------------------------------


def _meaning(table: dict[str, str], code: str | None) -> str:
    return f"{code} ({table[code]})" if code in table else str(code)


def describe_message(kind: str, entry: dict[str, Any]) -> str:
    """One acknowledged message's verdict and reasons as a sentence, e.g. for `messages show`."""
    if kind == "contrl":
        parts = [f"UCM action {entry.get('action')}"]
        if entry.get("code"):
            parts.append("error " + _meaning(EDIFACT_0085, entry["code"]))
        for bad in entry.get("errors", []):
            text = f"segment {bad['position']}"
            if bad.get("code"):
                text += ": " + _meaning(EDIFACT_0085, bad["code"])
            for element in bad.get("elements", []):
                place = element["element"] + (f".{element['component']}" if element.get("component") else "")
                text += f"; element {place}: " + _meaning(EDIFACT_0085, element["code"])
            parts.append(text)
        return "; ".join(parts)
    segment = "IK5" if kind == "999" else "AK5"
    parts = [f"{segment} {entry.get('status_code', '?')}"]
    if entry.get("codes"):
        parts[0] += " " + ", ".join(_meaning(X12_718, c) for c in entry["codes"])
    for bad in entry.get("errors", []):
        text = f"segment {bad['position']} {bad['tag']}"
        if bad.get("code"):
            text += ": " + _meaning(X12_720, bad["code"])
        for element in bad.get("elements", []):
            place = element["element"] + (f".{element['component']}" if element.get("component") else "")
            text += f"; element {place}" + (f" ({element['ref']})" if element.get("ref") else "") + ": " + _meaning(
                X12_723, element["code"]) + (f" {element['value']!r}" if element.get("value") else "")
        parts.append(text)
    return "; ".join(parts)


def describe_group(kind: str, group: dict[str, Any]) -> str:
    if kind == "contrl":
        text = f"UCF action {group.get('action')}"
        return text + (" error " + _meaning(EDIFACT_0085, group["code"]) if group.get("code") else "")
    text = f"AK9 {group.get('status_code', '?')}"
    if group.get("codes"):
        text += " " + ", ".join(_meaning(X12_716, c) for c in group["codes"])
    return text


def describe_interchange(ack: dict[str, Any]) -> str:
    if ack["kind"] == "TA1":
        return f"TA1 {ack.get('status_code')} " + _meaning(X12_TA105, ack.get("code"))
    text = f"UCI action {ack.get('action')}"
    return text + (" error " + _meaning(EDIFACT_0085, ack["code"]) if ack.get("code") else "")
