"""``mashlink dlq list|show|replay|discard``: operate on parked (dead-lettered) messages.

Listing and showing never remove anything. Replay and discard change what
happens to a message a partner sent, so both need an actor and a reason and
are written to the hub's tamper-evident audit log.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mashlink.broker.client import Broker

dlq_app = typer.Typer(help="Inspect, replay or discard dead-lettered messages.", no_args_is_help=True)


def _broker(config: Path | None) -> "tuple[Broker, object]":
    from mashlink.ops.wiring import hub_broker_factory, open_hub, settings_or_exit

    settings = settings_or_exit(config)
    service = open_hub(settings)
    broker = hub_broker_factory(settings, service.topology)()
    broker.declare([a.id for a in settings.agencies])
    return broker, service


@dlq_app.command("list")
def dlq_list(
    queue: str = typer.Option(None, help="Only the DLQ of this queue."),
    json: bool = typer.Option(False, "--json"),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Parked messages with their reason (nothing is removed)."""
    broker, service = _broker(config)
    try:
        parked = broker.dlq_list(queue)
    finally:
        broker.close()
        service.close()  # type: ignore[attr-defined]
    if json:
        typer.echo(jsonlib.dumps([p.model_dump(mode="json", exclude={"raw"}) for p in parked], indent=2))
        return
    table = Table(title=f"Parked messages: {len(parked)}")
    for col in ("message id", "queue", "reason", "attempts", "type", "parked at", "detail"):
        table.add_column(col)
    for p in parked:
        table.add_row(p.message_id, p.queue, p.reason.value, str(p.attempts), p.message_type or "",
                      p.parked_at.isoformat() if p.parked_at else "", p.detail[:80])
    Console().print(table)


@dlq_app.command("show")
def dlq_show(message_id: str, config: Path = typer.Option(None, "--config")) -> None:
    """One parked message with its reason and original body."""
    broker, service = _broker(config)
    try:
        parked = broker.dlq_get(message_id)
    finally:
        broker.close()
        service.close()  # type: ignore[attr-defined]
    if parked is None:
        typer.echo(f"no parked message {message_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(parked.model_dump_json(indent=2))


def _act(action: str, message_id: str, actor: str, reason: str, config: Path | None) -> None:
    broker, service = _broker(config)
    try:
        if broker.dlq_get(message_id) is None:
            typer.echo(f"no parked message {message_id!r}", err=True)
            raise typer.Exit(1)
        parked = broker.dlq_replay(message_id) if action == "replayed" else broker.dlq_discard(message_id)
        service.record_ops_action(actor, f"dlq.{action}", parked.message_id,  # type: ignore[attr-defined]
                                  f"{reason} (queue {parked.queue}, parked for {parked.reason.value})")
    finally:
        broker.close()
        service.close()  # type: ignore[attr-defined]
    typer.echo(f"{action} {parked.message_id} (queue {parked.queue}); audited")


@dlq_app.command("replay")
def dlq_replay(
    message_id: str,
    actor: str = typer.Option(..., help="Who is replaying (recorded in the audit log)."),
    reason: str = typer.Option(..., help="Why (e.g. the mapping was fixed)."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Republish a parked message to its original route (audited)."""
    _act("replayed", message_id, actor, reason, config)


@dlq_app.command("discard")
def dlq_discard(
    message_id: str,
    actor: str = typer.Option(..., help="Who is discarding (recorded in the audit log)."),
    reason: str = typer.Option(..., help="Why it is safe to discard."),
    config: Path = typer.Option(None, "--config"),
) -> None:
    """Remove a parked message for good (audited)."""
    _act("discarded", message_id, actor, reason, config)


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
