"""YAML loading that remembers line numbers.

Spec errors must name the line council IT has to edit. PyYAML's node marks
know it, but plain ``safe_load`` throws them away, so this loader builds
``MarkedDict``/``MarkedList`` containers that keep the line of the mapping
itself and of each key. They are ordinary dicts and lists to everyone else
(pydantic included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class MarkedDict(dict):
    """A dict that knows its 1-based line and the line of each of its keys."""

    line: int | None = None
    key_lines: dict[str, int]


class MarkedList(list):
    """A list that knows its 1-based line and each item's line."""

    line: int | None = None
    item_lines: list[int]


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) whose containers carry marks."""


def _construct_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    result = MarkedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _MarkedLoader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_MarkedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_marked_yaml(path: Path) -> Any:
    """Parse a YAML file keeping marks; raises ``yaml.YAMLError`` (with marks) on bad YAML."""
    with path.open("r", encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_MarkedLoader)  # noqa: S506 - SafeLoader subclass


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest point of ``loc`` that exists in marked data."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, MarkedDict) and part in node:
            line = node.key_lines.get(str(part), line)
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
