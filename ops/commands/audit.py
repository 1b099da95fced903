"""``mashlink audit list|verify|anchor|disclosures``: read and prove the hub's audit trail.

``verify`` recomputes the hash chain (any edit, deletion, reordering or cut-off
tail is reported with its sequence number) and, given anchor files taken
earlier by ``anchor``, checks the chain still agrees with each of them, which
also catches a consistent rewrite of history by someone with database access.
Exit status 1 when anything is wrong, so a scheduled job can alert on it.
``disclosures --agency ID`` lists whom that agency's records were shown or
sent to (the disclosure log, ``mashlink.hub.disclosures``).
A typical schedule: ``mashlink audit anchor -o /mnt/worm/anchor-$(date +%F).json``
daily, and ``mashlink audit verify --anchor /mnt/worm/anchor-*.json`` after it.
With ``security.audit_anchor_dir`` set, the running hub writes an anchor there
itself at every scheduled check; ``verify --anchor-dir DIR`` checks them all.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

audit_app = typer.Typer(help="List, verify and anchor the hub's tamper-evident audit trail.",
                        no_args_is_help=True)


def _load_anchors(paths: list[Path]) -> list:  # type: ignore[type-arg]
    """Anchor files (one anchor, or a JSON list of them); exit 2 naming the file and field when unreadable."""
    from pydantic import TypeAdapter, ValidationError

    from ...broker.codec import describe_validation_error
    from ...hub.audit_anchor import AuditAnchor

    adapter = TypeAdapter(AuditAnchor | list[AuditAnchor])
    anchors: list[AuditAnchor] = []
    for path in paths:
        try:
            parsed = adapter.validate_json(path.read_bytes())
        except OSError as exc:
            typer.echo(f"cannot read anchor {path}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            typer.echo(f"anchor {path} is not a mashlink audit anchor: {describe_validation_error(exc)}", err=True)
            raise typer.Exit(2) from None
        anchors.extend(parsed if isinstance(parsed, list) else [parsed])
    return anchors


def _anchor_files(directory: Path) -> list[Path]:
    """Every anchor file in a directory the hub writes them to (security.audit_anchor_dir); exit 2 if unreadable."""
    from ...config.atomic_files import is_temporary

    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".json" and not is_temporary(p) and p.is_file())
    except OSError as exc:
        typer.echo(f"cannot read anchor directory {directory}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None


@audit_app.command("verify")
def verify(
    anchor: list[Path] = typer.Option(None, "--anchor", help="Anchor file(s) taken earlier by 'audit anchor'."),
    anchor_dir: list[Path] = typer.Option(None, "--anchor-dir", help="Check every anchor file (*.json) in this "
                                                                      "directory, e.g. security.audit_anchor_dir."),
    json: bool = typer.Option(False, "--json", help="The result as one JSON document."),
    config: Path = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """Recompute the chain and check it against anchors; exit 1 on any problem."""
    from ..wiring import open_hub, settings_or_exit

    files = list(anchor or [])
    for directory in anchor_dir or []:
        found = _anchor_files(directory)
        if not found:
            typer.echo(f"warning: no anchor files in {directory}", err=True)
        files.extend(found)
    anchors = _load_anchors(files)
    settings = settings_or_exit(config)
    service = open_hub(settings)
    try:
        result = service.verify_audit(anchors)
    finally:
        service.close()
    if json:
        typer.echo(jsonlib.dumps(result.model_dump(mode="json"), indent=2))
    else:
        state = "OK" if result.ok else f"{len(result.problems)} problem(s)"
        typer.echo(f"audit chain {state}: {result.events_checked} event(s) checked, head {result.head_sequence}, "
                   f"{result.anchors_checked} anchor(s) checked")
        for problem in result.problems:
            typer.echo(f"  event {problem.sequence}: {problem.kind}: {problem.detail}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def anchor_cmd(
    output: Path = typer.Option(None, "--output", "-o", help="Write the anchor here (atomically)."),
    config: Path = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """Print (or write) the chain head signed by the hub, to keep outside its database."""
    from ...config.atomic_files import atomic_write_text
    from ..wiring import open_hub, settings_or_exit

    settings = settings_or_exit(config)
    service = open_hub(settings)
    try:
        taken = service.audit_anchor()
    finally:
        service.close()
    text = taken.model_dump_json(indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    typer.echo(f"anchor for event {taken.sequence} written to {output}", err=True)


@audit_app.command("list")
def list_cmd(
    referral: str = typer.Option(None, "--referral", help="Only this referral's events."),
    action: str = typer.Option(None, "--action", help="Only this action (a prefix with '.*', e.g. dlq.*)."),
    after: int = typer.Option(0, "--after", help="Events after this sequence number."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    json: bool = typer.Option(False, "--json"),
    config: Path = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """Audit events in sequence order (ids, codes and counts only: no personal data)."""
    from ...hub.errors import InvalidInput
    from ..wiring import open_hub, settings_or_exit

    settings = settings_or_exit(config)
    service = open_hub(settings)
    try:
        events = service.audit_events(referral_id=referral, action=action, after_sequence=after, limit=limit)
    except InvalidInput as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        service.close()
    if json:
        typer.echo(jsonlib.dumps([e.model_dump(mode="json") for e in events], indent=2))
        return
    table = Table(title=f"Audit events: {len(events)}")
    for col in ("seq", "at", "actor", "action", "referral", "enquiry", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(str(e.sequence), e.at.isoformat(timespec="seconds"), e.actor, e.action, e.referral_id or "",
                      e.enquiry_id or "", (e.reason or "")[:60])
    Console(width=200).print(table)


def _when(value: str | None, option: str, *, end_of_day: bool = False):  # type: ignore[no-untyped-def]
    """A date (YYYY-MM-DD, a whole UTC day) or an ISO date-time (UTC when no offset); exit 2 otherwise."""
    from datetime import date, datetime, time, timedelta, timezone

    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: {value!r} is not a date (YYYY-MM-DD) or ISO date-time", err=True)
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@audit_app.command("disclosures")
def disclosures_cmd(
    agency: str = typer.Option(..., "--agency", help="The agency whose disclosed records to list."),
    since: str = typer.Option(None, "--since", help="From this date (YYYY-MM-DD, UTC) or date-time."),
    until: str = typer.Option(None, "--until", help="To this date, inclusive (YYYY-MM-DD), or before this "
                                                    "date-time."),
    limit: int = typer.Option(10_000, "--limit", min=1, max=1_000_000, help="At most this many rows."),
    json: bool = typer.Option(False, "--json", help="The rows as one JSON list."),
    config: Path = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """The disclosure log of one agency: who was shown or sent its records, when, why, on what basis."""
    from ...hub.disclosures import MAX_LIST, DisclosureEntry, list_disclosures
    from ..wiring import open_hub, settings_or_exit

    start, end = _when(since, "--since"), _when(until, "--until", end_of_day=True)
    settings = settings_or_exit(config)
    if agency not in {a.id for a in settings.agencies}:
        typer.echo(f"--agency: {agency!r} is not a configured agency "
                   f"({', '.join(sorted(a.id for a in settings.agencies))})", err=True)
        raise typer.Exit(2)
    service = open_hub(settings)
    entries: list[DisclosureEntry] = []
    try:
        with service.store.read() as session:
            while len(entries) < limit:
                page = list_disclosures(session, agency_id=agency, since=start, until=end,
                                        limit=min(MAX_LIST, limit - len(entries)),
                                        after_id=entries[-1].id if entries else 0)
                entries.extend(page)
                if not page:
                    break
    finally:
        service.close()
    if json:
        typer.echo(jsonlib.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    table = Table(title=f"Disclosures of {agency}'s records: {len(entries)}")
    for col in ("at", "who", "role", "purpose", "referral", "what", "lawful basis", "break glass"):
        table.add_column(col)
    for e in entries:
        who = f"{e.principal_name} ({e.principal_subject})" if e.principal_name else e.principal_subject
        table.add_row(e.at.isoformat(timespec="seconds"), who, e.role, e.purpose or "", e.referral_id or "",
                      e.what, ", ".join(e.lawful_basis), "YES" if e.break_glass else "")
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
