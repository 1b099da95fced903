"""Delivery receipts on the hub's events queue: stored once, checked, shown per recipient with the reason."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from mashlink.broker.client import Broker
from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Verdict
from mashlink.connectors.wiring import connector_codec
from mashlink.hub.models import LoopEscalationRow, ReceiptRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import MessageType
from tests.hub.loop_support import decide, delivery, outcomes_of, receipt, receipt_body


def test_a_receipt_is_stored_once_audited_and_shown_against_its_recipient(hub: HubService) -> None:
    outcomes = decide(hub)
    health = outcomes["health-synth"]
    delivered = receipt(health, "delivered", receipt_id="R-1", at=hub.clock())
    acked = receipt(health, "acknowledged", receipt_id="R-2", detail="Task completed by duty nurse",
                    use_outcome_id=False)  # linked by the event's message id alone
    results = hub.handle_events([delivered, delivered, acked, receipt(health, "delivered", receipt_id="R-1",
                                                                      message_id="m-resent")])
    assert [r.verdict for r in results] == [Verdict.ACK] * 4
    with hub.factory() as session:
        assert session.execute(select(func.count()).select_from(ReceiptRow)).scalar_one() == 2
        assert {r.outcome_id for r in session.execute(select(ReceiptRow)).scalars()} == {health.outcome_id}
    recorded = hub.audit_events(action="receipt.recorded")
    assert [e.detail["receipt_id"] for e in recorded] == ["R-1", "R-2"]
    assert all(e.actor == "health-synth" for e in recorded)

    loop = hub.referral_loop("REF-0001")
    by_recipient = {r.recipient: r for r in loop.recipients}
    assert set(by_recipient) == {"referrer", "health-synth", "police-synth"}
    told = by_recipient["health-synth"]
    assert told.status == "acknowledged" and told.acknowledgement == "settled" and told.channel == "fhir-task"
    assert [r.receipt_id for r in told.receipts] == ["R-1", "R-2"]
    assert by_recipient["police-synth"].status == "sent" and by_recipient["police-synth"].acknowledgement == "on_time"
    # acknowledged settles the outcome: nothing left to escalate for it
    assert outcomes_of(hub, "REF-0001")["health-synth"].next_escalation_at is None


def test_a_failed_receipt_shows_at_once_with_its_reason_and_raises_a_failed_escalation(hub: HubService) -> None:
    police = decide(hub)["police-synth"]
    reason = "drop folder not writable (permission denied)"
    [result] = hub.handle_events([receipt(police, "failed", receipt_id="R-F", channel="drop-folder", detail=reason)])
    assert result.verdict is Verdict.ACK
    told = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}["police-synth"]
    assert told.status == "failed" and told.reason == reason and told.failed_at is not None
    assert told.acknowledgement == "on_time"  # failure does not stop the clock: someone must still be told
    with hub.factory() as session:
        [esc] = session.execute(select(LoopEscalationRow)).scalars().all()
        assert (esc.kind, esc.level, esc.recipient) == ("outcome", "failed", "police-synth") and reason in esc.detail
    flags = hub.loop_flags(["REF-0001"])["REF-0001"]
    assert flags.failed == 1 and flags.unacknowledged == 3
    assert hub.loop_counts().outcomes_failed == 1
    # A replay that gets through later moves it on; the failure stays in the receipts.
    hub.handle_events([receipt(police, "delivered", receipt_id="R-D", channel="drop-folder")])
    told = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}["police-synth"]
    assert told.status == "delivered" and [r.status for r in told.receipts] == ["failed", "delivered"]
    assert hub.loop_counts().outcomes_failed == 0


def test_email_delivery_settles_a_referrer_outcome_and_only_the_notifier_may_speak_for_the_referrer(
        hub: HubService) -> None:
    referrer = decide(hub)["referrer"]
    forged = receipt(referrer, "acknowledged", receipt_id="R-X", sender="police-synth", channel="email")
    from_notifier = receipt(referrer, "delivered", receipt_id="R-N", sender="referrer-notifier", channel="email",
                            detail="smtp 250")
    results = hub.handle_events([forged, from_notifier])
    assert results[0].verdict is Verdict.REJECT and results[0].reason is RejectReason.INVALID_BODY
    assert "may not send receipts for 'referrer'" in (results[0].detail or "")
    assert results[1].verdict is Verdict.ACK
    told = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}["referrer"]
    assert told.status == "delivered" and told.acknowledgement == "settled"  # email cannot acknowledge


def test_receipts_that_do_not_fit_are_rejected_with_the_field_and_audited(hub: HubService) -> None:
    outcomes = decide(hub)
    health, police = outcomes["health-synth"], outcomes["police-synth"]
    wrong_sender = receipt(health, "acknowledged", receipt_id="R-1", sender="police-synth")
    other_recipient = receipt(health, "acknowledged", receipt_id="R-2", agency_id="police-synth")
    unknown_outcome = delivery("m-u", MessageType.RECEIPT,
                               {**receipt_body(police, "delivered", receipt_id="R-3"), "outcome_id": "nope"},
                               sender="police-synth")
    unknown_referral = delivery("m-r", MessageType.RECEIPT,
                                {**receipt_body(police, "delivered", receipt_id="R-4"), "referral_id": "REF-X",
                                 "outcome_id": None}, sender="police-synth")
    bad_status = delivery("m-s", MessageType.RECEIPT, {**receipt_body(police, "read", receipt_id="R-5")},
                          sender="police-synth")
    stranger = receipt(police, "delivered", receipt_id="R-6", sender="not-an-agency", agency_id="not-an-agency")
    results = hub.handle_events([wrong_sender, other_recipient, unknown_outcome, unknown_referral, bad_status,
                                 stranger])
    assert [(r.verdict, r.reason) for r in results] == [(Verdict.REJECT, RejectReason.INVALID_BODY)] * 6
    details = [r.detail or "" for r in results]
    assert "differs from envelope.sender" in details[0]
    assert "sent to another recipient" in details[1]
    assert "body.outcome_id" in details[2] and "body.referral_id" in details[3]
    assert "body.status" in details[4] and "not-an-agency" in details[5]
    with hub.factory() as session:
        assert session.execute(select(func.count()).select_from(ReceiptRow)).scalar_one() == 0
    assert len(hub.audit_events(action="message.rejected")) == 6
    assert all(r.status == "sent" for r in hub.referral_loop("REF-0001").recipients)


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


def test_a_receipt_published_on_receipt_agency_reaches_the_running_hub(hub: HubService, broker_url: str) -> None:
    """The hub's events queue is bound to ``receipt.#``: a connector's receipt is consumed and applied."""
    health = decide(hub)["health-synth"]
    topology = hub.topology

    def factory() -> Broker:
        return Broker(broker_url, hub.codec, topology, retry_backoff_s=0.05, retry_backoff_max_s=0.2)

    runtime = HubRuntime(hub, factory, tick_interval_s=0.5, audit_check_interval_s=0)
    runtime.start()
    connector = Broker(broker_url, connector_codec(hub.settings, "health-synth"), topology)
    try:
        env = receipt(health, "acknowledged", receipt_id="R-LIVE", channel="fhir-task").envelope
        env = env.model_copy(update={"sent_at": hub.clock()})  # fresh by the hub's clock
        connector.publish([topology.event(env, "receipt.health-synth")])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and hub.audit_events(action="receipt.recorded") == []:
            time.sleep(0.05)
    finally:
        connector.close()
        runtime.stop()
        cleaner = factory()
        try:
            cleaner.delete_topology([a.id for a in hub.settings.agencies])
        finally:
            cleaner.close()
    told = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}["health-synth"]
    assert told.status == "acknowledged" and [r.receipt_id for r in told.receipts] == ["R-LIVE"]
