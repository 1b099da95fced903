"""``mashlink translate`` and ``mashlink mapping``: run and inspect mapping specs.

``translate FORMAT FILE...`` prints canonical JSON for native input. Output is
written only when the whole run is done, so stdout never holds a partial
result: rejected records are reported on stderr (position, field, rule; no
personal data) with a summary, and the exit status is 1 when nothing usable
was read or a file could not be parsed. ``--explain`` shows information-
governance readers which native fields leave the agency, and where they go.
"""

from __future__ import annotations

import copy
import json as jsonlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from ...mapping import (
    CompiledMapping,
    FormatRegistry,
    SpecErrors,
    default_registry,
    load_spec,
)
from ...mapping.formats import READERS_BY_LANGUAGE
from ...mapping.readers import Reader
from ...mapping.stream import translate_to


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _load(spec_path: Path) -> CompiledMapping:
    try:
        return load_spec(spec_path)
    except SpecErrors as exc:
        _err(f"mapping spec has {len(exc.errors)} error(s):")
        for error in exc.errors:
            _err(f"  {error}")
        raise typer.Exit(2) from None


def _explain_text(mapping: CompiledMapping) -> str:
    rows = mapping.explain()
    lines = [
        f"mapping spec {mapping.name} ({mapping.file})",
        f"native format: {mapping.language}; target model: {mapping.model.__name__}"
        + (f"; records at: {mapping.spec.records}" if mapping.spec.records else ""),
        "",
        "Native fields that leave the agency (source -> canonical field; transforms; code table; flags):",
    ]
    width = max((len(r.source) for r in rows), default=10)
    for row in rows:
        if row.source.startswith("constant ") or row.source.startswith("copy of "):
            continue
        extra = "; ".join(x for x in (row.transforms, f"code table {row.code_table}" if row.code_table else "",
                                      row.flags, row.note) if x)
        lines.append(f"  {row.source.ljust(width)} -> {row.target}" + (f"   [{extra}]" if extra else "")
                     + f"   (line {row.line})")
    lines.append("")
    lines.append("Set by the spec, not taken from native data:")
    for row in rows:
        if row.source.startswith("constant ") or row.source.startswith("copy of "):
            lines.append(f"  {row.target} = {row.source}   (line {row.line})")
    return "\n".join(lines)


def _explain_json(mapping: CompiledMapping) -> str:
    return jsonlib.dumps(
        {
            "spec": mapping.name,
            "file": mapping.file,
            "language": mapping.language,
            "target": mapping.model.__name__,
            "records": mapping.spec.records,
            "fields": [row.__dict__ for row in mapping.explain()],
        },
        indent=2,
    )


def _resolve(registry: FormatRegistry, fmt: str, spec: Path | None) -> tuple[CompiledMapping, Reader]:
    if fmt in registry:
        entry = registry.get(fmt)
        mapping = _load(spec or entry.spec_path)
        return mapping, entry.reader
    if spec is None:
        _err(f"unknown format {fmt!r}; known: {', '.join(registry.names())} (or give --spec FILE)")
        raise typer.Exit(2)
    mapping = _load(spec)
    return mapping, READERS_BY_LANGUAGE[mapping.language]


def _with_la_code(reader: Reader, fmt: str, la: str) -> Reader:
    """A copy of the format's reader that scopes LA child ids to ``la`` (the registered reader is shared)."""
    if not hasattr(reader, "la_code"):
        _err(f"--la does not apply to format {fmt!r}: its files name their own organisation")
        raise typer.Exit(2)
    if not la.strip():
        _err("--la: give the LA code (e.g. 999)")
        raise typer.Exit(2)
    scoped = copy.copy(reader)
    scoped.la_code = la.strip()  # type: ignore[attr-defined]
    return scoped


def _progress_after() -> float:
    """Seconds before progress shows (``MASHLINK_PROGRESS_AFTER``; short runs stay quiet)."""
    try:
        return max(0.0, float(os.environ.get("MASHLINK_PROGRESS_AFTER", "1")))
    except ValueError:
        return 1.0


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], Any] | None]:
    """A records-done counter on stderr, only when stderr is a terminal (piped or redirected: silent).

    It appears once a run has taken ``MASHLINK_PROGRESS_AFTER`` seconds and disappears when it ends
    (transient), so stdout and the summary lines are unchanged.
    """
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    start = time.monotonic()
    after = _progress_after()
    state: dict[str, Any] = {"progress": None, "task": None, "next": 0.0}

    def update(done: int) -> None:
        now = time.monotonic()
        if now < state["next"]:
            return
        state["next"] = now + 0.1
        if state["progress"] is None:
            if now - start < after:
                return
            progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                TextColumn("{task.completed} record(s)"), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
            progress.start()
            state["progress"], state["task"] = progress, progress.add_task(label, total=None)
        state["progress"].update(state["task"], completed=done)

    try:
        yield update
    finally:
        if state["progress"] is not None:
            state["progress"].stop()


def register(app: typer.Typer) -> None:
    @app.command("translate")
    def translate(
        fmt: str = typer.Argument(..., metavar="FORMAT", help="Native format name (e.g. json, csv)."),
        files: list[Path] = typer.Argument(None, metavar="FILE...", help="Native input files."),
        spec: Path = typer.Option(None, "--spec", help="Use this mapping spec instead of the format's default."),
        jsonl: bool = typer.Option(False, "--jsonl", help="One JSON record per line instead of a JSON array."),
        explain: bool = typer.Option(False, "--explain", help="List source path -> canonical field, and exit."),
        strict: bool = typer.Option(False, "--strict", help="Any rejected record or unreadable file fails the run (exit 1, no output)."),
        exclude_none: bool = typer.Option(False, "--exclude-none", help="Leave out empty (null) fields."),
        output: Path = typer.Option(None, "--output", "-o", help="Write here (atomically) instead of stdout."),
        la: str = typer.Option(None, "--la", help="LA code for files that carry none (cin, ssda903): "
                                                 "scopes LA child ids."),
    ) -> None:
        """Translate native records into canonical AgencyRecord JSON."""
        registry = default_registry()
        mapping, reader = _resolve(registry, fmt, spec)
        if la is not None:
            reader = _with_la_code(reader, fmt, la)
        if explain:
            typer.echo(_explain_text(mapping))
            return
        if not files:
            _err("give one or more input files (or --explain)")
            raise typer.Exit(2)
        # Records stream through a temporary file (flat memory for a 1 GB census) and are
        # published only if the run is usable: never partial output.
        # SIGTERM/SIGHUP mid-run: the temporary file is removed and the exit status is 128+signal.
        with _progress(f"translating {fmt}") as on_progress:
            summary = translate_to(mapping, reader, list(files), output, jsonl=jsonl, exclude_none=exclude_none,
                                   strict=strict, on_reject=lambda e: _err(str(e)), on_progress=on_progress)
        for warning in summary.warnings:
            _err(f"warning: {warning}")
        for error in summary.file_errors:
            _err(f"cannot read {error}")
        _err(
            f"{mapping.name}: {summary.accepted} record(s) accepted, {summary.rejected} rejected"
            + (f" ({summary.flagged} kept with data-quality issues)" if summary.flagged else "")
            + (f", {len(summary.file_errors)} file(s) unreadable" if summary.file_errors else "")
        )
        # Non-zero only when nothing usable was read (or --strict and anything failed):
        # one unreadable file in a batch must not withhold the good files' records.
        if not summary.usable or (strict and (summary.rejected or summary.file_errors)):
            raise typer.Exit(1)

    mapping_app = typer.Typer(help="Inspect and check mapping specs.", no_args_is_help=True)

    @mapping_app.command("explain")
    def explain_cmd(
        spec: Path = typer.Argument(..., help="Mapping spec YAML, or a format name."),
        json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Which native fields leave the agency, where they go and how they are transformed."""
        registry = default_registry()
        path = registry.get(str(spec)).spec_path if str(spec) in registry and not spec.exists() else spec
        mapping = _load(path)
        typer.echo(_explain_json(mapping) if json else _explain_text(mapping))

    @mapping_app.command("check")
    def check_cmd(specs: list[Path] = typer.Argument(..., help="Mapping spec YAML files.")) -> None:
        """Validate specs (and the code tables they use); errors name file, line and rule."""
        failed = False
        for path in specs:
            try:
                mapping = load_spec(path)
            except SpecErrors as exc:
                failed = True
                for error in exc.errors:
                    _err(str(error))
                continue
            typer.echo(f"{path}: ok ({mapping.name}, {len(mapping.explain())} rules)")
        if failed:
            raise typer.Exit(1)

    @mapping_app.command("formats")
    def formats_cmd() -> None:
        """List registered native formats and their default specs."""
        registry = default_registry()
        for name in registry.names():
            entry = registry.get(name)
            typer.echo(f"{name}\t{entry.spec_path}\t{entry.description}")

    app.add_typer(mapping_app, name="mapping")
