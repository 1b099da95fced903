"""Signing in to the workspace from a browser, and out again.

With ``security.oidc`` configured, people sign in at the council's identity
provider. In ``environment: development`` only (the demo, tests and
one-machine trials) the embedded development issuer signs a person in from a
form or a link (``/sign-in/dev?role=practitioner&user=amy``), which
``mashlink demo --serve`` prints.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from ....config.security import Permission, Role
from ....hub.auth.dev_issuer import DevIssuer, DevIssuerRefused
from ..render import render
from ..session import safe_next
from .common import PageForbidden, Workspace

router = APIRouter(include_in_schema=False)

DEV_ROLES = [Role.PRACTITIONER, Role.MANAGER, Role.AGENCY_LIAISON, Role.OPS, Role.AUDITOR]


def _dev_issuer(workspace: Workspace) -> DevIssuer:
    settings = workspace.hub.service.settings
    if settings.security.oidc is not None:
        raise PageForbidden("this hub signs people in through its identity provider")
    try:
        return DevIssuer.for_settings(settings)
    except DevIssuerRefused as exc:
        raise PageForbidden(str(exc)) from None


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = Query(default=None, max_length=500)) -> Response:
    workspace = Workspace.of(request)
    settings = workspace.hub.service.settings
    if settings.security.oidc is not None:
        from .oidc import start_sign_in  # code flow with PKCE

        return start_sign_in(request, safe_next(next))
    _dev_issuer(workspace)
    agencies = [{"value": a.id, "text": a.name} for a in settings.agencies]
    return render(request, "workspace/sign_in.html", workspace.context(
        request, None, "Sign in", next=safe_next(next), roles=[r.value for r in DEV_ROLES], agencies=agencies,
        la=settings.local_authority.code))


def _start(request: Request, role: str, user: str, agency: str | None, la: str | None, next_url: str) -> Response:
    workspace = Workspace.of(request)
    issuer = _dev_issuer(workspace)
    settings = workspace.hub.service.settings
    if role not in {r.value for r in DEV_ROLES}:
        raise PageForbidden(f"role {role!r} cannot sign in here")
    user = user.strip()
    if not user or len(user) > 64 or not all(c.isalnum() or c in "-_." for c in user):
        raise PageForbidden("user name: 1 to 64 letters, digits, '-', '_' or '.'")
    agency_id = agency if agency in {a.id for a in settings.agencies} else None
    if Role(role) is Role.AGENCY_LIAISON and agency_id is None:
        raise PageForbidden("an agency liaison signs in for a configured agency")
    ttl = settings.security.dev_issuer.token_ttl_s
    token = issuer.mint(user, [Role(role)], name=user.replace(".", " ").title(),
                        local_authorities=[la or settings.local_authority.code], agency_id=agency_id, ttl_s=ttl)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    workspace.session.start(response, request, token, ttl)
    return response


@router.get("/sign-in/dev")
def dev_sign_in_link(request: Request, role: str = Query(max_length=32), user: str = Query(max_length=64),
                     agency: str | None = Query(default=None, max_length=64),
                     la: str | None = Query(default=None, max_length=16),
                     next: str | None = Query(default=None, max_length=500)) -> Response:
    """Development only: sign in from a link (what ``mashlink demo --serve`` prints)."""
    return _start(request, role, user, agency, la, safe_next(next))


@router.post("/sign-in/dev")
def dev_sign_in_form(request: Request, role: str = Form(max_length=32), user: str = Form(max_length=64),
                     agency: str | None = Form(default=None, max_length=64),
                     next: str | None = Form(default=None, max_length=500)) -> Response:
    return _start(request, role, user, agency or None, None, safe_next(next))


@router.get("/sign-out")
def sign_out(request: Request) -> Response:
    workspace = Workspace.of(request)
    response: Response = render(request, "workspace/signed_out.html",
                                workspace.context(request, None, "You have signed out"))
    workspace.session.end(response)
    return response


@router.get("/workspace")
def home(request: Request) -> RedirectResponse:
    """Each role starts where its work is."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    security = workspace.hub.service.settings.security
    for permission, path in ((Permission.REFERRAL_READ, "/workspace/referrals"),
                             (Permission.ENQUIRY_STATS_READ, "/workspace/ops/deadlines"),
                             (Permission.AUDIT_VERIFY, "/workspace/ops/audit")):
        if security.may(principal.roles, permission):
            return RedirectResponse(path, status_code=303)
    raise PageForbidden("your role has no pages in the workspace")


