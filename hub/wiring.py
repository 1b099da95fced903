"""The hub's brokers, built from settings: one place for every process that speaks as the hub.

Why here and not in ops/: the command line (``mashlink hub``, ``status``,
``dlq``, the demo) and the benchmarks (bench/) both start hub runtimes, and
bench may not import ops (ops drives bench). The hub layer may use broker/
and config/, which is all this needs. The connector side's counterpart is
:func:`mashlink.connectors.wiring.connector_broker_factory`.
"""

from __future__ import annotations

from ..broker.client import Broker
from ..broker.topology import Topology
from ..config.settings import MashlinkSettings
from .core import hub_codec
from ..broker.factory_type import BrokerFactory

__all__ = ["BrokerFactory", "hub_broker_factory"]


def hub_broker_factory(settings: MashlinkSettings, topology: Topology) -> BrokerFactory:
    """Brokers that sign as the hub and verify every configured sender (one Broker per thread).

    A factory rather than a Broker because kombu connections are not
    thread-safe: each hub lane (consumer, outbox relay, tracker) makes its own.
    """
    codec = hub_codec(settings)
    return lambda: Broker(settings.broker_url, codec, topology, settings=settings.broker_runtime,
                          tls=settings.broker_tls)
