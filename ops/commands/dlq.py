"""``mashlink dlq list|show|replay|discard``: operate on parked (dead-lettered) messages.

Listing and showing never remove anything. Ops see no personal data: a
listing carries metadata only, and ``show`` prints the body redacted (ids,
codes and message metadata kept, every value that could be personal data
replaced by a size marker). ``show --reveal --reason ...`` prints the full
body only when the permission table grants ``dlq.body_read`` to the role the
shell user acts in (``--role``), and records the read (audit chain and the
sending agency's disclosure log) before printing it. Replay and discard
change what happens to a message a partner sent, so both need a reason and
are written to the hub's tamper-evident audit log; the actor defaults to the
shell user (``cli:<user>``).

The shell user is a principal like any other (``cli:<user>``, issuer
``local-shell``) and goes through the same authorisation function and
table as the HTTP API. The shell is not an identity provider: anyone who can
run this command on the hub host can name a role, so the table here is a
policy guard and the audit record is the control.
"""

from __future__ import annotations

import getpass
import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...config.security import Permission, Role

if TYPE_CHECKING:
    from ...broker.client import Broker
    from ...config.settings import MashlinkSettings
    from ...hub.auth.principal import Principal
    from ...hub.service import HubService

dlq_app = typer.Typer(help="Inspect, replay or discard dead-lettered messages.", no_args_is_help=True)

#: Roles a shell user may act in here (the table decides what each may do).
CLI_ROLES = (Role.OPS.value, Role.AUDITOR.value)
SHELL_ISSUER = "local-shell"


def shell_subject() -> str:
    """``cli:<user>``: the shell user, as recorded in the audit trail."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (e.g. a container without a passwd entry)
        user = "unknown"
    return f"cli:{user}"


def shell_principal(role: Role) -> "Principal":
    from ...hub.auth.principal import Principal

    return Principal(kind="person", subject=shell_subject(), roles=frozenset({role}), issuer=SHELL_ISSUER)


def _authorised(settings: "MashlinkSettings", principal: "Principal", permission: Permission) -> None:
    """Exit 2 with the table's reason when the shell user's role does not hold ``permission``."""
    from ...hub.auth.authorise import authorise

    decision = authorise(principal, permission, settings.security)
    if not decision.allowed:
        typer.echo(f"refused: {decision.reason}. The permission table (security.permissions in the "
                   f"configuration) must grant {permission.value} to this role.", err=True)
        raise typer.Exit(2)


def _open(config: Path | None) -> "tuple[MashlinkSettings, Broker, HubService]":
    from ...hub.wiring import hub_broker_factory
    from ..wiring import open_hub, settings_or_exit

    settings = settings_or_exit(config)
    service = open_hub(settings)
    broker = hub_broker_factory(settings, service.topology)()
    broker.declare([a.id for a in settings.agencies])
    return settings, broker, service


def _role(role: str) -> Role:
    if role not in CLI_ROLES:
        typer.echo(f"--role: {role!r} is not one of {', '.join(CLI_ROLES)}", err=True)
        raise typer.Exit(2)
    return Role(role)


@dlq_app.command("list")
def dlq_list(
    queue: str = typer.Option(None, help="Only the DLQ of this queue."),
    json: bool = typer.Option(False, "--json", help="Metadata as JSON (never a body)."),
    role: str = typer.Option(Role.OPS.value, help=f"Role the shell user acts in: {', '.join(CLI_ROLES)}."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Parked messages with their reason: metadata only (nothing is removed)."""
    from ...broker.redact import parked_metadata

    acting = _role(role)
    settings, broker, service = _open(config)
    try:
        _authorised(settings, shell_principal(acting), Permission.DLQ_READ)
        parked = broker.dlq_list(queue)
    finally:
        broker.close()
        service.close()
    rows = [parked_metadata(p) for p in parked]
    if json:
        typer.echo(jsonlib.dumps(rows, indent=2))
        return
    table = Table(title=f"Parked messages: {len(rows)}")
    for col in ("message id", "queue", "reason", "attempts", "type", "parked at", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(escape(row["message_id"]), escape(row["queue"]), row["reason"], str(row["attempts"]),
                      escape(row["message_type"] or ""), row["parked_at"] or "", escape(row["detail"][:80]))
    Console().print(table)


@dlq_app.command("show")
def dlq_show(
    message_id: str,
    reveal: bool = typer.Option(False, "--reveal", help="Print the full body (needs dlq.body_read; audited)."),
    reason: str = typer.Option(None, help="Why the full body is needed (required with --reveal; audited)."),
    role: str = typer.Option(Role.OPS.value, help=f"Role the shell user acts in: {', '.join(CLI_ROLES)}."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """One parked message: reason and metadata, its body redacted unless --reveal."""
    from ...hub.dead_letters import DeadLetterView, record_body_read

    acting = _role(role)
    if reveal and not (reason and reason.strip()):
        typer.echo("--reveal needs --reason \"...\" (why the full body is needed; recorded in the audit trail)",
                   err=True)
        raise typer.Exit(2)
    settings, broker, service = _open(config)
    try:
        principal = shell_principal(acting)
        _authorised(settings, principal, Permission.DLQ_READ)
        if reveal:
            _authorised(settings, principal, Permission.DLQ_BODY_READ)
        parked = broker.dlq_get(message_id)
        if parked is None:
            typer.echo(f"no parked message {message_id!r}", err=True)
            raise typer.Exit(1)
        if reveal:
            record_body_read(service, principal, acting, parked, reason)  # recorded before it is shown
            view = DeadLetterView.full_of(parked)
        else:
            view = DeadLetterView.redacted_of(parked)
    finally:
        broker.close()
        service.close()
    typer.echo(view.model_dump_json(indent=2))


def _act(action: str, message_id: str, actor: str | None, reason: str, config: Path | None) -> None:
    from ...broker.errors import BrokerError, PublishError
    from ...hub.dead_letters import ops_reason

    if not reason.strip():
        typer.echo("--reason must say why", err=True)
        raise typer.Exit(2)
    settings, broker, service = _open(config)
    try:
        _authorised(settings, shell_principal(Role.OPS), Permission.DLQ_ACT)
        if broker.dlq_get(message_id) is None:
            typer.echo(f"no parked message {message_id!r}", err=True)
            raise typer.Exit(1)
        try:
            parked = broker.dlq_replay(message_id) if action == "replayed" else broker.dlq_discard(message_id)
        except (BrokerError, PublishError) as exc:  # e.g. the broker refused the republish: the copy stays
            verb = "replay" if action == "replayed" else "discard"
            typer.echo(f"could not {verb} {message_id!r}: "
                       f"{str(exc)[:500]}. The message is still parked; nothing was audited. Check the broker "
                       "user's permissions (mashlink broker permissions) and that the hub has declared the "
                       "topology.", err=True)
            raise typer.Exit(2) from None
        service.record_ops_action(actor or shell_subject(), f"dlq.{action}", parked.message_id,
                                  ops_reason(reason, parked))
    finally:
        broker.close()
        service.close()
    typer.echo(f"{action} {parked.message_id} (queue {parked.queue}); audited")


@dlq_app.command("replay")
def dlq_replay(
    message_id: str,
    actor: str = typer.Option(None, help="Who is replaying (recorded in the audit log; default cli:<shell user>)."),
    reason: str = typer.Option(..., help="Why (e.g. the mapping was fixed)."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Republish a parked message to its original route (audited)."""
    _act("replayed", message_id, actor, reason, config)


@dlq_app.command("discard")
def dlq_discard(
    message_id: str,
    actor: str = typer.Option(None, help="Who is discarding (recorded in the audit log; default cli:<shell user>)."),
    reason: str = typer.Option(..., help="Why it is safe to discard."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Remove a parked message for good (audited)."""
    _act("discarded", message_id, actor, reason, config)


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
