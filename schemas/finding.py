"""Findings: what an agency's records say about a subject, with provenance.

Every finding carries where it came from (system and record id), how sensitive
it is and how reliable, because the MASH chronology is read in court and in
case reviews: a fact without its source is not usable.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, model_validator

from .base import CanonicalModel, UtcDatetime, rule_error
from .codes import (
    GRADING_VALUES,
    WITHHELD_HANDLING_CODES,
    AgencyKind,
    FindingCategory,
    GradingScheme,
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


class IntelligenceGrading(CanonicalModel):
    """How the police graded a piece of material, as graded (3x5x2, or legacy 5x5x5).

    The native grade is kept as recorded; the release decision is the
    finding's ``handling_code`` and the coarse reliability its ``reliability``.
    3x5x2: source evaluation ``1``-``3``, intelligence assessment ``A``-``E``,
    handling ``P``/``C`` (``C`` with the originator's conditions). 5x5x5:
    source ``A``-``E``, intelligence ``1``-``5``, handling ``1``-``5``.
    """

    scheme: GradingScheme
    source_evaluation: str | None = Field(default=None, max_length=1)
    intelligence_assessment: str | None = Field(default=None, max_length=1)
    handling_code: str | None = Field(default=None, max_length=1, description="Native handling code as graded")
    conditions: str | None = Field(default=None, max_length=2000,
                                   description="Handling conditions set by the originator (3x5x2 code C)")

    @model_validator(mode="after")
    def _values_of_scheme(self) -> "IntelligenceGrading":
        allowed = GRADING_VALUES[self.scheme]
        for name, value, values in (("source_evaluation", self.source_evaluation, allowed[0]),
                                    ("intelligence_assessment", self.intelligence_assessment, allowed[1]),
                                    ("handling_code", self.handling_code, allowed[2])):
            if value is not None and value not in values:
                raise rule_error("IntelligenceGrading", (name,), "grading_scheme",
                                 f"{value!r} is not a {self.scheme.value} {name.replace('_', ' ')} "
                                 f"(one of {', '.join(sorted(values))})", value)
        return self


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
    grading: IntelligenceGrading | None = Field(
        default=None, description="Police intelligence grade as recorded (3x5x2 or legacy 5x5x5)")
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
        if self.grading is not None and self.source.agency_kind is not _POLICE:
            raise rule_error("Finding", ("grading",), "grading_police_only",
                             "intelligence grading applies to police material only", self.grading.scheme.value)
        if self.start and self.end and _as_date(self.end) < _as_date(self.start):
            raise rule_error(
                "Finding", ("end",), "finding_order", "finding end is before its start", self.end.isoformat()
            )
        return self

    @property
    def do_not_disseminate(self) -> bool:
        """True when the material never leaves the force: DND, or a handling code nobody could read."""
        return self.handling_code in WITHHELD_HANDLING_CODES


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value
