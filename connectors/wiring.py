"""Wire a connector to the configured broker: codec, topology and broker factory.

A connector process verifies the hub's signatures and signs as itself only
(its codec's ``signer`` is the agency id), so a compromised connector cannot
forge messages from the hub or another agency. Keys come from settings
(``signing_keys``), never from code.
"""

from __future__ import annotations

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.topology import Topology
from mashlink.config.settings import HUB_SENDER_ID, MashlinkSettings
from mashlink.connectors.runtime import BrokerFactory


def connector_codec(settings: MashlinkSettings, agency_id: str, hub_id: str = HUB_SENDER_ID) -> EnvelopeCodec:
    """Keys to verify the hub and to sign as ``agency_id``; nothing else."""
    return EnvelopeCodec(
        {hub_id: settings.signing_key(hub_id), agency_id: settings.signing_key(agency_id)},
        signer=agency_id,
    )


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
        return Broker(settings.broker_url, codec, topo, tls=settings.broker_tls,  # type: ignore[arg-type]
                      **broker_options)

    return factory
