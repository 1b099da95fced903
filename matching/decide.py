"""Deciding for a subject across all its scored candidates: near-ties and households.

Why pairwise scores are not enough: a pair can look certain on its own while
another record is almost as good. Twins share a family name, date of birth
and address; a referral that calls Thomas "Tommy" fits Thomas and a twin
registered as Tommy; an agency may hold two records of one child. Linking
the top one automatically would, in the bad case, share one child's records
about another. So the automatic link is only made when the best candidate
stands clear of every other plausible candidate; otherwise the subject goes
to a person with all close candidates shown.

Rules (``policy`` thresholds):

- Candidates vetoed to no match (a clearly different given name or date of
  birth) or below ``review`` take no part: a twin whose registered name
  clearly differs is not a rival.
- The best candidate stays a match only if no other candidate is within
  ``near_tie_margin`` in probability or ``near_tie_weight_margin`` in match
  weight (``near_tie``), no other candidate is at match level too
  (``several_matches``), and no other candidate at or above ``review`` shares
  its household, date of birth or family name (``household_member_close``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from mashlink.config.matching import MatchPolicy
from mashlink.matching.names import split_tokens
from mashlink.matching.rules import DECISION_RANK, MatchDecision
from mashlink.matching.scorer import ScoredPair
from mashlink.schemas.person import Person


class ScoredCandidate(BaseModel):
    """One agency record scored against the subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str = Field(min_length=1)
    person: Person
    pair: ScoredPair
    household_id: str | None = None


class SearchOutcome(BaseModel):
    """What a search concluded for the subject as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: MatchDecision
    results: list[ScoredCandidate] = Field(default_factory=list,
                                           description="Best first; only candidates shown to a person or matched")
    reasons: list[str] = Field(default_factory=list)


def _rank(candidate: ScoredCandidate) -> tuple[int, float, float]:
    pair = candidate.pair
    return (DECISION_RANK[pair.decision], pair.probability, pair.match_weight)


def _family_names(person: Person) -> set[str]:
    return {"".join(split_tokens(n.family)) for n in person.names if n.family}


def _related(a: ScoredCandidate, b: ScoredCandidate) -> bool:
    """Same household, date of birth or family name: who twins, siblings and duplicates look like."""
    if a.household_id is not None and a.household_id == b.household_id:
        return True
    if a.person.birth_date is not None and b.person.birth_date is not None \
            and a.person.birth_date.value == b.person.birth_date.value:
        return True
    return bool(_family_names(a.person) & _family_names(b.person))


def _demote(candidate: ScoredCandidate, reasons: list[str]) -> ScoredCandidate:
    pair = candidate.pair.model_copy(update={
        "decision": MatchDecision.CANDIDATE,
        "reasons": [*candidate.pair.reasons, *reasons],
    })
    return candidate.model_copy(update={"pair": pair})


def decide(subject: Person, candidates: Sequence[ScoredCandidate], policy: MatchPolicy) -> SearchOutcome:
    """The subject's outcome (match / candidate / no match) and the candidates to show, best first.

    ``subject`` is the person searched for; the decision itself rests on the
    scored pairs (a record id seen twice, e.g. from two blocking passes,
    counts once, at its best score).
    """
    del subject  # the pairs already carry everything compared; kept for the contract and future checks
    best: dict[str, ScoredCandidate] = {}
    for candidate in candidates:
        held = best.get(candidate.record_id)
        if held is None or _rank(candidate) > _rank(held):
            best[candidate.record_id] = candidate
    ranked = sorted(best.values(), key=lambda c: c.record_id)  # ties: record id order, stable across runs
    ranked.sort(key=_rank, reverse=True)
    shown = [c for c in ranked if c.pair.decision is not MatchDecision.NO_MATCH and c.pair.probability >= policy.review]
    if not shown:
        return SearchOutcome(outcome=MatchDecision.NO_MATCH, results=[], reasons=["no_candidate_above_review"])

    top = shown[0]
    reasons: list[str] = []
    if top.pair.decision is MatchDecision.MATCH:
        for other in shown[1:]:
            if other.pair.decision is MatchDecision.MATCH and "several_matches" not in reasons:
                reasons.append("several_matches")
            if (top.pair.probability - other.pair.probability <= policy.near_tie_margin
                    or top.pair.match_weight - other.pair.match_weight <= policy.near_tie_weight_margin):
                if "near_tie" not in reasons:
                    reasons.append("near_tie")
            if _related(top, other) and "household_member_close" not in reasons:
                reasons.append("household_member_close")
        if reasons:
            shown = [_demote(c, reasons) if c.pair.decision is MatchDecision.MATCH else c for c in shown]
            return SearchOutcome(outcome=MatchDecision.CANDIDATE, results=shown, reasons=reasons)
        return SearchOutcome(outcome=MatchDecision.MATCH, results=shown, reasons=["clear_match"])
    return SearchOutcome(outcome=MatchDecision.CANDIDATE, results=shown, reasons=["review_needed"])
