"""YAML reading that remembers where each mapping and value came from, for errors an admin can act on.

`load(path)` returns plain Python data whose mappings are `Located` dicts: they know their file,
their own line, and the line of each of their keys, so a template or code list error can say
`templates/edifact/ORDERS_D96A.yaml, line 42: …`. Lines are 1-based.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class Located(dict):
    """A mapping read from a YAML file, with the file and the line of itself and of each key."""

    source: str = "<unknown>"
    line: int | None = None
    key_lines: dict[Any, int]
    key_sources: dict[Any, str]  # keys merged in from another file (extends, overrides)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}
        self.key_sources = {}

    def where(self, key: Any = None) -> str:
        """`file, line N` of a key (or of the mapping itself)."""
        if key is None or (key not in self.key_lines and key not in self.key_sources):
            source, line = self.source, self.line
        else:
            source, line = self.key_sources.get(key, self.source), self.key_lines.get(key)
        return f"{source}, line {line}" if line else source

    def take(self, key: Any, value: Any, other: "Located | None") -> None:
        """Set a key to a value that comes from `other`, keeping `other`'s file and line for it."""
        self[key] = value
        if other is not None:
            self.key_sources[key] = other.key_sources.get(key, other.source)
            if key in other.key_lines:
                self.key_lines[key] = other.key_lines[key]
            else:
                self.key_lines.pop(key, None)

    @classmethod
    def at(cls, source: str, line: int | None, data: dict | None = None) -> "Located":
        located = cls(data or {})
        located.source = source
        located.line = line
        if isinstance(data, Located):
            located.key_lines = dict(data.key_lines)
            located.key_sources = {k: data.key_sources.get(k, data.source) for k in data}
        return located


class YAMLFileError(ValueError):
    """A file that is not valid YAML; the message names the file and line (also in `line`)."""

    def __init__(self, message: str, line: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.reason = reason or message


MAX_EXPANDED_NODES = 100_000
"""The most nodes a file may stand for once its aliases are expanded: far above any real profile or
template (the biggest shipped ones have a few thousand), far below an alias bomb's billions."""


def _expanded_size(root: yaml.Node, source: str) -> int:
    """How many nodes the document is once every alias is replaced by what it names.

    Each distinct node is sized once (aliases share the node they name), so this takes time in
    the size of the file, not of its expansion; it stops as soon as the bound is passed.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_nodes:
            line = node.start_mark.line + 1
            raise YAMLFileError(f"{source}, line {line}: an alias refers to a node that contains it", line,
                                "an alias refers to a node that contains it")
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                break
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def _loader_for(source: str) -> type:
    class Loader(yaml.SafeLoader):
        def construct_document(self, node: yaml.Node) -> Any:
            # Refused before anything is built: an alias bomb ("billion laughs") expands to more
            # than any later step (merging, validating, hashing overrides) can walk in time.
            if _expanded_size(node, source) > MAX_EXPANDED_NODES:
                line = node.start_mark.line + 1
                reason = (f"its aliases (*name) expand to more than {MAX_EXPANDED_NODES:,} values; refused "
                          "(an alias bomb?); write the values out or use fewer nested aliases")
                raise YAMLFileError(f"{source}: {reason}", line, reason)
            return super().construct_document(node)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Located:
        loader.flatten_mapping(node)
        result = Located.at(source, node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                line = key_node.start_mark.line + 1
                raise YAMLFileError(f"{source}, line {line}: key {key!r} is given twice", line,
                                    f"key {key!r} is given twice")
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def loads(text: str, source: str) -> Any:
    """Parse YAML text; `source` is the name errors use for it."""
    try:
        return yaml.load(text, Loader=_loader_for(source))  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        reason = f"not valid YAML: {error.problem or error}"
        raise YAMLFileError(f"{source}{f', line {line}' if line else ''}: {reason}", line, reason) from None
    except yaml.YAMLError as error:
        raise YAMLFileError(f"{source}: not valid YAML: {error}", None, f"not valid YAML: {error}") from None
    except RecursionError:
        reason = "nested too deeply to be read (thousands of levels of lists or mappings)"
        raise YAMLFileError(f"{source}: {reason}", None, reason) from None


def load(path: Path, source: str | None = None) -> Any:
    """Read a YAML file; errors and `Located.where()` name it as `source` (default: the path)."""
    return loads(path.read_text(encoding="utf-8"), source or str(path))
