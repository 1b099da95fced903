"""Fixtures for the hub's storage and service tests: real SQLite and PostgreSQL.

``hub_db`` is parametrised over both backends; on PostgreSQL each test gets
its own schema (dropped at teardown) because other tests share the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine

from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.db import drop_schema, make_engine
from mashlink.hub.migrate import migrate_engine
from mashlink.hub.service import HubService
from tests.hub.hub_support import FakeClock


@dataclass
class HubDb:
    backend: str
    url: str
    schema: str | None
    engine: Engine

    def new_engine(self) -> Engine:
        """A second, independent engine on the same database (a 'restarted' hub)."""
        return make_engine(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", "postgres"])
def hub_db(request: pytest.FixtureRequest, unique_name: str) -> Iterator[HubDb]:
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        schema = None
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"hubtest_{unique_name}"
    engine = make_engine(url, schema=schema)
    migrate_engine(engine)
    try:
        yield HubDb(request.param, url, schema, engine)
    finally:
        if schema is not None:
            drop_schema(engine, schema)
        engine.dispose()


@pytest.fixture
def hub_settings(tmp_path) -> MashlinkSettings:  # type: ignore[no-untyped-def]
    return load_settings(state_dir=str(tmp_path / "state"))


@pytest.fixture
def clock() -> FakeClock:
    # Monday 2 June 2025, 10:00 London (09:00 UTC): a working day, no bank holiday.
    return FakeClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def topology(unique_name: str) -> Topology:
    return Topology(f"hubtest-{unique_name}")


@pytest.fixture
def hub(hub_db: HubDb, hub_settings: MashlinkSettings, topology: Topology, clock: FakeClock) -> Iterator[HubService]:
    service = HubService(hub_settings, hub_db.engine, topology=topology, clock=clock)
    yield service
