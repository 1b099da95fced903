"""XPath 1.0 via lxml, compiled once per expression with the spec's namespaces.

Elements yield their text, attributes and string results yield themselves,
so ``Child/ChildIdentifiers/UPN`` and ``@id`` both give strings. ``for_each``
gets the elements themselves, and sub-rule paths are relative to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from mashlink.mapping.errors import PathSyntaxError


def _value(item: Any) -> Any:
    if isinstance(item, etree._Element):
        if len(item):
            return item  # element with children: for for_each / nested paths
        return item.text
    if isinstance(item, bool):
        return item
    if isinstance(item, float):
        return int(item) if item.is_integer() else item
    return str(item)


class XPathExpr:
    __slots__ = ("expr", "_xpath")

    def __init__(self, expr: str, xpath: etree.XPath):
        self.expr = expr
        self._xpath = xpath

    def all(self, node: Any) -> list[Any]:
        if not isinstance(node, etree._Element):
            return []
        result = self._xpath(node)
        if isinstance(result, list):
            values = [_value(r) for r in result]
            return [v for v in values if v is not None and v != ""]
        if result == "" or result is None:
            return []
        return [_value(result)]

    def first(self, node: Any) -> Any:
        found = self.all(node)
        return found[0] if found else None

    def __repr__(self) -> str:
        return f"XPath({self.expr!r})"


def compile_xpath(expr: str, namespaces: Mapping[str, str] | None = None) -> XPathExpr:
    if not expr or not expr.strip():
        raise PathSyntaxError("empty XPath")
    try:
        compiled = etree.XPath(expr, namespaces=dict(namespaces or {}), smart_strings=False)
    except etree.XPathSyntaxError as exc:
        raise PathSyntaxError(f"XPath syntax: {exc}") from None
    # Undefined prefixes only show on evaluation: try once on an empty element.
    try:
        compiled(etree.Element("probe"))
    except etree.XPathEvalError as exc:
        raise PathSyntaxError(f"XPath: {exc} (declare prefixes under 'namespaces:')") from None
    return XPathExpr(expr, compiled)
