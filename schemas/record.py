"""AgencyRecord: one native record translated into canonical form.

This is what a mapping spec produces and what ``mashlink translate`` prints:
the subject as the agency knows them, the people related to them, and the
findings, each with the source it came from.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mashlink.schemas.base import CanonicalModel
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
        ids = {self.person.person_id, *(p.person_id for p in self.related_people)}
        if len(ids) != 1 + len(self.related_people):
            raise ValueError("person_id values must be unique within a record")
        for i, rel in enumerate(self.relationships):
            for end in (rel.from_person_id, rel.to_person_id):
                if end not in ids:
                    raise ValueError(f"relationships[{i}] refers to unknown person_id {end!r}")
        for i, finding in enumerate(self.findings):
            if finding.subject_person_id not in ids:
                raise ValueError(f"findings[{i}] refers to unknown person_id {finding.subject_person_id!r}")
        return self
