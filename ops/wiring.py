"""Build the hub's moving parts from settings, once, for every command.

The CLI commands (hub, refer, status, dlq, demo) all need the same things:
settings loaded and checked, a HubService on the configured database, and a
factory of Broker instances (one per thread; kombu connections are not
thread-safe). Keeping that here means the commands stay small and agree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from mashlink.broker.client import Broker
from mashlink.broker.topology import Topology
from mashlink.config.errors import ConfigError
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.service import HubService, hub_codec
from mashlink.ops.logging import configure_logging

BrokerFactory = Callable[[], Broker]


def settings_or_exit(config: Path | None = None, **overrides: object) -> MashlinkSettings:
    """Load settings; on a configuration error print the precise problems and exit 1."""
    try:
        settings = load_settings(config, **overrides)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    configure_logging(settings.log_level, json=settings.log_json)
    for warning in settings.warnings():
        typer.echo(f"warning: {warning}", err=True)
    return settings


def hub_broker_factory(settings: MashlinkSettings, topology: Topology) -> BrokerFactory:
    """Brokers that sign as the hub and verify every configured sender."""
    codec = hub_codec(settings)
    return lambda: Broker(settings.broker_url, codec, topology)


def open_hub(settings: MashlinkSettings) -> HubService:
    """The hub service on the configured database, migrated to the current schema."""
    return HubService.open(settings)
