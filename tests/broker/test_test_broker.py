"""The in-memory TestBroker (mashlink.broker.testing): a handler test without RabbitMQ sees the real consumer path."""

from __future__ import annotations

from mashlink.broker import Broker, EnvelopeCodec, RejectReason, Verdict
from mashlink.broker.consumer import Rejection
from mashlink.broker.testing import TestBroker
from mashlink.schemas.codes import Rag
from tests.broker.broker_helpers import AGENCY, KEYS, Recorder, enquiry_envelope


def test_handler_acks_retries_and_rejects_through_the_real_consumer() -> None:
    envs = [enquiry_envelope(Rag.GREEN, n=i) for i in range(3)]
    ok, flaky, bad = (e.message_id for e in envs)
    handler = Recorder(verdicts={flaky: [Verdict.RETRY, Verdict.RETRY], bad: [Verdict.REJECT]})
    with TestBroker(EnvelopeCodec(KEYS), agencies=[AGENCY]) as tb:
        tb.publish([tb.topology.enquiry(e) for e in envs])
        queues = tb.topology.enquiry_queues(AGENCY)
        tb.deliver(queues, handler)
        # The flaky one was retried within the call (no back-off) with its attempt counter raised.
        assert handler.ids().count(ok) == 1
        assert [d.attempts for d in handler.seen if d.message_id == flaky] == [1, 2, 3]
        assert all(tb.ready(q) == 0 for q in queues)
        parked = tb.parked()
        assert [(p.message_id, p.reason) for p in parked] == [(bad, RejectReason.PROCESSING_FAILURE)]
        # The body the handler got was validated by the codec, not only the envelope.
        assert all(d.body is not None for d in handler.seen)


def test_a_forged_envelope_is_parked_and_reported_before_the_handler_sees_it() -> None:
    handler = Recorder()
    told: list[Rejection] = []
    with TestBroker(EnvelopeCodec(KEYS), agencies=[AGENCY]) as tb:
        forger = Broker("memory://", EnvelopeCodec({"hub": b"not-the-hub-key-0123x4567"}), tb.topology)
        try:
            forged = enquiry_envelope(Rag.RED)
            forger.publish([tb.topology.enquiry(forged)])
        finally:
            forger.close()
        tb.deliver(tb.topology.enquiry_queues(AGENCY), handler, on_reject=told.append)
        assert handler.seen == []
        assert [(r.message_id, r.reason) for r in told] == [(forged.message_id, RejectReason.BAD_SIGNATURE)]
        assert [p.reason for p in tb.parked()] == [RejectReason.BAD_SIGNATURE]


def test_test_brokers_do_not_share_messages() -> None:
    handler = Recorder()
    with TestBroker(EnvelopeCodec(KEYS), agencies=[AGENCY]) as one, \
            TestBroker(EnvelopeCodec(KEYS), agencies=[AGENCY]) as two:
        one.publish([one.topology.enquiry(enquiry_envelope(Rag.AMBER))])
        assert two.deliver(two.topology.enquiry_queues(AGENCY), handler, timeout_s=0.5) == 0
        assert one.deliver(one.topology.enquiry_queues(AGENCY), handler) == 1
