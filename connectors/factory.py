"""Build the connector a configured agency asks for: ``AgencyConfig.connector`` -> builder.

A *builder* takes a ``ConnectorContext`` (settings, the agency and its
position in the configuration, topology, a broker factory that signs as the
agency) and returns a ``BuiltConnector``: the ``AgencyConnector`` the
runtime drives, plus the background services the connector process owns
(an MLLP listener, a Task poller, an events consumer), started before the
runtime and stopped after it.

Which builder a connector name means is declared once, in
``config/connector_kinds.yaml``, and resolved by
:mod:`mashlink.connectors.registry` (``build_connector`` here is its
``build_channel``); a plugin path ``package.module:factory`` gets the same
context and may return a ``BuiltConnector`` or a bare ``AgencyConnector``.

Option errors are ``ConfigError``\\ s naming ``agencies[i].options.<field>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from ..broker.topology import Topology
from ..config.errors import ConfigIssue
from ..config.models import AgencyConfig
from ..config.settings import MashlinkSettings
from . import registry
from .base import AgencyConnector
from .runtime import BrokerFactory

log = structlog.get_logger(__name__)


class BackgroundService(Protocol):
    """Something a connector process runs beside the runtime (listener, poller, consumer)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class ConnectorContext:
    """Everything a builder may use; nothing global."""

    settings: MashlinkSettings
    agency: AgencyConfig
    agency_index: int
    topology: Topology
    broker_factory: BrokerFactory
    simulated: bool = False

    @property
    def config_file(self) -> Path | None:
        return self.settings.config_file

    def state_path(self, suffix: str) -> Path:
        """A file in the state directory that belongs to this agency's connector."""
        return self.settings.state_dir / f"connector-{self.agency.id}.{suffix}"


@dataclass
class BuiltConnector:
    """The connector and its background services, started and stopped in order."""

    connector: AgencyConnector
    services: list[BackgroundService] = field(default_factory=list)
    description: str = ""
    _started: list[BackgroundService] = field(default_factory=list, repr=False)

    def start_services(self) -> None:
        """Start services in order; if one fails, stop those already started and re-raise."""
        for service in self.services:
            try:
                service.start()
            except Exception:
                self.stop_services()
                raise
            self._started.append(service)

    def stop_services(self) -> None:
        """Stop started services in reverse order; one failing does not keep the others running."""
        while self._started:
            service = self._started.pop()
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                log.error("connector.service_stop_failed", service=service.name, error=type(exc).__name__)

    def service(self, name: str) -> BackgroundService:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(f"no service {name!r} (services: {', '.join(s.name for s in self.services) or 'none'})")


Builder = Callable[[ConnectorContext], "BuiltConnector | AgencyConnector"]

#: Declared connector names -> builder paths and options models: the registry's tables, from
#: ``config/connector_kinds.yaml`` (kept importable here for existing callers).
BUILTIN_BUILDERS = registry.BUILTIN_BUILDERS
OPTION_MODELS = registry.OPTION_MODELS
_load = registry.load_target


class ConnectorUnavailable(Exception):
    """The configured connector cannot be built in this installation (not implemented or plugin missing)."""


def build_reference(ctx: ConnectorContext) -> BuiltConnector:
    """The reference connector over the simulated agency system (``connector: reference`` or ``--simulated``)."""
    from .reference.factory import reference_connector

    from .events.wiring import native_events

    options = dict(ctx.agency.options) if ctx.agency.connector == "reference" else {}
    # The simulated agency's "tool" is a drop folder in the state directory: its events queue is consumed too.
    events, events_description = native_events(ctx, None, None)
    return BuiltConnector(reference_connector(ctx.agency.id, ctx.agency.kind, options=options),
                          [events] if events is not None else [], f"simulated; {events_description}")


def agency_index(settings: MashlinkSettings, agency_id: str) -> int:
    for i, agency in enumerate(settings.agencies):
        if agency.id == agency_id:
            return i
    raise KeyError(f"no agency {agency_id!r} is configured")


def build_connector(ctx: ConnectorContext, builders: Mapping[str, str] = BUILTIN_BUILDERS) -> BuiltConnector:
    """The connector for ``ctx.agency``: :func:`mashlink.connectors.registry.build_channel`."""
    return registry.build_channel(ctx, builders)


def options_issues(settings: MashlinkSettings) -> list[ConfigIssue]:
    """Problems in every agency's ``options``: :func:`mashlink.connectors.registry.options_issues`."""
    return registry.options_issues(settings)
