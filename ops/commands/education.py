"""``mashlink education ingest``: one drop-folder ingest pass for a ``connector: ctf`` agency.

The connector process ingests its drop folder in the background; this command
does one pass now (after a school sends a file, to load a backlog, or from
cron where no connector process runs) into the same pupil index, and prints
what happened to each file: ingested, duplicate or failed, with counts and the
rejected pupils by UPN, field and rule (never a name).

Exit status: 1 when files were waiting and none could be used, 2 for a usage
or configuration problem, 0 otherwise.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

education_app = typer.Typer(name="education", help="Education (CTF) drop folders and pupil index.",
                            no_args_is_help=True)


@education_app.command("ingest")
def ingest(
    agency_id: str | None = typer.Option(None, "--agency", "-a",
                                         help="The ctf agency (default: the only one configured)."),
    folder: Path | None = typer.Option(None, "--folder", help="Drop folder root (default: the agency's drop_folder)."),
    config: Path | None = typer.Option(None, "--file", "-f", help="YAML configuration file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Ingest the CTF files waiting in the drop folder into the agency's pupil index, once."""
    from dataclasses import asdict

    from ...config.errors import ConfigError
    from ...connectors.education.wiring import education_from_settings
    from ..wiring import settings_or_exit

    settings = settings_or_exit(config)
    ctf = [a for a in settings.agencies if a.connector == "ctf"]
    if agency_id is None:
        if len(ctf) != 1:
            typer.echo(f"--agency is required: {len(ctf)} ctf agencies are configured "
                       f"({', '.join(a.id for a in ctf) or 'none'})", err=True)
            raise typer.Exit(2)
        agency_id = ctf[0].id
    elif agency_id not in {a.id for a in ctf}:
        typer.echo(f"--agency: {agency_id!r} is not a ctf agency (ctf agencies: "
                   f"{', '.join(a.id for a in ctf) or 'none'})", err=True)
        raise typer.Exit(2)
    try:
        connector = education_from_settings(settings, agency_id, drop_folder=folder)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if connector.drop_folder is None:
        typer.echo(f"agency {agency_id!r} has no options.drop_folder; give --folder", err=True)
        raise typer.Exit(2)
    report = connector.ingest_pending()
    if as_json:
        typer.echo(jsonlib.dumps({"agency": agency_id, "folder": str(connector.drop_folder.root),
                                  "accepted": report.accepted, "rejected": report.rejected,
                                  "pupils_in_index": connector.index.count(),
                                  "files": [asdict(f) for f in report.files]}, indent=2))
    else:
        for f in report.files:
            typer.echo(f"{f.name}: {f.status}, {f.accepted} accepted, {f.rejected} rejected -> {f.moved_to}")
            for problem in f.problems:
                typer.echo(f"  {problem}")
        typer.echo(f"{len(report.files)} file(s): {report.accepted} pupil record(s) accepted, {report.rejected} "
                   f"rejected, {len(report.failed_files)} file(s) failed; {connector.index.count()} pupil(s) in "
                   "the index")
    if report.files and len(report.failed_files) == len(report.files):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(education_app, name="education")
