"""Identifier checks against published cases and the 999 synthetic range."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mashlink.schemas.identifiers import (
    UPN_UNKNOWN_CODES,
    Identifier,
    IdentifierSystem,
    VerificationStatus,
    nhs_check_digit,
    nhs_number_is_valid,
    upn_check_letter,
    upn_is_temporary,
    upn_is_valid,
)
from tests.schemas.strategies import invalid_nhs_numbers, nhs_numbers, upns


def nhs(value: str, **extra: object) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=value, **extra)


def upn(value: str, **extra: object) -> Identifier:
    return Identifier(system=IdentifierSystem.UPN, value=value, **extra)


# ----------------------------------------------------------------------------- NHS number


def test_published_valid_nhs_number_passes() -> None:
    assert nhs_number_is_valid("9434765870")
    ident = nhs("9434765870")
    assert ident.check == "passed"
    assert ident.check_detail is None
    assert ident.trusted


def test_published_invalid_nhs_number_is_kept_marked_failed_and_untrusted() -> None:
    assert not nhs_number_is_valid("9434765871")
    ident = nhs("9434765871")
    assert ident.value == "9434765871"  # kept, not dropped or altered
    assert ident.check == "failed"
    assert "modulus 11" in (ident.check_detail or "")
    assert not ident.trusted


@pytest.mark.parametrize("claimed", ["passed", "not_applicable", "unknown_code"])
def test_check_is_recomputed_never_taken_from_input(claimed: str) -> None:
    ident = nhs("9434765871", check=claimed, check_detail=None)
    assert ident.check == "failed"
    assert ident.check_detail
    assert not ident.trusted
    # and the reverse: a good number claimed as failed is still passed
    assert nhs("9434765870", check="failed", check_detail="nonsense").check == "passed"


def test_check_claimed_for_unchecked_system_is_reset() -> None:
    ident = Identifier(system=IdentifierSystem.OTHER, value="X1", check="passed", check_detail="trust me")
    assert ident.check == "not_applicable"
    assert ident.check_detail is None


def test_check_is_recomputed_on_json_input() -> None:
    raw = '{"system": "nhs_number", "value": "9434765871", "check": "passed"}'
    assert Identifier.model_validate_json(raw).check == "failed"


@pytest.mark.parametrize("written", ["943 476 5870", "943-476-5870", " 9434765870 ", "943 476-5870"])
def test_spaces_and_hyphens_are_normalised(written: str) -> None:
    ident = nhs(written)
    assert ident.value == "9434765870"
    assert ident.check == "passed"


@pytest.mark.parametrize("bad", ["943476587", "94347658700", "94347658A0", "9434.765870"])
def test_malformed_nhs_numbers_fail(bad: str) -> None:
    assert nhs(bad).check == "failed"


@given(nhs_numbers())
@settings(max_examples=50)
def test_generated_999_numbers_are_valid(number: str) -> None:
    assert number.startswith("999") and len(number) == 10
    assert nhs_number_is_valid(number)
    assert nhs(number).trusted


@given(invalid_nhs_numbers())
@settings(max_examples=50)
def test_wrong_check_digit_in_999_range_fails(number: str) -> None:
    assert not nhs_number_is_valid(number)
    assert nhs(number).check == "failed"


@given(nhs_numbers())
@settings(max_examples=50)
def test_any_single_digit_change_in_check_digit_fails(number: str) -> None:
    for digit in string.digits:
        if digit != number[-1]:
            assert not nhs_number_is_valid(number[:-1] + digit)


def _nine_digits_with_check_ten() -> list[str]:
    found = [f"999{n:06d}" for n in range(0, 2000) if nhs_check_digit(f"999{n:06d}") is None]
    assert found, "the 999 range has prefixes whose check digit would be 10"
    return found[:20]


@pytest.mark.parametrize("nine", _nine_digits_with_check_ten())
def test_check_digit_ten_is_never_valid(nine: str) -> None:
    # the weighted sum leaves remainder 1, so 11 - 1 = 10: no digit can be right
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1)))
    assert total % 11 == 1
    for last in string.digits:
        assert not nhs_number_is_valid(nine + last)
        assert nhs(nine + last).check == "failed"


def test_check_digit_matches_published_case() -> None:
    assert nhs_check_digit("943476587") == 0


def test_verification_status_allowed_on_nhs_number() -> None:
    ident = nhs("9434765870", verification="01")
    assert ident.verification is VerificationStatus.VERIFIED


@pytest.mark.parametrize("system", [IdentifierSystem.UPN, IdentifierSystem.OTHER, IdentifierSystem.PNC_ID])
def test_verification_status_only_on_nhs_numbers(system: IdentifierSystem) -> None:
    value = "B801200005001" if system is IdentifierSystem.UPN else "12/345A"
    with pytest.raises(ValidationError) as info:
        Identifier(system=system, value=value, verification="01")
    (error,) = info.value.errors()
    assert error["loc"] == ("verification",)
    assert error["type"] == "verification_nhs_only"
    assert "NHS numbers only" in error["msg"]


# ----------------------------------------------------------------------------- UPN


def test_published_upn_check_letter() -> None:
    assert upn_check_letter("801200005001") == "B"
    assert upn_is_valid("B801200005001")
    assert upn("B801200005001").check == "passed"
    assert upn("B801200005001").trusted


def test_upn_with_wrong_check_letter_fails_and_is_kept() -> None:
    assert not upn_is_valid("A801200005001")
    ident = upn("A801200005001")
    assert ident.value == "A801200005001"
    assert ident.check == "failed"
    assert not ident.trusted


def test_lower_case_upn_is_normalised() -> None:
    ident = upn("b801200005001")
    assert ident.value == "B801200005001"
    assert ident.check == "passed"


@given(upns(temporary=True))
@settings(max_examples=50)
def test_temporary_upns_end_with_a_letter_pass_but_are_not_trusted(value: str) -> None:
    assert value[-1].isalpha()
    assert upn_is_temporary(value)
    ident = upn(value)
    assert ident.check == "passed"
    assert ident.temporary
    assert not ident.trusted  # a temporary UPN is not an exact-match key


@given(upns(temporary=False))
@settings(max_examples=50)
def test_permanent_upns_pass_and_are_trusted(value: str) -> None:
    ident = upn(value)
    assert ident.check == "passed" and not ident.temporary and ident.trusted


@given(upns(), st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ"))
@settings(max_examples=50)
def test_any_other_check_letter_fails(value: str, letter: str) -> None:
    if letter != value[0]:
        assert upn(letter + value[1:]).check == "failed"


def test_temporary_flag_is_recomputed() -> None:
    assert upn("B801200005001", temporary=True).temporary is False


@pytest.mark.parametrize("bad", ["I801200005001", "B80120000500", "B8012000050011", "B80120000500I", "B8012O0005001"])
def test_malformed_upns_fail(bad: str) -> None:
    assert upn(bad).check == "failed"


@pytest.mark.parametrize("code", sorted(UPN_UNKNOWN_CODES))
def test_unknown_upn_codes(code: str) -> None:
    ident = upn(code.lower())
    assert ident.value == code
    assert ident.check == "unknown_code"
    assert code in (ident.check_detail or "")
    assert not ident.trusted


def test_un8_is_not_an_unknown_code() -> None:
    assert upn("UN8").check == "failed"


# ----------------------------------------------------------------------------- scoped and other systems


@pytest.mark.parametrize(
    "system", [IdentifierSystem.LA_CHILD_ID, IdentifierSystem.POLICE_PERSON_ID, IdentifierSystem.HOSPITAL_MRN]
)
def test_scoped_identifiers_require_scope(system: IdentifierSystem) -> None:
    with pytest.raises(ValidationError) as info:
        Identifier(system=system, value="12345")
    (error,) = info.value.errors()
    assert error["loc"] == ("scope",)
    assert error["type"] == "scope_required"
    assert system.value in error["msg"]
    scoped = Identifier(system=system, value="12345", scope="383")
    assert scoped.key == (system.value, "383", "12345")


def test_same_local_id_in_two_scopes_has_different_keys() -> None:
    a = Identifier(system=IdentifierSystem.LA_CHILD_ID, value="100", scope="383")
    b = Identifier(system=IdentifierSystem.LA_CHILD_ID, value="100", scope="380")
    assert a.key != b.key


def test_unscoped_system_key_ignores_scope() -> None:
    assert nhs("9434765870", scope="RR8").key == ("nhs_number", None, "9434765870")


@pytest.mark.parametrize(("value", "check"), [("107000", "passed"), ("10700", "failed"), ("10700A", "failed")])
def test_school_urn_check(value: str, check: str) -> None:
    assert Identifier(system=IdentifierSystem.SCHOOL_URN, value=value).check == check


@pytest.mark.parametrize(("value", "check"), [("12/345678a", "passed"), ("2001/1234567Z", "passed"), ("12345678A", "failed")])
def test_pnc_id_check_and_normalisation(value: str, check: str) -> None:
    ident = Identifier(system=IdentifierSystem.PNC_ID, value=value)
    assert ident.check == check
    assert ident.value == value.upper()


def test_blank_identifier_value_is_rejected_with_field_path() -> None:
    with pytest.raises(ValidationError) as info:
        Identifier(system=IdentifierSystem.NHS_NUMBER, value="   ")
    assert info.value.errors()[0]["loc"] == ("value",)
