"""The outbox relay and the hub runtime against the real broker (memory:// and RabbitMQ), never mocked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.hub.models import OutboxRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.envelope import Envelope, MessageType

from tests.hub.hub_support import referral_data

AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def make_broker(broker_url: str, hub: HubService, topology: Topology) -> Iterator[Callable[[], Broker]]:
    made: list[Broker] = []

    def factory() -> Broker:
        broker = Broker(broker_url, hub.codec, topology, confirm_timeout_s=10.0, retry_backoff_s=0.05,
                        retry_backoff_max_s=0.2)
        made.append(broker)
        return broker

    yield factory
    cleaner = Broker(broker_url, hub.codec, topology)
    try:
        cleaner.delete_topology(AGENCIES)
    finally:
        cleaner.close()
    for broker in made:
        broker.close()


class Collect:
    def __init__(self) -> None:
        self.seen: list[Delivery] = []

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        self.seen.extend(deliveries)
        return [HandlerResult.ack() for _ in deliveries]


def _drain(broker: Broker, queues: list[str], want: int, timeout_s: float = 30.0) -> list[Delivery]:
    collect = Collect()
    consumer = broker.consumer(queues, collect, name="test-agency")
    deadline = time.monotonic() + timeout_s
    while len(collect.seen) < want and time.monotonic() < deadline:
        consumer.run_once(0.5)
    consumer.close()
    return collect.seen


def _published(hub: HubService) -> dict[str, bool]:
    with hub.factory() as session:
        return {r.message_id: r.published_at is not None for r in session.execute(select(OutboxRow)).scalars()}


def test_relay_publishes_the_stored_signed_messages(hub: HubService, make_broker, topology: Topology) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker()
    broker.declare(AGENCIES)
    result = hub.submit_referral(referral_data())
    assert not any(_published(hub).values())
    relay = hub.outbox_relay(broker, batch_size=3)
    assert relay.drain() == 4 and relay.pending() == 0
    assert all(_published(hub).values())
    assert relay.drain() == 0  # nothing is published twice
    got = _drain(make_broker(), topology.enquiry_queues("education-synth"), 1)
    assert [d.envelope.message_id for d in got] == [result.enquiry_for("education-synth").message_id]
    with hub.factory() as session:
        row = session.execute(select(OutboxRow).where(OutboxRow.message_id == got[0].envelope.message_id)).scalar_one()
    assert hub.codec.decode(bytes(row.payload)).signature == got[0].envelope.signature
    assert got[0].queue == topology.enquiry_queue("education-synth", "amber")


def test_unconfirmed_messages_stay_in_the_outbox(hub: HubService, make_broker) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker()
    broker.declare(["police-synth"])  # the other agencies' queues do not exist yet: unroutable
    result = hub.submit_referral(referral_data())
    first = hub.outbox_relay(broker).relay_once()
    assert (first.published, first.failed) == (1, 3)
    published = _published(hub)
    assert published[result.enquiry_for("police-synth").message_id] is True
    assert sum(published.values()) == 1
    with hub.factory() as session:
        errors = [r.last_error for r in session.execute(select(OutboxRow)).scalars() if r.published_at is None]
    assert len(errors) == 3 and all("unroutable" in e for e in errors)
    broker.declare(AGENCIES)
    assert hub.outbox_relay(broker).drain() == 3 and all(_published(hub).values())


def test_tampered_outbox_row_is_never_published(hub: HubService, make_broker) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker()
    broker.declare(AGENCIES)
    hub.submit_referral(referral_data(), agencies=["police-synth"])
    with hub.factory() as session, session.begin():
        row = session.execute(select(OutboxRow)).scalar_one()
        row.payload = bytes(row.payload).replace(b'"amber"', b'"green"')
    done = hub.outbox_relay(broker).relay_once()
    assert (done.published, done.corrupt) == (0, 1)
    assert not any(_published(hub).values())


def _agency_codec(hub: HubService) -> EnvelopeCodec:
    return EnvelopeCodec({s: hub.settings.signing_key(s) for s in hub.settings.signing_senders()})


def test_runtime_round_trip(hub: HubService, make_broker, topology: Topology) -> None:  # type: ignore[no-untyped-def]
    runtime = HubRuntime(hub, make_broker, tick_interval_s=0.2)
    runtime.start()
    try:
        result = hub.submit_referral(referral_data(), agencies=["police-synth", "health-synth"])
        agency_broker = Broker(make_broker().url, _agency_codec(hub), topology)
        try:
            enquiries = _drain(agency_broker, [*topology.enquiry_queues("police-synth"),
                                               *topology.enquiry_queues("health-synth")], 2)
            assert sorted(d.envelope.recipient for d in enquiries) == ["health-synth", "police-synth"]
            replies = []
            for d in enquiries:
                enquiry = Enquiry.model_validate(d.envelope.body)
                body = {"response_id": uuid.uuid4().hex, "enquiry_id": enquiry.enquiry_id,
                        "referral_id": enquiry.referral_id, "agency_id": enquiry.agency_id,
                        "agency_kind": enquiry.agency_kind.value, "status": "not_known",
                        "responder": "synthetic desk", "responded_at": "2025-06-02T10:00:00+00:00"}
                env = Envelope(message_id=uuid.uuid4().hex, correlation_id=enquiry.referral_id,
                               causation_id=d.envelope.message_id, enquiry_id=enquiry.enquiry_id,
                               message_type=MessageType.ENQUIRY_RESPONSE, sender=enquiry.agency_id,
                               recipient="hub", sent_at=hub.clock(), body=body)  # now, by the hub's clock
                replies.append(topology.response(env))
            agency_broker.publish(replies + replies[:1])  # one duplicate on the wire
        finally:
            agency_broker.close()
        deadline = time.monotonic() + 60
        while hub.referral_status(result.referral_id).status != "closed" and time.monotonic() < deadline:
            time.sleep(0.1)
        status = hub.referral_status(result.referral_id)
        assert status.status == "closed" and [e.responses for e in status.enquiries] == [1, 1]
        # The scheduled audit check ran at start and keeps a signed anchor of what it verified.
        deadline = time.monotonic() + 30
        while runtime.audit_watch.last is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.audit_watch.last is not None and runtime.audit_watch.last.ok
        assert runtime.audit_watch.anchor is not None and len(runtime.audit_watch.anchor.signature) == 64
    finally:
        runtime.stop()
    assert not runtime.running
    assert hub.verify_audit().ok
    quiet = HubRuntime(hub, make_broker, audit_check_interval_s=0)
    quiet.start(declare=False)
    try:
        names = {t.name for t in quiet._threads}
    finally:
        quiet.stop()
    assert "hub-deadlines" in names and "hub-audit" not in names  # 0 switches the scheduled check off
