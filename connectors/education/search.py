"""Find an enquiry subject in the pupil index with the shared matcher.

Every search goes through the pupil index's :class:`~mashlink.matching.index.MatchIndex`
(the one matcher every agency uses): blocking by UPN, NHS number, date of
birth (and its day/month swap), phonetic surname + birth year and postcode +
birth year, with no truncating ``LIMIT``; every candidate scored with the
calibrated scorer and its vetoes; ``decide`` sends near-ties and household
members (twins, siblings) to a person. A trusted UPN is evidence like any
other field: a UPN typo that is valid for another child is vetoed
(``identifier_equal_demographics_disagree``) rather than a silent wrong match.
An unborn subject is found through ``subject_mother``'s entry.

Only a match outcome's best record is confirmed; every other record shown is a
candidate for a person to resolve, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from .index import PupilIndex
from ..indexed_search import IndexedHit, as_match_result, base_record_id, hits_from_outcome
from ...matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds
from ...schemas.codes import MatchMethod
from ...schemas.person import Person
from ...schemas.record import AgencyRecord

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PupilHit:
    """A record shown for a subject: the agency record it came from, the person matched on it, the verdict.

    ``person`` is ``record.person`` for a pupil, or a person held on the record (an unborn child, a
    parent) when the index entry was theirs.
    """

    record: AgencyRecord
    result: MatchResult
    person: Person
    indexed: IndexedHit

    @property
    def confirmed(self) -> bool:
        return self.result.decision is MatchDecision.MATCH


def search_pupils(index: PupilIndex, subject: Person, *, subject_mother: Person | None = None,
                  thresholds: MatchThresholds = DEFAULT_THRESHOLDS, others: Sequence[Person] = ()
                  ) -> list[PupilHit]:
    """Records that match or may match ``subject``, best first (at most one confirmed).

    ``others``: the enquiry's other people (``MatchIndex.search``).
    """
    outcome = index.matcher.search(subject, mother=subject_mother, others=others)
    hits: list[PupilHit] = []
    for hit in hits_from_outcome(outcome, thresholds=thresholds, other_id_method=MatchMethod.UPN):
        record = index.get(base_record_id(hit.record_id, hit.person.person_id))
        if record is None:  # the match index is written first; its pupil write did not commit
            log.warning("pupil_index_entry_without_record")
            continue
        hits.append(PupilHit(record, as_match_result(hit, outcome.reasons), hit.person, hit))
    return hits
