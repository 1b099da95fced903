"""One record an agency-side search found for one enquiry subject.

Why its own module: the production police store and the simulated agency
systems answer a subject with the same shape (the record, the person on it,
how and how confidently it matched, and whether a person must confirm it).
:func:`candidate_view` is what of an uncertain record a person may see
before confirming it, the same for every connector. Both used to live on the
simulated side (``connectors/simulators/matching.py``,
``connectors/reference/connector.py``), which made the production police
search and answer builder load the simulated agency systems; simulators may
use production code, never the reverse (``tests/architecture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ..schemas.codes import MatchMethod
from ..schemas.person import Address, Person

RecordT = TypeVar("RecordT")

__all__ = ["MatchResult", "candidate_view"]


@dataclass(frozen=True)
class MatchResult(Generic[RecordT]):
    """One record found for one subject; ``candidate`` records are shown to a person, never linked."""

    record: RecordT
    person: Person
    method: MatchMethod
    confidence: float
    candidate: bool
    reasons: tuple[str, ...] = ()


def candidate_view(person: Person) -> Person:
    """Just enough of an uncertain record for a person to confirm or rule it out.

    A candidate may be someone else entirely (another family), so the answer
    carries names, date of birth, sex and postcode only: no identifiers,
    contact details or full address until the match is confirmed.
    """
    return Person(
        person_id=person.person_id,
        names=person.names,
        birth_date=person.birth_date,
        unborn=person.unborn,
        expected_birth_date=person.expected_birth_date,
        sex=person.sex,
        addresses=[Address(postcode=a.postcode, type=a.type) for a in person.addresses if a.postcode],
    )
