"""Shared test fixtures: real services, never mocks.

Tests that need RabbitMQ or PostgreSQL take the ``amqp_url`` or
``postgres_url`` fixture. Where the service is absent they skip, unless
``MASHLINK_REQUIRE_SERVICES=1`` (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

AMQP_URL = os.environ.get("MASHLINK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get(
    "MASHLINK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("MASHLINK_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


# Property tests. Hypothesis's "explain" phase replays a failing example under sys.settrace (on
# Python 3.11), which once ran a schema round-trip test past the 300 s per-test timeout in CI, so
# the run reported a timeout and a FlakyStrategyDefinition instead of the example; without the
# phase a failure still shows its minimal example. CI (services required) also derandomizes, so a
# red run can be re-run to the same result; local runs keep exploring new examples.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
hypothesis_settings.register_profile("mashlink", phases=_PHASES)
hypothesis_settings.register_profile("mashlink-ci", phases=_PHASES, derandomize=True, database=None)
hypothesis_settings.load_profile("mashlink-ci" if services_required() else "mashlink")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _need(service: str, url: str, port: int) -> None:
    if _reachable(url, port):
        return
    message = f"{service} is not reachable at {url}"
    if services_required():
        pytest.fail(f"{message} and MASHLINK_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of the real RabbitMQ used by broker tests."""
    _need("RabbitMQ", AMQP_URL, 5672)
    return AMQP_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL used by storage tests."""
    _need("PostgreSQL", POSTGRES_URL, 5432)
    return POSTGRES_URL


@pytest.fixture
def unique_name() -> str:
    """A short unique suffix for queues, schemas and files so tests never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh SQLite database file per test."""
    yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
