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

from ..broker.topology import Topology
from ..config.settings import MashlinkSettings, load_settings
from ..connectors.reference.factory import connector_from_config
from ..connectors.runtime import ConnectorRunner
from ..connectors.simulators.population import generate_population
from ..connectors.simulators.referrals import demo_referrals
from ..connectors.wiring import connector_broker_factory
from ..hub.linked_view import LinkedView
from ..hub.runtime import HubRuntime
from ..hub.service import HubService
from ..hub.wiring import hub_broker_factory


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


class DemoSystem:
    """The hub and one reference connector per agency in this process, on memory:// and a SQLite file.

    ``run_demo`` starts it, waits for every answer, reports and stops;
    ``mashlink demo --serve`` keeps it running behind the hub's web app so a
    newcomer can sign in to the workspace and look around.
    """

    def __init__(self, *, state_dir: Path | None = None, seed: int = 20240901, config: Path | None = None) -> None:
        self.state = state_dir or Path(tempfile.mkdtemp(prefix="mashlink-demo-"))
        self.settings = demo_settings(self.state, config)
        # memory:// is shared by everything in the process: a unique namespace keeps runs apart.
        self.topology = Topology(f"demo-{uuid.uuid4().hex[:8]}")
        self.service = HubService.open(self.settings, topology=self.topology)
        self.hub_factory = hub_broker_factory(self.settings, self.topology)
        self.runtime = HubRuntime(self.service, self.hub_factory, tick_interval_s=0.5)
        self.population = generate_population(seed)
        self.runners = [
            ConnectorRunner(
                connector_from_config(agency, population=self.population),
                connector_broker_factory(self.settings, agency.id, topology=self.topology),
            )
            for agency in self.settings.enabled_agencies()
        ]
        self.referral_ids: list[str] = []

    def start(self) -> list[str]:
        """Start hub and connectors, submit the synthetic referrals; their ids."""
        self.runtime.start()
        for runner in self.runners:
            runner.start()
        referrals = demo_referrals(self.population, datetime.now(timezone.utc))
        for referral in referrals:
            self.service.submit_referral(referral, actor="demo")
        self.referral_ids = [r.referral_id for r in referrals]
        return self.referral_ids

    def wait(self, deadline: float) -> bool:
        return _wait_closed(self.service, self.referral_ids, deadline)

    def report(self, complete: bool, seconds: float) -> DemoReport:
        return _report(self.service, self.hub_factory, self.referral_ids, complete, seconds)

    def queue_stats(self) -> list:  # type: ignore[type-arg]
        broker = self.hub_factory()
        try:
            queues = self.topology.queues([a.id for a in self.settings.agencies])
            return broker.queue_stats([q.name for q in queues])
        finally:
            broker.close()

    def app(self):  # type: ignore[no-untyped-def]
        """The hub's web app (API, docs, workspace) over this demo's hub, broker and dead letters."""
        from ..hub.dead_letters import BrokerDeadLetters
        from .web.hub_app import build_hub_app

        return build_hub_app(self.service, queue_stats=self.queue_stats,
                             audit_check=lambda: self.runtime.audit_watch.last,
                             dead_letters=BrokerDeadLetters(self.hub_factory, [a.id for a in self.settings.agencies]))

    def sign_in_links(self, base_url: str) -> list[tuple[str, str]]:
        """Development sign-in links, one per kind of user, each landing where that user works."""
        education = next((a.id for a in self.settings.agencies if a.kind.value == "education"), None)
        links = [("MASH practitioner", "role=practitioner&user=amy"), ("MASH manager", "role=manager&user=mira"),
                 ("Ops", "role=ops&user=olu"), ("Information governance", "role=auditor&user=ines")]
        if education:
            links.append(("School liaison", f"role=agency_liaison&user=lee&agency={education}"))
        return [(who, f"{base_url}/sign-in/dev?{query}") for who, query in links]

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()
        self.runtime.stop()

    def close(self) -> None:
        self.service.close()


def run_demo(*, state_dir: Path | None = None, timeout_s: float = 60.0, seed: int = 20240901,
             config: Path | None = None) -> DemoReport:
    """Run the loop end to end and return the linked views and counts."""
    started = time.monotonic()
    system = DemoSystem(state_dir=state_dir, seed=seed, config=config)
    try:
        system.start()
        complete = system.wait(started + timeout_s)
    finally:
        system.stop()
    try:
        return system.report(complete, time.monotonic() - started)
    finally:
        system.close()


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
