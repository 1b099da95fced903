"""train_em and estimate_u: recovering known m, u and prior from simulated comparison vectors."""

from __future__ import annotations

import random

import pytest

from mashlink.matching.comparisons import LEVELS, ComparisonVector
from mashlink.matching.model import LevelProbabilities, MatchModel, estimate_u, train_em

#: The truth the simulation draws from: field -> level -> (m, u).
TRUTH: dict[str, dict[str, tuple[float, float]]] = {
    "given": {"exact": (0.85, 0.02), "typo": (0.10, 0.01), "different": (0.05, 0.97)},
    "family": {"exact": (0.90, 0.01), "jw_high": (0.05, 0.02), "different": (0.05, 0.97)},
    "dob": {"exact": (0.80, 0.002), "one_digit": (0.15, 0.02), "different": (0.05, 0.978)},
    "postcode": {"full_or_uprn": (0.60, 0.01), "sector": (0.10, 0.04), "different": (0.30, 0.95)},
}
TRUE_PRIOR = 0.15


def _draw(rng: random.Random, field: str, which: int) -> str:
    levels = TRUTH[field]
    r, acc = rng.random(), 0.0
    for level, probs in levels.items():
        acc += probs[which]
        if r < acc:
            return level
    return list(levels)[-1]


def simulate(n: int, seed: int = 1, prior: float = TRUE_PRIOR) -> list[ComparisonVector]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        which = 0 if rng.random() < prior else 1
        out.append(ComparisonVector.from_levels({f: _draw(rng, f, which) for f in TRUTH}))
    return out


def test_em_recovers_known_m_u_and_prior() -> None:
    vectors = simulate(30_000)
    model = train_em(vectors, MatchModel.default(), max_iterations=200)
    assert model.prior == pytest.approx(TRUE_PRIOR, abs=0.02)
    for field, levels in TRUTH.items():
        for level, (m, u) in levels.items():
            got = model.fields[field][level]
            assert got.m == pytest.approx(m, abs=0.03), (field, level, "m")
            assert got.u == pytest.approx(u, abs=0.01, rel=0.3), (field, level, "u")
    assert model.trained_on == 30_000 and 1 <= model.iterations <= 200


def test_em_ranks_levels_like_the_truth() -> None:
    model = train_em(simulate(20_000, seed=5), MatchModel.default(), max_iterations=100)
    for field in TRUTH:
        weights = model.weights()[field]
        assert weights[list(TRUTH[field])[0]] > 0 > weights["different"]


def test_fixed_u_keeps_u_and_fixed_prior_keeps_the_prior() -> None:
    start = MatchModel.default()
    model = train_em(simulate(5_000), start, fixed_u=True, fixed_prior=True)
    for field in LEVELS:
        for level in LEVELS[field]:
            assert model.fields[field][level].u == start.fields[field][level].u
    assert model.prior == start.prior


def test_em_with_few_matches_keeps_m_near_the_start() -> None:
    """An index of distinct people has few matches among its blocked pairs: m must not be fitted to noise.

    (A large coherent cluster such as 2,000 sibling pairs *is* fitted by EM as if it were the matches: that is
    why a caller training inside one index checks the result is plausible before keeping it.)
    """
    rng = random.Random(9)
    strangers = [ComparisonVector.from_levels({f: _draw(rng, f, 1) for f in TRUTH}) for _ in range(10_000)]
    matches = [ComparisonVector.from_levels({"given": "exact", "family": "exact", "dob": "exact",
                                             "postcode": "full_or_uprn"})] * 10
    start = MatchModel.default()
    model = train_em([*strangers, *matches], start, fixed_u=True)
    for field, level in (("given", "exact"), ("dob", "exact"), ("given", "different"), ("dob", "different")):
        assert model.fields[field][level].m == pytest.approx(start.fields[field][level].m, abs=0.1), (field, level)
    weights = model.weights()
    assert weights["given"]["exact"] > 0 > weights["given"]["different"]
    assert weights["dob"]["exact"] > 0 > weights["dob"]["different"]


def test_estimate_u_from_random_pairs() -> None:
    vectors = simulate(50_000, seed=3, prior=0.0)
    model = estimate_u(vectors, MatchModel.default())
    for field, levels in TRUTH.items():
        for level, (_m, u) in levels.items():
            assert model.fields[field][level].u == pytest.approx(u, abs=0.005, rel=0.25), (field, level)
        assert model.fields[field]["exact" if field != "postcode" else "full_or_uprn"].m == \
            MatchModel.default().fields[field]["exact" if field != "postcode" else "full_or_uprn"].m
    # a field the sample never compares keeps the starting u
    assert model.fields["nhs_number"]["equal"].u == pytest.approx(MatchModel.default().fields["nhs_number"]["equal"].u)


def test_unseen_levels_get_no_extreme_weight() -> None:
    model = estimate_u(simulate(20_000, seed=4, prior=0.0), MatchModel.default())
    default = MatchModel.default()
    # jw_mid never occurs in the sample: its u stays of the order of the starting value, not ~0
    assert model.fields["given"]["jw_mid"].u > default.fields["given"]["jw_mid"].u / 50
    assert model.weights()["given"]["jw_mid"] <= model.weights()["given"]["exact"]


def test_em_needs_vectors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        train_em([], MatchModel.default())
    with pytest.raises(ValueError, match="at least one"):
        estimate_u([], MatchModel.default())


def test_model_json_round_trip_and_validation() -> None:
    model = train_em(simulate(2_000), MatchModel.default())
    again = MatchModel.model_validate_json(model.model_dump_json())
    assert again == model
    data = model.model_dump()
    del data["fields"]["dob"]["swapped_day_month"]
    with pytest.raises(ValueError, match="fields.dob: missing level"):
        MatchModel.model_validate(data)
    data = model.model_dump()
    data["fields"]["given"]["made_up"] = {"m": 0.1, "u": 0.1}
    with pytest.raises(ValueError, match="unknown level"):
        MatchModel.model_validate(data)
    with pytest.raises(ValueError):
        LevelProbabilities(m=0.0, u=0.5)


def test_neutral_levels_weigh_nothing() -> None:
    model = MatchModel.default()
    assert model.weight("postcode", "missing") == 0
    assert model.weight("nhs_number", "missing_or_untrusted") == 0
    assert model.weight("unborn_mother", "not_unborn") == 0


def test_review_decisions_move_the_weights() -> None:
    """Confirmed nicknames raise the nickname weight; rejected ones lower it; a few decisions only nudge."""
    from mashlink.matching.model import train_from_labels

    start = MatchModel.default()
    nickname = ComparisonVector.from_levels({"given": "nickname", "family": "exact", "dob": "exact"})
    exact = ComparisonVector.from_levels({"given": "exact", "family": "exact", "dob": "exact"})
    confirmed = train_from_labels([(nickname, True)] * 300 + [(exact, True)] * 700, start)
    rejected = train_from_labels([(nickname, False)] * 300 + [(exact, False)] * 50, start)
    assert confirmed.weight("given", "nickname") > start.weight("given", "nickname") + 1
    assert rejected.weight("given", "nickname") < start.weight("given", "nickname") - 1
    nudged = train_from_labels([(nickname, True)], start)
    assert abs(nudged.weight("given", "nickname") - start.weight("given", "nickname")) < 1.0
    assert nudged.prior == start.prior and nudged.trained_on == start.trained_on + 1
    with pytest.raises(ValueError, match="at least one"):
        train_from_labels([], start)
