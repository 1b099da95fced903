"""Synthetic people for the index, blocking and match CLI tests (made-up names, 999-range NHS numbers)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from mashlink.schemas.codes import Sex
from mashlink.schemas.identifiers import Identifier, IdentifierSystem, nhs_check_digit
from mashlink.schemas.person import Address, AddressType, BirthDate, HumanName, NameUse, Person


def nhs(seed: int) -> str:
    """A valid synthetic NHS number in the 999 range (first seed at or after ``seed`` with a check digit)."""
    while True:
        first_nine = f"999{seed % 1_000_000:06d}"
        check = nhs_check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"
        seed += 1


def nhs_id(seed: int) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=nhs(seed))


def person(pid: str, given: str | None = "Jayden", family: str | None = "Smith",
           dob: date | None = date(2015, 3, 14), postcode: str | None = "LS1 4AB", sex: Sex | None = Sex.MALE,
           ids: list[Identifier] | None = None, names: list[HumanName] | None = None,
           previous_postcode: str | None = None, **extra: object) -> Person:
    if names is None:
        names = [HumanName(given=[given] if given else [], family=family)] if (given or family) else []
    addresses = [Address(lines=["1 Test Street"], postcode=postcode)] if postcode else []
    if previous_postcode:
        addresses.append(Address(lines=["9 Old Road"], postcode=previous_postcode, type=AddressType.PREVIOUS))
    return Person(person_id=pid, names=names, birth_date=BirthDate(value=dob) if dob else None, sex=sex,
                  identifiers=ids or [], addresses=addresses, **extra)


GIVEN_BOYS = ("Jayden", "Oliver", "Harry", "Jacob", "Noah", "Leo", "Arthur", "Muhammad", "Finley", "Reggie",
              "Tobias", "Ezra", "Caleb", "Ronan", "Idris", "Kofi", "Bartosz", "Ewan", "Callum", "Dexter")
GIVEN_GIRLS = ("Amelia", "Isla", "Ava", "Mia", "Ivy", "Freya", "Florence", "Willow", "Rosie", "Esme",
               "Maryam", "Nia", "Zofia", "Aoife", "Imogen", "Thea", "Lyra", "Ayla", "Orla", "Eden")
FAMILIES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Khan", "Patel", "Davies",
            "Okafor", "Nowak", "Begum", "Hughes", "Walsh", "Murphy", "Ahmed", "Clarke", "Kowalski", "Thornbury")
OUTWARDS = ("LS1", "LS6", "LS11", "BD3", "BD7", "WF1", "HX2", "YO1", "HG1", "S10")


def population(n: int, *, seed: int = 7, start_rid: int = 0) -> list[tuple[str, Person]]:
    """``n`` random synthetic children and young people as ``(record_id, person)``."""
    rng = random.Random(seed)
    out = []
    for i in range(start_rid, start_rid + n):
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        given = rng.choice(GIVEN_BOYS if sex is Sex.MALE else GIVEN_GIRLS)
        family = rng.choice(FAMILIES)
        dob = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 18 * 365))
        postcode = f"{rng.choice(OUTWARDS)} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" \
                   f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        ids = [nhs_id(100_000 + i * 7)] if rng.random() < 0.7 else []
        rid = f"r{i}"
        out.append((rid, person(rid, given, family, dob, postcode, sex, ids)))
    return out


def renamed(p: Person, *, pid: str | None = None, **changes: object) -> Person:
    """A copy of ``p`` with fields replaced (the subject of a referral about the same person)."""
    data = p.model_dump()
    data.update(changes)
    data["person_id"] = pid or f"subject-{p.person_id}"
    return Person.model_validate(data)


__all__ = ["NameUse", "HumanName", "person", "population", "renamed", "nhs", "nhs_id"]
