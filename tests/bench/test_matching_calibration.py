"""The matching bench's calibration table: of the candidates shown to a person, per probability band,
how many were the child. It is how IG staff check that a threshold on the probability means what it
says (issue 16: calibrated probabilities)."""

from __future__ import annotations

from mashlink.bench.matching import Outcome, _calibration_metrics, calibration
from mashlink.bench.matching_population import Subject
from mashlink.schemas.person import Person


def _subject(sid: str, truth: str | None) -> Subject:
    return Subject(subject_id=sid, person=Person(person_id=sid), mother=None, true_record_id=truth,
                   kind="member_child" if truth else "nonmember_sibling", corruptions=())


def test_shown_candidates_are_counted_per_band_with_how_many_were_the_child() -> None:
    subjects = [_subject("s1", "r1"), _subject("s2", "r9"), _subject("s3", None), _subject("s4", "r4")]
    outcomes = {
        "s1": Outcome("candidate", ("r1", "r2"), (0.95, 0.35)),  # the child at 0.95, a look-alike at 0.35
        "s2": Outcome("candidate", ("r5",), (0.2,)),  # a wrong record at 0.2
        "s3": Outcome("candidate", ("r6",), (0.999,)),  # not in the index: every candidate is wrong
        "s4": Outcome("match", ("r4",), (0.9999,)),  # an automatic link is not a review: not counted
    }
    bands = calibration(subjects, outcomes)
    assert list(bands) == ["0.1-0.3", "0.3-0.5", "0.5-0.7", "0.7-0.9", "0.9-0.99", "0.99-1"]
    assert bands["0.1-0.3"] == {"shown": 1, "child": 0, "child_pct": 0.0, "mean_p_pct": 20.0}
    assert bands["0.3-0.5"]["shown"] == 1 and bands["0.3-0.5"]["child"] == 0
    assert bands["0.9-0.99"] == {"shown": 1, "child": 1, "child_pct": 100.0, "mean_p_pct": 95.0}
    assert bands["0.99-1"] == {"shown": 1, "child": 0, "child_pct": 0.0, "mean_p_pct": 99.9}
    assert bands["0.5-0.7"]["shown"] == 0 and bands["0.5-0.7"]["child_pct"] == 0.0
    flat = _calibration_metrics("candidate", bands)
    assert flat["candidate_calibration_0.9-0.99_child"] == 1
    assert all(isinstance(v, (int, float)) for v in flat.values())


def test_a_probability_of_one_and_one_under_the_first_band_still_count() -> None:
    subjects = [_subject("s1", "r1")]
    bands = calibration(subjects, {"s1": Outcome("candidate", ("r1", "r2"), (1.0, 0.05))})
    assert bands["0.99-1"]["shown"] == 1 and bands["0.99-1"]["child"] == 1
    assert bands["0.1-0.3"]["shown"] == 1  # a looser review's candidate falls in the first band
