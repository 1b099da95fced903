"""The freshness window: a validly signed but stale message is parked with the reason, never acked.

Through a real consumer on memory:// and RabbitMQ. Exceptions, by design: a
dead-letter replay (an operator chose to send it again) and the hub's own
messages (its outbox may hold them for as long as the broker is down).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mashlink.broker import Broker, EnvelopeCodec, RejectReason, Topology
from mashlink.broker.codec import Freshness
from mashlink.schemas.envelope import Envelope
from tests.broker.broker_helpers import AGENCY, KEYS, Recorder, enquiry_envelope

WINDOW = timedelta(days=7)


@pytest.fixture
def codec() -> EnvelopeCodec:
    """The broker fixtures' codec, with the hub's freshness rules (the hub's own messages exempt)."""
    return EnvelopeCodec(KEYS, freshness=Freshness(WINDOW, timedelta(minutes=5), frozenset({"hub"})))


def _response(sent_at: datetime) -> Envelope:
    return enquiry_envelope(sender=AGENCY, recipient="hub").model_copy(update={"sent_at": sent_at})


def _consume(broker: Broker, queue: str) -> Recorder:
    seen = Recorder()
    with broker.consumer([queue], seen) as consumer:
        consumer.run_once(5)
    return seen


def test_a_year_old_message_with_a_new_id_is_parked_as_stale_with_the_reason(
        broker: Broker, topology: Topology) -> None:
    now = datetime.now(UTC)
    old = _response(now - timedelta(days=365))
    fresh = _response(now - timedelta(minutes=1))
    broker.publish([topology.response(old), topology.response(fresh)])
    seen = _consume(broker, topology.responses_queue)
    assert [d.message_id for d in seen.seen] == [fresh.message_id]  # the stale one never reached the handler
    [parked] = broker.dlq_list(topology.responses_queue)
    assert parked.message_id == old.message_id and parked.reason is RejectReason.STALE
    assert "365 days old" in parked.detail and "freshness window of 7 days" in parked.detail
    assert "signing.max_age_s" in parked.detail


def test_a_message_from_the_future_beyond_the_skew_is_parked(broker: Broker, topology: Topology) -> None:
    ahead = _response(datetime.now(UTC) + timedelta(hours=3))
    broker.publish([topology.response(ahead)])
    assert _consume(broker, topology.responses_queue).seen == []
    [parked] = broker.dlq_list(topology.responses_queue)
    assert parked.reason is RejectReason.STALE and "in the future" in parked.detail


def test_a_replayed_dead_letter_passes_however_old(broker: Broker, topology: Topology) -> None:
    old = _response(datetime.now(UTC) - timedelta(days=30))
    broker.publish([topology.response(old)])
    assert _consume(broker, topology.responses_queue).seen == []
    broker.dlq_replay(old.message_id)  # the operator decides it is genuine
    replayed = _consume(broker, topology.responses_queue)
    assert [d.message_id for d in replayed.seen] == [old.message_id]
    assert broker.dlq_list(topology.responses_queue) == []


def test_the_hubs_own_messages_held_long_in_its_outbox_still_pass(broker: Broker, topology: Topology) -> None:
    """An enquiry the hub signed eight days ago (broker down, connector offline) is delivered, not parked."""
    held = enquiry_envelope().model_copy(update={"sent_at": datetime.now(UTC) - timedelta(days=8)})
    broker.publish([topology.enquiry(held)])
    seen = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), seen) as consumer:
        consumer.run_once(5)
    assert [d.message_id for d in seen.seen] == [held.message_id]
    assert broker.dlq_list() == []
