"""Wire a connector to the configured broker: codec, topology and broker factory.

A connector process verifies the hub's signatures with the hub's public keys
and signs as itself only, with its own Ed25519 private key, so a compromised
connector cannot forge messages from the hub or another agency. Keys come
from settings (``signing.private_key``, ``signing.public_keys``), never from
code.
"""

from __future__ import annotations

from ..broker.client import Broker
from ..broker.codec import EnvelopeCodec, settings_codec
from ..broker.topology import Topology
from ..config.settings import HUB_SENDER_ID, MashlinkSettings
from .runtime import BrokerFactory


def connector_codec(settings: MashlinkSettings, agency_id: str, hub_id: str = HUB_SENDER_ID) -> EnvelopeCodec:
    """The hub's public keys to verify it, and ``agency_id``'s own private key to sign; nothing else.

    The connector holds no private key but its own, so it cannot sign as the
    hub, another agency or the referrer notifier. Messages from the hub are
    exempt from the freshness window: its outbox may hold an enquiry for as
    long as the broker is down, and an enquiry waits in this agency's queue
    while the connector is offline.
    """
    return settings_codec(settings, signs_as=agency_id, verifies=[hub_id], trusted={hub_id})


def connector_broker_factory(
    settings: MashlinkSettings,
    agency_id: str,
    *,
    topology: Topology | None = None,
    hub_id: str = HUB_SENDER_ID,
    **broker_options: object,
) -> BrokerFactory:
    """A factory of Brokers for one agency's connector (one Broker per lane thread)."""
    codec = connector_codec(settings, agency_id, hub_id)
    topo = topology or Topology(settings.broker_namespace)

    def factory() -> Broker:
        return Broker(settings.broker_url, codec, topo, settings=settings.broker_runtime,  # type: ignore[arg-type]
                      tls=settings.broker_tls, **broker_options)

    return factory
