"""Decisions on a referral and the outcome feedback that follows.

The referrer and every contributing agency must be told the outcome; the
model says who is to be told so the hub can prove they were.
"""

from __future__ import annotations

from pydantic import Field

from .base import CanonicalModel, UtcDatetime
from .codes import OutcomeType


class Decision(CanonicalModel):
    decision_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    outcome: OutcomeType
    rationale: str = Field(min_length=1, max_length=20000)
    decided_by: str = Field(min_length=1)
    decided_at: UtcDatetime
    notify: list[str] = Field(default_factory=list, description="Agency ids and referrer to be told")


class Outcome(CanonicalModel):
    """The outcome as sent to one recipient (minimised: no other agency's findings)."""

    outcome_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    decision_id: str = Field(min_length=1, max_length=64)
    outcome: OutcomeType
    recipient: str = Field(min_length=1)
    summary: str = Field(default="", max_length=4000)
    sent_at: UtcDatetime
