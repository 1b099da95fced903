"""``mashlink dropfolder list|replay``: see and replay the files a connector parked in its drop folder.

Every connector that reads files (Model 3 answers, CTF drops, CIN/SSDA903
extracts) parks a file it cannot use in ``failed/`` (``rejected/`` for
social care) with ``NAME.reason.txt`` naming the rule, field and position,
never the content. Ops staff fix the cause (the school resends, a mapping is
corrected) and put the file back into the inbox, where the connector picks it
up on its next pass. Without this command that meant moving files by hand
and leaving stale reason files behind.

``PATH`` is the drop folder's root: the folder holding ``failed/`` (or
``rejected/``). The inbox is ``PATH/inbox`` or ``PATH/incoming``, or
``--inbox`` where it lives elsewhere (social care's ``options.inbox``).

Exit status: 1 when the named file is not parked, 2 when ``PATH`` is not a
drop folder or the inbox cannot be found, 0 otherwise.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

dropfolder_app = typer.Typer(name="dropfolder", help="List and replay files parked in a connector's drop folder.",
                             no_args_is_help=True)

#: Where connectors park refused files: the shared DropFolder's ``failed/``, social care's ``rejected/``.
PARKED_FOLDERS = ("failed", "rejected")
#: Inbox names under the root: Model 3 answers and event files, CTF drops.
INBOX_NAMES = ("inbox", "incoming")


def _parked_folder(root: Path) -> Path:
    """``root/failed`` or ``root/rejected``; exit 2 naming both when neither exists (a mistyped PATH, say)."""
    for name in PARKED_FOLDERS:
        if (root / name).is_dir():
            return root / name
    typer.echo(f"PATH: {root} is not a drop folder (no {' or '.join(f'{n}/' for n in PARKED_FOLDERS)} in it)",
               err=True)
    raise typer.Exit(2)


def _inbox(root: Path, inbox: Path | None) -> Path:
    """The inbox to replay into: ``--inbox`` (relative to PATH unless absolute), else PATH/inbox or PATH/incoming."""
    if inbox is not None:
        found = inbox if inbox.is_absolute() else root / inbox
        if not found.is_dir():
            typer.echo(f"--inbox: {found} is not a folder", err=True)
            raise typer.Exit(2)
        return found
    for name in INBOX_NAMES:
        if (root / name).is_dir():
            return root / name
    typer.echo(f"PATH: {root} has no inbox/ or incoming/ folder; give --inbox (for social care, the "
               "connector's options.inbox)", err=True)
    raise typer.Exit(2)


@dropfolder_app.command("list")
def list_parked(
    path: Path = typer.Argument(..., help="Drop folder root (holds failed/ or rejected/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """Parked files with why each was refused (rule, field, position; never the content)."""
    from ...connectors.files import parked_files, parked_reason

    parked_in = _parked_folder(path)
    rows = []
    for parked in parked_files(parked_in):
        reason = parked_reason(parked)  # NAME.reason.txt, or a pre-upgrade JSON NAME.reason
        rows.append({"name": parked.name, "bytes": parked.stat().st_size, "rule": reason.get("rule", ""),
                     "field": reason.get("field", ""), "position": reason.get("position", ""),
                     "detail": reason.get("detail", ""), "failed_at": reason.get("failed_at", ""),
                     "problems": len(reason.get("problems", "").splitlines())})
    if as_json:
        typer.echo(jsonlib.dumps({"folder": str(parked_in), "parked": rows}, indent=2))
        return
    for row in rows:
        where = ", ".join(part for part in (row["field"], row["position"]) if part)
        typer.echo(f"{row['name']}: {row['rule'] or 'no reason file'}"
                   + (f" ({where})" if where else "") + (f": {row['detail']}" if row["detail"] else "")
                   + (f" [{row['problems']} problem(s)]" if row["problems"] else "")
                   + (f" at {row['failed_at']}" if row["failed_at"] else ""))
    typer.echo(f"{len(rows)} file(s) parked in {parked_in}")


@dropfolder_app.command("replay")
def replay(
    path: Path = typer.Argument(..., help="Drop folder root (holds failed/ or rejected/)."),
    name: str = typer.Argument(..., help="The parked file's name, as `mashlink dropfolder list` shows it."),
    inbox: Path | None = typer.Option(None, "--inbox", help="The inbox, when not PATH/inbox or PATH/incoming."),
) -> None:
    """Put a parked file back into the inbox (its reason file goes); the connector reads it on its next pass."""
    from ...connectors.files import DropFolder, parked_files

    parked_in = _parked_folder(path)
    folder = DropFolder(path, inbox_dir=_inbox(path, inbox), failed_name=parked_in.name)
    try:
        target = folder.replay(name)
    except FileNotFoundError as exc:
        waiting = [p.name for p in parked_files(parked_in)]
        typer.echo(f"{exc}; parked: {', '.join(waiting) or 'none'}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"replayed {name} into {target}")


def register(app: typer.Typer) -> None:
    app.add_typer(dropfolder_app, name="dropfolder")
