"""decide(): near-ties and households never auto-match; the policy's thresholds. Synthetic people only."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from mashlink.matching.decide import ScoredCandidate, SearchOutcome, decide
from mashlink.matching.model import MatchModel
from mashlink.matching.policy import MatchPolicy, decision_for, expected_false_matches
from mashlink.matching.rules import MatchDecision
from mashlink.matching.scorer import Scorer
from mashlink.schemas.codes import Sex
from mashlink.schemas.person import Person

from tests.matching.scoring_people import nhs_id, person

MATCH, CANDIDATE, NO_MATCH = MatchDecision.MATCH, MatchDecision.CANDIDATE, MatchDecision.NO_MATCH
#: The rules are relative to ``review``; these pairs were built around review 0.10 (the default is 0.40).
POLICY = MatchPolicy(review=0.10)
SCORER = Scorer(MatchModel.default(), policy=POLICY)


def scored(subject: Person, rid: str, record: Person, household: str | None = None) -> ScoredCandidate:
    return ScoredCandidate(record_id=rid, person=record, pair=SCORER.score(subject, record), household_id=household)


def ids(outcome: SearchOutcome) -> list[str]:
    return [r.record_id for r in outcome.results]


def test_a_clear_match_is_a_match() -> None:
    subject = person("s", "Ruby", "Hughes", sex=Sex.FEMALE)
    outcome = decide(subject, [
        scored(subject, "r1", person("r1", "Ruby", "Hughes", sex=Sex.FEMALE)),
        scored(subject, "r2", person("r2", "Ava", "Begum", dob=date(2011, 1, 1), sex=Sex.FEMALE)),
    ], POLICY)
    assert outcome.outcome is MATCH and ids(outcome) == ["r1"]
    assert outcome.results[0].pair.decision is MATCH


def test_twin_with_a_clearly_different_name_does_not_block_the_match() -> None:
    """Ruby's twin Archie is vetoed (different given name), so he is no rival."""
    subject = person("s", "Ruby", "Hughes", sex=Sex.FEMALE)
    outcome = decide(subject, [
        scored(subject, "ruby", person("ruby", "Ruby", "Hughes", sex=Sex.FEMALE), household="h1"),
        scored(subject, "archie", person("archie", "Archie", "Hughes"), household="h1"),
    ], POLICY)
    assert outcome.outcome is MATCH and ids(outcome) == ["ruby"]


def test_twins_through_a_nickname_go_to_a_person() -> None:
    """The issue's case: Tommy and Thomas are twins; a referral for Tommy must not auto-match either."""
    subject = person("s", "Tommy", "Hughes")
    outcome = decide(subject, [
        scored(subject, "tommy", person("tommy", "Tommy", "Hughes"), household="h1"),
        scored(subject, "thomas", person("thomas", "Thomas", "Hughes"), household="h1"),
    ], POLICY)
    assert outcome.outcome is CANDIDATE
    assert ids(outcome)[0] == "tommy" and set(ids(outcome)) == {"tommy", "thomas"}
    assert all(r.pair.decision is not MATCH for r in outcome.results)
    assert "near_tie" in outcome.reasons and "household_member_close" in outcome.reasons
    assert "near_tie" in outcome.results[0].pair.reasons


def test_near_tie_between_unrelated_records_demotes() -> None:
    """Two records equally good (an agency's duplicate, or a namesake): a person decides."""
    subject = person("s", "Oliver", "Smith", postcode=None)
    outcome = decide(subject, [
        scored(subject, "a", person("a", "Oliver", "Smith", postcode="LS1 4AB")),
        scored(subject, "b", person("b", "Oliver", "Smith", postcode="M1 1AA")),
    ], POLICY)
    assert outcome.outcome is CANDIDATE and "near_tie" in outcome.reasons
    assert ids(outcome) == ["a", "b"]  # a tie is shown in record id order


def test_household_member_above_review_demotes_even_when_not_close() -> None:
    subject = person("s", "Jayden", "Smith", ids=[nhs_id(1)])
    best = scored(subject, "a", person("a", "Jayden", "Smith", ids=[nhs_id(1)]), household="h1")
    brother = scored(subject, "b", person("b", "J", "Smith", dob=date(2015, 3, 27), postcode="M1 1AA", sex=None),
                     household="h1")
    assert brother.pair.decision is CANDIDATE
    assert best.pair.match_weight - brother.pair.match_weight > POLICY.near_tie_weight_margin
    assert best.pair.probability - brother.pair.probability > POLICY.near_tie_margin
    outcome = decide(subject, [best, brother], POLICY)
    assert outcome.outcome is CANDIDATE and outcome.reasons == ["household_member_close"]


def test_a_record_seen_twice_counts_once_at_its_best() -> None:
    subject = person("s")
    good = scored(subject, "r1", person("r1"))
    worse = scored(subject, "r1", person("r1", postcode="M1 1AA"))
    outcome = decide(subject, [worse, good], POLICY)
    assert outcome.outcome is MATCH and ids(outcome) == ["r1"]
    assert outcome.results[0].pair == good.pair


def test_nothing_above_review_is_no_match_and_shows_nobody() -> None:
    subject = person("s", "Oliver")
    outcome = decide(subject, [scored(subject, "r", person("r", "Noah", "Okafor", dob=date(2009, 1, 1),
                                                          postcode="M1 1AA"))], POLICY)
    assert outcome.outcome is NO_MATCH and outcome.results == []
    assert decide(subject, [], POLICY).outcome is NO_MATCH


def test_candidates_only_is_a_candidate_outcome() -> None:
    subject = person("s", "Kyran")
    outcome = decide(subject, [scored(subject, "r", person("r", "Kieran"))], POLICY)
    assert outcome.outcome is CANDIDATE and ids(outcome) == ["r"]


# --------------------------------------------------------------------------- policy


def test_policy_from_false_match_rate() -> None:
    policy = MatchPolicy(max_false_match_rate=0.001)
    assert policy.auto_match == pytest.approx(0.999)
    assert policy.expected_false_match_rate == pytest.approx(0.001)
    assert MatchPolicy.from_rates(max_false_match_rate=0.01, max_missed_match_risk=0.2).review == 0.2
    assert MatchPolicy.model_validate_json(policy.model_dump_json()) == policy


def test_policy_rejects_contradictions() -> None:
    with pytest.raises(ValidationError, match="contradicts max_false_match_rate"):
        MatchPolicy(auto_match=0.99, max_false_match_rate=0.001)
    with pytest.raises(ValidationError, match="review"):
        MatchPolicy(auto_match=0.9, review=0.95)
    with pytest.raises(ValidationError, match="auto_match"):
        MatchPolicy(auto_match=1.0)
    with pytest.raises(ValidationError, match="extra"):
        MatchPolicy.model_validate({"auto_matc": 0.99})


def test_decision_for_thresholds_and_expected_false_matches() -> None:
    policy = MatchPolicy(auto_match=0.99, review=0.2)
    assert decision_for(policy, 0.99) is MATCH
    assert decision_for(policy, 0.5) is CANDIDATE
    assert decision_for(policy, 0.19) is NO_MATCH
    assert expected_false_matches([0.999, 0.99, 1.0]) == pytest.approx(0.011)


def test_agency_configuration_carries_a_matching_block() -> None:
    """IG staff set the thresholds per agency in YAML; the configuration validates them."""
    from mashlink.config.models import AgencyConfig

    base = {"id": "police-synth", "kind": "police", "name": "Synth Police", "connector": "pole"}
    assert AgencyConfig.model_validate(base).matching == MatchPolicy.default()
    agency = AgencyConfig.model_validate({**base, "matching": {"max_false_match_rate": 0.001, "review": 0.2}})
    assert agency.matching.auto_match == pytest.approx(0.999) and agency.matching.review == 0.2
    with pytest.raises(ValidationError) as error:
        AgencyConfig.model_validate({**base, "matching": {"review": 1.5}})
    assert error.value.errors()[0]["loc"] == ("matching", "review")


def test_siblings_nhs_number_is_explained_and_the_right_child_matched() -> None:
    """The issue's health failure: the referral carries the brother's NHS number. The brother's record holds it
    with another given name and date of birth, so the number is explained and Ruby is matched; the brother
    (only the number agrees) is never matched and not shown."""
    ruby = person("ruby", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(100)])
    archie = person("archie", "Archie", "Hughes", dob=date(2012, 1, 20), ids=[nhs_id(200)])
    referral = person("ref", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(200)])
    outcome = decide(referral, [scored(referral, "ruby", ruby, "h1"), scored(referral, "archie", archie, "h1")],
                     POLICY)
    # the number's holder explains the conflict but is shown to nobody (only the number agrees)
    assert outcome.outcome is MATCH and ids(outcome) == ["ruby"]
    assert "nhs_number_conflict_explained" in outcome.results[0].pair.reasons
    # without Ruby's record the brother's is still no result: a sibling's number alone shows nothing
    alone = decide(referral, [scored(referral, "archie", archie, "h1")], POLICY)
    assert alone.outcome is NO_MATCH and alone.results == []


def test_unexplained_nhs_conflict_still_goes_to_a_person() -> None:
    """A twin the agency never met, referred as 'Tommy' with his own NHS number, against the co-twin registered
    as Tommy: the conflicting number is not explained by any record, so nothing is automatic."""
    tommy = person("tommy", "Tommy", "Hughes", ids=[nhs_id(100)])
    referral = person("ref", "Tommy", "Hughes", ids=[nhs_id(300)])
    outcome = decide(referral, [scored(referral, "tommy", tommy, "h1")], POLICY)
    assert outcome.outcome is CANDIDATE
    assert "nhs_number_conflict" in outcome.results[0].pair.vetoes


def test_a_stranger_sharing_only_the_date_of_birth_is_no_household_tie() -> None:
    subject = person("s", "Ruby", "Hughes", sex=Sex.FEMALE)
    outcome = decide(subject, [
        scored(subject, "ruby", person("ruby", "Ruby", "Hughes", sex=Sex.FEMALE)),
        scored(subject, "other", person("other", "Rubi", "Okafor", postcode="M1 1AA", sex=Sex.FEMALE)),
    ], POLICY)
    # the stranger (a given name one letter off, the birthday, nothing else) is not even shown:
    # family_name_and_address_differ below scorer.WEAK_PAIR_REVIEW
    assert [r.record_id for r in outcome.results] == ["ruby"]
    assert outcome.outcome is MATCH


def test_a_namesake_far_behind_in_evidence_is_no_tie() -> None:
    """Same given name and birthday, another family and address: strong on its own, far behind the record that
    also agrees on family name and address (a raw probability margin would call 0.9999 and 0.998 a tie)."""
    subject = person("s", "Oliver", "Smith", postcode=None)
    outcome = decide(subject, [
        scored(subject, "smith", person("smith", "Oliver", "Smith")),
        scored(subject, "namesake", person("namesake", "Oliver", "Okafor", postcode="M1 1AA")),
    ], POLICY)
    top, namesake = outcome.results
    assert namesake.pair.probability > 0.95 and top.pair.probability - namesake.pair.probability < 0.05
    assert top.pair.match_weight - namesake.pair.match_weight > 10
    assert outcome.outcome is MATCH and top.record_id == "smith"


def test_sibling_number_holder_is_no_rival_when_the_record_has_no_number() -> None:
    ruby = person("ruby", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE)
    archie = person("archie", "Archie", "Hughes", dob=date(2012, 1, 20), ids=[nhs_id(200)])
    referral = person("ref", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(200)])
    outcome = decide(referral, [scored(referral, "ruby", ruby, "h1"), scored(referral, "archie", archie, "h1")],
                     POLICY)
    # the number's holder explains the conflict but is shown to nobody (only the number agrees)
    assert outcome.outcome is MATCH and ids(outcome) == ["ruby"]


def test_a_stranger_sharing_only_a_common_family_name_is_no_household_tie() -> None:
    subject = person("s", "Ruby", "Smith", sex=Sex.FEMALE, ids=[nhs_id(1)])
    outcome = decide(subject, [
        scored(subject, "ruby", person("ruby", "Ruby", "Smith", sex=Sex.FEMALE, ids=[nhs_id(1)])),
        scored(subject, "other", person("other", "Rubina", "Smith", dob=date(2015, 3, 17), postcode="M1 1AA",
                                        sex=Sex.FEMALE)),
    ], POLICY)
    assert outcome.results[1].pair.decision is CANDIDATE
    assert outcome.outcome is MATCH
    # the same two with one household id are a household: a person decides
    outcome = decide(subject, [
        scored(subject, "ruby", person("ruby", "Ruby", "Smith", sex=Sex.FEMALE, ids=[nhs_id(1)]), "h1"),
        scored(subject, "other", person("other", "Rubina", "Smith", dob=date(2015, 3, 17), postcode="M1 1AA",
                                        sex=Sex.FEMALE), "h1"),
    ], POLICY)
    assert outcome.outcome is CANDIDATE and outcome.reasons == ["household_member_close"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mashlink.matching.scorer import TWIN_NAME_FORM_VETOES, VETO_CAPS  # noqa: E402

_POOL = [
    ("tommy", person("tommy", "Tommy", "Hughes", ids=[nhs_id(1)]), "h1"),
    ("thomas", person("thomas", "Thomas", "Hughes", ids=[nhs_id(2)]), "h1"),
    ("ruby", person("ruby", "Ruby", "Hughes", dob=date(2012, 1, 20), sex=Sex.FEMALE), "h1"),
    ("oliver", person("oliver", "Oliver", "Smith", postcode="M1 1AA"), "h2"),
    ("olivr", person("olivr", "Olivr", "Smith", postcode=None), None),
    ("jayden", person("jayden", "Jayden", "Smith"), "h3"),
    ("jaydn", person("jaydn", "Jaydn", "Smyth", dob=date(2015, 3, 15)), None),
]
_SUBJECTS = [
    person("s1", "Tommy", "Hughes"), person("s2", "Oliver", "Smith", postcode=None),
    person("s3", "Jayden", "Smith", ids=[nhs_id(2)]), person("s4", "Ruby", "Hughes", dob=date(2012, 1, 20),
                                                              sex=Sex.FEMALE),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SUBJECTS), st.lists(st.sampled_from(_POOL), max_size=6))
def test_decide_properties(subject: Person, pool: list) -> None:
    candidates = [scored(subject, rid, record, household) for rid, record, household in pool]
    outcome = decide(subject, candidates, POLICY)
    results = outcome.results
    assert len({r.record_id for r in results}) == len(results)
    assert all(r.pair.probability >= POLICY.review for r in results)
    # a twin-name form is shown only beside a household member, never linked
    assert not any(VETO_CAPS[v] is NO_MATCH and v not in TWIN_NAME_FORM_VETOES for r in results for v in r.pair.vetoes)
    matched = [r for r in results if r.pair.decision is MATCH]
    if outcome.outcome is MATCH:
        assert matched == [results[0]]
        household = results[0].household_id
        assert household is None or not any(r.household_id == household for r in results[1:])
    else:
        assert matched == []
    assert (outcome.outcome is NO_MATCH) == (results == [])


def test_a_twin_the_agency_never_met_is_not_shown_against_the_co_twins_short_name() -> None:
    """Theodore referred, only his twin Theo held: Theo's record is another form of the name, shown to nobody.
    With Theodore's own record held as well, Theo still stops the automatic link (the referrer may have
    written the formal name of the twin registered as Theo)."""
    theo = person("theo", "Theo", "Hughes", postcode="YO1 7HH", sex=Sex.MALE)
    theodore = person("theodore", "Theodore", "Hughes", postcode="YO1 7HH", sex=Sex.MALE)
    referral = person("ref", "Theodore", "Hughes", postcode="YO1 7HH", sex=Sex.MALE)
    alone = decide(referral, [scored(referral, "theo", theo, "h1")], POLICY)
    assert alone.outcome is NO_MATCH and alone.results == []
    both = decide(referral, [scored(referral, "theo", theo, "h1"), scored(referral, "theodore", theodore, "h1")],
                  POLICY)
    assert both.outcome is CANDIDATE and "household_twin_name_form" in both.reasons
    assert ids(both) == ["theodore", "theo"]
    assert all(r.pair.decision is CANDIDATE for r in both.results)
