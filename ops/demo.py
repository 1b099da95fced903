"""The demo: the whole enquiry loop in one process on the embedded defaults.

The hub (API-less: service, outbox relay, response and event consumers,
deadline tracker) and one reference connector per agency kind run in threads
over kombu ``memory://`` and a fresh SQLite file. Synthetic referrals go in
(one red, one with an unborn child), the connectors answer from their
simulated agency systems, and the linked view of each referral comes out.
It is also the smallest end-to-end proof that nothing is lost: the counts at
the end include messages lost, which must be zero.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.reference.factory import connector_from_config
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.linked_view import LinkedView
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.ops.wiring import hub_broker_factory


class DemoCounts(BaseModel):
    referrals: int
    enquiries: int
    responses: int
    answered_enquiries: int
    parked_messages: int
    unpublished_outbox: int
    messages_lost: int


class DemoReferral(BaseModel):
    referral_id: str
    rag: str
    status: str
    linked_view: LinkedView


class DemoReport(BaseModel):
    """What the demo prints with --json; counts come last on purpose."""

    seconds: float
    complete: bool
    referrals: list[DemoReferral]
    counts: DemoCounts


def demo_settings(state_dir: Path, config: Path | None = None) -> MashlinkSettings:
    """Embedded defaults on a fresh state directory, whatever the environment says."""
    return load_settings(
        config,
        broker_url="memory://",
        state_dir=str(state_dir),
        database_url=f"sqlite:///{state_dir / 'hub.sqlite'}",
    )


def run_demo(*, state_dir: Path | None = None, timeout_s: float = 60.0, seed: int = 20240901,
             config: Path | None = None) -> DemoReport:
    """Run the loop end to end and return the linked views and counts."""
    started = time.monotonic()
    state = state_dir or Path(tempfile.mkdtemp(prefix="mashlink-demo-"))
    settings = demo_settings(state, config)
    # memory:// is shared by everything in the process: a unique namespace keeps runs apart.
    topology = Topology(f"demo-{uuid.uuid4().hex[:8]}")
    service = HubService.open(settings, topology=topology)
    hub_factory = hub_broker_factory(settings, topology)
    runtime = HubRuntime(service, hub_factory, tick_interval_s=0.5)
    population = generate_population(seed)
    runners = [
        ConnectorRunner(
            connector_from_config(agency, population=population),
            connector_broker_factory(settings, agency.id, topology=topology),
        )
        for agency in settings.enabled_agencies()
    ]
    runtime.start()
    try:
        for runner in runners:
            runner.start()
        now = datetime.now(timezone.utc)
        referrals = demo_referrals(population, now)
        for referral in referrals:
            service.submit_referral(referral, actor="demo")
        ids = [r.referral_id for r in referrals]
        complete = _wait_closed(service, ids, started + timeout_s)
    finally:
        for runner in runners:
            runner.stop()
        runtime.stop()
    try:
        report = _report(service, hub_factory, ids, complete, time.monotonic() - started)
    finally:
        service.close()
    return report


def _wait_closed(service: HubService, ids: list[str], deadline: float) -> bool:
    """True once every referral has every agency's final answer (or the deadline passes)."""
    while time.monotonic() < deadline:
        if all(not service.referral_status(rid).outstanding for rid in ids):
            return True
        time.sleep(0.05)
    return False


def _report(service: HubService, hub_factory, ids: list[str], complete: bool, seconds: float) -> DemoReport:  # type: ignore[no-untyped-def]
    referrals: list[DemoReferral] = []
    enquiries = responses = answered = 0
    for rid in ids:
        status = service.referral_status(rid)
        enquiries += len(status.enquiries)
        responses += sum(e.responses for e in status.enquiries)
        answered += sum(1 for e in status.enquiries if e.status not in ("open", "partial", "overdue"))
        referrals.append(DemoReferral(referral_id=rid, rag=status.rag.value, status=status.status,
                                      linked_view=service.linked_view(rid)))
    broker = hub_factory()
    try:
        broker.declare([a.id for a in service.settings.agencies])
        parked = len(broker.dlq_list())
    finally:
        broker.close()
    unpublished = service.outbox_relay(broker=None).pending()  # type: ignore[arg-type]
    lost = (enquiries - answered) + parked
    return DemoReport(
        seconds=round(seconds, 2), complete=complete, referrals=referrals,
        counts=DemoCounts(referrals=len(ids), enquiries=enquiries, responses=responses,
                          answered_enquiries=answered, parked_messages=parked,
                          unpublished_outbox=unpublished, messages_lost=lost),
    )
