"""``mashlink police intake FILE...``: child-coming-to-notice / PPN records become MASH referrals.

The force exports its POLE records (JSON documents and/or a CSV set); every
CCTN / PPN event about a child in them is submitted to the hub as a referral
(source 6, police), fanned out to the configured agencies and audited, in one
database transaction each (:class:`~mashlink.connectors.police.referrals.CctnIntake`).
Importing the same export again submits nothing twice: referral ids are
derived from the force and the occurrence reference.

Output names referral ids, occurrence references and person ids only, never a
name. Exit status: 1 when nothing usable was read (no file readable, no
record) or a referral could not be stored, 0 otherwise (records the export
itself rejected are listed on stderr).
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

police_app = typer.Typer(name="police", help="Police POLE exports: CCTN/PPN intake into the hub.",
                         no_args_is_help=True)


@police_app.command("intake")
def intake(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="POLE export files (a CSV set together)."),
    config: Path | None = typer.Option(None, "--file", "-f", help="YAML configuration file."),
    agencies: list[str] = typer.Option(None, "--agency", "-a",
                                       help="Send enquiries to these agencies only (repeatable; default all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    via_broker: str = typer.Option(None, "--via-broker", metavar="POLICE_AGENCY_ID",
                                   help="Send over the broker signed as this police agency (from the force's side, "
                                        "without the hub's database); the hub fans out to every agency."),
) -> None:
    """Submit the CCTN / PPN records in POLE exports to the hub as referrals."""
    from ...connectors.police.referrals import CctnIntake, CctnReferralBuilder, IntakeReport
    from ...connectors.police.store import PoleStore
    from ...hub.errors import HubError
    from ...connectors.referral_sender import ReferralSink
    from ..wiring import open_hub, settings_or_exit

    settings = settings_or_exit(config)
    enabled = {a.id for a in settings.enabled_agencies()}
    unknown = sorted(set(agencies or []) - enabled)
    if unknown:
        typer.echo(f"--agency: not an enabled agency: {', '.join(unknown)} "
                   f"(enabled: {', '.join(sorted(enabled)) or 'none'})", err=True)
        raise typer.Exit(2)
    if via_broker is not None:
        police = {a.id for a in settings.agencies if a.kind.value == "police"}
        if via_broker not in police:
            typer.echo(f"--via-broker: {via_broker!r} is not a configured police agency "
                       f"(police agencies: {', '.join(sorted(police)) or 'none'})", err=True)
            raise typer.Exit(2)
        if agencies:
            typer.echo("--agency cannot be used with --via-broker: the hub chooses the agencies", err=True)
            raise typer.Exit(2)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"no such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)

    store = PoleStore.load(files)
    for error in store.file_errors:
        typer.echo(f"cannot read {error}", err=True)
    for rejected in store.rejected:
        typer.echo(f"rejected {rejected}", err=True)
    if len(store) == 0:
        typer.echo("nothing usable was read: no POLE person record", err=True)
        raise typer.Exit(1)

    builder = CctnReferralBuilder(default_local_authority=settings.local_authority.code)
    report = IntakeReport()
    failed: list[tuple[str, str]] = []
    if via_broker is not None:
        from ...broker.topology import Topology
        from ...connectors.referral_sender import BrokerReferralSink
        from ...connectors.wiring import connector_broker_factory

        sink: ReferralSink = BrokerReferralSink(connector_broker_factory(
            settings, via_broker, topology=Topology(settings.broker_namespace)), via_broker)
        close = sink.close  # type: ignore[attr-defined]
    else:
        from ...hub.referral_sink import HubReferralSink

        hub = open_hub(settings)
        sink = HubReferralSink(hub)
        close = hub.close
    try:
        intake_ = CctnIntake(sink, builder)
        for record in store.records:
            try:
                one = intake_.submit([record], agencies=agencies or None)
            except HubError as exc:  # e.g. no RAG timescales for the PPN's local authority
                refs = [str(f.attributes.get("reference") or f.source.record_id) for f in builder.cctn_findings(record)]
                failed.extend((ref, str(exc)) for ref in refs)
                continue
            except Exception as exc:  # noqa: BLE001 - --via-broker: unreachable broker or unconfirmed publish
                if via_broker is None:
                    raise
                refs = [str(f.attributes.get("reference") or f.source.record_id) for f in builder.cctn_findings(record)]
                failed.extend((ref, f"not sent: {type(exc).__name__}: {exc}"[:300]) for ref in refs)
                continue
            report.submitted += one.submitted
            report.already_submitted += one.already_submitted
            report.skipped += one.skipped
    finally:
        close()

    cctn_count = sum(len(builder.cctn_findings(r)) for r in store.records)
    if as_json:
        typer.echo(jsonlib.dumps({
            "persons": len(store), "rejected_records": len(store.rejected), "unreadable_files": len(store.file_errors),
            "cctn_records": cctn_count, "submitted": report.submitted, "already_submitted": report.already_submitted,
            "skipped": [{"reference": r, "reason": why} for r, why in report.skipped],
            "failed": [{"reference": r, "reason": why} for r, why in failed],
        }, indent=2))
    else:
        for referral_id in report.submitted:
            typer.echo(f"submitted referral {referral_id}")
        for referral_id in report.already_submitted:
            typer.echo(f"already submitted: referral {referral_id}")
        for reference, reason in report.skipped:
            typer.echo(f"skipped {reference}: {reason}")
        for reference, reason in failed:
            typer.echo(f"failed {reference}: {reason}")
        typer.echo(f"{len(store)} person record(s), {cctn_count} CCTN/PPN record(s): {len(report.submitted)} "
                   f"submitted, {len(report.already_submitted)} already submitted, {len(report.skipped)} skipped, "
                   f"{len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(police_app, name="police")
