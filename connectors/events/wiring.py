"""Build the ``agency-events`` service of a connector process from ``options.events``.

Called by each connector kind's builder (``connectors/*/wiring.py``) with the
channel it chose; :func:`native_channel` builds the web hook or drop folder
channel of police, education and social care from ``options.events`` and
their ``delivery`` (the same URL and key, or ``<delivery.path>/events``).
Problems are ``ConfigError``\\ s naming ``agencies[i].options.events.<field>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...config.errors import ConfigError, ConfigIssue
from ..delivery.options import (
    DropFolderDeliveryOptions,
    WebhookDeliveryOptions,
    _read_key,
    resolve_path,
)
from .channels import DropFolderEventChannel, EventChannel, WebhookEventChannel
from .consumer import AgencyEventsConsumer, EventsHandler, LocalEffect
from .decode import EVENT_KINDS
from .options import (
    AnyEventsOptions,
    DropFolderEventsOptions,
    WebhookEventsOptions,
)
from .receipts import ReceiptPublisher
from .render import EventRenderer, default_agency_templates_dir
from .store import EventStore
from ..factory import ConnectorContext
from ..referrer.render import TemplateProblem
from ..runtime import BrokerFactory
from ..wiring import connector_broker_factory


def _issue(ctx: ConnectorContext, field: str, rule: str) -> ConfigError:
    return ConfigError([ConfigIssue(path=f"agencies[{ctx.agency_index}].options.events.{field}", rule=rule)],
                       file=ctx.config_file)


def default_native_options(delivery: WebhookDeliveryOptions | DropFolderDeliveryOptions | None
                           ) -> WebhookEventsOptions | DropFolderEventsOptions:
    """Events go the way enquiries do: the delivery's web hook, else a drop folder."""
    if isinstance(delivery, WebhookDeliveryOptions):
        return WebhookEventsOptions(channel="webhook")
    return DropFolderEventsOptions(channel="drop_folder")


def native_channel(ctx: ConnectorContext, options: AnyEventsOptions,
                   delivery: WebhookDeliveryOptions | DropFolderDeliveryOptions | None) -> EventChannel:
    """The web hook or drop folder channel of a police, education or social care connector."""
    state_dir = ctx.settings.state_dir
    if isinstance(options, WebhookEventsOptions):
        url = options.url or (delivery.url if isinstance(delivery, WebhookDeliveryOptions) else None)
        if url is None:
            raise _issue(ctx, "url", "required: no delivery web hook to default to")
        if options.key_env is not None or options.key_file is not None:
            key, sub, problem = _read_key("key", options.key_env, options.key_file, None)
            if key is None:
                raise _issue(ctx, sub, problem)
        elif isinstance(delivery, WebhookDeliveryOptions):
            key, sub, problem = delivery.resolve_key()
            if key is None:
                raise ConfigError([ConfigIssue(path=f"agencies[{ctx.agency_index}].options.delivery.{sub}",
                                               rule=problem)], file=ctx.config_file)
        else:
            raise _issue(ctx, "key_env", "give key_env or key_file (the web-hook key is never in the YAML)")
        verify = options.verify_tls
        return WebhookEventChannel(url, key, timeout_s=options.timeout_s,
                                   verify_tls=str(resolve_path(state_dir, verify)) if isinstance(verify, Path)
                                   else verify)
    if isinstance(options, DropFolderEventsOptions):
        if options.path is not None:
            root = resolve_path(state_dir, options.path)
        elif isinstance(delivery, DropFolderDeliveryOptions):
            root = resolve_path(state_dir, delivery.path) / "events"
        else:
            root = ctx.state_path("events")
        return DropFolderEventChannel(root)
    raise _issue(ctx, "channel", f"{options.channel} is for health connectors; "
                                 "this connector takes webhook or drop_folder")


def events_broker_factory(ctx: ConnectorContext, options: AnyEventsOptions) -> BrokerFactory:
    """Brokers signing as the agency, with the events retry policy (the broker parks only after ours)."""
    return connector_broker_factory(ctx.settings, ctx.agency.id, topology=ctx.topology,
                                    max_attempts=options.max_attempts + 2,
                                    retry_backoff_s=options.retry_backoff_s,
                                    retry_backoff_max_s=options.retry_backoff_max_s)


def build_events_service(ctx: ConnectorContext, options: AnyEventsOptions, channel: EventChannel, *,
                         effects: Sequence[LocalEffect] = ()) -> AgencyEventsConsumer:
    """The ``agency-events`` service; ConfigError when the templates are missing.

    A web hook channel with ``ack_listen`` also serves the signed acknowledgement endpoint.
    """
    templates = (resolve_path(ctx.settings.state_dir, options.templates_dir) if options.templates_dir
                 else default_agency_templates_dir())
    try:
        renderer = EventRenderer(templates, ctx.agency.kind, ctx.settings.referrer_notify.contact,
                                 ctx.settings.local_authority.name)
    except TemplateProblem as exc:
        raise _issue(ctx, "templates_dir", str(exc)) from None
    missing = renderer.check(EVENT_KINDS)
    if missing:
        raise _issue(ctx, "templates_dir", f"no usable template for {', '.join(missing)} in {templates}")
    store_path = (resolve_path(ctx.settings.state_dir, options.state_file) if options.state_file
                  else ctx.state_path("events.sqlite"))
    factory = events_broker_factory(ctx, options)
    handler = EventsHandler(ctx.agency.id, channel, renderer, EventStore(store_path),
                            ReceiptPublisher(factory, ctx.agency.id), max_attempts=options.max_attempts,
                            effects=effects, ack_scan_batch=options.ack_scan_batch)
    ack = None
    if isinstance(options, WebhookEventsOptions) and options.listen is not None \
            and isinstance(channel, WebhookEventChannel):
        from .ack_endpoint import AckEndpoint

        host, port = options.listen
        ack = AckEndpoint(handler, channel.key, host=host, port=port, path=options.ack_path,
                          public_url=options.ack_url, window_s=options.ack_window_s)
    return AgencyEventsConsumer(factory, ctx.agency.id, handler, ack_scan_interval_s=options.ack_scan_interval_s,
                                ack_endpoint=ack)


def native_events(ctx: ConnectorContext, events: AnyEventsOptions | None,
                  delivery: WebhookDeliveryOptions | DropFolderDeliveryOptions | None, *,
                  effects: Sequence[LocalEffect] = ()) -> tuple[AgencyEventsConsumer | None, str]:
    """The police / education / social care ``agency-events`` service and its start-up line (None when disabled)."""
    options = events or default_native_options(delivery)
    if not options.enabled:
        return None, "events queue not consumed here (events.enabled: false)"
    channel = native_channel(ctx, options, delivery)
    where = channel.url if isinstance(channel, WebhookEventChannel) else \
        str(channel.root) if isinstance(channel, DropFolderEventChannel) else channel.name
    return build_events_service(ctx, options, channel, effects=effects), f"events by {channel.name} to {where}"
