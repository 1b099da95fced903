"""Turning a calibrated probability into a decision under an agency's :class:`MatchPolicy`.

The policy model lives in :mod:`mashlink.config.matching` so the agency YAML
(a ``matching:`` block) is validated with the rest of the configuration; it is
re-exported here because matching code and callers think of it as part of
matching.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config.matching import MatchPolicy
from .rules import DECISION_RANK, MatchDecision

__all__ = ["MatchPolicy", "decision_for", "cap_decision", "expected_false_matches"]


def decision_for(policy: MatchPolicy, probability: float) -> MatchDecision:
    """match at or above ``auto_match``, candidate at or above ``review``, otherwise no match."""
    if probability >= policy.auto_match:
        return MatchDecision.MATCH
    if probability >= policy.review:
        return MatchDecision.CANDIDATE
    return MatchDecision.NO_MATCH


def cap_decision(decision: MatchDecision, cap: MatchDecision | None) -> MatchDecision:
    """The more cautious of a decision and a veto's cap (None: no cap)."""
    if cap is None:
        return decision
    return decision if DECISION_RANK[decision] <= DECISION_RANK[cap] else cap


def expected_false_matches(auto_matched_probabilities: Iterable[float]) -> float:
    """Expected number of wrong people among automatic links: the sum of ``1 - p``.

    What IG staff audit: run a month's automatic links through this and the
    figure is how many of them are expected to be the wrong child, if the
    model's probabilities are calibrated (the benchmark checks that they are).
    """
    return sum(1.0 - p for p in auto_matched_probabilities)
