"""What the workspace's ops pages read from the hub beyond the API's own calls: ids, agencies and times only.

* ``oldest_outstanding``: the outstanding enquiries, oldest request first,
  with how many working hours are left (or how far overdue), the same
  reckoning as the practitioners' worklist (``hub.worklist.hours_left``).
* ``recent_audit_events``: the newest audit events first (``audit_events``
  reads forward from a sequence; ops want the head).
* ``queue_layout``: every queue the hub declares, grouped as people think
  of them (the hub's own queues, each agency's RAG lanes and events, the
  dead-letter queues), so a page can show each one even when the broker did
  not report it.

Nothing here returns a name, a date of birth, an identifier of a person or
free text: enquiries are listed by referral id, agency, RAG and times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select

from ..broker.topology import RAG_ORDER, Topology
from .models import OUTSTANDING, AuditEventRow, EnquiryRow, ReferralRow
from .service import HubService
from .worklist import hours_left
from ..schemas.audit import AuditEvent
from ..schemas.codes import Rag

MAX_ROWS = 500


class OutstandingEnquiry(BaseModel):
    """One enquiry still owed: no personal data, only ids, the agency, the rating and times."""

    enquiry_id: str
    referral_id: str
    local_authority: str
    agency_id: str
    rag: Rag
    status: str
    requested_at: datetime
    at_risk_at: datetime
    due_at: datetime
    at_risk: bool
    overdue: bool
    hours_left: float
    clock_hours: bool


class OutstandingPage(BaseModel):
    at: datetime
    total: int
    rows: list[OutstandingEnquiry]


def oldest_outstanding(service: HubService, *, limit: int = 50, now: datetime | None = None) -> OutstandingPage:
    """Outstanding enquiries (the statuses ``open_enquiry_stats`` counts), oldest request first."""
    if not 1 <= limit <= MAX_ROWS:
        raise ValueError(f"limit: must be between 1 and {MAX_ROWS} (got {limit})")
    now = now or service.clock()
    outstanding = EnquiryRow.status.in_(OUTSTANDING)
    with service.store.read() as session:
        total = session.execute(select(func.count()).select_from(EnquiryRow).where(outstanding)).scalar_one()
        found = session.execute(
            select(EnquiryRow.enquiry_id, EnquiryRow.referral_id, ReferralRow.local_authority, EnquiryRow.agency_id,
                   EnquiryRow.rag, EnquiryRow.status, EnquiryRow.requested_at, EnquiryRow.at_risk_at,
                   EnquiryRow.due_at)
            .join(ReferralRow, ReferralRow.referral_id == EnquiryRow.referral_id)
            .where(outstanding)
            .order_by(EnquiryRow.requested_at, EnquiryRow.due_at, EnquiryRow.enquiry_id)
            .limit(limit)
        ).all()
    rows = []
    for enquiry_id, referral_id, la, agency_id, rag, status, requested_at, at_risk_at, due_at in found:
        left, clock = hours_left(service.deadlines, Rag(rag), la, now, due_at)
        rows.append(OutstandingEnquiry(
            enquiry_id=enquiry_id, referral_id=referral_id, local_authority=la, agency_id=agency_id, rag=Rag(rag),
            status=status, requested_at=requested_at, at_risk_at=at_risk_at, due_at=due_at,
            at_risk=at_risk_at <= now < due_at, overdue=due_at <= now, hours_left=left, clock_hours=clock))
    return OutstandingPage(at=now, total=int(total), rows=rows)


def recent_audit_events(service: HubService, *, action: str | None = None, limit: int = 50) -> list[AuditEvent]:
    """The newest audit events first, optionally of one action (``access.break_glass``)."""
    if not 1 <= limit <= MAX_ROWS:
        raise ValueError(f"limit: must be between 1 and {MAX_ROWS} (got {limit})")
    query = select(AuditEventRow)
    if action is not None:
        query = query.where(AuditEventRow.action == action)
    with service.store.read() as session:
        rows = session.execute(query.order_by(AuditEventRow.sequence.desc()).limit(limit)).scalars().all()
        return [AuditEvent(**{k: getattr(r, k) for k in AuditEvent.model_fields}) for r in rows]


@dataclass(frozen=True)
class QueueRole:
    """Where a queue sits: ``group`` (hub, an agency id, or dead letters) and what it carries."""

    name: str
    group: str
    what: str
    agency_id: str | None = None
    rag: Rag | None = None
    is_dlq: bool = False
    source_queue: str | None = None  # for a DLQ: the queue whose messages it parks


HUB_GROUP = "hub"
DLQ_GROUP = "dead letters"


def queue_layout(topology: Topology, agency_ids: Iterable[str]) -> list[QueueRole]:
    """Every queue of the topology for ``agency_ids``: the hub's, each agency's (red first), then the DLQs."""
    agencies = list(dict.fromkeys(agency_ids))
    work = [QueueRole(topology.responses_queue, HUB_GROUP, "Responses from agencies"),
            QueueRole(topology.events_queue, HUB_GROUP, "Events for the hub (alerts, agency referrals)"),
            QueueRole(topology.referrer_outcomes_queue, HUB_GROUP, "Outcomes waiting for the referrer")]
    for agency in agencies:
        work += [QueueRole(topology.enquiry_queue(agency, rag), agency, f"{rag.value.capitalize()} enquiries",
                           agency_id=agency, rag=rag) for rag in RAG_ORDER]
        work.append(QueueRole(topology.agency_events_queue(agency), agency, "Outcomes, decisions and escalations",
                              agency_id=agency))
    named = {q.name for q in work}
    work += [QueueRole(spec.name, HUB_GROUP, "Other work queue") for spec in topology.work_queues(agencies)
             if spec.name not in named]  # a queue added to the topology is still shown
    dlqs = [QueueRole(topology.dlq_for(q.name), DLQ_GROUP, f"Parked from {q.what[:1].lower()}{q.what[1:]}",
                      agency_id=q.agency_id, rag=q.rag, is_dlq=True, source_queue=q.name) for q in work]
    return work + dlqs
