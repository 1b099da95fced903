"""Search of a simulated agency system: the hub's pairwise matcher over every record.

A real agency system has its own search (a PDS trace, a Mosaic person
search, a PNC check); the simulators need the same shape of answer: each
record found with a method and a confidence, uncertain ones returned as
*candidates* for a person to confirm, never silently picked. Pairwise scoring
is ``mashlink.matching.rules.match_person`` (one set of rules, documented for
IG staff there); this module adds what only a search over many records can
see: when two records both look like *the* match and are close in confidence
(duplicate records, a twin with a typo), neither is picked and both become
candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from mashlink.matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchThresholds, match_person
from mashlink.schemas.codes import MatchMethod
from mashlink.schemas.person import Person

#: Two matches closer than this in confidence are ambiguous.
AMBIGUITY_MARGIN = 0.03

RecordT = TypeVar("RecordT")


@dataclass(frozen=True)
class MatchResult(Generic[RecordT]):
    """One record found for one subject."""

    record: RecordT
    person: Person
    method: MatchMethod
    confidence: float
    candidate: bool
    reasons: tuple[str, ...] = ()


def match_subject(
    subject: Person,
    records: Sequence[tuple[RecordT, Person]],
    *,
    subject_mother: Person | None = None,
    record_mother: Callable[[RecordT], Person | None] = lambda _r: None,
    thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
) -> list[MatchResult[RecordT]]:
    """Every record that matches ``subject`` or is a plausible candidate, best first.

    ``subject_mother`` and ``record_mother`` supply the mothers an unborn
    child is matched through (the enquiry's mother subject; the agency's own
    record of the mother).
    """
    found: list[MatchResult[RecordT]] = []
    for record, person in records:
        result = match_person(
            subject,
            person,
            subject_mother=subject_mother,
            record_mother=record_mother(record) if (subject.unborn or person.unborn) else None,
            thresholds=thresholds,
        )
        if result.decision is MatchDecision.NO_MATCH:
            continue
        found.append(
            MatchResult(
                record=record,
                person=person,
                method=result.method,
                confidence=result.confidence,
                candidate=result.decision is MatchDecision.CANDIDATE,
                reasons=tuple(result.reasons),
            )
        )
    found.sort(key=lambda m: (m.candidate, -m.confidence))
    confident = [m for m in found if not m.candidate]
    if len(confident) > 1 and confident[0].confidence - confident[1].confidence < AMBIGUITY_MARGIN:
        top = confident[0].confidence
        found = [
            replace(m, candidate=True, reasons=(*m.reasons, "ambiguous_between_records"))
            if not m.candidate and top - m.confidence < AMBIGUITY_MARGIN
            else m
            for m in found
        ]
        found.sort(key=lambda m: (m.candidate, -m.confidence))
    return found
