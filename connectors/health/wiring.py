"""Builders for health agencies: ``connector: fhir`` and ``connector: hl7v2``.

Called by ``mashlink.connectors.factory.build_connector`` with the agency's
context. What gets built, from the typed options:

* ``fhir`` with ``delivery: search`` (default): ``FhirSearchConnector``
  (Model 2, answers from the trust's FHIR API);
* ``fhir`` with ``delivery: task``: ``FhirTaskConnector`` plus a
  ``TaskPoller`` that publishes completed Tasks out of band (Model 3);
* ``hl7v2``: ``Hl7ReferralConnector`` (REF^I12 out, RRI^I12 back over MLLP);
* with ``adt_listen``: the MLLP ADT listener (alerts for watched children)
  and the watch list fed from received enquiries (SQLite in the state dir);
  with ``watch_cp_flags`` (fhir), children with a child-protection Flag on
  the FHIR server are watched too;
* always (unless ``events.enabled: false``): the ``agency-events`` consumer
  (:mod:`mashlink.connectors.events`) that delivers outcomes, decisions and
  escalations to the trust (a FHIR ``Communication`` and acknowledgement
  ``Task``, or an MDM^T02 over MLLP, or per ``options.events`` a web hook or
  drop folder), publishes the receipts, and, with local state, ends watching
  and Task polling when the outcome arrives.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from ...config.errors import ConfigError, ConfigIssue
from ...config.settings import HUB_SENDER_ID
from ..base import AgencyConnector
from ..factory import BackgroundService, BuiltConnector, ConnectorContext
from .adt import AdtFeed, WatchList
from .adt_service import (
    AdtListener,
    AlertPublisher,
    CompositeWatchList,
    FhirCpFlagWatchList,
    ReferralClosedEffect,
    WatchingConnector,
)
from .fhir_client import FhirClient
from .fhir_connector import FhirSearchConnector, FhirTaskDelivery
from .hl7_connector import Hl7ReferralConnector
from .hl7_mapping import DEFAULT_ED_LOCATIONS, LiveOptions
from .matching import health_scorer, load_configured_weights
from .options import (
    FhirOptions,
    Hl7v2Options,
    _HealthOptions,
    parse_options,
    resolve_token,
)
from .oauth import JwtClientCredentials, JwtClientCredentialsAuth
from .state import HealthState
from .tls import ClientTls, ServerTls, tls_problem


@dataclass
class _Closer:
    """Closes a resource (the FHIR HTTP client) when the process stops."""

    resource: FhirClient
    name: str = "fhir-client"

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.resource.close()


def _state(ctx: ConnectorContext, options: _HealthOptions) -> HealthState:
    return HealthState(options.state_file or ctx.state_path("health.sqlite"))


def _with_adt(ctx: ConnectorContext, options: _HealthOptions, connector: AgencyConnector, state: HealthState,
              services: list[BackgroundService], extra_watch: WatchList | None = None) -> AgencyConnector:
    """Add the ADT listener (and watching) when ``adt_listen`` is configured."""
    listen = options.adt_listen
    if listen is None:
        return connector
    alerts = AlertPublisher(ctx.broker_factory, ctx.agency.id, hub_id=HUB_SENDER_ID)
    watch: WatchList = state if extra_watch is None else CompositeWatchList([state, extra_watch])
    feed = AdtFeed(
        agency_id=ctx.agency.id, watch_list=watch, publish_alert=alerts,
        options=LiveOptions(agency_id=ctx.agency.id,
                            ed_locations=DEFAULT_ED_LOCATIONS | {c.upper() for c in listen.emergency_locations},
                            spec=listen.spec),
    )
    tls = _tls_context(ctx, listen.tls, "adt_listen.tls") if listen.tls is not None else None
    services.append(AdtListener(feed, listen.host, listen.port, listen.mllp(), validate=listen.validate_messages,
                                application=listen.application, on_stop=alerts.close, ssl_context=tls))
    return WatchingConnector(connector, state)


def _tls_context(ctx: ConnectorContext, tls: ServerTls | ClientTls, where: str) -> ssl.SSLContext:
    """The SSL context, or a ConfigError naming the option when a certificate or key cannot be used."""
    prefix = f"agencies[{ctx.agency_index}].options.{where}"
    missing = tls.missing_files()
    if missing:
        raise ConfigError([ConfigIssue(path=f"{prefix}.{name}", rule=f"no such file: {path}") for name, path in missing],
                          file=ctx.config_file)
    try:
        return tls.context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([ConfigIssue(path=prefix, rule=tls_problem(exc))], file=ctx.config_file) from None


def _oauth(ctx: ConnectorContext, settings: JwtClientCredentials, timeout_s: float,
           ca_file: Path | None) -> JwtClientCredentialsAuth:
    """The OAuth client, or a ConfigError naming the option when the private key cannot be read."""
    path = f"agencies[{ctx.agency_index}].options.oauth.private_key_file"
    try:
        auth = JwtClientCredentialsAuth(settings, timeout_s=timeout_s, ca_file=ca_file)
    except OSError as exc:
        raise ConfigError([ConfigIssue(path=path, rule=f"cannot read {settings.private_key_file}: "
                                                       f"{exc.strerror or type(exc).__name__}")],
                          file=ctx.config_file) from None
    try:
        auth.assertion()  # a key that cannot sign is found now, not at the first enquiry
    except Exception as exc:  # noqa: BLE001 - PyJWT/cryptography raise several types for a bad key
        auth.close()
        raise ConfigError([ConfigIssue(path=path, rule=f"not a usable {settings.algorithm} private key "
                                                       f"({type(exc).__name__})")], file=ctx.config_file) from None
    return auth


def _events(ctx: ConnectorContext, options: _HealthOptions, state: HealthState | None,
            services: list[BackgroundService], *, client: FhirClient | None = None,
            mllp: tuple[str, int, ssl.SSLContext | None, str | None] | None = None) -> None:
    """The ``agency-events`` consumer with the trust's channel; closes the referral locally when state is kept."""
    from ..events.options import FhirEventsOptions, Hl7EventsOptions
    from ..events.wiring import build_events_service, native_channel

    events = options.events or (FhirEventsOptions(channel="fhir") if client is not None
                                else Hl7EventsOptions(channel="hl7v2"))
    if not events.enabled:
        return
    channel: Any
    if isinstance(events, FhirEventsOptions):
        from ..events.fhir_channel import FhirEventChannel

        assert client is not None  # FhirOptions refuses events.channel fhir on hl7v2
        channel = FhirEventChannel(client, sender=ctx.settings.referrer_notify.contact.name,
                                   recipient=options.responder, state=state,
                                   acknowledgement_task=events.acknowledgement_task,
                                   cancel_open_tasks=events.cancel_open_tasks)
    elif isinstance(events, Hl7EventsOptions):
        from ..events.hl7_channel import Hl7EventChannel

        assert mllp is not None
        host, port, tls, server_name = mllp
        channel = Hl7EventChannel(events.host or host, events.port or port, timeout_s=events.timeout_s,
                                  sending_facility=events.sending_facility,
                                  receiving_facility=events.receiving_facility,
                                  ssl_context=tls if events.host is None else None, server_name=server_name)
    else:
        channel = native_channel(ctx, events, None)
    effects = [ReferralClosedEffect(state)] if state is not None else []
    services.append(build_events_service(ctx, events, channel, effects=effects))


def build_fhir(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: fhir``: search (Model 2) or Task delivery (Model 3), optional ADT listener."""
    from ..delivery.answers import AnswerPublisher
    from .fhir_tasks import FhirTaskConnector, TaskPoller

    options: FhirOptions = parse_options(FhirOptions, dict(ctx.agency.options), ctx.agency_index,
                                         file=ctx.config_file)
    token = resolve_token(options, ctx.agency_index, file=ctx.config_file)
    if options.ca_file is not None and not options.ca_file.is_file():
        raise ConfigError([ConfigIssue(path=f"agencies[{ctx.agency_index}].options.ca_file",
                                       rule=f"no such file: {options.ca_file}")], file=ctx.config_file)
    oauth = _oauth(ctx, options.oauth, options.timeout_s, options.ca_file) if options.oauth is not None else None
    client = FhirClient(options.client_settings(token), auth=oauth)
    agency_id = ctx.agency.id
    services: list[BackgroundService] = []
    needs_state = options.delivery == "task" or options.adt_listen is not None
    state = _state(ctx, options) if needs_state else None
    connector: AgencyConnector
    if options.delivery == "task":
        assert state is not None
        delivery = FhirTaskDelivery(agency_id, client, requester=options.responder)
        connector = FhirTaskConnector(agency_id, delivery, state, responder=options.responder)
        services.append(TaskPoller(delivery, state, AnswerPublisher(ctx.broker_factory, agency_id),
                                   interval_s=options.task_poll_interval_s))
        description = f"FHIR Task delivery to {options.base_url}"
    else:
        weights = load_configured_weights(ctx.agency.matching, ctx.agency_index, file=ctx.config_file)
        connector = FhirSearchConnector(agency_id, client, options.connector_options(agency_id, ctx.agency.matching),
                                        weights=weights)
        description = f"FHIR search of {options.base_url}"
    if state is not None:
        cp = (FhirCpFlagWatchList(client, agency_id, options.mapping_options(agency_id))
              if options.watch_cp_flags else None)
        connector = _with_adt(ctx, options, connector, state, services, cp)
    _events(ctx, options, state, services, client=client)
    services.append(_Closer(client))
    if options.adt_listen is not None:
        description += f"; ADT listener on {options.adt_listen.host}:{options.adt_listen.port}"
    return BuiltConnector(connector, services, description)


def build_hl7v2(ctx: ConnectorContext) -> BuiltConnector:
    """``connector: hl7v2``: REF^I12 to the trust's engine, RRI^I12 back; optional ADT listener."""
    options: Hl7v2Options = parse_options(Hl7v2Options, dict(ctx.agency.options), ctx.agency_index,
                                          file=ctx.config_file)
    tls = _tls_context(ctx, options.tls, "tls") if options.tls is not None else None
    weights = load_configured_weights(ctx.agency.matching, ctx.agency_index, file=ctx.config_file)
    connector: AgencyConnector = Hl7ReferralConnector(
        ctx.agency.id, options.host, options.port, timeout=options.timeout_s,
        sending_facility=options.sending_facility, receiving_facility=options.receiving_facility,
        ssl_context=tls, server_name=options.tls.server_name if options.tls is not None else None,
        scorer=health_scorer(ctx.agency.matching, weights),
    )
    services: list[BackgroundService] = []
    description = f"HL7 v2 REF/RRI I12 with {options.host}:{options.port}" + (" over TLS" if tls else "")
    state = None
    if options.adt_listen is not None:
        state = _state(ctx, options)
        connector = _with_adt(ctx, options, connector, state, services)
        description += f"; ADT listener on {options.adt_listen.host}:{options.adt_listen.port}"
    _events(ctx, options, state, services,
            mllp=(options.host, options.port, tls, options.tls.server_name if options.tls is not None else None))
    return BuiltConnector(connector, services, description)
