"""Build the connector a configured agency asks for: ``AgencyConfig.connector`` -> builder.

A *builder* takes a ``ConnectorContext`` (settings, the agency and its
position in the configuration, topology, a broker factory that signs as the
agency) and returns a ``BuiltConnector``: the ``AgencyConnector`` the
runtime drives, plus the background services the connector process owns
(an MLLP listener, a Task poller, an events consumer), started before the
runtime and stopped after it.

Built-in connector names map to builder *paths*, imported only when used, so
the CLI stays fast and a police deployment never imports FHIR code. A
connector that is not built in is a plugin path ``package.module:factory``
(checked by ``AgencyConfig``); its factory gets the same context and may
return a ``BuiltConnector`` or a bare ``AgencyConnector``.

Option errors are ``ConfigError``\\ s naming ``agencies[i].options.<field>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import structlog

from ..broker.topology import Topology
from ..config.errors import ConfigError, ConfigIssue
from ..config.models import AgencyConfig
from ..config.settings import MashlinkSettings
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

#: Built-in connector names -> builder paths (imported lazily).
BUILTIN_BUILDERS: Mapping[str, str] = MappingProxyType({
    "reference": "mashlink.connectors.factory:build_reference",
    "fhir": "mashlink.connectors.health.wiring:build_fhir",
    "hl7v2": "mashlink.connectors.health.wiring:build_hl7v2",
    "pole": "mashlink.connectors.police.wiring:build_pole",
    "ctf": "mashlink.connectors.education.wiring:build_ctf",
    "cin": "mashlink.connectors.social_care.wiring:build_social_care",
    "ssda903": "mashlink.connectors.social_care.wiring:build_social_care",
})

#: Connector names -> pydantic model of their options, for checking without building.
OPTION_MODELS: Mapping[str, str] = MappingProxyType({
    "fhir": "mashlink.connectors.health.options:FhirOptions",
    "hl7v2": "mashlink.connectors.health.options:Hl7v2Options",
    "pole": "mashlink.connectors.police.options:PoleOptions",
    "ctf": "mashlink.connectors.education.options:CtfOptions",
    "cin": "mashlink.connectors.social_care.options:SocialCareWiringOptions",
    "ssda903": "mashlink.connectors.social_care.options:SocialCareWiringOptions",
})


class ConnectorUnavailable(Exception):
    """The configured connector cannot be built in this installation (not implemented or plugin missing)."""


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


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
    """The connector for ``ctx.agency`` (the reference one when ``ctx.simulated``).

    Raises ``ConfigError`` for bad options, ``ConnectorUnavailable`` when the
    connector kind has no builder here or a plugin cannot be imported.
    """
    name = "reference" if ctx.simulated else ctx.agency.connector
    where = f"agencies[{ctx.agency_index}].connector"
    target = builders.get(name)
    if target is None:
        if ":" not in name:
            raise ConnectorUnavailable(
                f"{where}: connector {name!r} is not available in this installation yet "
                f"(available: {', '.join(sorted(builders))}); run with --simulated to answer from the "
                "simulated agency system")
        target = name
    try:
        builder = _load(target)
    except (ImportError, AttributeError) as exc:
        raise ConnectorUnavailable(f"{where}: cannot load connector factory {target!r}: {exc}") from None
    built = builder(ctx)
    if isinstance(built, BuiltConnector):
        return built
    if isinstance(built, AgencyConnector):
        return BuiltConnector(built, description=name)
    raise ConnectorUnavailable(f"{where}: factory {target!r} returned {type(built).__name__}, "
                               "not an AgencyConnector or BuiltConnector")


def options_issues(settings: MashlinkSettings) -> list[ConfigIssue]:
    """Problems in the ``options`` of every agency whose connector declares an options model.

    For ``mashlink config check``: validates shape only (no secrets read, no connections,
    no files looked at). Each issue names ``agencies[i].options.<field>`` and, when the
    value is in the YAML file, its line.
    """
    issues: list[ConfigIssue] = []
    for i, agency in enumerate(settings.agencies):
        path = OPTION_MODELS.get(agency.connector)
        if path is None:
            continue
        from .delivery.options import parse_connector_options

        try:
            parse_connector_options(_load(path), dict(agency.options), i, file=settings.config_file)
        except ConfigError as exc:
            issues.extend(exc.issues)
    return issues
