"""Blocking keys: each corruption a referral carries still leaves a key shared with the right record."""

from __future__ import annotations

from datetime import date

from mashlink.matching.blocking import BlockPass, household_key, mother_key, person_keys
from mashlink.schemas.codes import Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import BirthDate, HumanName, NameUse

from tests.matching.index_people import nhs, nhs_id, person, renamed


def shared(a, b) -> set[BlockPass]:
    """Passes in which subject ``a`` (searched) and stored record ``b`` share a key."""
    stored = person_keys(b)
    return {k.block_pass for k in person_keys(a, subject=True) & stored}


def test_spellings_that_sound_alike_share_family_keys() -> None:
    record = person("r", "Kieran", "Smyth")
    subject = renamed(record, names=[HumanName(given=["Kyran"], family="Smith")],
                      birth_date=BirthDate(value=date(2015, 4, 14)), addresses=[])
    assert {BlockPass.FAMILY_YEAR, BlockPass.FAMILY_GIVEN} <= shared(subject, record)
    other = renamed(record, names=[HumanName(given=["Kyran"], family="Jones")],
                    birth_date=BirthDate(value=date(2015, 4, 14)), addresses=[])
    assert shared(other, record) == set()


def test_keys_are_stable_across_calls_and_independent_of_person_id() -> None:
    a = person("a", ids=[nhs_id(1)])
    b = renamed(a, pid="b")
    assert {k.value for k in person_keys(a)} == {k.value for k in person_keys(b)}


def test_typo_in_family_name_still_shares_date_of_birth_keys() -> None:
    record = person("r", "Oliver", "Thornbury")
    subject = renamed(record, names=[HumanName(given=["Oliver"], family="Thronbury")])
    assert {BlockPass.DOB, BlockPass.GIVEN_DOB} <= shared(subject, record)


def test_swapped_day_and_month_is_looked_up() -> None:
    record = person("r", dob=date(2014, 3, 7))
    subject = renamed(record, birth_date=BirthDate(value=date(2014, 7, 3)))
    found = shared(subject, record)
    assert BlockPass.DOB in found and BlockPass.GIVEN_DOB in found
    # the swap is a lookup only: stored keys carry one date
    assert not any(k.text.endswith("2014-07-03") for k in person_keys(record))


def test_date_of_birth_pass_is_split_by_sex_and_reads_unknown_sex_both_ways() -> None:
    record = person("r", "Ivy", "Walsh", sex=Sex.FEMALE)
    unknown = renamed(record, names=[HumanName(given=["Bex"], family="Okafor")], addresses=[], sex=None)
    assert BlockPass.DOB in shared(unknown, record)
    assert BlockPass.DOB in shared(renamed(record, sex=Sex.FEMALE), renamed(unknown, pid="x"))
    other_sex = renamed(unknown, sex=Sex.MALE)
    assert BlockPass.DOB not in shared(other_sex, record)


def test_wrong_year_still_shares_the_name_pass() -> None:
    record = person("r", "Freya", "Okafor", dob=date(2012, 5, 9))
    subject = renamed(record, birth_date=BirthDate(value=date(2021, 5, 9)))
    assert shared(subject, record) >= {BlockPass.FAMILY_GIVEN}


def test_moved_family_shares_previous_postcode_and_names() -> None:
    record = person("r", "Ivy", "Walsh", postcode="LS6 2AB", previous_postcode="BD3 9XY")
    subject = renamed(record, addresses=[{"lines": ["2 New Street"], "postcode": "bd39xy"}])
    found = shared(subject, record)
    assert BlockPass.POSTCODE_YEAR in found


def test_changed_surname_and_no_date_of_birth_share_given_name_and_postcode() -> None:
    record = person("r", "Rory", "Talingcott", postcode="LS6 2AB")
    subject = renamed(record, names=[HumanName(given=["Rory"], family="Sowham")], birth_date=None, identifiers=[])
    assert shared(subject, record) == {BlockPass.GIVEN_POSTCODE}


def test_nickname_and_no_date_of_birth_share_family_name_and_postcode() -> None:
    record = person("r", "Theodore", "Yarenley", postcode="LS6 2AB")
    subject = renamed(record, names=[HumanName(given=["Teddy"], family="Yarenley")], birth_date=None,
                      identifiers=[])
    assert shared(subject, record) == {BlockPass.FAMILY_POSTCODE}


def test_one_digit_date_slip_with_the_other_name_changed_shares_a_partial_date_key() -> None:
    record = person("r", "Sophia", "Garerham", dob=date(2010, 11, 18), postcode="LS6 2AB")
    year_slip = renamed(record, names=[HumanName(given=["Sopphia"], family="Garerham")],
                        birth_date=BirthDate(value=date(2016, 11, 18)), addresses=[], identifiers=[])
    day_slip = renamed(record, names=[HumanName(given=["Sophia"], family="Ketsthwaite")],
                       birth_date=BirthDate(value=date(2010, 11, 13)), addresses=[], identifiers=[])
    assert shared(year_slip, record) == {BlockPass.PARTIAL_DOB}
    assert shared(day_slip, record) == {BlockPass.PARTIAL_DOB}


def test_changed_surname_is_found_through_the_name_history() -> None:
    record = person("r", names=[HumanName(given=["Esme"], family="Nowak"),
                                HumanName(use=NameUse.PREVIOUS, given=["Esme"], family="Kowalski")])
    subject = renamed(record, names=[HumanName(given=["Esme"], family="Kowalski")], addresses=[],
                      birth_date=BirthDate(value=date(2015, 3, 15)))
    assert BlockPass.FAMILY_YEAR in shared(subject, record)


def test_each_part_of_a_double_barrelled_name_is_a_key() -> None:
    record = person("r", "Nia", "Hughes-Begum")
    subject = renamed(record, names=[HumanName(given=["Nia"], family="Begum")], addresses=[],
                      birth_date=BirthDate(value=date(2015, 4, 14)))
    assert BlockPass.FAMILY_YEAR in shared(subject, record)


def test_scoped_identifiers_carry_their_issuer() -> None:
    a = person("a", ids=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="12345", scope="380")])
    b = person("b", "Someone", "Else", dob=date(2001, 1, 1), postcode=None,
               ids=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="12345", scope="381")])
    c = renamed(b, identifiers=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="12345", scope="380")])
    assert BlockPass.IDENTIFIER not in shared(a, b)
    assert BlockPass.IDENTIFIER in shared(a, c)


def test_placeholder_failed_and_untraced_nhs_numbers_are_not_keys() -> None:
    zeros = person("a", ids=[Identifier(system=IdentifierSystem.NHS_NUMBER, value="0" * 10)])  # the all-zeros placeholder, built not written
    failed = person("b", ids=[Identifier(system=IdentifierSystem.NHS_NUMBER, value="9990000001")])
    untraced = person("u", ids=[Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(5), verification="04")])
    assert not any(k.block_pass is BlockPass.IDENTIFIER
                   for k in person_keys(zeros) | person_keys(failed) | person_keys(untraced))
    good = person("c", ids=[nhs_id(5)])
    assert sum(k.block_pass is BlockPass.IDENTIFIER for k in person_keys(good)) == 1


def test_mother_link_is_a_key_and_unborn_children_have_no_date_keys() -> None:
    unborn = person("u", given=None, family=None, dob=None, postcode=None, sex=None, unborn=True,
                    expected_birth_date=date(2027, 2, 1), mother_person_id="m")
    keys = person_keys(unborn, mother_record_id="mum-record")
    assert keys == {mother_key("mum-record")}


def test_household_key_is_address_and_family_sound() -> None:
    twin_a = person("a", "Amelia", "Smith")
    twin_b = person("b", "Millie", "Smyth")
    elsewhere = person("c", "Amelia", "Smith", postcode="LS6 1AA")
    assert household_key(twin_a) == household_key(twin_b) is not None
    assert household_key(elsewhere) != household_key(twin_a)
    assert household_key(person("d", postcode=None)) is None
