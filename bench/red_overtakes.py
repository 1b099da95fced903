"""A red enquiry overtakes a backlog of green ones for the same agency.

``mashlink bench red_overtakes`` fills one agency's green queue on RabbitMQ
(quorum queues, confirms) with 10,000 signed enquiries, starts that agency's
``ConnectorRunner`` (an instant connector), waits until it is busy working
through the backlog, then publishes one red enquiry and measures the time
from publishing it to the connector's ``handle`` receiving it
(``red_delivery_ms``). RabbitMQ 3.10 quorum queues have no priorities: red
has its own queue, consumer, connection and worker pool in the runner.

Baseline, in the same run: how long the green backlog takes to drain
(``green_drain_s``), i.e. roughly what a red enquiry would wait in a single
FIFO queue behind it (``fifo_wait_estimate_ms``, the share of the backlog
still queued when the red one was published).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ._loop import (
    AMQP_URL,
    InstantConnector,
    bench_namespace,
    bench_settings,
    declared,
    quiet_logging,
    temp_state,
    wait_until,
)
from .broker_raw import rabbitmq_reachable
from .report import BenchReport, BenchRow
from ..broker.client import Broker
from ..broker.link import RawMessage
from ..broker.topology import Topology
from ..connectors.simulators.population import generate_population
from ..connectors.simulators.referrals import bulk_referrals
from ..connectors.runtime import ConnectorRunner
from ..connectors.wiring import connector_broker_factory
from ..hub.envelopes import hub_envelope
from ..hub.service import hub_codec
from ..hub.wiring import hub_broker_factory
from ..schemas.codes import AgencyKind, Rag
from ..schemas.enquiry import Enquiry
from ..schemas.envelope import MessageType
from ..schemas.person import Person

NAME = "red_overtakes"


def _subject() -> Person:
    """A synthetic child from the simulator's population, as a referral names them."""
    population = generate_population(20240901)
    return bulk_referrals(population, 1, datetime.now(UTC))[0].subjects[0]


def _enquiry(agency_id: str, kind: AgencyKind, rag: Rag, now: datetime, subject: Person) -> Enquiry:
    enquiry_id = uuid.uuid4().hex
    return Enquiry(
        enquiry_id=enquiry_id, referral_id=f"bench-ref-{enquiry_id[:12]}", agency_id=agency_id, agency_kind=kind,
        subjects=[subject],
        concerns=["neglect"], questions=["Anything relevant?"], rag=rag, requested_at=now,
        due_at=now + timedelta(hours=72), lawful_basis=["children_act_2004_s11"], requester="Bench MASH",
    )


def run(quick: bool, *, backlog: int | None = None) -> BenchReport:
    backlog = backlog or (2000 if quick else 10_000)
    if not rabbitmq_reachable(AMQP_URL):
        return BenchReport(name=NAME, description="RabbitMQ unreachable: nothing measured",
                           metrics={"rabbitmq": "unreachable"})
    quiet_logging()
    namespace = bench_namespace("red")
    topology = Topology(namespace)
    with temp_state("red") as state:
        settings = bench_settings(state, broker_url=AMQP_URL, namespace=namespace)
        agency = settings.enabled_agencies()[0]
        hub_factory = hub_broker_factory(settings, topology)
        codec = hub_codec(settings)
        now = datetime.now(UTC)
        subject = _subject()

        def envelope(rag: Rag) -> Any:
            enquiry = _enquiry(agency.id, agency.kind, rag, now, subject)
            return hub_envelope(MessageType.ENQUIRY, enquiry, correlation_id=enquiry.referral_id,
                                recipient=agency.id, sent_at=now, enquiry_id=enquiry.enquiry_id, rag=rag,
                                due_at=enquiry.due_at)

        greens = [envelope(Rag.GREEN) for _ in range(backlog)]
        red = envelope(Rag.RED)
        seen = {"green": 0}
        red_at: dict[str, float] = {}
        drained = threading.Event()
        lock = threading.Lock()

        def on_enquiry(enquiry: Enquiry, at: float) -> None:
            with lock:
                if enquiry.rag is Rag.RED:
                    red_at.setdefault(enquiry.enquiry_id, at)
                else:
                    seen["green"] += 1
                    if seen["green"] >= backlog:
                        drained.set()

        with declared(hub_factory, [a.id for a in settings.agencies]):
            publisher: Broker = hub_factory()
            try:
                out = [topology.enquiry(e) for e in greens]
                raws = [RawMessage(body=codec.encode(m.envelope), exchange=m.exchange, routing_key=m.routing_key,
                                   message_id=m.envelope.message_id, message_type="enquiry") for m in out]
                publisher.publish_raw(raws)
                runner = ConnectorRunner(InstantConnector(agency.id, agency.kind, on_enquiry),
                                         connector_broker_factory(settings, agency.id, topology=topology))
                started = time.monotonic()
                runner.start()
                try:
                    # Publish the red one while the runner is busy with the backlog.
                    wait_until(lambda: seen["green"] >= min(500, backlog // 10), timeout_s=120)
                    with lock:
                        greens_done_at_red = seen["green"]
                    red_sent = time.monotonic()
                    publisher.publish([topology.enquiry(red)])
                    wait_until(lambda: bool(red_at), timeout_s=60, interval_s=0.001)
                    drained.wait(300)
                    drain_s = time.monotonic() - started
                finally:
                    runner.stop()
            finally:
                publisher.close()

    red_ms = (next(iter(red_at.values())) - red_sent) * 1000 if red_at else float("nan")
    green_rate = seen["green"] / drain_s if drain_s > 0 else 0.0
    remaining = backlog - greens_done_at_red
    fifo_ms = remaining / green_rate * 1000 if green_rate else float("nan")
    metrics: dict[str, Any] = {
        "red_delivery_ms": round(red_ms, 1),
        "green_backlog": backlog,
        "green_queued_when_red_sent": remaining,
        "green_drain_s": round(drain_s, 2),
        "green_per_s": round(green_rate, 1),
        "fifo_wait_estimate_ms": round(fifo_ms, 1),
        "greens_handled": seen["green"],
    }
    rows = [
        BenchRow(label="red enquiry: publish -> connector handle", value=red_ms, unit="ms",
                 note=f"{remaining:,} green still queued for {agency.id}"),
        BenchRow(label="baseline: green backlog drain", value=drain_s, unit="s",
                 note=f"{backlog:,} green at {green_rate:,.0f}/s"),
        BenchRow(label="baseline: red behind the backlog in one FIFO queue (estimate)", value=fifo_ms, unit="ms"),
    ]
    return BenchReport(
        name=NAME,
        description=f"one red enquiry with {backlog:,} green queued for the same agency (RabbitMQ quorum queues)",
        rows=rows,
        metrics=metrics,
        targets={"red_delivery_ms": "< 1000"},
    )
