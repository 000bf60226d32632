"""Message definitions (what a message may contain) and the checks of a message against them.

A definition is data: `gateway/formats/definitions/<standard>/<directory>/<MESSAGE>.yaml` holds
a message's segment table (order, groups or loops, mandatory or not, maximum repeats) and
`segments.yaml` next to it the data elements of every segment of that directory (position,
simple or composite, representation, mandatory or not), X12 syntax notes and code lists. One
table serves two purposes: `gateway.formats.tree.MessageBuilder` nests a message's segments by
it, and reports where the message breaks it; `check_segment` checks a segment's data elements.

Findings are `Issue`s carrying the standard's own codes, so that acknowledgments can be written
from them: UN/EDIFACT syntax error codes (data element 0085) for UCS/UCD, X12 AK3/IK3 segment
codes (720) and AK4/IK4 element codes (723). `level` says which list a code comes from.

Severity: every finding is an error, except that `strict=False` makes code-list and length
findings warnings, and that findings a directory difference may explain (an unknown segment, a
segment out of place, an extra element or component) are warnings when the message's version
is only served by a definition of another directory (D01B ORDERS read by the D96A table).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml
from lxml import etree

from gateway.formats.model import Issue, Message, Severity, is_digits

DEFINITIONS_DIR = Path(__file__).with_name("definitions")
# libyaml's safe loader when PyYAML was built with it (the same documents, read several times
# faster: the first message of a run loads every definition of its standard).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# --- the standards' codes ----------------------------------------------------------------------

# One name per kind of finding → its code in each standard. EDIFACT has one list (0085) for all
# levels; X12 has AK3 (segment) and AK4 (element) lists; 005010 added IK4 12 and 13.
CODES: dict[str, dict[str, str]] = {
    "edifact": {
        "unrecognized_segment": "15", "unexpected_segment": "15", "missing_segment": "13",
        "segment_repeats": "35", "group_repeats": "36",
        "missing_element": "13", "conditional_missing": "13", "too_many_elements": "16",
        "too_many_components": "16", "too_many_repetitions": "16", "too_short": "40",
        "too_long": "39", "invalid_character": "37", "invalid_code": "12",
        "invalid_date": "12", "invalid_time": "12", "exclusion": "12", "check_digit": "12",
    },
    "x12": {
        "unrecognized_segment": "1", "unexpected_segment": "2", "missing_segment": "3",
        "group_repeats": "4", "segment_repeats": "5", "element_errors": "8",
        "missing_element": "1", "conditional_missing": "2", "too_many_elements": "3",
        "too_short": "4", "too_long": "5", "invalid_character": "6", "invalid_code": "7",
        "invalid_date": "8", "invalid_time": "9", "exclusion": "10",
        "too_many_repetitions": "3", "too_many_components": "3", "check_digit": "7",
    },
}
X12_005010_CODES = {"too_many_repetitions": "12", "too_many_components": "13"}
SEGMENT_KINDS = {"unrecognized_segment", "unexpected_segment", "missing_segment", "segment_repeats", "group_repeats"}
# What strict=False turns into warnings.
LENIENT_KINDS = {"too_short", "too_long", "invalid_code"}
# What a directory difference may explain: warnings when the definition is borrowed.
DIRECTORY_KINDS = {"unrecognized_segment", "unexpected_segment", "too_many_elements", "too_many_components",
                   "too_many_repetitions", "too_long", "too_short", "invalid_code"}


@dataclass(frozen=True)
class Options:
    """Per-partner choices of validation (profiles set them; defaults are the standard's rules).

    `strict`: code-list and length findings reject the message (False: they are warnings).
    `check_digits`: GS1 check digits of GTINs (EN, UP, UK, SRV) and GLNs (EDIFACT agency 9,
    X12 UL) are verified.
    `segment_order`: "strict" (the standard's order), or "lenient": a segment out of order in its
    loop, where the loop has one place for it (PID or REF after ACK in an 855 PO1 loop), is put
    there with a warning instead of rejecting the message (partners' implementations differ).
    """

    strict: bool = True
    check_digits: bool = False
    segment_order: str = "strict"


DEFAULT_OPTIONS = Options()


# --- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeList:
    """A data element's codes. Only a complete list (the standard's whole list for that element
    or position) is checked; an incomplete one documents the codes the templates read."""

    values: frozenset[str]
    complete: bool


@dataclass(frozen=True)
class ElementDef:
    """A data element or a component: `kind` is the representation (an, n, a; AN, ID, N2, R, DT, TM)."""

    ref: str | None
    required: bool
    kind: str
    min: int
    max: int
    codes: CodeList | None = None
    components: tuple["ElementDef", ...] | None = None  # a composite's components
    repeats: int = 1


@dataclass(frozen=True)
class Rule:
    """An X12 syntax note: P paired, R required, E exclusion, C conditional, L list conditional."""

    kind: str
    positions: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class SegmentDef:
    tag: str
    elements: tuple[ElementDef, ...]
    rules: tuple[Rule, ...] = ()

    @property
    def required(self) -> tuple[int, ...]:
        """Positions of the mandatory data elements (cached: read for every segment)."""
        found = self.__dict__.get("_required")
        if found is None:
            found = tuple(n for n, e in enumerate(self.elements, start=1) if e.required)
            object.__setattr__(self, "_required", found)
        return found


@dataclass(frozen=True)
class Item:
    """One line of a segment table: a segment, or a group with its own items."""

    tag: str  # the segment's tag, or the group's trigger tag
    required: bool
    max: int | None  # None: unbounded
    group: "Level | None" = None


@dataclass(frozen=True)
class Level:
    """The message itself or one group: its items in order, and where each tag may be."""

    name: str
    items: tuple[Item, ...]
    positions: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)  # tag → item indices
    tags: frozenset[str] = frozenset()  # every tag anywhere below
    required: tuple[int, ...] = ()  # indices of the mandatory items, in order

    @classmethod
    def build(cls, name: str, items: tuple[Item, ...]) -> "Level":
        positions: dict[str, list[int]] = {}
        tags: set[str] = set()
        for index, item in enumerate(items):
            positions.setdefault(item.tag, []).append(index)
            tags.add(item.tag)
            if item.group is not None:
                tags |= item.group.tags
        required = tuple(index for index, item in enumerate(items) if item.required)
        return cls(name, items, {tag: tuple(found) for tag, found in positions.items()}, frozenset(tags), required)


@dataclass(frozen=True)
class Definition:
    """A message's definition: its segment table and its directory's segments."""

    standard: str
    message: str
    directory: str
    versions: frozenset[str]
    root: Level
    segments: dict[str, SegmentDef]
    source: str
    borrowed: bool = False  # serves a version of another directory (findings of DIRECTORY_KINDS are warnings)

    def for_version(self, version: str | None) -> "Definition":
        exact = version is not None and (_family(self.standard, version) in self.versions)
        if exact or self.borrowed:
            return self
        return Definition(self.standard, self.message, self.directory, self.versions, self.root, self.segments,
                          self.source, borrowed=True)


class DefinitionError(ValueError):
    """A definition file that cannot be read: the message names the file and the entry."""


_EDIFACT_REPR = re.compile(r"(an|a|n)(\.\.)?(\d+)\Z")
_X12_REPR = re.compile(r"(AN|ID|N\d?|R|DT|TM|B)\Z")


def _parse_element(text: str, standard: str, composites: dict[str, Any], where: str) -> ElementDef:
    parts = str(text).split()
    ref = None
    if parts and parts[0] not in ("M", "C", "O", "X"):
        ref = parts.pop(0)
    if not parts or parts[0] not in ("M", "C", "O", "X"):
        raise DefinitionError(f"{where}: {text!r} has no status M, C or O")
    required = parts.pop(0) == "M"
    repeats = 1
    if parts and parts[-1].startswith("*"):
        repeats = int(parts.pop()[1:])
    if not parts:  # a composite by reference
        if ref not in composites:
            raise DefinitionError(f"{where}: {text!r} is neither a simple element nor a known composite")
        components = tuple(_parse_element(c, standard, {}, f"{where} {ref}") for c in composites[ref])
        return ElementDef(ref, required, "composite", 0, 0, None, components, repeats)
    if standard == "edifact":
        match = _EDIFACT_REPR.match(parts[0])
        if not match:
            raise DefinitionError(f"{where}: {text!r} has no representation like an..35 or n3")
        kind, variable, length = match.group(1), match.group(2), int(match.group(3))
        return ElementDef(ref, required, kind, 1 if variable else length, length, repeats=repeats)
    if len(parts) < 2 or not _X12_REPR.match(parts[0]) or "/" not in parts[1]:
        raise DefinitionError(f"{where}: {text!r} has no type and length like AN 1/35")
    low, high = parts[1].split("/")
    return ElementDef(ref, required, parts[0], int(low), int(high), repeats=repeats)


def _parse_rule(text: str, where: str) -> Rule:
    kind, digits = text[0], text[1:]
    if kind not in "PRECL" or not digits.isdigit() or len(digits) % 2:
        raise DefinitionError(f"{where}: syntax note {text!r} is not like P0304 or R020305")
    return Rule(kind, tuple(int(digits[i:i + 2]) for i in range(0, len(digits), 2)), text)


def _parse_item(entry: Any, where: str) -> Item:
    if isinstance(entry, str):
        parts = entry.split()
        if len(parts) != 3 or parts[1] not in ("M", "C", "O"):
            raise DefinitionError(f"{where}: {entry!r} is not like 'NAD M 1'")
        return Item(parts[0], parts[1] == "M", None if parts[2] == ">1" else int(parts[2]))
    if isinstance(entry, dict) and "group" in entry:
        parts = str(entry["group"]).split()
        if len(parts) != 3:
            raise DefinitionError(f"{where}: group {entry['group']!r} is not like 'SG2 C 99'")
        items = tuple(_parse_item(child, f"{where} {parts[0]}") for child in entry["segments"])
        level = Level.build(parts[0], items)
        return Item(items[0].tag, parts[1] == "M", None if parts[2] == ">1" else int(parts[2]), level)
    raise DefinitionError(f"{where}: {entry!r} is neither a segment nor a group")


@lru_cache(maxsize=None)
def _directory(standard: str, directory: str) -> tuple[dict[str, SegmentDef], frozenset[str]]:
    """The segments of a directory folder (and of the folder it is `based_on`)."""
    path = DEFINITIONS_DIR / standard / directory / "segments.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    segments: dict[str, SegmentDef] = {}
    if "based_on" in data:
        segments.update(_directory(standard, str(data["based_on"]))[0])
    composites = dict(data.get("composites") or {})
    codes = _code_lists(data.get("codes") or {}, str(path))
    syntax = data.get("syntax") or {}
    for tag, elements in (data.get("segments") or {}).items():
        where = f"{path}: segment {tag}"
        parsed = [_parse_element(e, standard, composites, where) for e in elements]
        parsed = [_with_codes(element, f"{tag}{n:02d}", codes) for n, element in enumerate(parsed, start=1)]
        rules = tuple(_parse_rule(r, where) for r in syntax.get(tag, ()))
        segments[tag] = SegmentDef(tag, tuple(parsed), rules)
    return segments, frozenset(segments)


def _code_lists(data: dict, where: str) -> dict[str, CodeList]:
    lists = {}
    for key, entry in data.items():
        if isinstance(entry, dict):
            values, complete = entry.get("values", []), bool(entry.get("complete", False))
        else:
            values, complete = entry, False
        if isinstance(values, dict):
            values = list(values)
        lists[str(key)] = CodeList(frozenset(str(v) for v in values), complete)
    return lists


def _with_codes(element: ElementDef, name: str, codes: dict[str, CodeList]) -> ElementDef:
    """Attach code lists: by position (NAD01, LIN03.2, AK304) first, else by data element number."""
    if element.components is not None:
        components = tuple(
            _with_codes(component, f"{name}.{n}", codes) for n, component in enumerate(element.components, start=1)
        )
        return ElementDef(element.ref, element.required, element.kind, element.min, element.max, None,
                          components, element.repeats)
    found = codes.get(name) or (codes.get(element.ref) if element.ref else None)
    if found is None:
        return element
    return ElementDef(element.ref, element.required, element.kind, element.min, element.max, found,
                      None, element.repeats)


@lru_cache(maxsize=None)
def _definitions(standard: str) -> dict[str, list[Definition]]:
    """Every definition of a standard, by message type."""
    found: dict[str, list[Definition]] = {}
    base = DEFINITIONS_DIR / standard
    if not base.is_dir():
        return found
    for path in sorted(base.glob("*/*.yaml")):
        if path.name == "segments.yaml":
            continue
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        directory = str(data["directory"])
        segments, _ = _directory(standard, path.parent.name)
        items = tuple(_parse_item(entry, f"{path}") for entry in data["segments"])
        for item in _all_items(items):
            if item.tag not in segments:
                raise DefinitionError(f"{path}: segment {item.tag} is not in {path.parent / 'segments.yaml'}")
        versions = frozenset(str(v) for v in data.get("versions", [directory]))
        definition = Definition(standard, str(data["message"]), directory, versions,
                                Level.build("message", items), segments, str(path))
        found.setdefault(definition.message, []).append(definition)
    return found


def _with_directory(definition: Definition, family: str) -> Definition:
    """A table shared by two versions (X12 850 of 004010 and 005010) reads the segments of the
    message's own version when the project has that version's segments file."""
    if family == definition.directory or not (DEFINITIONS_DIR / definition.standard / family / "segments.yaml").exists():
        return definition
    segments, _ = _directory(definition.standard, family)
    return Definition(definition.standard, definition.message, family, definition.versions, definition.root,
                      segments, definition.source)


def _all_items(items: Iterable[Item]) -> Iterable[Item]:
    for item in items:
        yield item
        if item.group is not None:
            yield from _all_items(item.group.items)


def _family(standard: str, version: str) -> str:
    """The directory a version belongs to: D96A; X12 004010VICS → 004010, 005010X222A1 → 005010."""
    return version[:6] if standard == "x12" else version


@lru_cache(maxsize=None)
def load_definition(standard: str, message_type: str, version: str | None = None) -> Definition | None:
    """The definition that reads this message: its version's, else the nearest one (borrowed).

    None when the project has no definition for the message type: only its envelope is checked.
    """
    candidates = _definitions(standard).get(message_type)
    if not candidates:
        return None
    if version:
        family = _family(standard, version)
        for definition in candidates:
            if family in definition.versions:
                return _with_directory(definition, family)
    # Another version: the latest directory we have reads it (templates rely on its groups).
    return max(candidates, key=lambda d: d.directory).for_version(version)


# --- findings ----------------------------------------------------------------------------------


class Findings:
    """Collects the issues of one message, with the codes and severities of its standard."""

    def __init__(self, definition: Definition, options: Options = DEFAULT_OPTIONS, version: str | None = None) -> None:
        self.definition = definition
        self.options = options
        self.codes = dict(CODES[definition.standard])
        if definition.standard == "x12" and (version or definition.directory) >= "005010":
            self.codes.update(X12_005010_CODES)
        self.issues: list[Issue] = []

    def add(self, kind: str, reason: str, position: int | None, tag: str | None, *, element: int | None = None,
            component: int | None = None, repetition: int | None = None, element_ref: str | None = None,
            value: str | None = None, severity: Severity = "error") -> None:
        if kind in LENIENT_KINDS and not self.options.strict:
            severity = "warning"
        if self.definition.borrowed and kind in DIRECTORY_KINDS:
            severity = "warning"
            reason += f" (read with the {self.definition.directory} definition)"
        self.issues.append(Issue(
            reason, position, tag, self.codes[kind], severity,
            level="segment" if kind in SEGMENT_KINDS else "element",
            element=element, component=component, repetition=repetition, element_ref=element_ref,
            value=None if value is None else value[:99],
        ))


# --- data elements -----------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(\d*)[.,]?(\d*)\Z")
_X12_DECIMAL = re.compile(r"-?(\d*)\.?(\d*)(E-?\d+)?\Z")
_X12_INTEGER = re.compile(r"-?(\d+)\Z")
_ALPHA_FORBIDDEN = re.compile(r"\d")

# Date/time format qualifiers (EDIFACT 2379) whose values can be checked, as strptime patterns.
DATE_FORMATS = {
    "101": "%y%m%d", "102": "%Y%m%d", "201": "%y%m%d%H%M", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S",
    "602": "%Y", "610": "%Y%m",
}
PERIOD_FORMATS = {"718": "%Y%m%d", "719": "%Y%m%d%H%M"}


@lru_cache(maxsize=4096)  # a message's dates repeat; strptime is slow
def _valid(value: str, pattern: str) -> bool:
    try:
        parsed = datetime.datetime.strptime(value, pattern)
    except ValueError:
        return False
    return parsed.strftime(pattern) == value  # strptime accepts "2005829" for %Y%m%d


def check_segment(findings: Findings, tag: str, elements: Sequence[Sequence[Sequence[str]]], position: int) -> None:
    """Check one segment's data elements (repetitions of components, as the tokenizers give them)."""
    definition = findings.definition.segments.get(tag)
    if definition is None:
        return
    x12 = findings.definition.standard == "x12"
    if not _clean_check(definition, x12)(elements):
        _check_elements(findings, definition, elements, position, x12)
        if definition.rules:
            _check_rules(findings, definition, elements, position)
    if tag == "DTM" and not x12:
        _check_edifact_date(findings, elements, position)
    if findings.options.check_digits:
        _check_gs1(findings, tag, elements, position, x12)


def _check_elements(findings: Findings, definition: SegmentDef, elements: Sequence[Sequence[Sequence[str]]],
                    position: int, x12: bool) -> None:
    """Every finding of a segment's data elements, in order (what `_clean_check` found not clean)."""
    tag = definition.tag
    defined = definition.elements
    for number in range(len(defined) + 1, len(elements) + 1):
        if any(any(part for part in components) for components in elements[number - 1]):
            findings.add("too_many_elements", f"{tag} has a data element at position {number}, it has only "
                         f"{len(defined)}", position, tag, element=number)
    size = len(elements)
    for number in definition.required:
        if number > size:
            element = defined[number - 1]
            findings.add("missing_element", f"{_name(tag, number)}{_ref(element)} is mandatory and missing",
                         position, tag, element=number, element_ref=element.ref)
    for number, element in enumerate(defined[:size], start=1):
        repetitions = elements[number - 1]
        if len(repetitions) == 1:
            first = repetitions[0]
            present = repetitions if (first[0] if len(first) == 1 else any(first)) else ()
        else:
            present = [r for r in repetitions if any(r)]
        if not present:
            if element.required:
                findings.add("missing_element", f"{_name(tag, number)}{_ref(element)} is mandatory and missing",
                             position, tag, element=number, element_ref=element.ref)
            continue
        if len(present) > element.repeats:
            findings.add("too_many_repetitions", f"{_name(tag, number)} is repeated {len(present)} times, at most "
                         f"{element.repeats} allowed", position, tag, element=number, element_ref=element.ref)
        for occurrence, components in enumerate(present, start=1):
            repetition = occurrence if len(present) > 1 else None
            if element.components is None:
                for extra in range(2, len(components) + 1):
                    if components[extra - 1]:
                        findings.add("too_many_components", f"{_name(tag, number)} is a simple data element but "
                                     f"has a component at position {extra}", position, tag, element=number,
                                     component=extra, repetition=repetition, element_ref=element.ref,
                                     value=components[extra - 1])
                        break
                _check_value(findings, element, components[0], tag, number, None, repetition, position, x12)
                continue
            parts = element.components
            for extra in range(len(parts) + 1, len(components) + 1):
                if components[extra - 1]:
                    findings.add("too_many_components", f"{_name(tag, number)} ({element.ref}) has {len(components)} "
                                 f"components, at most {len(parts)} are allowed (a separator in the text that "
                                 f"should have been released?)", position, tag, element=number, component=extra,
                                 repetition=repetition, element_ref=element.ref, value=components[extra - 1])
                    break
            for part, component in enumerate(parts, start=1):
                value = components[part - 1] if part <= len(components) else ""
                if not value:
                    if component.required:
                        findings.add("missing_element", f"{_name(tag, number, part)}{_ref(component)} is "
                                     f"mandatory and missing", position, tag, element=number, component=part,
                                     repetition=repetition, element_ref=component.ref)
                    continue
                _check_value(findings, component, value, tag, number, part, repetition, position, x12)


# --- the same checks, compiled once per segment: is a segment clean? ---------------------------
#
# Most segments of most messages are right. `_clean_check` answers, for one segment definition,
# whether its data elements and syntax notes give no finding at all, with closures made once per
# definition instead of walking the definition per segment; only a segment it cannot clear is
# walked by `_check_elements` and `_check_rules`, which word the findings. It answers False
# whenever it is not sure (a repeated element, an element past the definition's): never True
# where a finding would have been made.

ElementsOf = Sequence[Sequence[Sequence[str]]]


def _clean_check(definition: SegmentDef, x12: bool) -> Callable[[ElementsOf], bool]:
    checks = definition.__dict__.get("_clean_checks")
    if checks is None:
        checks = {}
        object.__setattr__(definition, "_clean_checks", checks)
    check = checks.get(x12)
    if check is None:
        check = checks[x12] = _compile_clean_check(definition, x12)
    return check


def _never(elements: ElementsOf) -> bool:
    return False


def _compile_clean_check(definition: SegmentDef, x12: bool) -> Callable[[ElementsOf], bool]:
    defined = definition.elements
    if any(element.repeats < 1 for element in defined):
        return _never
    size_max = len(defined)
    size_min = max(definition.required, default=0)
    specs: list[tuple[int, bool, Callable[[str], bool] | None, tuple[tuple[bool, Callable[[str], bool]], ...]]] = []
    for number, element in enumerate(defined, start=1):
        if element.components is None:
            specs.append((1 << number, element.required, _value_check(element, x12), ()))
        else:
            parts = tuple((part.required, _value_check(part, x12)) for part in element.components)
            specs.append((1 << number, element.required, None, parts))
    rules = []
    for rule in definition.rules:
        if len(set(rule.positions)) != len(rule.positions):
            return _never
        mask = 0
        for n in rule.positions:
            mask |= 1 << n
        rules.append((rule.kind, mask, 1 << rule.positions[0]))

    def clean(elements: ElementsOf) -> bool:
        size = len(elements)
        if size > size_max or size < size_min:
            return False
        present = 0
        for (bit, required, check, parts), repetitions in zip(specs, elements):
            if len(repetitions) != 1:
                return False
            components = repetitions[0]
            if check is not None:  # a simple data element
                value = components[0]
                if len(components) > 1 and any(components[1:]):
                    return False
                if not value:
                    if required:
                        return False
                    continue
                if not check(value):
                    return False
                present |= bit
                continue
            if not any(components):
                if required:
                    return False
                continue
            present |= bit
            count = len(components)
            if count > len(parts) and any(components[len(parts):]):
                return False
            for index, (part_required, part_check) in enumerate(parts):
                value = components[index] if index < count else ""
                if not value:
                    if part_required:
                        return False
                elif not part_check(value):
                    return False
        if not rules:
            return True
        keeps = kept.get(present)
        if keeps is None:
            keeps = kept[present] = notes_kept(present)
        return keeps

    def notes_kept(present: int) -> bool:
        """Whether the data elements present (a bit per position) break no syntax note."""
        for kind, mask, first in rules:
            there = present & mask
            if kind == "P":
                if there and there != mask:
                    return False
            elif kind == "R":
                if not there:
                    return False
            elif kind == "E":
                if there & (there - 1):
                    return False
            elif there & first and ((there & (there - 1)) == 0 if kind == "L" else there != mask):
                return False
        return True

    kept: dict[int, bool] = {}  # by the elements present: a segment's few shapes recur
    return clean


def _value_check(element: ElementDef, x12: bool) -> Callable[[str], bool]:
    """Whether a non-empty value of `element` gives no finding (`_value_problem` is None)."""
    low, high = element.min, element.max
    codes = element.codes.values if element.codes is not None and element.codes.complete else None
    if element.kind in ("an", "AN", "ID"):
        if codes is None:
            return lambda value: low <= len(value) <= high
        return lambda value: value in codes and low <= len(value) <= high
    kind = element.kind
    if codes is None and (kind in ("n", "R") or kind[0] == "N"):
        match = _number_pattern(kind, x12).match

        def number(value: str) -> bool:
            if value.isdigit() and value.isascii():  # every pattern reads plain digits as that many digits
                return low <= len(value) <= high
            digits = _digits(match(value))
            return digits is not None and low <= digits <= high

        return number
    if codes is None and kind == "DT":
        return lambda value: (is_digits(value) and len(value) in (6, 8) and low <= len(value) <= high
                              and _valid(value, "%Y%m%d" if len(value) == 8 else "%y%m%d"))
    return lambda value: _value_problem(element, value, x12) is None


def _name(tag: str, number: int, part: int | None = None) -> str:
    return f"{tag}{number:02d}" + (f".{part}" if part else "")


def _ref(element: ElementDef) -> str:
    return f" ({element.ref})" if element.ref else ""


def _check_value(findings: Findings, element: ElementDef, value: str, tag: str, number: int, part: int | None,
                 repetition: int | None, position: int, x12: bool) -> None:
    problem = _value_problem(element, value, x12)
    if problem is None:
        return
    found, what = problem
    findings.add(found, f"{_name(tag, number, part)}{_ref(element)} {value!r} {what}", position, tag, element=number,
                 component=part, repetition=repetition, element_ref=element.ref, value=value)


def _number_pattern(kind: str, x12: bool) -> re.Pattern:
    if x12:
        return _X12_INTEGER if kind[0] == "N" else _X12_DECIMAL
    return _NUMBER


def _digits(match: re.Match | None) -> int | None:
    """How many digits a number has (its length), or None when the match is not a number."""
    if not match or not (match.group(1) or (match.lastindex and match.group(2))):
        return None
    return len(match.group(1)) + (len(match.group(2) or "") if match.lastindex and match.lastindex >= 2 else 0)


def _value_problem(element: ElementDef, value: str, x12: bool) -> tuple[str, str] | None:
    """What is wrong with a non-empty value: (kind of finding, what is wrong), or None."""
    kind = element.kind
    length = len(value)
    problem: tuple[str, str] | None = None  # (kind of finding, what is wrong) — names are made only then
    if kind in ("n", "R") or kind[0] == "N":
        digits = _digits(_number_pattern(kind, x12).match(value))
        if digits is None:
            problem = ("invalid_character", "is not a number")
        else:
            length = digits
    elif kind == "an" or kind == "AN":
        pass
    elif kind == "a" and _ALPHA_FORBIDDEN.search(value):
        problem = ("invalid_character", "holds digits, only letters are allowed")
    elif kind == "DT":
        if not is_digits(value) or len(value) not in (6, 8) or not _valid(value, "%Y%m%d" if len(value) == 8 else "%y%m%d"):
            problem = ("invalid_date", f"is not a date ({'CCYYMMDD' if element.max == 8 else 'YYMMDD'})")
    elif kind == "TM":
        if not is_digits(value) or len(value) < 4 or int(value[:2]) > 23 or int(value[2:4]) > 59 or (
                len(value) >= 6 and int(value[4:6]) > 59):
            problem = ("invalid_time", "is not a time (HHMM[SS])")
    if problem is None:
        codes = element.codes
        if codes is not None and codes.complete and value not in codes.values:
            problem = ("invalid_code", "is not a code of this element")
        elif kind == "ID" and not element.min <= length <= element.max:
            problem = ("invalid_code", f"cannot be a code of this element: its codes have {_length(element)} characters")
        elif length > element.max:
            problem = ("too_long", f"is {length} characters long, at most {element.max} allowed")
        elif length < element.min:
            problem = ("too_short", f"is {length} characters long, at least {element.min} required")
    return problem


def _length(element: ElementDef) -> str:
    return str(element.min) if element.min == element.max else f"{element.min} to {element.max}"


def _check_rules(findings: Findings, definition: SegmentDef, elements, position: int) -> None:
    tag = definition.tag
    size = len(elements)
    for rule in definition.rules:
        there = [n for n in rule.positions if n <= size and any(any(r) for r in elements[n - 1])]
        if rule.kind == "P":
            if not there or len(there) == len(rule.positions):
                continue
        elif rule.kind == "R":
            if there:
                continue
        elif rule.kind == "E":
            if len(there) < 2:
                continue
        elif rule.positions[0] not in there or (rule.kind == "L" and len(there) > 1) or (
                rule.kind == "C" and len(there) == len(rule.positions)):
            continue
        names = ", ".join(_name(tag, n) for n in rule.positions)
        if rule.kind == "P":
            for n in rule.positions:
                if n not in there:
                    findings.add("conditional_missing", f"{_name(tag, n)} is required with {_name(tag, there[0])} "
                                 f"(syntax note {rule.text}: {names} go together)", position, tag, element=n)
        elif rule.kind == "R":
            findings.add("conditional_missing", f"at least one of {names} is required (syntax note {rule.text})",
                         position, tag, element=rule.positions[0])
        elif rule.kind == "E":
            findings.add("exclusion", f"only one of {names} may be given (syntax note {rule.text})", position, tag,
                         element=there[1])
        elif rule.kind == "C":
            for n in rule.positions[1:]:
                if n not in there:
                    findings.add("conditional_missing", f"{_name(tag, n)} is required when {_name(tag, rule.positions[0])} "
                                 f"is given (syntax note {rule.text})", position, tag, element=n)
        else:
            findings.add("conditional_missing", f"one of {', '.join(_name(tag, n) for n in rule.positions[1:])} is "
                         f"required when {_name(tag, rule.positions[0])} is given (syntax note {rule.text})",
                         position, tag, element=rule.positions[1])


@lru_cache(maxsize=None)
def _written_size(pattern: str) -> int:
    """How many characters a date in this strptime pattern has."""
    return len(datetime.datetime(2000, 1, 1).strftime(pattern))


def _value(elements, number: int, part: int = 1) -> str:
    try:
        return elements[number - 1][0][part - 1]
    except IndexError:
        return ""


def _check_edifact_date(findings: Findings, elements, position: int) -> None:
    """DTM C507: the date/time (2380) must be one its format (2379) allows."""
    value, form = _value(elements, 1, 2), _value(elements, 1, 3)
    where = dict(element=1, component=2, element_ref="2380", value=value)
    if form and not value:
        findings.add("missing_element", f"DTM01.2 (2380, date/time) is empty although its format {form} is given",
                     position, "DTM", element=1, component=2, element_ref="2380")
    elif form in DATE_FORMATS:
        pattern = DATE_FORMATS[form]
        size = _written_size(pattern)
        if not _valid(value[:size], pattern):
            findings.add("invalid_date", f"DTM01.2 (2380, date/time) {value!r} is not a valid date in format {form}",
                         position, "DTM", **where)
        elif len(value) != size:
            # Real partners send 102 dates with a time after them: the date is still read.
            findings.add("too_long", f"DTM01.2 (2380, date/time) {value!r} is longer than format {form} allows",
                         position, "DTM", severity="warning", **where)
    elif form in PERIOD_FORMATS:
        start, _, end = value.partition("-")
        if not (_valid(start, PERIOD_FORMATS[form]) and _valid(end, PERIOD_FORMATS[form])):
            findings.add("invalid_date", f"DTM01.2 (2380, period) {value!r} is not a valid period in format {form}",
                         position, "DTM", **where)


# --- GS1 check digits --------------------------------------------------------------------------

GTIN_QUALIFIERS = {"EN", "UP", "UK", "SRV", "EAN", "UA"}


def gs1_check_digit_ok(number: str) -> bool:
    """Whether a GTIN-8/12/13/14 or GLN (13 digits) ends with its GS1 mod-10 check digit."""
    if not is_digits(number) or len(number) not in (8, 12, 13, 14):
        return False
    digits = [int(d) for d in number]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def _check_gs1(findings: Findings, tag: str, elements, position: int, x12: bool) -> None:
    candidates: list[tuple[int, int | None, str, str]] = []  # element, component, what, value
    if x12:
        pairs = {"PO1": 6, "IT1": 6, "ACK": 7, "SLN": 9, "LIN": 2, "PO4": 0}
        if tag in pairs and pairs[tag]:
            for qualifier in range(pairs[tag], len(elements), 2):
                if _value(elements, qualifier) in GTIN_QUALIFIERS and _value(elements, qualifier + 1):
                    candidates.append((qualifier + 1, None, "GTIN", _value(elements, qualifier + 1)))
        elif tag == "N1" and _value(elements, 3) == "UL" and _value(elements, 4):
            candidates.append((4, None, "GLN", _value(elements, 4)))
    else:
        if tag == "LIN" and _value(elements, 3, 2) in GTIN_QUALIFIERS and _value(elements, 3, 1):
            candidates.append((3, 1, "GTIN", _value(elements, 3, 1)))
        elif tag == "PIA":
            for number in range(2, len(elements) + 1):
                if _value(elements, number, 2) in GTIN_QUALIFIERS and _value(elements, number, 1):
                    candidates.append((number, 1, "GTIN", _value(elements, number, 1)))
        elif tag == "NAD" and _value(elements, 2, 3) == "9" and _value(elements, 2, 1):
            candidates.append((2, 1, "GLN", _value(elements, 2, 1)))
    for number, part, what, value in candidates:
        if what == "GLN" and len(value) != 13 or not gs1_check_digit_ok(value):
            findings.add("check_digit", f"{_name(tag, number, part)} {value!r} is not a valid {what} "
                         f"(GS1 check digit or length)", position, tag, element=number, component=part, value=value)


# --- nesting a message by its segment table ----------------------------------------------------


class _Frame:
    """One open level while a message is read: the message or a group instance."""

    __slots__ = ("name", "level", "index", "counts")

    def __init__(self, name: str | None, level: Level, index: int) -> None:
        self.name = name  # the group element's name; None for the message itself
        self.level = level
        self.index = index  # the segment table line reached; -1 before the first
        self.counts: dict[int, int] = {index: 1} if index >= 0 else {}


class MessageBuilder:
    """Nests segments into their groups as they arrive, and checks the message's structure.

    The builder walks the segment table the way the standard reads it: a segment is placed at
    the first table line, at or after the current one, of the innermost open level that has it,
    closing groups outwards until a level has it further on; a group's trigger opens a new
    instance of that group. On the way it reports segments that are missing, repeated too often
    or out of place, and checks every segment's data elements (`check_segment`).
    A segment no level has at or after its place is put in the level that knows its tag (out of
    order) or in the innermost group (unknown), so templates still find it, and is reported.
    Without a definition, segments are simply appended in order.

    Segments come as XML text (`gateway.formats.tree.segment_xml`) and the tree is written as
    text too, in document order: every placement is at the innermost open level once the
    levels above it are closed. `finish()` parses it once into the message's root element,
    which costs a fraction of building the elements one call at a time.
    """

    def __init__(self, root: etree._Element | None, definition: Definition | None,
                 options: Options = DEFAULT_OPTIONS, *, version: str | None = None) -> None:
        self.root = root
        self.definition = definition
        self.findings = Findings(definition, options, version) if definition else None
        self.stack: list[_Frame] = [_Frame(None, definition.root, -1)] if definition else []
        self.parts: list[str] = []
        self._finished = False
        self._last_position: int | None = None

    @property
    def finding_count(self) -> int:
        """How many findings so far (a segment that adds none may be remembered as clean)."""
        return 0 if self.findings is None else len(self.findings.issues)

    @property
    def issues(self) -> list[Issue]:
        """What nesting and validation found; read once, when the message is complete."""
        if self.findings is None:
            return []
        if not self._finished:
            self._finished = True
            self._close_above(-1, self._last_position)  # every group, and the message itself
        return self.findings.issues

    def finish(self) -> etree._Element | None:
        """The root element with the message's segments in it (groups closed); call once, at the end."""
        self.issues  # noqa: B018 - closes the open groups
        if self.root is not None and self.parts:
            self.root.extend(etree.fromstring("<m>" + "".join(self.parts) + "</m>", _PARSER))
        self.parts = []
        return self.root

    def add(self, tag: str, position: int | None, xml: str,
            elements: Sequence[Sequence[Sequence[str]]] | None = None) -> None:
        """Place one segment (its XML text); `elements` are its data elements as tokenized (checked when given)."""
        if not self.stack:
            self.parts.append(xml)
            return
        self._last_position = position
        if not self._place(tag, xml, position):
            self._misplace(tag, xml, position)
        if elements is not None and self.findings is not None:
            check_segment(self.findings, tag, elements, position or 0)

    def _place(self, tag: str, xml: str, position: int | None) -> bool:
        stack = self.stack
        for depth in range(len(stack) - 1, -1, -1):
            frame = stack[depth]
            indices = frame.level.positions.get(tag)
            if not indices:
                continue
            start = max(frame.index, 0)
            for index in indices:
                if index < start or (depth and index == 0):  # a group's trigger opens a sibling group
                    continue
                item = frame.level.items[index]
                if len(stack) > depth + 1:
                    self._close_above(depth, position)
                if index > frame.index + 1:
                    self._skip(frame, index, position)
                count = frame.counts.get(index, 0) + 1
                frame.counts[index] = count
                frame.index = index
                if item.group is None:
                    self.parts.append(xml)
                    if item.max is not None and count > item.max:
                        self.findings.add("segment_repeats", f"segment {tag} occurs {count} times here, at most "
                                          f"{item.max} allowed", position, tag)
                else:
                    self._open(item, xml, count, position)
                return True
        return False

    def _open(self, item: Item, xml: str, count: int, position: int | None) -> None:
        group = item.group
        self.parts.append(f"<{group.name}>")
        self.parts.append(xml)
        self.stack.append(_Frame(group.name, group, 0))
        if item.max is not None and count > item.max:
            self.findings.add("group_repeats", f"group {group.name} ({item.tag}) occurs {count} times, at most "
                              f"{item.max} allowed", position, item.tag)

    def _close_above(self, depth: int, position: int | None) -> None:
        """Close the groups open inside the level at `depth` (a segment of that level has come)."""
        while len(self.stack) > depth + 1:
            self._close(self.stack.pop(), position)

    def _misplace(self, tag: str, xml: str, position: int | None) -> None:
        stack = self.stack
        for depth in range(len(stack) - 1, -1, -1):
            frame = stack[depth]
            indices = frame.level.positions.get(tag)
            if not indices:
                continue
            self._close_above(depth, position)
            item = frame.level.items[indices[0]]
            lenient = self.findings.options.segment_order == "lenient" and len(indices) == 1
            self.findings.add("unexpected_segment", f"segment {tag} is out of order here (in "
                              f"{'the message' if depth == 0 else frame.level.name})" + (
                                  "; read in its place (validation.segment_order: lenient)" if lenient else ""),
                              position, tag, severity="warning" if lenient else "error")
            if item.group is None or (depth and indices[0] == 0):
                self.parts.append(xml)
            else:
                count = frame.counts.get(indices[0], 0) + 1
                frame.counts[indices[0]] = count
                self._open(item, xml, count, position)
            return
        self.parts.append(xml)
        definition = self.definition
        if tag in definition.root.tags:
            reason = f"segment {tag} is not expected here: its group has not begun"
            kind = "unexpected_segment"
        elif tag in definition.segments:
            reason = f"segment {tag} is not part of {definition.message}"
            kind = "unexpected_segment"
        else:
            reason = f"segment {tag} is not part of this message's structure ({definition.message} {definition.directory})"
            kind = "unrecognized_segment"
        self.findings.add(kind, reason, position, tag)

    def _skip(self, frame: _Frame, index: int, position: int | None) -> None:
        """Moving to table line `index`: the mandatory lines passed over without a segment are missing."""
        for passed in frame.level.required:
            if frame.index < passed < index and not frame.counts.get(passed):
                self._missing(frame, frame.level.items[passed], position)

    def _close(self, frame: _Frame, position: int | None) -> None:
        for passed in frame.level.required:
            if passed > frame.index and not frame.counts.get(passed):
                self._missing(frame, frame.level.items[passed], position)
        if frame.name is not None:
            self.parts.append(f"</{frame.name}>")

    def _missing(self, frame: _Frame, item: Item, position: int | None) -> None:
        where = "the message" if frame.level.name == "message" else f"group {frame.level.name}"
        what = f"group {item.group.name} (starting with {item.tag})" if item.group else f"segment {item.tag}"
        self.findings.add("missing_segment", f"mandatory {what} is missing in {where}", position, item.tag)


# Values are escaped when the XML is written; no entity, DTD or network is ever read.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)


def segment_values(segment: etree._Element) -> list[list[list[str]]]:
    """A segment element's data elements back as the tokenizers give them: repetitions of components."""
    tag = segment.tag
    elements: list[list[list[str]]] = []
    previous = 0
    for element in segment:
        number = int(element.tag[len(tag):])
        components: list[str] = []
        for component in element:
            part = int(component.tag.rsplit(".", 1)[1])
            components.extend("" for _ in range(part - len(components)))
            components[part - 1] = component.text or ""
        while len(elements) < number - 1:
            elements.append([[""]])
        if number == previous:
            elements[-1].append(components)
        else:
            elements.append([components])
        previous = number
    return elements


# --- after the fact: a whole tree --------------------------------------------------------------


def validate(message: Message, *, strict: bool = True, check_digits: bool = False) -> list[Issue]:
    """Validate a message tree against its definition again (outbound messages, other options).

    Returns the findings (structure and data elements); the message is not changed. A message
    without a definition has none.
    """
    if message.tree is None or message.type is None:
        return []
    standard = message.tree.get("standard") or message.interchange.standard
    definition = load_definition(standard, message.type, message.version)
    if definition is None:
        return []
    options = Options(strict=strict, check_digits=check_digits)
    builder = MessageBuilder(None, definition, options, version=message.version)
    for segment in [s for s in message.tree.iter() if s.get("pos") is not None]:
        builder.add(segment.tag, int(segment.get("pos") or 0) or None, "", segment_values(segment))
    return builder.issues


def summary(issues: Iterable[Issue]) -> dict[str, Any]:
    """What an X12 acknowledgment says of one transaction set, from its issues (AK5 / IK5).

    `status` (AK501/IK501, 717): A accepted, E accepted with errors noted (warnings only),
    R rejected. `codes` (AK502…AK506, 718): the envelope's own codes (level "message"), and 5
    (one or more segments in error) when a segment or element has an error. For EDIFACT, R is
    UCM 0083 = 4 and A/E are 7; the UCM 0085 is the first "message" issue's code.
    """
    issues = list(issues)
    errors = [i for i in issues if i.severity == "error"]
    codes = []
    for issue in errors:
        if issue.level == "message" and issue.code and issue.code not in codes:
            codes.append(issue.code)
    if any(i.level in ("segment", "element") for i in errors) and "5" not in codes:
        codes.append("5")
    status = "R" if errors else ("E" if issues else "A")
    return {"status": status, "codes": codes[:5]}
