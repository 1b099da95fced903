"""``mashlink match confirm|reject REFERRAL``: a person's decision on an uncertain identity match.

An agency record whose link to a referral person the hub is not sure of
waits in the linked view's "for review" section. ``confirm`` moves its
findings into the chronology (the link becomes ``manual``, decided by the
actor); ``reject`` withholds them as probably about another family. The
record is named as the linked view shows it (``--subject`` the referral
person_id, ``--agency``, ``--system``, ``--record``); a reason is required.
A later decision on the same record supersedes the earlier one; both stay
on record and each is written to the tamper-evident audit trail. The actor
defaults to the shell user (``cli:<user>``).
"""

from __future__ import annotations

from pathlib import Path

import typer

match_app = typer.Typer(help="Confirm or reject an agency record's link to a referral person.",
                        no_args_is_help=True)


def _decide(confirmed: bool, referral: str, subject: str, agency: str, system: str, record: str, reason: str,
            actor: str | None, config: Path | None) -> None:
    from pydantic import ValidationError

    from mashlink.broker.codec import describe_validation_error
    from mashlink.hub.errors import InvalidInput, NotFound
    from mashlink.hub.match_review import MatchDecisionRequest
    from mashlink.ops.commands.dlq import shell_subject
    from mashlink.ops.wiring import open_hub, settings_or_exit

    try:
        request = MatchDecisionRequest(subject_person_id=subject, agency_id=agency, source_system=system,
                                       record_id=record, reason=reason, confirmed=confirmed)
    except ValidationError as exc:
        typer.echo(f"invalid match decision; nothing was stored: {describe_validation_error(exc)}", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit(config)
    service = open_hub(settings)
    try:
        stored = service.decide_match(referral, request, actor=actor or shell_subject())
    except InvalidInput as exc:
        typer.echo(f"invalid {exc.what}; nothing was stored:", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1) from None
    except NotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    finally:
        service.close()
    verb = "confirmed" if stored.confirmed else "rejected"
    typer.echo(f"{verb}: {stored.agency_id} {stored.source_system} record {stored.record_id} for person "
               f"{stored.subject_person_id} of referral {referral}, by {stored.by}; audited")


_SUBJECT = typer.Option(..., "--subject", help="The referral person (person_id) the record is linked to.")
_AGENCY = typer.Option(..., "--agency", help="The agency id that holds the record.")
_SYSTEM = typer.Option(..., "--system", help="The record's source system, as the linked view shows it.")
_RECORD = typer.Option(..., "--record", help="The record id in that system.")
_REASON = typer.Option(..., "--reason", help="Why (recorded in the audit trail).")
_ACTOR = typer.Option(None, "--actor", help="Who decided (default cli:<shell user>).")
_CONFIG = typer.Option(None, "--config", help="YAML settings file.")


@match_app.command("confirm")
def confirm(referral: str = typer.Argument(..., help="Referral id."), subject: str = _SUBJECT,
            agency: str = _AGENCY, system: str = _SYSTEM, record: str = _RECORD, reason: str = _REASON,
            actor: str = _ACTOR, config: Path = _CONFIG) -> None:
    """Confirm the record is about this person: its findings join the chronology."""
    _decide(True, referral, subject, agency, system, record, reason, actor, config)


@match_app.command("reject")
def reject(referral: str = typer.Argument(..., help="Referral id."), subject: str = _SUBJECT,
           agency: str = _AGENCY, system: str = _SYSTEM, record: str = _RECORD, reason: str = _REASON,
           actor: str = _ACTOR, config: Path = _CONFIG) -> None:
    """Reject the record's link to this person: its findings are withheld."""
    _decide(False, referral, subject, agency, system, record, reason, actor, config)


def register(app: typer.Typer) -> None:
    app.add_typer(match_app, name="match")
