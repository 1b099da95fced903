"""Models of the linked view: subjects matched across agencies and one chronology.

The linked view is what a MASH practitioner reads to decide. Every fact in it
carries where it came from (agency, system, record id), how sensitive it is
and how sure the hub is that it is about this person, because the chronology
is read in strategy discussions, in court and in case reviews. Uncertain
links are kept visibly apart (``for_review``) rather than merged.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..matching.rules import MatchDecision
from ..schemas.codes import (
    AgencyKind,
    FindingCategory,
    HandlingCode,
    MatchMethod,
    Rag,
    Reliability,
    Sensitivity,
)
from ..schemas.finding import SourceRef
from ..schemas.person import Person

SubjectRole = Literal["subject", "household"]


class _ViewModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgencyState(StrEnum):
    """Where an agency is with this referral's enquiry, as a practitioner needs to see it."""

    AWAITING = "awaiting"
    INFORMATION_FOUND = "information_found"
    NOT_KNOWN = "not_known"
    PARTIAL = "partial"
    DECLINED = "declined"
    OVERDUE = "overdue"


class LinkState(StrEnum):
    """How a chronology entry is tied to a referral person."""

    MATCHED = "matched"  # match decision (automatic or confirmed by a person)
    CANDIDATE = "candidate"  # possible match awaiting a person
    UNLINKED = "unlinked"  # the agency sent it about a person it did not match to anyone


class AgencyMatch(_ViewModel):
    """One agency record linked (or possibly linked) to a referral person.

    ``confidence`` is the lower of the agency's claim and the hub's own
    re-check: an agency's matcher cannot make the hub surer than its own
    evidence, and the hub's cannot override an agency that was unsure.
    """

    agency_id: str
    agency_kind: AgencyKind
    response_id: str
    sequence: int
    record_person_id: str = Field(description="person_id inside the agency's response")
    source: SourceRef
    method: MatchMethod = Field(description="How the hub re-check decided (manual when a person confirmed)")
    confidence: float = Field(ge=0.0, le=1.0)
    decision: MatchDecision
    agency_method: MatchMethod
    agency_confidence: float = Field(ge=0.0, le=1.0)
    agency_flagged_candidate: bool = False
    hub_method: MatchMethod
    hub_confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    finding_count: int = 0
    decided_by: str | None = Field(default=None, description="Who confirmed or rejected it, when a person did")


class LinkedSubject(_ViewModel):
    """A referral person with the agency records linked to them."""

    person_id: str
    role: SubjectRole
    display_name: str
    person: Person
    matches: list[AgencyMatch] = Field(default_factory=list)
    candidates: list[AgencyMatch] = Field(default_factory=list, description="Awaiting a person's decision")
    rejected: list[AgencyMatch] = Field(
        default_factory=list, description="Agency claims the hub did not accept; their findings are withheld"
    )

    def matches_by_agency(self) -> dict[str, list[AgencyMatch]]:
        grouped: dict[str, list[AgencyMatch]] = {}
        for match in self.matches:
            grouped.setdefault(match.agency_id, []).append(match)
        return grouped


class ChronologyEntry(_ViewModel):
    """One finding placed in time, with full provenance."""

    date: date | datetime | None
    end: date | datetime | None = None
    category: FindingCategory
    summary: str
    codes: list[str] = Field(default_factory=list)
    agency_id: str
    agency_kind: AgencyKind
    source_system: str
    record_id: str
    organisation: str | None = None
    finding_id: str
    sensitivity: Sensitivity
    handling_code: HandlingCode | None = None
    reliability: Reliability = Reliability.RELIABLE
    contact: str | None = None
    subject_ref: str | None = Field(description="Referral person_id; None when unlinked")
    subject_role: SubjectRole | None = None
    record_person_id: str
    match_method: MatchMethod | None = None
    match_confidence: float | None = None
    candidate: bool = False
    link: LinkState
    redacted: bool = Field(default=False, description="Do-not-disseminate content replaced by 'information held'")
    response_id: str
    response_sequence: int
    data_quality: list[str] = Field(
        default_factory=list,
        description="Data-quality issues the agency kept on this finding's record, e.g. 'closure date before "
        "referral date (kept as recorded)': shown beside the finding",
    )


class AgencyStatus(_ViewModel):
    agency_id: str
    kind: AgencyKind
    status: AgencyState
    due_at: AwareDatetime | None = None
    responded_at: AwareDatetime | None = None
    more_to_follow: bool = False
    declined_reason: str | None = None
    overdue: bool = Field(default=False, description="Past due and still owed (awaiting or more to follow)")
    responses: int = 0
    enquiry_ids: list[str] = Field(default_factory=list)

    @property
    def outstanding(self) -> bool:
        return self.status in (AgencyState.AWAITING, AgencyState.OVERDUE) or (
            self.status is AgencyState.PARTIAL and self.more_to_follow
        )


class ViewIssue(_ViewModel):
    """Something the builder could not use as sent; kept visible, never silently dropped."""

    code: str
    agency_id: str | None = None
    response_id: str | None = None
    detail: str = ""


class RecordIssueNote(_ViewModel):
    """A data-quality issue kept on an agency record the view shows (keep and flag), in words."""

    agency_id: str
    response_id: str
    record_person_id: str
    record_id: str
    source_system: str
    finding_id: str | None = None
    field: str
    rule: str
    text: str = Field(description="What a practitioner reads, e.g. 'date of death before date of birth (kept as recorded)'")


class MatchConfirmation(_ViewModel):
    """A practitioner's decision on a candidate (or any) agency record link."""

    subject_person_id: str = Field(min_length=1)
    agency_id: str = Field(min_length=1)
    source_system: str = Field(min_length=1)
    record_id: str = Field(min_length=1)
    confirmed: bool
    by: str = Field(min_length=1)
    at: AwareDatetime
    note: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.subject_person_id, self.agency_id, self.source_system, self.record_id)


class LinkedView(_ViewModel):
    """The linked, de-duplicated picture of a referral's children and household.

    ``chronology`` holds only findings linked by a match decision; findings
    linked only as candidates, or about people the agency did not match to
    anyone, are in ``for_review``, flagged, until a person decides.
    """

    referral_id: str
    rag: Rag
    built_at: AwareDatetime
    subjects: list[LinkedSubject]
    household: list[LinkedSubject]
    agencies: list[AgencyStatus]
    chronology: list[ChronologyEntry]
    for_review: list[ChronologyEntry] = Field(default_factory=list)
    outstanding: list[str] = Field(default_factory=list, description="agency_ids still owing an answer")
    issues: list[ViewIssue] = Field(default_factory=list)
    record_issues: list[RecordIssueNote] = Field(
        default_factory=list,
        description="Data-quality issues on the agency records linked to this referral (matched or possible)",
    )

    def agency(self, agency_id: str) -> AgencyStatus | None:
        return next((a for a in self.agencies if a.agency_id == agency_id), None)

    def person(self, person_id: str) -> LinkedSubject | None:
        return next((p for p in [*self.subjects, *self.household] if p.person_id == person_id), None)
