"""Typed hub handlers: decoding, reject-and-audit and dead-lettering happen once, around every handler.

Through the real consumer on the memory transport (signature check, body
validation, parking) with the hub's own handler and ``on_reject`` hook, on
SQLite and PostgreSQL; and a registry of its own to show what a handler is given.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Delivery, Verdict
from mashlink.broker.topology import Topology
from mashlink.config.signing import SignerKey
from mashlink.hub.handlers import HandlerRegistry, Inbound, Rejected, RejectionLedger
from mashlink.hub.models import AlertRow
from mashlink.hub.service import HubService
from mashlink.hub.unit import UnitOfWork
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.events import Alert

AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]
#: Health's key id with a key that is not health's: the signature cannot verify.
WRONG_HEALTH_KEY = SignerKey.from_secret("health-synth", b"a-key-that-is-not-health-synths",
                                         key_id="dev-insecure-health-synth")


def _alert_body(alert_id: str, **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
            "agency_kind": "health", "referral_id": None, "person_ref": "hub-subject-c1",
            "occurred_at": "2025-06-02T08:40:00+00:00", "location": "RXX01", **extra}


def _envelope(hub: HubService, message_type: MessageType, body: dict[str, Any], *,
              sender: str = "health-synth") -> Envelope:
    return Envelope(message_id=uuid.uuid4().hex, correlation_id="REF-H1", message_type=message_type,
                    sender=sender, recipient="hub", sent_at=hub.clock(), body=body)


@pytest.fixture
def memory_broker(hub: HubService, topology: Topology) -> Iterator[Broker]:
    broker = Broker("memory://", hub.codec, topology, retry_backoff_s=0.05)
    broker.declare(AGENCIES)
    try:
        yield broker
    finally:
        broker.delete_topology(AGENCIES)
        broker.close()


def _publish_as(broker: Broker, signer: SignerKey, envelopes: list[tuple[Envelope, str]]) -> None:
    sender = Broker(broker.url, EnvelopeCodec(signer=signer), broker.topology)
    try:
        sender.publish([broker.topology.event(env, routing_key) for env, routing_key in envelopes])
    finally:
        sender.close()


def test_each_bad_message_on_the_events_queue_is_parked_with_its_reason_and_audited_once(
        hub: HubService, memory_broker: Broker, topology: Topology) -> None:
    health = hub.settings.signer_key("health-synth")
    malformed = _envelope(hub, MessageType.ALERT, _alert_body("A-BAD", kind="not-a-kind"))
    unknown_type = _envelope(hub, MessageType.ENQUIRY_RESPONSE, {
        "response_id": "R-1", "enquiry_id": "E-1", "referral_id": "REF-H1", "agency_id": "health-synth",
        "agency_kind": "health", "status": "not_known", "responder": "synthetic desk",
        "responded_at": "2025-06-02T08:50:00+00:00"})
    forged = _envelope(hub, MessageType.ALERT, _alert_body("A-FORGED"))
    other_agency = _envelope(hub, MessageType.ALERT, _alert_body("A-OTHER", agency_id="police-synth",
                                                                 agency_kind="police"))
    good = _envelope(hub, MessageType.ALERT, _alert_body("A-GOOD"))
    _publish_as(memory_broker, health, [(malformed, "alert.health-synth"), (unknown_type, "alert.health-synth"),
                                        (other_agency, "alert.health-synth"), (good, "alert.health-synth")])
    _publish_as(memory_broker, WRONG_HEALTH_KEY, [(forged, "alert.health-synth")])

    consumer = memory_broker.consumer([topology.events_queue], hub.handle_events, name="hub-events-test")
    consumer.on_reject = hub.on_reject
    dlq = topology.dlq_for(topology.events_queue)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        for _ in range(200):
            if len(memory_broker.dlq_list(dlq)) >= 4:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        runner.join(10)

    parked = {p.message_id: p.reason for p in memory_broker.dlq_list(dlq)}
    assert parked == {
        malformed.message_id: RejectReason.INVALID_BODY,            # the broker's decode: not an Alert
        unknown_type.message_id: RejectReason.UNKNOWN_MESSAGE_TYPE,  # the dispatcher: no route on this queue
        forged.message_id: RejectReason.BAD_SIGNATURE,               # the broker's signature check
        other_agency.message_id: RejectReason.INVALID_BODY,         # the handler's own rule
    }
    audited = [e for e in hub.audit_events(action="message.*") if e.message_id in parked]
    assert Counter(e.message_id for e in audited) == {message_id: 1 for message_id in parked}
    actions = {e.message_id: (e.action, e.detail["reason"]) for e in audited}
    assert actions[forged.message_id] == ("message.signature_failed", "bad_signature")
    assert actions[malformed.message_id] == ("message.rejected", "invalid_body")
    assert actions[unknown_type.message_id] == ("message.rejected", "unknown_message_type")
    assert actions[other_agency.message_id] == ("message.rejected", "invalid_body")
    assert "the events queue takes alert, receipt, referral only" in \
        next(e.reason for e in audited if e.message_id == unknown_type.message_id)
    with hub.factory() as session:
        assert session.get(AlertRow, "A-GOOD") is not None  # the valid one reached its handler and was stored
        assert session.get(AlertRow, "A-OTHER") is None
    [received] = hub.audit_events(action="alert.received")
    assert received.message_id == good.message_id


class _Context:
    def __init__(self) -> None:
        self.given: list[Inbound[Any]] = []


def test_a_handler_is_given_its_declared_model_and_a_rejection_undoes_its_writes(hub: HubService) -> None:
    registry = HandlerRegistry("events")

    @registry.handles(MessageType.ALERT, Alert)
    def on_alert(context: _Context, uow: UnitOfWork, message: Inbound[Alert]) -> None:
        context.given.append(message)
        uow.audit("test.alert_seen", actor="hub", message_id=message.message_id)
        if message.body.location == "refuse":
            raise Rejected(RejectReason.INVALID_BODY, "body.location: refused by the test rule")

    context = _Context()
    dispatch = registry.dispatcher(context, hub.store, RejectionLedger())
    decoded = Alert.model_validate(_alert_body("A-1"))
    as_decoded = Delivery(_envelope(hub, MessageType.ALERT, _alert_body("A-1")), "events", False, 1, decoded)
    as_dict = Delivery(_envelope(hub, MessageType.ALERT, _alert_body("A-2")), "events", False, 1)
    refused = Delivery(_envelope(hub, MessageType.ALERT, _alert_body("A-3", location="refuse")), "events", False, 1)
    results = dispatch([as_decoded, as_dict, as_decoded, refused])

    assert [r.verdict for r in results] == [Verdict.ACK, Verdict.ACK, Verdict.ACK, Verdict.REJECT]
    assert [m.body.alert_id for m in context.given] == ["A-1", "A-2", "A-3"]  # the repeated A-1: one effect
    assert all(isinstance(m.body, Alert) and isinstance(m, Inbound) for m in context.given)
    assert context.given[0].body is decoded  # the broker's decoded body is used, not validated again
    seen = hub.audit_events(action="test.alert_seen")
    assert [e.message_id for e in seen] == [as_decoded.message_id, as_dict.message_id]  # A-3's undone
    [rejected] = hub.audit_events(action="message.rejected")
    assert rejected.message_id == refused.message_id and rejected.reason == "body.location: refused by the test rule"
    # Redelivered after commit: acknowledged from the inbox, the handler is not called again.
    assert [r.verdict for r in dispatch([as_dict])] == [Verdict.ACK] and len(context.given) == 3


def test_a_registry_refuses_two_handlers_for_one_message_type() -> None:
    registry = HandlerRegistry("events")
    registry.handles(MessageType.ALERT, Alert)(lambda context, uow, message: None)
    with pytest.raises(ValueError, match="already has a handler for 'alert'"):
        registry.handles_batch(MessageType.ALERT, BaseModel)(lambda context, uow, messages: [])


def test_the_ledger_skips_each_handler_rejection_once_and_stays_bounded() -> None:
    ledger = RejectionLedger(limit=2)
    ledger.add(["m-1", "m-1", "m-2"])
    assert ledger.take("m-1") and ledger.take("m-1") and not ledger.take("m-1")
    ledger.add(["m-3", "m-4"])
    assert not ledger.take("m-2")  # the oldest was let go past the limit
    assert ledger.take("m-3") and ledger.take("m-4")
