"""The one tree shape every format produces, so templates address all of them with XPath.

A message is an element `<message>` whose attributes say what it is (standard, type, version,
ref, sender, receiver, interchange_ref, group_ref, decimal_mark). Its children are segments and
segment groups (EDIFACT `SG25`, X12 `PO1_loop`), nested as the message's structure file in
`gateway/formats/structures/` says. A segment is an element named by its tag with a `pos`
attribute (its 1-based position in the message). Its data elements are children named by tag
and 2-digit position (`BGM02`, `PO104`); each data element has one child per component, named
`BGM02.1`, `BGM02.2`, … so that `string(BGM02)` is the value of a simple element and
`LIN03.1` the first component of a composite. Empty data elements and empty components are
left out (their names carry their positions). A repeated data element is repeated siblings.

    UNH+1+ORDERS:D:96A:UN'  →  <UNH pos="1"><UNH01><UNH01.1>1</UNH01.1></UNH01>
                                  <UNH02><UNH02.1>ORDERS</UNH02.1><UNH02.2>D</UNH02.2>…
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import yaml
from lxml import etree

from gateway.formats.model import Issue

STRUCTURES_DIR = Path(__file__).with_name("structures")

# A data element as the tokenizers hand it over: a list of repetitions, each a list of components.
DataElement = Sequence[Sequence[str]]


def segment_element(tag: str, elements: Sequence[DataElement], position: int) -> etree._Element:
    """Build one segment element from its tag and its data elements (repetitions of components)."""
    segment = etree.Element(tag, pos=str(position))
    for number, repetitions in enumerate(elements, start=1):
        name = f"{tag}{number:02d}"
        for components in repetitions:
            if not any(components):
                continue
            element = etree.SubElement(segment, name)
            for part, value in enumerate(components, start=1):
                if value:
                    etree.SubElement(element, f"{name}.{part}").text = value
    return segment


@dataclass(frozen=True)
class Structure:
    """A message's segments and groups, as in its structure file: which tag opens which group."""

    name: str
    segments: frozenset[str]
    groups: dict[str, "Structure"]  # trigger tag → group
    required: frozenset[str] = frozenset()  # message-level segments that must be there

    @classmethod
    def from_items(cls, name: str, items: Iterable) -> "Structure":
        segments: set[str] = set()
        groups: dict[str, Structure] = {}
        for item in items:
            if isinstance(item, str):
                segments.add(item)
            else:
                group_items = item["segments"]
                trigger = group_items[0]
                groups[trigger] = cls.from_items(item["group"], group_items)
        return cls(name, frozenset(segments), groups)

    def knows(self, tag: str) -> bool:
        return tag in self.segments or tag in self.groups


@lru_cache(maxsize=None)
def load_structure(standard: str, message_type: str) -> Structure | None:
    """The structure of a message type, or None when the project has no structure file for it.

    Structure files are YAML: `{message: ORDERS, segments: [UNH, BGM, {group: SG2,
    segments: [NAD, LOC, …]}, …], required: [BGM]}`; a group's first segment is its trigger;
    `required` lists the message-level segments without which the message means nothing.
    """
    path = STRUCTURES_DIR / standard / f"{message_type}.yaml"
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    structure = Structure.from_items("message", data["segments"])
    return Structure(structure.name, structure.segments, structure.groups, frozenset(data.get("required", ())))


class MessageBuilder:
    """Nests segment elements into their groups as they arrive, one message at a time.

    A segment stays in the innermost open group that has it as a member; the trigger of a
    group opens a new instance of that group in the innermost open level that declares it;
    otherwise the builder closes groups outwards until a level knows the tag. A tag no level
    knows stays where it is and is reported as a warning (validation against the full message
    definition is stricter; this only decides the nesting).
    """

    def __init__(self, root: etree._Element, structure: Structure | None) -> None:
        self.root = root
        self.structure = structure
        self.stack: list[tuple[etree._Element, Structure]] = (
            [(root, structure)] if structure else []
        )
        self._issues: list[Issue] = []
        self._seen: set[str] = set()

    @property
    def issues(self) -> list[Issue]:
        """What nesting found, read once the message is complete: unknown and missing segments."""
        missing = sorted(self.structure.required - self._seen) if self.structure else []
        return self._issues + [
            Issue(f"mandatory segment {tag} is missing", tag=tag) for tag in missing
        ]

    def add(self, segment: etree._Element) -> None:
        if not self.stack:
            self.root.append(segment)
            return
        tag = segment.tag
        self._seen.add(tag)
        for depth in range(len(self.stack) - 1, -1, -1):
            parent, level = self.stack[depth]
            if tag in level.segments and not (depth and tag == _trigger_of(self.stack, depth)):
                del self.stack[depth + 1 :]
                parent.append(segment)
                return
            if tag in level.groups:
                del self.stack[depth + 1 :]
                group = level.groups[tag]
                group_element = etree.SubElement(parent, group.name)
                group_element.append(segment)
                self.stack.append((group_element, group))
                return
        innermost = self.stack[-1][0]
        innermost.append(segment)
        self._issues.append(
            Issue(
                f"segment {tag} is not part of this message's structure",
                position=int(segment.get("pos", "0")) or None,
                tag=tag,
                severity="warning",
            )
        )


def _trigger_of(stack: list[tuple[etree._Element, Structure]], depth: int) -> str:
    """The tag that opened the group at this depth (a repeat of it opens a sibling group)."""
    return stack[depth][0][0].tag


def message_element(**attributes: str | None) -> etree._Element:
    """The root `<message>` element, carrying the envelope facts a template may need."""
    root = etree.Element("message")
    for name, value in attributes.items():
        if value is not None:
            root.set(name, value)
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
