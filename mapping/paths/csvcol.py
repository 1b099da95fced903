"""CSV "paths" are column names, exactly as in the header row.

``$`` is the current value itself (used inside ``for_each`` over a column
split into items). Column names are checked against each file's header by
the CSV reader, so a renamed column is reported once per file, not per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import PathSyntaxError


class CsvColumn:
    __slots__ = ("expr", "column")

    def __init__(self, expr: str, column: str | None):
        self.expr = expr
        self.column = column

    def first(self, node: Any) -> Any:
        if self.column is None:
            return node
        if type(node) is dict:
            value = node.get(self.column)
            return None if value == "" else value
        return None

    def all(self, node: Any) -> list[Any]:
        value = self.first(node)
        return [] if value is None else [value]

    def __repr__(self) -> str:
        return f"CsvColumn({self.expr!r})"


def compile_csv_path(expr: str, namespaces: Mapping[str, str] | None = None) -> CsvColumn:
    if expr is None or not expr.strip():
        raise PathSyntaxError("empty column name")
    if expr.strip() == "$":
        return CsvColumn(expr, None)
    return CsvColumn(expr, expr.strip())
