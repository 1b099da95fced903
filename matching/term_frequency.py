"""How common each given name, family name and postcode is in an agency's records.

Why: two records agreeing on "Oliver Smith" is weaker evidence than two
agreeing on "Zebedee Okonkwo-Hartley", because many different children are
called Oliver Smith. For an exact agreement the scorer replaces the level's
average ``u`` with the value's own relative frequency (the chance two
different people share *this* value), which is the term-frequency adjustment
of Fellegi–Sunter models (as in Splink).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .comparisons import PersonFeatures, features
from ..schemas.person import Person

TF_FIELDS: tuple[str, ...] = ("given", "family", "postcode")


class TermFrequencies:
    """Value counts per field; ``frequency(field, value)`` is the share of people with that value.

    A value never seen counts as seen once (the rarest it can be in this
    population), so a name absent from the index is rare, not unknown.
    """

    __slots__ = ("_counts", "_totals")

    def __init__(self, counts: dict[str, Counter[str]], totals: dict[str, int]) -> None:
        self._counts = counts
        self._totals = totals

    @classmethod
    def from_people(cls, people: Iterable[Person]) -> "TermFrequencies":
        return cls.from_features(features(p) for p in people)

    @classmethod
    def from_features(cls, people: Iterable[PersonFeatures]) -> "TermFrequencies":
        """From precomputed features (what the index stores): each person counts once per field."""
        counts: dict[str, Counter[str]] = {f: Counter() for f in TF_FIELDS}
        totals = dict.fromkeys(TF_FIELDS, 0)
        for person in people:
            if person.registered_first:
                counts["given"][person.registered_first] += 1
                totals["given"] += 1
            if person.registered_family:
                counts["family"][person.registered_family] += 1
                totals["family"] += 1
            if person.postcode_current:
                counts["postcode"][min(person.postcode_current)] += 1
                totals["postcode"] += 1
        return cls(counts, totals)

    def add(self, field: str, value: str, count: int = 1) -> None:
        """Count ``value`` ``count`` more times (incremental index loads)."""
        self._check_field(field)
        self._counts[field][value] += count
        self._totals[field] += count

    def count(self, field: str, value: str) -> int:
        self._check_field(field)
        return self._counts[field].get(value, 0)

    def total(self, field: str) -> int:
        self._check_field(field)
        return self._totals[field]

    def frequency(self, field: str, value: str) -> float | None:
        """Relative frequency of ``value`` among people with this field; None when nothing was counted."""
        counts = self._counts.get(field)
        if counts is None:
            self._check_field(field)
        total = self._totals[field]
        if total == 0:
            return None
        return max(counts.get(value, 0), 1) / total  # type: ignore[union-attr]

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "totals": dict(self._totals),
                "counts": {f: dict(self._counts[f]) for f in TF_FIELDS}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TermFrequencies":
        """Inverse of :meth:`to_dict`; a malformed table is an error naming the field."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("term frequencies: expected a dict with version 1")
        counts: dict[str, Counter[str]] = {}
        totals: dict[str, int] = {}
        for field in TF_FIELDS:
            raw = data.get("counts", {}).get(field, {})
            if not isinstance(raw, dict) or not all(isinstance(v, int) and v >= 0 for v in raw.values()):
                raise ValueError(f"term frequencies: counts.{field} must map values to non-negative integers")
            counts[field] = Counter({str(k): v for k, v in raw.items()})
            total = data.get("totals", {}).get(field, sum(raw.values()))
            if not isinstance(total, int) or total < sum(raw.values()):
                raise ValueError(f"term frequencies: totals.{field} must be an integer at least the sum of its counts")
            totals[field] = total
        return cls(counts, totals)

    @staticmethod
    def _check_field(field: str) -> None:
        if field not in TF_FIELDS:
            raise ValueError(f"term frequencies: unknown field {field!r} (one of {', '.join(TF_FIELDS)})")
