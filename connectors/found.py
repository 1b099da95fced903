"""One record an agency-side search found for one enquiry subject.

Why its own module: the production police store and the simulated agency
systems answer a subject with the same shape (the record, the person on it,
how and how confidently it matched, and whether a person must confirm it).
It used to live in ``connectors/simulators/matching.py``, which made the
production police search import the simulators; simulators may use
production code, never the reverse (``tests/architecture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ..schemas.codes import MatchMethod
from ..schemas.person import Person

RecordT = TypeVar("RecordT")

__all__ = ["MatchResult"]


@dataclass(frozen=True)
class MatchResult(Generic[RecordT]):
    """One record found for one subject; ``candidate`` records are shown to a person, never linked."""

    record: RecordT
    person: Person
    method: MatchMethod
    confidence: float
    candidate: bool
    reasons: tuple[str, ...] = ()
