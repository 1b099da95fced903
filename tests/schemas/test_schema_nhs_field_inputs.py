"""NHS numbers as they come from the field (issue 18): placeholders, full-width digits, verification status.

All numbers are synthetic (999 test range) or well-known placeholders.
"""

from __future__ import annotations

import pytest

from mashlink.schemas.identifiers import (
    NHS_PLACEHOLDERS,
    Identifier,
    IdentifierSystem,
    VerificationStatus,
    nhs_number_is_valid,
)


def nhs(value: str, verification: str | None = None) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=value, verification=verification)


@pytest.mark.parametrize("value", ["0" * 10, "1" * 10, "9" * 10, "000 000 0000", "".join(map(str, range(10)))])
def test_placeholders_are_flagged_and_never_trusted(value: str) -> None:
    ident = nhs(value)
    assert ident.check == "placeholder"
    assert ident.check_detail and "placeholder" in ident.check_detail
    assert not ident.trusted


def test_every_repeated_digit_passes_modulus_11_yet_is_a_placeholder() -> None:
    for digit in range(10):
        value = str(digit) * 10
        assert nhs_number_is_valid(value)  # why a check digit alone cannot catch them
        assert value in NHS_PLACEHOLDERS


def test_full_width_digits_are_normalised_to_ascii() -> None:
    ident = nhs("９４３４７６５８７０")
    assert ident.value == "9434765870"
    assert ident.check == "passed" and ident.trusted
    assert ident.key == nhs("9434765870").key


def test_full_width_digits_with_ideographic_space_and_other_scripts() -> None:
    assert nhs("９４３\u3000４７６\u3000５８７０").value == "9434765870"
    assert nhs("٩٤٣٤٧٦٥٨٧٠").value == "9434765870"  # Arabic-Indic digits


def test_full_width_placeholder_is_still_a_placeholder() -> None:
    assert nhs("００００００００００").check == "placeholder"


@pytest.mark.parametrize("status", ["02", "03", "04", "05", "06", "07", "08"])
def test_untraced_verification_status_lowers_trust(status: str) -> None:
    ident = nhs("9434765870", verification=status)
    assert ident.check == "passed"  # the digits are fine ...
    assert ident.untraced and not ident.trusted  # ... but the number is not strong evidence


@pytest.mark.parametrize("status", [None, "01"])
def test_verified_or_unknown_status_stays_trusted(status: str | None) -> None:
    ident = nhs("9434765870", verification=status)
    assert ident.trusted and not ident.untraced
    if status:
        assert ident.verification is VerificationStatus.VERIFIED
