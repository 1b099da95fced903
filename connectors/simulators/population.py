"""A deterministic synthetic population: families the simulated agencies know.

The simulated agency systems, the demo and the end-to-end tests all need the
same families, seen differently by each agency (one spells a name wrong, one
knows a child by an old surname). This module generates them once from a seed
so every part of the loop agrees on who exists, and a test can state exactly
which family exercises which identity problem.

Everything is synthetic: NHS numbers are in the 999 test range and pass
modulus 11, UPNs carry correct check letters for the made-up LA "999", police
ids are scoped to the made-up force ``ZZ``, postcodes use the non-existent
``ZY`` area in a valid format, and names come from small pools.

The structure is fixed (which scenario each family plays); the seed chooses
names, identifiers and addresses, and ``as_of`` anchors every date so
children's ages and the unborn child's expected date stay sensible whatever
day the code runs.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import names as pools
from ...schemas.codes import STATUTORY_AGENCY_KINDS, AgencyKind, RelationshipType, Sex
from ...schemas.identifiers import (
    Identifier,
    IdentifierSystem,
    nhs_check_digit,
    upn_check_letter,
)
from ...schemas.person import Address, BirthDate, HumanName, NameUse, Person
from ...schemas.relationship import Relationship

LA_CODE = "999"
FORCE_CODE = "ZZ"
HEALTH_ORG = "RZZ"
POSTCODE_AREA = "ZY"
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_NAMESPACE = uuid.UUID("6a1f0c52-3d1e-4b8e-9d59-2f0c4f6b7a10")

Role = Literal["mother", "father", "step_father", "partner", "carer", "child", "unborn"]


class Scenario(StrEnum):
    """The identity or risk problem a family exists to exercise."""

    RED_DOMESTIC_ABUSE = "red_domestic_abuse"
    UNBORN = "unborn"
    TWINS = "twins"
    CHANGED_SURNAME = "changed_surname"
    NICKNAME = "nickname"
    TYPO = "typo"
    LOOKED_AFTER = "looked_after"
    FILLER = "filler"


class SynthPerson(BaseModel):
    """One person as they really are (agencies' copies may differ)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Stable key inside the population, e.g. F01-C1")
    family_id: str
    role: Role
    given: str
    family: str
    nickname: str | None = None
    previous_family: str | None = Field(default=None, description="Surname before a change")
    birth_date: date | None = None
    expected_birth_date: date | None = None
    sex: Sex
    nhs_number: str | None = None
    upn: str | None = None
    la_child_id: str | None = None
    police_id: str | None = None
    school_urn: str | None = None
    twin_of: str | None = None
    mother_key: str | None = None

    @property
    def is_child(self) -> bool:
        return self.role in ("child", "unborn")

    @property
    def unborn(self) -> bool:
        return self.role == "unborn"

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


class FamilyLink(BaseModel):
    """``from_key`` is ``type`` of ``to_key``."""

    model_config = ConfigDict(frozen=True)

    from_key: str
    to_key: str
    type: RelationshipType
    parental_responsibility: bool | None = None
    same_household: bool | None = True


class Family(BaseModel):
    model_config = ConfigDict(frozen=True)

    family_id: str
    scenario: Scenario
    lines: tuple[str, ...]
    town: str
    postcode: str
    members: tuple[SynthPerson, ...]
    links: tuple[FamilyLink, ...]
    known_to: frozenset[AgencyKind]

    def member(self, key: str) -> SynthPerson:
        for person in self.members:
            if person.key == key:
                return person
        raise KeyError(f"{key} is not in family {self.family_id}")

    @property
    def children(self) -> list[SynthPerson]:
        return [p for p in self.members if p.is_child]

    @property
    def adults(self) -> list[SynthPerson]:
        return [p for p in self.members if not p.is_child]

    def address(self) -> Address:
        return Address(lines=list(self.lines), town=self.town, postcode=self.postcode)


class Population(BaseModel):
    """Families plus the facts every simulator needs (LA, force, reference date)."""

    model_config = ConfigDict(frozen=True)

    seed: int
    as_of: date
    la_code: str = LA_CODE
    force_code: str = FORCE_CODE
    families: tuple[Family, ...]

    def family(self, family_id: str) -> Family:
        for family in self.families:
            if family.family_id == family_id:
                return family
        raise KeyError(f"no family {family_id}")

    def by_scenario(self, scenario: Scenario) -> Family:
        """The (first) family that plays a scenario."""
        for family in self.families:
            if family.scenario is scenario:
                return family
        raise KeyError(f"no family plays {scenario.value}")

    def person(self, key: str) -> SynthPerson:
        return self.family(key.split("-", 1)[0]).member(key)

    def people(self) -> list[SynthPerson]:
        return [p for f in self.families for p in f.members]

    def stable_id(self, *parts: object) -> str:
        """A uuid5 id that is the same for the same seed and parts."""
        return str(uuid.uuid5(_NAMESPACE, ":".join([str(self.seed), *map(str, parts)])))

    # -- canonical views ---------------------------------------------------
    def as_person(
        self,
        key: str,
        *,
        person_id: str | None = None,
        use_nickname: bool = False,
        identifiers: tuple[IdentifierSystem, ...] = (),
        with_address: bool = True,
    ) -> Person:
        """The person as a referrer would describe them (not any agency's copy).

        ``use_nickname`` gives the name the child is known by; ``identifiers``
        chooses which identifiers the referrer happens to know.
        """
        synth = self.person(key)
        family = self.family(synth.family_id)
        given = synth.nickname if (use_nickname and synth.nickname) else synth.given
        names = [HumanName(given=[given], family=synth.family)]
        ids = [i for i in person_identifiers(synth, self) if i.system in identifiers]
        return Person(
            person_id=person_id or key,
            names=names,
            birth_date=BirthDate(value=synth.birth_date) if synth.birth_date else None,
            unborn=synth.unborn,
            expected_birth_date=synth.expected_birth_date,
            mother_person_id=synth.mother_key if synth.unborn else None,
            sex=synth.sex,
            identifiers=ids,
            addresses=[family.address()] if with_address else [],
        )

    def relationships(self, family_id: str, keys: set[str] | None = None) -> list[Relationship]:
        """The family's relationships, restricted to ``keys`` when given."""
        out = []
        for link in self.family(family_id).links:
            if keys is not None and (link.from_key not in keys or link.to_key not in keys):
                continue
            out.append(
                Relationship(
                    from_person_id=link.from_key,
                    to_person_id=link.to_key,
                    type=link.type,
                    parental_responsibility=link.parental_responsibility,
                    same_household=link.same_household,
                )
            )
        return out


def person_identifiers(synth: SynthPerson, population: Population) -> list[Identifier]:
    """Every identifier the person holds anywhere (each agency keeps a subset)."""
    out: list[Identifier] = []
    if synth.nhs_number:
        out.append(Identifier(system=IdentifierSystem.NHS_NUMBER, value=synth.nhs_number, verification="01"))
    if synth.upn:
        out.append(Identifier(system=IdentifierSystem.UPN, value=synth.upn))
    if synth.la_child_id:
        out.append(Identifier(system=IdentifierSystem.LA_CHILD_ID, value=synth.la_child_id, scope=population.la_code))
    if synth.police_id:
        out.append(
            Identifier(system=IdentifierSystem.POLICE_PERSON_ID, value=synth.police_id, scope=population.force_code)
        )
    return out


# ---------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------


class _Ids:
    """Unique identifier allocation from one seeded random stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._la_child = 100000
        self._police = 0
        self._upn_serial = 0

    def _unique(self, value: str) -> bool:
        if value in self._used:
            return False
        self._used.add(value)
        return True

    def nhs_number(self) -> str:
        while True:
            nine = "999" + "".join(str(self._rng.randrange(10)) for _ in range(6))
            check = nhs_check_digit(nine)
            if check is not None and self._unique(nine + str(check)):
                return nine + str(check)

    def upn(self, la_code: str, admitted: date) -> str:
        self._upn_serial += 1
        establishment = f"{2000 + self._rng.randrange(1, 90):04d}"
        body = f"{la_code}{establishment}{admitted.year % 100:02d}{self._upn_serial:03d}"
        return upn_check_letter(body) + body

    def la_child_id(self) -> str:
        self._la_child += self._rng.randrange(3, 40)
        return str(self._la_child)

    def police_id(self) -> str:
        self._police += 1
        return f"ZZP{self._rng.randrange(10000, 99999)}{self._police:03d}"


class _Builder:
    def __init__(self, seed: int, as_of: date) -> None:
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.ids = _Ids(self.rng)
        self._surnames = list(pools.SURNAMES)
        self.rng.shuffle(self._surnames)
        self._streets_used: set[str] = set()

    def surname(self) -> str:
        return self._surnames.pop()

    def given(self, sex: Sex, adult: bool) -> str:
        pool = (pools.WOMEN if adult else pools.GIRLS) if sex is Sex.FEMALE else (pools.MEN if adult else pools.BOYS)
        return self.rng.choice(pool)

    def address(self) -> tuple[tuple[str, ...], str, str]:
        while True:
            line = f"{self.rng.randrange(1, 120)} {self.rng.choice(pools.STREETS)}"
            if line not in self._streets_used:
                self._streets_used.add(line)
                break
        district = self.rng.randrange(1, 10)
        inward = f"{self.rng.randrange(10)}{self.rng.choice(_POSTCODE_LETTERS)}{self.rng.choice(_POSTCODE_LETTERS)}"
        return (line,), self.rng.choice(pools.TOWNS), f"{POSTCODE_AREA}{district} {inward}"

    def birth(self, min_age: float, max_age: float) -> date:
        days = self.rng.randrange(int(min_age * 365.25), int(max_age * 365.25))
        return self.as_of - timedelta(days=days)

    def adult(self, fid: str, n: str, role: Role, sex: Sex, family_name: str, **extra: object) -> SynthPerson:
        return SynthPerson(
            key=f"{fid}-{n}", family_id=fid, role=role, given=self.given(sex, True), family=family_name,
            birth_date=self.birth(19, 45), sex=sex, nhs_number=self.ids.nhs_number(), **extra,  # type: ignore[arg-type]
        )

    def child(
        self, fid: str, n: str, family_name: str, *, birth_date: date | None = None, sex: Sex | None = None,
        given: str | None = None, in_school: bool | None = None, **extra: object,
    ) -> SynthPerson:
        sex = sex or self.rng.choice((Sex.FEMALE, Sex.MALE))
        born = birth_date or self.birth(1, 16)
        age = (self.as_of - born).days / 365.25
        school = (age >= 4.5) if in_school is None else in_school
        school_urn = None
        upn = None
        if school:
            admitted = born + timedelta(days=int(4.6 * 365.25))
            upn = self.ids.upn(LA_CODE, admitted)
            school_urn = pools.SCHOOLS[(0 if age < 11 else 2) + self.rng.randrange(2)][0]
        return SynthPerson(
            key=f"{fid}-{n}", family_id=fid, role="child", given=given or self.given(sex, False),
            family=family_name, birth_date=born, sex=sex, nhs_number=self.ids.nhs_number(), upn=upn,
            school_urn=school_urn, **extra,  # type: ignore[arg-type]
        )


def _parent_links(parents: list[SynthPerson], children: list[SynthPerson]) -> list[FamilyLink]:
    links = []
    for parent in parents:
        kind = {
            "mother": RelationshipType.MOTHER,
            "father": RelationshipType.FATHER,
            "step_father": RelationshipType.STEP_PARENT,
            "partner": RelationshipType.PARTNER_OF_PARENT,
            "carer": RelationshipType.CARER,
        }[parent.role]
        pr = parent.role in ("mother", "father")
        for child in children:
            links.append(FamilyLink(from_key=parent.key, to_key=child.key, type=kind, parental_responsibility=pr))
    for i, a in enumerate(children):
        for b in children[i + 1:]:
            if not a.unborn and not b.unborn:
                links.append(FamilyLink(from_key=a.key, to_key=b.key, type=RelationshipType.SIBLING))
    return links


def _family(
    b: _Builder, fid: str, scenario: Scenario, members: list[SynthPerson], known_to: set[AgencyKind],
    extra_links: list[FamilyLink] | None = None,
) -> Family:
    lines, town, postcode = b.address()
    adults = [m for m in members if not m.is_child]
    children = [m for m in members if m.is_child]
    # Social care ids only for children social care knows; police ids for everyone the police know.
    final: list[SynthPerson] = []
    for m in members:
        update: dict[str, object] = {}
        if AgencyKind.SOCIAL_CARE in known_to and m.is_child and not m.unborn:
            update["la_child_id"] = b.ids.la_child_id()
        if AgencyKind.POLICE in known_to and not m.unborn:
            update["police_id"] = b.ids.police_id()
        final.append(m.model_copy(update=update))
    by_key = {m.key: m for m in final}
    links = _parent_links([by_key[a.key] for a in adults], [by_key[c.key] for c in children])
    return Family(
        family_id=fid, scenario=scenario, lines=lines, town=town, postcode=postcode,
        members=tuple(final), links=tuple(links + (extra_links or [])), known_to=frozenset(known_to),
    )


def generate_population(seed: int = 20240901, *, as_of: date | None = None, fillers: int = 8) -> Population:
    """Generate the synthetic population.

    The seven scenario families always exist (F01..F07, see ``Scenario``),
    followed by ``fillers`` ordinary families known to a random subset of
    agencies (some to none, so "not known" is a normal answer). The same
    ``seed`` and ``as_of`` always give the same population.
    """
    as_of = as_of or date.today()
    b = _Builder(seed, as_of)
    all_kinds = set(STATUTORY_AGENCY_KINDS)
    families: list[Family] = []

    # F01: red - domestic abuse in the household, a teenager who goes missing.
    s = b.surname()
    mother = b.adult("F01", "M", "mother", Sex.FEMALE, s)
    partner = b.adult("F01", "P", "partner", Sex.MALE, b.surname())
    teen = b.child("F01", "C1", s, birth_date=b.birth(14, 15.5), sex=Sex.FEMALE)
    young = b.child("F01", "C2", s, birth_date=b.birth(6, 9))
    families.append(_family(b, "F01", Scenario.RED_DOMESTIC_ABUSE, [mother, partner, teen, young], all_kinds))

    # F02: a pregnant mother (unborn child with expected date of delivery), her partner, a toddler.
    s = b.surname()
    mother = b.adult("F02", "M", "mother", Sex.FEMALE, s)
    father = b.adult("F02", "F", "father", Sex.MALE, s)
    edd = as_of + timedelta(days=70 + b.rng.randrange(20))
    unborn = SynthPerson(
        key="F02-U1", family_id="F02", role="unborn", given="Baby", family=s, expected_birth_date=edd,
        sex=Sex.UNKNOWN, mother_key="F02-M",
    )
    toddler = b.child("F02", "C1", s, birth_date=b.birth(1.5, 2.5), in_school=False)
    families.append(
        _family(b, "F02", Scenario.UNBORN, [mother, father, unborn, toddler],
                {AgencyKind.HEALTH, AgencyKind.POLICE, AgencyKind.SOCIAL_CARE})
    )

    # F03: twins (same surname, date of birth and address) and an older sibling.
    s = b.surname()
    mother = b.adult("F03", "M", "mother", Sex.FEMALE, s)
    twins_born = b.birth(7, 8.5)
    first = b.rng.sample(pools.GIRLS, 2)
    twin_a = b.child("F03", "C1", s, birth_date=twins_born, sex=Sex.FEMALE, given=first[0], twin_of="F03-C2")
    twin_b = b.child("F03", "C2", s, birth_date=twins_born, sex=Sex.FEMALE, given=first[1], twin_of="F03-C1")
    older = b.child("F03", "C3", s, birth_date=b.birth(11, 13))
    families.append(
        _family(b, "F03", Scenario.TWINS, [mother, twin_a, twin_b, older],
                {AgencyKind.HEALTH, AgencyKind.EDUCATION})
    )

    # F04: a child whose surname changed to the stepfather's; police still hold the old one.
    old, new = b.surname(), b.surname()
    mother = b.adult("F04", "M", "mother", Sex.FEMALE, new, previous_family=old)
    step = b.adult("F04", "S", "step_father", Sex.MALE, new)
    renamed = b.child("F04", "C1", new, birth_date=b.birth(9, 11), previous_family=old)
    families.append(_family(b, "F04", Scenario.CHANGED_SURNAME, [mother, step, renamed], all_kinds))

    # F05: a child known by a nickname (Alfie for Alfred).
    s = b.surname()
    official = b.rng.choice(sorted(pools.NICKNAMED))
    father = b.adult("F05", "F", "father", Sex.MALE, s)
    nick = b.child("F05", "C1", s, birth_date=b.birth(5, 7), sex=Sex.MALE, given=official,
                   nickname=pools.NICKNAMED[official])
    families.append(
        _family(b, "F05", Scenario.NICKNAME, [father, nick],
                {AgencyKind.EDUCATION, AgencyKind.HEALTH, AgencyKind.POLICE})
    )

    # F06: health's copy of the child's name has a typo.
    s = b.surname()
    mother = b.adult("F06", "M", "mother", Sex.FEMALE, s)
    typo_given = b.rng.choice(sorted(pools.TYPO_PRONE))
    typo = b.child("F06", "C1", s, birth_date=b.birth(3, 5), in_school=False, given=typo_given,
                   sex=Sex(pools.TYPO_PRONE[typo_given]))
    families.append(_family(b, "F06", Scenario.TYPO, [mother, typo], {AgencyKind.HEALTH, AgencyKind.SOCIAL_CARE}))

    # F07: a looked-after child with school moves and CAMHS involvement.
    s = b.surname()
    mother = b.adult("F07", "M", "mother", Sex.FEMALE, s)
    lac = b.child("F07", "C1", s, birth_date=b.birth(12, 15))
    carer = b.adult("F07", "K", "carer", Sex.FEMALE, b.surname())
    f07 = _family(b, "F07", Scenario.LOOKED_AFTER, [mother, lac, carer], all_kinds)
    # The child lives with the foster carer, not with the mother.
    links = tuple(
        link.model_copy(update={"same_household": False}) if link.from_key == "F07-M" else link for link in f07.links
    )
    families.append(f07.model_copy(update={"links": links}))

    for i in range(fillers):
        fid = f"F{8 + i:02d}"
        s = b.surname() if b._surnames else f"Synth{i}"
        members = [b.adult(fid, "M", "mother", Sex.FEMALE, s)]
        if b.rng.random() < 0.5:
            members.append(b.adult(fid, "F", "father", Sex.MALE, s))
        for n in range(1 + b.rng.randrange(3)):
            members.append(b.child(fid, f"C{n + 1}", s))
        known = {k for k in STATUTORY_AGENCY_KINDS if b.rng.random() < 0.45}
        families.append(_family(b, fid, Scenario.FILLER, members, known))

    return Population(seed=seed, as_of=as_of, families=tuple(families))
