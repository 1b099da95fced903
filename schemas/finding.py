"""Findings: what an agency's records say about a subject, with provenance.

Every finding carries where it came from (system and record id), how sensitive
it is and how reliable, because the MASH chronology is read in court and in
case reviews: a fact without its source is not usable.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, model_validator

from mashlink.schemas.base import CanonicalModel, UtcDatetime, rule_error
from mashlink.schemas.codes import (
    AgencyKind,
    FindingCategory,
    HandlingCode,
    Reliability,
    Sensitivity,
)


_POLICE = AgencyKind.POLICE  # a module constant: enum class attribute lookups are slow per record


class SourceRef(CanonicalModel):
    """Where a record lives in an agency system."""

    agency_kind: AgencyKind
    agency_id: str | None = Field(default=None, description="Configured agency id, when known")
    system: str = Field(min_length=1, description="Source system, e.g. 'Mosaic', 'Niche RMS'")
    record_id: str = Field(min_length=1)
    organisation: str | None = Field(default=None, description="ODS code, LA code, force code or URN")


class Finding(CanonicalModel):
    """One fact from an agency record, from the agency's controlled vocabulary."""

    finding_id: str = Field(min_length=1, max_length=128)
    subject_person_id: str = Field(min_length=1, description="The person in the same message it is about")
    category: FindingCategory
    start: date | UtcDatetime | None = Field(default=None, description="A date, or a timezone-aware date-time")
    end: date | UtcDatetime | None = None
    summary: str = Field(default="", max_length=4000)
    codes: list[str] = Field(default_factory=list, description="Native codes kept for audit, e.g. CIN factors 3A, 10A")
    attributes: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Category-specific facts (legal status, plan category, attendance figures)",
    )
    source: SourceRef
    sensitivity: Sensitivity = Sensitivity.STANDARD
    handling_code: HandlingCode | None = None
    reliability: Reliability = Reliability.RELIABLE
    contact: str | None = Field(default=None, description="Whom to contact for more (team, not person)")

    @model_validator(mode="after")
    def _consistent(self) -> "Finding":
        if self.category.agency_kind is not self.source.agency_kind:
            raise rule_error(
                "Finding",
                ("category",),
                "category_agency_mismatch",
                f"category {self.category.value} is not in the {self.source.agency_kind.value} vocabulary",
                self.category.value,
            )
        if self.handling_code is not None and self.source.agency_kind is not _POLICE:
            raise rule_error(
                "Finding",
                ("handling_code",),
                "handling_code_police_only",
                "handling codes apply to police material only",
                self.handling_code.value,
            )
        if self.start and self.end and _as_date(self.end) < _as_date(self.start):
            raise rule_error(
                "Finding", ("end",), "finding_order", "finding end is before its start", self.end.isoformat()
            )
        return self

    @property
    def do_not_disseminate(self) -> bool:
        return self.handling_code is HandlingCode.DO_NOT_DISSEMINATE


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value
