"""Delivery receipts on the hub's events queue: who has been told, and did they read it.

Why the checks: a receipt clears an escalation, so a forged one could hide
the very failure the loop exists to catch. The envelope's signature
authenticates the sender (``EnvelopeCodec`` with the per-sender keys); this
module then decides whether that sender may speak for the receipt's
``agency_id``: an agency only for itself, and the referrer notifier
(``referrer-notifier``, with its own key; never ``hub``) only for
``referrer``. A receipt must name an event the hub itself sent to that
recipient about that referral (:func:`sent_event_problem`: an outcome, an
escalation, or another event in the outbox addressed to it), so a sender
cannot file receipts against events it never received, or against another
LA's referrals. Anything else is parked with the reason and audited;
nothing is dropped.

A receipt is stored once (``receipt_id`` is the key: a resent receipt is
acknowledged without a second effect; the same id with another agency,
event, referral or status is refused, since the id is derived from those and
a clash means a forged or broken sender), audited, and applied to its outcome:
the outcome shows the furthest status reached (sent < failed < delivered <
acknowledged) with the channel and reason, and once a status that settles it
on that channel arrives (``loop.outcome_acknowledgement.settled_by``) its
acknowledgement escalations stop. A failure raises a ``failed`` escalation at
once, so the team sees it without waiting for the window to run out.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..broker.errors import RejectReason
from ..config.settings import REFERRER_NOTIFIER_ID
from .loop import FAILED, RANK, LoopPolicy, record_escalation, schedule_acknowledgement
from .models import EscalationRow, OutboxRow, OutcomeRow, ReceiptRow, ReferralRow
from .handlers import Inbound, Rejected
from .unit import UnitOfWork
from ..schemas.envelope import MessageType
from ..schemas.receipt import DeliveryReceipt, ReceiptStatus

REFERRER = "referrer"
#: Who may send a receipt for the referrer: the notifier's own identity only (it holds no hub key).
REFERRER_SENDERS = frozenset({REFERRER_NOTIFIER_ID})


def sender_problem(sender: str, agency_id: str, agencies: Collection[str]) -> str | None:
    """Why ``sender`` may not send a receipt for ``agency_id``, or None when it may."""
    if agency_id == REFERRER:
        if sender not in REFERRER_SENDERS:
            return (f"sender {sender!r} may not send receipts for 'referrer' "
                    f"(only {', '.join(sorted(REFERRER_SENDERS))})")
        return None
    if agency_id not in agencies:
        return f"body.agency_id {agency_id!r} is neither 'referrer' nor a configured agency"
    if sender != agency_id:
        return f"body.agency_id {agency_id!r} differs from envelope.sender {sender!r}"
    return None


#: Events with rows of their own, checked there; any other event is looked up in the outbox.
_OWN_ROWS = frozenset({MessageType.OUTCOME.value, MessageType.ESCALATION.value})


def sent_event_problem(session: Session, receipt: DeliveryReceipt) -> str | None:
    """Why ``receipt.event_message_id`` is not an event the hub sent to ``receipt.agency_id`` about
    ``receipt.referral_id``, or None when it is (receipts naming an outcome are checked against the outcome).

    Escalations are found by their rows; any other kind (a decision, a withdrawal) by its outbox row, whose
    stored envelope names the recipient and the referral (``recipient``, ``correlation_id``).
    """
    who, event = receipt.agency_id, receipt.event_message_id
    escalation = session.execute(select(EscalationRow).where(EscalationRow.message_id == event)).scalars().first()
    if escalation is not None:
        if escalation.agency_id != who:
            return f"body.event_message_id {event!r}: the escalation was sent to another agency, not {who!r}"
        if escalation.referral_id != receipt.referral_id:
            return f"body.referral_id {receipt.referral_id!r} is not the referral of escalation event {event!r}"
        return None
    sent = session.execute(select(OutboxRow).where(OutboxRow.message_id == event)).scalar_one_or_none()
    if sent is not None and sent.message_type not in _OWN_ROWS:
        try:
            envelope = json.loads(sent.payload)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and envelope.get("recipient") == who:
            if envelope.get("correlation_id") != receipt.referral_id:
                return f"body.referral_id {receipt.referral_id!r} is not the referral of event {event!r}"
            return None
    return f"body.event_message_id {event!r} is not an event the hub sent to {who!r}"


def _repeat_problem(stored: ReceiptRow, receipt: DeliveryReceipt) -> str | None:
    """Why a receipt reusing a stored ``receipt_id`` is not the same receipt, or None when it is."""
    differs = [name for name, before, now in (
        ("agency_id", stored.agency_id, receipt.agency_id),
        ("event_message_id", stored.event_message_id, receipt.event_message_id),
        ("referral_id", stored.referral_id, receipt.referral_id),
        ("status", stored.status, receipt.status.value),
    ) if before != now]
    if receipt.outcome_id is not None and receipt.outcome_id != stored.outcome_id:
        differs.append("outcome_id")
    if not differs:
        return None
    return (f"body.receipt_id {receipt.receipt_id!r} was already recorded with another {', '.join(differs)}: "
            "a receipt id stands for one (event, recipient, status) and is not reused")


def handle_receipt(uow: UnitOfWork, message: Inbound[DeliveryReceipt], *, agencies: Collection[str],
                   policy: LoopPolicy) -> None:
    """Store and apply one receipt, or raise ``Rejected`` (the dispatcher audits and parks it)."""
    env, receipt = message.envelope, message.body

    problem = sender_problem(env.sender, receipt.agency_id, agencies)
    if problem:
        raise Rejected(RejectReason.INVALID_BODY, problem)
    session = uow.session
    stored = session.get(ReceiptRow, receipt.receipt_id)
    if stored is not None:
        clash = _repeat_problem(stored, receipt)
        if clash:
            raise Rejected(RejectReason.INVALID_BODY, clash)
        return  # the same receipt again: one effect
    if session.get(ReferralRow, receipt.referral_id) is None:
        raise Rejected(RejectReason.INVALID_BODY, f"body.referral_id {receipt.referral_id!r}: no such referral")
    outcome: OutcomeRow | None
    if receipt.outcome_id is not None:
        outcome = session.get(OutcomeRow, receipt.outcome_id, with_for_update=True)
        if outcome is None:
            raise Rejected(RejectReason.INVALID_BODY, f"body.outcome_id {receipt.outcome_id!r}: no such outcome")
    else:
        outcome = session.execute(
            select(OutcomeRow).where(OutcomeRow.message_id == receipt.event_message_id).with_for_update()
        ).scalar_one_or_none()
    if outcome is not None:
        if outcome.referral_id != receipt.referral_id:
            raise Rejected(RejectReason.INVALID_BODY,
                           f"body.referral_id {receipt.referral_id!r} is not the outcome's referral")
        if outcome.recipient != receipt.agency_id:
            raise Rejected(RejectReason.INVALID_BODY,
                           f"body.agency_id {receipt.agency_id!r}: the outcome was sent to another recipient")
        if outcome.message_id != receipt.event_message_id:
            raise Rejected(RejectReason.INVALID_BODY,
                           f"body.event_message_id {receipt.event_message_id!r} is not the message that carried "
                           f"outcome {outcome.outcome_id!r}")
    else:
        problem = sent_event_problem(session, receipt)
        if problem:
            raise Rejected(RejectReason.INVALID_BODY, problem)
    session.add(ReceiptRow(
        receipt_id=receipt.receipt_id, message_id=env.message_id, event_message_id=receipt.event_message_id,
        event_type=receipt.event_type, referral_id=receipt.referral_id,
        outcome_id=outcome.outcome_id if outcome is not None else None, agency_id=receipt.agency_id,
        status=receipt.status.value, channel=receipt.channel, detail=receipt.detail, at=receipt.at,
        received_at=uow.now))
    uow.audit("receipt.recorded", actor=env.sender, referral_id=receipt.referral_id,
              message_id=env.message_id, detail={
                  "receipt_id": receipt.receipt_id, "status": receipt.status.value,
                  "agency_id": receipt.agency_id, "channel": receipt.channel,
                  "event_type": receipt.event_type, "event_message_id": receipt.event_message_id,
                  "outcome_id": outcome.outcome_id if outcome is not None else None},
              reason=receipt.detail or None)
    if outcome is not None:
        apply_to_outcome(uow, outcome, receipt, policy)


def apply_to_outcome(uow: UnitOfWork, outcome: OutcomeRow, receipt: DeliveryReceipt, policy: LoopPolicy) -> None:
    """Move the outcome to the furthest status its receipts show; stop escalating once settled."""
    status = receipt.status.value
    if status == ReceiptStatus.DELIVERED.value:
        outcome.delivered_at = outcome.delivered_at or receipt.at
    elif status == ReceiptStatus.ACKNOWLEDGED.value:
        outcome.acknowledged_at = outcome.acknowledged_at or receipt.at
        outcome.delivered_at = outcome.delivered_at or receipt.at
    else:
        outcome.failed_at = receipt.at
    if RANK[status] >= RANK.get(outcome.delivery_status, 0):
        outcome.delivery_status = status
        outcome.delivery_channel = receipt.channel
        outcome.delivery_detail = receipt.detail or None
    if outcome.settled_at is None and policy.settles(receipt.channel, status):
        outcome.settled_at = uow.now
        uow.audit("outcome.settled", actor="hub", referral_id=outcome.referral_id, detail={
            "outcome_id": outcome.outcome_id, "recipient": outcome.recipient, "status": status,
            "channel": receipt.channel})
    schedule_acknowledgement(outcome)
    if status == FAILED and outcome.delivery_status == FAILED:
        record_escalation(uow, kind="outcome", level=FAILED, referral_id=outcome.referral_id,
                          due_at=outcome.ack_due_at, outcome_id=outcome.outcome_id, recipient=outcome.recipient,
                          detail=f"delivery failed on {receipt.channel}: {receipt.detail}", actor="hub")
