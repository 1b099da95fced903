"""Helpers the agency simulators share to build their own view of a person.

Each agency holds its own copy of a person: its own record id, only the
identifiers it issues or collects, sometimes an out-of-date surname or a
misspelt name. These helpers build that copy and the findings attached to it
with consistent ids and provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from .population import Population, SynthPerson, person_identifiers
from ...schemas.codes import AgencyKind, FindingCategory, HandlingCode, Reliability, Sensitivity
from ...schemas.finding import Finding, SourceRef
from ...schemas.identifiers import Identifier, IdentifierSystem
from ...schemas.person import BirthDate, HumanName, NameUse, Person


def agency_copy(
    population: Population,
    synth: SynthPerson,
    *,
    person_id: str,
    systems: tuple[IdentifierSystem, ...],
    given: str | None = None,
    family: str | None = None,
    record_previous_name: bool = True,
    record_preferred_name: bool = False,
    extra_identifiers: tuple[Identifier, ...] = (),
    expected_birth_date: date | None = None,
) -> Person:
    """The agency's copy of ``synth``: the agency's own id, identifiers and name spellings."""
    names = [HumanName(given=[given or synth.given], family=family or synth.family)]
    if record_preferred_name and synth.nickname:
        names.append(HumanName(use=NameUse.PREFERRED, given=[synth.nickname], family=family or synth.family))
    if record_previous_name and synth.previous_family and (family or synth.family) != synth.previous_family:
        names.append(HumanName(use=NameUse.PREVIOUS, given=[given or synth.given], family=synth.previous_family))
    family_rec = population.family(synth.family_id)
    return Person(
        person_id=person_id,
        names=names,
        birth_date=BirthDate(value=synth.birth_date) if synth.birth_date else None,
        unborn=synth.unborn,
        expected_birth_date=(expected_birth_date or synth.expected_birth_date) if synth.unborn else None,
        sex=synth.sex,
        identifiers=[i for i in person_identifiers(synth, population) if i.system in systems]
        + list(extra_identifiers),
        addresses=[family_rec.address()],
    )


@dataclass
class FindingBook:
    """Builds findings for one record with sequential ids and the agency's provenance."""

    kind: AgencyKind
    agency_id: str
    system: str
    organisation: str
    as_of: date
    record_id: str
    _n: int = field(default=0)
    items: list[Finding] = field(default_factory=list)

    def add(
        self,
        category: FindingCategory,
        days_ago: int,
        summary: str,
        *,
        ended_days_ago: int | None = None,
        codes: tuple[str, ...] = (),
        attributes: dict[str, Any] | None = None,
        sensitivity: Sensitivity = Sensitivity.STANDARD,
        handling: HandlingCode | None = None,
        reliability: Reliability = Reliability.RELIABLE,
        contact: str | None = None,
        source_record: str | None = None,
    ) -> Finding:
        self._n += 1
        finding = Finding(
            finding_id=f"{self.record_id}:{self._n}",
            subject_person_id=self.record_id,
            category=category,
            start=self.as_of - timedelta(days=days_ago),
            end=(self.as_of - timedelta(days=ended_days_ago)) if ended_days_ago is not None else None,
            summary=summary,
            codes=list(codes),
            attributes=dict(attributes or {}),
            source=SourceRef(
                agency_kind=self.kind,
                agency_id=self.agency_id,
                system=self.system,
                record_id=source_record or f"{self.record_id}/{self._n}",
                organisation=self.organisation,
            ),
            sensitivity=sensitivity,
            handling_code=handling,
            reliability=reliability,
            contact=contact,
        )
        self.items.append(finding)
        return finding
