"""Reads of personal data, each released per viewer and written to the audit chain.

``AccessService`` is what the HTTP API (and the web workspace) call to read a
referral: it looks up the referral's scope for the authorisation function,
builds what was asked for, releases only what the viewer may see
(``release``), and records the read, with principal, role, purpose and
whose records were shown, in the same tamper-evident chain and the
disclosure log the owning agencies inspect. Denials and break-glass
openings are audited too, so the auditor can list them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ..config.security import Permission
from .auth.authorise import AccessDecision, ReferralScope
from .auth.principal import Principal
from .disclosures import DisclosureEntry, list_disclosures, record_disclosure
from .errors import NotFound
from .linked_models import LinkedView
from .models import AlertRow, EnquiryRow, EscalationRow, OutcomeRow, ReferralRow
from .worklist import WorklistFilter, WorklistRow, list_referrals
from ..schemas.decision import Outcome
from ..schemas.events import Alert
from ..schemas.referral import Referral
from .release import ViewerScope, agencies_shown, release_view
from .results import ReferralStatus
from .service import HubService

MAX_ACTOR = 200


def actor_of(principal: Principal) -> str:
    """The actor recorded for a principal: display name and subject, never a request field."""
    return principal.label[:MAX_ACTOR]


def _status_for(status: ReferralStatus, scope: ViewerScope) -> ReferralStatus:
    """An agency sees its own enquiry's state and when the rating changed: not who rated or why, not the
    decision's reasoning, not other agencies' enquiries."""
    if scope.mash:
        return status
    return status.model_copy(update={
        "enquiries": [e for e in status.enquiries if e.agency_id == scope.agency_id],
        "decision": None,
        "rag_history": [change.model_copy(update={"by": "MASH", "reason": ""}) for change in status.rag_history],
    })


class ReferralPage(BaseModel):
    """What one viewer may see of a referral; ``referral`` (the full intake record) only for MASH roles."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    referral: Referral | None
    status: ReferralStatus
    view: LinkedView
    alerts: list[Alert]
    outcomes: list[Outcome]
    escalations: list[dict[str, str]]


class AccessService:
    def __init__(self, hub: HubService) -> None:
        self.hub = hub

    def scope(self, referral_id: str) -> ReferralScope:
        """What the authorisation rules need about a referral (404 when there is none)."""
        with self.hub.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            agencies = session.execute(
                select(EnquiryRow.agency_id).where(EnquiryRow.referral_id == referral_id)
            ).scalars().all()
            return ReferralScope(referral_id=referral_id, local_authority=row.local_authority,
                                 agencies=frozenset(agencies), submitted_by=row.submitted_by)

    def disclosures(self, *, agency_id: str, since: datetime | None = None, until: datetime | None = None,
                    after_id: int = 0, limit: int = 500) -> list[DisclosureEntry]:
        """The disclosure log of one agency: who received or viewed its records."""
        with self.hub.store.read() as session:
            return list_disclosures(session, agency_id=agency_id, since=since, until=until, limit=limit,
                                    after_id=after_id)

    # ------------------------------------------------------------------ audited reads
    def linked_view(self, principal: Principal, decision: AccessDecision, referral_id: str) -> LinkedView:
        view = release_view(self.hub.linked_view(referral_id), ViewerScope.for_principal(principal, decision.roles),
                            dict(self.hub.settings.sharing_policies))
        self._record(principal, decision, referral_id, what="linked_view", agencies=agencies_shown(view))
        return view

    def referral_status(self, principal: Principal, decision: AccessDecision, referral_id: str) -> ReferralStatus:
        scope = ViewerScope.for_principal(principal, decision.roles)
        status = _status_for(self.hub.referral_status(referral_id), scope)
        self._record(principal, decision, referral_id, what="referral", agencies=[])
        return status

    def worklist(self, principal: Principal, filters: WorklistFilter) -> list[WorklistRow]:
        """Referrals the principal may work, filtered; listing children's names is an audited read."""
        scope = ViewerScope.for_principal(principal)
        policy = None if scope.mash else self.hub.settings.sharing_policies.get(scope.agency_id or "")
        with self.hub.store.read() as session:
            rows = list_referrals(
                session, filters=filters, now=self.hub.clock(), deadlines=self.hub.deadlines,
                local_authorities=principal.local_authorities if scope.mash else None,
                agency_id=None if scope.mash else (principal.agency_id or ""),
                # An agency searches only what its own policy releases (a school cannot probe NHS numbers).
                search_policy=policy, search_nothing=not scope.mash and policy is None,
            )
        with self.hub.store.unit() as uow:
            uow.audit("record.listed", actor=actor_of(principal), detail={
                "role": principal.primary_role().value, "rows": len(rows),
                "filtered": bool(filters.text or filters.rag or filters.status or filters.local_authority),
                "searched": bool(filters.text), "referral_ids": [r.referral_id for r in rows][:200],
            })
        return rows

    def referral_page(self, principal: Principal, decision: AccessDecision, referral_id: str) -> "ReferralPage":
        """Everything the referral page shows, released for this viewer, recorded as one read."""
        scope = ViewerScope.for_principal(principal, decision.roles)
        status = self.hub.referral_status(referral_id)
        view = release_view(self.hub.linked_view(referral_id), scope, dict(self.hub.settings.sharing_policies))
        referral = self.hub.referral(referral_id)
        with self.hub.store.read() as session:
            alerts = [Alert.model_validate(r.body) for r in session.execute(
                select(AlertRow).where(AlertRow.referral_id == referral_id).order_by(AlertRow.occurred_at.desc())
            ).scalars()]
            outcomes = [Outcome.model_validate(r.body) for r in session.execute(
                select(OutcomeRow).where(OutcomeRow.referral_id == referral_id).order_by(OutcomeRow.sent_at)
            ).scalars()]
            escalations = session.execute(
                select(EscalationRow).where(EscalationRow.referral_id == referral_id)
            ).scalars().all()
            raised = [{"agency_id": e.agency_id, "level": e.level, "rag": e.rag,
                       "raised_at": e.raised_at.isoformat(), "due_at": e.due_at.isoformat()}
                      for e in sorted(escalations, key=lambda e: e.raised_at)]
        if not scope.mash:
            status = _status_for(status, scope)
            alerts = [a for a in alerts if a.agency_id == scope.agency_id]
            outcomes = [o for o in outcomes if o.recipient == scope.agency_id]
        self._record(principal, decision, referral_id, what="referral_page", agencies=agencies_shown(view))
        return ReferralPage(referral=referral if scope.mash else None, status=status, view=view, alerts=alerts,
                            outcomes=outcomes,
                            escalations=raised if scope.mash else [e for e in raised
                                                                   if e["agency_id"] == scope.agency_id])

    def record_read(self, principal: Principal, decision: AccessDecision, referral_id: str, *, what: str,
                    agencies: list[str]) -> None:
        """Audit a read served by another module (the loop routes) exactly as this service's own reads."""
        self._record(principal, decision, referral_id, what=what, agencies=agencies)

    def _record(self, principal: Principal, decision: AccessDecision, referral_id: str, *, what: str,
                agencies: list[str]) -> None:
        referral = self.hub.referral(referral_id)
        role = sorted(decision.roles, key=lambda r: r.value)[0] if decision.roles else principal.primary_role()
        with self.hub.store.unit() as uow:
            if decision.break_glass:
                uow.audit("access.break_glass", actor=actor_of(principal), referral_id=referral_id,
                          detail={"role": role.value, "what": what, "local_authority": referral.local_authority},
                          reason=decision.reason or None)
            record_disclosure(
                uow, principal_subject=actor_of(principal), principal_name=principal.display_name,
                role=role.value, purpose=str(getattr(referral, "purpose", "") or "") or None,
                referral_id=referral_id, agencies=agencies, what=what,
                lawful_basis=[b.value for b in referral.lawful_basis], break_glass=decision.break_glass,
                reason=decision.reason if decision.break_glass else None,
            )

    def denied(self, principal: Principal, permission: Permission, referral_id: str, reason: str) -> None:
        """A refused attempt on a referral: the auditor sees who tried what."""
        with self.hub.store.unit() as uow:
            uow.audit("access.denied", actor=actor_of(principal), referral_id=referral_id,
                      detail={"permission": permission.value,
                              "roles": sorted(r.value for r in principal.roles)}, reason=reason[:2000])
