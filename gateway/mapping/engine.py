"""Templates: turn a message tree into a canonical document, field by field, as YAML data.

A template is a YAML file under `templates/` (never evaluated as code). Paths are XPath 1.0,
evaluated by lxml on the uniform tree of `gateway.formats.tree`, relative to the current node
(the `<message>` at the top, the node of a nested object or list item below it).

    standard: edifact                  # edifact | x12 | csv
    message: ORDERS                    # message type (UNH 0065, ST01, the CSV layout's message)
    versions: [D96A, D01B]             # versions it applies to ("*" for any); ":" and case ignored
    document: Order                    # a type of gateway.documents.DOCUMENT_TYPES
    extends: edifact/ORDERS_D96A       # optional: start from another base template
    layout: {...}                      # CSV only: see gateway.formats.csv.Layout
    mappings:                          # named field sets, written once, used by `mapping:`
      party:
        gln: "NAD/NAD02[NAD02.3='9']/NAD02.1"
    fields:
      document_number: BGM/BGM02/BGM02.1           # shorthand for {path: …}, a string
      document_date:
        path: "DTM/DTM01[DTM01.1='137']/DTM01.2"
        type: date
        format_path: ../DTM01.3        # relative to the node the value came from
        format: "102"                  # used when format_path finds nothing
      buyer: {from: "SG2[NAD/NAD01='BY']", mapping: party}
      lines: {each: SG25, mapping: line}

Scalar field keys:
- `path`: an XPath, or a list of XPaths tried in order (the first non-empty value wins).
  A node's value is its string value; an XPath may also return a string (`concat(…)`).
- `type`: `string` (default; stripped, empty is missing), `decimal` (the message's decimal
  mark, the root's `decimal_mark` attribute, becomes "."; the digits are otherwise kept as
  sent, "0008" stays "0008"; anything else is "not a number"), `date` (ISO 8601; `format` is an
  EDIFACT 2379 code 101/102/201/202/203/204, an X12 name CCYYMMDD/YYMMDD/D8, or a strptime
  pattern with "%", or a list of them tried in order; `format_path` reads the 2379 code from
  the message and wins over `format` when it finds one), `code` (mapped through
  `codelist`; a code the list lacks is kept and reported as a warning, or an error when the
  list says `unmapped: reject`). `codelist` alone implies `type: code`.
- `default`: the value when the message has none (taken as written, not converted).
- `required`: true → a missing value is an error problem (the message is held).

Object fields (`buyer`, …) take `from:` (an XPath; the first matching node is used) and list
fields (`lines`) `each:` (one item per matching node); both take `mapping:` (a name under
`mappings:`) or inline `fields:`, and may be `required`.

Partner overrides (from the partner profile) change a base template without copying it:

    fields:
      lines.unit_price: "SG28/PRI/PRI01[PRI01.1='AAB']/PRI01.2"    # a new path
      buyer.gln: {default: "4012345000009"}                         # any field key
    codelists:
      units: {ST: Units}                                            # add or change entries

Keyed look-ups: `edi:key(PATH, KEY_PATH, VALUE)` is XSLT's `key()` for templates: the nodes
PATH selects from the message (evaluated once per message, relative to `<message>`) whose
KEY_PATH has the string value VALUE (a string, or the first node of a node-set). It finds an
X12 HL loop's children in constant time where comparing every loop with every other one
would take time growing with the square of the message:

    lines: {each: "edi:key(\"HL_loop[HL/HL03='I']\", 'HL/HL02', HL/HL01)", mapping: item}

A dotted name walks fields and nested fields; an override of `buyer.gln` changes the buyer
only, not the other parties sharing the `party` mapping. `extends:` merges the same way:
fields named in the extending template change only the keys they give.

Translation never raises on message content: it returns the document and a list of
`Problem`s (field, path, value, reason, severity). A missing optional value is None.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

from lxml import etree

from gateway.documents import DOCUMENT_TYPES, NESTED_TYPES
from gateway.formats.csv import Layout, LayoutError
from gateway.mapping import values
from gateway.mapping.codelists import (
    CODELISTS_DIR,
    CodeList,
    CodeListError,
    check_entries,
    load_codelist,
)
from gateway.mapping.templatedirs import TemplateDirs
from gateway.mapping.yamlfile import Located, YAMLFileError, load

Severity = Literal["error", "warning"]

TOP_KEYS = {"standard", "message", "versions", "document", "extends", "layout", "mappings",
            "fields", "description"}
SCALAR_KEYS = {"path", "type", "codelist", "format", "format_path", "default", "required",
               "description"}
OBJECT_KEYS = {"from", "each", "mapping", "fields", "required", "description"}
TYPES = {"string", "decimal", "date", "code"}
STANDARDS = {"edifact", "x12", "csv"}
OVERRIDE_KEYS = {"fields", "codelists"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


class TemplateError(ValueError):
    """A template or override that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Problem:
    """Something translation could not do, for the pipeline to hold the message with a reason.

    `field` is the document field (`lines[2].quantity`, items counted from 1), `path` the XPath
    that was read, `value` what was found there, `position` the segment position (CSV: line)
    of the node it came from.
    """

    field: str
    reason: str
    path: str | None = None
    value: str | None = None
    position: int | None = None
    severity: Severity = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "path": self.path,
            "value": self.value,
            "position": self.position,
            "severity": self.severity,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        found = f" {self.value!r}" if self.value is not None else ""
        at = f" at {self.path}" if self.path else ""
        pos = f" (segment {self.position})" if self.position else ""
        return f"{self.field}:{found}{at}{pos}: {self.reason}"


EDI_NAMESPACE = "urn:edigw:templates"
_keys = threading.local()  # the message being translated and its key indexes, per thread


def _string_value(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, etree._Element):
        return "".join(value.itertext())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _key(context: Any, path: Any, key_path: Any, value: Any) -> list:
    """`edi:key(PATH, KEY_PATH, VALUE)`: see the module text; each index is built once per message."""
    message = getattr(_keys, "message", None)
    if message is None:
        return []
    indexes = _keys.indexes
    name = (str(path), str(key_path))
    index = indexes.get(name)
    if index is None:
        index = {}
        select, key_of = _xpath(name[0]), _xpath(f"string({name[1]})")
        for node in select(message):
            if isinstance(node, etree._Element):
                index.setdefault(str(key_of(node)), []).append(node)
        indexes[name] = index
    return index.get(_string_value(value), [])


# The edi prefix and edi:key are given only to the paths that name them: lxml registers an XPath's
# namespaces and functions (and those of a FunctionNamespace, for every XPath) again at every
# evaluation, which made each of the ninety-odd evaluations of a message half as slow again.
_EXTENSIONS = {(EDI_NAMESPACE, "key"): _key}


@lru_cache(maxsize=4096)
def _xpath(path: str) -> etree.XPath:
    # regexp=False: no EXSLT regular expressions (a template has no prefix for them), which every
    # evaluation would otherwise register.
    if "edi:" in path:
        return etree.XPath(path, smart_strings=True, namespaces={"edi": EDI_NAMESPACE}, regexp=False,
                           extensions=_EXTENSIONS)
    return etree.XPath(path, smart_strings=True, regexp=False)


_PROBE = etree.Element("message")


# Axes that may visit the whole message from any node (`//` is descendant-or-self).
_WIDE_AXIS = re.compile(r"//|\b(?:descendant|descendant-or-self|preceding|following|ancestor|ancestor-or-self)\s*::")
_KEY_CALL = re.compile(r"edi:key\s*\(\s*('[^']*'|\"[^\"]*\")?\s*,?\s*('[^']*'|\"[^\"]*\")?")
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")


def wide_nesting(path: str) -> int:
    """How deeply steps that may visit the whole message are nested in each other's predicates.

    `//SG2[NAD]` is 1; `//*[count(//*)]` is 2 (every node visits every node: the square of the
    message); the sibling and child axes never count. Function arguments are evaluated once per
    node of the step that owns them, like predicates.
    """
    text = _LITERAL.sub(lambda found: " " * len(found.group()), path)
    deepest = 0
    frames = [[0, 0]]  # per bracket level: [depth carried in, deepest wide step of its path so far]
    at = 0
    while at < len(text):
        wide = _WIDE_AXIS.match(text, at)
        if wide:
            frame = frames[-1]
            frame[1] = max(frame[1], frame[0] + 1)
            deepest = max(deepest, frame[1])
            at = wide.end()
            continue
        char = text[at]
        if char in "[(":
            frames.append([max(frames[-1][0], frames[-1][1]), 0])
        elif char in ")]" and len(frames) > 1:
            frames.pop()
        at += 1
    return deepest


def _compile_path(path: Any, where: str, repeated: int = 0) -> tuple[str, etree.XPath]:
    """A compiled XPath; `repeated` is how many `each:` lists it is evaluated inside (once per item)."""
    if not isinstance(path, str) or not path.strip():
        raise TemplateError(f"{where}: a path must be a non-empty XPath string, not {path!r}")
    for key in _KEY_CALL.finditer(path):
        select, key_path = key.group(1)[1:-1] if key.group(1) else None, key.group(2)[1:-1] if key.group(2) else None
        if select is None or key_path is None:
            raise TemplateError(f"{where}: edi:key() takes its path and key path as quoted strings, in {path!r}")
        if wide_nesting(select) >= 2 or wide_nesting(key_path):
            raise TemplateError(f"{where}: the paths given to edi:key() in {path!r} must not nest steps that visit "
                                "the whole message (//, descendant::, preceding::, following::, ancestor::)")
    nesting = wide_nesting(path)
    if nesting >= 2 or (nesting and repeated):
        why = ("a step that visits the whole message (//, descendant::, preceding::, following::, ancestor::) "
               + ("inside a predicate of another" if nesting >= 2 else "evaluated once per item of a list"))
        raise TemplateError(
            f"{where}: the XPath {path!r} takes time growing with the square of the message or worse ({why}); "
            "refused so that one file cannot hang the gateway: use relative paths (child steps, ../), "
            "positions, or edi:key()")
    try:
        compiled = _xpath(path)
        compiled(_PROBE)  # unknown functions and variables only show when evaluated
    except (etree.XPathSyntaxError, etree.XPathEvalError) as error:
        raise TemplateError(f"{where}: bad XPath {path!r}: {error}") from None
    return path, compiled


@dataclass(frozen=True)
class ScalarRule:
    name: str
    paths: tuple[tuple[str, etree.XPath], ...]
    type: str = "string"
    codelist: CodeList | None = None
    format: tuple[str, ...] = ()
    format_path: tuple[str, etree.XPath] | None = None
    default: str | None = None
    required: bool = False


@dataclass(frozen=True)
class ObjectRule:
    name: str
    path: tuple[str, etree.XPath]
    cls: type
    rules: tuple["ScalarRule | ObjectRule", ...]
    many: bool = False
    required: bool = False


Rule = ScalarRule | ObjectRule


@dataclass(frozen=True)
class Template:
    """A loaded, validated template: what messages it applies to and how to translate them."""

    name: str
    standard: str
    message: str
    versions: tuple[str, ...]
    document: str
    rules: tuple[Rule, ...]
    layout: Layout | None = None
    codelists: Mapping[str, CodeList] = field(default_factory=dict)

    @property
    def document_type(self) -> str:
        """The document type name (`document:`), as the store and `--json` output call it."""
        return self.document

    def applies_to(self, standard: str, message_type: str | None, version: str | None) -> bool:
        """True when this template is for messages of this standard, type and version."""
        if standard != self.standard or (message_type or "").upper() != self.message.upper():
            return False
        return version_matches(version, self.versions)

    def translate(self, tree: etree._Element) -> tuple[Any, list[Problem]]:
        """The document the message tree carries, and the problems found reading it."""
        if isinstance(tree, etree._ElementTree):
            tree = tree.getroot()
        root = tree.getroottree().getroot()
        reader = _Reader(root.get("decimal_mark") or ".", root.get("standard"))
        _keys.message, _keys.indexes = tree, {}
        try:
            document = reader.build(tree, self.rules, DOCUMENT_TYPES[self.document], "")
        finally:
            _keys.message, _keys.indexes = None, {}
        return document, reader.problems


def version_matches(version: str | None, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a message version is one of `patterns`: exact (`D96A`, `D:96A`), any (`*`), or a
    prefix ending in `*` (`004*` takes 004010, 004010VICS, 004030 …)."""
    key = _version_key(version)
    for pattern in patterns:
        if pattern == "*" or (pattern.endswith("*") and key.startswith(_version_key(pattern[:-1]))):
            return True
        if key == _version_key(pattern):
            return True
    return False


def _version_key(version: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (version or "").upper())


# --- translation -----------------------------------------------------------------------------


def _position(node: Any) -> int | None:
    while node is not None:
        if isinstance(node, etree._Element) and node.get("pos", "").isdigit():
            return int(node.get("pos"))
        node = node.getparent() if hasattr(node, "getparent") else None
    return None


def _text(element: etree._Element) -> str:
    """All the text below an element ("".join(itertext())), read directly where the element is a
    leaf or holds one leaf and nothing else: a simple data element, the commonest value."""
    size = len(element)
    if not size:
        return element.text or ""
    if size == 1 and element.text is None:
        child = element[0]
        if not len(child) and child.tail is None and isinstance(child.tag, str):
            return child.text or ""
    return "".join(element.itertext())


def _first(result: Any) -> tuple[str | None, Any]:
    """The first non-empty value of an XPath result, and the node it came from."""
    if isinstance(result, list):
        for item in result:
            if isinstance(item, etree._Element):
                text = _text(item)
                node = item
            else:
                text = str(item)
                node = item.getparent() if hasattr(item, "getparent") else None
            if text.strip():
                return text, node
        return None, None
    if isinstance(result, bool):
        return ("true" if result else None), None
    if isinstance(result, float):
        if result != result:  # NaN: number() of something that is not a number
            return None, None
        return (str(int(result)) if result.is_integer() else repr(result)), None
    text = str(result)
    return (text if text.strip() else None), None


class _Reader:
    def __init__(self, decimal_mark: str, standard: str | None) -> None:
        self.decimal_mark = decimal_mark
        self.standard = standard
        self.problems: list[Problem] = []

    def problem(self, name: str, reason: str, path: str | None = None, value: str | None = None,
                node: Any = None, severity: Severity = "error") -> None:
        self.problems.append(Problem(name, reason, path, value, _position(node), severity))

    def build(self, node: etree._Element, rules: tuple[Rule, ...], cls: type, prefix: str) -> Any:
        result: dict[str, Any] = {}
        for rule in rules:
            if isinstance(rule, ScalarRule):
                result[rule.name] = self.scalar(node, rule, prefix)
            else:
                result[rule.name] = self.object(node, rule, f"{prefix}{rule.name}")
        return cls(**result)

    def evaluate(self, xpath: tuple[str, etree.XPath], node: Any, name: str) -> Any:
        try:
            return xpath[1](node)
        except etree.XPathEvalError as error:
            self.problem(name, f"the path cannot be evaluated: {error}", xpath[0], node=node)
            return None

    def object(self, node: etree._Element, rule: ObjectRule, name: str) -> Any:
        found = self.evaluate(rule.path, node, name)
        nodes = [n for n in found if isinstance(n, etree._Element)] if isinstance(found, list) else []
        if not nodes:
            if rule.required:
                self.problem(name, "required, not found", rule.path[0], node=node)
            return [] if rule.many else None
        if rule.many:
            return [
                self.build(item, rule.rules, rule.cls, f"{name}[{number}].")
                for number, item in enumerate(nodes, start=1)
            ]
        if len(nodes) > 1:
            self.problem(name, f"{len(nodes)} nodes match; the first is used", rule.path[0],
                         node=nodes[1], severity="warning")
        return self.build(nodes[0], rule.rules, rule.cls, f"{name}.")

    def scalar(self, node: etree._Element, rule: ScalarRule, prefix: str) -> str | None:
        """The field's value; its name (`prefix` + the rule's) is only written for a problem, the
        paths are evaluated here rather than through `evaluate`: this runs for every field."""
        for path, xpath in rule.paths:
            try:
                result = xpath(node)
            except etree.XPathEvalError as error:
                self.problem(f"{prefix}{rule.name}", f"the path cannot be evaluated: {error}", path, node=node)
                continue
            if not result and result.__class__ is not float:
                continue  # an empty node-set or string, or false: no value, as _first would say
            text, source = _first(result)
            if text is not None:
                break
        else:
            if rule.default is None and rule.required:
                self.problem(f"{prefix}{rule.name}", "required, not found",
                             "; ".join(p for p, _ in rule.paths) or None, node=node)
            return rule.default
        if rule.type == "string":  # the commonest conversion, without a call
            return text.strip()
        node = source if source is not None else node
        try:
            return self.convert(text, rule, node, f"{prefix}{rule.name}", path)
        except values.ValueProblem as error:
            self.problem(f"{prefix}{rule.name}", str(error), path, text, node=node)
            return None

    def convert(self, text: str, rule: ScalarRule, node: Any, name: str, path: str | None) -> str | None:
        if rule.type == "string":
            return text.strip()
        if rule.type == "decimal":
            return values.to_decimal(text, self.decimal_mark, self.standard)
        if rule.type == "date":
            formats = rule.format
            if rule.format_path is not None:
                found = self.evaluate(rule.format_path, node, name)
                code, _ = _first(found) if found is not None else (None, None)
                if code is not None:
                    formats = (code.strip(),)
            if not formats:
                raise values.ValueProblem(f"no date format code at {rule.format_path[0]}")
            for format_name in formats[:-1]:
                try:
                    return values.to_date(text, format_name)
                except values.ValueProblem:
                    continue
            return values.to_date(text, formats[-1])
        # type code
        code = text.strip()
        assert rule.codelist is not None
        mapped = rule.codelist.lookup(code)
        if mapped is None:
            if rule.codelist.unmapped == "reject":
                raise values.ValueProblem(f"code {code} is not in code list {rule.codelist.name}")
            self.problem(name, f"code {code} is not in code list {rule.codelist.name}; kept as sent",
                         path, code, node=node, severity="warning")
            return code
        return mapped


# --- loading ---------------------------------------------------------------------------------


def _as_spec(spec: Any, parent: Located, key: str) -> Located:
    """A field spec as a Located mapping (the string shorthand is `{path: …}`)."""
    if isinstance(spec, Located):
        return spec
    if isinstance(spec, (str, list)):
        located = Located.at(parent.key_sources.get(key, parent.source), parent.key_lines.get(key))
        located["path"] = spec
        located.key_lines["path"] = parent.key_lines.get(key) or 0
        return located
    raise TemplateError(f"{parent.where(key)}: field {key!r} must be a path or a mapping, not {spec!r}")


def _merge_spec(base: Any, over: Any, parent_base: Located, parent_over: Located, key: str) -> Located:
    """`over`'s keys on top of `base` (nested `fields` merged field by field)."""
    base_spec = _as_spec(base, parent_base, key)
    over_spec = _as_spec(over, parent_over, key)
    merged = Located.at(base_spec.source, base_spec.line, base_spec)
    if "mapping" in over_spec:
        merged.pop("fields", None)
    if "fields" in over_spec:
        merged.pop("mapping", None)
    if {"from", "each"} & set(over_spec):
        merged.pop("from", None)
        merged.pop("each", None)
    for name, value in over_spec.items():
        if name == "fields" and isinstance(merged.get("fields"), Located) and isinstance(value, Located):
            merged.take("fields", _merge_fields(merged["fields"], value), over_spec)
        else:
            merged.take(name, value, over_spec)
    return merged


def _merge_fields(base: Located, over: Located) -> Located:
    merged = Located.at(base.source, base.line, base)
    for name, spec in over.items():
        if name in base:
            merged.take(name, _merge_spec(base[name], spec, base, over, name), over)
        else:
            merged.take(name, spec, over)
    return merged


def _merge_templates(base: Located, child: Located) -> Located:
    merged = Located.at(child.source, child.line, base)
    for key, value in child.items():
        if key == "extends":
            continue
        if key == "fields" and isinstance(base.get("fields"), Located) and isinstance(value, Located):
            merged.take(key, _merge_fields(base["fields"], value), child)
        elif key == "mappings" and isinstance(base.get("mappings"), Located) and isinstance(value, Located):
            mappings = Located.at(base["mappings"].source, base["mappings"].line, base["mappings"])
            for name, mapping in value.items():
                if name in mappings and isinstance(mappings[name], Located) and isinstance(mapping, Located):
                    mappings.take(name, _merge_fields(mappings[name], mapping), value)
                else:
                    mappings.take(name, mapping, value)
            merged.take(key, mappings, child)
        elif key == "layout" and isinstance(base.get("layout"), Located) and isinstance(value, Located):
            layout = Located.at(base["layout"].source, base["layout"].line, base["layout"])
            for name, item in value.items():
                layout.take(name, item, value)
            merged.take(key, layout, child)
        else:
            merged.take(key, value, child)
    return merged


def template_file(templates_dir: Path, name: Any, seen: tuple[str, ...], pattern: re.Pattern[str],
                  example: str) -> Path:
    """The file of a template named `name` (never outside `templates_dir`), checked for circles."""
    if not isinstance(name, str) or not pattern.match(name) or ".." in name:
        raise TemplateError(f"{name!r} is not a template name (like {example})")
    if name in seen:
        raise TemplateError(f"templates extend each other in a circle: {' → '.join(seen + (name,))}")
    path = TemplateDirs.of(templates_dir).file(f"{name}.yaml")
    if not path.is_file():
        raise TemplateError(f"no template {name!r} ({path} does not exist)")
    return path


def _read_template(templates_dir: Path, name: str, seen: tuple[str, ...] = ()) -> Located:
    path = template_file(templates_dir, name, seen, _NAME, "edifact/ORDERS_D96A")
    try:
        data = load(path, f"templates/{name}.yaml")
    except YAMLFileError as error:
        raise TemplateError(str(error)) from None
    if not isinstance(data, Located):
        raise TemplateError(f"templates/{name}.yaml: a template must be a mapping")
    for key in data:
        if key not in TOP_KEYS:
            raise TemplateError(f"{data.where(key)}: unknown key {key!r}; known: {', '.join(sorted(TOP_KEYS))}")
    if "extends" in data:
        base = _read_template(templates_dir, data["extends"], seen + (name,))
        return _merge_templates(base, data)
    return data


class _Compiler:
    def __init__(self, templates_dir: Path, data: Located, codelist_overrides: Mapping[str, Mapping[str, str]]):
        self.templates_dir = templates_dir
        self.data = data
        self.codelist_overrides = codelist_overrides
        self.codelists: dict[str, CodeList] = {}
        mappings = data.get("mappings", Located.at(data.source, None))
        if not isinstance(mappings, Located):
            raise TemplateError(f"{data.where('mappings')}: `mappings` must be a mapping of name: fields")
        self.mappings = mappings

    def codelist(self, name: Any, where: str) -> CodeList:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: `codelist` must be a code list name")
        if name not in self.codelists:
            try:
                codelist = load_codelist(self.templates_dir, name)
            except (CodeListError, YAMLFileError) as error:
                raise TemplateError(f"{where}: {error}") from None
            if name in self.codelist_overrides:
                codelist = codelist.with_entries(self.codelist_overrides[name])
            self.codelists[name] = codelist
        return self.codelists[name]

    repeated = 0  # how many `each:` lists the paths being compiled are inside

    def rules(self, specs: Any, cls: type, where: str, depth: int = 0) -> tuple[Rule, ...]:
        if not isinstance(specs, Located):
            raise TemplateError(f"{where}: `fields` must be a mapping of field: spec")
        if depth > 8:
            raise TemplateError(f"{where}: mappings nest too deep (a mapping that uses itself?)")
        known = {f.name: f for f in fields(cls)}
        rules: list[Rule] = []
        for name, raw in specs.items():
            if name not in known:
                raise TemplateError(
                    f"{specs.where(name)}: {cls.__name__} has no field {name!r}; "
                    f"its fields: {', '.join(known)}"
                )
            spec = _as_spec(raw, specs, name)
            nested = NESTED_TYPES.get((cls.__name__, name))
            if nested is None:
                rules.append(self.scalar(name, spec))
            else:
                many = known[name].default_factory is list  # type: ignore[comparison-overlap]
                rules.append(self.object(name, spec, nested, many, depth))
        return tuple(rules)

    def object(self, name: str, spec: Located, cls: type, many: bool, depth: int) -> ObjectRule:
        for key in spec:
            if key not in OBJECT_KEYS:
                raise TemplateError(
                    f"{spec.where(key)}: unknown key {key!r} for {name} (an object field); "
                    f"known: {', '.join(sorted(OBJECT_KEYS))}"
                )
        selector = "each" if many else "from"
        wrong = "from" if many else "each"
        if wrong in spec:
            kind = "a list: use `each`" if many else "one object: use `from`"
            raise TemplateError(f"{spec.where(wrong)}: {name} is {kind}")
        if selector not in spec:
            raise TemplateError(f"{spec.where()}: {name} needs `{selector}:` (an XPath)")
        if ("mapping" in spec) == ("fields" in spec):
            raise TemplateError(f"{spec.where()}: {name} needs either `mapping:` or `fields:`")
        if "mapping" in spec:
            mapping = spec["mapping"]
            if not isinstance(mapping, str) or mapping not in self.mappings:
                raise TemplateError(
                    f"{spec.where('mapping')}: no mapping {mapping!r} under `mappings:` "
                    f"(known: {', '.join(self.mappings) or 'none'})"
                )
            field_specs = self.mappings[mapping]
            where = self.mappings.where(mapping)
        else:
            field_specs = spec["fields"]
            where = spec.where("fields")
        path = _compile_path(spec[selector], spec.where(selector), self.repeated)
        self.repeated += many
        try:
            rules = self.rules(field_specs, cls, where, depth + 1)
        finally:
            self.repeated -= many
        return ObjectRule(
            name=name,
            path=path,
            cls=cls,
            rules=rules,
            many=many,
            required=self.flag(spec, "required"),
        )

    @staticmethod
    def flag(spec: Located, key: str) -> bool:
        value = spec.get(key, False)
        if not isinstance(value, bool):
            raise TemplateError(f"{spec.where(key)}: `{key}` must be true or false, not {value!r}")
        return value

    def scalar(self, name: str, spec: Located) -> ScalarRule:
        for key in spec:
            if key not in SCALAR_KEYS:
                raise TemplateError(
                    f"{spec.where(key)}: unknown key {key!r} for {name}; known: {', '.join(sorted(SCALAR_KEYS))}"
                )
        raw_paths = spec.get("path", [])
        raw_paths = [raw_paths] if isinstance(raw_paths, str) else raw_paths
        if not isinstance(raw_paths, list):
            raise TemplateError(f"{spec.where('path')}: `path` must be an XPath or a list of XPaths")
        if not raw_paths and "default" not in spec:
            raise TemplateError(f"{spec.where()}: {name} needs a `path` (or a `default`)")
        paths = tuple(_compile_path(path, spec.where("path"), self.repeated) for path in raw_paths)
        kind = spec.get("type", "code" if "codelist" in spec else "string")
        if kind not in TYPES:
            raise TemplateError(f"{spec.where('type')}: unknown type {kind!r}; known: {', '.join(sorted(TYPES))}")
        codelist = None
        if kind == "code":
            if "codelist" not in spec:
                raise TemplateError(f"{spec.where('type')}: type code needs a `codelist`")
            codelist = self.codelist(spec["codelist"], spec.where("codelist"))
        elif "codelist" in spec:
            raise TemplateError(f"{spec.where('codelist')}: `codelist` goes with type code, not {kind}")
        date_format, format_path = spec.get("format"), None
        if kind == "date":
            if date_format is None and "format_path" not in spec:
                raise TemplateError(f"{spec.where()}: a date needs `format` or `format_path`")
            if date_format is not None:
                date_format = tuple(
                    str(f) for f in (date_format if isinstance(date_format, list) else [date_format])
                )
                for name_ in date_format:
                    if not values.known_format(name_):
                        raise TemplateError(
                            f"{spec.where('format')}: unknown date format {name_!r}; use one of "
                            f"{', '.join(values.DATE_FORMATS)} or a strptime pattern with %"
                        )
            if "format_path" in spec:
                format_path = _compile_path(spec["format_path"], spec.where("format_path"), self.repeated)
        else:
            for key in ("format", "format_path"):
                if key in spec:
                    raise TemplateError(f"{spec.where(key)}: `{key}` goes with type date, not {kind}")
        default = spec.get("default")
        if isinstance(default, (Mapping, list)):
            raise TemplateError(f"{spec.where('default')}: `default` must be a single value")
        return ScalarRule(
            name=name,
            paths=paths,
            type=kind,
            codelist=codelist,
            format=date_format or (),
            format_path=format_path,
            default=None if default is None else str(default),
            required=self.flag(spec, "required"),
        )


def _overrides(overrides: Mapping[str, Any], source: str) -> Located:
    if isinstance(overrides, Located):
        return overrides
    if not isinstance(overrides, Mapping):
        raise TemplateError(f"{source}: overrides must be a mapping with `fields` and/or `codelists`")

    def locate(value: Any) -> Any:
        if isinstance(value, Mapping):
            located = Located.at(source, None)
            for key, item in value.items():
                located[key] = locate(item)
            return located
        return value

    return locate(overrides)


def _apply_field_overrides(data: Located, overrides: Located) -> Located:
    """Apply dotted-name field overrides to a template's data (see the module docstring)."""
    data = Located.at(data.source, data.line, data)
    top = Located.at(data.source, data.line, data.get("fields", Located()))
    data.take("fields", top, data)
    mappings = data.get("mappings", Located())
    for dotted, change in overrides.items():
        where = overrides.where(dotted)
        if not isinstance(dotted, str) or not all(dotted.split(".")):
            raise TemplateError(f"{where}: {dotted!r} is not a dotted field name like lines.unit_price")
        parts = dotted.split(".")
        specs = top
        for part in parts[:-1]:
            if part not in specs:
                raise TemplateError(f"{where}: {dotted}: the template has no field {part!r} to override in")
            spec = _as_spec(specs[part], specs, part)
            spec = Located.at(spec.source, spec.line, spec)
            if "mapping" in spec:  # copy the shared mapping so only this field changes
                name = spec.pop("mapping")
                if name not in mappings:
                    raise TemplateError(f"{spec.where()}: no mapping {name!r} under `mappings:`")
                spec.take("fields", mappings[name], spec)
                spec.key_sources["fields"] = mappings[name].source
                spec.key_lines["fields"] = mappings.key_lines.get(name, 0)
            inner = spec.get("fields")
            if not isinstance(inner, Located):
                raise TemplateError(f"{where}: {dotted}: {part} is not an object or list field")
            inner = Located.at(inner.source, inner.line, inner)
            spec["fields"] = inner
            specs.take(part, spec, specs)
            specs = inner
        leaf = parts[-1]
        holder = Located.at(overrides.source, overrides.key_lines.get(dotted))
        holder.take(leaf, change, overrides)
        holder.key_lines[leaf] = overrides.key_lines.get(dotted, 0)
        if leaf in specs:
            specs.take(leaf, _merge_spec(specs[leaf], change, specs, holder, leaf), holder)
        else:
            specs.take(leaf, _as_spec(change, holder, leaf), holder)
    return data


def base_template_names(templates_dir: Path) -> list[str]:
    """The names of all inbound templates under `templates_dir` (`edifact/ORDERS_D96A` …), sorted;
    outbound templates (`templates/outbound/`, `gateway.mapping.outbound`) are not among them."""
    return sorted(
        relative.removesuffix(".yaml")
        for relative in TemplateDirs.of(templates_dir).files()
        if relative.split("/")[0] not in (CODELISTS_DIR, "outbound")
    )


def load_template(
    templates_dir: Path,
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
) -> Template:
    """Load and validate `templates/<name>.yaml` (with its `extends:` chain and partner overrides).

    `overrides` is the `overrides:` mapping of a partner profile (`fields:` by dotted name,
    `codelists:` entries); `source` names the profile in errors. Raises `TemplateError` naming
    the file and line of the first problem.
    """
    templates_dir = TemplateDirs.of(templates_dir)
    data = _read_template(templates_dir, name)
    codelist_overrides: dict[str, dict[str, str]] = {}
    if overrides:
        located = _overrides(overrides, source or f"overrides of {name}")
        for key in located:
            if key not in OVERRIDE_KEYS:
                raise TemplateError(
                    f"{located.where(key)}: unknown override key {key!r}; known: fields, codelists"
                )
        if "fields" in located:
            if not isinstance(located["fields"], Located):
                raise TemplateError(f"{located.where('fields')}: `fields` must map dotted field names to changes")
            data = _apply_field_overrides(data, located["fields"])
        lists = located.get("codelists", {})
        if not isinstance(lists, Mapping):
            raise TemplateError(f"{located.where('codelists')}: `codelists` must map list names to entries")
        for list_name, entries in lists.items():
            where = lists.where(list_name) if isinstance(lists, Located) else located.where("codelists")
            try:
                load_codelist(templates_dir, str(list_name))
                codelist_overrides[str(list_name)] = check_entries(entries, where)
            except CodeListError as error:
                raise TemplateError(f"{where}: {error}") from None

    for key in ("standard", "message", "document"):
        if key not in data:
            raise TemplateError(f"{data.where()}: `{key}` is required")
    standard = data["standard"]
    if standard not in STANDARDS:
        raise TemplateError(f"{data.where('standard')}: unknown standard {standard!r}; known: {', '.join(sorted(STANDARDS))}")
    document = data["document"]
    if document not in DOCUMENT_TYPES:
        raise TemplateError(
            f"{data.where('document')}: unknown document type {document!r}; known: {', '.join(DOCUMENT_TYPES)}"
        )
    versions = data.get("versions", ["*"])
    versions = [versions] if isinstance(versions, str) else versions
    if not isinstance(versions, list) or not versions:
        raise TemplateError(f"{data.where('versions')}: `versions` must be a list of versions (or [\"*\"])")
    layout = None
    if standard == "csv":
        if "layout" not in data:
            raise TemplateError(f"{data.where()}: a csv template needs a `layout:`")
        try:
            layout = Layout.from_mapping(data["layout"], data.where("layout"))
        except LayoutError as error:
            raise TemplateError(str(error)) from None
    elif "layout" in data:
        raise TemplateError(f"{data.where('layout')}: `layout` is for csv templates only")
    compiler = _Compiler(templates_dir, data, codelist_overrides)
    if "fields" not in data:
        raise TemplateError(f"{data.where()}: `fields` is required")
    rules = compiler.rules(data["fields"], DOCUMENT_TYPES[document], data.where("fields"))
    if layout is not None and str(data["message"]) != layout.message:
        raise TemplateError(f"{data.where('message')}: message {data['message']} differs from layout message {layout.message}")
    return Template(
        name=name,
        standard=standard,
        message=str(data["message"]),
        versions=tuple(str(v) for v in versions),
        document=document,
        rules=rules,
        layout=layout,
        codelists=dict(compiler.codelists),
    )
