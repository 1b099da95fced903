"""The hub's HTTP API (FastAPI; OpenAPI at /openapi.json).

A thin layer over ``HubService`` and ``AccessService``. Every route but the
two health probes is guarded by exactly one permission, declared on the route
(``x-mashlink-permission`` in the OpenAPI document, so a test can walk every
route against every role): the caller is authenticated from a bearer token
(or a mutual-TLS proxy's verified client identity), then the one
authorisation function decides, from the permission table in configuration
and, for a referral, its local authority and the agencies it involves. The
actor recorded anywhere is the authenticated principal, never a request
field. Errors are RFC 9457 problem documents (``application/problem+json``)
naming the field, the rule and the position.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version as distribution_version
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPBearer
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config.security import Permission, Role
from .access import AccessService, actor_of
from .audit_anchor import AuditAnchor
from .audit_watch import AuditCheck
from .auth.authorise import BREAK_GLASS_READS, AccessDecision, authorise
from .auth.http import Authenticator, www_authenticate
from .auth.principal import Principal
from .auth.tokens import AuthenticationError, TokenVerifier, verifier_for
from .dead_letters import (
    DeadLetterActionRequest,
    DeadLetterActionResult,
    DeadLetters,
    DeadLetterSummary,
    DeadLetterView,
    act_on_dead_letter,
    record_body_read,
)
from .disclosures import DisclosureEntry
from .errors import Conflict, InvalidInput, NotFound
from .linked_models import MatchConfirmation
from .loop_api import add_loop_routes
from .match_review import MatchDecisionBody
from .results import DecisionResult, OpenEnquiryStats, ReferralStatus, RerateResult, SubmitResult
from ..broker.errors import BrokerError, ParkedMessageNotFound, PublishError
from .service import HubService
from ..schemas.audit import AuditEvent
from ..schemas.codes import OutcomeType, Rag
from ..schemas.decision import Decision
from ..schemas.referral import Referral

#: OpenAPI extension naming the permission that guards a route ("public" for the health probes).
PERMISSION_KEY = "x-mashlink-permission"
PUBLIC = "public"
PROBLEM_JSON = "application/problem+json"
MAX_SEQUENCE = 2**62
REFERRAL_ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                  description="Referral id (printable ASCII, at most 64 characters)")]
MESSAGE_ID = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$",
                                 description="Parked message id (printable ASCII, at most 256 characters)")]


class RerateRequest(BaseModel):
    """A new rating; who re-rated is the signed-in user (a ``by`` field is refused)."""

    model_config = ConfigDict(extra="forbid")

    rag: Rag
    reason: str = Field(min_length=1, max_length=2000)


class DecisionRequest(BaseModel):
    """The MASH decision; ``decided_by`` is the signed-in manager, never a body field."""

    model_config = ConfigDict(extra="forbid")

    decision_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64)
    outcome: OutcomeType
    rationale: str = Field(min_length=1, max_length=20000)
    decided_at: datetime | None = Field(default=None, description="Default: now")
    notify: list[str] = Field(default_factory=list, max_length=200)


class ProblemDetail(BaseModel):
    """RFC 9457 problem document; ``problems`` name the field, the rule and the position."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    problems: list[str] = Field(default_factory=list)
    error: str = Field(description="Same as title (kept for clients of earlier versions)")


class HubContext:
    """The API's collaborators, for pages served by the same app (``app.state.hub``)."""

    def __init__(self, *, service: HubService, auth: Authenticator, access: AccessService,
                 dead_letters: DeadLetters | None = None, queue_stats: Callable[[], list[Any]] | None = None,
                 audit_check: Callable[[], AuditCheck | None] | None = None) -> None:
        self.service, self.auth, self.access = service, auth, access
        self.dead_letters, self.queue_stats, self.audit_check = dead_letters, queue_stats, audit_check


class Forbidden(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def problem(status: int, title: str, detail: str = "", problems: list[str] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = ProblemDetail(title=title, status=status, detail=detail, problems=problems or [], error=title)
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(body)"


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by header and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "request body too large",
                           f"request bodies are limited to {self.max_bytes} bytes (security.max_body_bytes)")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class _Unavailable(Exception):
    """A dependency the route needs (the broker) is not there: 503 problem."""

    def __init__(self, title: str, detail: str = "") -> None:
        self.title, self.detail = title, detail
        super().__init__(title)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ProblemDetail, "content": {PROBLEM_JSON: {}}} for code in codes}


def create_app(service: HubService, *, verifier: TokenVerifier | None = None,
               queue_stats: Callable[[], list[Any]] | None = None,
               audit_check: Callable[[], AuditCheck | None] | None = None,
               dead_letters: DeadLetters | None = None,
               broker_ready: Callable[[], None] | None = None) -> FastAPI:
    """Build the API around one service.

    ``verifier`` checks bearer tokens (default: the configured identity
    provider, or the development issuer under ``environment: development``).
    ``queue_stats`` gives broker queue depths for /metrics and
    ``audit_check`` the latest scheduled audit self-check. ``dead_letters``
    operates parked messages (without it the /dead-letters routes answer 503).
    ``broker_ready`` raises when the broker cannot be reached (quickly), so
    /health/ready checks the broker as well as the database; it is kept in
    ``app.state.broker_ready``, where a wrapper may also set it.
    """
    settings = service.settings
    security = settings.security
    auth = Authenticator(verifier or verifier_for(settings), security)
    access = AccessService(service)
    bearer = HTTPBearer(auto_error=False, description="OpenID Connect access token (or a dev-issuer token)")

    app = FastAPI(
        title="mashlink hub",
        version=distribution_version("mashlink"),
        description="MASH hub: referrals, enquiry fan-out, linked view, decisions and audit. "
                    "Every route except /health/* needs a bearer token.",
        docs_url=None, redoc_url=None, openapi_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=security.max_body_bytes)
    # What the workspace pages (assembled in ops.web) share with the API: one authenticator, one access layer.
    app.state.hub = HubContext(service=service, auth=auth, access=access, dead_letters=dead_letters,
                               queue_stats=queue_stats, audit_check=audit_check)

    # ------------------------------------------------------------------ errors
    @app.exception_handler(AuthenticationError)
    async def _unauthenticated(_request: Request, exc: AuthenticationError) -> JSONResponse:
        return problem(401, "authentication required", exc.description,
                       headers={"WWW-Authenticate": www_authenticate(exc)})

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, "forbidden", exc.reason)

    @app.exception_handler(_Unavailable)
    async def _unavailable(_request: Request, exc: _Unavailable) -> JSONResponse:
        return problem(503, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_location(tuple(e['loc']))}: {e['msg']} ({e['type']})" for e in exc.errors()]
        return problem(422, "invalid request", "; ".join(problems)[:2000], problems)

    @app.exception_handler(InvalidInput)
    async def _invalid_input(_request: Request, exc: InvalidInput) -> JSONResponse:
        return problem(422, f"invalid {exc.what}", "; ".join(exc.problems)[:2000], exc.problems)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal error", "the hub could not complete the request; see the hub's log")

    # ------------------------------------------------------------------ guards
    def require(permission: Permission) -> Any:
        """A dependency: the authenticated principal, holding ``permission`` in the table."""

        def dependency(request: Request, _creds: Any = Depends(bearer)) -> Principal:
            principal = auth.principal(request)
            decision = authorise(principal, permission, security)
            if not decision.allowed:
                raise Forbidden(decision.reason)
            return principal

        return Depends(dependency)

    def on_referral(principal: Principal, permission: Permission, referral_id: str,
                    request: Request) -> AccessDecision:
        """Referral-level check (LA scope, agency involvement, break-glass); denials are audited."""
        decision = authorise(principal, permission, security, referral=access.scope(referral_id),
                             break_glass_reason=request.headers.get("x-break-glass-reason")
                             if permission in BREAK_GLASS_READS else None)
        if not decision.allowed:
            access.denied(principal, permission, referral_id, decision.reason)
            raise Forbidden(decision.reason)
        return decision

    def guarded(permission: Permission | str) -> dict[str, Any]:
        value = permission.value if isinstance(permission, Permission) else permission
        return {"openapi_extra": {PERMISSION_KEY: value}}

    errors = _responses(400, 401, 403, 404, 409, 413, 422)

    # ------------------------------------------------------------------ referrals
    @app.post("/referrals", status_code=201, response_model=SubmitResult, responses=errors,
              **guarded(Permission.REFERRAL_CREATE))
    def submit_referral(referral: Referral, request: Request,
                        agencies: list[str] | None = Query(default=None, max_length=200),
                        principal: Principal = require(Permission.REFERRAL_CREATE)) -> SubmitResult:
        """Validate a referral, store it and fan out one minimised enquiry per agency."""
        # A cross-border child is worked by this hub's own LA (flagged for transfer): scope by that LA.
        decision = authorise(principal, Permission.REFERRAL_CREATE, security,
                             local_authority=service.receiving_local_authority(referral))
        if not decision.allowed:
            raise Forbidden(decision.reason)
        actor = actor_of(principal)
        # Who rated it is the signed-in principal, never a name the submitter wrote in the body.
        referral = referral.model_copy(update={"rag_history": [
            change.model_copy(update={"by": actor}) for change in referral.rag_history]})
        return service.submit_referral(referral, agencies=agencies, actor=actor)

    @app.get("/referrals/{referral_id}", response_model=ReferralStatus, responses=errors,
             **guarded(Permission.REFERRAL_READ))
    def referral_status(referral_id: REFERRAL_ID, request: Request,
                        principal: Principal = require(Permission.REFERRAL_READ)) -> ReferralStatus:
        """Per-agency status, deadlines, RAG history and decision of one referral (audited read)."""
        decision = on_referral(principal, Permission.REFERRAL_READ, referral_id, request)
        return access.referral_status(principal, decision, referral_id)

    @app.get("/referrals/{referral_id}/linked-view", responses=errors, **guarded(Permission.LINKED_VIEW_READ))
    def linked_view(referral_id: REFERRAL_ID, request: Request,
                    principal: Principal = require(Permission.LINKED_VIEW_READ)) -> Any:
        """Subjects matched across agencies and one chronology with provenance, as released to the caller."""
        decision = on_referral(principal, Permission.LINKED_VIEW_READ, referral_id, request)
        return JSONResponse(access.linked_view(principal, decision, referral_id).model_dump(mode="json"))

    @app.post("/referrals/{referral_id}/rerate", response_model=RerateResult, responses=errors,
              **guarded(Permission.REFERRAL_RERATE))
    def rerate(referral_id: REFERRAL_ID, body: RerateRequest, request: Request,
               principal: Principal = require(Permission.REFERRAL_RERATE)) -> RerateResult:
        """Change the RAG rating while enquiries are open; deadlines are recomputed."""
        on_referral(principal, Permission.REFERRAL_RERATE, referral_id, request)
        return service.rerate(referral_id, body.rag, actor_of(principal), body.reason)

    def decide_match(referral_id: str, body: MatchDecisionBody, confirmed: bool, principal: Principal,
                     request: Request) -> MatchConfirmation:
        on_referral(principal, Permission.MATCH_CONFIRM, referral_id, request)
        return service.decide_match(referral_id, body.decided(confirmed), actor=actor_of(principal))

    @app.post("/referrals/{referral_id}/matches/confirm", response_model=MatchConfirmation, responses=errors,
              **guarded(Permission.MATCH_CONFIRM))
    def confirm_match(referral_id: REFERRAL_ID, body: MatchDecisionBody, request: Request,
                      principal: Principal = require(Permission.MATCH_CONFIRM)) -> MatchConfirmation:
        """Confirm that an agency record is about this referral person: its findings join the chronology."""
        return decide_match(referral_id, body, True, principal, request)

    @app.post("/referrals/{referral_id}/matches/reject", response_model=MatchConfirmation, responses=errors,
              **guarded(Permission.MATCH_CONFIRM))
    def reject_match(referral_id: REFERRAL_ID, body: MatchDecisionBody, request: Request,
                     principal: Principal = require(Permission.MATCH_CONFIRM)) -> MatchConfirmation:
        """Reject an agency record's link to this referral person: its findings are withheld."""
        return decide_match(referral_id, body, False, principal, request)

    @app.post("/referrals/{referral_id}/decision", response_model=DecisionResult, responses=errors,
              **guarded(Permission.REFERRAL_DECIDE))
    def decide(referral_id: REFERRAL_ID, body: DecisionRequest, request: Request,
               principal: Principal = require(Permission.REFERRAL_DECIDE)) -> DecisionResult:
        """Record the MASH decision; outcomes go to the referrer and contributing agencies."""
        on_referral(principal, Permission.REFERRAL_DECIDE, referral_id, request)
        actor = actor_of(principal)
        try:
            decision = Decision(decision_id=body.decision_id, referral_id=referral_id, outcome=body.outcome,
                                rationale=body.rationale, decided_by=actor,
                                decided_at=body.decided_at or datetime.now(timezone.utc), notify=body.notify)
        except ValueError as exc:
            raise InvalidInput("decision", [str(exc)]) from None
        return service.record_decision(decision, actor=actor)

    # Receipts per recipient, alerts and their acknowledgement (hub.loop_api).
    add_loop_routes(app, service, require=require, on_referral=on_referral, guarded=guarded,
                    forbidden=Forbidden, errors=errors)

    # ------------------------------------------------------------------ operations
    @app.get("/enquiries/stats", response_model=OpenEnquiryStats, responses=errors,
             **guarded(Permission.ENQUIRY_STATS_READ))
    def enquiry_stats(principal: Principal = require(Permission.ENQUIRY_STATS_READ)) -> OpenEnquiryStats:
        """Open, at-risk and overdue enquiries by agency and RAG (counts only)."""
        return service.open_enquiry_stats()

    # ------------------------------------------------------------------ audit
    @app.get("/audit", response_model=list[AuditEvent], responses=errors, **guarded(Permission.AUDIT_READ))
    def audit(referral_id: Annotated[str | None, Query(max_length=64)] = None,
              action: Annotated[str | None, Query(max_length=100)] = None,
              after_sequence: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
              principal: Principal = require(Permission.AUDIT_READ)) -> list[AuditEvent]:
        """The audit trail in sequence order (``action=access.break_glass`` lists break-glass openings)."""
        return service.audit_events(referral_id=referral_id, action=action,
                                    after_sequence=after_sequence, limit=limit)

    @app.get("/audit/verify", responses=errors, **guarded(Permission.AUDIT_VERIFY))
    def audit_verify(principal: Principal = require(Permission.AUDIT_VERIFY)) -> Any:
        """Recompute the keyed hash chain; any edit, deletion or reordering is reported."""
        return JSONResponse(service.verify_audit().model_dump(mode="json"))

    @app.post("/audit/verify", responses=errors, **guarded(Permission.AUDIT_VERIFY))
    def audit_verify_anchors(anchors: Annotated[list[AuditAnchor], Field(max_length=10_000)],
                             principal: Principal = require(Permission.AUDIT_VERIFY)) -> Any:
        """The chain, and that it still agrees with anchors taken earlier (``GET /audit/anchor``)."""
        return JSONResponse(service.verify_audit(anchors).model_dump(mode="json"))

    @app.get("/audit/anchor", response_model=AuditAnchor, responses=errors, **guarded(Permission.AUDIT_VERIFY))
    def audit_anchor(principal: Principal = require(Permission.AUDIT_VERIFY)) -> AuditAnchor:
        """The chain head now, signed by the hub: store it outside this hub's database."""
        return service.audit_anchor()

    @app.get("/disclosures", response_model=list[DisclosureEntry], responses=errors,
             **guarded(Permission.DISCLOSURES_READ))
    def disclosures(agency: Annotated[str, Query(min_length=1, max_length=64)],
                    since: datetime | None = None, until: datetime | None = None,
                    after_id: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
                    principal: Principal = require(Permission.DISCLOSURES_READ)) -> list[DisclosureEntry]:
        """Who received or viewed an agency's records, when and under which basis (for SARs, complaints)."""
        if Role.AUDITOR not in principal.roles and principal.agency_id != agency:
            raise Forbidden(f"you may list the disclosure log of your own agency only "
                            f"({principal.agency_id or 'none'})")
        if agency not in {a.id for a in settings.agencies}:
            raise NotFound("agency", agency)
        return access.disclosures(agency_id=agency, since=since, until=until, after_id=after_id, limit=limit)

    # ------------------------------------------------------------------ dead letters
    dlq_errors = {**errors, **_responses(503)}

    def parked_messages() -> DeadLetters:
        if dead_letters is None:
            raise _Unavailable("dead letters need the broker",
                               "this hub was started without a broker connection for dead-letter operations")
        return dead_letters

    def broker_call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ParkedMessageNotFound as exc:
            raise NotFound("parked message", str(exc.args[0]) if exc.args else "") from None
        except (BrokerError, PublishError) as exc:
            raise _Unavailable("broker unavailable", f"the broker did not complete the operation "
                                                     f"({type(exc).__name__}); the parked copy is unchanged") from None

    @app.get("/dead-letters", response_model=list[DeadLetterSummary], responses=dlq_errors,
             **guarded(Permission.DLQ_READ))
    def dead_letter_list(queue: Annotated[str | None, Query(min_length=1, max_length=200,
                                                            pattern=r"^[\x21-\x7e]+$")] = None,
                         principal: Principal = require(Permission.DLQ_READ)) -> list[DeadLetterSummary]:
        """Parked messages with why they were parked: metadata only, never a body (nothing is removed)."""
        store = parked_messages()
        return [DeadLetterSummary.of(p) for p in broker_call(lambda: store.list(queue))]

    @app.get("/dead-letters/{message_id}", response_model=DeadLetterView, responses=dlq_errors,
             **guarded(Permission.DLQ_READ))
    def dead_letter_show(message_id: MESSAGE_ID,
                         full: bool = Query(default=False, description="The full body (needs dlq.body_read; "
                                                                       "recorded as a disclosure)"),
                         reason: Annotated[str | None, Query(min_length=1, max_length=2000,
                                                             description="Why the full body is needed "
                                                                         "(required with full=true)")] = None,
                         principal: Principal = require(Permission.DLQ_READ)) -> DeadLetterView:
        """One parked message; its body redacted (ids, codes, message metadata), or in full with dlq.body_read."""
        role = None
        if full:
            decision = authorise(principal, Permission.DLQ_BODY_READ, security)
            if not decision.allowed:
                raise Forbidden(decision.reason)
            if not (reason and reason.strip()):
                raise InvalidInput("request", ["reason: required with full=true (recorded in the audit trail)"])
            role = sorted(decision.roles, key=lambda r: r.value)[0]
        store = parked_messages()
        parked = broker_call(lambda: store.get(message_id))
        if parked is None:
            raise NotFound("parked message", message_id)
        if role is None:
            return DeadLetterView.redacted_of(parked)
        record_body_read(service, principal, role, parked, reason or "")
        return DeadLetterView.full_of(parked)

    def dead_letter_act(action: Literal["replayed", "discarded"], message_id: str, reason: str,
                        principal: Principal) -> DeadLetterActionResult:
        store = parked_messages()
        return broker_call(lambda: act_on_dead_letter(service, store, action, message_id, reason,
                                                      actor_of(principal)))  # type: ignore[no-any-return]

    @app.post("/dead-letters/{message_id}/replay", response_model=DeadLetterActionResult, responses=dlq_errors,
              **guarded(Permission.DLQ_ACT))
    def dead_letter_replay(message_id: MESSAGE_ID, body: DeadLetterActionRequest,
                           principal: Principal = require(Permission.DLQ_ACT)) -> DeadLetterActionResult:
        """Republish a parked message to the queue it came from (audited, with the signed-in user as actor)."""
        return dead_letter_act("replayed", message_id, body.reason, principal)

    @app.post("/dead-letters/{message_id}/discard", response_model=DeadLetterActionResult, responses=dlq_errors,
              **guarded(Permission.DLQ_ACT))
    def dead_letter_discard(message_id: MESSAGE_ID, body: DeadLetterActionRequest,
                            principal: Principal = require(Permission.DLQ_ACT)) -> DeadLetterActionResult:
        """Remove a parked message for good (audited, with the signed-in user as actor)."""
        return dead_letter_act("discarded", message_id, body.reason, principal)

    # ------------------------------------------------------------------ documents and probes
    openapi_deps = [] if security.public_docs else [require(Permission.REFERRAL_READ)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=openapi_deps)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/health/live", **guarded(PUBLIC))
    def live() -> dict[str, str]:
        return {"status": "ok"}

    app.state.broker_ready = broker_ready

    @app.get("/health/ready", responses={503: {"description": "the database or the broker is unavailable"}},
             **guarded(PUBLIC))
    def ready() -> JSONResponse:
        """Ready when the database answers and the broker can be reached; 503 names each that cannot."""
        down: dict[str, str] = {}
        try:
            with service.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - readiness reports any database failure
            down["database"] = type(exc).__name__
        check = getattr(app.state, "broker_ready", None)
        if check is not None:
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - readiness reports any broker failure
                down["broker"] = type(exc).__name__
        if down:
            return JSONResponse(status_code=503, content={
                "status": " and ".join(down) + " unavailable", "unavailable": list(down),
                "detail": "; ".join(f"{name}: {error}" for name, error in down.items())})
        return JSONResponse({"status": "ready"})

    def metrics_access(request: Request, _creds: Any = Depends(bearer)) -> None:
        """/metrics: the scraper's own token (security.metrics.token), or a principal with metrics.read."""
        if auth.metrics_token_ok(request):
            return
        principal = auth.principal(request)
        decision = authorise(principal, Permission.METRICS_READ, security)
        if not decision.allowed:
            raise Forbidden(decision.reason)

    @app.get("/metrics", dependencies=[Depends(metrics_access)], response_class=PlainTextResponse,
             responses={**errors, 200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                        "description": "Prometheus text exposition format"}},
             **guarded(Permission.METRICS_READ))
    def metrics() -> PlainTextResponse:
        """Prometheus metrics: the sections of ``hub.metrics`` (enquiries, latency, relay, queues, dead letters, audit)."""
        from .metrics import MetricSources, exposition

        sources = MetricSources(service, queue_stats=queue_stats, dead_letters=dead_letters,
                                audit_check=audit_check, now=service.clock())
        return PlainTextResponse(exposition(sources).decode(), media_type=CONTENT_TYPE_LATEST)

    return app
