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
# MessageBuilder and segment_values live with the checks they drive (validation imports nothing
# from here); they are named here too, where the format modules look for them.
from gateway.formats.validation import Definition, MessageBuilder, load_definition, segment_values  # noqa: F401

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


# What XML text cannot hold as written: markup characters, CR (a parser would make it LF), and
# the characters of NOT_XML.
_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escaped(value: str) -> str:
    return representable(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "\r", "&#13;")


def segment_xml(tag: str, elements: Sequence[DataElement], position: int) -> str:
    """The XML text of `segment_element(tag, elements, position)`, for `MessageBuilder.add`.

    Writing text and parsing a whole message once is several times faster than building its
    elements one lxml call at a time; the tree is the same.
    """
    return segment_text(tag, elements, position)[0]


def segment_text(tag: str, elements: Sequence[DataElement], position: int) -> tuple[str, bool]:
    """`segment_xml`, and whether a value had to be escaped: only then can one hold a character
    XML cannot hold (`invalid_characters` need not look otherwise)."""
    escaped = False
    parts = [f'<{tag} pos="{position}">']
    append = parts.append
    search = _ESCAPE.search
    for (single_open, single_close, element_open, element_close, names), repetitions in zip(
            _element_names(tag, len(elements)), elements):
        for components in repetitions:
            if len(components) == 1:
                value = components[0]
                if value:
                    if search(value):
                        value, escaped = _escaped(value), True
                    append(single_open + value + single_close)
                continue
            if not any(components):
                continue
            append(element_open)
            if len(components) > len(names):
                names = _component_names(element_open[1:-1], len(components))
            for (opening, closing), value in zip(names, components):
                if value:
                    if search(value):
                        value, escaped = _escaped(value), True
                    append(opening + value + closing)
            append(element_close)
    append(f"</{tag}>")
    return "".join(parts), escaped


def plain_segment_text(tag: str, values: Sequence[str], position: int) -> str:
    """`segment_text` of a segment whose data elements are single values (no components, no
    repetitions) that need no escaping: what most X12 segments are."""
    parts = [f'<{tag} pos="{position}">']
    append = parts.append
    for (single_open, single_close, *_), value in zip(_element_names(tag, len(values)), values):
        if value:
            append(single_open + value + single_close)
    append(f"</{tag}>")
    return "".join(parts)


def needs_escaping(text: str) -> bool:
    """Whether some character of `text` must be escaped (or replaced) in XML text."""
    return _ESCAPE.search(text) is not None


# The markup around data elements and components, written once per tag rather than per value.
_NAMES: dict[str, list[tuple[str, str, str, str, list[tuple[str, str]]]]] = {}
_KEPT = 4096  # tags kept at most (they are checked before they get here, but a file may hold many)


def _element_names(tag: str, count: int) -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """Per data element of `tag`: the markup of a one-component element around its value, the
    element's start and end tags, and the markup of its first components."""
    found = _NAMES.get(tag)
    if found is None or len(found) < count:
        found = []
        for number in range(1, max(count, 10) + 1):
            name = f"{tag}{number:02d}"
            found.append((f"<{name}><{name}.1>", f"</{name}.1></{name}>", f"<{name}>", f"</{name}>",
                          _component_names(name, 10)))
        if len(_NAMES) < _KEPT:
            _NAMES[tag] = found
    return found


def _component_names(name: str, count: int) -> list[tuple[str, str]]:
    return [(f"<{name}.{part}>", f"</{name}.{part}>") for part in range(1, count + 1)]


class KnownSegments:
    """The segments of one interchange read without any finding, by their text.

    The same text, in the same interchange (the same separators) and under the same message
    definition, gives the same data elements, tree and checks: a repeat (the same NAD, DTM,
    CUX or PIA in every message of a file) is written from the first one's markup and only
    placed in its message, not tokenized or checked again.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self.bodies: dict[tuple[int, str], str] = {}
        self.definitions: dict[int, Definition | None] = {}  # keeps each id's definition alive

    def xml(self, definition: Definition | None, text: str | None, tag: str, position: int) -> str | None:
        """The segment's XML at `position` when its text is known to give no finding, else None."""
        if text is None:
            return None
        body = self.bodies.get((id(definition), text))
        return None if body is None else f'<{tag} pos="{position}">{body}'

    def remember(self, definition: Definition | None, text: str | None, xml: str) -> None:
        """Record a segment that gave no finding (no escaped value, no check, no envelope error)."""
        if text is None or len(self.bodies) >= self.LIMIT:  # a file's repeats show early; later ones are read
            return
        self.definitions[id(definition)] = definition
        self.bodies[(id(definition), text)] = xml[xml.index(">") + 1:]  # after <TAG pos="n">


def load_structure(standard: str, message_type: str, version: str | None = None) -> Definition | None:
    """The definition that nests (and validates) a message, or None when the project has none.

    Definitions are the files of `gateway/formats/definitions/` (see `gateway.formats.validation`):
    one segment table per message, whose groups and loops become the tree's group elements.
    """
    return load_definition(standard, message_type, version)


def message_element(**attributes: str | None) -> etree._Element:
    """The root `<message>` element, carrying the envelope facts a template may need."""
    return etree.Element("message", {name: representable(value) for name, value in attributes.items()
                                     if value is not None})


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
