"""What the referral's listed household says about a record that is only a candidate.

Why: a MASH practitioner checking a doubtful match looks at the family around
it. The referral lists the child's household; the agency's index knows who
lives with each record (everyone at its address, or the same mother). If
someone listed on the referral is among the record's household,
the record is very likely the child (a moved family's Jakub Wright with a
typo in his date of birth still lives with his listed mother and sister); if
the record has a household and nobody listed fits anyone in it, the record
is more likely another child with a similar name.

It is one more piece of Fellegi–Sunter evidence, shown as the ``household``
contribution on the pair, so the probability a person sees stays an honest
one. It is applied only to pairs below automatic-match level and not vetoed
to no match, and ``matching.decide`` takes every decision on the pairs' own
evidence, with exactly the records it would weigh without the household. For
a subject nothing was good enough to link, it decides who a person is shown:
a record the household was weighed on is shown at the policy's
``review_household`` on the probability with it. That hides the look-alikes
nobody listed lives with, and shows a record its own fields left just under
``review`` whose household holds someone listed (a moved family's child with
a mistyped birthday). It never makes or enables an automatic link: the
household says nothing about which twin or sibling a record is (they share
it), and an automatic link stays decided by the person's own fields and the
vetoes.

Levels (``m``: among true matches, ``u``: among other records a search
offers): ``corroborated`` (someone listed fits someone living with the
record, at review level or better), ``not_corroborated`` (nobody listed fits
anyone there), ``not_compared`` (nobody listed, or nobody known to live with
the record: weight 0). Who lives with a record is everyone at its address in
the index, whatever their family name (a mother who kept hers), and its
mother and her children (``MatchIndex._mates``).

Measured on the synthetic population of ``mashlink bench matching``
(1,000,002 people, 4,000 member and 1,000 non-member referral subjects, each
referral listing each household member with chance 0.8): 93 % of the true
records shown were corroborated, against 6 % of the wrong ones. Real
households change more than a synthetic one (a child moves to a relative, a
parent's new partner), so the defaults are set well short of those figures:
+3.8 bits for ``corroborated`` and -1.7 bits for ``not_corroborated``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .model import LevelProbabilities
from .rules import MatchDecision
from .scorer import FieldContribution, ScoredPair, probability_from_weight


class HouseholdLevel(StrEnum):
    CORROBORATED = "corroborated"
    NOT_CORROBORATED = "not_corroborated"
    NOT_COMPARED = "not_compared"


class HouseholdEvidence(BaseModel):
    """m and u of the household levels (``not_compared`` weighs nothing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    corroborated: LevelProbabilities = Field(default=LevelProbabilities(m=0.7, u=0.05))
    not_corroborated: LevelProbabilities = Field(default=LevelProbabilities(m=0.3, u=0.95))
    fits_at: float = Field(default=0.10, gt=0.0, lt=1.0,
                           description="A listed person fits someone living with the record at this probability "
                                       "or better. Fixed, not the agency's review threshold: whether the listed "
                                       "mother is the woman at the address does not change with what is shown.")

    def weight(self, level: HouseholdLevel) -> float:
        if level is HouseholdLevel.CORROBORATED:
            return self.corroborated.weight
        if level is HouseholdLevel.NOT_CORROBORATED:
            return self.not_corroborated.weight
        return 0.0


def household_level(comparisons: Iterable[ScoredPair], fits_at: float) -> HouseholdLevel:
    """The level for one record from every listed person scored against everyone living with it.

    ``corroborated``: some listed person fits someone there (probability ``fits_at`` or better, and
    no veto to no match; the scorer's own decision is not used, as it depends on the agency's
    ``review``). ``not_corroborated``: there were people to compare and none fits. ``not_compared``:
    nobody listed, or nobody known to live with the record.
    """
    compared = False
    for pair in comparisons:
        if pair.cap is not MatchDecision.NO_MATCH and pair.probability >= fits_at:
            return HouseholdLevel.CORROBORATED
        compared = True
    return HouseholdLevel.NOT_CORROBORATED if compared else HouseholdLevel.NOT_COMPARED


def weighs_on(pair: ScoredPair) -> bool:
    """Whether the household is evidence on this pair: below match level and not vetoed to no match.

    A pair below ``review`` on its own fields counts (the household may lift it into view); a
    no-match veto (another given name, another date of birth) is a rule the household cannot argue with.
    """
    return pair.decision is not MatchDecision.MATCH and pair.cap is not MatchDecision.NO_MATCH


def could_be_shown(pair: ScoredPair, threshold: float, evidence: HouseholdEvidence) -> bool:
    """Whether a corroborating household could bring ``pair`` to ``threshold`` (the policy's
    ``review_household``): worth working out who lives with it."""
    if not weighs_on(pair):
        return False
    needed = math.log2(threshold / (1.0 - threshold))
    return pair.match_weight + evidence.weight(HouseholdLevel.CORROBORATED) >= needed


def with_household(pair: ScoredPair, level: HouseholdLevel, evidence: HouseholdEvidence) -> ScoredPair:
    """``pair`` with the household's contribution added; pairs at match level (or vetoed to no match) as they are.

    The decision stays the scorer's: a candidate stays a candidate however
    strongly its household agrees, and a pair below ``review`` stays below
    it here; whether a person is shown it is ``matching.decide``'s call on
    the new probability.
    """
    if not weighs_on(pair) or level is HouseholdLevel.NOT_COMPARED:
        return pair
    return with_contribution(pair, FieldContribution(field="household", level=level.value,
                                                     weight=round(evidence.weight(level), 4)))


def with_contribution(pair: ScoredPair, part: FieldContribution) -> ScoredPair:
    """``pair`` with the household's contribution ``part`` in its weight, probability and reasons."""
    total = round(pair.match_weight + part.weight, 4)
    return pair.model_copy(update={
        "probability": probability_from_weight(total),
        "match_weight": round(total, 4),
        "contributions": [*pair.contributions, part],
        "reasons": [*pair.reasons, f"household_{part.level}"],
    })


def without_household(pair: ScoredPair) -> tuple[ScoredPair, FieldContribution | None]:
    """``pair`` as its own fields scored it, and the household's contribution taken out (or None)."""
    part = next((c for c in pair.contributions if c.field == "household"), None)
    if part is None:
        return pair, None
    total = round(pair.match_weight - part.weight, 4)
    return pair.model_copy(update={
        "probability": probability_from_weight(total),
        "match_weight": round(total, 4),
        "contributions": [c for c in pair.contributions if c.field != "household"],
        "reasons": [r for r in pair.reasons if r != f"household_{part.level}"],
    }), part
