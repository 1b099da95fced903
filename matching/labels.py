"""Review decisions as labels: a person's confirm / reject on a shown candidate moves the agency's weights.

Why: an agency index rarely holds duplicate records, so expectation
maximisation has few true matches to learn ``m`` from, and the pairs that
reach a person are exactly the hard ones (nicknames, moved families, changed
surnames). Every confirmed candidate is a labelled match, every rejected one
a labelled non-match. The hub exports them (``hub.match_review.review_labels``,
``mashlink match labels export``); the agency's index turns each into a
comparison vector against the record it holds and re-weights with
:func:`~mashlink.matching.model.train_from_labels` (``mashlink match train``).

A label names the record by the agency's record id and carries the subject
as the referral gave them: the same two sides a search compares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field

from .comparisons import ComparisonVector, compare_features, features
from ..schemas.person import Person


class ReviewLabel(BaseModel):
    """One person's decision on one agency record shown for one referral subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Person = Field(description="The referral subject as referred (what the search compared)")
    mother: Person | None = Field(default=None, description="The subject's mother as referred (unborn subjects)")
    agency_id: str = Field(min_length=1, max_length=64)
    record_id: str = Field(min_length=1, max_length=200, description="The agency's record id (the index's)")
    confirmed: bool = Field(description="True: the same person; false: a person rejected the link")


class LabelReport(BaseModel):
    """What a labelled re-weighting used, and what it could not use (by label position)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    confirmed: int = 0
    rejected: int = 0
    unknown_records: list[str] = Field(default_factory=list,
                                       description="'label N: record_id X is not in this index'")


def label_vectors(labels: Iterable[ReviewLabel], record: Callable[[str], Person | None]
                  ) -> tuple[list[tuple[ComparisonVector, bool]], LabelReport]:
    """Each label's comparison vector (subject against the record the index holds) and its verdict.

    ``record`` looks a record id up (``MatchIndex.get``); a label whose record
    is no longer held is reported, not guessed at.
    """
    out: list[tuple[ComparisonVector, bool]] = []
    missing: list[str] = []
    confirmed = rejected = 0
    mothers: dict[str, Person | None] = {}
    for n, label in enumerate(labels, start=1):
        held = record(label.record_id)
        if held is None:
            missing.append(f"label {n}: record_id {label.record_id!r} is not in this index")
            continue
        record_mother = None
        if held.unborn and held.mother_person_id:
            if held.mother_person_id not in mothers:
                mothers[held.mother_person_id] = record(held.mother_person_id)
            record_mother = mothers[held.mother_person_id]
        vector, _detail = compare_features(
            features(label.subject), features(held),
            features(label.mother) if label.mother is not None else None,
            features(record_mother) if record_mother is not None else None)
        out.append((vector, label.confirmed))
        if label.confirmed:
            confirmed += 1
        else:
            rejected += 1
    return out, LabelReport(confirmed=confirmed, rejected=rejected, unknown_records=missing)

