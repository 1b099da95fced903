"""DLQ operations: list/show lose nothing, replay after a fix, discard."""

from __future__ import annotations

import pytest

from tests.broker.broker_helpers import AGENCY, Recorder, enquiry_envelope
from mashlink.broker import Broker, ParkedMessageNotFound, RejectReason, Topology, Verdict
from mashlink.schemas.codes import Rag


def _park(broker: Broker, topology: Topology, count: int) -> list[str]:
    envs = [enquiry_envelope(Rag.AMBER, n=i) for i in range(count)]
    rec = Recorder(verdicts={e.message_id: [Verdict.REJECT] for e in envs})
    broker.publish([topology.enquiry(e) for e in envs])
    with broker.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
        consumer.run_once(5)
    return [e.message_id for e in envs]


def test_list_and_show_lose_nothing(broker: Broker, topology: Topology) -> None:
    ids = _park(broker, topology, 3)
    dlq = topology.dlq_for(topology.enquiry_queue(AGENCY, Rag.AMBER))
    first = broker.dlq_list()
    second = broker.dlq_list(topology.enquiry_queue(AGENCY, Rag.AMBER))
    assert sorted(p.message_id for p in first) == sorted(ids)
    assert sorted(p.message_id for p in second) == sorted(ids)
    shown = broker.dlq_get(ids[1])
    assert shown is not None and shown.reason is RejectReason.PROCESSING_FAILURE
    assert shown.message_type == "enquiry" and shown.dlq == dlq
    assert ids[1] in shown.raw
    assert broker.dlq_get("no-such-id") is None
    assert {s.name: s.messages for s in broker.queue_stats([dlq])}[dlq] == 3


def test_list_limit(broker: Broker, topology: Topology) -> None:
    _park(broker, topology, 5)
    assert len(broker.dlq_list(limit=2)) == 2
    assert len(broker.dlq_list()) == 5


def test_discard(broker: Broker, topology: Topology) -> None:
    ids = _park(broker, topology, 2)
    gone = broker.dlq_discard(ids[0])
    assert gone.message_id == ids[0]
    assert [p.message_id for p in broker.dlq_list()] == [ids[1]]
    with pytest.raises(ParkedMessageNotFound):
        broker.dlq_discard(ids[0])


def test_replay_after_fixing_the_cause_is_processed(broker: Broker, topology: Topology) -> None:
    (parked_id,) = _park(broker, topology, 1)
    replayed = broker.dlq_replay(parked_id)
    assert replayed.queue == topology.enquiry_queue(AGENCY, Rag.AMBER)
    assert broker.dlq_list() == []
    fixed = Recorder()  # the handler that rejected now accepts
    with broker.consumer(topology.enquiry_queues(AGENCY), fixed) as consumer:
        assert consumer.run_once(5) == 1
    (delivery,) = fixed.seen
    assert delivery.message_id == parked_id
    assert delivery.attempts == 1  # a replay starts a fresh attempt count
    assert broker.dlq_list() == []


def test_replayed_message_that_fails_again_keeps_its_original_route(broker: Broker, topology: Topology) -> None:
    (parked_id,) = _park(broker, topology, 1)
    broker.dlq_replay(parked_id)
    still_broken = Recorder(verdicts={parked_id: [Verdict.REJECT]})
    with broker.consumer(topology.enquiry_queues(AGENCY), still_broken) as consumer:
        consumer.run_once(5)
    (again,) = broker.dlq_list()
    assert again.message_id == parked_id
    assert again.original_exchange == topology.enquiries_exchange
    assert again.original_routing_key == f"{AGENCY}.amber"


def test_replay_of_unknown_id(broker: Broker) -> None:
    with pytest.raises(ParkedMessageNotFound):
        broker.dlq_replay("missing")


def test_dlq_ops_need_known_queues(make_broker) -> None:  # type: ignore[no-untyped-def]
    from mashlink.broker import BrokerError

    with pytest.raises(BrokerError, match="declare"):
        make_broker().dlq_list()


def test_replay_goes_only_to_the_queue_the_dead_letter_queue_belongs_to(broker: Broker, topology: Topology) -> None:
    """A parked message whose parking header names another queue is refused, not routed there.

    Agencies may publish to the dead-letter exchange, so the header is not
    trusted: replaying it as written would let an agency use the hub's broker
    rights to put a message on another agency's queue.
    """
    from mashlink.broker.errors import ReplayTargetMismatch
    from mashlink.broker.headers import H_QUEUE, H_REASON
    from mashlink.broker.link import RawMessage

    own = topology.enquiry_queue(AGENCY, Rag.AMBER)
    elsewhere = topology.enquiry_queue(AGENCY, Rag.RED)
    env = enquiry_envelope(Rag.AMBER, n=99)
    broker.publish_raw([RawMessage(
        body=env.model_dump_json().encode(), exchange=topology.dead_letter_exchange,
        routing_key=topology.dlq_for(own), message_id=env.message_id, message_type="enquiry",
        headers={H_REASON: RejectReason.PROCESSING_FAILURE.value, H_QUEUE: elsewhere},
    )])
    parked = broker.dlq_get(env.message_id)
    assert parked is not None and parked.queue == elsewhere and parked.dlq == topology.dlq_for(own)
    with pytest.raises(ReplayTargetMismatch, match="not the queue that dead-letter queue belongs to"):
        broker.dlq_replay(env.message_id)
    assert [p.message_id for p in broker.dlq_list()] == [env.message_id]  # still parked
    nothing = Recorder()
    with broker.consumer([elsewhere], nothing) as consumer:
        consumer.run_once(1)
    assert nothing.seen == []
