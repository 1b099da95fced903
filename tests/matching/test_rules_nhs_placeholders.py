"""Matching never trusts a placeholder or untraced NHS number (issue 18). Synthetic people only."""

from __future__ import annotations

from datetime import date

from mashlink.matching.rules import MatchDecision, match_person
from mashlink.schemas.codes import MatchMethod
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, HumanName, Person

ZEROS = "0" * 10  # a placeholder some systems key; built, not written, so no such literal is committed


def child(pid: str, given: str, family: str, dob: date, postcode: str, nhs: str, status: str | None = None) -> Person:
    return Person(
        person_id=pid,
        names=[HumanName(given=[given], family=family)],
        birth_date=BirthDate(value=dob),
        addresses=[Address(postcode=postcode)],
        identifiers=[Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs, verification=status)],
    )


def test_two_unrelated_children_sharing_ten_zeros_never_match() -> None:
    a = child("a", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", ZEROS)
    b = child("b", "Kacper", "Nowak", date(2019, 11, 20), "BD7 1DP", ZEROS)
    for x, y in ((a, b), (b, a)):
        result = match_person(x, y)
        assert result.decision is MatchDecision.NO_MATCH
        assert result.method is MatchMethod.DEMOGRAPHIC
        assert "nhs_number_placeholder" in result.reasons
        assert "nhs_number_equal" not in result.reasons


def test_placeholder_in_full_width_digits_never_matches() -> None:
    a = child("a", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", "００００００００００")
    b = child("b", "Kacper", "Nowak", date(2019, 11, 20), "BD7 1DP", ZEROS)
    assert match_person(a, b).decision is MatchDecision.NO_MATCH


def test_placeholder_never_vetoes_the_same_child_either() -> None:
    # One record has the placeholder, the other the real number: demographics decide, no nhs_number_conflict.
    a = child("a", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", "9999999999")
    b = child("b", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", "9434765870")
    result = match_person(a, b)
    assert "nhs_number_conflict" not in result.reasons
    assert result.method is MatchMethod.DEMOGRAPHIC and result.decision is MatchDecision.MATCH


def test_untraced_status_04_is_not_an_exact_match_key() -> None:
    a = child("a", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", "9434765870", status="04")
    b = child("b", "Kacper", "Nowak", date(2019, 11, 20), "BD7 1DP", "9434765870")
    result = match_person(a, b)
    assert result.decision is MatchDecision.NO_MATCH
    assert "nhs_number_untraced" in result.reasons and "nhs_number_equal" not in result.reasons


def test_verified_number_still_matches_exactly() -> None:
    a = child("a", "Amelia", "Okafor", date(2016, 3, 4), "LS1 4AB", "9434765870", status="01")
    b = child("b", "Amelia", "Okafor", date(2016, 3, 4), "LS2 7UE", "9434765870")
    result = match_person(a, b)
    assert result.decision is MatchDecision.MATCH and result.method is MatchMethod.NHS_NUMBER
