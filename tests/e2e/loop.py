"""A whole enquiry loop for end-to-end tests: hub, connectors, broker, database.

Everything is real: kombu memory:// or RabbitMQ, SQLite or PostgreSQL, the
hub runtime's threads, the connector runners (in threads, or as separate
``mashlink connector`` processes for crash tests). Each loop has its own
broker namespace and database, and deletes its queues when closed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from mashlink.broker.client import Broker
from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.reference.factory import connector_from_config
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.simulators.population import Population, generate_population
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.db import drop_schema
from mashlink.hub.models import ResponseRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService, utcnow
from mashlink.hub.wiring import hub_broker_factory

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240901
AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@dataclass
class Loop:
    settings: MashlinkSettings
    topology: Topology
    schema: str | None = None
    clock: Callable[[], datetime] = utcnow
    population: Population = field(default_factory=lambda: generate_population(SEED))
    service: HubService | None = None
    runtime: HubRuntime | None = None
    runners: dict[str, ConnectorRunner] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # ---- hub -----------------------------------------------------------------
    def open_hub(self) -> HubService:
        self.service = HubService.open(self.settings, schema=self.schema, topology=self.topology, clock=self.clock)
        return self.service

    def start_hub(self, tick_interval_s: float = 0.2) -> HubService:
        service = self.service or self.open_hub()
        self.runtime = HubRuntime(service, hub_broker_factory(self.settings, self.topology),
                                  tick_interval_s=tick_interval_s)
        self.runtime.start()
        return service

    def stop_hub(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self.service is not None:
            self.service.close()
            self.service = None

    # ---- connectors in threads -----------------------------------------------
    def start_connectors(self, agency_ids: list[str] | None = None) -> None:
        for agency in self.settings.enabled_agencies():
            if agency_ids is not None and agency.id not in agency_ids:
                continue
            runner = ConnectorRunner(
                connector_from_config(agency, population=self.population),
                connector_broker_factory(self.settings, agency.id, topology=self.topology),
            )
            runner.start()
            self.runners[agency.id] = runner

    def stop_connectors(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        self.runners.clear()

    # ---- connectors as processes (crash tests) -------------------------------
    def spawn_connector(self, agency_id: str) -> subprocess.Popen[bytes]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")},
            "MASHLINK_BROKER_URL": self.settings.broker_url,
            "MASHLINK_BROKER_NAMESPACE": self.topology.namespace,
            "MASHLINK_STATE_DIR": str(self.settings.state_dir),
            "MASHLINK_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "mashlink.ops.cli", "connector", agency_id],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.processes[agency_id] = process
        return process

    # ---- reading -------------------------------------------------------------
    def broker(self) -> Broker:
        broker = hub_broker_factory(self.settings, self.topology)()
        broker.declare(AGENCIES)
        return broker

    def all_answered(self, referral_ids: list[str]) -> bool:
        assert self.service is not None
        return all(not self.service.referral_status(rid).outstanding for rid in referral_ids)

    def response_rows(self) -> int:
        assert self.service is not None
        with self.service.factory() as session:
            return session.execute(select(func.count()).select_from(ResponseRow)).scalar_one()

    def close(self) -> None:
        self.stop_connectors()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        self.stop_hub()
        broker = hub_broker_factory(self.settings, self.topology)()
        try:
            broker.delete_topology(AGENCIES)
        finally:
            broker.close()
        if self.schema is not None:
            from mashlink.hub.db import make_engine

            engine = make_engine(self.settings.database_url, schema=self.schema)
            drop_schema(engine, self.schema)
            engine.dispose()


def make_loop(tmp_path: Path, *, broker_url: str, database_url: str | None = None,
              schema: str | None = None, clock: Callable[[], datetime] = utcnow, **overrides: object) -> Loop:
    namespace = f"e2e-{uuid.uuid4().hex[:10]}"
    state = tmp_path / "state"
    settings = load_settings(
        broker_url=broker_url,
        broker_namespace=namespace,
        state_dir=str(state),
        database_url=database_url or f"sqlite:///{state / 'hub.sqlite'}",
        **overrides,
    )
    settings.ensure_state_dir()
    return Loop(settings=settings, topology=Topology(namespace), schema=schema, clock=clock)


def now() -> datetime:
    return datetime.now(timezone.utc)
