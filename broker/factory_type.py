"""The one name for "something that gives me a fresh Broker": ``BrokerFactory``.

Why a factory and not a Broker: kombu connections are not thread-safe, so
every thread of a hub or connector (consumer, outbox relay, deadline tracker,
ADT listener) asks the factory for its own Broker. The hub, the connector
runtime and the health connector all take one; defining the type here, in the
layer they all import, keeps them agreeing on it.
"""

from __future__ import annotations

from collections.abc import Callable

from .client import Broker

#: Called once per thread that needs to publish or consume; returns a new, unopened Broker.
BrokerFactory = Callable[[], Broker]

__all__ = ["BrokerFactory"]
