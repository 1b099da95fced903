"""``mashlink broker permissions``: least-privilege RabbitMQ users for the hub and each agency.

Prints the ``rabbitmqctl`` commands (or JSON) that give each configured
agency's broker user exactly what its connector needs (see
``broker/permissions.py``), for council IT provisioning a broker by hand or
checking one that was provisioned by ``deploy/rabbitmq-init.sh``.
"""

from __future__ import annotations

import json as jsonlib
import shlex
from pathlib import Path

import typer

broker_app = typer.Typer(help="Broker administration helpers.", no_args_is_help=True)


@broker_app.command("permissions")
def permissions(
    agencies: list[str] = typer.Argument(None, metavar="[AGENCY...]", help="Agency ids (default: every configured)."),
    vhost: str = typer.Option("/", "--vhost"),
    hub_user: str = typer.Option("hub", "--hub-user", help="The hub's broker user."),
    json: bool = typer.Option(False, "--json", help="The permissions as JSON instead of commands."),
    config: Path = typer.Option(None, "--config", help="YAML settings file."),
) -> None:
    """rabbitmqctl commands: the hub its namespace; each agency and the referrer notifier only their own queues."""
    from ...broker.permissions import agency_permissions, hub_permissions, notifier_permissions
    from ...broker.topology import Topology
    from ..wiring import settings_or_exit

    settings = settings_or_exit(config)
    topology = Topology(settings.broker_namespace)
    known = [a.id for a in settings.agencies]
    chosen = list(agencies or known)
    unknown = [a for a in chosen if a not in known]
    if unknown:
        typer.echo(f"not a configured agency: {', '.join(unknown)} (configured: {', '.join(known) or 'none'})",
                   err=True)
        raise typer.Exit(2)
    perms = [hub_permissions(topology, user=hub_user, vhost=vhost),
             *(agency_permissions(topology, a, vhost=vhost) for a in chosen),
             notifier_permissions(topology, vhost=vhost)]  # the referrer notifier (notify-referrers)
    if json:
        typer.echo(jsonlib.dumps([p.model_dump() for p in perms], indent=2))
        return
    for perm in perms:
        typer.echo(f"# {perm.user}: create the user first (rabbitmqctl add_user {shlex.quote(perm.user)} ...)")
        for command in perm.rabbitmqctl():
            typer.echo(" ".join(["rabbitmqctl", *(shlex.quote(part) for part in command)]))


def register(app: typer.Typer) -> None:
    app.add_typer(broker_app, name="broker")
