"""``mashlink version``: which build is running (ops ask this first)."""

from __future__ import annotations

import typer

import mashlink


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the mashlink version."""
        typer.echo(mashlink.__version__)
