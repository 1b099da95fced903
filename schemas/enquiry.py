"""Enquiries to partner agencies and their responses.

An enquiry carries only what the recipient's sharing policy allows (the hub
minimises before it is built); a response says what was found, how each
agency record was matched to each subject and with what confidence, so the
linked view can show uncertainty instead of hiding it.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pydantic import Field, model_validator

from .base import CanonicalModel, UtcDatetime, rule_error
from .codes import (
    AgencyKind,
    Classification,
    LawfulBasis,
    MatchMethod,
    Purpose,
    Rag,
    ResponseStatus,
)
from .finding import Finding, SourceRef
from .person import Person
from .record import AgencyRecord
from .relationship import Relationship


class Enquiry(CanonicalModel):
    """"What do you know about these people?" to one agency."""

    enquiry_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    agency_id: str = Field(min_length=1, max_length=64)
    agency_kind: AgencyKind
    subjects: list[Person] = Field(min_length=1, description="Minimised per the agency's sharing policy")
    relationships: list[Relationship] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
    concerns: list[str] = Field(default_factory=list)
    rag: Rag
    requested_at: UtcDatetime
    due_at: UtcDatetime
    purpose: Purpose = Field(
        default=Purpose.MASH_SCREENING,
        description="The referral's purpose (the safeguarding stage); mash_screening when not given",
    )
    lawful_basis: list[LawfulBasis] = Field(min_length=1)
    consent_note: str | None = None
    requester: str = Field(min_length=1)
    classification: Classification = Classification.OFFICIAL_SENSITIVE

    @model_validator(mode="after")
    def _due_after_requested(self) -> "Enquiry":
        if self.due_at <= self.requested_at:
            raise rule_error(
                "Enquiry", ("due_at",), "due_before_requested", "due_at must be after requested_at",
                self.due_at.isoformat(),
            )
        return self


class SubjectMatch(CanonicalModel):
    """Which enquiry subject an agency record was matched to, how and how sure."""

    subject_person_id: str = Field(min_length=1, description="person_id in the enquiry")
    record_person_id: str = Field(min_length=1, description="person_id in the response's people")
    source: SourceRef
    method: MatchMethod
    confidence: float = Field(ge=0.0, le=1.0)
    candidate: bool = Field(default=False, description="True when uncertain: for a person to confirm")


class ResponseRecordIssue(CanonicalModel):
    """A data-quality issue the agency kept on a record it answered from, shown to the practitioner.

    Native data that breaks a cross-field rule is kept and flagged on the
    agency's record (``AgencyRecord.issues``: a closure date before the referral
    date, a death date before the birth date). When the agency answers from that
    record the issue travels with the answer, so the practitioner reading the
    finding also reads "closure date before referral date (kept as recorded)"
    and knows to check with the agency. ``field`` / ``rule`` / ``detail`` are the
    record issue's (positions, never values); ``finding_id`` names the finding
    the issue is about, when it is about one.
    """

    record_person_id: str = Field(min_length=1, description="person_id in the response's people")
    source: SourceRef = Field(description="The agency record the issue was kept on")
    field: str = Field(min_length=1, description="Canonical field path on the agency record")
    rule: str = Field(min_length=1)
    detail: str = Field(default="", max_length=2000)
    finding_id: str | None = Field(default=None, description="The finding the issue is about, when it is one")


_FINDING_INDEX = re.compile(r"^findings\[(\d+)\]")


def record_issues_of(record: AgencyRecord, agency_id: str | None = None,
                     released_finding_ids: Collection[str] | None = None) -> list[ResponseRecordIssue]:
    """The record's kept-and-flagged issues as they travel in a response.

    An issue about a finding names that finding; one about a finding the answer
    does not release (``released_finding_ids``) stays behind with the finding.
    """
    source = record.source.model_copy(update={"agency_id": agency_id}) if agency_id else record.source
    out: list[ResponseRecordIssue] = []
    for issue in record.issues:
        finding_id: str | None = None
        found = _FINDING_INDEX.match(issue.field)
        if found and int(found.group(1)) < len(record.findings):
            finding_id = record.findings[int(found.group(1))].finding_id
            if released_finding_ids is not None and finding_id not in released_finding_ids:
                continue
        out.append(ResponseRecordIssue(record_person_id=record.person.person_id, source=source,
                                       field=issue.field, rule=issue.rule, detail=issue.detail[:2000],
                                       finding_id=finding_id))
    return out


class EnquiryResponse(CanonicalModel):
    """An agency's answer; ``more_to_follow`` marks a partial that will be followed up."""

    response_id: str = Field(min_length=1, max_length=64)
    enquiry_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    agency_id: str = Field(min_length=1, max_length=64)
    agency_kind: AgencyKind
    status: ResponseStatus
    declined_reason: str | None = Field(default=None, max_length=2000)
    people: list[Person] = Field(default_factory=list, description="The agency's records of the subjects")
    matches: list[SubjectMatch] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    record_issues: list[ResponseRecordIssue] = Field(
        default_factory=list,
        description="Data-quality issues kept on the agency records answered from (keep and flag): "
        "inconsistent native values kept as recorded, for the practitioner to see beside the findings",
    )
    responder: str = Field(min_length=1, description="Team or role that answered")
    responded_at: UtcDatetime
    sequence: int = Field(default=1, ge=1, description="1 for the first answer, then follow-ups")
    more_to_follow: bool = False
    note: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _consistent(self) -> "EnquiryResponse":
        name = "EnquiryResponse"
        if self.status is ResponseStatus.DECLINED and not self.declined_reason:
            raise rule_error(
                name, ("declined_reason",), "declined_reason_required",
                "a declined response must give declined_reason", self.declined_reason,
            )
        if self.status is ResponseStatus.NOT_KNOWN and self.findings:
            raise rule_error(
                name, ("findings",), "not_known_with_findings",
                "a not_known response cannot carry findings", len(self.findings),
            )
        people = {p.person_id for p in self.people}
        for i, match in enumerate(self.matches):
            if match.record_person_id not in people:
                raise rule_error(
                    name, ("matches", i, "record_person_id"), "unknown_person_id",
                    "record_person_id is not among people", match.record_person_id,
                )
        for i, finding in enumerate(self.findings):
            if finding.subject_person_id not in people:
                raise rule_error(
                    name, ("findings", i, "subject_person_id"), "unknown_person_id",
                    "subject_person_id is not among people", finding.subject_person_id,
                )
            if finding.source.agency_kind is not self.agency_kind:
                raise rule_error(
                    name, ("findings", i, "source", "agency_kind"), "agency_kind_mismatch",
                    f"finding comes from {finding.source.agency_kind.value}, "
                    f"but the response is from {self.agency_kind.value}",
                    finding.source.agency_kind.value,
                )
        for i, rel in enumerate(self.relationships):
            for end in ("from_person_id", "to_person_id"):
                if getattr(rel, end) not in people:
                    raise rule_error(
                        name, ("relationships", i, end), "unknown_person_id",
                        "relationship refers to a person_id that is not among people", getattr(rel, end),
                    )
        for i, issue in enumerate(self.record_issues):
            if issue.record_person_id not in people:
                raise rule_error(
                    name, ("record_issues", i, "record_person_id"), "unknown_person_id",
                    "record_person_id is not among people", issue.record_person_id,
                )
        return self
