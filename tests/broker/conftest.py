"""Fixtures for broker tests: every test runs on memory:// and on real RabbitMQ.

Each test gets its own Topology namespace and deletes its queues and
exchanges at teardown, so tests never see each other's messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.broker.broker_helpers import AGENCY, KEYS
from mashlink.broker import Broker, EnvelopeCodec, Topology


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def codec() -> EnvelopeCodec:
    return EnvelopeCodec(KEYS)


@pytest.fixture
def topology(unique_name: str) -> Topology:
    return Topology(f"t{unique_name}", delivery_limit=10)


@pytest.fixture
def make_broker(broker_url: str, codec: EnvelopeCodec, topology: Topology) -> Iterator[Callable[..., Broker]]:
    """Factory of Brokers on this test's URL and namespace; topology deleted at teardown."""
    made: list[Broker] = []

    def factory(**kwargs: object) -> Broker:
        options: dict[str, object] = {"retry_backoff_s": 0.02, "retry_backoff_max_s": 0.2, "max_attempts": 3,
                                      "confirm_timeout_s": 10.0}
        options.update(kwargs)
        broker = Broker(broker_url, codec, topology, **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield factory
    if made:
        cleaner = Broker(broker_url, codec, topology)
        try:
            cleaner.delete_topology([AGENCY])
        finally:
            cleaner.close()
        for broker in made:
            broker.close()


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    b = make_broker()
    b.declare([AGENCY])
    return b


