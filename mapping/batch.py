"""Translate whole files: accept good records, report bad ones, count both.

The contract with operators: a bad record is reported (position, field,
rule; never its personal data) and the rest are still translated; a file that
cannot be parsed at all is a file error. Callers decide what to print; this
module never writes to stdout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .compiler import CompiledMapping
from .errors import InputError, Issue, RecordError  # noqa: F401 (InputError re-exported)
from .readers import Reader, RowProblem
from .stream import StreamSummary, iter_native


@dataclass
class BatchResult:
    records: list[BaseModel] = field(default_factory=list)
    rejected: list[RecordError] = field(default_factory=list)
    file_errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        return len(self.records)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def translate_files(mapping: CompiledMapping, reader: Reader, files: Iterable[Path],
                    on_reject: Callable[[RecordError], Any] | None = None) -> BatchResult:
    """Translate every record of every file; never raises for bad input.

    Readers with ``read_set`` (a CSV set such as SSDA903) receive all files at once.
    """
    result = BatchResult()
    summary = StreamSummary(warnings=result.warnings)
    for native, position in iter_native(reader, [Path(p) for p in files], mapping, summary):
        if isinstance(native, RowProblem):
            error = RecordError(position, [Issue("record", "format", native.message)], mapping.file)
            result.rejected.append(error)
            if on_reject:
                on_reject(error)
            continue
        try:
            result.records.append(mapping.translate(native, position))
        except RecordError as error:
            result.rejected.append(error)
            if on_reject:
                on_reject(error)
    result.file_errors.extend(summary.file_errors)
    return result
