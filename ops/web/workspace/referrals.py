"""Practitioner pages: the referral list, one referral's picture, re-rating, decisions, the printable chronology."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from ....config.security import Permission
from ....hub.access import ReferralPage, actor_of
from ....hub.auth.authorise import AccessDecision, authorise
from ....hub.auth.principal import Principal
from ....hub.errors import Conflict, InvalidInput, NotFound
from ....hub.linked_models import ChronologyEntry, LinkedView
from ....hub.loop_api import release_loop
from ....hub.loop_views import ReferralLoop
from ....hub.release import ViewerScope
from ....hub.worklist import WorklistFilter, follow_up_flags
from ..render import render
from .common import BREAK_GLASS_FIELD, PageForbidden, Workspace, not_found_page
from ....schemas.codes import OutcomeType, Rag
from ....schemas.decision import Decision

router = APIRouter(include_in_schema=False)

REFERRAL_ID = Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
ALERT_ID = Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
STATUSES = ["open", "closed", "decided"]
UPDATED = {"rag": "The rating has changed and open enquiries have new deadlines.",
           "created": "The referral is created and enquiries have gone to every partner agency.",
           "decision": "The decision is recorded and outcomes are on their way.",
           "match": "Your match decision is recorded and the chronology updated.",
           "alert": "The alert is acknowledged and your name recorded against it."}


def _access(workspace: Workspace, principal: Principal, permission: Permission, referral_id: str,
            break_glass_reason: str | None = None) -> AccessDecision:
    """The same referral-level decision as the API; refusals are audited and shown as a 403 page."""
    access = workspace.hub.access
    decision = authorise(principal, permission, workspace.hub.service.settings.security,
                         referral=access.scope(referral_id), break_glass_reason=break_glass_reason)
    if not decision.allowed:
        access.denied(principal, permission, referral_id, decision.reason)
        raise PageForbidden(decision.reason)
    return decision


@router.get("/workspace/referrals", response_class=HTMLResponse)
def referral_list(request: Request, q: str | None = Query(default=None, max_length=100),
                  rag: str | None = Query(default=None, max_length=8),
                  status: str | None = Query(default=None, max_length=16),
                  la: str | None = Query(default=None, max_length=16),
                  due: str | None = Query(default=None, max_length=16)) -> HTMLResponse:
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.REFERRAL_READ)
    errors: list[dict[str, str]] = []
    try:
        filters = WorklistFilter(text=(q or "").strip() or None, rag=Rag(rag) if rag else None,
                                 status=status if status in STATUSES else None, local_authority=la or None,
                                 due_soon=due == "soon", overdue=due == "overdue")
    except (ValueError, ValidationError):
        errors.append({"field": "rag", "text": "Choose red, amber or green"})
        filters = WorklistFilter()
    rows = workspace.hub.access.worklist(principal, filters)
    # Decision deadlines, unacknowledged outcomes and alerts per row (ids and counts only), counted over
    # what this viewer may see: an agency liaison's row never counts another agency's failed outcome.
    security = workspace.hub.service.settings.security
    scope = ViewerScope.for_principal(principal)
    with workspace.hub.service.store.read() as session:
        flags = follow_up_flags(session, [r.referral_id for r in rows], workspace.hub.service.clock(),
                                agency_id=None if scope.mash else (principal.agency_id or ""),
                                receipts=security.may(principal.roles, Permission.RECEIPTS_READ),
                                alerts=security.may(principal.roles, Permission.ALERTS_READ))
    return render(request, "workspace/referrals.html", workspace.context(
        request, principal, "Referrals", rows=rows, flags=flags, errors=errors, now=workspace.hub.service.clock(),
        filters={"q": q or "", "rag": rag or "", "status": status or "", "la": la or "", "due": due or ""},
        statuses=STATUSES, local_authorities=sorted(workspace.hub.service.settings.rag),
        agencies={a.id: a.name for a in workspace.hub.service.settings.agencies}))


def _chronology_filter(view: LinkedView, agency: str | None, category: str | None) -> list[ChronologyEntry]:
    return [e for e in view.chronology
            if (not agency or e.agency_id == agency) and (not category or e.category.value == category)]


def _page(request: Request, principal: Principal, decision: AccessDecision, referral_id: str, *,
          agency: str | None = None, category: str | None = None, message: str | None = None,
          errors: list[dict[str, str]] | None = None, form: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    workspace = Workspace.of(request)
    page: ReferralPage = workspace.hub.access.referral_page(principal, decision, referral_id)
    security = workspace.hub.service.settings.security
    may = {p.value: security.may(principal.roles, p) for p in Permission}
    agencies = {a.id: a.name for a in workspace.hub.service.settings.agencies}
    return render(request, "workspace/referral.html", workspace.context(
        request, principal, f"Referral {referral_id}", referral_id=referral_id, page=page, may=may,
        closing=_closing(workspace, referral_id, may, ViewerScope.for_principal(principal, decision.roles)),
        agencies=agencies, chronology=_chronology_filter(page.view, agency, category),
        chronology_agencies=sorted({e.agency_id for e in page.view.chronology}),
        chronology_categories=sorted({e.category.value for e in page.view.chronology}),
        selected={"agency": agency or "", "category": category or ""}, message=message,
        errors=errors or [], form=form or {}, outcome_types=[o.value for o in OutcomeType], rags=[r.value for r in Rag],
        break_glass=decision.break_glass, now=workspace.hub.service.clock()), status_code=status_code)


def _closing(workspace: Workspace, referral_id: str, may: dict[str, bool], scope: ViewerScope) -> ReferralLoop:
    """Who has been told, the decision deadline, transfer, alerts and loop escalations, released as the API
    releases them (``release_loop``): each part only with its permission, and a viewer outside the MASH sees
    only their own agency's follow-up, never another agency's failed delivery and its error."""
    return release_loop(workspace.hub.service.referral_loop(referral_id), scope,
                        receipts=bool(may.get(Permission.RECEIPTS_READ.value)),
                        alerts=bool(may.get(Permission.ALERTS_READ.value)))


@router.post("/workspace/referrals/{referral_id}/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge_alert(request: Request, referral_id: str = REFERRAL_ID, alert_id: str = ALERT_ID,
                      csrf_token: str = Form(""), note: str = Form("", max_length=2000)) -> Response:
    """A practitioner records that they have seen an alert on this referral (audited with their name)."""
    workspace, principal = begin_action(request, csrf_token, Permission.ALERTS_ACKNOWLEDGE, referral_id)
    errors = []
    try:
        alert = workspace.hub.service.alert(alert_id)
        if alert.referral_id != referral_id:
            raise NotFound("alert", alert_id)
        workspace.hub.service.acknowledge_alert(alert_id, actor=actor_of(principal), note=note)
    except (Conflict, InvalidInput, NotFound) as exc:
        errors.append({"field": f"ack-note-{alert_id}", "text": str(exc)})
    return finish_action(request, workspace, principal, referral_id, errors, {"note": note}, "alert")


@router.get("/workspace/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(request: Request, referral_id: str = REFERRAL_ID,
                  agency: str | None = Query(default=None, max_length=64),
                  category: str | None = Query(default=None, max_length=64),
                  updated: str | None = Query(default=None, max_length=16)) -> Response:
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.LINKED_VIEW_READ)
    try:
        scope = workspace.hub.access.scope(referral_id)
    except NotFound as exc:
        return not_found_page(request, principal, exc)
    decision = authorise(principal, Permission.LINKED_VIEW_READ, workspace.hub.service.settings.security,
                         referral=scope)
    if not decision.allowed:
        workspace.hub.access.denied(principal, Permission.LINKED_VIEW_READ, referral_id, decision.reason)
        may_break_glass = workspace.hub.service.settings.security.may(principal.roles, Permission.BREAK_GLASS) \
            and "X-Break-Glass-Reason" in decision.reason
        return render(request, "workspace/break_glass.html" if may_break_glass else "workspace/error.html",
                      workspace.context(request, principal, "You cannot see this referral",
                                        heading="You cannot see this referral", detail=decision.reason,
                                        referral_id=referral_id, errors=[]), status_code=403)
    return _page(request, principal, decision, referral_id, agency=agency, category=category,
                 message=UPDATED.get(updated or ""))


@router.post("/workspace/referrals/{referral_id}/break-glass", response_class=HTMLResponse)
def break_glass(request: Request, referral_id: str = REFERRAL_ID, csrf_token: str = Form(""),
                reason: str = Form("", max_length=500)) -> Response:
    """Open a referral outside one's local authorities with a reason: allowed, flagged and audited."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, csrf_token)
    workspace.require(principal, Permission.LINKED_VIEW_READ)
    scope = workspace.hub.access.scope(referral_id)
    decision = authorise(principal, Permission.LINKED_VIEW_READ, workspace.hub.service.settings.security,
                         referral=scope, break_glass_reason=reason)
    if not decision.allowed:
        workspace.hub.access.denied(principal, Permission.LINKED_VIEW_READ, referral_id, decision.reason)
        return render(request, "workspace/break_glass.html", workspace.context(
            request, principal, "You cannot see this referral", heading="You cannot see this referral",
            detail=decision.reason, referral_id=referral_id,
            errors=[{"field": BREAK_GLASS_FIELD, "text": decision.reason}]), status_code=403)
    return _page(request, principal, decision, referral_id)


def begin_action(request: Request, csrf_token: str, permission: Permission, referral_id: str) -> tuple[Workspace, Principal]:
    """What every action on a referral page checks first: session, CSRF, the permission, the referral's scope."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, csrf_token)
    workspace.require(principal, permission)
    _access(workspace, principal, permission, referral_id)
    return workspace, principal


def finish_action(request: Request, workspace: Workspace, principal: Principal, referral_id: str,
           errors: list[dict[str, str]], form: dict[str, str], updated: str) -> Response:
    """Back to the referral: its page with the errors next to the fields (422), or a success banner."""
    if errors:
        view_decision = _access(workspace, principal, Permission.LINKED_VIEW_READ, referral_id)
        return _page(request, principal, view_decision, referral_id, errors=errors, form=form, status_code=422)
    return RedirectResponse(f"/workspace/referrals/{referral_id}?updated={updated}", status_code=303)


@router.post("/workspace/referrals/{referral_id}/rerate", response_class=HTMLResponse)
def rerate(request: Request, referral_id: str = REFERRAL_ID, csrf_token: str = Form(""),
           rag: str = Form("", max_length=8), reason: str = Form("", max_length=2000)) -> Response:
    workspace, principal = begin_action(request, csrf_token, Permission.REFERRAL_RERATE, referral_id)
    errors = []
    if rag not in {r.value for r in Rag}:
        errors.append({"field": "rerate-rag", "text": "Choose the new rating"})
    if not reason.strip():
        errors.append({"field": "rerate-reason", "text": "Enter why the rating is changing"})
    if not errors:
        try:
            workspace.hub.service.rerate(referral_id, rag, actor_of(principal), reason.strip())
        except (Conflict, InvalidInput) as exc:
            errors.append({"field": "rerate-rag", "text": str(exc)})
    return finish_action(request, workspace, principal, referral_id, errors, {"rag": rag, "reason": reason}, "rag")


@router.post("/workspace/referrals/{referral_id}/decision", response_class=HTMLResponse)
def decide(request: Request, referral_id: str = REFERRAL_ID, csrf_token: str = Form(""),
           outcome: str = Form("", max_length=32), rationale: str = Form("", max_length=20000)) -> Response:
    workspace, principal = begin_action(request, csrf_token, Permission.REFERRAL_DECIDE, referral_id)
    errors = []
    if outcome not in {o.value for o in OutcomeType}:
        errors.append({"field": "decision-outcome", "text": "Choose the decision"})
    if not rationale.strip():
        errors.append({"field": "decision-rationale", "text": "Enter the reasons for the decision"})
    if not errors:
        actor = actor_of(principal)
        try:
            workspace.hub.service.record_decision(Decision(
                decision_id=uuid.uuid4().hex, referral_id=referral_id, outcome=OutcomeType(outcome),
                rationale=rationale.strip(), decided_by=actor, decided_at=datetime.now(timezone.utc)), actor=actor)
        except (Conflict, InvalidInput) as exc:
            errors.append({"field": "decision-outcome", "text": str(exc)})
    return finish_action(request, workspace, principal, referral_id, errors,
                  {"outcome": outcome, "rationale": rationale}, "decision")


@router.get("/workspace/referrals/{referral_id}/chronology", response_class=HTMLResponse)
def chronology_print(request: Request, referral_id: str = REFERRAL_ID,
                     agency: str | None = Query(default=None, max_length=64),
                     category: str | None = Query(default=None, max_length=64)) -> Response:
    """A printable chronology for a strategy discussion (print it, or save it as PDF from the browser)."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.LINKED_VIEW_READ)
    try:
        decision = _access(workspace, principal, Permission.LINKED_VIEW_READ, referral_id)
    except NotFound as exc:
        return not_found_page(request, principal, exc)
    page = workspace.hub.access.referral_page(principal, decision, referral_id)
    agencies = {a.id: a.name for a in workspace.hub.service.settings.agencies}
    context: dict[str, Any] = workspace.context(
        request, principal, f"Chronology {referral_id}", referral_id=referral_id, page=page, agencies=agencies,
        chronology=_chronology_filter(page.view, agency, category), printed_at=workspace.hub.service.clock())
    return render(request, "workspace/chronology_print.html", context)
