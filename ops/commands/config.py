"""``mashlink config check|show``: validate and inspect the effective settings.

Council IT edit YAML and environment variables, not Python: ``check`` tells
them precisely what is wrong (file, key path, rule) with no traceback, and
``show`` prints what the processes will actually run with, secrets masked.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer
import yaml

from ...config.errors import ConfigError
from ...config.settings import MashlinkSettings, load_settings

config_app = typer.Typer(
    name="config",
    help="Check and show mashlink configuration (MASHLINK_* environment over YAML).",
    no_args_is_help=True,
)

FILE_OPTION = typer.Option(
    None, "--file", "-f", help="YAML file to use (default: MASHLINK_CONFIG, else the packaged default)."
)


def _load_or_exit(file: Path | None) -> MashlinkSettings:
    try:
        return load_settings(file)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _summary(settings: MashlinkSettings) -> list[str]:
    enabled = settings.enabled_agencies()
    kinds = sorted({a.kind.value for a in enabled})
    return [
        f"file: {settings.config_file}",
        f"local authority: {settings.local_authority.code} {settings.local_authority.name}",
        f"broker: {settings.masked_dump()['broker_url']}",
        f"database: {settings.masked_dump()['database_url']}",
        f"agencies: {len(settings.agencies)} ({len(enabled)} enabled: {', '.join(kinds) or 'none'})",
        f"sharing policies: {len(settings.sharing_policies)}",
        f"RAG timescales for: {', '.join(sorted(settings.rag))}",
        f"calendar: {settings.calendar.timezone}, {settings.calendar.day_start:%H:%M}-"
        f"{settings.calendar.day_end:%H:%M}, bank holidays {settings.calendar.bank_holidays}, "
        f"{len(settings.calendar.closures)} closure day(s)",
    ]


@config_app.command("check")
def check(file: Path | None = FILE_OPTION) -> None:
    """Validate the configuration: print OK and a summary, or every error (exit 1).

    Connector options (``agencies[i].options``) are checked too, against each
    built-in connector's options model, so a bad option is found here and not
    when the connector process starts. Shape only: no secret is read, no file
    or connection is opened.
    """
    from ...connectors.factory import options_issues

    settings = _load_or_exit(file)
    issues = options_issues(settings)
    if issues:
        typer.echo(str(ConfigError(issues, file=settings.config_file)), err=True)
        raise typer.Exit(1)
    typer.echo("OK: configuration is valid")
    for line in _summary(settings):
        typer.echo(f"  {line}")
    for warning in settings.warnings():
        typer.echo(f"warning: {warning}", err=True)


@config_app.command("show")
def show(
    file: Path | None = FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the effective settings (after environment overrides), secrets masked."""
    data = _load_or_exit(file).masked_dump()
    if as_json:
        typer.echo(jsonlib.dumps(data, indent=2, sort_keys=False))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
