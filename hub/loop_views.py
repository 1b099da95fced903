"""Read models for closing the loop: who has been told, the decision deadline, alerts, counts.

Why separate from the service: the referral page, the worklist, the API,
``/metrics`` and ``mashlink status`` all ask the same questions ("was every
recipient told and did they read it", "is the decision late", "which alerts
has nobody acknowledged"), and each must get the same answer at the same
``now``. States are computed from the stored times against ``now`` (as the
enquiry statistics are), not from whether the tracker has ticked yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..config.loop import OtherLocalAuthority, find_other_la
from .alerts import AlertView
from .models import (
    AlertRow,
    DecisionRow,
    LoopEscalationRow,
    OutcomeRow,
    ReceiptRow,
    ReferralRow,
    ReferralStatus,
    TeamNotificationRow,
)

SETTLED, ON_TIME, AT_RISK, OVERDUE = "settled", "on_time", "at_risk", "overdue"


def deadline_state(now: datetime, at_risk_at: datetime | None, due_at: datetime | None) -> str | None:
    if due_at is None or at_risk_at is None:
        return None
    if now >= due_at:
        return OVERDUE
    return AT_RISK if now >= at_risk_at else ON_TIME


class ReceiptView(BaseModel):
    receipt_id: str
    agency_id: str
    event_type: str
    event_message_id: str
    outcome_id: str | None
    status: str
    channel: str
    detail: str
    at: datetime
    received_at: datetime


class RecipientState(BaseModel):
    """One recipient of the outcome: sent, delivered, acknowledged or failed (with the reason)."""

    outcome_id: str
    recipient: str
    status: str
    channel: str | None
    reason: str | None
    sent_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    failed_at: datetime | None
    settled_at: datetime | None
    acknowledge_by: datetime | None
    acknowledgement: str | None  # settled, on_time, at_risk, overdue
    receipts: list[ReceiptView]


class DecisionDeadline(BaseModel):
    due_at: datetime
    at_risk_at: datetime
    state: str  # on_time, at_risk, overdue, decided_on_time, decided_late
    decided_at: datetime | None


class TransferView(BaseModel):
    to_local_authority: str
    name: str | None
    email: str | None
    phone: str | None
    secure_mailbox: str | None
    configured: bool

    @classmethod
    def of(cls, code: str, other: OtherLocalAuthority | None) -> "TransferView":
        if other is None:
            return cls(to_local_authority=code, name=None, email=None, phone=None, secure_mailbox=None,
                       configured=False)
        return cls(to_local_authority=code, name=other.name, email=other.email, phone=other.phone,
                   secure_mailbox=other.secure_mailbox, configured=True)


class EscalationView(BaseModel):
    escalation_id: str
    kind: str
    level: str
    recipient: str | None
    outcome_id: str | None
    due_at: datetime | None
    raised_at: datetime
    detail: str


class ReferralLoop(BaseModel):
    """Everything the hub knows about closing the loop on one referral."""

    referral_id: str
    at: datetime
    decision_deadline: DecisionDeadline | None
    transfer: TransferView | None
    recipients: list[RecipientState]
    other_receipts: list[ReceiptView]
    alerts: list[AlertView]
    escalations: list[EscalationView]


class LoopFlags(BaseModel):
    """What the worklist shows per referral."""

    decision: str | None = None  # on_time, at_risk, overdue (open referrals only)
    decision_due_at: datetime | None = None
    unacknowledged: int = 0
    failed: int = 0
    alerts_unacknowledged: int = 0
    transfer_to: str | None = None


class LoopCounts(BaseModel):
    """Totals for /metrics and ``mashlink status``."""

    at: datetime
    outcomes_undelivered: int
    outcomes_unacknowledged: int
    outcomes_failed: int
    outcomes_acknowledgement_at_risk: int
    outcomes_acknowledgement_overdue: int
    alerts_unacknowledged: int
    decisions_at_risk: int
    decisions_overdue: int
    notifications_pending: int
    notifications_failed: int
    referrals_for_transfer: int


def _receipt(r: ReceiptRow) -> ReceiptView:
    return ReceiptView(receipt_id=r.receipt_id, agency_id=r.agency_id, event_type=r.event_type,
                       event_message_id=r.event_message_id, outcome_id=r.outcome_id, status=r.status,
                       channel=r.channel, detail=r.detail, at=r.at, received_at=r.received_at)


def decision_deadline(row: ReferralRow, decided_at: datetime | None, now: datetime) -> DecisionDeadline | None:
    if row.decision_due_at is None or row.decision_at_risk_at is None:
        return None
    if row.status == ReferralStatus.DECIDED.value:
        late = decided_at is not None and decided_at > row.decision_due_at
        state = "decided_late" if late else "decided_on_time"
    else:
        state = deadline_state(now, row.decision_at_risk_at, row.decision_due_at) or ON_TIME
    return DecisionDeadline(due_at=row.decision_due_at, at_risk_at=row.decision_at_risk_at, state=state,
                            decided_at=decided_at)


def referral_loop(session: Session, row: ReferralRow, now: datetime,
                  others: list[OtherLocalAuthority]) -> ReferralLoop:
    referral_id = row.referral_id
    decision = session.execute(select(DecisionRow).where(DecisionRow.referral_id == referral_id)).scalar_one_or_none()
    receipts = session.execute(select(ReceiptRow).where(ReceiptRow.referral_id == referral_id)
                               .order_by(ReceiptRow.at, ReceiptRow.received_at)).scalars().all()
    by_outcome: dict[str, list[ReceiptView]] = {}
    other_receipts = []
    for r in receipts:
        if r.outcome_id:
            by_outcome.setdefault(r.outcome_id, []).append(_receipt(r))
        else:
            other_receipts.append(_receipt(r))
    outcomes = session.execute(select(OutcomeRow).where(OutcomeRow.referral_id == referral_id)
                               .order_by(OutcomeRow.recipient)).scalars().all()
    recipients = [RecipientState(
        outcome_id=o.outcome_id, recipient=o.recipient, status=o.delivery_status, channel=o.delivery_channel,
        reason=o.delivery_detail, sent_at=o.sent_at, delivered_at=o.delivered_at, acknowledged_at=o.acknowledged_at,
        failed_at=o.failed_at, settled_at=o.settled_at, acknowledge_by=o.ack_due_at,
        acknowledgement=SETTLED if o.settled_at else deadline_state(now, o.ack_at_risk_at, o.ack_due_at),
        receipts=by_outcome.get(o.outcome_id, [])) for o in outcomes]
    alerts = session.execute(select(AlertRow).where(AlertRow.referral_id == referral_id)
                             .order_by(AlertRow.occurred_at.desc())).scalars().all()
    notified = _notified(session, [a.alert_id for a in alerts])
    escalations = session.execute(select(LoopEscalationRow).where(LoopEscalationRow.referral_id == referral_id)
                                  .order_by(LoopEscalationRow.raised_at)).scalars().all()
    return ReferralLoop(
        referral_id=referral_id, at=now,
        decision_deadline=decision_deadline(row, decision.recorded_at if decision else None, now),
        transfer=TransferView.of(row.transfer_to, find_other_la(others, row.transfer_to)) if row.transfer_to else None,
        recipients=recipients, other_receipts=other_receipts,
        alerts=[AlertView.of(a, notified.get(a.alert_id)) for a in alerts],
        escalations=[EscalationView(escalation_id=e.escalation_id, kind=e.kind, level=e.level, recipient=e.recipient,
                                    outcome_id=e.outcome_id, due_at=e.due_at, raised_at=e.raised_at, detail=e.detail)
                     for e in escalations])


def _notified(session: Session, subject_ids: list[str]) -> dict[str, list[str]]:
    """Per alert: each channel and what happened ("email:example sent", "webhook:host pending: ...")."""
    if not subject_ids:
        return {}
    out: dict[str, list[str]] = {}
    for n in session.execute(select(TeamNotificationRow).where(TeamNotificationRow.subject_id.in_(subject_ids))
                             .order_by(TeamNotificationRow.channel_index)).scalars():
        text = f"{n.channel_name} {n.status}" + (f" ({n.last_error})" if n.last_error and n.status != "sent" else "")
        out.setdefault(n.subject_id, []).append(text)
    return out


def worklist_flags(session: Session, referral_ids: Iterable[str], now: datetime) -> dict[str, LoopFlags]:
    ids = list(dict.fromkeys(referral_ids))
    if not ids:
        return {}
    flags = {i: LoopFlags() for i in ids}
    for row in session.execute(select(ReferralRow).where(ReferralRow.referral_id.in_(ids))).scalars():
        f = flags[row.referral_id]
        f.transfer_to = row.transfer_to
        if row.status != ReferralStatus.DECIDED.value:
            f.decision = deadline_state(now, row.decision_at_risk_at, row.decision_due_at)
            f.decision_due_at = row.decision_due_at
    for referral_id, status, settled in session.execute(
            select(OutcomeRow.referral_id, OutcomeRow.delivery_status, OutcomeRow.settled_at)
            .where(OutcomeRow.referral_id.in_(ids))).all():
        if settled is None:
            flags[referral_id].unacknowledged += 1
        if status == "failed":
            flags[referral_id].failed += 1
    for referral_id, n in session.execute(
            select(AlertRow.referral_id, func.count()).where(AlertRow.referral_id.in_(ids),
                                                             AlertRow.acknowledged_at.is_(None))
            .group_by(AlertRow.referral_id)).all():
        flags[referral_id].alerts_unacknowledged = int(n)
    return flags


def loop_counts(session: Session, now: datetime) -> LoopCounts:
    def count(*where: object) -> int:
        table = where[0]
        return int(session.execute(select(func.count()).select_from(table).where(*where[1:])).scalar_one())  # type: ignore[arg-type]

    not_decided = ReferralRow.status != ReferralStatus.DECIDED.value
    unsettled = OutcomeRow.settled_at.is_(None)
    return LoopCounts(
        at=now,
        outcomes_undelivered=count(OutcomeRow, OutcomeRow.delivery_status.in_(("sent", "failed"))),
        outcomes_unacknowledged=count(OutcomeRow, unsettled),
        outcomes_failed=count(OutcomeRow, OutcomeRow.delivery_status == "failed"),
        outcomes_acknowledgement_at_risk=count(OutcomeRow, unsettled, OutcomeRow.ack_at_risk_at <= now,
                                               OutcomeRow.ack_due_at > now),
        outcomes_acknowledgement_overdue=count(OutcomeRow, unsettled, OutcomeRow.ack_due_at <= now),
        alerts_unacknowledged=count(AlertRow, AlertRow.acknowledged_at.is_(None)),
        decisions_at_risk=count(ReferralRow, not_decided, and_(ReferralRow.decision_at_risk_at <= now,
                                                               ReferralRow.decision_due_at > now)),
        decisions_overdue=count(ReferralRow, not_decided, ReferralRow.decision_due_at <= now),
        notifications_pending=count(TeamNotificationRow, TeamNotificationRow.status == "pending"),
        notifications_failed=count(TeamNotificationRow, TeamNotificationRow.status == "failed"),
        referrals_for_transfer=count(ReferralRow, not_decided, ReferralRow.transfer_to.is_not(None)),
    )
