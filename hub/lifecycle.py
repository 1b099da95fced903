"""State transitions shared by intake, responses, the deadline tracker and decisions.

Kept in one place so "when does an enquiry escalate next" and "when is a
referral's information gathering complete" have exactly one answer.
"""

from __future__ import annotations

from sqlalchemy import select

from .models import EnquiryRow, EnquiryStatus, ReferralRow, ReferralStatus
from .unit import UnitOfWork
from ..schemas.events import EscalationLevel

ACTIVE = (EnquiryStatus.OPEN.value, EnquiryStatus.PARTIAL.value)


def schedule_escalation(row: EnquiryRow) -> None:
    """Set ``next_escalation_at``: at-risk first, then overdue, nothing once answered."""
    if row.status not in ACTIVE:
        row.next_escalation_at, row.next_escalation_level = None, None
    elif row.at_risk_raised_at is None:
        row.next_escalation_at, row.next_escalation_level = row.at_risk_at, EscalationLevel.AT_RISK.value
    elif row.overdue_raised_at is None:
        row.next_escalation_at, row.next_escalation_level = row.due_at, EscalationLevel.OVERDUE.value
    else:
        row.next_escalation_at, row.next_escalation_level = None, None


def closure_reason(statuses: set[str]) -> str | None:
    """Why a referral whose enquiries have these statuses can close, or None while any is active.

    The one closing rule, used by :func:`maybe_close_referral` and by the batched
    response handler: every enquiry answered ("all_answered"), or none still
    expected in time because the rest are overdue or withdrawn ("deadlines_passed").
    """
    if not statuses.isdisjoint(ACTIVE):
        return None
    return "all_answered" if statuses <= {EnquiryStatus.ANSWERED.value} else "deadlines_passed"


def maybe_close_referral(uow: UnitOfWork, referral_id: str, *, actor: str) -> bool:
    """Close an open referral once no agency is still expected to answer in time.

    Every enquiry answered finally, overdue or withdrawn: information
    gathering is over and the referral is ready for a decision. Late answers
    are still accepted and shown afterwards.
    """
    session = uow.session
    referral = session.get(ReferralRow, referral_id)
    if referral is None or referral.status != ReferralStatus.OPEN.value:
        return False
    statuses = set(session.execute(
        select(EnquiryRow.status).where(EnquiryRow.referral_id == referral_id)
    ).scalars())
    reason = closure_reason(statuses)
    if reason is None:
        return False
    referral.status = ReferralStatus.CLOSED.value
    referral.closed_at = uow.now
    referral.closed_reason = reason
    uow.audit("referral.closed", actor=actor, referral_id=referral_id,
              detail={"reason": reason, "enquiry_statuses": sorted(statuses)})
    return True
