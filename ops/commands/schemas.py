"""``mashlink schemas export|check``: keep the published JSON Schema in step with the models.

Agencies that do not run Python build against ``schemas/json/``. ``export``
rewrites the files from the pydantic models; ``check`` exits 1 and names the
stale files, so CI (and a developer before committing) can catch a model
change that was not exported.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ...schemas.export import JSON_DIR, stale_files, write_schemas

REGENERATE_HINT = "run `mashlink schemas export` (or `python -m mashlink.schemas.export`)"


def build_app() -> typer.Typer:
    """The ``schemas`` command group (a function, so no module-level app state)."""
    sub = typer.Typer(help="Export and check the canonical JSON Schema files.", no_args_is_help=True)

    @sub.command("export")
    def export(
        directory: Path = typer.Option(JSON_DIR, "--dir", help="Where to write the JSON Schema files."),
    ) -> None:
        """Write one JSON Schema file per top-level canonical model (removes files no longer produced)."""
        written = write_schemas(directory)
        for path in written:
            typer.echo(str(path))
        typer.echo(f"wrote {len(written)} schema files to {directory}", err=True)

    @sub.command("check")
    def check(
        directory: Path = typer.Option(JSON_DIR, "--dir", help="Directory of exported JSON Schema files."),
    ) -> None:
        """Exit 1 and list the files that are missing, out of date or no longer produced."""
        stale = stale_files(directory)
        if stale:
            for name in stale:
                typer.echo(f"stale: {name}")
            typer.echo(f"{len(stale)} JSON Schema file(s) in {directory} are stale; {REGENERATE_HINT}", err=True)
            raise typer.Exit(1)
        typer.echo(f"JSON Schema files in {directory} are up to date")

    return sub


def register(app: typer.Typer) -> None:
    app.add_typer(build_app(), name="schemas")
