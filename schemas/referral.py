"""Referrals: a concern about one or more children, as the MASH receives it.

The lawful basis and consent position travel with the referral (and every
enquiry made from it) because each partner must be able to see why it is
being asked to share, and a case review must be able to see why consent was
not sought.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator

from mashlink.schemas.base import CanonicalModel
from mashlink.schemas.codes import (
    Classification,
    ConcernCategory,
    ConsentStatus,
    LawfulBasis,
    Rag,
    ReferralSource,
)
from mashlink.schemas.person import Person
from mashlink.schemas.relationship import Relationship


class RagChange(CanonicalModel):
    """One rating decision; the history shows who re-rated and why."""

    rag: Rag
    at: AwareDatetime
    by: str = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


class Consent(CanonicalModel):
    status: ConsentStatus
    reason: str | None = Field(default=None, max_length=2000)
    recorded_by: str | None = None

    @model_validator(mode="after")
    def _reason_when_not_sought(self) -> "Consent":
        if self.status in (ConsentStatus.NOT_SOUGHT, ConsentStatus.REFUSED) and not self.reason:
            raise ValueError(
                f"consent {self.status.value}: the reason must be recorded "
                "(e.g. seeking consent would place the child at risk)"
            )
        return self


class Referral(CanonicalModel):
    """A contact/referral with its subjects, household and rating."""

    referral_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime
    local_authority: str = Field(min_length=1, max_length=16, description="LA code the MASH serves")
    source: ReferralSource
    referrer: str = Field(min_length=1, max_length=200, description="Referring organisation or role")
    concerns: list[ConcernCategory] = Field(min_length=1)
    narrative: str = Field(default="", max_length=20000)
    subjects: list[Person] = Field(min_length=1, description="The children (unborn included)")
    household: list[Person] = Field(default_factory=list, description="Adults and other household members")
    relationships: list[Relationship] = Field(default_factory=list)
    rag_history: list[RagChange] = Field(min_length=1)
    lawful_basis: list[LawfulBasis] = Field(min_length=1)
    consent: Consent
    classification: Classification = Classification.OFFICIAL_SENSITIVE

    @property
    def rag(self) -> Rag:
        """The current rating: the latest in the history."""
        return max(self.rag_history, key=lambda change: change.at).rag

    @model_validator(mode="after")
    def _consistent(self) -> "Referral":
        people = [*self.subjects, *self.household]
        ids = [p.person_id for p in people]
        if len(ids) != len(set(ids)):
            raise ValueError("person_id values must be unique across subjects and household")
        known = set(ids)
        for i, rel in enumerate(self.relationships):
            for end in (rel.from_person_id, rel.to_person_id):
                if end not in known:
                    raise ValueError(f"relationships[{i}] refers to unknown person_id {end!r}")
        for i, person in enumerate(self.subjects):
            if person.unborn and person.mother_person_id and person.mother_person_id not in known:
                raise ValueError(f"subjects[{i}].mother_person_id refers to unknown person_id")
        return self


def latest(changes: list[RagChange]) -> datetime:
    return max(change.at for change in changes)
