"""People: children (including unborn), parents, carers and household members.

Safeguarding identity is messy: names change, dates of birth are estimated or
partial, an unborn child has only an expected date and a mother. The model
keeps all of that explicitly rather than forcing it into exact fields, because
matching across agencies (and its confidence) depends on it.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from time import time as _time
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import CanonicalModel, rule_error
from .codes import Sex
from .identifiers import Identifier, IdentifierSystem

# UK postcode (incl. GIR 0AA, BFPO excluded), validated after normalisation.
_POSTCODE_RE = re.compile(r"^(GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})$")


def normalise_postcode(raw: str) -> str:
    """Upper-case, single space before the inward code ("ls11aa" -> "LS1 1AA")."""
    # str.split() drops exactly the characters regex \s matches (both use the
    # Unicode whitespace property), without a regex call per address.
    compact = "".join(raw.split()).upper()
    if len(compact) < 5:
        return compact
    return f"{compact[:-3]} {compact[-3:]}"


@functools.lru_cache(maxsize=4)
def _date_at(second: int) -> date:
    return date.fromtimestamp(second)


def _today() -> date:
    """``date.today()``, cheaper: the local date of the current whole second, memoised.

    A date of birth is checked against today for every person of every record;
    ``date.today()`` builds a date from the clock each time. The local date of
    a timestamp only changes on whole seconds (``date.fromtimestamp`` floors),
    so the memo (keyed by the second, never by a stored "current" date) gives
    exactly ``date.today()``, including across midnight and when the clock is
    set back.
    """
    return _date_at(int(_time() // 1))


def postcode_is_valid(value: str) -> bool:
    """True for a normalised UK postcode."""
    return bool(_POSTCODE_RE.match(value))


class NameUse(StrEnum):
    """Why a name is on record."""

    OFFICIAL = "official"
    PREFERRED = "preferred"
    PREVIOUS = "previous"
    ALIAS = "alias"
    MAIDEN = "maiden"
    OTHER = "other"


class HumanName(CanonicalModel):
    """A name as recorded by an agency."""

    use: NameUse = NameUse.OFFICIAL
    given: list[str] = Field(default_factory=list, description="Given names, first first")
    family: str | None = None
    prefix: str | None = None
    text: str | None = Field(default=None, description="The name as written, when not structured")

    @model_validator(mode="after")
    def _something_named(self) -> "HumanName":
        if not self.given and not self.family and not self.text:
            raise ValueError("a name needs at least a given name, a family name or text")
        return self


class BirthDate(CanonicalModel):
    """A date of birth that may be exact, partial (year or year-month) or estimated."""

    value: date
    precision: Literal["day", "month", "year"] = "day"
    estimated: bool = False

    @field_validator("value")
    @classmethod
    def _not_in_future(cls, value: date) -> date:
        if value > _today():
            raise ValueError("date of birth cannot be in the future (use expected_birth_date for unborn children)")
        return value


class AddressType(StrEnum):
    HOME = "home"
    TEMPORARY = "temporary"
    PREVIOUS = "previous"
    CARE_PLACEMENT = "care_placement"
    SCHOOL = "school"
    OTHER = "other"


class Period(CanonicalModel):
    """A date range; either end may be open."""

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Period":
        if self.start and self.end and self.end < self.start:
            raise rule_error("Period", ("end",), "period_order", "period end is before its start", self.end.isoformat())
        return self


class Address(CanonicalModel):
    """A postal address; the postcode is normalised and its validity recorded, not assumed."""

    lines: list[str] = Field(default_factory=list)
    town: str | None = None
    postcode: str | None = None
    postcode_valid: bool | None = None
    uprn: str | None = Field(default=None, pattern=r"^\d{1,12}$")
    type: AddressType = AddressType.HOME
    period: Period | None = None

    @model_validator(mode="after")
    def _normalise_postcode(self) -> "Address":
        if self.postcode:
            normalised = normalise_postcode(self.postcode)
            self.__dict__["postcode"] = normalised
            self.__dict__["postcode_valid"] = postcode_is_valid(normalised)
        else:
            self.__dict__["postcode_valid"] = None
        if not self.lines and not self.postcode and not self.uprn:
            raise ValueError("an address needs lines, a postcode or a UPRN")
        return self


class ContactPoint(CanonicalModel):
    system: Literal["phone", "email", "other"]
    value: str = Field(min_length=1)
    use: Literal["home", "mobile", "work", "other"] | None = None


class Ethnicity(CanonicalModel):
    """Ethnicity in the code set the agency used (DfE and NHS sets differ)."""

    code_set: Literal["dfe", "nhs"]
    code: str = Field(min_length=1, max_length=8)
    display: str | None = None


class Language(CanonicalModel):
    code: str = Field(min_length=2, max_length=8, description="ISO 639 code where known")
    interpreter_needed: bool | None = None


class Person(CanonicalModel):
    """A person as known to one agency (or as referred to the MASH).

    ``person_id`` is local to the message that carries it, so relationships and
    matches can point at people before anyone is matched across agencies.
    """

    person_id: str = Field(min_length=1, max_length=64)
    names: list[HumanName] = Field(default_factory=list)
    birth_date: BirthDate | None = None
    unborn: bool = False
    expected_birth_date: date | None = None
    mother_person_id: str | None = Field(default=None, description="For unborn children: the mother")
    death_date: date | None = None
    sex: Sex | None = None
    ethnicity: Ethnicity | None = None
    language: Language | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    contacts: list[ContactPoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unborn_rules(self) -> "Person":
        if self.unborn:
            if self.birth_date is not None:
                raise rule_error(
                    "Person",
                    ("birth_date",),
                    "unborn_birth_date",
                    "an unborn child has an expected_birth_date, not a birth_date",
                    self.birth_date.value.isoformat(),
                )
            if self.expected_birth_date is None:
                raise rule_error(
                    "Person",
                    ("expected_birth_date",),
                    "unborn_expected_birth_date_required",
                    "an unborn child needs an expected_birth_date",
                )
        elif self.expected_birth_date is not None:
            raise rule_error(
                "Person",
                ("expected_birth_date",),
                "expected_birth_date_unborn_only",
                "expected_birth_date is only for unborn children (set unborn: true)",
                self.expected_birth_date.isoformat(),
            )
        return self

    @model_validator(mode="after")
    def _death_date_plausible(self) -> "Person":
        """A death date in the future or before the birth is a keying error, and it would hide a live child.

        A partial or estimated birth date is compared only as far as it is
        known (a birth "in 2015" does not make a death in March 2015 wrong).
        """
        if self.death_date is None:
            return self
        if self.death_date > _today():
            raise rule_error("Person", ("death_date",), "death_date_future", "date of death cannot be in the future",
                             self.death_date.isoformat())
        born = self.birth_date
        if born is not None:
            died = self.death_date
            if born.precision == "year":
                before = died.year < born.value.year
            elif born.precision == "month":
                before = (died.year, died.month) < (born.value.year, born.value.month)
            else:
                before = died < born.value
            if before:
                raise rule_error("Person", ("death_date",), "death_before_birth",
                                 "date of death is before the date of birth", died.isoformat())
        return self

    def identifier(self, system: IdentifierSystem) -> Identifier | None:
        """The first identifier of a system (trusted ones first)."""
        found = [i for i in self.identifiers if i.system is system]
        found.sort(key=lambda i: not i.trusted)
        return found[0] if found else None

    @property
    def official_name(self) -> HumanName | None:
        for name in self.names:
            if name.use is NameUse.OFFICIAL:
                return name
        return self.names[0] if self.names else None


#: Person fields a sharing policy can allow or withhold, by name.
PERSON_SHAREABLE_FIELDS: frozenset[str] = frozenset(
    name for name in Person.model_fields if name not in ("person_id", "unborn", "mother_person_id")
)
