"""The Fellegi–Sunter match model: prior, per-level m and u, and EM training.

For each field and comparison level, ``m`` is the probability of seeing that
level when the two records are the same person and ``u`` when they are not.
The evidence a level gives is the Bayes factor ``m / u``; in log2 units
("bits") a level with ``m = 0.9, u = 0.001`` adds about +9.8, one with
``m = 0.02, u = 0.9`` about -5.5. The prior is the share of compared pairs
that are matches. Adding the prior's log-odds and every field's weight gives
the match weight; the probability is ``2**w / (1 + 2**w)``. Because the
numbers are probabilities estimated on the agency's own data, the resulting
probability is calibrated and a threshold on it is an expected error rate.

Training (:func:`train_em`) is expectation maximisation over comparison
vectors. It counts distinct vectors first (a million blocked pairs have a few
thousand distinct vectors), so an iteration costs the number of distinct
vectors, not pairs. Missing and not-applicable levels carry weight 0 and are
not learned.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .comparisons import FIELDS, LEVELS, NEUTRAL_LEVELS, ComparisonVector

#: Probabilities are kept inside (EPSILON, 1 - EPSILON) so no weight is infinite.
EPSILON = 1e-9


class LevelProbabilities(BaseModel):
    """m (among matches) and u (among non-matches) of one comparison level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    m: float = Field(gt=0.0, le=1.0)
    u: float = Field(gt=0.0, le=1.0)

    @property
    def weight(self) -> float:
        """log2 Bayes factor of this level."""
        return math.log2(self.m / self.u)


#: Starting m/u per field and level: plausible values for children's records in
#: England (about one in 100 children share a common given name, one in 300 a
#: family name, one in 5,000 a date of birth). EM replaces them with each
#: agency's own figures; neutral levels are listed for completeness only.
_DEFAULTS: dict[str, dict[str, tuple[float, float]]] = {
    "given": {
        "exact": (0.86, 0.008), "variant": (0.01, 0.0002), "nickname": (0.03, 0.001), "typo": (0.03, 0.0003),
        "jw_high": (0.01, 0.001), "phonetic": (0.01, 0.002), "jw_mid": (0.01, 0.01), "middle": (0.01, 0.002),
        "initial": (0.01, 0.004), "different": (0.01, 0.97), "missing": (1.0, 1.0),
    },
    "family": {
        "exact": (0.83, 0.003), "previous_name": (0.04, 0.0004), "part_of_double": (0.03, 0.0005),
        "jw_high": (0.03, 0.002), "phonetic": (0.01, 0.003), "different": (0.06, 0.99), "missing": (1.0, 1.0),
    },
    "dob": {
        "exact": (0.88, 0.0002), "swapped_day_month": (0.02, 0.00002), "one_digit": (0.06, 0.003),
        "year_off": (0.01, 0.0005), "year_month": (0.01, 0.003), "year": (0.01, 0.05), "different": (0.02, 0.94), "missing": (1.0, 1.0),
    },
    "postcode": {
        "full_or_uprn": (0.68, 0.0005), "previous_address": (0.08, 0.0002), "sector": (0.04, 0.003),
        "district": (0.05, 0.02), "different": (0.15, 0.976), "missing": (1.0, 1.0),
    },
    "sex": {"equal": (0.98, 0.5), "different": (0.02, 0.5), "missing": (1.0, 1.0)},
    "nhs_number": {"equal": (0.99, 0.000001), "different": (0.01, 0.999999), "missing_or_untrusted": (1.0, 1.0)},
    "other_id": {
        "equal": (0.95, 0.000001), "different": (0.02, 0.9), "different_local": (0.10, 0.9), "missing": (1.0, 1.0),
    },
    "unborn_mother": {
        "mother_and_edd": (0.85, 0.0000001), "mother_weak_and_edd": (0.08, 0.00001), "born_near_edd": (0.05, 0.001),
        "edd_outside_window": (0.01, 0.02), "mother_different": (0.01, 0.98), "mother_unknown": (1.0, 1.0),
        "not_unborn": (1.0, 1.0),
    },
}

_MONOTONE_FIELDS = ("given", "family", "dob", "postcode")

#: Share of compared (blocked) pairs that are the same person, before any evidence.
DEFAULT_PRIOR = 0.001


class MatchModel(BaseModel):
    """Prior and m/u per field and level; JSON round trip via ``model_dump_json`` / ``model_validate_json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    prior: float = Field(default=DEFAULT_PRIOR, gt=0.0, lt=1.0,
                         description="Probability that a compared pair is a match, before evidence")
    fields: dict[str, dict[str, LevelProbabilities]]
    trained_on: int = Field(default=0, ge=0, description="Comparison vectors the last training used")
    iterations: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _every_level(self) -> "MatchModel":
        for field, levels in LEVELS.items():
            have = self.fields.get(field)
            if have is None:
                raise ValueError(f"fields.{field}: missing (every field needs m/u for its levels)")
            missing = [level for level in levels if level not in have]
            if missing:
                raise ValueError(f"fields.{field}: missing level(s) {', '.join(missing)}")
            extra = [level for level in have if level not in levels]
            if extra:
                raise ValueError(f"fields.{field}: unknown level(s) {', '.join(extra)}")
        extra_fields = [f for f in self.fields if f not in LEVELS]
        if extra_fields:
            raise ValueError(f"fields: unknown field(s) {', '.join(extra_fields)}")
        return self

    @classmethod
    def default(cls) -> "MatchModel":
        """Sensible starting weights (see ``_DEFAULTS``), before any training."""
        return cls(
            prior=DEFAULT_PRIOR,
            fields={f: {lvl: LevelProbabilities(m=m, u=u) for lvl, (m, u) in levels.items()}
                    for f, levels in _DEFAULTS.items()},
        )

    @property
    def prior_weight(self) -> float:
        """log2 prior odds of a match."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weight(self, field: str, level: str) -> float:
        """log2 Bayes factor of a level (0 for neutral levels)."""
        if level in NEUTRAL_LEVELS[field]:
            return 0.0
        return self.fields[field][level].weight

    def weights(self) -> dict[str, dict[str, float]]:
        """Every level's weight as the scorer uses it.

        For given name, family name, date of birth and postcode an approximate
        agreement never counts for more than the exact one (before
        term-frequency adjustment): with few examples a rare level such as a
        one-letter typo can get a small ``u`` and so a weight above exact
        agreement, which would rank a misspelt record above the right one.
        """
        out = {f: {lvl: self.weight(f, lvl) for lvl in LEVELS[f]} for f in FIELDS}
        for field in _MONOTONE_FIELDS:
            best = out[field][LEVELS[field][0]]
            out[field] = {lvl: min(w, best) for lvl, w in out[field].items()}
        return out


def _clip(p: float) -> float:
    return min(max(p, EPSILON), 1.0 - EPSILON)


def _smoothed(field: str, counts: dict[str, float], start: dict[str, LevelProbabilities], which: str,
              strength: float) -> dict[str, float]:
    """Probabilities over a field's evidence levels: counts plus ``strength`` pseudo-pairs shaped like ``start``.

    Why: a level that a sample never shows (a given-name initial among 20,000
    random pairs) must not get a near-zero ``u`` and so a huge weight, and a
    field the sample never compares (no UPNs at this agency) keeps the starting
    values. With plenty of data the counts dominate. Neutral levels stay 1.0.
    """
    neutral = NEUTRAL_LEVELS[field]
    evidence = [lvl for lvl in LEVELS[field] if lvl not in neutral]
    prior = {lvl: getattr(start[lvl], which) for lvl in evidence}
    prior_total = sum(prior.values()) or 1.0
    total = sum(counts.get(lvl, 0.0) for lvl in evidence) + strength
    out: dict[str, float] = dict.fromkeys(neutral, 1.0)
    for lvl in evidence:
        out[lvl] = _clip((counts.get(lvl, 0.0) + strength * prior[lvl] / prior_total) / total)
    return out


def train_em(
    vectors: Sequence[ComparisonVector] | Iterable[ComparisonVector],
    start: MatchModel,
    *,
    max_iterations: int = 25,
    fixed_u: bool = False,
    tolerance: float = 1e-5,
    m_strength: float = 50.0,
    u_strength: float = 1000.0,
    fixed_prior: bool = False,
) -> MatchModel:
    """Expectation maximisation of prior, m and (unless ``fixed_u``) u over comparison vectors.

    ``fixed_u=True`` keeps ``start``'s u values: use it after
    :func:`estimate_u` on random pairs, the most reliable way to get u (random
    pairs are almost all non-matches). ``m_strength`` / ``u_strength`` are
    pseudo-pairs shaped like ``start`` (a maximum a-posteriori estimate): with
    few matches in the data, m stays near the starting values instead of being
    fitted to whatever cluster is there (siblings share a family name and an
    address); with thousands of matches the data decide. ``fixed_prior`` keeps
    ``start.prior`` (training pairs drawn inside one index exclude each record's
    own pair, so their share of matches is not the share at search time).
    Stops when no parameter moves by more than ``tolerance``.
    """
    counts = Counter(v.values for v in vectors)
    if not counts:
        raise ValueError("train_em needs at least one comparison vector")
    patterns = list(counts.items())
    total = float(sum(counts.values()))
    prior = start.prior
    m = {f: {lvl: p.m for lvl, p in start.fields[f].items()} for f in FIELDS}
    u = {f: {lvl: p.u for lvl, p in start.fields[f].items()} for f in FIELDS}
    neutral = [NEUTRAL_LEVELS[f] for f in FIELDS]
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        m_acc = {f: dict.fromkeys(LEVELS[f], 0.0) for f in FIELDS}
        u_acc = {f: dict.fromkeys(LEVELS[f], 0.0) for f in FIELDS}
        matches = 0.0
        for values, count in patterns:
            pm, pu = prior, 1.0 - prior
            for i, f in enumerate(FIELDS):
                level = values[i]
                if level in neutral[i]:
                    continue
                pm *= m[f][level]
                pu *= u[f][level]
            p = pm / (pm + pu) if pm + pu > 0 else 0.0
            matched = p * count
            unmatched = count - matched
            matches += matched
            for i, f in enumerate(FIELDS):
                m_acc[f][values[i]] += matched
                u_acc[f][values[i]] += unmatched
        new_prior = prior if fixed_prior else _clip(matches / total)
        new_m = {f: _smoothed(f, m_acc[f], start.fields[f], "m", m_strength) for f in FIELDS}
        new_u = u if fixed_u else {f: _smoothed(f, u_acc[f], start.fields[f], "u", u_strength) for f in FIELDS}
        change = abs(new_prior - prior)
        for f in FIELDS:
            for lvl in LEVELS[f]:
                change = max(change, abs(new_m[f][lvl] - m[f][lvl]), abs(new_u[f][lvl] - u[f][lvl]))
        prior, m, u = new_prior, new_m, new_u
        if change < tolerance:
            break
    return MatchModel(
        prior=prior,
        fields={f: {lvl: LevelProbabilities(m=m[f][lvl], u=u[f][lvl]) for lvl in LEVELS[f]} for f in FIELDS},
        trained_on=int(total),
        iterations=iterations,
    )


def estimate_u(random_pairs_vectors: Iterable[ComparisonVector], start: MatchModel, *,
               strength: float = 2000.0) -> MatchModel:
    """u from the vectors of random pairs (nearly all non-matches), keeping ``start``'s m and prior.

    Splink's approach: in a large population two random records are almost
    never the same person, so level frequencies among random pairs are u.
    ``strength`` pseudo-pairs shaped like ``start``'s u keep rare levels (never
    seen in the sample) from getting huge weights; see :func:`train_em`.
    """
    acc = {f: dict.fromkeys(LEVELS[f], 0.0) for f in FIELDS}
    seen = 0
    for vector in random_pairs_vectors:
        seen += 1
        for f, level in zip(FIELDS, vector.values):
            acc[f][level] += 1.0
    if not seen:
        raise ValueError("estimate_u needs at least one comparison vector")
    u = {f: _smoothed(f, acc[f], start.fields[f], "u", strength) for f in FIELDS}
    return start.model_copy(update={
        "fields": {f: {lvl: LevelProbabilities(m=start.fields[f][lvl].m, u=u[f][lvl]) for lvl in LEVELS[f]}
                   for f in FIELDS},
    })


def _best_level_kept(field: str, learned: dict[str, float], start: dict[str, LevelProbabilities],
                     which: str) -> dict[str, float]:
    """``learned`` with the field's best level (exact, equal, full) kept at ``start`` and the rest rescaled.

    Why: labelled pairs are the ones chosen for review, so they are not a
    sample of matches or of non-matches. Confirmed ones over-represent partial
    agreement (that is why they were doubtful) and rejected ones
    over-represent full agreement (look-alikes). Re-estimated from them alone,
    the best level's m falls and its u rises, and full agreement stops being
    enough to link: on the 1,000,000-person benchmark, labels from the
    reviews of 2,500 subjects cut automatic links on the other 2,500 from 92 %
    to 76 %. Labels therefore move only how the remaining mass is shared
    among the partial and disagreeing levels (a confirmed nickname, a rejected
    one-digit date of birth); full agreement keeps the weight the agency's
    own data gave it.
    """
    neutral = NEUTRAL_LEVELS[field]
    evidence = [lvl for lvl in LEVELS[field] if lvl not in neutral]
    best = evidence[0]
    kept = getattr(start[best], which)
    rest = evidence[1:]
    learned_rest = sum(learned[lvl] for lvl in rest)
    if not rest:
        return learned
    scale = (1.0 - kept) / learned_rest
    out = dict(learned)
    out[best] = kept
    for lvl in rest:
        out[lvl] = _clip(learned[lvl] * scale)
    return out


def train_from_labels(
    labelled: Iterable[tuple[ComparisonVector, bool]],
    start: MatchModel,
    *,
    m_strength: float = 50.0,
    u_strength: float = 1000.0,
) -> MatchModel:
    """m from pairs a person confirmed, u from pairs a person rejected (review decisions as labels),
    for every level but each field's best (``_best_level_kept``).

    Why: an agency index rarely holds duplicates, so EM has few true matches
    to learn ``m`` from; every confirmed review is one. ``start``'s values act
    as ``m_strength`` / ``u_strength`` pseudo-pairs, so a handful of decisions
    nudges the weights and thousands decide them. The prior is kept (labelled
    pairs are chosen by the review band, not drawn at random).
    """
    m_acc = {f: dict.fromkeys(LEVELS[f], 0.0) for f in FIELDS}
    u_acc = {f: dict.fromkeys(LEVELS[f], 0.0) for f in FIELDS}
    seen = 0
    for vector, is_match in labelled:
        seen += 1
        acc = m_acc if is_match else u_acc
        for f, level in zip(FIELDS, vector.values):
            acc[f][level] += 1.0
    if not seen:
        raise ValueError("train_from_labels needs at least one labelled comparison")
    m = {f: _best_level_kept(f, _smoothed(f, m_acc[f], start.fields[f], "m", m_strength), start.fields[f], "m")
         for f in FIELDS}
    u = {f: _best_level_kept(f, _smoothed(f, u_acc[f], start.fields[f], "u", u_strength), start.fields[f], "u")
         for f in FIELDS}
    return start.model_copy(update={
        "fields": {f: {lvl: LevelProbabilities(m=m[f][lvl], u=u[f][lvl]) for lvl in LEVELS[f]} for f in FIELDS},
        "trained_on": start.trained_on + seen,
    })
