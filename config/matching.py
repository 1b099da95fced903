"""Per-agency identity-matching policy: the thresholds information-governance staff set.

Why in configuration: how many false matches an agency accepts (a false match
shares one child's records about another) against how many queries it sends
to a person is a governance decision, not code. The scorer's probabilities
are calibrated, so each threshold reads as an error rate:

- ``auto_match``: a pair at or above it is linked without a person. A pair
  at probability ``p`` is the wrong person with chance ``1 - p``, so
  auto-matching only at ``p >= 0.995`` means each automatic link is wrong with
  chance at most 0.5 % (in practice far less: most automatic links sit at
  0.99999 and above). Set it directly or as ``max_false_match_rate``
  (``auto_match = 1 - max_false_match_rate``).
- ``review``: a pair below it is not shown to anyone (unless the referral's
  household brings it to ``review_household``, below). A pair at ``p`` just
  under it is the right person with chance ``p``, so this is the largest risk
  of a missed link the agency accepts per hidden candidate. Default 0.10.
- ``review_household``: when the referral lists the child's household and the
  agency knows who lives with a record, the household is weighed on it
  (``matching.household_evidence``) and the record is shown at this
  probability *with* the household. Default 0.40: on the benchmark's synthetic
  population, of the records the household was weighed on, none scored under
  0.3 was the child (docs/matching.md, section 5), and a record living with
  someone listed comes over it even from under ``review``. It never links.
- ``near_tie_margin`` / ``near_tie_weight_margin``: two candidates this close
  (twins, siblings, a parent and child of the same name) go to a person.

In YAML, as a ``matching:`` block (this model validates it)::

    matching:
      max_false_match_rate: 0.001   # auto-match only at p >= 0.999
      review: 0.10                  # show a person candidates at p >= 0.10
      review_household: 0.40        # ... at p >= 0.40 with the household, where it was weighed
      near_tie_margin: 0.05
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MatchPolicy(BaseModel):
    """Decision thresholds over calibrated match probabilities, plus the near-tie rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_match: float = Field(default=0.995, gt=0.5, lt=1.0,
                              description="Probability at or above which a pair is linked without a person")
    review: float = Field(default=0.10, gt=0.0, lt=1.0,
                          description="Probability at or above which a pair is shown to a person")
    review_household: float = Field(
        default=0.40, gt=0.0, lt=1.0,
        description="For a record the referral's household was weighed on (someone listed, someone known to "
                    "live with the record), the probability with the household at or above which it is shown")
    max_false_match_rate: float | None = Field(
        default=None, gt=0.0, lt=0.5,
        description="Alternative to auto_match: the accepted chance that an automatic link is wrong")
    near_tie_margin: float = Field(default=0.05, ge=0.0, le=0.5,
                                   description="Two candidates this close in probability go to a person")
    near_tie_weight_margin: float = Field(default=4.0, ge=0.0, le=30.0,
                                          description="... or this close in match weight (log2 units)")
    model: Path | None = Field(
        default=None,
        description="Trained weights for a connector with no index of its own (health): a match index from "
                    "`mashlink match index build` / `match train`, or a MatchModel JSON file; loaded at start")
    established_name_min_count: int = Field(
        default=5, ge=1,
        description="A one-letter given-name difference between two names each held by at least this many "
                    "people is two names (Ana/Ann, Amira/Amara), not a typo: never auto-matched")

    @model_validator(mode="before")
    @classmethod
    def _from_false_match_rate(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_false_match_rate") is not None:
            rate = data["max_false_match_rate"]
            if isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate < 0.5:
                derived = round(1.0 - float(rate), 12)
                given = data.get("auto_match")
                if isinstance(given, (int, float)) and abs(given - derived) > 1e-9:
                    raise ValueError(
                        f"auto_match ({data['auto_match']}) contradicts max_false_match_rate ({rate}): "
                        f"set one of them (auto_match = 1 - max_false_match_rate = {derived})")
                data = {**data, "auto_match": derived}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> "MatchPolicy":
        if self.review >= self.auto_match:
            raise ValueError(f"review ({self.review}) must be below auto_match ({self.auto_match})")
        if self.review_household >= self.auto_match:
            raise ValueError(f"review_household ({self.review_household}) must be below auto_match "
                             f"({self.auto_match})")
        return self

    @classmethod
    def default(cls) -> "MatchPolicy":
        return cls()

    @classmethod
    def from_rates(cls, *, max_false_match_rate: float, max_missed_match_risk: float,
                   **other: Any) -> "MatchPolicy":
        """Thresholds from the two rates IG staff reason in.

        ``max_false_match_rate``: accepted chance an automatic link is wrong
        (0.001: one in a thousand at worst). ``max_missed_match_risk``: the
        chance of being the right person above which a candidate must be shown
        to a person (0.1: anything with a 10 % chance or more is reviewed).
        """
        return cls(max_false_match_rate=max_false_match_rate, review=max_missed_match_risk, **other)

    @property
    def expected_false_match_rate(self) -> float:
        """Upper bound on the chance that one automatic link is the wrong person."""
        return 1.0 - self.auto_match
