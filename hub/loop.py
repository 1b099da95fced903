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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True)
class _Escalating:
    """Where a kind of row keeps its escalation state: the indexed next time, the due time, the raised stamps.

    Decisions (on ``referrals``) and outcome acknowledgements (on
    ``outcomes``) escalate by the same rule; this names their columns so one
    query and one marking step serve both.
    """

    model: Any
    next_at: str
    due_at: str
    at_risk_raised: str
    overdue_raised: str
    schedule: Callable[[Any], None]

    def take_due(self, uow: UnitOfWork, batch_size: int) -> list[Any]:
        """The rows whose next escalation has come, oldest first (skipping rows another hub holds)."""
        column = getattr(self.model, self.next_at)
        query = select(self.model).where(column.is_not(None), column <= uow.now).order_by(column).limit(batch_size)
        if uow.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(uow.session.execute(query).scalars().all())

    def mark_raised(self, row: Any, now: datetime) -> EscalationLevel:
        """Stamp the level raised now and schedule the next; past the due time only overdue is raised."""
        due = getattr(row, self.due_at)
        assert due is not None
        if due <= now:
            setattr(row, self.overdue_raised, now)
            setattr(row, self.at_risk_raised, getattr(row, self.at_risk_raised) or now)
            level = EscalationLevel.OVERDUE
        else:
            setattr(row, self.at_risk_raised, now)
            level = EscalationLevel.AT_RISK
        self.schedule(row)
        return level


_DECISIONS = _Escalating(ReferralRow, "decision_next_escalation_at", "decision_due_at",
                         "decision_at_risk_raised_at", "decision_overdue_raised_at", schedule_decision)
_ACKNOWLEDGEMENTS = _Escalating(OutcomeRow, "next_escalation_at", "ack_due_at", "at_risk_raised_at",
                                "overdue_raised_at", schedule_acknowledgement)


def raise_loop_escalations(uow: UnitOfWork, batch_size: int, counts: LoopTickCounts) -> int:
    """One batch of due decision and acknowledgement escalations; returns how many rows were taken.

    As with enquiries, a row found already past its due time raises only the
    overdue escalation (an at-risk warning for a deadline that has passed
    helps nobody).
    """
    referrals = _DECISIONS.take_due(uow, batch_size)
    for ref in referrals:
        level = _DECISIONS.mark_raised(ref, uow.now)
        overdue = level is EscalationLevel.OVERDUE
        record_escalation(uow, kind="decision", level=level.value, referral_id=ref.referral_id,
                          due_at=ref.decision_due_at, recipient="mash-manager",
                          detail=f"MASH decision {'overdue' if overdue else 'at risk'}")
        if overdue:
            counts.decision_overdue += 1
        else:
            counts.decision_at_risk += 1
    outcomes = _ACKNOWLEDGEMENTS.take_due(uow, batch_size)
    for out in outcomes:
        level = _ACKNOWLEDGEMENTS.mark_raised(out, uow.now)
        overdue = level is EscalationLevel.OVERDUE
        record_escalation(uow, kind="outcome", level=level.value, referral_id=out.referral_id,
                          due_at=out.ack_due_at, outcome_id=out.outcome_id, recipient=out.recipient,
                          detail=f"outcome {out.delivery_status}, not acknowledged "
                                 f"({'overdue' if overdue else 'at risk'})")
        if overdue:
            counts.acknowledgement_overdue += 1
        else:
            counts.acknowledgement_at_risk += 1
    return max(len(referrals), len(outcomes))


def next_loop_escalation_at(session: Session) -> datetime | None:
    """The earliest pending decision or acknowledgement escalation (two index lookups)."""
    times = [session.execute(select(func.min(getattr(kind.model, kind.next_at)))).scalar_one_or_none()
             for kind in (_DECISIONS, _ACKNOWLEDGEMENTS)]
    present = [t for t in times if t is not None]
    return min(present) if present else None
