"""Publishing: confirms, many in flight, unroutable and missing routes are errors."""

from __future__ import annotations

import pytest

from tests.broker.broker_helpers import AGENCY, Recorder, enquiry_envelope
from mashlink.broker import Broker, OutgoingMessage, PublishError, Topology
from mashlink.schemas.codes import Rag


def test_round_trip(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope(Rag.AMBER)
    broker.publish([topology.enquiry(env)])
    rec = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
        assert consumer.run_once(5) == 1
    (delivery,) = rec.seen
    assert delivery.envelope.message_id == env.message_id
    assert delivery.envelope.body == env.body
    assert delivery.queue == topology.enquiry_queue(AGENCY, Rag.AMBER)
    assert delivery.attempts == 1 and not delivery.redelivered
    assert delivery.body is not None and delivery.body.enquiry_id == env.body["enquiry_id"]  # type: ignore[attr-defined]
    assert {s.name: s.messages for s in broker.queue_stats()}[delivery.queue] == 0


def test_many_in_flight_all_confirmed(make_broker, topology: Topology) -> None:  # type: ignore[no-untyped-def]
    broker = make_broker(publish_window=64)  # 2,000 messages cross the window many times
    broker.declare([AGENCY])
    envs = [enquiry_envelope(Rag.GREEN, n=i) for i in range(2000)]
    broker.publish([topology.enquiry(e) for e in envs])
    green = topology.enquiry_queue(AGENCY, Rag.GREEN)
    assert {s.name: s.messages for s in broker.queue_stats([green])}[green] == 2000
    rec = Recorder()
    with broker.consumer([green], rec, prefetch=500, max_batch=250) as consumer:
        while consumer.run_once(5):
            pass
    assert sorted(rec.ids()) == sorted(e.message_id for e in envs)
    assert max(rec.batches) > 1  # batches, not one message at a time


def test_unroutable_mandatory_publish_is_an_error(broker: Broker, topology: Topology) -> None:
    good = topology.enquiry(enquiry_envelope(Rag.RED))
    lost = enquiry_envelope()
    nowhere = OutgoingMessage(envelope=lost, exchange=topology.events_exchange, routing_key="outcome.nobody")
    with pytest.raises(PublishError) as info:
        broker.publish([good, nowhere])
    assert list(info.value.failed) == [lost.message_id]
    assert "unroutable" in info.value.failed[lost.message_id]
    assert info.value.confirmed == [good.envelope.message_id]
    # the broker object is still usable afterwards
    broker.publish([topology.enquiry(enquiry_envelope(Rag.RED))])
    red = topology.enquiry_queue(AGENCY, Rag.RED)
    assert {s.name: s.messages for s in broker.queue_stats([red])}[red] == 2


def test_missing_exchange_is_an_error_and_publisher_recovers(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope()
    with pytest.raises(PublishError) as info:
        broker.publish([OutgoingMessage(envelope=env, exchange=f"{topology.namespace}.absent", routing_key="x")])
    assert env.message_id in info.value.failed
    broker.publish([topology.enquiry(enquiry_envelope(Rag.GREEN))])


def test_event_routing_reaches_hub_and_agency_queues(broker: Broker, topology: Topology) -> None:
    alert = enquiry_envelope()
    outcome = enquiry_envelope()
    broker.publish(
        [
            topology.event(alert, "alert.unscheduled_care_attendance"),
            topology.event(outcome, f"outcome.{AGENCY}"),
            topology.event(enquiry_envelope(), f"escalation.overdue.{AGENCY}"),
        ]
    )
    stats = {s.name: s.messages for s in broker.queue_stats()}
    assert stats[topology.events_queue] == 1
    assert stats[topology.agency_events_queue(AGENCY)] == 2


def test_signing_failure_publishes_nothing(broker: Broker, topology: Topology) -> None:
    with pytest.raises(ValueError, match="no signing key"):
        broker.publish(
            [topology.enquiry(enquiry_envelope(Rag.RED)), topology.enquiry(enquiry_envelope(Rag.RED, sender="nobody"))]
        )
    red = topology.enquiry_queue(AGENCY, Rag.RED)
    assert {s.name: s.messages for s in broker.queue_stats([red])}[red] == 0


def test_every_message_is_accounted_for_when_a_batch_fails(broker: Broker, topology: Topology) -> None:
    envs = [enquiry_envelope(Rag.GREEN, n=i) for i in range(300)]
    out = [topology.enquiry(e) for e in envs]
    out[10] = OutgoingMessage(envelope=envs[10], exchange=f"{topology.namespace}.absent", routing_key="x")
    with pytest.raises(PublishError) as info:
        broker.publish(out)
    failed, confirmed = set(info.value.failed), set(info.value.confirmed)
    assert envs[10].message_id in failed
    assert not failed & confirmed
    assert failed | confirmed == {e.message_id for e in envs}
    green = topology.enquiry_queue(AGENCY, Rag.GREEN)
    assert {s.name: s.messages for s in broker.queue_stats([green])}[green] >= len(confirmed)
