"""``mashlink connector AGENCY_ID``: run one agency's connector until SIGTERM/SIGINT.

The process consumes the agency's enquiry queues on the configured broker
(red on its own consumer), answers through the agency's connector and
publishes responses to the hub. SIGTERM or Ctrl-C stops it gracefully:
no new work is taken, work in hand is answered, confirmed and acknowledged,
and the rest stays queued for the next start.

The connector is built from the agency's configuration by
``mashlink.connectors.registry`` (the connector kinds declared in
``config/connector_kinds.yaml``, or a plugin path), together with
the background services it owns (for a health trust: the ADT listener, the
FHIR Task poller, the events consumer; for police, education and social care:
export reload, drop-folder / inbox ingest, and the Model 3 answer endpoint or
answer inbox).
``--simulated`` answers from the simulated agency system (the ``reference``
connector) whatever is configured.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from ...config.errors import ConfigError
from ...config.settings import RunnerSettings, load_settings

if TYPE_CHECKING:
    from ...broker.topology import Topology
    from ...config.settings import MashlinkSettings


def _require_own_queues(settings: "MashlinkSettings", agency_id: str, topology: "Topology") -> None:
    """The agency's enquiry and events queues exist (or may be declared); else one paragraph and exit 2."""
    from ...broker.errors import BrokerError
    from ...connectors.wiring import connector_broker_factory
    from ...config.settings import mask_url
    from ..wiring import UNREACHABLE_EXIT

    try:
        with connector_broker_factory(settings, agency_id, topology=topology, reconnect_attempts=0)() as broker:
            broker.ensure_agency_queues(agency_id)
    except BrokerError as exc:
        typer.echo(f"error: connector {agency_id!r} cannot consume on the broker at {mask_url(settings.broker_url)}: "
                   f"{exc}. Check that the hub has started once against this broker and namespace "
                   f"({topology.namespace!r}: MASHLINK_BROKER_NAMESPACE), and the broker user's permissions "
                   "(`mashlink broker permissions`).", err=True)
        raise typer.Exit(UNREACHABLE_EXIT) from None


def runner_settings_from(base: RunnerSettings, **given: int | None) -> RunnerSettings:
    """``base`` (the settings' ``connector_runtime``) with only the options given on the command line.

    The defaults live in one place, ``RunnerSettings`` in config/settings.py, set by YAML
    ``connector_runtime:`` or ``MASHLINK_CONNECTOR_RUNTIME__*``; the command line only overrides.
    A value out of range exits 2 naming the option and the rule.
    """
    from pydantic import ValidationError

    from ...config.settings import with_overrides

    try:
        return with_overrides(base, {name: value for name, value in given.items() if value is not None},
                              "mashlink connector")
    except ValidationError as exc:
        problems = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    @app.command("connector")
    def connector(
        agency_id: str = typer.Argument(..., help="The agency id from the configuration (e.g. police-synth)."),
        simulated: bool = typer.Option(
            False, "--simulated", help="Answer from the simulated agency system instead of the configured connector."
        ),
        file: Path | None = typer.Option(None, "--file", "-f", help="YAML configuration file."),
        namespace: str = typer.Option(None, help="Broker topology namespace (default: settings broker_namespace)."),
        red_workers: int | None = typer.Option(
            None, help="Worker threads for red enquiries (default: settings connector_runtime.red_workers)."),
        standard_workers: int | None = typer.Option(
            None, help="Worker threads for amber and green (default: settings connector_runtime.standard_workers)."),
        inline_batch: int | None = typer.Option(
            None,
            help="Batch size for a connector that answers from memory (the reference connectors, the simulators and "
            "declared records channels); default: settings connector_runtime.inline_batch.",
        ),
    ) -> None:
        """Run one agency's connector against the configured broker until SIGTERM."""
        from ...broker.topology import Topology
        from ...connectors.factory import (
            ConnectorContext,
            ConnectorUnavailable,
            agency_index,
            build_connector,
        )
        from ...connectors.runtime import ConnectorRunner
        from ...connectors.wiring import connector_broker_factory
        from ...config.logging import configure_logging
        from ..wiring import require_broker, require_signing_key, warn_if_in_process

        try:
            settings = load_settings(file)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        configure_logging(settings.log_level, settings.log_json)
        warn_if_in_process(settings, "connector")
        require_broker(settings)  # one paragraph and exit 2 within 5 s, never a retry loop
        agency = next((a for a in settings.agencies if a.id == agency_id), None)
        if agency is None:
            known = ", ".join(a.id for a in settings.agencies) or "none"
            typer.echo(f"agency {agency_id!r} is not configured (agencies: {known})", err=True)
            raise typer.Exit(2)
        if not agency.enabled:
            typer.echo(f"agency {agency_id!r} is disabled in the configuration (enabled: false)", err=True)
            raise typer.Exit(2)
        topology = Topology(namespace or settings.broker_namespace)
        require_signing_key(settings, agency.id)  # its own private key, not another sender's
        _require_own_queues(settings, agency.id, topology)
        try:
            factory = connector_broker_factory(settings, agency.id, topology=topology)
            context = ConnectorContext(settings=settings, agency=agency, agency_index=agency_index(settings, agency.id),
                                       topology=topology, broker_factory=factory, simulated=simulated)
            runner_settings = runner_settings_from(settings.connector_runtime, red_workers=red_workers,
                                                   standard_workers=standard_workers, inline_batch=inline_batch)
            built = build_connector(context)
        except ConfigError as exc:
            typer.echo(f"cannot start connector {agency_id!r}: {exc}", err=True)
            raise typer.Exit(2) from None
        except (ConnectorUnavailable, KeyError, ValueError) as exc:
            typer.echo(f"cannot start connector {agency_id!r}: {exc}", err=True)
            raise typer.Exit(2) from None

        stop = threading.Event()

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        try:
            built.start_services()
        except OSError as exc:  # a listener port in use, a state file not writable
            typer.echo(f"cannot start connector {agency_id!r}: {exc}", err=True)
            raise typer.Exit(2) from None
        runner = ConnectorRunner(built.connector, factory, runner_settings)
        typer.echo(f"connector {agency_id} ({agency.kind.value}, {built.description or agency.connector}) running; "
                   "SIGTERM or Ctrl-C to stop", err=True)
        try:
            runner.run(stop)
        finally:
            built.stop_services()
        stats = runner.stats
        typer.echo(
            f"connector {agency_id} stopped: answered {stats.answered}, rejected {stats.rejected}, "
            f"retried {stats.retried}",
            err=True,
        )
