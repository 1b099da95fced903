"""open_transport: the one place a broker URL's scheme is looked at."""

from __future__ import annotations

import pytest

from mashlink.broker import Broker, EnvelopeCodec, Topology, open_transport
from mashlink.broker.link import AmqpTransport
from mashlink.broker.memory import MemoryTransport
from mashlink.config.settings import BrokerRuntimeSettings
from tests.broker.broker_helpers import KEYS


def test_the_scheme_picks_the_implementation_and_settings_reach_it() -> None:
    knobs = BrokerRuntimeSettings(publish_window=64, confirm_timeout_s=3.0, heartbeat_s=7, polling_interval_s=0.5)
    memory = open_transport("memory://", knobs)
    assert isinstance(memory, MemoryTransport)
    assert (memory.embedded, memory.multiple_ack, memory.polling_interval_s) == (True, False, 0.5)
    amqp = open_transport("amqp://u:p@h1:5672//;AMQP://u:p@h2:5672//", knobs)  # nothing connects yet
    assert isinstance(amqp, AmqpTransport) and amqp.current_connection is None
    assert (amqp.embedded, amqp.multiple_ack) == (False, True)
    assert (amqp.window, amqp.confirm_timeout_s, amqp.heartbeat_s, len(amqp.hosts)) == (64, 3.0, 7, 2)


def test_an_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="scheme 'redis' is not one of memory, amqp, amqps"):
        open_transport("redis://localhost:6379/0")


def test_a_broker_on_memory_is_embedded_and_publishes_through_its_transport() -> None:
    with Broker("memory://", EnvelopeCodec(KEYS), Topology("ttransport"), publish_window=5) as broker:
        assert broker.is_embedded and isinstance(broker.link, MemoryTransport)
        assert broker.settings.publish_window == 5
