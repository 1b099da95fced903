"""The hub's HTTP API (FastAPI, OpenAPI at /docs and /openapi.json).

A thin layer over ``HubService``: every route validates with the canonical
pydantic models, calls one service method and maps hub errors to HTTP
(InvalidInput -> 422 listing every problem, NotFound -> 404, Conflict ->
409). Nothing here holds state of its own; the service is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

import mashlink
from mashlink.hub.errors import Conflict, InvalidInput, NotFound
from mashlink.hub.results import DecisionResult, OpenEnquiryStats, ReferralStatus, RerateResult, SubmitResult
from mashlink.hub.service import HubService
from mashlink.hub.audit_anchor import AuditAnchor
from mashlink.hub.audit_watch import AuditCheck
from mashlink.schemas.audit import AuditEvent
from mashlink.schemas.codes import Rag
from mashlink.schemas.decision import Decision
from mashlink.schemas.referral import Referral


class RerateRequest(BaseModel):
    rag: Rag
    by: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=2000)


class ProblemDetail(BaseModel):
    """Error body: every problem names the field, the rule and the position."""

    error: str
    problems: list[str] = Field(default_factory=list)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(body)"


def create_app(service: HubService, *, queue_stats: Callable[[], list[Any]] | None = None,
               audit_check: Callable[[], AuditCheck | None] | None = None) -> FastAPI:
    """Build the API around one service (optionally a broker queue-stats callable and the runtime's audit check).

    ``audit_check`` gives the latest scheduled audit self-check (``HubRuntime.audit_watch.last``), so
    monitoring can alert on ``mashlink_audit_chain_ok 0`` instead of reading logs.
    """
    app = FastAPI(
        title="mashlink hub",
        version=mashlink.__version__,
        description="MASH hub: referrals, enquiry fan-out, linked view, decisions and audit.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_location(tuple(e['loc']))}: {e['msg']} ({e['type']})" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "invalid request", "problems": problems})

    @app.exception_handler(InvalidInput)
    async def _invalid_input(_request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": f"invalid {exc.what}", "problems": exc.problems})

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": str(exc), "problems": []})

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": str(exc), "problems": []})

    error_responses: dict[int | str, dict[str, Any]] = {
        422: {"model": ProblemDetail}, 404: {"model": ProblemDetail}, 409: {"model": ProblemDetail},
    }

    @app.post("/referrals", status_code=201, response_model=SubmitResult, responses=error_responses)
    def submit_referral(referral: Referral, agencies: list[str] | None = Query(default=None)) -> SubmitResult:
        """Validate a referral, store it and fan out one minimised enquiry per agency."""
        return service.submit_referral(referral, agencies=agencies, actor="api")

    @app.get("/referrals/{referral_id}", response_model=ReferralStatus, responses=error_responses)
    def referral_status(referral_id: str) -> ReferralStatus:
        """Per-agency status, deadlines, RAG history and decision of one referral."""
        return service.referral_status(referral_id)

    @app.get("/referrals/{referral_id}/linked-view", responses=error_responses)
    def linked_view(referral_id: str) -> Any:
        """Subjects matched across agencies and one chronology with provenance."""
        return JSONResponse(service.linked_view(referral_id).model_dump(mode="json"))

    @app.post("/referrals/{referral_id}/rerate", response_model=RerateResult, responses=error_responses)
    def rerate(referral_id: str, body: RerateRequest) -> RerateResult:
        """Change the RAG rating while enquiries are open; deadlines are recomputed."""
        return service.rerate(referral_id, body.rag, body.by, body.reason)

    @app.post("/referrals/{referral_id}/decision", response_model=DecisionResult, responses=error_responses)
    def decide(referral_id: str, decision: Decision) -> DecisionResult:
        """Record the MASH decision; outcomes go to the referrer and contributing agencies."""
        if decision.referral_id != referral_id:
            raise InvalidInput("decision", [f"referral_id: must equal the path's {referral_id!r}"])
        return service.record_decision(decision, actor="api")

    @app.get("/enquiries/stats", response_model=OpenEnquiryStats)
    def enquiry_stats() -> OpenEnquiryStats:
        """Open, at-risk and overdue enquiries by agency and RAG."""
        return service.open_enquiry_stats()

    @app.get("/audit", response_model=list[AuditEvent], responses=error_responses)
    def audit(referral_id: str | None = None, action: str | None = None,
              after_sequence: int = 0, limit: int = 100) -> list[AuditEvent]:
        """The audit trail in sequence order."""
        return service.audit_events(referral_id=referral_id, action=action,
                                    after_sequence=after_sequence, limit=limit)

    @app.get("/audit/verify")
    def audit_verify() -> Any:
        """Recompute the hash chain; any edit, deletion or reordering is reported."""
        return JSONResponse(service.verify_audit().model_dump(mode="json"))

    @app.post("/audit/verify")
    def audit_verify_anchors(anchors: list[AuditAnchor]) -> Any:
        """The chain, and that it still agrees with anchors taken earlier (``GET /audit/anchor``)."""
        return JSONResponse(service.verify_audit(anchors).model_dump(mode="json"))

    @app.get("/audit/anchor", response_model=AuditAnchor)
    def audit_anchor() -> AuditAnchor:
        """The chain head now, signed by the hub: store it outside this hub's database."""
        return service.audit_anchor()

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        try:
            with service.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - readiness reports any database failure
            return JSONResponse(status_code=503, content={"status": "database unavailable",
                                                          "detail": type(exc).__name__})
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        """Prometheus metrics: open/at-risk/overdue enquiries and queue depths."""
        registry = CollectorRegistry()
        open_g = Gauge("mashlink_enquiries_open", "Open enquiries", ["agency", "rag"], registry=registry)
        risk_g = Gauge("mashlink_enquiries_at_risk", "At-risk enquiries", ["agency", "rag"], registry=registry)
        over_g = Gauge("mashlink_enquiries_overdue", "Overdue enquiries", ["agency", "rag"], registry=registry)
        for row in service.open_enquiry_stats().rows:
            open_g.labels(row.agency_id, row.rag.value).set(row.open)
            risk_g.labels(row.agency_id, row.rag.value).set(row.at_risk)
            over_g.labels(row.agency_id, row.rag.value).set(row.overdue)
        if queue_stats is not None:
            depth = Gauge("mashlink_queue_messages", "Messages ready in a queue", ["queue"], registry=registry)
            consumers = Gauge("mashlink_queue_consumers", "Consumers on a queue", ["queue"], registry=registry)
            for stat in queue_stats():
                depth.labels(stat.name).set(stat.messages)
                consumers.labels(stat.name).set(stat.consumers)
        check = audit_check() if audit_check is not None else None
        if check is not None:
            Gauge("mashlink_audit_chain_ok", "1 when the last scheduled audit check passed, 0 when it found "
                  "tampering", registry=registry).set(1 if check.ok else 0)
            Gauge("mashlink_audit_chain_checked_timestamp_seconds", "When the audit chain was last checked",
                  registry=registry).set(check.checked_at.timestamp())
            Gauge("mashlink_audit_chain_head_sequence", "Events in the audit chain at the last check",
                  registry=registry).set(check.head_sequence)
        return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)

    return app
