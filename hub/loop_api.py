"""API routes for closing the loop: receipts per recipient, alerts, and acknowledging an alert.

Kept out of ``hub/api.py`` so the routes of this one concern sit together;
``create_app`` calls :func:`add_loop_routes` with its own guards, so each
route is declared with exactly one permission (``x-mashlink-permission``)
and referral-level access (LA scope, agency involvement, break-glass) is
decided by the same function as every other route. Receipts and alerts carry
ids, statuses, times and places, never a name, but they are still facts about
a child (an ED attendance, who was told what), so every read is recorded as a
disclosure (``record.read`` with ``what=receipts`` / ``what=alerts``) as the
other referral reads are, and a viewer outside the MASH sees only their own
agency's part (:func:`release_loop`, shared with the workspace page).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ..config.security import Permission
from .access import AccessService, actor_of
from .alerts import AlertView
from .auth.authorise import AccessDecision, authorise
from .auth.principal import Principal
from .loop_views import (
    DecisionDeadline,
    EscalationView,
    ReceiptView,
    RecipientState,
    ReferralLoop,
    TransferView,
)
from .release import ViewerScope
from .service import HubService

ALERT_ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                               description="Alert id (printable ASCII, at most 64 characters)")]
REFERRAL_ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                  description="Referral id (printable ASCII, at most 64 characters)")]


class ReferralReceipts(BaseModel):
    """Who has been told the outcome (per recipient), the decision deadline, a transfer, and loop escalations."""

    referral_id: str
    at: datetime
    decision_deadline: DecisionDeadline | None
    transfer: TransferView | None
    recipients: list[RecipientState]
    other_receipts: list[ReceiptView] = Field(description="Receipts for events other than outcomes")
    escalations: list[EscalationView]


class AlertAcknowledgement(BaseModel):
    """A practitioner has seen the alert; who is the signed-in user, never a body field."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000, description="What is being done (optional, audited)")


def release_loop(loop: ReferralLoop, scope: ViewerScope, *, receipts: bool, alerts: bool) -> ReferralLoop:
    """What one viewer may see of a referral's loop.

    Without ``receipts.read`` nobody sees who was told, the receipts or the loop escalations (an escalation
    says "outcome to <agency> failed (<its error>)": another agency's follow-up); without ``alerts.read``
    no alerts. A viewer outside the MASH (an agency liaison, should a table grant them these permissions)
    sees only their own agency's outcome, receipts and escalations and the alerts their agency raised,
    as the enquiry escalations and alerts of the referral page are released, and not the MASH's own
    decision deadline (their view of the referral has no decision either).
    """
    hidden: dict[str, Any] = {}
    if not receipts:
        hidden.update(recipients=[], other_receipts=[], escalations=[])
    if not alerts:
        hidden["alerts"] = []
    if not scope.mash:
        own = scope.agency_id or ""
        hidden["decision_deadline"] = None
        if receipts:
            hidden.update(recipients=[r for r in loop.recipients if r.recipient == own],
                          other_receipts=[r for r in loop.other_receipts if r.agency_id == own],
                          escalations=[e for e in loop.escalations if e.kind == "outcome" and e.recipient == own])
        if alerts:
            hidden["alerts"] = [a for a in loop.alerts if a.agency_id == own]
    return loop.model_copy(update=hidden) if hidden else loop


def add_loop_routes(app: FastAPI, service: HubService, *, require: Callable[[Permission], Any],
                    on_referral: Callable[..., Any], guarded: Callable[[Permission], dict[str, Any]],
                    forbidden: Callable[[str], Exception], errors: dict[int | str, dict[str, Any]]) -> None:
    security = service.settings.security
    access = AccessService(service)

    def released(principal: Principal, decision: AccessDecision, referral_id: str) -> ReferralLoop:
        return release_loop(service.referral_loop(referral_id), ViewerScope.for_principal(principal, decision.roles),
                            receipts=security.may(decision.roles or principal.roles, Permission.RECEIPTS_READ),
                            alerts=security.may(decision.roles or principal.roles, Permission.ALERTS_READ))

    @app.get("/referrals/{referral_id}/receipts", response_model=ReferralReceipts, responses=errors,
             **guarded(Permission.RECEIPTS_READ))
    def referral_receipts(referral_id: REFERRAL_ID, request: Request,
                          principal: Principal = require(Permission.RECEIPTS_READ)) -> ReferralReceipts:
        """Per recipient: sent / delivered / acknowledged / failed (with the reason), and when it is due."""
        decision = on_referral(principal, Permission.RECEIPTS_READ, referral_id, request)
        loop = released(principal, decision, referral_id)
        access.record_read(principal, decision, referral_id, what="receipts", agencies=[])
        return ReferralReceipts(referral_id=loop.referral_id, at=loop.at, decision_deadline=loop.decision_deadline,
                                transfer=loop.transfer, recipients=loop.recipients,
                                other_receipts=loop.other_receipts, escalations=loop.escalations)

    @app.get("/referrals/{referral_id}/alerts", response_model=list[AlertView], responses=errors,
             **guarded(Permission.ALERTS_READ))
    def referral_alerts(referral_id: REFERRAL_ID, request: Request,
                        principal: Principal = require(Permission.ALERTS_READ)) -> list[AlertView]:
        """ED attendances, admissions and police notifications about the referral's children, newest first."""
        decision = on_referral(principal, Permission.ALERTS_READ, referral_id, request)
        alerts = released(principal, decision, referral_id).alerts
        # The reporting agency's records (an attendance at its hospital) were shown: its disclosure log says so.
        access.record_read(principal, decision, referral_id, what="alerts",
                           agencies=sorted({a.agency_id for a in alerts}))
        return alerts

    @app.post("/alerts/{alert_id}/acknowledge", response_model=AlertView, responses=errors,
              **guarded(Permission.ALERTS_ACKNOWLEDGE))
    def acknowledge_alert(alert_id: ALERT_ID, body: AlertAcknowledgement, request: Request,
                          principal: Principal = require(Permission.ALERTS_ACKNOWLEDGE)) -> AlertView:
        """Record that the signed-in practitioner has seen the alert (audited; a second time is 409)."""
        alert = service.alert(alert_id)  # 404 for an unknown alert
        if alert.referral_id is not None:
            on_referral(principal, Permission.ALERTS_ACKNOWLEDGE, alert.referral_id, request)
        else:  # a watched child with no referral here: the responsible team's LA decides
            decision = authorise(principal, Permission.ALERTS_ACKNOWLEDGE, security,
                                 local_authority=alert.team_la or service.settings.local_authority.code)
            if not decision.allowed:
                raise forbidden(decision.reason)
        return service.acknowledge_alert(alert_id, actor=actor_of(principal), note=body.note)
