"""The one tree shape every format produces, so templates address all of them with XPath.

A message is an element `<message>` whose attributes say what it is (standard, type, version,
ref, sender, receiver, interchange_ref, group_ref, decimal_mark). Its children are segments and
segment groups (EDIFACT `SG25`, X12 `PO1_loop`), nested as the message's definition in
`gateway/formats/definitions/` says. A segment is an element named by its tag with a `pos`
attribute (its 1-based position in the message). Its data elements are children named by tag
and 2-digit position (`BGM02`, `PO104`); each data element has one child per component, named
`BGM02.1`, `BGM02.2`, … so that `string(BGM02)` is the value of a simple element and
`LIN03.1` the first component of a composite. Empty data elements and empty components are
left out (their names carry their positions). A repeated data element is repeated siblings.

    UNH+1+ORDERS:D:96A:UN'  →  <UNH pos="1"><UNH01><UNH01.1>1</UNH01.1></UNH01>
                                  <UNH02><UNH02.1>ORDERS</UNH02.1><UNH02.2>D</UNH02.2>…
"""

from __future__ import annotations

import re
from typing import Sequence

from lxml import etree

from gateway.formats.model import Issue
from gateway.formats.validation import (
    DEFAULT_OPTIONS, Definition, Findings, Item, Level, Options, check_segment, load_definition,
)

# A data element as the tokenizers hand it over: a list of repetitions, each a list of components.
DataElement = Sequence[Sequence[str]]

# Characters XML 1.0 cannot hold (C0 controls but tab, CR, LF; lone surrogates; U+FFFE/FFFF):
# a value holding one cannot be put in the tree as written.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def representable(value: str) -> str:
    """`value` with every character XML cannot hold replaced by U+FFFD."""
    return NOT_XML.sub(REPLACEMENT, value)


def invalid_characters(tag: str, elements: Sequence[DataElement], position: int, code: str) -> list[Issue]:
    """A syntax error for every value of a segment holding a character XML cannot hold.

    `code` is the standard's own: EDIFACT 0085 "21" (invalid character), X12 AK4 "6" (invalid
    character in data element). The tree holds U+FFFD there (`segment_element`), so the rest of
    the message is still read and the rest of the file goes on.
    """
    found = []
    for number, repetitions in enumerate(elements, start=1):
        for repetition, components in enumerate(repetitions, start=1):
            for part, value in enumerate(components, start=1):
                if value and NOT_XML.search(value):
                    found.append(Issue(
                        f"{tag}{number:02d} holds a control character ({value[:40]!r}), not allowed in a data element",
                        position, tag, code, level="element", element=number,
                        component=part if len(components) > 1 else None,
                        repetition=repetition if len(repetitions) > 1 else None, value=value[:99]))
    return found


def segment_element(tag: str, elements: Sequence[DataElement], position: int) -> etree._Element:
    """Build one segment element from its tag and its data elements (repetitions of components).

    Characters XML cannot hold become U+FFFD (see `unrepresentable` for reporting them).
    """
    segment = etree.Element(representable(tag), pos=str(position))
    for number, repetitions in enumerate(elements, start=1):
        name = f"{tag}{number:02d}"
        for components in repetitions:
            if not any(components):
                continue
            element = etree.SubElement(segment, name)
            for part, value in enumerate(components, start=1):
                if value:
                    etree.SubElement(element, f"{name}.{part}").text = representable(value)
    return segment


def load_structure(standard: str, message_type: str, version: str | None = None) -> Definition | None:
    """The definition that nests (and validates) a message, or None when the project has none.

    Definitions are the files of `gateway/formats/definitions/` (see `gateway.formats.validation`):
    one segment table per message, whose groups and loops become the tree's group elements.
    """
    return load_definition(standard, message_type, version)


class _Frame:
    """One open level while a message is read: the message or a group instance."""

    __slots__ = ("element", "level", "index", "counts")

    def __init__(self, element: etree._Element, level: Level, index: int) -> None:
        self.element = element
        self.level = level
        self.index = index  # the segment table line reached; -1 before the first
        self.counts: dict[int, int] = {index: 1} if index >= 0 else {}


class MessageBuilder:
    """Nests segment elements into their groups as they arrive, and checks the message's structure.

    The builder walks the segment table the way the standard reads it: a segment is placed at
    the first table line, at or after the current one, of the innermost open level that has it,
    closing groups outwards until a level has it further on; a group's trigger opens a new
    instance of that group. On the way it reports segments that are missing, repeated too often
    or out of place, and checks every segment's data elements (`validation.check_segment`).
    A segment no level has at or after its place is put in the level that knows its tag (out of
    order) or in the innermost group (unknown), so templates still find it, and is reported.
    Without a definition, segments are simply appended in order.
    """

    def __init__(self, root: etree._Element, definition: Definition | None, options: Options = DEFAULT_OPTIONS,
                 *, version: str | None = None) -> None:
        self.root = root
        self.definition = definition
        self.findings = Findings(definition, options, version) if definition else None
        self.stack: list[_Frame] = [_Frame(root, definition.root, -1)] if definition else []
        self._finished = False
        self._last_position: int | None = None

    @property
    def issues(self) -> list[Issue]:
        """What nesting and validation found; read once, when the message is complete."""
        if self.findings is None:
            return []
        if not self._finished:
            self._finished = True
            self._close_above(-1, self._last_position)  # every group, and the message itself
        return self.findings.issues

    def add(self, segment: etree._Element, elements: Sequence[DataElement] | None = None) -> None:
        """Place one segment; `elements` are its data elements as tokenized (checked when given)."""
        if not self.stack:
            self.root.append(segment)
            return
        tag = segment.tag
        position = int(segment.get("pos", "0")) or None
        self._last_position = position
        findings = self.findings
        if not self._place(tag, segment, position):
            self._misplace(tag, segment, position)
        if elements is not None and findings is not None:
            check_segment(findings, tag, elements, position or 0)

    def _place(self, tag: str, segment: etree._Element, position: int | None) -> bool:
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
                self._close_above(depth, position)
                self._skip(frame, index, position)
                count = frame.counts.get(index, 0) + 1
                frame.counts[index] = count
                frame.index = index
                if item.group is None:
                    frame.element.append(segment)
                    if item.max is not None and count > item.max:
                        self.findings.add("segment_repeats", f"segment {tag} occurs {count} times here, at most "
                                          f"{item.max} allowed", position, tag)
                else:
                    self._open(frame, item, segment, count, position)
                return True
        return False

    def _open(self, frame: _Frame, item: Item, segment: etree._Element, count: int, position: int | None) -> None:
        group = item.group
        element = etree.SubElement(frame.element, group.name)
        element.append(segment)
        self.stack.append(_Frame(element, group, 0))
        if item.max is not None and count > item.max:
            self.findings.add("group_repeats", f"group {group.name} ({item.tag}) occurs {count} times, at most "
                              f"{item.max} allowed", position, item.tag)

    def _close_above(self, depth: int, position: int | None) -> None:
        """Close the groups open inside the level at `depth` (a segment of that level has come)."""
        while len(self.stack) > depth + 1:
            self._close(self.stack.pop(), position)

    def _misplace(self, tag: str, segment: etree._Element, position: int | None) -> None:
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
                frame.element.append(segment)
            else:
                count = frame.counts.get(indices[0], 0) + 1
                frame.counts[indices[0]] = count
                self._open(frame, item, segment, count, position)
            return
        stack[-1].element.append(segment)
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
        for passed in range(frame.index + 1, index):
            item = frame.level.items[passed]
            if item.required and not frame.counts.get(passed):
                self._missing(frame, item, position)

    def _close(self, frame: _Frame, position: int | None) -> None:
        for passed in range(frame.index + 1, len(frame.level.items)):
            item = frame.level.items[passed]
            if item.required and not frame.counts.get(passed):
                self._missing(frame, item, position)

    def _missing(self, frame: _Frame, item: Item, position: int | None) -> None:
        where = "the message" if frame.level.name == "message" else f"group {frame.level.name}"
        what = f"group {item.group.name} (starting with {item.tag})" if item.group else f"segment {item.tag}"
        self.findings.add("missing_segment", f"mandatory {what} is missing in {where}", position, item.tag)


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


def message_element(**attributes: str | None) -> etree._Element:
    """The root `<message>` element, carrying the envelope facts a template may need."""
    root = etree.Element("message")
    for name, value in attributes.items():
        if value is not None:
            root.set(name, representable(value))
    return root


def segments_of(message: etree._Element) -> list[list]:
    """The message's segments in order, as `[tag, element1, element2, …]` for people and JSON.

    A data element is its value when it has one component, a list of components otherwise,
    and a list of those when it repeats; left-out (empty) elements come back as "".
    """
    result: list[list] = []
    for segment in message.iter():
        if segment.get("pos") is None:
            continue
        tag = segment.tag
        if not _numbered(segment):  # a CSV row: its columns by name
            result.append([tag, {column.tag: column.text or "" for column in segment}])
            continue
        values: list = []
        for element in segment:
            number = int(element.tag[len(tag):])
            components: list[str] = []
            for component in element:
                part = int(component.tag.rsplit(".", 1)[1])
                components.extend("" for _ in range(part - len(components)))
                components[part - 1] = component.text or ""
            value = components[0] if len(components) == 1 else components
            while len(values) < number - 1:
                values.append("")
            if len(values) == number:  # a repetition of the element before
                previous = values[-1]
                values[-1] = (previous if isinstance(previous, list) and previous and isinstance(previous[0], list)
                              else [previous]) + [value]
            else:
                values.append(value)
        result.append([tag, *values])
    return result


def _numbered(segment: etree._Element) -> bool:
    tag = segment.tag
    return all(child.tag.startswith(tag) and child.tag[len(tag):].isdigit() for child in segment)
