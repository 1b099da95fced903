"""Path languages: one small compiler per native format family.

Every language compiles an expression once, at spec load, into an object with
``all(node) -> list`` and ``first(node) -> value | None``. The compiled
mapping only ever calls those, so a new language is a new module here plus
one line in ``LANGUAGES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .csvcol import compile_csv_path
from .hl7 import compile_hl7_path
from .jsonpath import compile_json_path
from .xpath import compile_xpath


class CompiledPath(Protocol):
    """A path expression compiled to closures."""

    expr: str

    def all(self, node: Any) -> list[Any]: ...

    def first(self, node: Any) -> Any: ...


PathCompiler = Callable[[str, Mapping[str, str]], CompiledPath]

LANGUAGES: dict[str, PathCompiler] = {
    "json": compile_json_path,
    "fhir": compile_json_path,
    "xml": compile_xpath,
    "hl7v2": compile_hl7_path,
    "csv": compile_csv_path,
}


def compile_path(language: str, expr: str, namespaces: Mapping[str, str] | None = None) -> CompiledPath:
    """Compile ``expr`` in ``language``; raises ``PathSyntaxError`` or ``KeyError``."""
    return LANGUAGES[language](expr, namespaces or {})
