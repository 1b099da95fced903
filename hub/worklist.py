"""The practitioner's worklist: referrals in scope, filtered, soonest deadline first.

Search by a child's name or an identifier needs the people inside the stored
referral body (there are deliberately no name columns to index: personal data
stays in one place), so the database narrows by status, rating and local
authority, and the rest is matched in Python over at most ``scan_limit``
referrals. Deadlines come from the enquiry rows.

The follow-up flags beside each row (:func:`follow_up_flags`) are counted
over what the viewer may see: MASH staff see every recipient's outcome and
every alert (each with its permission); an agency liaison only their own
agency's outcome and alerts, as on the referral page.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config.deadlines import DeadlinePolicy
from ..config.models import SharingPolicy
from .linked_view import display_name
from .minimise import minimise_people
from .loop_views import LoopFlags, worklist_flags
from .models import OUTSTANDING, AlertRow, EnquiryRow, OutcomeRow, ReferralRow
from ..schemas.codes import Rag
from ..schemas.person import Person
from ..schemas.referral import Referral

DUE_SOON = timedelta(hours=24)


class WorklistFilter(BaseModel):
    """What a practitioner can narrow the list by (all optional)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=100, description="Child or household name, NHS number, "
                                                                      "UPN or LA id")
    rag: Rag | None = None
    status: str | None = Field(default=None, max_length=20)
    local_authority: str | None = Field(default=None, max_length=16)
    due_soon: bool = False
    overdue: bool = False


class WorklistRow(BaseModel):
    referral_id: str
    local_authority: str
    rag: Rag
    status: str
    received_at: datetime
    children: list[str]
    next_due: datetime | None
    hours_left: float | None = Field(default=None, description="Until next_due, in the rating's own hours "
                                                                "(working hours; clock hours when worked out "
                                                                "of hours); negative when overdue")
    clock_hours: bool = False
    overdue: bool
    answered: list[str] = Field(description="Agencies that have answered")
    outstanding: list[str] = Field(description="Agencies still owing an answer")


def _fold(value: str) -> str:
    """Case- and accent-insensitive, spacing-insensitive form for searching names."""
    decomposed = unicodedata.normalize("NFKD", value)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def _person_terms(person: Person) -> Iterable[str]:
    for name in person.names:
        yield _fold(" ".join([*name.given, name.family or ""]))
        if name.text:
            yield _fold(name.text)
    for ident in person.identifiers:
        yield _fold(ident.value).replace(" ", "")


def _matches(referral: Referral, text: str) -> bool:
    wanted = _fold(text)
    compact = wanted.replace(" ", "")
    for person in [*referral.subjects, *referral.household]:
        for term in _person_terms(person):
            if wanted in term or (compact and compact == term.replace(" ", "")):
                return True
    return False


def hours_left(deadlines: DeadlinePolicy, rag: Rag, la_code: str, now: datetime, due: datetime) -> tuple[float, bool]:
    """Time left to ``due`` in the rating's hours: (hours, True when clock hours)."""
    code = la_code if la_code in deadlines.timescales else None
    scale = deadlines.timescale(rag, code)
    if scale.out_of_hours:
        return (due - now).total_seconds() / 3600, True
    if due >= now:
        return deadlines.calendar.working_hours_between(now, due), False
    return -deadlines.calendar.working_hours_between(due, now), False


def list_referrals(session: Session, *, filters: WorklistFilter, now: datetime, deadlines: DeadlinePolicy,
                   local_authorities: frozenset[str] | None, agency_id: str | None,
                   search_policy: SharingPolicy | None = None, search_nothing: bool = False,
                   scan_limit: int = 2000, limit: int = 200) -> list[WorklistRow]:
    """Referrals in scope (``local_authorities`` for MASH staff, ``agency_id`` for a liaison), soonest due first.

    ``search_policy``: a viewer outside the MASH searches only the fields their agency's sharing policy
    releases, so a search cannot test for an identifier the agency is not given.
    """
    query = select(ReferralRow).order_by(ReferralRow.submitted_at.desc()).limit(scan_limit)
    if filters.status:
        query = query.where(ReferralRow.status == filters.status)
    if filters.rag:
        query = query.where(ReferralRow.rag == filters.rag.value)
    if filters.local_authority:
        query = query.where(ReferralRow.local_authority == filters.local_authority)
    if local_authorities is not None:
        query = query.where(ReferralRow.local_authority.in_(sorted(local_authorities)))
    if agency_id is not None:
        asked = select(EnquiryRow.referral_id).where(EnquiryRow.agency_id == agency_id)
        query = query.where(ReferralRow.referral_id.in_(asked))
    rows = session.execute(query).scalars().all()
    enquiries: dict[str, list[EnquiryRow]] = {}
    if rows:
        for enquiry in session.execute(select(EnquiryRow).where(
                EnquiryRow.referral_id.in_([r.referral_id for r in rows]))).scalars():
            enquiries.setdefault(enquiry.referral_id, []).append(enquiry)
    out: list[WorklistRow] = []
    for row in rows:
        referral = Referral.model_validate(row.body)
        if filters.text:
            searchable = referral
            if search_policy is not None:
                searchable = referral.model_copy(update={
                    "subjects": minimise_people(referral.subjects, search_policy),
                    "household": minimise_people(referral.household, search_policy)})
            if search_nothing or not _matches(searchable, filters.text):
                continue
        mine = enquiries.get(row.referral_id, [])
        if agency_id is not None:
            mine = [e for e in mine if e.agency_id == agency_id]
        owing = [e for e in mine if e.status in OUTSTANDING]
        next_due = min((e.due_at for e in owing), default=None)
        overdue = next_due is not None and next_due <= now
        if filters.overdue and not overdue:
            continue
        if filters.due_soon and not (next_due is not None and next_due <= now + DUE_SOON):
            continue
        left = hours_left(deadlines, Rag(row.rag), row.local_authority, now, next_due) if next_due else None
        out.append(WorklistRow(
            referral_id=row.referral_id, local_authority=row.local_authority, rag=Rag(row.rag), status=row.status,
            received_at=row.received_at, children=[display_name(p) for p in referral.subjects],
            next_due=next_due, overdue=overdue, hours_left=left[0] if left else None,
            clock_hours=bool(left and left[1]),
            answered=sorted({e.agency_id for e in mine if e.status not in OUTSTANDING}),
            outstanding=sorted({e.agency_id for e in owing}),
        ))
    out.sort(key=lambda r: (r.next_due is None, r.next_due or r.received_at, r.referral_id))
    return out[:limit]


def follow_up_flags(session: Session, referral_ids: Iterable[str], now: datetime, *, agency_id: str | None,
                    receipts: bool, alerts: bool) -> dict[str, LoopFlags]:
    """The worklist's follow-up flags per referral, for one viewer.

    ``agency_id`` None: a MASH viewer (every recipient and alert); otherwise a liaison of that agency,
    whose counts cover only the outcome sent to their agency and the alerts their agency raised, and who
    is not shown the MASH's decision deadline. Without ``receipts`` (``receipts.read``) no outcome counts,
    without ``alerts`` (``alerts.read``) no alert counts: a flag is a disclosure of the same facts.
    """
    ids = list(dict.fromkeys(referral_ids))
    flags = worklist_flags(session, ids, now)
    if agency_id is not None:
        for f in flags.values():
            f.decision, f.decision_due_at = None, None
            f.unacknowledged = f.failed = f.alerts_unacknowledged = 0
        if ids and receipts:
            for referral_id, status, settled in session.execute(
                    select(OutcomeRow.referral_id, OutcomeRow.delivery_status, OutcomeRow.settled_at)
                    .where(OutcomeRow.referral_id.in_(ids), OutcomeRow.recipient == agency_id)).all():
                flags[referral_id].unacknowledged += settled is None
                flags[referral_id].failed += status == "failed"
        if ids and alerts:
            for referral_id, n in session.execute(
                    select(AlertRow.referral_id, func.count())
                    .where(AlertRow.referral_id.in_(ids), AlertRow.agency_id == agency_id,
                           AlertRow.acknowledged_at.is_(None))
                    .group_by(AlertRow.referral_id)).all():
                flags[referral_id].alerts_unacknowledged = int(n)
    if not receipts:
        for f in flags.values():
            f.unacknowledged = f.failed = 0
    if not alerts:
        for f in flags.values():
            f.alerts_unacknowledged = 0
    return flags
