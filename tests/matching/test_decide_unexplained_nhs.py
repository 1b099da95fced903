"""A differing NHS number is beaten by demographics only when another record explains it (issue 16).

The referral's trusted NHS number differs from a record's. When another record
in the index holds that number (a sibling's number keyed on the referral) the
conflict is explained and the right child can still be linked. When nobody
holds it, it most likely belongs to a child the agency never met (the co-twin
of the record): at most a candidate, and not shown at all when the given name
agrees only as a nickname or short form. Synthetic people, 999-range numbers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from mashlink.matching.decide import ScoredCandidate, considered, decide, number_held
from mashlink.matching.index import MatchIndex
from mashlink.matching.model import MatchModel
from mashlink.matching.policy import MatchPolicy
from mashlink.matching.rules import MatchDecision
from mashlink.matching.scorer import Scorer
from mashlink.schemas.codes import Sex
from mashlink.schemas.person import HumanName, Person

from tests.matching.scoring_people import nhs_id, person

MATCH, CANDIDATE, NO_MATCH = MatchDecision.MATCH, MatchDecision.CANDIDATE, MatchDecision.NO_MATCH
POLICY = MatchPolicy.default()
SCORER = Scorer(MatchModel.default(), policy=POLICY)
TWINS_BORN = date(2017, 5, 2)


def scored(subject: Person, rid: str, record: Person, household: str | None = "h1") -> ScoredCandidate:
    return ScoredCandidate(record_id=rid, person=record, pair=SCORER.score(subject, record), household_id=household)


def amelia() -> Person:
    """The twin the agency knows, registered as Amelia, with her own NHS number."""
    return person("amelia", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(110)])


def millie_referral(number_seed: int) -> Person:
    """A referral for 'Millie' Okafor, same birthday and address, carrying the NHS number ``nhs_id(number_seed)``."""
    return person("ref", "Millie", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(number_seed)])


def test_the_pair_is_a_nickname_with_a_number_conflict() -> None:
    """The premise of the rule: without it Amelia would be shown as a candidate for Millie."""
    pair = SCORER.score(millie_referral(330), amelia())
    assert pair.levels["given"] == "nickname" and "nhs_number_conflict" in pair.vetoes
    assert pair.decision is CANDIDATE


def test_unexplained_number_and_nickname_only_shows_nobody() -> None:
    """Millie, never met, referred with her own number that no record holds: her twin Amelia is not shown."""
    referral = millie_referral(330)
    outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY)
    assert outcome.outcome is NO_MATCH and outcome.results == []


def test_the_same_nickname_is_shown_when_the_number_is_explained() -> None:
    """Millie's number is her brother's (he holds it, other name and birthday): the conflict is explained, so
    Amelia, agreeing only as a nickname, is still shown to a person (a nickname never auto-matches)."""
    referral = millie_referral(440)
    brother = person("leo", "Leo", "Okafor", dob=date(2012, 11, 30), sex=Sex.MALE, ids=[nhs_id(440)])
    outcome = decide(referral, [scored(referral, "amelia", amelia()), scored(referral, "leo", brother)], POLICY)
    assert outcome.outcome is CANDIDATE
    assert [r.record_id for r in outcome.results] == ["amelia"]
    assert "nhs_number_unexplained" not in outcome.results[0].pair.reasons


def test_unexplained_number_with_the_full_name_is_at_most_a_candidate() -> None:
    """A referral for Amelia herself with a number nobody holds: shown to a person, never linked."""
    referral = person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(330)])
    outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY)
    assert outcome.outcome is CANDIDATE and [r.record_id for r in outcome.results] == ["amelia"]
    assert outcome.results[0].pair.decision is CANDIDATE


def test_a_number_holder_below_review_is_still_considered() -> None:
    """Whether the number is explained must not depend on how well its holder scores otherwise."""
    referral = millie_referral(440)
    stranger = person("x", "Zainab", "Whitfield", dob=date(1980, 1, 1), postcode="TR1 1AA", sex=Sex.MALE,
                      ids=[nhs_id(440)])
    pair = SCORER.score(referral, stranger)
    assert pair.levels["nhs_number"] == "equal"
    assert considered(pair, POLICY)
    assert number_held([scored(referral, "x", stranger, None)])
    assert not number_held([scored(referral, "amelia", amelia())])


def _index(tmp_path: Path, records: list[Person]) -> MatchIndex:
    index = MatchIndex.create(tmp_path / "agency.sqlite")
    index.add_many([(p.person_id, p) for p in records])
    return index


def test_index_explained_sibling_number_still_auto_matches_the_right_child(tmp_path: Path) -> None:
    """Through the index: Ruby referred with her brother's number, both held: Ruby is linked."""
    ruby = person("ruby", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(100)])
    archie = person("archie", "Archie", "Hughes", dob=date(2012, 1, 20), ids=[nhs_id(200)])
    referral = person("ref", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(200)])
    with _index(tmp_path, [ruby, archie]) as index:
        outcome = index.search(referral)
    assert outcome.outcome is MATCH and outcome.results[0].record_id == "ruby"
    assert "nhs_number_conflict_explained" in outcome.results[0].pair.reasons


def test_index_unexplained_number_is_a_candidate_and_with_a_nickname_no_match(tmp_path: Path) -> None:
    """Through the index, which holds Amelia and not the referral's number."""
    other = person("noah", "Noah", "Begum", dob=date(2010, 2, 2), postcode="M1 1AA", ids=[nhs_id(500)])
    with _index(tmp_path, [amelia(), other]) as index:
        full = index.search(person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(330)]))
        nickname = index.search(millie_referral(330))
        explained = index.search(millie_referral(500))  # Noah holds this number: explained
    assert full.outcome is CANDIDATE and full.results[0].record_id == "amelia"
    assert nickname.outcome is NO_MATCH and nickname.results == []
    assert explained.outcome is CANDIDATE and [r.record_id for r in explained.results] == ["amelia"]


def test_unexplained_number_and_only_a_middle_name_or_a_loosely_similar_name_shows_nobody() -> None:
    """A never-met twin against the co-twin: referred by a name that is the co-twin's middle name, or only
    loosely like hers, carrying her own number nobody holds. A typo'd or phonetic spelling of the
    same name is still shown: that is how the same child's name is mistyped."""
    rose = person("amelia", names=[HumanName(given=["Amelia", "Rose"], family="Okafor")], dob=TWINS_BORN,
                  sex=Sex.FEMALE, ids=[nhs_id(110)])
    by_middle = person("ref", "Rose", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(330)])
    assert SCORER.score(by_middle, rose).levels["given"] == "middle"
    assert decide(by_middle, [scored(by_middle, "amelia", rose)], POLICY).results == []
    loosely = person("ref", "Aurelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(330)])
    assert SCORER.score(loosely, amelia()).levels["given"] == "jw_mid"
    assert decide(loosely, [scored(loosely, "amelia", amelia())], POLICY).results == []
    for spelling, level in (("Amalia", "typo"), ("Emilia", "phonetic")):
        referral = person("ref", spelling, "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(330)])
        assert SCORER.score(referral, amelia()).levels["given"] == level
        outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY)
        assert outcome.outcome is CANDIDATE and [r.record_id for r in outcome.results] == ["amelia"]
    # Explained (someone holds the number): the middle-name record is shown again.
    holder = person("leo", "Leo", "Okafor", dob=date(2012, 11, 30), sex=Sex.MALE, ids=[nhs_id(330)])
    outcome = decide(by_middle, [scored(by_middle, "amelia", rose), scored(by_middle, "leo", holder)], POLICY)
    assert [r.record_id for r in outcome.results] == ["amelia"]
