"""Target paths (``person.names[0].family``, ``person.identifiers[]``), checked against the model.

Rules write into a plain nested dict that the target model validates once at
the end: building dicts is cheap, and one ``model_validate`` keeps every
guarantee of the canonical model. Target paths are parsed and checked against
the model's fields when the spec loads, so a typo is a spec error with a line
number, not a rejected record at 3am.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter

APPEND = -1  # marker index for "[]"

_STEP_RE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(\[(?P<index>\d*)\])?$")


@dataclass(frozen=True, slots=True)
class TargetStep:
    key: str
    index: int | None  # None: plain key; APPEND: "[]"; n: "[n]"


def parse_target(text: str) -> list[TargetStep]:
    """Parse a dotted/indexed target path; ``[]`` (append) only on the last step."""
    if not text or not text.strip():
        raise ValueError("empty target path")
    steps: list[TargetStep] = []
    parts = text.strip().split(".")
    for i, part in enumerate(parts):
        match = _STEP_RE.match(part)
        if not match:
            raise ValueError(f"bad target path step {part!r} (use name, name[0] or name[])")
        raw = match.group("index")
        index = None if raw is None else APPEND if raw == "" else int(raw)
        if index == APPEND and i != len(parts) - 1:
            raise ValueError("'[]' (append) may only end a target path; use [0] for a fixed element")
        steps.append(TargetStep(match.group("key"), index))
    return steps


def normalise(text: str) -> str:
    """Target path without indices, for matching validation errors back to rules."""
    return re.sub(r"\[\d*\]", "", text)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated wrappers; keep list/dict/model/scalar."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field(model: type[BaseModel], key: str) -> Any:
    fields = model.model_fields
    if key in fields:
        return fields[key].annotation
    for name, info in fields.items():
        if info.alias == key:
            return info.annotation
    raise ValueError(f"{model.__name__} has no field {key!r}; fields: {', '.join(fields)}")


@dataclass(frozen=True)
class ResolvedTarget:
    """What a target path points at in the model."""

    annotation: Any  # type of the value the rule writes
    is_list: bool  # the rule writes a whole list (list field without index)
    free: bool  # inside a dict field: keys cannot be checked


def resolve_target(model: type[BaseModel], steps: list[TargetStep]) -> ResolvedTarget:
    """Walk the model along the steps; raises ValueError naming the unknown field."""
    current: Any = model
    walked: list[str] = []
    for step in steps:
        ann = _unwrap(current)
        if typing.get_origin(ann) is dict or ann is dict or ann is Any:
            return ResolvedTarget(Any, False, True)
        if not _is_model(ann):
            raise ValueError(f"{'.'.join(walked) or 'target'} is a value, it has no field {step.key!r}")
        field_ann = _unwrap(_field(ann, step.key))
        walked.append(step.key)
        if step.index is not None:
            if typing.get_origin(field_ann) is not list:
                raise ValueError(f"{'.'.join(walked)} is not a list: it cannot take an index or []")
            current = typing.get_args(field_ann)[0]
        else:
            current = field_ann
    final = _unwrap(current)
    return ResolvedTarget(current, typing.get_origin(final) is list, False)


def value_adapter(annotation: Any) -> TypeAdapter[Any] | None:
    """A TypeAdapter to check constants and code table values at load time (None when free)."""
    if annotation is Any:
        return None
    try:
        return TypeAdapter(annotation)
    except Exception:  # noqa: BLE001 - exotic annotations: skip the early check, the model still validates
        return None


Setter = Callable[[dict[str, Any], Any], None]


def compile_setter(steps: list[TargetStep]) -> Setter:
    """A closure writing a value at the target path, creating dicts and lists on the way."""
    head, last = steps[:-1], steps[-1]
    head_plan = tuple((s.key, s.index) for s in head)
    key, index = last.key, last.index

    def descend(root: dict[str, Any]) -> dict[str, Any]:
        node = root
        for k, i in head_plan:
            if i is None:
                child = node.get(k)
                if child is None:
                    child = node[k] = {}
                node = child
            else:
                lst = node.get(k)
                if lst is None:
                    lst = node[k] = []
                while len(lst) <= i:
                    lst.append({})
                node = lst[i]
        return node

    if index is None:
        if not head_plan:
            def set_plain(root: dict[str, Any], value: Any) -> None:
                root[key] = value
            return set_plain

        def set_nested(root: dict[str, Any], value: Any) -> None:
            descend(root)[key] = value
        return set_nested
    if index == APPEND:
        def append(root: dict[str, Any], value: Any) -> None:
            node = descend(root)
            lst = node.get(key)
            if lst is None:
                node[key] = [value]
            else:
                lst.append(value)
        return append

    def set_index(root: dict[str, Any], value: Any) -> None:
        node = descend(root)
        lst = node.get(key)
        if lst is None:
            lst = node[key] = []
        while len(lst) <= index:
            lst.append({})
        if isinstance(value, dict) and isinstance(lst[index], dict):
            lst[index].update(value)
        else:
            lst[index] = value
    return set_index


def get_at(root: dict[str, Any], steps: list[TargetStep]) -> Any:
    """Read a value already written (for ``copy:`` rules); None when absent."""
    node: Any = root
    for step in steps:
        if not isinstance(node, dict):
            return None
        node = node.get(step.key)
        if step.index is not None:
            if not isinstance(node, list) or not node:
                return None
            node = node[-1] if step.index == APPEND else (node[step.index] if step.index < len(node) else None)
    return node
