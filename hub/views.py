"""Views: what the hub shows of a referral, read-only (status, responses, the linked view, the loop, stats).

Why one job: every read goes through one read-only session (``store.read``)
and returns pydantic models safe to serialise, so the API, the web pages
and the CLI show the same thing. Nothing here writes; the writes that act
on what is shown (match decisions, alert acknowledgements) are in
``decisions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from ..schemas.codes import AgencyKind, Rag
from ..schemas.decision import Decision
from ..schemas.enquiry import Enquiry, EnquiryResponse
from ..schemas.referral import RagChange, Referral
from .alerts import AlertView
from .core import HubCore
from .errors import NotFound
from .lifecycle import ACTIVE
from .linked_models import MatchConfirmation
from .loop_views import LoopCounts, LoopFlags, ReferralLoop, loop_counts, referral_loop, worklist_flags
from .match_review import MatchDecisionRecord, stored_decisions
from .models import (
    OUTSTANDING,
    AlertRow,
    DecisionRow,
    EnquiryRow,
    EnquiryStatus,
    RagChangeRow,
    ReferralRow,
    ResponseRow,
)
from .results import (
    EnquiryStatRow,
    EnquiryState,
    OpenEnquiryStats,
    ReferralStatus as ReferralStatusView,
)


class Views(HubCore):
    """Read-only views of referrals, their responses, linked view, loop state and the open enquiries."""

    # ------------------------------------------------------------------ one referral
    def referral(self, referral_id: str) -> Referral:
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            return Referral.model_validate(row.body)

    def referral_status(self, referral_id: str) -> ReferralStatusView:
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            counts = dict(session.execute(
                select(ResponseRow.enquiry_id, func.count()).where(ResponseRow.referral_id == referral_id)
                .group_by(ResponseRow.enquiry_id)
            ).all())
            enquiries = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            decision_row = session.execute(
                select(DecisionRow).where(DecisionRow.referral_id == referral_id)
            ).scalar_one_or_none()
            history = session.execute(
                select(RagChangeRow).where(RagChangeRow.referral_id == referral_id).order_by(RagChangeRow.at,
                                                                                              RagChangeRow.id)
            ).scalars().all()
            return ReferralStatusView(
                referral_id=row.referral_id, status=row.status, rag=Rag(row.rag), received_at=row.received_at,
                submitted_at=row.submitted_at, closed_at=row.closed_at, closed_reason=row.closed_reason,
                rag_history=[RagChange(rag=h.rag, at=h.at, by=h.by, reason=h.reason) for h in history],
                enquiries=[EnquiryState(
                    enquiry_id=e.enquiry_id, agency_id=e.agency_id, agency_kind=AgencyKind(e.agency_kind),
                    rag=Rag(e.rag), status=e.status, last_response_status=e.last_response_status,
                    responses=counts.get(e.enquiry_id, 0), requested_at=e.requested_at, due_at=e.due_at,
                    at_risk_at=e.at_risk_at, answered_at=e.answered_at, at_risk_raised_at=e.at_risk_raised_at,
                    overdue_raised_at=e.overdue_raised_at) for e in enquiries],
                decision=Decision.model_validate(decision_row.body) if decision_row else None,
            )

    def responses(self, referral_id: str) -> list[EnquiryResponse]:
        """Every response received for a referral, follow-ups included, in sequence order per enquiry."""
        with self.store.read() as session:
            rows = session.execute(
                select(ResponseRow).where(ResponseRow.referral_id == referral_id)
                .order_by(ResponseRow.agency_id, ResponseRow.enquiry_id, ResponseRow.sequence, ResponseRow.id)
            ).scalars().all()
            return [EnquiryResponse.model_validate(r.body) for r in rows]

    def enquiries(self, referral_id: str) -> list[Enquiry]:
        """The enquiries as last sent (after any re-rating)."""
        with self.store.read() as session:
            rows = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            return [Enquiry.model_validate(r.body) for r in rows]

    def linked_view(self, referral_id: str, now: datetime | None = None) -> Any:
        """The linked view (``mashlink.hub.linked_view.build_linked_view``) of one referral."""
        from .linked_view import build_linked_view

        now = now or self.clock()
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            referral = Referral.model_validate(row.body)
            enquiry_rows = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            response_rows = session.execute(
                select(ResponseRow).where(ResponseRow.referral_id == referral_id)
                .order_by(ResponseRow.sequence, ResponseRow.id)
            ).scalars().all()
            enquiries = [Enquiry.model_validate(e.body) for e in enquiry_rows]
            responses = [EnquiryResponse.model_validate(r.body) for r in response_rows]
            overdue = {e.agency_id for e in enquiry_rows
                       if e.status == EnquiryStatus.OVERDUE.value
                       or (e.status in ACTIVE and e.due_at <= now)}
        return build_linked_view(referral, enquiries, responses, now=now, overdue=overdue,
                                 confirmations=self._match_confirmations(referral_id))

    # ------------------------------------------------------------------ match review
    def match_decisions(self, referral_id: str) -> list[MatchDecisionRecord]:
        """Every decision on the referral's record links, superseded ones included, oldest first."""
        with self.store.read() as session:
            if session.get(ReferralRow, referral_id) is None:
                raise NotFound("referral", referral_id)
            return stored_decisions(session, referral_id)

    def _match_confirmations(self, referral_id: str) -> list[MatchConfirmation]:
        """The decisions in force (not superseded), as the linked view builder takes them."""
        with self.store.read() as session:
            return [d.confirmation() for d in stored_decisions(session, referral_id, current_only=True)]

    # ------------------------------------------------------------------ across referrals
    def open_enquiry_stats(self, now: datetime | None = None) -> OpenEnquiryStats:
        """Outstanding enquiries by agency and RAG, with how many are at risk and overdue at ``now``."""
        now = now or self.clock()
        at_risk = case((and_(EnquiryRow.at_risk_at <= now, EnquiryRow.due_at > now), 1), else_=0)
        overdue = case((EnquiryRow.due_at <= now, 1), else_=0)
        with self.store.read() as session:
            rows = session.execute(
                select(EnquiryRow.agency_id, EnquiryRow.rag, func.count(), func.sum(at_risk), func.sum(overdue))
                .where(EnquiryRow.status.in_(OUTSTANDING))
                .group_by(EnquiryRow.agency_id, EnquiryRow.rag)
                .order_by(EnquiryRow.agency_id, EnquiryRow.rag)
            ).all()
        return OpenEnquiryStats(at=now, rows=[
            EnquiryStatRow(agency_id=a, rag=Rag(r), open=int(n), at_risk=int(ar or 0), overdue=int(od or 0))
            for a, r, n, ar, od in rows
        ])

    # ------------------------------------------------------------------ closing the loop
    def referral_loop(self, referral_id: str, now: datetime | None = None) -> ReferralLoop:
        """Who has been told (per recipient: sent / delivered / acknowledged / failed with reason), the
        decision deadline, a cross-border transfer, alerts and loop escalations of one referral."""
        now = now or self.clock()
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            return referral_loop(session, row, now, self.settings.other_local_authorities)

    def loop_flags(self, referral_ids: Sequence[str], now: datetime | None = None) -> dict[str, LoopFlags]:
        """Decision deadline state, unacknowledged / failed outcomes and unacknowledged alerts per referral."""
        with self.store.read() as session:
            return worklist_flags(session, referral_ids, now or self.clock())

    def loop_counts(self, now: datetime | None = None) -> LoopCounts:
        """Totals of undelivered / unacknowledged outcomes, unacknowledged alerts, late decisions."""
        with self.store.read() as session:
            return loop_counts(session, now or self.clock())

    def alert(self, alert_id: str) -> AlertView:
        with self.store.read() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound("alert", alert_id)
            return AlertView.of(row)
