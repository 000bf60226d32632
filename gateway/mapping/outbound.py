"""Outbound templates: turn a canonical document into the body segments of a message, as YAML data.

The reverse of `engine`: a template under `templates/outbound/` lists the segments of a message
in order, each written the way the message shows it, with `{…}` where a value of the document
goes. Rendering gives the body segments (no UNH/UNT, no ST/SE) in the shape
`gateway.formats.tree.segments_of` gives and `gateway.formats.render` envelopes:
`[tag, element, …]`, an element being a string or a list of components.

    standard: edifact                  # edifact | x12
    message: ORDRSP                    # UNH 0065 / ST01
    version: D96A                      # EDIFACT UNH 0052+0054 (D96A); X12 GS08 (004010)
    association: EAN005                # EDIFACT UNH 0057, optional (agency: UN by default)
    document: OrderResponse            # a type of gateway.documents.DOCUMENT_TYPES
    extends: outbound/x12/855_004010   # optional: start from another template (see below)
    required: [document_number, lines, lines.confirmed_quantity]
    blocks:                            # segment lists written once, used by `use:`
      party:
        - [NAD, "{role}", ["{gln}", "", "{gln?9}"], "", ["{name:max35}"]]
    segments:
      - [BGM, ["231"], "{document_number}", "{status|response_status_edifact}"]
      - [DTM, ["137", "{document_date:102}", "102"]]
      - {use: party, with: buyer, set: {role: BY}}
      - each: lines                    # once per item of a list field
        segments:
          - [LIN, "{line_number,@index}", "", ["{gtin}", "EN"]]
          - [QTY, ["113", "{confirmed_quantity}", "{uom|units_edifact}"]]
      - when: currency                 # only when the document has a currency
        segments: [[CUX, ["2", "{currency}", "9"]]]
      - [CNT, ["2", "{@count(LIN)}"]]

Values, `{ref[:format][|codelist]}`:
- `ref` is a field name, dotted for nested objects (`buyer.gln`), read from the innermost
  `each`/`with` item that has such a field, else from the document. `a,b`: a, else b.
  Computed: `@index` (the item's number in its `each`, from 1), `@count(TAG)` (segments of
  that tag written so far), `@level_id` / `@parent_id` (see `level`).
- `format`: dates (ISO 8601 in the document) as EDIFACT 2379 `101` `102` `201` `203` `204` or
  X12 `CCYYMMDD` `YYMMDD` `HHMM` `HHMMSS` (a date without a time has the time 00:00);
  `N0`…`N9` a decimal as an integer with that many implied decimals (X12 N2: 12.5 → 1250);
  `max35` text cut to 35 characters.
- `codelist`: a list of `templates/outbound/codelists/` mapping our canonical value to the
  partner's code (`Units` → `PCE`); a value the list lacks is kept, or an error when the list
  says `unmapped: reject`. An empty code leaves the value out.
- `{ref?then}` / `{ref?then:else}`: the text `then` when the field has a value, else `else`
  (a qualifier that goes with an optional value: `["{gln}", "", "{gln?9}"]`).
- Quantities, prices, amounts and rates (`DECIMAL_FIELDS`) must be decimals with a point; in
  EDIFACT the point becomes the interchange's decimal mark (`render(…, decimal_mark=",")`).

Missing values: an element or composite whose field values are all missing is left empty
(its literal qualifiers go with it), and a segment whose field values are all missing is left
out; a segment without fields (UNS, CNT) is always written. Every written segment is checked
against the message's definition (`gateway/formats/definitions/`): a mandatory element left
empty, a code too long, a value without its pair … is an error naming the document field.

Groups: a mapping with `segments:` (or `use:` a block) and any of `each:` (a list field: once
per item), `with:` (an object field: once, skipped when absent), `when:` / `unless:` (a field
name, present and non-empty; or `{field: value}` / `{field: [values]}`; with `each` checked per
item), `level:` (a hierarchy level, X12 HL or EDIFACT CPS: each time the group is written it
gets the next number, `{@level_id}`, and `{@parent_id}` is the number of the enclosing level),
`set:` (names replaced in a `use`d block's text, like `{role}` above).

Partner overrides (and an `extends:` template's own `segments:` mapping) address segments by
key: `TAG[qualifier]` (the first literal value of the segment: `DTM[137]`, `NAD[BY]`, `BGM[231]`;
the bare `TAG` when the segment has none or the tag is unique there), under the path of its
`each`/`with` groups (`lines/QTY[113]`, `buyer/NAD[BY]`), `#2` for a second one with the same
key; and elements as `KEY/TAGnn[.m]` (`lines/QTY[113]/QTY01.3`, or `BGM02` alone):

    segments:
      "DTM[137]": [DTM, ["137", "{document_date:203}", "203"]]   # replace a segment
      "FTX[AAI]": null                                          # leave a segment out
      "BGM/BGM04": "AB"                                          # one element
      "lines/QTY[21]/QTY01.3": "{uom|units_partner}"             # one component
    add:
      - after: "DTM[137]"                                        # or before:
        segments: [[DTM, ["2", "{requested_delivery_date:102}", "102"]]]
    codelists:
      units_edifact: {Boxes: CT}                                 # add or change entries

`OutboundTemplate.keys` lists a template's keys. Rendering never guesses: a document that
cannot be written raises `DocumentError` with every `Problem` found (field, reason).
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import yaml

from gateway.documents import DOCUMENT_TYPES, NESTED_TYPES, as_dict
from gateway.formats.validation import Findings, load_definition
from gateway.formats.validation import check_segment as _check_segment
from gateway.formats.x12 import FUNCTIONAL_IDS
from gateway.mapping.codelists import CodeList, CodeListError, check_entries
from gateway.mapping.engine import Problem, TemplateError, template_file
from gateway.mapping.templatedirs import TemplateDirs
from gateway.mapping.yamlfile import Located, YAMLFileError, _loader_for

OUTBOUND_DIR = "outbound"
STANDARDS = {"edifact", "x12"}
TOP_KEYS = {"standard", "message", "version", "association", "agency", "document", "extends", "required",
            "blocks", "segments", "add", "description"}
EXTENDING_KEYS = {"extends", "standard", "message", "version", "association", "agency", "document", "required",
                  "segments", "add", "description"}
GROUP_KEYS = {"segments", "use", "set", "each", "with", "when", "unless", "level", "description"}
OVERRIDE_KEYS = {"segments", "add", "codelists"}
# Fields whose values are decimals with a point: checked, and written with the EDIFACT decimal mark.
DECIMAL_FIELDS = frozenset({"quantity", "confirmed_quantity", "ordered_quantity", "unit_price", "net_amount",
                            "tax_rate", "tax_amount", "taxable_amount", "rate", "total_net", "total_tax",
                            "total_amount"})
DATE_FORMATS = {"101": "%y%m%d", "102": "%Y%m%d", "201": "%y%m%d%H%M", "203": "%Y%m%d%H%M",
                "204": "%Y%m%d%H%M%S", "CCYYMMDD": "%Y%m%d", "YYMMDD": "%y%m%d", "D8": "%Y%m%d",
                "HHMM": "%H%M", "HHMMSS": "%H%M%S"}
COMPUTED = {"@index", "@level_id", "@parent_id"}

_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
_ELEMENT = re.compile(r"^([A-Z][A-Z0-9]{1,2})(\d\d)(?:\.(\d+))?$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_COUNT = re.compile(r"^@count\(([A-Z][A-Z0-9]{1,2})\)$")
_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


class DocumentError(ValueError):
    """A document that cannot be written with this template: every problem, each naming its field."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message + ": " + "; ".join(_describe(problem) for problem in problems))
        self.problems = problems


def _describe(problem: Problem) -> str:
    value = f" {problem.value!r}" if problem.value is not None else ""
    where = f" (segment {problem.path}" + (f", position {problem.position})" if problem.position else ")") \
        if problem.path else ""
    return f"{problem.field}{value}{where}: {problem.reason}"


# --- YAML with the lines of lists too ------------------------------------------------------


class LocatedList(list):
    """A YAML sequence that remembers its file and line (segments are sequences)."""

    source: str = "<unknown>"
    line: int | None = None


def _where(value: Any, fallback: str) -> str:
    if isinstance(value, (LocatedList, Located)) and value.line:
        return f"{value.source}, line {value.line}"
    return getattr(value, "source", None) or fallback


def _load_yaml(path: Path, source: str) -> Any:
    class Loader(_loader_for(source)):  # type: ignore[misc, valid-type]
        pass

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(loader.construct_sequence(node, deep=True))
        result.source, result.line = source, node.start_mark.line + 1
        return result

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except YAMLFileError as error:
        raise TemplateError(str(error)) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise TemplateError(f"{source}{line}: not valid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise TemplateError(f"{source}: not valid YAML: {error}") from None


def load_codelist(templates_dir: Path, name: str) -> CodeList:
    """An outbound code list, `templates/outbound/codelists/<name>.yaml` (canonical value → code)."""
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_-]+$", name):
        raise CodeListError(f"{name!r} is not a code list name")
    source = f"templates/{OUTBOUND_DIR}/codelists/{name}.yaml"
    path = TemplateDirs.of(templates_dir).file(f"{OUTBOUND_DIR}/codelists/{name}.yaml")
    if not path.is_file():
        raise CodeListError(f"no outbound code list {name!r} ({path} does not exist)")
    data = _load_yaml(path, source)
    if not isinstance(data, Located) or "codes" not in data:
        raise CodeListError(f"{source}: a code list is a mapping with `codes`")
    unknown = sorted(set(data) - {"description", "unmapped", "codes"})
    if unknown:
        raise CodeListError(f"{data.where(unknown[0])}: unknown key {unknown[0]!r}")
    unmapped = data.get("unmapped", "keep")
    if unmapped not in ("keep", "reject"):
        raise CodeListError(f"{data.where('unmapped')}: `unmapped` must be keep or reject")
    entries = {key: "" if value is None else value for key, value in (data["codes"] or {}).items()}
    return CodeList(name, check_entries(entries, data.where("codes")), unmapped, data.get("description"))


# --- the compiled template -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """Where a field is read: `depth` is the scope (0 the document), `parts` the dotted name."""

    depth: int
    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Value:
    """One `{…}`: alternatives (fields or a computed name), then a code list and a format."""

    refs: tuple[FieldRef | str, ...]
    format: str | None = None
    codelist: CodeList | None = None
    then: str | None = None  # the `{ref?then:else}` form
    otherwise: str | None = None

    @cached_property
    def is_field(self) -> bool:
        """Counts for "all values missing" (a `?` qualifier or a computed value alone does not)."""
        return self.then is None and any(isinstance(ref, FieldRef) for ref in self.refs)


@dataclass(frozen=True)
class Text:
    parts: tuple[str | Value, ...]

    @cached_property
    def has_fields(self) -> bool:
        return any(isinstance(part, Value) and part.is_field for part in self.parts)


Element = Text | tuple[Text, ...] | None


@dataclass(frozen=True)
class SegmentRule:
    tag: str
    elements: tuple[Element, ...]
    key: str
    where: str
    always: bool = False  # written even when all its field values are missing

    @cached_property
    def has_fields(self) -> bool:
        return any(_element_has_fields(element) for element in self.elements)


@dataclass(frozen=True)
class Condition:
    ref: FieldRef
    values: tuple[str, ...] | None  # None: present and not empty


@dataclass(frozen=True)
class GroupRule:
    entries: tuple["SegmentRule | GroupRule", ...]
    each: FieldRef | None = None
    within: FieldRef | None = None  # `with:`
    when: tuple[tuple[Condition, ...], ...] = ()  # any of these, each all of its conditions
    unless: tuple[tuple[Condition, ...], ...] = ()
    level: str | None = None


def _element_has_fields(element: Element) -> bool:
    if element is None:
        return False
    if isinstance(element, Text):
        return element.has_fields
    return any(text.has_fields for text in element)


@dataclass(frozen=True)
class OutboundTemplate:
    """A loaded, validated outbound template: what it writes and how to write it."""

    name: str
    standard: str
    message: str
    version: str
    document: str
    entries: tuple[SegmentRule | GroupRule, ...]
    required: tuple[tuple[tuple[str, bool], ...], ...] = ()  # dotted names: (field, is a list) parts
    association: str | None = None
    agency: str = "UN"
    keys: tuple[str, ...] = ()
    codelists: Mapping[str, CodeList] = field(default_factory=dict)

    @property
    def document_type(self) -> str:
        return self.document

    @property
    def identifier(self) -> tuple[str, ...]:
        """EDIFACT UNH S009: (type, D, 96A, UN[, association]), as `render.EdifactMessage` takes it."""
        version = self.version.replace(":", "")
        parts = (self.message, version[:1], version[1:], self.agency)
        return parts + ((self.association,) if self.association else ())

    @property
    def functional_id(self) -> str | None:
        """X12 GS01 of the group the transaction set travels in."""
        return FUNCTIONAL_IDS.get(self.message) if self.standard == "x12" else None

    def render(self, document: Any, *, decimal_mark: str = ".") -> list[list]:
        """The message's body segments for a document (a dataclass or its `as_dict()`).

        `decimal_mark` is the EDIFACT interchange's (UNA); X12 always writes a point. Raises
        `DocumentError` naming every field that stops the document from being written.
        """
        if not isinstance(document, Mapping):
            kind = type(document).__name__
            if kind != self.document:
                raise TypeError(f"template {self.name} writes {self.document} documents, not {kind}")
            document = as_dict(document)
        run = _Run(self, decimal_mark if self.standard == "edifact" else ".")
        run.check_required(document)
        run.entries(self.entries, _Context(((document, ""),)))
        if run.problems:
            number = document.get("document_number")
            raise DocumentError(f"{self.document}{' ' + str(number) if number else ''} cannot be written as "
                                f"{self.message} with {self.name}", run.problems)
        return run.out


def render_document(templates_dir: Path, name: str, document: Any, overrides: Mapping[str, Any] | None = None,
                    *, decimal_mark: str = ".", source: str | None = None) -> list[list]:
    """Load `templates/<name>.yaml` (with the partner's overrides) and render a document's body segments."""
    return load_outbound_template(templates_dir, name, overrides, source=source).render(
        document, decimal_mark=decimal_mark)


# --- rendering -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    scopes: tuple[tuple[Mapping[str, Any], str], ...]  # (values, field path prefix like "lines[2].")
    index: int | None = None
    levels: tuple[int, ...] = ()

    def push(self, values: Mapping[str, Any], prefix: str, index: int | None = None) -> "_Context":
        return _Context(self.scopes + ((values, prefix),), index if index is not None else self.index, self.levels)


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class _Run:
    def __init__(self, template: OutboundTemplate, decimal_mark: str) -> None:
        self.template = template
        self.decimal_mark = decimal_mark
        self.definition = load_definition(template.standard, template.message, template.version)
        self.out: list[list] = []
        self.counts: Counter[str] = Counter()
        self.problems: list[Problem] = []
        self.last_level = 0

    def check_required(self, document: Mapping[str, Any]) -> None:
        for parts in self.template.required:
            self._required(document, parts, "")

    def _required(self, values: Mapping[str, Any], parts: tuple[tuple[str, bool], ...], prefix: str) -> None:
        (field_name, many), rest = parts[0], parts[1:]
        value = values.get(field_name)
        name = prefix + field_name
        if _missing(value):
            if not (many and rest):  # `lines.quantity`: every line has one, however many lines there are
                self.problems.append(Problem(name, "required by the template, missing"))
        elif rest:
            parts = rest
            items = value if isinstance(value, list) else [value]
            for number, item in enumerate(items, start=1):
                where = f"{name}[{number}]." if isinstance(value, list) else f"{name}."
                self._required(item, parts, where)

    def lookup(self, ref: FieldRef, context: _Context) -> tuple[Any, str]:
        values, prefix = context.scopes[ref.depth] if ref.depth < len(context.scopes) else ({}, "")
        value: Any = values
        for part in ref.parts:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value, prefix + ref.name

    def holds(self, condition: Condition, context: _Context) -> bool:
        value, _ = self.lookup(condition.ref, context)
        if condition.values is None:
            return not _missing(value)
        return value is not None and str(value) in condition.values

    def entries(self, entries: tuple[SegmentRule | GroupRule, ...], context: _Context) -> None:
        for entry in entries:
            if isinstance(entry, SegmentRule):
                self.segment(entry, context)
            else:
                self.group(entry, context)

    def group(self, rule: GroupRule, context: _Context) -> None:
        if rule.each is not None:
            items, name = self.lookup(rule.each, context)
            contexts = [context.push(item, f"{name}[{n}].", n) for n, item in enumerate(items or [], start=1)]
        elif rule.within is not None:
            item, name = self.lookup(rule.within, context)
            contexts = [] if _missing(item) else [context.push(item, f"{name}.")]
        else:
            contexts = [context]
        for inner in contexts:
            if rule.when and not any(all(self.holds(c, inner) for c in conditions) for conditions in rule.when):
                continue
            if any(all(self.holds(c, inner) for c in conditions) for conditions in rule.unless):
                continue
            if rule.level is not None:
                self.last_level += 1
                inner = _Context(inner.scopes, inner.index, inner.levels + (self.last_level,))
            self.entries(rule.entries, inner)

    def segment(self, rule: SegmentRule, context: _Context) -> None:
        written: list[Any] = [rule.tag]
        slots: list[list[list[str]]] = []  # per element, per component: the fields that fed it
        any_value = False
        for element in rule.elements:
            if element is None:
                written.append("")
                slots.append([])
            elif isinstance(element, Text):
                text, names, found = self.text(element, context, rule)
                any_value |= found
                written.append(text if found or not element.has_fields else "")
                slots.append([names])
            else:
                results = [self.text(part, context, rule) for part in element]
                found = any(hit for _, _, hit in results)
                any_value |= found
                keep = found or not any(part.has_fields for part in element)
                components = [text for text, _, _ in results] if keep else []
                while components and not components[-1]:
                    components.pop()
                written.append(components if components else "")
                slots.append([names for _, names, _ in results])
        if rule.has_fields and not any_value and not rule.always:
            return
        if self.definition is not None and self.definition.standard == "x12":
            _pack_pairs(self.definition.segments.get(rule.tag), written, slots)
        while len(written) > 1 and not written[-1]:
            written.pop()
        position = len(self.out) + 2  # UNH / ST is the first segment of the message
        self.check(rule, written, slots, position)
        self.out.append(written)
        self.counts[rule.tag] += 1

    def text(self, text: Text, context: _Context, rule: SegmentRule) -> tuple[str, list[str], bool]:
        """The text, the fields it read, and whether any of its fields had a value."""
        pieces: list[str] = []
        names: list[str] = []
        found = False
        for part in text.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            value, used = self.value(part, context, rule)
            names.extend(used)
            found |= part.is_field and bool(value)
            pieces.append(value)
        return "".join(pieces), names, found

    def value(self, spec: Value, context: _Context, rule: SegmentRule) -> tuple[str, list[str]]:
        """A value as written, and the document fields it read (`lines[2].uom`)."""
        raw: Any = None
        name, names = "", []
        ref: FieldRef | str = ""
        for ref in spec.refs:
            if isinstance(ref, FieldRef):
                raw, name = self.lookup(ref, context)
                names.append(name)
            else:
                raw, name = self.computed(ref, context), ref
            if not _missing(raw):
                break
        if spec.then is not None:
            return (spec.then if not _missing(raw) else spec.otherwise or ""), names
        if _missing(raw):
            return "", names
        text = str(raw)
        try:
            if spec.codelist is not None:
                code = spec.codelist.lookup(text)
                if code is None and spec.codelist.unmapped == "reject":
                    raise ValueError(f"code list {spec.codelist.name} has no code for it; add one to the list or "
                                     "to the partner's overrides (codelists)")
                text = text if code is None else code
            elif isinstance(ref, FieldRef) and ref.parts[-1] in DECIMAL_FIELDS:
                if not _DECIMAL.match(text.strip()):
                    raise ValueError("not a decimal number with a point as decimal mark")
                text = text.strip()
                if not (spec.format or "").startswith("N"):
                    text = text.lstrip("+").replace(".", self.decimal_mark)
            if text and spec.format:
                text = _formatted(text, spec.format)
        except ValueError as error:
            self.problems.append(Problem(name, str(error), path=rule.key, value=str(raw)))
            return "", names
        return text, names

    def computed(self, name: str, context: _Context) -> str | None:
        if name == "@index":
            return None if context.index is None else str(context.index)
        if name == "@level_id":
            return str(context.levels[-1]) if context.levels else None
        if name == "@parent_id":
            return str(context.levels[-2]) if len(context.levels) > 1 else None
        match = _COUNT.match(name)
        return str(self.counts[match.group(1)]) if match else None

    def check(self, rule: SegmentRule, written: list[Any], slots: list[list[list[str]]], position: int) -> None:
        if self.definition is None:
            return
        elements = [[[item]] if isinstance(item, str) else [list(item)] for item in written[1:]]
        findings = Findings(self.definition, version=self.template.version)
        _check_segment(findings, rule.tag, elements, position)
        for issue in findings.issues:
            if issue.severity != "error":
                continue
            names: list[str] = []
            if issue.element and issue.element <= len(slots):
                parts = slots[issue.element - 1]
                chosen = [parts[issue.component - 1]] if issue.component and issue.component <= len(parts) else parts
                names = [name for part in chosen for name in part]
            reason = issue.reason
            if names and ("missing" in reason or "required" in reason):
                reason += "; the document has no value for it"
            field_name = " or ".join(dict.fromkeys(names)) if names else f"template {rule.where}"
            if any(problem.field == field_name for problem in self.problems):
                continue  # already said: required and missing, or not a number
            self.problems.append(Problem(field_name, reason, path=rule.key, value=issue.value, position=position))


def _formatted(text: str, form: str) -> str:
    if form in DATE_FORMATS:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 date, cannot be written in format {form}") from None
        return moment.strftime(DATE_FORMATS[form])
    if form.startswith("max"):
        return text[: int(form[3:])].rstrip()
    # N0 … N9: implied decimals
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not a number, cannot be written in format {form}") from None
    return str(int(number.scaleb(int(form[1:])).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _known_format(form: str) -> bool:
    return form in DATE_FORMATS or bool(re.match(r"^N\d$", form)) or bool(re.match(r"^max[1-9]\d*$", form))


# --- loading -------------------------------------------------------------------------------


def outbound_template_names(templates_dir: Path) -> list[str]:
    """The names of the outbound templates (`outbound/x12/855_004010` …), sorted."""
    return sorted(relative.removesuffix(".yaml") for relative in TemplateDirs.of(templates_dir).files(OUTBOUND_DIR)
                  if relative.split("/")[1] != "codelists")


def _read(templates_dir: Path, name: str, seen: tuple[str, ...] = ()) -> Located:
    """A template's data with its `extends:` chain applied and its blocks expanded."""
    path = template_file(templates_dir, name, seen, _TEMPLATE_NAME, "outbound/x12/855_004010")
    source = f"templates/{name}.yaml"
    data = _load_yaml(path, source)
    if not isinstance(data, Located):
        raise TemplateError(f"{source}: a template must be a mapping")
    known = EXTENDING_KEYS if "extends" in data else TOP_KEYS
    for key in data:
        if key not in known:
            raise TemplateError(f"{data.where(key)}: unknown key {key!r}" + (
                " (a template that extends another changes its segments by key, see the docs)" if key in TOP_KEYS
                else f"; known: {', '.join(sorted(known))}"))
    if "extends" in data:
        base = _read(templates_dir, data["extends"], seen + (name,))
        merged = Located.at(source, data.line, base)
        for key, value in data.items():
            if key not in ("extends", "segments", "add"):
                merged.take(key, value, data)
        changes = Located.at(source, data.line)
        for key in ("segments", "add"):
            if key in data:
                changes.take(key, data[key], data)
        merged["segments"] = _apply_changes(base["segments"], changes)
        return merged
    segments = data.get("segments")
    if not isinstance(segments, list):
        raise TemplateError(f"{data.where('segments' if 'segments' in data else None)}: `segments` must be a list "
                            "of segments and groups")
    blocks = data.get("blocks") or Located.at(source, data.line)
    if not isinstance(blocks, Located):
        raise TemplateError(f"{data.where('blocks')}: `blocks` must map names to segment lists")
    data["segments"] = _expand(segments, blocks, source, 0)
    return data


def _expand(entries: list, blocks: Located, source: str, depth: int) -> LocatedList:
    """The entries with every `use:` replaced by its block (with `set:` names filled in)."""
    if depth > 8:
        raise TemplateError(f"{_where(entries, source)}: blocks nest too deep (a block that uses itself?)")
    result = LocatedList()
    result.source, result.line = getattr(entries, "source", source), getattr(entries, "line", None)
    for entry in entries:
        if isinstance(entry, Mapping) and "use" in entry:
            name = entry["use"]
            if not isinstance(name, str) or name not in blocks:
                raise TemplateError(f"{_where(entry, source)}: no block {name!r} under `blocks:` "
                                    f"(known: {', '.join(blocks) or 'none'})")
            if "segments" in entry:
                raise TemplateError(f"{_where(entry, source)}: a group has `use:` or `segments:`, not both")
            values = entry.get("set") or {}
            if not isinstance(values, Mapping) or any(not isinstance(v, str) for v in values.values()):
                raise TemplateError(f"{_where(entry, source)}: `set:` maps names to text (quote numbers)")
            group = Located.at(entry.source, entry.line, entry) if isinstance(entry, Located) else dict(entry)
            group.pop("use")
            group.pop("set", None)
            group["segments"] = _expand(_substitute(copy.deepcopy(blocks[name]), values), blocks, source, depth + 1)
            result.append(group)
        elif isinstance(entry, Mapping) and isinstance(entry.get("segments"), list):
            entry["segments"] = _expand(entry["segments"], blocks, source, depth + 1)
            result.append(entry)
        else:
            result.append(entry)
    return result


def _substitute(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _substitute(item, names)
        return value
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _substitute(value[key], names)
        return value
    return value


def pair_runs(definition: Any) -> list[list[int]]:
    """The runs of qualifier/value pairs of an X12 segment, from its syntax notes: consecutive
    paired notes (P0607, P0809 … in PO1, IT1, LIN), each run as the first positions of its pairs;
    a mandatory pair of the same data elements just before a run starts it (LIN02/LIN03)."""
    firsts = sorted(rule.positions[0] for rule in (definition.rules if definition else ())
                    if rule.kind == "P" and len(rule.positions) == 2 and rule.positions[1] == rule.positions[0] + 1)
    runs: list[list[int]] = []
    for first in firsts:
        if runs and runs[-1][-1] + 2 == first:
            runs[-1].append(first)
        else:
            runs.append([first])
    elements = definition.elements if definition else ()
    for run in runs:
        start = run[0]
        if start >= 3 and all(elements[start - 3 + k].required and elements[start - 3 + k].ref is not None
                              and elements[start - 3 + k].ref == elements[start - 1 + k].ref for k in (0, 1)):
            run.insert(0, start - 2)
    return [run for run in runs if len(run) > 1]


def _pack_pairs(definition: Any, written: list[Any], slots: list[list[list[str]]]) -> None:
    """Move the filled qualifier/value pairs of each run to its front, in order: a product with no
    UPC is written `PO106 VN, PO107 …`, never an empty pair before a filled one (partners reject
    it). `written[0]` is the tag, so position n is `written[n]` and `slots[n - 1]`."""
    for run in pair_runs(definition):
        filled = [(written[n], written[n + 1], slots[n - 1], slots[n]) for n in run
                  if n + 1 < len(written) and (written[n] or written[n + 1])]
        empty = ("", "", [], [])
        for index, n in enumerate(run):
            if n + 1 >= len(written) and index >= len(filled):
                break
            while len(written) <= n + 1:
                written.append("")
                slots.append([])
            written[n], written[n + 1], slots[n - 1], slots[n] = filled[index] if index < len(filled) else empty


def _segment_key(entry: list) -> str:
    tag = entry[0]
    for element in entry[1:]:
        for value in (element if isinstance(element, list) else [element]):
            if isinstance(value, str) and value and "{" not in value:
                return f"{tag}[{value}]"
    return str(tag)


def _index(entries: list, prefix: str, found: dict[str, tuple[list, Any]], counts: Counter[str]) -> None:
    """Every segment (and `each`/`with` group) by its key, with the list that holds it."""
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("segment"), list) and entry["segment"]:
            key = prefix + _segment_key(entry["segment"])
            counts[key] += 1
            found[key if counts[key] == 1 else f"{key}#{counts[key]}"] = (entries, entry)
        elif isinstance(entry, list) and entry and isinstance(entry[0], str):
            key = prefix + _segment_key(entry)
            counts[key] += 1
            found[key if counts[key] == 1 else f"{key}#{counts[key]}"] = (entries, entry)
        elif isinstance(entry, Mapping):
            name = entry.get("each") or entry.get("with")
            inner = f"{prefix}{name}/" if isinstance(name, str) else prefix
            if isinstance(name, str) and prefix + name not in found:
                found[prefix + name] = (entries, entry)
            if isinstance(entry.get("segments"), list):
                _index(entry["segments"], inner, found, counts)


def _find(found: dict[str, tuple[list, Any]], key: str, where: str) -> tuple[list, Any]:
    if key in found:
        return found[key]
    head, _, last = key.rpartition("/")
    prefix = head + "/" if head else ""
    if _TAG.match(last):  # a bare tag: the one segment of that tag there
        matches = [k for k in found if k.startswith(prefix) and "/" not in k[len(prefix):]
                   and re.match(rf"^{last}(\[.*\])?(#\d+)?$", k[len(prefix):])]
        if len(matches) == 1:
            return found[matches[0]]
        if matches:
            raise TemplateError(f"{where}: {key!r} is more than one segment: {', '.join(matches)}")
    raise TemplateError(f"{where}: the template has no segment {key!r}; its segments: {', '.join(found)}")


def _apply_changes(segments: list, changes: Mapping[str, Any]) -> list:
    """Partner overrides (or an extending template's changes) applied to a template's segments."""
    source = getattr(changes, "source", "overrides")
    found: dict[str, tuple[list, Any]] = {}
    _index(segments, "", found, Counter())
    edits = changes.get("segments") or {}
    if not isinstance(edits, Mapping):
        raise TemplateError(f"{_where(edits, source)}: `segments` changes map segment keys to segments")
    resolved = []
    for key, change in edits.items():
        where = edits.where(key) if isinstance(edits, Located) else source
        if not isinstance(key, str):
            raise TemplateError(f"{where}: {key!r} is not a segment key like DTM[137] or lines/QTY[21]/QTY01.2")
        head, _, last = key.rpartition("/")
        element = _ELEMENT.match(last)
        if element:
            tag = element.group(1)
            if not head or not re.match(rf"^{tag}(\[.*\])?(#\d+)?$", head.rpartition("/")[2]):
                head = f"{head}/{tag}" if head else tag
        resolved.append((_find(found, head if element else key, where), element, change, where, key))
    for (container, entry), element, change, where, key in resolved:
        if element:
            if isinstance(entry, Mapping) and isinstance(entry.get("segment"), list):
                entry = entry["segment"]
            if not isinstance(entry, list):
                raise TemplateError(f"{where}: {key!r} names an element of a group, not of a segment")
            position, component = int(element.group(2)), element.group(3)
            if position < 1:
                raise TemplateError(f"{where}: element positions start at 01")
            while len(entry) <= position:
                entry.append("")
            if component is None:
                entry[position] = "" if change is None else change
            else:
                parts = entry[position] if isinstance(entry[position], list) else [entry[position]]
                parts = list(parts)
                while len(parts) < int(component):
                    parts.append("")
                parts[int(component) - 1] = "" if change is None else change
                entry[position] = parts
            continue
        index = next(i for i, item in enumerate(container) if item is entry)
        if change is None:
            container.pop(index)
        elif isinstance(change, list) and change and isinstance(change[0], str):
            container[index] = change
        elif isinstance(change, Mapping) and isinstance(entry, Mapping) and (
                ("segment" in change) == ("segment" in entry)):
            container[index] = change
        else:
            raise TemplateError(f"{where}: {key!r} takes a segment like [TAG, element, …], or null to leave it out")
    adds = changes.get("add") or []
    if not isinstance(adds, list):
        raise TemplateError(f"{_where(adds, source)}: `add` is a list of {{after: KEY, segments: […]}}")
    for addition in adds:
        where = _where(addition, source)
        if not isinstance(addition, Mapping) or len({"after", "before"} & set(addition)) != 1 or not isinstance(
                addition.get("segments"), list) or set(addition) - {"after", "before", "segments", "description"}:
            raise TemplateError(f"{where}: an addition is {{after: KEY, segments: […]}} or {{before: KEY, …}}")
        key = addition.get("after") or addition.get("before")
        container, entry = _find(found, str(key), where)
        index = next(i for i, item in enumerate(container) if item is entry) + (1 if "after" in addition else 0)
        container[index:index] = list(addition["segments"])
        if "after" in addition:  # a second addition after the same key comes after this one
            found[str(key)] = (container, addition["segments"][-1]) if addition["segments"] else found[str(key)]
    return segments


def load_outbound_template(templates_dir: Path, name: str, overrides: Mapping[str, Any] | None = None, *,
                           source: str | None = None) -> OutboundTemplate:
    """Load and validate `templates/<name>.yaml` (an outbound template) with a partner's overrides.

    `overrides` is a mapping with `segments` (changes by key), `add` and `codelists`; `source`
    names it in errors (the profile). Raises `TemplateError` naming the file and line.
    """
    templates_dir = TemplateDirs.of(templates_dir)
    data = _read(templates_dir, name)
    codelist_overrides: dict[str, dict[str, str]] = {}
    if overrides:
        where = source or f"overrides of {name}"
        if not isinstance(overrides, Mapping):
            raise TemplateError(f"{where}: overrides must be a mapping with segments, add and/or codelists")
        for key in overrides:
            if key not in OVERRIDE_KEYS:
                raise TemplateError(f"{where}: unknown override key {key!r}; known: {', '.join(sorted(OVERRIDE_KEYS))}")
        changes = overrides if isinstance(overrides, Located) else _located(overrides, where)
        data["segments"] = _apply_changes(data["segments"], changes)
        lists = overrides.get("codelists") or {}
        if not isinstance(lists, Mapping):
            raise TemplateError(f"{where}: `codelists` maps code list names to entries")
        for list_name, entries in lists.items():
            try:
                load_codelist(templates_dir, str(list_name))
                codelist_overrides[str(list_name)] = check_entries(
                    {k: "" if v is None else v for k, v in (entries or {}).items()}, where)
            except (CodeListError, AttributeError) as error:
                raise TemplateError(f"{where}: codelists.{list_name}: {error}") from None
    for key in ("standard", "message", "version", "document"):
        if key not in data:
            raise TemplateError(f"{data.where()}: `{key}` is required")
    standard, document = data["standard"], data["document"]
    if standard not in STANDARDS:
        raise TemplateError(f"{data.where('standard')}: unknown standard {standard!r}; known: edifact, x12")
    if document not in DOCUMENT_TYPES:
        raise TemplateError(f"{data.where('document')}: unknown document type {document!r}; "
                            f"known: {', '.join(DOCUMENT_TYPES)}")
    message, version = str(data["message"]), str(data["version"])
    compiler = _Compiler(templates_dir, data, standard, message, version, codelist_overrides)
    root = DOCUMENT_TYPES[document]
    entries = compiler.entries(data["segments"], [root], levels=0, each=0)
    required = tuple(compiler.required(data.get("required") or [], root))
    found: dict[str, tuple[list, Any]] = {}
    _index(data["segments"], "", found, Counter())
    return OutboundTemplate(
        name=name, standard=standard, message=message, version=version, document=document, entries=entries,
        required=required, association=data.get("association"), agency=str(data.get("agency") or "UN"),
        keys=tuple(key for key, (_, entry) in found.items() if isinstance(entry, list) or "segment" in entry),
        codelists=dict(compiler.codelists),
    )


def _located(value: Any, source: str) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, Located):
        located = Located.at(source, None)
        for key, item in value.items():
            located[key] = _located(item, source)
        return located
    if isinstance(value, list) and not isinstance(value, LocatedList):
        located_list = LocatedList(_located(item, source) for item in value)
        located_list.source = source
        return located_list
    return value


class _Compiler:
    def __init__(self, templates_dir: Path, data: Located, standard: str, message: str, version: str,
                 codelist_overrides: Mapping[str, Mapping[str, str]]) -> None:
        self.templates_dir = templates_dir
        self.data = data
        self.standard = standard
        self.definition = load_definition(standard, message, version)
        self.codelist_overrides = codelist_overrides
        self.codelists: dict[str, CodeList] = {}
        self.key_counts: Counter[str] = Counter()  # segment keys as `_index` counts them

    def codelist(self, name: str, where: str) -> CodeList:
        if name not in self.codelists:
            try:
                codelist = load_codelist(self.templates_dir, name)
            except CodeListError as error:
                raise TemplateError(f"{where}: {error}") from None
            if name in self.codelist_overrides:
                codelist = codelist.with_entries(self.codelist_overrides[name])
            self.codelists[name] = codelist
        return self.codelists[name]

    # field names ----------------------------------------------------------------------------

    def resolve(self, name: str, scopes: list[type], where: str, kind: str = "scalar") -> FieldRef:
        """A dotted field name, read from the innermost scope that has its first part."""
        if not _NAME.match(name):
            raise TemplateError(f"{where}: {name!r} is not a field name like buyer.gln")
        parts = tuple(name.split("."))
        for depth in range(len(scopes) - 1, -1, -1):
            if parts[0] in {f.name for f in fields(scopes[depth])}:
                break
        else:
            known = ", ".join(dict.fromkeys(f.name for cls in reversed(scopes) for f in fields(cls)))
            names = " or ".join(cls.__name__ for cls in reversed(scopes))
            raise TemplateError(f"{where}: {names} has no field {parts[0]!r}; fields: {known}")
        cls = scopes[depth]
        for number, part in enumerate(parts):
            known = {f.name: f for f in fields(cls)}
            if part not in known:
                raise TemplateError(f"{where}: {cls.__name__} has no field {part!r}; fields: {', '.join(known)}")
            nested = NESTED_TYPES.get((cls.__name__, part))
            is_list = known[part].default_factory is list  # type: ignore[comparison-overlap]
            last = number == len(parts) - 1
            if not last:
                if nested is None or is_list:
                    raise TemplateError(f"{where}: {'.'.join(parts[:number + 1])} is not an object field")
                cls = nested
            elif kind == "scalar" and nested is not None:
                raise TemplateError(f"{where}: {name} is {'a list' if is_list else 'an object'}, not a value; "
                                    f"use `each:` or `with:` to write its fields")
            elif kind in ("list", "object") and (nested is None or is_list != (kind == "list")):
                raise TemplateError(f"{where}: {name} is not {'a list' if kind == 'list' else 'an object'} field")
        return FieldRef(depth, parts)

    def nested(self, ref: FieldRef, scopes: list[type]) -> type:
        cls = scopes[ref.depth]
        for part in ref.parts:
            cls = NESTED_TYPES[(cls.__name__, part)]
        return cls

    def required(self, names: Any, root: type) -> list[tuple[tuple[str, bool], ...]]:
        where = self.data.where("required")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TemplateError(f"{where}: `required` is a list of field names (lines.quantity)")
        result = []
        for name in names:
            parts = []
            cls: type | None = root
            for part in name.split("."):
                known = {f.name: f for f in fields(cls)} if cls is not None else {}
                if part not in known:
                    raise TemplateError(f"{where}: required {name!r}: {getattr(cls, '__name__', name)} has no "
                                        f"field {part!r}")
                parts.append((part, known[part].default_factory is list))  # type: ignore[comparison-overlap]
                cls = NESTED_TYPES.get((cls.__name__, part))  # type: ignore[union-attr]
            result.append(tuple(parts))
        return result

    # entries --------------------------------------------------------------------------------

    def entries(self, raw: Any, scopes: list[type], levels: int, each: int, prefix: str = "") -> tuple:
        where = _where(raw, self.data.source)
        if not isinstance(raw, list):
            raise TemplateError(f"{where}: `segments` must be a list of segments and groups")
        result: list[SegmentRule | GroupRule] = []
        counts = self.key_counts
        for entry in raw:
            if isinstance(entry, list):
                key = prefix + _segment_key(entry) if entry and isinstance(entry[0], str) else prefix
                counts[key] += 1
                result.append(self.segment(entry, scopes, levels, each,
                                           key if counts[key] == 1 else f"{key}#{counts[key]}", where))
            elif isinstance(entry, Mapping) and "segment" in entry:
                unknown = set(entry) - {"segment", "always", "description"}
                if unknown or not isinstance(entry["segment"], list) or not isinstance(entry.get("always", False), bool):
                    raise TemplateError(f"{_where(entry, where)}: a segment with options is {{segment: [TAG, …], "
                                        "always: true}}")
                raw_segment = entry["segment"]
                key = prefix + _segment_key(raw_segment) if raw_segment and isinstance(raw_segment[0], str) else prefix
                counts[key] += 1
                rule = self.segment(raw_segment, scopes, levels, each,
                                    key if counts[key] == 1 else f"{key}#{counts[key]}", _where(entry, where))
                result.append(SegmentRule(rule.tag, rule.elements, rule.key, rule.where, entry.get("always", False)))
            elif isinstance(entry, Mapping):
                result.append(self.group(entry, scopes, levels, each, prefix, where))
            else:
                raise TemplateError(f"{where}: {entry!r} is neither a segment [TAG, …] nor a group {{segments: …}}")
        return tuple(result)

    def group(self, raw: Mapping, scopes: list[type], levels: int, each: int, prefix: str, where: str) -> GroupRule:
        where = _where(raw, where)
        for key in raw:
            if key not in GROUP_KEYS:
                raise TemplateError(f"{where}: unknown key {key!r} in a group; known: {', '.join(sorted(GROUP_KEYS))}")
        if "segments" not in raw:
            raise TemplateError(f"{where}: a group needs `segments:` (or `use:` a block)")
        if "each" in raw and "with" in raw:
            raise TemplateError(f"{where}: a group has `each:` or `with:`, not both")
        inner = list(scopes)
        each_ref = within = None
        if "each" in raw:
            each_ref = self.resolve(str(raw["each"]), scopes, where, "list")
            inner.append(self.nested(each_ref, scopes))
            prefix, each = f"{prefix}{raw['each']}/", each + 1
        elif "with" in raw:
            within = self.resolve(str(raw["with"]), scopes, where, "object")
            inner.append(self.nested(within, scopes))
            prefix = f"{prefix}{raw['with']}/"
        level = raw.get("level")
        if level is not None and not isinstance(level, str):
            raise TemplateError(f"{where}: `level` is a name for the hierarchy level (S, O, P, I …)")
        return GroupRule(
            entries=self.entries(raw["segments"], inner, levels + (level is not None), each, prefix),
            each=each_ref, within=within, level=level,
            when=self.conditions(raw.get("when"), inner, where), unless=self.conditions(raw.get("unless"), inner, where),
        )

    def conditions(self, raw: Any, scopes: list[type], where: str) -> tuple[tuple[Condition, ...], ...]:
        """`when`/`unless`: a name, a {name: values} mapping (all hold), or a list of those (any holds)."""
        if raw is None:
            return ()
        if isinstance(raw, list) and raw:
            return tuple(alternative for item in raw for alternative in self.conditions(item, scopes, where))
        if isinstance(raw, str):
            return ((Condition(self.resolve(raw, scopes, where, "any"), None),),)
        if isinstance(raw, Mapping) and raw:
            result = []
            for name, values in raw.items():
                values = values if isinstance(values, list) else [values]
                if not all(isinstance(v, str) for v in values):
                    raise TemplateError(f"{where}: `when`/`unless` values are text (quote numbers and yes/no)")
                result.append(Condition(self.resolve(str(name), scopes, where, "any"), tuple(values)))
            return (tuple(result),)
        raise TemplateError(f"{where}: `when`/`unless` is a field name, {{field: value or [values]}}, or a list "
                            "of those (any of them)")

    def segment(self, raw: list, scopes: list[type], levels: int, each: int, key: str, where: str) -> SegmentRule:
        where = _where(raw, where)
        if not raw or not isinstance(raw[0], str) or not _TAG.match(raw[0]):
            raise TemplateError(f"{where}: a segment starts with its tag (2 or 3 capitals), not {raw[:1]!r}")
        tag = raw[0]
        elements: list[Element] = []
        for number, item in enumerate(raw[1:], start=1):
            name = f"{tag}{number:02d}"
            if item is None:
                elements.append(None)
            elif isinstance(item, str):
                elements.append(self.text(item, scopes, levels, each, f"{where}: {name}"))
            elif isinstance(item, list):
                parts = []
                for part_number, part in enumerate(item, start=1):
                    if part is not None and not isinstance(part, str):
                        raise TemplateError(f"{where}: {name}.{part_number} {part!r} must be text (quote it: YAML "
                                            "reads 00 as 0)")
                    parts.append(self.text(part or "", scopes, levels, each, f"{where}: {name}.{part_number}"))
                elements.append(tuple(parts))
            else:
                raise TemplateError(f"{where}: {name} {item!r} must be text or a list of components (quote it: "
                                    "YAML reads 00 as 0)")
        rule = SegmentRule(tag, tuple(elements), key, where)
        self.check(rule, raw)
        return rule

    def check(self, rule: SegmentRule, raw: list) -> None:
        """The segment against the message's definition: a known segment, its elements in range."""
        definition = self.definition
        if definition is None:
            return
        segment = definition.segments.get(rule.tag)
        if segment is None or rule.tag not in definition.root.tags:
            raise TemplateError(f"{rule.where}: {definition.message} {definition.directory} has no segment {rule.tag}")
        if len(rule.elements) > len(segment.elements):
            raise TemplateError(f"{rule.where}: {rule.tag} has {len(segment.elements)} data elements, the template "
                                f"writes {len(rule.elements)}")
        for number, (element, spec) in enumerate(zip(rule.elements, segment.elements), start=1):
            if isinstance(element, tuple):
                if spec.components is None:
                    if len(element) > 1:
                        raise TemplateError(f"{rule.where}: {rule.tag}{number:02d} is a simple data element, "
                                            "the template gives it components")
                elif len(element) > len(spec.components):
                    raise TemplateError(f"{rule.where}: {rule.tag}{number:02d} has {len(spec.components)} "
                                        f"components, the template writes {len(element)}")
        for number in segment.required:
            element = rule.elements[number - 1] if number <= len(rule.elements) else None
            if element is None or (isinstance(element, Text) and not element.parts):
                raise TemplateError(f"{rule.where}: {rule.tag}{number:02d} is mandatory; the template leaves it empty")

    def text(self, raw: str, scopes: list[type], levels: int, each: int, where: str) -> Text:
        parts: list[str | Value] = []
        position = 0
        for match in _PLACEHOLDER.finditer(raw):
            if match.start() > position:
                parts.append(raw[position:match.start()])
            parts.append(self.value(match.group(1).strip(), scopes, levels, each, where))
            position = match.end()
        if position < len(raw):
            parts.append(raw[position:])
        if any(isinstance(part, str) and ("{" in part or "}" in part) for part in parts):
            raise TemplateError(f"{where}: {raw!r} has an unbalanced brace")
        return Text(tuple(parts))

    def value(self, body: str, scopes: list[type], levels: int, each: int, where: str) -> Value:
        then = otherwise = None
        form = codelist = None
        if "?" in body:
            body, _, rest = body.partition("?")
            then, _, otherwise = rest.partition(":")
        else:
            if "|" in body:
                body, _, name = body.partition("|")
                codelist = self.codelist(name.strip(), where)
            if ":" in body:
                body, _, form = body.partition(":")
                form = form.strip()
                if not _known_format(form):
                    raise TemplateError(f"{where}: unknown format {form!r}; use a date format "
                                        f"({', '.join(DATE_FORMATS)}), N0…N9 or max<length>")
        refs: list[FieldRef | str] = []
        for name in (n.strip() for n in body.split(",")):
            if name in COMPUTED or _COUNT.match(name):
                if name == "@index" and not each:
                    raise TemplateError(f"{where}: @index is the item number of an `each:` group; there is none here")
                if name in ("@level_id", "@parent_id") and not levels:
                    raise TemplateError(f"{where}: {name} needs an enclosing group with `level:`")
                refs.append(name)
            elif name.startswith("@"):
                raise TemplateError(f"{where}: unknown computed value {name!r}; known: @index, @count(TAG), "
                                    "@level_id, @parent_id")
            else:
                refs.append(self.resolve(name, scopes, where))
        return Value(tuple(refs), form, codelist, then, otherwise if then is not None else None)
