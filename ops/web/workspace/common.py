"""What every workspace page shares: the signed-in principal, navigation by permission, error pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ....config.security import Permission
from ....hub.api import HubContext
from ....hub.auth.authorise import AccessDecision, authorise
from ....hub.auth.principal import Principal
from ....hub.errors import NotFound
from ..render import render
from ..session import CsrfFailed, SignInRequired, WebSession, sign_in_url

BREAK_GLASS_FIELD = "break_glass_reason"

#: (label, path, permission that makes the link appear)
NAVIGATION: tuple[tuple[str, str, Permission], ...] = (
    ("Referrals", "/workspace/referrals", Permission.REFERRAL_READ),
    ("New referral", "/workspace/referrals/new", Permission.REFERRAL_CREATE),
    ("Deadlines", "/workspace/ops/deadlines", Permission.ENQUIRY_STATS_READ),
    ("Queues", "/workspace/ops/queues", Permission.METRICS_READ),
    ("Dead letters", "/workspace/ops/dead-letters", Permission.DLQ_READ),
    ("Audit", "/workspace/ops/audit", Permission.AUDIT_VERIFY),
)


class PageForbidden(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Workspace:
    """Per-request access to the hub's collaborators and the browser session."""

    hub: HubContext
    session: WebSession

    @classmethod
    def of(cls, request: Request) -> "Workspace":
        return request.app.state.workspace  # type: ignore[no-any-return]

    def principal(self, request: Request) -> Principal:
        return self.session.principal(request)

    def require(self, principal: Principal, permission: Permission) -> AccessDecision:
        decision = authorise(principal, permission, self.hub.service.settings.security)
        if not decision.allowed:
            raise PageForbidden(decision.reason)
        return decision

    def context(self, request: Request, principal: Principal | None, title: str, **extra: Any) -> dict[str, Any]:
        settings = self.hub.service.settings
        navigation = []
        if principal is not None:
            for text, href, permission in NAVIGATION:
                if settings.security.may(principal.roles, permission):
                    current = request.url.path == href or (href != "/workspace/referrals"
                                                           and request.url.path.startswith(href + "/"))
                    navigation.append({"text": text, "href": href, "current": current})
        return {"page_title": title, "principal": principal, "navigation": navigation,
                "environment": settings.environment, "home_url": "/workspace",
                "csrf_token": self.session.csrf_token(request), **extra}


def install(app: FastAPI) -> None:
    """Session handling and the HTML error pages (the API's own handlers keep answering JSON)."""
    hub: HubContext = app.state.hub
    settings = hub.service.settings
    app.state.workspace = Workspace(hub=hub, session=WebSession(
        hub.auth, settings.signing_key("hub"), always_secure=settings.environment != "development"))

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_url(exc.next_url), status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        workspace = Workspace.of(request)
        try:
            principal: Principal | None = workspace.principal(request)
        except SignInRequired:
            principal = None
        return render(request, "workspace/error.html", workspace.context(
            request, principal, "You cannot see this page", heading="You cannot see this page",
            detail=exc.reason), status_code=403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> HTMLResponse:
        workspace = Workspace.of(request)
        return render(request, "workspace/error.html", workspace.context(
            request, None, "The form has expired", heading="The form has expired", detail=str(exc)),
            status_code=400)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/workspace", status_code=303)


def not_found_page(request: Request, principal: Principal, exc: NotFound) -> HTMLResponse:
    workspace = Workspace.of(request)
    return render(request, "workspace/error.html", workspace.context(
        request, principal, "Page not found", heading="Page not found", detail=str(exc)), status_code=404)
