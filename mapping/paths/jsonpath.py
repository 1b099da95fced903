"""A small path language for JSON and FHIR resources.

Grammar (whitespace is not significant inside brackets)::

    path     := '$' | step ('.' step)*
    step     := name selector* | selector+          (selectors alone: on the current node)
    name     := [A-Za-z0-9_@$-]+ | "quoted" | 'quoted'
    selector := '[' INT ']' | '[' '*' ']' | '[' filter (('and' | '&') filter)* ']'
    filter   := relpath ('=' | '!=') literal | relpath        (bare relpath: exists)
    literal  := 'text' | "text" | number | true | false | null | bareword

Examples: ``child.dob``, ``identifier[system='https://fhir.nhs.uk/Id/nhs-number'].value``,
``name[use=official][0].given``, ``"Date of birth"``, ``extension[url='x'].valueCode``.

Semantics: a path yields a list of matches. Lists met along the way are
flattened (``name.given`` is every given name of every name) unless an index
selects one element. ``first`` is the first match. A leading ``$.`` is allowed
and means the current node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import PathSyntaxError

_NAME_RE = re.compile(r"[A-Za-z0-9_@$\-]+")
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")

Step = Callable[[list[Any]], list[Any]]
_MISSING = object()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, message: str) -> PathSyntaxError:
        return PathSyntaxError(message, self.pos + 1)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def expect(self, ch: str) -> None:
        self.skip_ws()
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}")
        self.pos += 1

    def name(self) -> str:
        ch = self.peek()
        if ch in ("'", '"'):
            end = self.text.find(ch, self.pos + 1)
            if end < 0:
                raise self.error("unterminated quoted name")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        match = _NAME_RE.match(self.text, self.pos)
        if not match:
            raise self.error("expected a field name")
        self.pos = match.end()
        return match.group(0)

    def literal(self) -> Any:
        self.skip_ws()
        ch = self.peek()
        if ch in ("'", '"'):
            return self.name()
        match = _NUMBER_RE.match(self.text, self.pos)
        if match and not _NAME_RE.match(self.text, match.end()):
            self.pos = match.end()
            return float(match.group(0)) if match.group(1) else int(match.group(0))
        word = re.compile(r"[^\]\s&]+").match(self.text, self.pos)
        if not word:
            raise self.error("expected a value to compare with")
        self.pos = word.end()
        return {"true": True, "false": False, "null": None}.get(word.group(0), word.group(0))

    def path(self, stop: str = "") -> list[Step]:
        """Parse steps until end of text or a character in ``stop``."""
        steps: list[Step] = []
        self.skip_ws()
        if self.text.startswith("$", self.pos) and not _NAME_RE.match(self.text, self.pos + 1):
            self.pos += 1
            if self.peek() == ".":
                self.pos += 1
            elif self.peek() not in ("", "[") and self.peek() not in stop:
                raise self.error("expected '.' after '$'")
            if self.peek() in ("",) or self.peek() in stop:
                return steps
        first = True
        while True:
            self.skip_ws()
            if self.peek() == "[" and first:
                steps.append(self.selectors(None))
            else:
                steps.append(self.selectors(self.name()))
            first = False
            self.skip_ws()
            ch = self.peek()
            if ch == ".":
                self.pos += 1
                continue
            if ch == "" or (stop and ch in stop):
                return steps
            raise self.error(f"unexpected {ch!r}")

    def selectors(self, key: str | None) -> Step:
        sels: list[Callable[[list[Any]], list[Any]]] = []
        while self.peek() == "[":
            self.pos += 1
            self.skip_ws()
            if self.peek() == "*":
                self.pos += 1
                sels.append(lambda items: items)
            elif re.match(r"-?\d+\s*\]", self.text[self.pos :]):
                match = re.compile(r"-?\d+").match(self.text, self.pos)
                assert match
                self.pos = match.end()
                index = int(match.group(0))
                sels.append(lambda items, i=index: [items[i]] if -len(items) <= i < len(items) else [])
            else:
                sels.append(self.filters())
            self.expect("]")
        return _make_step(key, sels)

    def filters(self) -> Callable[[list[Any]], list[Any]]:
        tests: list[Callable[[Any], bool]] = []
        while True:
            sub = self.path(stop="=!]& ")
            self.skip_ws()
            sub_path = _StepsPath("", sub)
            if self.text.startswith("!=", self.pos):
                self.pos += 2
                tests.append(_compare(sub_path, self.literal(), negate=True))
            elif self.peek() == "=":
                self.pos += 1
                tests.append(_compare(sub_path, self.literal(), negate=False))
            else:
                tests.append(lambda item, p=sub_path: bool(p.all(item)))
            self.skip_ws()
            if self.text.startswith("and ", self.pos):
                self.pos += 4
            elif self.peek() == "&":
                self.pos += 1
            else:
                break
        if len(tests) == 1:
            test = tests[0]
            return lambda items: [it for it in items if test(it)]
        return lambda items: [it for it in items if all(t(it) for t in tests)]


def _compare(path: "_StepsPath", literal: Any, negate: bool) -> Callable[[Any], bool]:
    if isinstance(literal, bool) or literal is None:
        wanted: Any = literal

        def matches(value: Any) -> bool:
            return value is wanted if wanted is None else value == wanted
    elif isinstance(literal, (int, float)):
        def matches(value: Any) -> bool:
            try:
                return float(value) == float(literal)
            except (TypeError, ValueError):
                return False
    else:
        text = str(literal)

        def matches(value: Any) -> bool:
            return isinstance(value, (str, int, float)) and str(value) == text

    if negate:
        return lambda item: not any(matches(v) for v in (path.all(item) or [None]))
    if literal is None:
        return lambda item: not path.all(item)
    return lambda item: any(matches(v) for v in path.all(item))


def _make_step(key: str | None, sels: list[Callable[[list[Any]], list[Any]]]) -> Step:
    if not sels:
        def step(nodes: list[Any]) -> list[Any]:
            out: list[Any] = []
            for node in nodes:
                if isinstance(node, dict):
                    value = node.get(key, _MISSING)
                    if value is _MISSING or value is None:
                        continue
                    if isinstance(value, list):
                        out.extend(v for v in value if v is not None)
                    else:
                        out.append(value)
            return out
        return step

    def step_sel(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if key is None:
                value = node
            elif isinstance(node, dict):
                value = node.get(key)
            else:
                continue
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            for sel in sels:
                items = sel(items)
            out.extend(v for v in items if v is not None)
        return out
    return step_sel


class _StepsPath:
    """A parsed path: a chain of steps, with a fast path for plain dotted names."""

    __slots__ = ("expr", "steps", "keys")

    def __init__(self, expr: str, steps: list[Step], keys: tuple[str, ...] | None = None):
        self.expr = expr
        self.steps = steps
        self.keys = keys

    def all(self, node: Any) -> list[Any]:
        nodes = [node]
        for step in self.steps:
            if not nodes:
                return nodes
            nodes = step(nodes)
        return nodes

    def first(self, node: Any) -> Any:
        keys = self.keys
        if keys is not None:
            # Fast path: plain dotted names through dicts (the common case).
            value = node
            for key in keys:
                if type(value) is dict:
                    value = value.get(key)
                    if value is None:
                        return None
                else:
                    break
            else:
                if type(value) is list:
                    return next((v for v in value if v is not None), None)
                return value
        found = self.all(node)
        return found[0] if found else None

    def __repr__(self) -> str:
        return f"JsonPath({self.expr!r})"


def compile_json_path(expr: str, namespaces: Mapping[str, str] | None = None) -> _StepsPath:
    """Compile once; raises ``PathSyntaxError`` naming the character position."""
    if not expr or not expr.strip():
        raise PathSyntaxError("empty path")
    parser = _Parser(expr.strip())
    steps = parser.path()
    plain = re.fullmatch(r"(\$\.)?[A-Za-z0-9_@\-]+(\.[A-Za-z0-9_@\-]+)*", expr.strip())
    keys = None
    if plain:
        text = expr.strip()
        keys = tuple((text[2:] if text.startswith("$.") else text).split("."))
    return _StepsPath(expr, steps, keys)
