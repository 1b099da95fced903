"""Scorer: calibrated probabilities, contributions, term frequencies and vetoes.

Each failure the issue saw in scoring has a test here: twins through nicknames,
a sibling's NHS number, moved families, married surnames, Kyran/Kieran, and
common versus rare names. Synthetic people only (999-range NHS numbers).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mashlink.matching.comparisons import LEVELS, ComparisonVector
from mashlink.matching.model import MatchModel
from mashlink.matching.policy import MatchPolicy
from mashlink.matching.rules import MatchDecision
from mashlink.matching.scorer import VETO_CAPS, WEAK_PAIR_REVIEW, Scorer, probability_from_weight
from mashlink.matching.term_frequency import TermFrequencies
from mashlink.schemas.codes import Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import HumanName, NameUse, Person

from tests.matching.scoring_people import nhs, nhs_id, person, upn_id

MATCH, CANDIDATE, NO_MATCH = MatchDecision.MATCH, MatchDecision.CANDIDATE, MatchDecision.NO_MATCH


def population_tf() -> TermFrequencies:
    """Frequencies of a 200,000-person agency: Oliver and Smith common, Zebedee and Okonkwo rare."""
    return TermFrequencies.from_dict({
        "version": 1,
        "totals": {"given": 200_000, "family": 200_000, "postcode": 200_000},
        "counts": {
            "given": {"oliver": 3000, "jayden": 800, "lily": 900, "lilly": 300, "zebedee": 2, "ana": 60, "ann": 40},
            "family": {"smith": 2400, "okonkwohartley": 1, "walker": 600},
            "postcode": {"LS1 4AB": 25},
        },
    })


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(MatchModel.default())


@pytest.fixture(scope="module")
def tf_scorer() -> Scorer:
    return Scorer(MatchModel.default(), population_tf())


# --------------------------------------------------------------------------- the arithmetic


def test_contributions_add_up_to_the_weight_and_the_probability_follows(scorer: Scorer) -> None:
    pair = scorer.score(person("a"), person("b", postcode="M1 1AA"))
    assert pair.contributions[0].field == "prior"
    assert {c.field for c in pair.contributions[1:]} == set(LEVELS)
    assert sum(c.weight for c in pair.contributions) == pytest.approx(pair.match_weight, abs=1e-3)
    assert pair.probability == pytest.approx(2 ** pair.match_weight / (1 + 2 ** pair.match_weight), rel=1e-3)
    assert pair.levels["postcode"] == "different" and pair.contribution("postcode").weight < 0
    assert pair.contribution("dob").weight > 0
    assert "given_exact" in pair.reasons and "postcode_different" in pair.reasons


def test_probability_is_calibrated_to_the_prior(scorer: Scorer) -> None:
    """With no evidence at all the probability is the prior (to the 4 decimal places of a bit the
    weight is reported in: the probability follows the reported weight)."""
    pair = scorer.score_vector(ComparisonVector.from_levels({}))
    assert pair.probability == pytest.approx(MatchModel.default().prior, rel=1e-4)
    assert pair.probability == probability_from_weight(pair.match_weight)


def test_weight_extremes_do_not_overflow() -> None:
    assert probability_from_weight(10_000) == pytest.approx(1.0)
    assert probability_from_weight(-10_000) == pytest.approx(0.0, abs=1e-15)


def test_result_serialises_for_the_review_screen(scorer: Scorer) -> None:
    pair = scorer.score(person("a"), person("b"))
    again = type(pair).model_validate_json(pair.model_dump_json())
    assert again == pair


def test_features_are_cached_per_person(scorer: Scorer) -> None:
    subject = person("a")
    assert scorer.features(subject) is scorer.features(subject)


# --------------------------------------------------------------------------- moved families, changed surnames


def test_exact_demographics_auto_match(scorer: Scorer) -> None:
    pair = scorer.score(person("a"), person("b"))
    assert pair.decision is MATCH and pair.vetoes == []


@pytest.mark.parametrize("postcode", ["M1 1AA", None])
def test_moved_or_missing_postcode_does_not_block_an_auto_match(tf_scorer: Scorer, postcode: str | None) -> None:
    """Given name, family name and full date of birth agree: the address alone must not send it to a person."""
    pair = tf_scorer.score(person("s", "Oliver", "Smith", postcode=postcode), person("r", "Oliver", "Smith"))
    assert pair.decision is MATCH, pair


def test_out_of_date_married_surname_reaches_review(tf_scorer: Scorer) -> None:
    """The issue's miss: an old surname, a new address, same given name and date of birth (scored 0.675 and lost)."""
    subject = person("s", "Lily", "Walker", dob=date(1995, 6, 2), postcode="M1 1AA", sex=Sex.FEMALE)
    record = person("r", "Lily", "Okafor", dob=date(1995, 6, 2), postcode="LS1 4AB", sex=Sex.FEMALE)
    pair = tf_scorer.score(subject, record)
    assert pair.decision is not NO_MATCH
    assert pair.probability >= tf_scorer.policy.review


def test_changed_surname_with_strong_other_evidence_auto_matches(tf_scorer: Scorer) -> None:
    subject = person("s", "Lily", "Walker", dob=date(1995, 6, 2), sex=Sex.FEMALE)
    record = person("r", "Lily", "Okafor", dob=date(1995, 6, 2), sex=Sex.FEMALE)  # same address
    assert tf_scorer.score(subject, record).decision is MATCH
    with_nhs = tf_scorer.score(person("s", "Lily", "Walker", dob=date(1995, 6, 2), postcode="M1 1AA",
                                      sex=Sex.FEMALE, ids=[nhs_id(7)]),
                               person("r", "Lily", "Okafor", dob=date(1995, 6, 2), sex=Sex.FEMALE, ids=[nhs_id(7)]))
    assert with_nhs.decision is MATCH


def test_previous_name_on_record_auto_matches_a_moved_family(scorer: Scorer) -> None:
    record = person("r", names=[HumanName(given=["Imogen"], family="Thornbury"),
                                HumanName(use=NameUse.MAIDEN, given=["Imogen"], family="Kowalski")],
                    sex=Sex.FEMALE)
    subject = person("s", "Imogen", "Kowalski", postcode="M1 1AA", sex=Sex.FEMALE)
    pair = scorer.score(subject, record)
    assert pair.levels["family"] == "previous_name"
    assert pair.decision is MATCH


# --------------------------------------------------------------------------- given names


@pytest.mark.parametrize(("a", "b"), [("Kyran", "Kieran"), ("Ana", "Ann"), ("Harvey", "Harry")])
def test_sound_alike_given_names_are_found_for_review(tf_scorer: Scorer, a: str, b: str) -> None:
    """Kyran/Kieran and Ana/Ann fell below the old 0.85 cliff and were never shown; now a person sees them."""
    pair = tf_scorer.score(person("s", given=a), person("r", given=b))
    assert pair.decision is CANDIDATE, pair


def test_a_typo_auto_matches_but_two_established_spellings_do_not(tf_scorer: Scorer, scorer: Scorer) -> None:
    assert tf_scorer.score(person("s", given="Jaydne"), person("r", given="Jayden")).decision is MATCH
    ana = tf_scorer.score(person("s", given="Ana", sex=Sex.FEMALE), person("r", given="Ann", sex=Sex.FEMALE))
    assert ana.levels["given"] == "typo"
    assert ana.decision is CANDIDATE and "given_name_two_spellings" in ana.vetoes
    # without term frequencies the scorer cannot tell, and a one-letter slip is evidence like any other
    assert scorer.score(person("s", given="Ana"), person("r", given="Ann")).decision is MATCH


@pytest.mark.parametrize(("referral", "registered"), [
    ("Libby", "Elizabeth"), ("Elsie", "Elizabeth"), ("Millie", "Amelia"),
    ("Theo", "Theodore"), ("Tommy", "Thomas"), ("Mo", "Muhammad"), ("Jake", "Jacob"),
])
def test_nickname_agreement_never_auto_matches_by_itself(tf_scorer: Scorer, referral: str, registered: str) -> None:
    """Twins: one registered as Tommy, one as Thomas. A referral for Tommy must not link Thomas automatically."""
    subject = person("s", given=referral, family="Hughes", sex=None)
    record = person("r", given=registered, family="Hughes", sex=None)
    pair = tf_scorer.score(subject, record)
    assert pair.levels["given"] == "nickname"
    assert pair.decision is CANDIDATE
    assert "given_name_nickname_only" in pair.vetoes
    assert pair.probability > 0.99  # strong evidence: a person must see it, but it does not decide


@pytest.mark.parametrize(("referral", "registered", "veto"), [
    ("Elsie", "Libby", "given_name_short_forms_differ"), ("Libby", "Elsie", "given_name_short_forms_differ"),
    ("Theodore", "Theo", "given_name_expanded"), ("Amelia", "Millie", "given_name_expanded"),
])
def test_another_form_of_a_twins_name_is_no_match_without_an_identifier(
        tf_scorer: Scorer, referral: str, registered: str, veto: str) -> None:
    """A twin the agency never met, against the co-twin registered as another form of the name: hidden."""
    subject = person("s", given=referral, family="Hughes", sex=None)
    record = person("r", given=registered, family="Hughes", sex=None)
    pair = tf_scorer.score(subject, record)
    assert pair.levels["given"] == "nickname" and pair.probability > 0.99
    assert pair.decision is NO_MATCH and veto in pair.vetoes
    # the ordinary nickname the other way round (Theo referred, Theodore registered) is still shown
    if veto == "given_name_expanded":
        assert tf_scorer.score(record, subject).decision is CANDIDATE
    # the same trusted NHS number is evidence enough for a person to look
    same = tf_scorer.score(subject.model_copy(update={"identifiers": [nhs_id(7)]}),
                           record.model_copy(update={"identifiers": [nhs_id(7)]}))
    assert same.decision is not NO_MATCH


def test_given_name_and_birth_date_alone_are_not_shown_unless_strong(tf_scorer: Scorer) -> None:
    """Another surname, no address agreeing, no identifier: only given name and date of birth agree, which
    strangers share at scale. Hidden below WEAK_PAIR_REVIEW; the same pair with the surname agreeing is shown."""
    subject = person("s", "Isabella", "Wilson", dob=date(2021, 2, 8), postcode="M1 1AA", sex=Sex.FEMALE)
    record = person("r", "Isabella", "Draybrook", dob=date(2021, 8, 2), postcode="LS1 4AB", sex=Sex.FEMALE)
    at_scale = Scorer(MatchModel.default().model_copy(update={"prior": 1 / 200_000}), tf_scorer.term_frequencies)
    pair = at_scale.score(subject, record)
    assert pair.levels["dob"] == "swapped_day_month" and pair.probability < WEAK_PAIR_REVIEW
    assert pair.decision is NO_MATCH and "family_name_and_address_differ" in pair.vetoes
    same_family = at_scale.score(subject, record.model_copy(update={"names": subject.names}))
    assert same_family.decision is not NO_MATCH and "family_name_and_address_differ" not in same_family.vetoes
    # the same trusted NHS number is not "alone"
    with_number = at_scale.score(subject.model_copy(update={"identifiers": [nhs_id(8)]}),
                                  record.model_copy(update={"identifiers": [nhs_id(8)]}))
    assert "family_name_and_address_differ" not in with_number.vetoes


def test_nickname_with_the_same_trusted_nhs_number_auto_matches(scorer: Scorer) -> None:
    pair = scorer.score(person("s", given="Tommy", ids=[nhs_id(3)]), person("r", given="Thomas", ids=[nhs_id(3)]))
    assert pair.decision is MATCH


def test_spelling_variants_auto_match(scorer: Scorer) -> None:
    pair = scorer.score(person("s", given="Mohammed"), person("r", given="Muhammad"))
    assert pair.levels["given"] == "variant" and pair.decision is MATCH


def test_twin_with_a_different_given_name_is_never_a_match(scorer: Scorer) -> None:
    pair = scorer.score(person("s", given="Oliver"), person("r", given="Noah"))
    assert pair.decision is NO_MATCH and "given_name_different" in pair.vetoes


def test_father_and_son_of_one_name_are_never_a_match(scorer: Scorer) -> None:
    pair = scorer.score(person("s", dob=date(2015, 3, 14)), person("r", dob=date(1988, 6, 1)))
    assert pair.decision is NO_MATCH and "date_of_birth_different" in pair.vetoes


@pytest.mark.parametrize(("dob", "precision"), [(None, "day"), (date(2015, 1, 1), "year"), (date(2015, 3, 1), "month")])
def test_no_auto_match_without_a_full_date_of_birth(scorer: Scorer, dob: date | None, precision: str) -> None:
    pair = scorer.score(person("s", dob=dob, precision=precision, ids=[nhs_id(5)]), person("r", ids=[nhs_id(5)]))
    assert pair.decision is CANDIDATE and "date_of_birth_not_confirmed" in pair.vetoes


def test_no_auto_match_without_a_given_name(scorer: Scorer) -> None:
    pair = scorer.score(person("s", given=None), person("r"))
    assert pair.decision is not MATCH and "given_name_missing" in pair.vetoes


def test_sex_conflict_goes_to_a_person(scorer: Scorer) -> None:
    pair = scorer.score(person("s", sex=Sex.FEMALE), person("r"))
    assert pair.decision is CANDIDATE and "sex_conflict" in pair.vetoes


# --------------------------------------------------------------------------- identifiers


def test_siblings_nhs_number_on_the_referral(scorer: Scorer) -> None:
    """The referral carries the sibling's NHS number: the right child is still offered, the sibling never matched."""
    child = person("child", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(100)])
    sibling = person("sib", "Archie", "Hughes", dob=date(2012, 1, 20), ids=[nhs_id(200)])
    referral = person("ref", "Ruby", "Hughes", dob=date(2016, 9, 3), sex=Sex.FEMALE, ids=[nhs_id(200)])
    right = scorer.score(referral, child)
    wrong = scorer.score(referral, sibling)
    assert right.decision is CANDIDATE and "nhs_number_conflict" in right.vetoes
    assert right.contribution("nhs_number").weight < -3  # strong evidence against ...
    assert right.probability >= scorer.policy.review  # ... but beatable: a person sees the right child
    # same number, another given name and date of birth: only the number agrees, so the sibling is
    # shown to nobody (issue 16: the sibling was offered)
    assert wrong.decision is NO_MATCH
    assert {"identifier_equal_demographics_disagree", "identifier_only"} <= set(wrong.vetoes)


def test_same_nhs_number_and_demographics_auto_matches(scorer: Scorer) -> None:
    pair = scorer.score(person("s", postcode="M1 1AA", ids=[nhs_id(9)]), person("r", ids=[nhs_id(9)]))
    assert pair.decision is MATCH and pair.contribution("nhs_number").weight > 10


@pytest.mark.parametrize("identifier", [
    Identifier(system=IdentifierSystem.NHS_NUMBER, value="0" * 10),
    Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(42), verification="02"),
])
def test_untrusted_nhs_number_carries_no_weight(scorer: Scorer, identifier: Identifier) -> None:
    plain = scorer.score(person("s", given="Noah"), person("r"))
    with_ids = scorer.score(person("s", given="Noah", ids=[identifier]), person("r", ids=[identifier]))
    assert with_ids.contribution("nhs_number").weight == 0
    assert with_ids.probability == pytest.approx(plain.probability)
    assert with_ids.decision is NO_MATCH  # the shared placeholder does not rescue a different given name


def test_upn_conflict_and_contradicting_identifiers(scorer: Scorer) -> None:
    conflict = scorer.score(person("s", ids=[upn_id(1)]), person("r", ids=[upn_id(2)]))
    assert conflict.decision is CANDIDATE and "identifier_conflict" in conflict.vetoes
    contradict = scorer.score(person("s", ids=[nhs_id(1), upn_id(1)]), person("r", ids=[nhs_id(1), upn_id(2)]))
    assert contradict.decision is CANDIDATE and "identifiers_contradict" in contradict.vetoes


# --------------------------------------------------------------------------- term frequencies


def test_common_name_counts_for_less_than_a_rare_one(tf_scorer: Scorer) -> None:
    common = tf_scorer.score(person("s", "Oliver", "Smith", postcode=None), person("r", "Oliver", "Smith", postcode=None))
    rare = tf_scorer.score(person("s", "Zebedee", "Okonkwo-Hartley", postcode=None),
                           person("r", "Zebedee", "Okonkwo-Hartley", postcode=None))
    assert common.contribution("given").tf_adjustment < 0 < rare.contribution("given").tf_adjustment
    assert common.contribution("family").tf_adjustment < 0 < rare.contribution("family").tf_adjustment
    assert rare.match_weight > common.match_weight + 5
    assert common.contribution("given").weight == pytest.approx(
        MatchModel.default().weight("given", "exact") + common.contribution("given").tf_adjustment, abs=1e-3)


def test_term_frequencies_only_adjust_exact_agreement(tf_scorer: Scorer) -> None:
    pair = tf_scorer.score(person("s", "Olivre", "Smith"), person("r", "Oliver", "Smith"))
    assert pair.contribution("given").tf_adjustment == 0
    assert pair.contribution("postcode").tf_adjustment != 0


def test_term_frequencies_round_trip_and_reject_bad_tables() -> None:
    tf = TermFrequencies.from_people([person("a", "Oliver"), person("b", "Oliver"), person("c", "Zebedee")])
    assert tf.count("given", "oliver") == 2 and tf.total("given") == 3
    assert tf.frequency("given", "oliver") == pytest.approx(2 / 3)
    assert tf.frequency("given", "never-seen") == pytest.approx(1 / 3)  # as rare as this population allows
    assert TermFrequencies.from_dict(tf.to_dict()).to_dict() == tf.to_dict()
    with pytest.raises(ValueError, match="counts.given"):
        TermFrequencies.from_dict({"version": 1, "counts": {"given": {"x": -1}}})
    with pytest.raises(ValueError, match="version"):
        TermFrequencies.from_dict({"counts": {}})
    with pytest.raises(ValueError, match="unknown field"):
        tf.count("shoe_size", "9")


# --------------------------------------------------------------------------- unborn children


def _unborn(pid: str, edd: date) -> Person:
    return person(pid, given=None, family=None, dob=None, sex=None, postcode=None, unborn=True,
                  expected_birth_date=edd, mother_person_id=f"{pid}-mum")


def test_unborn_child_matches_through_the_mother(scorer: Scorer) -> None:
    edd = date.today() + timedelta(days=60)
    mum = person("m1", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE)
    mum_record = person("m2", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE, postcode="HX2 7QT")
    pair = scorer.score(_unborn("a", edd), _unborn("b", edd + timedelta(days=3)),
                        subject_mother=mum, record_mother=mum_record)
    assert pair.decision is MATCH
    unknown = scorer.score(_unborn("a", edd), _unborn("b", edd))
    assert unknown.decision is NO_MATCH and "unborn_mother_unknown" in unknown.vetoes
    sibling = scorer.score(_unborn("a", edd), _unborn("b", edd + timedelta(days=400)),
                           subject_mother=mum, record_mother=mum_record)
    assert sibling.decision is NO_MATCH and "unborn_edd_outside_window" in sibling.vetoes


# --------------------------------------------------------------------------- properties

_GIVEN = st.sampled_from(["Jayden", "Jaydne", "Tommy", "Thomas", "Kyran", "Kieran", "Oliver", "Lily", "Lilly", "J",
                          None])
_FAMILY = st.sampled_from(["Smith", "Smyth", "Smith-Jones", "Okafor", "Walker", None])
_DOB = st.sampled_from([date(2015, 3, 14), date(2015, 4, 13), date(2015, 3, 15), date(2013, 3, 14), None])
_PC = st.sampled_from(["LS1 4AB", "LS1 4ZZ", "M1 1AA", None])
_SEX = st.sampled_from([Sex.MALE, Sex.FEMALE, None])
_IDS = st.sampled_from([[], [nhs_id(1)], [nhs_id(2)], [upn_id(1)], [nhs_id(1), upn_id(2)]])


@st.composite
def people(draw: st.DrawFn) -> Person:
    given_name, family = draw(_GIVEN), draw(_FAMILY)
    if given_name is None and family is None:
        family = "Smith"
    return person("x", given=given_name, family=family, dob=draw(_DOB), postcode=draw(_PC), sex=draw(_SEX),
                  ids=draw(_IDS))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(people(), people())
def test_scores_are_symmetric_bounded_and_vetoes_never_match(tf_scorer: Scorer, a: Person, b: Person) -> None:
    ab, ba = tf_scorer.score(a, b), tf_scorer.score(b, a)
    assert 0.0 <= ab.probability <= 1.0
    assert ab.probability == pytest.approx(ba.probability)
    # one veto is directional: a referral that expands a record's short name (Theodore for Theo) is
    # given_name_expanded, the other way round (Theo for Theodore) the ordinary given_name_nickname_only
    expanded = "given_name_expanded" in {*ab.vetoes, *ba.vetoes}
    directional = {"given_name_expanded", "given_name_nickname_only"} if expanded else set()
    assert ab.decision is ba.decision or expanded
    assert [v for v in ab.vetoes if v not in directional] == [v for v in ba.vetoes if v not in directional]
    if ab.vetoes:
        assert ab.decision is not MATCH
    if any(VETO_CAPS[v] is NO_MATCH for v in ab.vetoes):
        assert ab.decision is NO_MATCH
    if ab.decision is MATCH:
        assert ab.levels["given"] in ("exact", "variant", "typo") or ab.levels["nhs_number"] == "equal" \
            or ab.levels["other_id"] == "equal"
        assert ab.levels["dob"] in ("exact", "swapped_day_month", "one_digit")
        assert ab.probability >= tf_scorer.policy.auto_match


def test_every_veto_code_has_a_cap() -> None:
    assert all(cap in (CANDIDATE, NO_MATCH) for cap in VETO_CAPS.values())


def test_policy_threshold_moves_the_decision_not_the_probability() -> None:
    strict = Scorer(MatchModel.default(), policy=MatchPolicy(max_false_match_rate=1e-12, review=0.5))
    lenient = Scorer(MatchModel.default())
    subject, record = person("s", postcode="M1 1AA"), person("r")
    a, b = strict.score(subject, record), lenient.score(subject, record)
    assert a.probability == b.probability
    assert b.decision is MATCH and a.decision is CANDIDATE
    assert math.isclose(strict.policy.auto_match, 1 - 1e-12)


def test_fast_built_result_equals_a_validated_one(tf_scorer: Scorer) -> None:
    """The scorer builds results without re-validation for speed; they must be ordinary, valid models."""
    from mashlink.matching.scorer import ScoredPair

    pair = tf_scorer.score(person("s", "Oliver", "Smith"), person("r", "Oliver", "Smith", postcode="M1 1AA"))
    validated = ScoredPair.model_validate(pair.model_dump())
    assert validated == pair and pair.model_fields_set == set(ScoredPair.model_fields)
    assert ScoredPair.model_validate_json(pair.model_dump_json()) == pair
    assert pair.model_copy(update={"decision": CANDIDATE}).decision is CANDIDATE


def test_moved_family_rule_when_the_prior_is_low() -> None:
    """Prior 1 in 50,000 (pairs of a whole population, not blocked pairs), common names, a new address: the
    model alone says about 0.99, under the auto-match threshold. Names and full date of birth agree, so the address is not held
    against the link; the reported probability is still the model's."""
    low = Scorer(MatchModel.default().model_copy(update={"prior": 1 / 50_000}), population_tf())
    subject = person("s", "Oliver", "Smith", postcode="M1 1AA")
    moved = low.score(subject, person("r", "Oliver", "Smith"))
    assert moved.probability < low.policy.auto_match
    assert moved.decision is MATCH and "postcode_not_held_against" in moved.reasons
    # the rule needs the full date of birth, both names, and no conflicting trusted identifier
    one_digit = low.score(subject, person("r", "Oliver", "Smith", dob=date(2015, 3, 15)))
    assert one_digit.decision is not MATCH and "postcode_not_held_against" not in one_digit.reasons
    conflict = low.score(person("s", "Oliver", "Smith", postcode="M1 1AA", ids=[nhs_id(1)]),
                         person("r", "Oliver", "Smith", ids=[nhs_id(2)]))
    assert conflict.decision is not MATCH
    nickname = low.score(person("s", "Ollie", "Smith", postcode="M1 1AA"), person("r", "Oliver", "Smith"))
    assert nickname.decision is not MATCH


def test_two_short_forms_never_link_on_an_nhs_number_alone(scorer: Scorer) -> None:
    """Libby referred with her twin Elsie's NHS number: both are Elizabeth, so a person must look.

    Seen in the matching benchmark: nickname + equal NHS number scored p=1.0 and
    auto-matched the other twin. A short form against the formal name (Libby /
    Elizabeth) with the same NHS number still links.
    """
    number = [nhs_id(4242)]
    elsie = person("r1", given="Elsie", sex=Sex.FEMALE, ids=number)
    libby = person("s1", given="Libby", sex=Sex.FEMALE, ids=number)
    pair = scorer.score(libby, elsie)
    assert "given_name_two_short_forms" in pair.vetoes
    assert pair.decision is not MatchDecision.MATCH
    elizabeth = person("r2", given="Elizabeth", sex=Sex.FEMALE, ids=number)
    formal = scorer.score(libby, elizabeth)
    assert "given_name_two_short_forms" not in formal.vetoes
    assert formal.decision is MatchDecision.MATCH
