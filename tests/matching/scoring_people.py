"""Synthetic people for the scorer tests: made-up names, 999-range NHS numbers, no real data."""

from __future__ import annotations

from datetime import date

from mashlink.schemas.codes import Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem, nhs_check_digit, upn_check_letter
from mashlink.schemas.person import Address, AddressType, BirthDate, HumanName, Person


def nhs(seed: int) -> str:
    """A valid synthetic NHS number in the 999 range (first seed at or after ``seed`` with a check digit)."""
    while True:
        first_nine = f"999{seed % 1_000_000:06d}"
        check = nhs_check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"
        seed += 1


def nhs_id(seed: int, verification: str | None = None) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(seed), verification=verification)


def upn_id(seed: int) -> Identifier:
    body = f"20100{seed % 10_000_000:07d}"
    return Identifier(system=IdentifierSystem.UPN, value=upn_check_letter(body) + body)


def person(
    pid: str = "p",
    given: str | None = "Jayden",
    family: str | None = "Smith",
    dob: date | None = date(2015, 3, 14),
    postcode: str | None = "LS1 4AB",
    sex: Sex | None = Sex.MALE,
    ids: list[Identifier] | None = None,
    names: list[HumanName] | None = None,
    previous_postcode: str | None = None,
    uprn: str | None = None,
    precision: str = "day",
    **extra: object,
) -> Person:
    if names is None:
        names = [HumanName(given=[given] if given else [], family=family)] if (given or family) else []
    addresses = []
    if postcode or uprn:
        addresses.append(Address(lines=["1 Test Street"], postcode=postcode, uprn=uprn))
    if previous_postcode:
        addresses.append(Address(lines=["9 Old Road"], postcode=previous_postcode, type=AddressType.PREVIOUS))
    return Person(person_id=pid, names=names, sex=sex, identifiers=ids or [], addresses=addresses,
                  birth_date=BirthDate(value=dob, precision=precision) if dob else None, **extra)
