"""Relationships between people, as agencies record them.

Parental responsibility and household membership are separate facts: a father
may hold parental responsibility and live elsewhere; a mother's partner may
live in the household with no responsibility at all. Both matter to risk.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import CanonicalModel, rule_error
from .codes import RelationshipType
from .person import Period


class Relationship(CanonicalModel):
    """``from_person_id`` is ``type`` of ``to_person_id`` (e.g. A is mother of B)."""

    from_person_id: str = Field(min_length=1)
    to_person_id: str = Field(min_length=1)
    type: RelationshipType
    parental_responsibility: bool | None = None
    same_household: bool | None = None
    period: Period | None = None
    source_record_id: str | None = None

    @model_validator(mode="after")
    def _distinct(self) -> "Relationship":
        if self.from_person_id == self.to_person_id:
            raise rule_error(
                "Relationship",
                ("to_person_id",),
                "relationship_same_person",
                "a relationship needs two different people",
                self.to_person_id,
            )
        return self
