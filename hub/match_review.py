"""A person's decision on an uncertain identity match: the request, the stored record, the checks.

The linked view keeps an agency record whose link to a referral person is
uncertain out of the chronology (``for_review``) until a person decides. A
decision names the link by its key (subject, agency, source system, record
id), says confirmed or rejected and why. ``HubService.decide_match`` stores
it (``match_decisions``), supersedes any earlier decision on the same key
(both rows kept), audits it, and ``HubService.linked_view`` passes the
current decisions to the builder as ``MatchConfirmation``s, so the effect is
immediate. Everything here but the request is ids and codes: no personal
data leaves the referral body.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from .linked_models import LinkedView, MatchConfirmation
from .models import MatchDecisionRow, ReferralRow
from ..matching.labels import ReviewLabel
from ..schemas.referral import Referral

CONFIRMED_ACTION = "match.confirmed"
REJECTED_ACTION = "match.rejected"
MAX_REASON = 2000
MAX_ACTOR = 200


def _no_control_characters(value: str, *, allow_newlines: bool = False) -> str:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value):
        raise ValueError("must not contain control characters")
    return value


class MatchDecisionBody(BaseModel):
    """Which agency record link a person decides on, and why (the API body; who decided is the signed-in user)."""

    model_config = ConfigDict(extra="forbid")

    subject_person_id: str = Field(min_length=1, max_length=64, description="The referral person (person_id)")
    agency_id: str = Field(min_length=1, max_length=64, description="The agency that holds the record")
    source_system: str = Field(min_length=1, max_length=200, description="The record's source system")
    record_id: str = Field(min_length=1, max_length=200, description="The record's id in that system")
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="Why (recorded in the audit trail)")

    @field_validator("subject_person_id", "agency_id", "source_system", "record_id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        return _no_control_characters(value)

    @field_validator("reason")
    @classmethod
    def _said_why(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say why (not only spaces)")
        return _no_control_characters(value, allow_newlines=True)

    def decided(self, confirmed: bool) -> "MatchDecisionRequest":
        return MatchDecisionRequest(**self.model_dump(), confirmed=confirmed)


class MatchDecisionRequest(MatchDecisionBody):
    """A decision: ``confirmed`` true moves the record's findings into the chronology, false withholds them."""

    confirmed: bool


class MatchDecisionRecord(BaseModel):
    """A stored decision, current or superseded (``superseded_by`` names the decision that replaced it)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    referral_id: str
    subject_person_id: str
    agency_id: str
    source_system: str
    record_id: str
    confirmed: bool
    reason: str
    decided_by: str
    decided_at: datetime
    superseded_by: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.subject_person_id, self.agency_id, self.source_system, self.record_id)

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    def confirmation(self) -> MatchConfirmation:
        """What the linked view builder takes."""
        return MatchConfirmation(subject_person_id=self.subject_person_id, agency_id=self.agency_id,
                                 source_system=self.source_system, record_id=self.record_id,
                                 confirmed=self.confirmed, by=self.decided_by, at=self.decided_at, note=self.reason)


def stored_decisions(session: Session, referral_id: str, *, current_only: bool = False) -> list[MatchDecisionRecord]:
    """A referral's decisions in the order they were taken (optionally only those not superseded)."""
    query = select(MatchDecisionRow).where(MatchDecisionRow.referral_id == referral_id)
    if current_only:
        query = query.where(MatchDecisionRow.superseded_by.is_(None))
    rows = session.execute(query.order_by(MatchDecisionRow.id)).scalars().all()
    return [MatchDecisionRecord.model_validate(row) for row in rows]


def current_row(session: Session, referral_id: str, request: MatchDecisionBody) -> MatchDecisionRow | None:
    """The decision now in force on the request's key, if any."""
    return session.execute(
        select(MatchDecisionRow).where(
            MatchDecisionRow.referral_id == referral_id,
            MatchDecisionRow.subject_person_id == request.subject_person_id,
            MatchDecisionRow.agency_id == request.agency_id,
            MatchDecisionRow.source_system == request.source_system,
            MatchDecisionRow.record_id == request.record_id,
            MatchDecisionRow.superseded_by.is_(None),
        ).order_by(MatchDecisionRow.id.desc())
    ).scalars().first()


def link_problems(view: LinkedView, request: MatchDecisionBody) -> list[str]:
    """Why the request names no agency record link of this referral (empty when it does).

    The link must be one the linked view holds for that subject, as a match,
    a candidate or a rejected claim: a person decides on what an agency
    sent, never invents a link. The first field that does not fit is named.
    """
    subject = view.person(request.subject_person_id)
    if subject is None:
        known = ", ".join(p.person_id for p in [*view.subjects, *view.household])
        return [f"subject_person_id: {request.subject_person_id!r} is not a person in referral "
                f"{view.referral_id!r} (people: {known})"]
    links = [*subject.matches, *subject.candidates, *subject.rejected]
    of_agency = [m for m in links if m.agency_id == request.agency_id]
    if not of_agency:
        linked = ", ".join(sorted({m.agency_id for m in links})) or "none"
        return [f"agency_id: no record of agency {request.agency_id!r} is linked to person "
                f"{request.subject_person_id!r} (agencies with linked records: {linked})"]
    of_system = [m for m in of_agency if m.source.system == request.source_system]
    if not of_system:
        systems = ", ".join(sorted({m.source.system for m in of_agency}))
        return [f"source_system: agency {request.agency_id!r} linked no {request.source_system!r} record to "
                f"person {request.subject_person_id!r} (systems: {systems})"]
    if not any(m.source.record_id == request.record_id for m in of_system):
        return [f"record_id: {request.record_id!r} is not a {request.source_system!r} record agency "
                f"{request.agency_id!r} linked to person {request.subject_person_id!r}"]
    return []


def review_labels(session: Session, agency_id: str) -> list[ReviewLabel]:
    """Every decision now in force on one agency's records, as labels for that agency's match index.

    Why: a confirmed candidate is a true match the agency's weights can learn
    from, a rejected one a non-match (``matching.labels``). Each label carries the
    subject as the referral gave them (and their mother from the referral, for an
    unborn subject) and the agency's record id; only that agency's decisions go
    into its file, and superseded decisions are left out (a change of mind counts
    once, as it stands). A decision whose subject is no longer in the referral
    body is skipped.
    """
    rows = session.execute(
        select(MatchDecisionRow, ReferralRow.body)
        .join(ReferralRow, ReferralRow.referral_id == MatchDecisionRow.referral_id)
        .where(MatchDecisionRow.agency_id == agency_id, MatchDecisionRow.superseded_by.is_(None))
        .order_by(MatchDecisionRow.id)
    ).all()
    labels: list[ReviewLabel] = []
    referrals: dict[str, Referral] = {}
    for decision, body in rows:
        referral = referrals.get(decision.referral_id)
        if referral is None:
            referral = referrals[decision.referral_id] = Referral.model_validate(body)
        people = {p.person_id: p for p in [*referral.subjects, *referral.household]}
        subject = people.get(decision.subject_person_id)
        if subject is None:
            continue
        mother = people.get(subject.mother_person_id or "") if subject.unborn else None
        labels.append(ReviewLabel(subject=subject, mother=mother, agency_id=decision.agency_id,
                                  record_id=decision.record_id, confirmed=decision.confirmed))
    return labels


__all__ = ["CONFIRMED_ACTION", "MatchDecisionBody", "MatchDecisionRecord", "MatchDecisionRequest",
           "REJECTED_ACTION", "current_row", "link_problems", "review_labels", "stored_decisions"]
