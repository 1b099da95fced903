"""Ops pages: deadlines, queues, dead letters and the audit chain. No personal data on any of them.

Each page is the browser face of an API route and calls what that route
calls: the deadlines page ``HubService.open_enquiry_stats()`` (``/metrics``,
``/enquiries/stats``), the queues page ``HubContext.queue_stats()``
(``/metrics``), the dead-letter pages ``HubContext.dead_letters`` with
``DeadLetterView.redacted_of`` / ``record_body_read`` / ``act_on_dead_letter``
(``/dead-letters*``), the audit page ``verify_audit()`` / ``audit_anchor()``
and the hub's scheduled check (``/audit*``). Lists the API has no route for
(oldest outstanding enquiries, newest audit events, the queue layout) come
from ``hub.ops_views``.

Publish and deliver rates come from the RabbitMQ management API when the
broker is RabbitMQ and the plugin answers: by default at port 15672 of the
broker's host with the broker's credentials; ``MASHLINK_BROKER_MANAGEMENT_URL``
names another (``http://user:pass@host:15672``) or ``off``. Without it the
page says what is missing instead of failing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

import httpx
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ....broker.errors import BrokerError, ParkedMessageNotFound, PublishError, RejectReason
from ....broker.messages import ParkedMessage
from ....config.security import Permission
from ....hub.access import actor_of
from ....hub.auth.principal import Principal
from ....hub.dead_letters import (
    DeadLetters,
    DeadLetterSummary,
    DeadLetterView,
    act_on_dead_letter,
    record_body_read,
)
from ....hub.ops_views import DLQ_GROUP, HUB_GROUP, oldest_outstanding, queue_layout, recent_audit_events
from ..render import render
from .common import Workspace

router = APIRouter(include_in_schema=False)

MESSAGE_ID = Path(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")
MAX_REASON = 2000
MANAGEMENT_ENV = "MASHLINK_BROKER_MANAGEMENT_URL"
MANAGEMENT_TIMEOUT_S = 2.0
#: The audit filters offered as links (ids and codes only are shown whichever is chosen).
AUDIT_FILTERS = {"access.break_glass": "Break-glass openings", "access.denied": "Refused access"}
DONE = {"replayed": "was replayed to the queue it came from", "discarded": "was discarded"}
BROKER_ERRORS = (BrokerError, PublishError, OSError)


def _agency_names(workspace: Workspace) -> dict[str, str]:
    return {a.id: a.name for a in workspace.hub.service.settings.agencies}


def _problem(request: Request, workspace: Workspace, principal: Principal, title: str, detail: str,
             status_code: int, back: tuple[str, str] | None = None) -> HTMLResponse:
    return render(request, "workspace/ops/problem.html", workspace.context(
        request, principal, title, heading=title, detail=detail, back=back), status_code=status_code)


def _reason_problem(reason: str, field_id: str, what: str) -> list[dict[str, str]]:
    if not reason.strip():
        return [{"field": field_id, "text": f"Enter why you are {what}"}]
    if len(reason) > MAX_REASON:
        return [{"field": field_id, "text": f"The reason must be {MAX_REASON} characters or fewer"}]
    return []


# ---------------------------------------------------------------------- deadlines
@router.get("/workspace/ops/deadlines", response_class=HTMLResponse)
def deadlines(request: Request) -> HTMLResponse:
    """Open, at-risk and overdue enquiries by agency and RAG (as /metrics), and the oldest still owed."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.ENQUIRY_STATS_READ)
    stats = workspace.hub.service.open_enquiry_stats()
    oldest = oldest_outstanding(workspace.hub.service, now=stats.at)
    return render(request, "workspace/ops/deadlines.html", workspace.context(
        request, principal, "Deadlines", stats=stats, oldest=oldest, agencies=_agency_names(workspace)))


# ---------------------------------------------------------------------- queues
@dataclass
class Rates:
    """Per-queue publish/deliver rates (messages a second), or why there are none."""

    by_queue: dict[str, tuple[float, float]] = field(default_factory=dict)
    available: bool = False
    note: str = ""
    source: str = ""  # scheme://host:port of the management API, never its credentials


def management_endpoint(broker_url: str, environ: Mapping[str, str] | None = None
                        ) -> tuple[str, tuple[str, str] | None, str] | None:
    """(base URL, credentials, vhost) of the RabbitMQ management API for ``broker_url``; None when there is none."""
    environ = os.environ if environ is None else environ
    broker = urlsplit(broker_url)
    if broker.scheme not in ("amqp", "amqps", "pyamqp"):
        return None
    vhost = unquote(broker.path[1:]) if broker.path not in ("", "/") else "/"
    configured = environ.get(MANAGEMENT_ENV, "").strip()
    if configured.lower() in ("off", "none", "0", "false"):
        return None
    if configured:
        api = urlsplit(configured)
        if api.scheme not in ("http", "https") or not api.hostname:
            return None
        user, password = api.username, api.password
        netloc = api.hostname + (f":{api.port}" if api.port else "")
        base = f"{api.scheme}://{netloc}{api.path.rstrip('/')}"
    else:
        user, password = broker.username, broker.password
        base = f"http://{broker.hostname or 'localhost'}:15672"
    if user is None:
        user, password = broker.username or "guest", broker.password or "guest"
    return base, (unquote(user), unquote(password or "")), vhost


def management_rates(broker_url: str, environ: Mapping[str, str] | None = None,
                     timeout_s: float = MANAGEMENT_TIMEOUT_S) -> Rates:
    """Publish and deliver rates per queue from the management API; a note (never an error) when unavailable."""
    endpoint = management_endpoint(broker_url, environ)
    if endpoint is None:
        scheme = urlsplit(broker_url).scheme or "memory"
        why = ("the embedded broker keeps no rates" if scheme == "memory"
               else f"no management API is configured ({MANAGEMENT_ENV})")
        return Rates(note=f"Rates need the RabbitMQ management plugin: {why}.")
    base, auth, vhost = endpoint
    url = f"{base}/api/queues/{quote(vhost, safe='')}"
    columns = "name,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
    try:
        answer = httpx.get(url, params={"columns": columns}, auth=auth, timeout=timeout_s)
        answer.raise_for_status()
        queues = answer.json()
        if not isinstance(queues, list):
            raise ValueError("not a list of queues")
    except (httpx.HTTPError, ValueError) as exc:
        return Rates(source=base, note=f"Rates need the RabbitMQ management plugin: it did not answer at {base} "
                                       f"({type(exc).__name__}).")
    rates: dict[str, tuple[float, float]] = {}
    for queue in queues:
        if not isinstance(queue, dict) or not isinstance(queue.get("name"), str):
            continue
        stats = queue.get("message_stats") or {}
        publish = (stats.get("publish_details") or {}).get("rate", 0.0)
        deliver = (stats.get("deliver_get_details") or {}).get("rate", 0.0)
        rates[queue["name"]] = (float(publish or 0.0), float(deliver or 0.0))
    return Rates(by_queue=rates, available=True, source=base)


@router.get("/workspace/ops/queues", response_class=HTMLResponse)
def queues(request: Request) -> HTMLResponse:
    """Depth and consumers of every queue (as /metrics), rates where the management API answers."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.METRICS_READ)
    service = workspace.hub.service
    agencies = _agency_names(workspace)
    broker_scheme = urlsplit(service.settings.broker_url).scheme or "memory"
    stats: dict[str, Any] | None = None
    broker_error = None
    if workspace.hub.queue_stats is not None:
        try:
            stats = {s.name: s for s in workspace.hub.queue_stats()}
        except Exception as exc:  # noqa: BLE001 - the page reports an unreachable broker, it does not fail
            broker_error = type(exc).__name__
    groups: list[dict[str, Any]] = []
    connectors: list[dict[str, Any]] = []
    rates = Rates()
    if stats is not None:
        rates = management_rates(service.settings.broker_url)
        layout = queue_layout(service.topology, agencies)
        titles = {HUB_GROUP: "Hub queues", DLQ_GROUP: "Dead-letter queues"}
        by_group: dict[str, list[dict[str, Any]]] = {}
        for role in layout:
            stat = stats.get(role.name)
            by_group.setdefault(role.group, []).append({
                "role": role, "reported": stat is not None and stat.messages >= 0,
                "missing": stat is not None and stat.messages < 0,
                "messages": stat.messages if stat is not None else None,
                "consumers": stat.consumers if stat is not None else None,
                "rates": rates.by_queue.get(role.name)})
        others = [s for name, s in stats.items() if name not in {r.name for r in layout}]
        for group, rows in by_group.items():
            groups.append({"id": f"queues-{group.replace(' ', '-')}", "rows": rows,
                           "title": titles.get(group) or f"{agencies.get(group, group)} queues"})
        if others:
            groups.append({"id": "queues-other", "title": "Other queues", "rows": [
                {"role": None, "name": s.name, "reported": s.messages >= 0, "missing": s.messages < 0,
                 "messages": s.messages, "consumers": s.consumers, "rates": rates.by_queue.get(s.name)}
                for s in others]})
        for agency_id, name in agencies.items():
            lanes = service.topology.enquiry_queues(agency_id)
            counted = [stats[q].consumers for q in lanes if q in stats and stats[q].messages >= 0]
            connectors.append({"agency": name, "consumers": sum(counted) if counted else None})
    return render(request, "workspace/ops/queues.html", workspace.context(
        request, principal, "Queues", wired=workspace.hub.queue_stats is not None, broker_error=broker_error,
        groups=groups, connectors=connectors, rates=rates, embedded=broker_scheme == "memory",
        none_reported=stats is not None and not any(r["reported"] or r["missing"] for g in groups
                                                    for r in g["rows"])))


# ---------------------------------------------------------------------- dead letters
def _dead_letters(request: Request, workspace: Workspace, principal: Principal) -> DeadLetters | HTMLResponse:
    store = workspace.hub.dead_letters
    if store is None:
        return _problem(request, workspace, principal, "Dead letters need the broker",
                        "This hub was started without a broker connection for dead-letter operations, so "
                        "parked messages cannot be listed, read, replayed or discarded here. Start the hub "
                        "with its broker (mashlink hub) or use mashlink dlq on a machine that reaches it.", 503)
    return store


def _broker_down(request: Request, workspace: Workspace, principal: Principal, exc: Exception) -> HTMLResponse:
    return _problem(request, workspace, principal, "The broker did not answer",
                    f"The broker did not complete the operation ({type(exc).__name__}); any parked message is "
                    "unchanged. Try again in a minute.", 503, back=("/workspace/ops/dead-letters", "Dead letters"))


def _gone(request: Request, workspace: Workspace, principal: Principal, message_id: str) -> HTMLResponse:
    return _problem(request, workspace, principal, "Message not found",
                    f"No parked message has the id {message_id}: it may have been replayed or discarded already.",
                    404, back=("/workspace/ops/dead-letters", "Dead letters"))


@router.get("/workspace/ops/dead-letters", response_class=HTMLResponse)
def dead_letter_list(request: Request, queue: str | None = Query(default=None, max_length=200),
                     reason: str | None = Query(default=None, max_length=40),
                     done: str | None = Query(default=None, max_length=16),
                     message: str | None = Query(default=None, max_length=256)) -> HTMLResponse:
    """Parked messages by queue and reason: metadata only (no body), each linking to its own page."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.DLQ_READ)
    store = _dead_letters(request, workspace, principal)
    if isinstance(store, HTMLResponse):
        return store
    layout = [r for r in queue_layout(workspace.hub.service.topology, _agency_names(workspace)) if not r.is_dlq]
    queue = queue if queue in {r.name for r in layout} else None
    reasons = [r.value for r in RejectReason]
    reason = reason if reason in reasons else None
    try:
        parked: list[ParkedMessage] = store.list(queue)
    except BROKER_ERRORS as exc:
        return _broker_down(request, workspace, principal, exc)
    rows = [DeadLetterSummary.of(p) for p in parked if reason is None or p.reason.value == reason]
    banner = f"Message {message} {DONE[done]}. The action is in the audit trail." \
        if done in DONE and message else None
    return render(request, "workspace/ops/dead_letters.html", workspace.context(
        request, principal, "Dead letters", rows=rows, queues=layout, reasons=reasons, banner=banner,
        selected={"queue": queue or "", "reason": reason or ""}, agencies=_agency_names(workspace)))


def _message_page(request: Request, workspace: Workspace, principal: Principal, view: DeadLetterView, *,
                  errors: list[dict[str, str]] | None = None, form: dict[str, str] | None = None,
                  status_code: int = 200) -> HTMLResponse:
    security = workspace.hub.service.settings.security
    body = view.body if isinstance(view.body, str) else json.dumps(view.body, indent=2, ensure_ascii=False)
    return render(request, "workspace/ops/dead_letter.html", workspace.context(
        request, principal, f"Parked message {view.message_id}", view=view, body=body, errors=errors or [],
        form=form or {}, may_act=security.may(principal.roles, Permission.DLQ_ACT),
        may_read_body=security.may(principal.roles, Permission.DLQ_BODY_READ)), status_code=status_code)


def _parked(request: Request, workspace: Workspace, principal: Principal,
            message_id: str) -> tuple[DeadLetters, ParkedMessage] | HTMLResponse:
    store = _dead_letters(request, workspace, principal)
    if isinstance(store, HTMLResponse):
        return store
    try:
        parked = store.get(message_id)
    except BROKER_ERRORS as exc:
        return _broker_down(request, workspace, principal, exc)
    if parked is None:
        return _gone(request, workspace, principal, message_id)
    return store, parked


@router.get("/workspace/ops/dead-letters/{message_id}", response_class=HTMLResponse)
def dead_letter_page(request: Request, message_id: str = MESSAGE_ID) -> HTMLResponse:
    """One parked message, its body redacted: ids, codes and metadata, personal values as size markers."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.DLQ_READ)
    found = _parked(request, workspace, principal, message_id)
    if isinstance(found, HTMLResponse):
        return found
    return _message_page(request, workspace, principal, DeadLetterView.redacted_of(found[1]))


@router.post("/workspace/ops/dead-letters/{message_id}/full", response_class=HTMLResponse)
def dead_letter_full(request: Request, message_id: str = MESSAGE_ID, csrf_token: str = Form(""),
                     reason: str = Form("")) -> HTMLResponse:
    """The full body, for a role granted dlq.body_read, with a reason: recorded as a disclosure first."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, csrf_token)
    workspace.require(principal, Permission.DLQ_READ)
    decision = workspace.require(principal, Permission.DLQ_BODY_READ)
    found = _parked(request, workspace, principal, message_id)
    if isinstance(found, HTMLResponse):
        return found
    parked = found[1]
    errors = _reason_problem(reason, "full-reason", "reading the full body")
    if errors:
        return _message_page(request, workspace, principal, DeadLetterView.redacted_of(parked), errors=errors,
                             form={"full": reason}, status_code=422)
    role = sorted(decision.roles, key=lambda r: r.value)[0]
    record_body_read(workspace.hub.service, principal, role, parked, reason)
    return _message_page(request, workspace, principal, DeadLetterView.full_of(parked))


def _act(request: Request, action: Literal["replayed", "discarded"], message_id: str, csrf_token: str,
         reason: str) -> Response:
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, csrf_token)
    workspace.require(principal, Permission.DLQ_ACT)
    store = _dead_letters(request, workspace, principal)
    if isinstance(store, HTMLResponse):
        return store
    field_id = "replay-reason" if action == "replayed" else "discard-reason"
    errors = _reason_problem(reason, field_id, "replaying this message" if action == "replayed"
                             else "discarding this message")
    if errors:
        found = _parked(request, workspace, principal, message_id)
        if isinstance(found, HTMLResponse):
            return found
        return _message_page(request, workspace, principal, DeadLetterView.redacted_of(found[1]), errors=errors,
                             form={action: reason}, status_code=422)
    try:
        act_on_dead_letter(workspace.hub.service, store, action, message_id, reason, actor_of(principal))
    except ParkedMessageNotFound:
        return _gone(request, workspace, principal, message_id)
    except BROKER_ERRORS as exc:
        return _broker_down(request, workspace, principal, exc)
    return RedirectResponse(f"/workspace/ops/dead-letters?done={action}&message={quote(message_id, safe='')}",
                            status_code=303)


@router.post("/workspace/ops/dead-letters/{message_id}/replay", response_class=HTMLResponse)
def dead_letter_replay(request: Request, message_id: str = MESSAGE_ID, csrf_token: str = Form(""),
                       reason: str = Form("")) -> Response:
    return _act(request, "replayed", message_id, csrf_token, reason)


@router.post("/workspace/ops/dead-letters/{message_id}/discard", response_class=HTMLResponse)
def dead_letter_discard(request: Request, message_id: str = MESSAGE_ID, csrf_token: str = Form(""),
                        reason: str = Form("")) -> Response:
    return _act(request, "discarded", message_id, csrf_token, reason)


# ---------------------------------------------------------------------- audit
def _audit_page(request: Request, workspace: Workspace, principal: Principal, action: str | None,
                verified: Any = None) -> HTMLResponse:
    service = workspace.hub.service
    security = service.settings.security
    check = workspace.hub.audit_check() if workspace.hub.audit_check is not None else None
    may_read = security.may(principal.roles, Permission.AUDIT_READ)
    action = action if action in AUDIT_FILTERS else None
    events = recent_audit_events(service, action=action) if may_read else None
    return render(request, "workspace/ops/audit.html", workspace.context(
        request, principal, "Audit trail", check=check, scheduled=workspace.hub.audit_check is not None,
        anchor=service.audit_anchor(), verified=verified, events=events, filters=AUDIT_FILTERS,
        action=action or ""))


@router.get("/workspace/ops/audit", response_class=HTMLResponse)
def audit(request: Request, action: str | None = Query(default=None, max_length=100)) -> HTMLResponse:
    """Chain status from the hub's scheduled check, the current anchor, and (audit.read) the newest events."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.AUDIT_VERIFY)
    return _audit_page(request, workspace, principal, action)


@router.post("/workspace/ops/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, csrf_token: str = Form("")) -> HTMLResponse:
    """Recompute the whole chain now (as GET /audit/verify) and show the result with any problems."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, csrf_token)
    workspace.require(principal, Permission.AUDIT_VERIFY)
    return _audit_page(request, workspace, principal, None, verified=workspace.hub.service.verify_audit())


@router.get("/workspace/ops/audit/anchor.json")
def audit_anchor_download(request: Request) -> JSONResponse:
    """The chain head now, signed by the hub (as GET /audit/anchor), to keep where the database's writers cannot."""
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.require(principal, Permission.AUDIT_VERIFY)
    anchor = workspace.hub.service.audit_anchor()
    return JSONResponse(anchor.model_dump(mode="json"), headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="audit-anchor-{anchor.sequence}.json"'})
