"""AgencyRecord: one native record translated into canonical form.

This is what a mapping spec produces and what ``mashlink translate`` prints:
the subject as the agency knows them, the people related to them, and the
findings, each with the source it came from.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mashlink.schemas.base import CanonicalModel, rule_error
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.person import Person
from mashlink.schemas.relationship import Relationship


class RecordIssue(CanonicalModel):
    """A data-quality problem kept with the record (stray text, failed check) rather than dropped."""

    field: str
    rule: str
    detail: str = ""


class AgencyRecord(CanonicalModel):
    source: SourceRef
    person: Person
    related_people: list[Person] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    issues: list[RecordIssue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> "AgencyRecord":
        ids = {self.person.person_id}
        for i, related in enumerate(self.related_people):
            if related.person_id in ids:
                raise rule_error(
                    "AgencyRecord", ("related_people", i, "person_id"), "person_id_duplicate",
                    "person_id values must be unique within a record", related.person_id,
                )
            ids.add(related.person_id)
        for i, rel in enumerate(self.relationships):
            for end in ("from_person_id", "to_person_id"):
                if getattr(rel, end) not in ids:
                    raise rule_error(
                        "AgencyRecord", ("relationships", i, end), "unknown_person_id",
                        "relationship refers to a person_id that is not in this record", getattr(rel, end),
                    )
        kind = self.source.agency_kind
        for i, finding in enumerate(self.findings):
            if finding.source.agency_kind is not kind:
                # One record is one agency's account; a finding from another agency inside it
                # would be shown in the chronology under the wrong source.
                raise rule_error(
                    "AgencyRecord", ("findings", i, "source", "agency_kind"), "finding_agency_mismatch",
                    f"finding comes from {finding.source.agency_kind.value} but the record is from {kind.value}",
                    finding.source.agency_kind.value,
                )
            if finding.subject_person_id not in ids:
                raise rule_error(
                    "AgencyRecord", ("findings", i, "subject_person_id"), "unknown_person_id",
                    "finding refers to a person_id that is not in this record", finding.subject_person_id,
                )
        return self
