"""The fuzzing oracle: what ``mashlink translate`` must do with any input, however broken.

For every input the real command runs (``run_in_process``: the typer app,
in-process; ``run_subprocess``, for a sample: the installed ``mashlink`` in its
own process) and these properties are checked, each a ``Failure`` kind:

* ``traceback``: no exception escapes the command and no traceback is printed;
* ``exit_status``: it exits 0 (records) or 1 (a clear refusal), nothing else;
* ``bad_output`` / ``invalid_record`` / ``repr_in_output`` (``check_output``):
  stdout is empty or a JSON array, every item validates as a canonical
  ``AgencyRecord``, no Python repr leaks into it, and exit 0 printed records;
* ``deadline``: the input finishes inside a CPU-time bound linear in its size;
* ``memory`` (subprocess only): it stays inside an address-space limit set
  with ``resource.setrlimit``.

A breach saves the input under ``failures_dir()`` with the command that
reproduces it. There is no fast-path-versus-general-path comparison any more:
issue 17 left every format one translation path (the rule interpreter, with
lxml for XML paths and one HL7 parser), so comparing them compared a path with
itself. A fast path that comes back must bring its differential check here.

The deadline and memory limits are bounds the harness enforces (generous, and
linear in the input: ``MASHLINK_FUZZ_DEADLINE_S``, default 20 s, plus
``MASHLINK_FUZZ_DEADLINE_US_PER_BYTE``, default 40 us per input byte;
``MASHLINK_FUZZ_MEMORY_MB``, default 1024), not measurements of speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

DEADLINE_S = float(os.environ.get("MASHLINK_FUZZ_DEADLINE_S", "20"))
#: Allowance per input byte on top of ``DEADLINE_S``: the bound is linear in the input, as cost must be
#: (a 1 MB mutant holding 30,000 children legitimately takes seconds; a quadratic one does not fit).
DEADLINE_PER_BYTE_S = float(os.environ.get("MASHLINK_FUZZ_DEADLINE_US_PER_BYTE", "40")) / 1e6


def deadline_for(files: dict[str, bytes]) -> float:
    """The time bound for one input: ``DEADLINE_S`` plus ``DEADLINE_PER_BYTE_S`` per byte."""
    return DEADLINE_S + DEADLINE_PER_BYTE_S * sum(len(data) for data in files.values())
MEMORY_BYTES = int(os.environ.get("MASHLINK_FUZZ_MEMORY_MB", "1024")) * 1024 * 1024

#: Text that only a Python repr or str() of a structure produces (the corrupt output of issue 18).
REPR = re.compile(r"<Element [^>]* at 0x|\bat 0x[0-9a-f]{6,}|<lxml\.|\{'[^']*': \[?'|object at 0x")


#: What running out of address space looks like on stderr (Python, the dynamic loader, C/C++ libraries).
OUT_OF_MEMORY = ("MemoryError", "failed to map segment", "Cannot allocate memory", "std::bad_alloc",
                 "out of memory")


class DeadlineExceeded(BaseException):
    """Raised by the CPU timer (SIGPROF) inside the command: a BaseException, so no ``except Exception`` swallows it."""


@dataclass(frozen=True)
class Failure:
    """One broken oracle property: its class, a one-line detail and where the input was saved."""

    kind: str
    detail: str
    saved: Path | None = None

    def __str__(self) -> str:
        where = f"; input saved in {self.saved} (see REPRODUCE.txt there)" if self.saved else ""
        return f"{self.kind}: {self.detail}{where}"


@dataclass
class Outcome:
    """What one run did: exit status, records printed, and the first failure (None: the oracle holds)."""

    exit_code: int | None
    records: int
    failure: Failure | None
    seconds: float
    stderr: str = ""
    stdout: str = ""


def failures_dir() -> Path:
    """Where failing inputs are kept (``MASHLINK_FUZZ_FAILURES``, else the system temp folder)."""
    return Path(os.environ.get("MASHLINK_FUZZ_FAILURES") or Path(tempfile.gettempdir()) / "mashlink-fuzz-failures")


def save_input(fmt: str, files: dict[str, bytes], args: tuple[str, ...], kind: str, detail: str) -> Path:
    """Write the input and a REPRODUCE.txt naming the command; returns the folder."""
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()[:12]
    folder = failures_dir() / f"{fmt}-{kind}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    command = " ".join(["mashlink", "translate", fmt, *args, *sorted(files)])
    (folder / "REPRODUCE.txt").write_text(f"cd {folder} && {command}\n\n{kind}: {detail}\n", encoding="utf-8")
    return folder


@contextmanager
def materialised(files: dict[str, bytes]) -> Iterator[list[Path]]:
    """The input's files in a fresh temporary folder (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="mashlink-fuzz-"))
    try:
        paths = []
        for name, data in files.items():
            path = folder / name
            path.write_bytes(data)
            paths.append(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ``DeadlineExceeded`` after ``seconds`` of this process's CPU time (SIGPROF).

    CPU time, not wall-clock: the bound is on what one input costs, and a CI
    machine shared with other work must not turn a linear-cost input into a
    failure. A separate timer (ITIMER_PROF) leaves pytest-timeout's SIGALRM alone.
    """
    if seconds <= 0:
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise DeadlineExceeded(f"over the {seconds:g} s CPU deadline")

    previous = signal.signal(signal.SIGPROF, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    used = time.process_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    # The timer fires on the kernel's CPU-accounting tick: an input that ends between ticks is
    # still measured, so a breach never depends on where the tick fell.
    if time.process_time() - used > seconds:
        raise DeadlineExceeded(f"over the {seconds:g} s CPU deadline")


def check_output(stdout: str) -> tuple[int, Failure | None]:
    """(record count, failure): stdout must be empty or a JSON array of valid canonical records, no repr."""
    from pydantic import ValidationError

    from mashlink.schemas.record import AgencyRecord

    if not stdout.strip():
        return 0, None
    try:
        records = json.loads(stdout)
    except ValueError as exc:
        return 0, Failure("bad_output", f"stdout is not JSON: {exc}")
    if not isinstance(records, list):
        return 0, Failure("bad_output", f"stdout is JSON {type(records).__name__}, not an array")
    for i, item in enumerate(records):
        try:
            AgencyRecord.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            return len(records), Failure("invalid_record", f"record {i}: {first['loc']} {first['type']}")
    found = REPR.search(stdout)
    if found:
        return len(records), Failure("repr_in_output", f"Python repr in the output: {found.group(0)!r}")
    return len(records), None


def _exception_class(exc: BaseException) -> str:
    """``TypeName at module:function`` of the innermost frame: stable across inputs, for grouping."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mashlink" in f.filename or "/work/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).stem}:{ours[-1].name}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def run_in_process(fmt: str, files: dict[str, bytes], args: tuple[str, ...] = (), *,
                   deadline_s: float | None = None, save: bool = True) -> Outcome:
    """``mashlink translate FMT ARGS FILES`` through the typer app, with the oracle applied."""
    from mashlink.ops.cli import app

    deadline_s = deadline_for(files) if deadline_s is None else deadline_s
    start = time.perf_counter()
    failure: Failure | None = None
    records = 0
    exit_code: int | None = None
    stderr = stdout = ""
    with materialised(files) as paths:
        try:
            with deadline(deadline_s):
                result = CliRunner().invoke(app, ["translate", fmt, *args, *map(str, paths)])
        except DeadlineExceeded as exc:
            failure = Failure("deadline", str(exc))
        else:
            exit_code = result.exit_code
            stderr, stdout = result.stderr, result.stdout
            exc = result.exception
            if exc is not None and not isinstance(exc, SystemExit):
                failure = Failure("traceback", _exception_class(exc))
            elif exit_code not in (0, 1):
                failure = Failure("exit_status", f"exit status {exit_code}")
            elif "Traceback (most recent call last)" in result.output:
                failure = Failure("traceback", "a traceback was printed")
            else:
                records, failure = check_output(result.stdout)
                if failure is None and exit_code == 0 and records == 0:
                    failure = Failure("bad_output", "exit 0 with no records")
    if failure is not None and save:
        failure = Failure(failure.kind, failure.detail, save_input(fmt, files, args, failure.kind, failure.detail))
    return Outcome(exit_code, records, failure, time.perf_counter() - start, stderr, stdout)


def mashlink_executable() -> str:
    """The installed console script beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("mashlink")
    return str(beside) if beside.exists() else (shutil.which("mashlink") or "mashlink")


def run_subprocess(fmt: str, files: dict[str, bytes], args: tuple[str, ...] = (), *,
                   deadline_s: float | None = None, memory_bytes: int = MEMORY_BYTES,
                   save: bool = True) -> Outcome:
    """The real command in its own process, under ``RLIMIT_AS = memory_bytes`` and a wall-clock deadline."""
    deadline_s = deadline_for(files) + 10 if deadline_s is None else deadline_s  # + interpreter start-up

    def limit() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    start = time.perf_counter()
    failure: Failure | None = None
    records = 0
    exit_code: int | None = None
    stderr = stdout = ""
    with materialised(files) as paths:
        env = {**os.environ, "MASHLINK_PROGRESS_AFTER": "0"}
        try:
            proc = subprocess.run([mashlink_executable(), "translate", fmt, *args, *map(str, paths)],
                                  capture_output=True, timeout=deadline_s, preexec_fn=limit, env=env)
        except subprocess.TimeoutExpired:
            failure = Failure("deadline", f"over the {deadline_s:g} s deadline")
        else:
            exit_code = proc.returncode
            stderr = proc.stderr.decode("utf-8", "replace")
            stdout = proc.stdout.decode("utf-8", "replace")
            if any(sign in stderr for sign in OUT_OF_MEMORY) or (
                    exit_code < 0 and exit_code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT)):
                failure = Failure("memory", f"over the {memory_bytes // 2**20} MiB address-space limit "
                                            f"(exit {exit_code})")
            elif "Traceback (most recent call last)" in stderr:
                last = [line for line in stderr.strip().splitlines() if line.strip()][-1:]
                failure = Failure("traceback", (last[0] if last else "?")[:200])
            elif exit_code not in (0, 1):
                failure = Failure("exit_status", f"exit status {exit_code}")
            else:
                records, failure = check_output(stdout)
    if failure is not None and save:
        failure = Failure(failure.kind, failure.detail, save_input(fmt, files, args, failure.kind, failure.detail))
    return Outcome(exit_code, records, failure, time.perf_counter() - start, stderr, stdout)
