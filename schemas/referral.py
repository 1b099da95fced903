"""Referrals: a concern about one or more children, as the MASH receives it.

The lawful basis and consent position travel with the referral (and every
enquiry made from it) because each partner must be able to see why it is
being asked to share, and a case review must be able to see why consent was
not sought.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from mashlink.schemas.base import CanonicalModel, UtcDatetime, rule_error
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
    at: UtcDatetime
    by: str = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


class Consent(CanonicalModel):
    status: ConsentStatus
    reason: str | None = Field(default=None, max_length=2000)
    recorded_by: str | None = None

    @model_validator(mode="after")
    def _reason_when_not_sought(self) -> "Consent":
        if self.status in (ConsentStatus.NOT_SOUGHT, ConsentStatus.REFUSED) and not self.reason:
            raise rule_error(
                "Consent",
                ("reason",),
                "consent_reason_required",
                f"consent {self.status.value}: the reason must be recorded "
                "(e.g. seeking consent would place the child at risk)",
                self.reason,
            )
        return self


class Referral(CanonicalModel):
    """A contact/referral with its subjects, household and rating."""

    referral_id: str = Field(min_length=1, max_length=64)
    received_at: UtcDatetime
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
        """The current rating: the latest in the history (on a tie, the later entry)."""
        return max(enumerate(self.rag_history), key=lambda item: (item[1].at, item[0]))[1].rag

    @model_validator(mode="after")
    def _consistent(self) -> "Referral":
        known: set[str] = set()
        for group in ("subjects", "household"):
            for i, person in enumerate(getattr(self, group)):
                if person.person_id in known:
                    raise rule_error(
                        "Referral",
                        (group, i, "person_id"),
                        "person_id_duplicate",
                        "person_id values must be unique across subjects and household",
                        person.person_id,
                    )
                known.add(person.person_id)
        for i, rel in enumerate(self.relationships):
            for end in ("from_person_id", "to_person_id"):
                if getattr(rel, end) not in known:
                    raise rule_error(
                        "Referral",
                        ("relationships", i, end),
                        "unknown_person_id",
                        "relationship refers to a person_id that is not among subjects or household",
                        getattr(rel, end),
                    )
        for i, person in enumerate(self.subjects):
            if person.unborn and person.mother_person_id and person.mother_person_id not in known:
                raise rule_error(
                    "Referral",
                    ("subjects", i, "mother_person_id"),
                    "unknown_person_id",
                    "mother_person_id is not among subjects or household",
                    person.mother_person_id,
                )
        return self


def latest(changes: list[RagChange]) -> datetime:
    return max(change.at for change in changes)
