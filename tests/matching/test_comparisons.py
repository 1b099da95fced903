"""compare(): one comparison level per field, symmetric, hashable vectors. Synthetic people only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mashlink.matching.comparisons import FIELDS, LEVELS, ComparisonVector, compare, features, mother_agrees
from mashlink.schemas.codes import Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import Address, HumanName, NameUse, Person

from tests.matching.scoring_people import nhs, nhs_id, person, upn_id


def level(field: str, a: Person, b: Person, **kw: Person) -> str:
    return compare(a, b, **kw)[field]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("Jayden", "JAYDEN", "exact"),
    ("Mohammed", "Muhammad", "variant"),
    ("Tommy", "Thomas", "nickname"),
    ("Mo", "Muhammad", "nickname"),
    ("Jaydne", "Jayden", "typo"),
    ("Olivia", "Olivai", "typo"),
    ("Ella", "Bella", "jw_high"),  # one edit, but not at the start: two names, not a typo
    ("Kyran", "Kieran", "phonetic"),
    ("Ana", "Ann", "typo"),  # one letter apart; the scorer asks whether both are established names
    ("Jonathan", "Johnathon", "phonetic"),
    ("Harvey", "Harry", "jw_mid"),
    ("J", "Jayden", "initial"),
    ("Oliver", "Zainab", "different"),
    (None, "Jayden", "missing"),
])
def test_given_name_levels(a: str | None, b: str, expected: str) -> None:
    assert level("given", person("a", given=a), person("b", given=b)) == expected


def test_given_name_used_as_middle_name() -> None:
    a = person("a", names=[HumanName(given=["Grace", "Amara"], family="Smith")])
    b = person("b", given="Amara")
    assert level("given", a, b) == "middle"


def test_preferred_name_on_record_makes_a_nickname_exact() -> None:
    """A record that holds both the registered and the known-as name agrees exactly with either."""
    record = person("r", names=[HumanName(given=["Thomas"], family="Smith"),
                                HumanName(use=NameUse.PREFERRED, given=["Tommy"], family="Smith")])
    assert level("given", person("s", given="Tommy"), record) == "exact"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("Smith", "smith", "exact"),
    ("Smith-Jones", "Jones", "part_of_double"),
    ("Thompson", "Thomson", "jw_high"),
    ("Smith", "Smyth", "phonetic"),
    ("Knight", "Night", "jw_high"),
    ("Leighton", "Layton", "phonetic"),
    ("Smith", "Okafor", "different"),
])
def test_family_name_levels(a: str, b: str, expected: str) -> None:
    assert level("family", person("a", family=a), person("b", family=b)) == expected


def test_family_name_matches_through_a_previous_name() -> None:
    record = person("r", names=[HumanName(given=["Imogen"], family="Thornbury"),
                                HumanName(use=NameUse.MAIDEN, given=["Imogen"], family="Kowalski")])
    assert level("family", person("s", given="Imogen", family="Kowalski"), record) == "previous_name"


def test_family_name_missing() -> None:
    assert level("family", person("a", names=[HumanName(given=["Ava"])]), person("b")) == "missing"


@pytest.mark.parametrize(("a", "b", "expected"), [
    (date(2015, 3, 14), date(2015, 3, 14), "exact"),
    (date(2015, 3, 4), date(2015, 4, 3), "swapped_day_month"),
    (date(2015, 3, 14), date(2015, 3, 15), "one_digit"),
    (date(2015, 3, 14), date(2016, 3, 14), "one_digit"),
    (date(2010, 3, 14), date(2009, 3, 14), "year_off"),
    (date(2015, 3, 14), date(2015, 3, 27), "year_month"),
    (date(2015, 3, 14), date(2013, 7, 2), "different"),
    (date(1985, 3, 14), date(2015, 3, 14), "different"),  # a father and son of one name and birthday
])
def test_date_of_birth_levels(a: date, b: date, expected: str) -> None:
    assert level("dob", person("a", dob=a), person("b", dob=b)) == expected


def test_partial_dates_agree_only_as_far_as_known() -> None:
    full = person("a", dob=date(2015, 3, 14))
    assert level("dob", full, person("b", dob=date(2015, 1, 1), precision="year")) == "year"
    assert level("dob", full, person("b", dob=date(2015, 3, 1), precision="month")) == "year_month"
    assert level("dob", full, person("b", dob=date(2015, 6, 1), precision="month")) == "different"
    assert level("dob", full, person("b", dob=date(2014, 1, 1), precision="year")) == "different"
    assert level("dob", full, person("b", dob=None)) == "missing"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("LS1 4AB", "ls14ab", "full_or_uprn"),
    ("LS1 4AB", "LS1 4ZZ", "sector"),
    ("LS1 4AB", "LS1 9ZZ", "district"),
    ("LS1 4AB", "M1 1AA", "different"),
    (None, "M1 1AA", "missing"),
])
def test_postcode_levels(a: str | None, b: str, expected: str) -> None:
    assert level("postcode", person("a", postcode=a), person("b", postcode=b)) == expected


def test_uprn_and_previous_address() -> None:
    assert level("postcode", person("a", postcode="LS1 4AB", uprn="100012345"),
                 person("b", postcode=None, uprn="100012345")) == "full_or_uprn"
    assert level("postcode", person("a", postcode="LS1 4AB"),
                 person("b", postcode="M1 1AA", previous_postcode="LS1 4AB")) == "previous_address"


def test_sex_levels() -> None:
    assert level("sex", person("a"), person("b")) == "equal"
    assert level("sex", person("a"), person("b", sex=Sex.FEMALE)) == "different"
    assert level("sex", person("a"), person("b", sex=Sex.UNKNOWN)) == "missing"


def test_nhs_number_levels() -> None:
    assert level("nhs_number", person("a", ids=[nhs_id(1)]), person("b", ids=[nhs_id(1)])) == "equal"
    assert level("nhs_number", person("a", ids=[nhs_id(1)]), person("b", ids=[nhs_id(500)])) == "different"
    assert level("nhs_number", person("a", ids=[nhs_id(1)]), person("b")) == "missing_or_untrusted"


def test_untrusted_nhs_numbers_carry_no_evidence() -> None:
    """Placeholders and untraced numbers are neither agreement nor conflict."""
    zeros = Identifier(system=IdentifierSystem.NHS_NUMBER, value="0" * 10)
    assert level("nhs_number", person("a", ids=[zeros]), person("b", ids=[zeros])) == "missing_or_untrusted"
    untraced = nhs_id(1, verification="03")
    assert level("nhs_number", person("a", ids=[untraced]), person("b", ids=[nhs_id(500)])) == "missing_or_untrusted"
    failed = Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(1)[:-1] + str((int(nhs(1)[-1]) + 1) % 10))
    assert failed.check == "failed"
    assert level("nhs_number", person("a", ids=[failed]), person("b", ids=[nhs_id(500)])) == "missing_or_untrusted"


def test_other_identifier_levels() -> None:
    assert level("other_id", person("a", ids=[upn_id(1)]), person("b", ids=[upn_id(1)])) == "equal"
    assert level("other_id", person("a", ids=[upn_id(1)]), person("b", ids=[upn_id(2)])) == "different"
    la = lambda v, scope: Identifier(system=IdentifierSystem.LA_CHILD_ID, value=v, scope=scope)  # noqa: E731
    assert level("other_id", person("a", ids=[la("123", "380")]), person("b", ids=[la("999", "380")])) \
        == "different_local"
    # the same number in two councils is two children, and two numbers in two councils say nothing
    assert level("other_id", person("a", ids=[la("123", "380")]), person("b", ids=[la("123", "381")])) == "missing"
    assert level("other_id", person("a", ids=[la("123", "380")]), person("b", ids=[la("999", "381")])) == "missing"


def _unborn(pid: str, edd: date) -> Person:
    return person(pid, given=None, family=None, dob=None, sex=None, unborn=True, expected_birth_date=edd,
                  mother_person_id=f"{pid}-mum")


def test_unborn_levels() -> None:
    edd = date.today() + timedelta(days=60)
    mum = person("m1", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE)
    same_mum = person("m2", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE, postcode=None)
    other_mum = person("m3", "Grace", "Okafor", dob=date(1990, 2, 2), sex=Sex.FEMALE)
    a, b = _unborn("a", edd), _unborn("b", edd + timedelta(days=10))
    assert level("unborn_mother", a, b, subject_mother=mum, record_mother=same_mum) == "mother_and_edd"
    assert level("unborn_mother", a, b, subject_mother=mum, record_mother=other_mum) == "mother_different"
    assert level("unborn_mother", a, b) == "mother_unknown"
    later = _unborn("c", edd + timedelta(days=300))
    assert level("unborn_mother", a, later, subject_mother=mum, record_mother=same_mum) == "edd_outside_window"
    born = person("d", "Baby", "Murphy", dob=date.today() - timedelta(days=1), sex=None)
    near = _unborn("e", date.today() + timedelta(days=5))
    assert level("unborn_mother", near, born, subject_mother=mum, record_mother=same_mum) == "born_near_edd"
    assert level("unborn_mother", person("x"), person("y")) == "not_unborn"


def test_an_unborn_child_referred_under_the_mothers_family_name() -> None:
    """The family name of an unborn child is not settled: the mother's on one side and the father's
    on the other is not counted against the same pregnancy; any other difference still is."""
    edd = date.today() + timedelta(days=60)
    mum = person("m1", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE)
    same_mum = person("m2", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE, postcode=None)
    referred = person("a", given=None, family="Murphy", dob=None, sex=None, unborn=True, expected_birth_date=edd)
    registered = person("b", given=None, family="Kowalczyk", dob=None, sex=None, unborn=True,
                        expected_birth_date=edd + timedelta(days=4))
    assert level("family", referred, registered, subject_mother=mum, record_mother=same_mum) == "missing"
    assert level("family", registered, referred, subject_mother=same_mum, record_mother=mum) == "missing"
    stranger = person("c", given=None, family="Nowak", dob=None, sex=None, unborn=True, expected_birth_date=edd)
    assert level("family", stranger, registered, subject_mother=mum, record_mother=same_mum) == "different"
    # Another mother, or a pregnancy due at another time: the names count as ever.
    other_mum = person("m3", "Grace", "Okafor", dob=date(1990, 2, 2), sex=Sex.FEMALE)
    assert level("family", referred, registered, subject_mother=mum, record_mother=other_mum) == "different"
    later = person("d", given=None, family="Kowalczyk", dob=None, sex=None, unborn=True,
                   expected_birth_date=edd + timedelta(days=300))
    assert level("family", referred, later, subject_mother=mum, record_mother=same_mum) == "different"


def test_mother_agreement_classes() -> None:
    mum = person("m1", "Aoife", "Murphy", dob=date(1996, 8, 21), sex=Sex.FEMALE)
    assert mother_agrees(compare(mum, person("m2", "Aoife", "Walsh", dob=date(1996, 8, 21)))) == "strong"
    assert mother_agrees(compare(mum, person("m2", "Aoife", "Murphy", dob=date(1996, 1, 1), precision="year"))) \
        == "weak"
    assert mother_agrees(compare(mum, person("m2", "Nadia", "Murphy", dob=date(1996, 8, 21)))) == "different"


def test_vector_is_hashable_and_validated() -> None:
    v = compare(person("a"), person("b"))
    assert hash(v) == hash(compare(person("c"), person("d")))
    assert v.levels["given"] == "exact" == v["given"]
    assert set(v.levels) == set(FIELDS)
    assert ComparisonVector.from_levels({"given": "exact"})["dob"] == "missing"
    with pytest.raises(ValueError, match="dob"):
        ComparisonVector.from_levels({"dob": "nearly"})
    with pytest.raises(ValueError, match="unknown comparison field"):
        ComparisonVector.from_levels({"shoe_size": "exact"})
    with pytest.raises(ValueError, match="levels"):
        ComparisonVector(("exact",))


def test_features_are_reusable_and_match_compare() -> None:
    a, b = person("a", given="Kyran"), person("b", given="Kieran")
    fa = features(a)
    assert "KRN" in fa.given_phonetic and fa.registered_first == "kyran"
    assert features(a) == fa


_GIVEN = st.sampled_from(["Jayden", "Jaiden", "Tommy", "Thomas", "Kyran", "Kieran", "Ana", "Ann", "J", None])
_FAMILY = st.sampled_from(["Smith", "Smyth", "Smith-Jones", "Okafor", None])
_DOB = st.sampled_from([date(2015, 3, 14), date(2015, 4, 13), date(2015, 3, 15), date(2016, 3, 14), None])
_PC = st.sampled_from(["LS1 4AB", "LS1 4ZZ", "LS2 1AA", None])
_SEX = st.sampled_from([Sex.MALE, Sex.FEMALE, None])
_IDS = st.sampled_from([[], [nhs_id(1)], [nhs_id(2)], [upn_id(1)]])


@st.composite
def people(draw: st.DrawFn) -> Person:
    given_name, family = draw(_GIVEN), draw(_FAMILY)
    if given_name is None and family is None:
        family = "Smith"
    return person("x", given=given_name, family=family, dob=draw(_DOB), postcode=draw(_PC), sex=draw(_SEX),
                  ids=draw(_IDS))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people(), people())
def test_compare_is_symmetric(a: Person, b: Person) -> None:
    assert compare(a, b) == compare(b, a)
    for field, lvl in compare(a, b).levels.items():
        assert lvl in LEVELS[field]


def test_text_only_name_is_split() -> None:
    a = Person(person_id="a", names=[HumanName(text="Jayden Smith")], addresses=[Address(postcode="LS1 4AB")])
    assert compare(a, person("b")).levels["given"] == "exact"
    assert compare(a, person("b")).levels["family"] == "exact"
