"""Closing the loop: the decision deadline and outcome acknowledgement windows, and their escalations.

Why this mirrors the enquiry tracker: a decision nobody made in time and an
outcome nobody read are the same failure as an enquiry nobody answered, and
the MASH manager must see all three the same way. Each row carries the time
of its next escalation in an indexed column (``referrals.decision_next_
escalation_at``, ``outcomes.next_escalation_at``); the tracker's tick takes
the rows whose time has come, records a ``LoopEscalationRow``, audits it and
schedules the next level, in the tracker's own transaction and under its
cluster lock. Due times are computed when the referral arrives or the outcome
is sent, on the MASH working calendar, so the tracker needs no settings.

Team notifications for these escalations are queued later by the team
notifier (``hub.team_notify``), which reads the configured channels.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config.loop import LoopSettings, WorkingWindow
from ..config.working_hours import WorkingCalendar
from .models import LoopEscalationRow, OutcomeRow, ReferralRow, ReferralStatus
from .unit import UnitOfWork
from ..schemas.events import EscalationLevel

TRACKER_ACTOR = "deadline-tracker"
FAILED = "failed"
#: Receipt statuses by how far an outcome got; an outcome shows the furthest (a late failure of a re-send
#: never hides that an earlier copy was acknowledged).
RANK = {"sent": 0, FAILED: 1, "delivered": 2, "acknowledged": 3}


class LoopPolicy:
    """When a decision is due and how long a recipient has to acknowledge an outcome, per LA."""

    def __init__(self, settings: LoopSettings, calendar: WorkingCalendar) -> None:
        self.settings = settings
        self.calendar = calendar

    def _times(self, window: WorkingWindow, start: datetime) -> tuple[datetime, datetime]:
        at_risk = self.calendar.add_working_hours(start, window.working_hours * window.at_risk_fraction)
        return at_risk, self.calendar.add_working_hours(start, window.working_hours)

    def decision_times(self, received_at: datetime, la_code: str | None) -> tuple[datetime, datetime]:
        """(at-risk, due) of the MASH decision on a referral received at ``received_at``."""
        return self._times(self.settings.decision.window(la_code), received_at)

    def acknowledgement_times(self, sent_at: datetime, la_code: str | None) -> tuple[datetime, datetime]:
        """(at-risk, due) of an outcome's acknowledgement by its recipient."""
        return self._times(self.settings.outcome_acknowledgement.window(la_code), sent_at)

    def settles(self, channel: str, status: str) -> bool:
        return self.settings.outcome_acknowledgement.settles(channel, status)


def schedule_decision(row: ReferralRow) -> None:
    """At-risk first, then overdue, nothing once decided (or for rows from before the deadline existed)."""
    if row.status == ReferralStatus.DECIDED.value or row.decision_due_at is None or row.decision_at_risk_at is None:
        row.decision_next_escalation_at, row.decision_next_escalation_level = None, None
    elif row.decision_at_risk_raised_at is None:
        row.decision_next_escalation_at = row.decision_at_risk_at
        row.decision_next_escalation_level = EscalationLevel.AT_RISK.value
    elif row.decision_overdue_raised_at is None:
        row.decision_next_escalation_at = row.decision_due_at
        row.decision_next_escalation_level = EscalationLevel.OVERDUE.value
    else:
        row.decision_next_escalation_at, row.decision_next_escalation_level = None, None


def schedule_acknowledgement(row: OutcomeRow) -> None:
    """At-risk, then overdue, nothing once a receipt settled the outcome."""
    if row.settled_at is not None or row.ack_due_at is None or row.ack_at_risk_at is None:
        row.next_escalation_at, row.next_escalation_level = None, None
    elif row.at_risk_raised_at is None:
        row.next_escalation_at, row.next_escalation_level = row.ack_at_risk_at, EscalationLevel.AT_RISK.value
    elif row.overdue_raised_at is None:
        row.next_escalation_at, row.next_escalation_level = row.ack_due_at, EscalationLevel.OVERDUE.value
    else:
        row.next_escalation_at, row.next_escalation_level = None, None


def record_escalation(uow: UnitOfWork, *, kind: str, level: str, referral_id: str, due_at: datetime | None,
                      outcome_id: str | None = None, recipient: str | None = None, detail: str = "",
                      actor: str = TRACKER_ACTOR) -> LoopEscalationRow:
    """Store and audit one loop escalation (``decision`` or ``outcome``; at_risk, overdue or failed)."""
    row = LoopEscalationRow(escalation_id=uuid.uuid4().hex, kind=kind, referral_id=referral_id,
                            outcome_id=outcome_id, recipient=recipient, level=level, due_at=due_at,
                            raised_at=uow.now, detail=detail[:500])
    uow.session.add(row)
    action = f"decision.{level}" if kind == "decision" else f"outcome.acknowledgement_{level}"
    uow.audit(action, actor=actor, referral_id=referral_id, detail={
        "escalation_id": row.escalation_id, "outcome_id": outcome_id, "recipient": recipient,
        "due_at": due_at.isoformat() if due_at else None})
    return row


@dataclass
class LoopTickCounts:
    decision_at_risk: int = 0
    decision_overdue: int = 0
    acknowledgement_at_risk: int = 0
    acknowledgement_overdue: int = 0

    @property
    def raised(self) -> int:
        return (self.decision_at_risk + self.decision_overdue + self.acknowledgement_at_risk
                + self.acknowledgement_overdue)


def raise_loop_escalations(uow: UnitOfWork, batch_size: int, counts: LoopTickCounts) -> int:
    """One batch of due decision and acknowledgement escalations; returns how many rows were taken.

    As with enquiries, a row found already past its due time raises only the
    overdue escalation (an at-risk warning for a deadline that has passed
    helps nobody).
    """
    session = uow.session
    postgres = session.get_bind().dialect.name == "postgresql"
    query = (select(ReferralRow).where(ReferralRow.decision_next_escalation_at.is_not(None),
                                       ReferralRow.decision_next_escalation_at <= uow.now)
             .order_by(ReferralRow.decision_next_escalation_at).limit(batch_size))
    if postgres:
        query = query.with_for_update(skip_locked=True)
    referrals = session.execute(query).scalars().all()
    for ref in referrals:
        assert ref.decision_due_at is not None
        overdue = ref.decision_due_at <= uow.now
        level = EscalationLevel.OVERDUE if overdue else EscalationLevel.AT_RISK
        record_escalation(uow, kind="decision", level=level.value, referral_id=ref.referral_id,
                          due_at=ref.decision_due_at, recipient="mash-manager",
                          detail=f"MASH decision {'overdue' if overdue else 'at risk'}")
        if overdue:
            ref.decision_overdue_raised_at = uow.now
            ref.decision_at_risk_raised_at = ref.decision_at_risk_raised_at or uow.now
            counts.decision_overdue += 1
        else:
            ref.decision_at_risk_raised_at = uow.now
            counts.decision_at_risk += 1
        schedule_decision(ref)
    query_o = (select(OutcomeRow).where(OutcomeRow.next_escalation_at.is_not(None),
                                        OutcomeRow.next_escalation_at <= uow.now)
               .order_by(OutcomeRow.next_escalation_at).limit(batch_size))
    if postgres:
        query_o = query_o.with_for_update(skip_locked=True)
    outcomes = session.execute(query_o).scalars().all()
    for out in outcomes:
        assert out.ack_due_at is not None
        overdue = out.ack_due_at <= uow.now
        level = EscalationLevel.OVERDUE if overdue else EscalationLevel.AT_RISK
        record_escalation(uow, kind="outcome", level=level.value, referral_id=out.referral_id,
                          due_at=out.ack_due_at, outcome_id=out.outcome_id, recipient=out.recipient,
                          detail=f"outcome {out.delivery_status}, not acknowledged "
                                 f"({'overdue' if overdue else 'at risk'})")
        if overdue:
            out.overdue_raised_at = uow.now
            out.at_risk_raised_at = out.at_risk_raised_at or uow.now
            counts.acknowledgement_overdue += 1
        else:
            out.at_risk_raised_at = uow.now
            counts.acknowledgement_at_risk += 1
        schedule_acknowledgement(out)
    return max(len(referrals), len(outcomes))


def next_loop_escalation_at(session: Session) -> datetime | None:
    """The earliest pending decision or acknowledgement escalation (two index lookups)."""
    times = [session.execute(select(func.min(ReferralRow.decision_next_escalation_at))).scalar_one_or_none(),
             session.execute(select(func.min(OutcomeRow.next_escalation_at))).scalar_one_or_none()]
    present = [t for t in times if t is not None]
    return min(present) if present else None
