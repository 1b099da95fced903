"""The referral's other people tell apart the records a subject could be (issue 16).

A referral lists its household. A record that another person on the same
referral plainly is (the co-twin or sibling named there) is that person's:
it is not offered for the subject and is no rival to the subject's own
record. A record two people on the referral could both be is for a person to
decide, never linked automatically. Synthetic people, 999-range numbers.
"""

from __future__ import annotations

from datetime import date

from mashlink.matching.decide import ScoredCandidate, decide
from mashlink.matching.model import MatchModel
from mashlink.matching.policy import MatchPolicy
from mashlink.matching.rules import MatchDecision
from mashlink.matching.scorer import Scorer, ScoredPair
from mashlink.schemas.codes import Sex
from mashlink.schemas.person import Person

from tests.matching.scoring_people import nhs_id, person

MATCH, CANDIDATE, NO_MATCH = MatchDecision.MATCH, MatchDecision.CANDIDATE, MatchDecision.NO_MATCH
POLICY = MatchPolicy.default()
SCORER = Scorer(MatchModel.default(), policy=POLICY)
TWINS_BORN = date(2017, 5, 2)


def scored(subject: Person, rid: str, record: Person) -> ScoredCandidate:
    return ScoredCandidate(record_id=rid, person=record, pair=SCORER.score(subject, record), household_id="h1")


def others_pairs(others: list[Person], records: dict[str, Person]) -> dict[str, list[ScoredPair]]:
    """What ``MatchIndex.search`` hands ``decide``: each other referral person scored against each record."""
    return {rid: [SCORER.score(o, record) for o in others] for rid, record in records.items()}


def ids(outcome) -> list[str]:
    return [r.record_id for r in outcome.results]


# --------------------------------------------------------------------------- a never-met twin


def theo_record() -> Person:
    """The twin the agency knows, registered as Theo, with no NHS number on its record."""
    return person("theo", "Theo", "Okafor", dob=TWINS_BORN)


def theodore_referral() -> Person:
    """Theodore, whom the agency never met, referred as 'Theo' with his own NHS number (nobody holds it)."""
    return person("ref", "Theo", "Okafor", dob=TWINS_BORN, ids=[nhs_id(330)])


def test_alone_the_never_met_twin_is_indistinguishable_from_the_record() -> None:
    """The premise: without the household nothing on the referral tells Theodore from his twin Theo."""
    referral = theodore_referral()
    assert decide(referral, [scored(referral, "theo", theo_record())], POLICY).outcome is MATCH


def test_the_co_twin_listed_under_the_same_name_stops_the_automatic_link() -> None:
    """The referral also lists Theo: two people on it could be the record, so a person decides."""
    referral = theodore_referral()
    co_twin = person("ref-h1", "Theo", "Okafor", dob=TWINS_BORN)
    outcome = decide(referral, [scored(referral, "theo", theo_record())], POLICY,
                     others=others_pairs([co_twin], {"theo": theo_record()}))
    assert outcome.outcome is CANDIDATE
    assert outcome.reasons == ["referral_person_also_fits"]
    assert ids(outcome) == ["theo"] and outcome.results[0].pair.decision is CANDIDATE


def test_a_listed_parent_is_no_rival_for_a_childs_record() -> None:
    """Other people on the referral who plainly are not the record change nothing."""
    referral = theodore_referral()
    mother = person("ref-m", "Grace", "Okafor", dob=date(1988, 1, 9), sex=Sex.FEMALE)
    outcome = decide(referral, [scored(referral, "theo", theo_record())], POLICY,
                     others=others_pairs([mother], {"theo": theo_record()}))
    assert outcome.outcome is MATCH and outcome.reasons == ["clear_match"]


# --------------------------------------------------------------------------- twins registered as two forms of a name


def amelia() -> Person:
    return person("amelia", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(110)])


def millie() -> Person:
    return person("millie", "Millie", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(220)])


def test_a_record_the_listed_co_twin_plainly_is_is_not_offered() -> None:
    """Millie, never met, referred with her twin Amelia listed: Amelia's record is Amelia's, not shown for Millie."""
    referral = person("ref", "Millie", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE)
    alone = decide(referral, [scored(referral, "amelia", amelia())], POLICY)
    assert alone.outcome is CANDIDATE and ids(alone) == ["amelia"]  # without the household: shown

    listed = person("ref-h1", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE)
    outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY,
                     others=others_pairs([listed], {"amelia": amelia()}))
    assert outcome.outcome is NO_MATCH and outcome.results == []


def test_a_claimed_co_twin_is_no_rival_to_the_subjects_own_record() -> None:
    """Both twins known: Amelia's referral, Millie listed. Millie's record is hers, so Amelia is linked."""
    referral = person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE)
    records = {"amelia": amelia(), "millie": millie()}
    candidates = [scored(referral, rid, r) for rid, r in records.items()]
    alone = decide(referral, candidates, POLICY)
    assert alone.outcome is CANDIDATE  # the twin-name form blocks the link without the household

    listed = person("ref-h1", "Millie", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE)
    outcome = decide(referral, candidates, POLICY, others=others_pairs([listed], records))
    assert outcome.outcome is MATCH and ids(outcome) == ["amelia"]


def test_a_listed_person_who_fits_only_loosely_claims_nothing() -> None:
    """A listed sibling whose own fit to the record is below match level neither hides nor blocks it."""
    referral = person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE)
    sibling = person("ref-h1", "Amelie", "Okafor", dob=date(2019, 8, 1), sex=Sex.FEMALE)
    outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY,
                     others=others_pairs([sibling], {"amelia": amelia()}))
    assert outcome.outcome is MATCH and ids(outcome) == ["amelia"]


# --------------------------------------------------------------------------- a sibling's NHS number


def test_a_claimed_holder_of_the_subjects_number_still_explains_the_conflict() -> None:
    """Amelia referred with her brother Leo's number, Leo listed: his record is his and explains the number."""
    leo = person("leo", "Leo", "Okafor", dob=date(2012, 11, 30), sex=Sex.MALE, ids=[nhs_id(440)])
    records = {"amelia": amelia(), "leo": leo}
    referral = person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, ids=[nhs_id(440)])
    listed = person("ref-h1", "Leo", "Okafor", dob=date(2012, 11, 30), sex=Sex.MALE)
    outcome = decide(referral, [scored(referral, rid, r) for rid, r in records.items()], POLICY,
                     others=others_pairs([listed], records))
    assert outcome.outcome is MATCH and ids(outcome)[0] == "amelia"
    assert "nhs_number_conflict_explained" in outcome.results[0].pair.reasons


def test_a_listed_twin_carrying_the_subjects_number_contests_and_never_claims() -> None:
    """Amelia referred without a number; her twin Millie listed with Amelia's number keyed by mistake.

    Millie's pair with Amelia's record is a match on the number, and scores higher than the subject's,
    yet the record is not hers to claim: the subject fits it with no veto. A person decides.
    """
    referral = person("ref", "Amelia", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, postcode=None)
    listed = person("ref-h1", "Millie", "Okafor", dob=TWINS_BORN, sex=Sex.FEMALE, postcode=None, ids=[nhs_id(110)])
    theirs = SCORER.score(listed, amelia())
    mine = SCORER.score(referral, amelia())
    assert theirs.decision is MATCH and theirs.match_weight > mine.match_weight and not mine.vetoes
    outcome = decide(referral, [scored(referral, "amelia", amelia())], POLICY,
                     others=others_pairs([listed], {"amelia": amelia()}))
    assert outcome.outcome is CANDIDATE and ids(outcome) == ["amelia"]
    assert "referral_person_also_fits" in outcome.reasons
