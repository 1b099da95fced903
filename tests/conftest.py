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

AMQP_URL = os.environ.get("MASHLINK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get(
    "MASHLINK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("MASHLINK_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


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
