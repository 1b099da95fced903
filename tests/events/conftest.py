"""Fixtures of the agency events tests: both transports."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    """memory:// (embedded) or the real RabbitMQ: the same behaviour is expected on both."""
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("amqp_url"))
