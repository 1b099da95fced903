"""Errors of the mapping engine, shaped so people can act on them.

Three audiences, three errors: council IT editing a spec gets ``SpecError``
(file, line, rule); an operator feeding a bad export gets ``InputError`` (file
and position, for input that cannot be parsed at all) or ``RecordError`` (one
record rejected, naming each field, rule and position). None of them ever
carries a native value that could be personal data: records are identified by
number and id, and bad values are described by their *shape* only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def value_shape(value: object, limit: int = 12) -> str:
    """Describe a value without disclosing it: digits become 9, letters A.

    ``"12/3/20O9"`` -> ``"99/9/99A9"``. Long values are summarised by length,
    because the shape of a long string (a name, an address) could still
    identify someone.
    """
    text = str(value)
    if len(text) > limit:
        return f"<{len(text)} characters>"
    return "".join("9" if c.isdigit() else "A" if c.isalpha() else c for c in text)


class MappingEngineError(Exception):
    """Base class of every error the mapping engine raises on purpose."""


@dataclass
class SpecError(MappingEngineError):
    """A mapping spec (or code table) is wrong; says which file, line and rule."""

    file: str
    line: int | None
    rule: str
    message: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        rule = f" {self.rule}:" if self.rule else ""
        return f"{where}:{rule} {self.message}"


class SpecErrors(MappingEngineError):
    """All problems found while loading one spec, reported together."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class Position:
    """Where a native record sits in its input: file, record number, line and/or path."""

    file: str
    record: int
    line: int | None = None
    path: str | None = None
    record_id: str | None = None

    def with_record_id(self, record_id: str | None) -> "Position":
        return Position(self.file, self.record, self.line, self.path, record_id)

    def __str__(self) -> str:
        parts = [f"record {self.record}"]
        if self.record_id:
            parts.append(f"id {self.record_id}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.path:
            parts.append(self.path)
        return f"{self.file} {', '.join(parts)}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with one field of one record."""

    field: str
    rule: str
    message: str
    source: str | None = None
    spec_line: int | None = None
    item: str | None = None

    def __str__(self) -> str:
        src = f" <- {self.source}" if self.source else ""
        item = f" (item {self.item})" if self.item else ""
        line = f" [spec line {self.spec_line}]" if self.spec_line else ""
        return f"{self.field}{src}{item}: {self.rule}: {self.message}{line}"


@dataclass
class RecordError(MappingEngineError):
    """A native record could not be translated; lists every issue found in it."""

    position: Position
    issues: list[Issue] = field(default_factory=list)
    spec_file: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.position}: rejected"
        if self.spec_file:
            head += f" (spec {self.spec_file})"
        return head + "".join(f"\n  - {i}" for i in self.issues)


@dataclass
class InputError(MappingEngineError):
    """A whole input file cannot be read (bad JSON, bad encoding, missing columns)."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
            if self.column is not None:
                where += f" column {self.column}"
        return f"{where}: {self.message}"


class TransformError(ValueError):
    """Raised by a transform at run time; the message must not contain the value."""


class PathSyntaxError(ValueError):
    """A path expression cannot be parsed; ``column`` is 1-based inside the expression."""

    def __init__(self, message: str, column: int | None = None):
        self.column = column
        super().__init__(message if column is None else f"{message} (at character {column})")
