"""Translate with flat memory, and still never leave partial output.

``mapping.batch.translate_files`` keeps every record in memory: right for a
library caller with small files, impossible for a 1 GB CIN census. Here (and
so in ``mashlink translate``) each record is serialised as soon as it is
translated and written to a temporary file next to the destination; only
when the run is usable is the file moved into place (``os.replace``, atomic)
or copied to stdout. A run that reads nothing usable leaves nothing behind.

Readers with a ``read_set(paths, mapping, warn)`` method (SSDA903 CSV sets)
get all files at once; others are called per file.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .compiler import CompiledMapping
from .errors import InputError, Issue, Position, RecordError
from .readers import Reader, RowProblem


@dataclass
class StreamSummary:
    """Counts of one run; rejected records are reported through ``on_reject`` as they happen."""

    accepted: int = 0
    rejected: int = 0
    flagged: int = 0
    file_errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.accepted > 0


def iter_native(reader: Reader, paths: Sequence[Path], mapping: CompiledMapping, summary: StreamSummary
                ) -> Iterator[tuple[Any, Position]]:
    """Native records of all files; file errors are recorded and the next file is read."""
    read_set = getattr(reader, "read_set", None)
    groups: list[Sequence[Path]] = [list(paths)] if read_set is not None else [[p] for p in paths]
    for group in groups:
        try:
            if read_set is not None:
                yield from read_set(group, mapping, summary.warnings.append)
            else:
                yield from reader(group[0], mapping, summary.warnings.append)
        except InputError as error:
            summary.file_errors.append(error)


def translate_stream(mapping: CompiledMapping, reader: Reader, paths: Sequence[Path], out: IO[str], *,
                     jsonl: bool = False, exclude_none: bool = False,
                     on_reject: Callable[[RecordError], Any] | None = None,
                     on_record: Callable[[Any], Any] | None = None,
                     on_progress: Callable[[int], Any] | None = None) -> StreamSummary:
    """Translate every record of ``paths`` and write each to ``out`` at once (JSON array or JSON lines)."""
    summary = StreamSummary()
    first = True
    if not jsonl:
        out.write("[\n")
    for native, position in iter_native(reader, paths, mapping, summary):
        if on_progress is not None:
            on_progress(summary.accepted + summary.rejected)
        if isinstance(native, RowProblem):
            error = RecordError(position, [Issue("record", "format", native.message)], mapping.file)
            summary.rejected += 1
            if on_reject:
                on_reject(error)
            continue
        try:
            record = mapping.translate(native, position)
        except RecordError as error:
            summary.rejected += 1
            if on_reject:
                on_reject(error)
            continue
        summary.accepted += 1
        if getattr(record, "issues", None):
            summary.flagged += 1
        if on_record is not None:
            on_record(record)
        text = record.model_dump_json(exclude_none=exclude_none)
        if jsonl:
            out.write(text)
            out.write("\n")
        else:
            out.write(text if first else ",\n" + text)
        first = False
    if not jsonl:
        out.write("\n]\n")
    return summary


def translate_to(mapping: CompiledMapping, reader: Reader, paths: Sequence[Path], output: Path | None, *,
                 jsonl: bool = False, exclude_none: bool = False, strict: bool = False,
                 on_reject: Callable[[RecordError], Any] | None = None,
                 stdout: IO[str] | None = None,
                 on_progress: Callable[[int], Any] | None = None) -> StreamSummary:
    """Translate into ``output`` (or stdout) through a temporary file; publish only a usable result.

    Published when at least one record was accepted (and, with ``strict``, nothing was rejected and every
    file was read). Otherwise the temporary file is removed and nothing is written. The temporary file is
    removed on every exit path, SIGTERM and SIGHUP included (see ``_terminate_cleanly``).
    ``on_progress(records_done)`` is called after every record (the CLI's progress display).
    """
    directory = output.parent if output is not None else None
    with _terminate_cleanly():
        tmp: Path | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".mashlink-translate-", suffix=".part", dir=directory)
            tmp = Path(tmp_name)
            return _translate_via(tmp, fd, mapping, reader, paths, output, jsonl=jsonl,
                                  exclude_none=exclude_none, strict=strict, on_reject=on_reject, stdout=stdout,
                                  on_progress=on_progress)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


class Terminated(SystemExit):
    """SIGTERM/SIGHUP during a run: unwinds like an exception so every ``finally`` (the .part file) runs."""


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """While a run writes its temporary file, SIGTERM and SIGHUP raise ``Terminated`` (exit 128+signal).

    Without this the default action kills the process at once and the ``.part`` file stays behind.
    Only the main thread may install handlers; elsewhere (a library caller's worker) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _translate_via(tmp: Path, fd: int, mapping: CompiledMapping, reader: Reader, paths: Sequence[Path],
                   output: Path | None, *, jsonl: bool, exclude_none: bool, strict: bool,
                   on_reject: Callable[[RecordError], Any] | None, stdout: IO[str] | None,
                   on_progress: Callable[[int], Any] | None) -> StreamSummary:
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            summary = translate_stream(mapping, reader, paths, fh, jsonl=jsonl, exclude_none=exclude_none,
                                       on_reject=on_reject, on_progress=on_progress)
        publish = summary.usable and not (strict and (summary.rejected or summary.file_errors))
        if publish:
            if output is not None:
                os.replace(tmp, output)
            else:
                target = stdout or sys.stdout
                with tmp.open("r", encoding="utf-8") as fh:
                    shutil.copyfileobj(fh, target, 1024 * 1024)
                target.flush()
        return summary
    finally:
        tmp.unlink(missing_ok=True)
