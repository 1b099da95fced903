"""``mashlink refer FILE``: submit a referral (JSON) to the hub's database.

The referral is validated in full first; on any error every field problem is
printed and nothing is stored or sent (exit 1). On success the enquiries are
in the outbox and a running hub publishes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer



def register(app: typer.Typer) -> None:
    @app.command("refer")
    def refer(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Referral JSON (canonical Referral)."),
        agency: list[str] = typer.Option(None, "--agency", help="Only these agency ids (default: all enabled)."),
        config: Path = typer.Option(None, "--config", help="YAML settings file."),
    ) -> None:
        """Validate a referral, store it and fan out one minimised enquiry per agency."""
        from ...hub.errors import Conflict, InvalidInput
        from ..wiring import open_hub, settings_or_exit

        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            typer.echo(f"{file}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", err=True)
            raise typer.Exit(1) from None
        settings = settings_or_exit(config)
        service = open_hub(settings)
        try:
            result = service.submit_referral(data, agencies=agency or None, actor="cli")
        except InvalidInput as exc:
            typer.echo(f"{file}: invalid {exc.what}; nothing was stored or sent:", err=True)
            for problem in exc.problems:
                typer.echo(f"  - {problem}", err=True)
            raise typer.Exit(1) from None
        except Conflict as exc:
            typer.echo(f"{file}: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            service.close()
        typer.echo(result.model_dump_json(indent=2))
