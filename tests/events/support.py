"""Shared pieces of the agency events tests: a hub loop, the events service for one agency, a receipt tap.

Everything is real: the hub (HubService + HubRuntime, SQLite) publishes the
outcome through its outbox; the agency's ``agency-events`` service consumes
it from the broker (memory:// or RabbitMQ) and delivers it to a real peer;
receipts are read back from a tap queue bound to ``receipt.<agency>`` on the
events exchange (the hub's own binding is the hub's business).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mashlink.broker.client import Broker
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.connectors.events.channels import EventChannel
from mashlink.connectors.events.consumer import AgencyEventsConsumer
from mashlink.connectors.events.options import AnyEventsOptions
from mashlink.connectors.events.wiring import build_events_service
from mashlink.connectors.factory import ConnectorContext, agency_index
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import Envelope
from mashlink.schemas.receipt import DeliveryReceipt
from tests.e2e.loop import Loop, make_loop, wait_for
from tests.hub.hub_support import referral_data, synthetic_nhs_number

#: Everything in the synthetic referral that identifies the child or family, and the decision's rationale.
PERSONAL = ["Ada", "Testchild", "Beth", "Testparent", "2016-03-14", "14 March 2016", synthetic_nhs_number(123456),
            synthetic_nhs_number(654321), "A123456789012", "LA-77", "ZZ99 1ZZ", "07700 900000", "Synthetic Row",
            "hungry", "shouting", "missing episodes"]
FAST = {"max_attempts": 3, "retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2, "ack_scan_interval_s": 0.1}


class ReceiptTap:
    """A queue bound to ``receipt.<agency>`` and a consumer thread collecting what arrives."""

    def __init__(self, loop: Loop, agency_id: str) -> None:
        self.broker: Broker = loop.broker()
        self.queue = f"{loop.topology.namespace}.tap.receipts.{agency_id}"
        ch = self.broker.link.channel()
        try:
            ch.queue_declare(queue=self.queue, durable=True, auto_delete=False)
            ch.queue_bind(queue=self.queue, exchange=loop.topology.events_exchange, routing_key=f"receipt.{agency_id}")
        finally:
            ch.close()
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _handle(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        with self._lock:
            self.envelopes.extend(d.envelope for d in deliveries)
        return [HandlerResult.ack() for _ in deliveries]

    def _run(self) -> None:
        consumer = self.broker.consumer([self.queue], self._handle, prefetch=20, max_batch=20, name="receipt-tap")
        consumer.run(self._stop)

    def receipts(self) -> list[DeliveryReceipt]:
        with self._lock:
            return [DeliveryReceipt.model_validate(e.body) for e in self.envelopes]

    def statuses(self) -> list[str]:
        return [r.status.value for r in self.receipts()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        ch = self.broker.link.channel()
        try:
            ch.queue_delete(queue=self.queue)
        finally:
            ch.close()
        self.broker.close()


@contextmanager
def events_loop(tmp_path: Path, broker_url: str) -> Iterator[tuple[Loop, HubService]]:
    loop = make_loop(tmp_path / uuid.uuid4().hex[:6], broker_url=broker_url)
    try:
        yield loop, loop.start_hub(tick_interval_s=0.05)
    finally:
        loop.close()


def context(loop: Loop, agency_id: str) -> ConnectorContext:
    settings = loop.settings
    return ConnectorContext(settings=settings, agency=settings.agency(agency_id),
                            agency_index=agency_index(settings, agency_id), topology=loop.topology,
                            broker_factory=connector_broker_factory(settings, agency_id, topology=loop.topology))


def start_events(loop: Loop, agency_id: str, options: AnyEventsOptions, channel: EventChannel,
                 **kwargs: Any) -> AgencyEventsConsumer:
    service = build_events_service(context(loop, agency_id), options, channel, **kwargs)
    service.start()
    return service


def decide(hub: HubService, agency_id: str, referral_id: str = "REF-0001",
           outcome: str = "strategy_section_47") -> str:
    """A referral and its decision, the agency told: returns the outcome id sent to the agency."""
    hub.submit_referral(referral_data(referral_id))
    done = hub.record_decision({
        "decision_id": f"D-{referral_id}", "referral_id": referral_id, "outcome": outcome,
        "rationale": "Police record of missing episodes (synthetic) for Ada Testchild.",
        "decided_by": "mash-manager-2", "decided_at": "2025-06-02T15:00:00+00:00", "notify": [agency_id],
    })
    return next(o.outcome_id for o in done.outcomes if o.recipient == agency_id)


def outcome_envelope(hub: HubService, outcome_id: str) -> tuple[Envelope, str]:
    """The signed outcome envelope the hub published (from its outbox) and its routing key, to publish again."""
    from sqlalchemy import select

    from mashlink.hub.models import OutboxRow

    with hub.factory() as session:
        rows = session.execute(select(OutboxRow).where(OutboxRow.message_type == "outcome")).scalars().all()
        found = [(hub.codec.decode(bytes(r.payload)), r.routing_key) for r in rows]
    for env, routing_key in found:
        if env.body.get("outcome_id") == outcome_id:
            return env, routing_key
    raise AssertionError(f"no outbox row for outcome {outcome_id}")


def parked(loop: Loop, agency_id: str) -> list[Any]:
    broker = loop.broker()
    try:
        return broker.dlq_list(loop.topology.agency_events_queue(agency_id))
    finally:
        broker.close()


def replay(loop: Loop, agency_id: str, message_id: str) -> None:
    broker = loop.broker()
    try:
        broker.dlq_replay(message_id, loop.topology.agency_events_queue(agency_id))
    finally:
        broker.close()


def republish(loop: Loop, env: Envelope, routing_key: str) -> None:
    broker = loop.broker()
    try:
        broker.publish([loop.topology.event(env, routing_key)])
    finally:
        broker.close()


def no_personal_data(text: str) -> list[str]:
    """Each synthetic personal value found in ``text`` as a whole word (case-insensitive).

    Whole words, because a random hex id such as ``3ada91…`` contains "ada"
    without naming anyone."""
    return [p for p in PERSONAL if re.search(rf"(?<![0-9A-Za-z]){re.escape(p)}(?![0-9A-Za-z])", text, re.IGNORECASE)]


__all__ = ["FAST", "ReceiptTap", "context", "decide", "events_loop", "no_personal_data",
           "outcome_envelope", "parked", "replay", "republish", "start_events", "wait_for"]
