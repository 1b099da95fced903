"""Search of a simulated agency system: the shared matcher over every record.

A real agency system has its own search (a PDS trace, a Mosaic person
search, a PNC check); the simulators need the same shape of answer: each
record found with a method and a confidence, uncertain ones returned as
*candidates* for a person to confirm, never silently picked. Every record is
scored with the shared calibrated :class:`~mashlink.matching.scorer.Scorer`
(default model, vetoes) and :func:`~mashlink.matching.decide.decide` makes the
subject's outcome, with the same near-tie and household rules every agency's
connector uses (twins, duplicate records, a parent and child of one name go
to a person; only the best record of a match is linked). Simulators hold a few
hundred records, so they score them all rather than keep a ``MatchIndex``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...config.matching import MatchPolicy
from ..found import MatchResult, RecordT
from ..indexed_search import agreed_identifier_method, claimed_confidence
from ...matching.decide import ScoredCandidate, considered, decide
from ...matching.model import MatchModel
from ...matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchThresholds
from ...matching.scorer import Scorer
from ...schemas.person import Person

_SCORER = Scorer(MatchModel.default())


def match_subject(
    subject: Person,
    records: Sequence[tuple[RecordT, Person]],
    *,
    subject_mother: Person | None = None,
    record_mother: Callable[[RecordT], Person | None] = lambda _r: None,
    thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
    policy: MatchPolicy | None = None,
) -> list[MatchResult[RecordT]]:
    """Every record that matches ``subject`` or is shown to a person, best first (at most one confirmed).

    ``subject_mother`` and ``record_mother`` supply the mothers an unborn
    child is matched through (the enquiry's mother subject; the agency's own
    record of the mother). ``thresholds`` are the hub's: a confirmed record
    claims at least its match threshold, a candidate a confidence in its
    candidate band (see :mod:`mashlink.connectors.indexed_search`).
    """
    policy = policy or MatchPolicy.default()
    scorer = _SCORER if policy == _SCORER.policy else Scorer(MatchModel.default(), policy=policy)
    scored: list[ScoredCandidate] = []
    by_id: dict[str, RecordT] = {}
    for position, (record, person) in enumerate(records):
        pair = scorer.score(subject, person, subject_mother=subject_mother,
                            record_mother=record_mother(record) if (subject.unborn or person.unborn) else None)
        if not considered(pair, policy):  # what decide() weighs: shown pairs, a number holder, a twin-name form
            continue
        record_id = f"{position}:{person.person_id}"
        by_id[record_id] = record
        scored.append(ScoredCandidate(record_id=record_id, person=person, pair=pair))
    outcome = decide(subject, scored, policy)
    found: list[MatchResult[RecordT]] = []
    for rank, result in enumerate(outcome.results):
        confirmed = outcome.outcome is MatchDecision.MATCH and rank == 0 \
            and result.pair.decision is MatchDecision.MATCH
        reasons = [*result.pair.reasons, *(r for r in outcome.reasons if r not in result.pair.reasons)]
        found.append(MatchResult(
            record=by_id[result.record_id],
            person=result.person,
            method=agreed_identifier_method(subject, result.person),
            confidence=claimed_confidence(result.pair, confirmed, thresholds),
            candidate=not confirmed,
            reasons=tuple(reasons),
        ))
    return found
