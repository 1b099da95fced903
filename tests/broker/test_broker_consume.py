"""Consuming: bad messages park with the right reason, retries, red first."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.broker.broker_helpers import AGENCY, Recorder, enquiry_envelope
from mashlink.broker import Broker, EnvelopeCodec, RejectReason, Topology, Verdict
from mashlink.broker.link import RawMessage
from mashlink.schemas.codes import Rag


def _raw(topology: Topology, body: bytes, message_id: str | None = "bad-1") -> RawMessage:
    return RawMessage(
        body=body,
        exchange=topology.enquiries_exchange,
        routing_key=f"{AGENCY}.green",
        message_id=message_id or "",
        message_type="enquiry",
    )


def _signed(codec: EnvelopeCodec, mutate: Callable[[dict], None], resign: bool = True) -> bytes:
    """An enquiry whose JSON is altered by ``mutate`` (and re-signed, so only the alteration is wrong)."""
    env = enquiry_envelope()
    data = json.loads(codec.encode(env))
    mutate(data)
    if resign:
        from mashlink.schemas.envelope import Envelope

        data.pop("signature", None)
        try:
            data = json.loads(codec.encode(Envelope.model_validate(data)))
        except Exception:  # noqa: BLE001 - envelope no longer valid: send as altered
            pass
    return json.dumps(data).encode()


def _invalid_body(data: dict) -> None:
    data["body"]["subjects"] = []


def _unknown_version(data: dict) -> None:
    data["schema_version"] = "2.0"


def _unknown_type(data: dict) -> None:
    data["message_type"] = "gossip"


def _tamper(data: dict) -> None:
    data["body"]["requester"] = "forged"


CASES = {
    "bad_json": (lambda codec: b'{"message_id": ', RejectReason.BAD_FORMAT),
    "absurdly_nested_json": (lambda codec: b"[" * 100_000 + b"]" * 100_000, RejectReason.BAD_FORMAT),
    "envelope_not_object": (lambda codec: b'"just a string"', RejectReason.BAD_FORMAT),
    "not_utf8": (lambda codec: b"\xff\xfe\x00", RejectReason.BAD_FORMAT),
    "bad_signature": (lambda codec: _signed(codec, _tamper, resign=False), RejectReason.BAD_SIGNATURE),
    "unknown_sender": (
        lambda codec: EnvelopeCodec({"stranger": b"s" * 16}).encode(enquiry_envelope(sender="stranger")),
        RejectReason.BAD_SIGNATURE,
    ),
    "unknown_version": (lambda codec: _signed(codec, _unknown_version, resign=False), RejectReason.UNKNOWN_SCHEMA_VERSION),
    "unknown_type": (lambda codec: _signed(codec, _unknown_type, resign=False), RejectReason.UNKNOWN_MESSAGE_TYPE),
    "invalid_body": (lambda codec: _signed(codec, _invalid_body), RejectReason.INVALID_BODY),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_message_parks_with_reason_and_queue_carries_on(
    case: str, broker: Broker, topology: Topology, codec: EnvelopeCodec
) -> None:
    make_body, reason = CASES[case]
    body = make_body(codec)
    good = enquiry_envelope(Rag.GREEN)
    broker.publish_raw([_raw(topology, body, f"bad-{case}")])
    broker.publish([topology.enquiry(good)])
    rec = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
        assert consumer.run_once(5) == 2
    assert rec.ids() == [good.message_id]  # the handler never saw the bad one
    (parked,) = broker.dlq_list()
    assert parked.message_id == f"bad-{case}"
    assert parked.reason is reason
    assert parked.detail
    assert parked.queue == topology.enquiry_queue(AGENCY, Rag.GREEN)
    assert parked.original_exchange == topology.enquiries_exchange
    assert parked.original_routing_key == f"{AGENCY}.green"
    assert parked.raw == body.decode("utf-8", "replace")  # the original body, kept for show
    stats = {s.name: s.messages for s in broker.queue_stats()}
    assert stats[topology.enquiry_queue(AGENCY, Rag.GREEN)] == 0


def test_message_without_id_gets_a_stable_synthetic_id(broker: Broker, topology: Topology) -> None:
    broker.publish_raw([_raw(topology, b"not json at all", message_id=None)])
    with broker.consumer(topology.enquiry_queues(AGENCY), Recorder()) as consumer:
        consumer.run_once(5)
    (parked,) = broker.dlq_list()
    assert parked.message_id.startswith("sha256-")
    assert broker.dlq_get(parked.message_id) is not None


def test_retry_then_success(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope(Rag.AMBER)
    rec = Recorder(verdicts={env.message_id: [Verdict.RETRY]})
    broker.publish([topology.enquiry(env)])
    with broker.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
        consumer.run_once(10)
    assert [d.attempts for d in rec.seen] == [1, 2]
    assert broker.dlq_list() == []
    assert all(s.messages == 0 for s in broker.queue_stats())


def test_retry_past_max_attempts_parks_with_delivery_limit(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope(Rag.AMBER)
    rec = Recorder(verdicts={env.message_id: [Verdict.RETRY] * 10})
    broker.publish([topology.enquiry(env)])
    with broker.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
        consumer.run_once(10)
    assert [d.attempts for d in rec.seen] == [1, 2, 3]  # max_attempts=3 in these tests
    (parked,) = broker.dlq_list()
    assert parked.reason is RejectReason.DELIVERY_LIMIT
    assert parked.attempts == 3
    assert "scripted" in parked.detail


def test_handler_exception_is_retried(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope()
    failures = {"left": 1}

    def flaky(deliveries):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("database unavailable (synthetic)")
        return Recorder()(deliveries)

    broker.publish([topology.enquiry(env)])
    seen = []

    def handler(deliveries):  # type: ignore[no-untyped-def]
        seen.extend(d.attempts for d in deliveries)
        return flaky(deliveries)

    with broker.consumer(topology.enquiry_queues(AGENCY), handler) as consumer:
        consumer.run_once(10)
    assert seen == [1, 2]
    assert broker.dlq_list() == []


def test_poison_in_a_batch_does_not_take_its_batch_mates_down(broker: Broker, topology: Topology) -> None:
    envs = [enquiry_envelope(n=i) for i in range(20)]
    poison = envs[7].message_id
    rec = Recorder(raise_for={poison})
    broker.publish([topology.enquiry(e) for e in envs])
    with broker.consumer(topology.enquiry_queues(AGENCY), rec, max_batch=20) as consumer:
        consumer.run_once(10)
    good = sorted(e.message_id for e in envs if e.message_id != poison)
    assert sorted(rec.ids()) == good  # each good one handled exactly once
    (parked,) = broker.dlq_list()
    assert parked.message_id == poison
    assert parked.reason is RejectReason.DELIVERY_LIMIT
    assert "RuntimeError" in parked.detail


def test_handler_reject_reason_is_kept(broker: Broker, topology: Topology) -> None:
    env = enquiry_envelope()
    broker.publish([topology.enquiry(env)])

    def handler(deliveries):  # type: ignore[no-untyped-def]
        from mashlink.broker import HandlerResult

        return [HandlerResult.reject(RejectReason.MAPPING_FAILURE, "code table: unknown code at subjects.0")]

    with broker.consumer(topology.enquiry_queues(AGENCY), handler) as consumer:
        consumer.run_once(5)
    (parked,) = broker.dlq_list()
    assert parked.reason is RejectReason.MAPPING_FAILURE
    assert parked.detail == "code table: unknown code at subjects.0"


def test_red_is_delivered_while_green_backlog_is_queued(broker: Broker, topology: Topology) -> None:
    greens = [enquiry_envelope(Rag.GREEN, n=i) for i in range(2000)]
    broker.publish([topology.enquiry(e) for e in greens])
    red = enquiry_envelope(Rag.RED)
    broker.publish([topology.enquiry(red)])

    # The connector design: red has its own consumer, so it never waits behind green.
    red_rec = Recorder()
    with broker.consumer([topology.enquiry_queue(AGENCY, Rag.RED)], red_rec) as red_consumer:
        assert red_consumer.run_once(5) == 1
    assert red_rec.ids() == [red.message_id]
    green_q = topology.enquiry_queue(AGENCY, Rag.GREEN)
    assert {s.name: s.messages for s in broker.queue_stats([green_q])}[green_q] == 2000

    # And one consumer given [red, amber, green] serves red ahead of the green backlog.
    red2 = enquiry_envelope(Rag.RED)
    broker.publish([topology.enquiry(red2)])
    rec = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), rec, prefetch=200, max_batch=100) as consumer:
        while consumer.run_once(5):
            pass
    assert len(rec.seen) == 2001
    assert rec.ids().index(red2.message_id) < 200


def test_unacked_messages_survive_consumer_close(broker: Broker, topology: Topology, make_broker) -> None:  # type: ignore[no-untyped-def]
    env = enquiry_envelope()
    slow_retry = make_broker(retry_backoff_s=30.0, retry_backoff_max_s=60.0)
    broker.publish([topology.enquiry(env)])
    rec = Recorder(verdicts={env.message_id: [Verdict.RETRY]})
    consumer = slow_retry.consumer(topology.enquiry_queues(AGENCY), rec)
    consumer.run_once(0.5)  # handled once, retry scheduled 30 s later, still unacked
    consumer.close()
    again = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), again) as consumer2:
        consumer2.run_once(5)
    (delivery,) = again.seen
    assert delivery.message_id == env.message_id
    assert delivery.redelivered
    assert delivery.attempts == 2


def test_batch_acks_never_cover_a_message_held_for_retry(broker: Broker, topology: Topology, make_broker) -> None:  # type: ignore[no-untyped-def]
    # One batch of eight: the third waits for a retry (unacked), the rest are acked, below it in
    # one "multiple" frame where the transport has one. After a crash only the third comes back.
    envs = [enquiry_envelope() for _ in range(8)]
    held = envs[2].message_id
    slow_retry = make_broker(retry_backoff_s=30.0, retry_backoff_max_s=60.0)
    broker.publish([topology.enquiry(env) for env in envs])
    rec = Recorder(verdicts={held: [Verdict.RETRY]})
    consumer = slow_retry.consumer(topology.enquiry_queues(AGENCY), rec, max_batch=20)
    consumer.run_once(1.0)
    assert sorted(rec.ids()) == sorted(e.message_id for e in envs)
    consumer.close()
    again = Recorder()
    with broker.consumer(topology.enquiry_queues(AGENCY), again) as consumer2:
        consumer2.run_once(3)
    assert again.ids() == [held]
    assert again.seen[0].redelivered


def test_queue_stats(broker: Broker, topology: Topology) -> None:
    broker.publish([topology.enquiry(enquiry_envelope(Rag.RED)) for _ in range(3)])
    broker.publish([topology.response(enquiry_envelope(sender=AGENCY, recipient="hub"))])
    stats = {s.name: s for s in broker.queue_stats()}
    assert stats[topology.enquiry_queue(AGENCY, Rag.RED)].messages == 3
    assert stats[topology.responses_queue].messages == 1
    assert stats[topology.dlq_for(topology.responses_queue)].messages == 0
    assert len(stats) == len(topology.queues([AGENCY]))
    absent = broker.queue_stats([f"{topology.namespace}.no-such-queue"])
    assert absent[0].messages == -1

