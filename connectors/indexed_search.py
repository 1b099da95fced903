"""What every indexed connector does with the shared matcher's answer.

Why this module: education and social care (and the simulators) each used to
pre-select records their own way (``LIMIT 500``, ``LIMIT 200``), score them
with the pairwise rules and invent their own "several records match" rule.
They now all search a :class:`~mashlink.matching.index.MatchIndex` and get one
:class:`~mashlink.matching.decide.SearchOutcome`. This module turns that
outcome into what a connector answers with: for each record shown, whether it
is confirmed (its findings may be released) or a candidate (a minimal view for
a person), with the ``MatchMethod`` and confidence the hub's re-check reads.

Confidence on the wire: the hub keeps the lower of the agency's confidence and
its own (``hub/linked_view.py``) and decides with its thresholds. So a record
the matcher links claims at least the hub's ``match`` threshold (its calibrated
probability, which is normally higher), and a record a person must decide
claims a confidence inside the hub's candidate band: a candidate stays a
candidate at the hub, never silently dropped below ``candidate`` nor promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..matching.decide import ScoredCandidate, SearchOutcome
from ..matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds
from ..matching.scorer import ScoredPair
from ..schemas.codes import MatchMethod, RelationshipType
from ..schemas.identifiers import IdentifierSystem
from ..schemas.person import Person
from ..schemas.relationship import Relationship


@dataclass(frozen=True)
class IndexedHit:
    """One record the shared matcher showed for a subject.

    ``record_id`` is the index's record id (a record's subject, or ``<record>/<person_id>`` for a
    person held on another record); ``person`` the indexed person; ``pair`` the scorer's verdict
    after ``decide`` (near-ties and household members demoted to candidate).
    """

    record_id: str
    person: Person
    pair: ScoredPair
    confirmed: bool
    method: MatchMethod
    confidence: float


def method_of(pair: ScoredPair, *, other_id_method: MatchMethod = MatchMethod.DEMOGRAPHIC) -> MatchMethod:
    """The identifier the pair agreed on, else demographic (the hub re-derives its own method)."""
    levels = pair.levels
    if levels.get("nhs_number") == "equal":
        return MatchMethod.NHS_NUMBER
    if levels.get("other_id") == "equal":
        return other_id_method
    return MatchMethod.DEMOGRAPHIC


def claimed_confidence(pair: ScoredPair, confirmed: bool, thresholds: MatchThresholds = DEFAULT_THRESHOLDS) -> float:
    """The confidence the connector claims: linked at least at the hub's match threshold, else in its candidate band."""
    if confirmed:
        return round(max(pair.probability, thresholds.match), 6)
    return round(min(max(pair.probability, thresholds.candidate), thresholds.candidate_cap), 6)


def hits_from_outcome(outcome: SearchOutcome, *, thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
                      other_id_method: MatchMethod = MatchMethod.DEMOGRAPHIC) -> list[IndexedHit]:
    """Every result ``decide`` showed, best first; only a match outcome's best result is confirmed."""
    hits: list[IndexedHit] = []
    for position, result in enumerate(outcome.results):
        hits.append(hit_from_candidate(
            result,
            confirmed=(outcome.outcome is MatchDecision.MATCH and position == 0
                       and result.pair.decision is MatchDecision.MATCH),
            thresholds=thresholds, other_id_method=other_id_method))
    return hits


def hit_from_candidate(result: ScoredCandidate, *, confirmed: bool,
                       thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
                       other_id_method: MatchMethod = MatchMethod.DEMOGRAPHIC) -> IndexedHit:
    return IndexedHit(
        record_id=result.record_id,
        person=result.person,
        pair=result.pair,
        confirmed=confirmed,
        method=method_of(result.pair, other_id_method=other_id_method),
        confidence=claimed_confidence(result.pair, confirmed, thresholds),
    )


def mother_in_enquiry(subject: Person, subjects: Sequence[Person], relationships: Sequence[Relationship]
                      ) -> Person | None:
    """The subject's mother among the enquiry's subjects (``mother_person_id``, else a ``mother`` relationship).

    An unborn child is found through her record, so every connector passes her to the search.
    """
    by_id = {p.person_id: p for p in subjects}
    if subject.mother_person_id and subject.mother_person_id in by_id:
        return by_id[subject.mother_person_id]
    for rel in relationships:
        if rel.type is RelationshipType.MOTHER and rel.to_person_id == subject.person_id \
                and rel.from_person_id in by_id:
            return by_id[rel.from_person_id]
    return None


def others_in_enquiry(subject: Person, subjects: Sequence[Person]) -> list[Person]:
    """The enquiry's other people (its other subjects and household), for the matcher beside ``subject``.

    A record that one of them plainly is (the co-twin or sibling named on the same referral) is
    then neither offered for the subject nor a rival to the subject's own record; a record two of
    them could be goes to a person (``matching.decide``).
    """
    return [p for p in subjects if p is not subject and p.person_id != subject.person_id]


def base_record_id(index_record_id: str, person_id: str) -> str:
    """The agency record an index entry came from: ``<record>/<person_id>`` -> ``<record>``."""
    suffix = "/" + person_id
    if index_record_id.endswith(suffix) and len(index_record_id) > len(suffix):
        return index_record_id[: -len(suffix)]
    return index_record_id


def as_match_result(hit: IndexedHit, outcome_reasons: Sequence[str] = ()) -> MatchResult:
    """The hit in the pairwise ``MatchResult`` shape connectors and their callers already read.

    ``components`` are the per-field contributions in bits (the review screen's table); ``reasons``
    the pair's levels and vetoes, then why ``decide`` made the outcome (``near_tie``, ...).
    """
    reasons = list(hit.pair.reasons)
    reasons.extend(r for r in outcome_reasons if r not in reasons)
    return MatchResult(
        method=hit.method,
        confidence=hit.confidence,
        decision=MatchDecision.MATCH if hit.confirmed else MatchDecision.CANDIDATE,
        reasons=reasons,
        components={c.field: round(c.weight, 4) for c in hit.pair.contributions},
    )


_METHOD_OF_SYSTEM = {
    IdentifierSystem.NHS_NUMBER: MatchMethod.NHS_NUMBER,
    IdentifierSystem.UPN: MatchMethod.UPN,
    IdentifierSystem.LA_CHILD_ID: MatchMethod.LA_CHILD_ID,
    IdentifierSystem.POLICE_PERSON_ID: MatchMethod.POLICE_ID,
    IdentifierSystem.PNC_ID: MatchMethod.POLICE_ID,
}


def agreed_identifier_method(subject: Person, record: Person) -> MatchMethod:
    """The method named by the first trusted identifier both people hold (same key), else demographic."""
    held = {i.key for i in record.identifiers if i.trusted}
    for ident in subject.identifiers:
        if ident.trusted and ident.key in held and ident.system in _METHOD_OF_SYSTEM:
            return _METHOD_OF_SYSTEM[ident.system]
    return MatchMethod.DEMOGRAPHIC
