"""A delivery to a hub queue whose signature fails is an audit event, not only a dead letter.

Against the real broker (memory:// and RabbitMQ) and database (SQLite and
PostgreSQL), through the running ``HubRuntime``; and the consumer's
``on_reject`` hook on its own.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.consumer import Rejection
from mashlink.broker.errors import RejectReason
from mashlink.broker.link import RawMessage
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.config.signing import SignerKey
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.schemas.audit import AuditEvent
from mashlink.schemas.envelope import Envelope, MessageType
from tests.hub.test_hub_outbox_runtime import AGENCIES, broker_url, make_broker  # noqa: F401 - shared fixtures

CHILD_NAME = "Zebedee Testchild"  # must never reach the audit trail
#: Police's key id with a key that is not police's: a forgery (or a mix-up), not an unknown key id.
WRONG_POLICE_KEY = SignerKey.from_secret("police-synth", b"a-key-that-is-not-police-synths",
                                         key_id="dev-insecure-police-synth")


def _response(sender: str, body_note: str = CHILD_NAME) -> Envelope:
    body = {"response_id": uuid.uuid4().hex, "enquiry_id": "ENQ-X", "referral_id": "REF-X", "agency_id": sender,
            "agency_kind": "police", "status": "not_known", "responder": body_note,
            "responded_at": "2025-06-02T10:00:00+00:00"}
    return Envelope(message_id=uuid.uuid4().hex, correlation_id="REF-X", enquiry_id="ENQ-X",
                    message_type=MessageType.ENQUIRY_RESPONSE, sender=sender, recipient="hub",
                    sent_at=datetime(2025, 6, 2, 10, tzinfo=timezone.utc), body=body)


def _failures(hub: HubService, want: int, timeout_s: float = 30.0) -> list[AuditEvent]:
    deadline = time.monotonic() + timeout_s
    while True:
        events = hub.audit_events(action="message.signature_failed")
        if len(events) >= want or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_bad_signatures_on_hub_queues_are_audited_and_parked(hub: HubService, make_broker,  # type: ignore[no-untyped-def]
                                                             topology: Topology) -> None:
    runtime = HubRuntime(hub, make_broker, tick_interval_s=0.2, audit_check_interval_s=0)
    runtime.start()
    try:
        forger = Broker(make_broker().url, EnvelopeCodec(signer=WRONG_POLICE_KEY),
                        topology)
        try:
            wrong_key = _response("police-synth")
            forger.publish([topology.response(wrong_key)])
            # Unsigned, and from a sender the hub has no key for, straight onto the events queue's exchange.
            unsigned = _response("police-synth").model_dump(mode="json")
            unsigned["signature"] = ""
            stranger = EnvelopeCodec({"nobody-known": b"whatever-key-0a1b2c3d4e"}).encode(
                _response("nobody-known").model_copy(update={"message_type": MessageType.ALERT}))
            route = topology.response(wrong_key)
            forger.publish_raw([
                RawMessage(body=json.dumps(unsigned).encode(), exchange=route.exchange,
                           routing_key=route.routing_key, message_id=unsigned["message_id"]),
                RawMessage(body=stranger, exchange=route.exchange, routing_key=route.routing_key,
                           message_id="not a valid id, far too long to be one of ours " * 3),
                RawMessage(body=b"{not json", exchange=route.exchange, routing_key=route.routing_key,
                           message_id="garbage-1"),
            ])
        finally:
            forger.close()
        events = _failures(hub, 3)
        deadline = time.monotonic() + 30
        while not hub.audit_events(action="message.rejected") and time.monotonic() < deadline:
            time.sleep(0.05)  # the garbage message is parked (and audited) on its own
    finally:
        runtime.stop()
    by_failure = {e.detail["failure"]: e for e in hub.audit_events(action="message.signature_failed")}
    assert set(by_failure) == {"mismatch", "missing", "unknown_sender"} and len(events) == 3
    mismatch = by_failure["mismatch"]
    assert mismatch.actor == "hub" and mismatch.message_id == wrong_key.message_id
    assert mismatch.detail == {"sender": "police-synth", "queue": topology.responses_queue,
                               "reason": "bad_signature", "failure": "mismatch",
                               "message_type": "enquiry_response"}
    assert by_failure["missing"].message_id == unsigned["message_id"]
    assert by_failure["unknown_sender"].detail["sender"] == "nobody-known"
    assert by_failure["unknown_sender"].message_id.startswith("sha256-")  # the unusable id is not recorded
    for event in events:
        assert CHILD_NAME not in event.model_dump_json()
    # Not JSON at all: parked by the broker before any handler, and audited once as a rejection (codes only).
    rejected = hub.audit_events(action="message.rejected")
    assert [(e.message_id, e.detail["reason"], e.detail["sender"]) for e in rejected] == \
        [("garbage-1", "bad_format", "<invalid>")]
    # Still dead letters as before.
    inspector = make_broker()
    parked = {p.message_id: p.reason for p in inspector.dlq_list(topology.dlq_for(topology.responses_queue))}
    assert parked[wrong_key.message_id] == "bad_signature" and parked["garbage-1"] == "bad_format"
    assert len(parked) == 4
    assert hub.verify_audit().ok


class _FlakyHook:
    """Fails its first call (the audit database briefly down), then records."""

    def __init__(self) -> None:
        self.calls: list[Rejection] = []
        self.failed = False

    def __call__(self, rejection: Rejection) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database unavailable")
        self.calls.append(rejection)


def test_on_reject_is_told_before_parking_and_a_failing_hook_delays_the_park(hub: HubService,  # type: ignore[no-untyped-def]
                                                                              topology: Topology) -> None:
    broker = Broker("memory://", hub.codec, topology, retry_backoff_s=0.05)
    try:
        broker.declare(AGENCIES)
        forger = Broker(broker.url, EnvelopeCodec(signer=WRONG_POLICE_KEY),
                        topology)
        env = _response("police-synth")
        forger.publish([topology.response(env)])
        forger.close()
        handled: list[Delivery] = []

        def handler(deliveries: list[Delivery]) -> list[HandlerResult]:
            handled.extend(deliveries)
            return [HandlerResult.ack() for _ in deliveries]

        hook = _FlakyHook()
        consumer = broker.consumer([topology.responses_queue], handler, name="t")
        consumer.on_reject = hook
        dlq = topology.dlq_for(topology.responses_queue)
        consumer.run_once(0.5)
        assert hook.failed and hook.calls == [] and broker.dlq_list(dlq) == []  # held, not parked without record
        stop = threading.Event()
        threading.Timer(7.0, stop.set).start()  # the held message is retried after 5 s
        consumer.run(stop)
        assert [(r.message_id, r.reason, r.queue) for r in hook.calls] == [
            (env.message_id, RejectReason.BAD_SIGNATURE, topology.responses_queue)]
        assert json.loads(hook.calls[0].body)["message_id"] == env.message_id
        assert [p.message_id for p in broker.dlq_list(dlq)] == [env.message_id] and handled == []
    finally:
        broker.delete_topology(AGENCIES)
        broker.close()
