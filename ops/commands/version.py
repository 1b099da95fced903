"""``mashlink version``: which build is running (ops ask this first)."""

from __future__ import annotations

from importlib.metadata import version as distribution_version

import typer


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the mashlink version."""
        typer.echo(distribution_version("mashlink"))
