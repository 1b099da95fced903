"""match_person: identifiers, demographics, unborn children and decision thresholds.

All people here are synthetic; NHS numbers are in the 999 test range and pass modulus 11.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mashlink.matching.names import are_nicknames, jaro_winkler, normalise_token, split_tokens
from mashlink.matching.rules import MatchDecision, MatchThresholds, match_person
from mashlink.schemas.codes import MatchMethod, Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem, nhs_check_digit, upn_check_letter
from mashlink.schemas.person import Address, AddressType, BirthDate, HumanName, NameUse, Person


def nhs(seed: int) -> str:
    """A valid synthetic NHS number in the 999 range (the first seed at or after ``seed`` with a check digit)."""
    while True:
        first_nine = f"999{seed % 1_000_000:06d}"
        check = nhs_check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"
        seed += 1


def upn(seed: int) -> str:
    body = f"20100{seed % 10_000_000:07d}"
    return upn_check_letter(body) + body


def person(
    pid: str = "p1",
    given: str | None = "Jayden",
    family: str | None = "Smith",
    dob: date | None = date(2015, 3, 14),
    postcode: str | None = "LS1 4AB",
    sex: Sex | None = Sex.MALE,
    ids: list[Identifier] | None = None,
    names: list[HumanName] | None = None,
    **extra: object,
) -> Person:
    if names is None:
        names = [HumanName(given=[given] if given else [], family=family)] if (given or family) else []
    return Person(
        person_id=pid,
        names=names,
        birth_date=BirthDate(value=dob) if dob else None,
        sex=sex,
        identifiers=ids or [],
        addresses=[Address(lines=["1 Test Street"], postcode=postcode)] if postcode else [],
        **extra,
    )


def nhs_id(seed: int) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(seed))


# --------------------------------------------------------------------------- helpers


def test_nhs_helper_generates_valid_test_range_numbers() -> None:
    for seed in range(0, 50):
        ident = nhs_id(seed)
        assert ident.value.startswith("999") and ident.check == "passed"


def test_name_helpers() -> None:
    assert normalise_token("O'Brien") == "obrien"
    assert normalise_token("Zoë") == "zoe"
    assert split_tokens("Smith-Jones") == ["smith", "jones"]
    assert are_nicknames("bill", "william") and are_nicknames("william", "bill")
    assert not are_nicknames("william", "william")
    assert not are_nicknames("harry", "harvey")
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.961, abs=0.001)
    assert jaro_winkler("", "abc") == 0.0


# --------------------------------------------------------------------------- identifiers


def test_same_trusted_nhs_number_is_exact_match() -> None:
    a = person(ids=[nhs_id(1)])
    b = person("r1", given="J", family="Smyth", postcode=None, ids=[nhs_id(1)])
    result = match_person(a, b)
    assert result.decision is MatchDecision.MATCH
    assert result.method is MatchMethod.NHS_NUMBER
    assert result.confidence == 1.0
    assert "nhs_number_equal" in result.reasons


def test_same_upn_is_exact_match() -> None:
    ident = Identifier(system=IdentifierSystem.UPN, value=upn(42))
    assert ident.trusted
    result = match_person(person(ids=[ident]), person("r", ids=[ident], postcode="M1 1AA"))
    assert result.decision is MatchDecision.MATCH and result.method is MatchMethod.UPN


def test_scoped_la_id_matches_only_in_same_scope() -> None:
    ours = Identifier(system=IdentifierSystem.LA_CHILD_ID, value="C12345", scope="E08000035")
    same = Identifier(system=IdentifierSystem.LA_CHILD_ID, value="C12345", scope="E08000035")
    other_la = Identifier(system=IdentifierSystem.LA_CHILD_ID, value="C12345", scope="E08000036")
    subject = person(ids=[ours])
    exact = match_person(subject, person("r", ids=[same], postcode=None))
    assert exact.decision is MatchDecision.MATCH and exact.method is MatchMethod.LA_CHILD_ID

    # Same value issued by another council: a different child; falls back to demographics.
    stranger = person("r", given="Amira", family="Khan", dob=date(2012, 1, 2), postcode="BD1 1AA", ids=[other_la])
    result = match_person(subject, stranger)
    assert result.method is MatchMethod.DEMOGRAPHIC
    assert "la_child_id_other_scope" in result.reasons
    assert result.decision is MatchDecision.NO_MATCH


def test_failed_check_identifier_never_used_for_exact_match() -> None:
    bad = Identifier(system=IdentifierSystem.NHS_NUMBER, value="9990000001")
    assert bad.check == "failed" and not bad.trusted
    a = person(ids=[bad])
    b = person("r", given="Amira", family="Khan", dob=date(2012, 1, 2), postcode="BD1 1AA", ids=[bad])
    result = match_person(a, b)
    assert result.method is MatchMethod.DEMOGRAPHIC
    assert "nhs_number_not_trusted" in result.reasons
    assert "nhs_number_equal" not in result.reasons
    assert result.decision is MatchDecision.NO_MATCH


def test_temporary_upn_not_used_for_exact_match() -> None:
    body = "20100123456A"
    temp = Identifier(system=IdentifierSystem.UPN, value=upn_check_letter(body) + body)
    assert temp.temporary and not temp.trusted
    result = match_person(person(ids=[temp]), person("r", given="Amira", family="Khan", ids=[temp]))
    assert result.method is MatchMethod.DEMOGRAPHIC
    assert result.decision is MatchDecision.NO_MATCH


def test_conflicting_nhs_numbers_are_no_match_even_when_demographics_agree() -> None:
    # Twins or siblings recorded identically apart from their NHS numbers.
    a = person(ids=[nhs_id(10)])
    b = person("r", ids=[nhs_id(20)])
    result = match_person(a, b)
    assert result.decision is MatchDecision.NO_MATCH
    assert "nhs_number_conflict" in result.reasons
    assert result.confidence <= 0.05


def test_equal_and_conflicting_identifiers_go_to_a_person() -> None:
    a = person(ids=[nhs_id(10), Identifier(system=IdentifierSystem.UPN, value=upn(1))])
    b = person("r", ids=[nhs_id(10), Identifier(system=IdentifierSystem.UPN, value=upn(2))])
    result = match_person(a, b)
    assert result.decision is MatchDecision.CANDIDATE
    assert {"nhs_number_equal", "upn_conflict", "identifiers_contradict"} <= set(result.reasons)


def test_same_la_different_child_id_caps_at_candidate() -> None:
    a = person(ids=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="C1", scope="E08000035")])
    b = person("r", ids=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="C2", scope="E08000035")])
    result = match_person(a, b)
    assert result.decision is MatchDecision.CANDIDATE
    assert "la_child_id_conflict" in result.reasons


def test_identifier_match_with_contradicting_demographics_is_candidate() -> None:
    # A twin's NHS number keyed onto the other twin's record.
    a = person(given="Harry", ids=[nhs_id(5)])
    b = person("r", given="Oscar", ids=[nhs_id(5)])
    result = match_person(a, b)
    assert result.decision is MatchDecision.CANDIDATE
    assert result.method is MatchMethod.NHS_NUMBER
    assert "identifier_equal_demographics_disagree" in result.reasons


# --------------------------------------------------------------------------- demographics


def test_identical_demographics_without_identifiers_match() -> None:
    result = match_person(person(), person("r"))
    assert result.decision is MatchDecision.MATCH
    assert result.method is MatchMethod.DEMOGRAPHIC
    assert {"given_name_equal", "family_name_equal", "dob_equal", "postcode_equal"} <= set(result.reasons)


def test_family_name_typo_still_matches() -> None:
    result = match_person(person(family="Smith"), person("r", family="Smyth"))
    assert result.decision is MatchDecision.MATCH
    assert "family_name_fuzzy" in result.reasons


def test_given_name_typo_goes_to_a_person() -> None:
    # "Jaden" for "Jayden" with everything else equal is also what a twin looks like.
    result = match_person(person(given="Jayden"), person("r", given="Jaden"))
    assert result.decision is MatchDecision.CANDIDATE
    assert "given_name_fuzzy" in result.reasons


def test_case_accents_and_punctuation_are_ignored() -> None:
    a = person(given="Zoë", family="O'Brien")
    b = person("r", given="ZOE", family="OBRIEN", postcode="ls14ab")
    result = match_person(a, b)
    assert result.decision is MatchDecision.MATCH


@pytest.mark.parametrize(("formal", "nick"), [("William", "Bill"), ("Elizabeth", "Liz"), ("John", "Jack"),
                                              ("Alfred", "Alfie"), ("Charles", "Charlie"), ("Eleanor", "Ellie")])
def test_nicknames_match(formal: str, nick: str) -> None:
    result = match_person(person(given=formal), person("r", given=nick))
    assert result.decision is MatchDecision.MATCH
    assert "given_name_nickname" in result.reasons


def test_changed_surname_matches_through_previous_name() -> None:
    subject = person(family="Walker")
    record = person(
        "r",
        names=[
            HumanName(given=["Jayden"], family="Walker"),
            HumanName(use=NameUse.PREVIOUS, given=["Jayden"], family="Smith"),
        ],
    )
    # The agency knows him by his new surname and his old one; the referral used the new one.
    assert match_person(subject, record).decision is MatchDecision.MATCH
    # The referral used his old surname: matched through the name history.
    old = match_person(person(family="Smith"), record)
    assert old.decision is MatchDecision.MATCH
    assert "family_name_equal" in old.reasons or "family_name_previous" in old.reasons
    # Without the history the changed surname is only a candidate: a person checks.
    unknown_history = match_person(person(family="Smith"), person("r", family="Walker"))
    assert unknown_history.decision is MatchDecision.CANDIDATE
    assert "family_name_differs" in unknown_history.reasons


def test_previous_name_match_reason() -> None:
    record = person("r", names=[HumanName(given=["Jayden"], family="Walker"),
                                HumanName(use=NameUse.MAIDEN, given=["Jayden"], family="Smith")])
    result = match_person(person(family="Smith"), record)
    assert "family_name_previous" in result.reasons


def test_double_barrelled_surname_part() -> None:
    result = match_person(person(family="Smith-Jones"), person("r", family="Jones"))
    assert "family_name_part" in result.reasons
    assert result.decision is MatchDecision.MATCH


def test_transposed_dob_is_candidate() -> None:
    result = match_person(person(dob=date(2015, 3, 4)), person("r", dob=date(2015, 4, 3)))
    assert "dob_transposed" in result.reasons
    assert result.decision is MatchDecision.CANDIDATE


def test_one_digit_dob_error_is_candidate() -> None:
    result = match_person(person(dob=date(2015, 3, 14)), person("r", dob=date(2015, 3, 17)))
    assert "dob_one_digit" in result.reasons
    assert result.decision is MatchDecision.CANDIDATE


def test_partial_dob_precision_can_only_be_candidate() -> None:
    a = person()
    b = Person(person_id="r", names=[HumanName(given=["Jayden"], family="Smith")],
               birth_date=BirthDate(value=date(2015, 1, 1), precision="year"), sex=Sex.MALE,
               addresses=[Address(postcode="LS1 4AB")])
    result = match_person(a, b)
    assert "dob_partial_year" in result.reasons
    assert result.decision is MatchDecision.CANDIDATE


def test_different_dob_never_matches_father_and_son() -> None:
    son = person(given="John", dob=date(2015, 3, 14))
    father = person("r", given="John", dob=date(1988, 7, 2))
    result = match_person(son, father)
    assert result.decision is MatchDecision.NO_MATCH
    assert "dob_differs" in result.reasons


@pytest.mark.parametrize(("one", "other"), [("Harry", "Harvey"), ("Olivia", "Olive"), ("Liam", "Leah"),
                                            ("Amelia", "Isla")])
def test_twins_are_never_matched(one: str, other: str) -> None:
    twin_a = person(given=one)
    twin_b = person("r", given=other)
    result = match_person(twin_a, twin_b)
    assert result.decision is not MatchDecision.MATCH
    if jaro_winkler(one.lower(), other.lower()) < 0.85:
        assert result.decision is MatchDecision.NO_MATCH
        assert "given_name_differs" in result.reasons


def test_postcode_variants() -> None:
    moved_nearby = match_person(person(postcode="LS1 4AB"), person("r", postcode="LS1 9ZZ"))
    assert "postcode_outward_equal" in moved_nearby.reasons
    assert moved_nearby.decision is MatchDecision.CANDIDATE
    no_address = match_person(person(postcode=None), person("r"))
    assert "postcode_missing" in no_address.reasons
    assert no_address.decision is MatchDecision.CANDIDATE
    previous = Person(person_id="r", names=[HumanName(given=["Jayden"], family="Smith")],
                      birth_date=BirthDate(value=date(2015, 3, 14)), sex=Sex.MALE,
                      addresses=[Address(postcode="M1 1AA"),
                                 Address(postcode="LS1 4AB", type=AddressType.PREVIOUS)])
    via_previous = match_person(person(), previous)
    assert "postcode_previous_address" in via_previous.reasons
    assert via_previous.decision is MatchDecision.MATCH


def test_sex_conflict_caps_at_candidate() -> None:
    result = match_person(person(sex=Sex.MALE), person("r", sex=Sex.FEMALE))
    assert "sex_conflict" in result.reasons
    assert result.decision is MatchDecision.CANDIDATE
    unknown = match_person(person(sex=Sex.MALE), person("r", sex=Sex.UNKNOWN))
    assert unknown.decision is MatchDecision.MATCH


def test_no_comparable_data_is_no_match() -> None:
    a = Person(person_id="a", names=[HumanName(text="Child")])
    b = Person(person_id="b", sex=Sex.MALE, addresses=[Address(lines=["Somewhere"])])
    result = match_person(a, b)
    assert result.decision is MatchDecision.NO_MATCH


# --------------------------------------------------------------------------- unborn


def mother(pid: str, seed: int | None = 77, given: str = "Kelly") -> Person:
    return person(pid, given=given, family="Smith", dob=date(1996, 5, 2), sex=Sex.FEMALE,
                  ids=[nhs_id(seed)] if seed is not None else [])


def unborn(pid: str, edd: date, mother_id: str, **extra: object) -> Person:
    return Person(person_id=pid, unborn=True, expected_birth_date=edd, mother_person_id=mother_id, **extra)


def test_unborn_matches_on_mother_and_edd_not_name() -> None:
    edd = date.today() + timedelta(days=60)
    ours = unborn("u1", edd, "m1", names=[HumanName(text="Baby Smith")])
    theirs = unborn("x9", edd + timedelta(days=10), "mx", names=[HumanName(text="Unborn Jones")])
    result = match_person(ours, theirs, subject_mother=mother("m1"), record_mother=mother("mx"))
    assert result.decision is MatchDecision.MATCH
    assert {"unborn_mother_match", "edd_within_window"} <= set(result.reasons)
    assert not any(r.startswith("given_name") or r.startswith("family_name") for r in result.reasons)


def test_unborn_different_mother_or_distant_edd_is_no_match() -> None:
    edd = date.today() + timedelta(days=60)
    ours = unborn("u1", edd, "m1")
    other_mother = mother("mx", seed=88, given="Kelly")  # different NHS number: a different woman
    assert match_person(ours, unborn("x", edd, "mx"), subject_mother=mother("m1"),
                        record_mother=other_mother).decision is MatchDecision.NO_MATCH
    # Same mother, EDD far apart: a different pregnancy (a sibling).
    far = match_person(ours, unborn("x", edd + timedelta(days=200), "mx"),
                       subject_mother=mother("m1"), record_mother=mother("mx"))
    assert far.decision is MatchDecision.NO_MATCH and "edd_outside_window" in far.reasons


def test_unborn_without_mother_is_no_match() -> None:
    edd = date.today() + timedelta(days=60)
    result = match_person(unborn("u1", edd, "m1"), unborn("x", edd, "mx"))
    assert result.decision is MatchDecision.NO_MATCH
    assert "unborn_mother_unknown" in result.reasons


def test_born_child_near_edd_with_same_mother_is_candidate() -> None:
    edd = date.today() + timedelta(days=5)
    baby = person("b", given="Mia", dob=date.today() - timedelta(days=3), sex=Sex.FEMALE,
                  mother_person_id="mx")
    result = match_person(unborn("u1", edd, "m1"), baby, subject_mother=mother("m1"), record_mother=mother("mx"))
    assert result.decision is MatchDecision.CANDIDATE
    assert "born_near_edd" in result.reasons
    reverse = match_person(baby, unborn("u1", edd, "m1"), subject_mother=mother("mx"), record_mother=mother("m1"))
    assert reverse.decision is MatchDecision.CANDIDATE


def test_unborn_with_candidate_mother_is_candidate() -> None:
    edd = date.today() + timedelta(days=60)
    m_ours = mother("m1", seed=None, given="Kelly")
    m_theirs = mother("mx", seed=None, given="Kelley")  # typo in the mother's name
    result = match_person(unborn("u1", edd, "m1"), unborn("x", edd, "mx"),
                          subject_mother=m_ours, record_mother=m_theirs)
    assert result.decision is MatchDecision.CANDIDATE
    assert "unborn_mother_candidate" in result.reasons


# --------------------------------------------------------------------------- thresholds


def test_thresholds_are_configurable_and_validated() -> None:
    strict = MatchThresholds(match=0.99, candidate=0.5)
    # Family-name typo: a match by default, a candidate under stricter settings.
    result = match_person(person(family="Smith"), person("r", family="Smyth"), thresholds=strict)
    assert result.decision is MatchDecision.CANDIDATE
    with pytest.raises(ValidationError, match="at least 0.02 above"):
        MatchThresholds(match=0.8, candidate=0.8)


def test_candidate_band_boundaries() -> None:
    t = MatchThresholds()
    assert t.decide(0.95) is MatchDecision.MATCH
    assert t.decide(0.9499) is MatchDecision.CANDIDATE
    assert t.decide(0.70) is MatchDecision.CANDIDATE
    assert t.decide(0.6999) is MatchDecision.NO_MATCH


# --------------------------------------------------------------------------- properties

_GIVEN = st.sampled_from(["Jayden", "Jaden", "William", "Bill", "Harry", "Harvey", "Olivia", "Liv", "Amira", "J"])
_FAMILY = st.sampled_from(["Smith", "Smyth", "Smith-Jones", "Khan", "O'Brien", "Walker"])
_POSTCODES = st.sampled_from(["LS1 4AB", "LS1 9ZZ", "M1 1AA", None])
_DOBS = st.sampled_from([date(2015, 3, 14), date(2015, 3, 4), date(2015, 4, 3), date(2015, 3, 17),
                         date(1988, 7, 2), None])
_SEX = st.sampled_from([Sex.MALE, Sex.FEMALE, Sex.UNKNOWN, None])


@st.composite
def people(draw: st.DrawFn, pid: str = "p") -> Person:
    ids: list[Identifier] = []
    if draw(st.booleans()):
        ids.append(nhs_id(draw(st.integers(0, 3))))
    if draw(st.booleans()):
        ids.append(Identifier(system=IdentifierSystem.LA_CHILD_ID, value=draw(st.sampled_from(["C1", "C2"])),
                              scope=draw(st.sampled_from(["E08000035", "E08000036"]))))
    if draw(st.booleans()):
        ids.append(Identifier(system=IdentifierSystem.NHS_NUMBER, value="9990000001"))  # fails the check
    names = [HumanName(given=[draw(_GIVEN)], family=draw(_FAMILY))]
    if draw(st.booleans()):
        names.append(HumanName(use=NameUse.PREVIOUS, given=[draw(_GIVEN)], family=draw(_FAMILY)))
    dob = draw(_DOBS)
    postcode = draw(_POSTCODES)
    return Person(person_id=pid, names=names, birth_date=BirthDate(value=dob) if dob else None,
                  sex=draw(_SEX), identifiers=ids,
                  addresses=[Address(postcode=postcode)] if postcode else [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people("a"), people("b"))
def test_match_person_is_symmetric_and_bounded(a: Person, b: Person) -> None:
    forward = match_person(a, b)
    backward = match_person(b, a)
    assert 0.0 <= forward.confidence <= 1.0
    assert forward.confidence == backward.confidence
    assert forward.decision is backward.decision
    assert forward.method is backward.method
    assert sorted(forward.reasons) == sorted(backward.reasons)
    # The decision is always the thresholds applied to the confidence.
    assert forward.decision is MatchThresholds().decide(forward.confidence)


@settings(max_examples=200, deadline=None)
@given(people("a"))
def test_person_with_trusted_id_matches_itself_exactly(a: Person) -> None:
    result = match_person(a, a.model_copy(update={"person_id": "copy"}))
    trusted = [i for i in a.identifiers if i.trusted]
    if trusted:
        assert result.decision is MatchDecision.MATCH
        assert result.method is not MatchMethod.DEMOGRAPHIC
        assert result.confidence >= 0.99
    else:
        assert result.decision is not MatchDecision.NO_MATCH
        if a.birth_date is not None and a.addresses:
            assert result.decision is MatchDecision.MATCH


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghij", max_size=8), st.text(alphabet="abcdefghij", max_size=8))
def test_jaro_winkler_symmetric_and_bounded(x: str, y: str) -> None:
    assert jaro_winkler(x, y) == jaro_winkler(y, x)
    assert 0.0 <= jaro_winkler(x, y) <= 1.0
    if x:
        assert jaro_winkler(x, x) == 1.0
