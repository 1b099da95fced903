"""Blocking keys: which stored people a search compares the subject with.

Comparing a referral's child with every record of a million-person index is
too slow (24 s per subject in the police store's full scan), and cutting the
list short with a ``LIMIT`` drops the right child for common surnames. So the
index stores, for each person, a handful of *blocking keys*, each a value
that the right record very probably shares with a referral about the same
person even when the referral is wrong in places. A search reads every
record that shares any one key with the subject (the passes are unioned) and
scores them all. Each pass covers a different corruption:

=================  ==============================================  ==============================
pass               key                                             still finds the person when
=================  ==============================================  ==============================
``identifier``     trusted NHS number, UPN, LA child id, police     every name and date is wrong
                   person id, PNC id; the issuing LA or force is
                   part of the key for scoped systems (LA child
                   id 12345 in one council is another child in
                   the next)
``dob``            full date of birth and sex (male, female or     surname changed or misspelt,
                   not known); the subject is also looked up       family moved, given name a
                   under the day/month-swapped date, and under     nickname
                   "not known" (every sex when its own is not
                   known). At a million people, mostly children,
                   a date alone is shared by ~100 people; with
                   the sex, half that. A record whose sex is
                   recorded the other way round is still found
                   through every other pass
``family_year``    phonetic family name + birth year, for every   date of birth typo (same year),
                   family name held (official, previous, alias,    surname spelt another way,
                   maiden) and each part of a double-barrelled     double-barrelled name shortened
                   name
``given_dob``      phonetic first given name + date of birth       as ``dob``, but selective when
                                                                   thousands share a date (1 Jan)
``family_given``   phonetic family name + phonetic first given     the whole date of birth is wrong
                   name, no date
``postcode_year``  current and previous postcodes (or UPRN) +      surname changed and date typo
                   birth year
``given_postcode`` phonetic first given name + current or          surname changed and no date of
                   previous postcode (or UPRN), no date            birth on the referral
``family_postcode`` phonetic family name + current or previous     given name a nickname or typo
                   postcode (or UPRN), no date: a household        and the date of birth wrong or
                                                                   missing
``partial_dob``    phonetic given name + year and month;           a one-digit slip in the date
                   phonetic family name + month and day            of birth (day, or year) and the
                                                                   other name changed or misspelt
``mother``         the record id of the person's mother in this    an unborn child (no name, no
                   index (from ``mother_person_id`` or a           date of birth): found through
                   ``mother`` relationship)                        the mother's record
=================  ==============================================  ==============================

Names are compared by sound (``names.phonetic_key``, the scorer's own key), so
spellings that sound alike (Smith/Smyth, Kieran/Kyran, Mohammed/Muhammad)
share a key; plain typos that change the sound are caught by the
date-of-birth and postcode passes instead. Keys are built from the scorer's
``PersonFeatures``, so blocking and scoring normalise a person the same way.

Big blocks
==========
Some keys are shared by very many people (a default date of birth such as
1 January 2000 keyed for every unknown date). A search may skip a key shared
by more than ``max_block`` people **only** when the subject also has a key
from one of that pass's more selective passes (``MORE_SELECTIVE``) that was
read in full; otherwise the big block is read in full, however large. The
only records a skip can lose are those that share no fully read key with the
subject (for a skipped date of birth: the same date but a different-sounding
given name, family name and postcode), which the scoring rules would not
auto-match anyway (a different given name is a veto). The index counts every
skip (``CandidateSet.keys_skipped``) and the tests build such a block.

Every function here is pure: the same person always gives the same keys, and
keys are the same whichever side (stored record or subject) they come from,
except that a subject is also looked up under its swapped date of birth.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .comparisons import PersonFeatures, features
from .names import phonetic_key
from ..schemas.codes import Sex
from ..schemas.person import Person


class BlockPass(StrEnum):
    """One way of finding candidates; each stored key belongs to exactly one pass."""

    IDENTIFIER = "identifier"
    DOB = "dob"
    FAMILY_YEAR = "family_year"
    GIVEN_DOB = "given_dob"
    FAMILY_GIVEN = "family_given"
    POSTCODE_YEAR = "postcode_year"
    GIVEN_POSTCODE = "given_postcode"
    FAMILY_POSTCODE = "family_postcode"
    PARTIAL_DOB = "partial_dob"
    MOTHER = "mother"


#: For each pass, the more selective passes whose (fully read) keys let a search skip one of its
#: over-large blocks. Passes not listed here (identifiers, the mother link) are never skipped.
MORE_SELECTIVE: dict[BlockPass, tuple[BlockPass, ...]] = {
    BlockPass.DOB: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.POSTCODE_YEAR),
    BlockPass.FAMILY_YEAR: (BlockPass.GIVEN_DOB, BlockPass.POSTCODE_YEAR, BlockPass.IDENTIFIER),
    BlockPass.FAMILY_GIVEN: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
    BlockPass.GIVEN_DOB: (BlockPass.FAMILY_YEAR, BlockPass.POSTCODE_YEAR, BlockPass.IDENTIFIER),
    BlockPass.POSTCODE_YEAR: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
    BlockPass.GIVEN_POSTCODE: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
    BlockPass.FAMILY_POSTCODE: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
    BlockPass.PARTIAL_DOB: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
}

#: Identifier systems used as blocking keys (a school URN is a school, not a person).


@dataclass(frozen=True, slots=True)
class BlockKey:
    """One blocking key: its pass and its text (``value`` is the 64-bit integer the index stores)."""

    block_pass: BlockPass
    text: str

    @property
    def value(self) -> int:
        return key_value(self.text)


def key_value(text: str) -> int:
    """A stable signed 64-bit hash of a key's text (Python's ``hash`` changes per process).

    Two different keys sharing a hash would only add candidates (every candidate is scored), never
    lose one, so a collision cannot cause a missed or a false match; it is not a security boundary.
    """
    data = text.encode("utf-8")
    value = (zlib.crc32(data) << 32) | zlib.adler32(data)  # two C checksums: a fraction of a cryptographic hash
    return value - (1 << 64) if value >= (1 << 63) else value


# --------------------------------------------------------------------------- keys from comparison features


@functools.lru_cache(maxsize=65536)
def _sound(token: str) -> str:
    return phonetic_key(token)


def _identifier_keys(f: PersonFeatures) -> Iterable[str]:
    """Trusted identifiers only (placeholders, unknown codes, failed checks and untraced NHS numbers
    would join unrelated people); scoped systems carry their issuer in the key."""
    for value in f.nhs_trusted:
        yield f"id=nhs_number||{value}"
    for system, scope, value in (*f.other_national, *f.other_local):
        yield f"id={system}|{scope or ''}|{value}"


_SEX_CODES = {Sex.MALE: "m", Sex.FEMALE: "f"}


def _swapped(day: int, month: int, year: int) -> str | None:
    if day == month or day > 12:
        return None
    return f"{year:04d}-{day:02d}-{month:02d}"


def _family_sounds(f: PersonFeatures) -> set[str]:
    sounds = set(f.family_phonetic)
    if len(f.family_parts) > 1 or any(part not in f.family_all for part in f.family_parts):
        sounds.update(c for c in (_sound(part) for part in f.family_parts) if c)
    return sounds


def person_keys(person: Person, *, mother_record_id: str | None = None, subject: bool = False
                ) -> set[BlockKey]:
    """Every blocking key of a person.

    ``mother_record_id`` is the index record id of the person's mother (stored records only).
    ``subject=True`` adds the lookups a search makes that are not stored: the day/month-swapped
    date of birth (in the ``dob`` and ``given_dob`` passes).
    """
    return blocking_profile(features(person), mother_record_id=mother_record_id, subject=subject)[0]


def blocking_profile(f: PersonFeatures, *, mother_record_id: str | None = None, subject: bool = False
                     ) -> tuple[set[BlockKey], str | None]:
    """The blocking keys and the household key of a person, from their comparison features.

    Built on :func:`mashlink.matching.comparisons.features` so names, dates and addresses are
    normalised once, the same way for blocking as for scoring (a load computes features once and
    stores them with the person).
    """
    keys: set[BlockKey] = set()
    add = keys.add
    for text in _identifier_keys(f):
        add(BlockKey(BlockPass.IDENTIFIER, text))
    year: int | None = None
    dobs: list[str] = []
    if f.dob is not None:
        year = f.dob.year
        if f.dob_precision == "day":
            dobs.append(f.dob.isoformat())
            if subject:
                swapped = _swapped(f.dob.day, f.dob.month, f.dob.year)
                if swapped:
                    dobs.append(swapped)
    given = f.given_phonetic
    # Stored under the recorded sex (or "u"); a search also reads "u", and every sex when its own is unknown.
    sex = _SEX_CODES.get(f.sex, "u")
    sexes = (sex,) if not subject else ((sex, "u") if sex != "u" else ("m", "f", "u"))
    for dob in dobs:
        for code in sexes:
            add(BlockKey(BlockPass.DOB, f"dob={dob}|{code}"))
        for g in given:
            add(BlockKey(BlockPass.GIVEN_DOB, f"gd={g}|{dob}"))
    full = f.dob if f.dob is not None and f.dob_precision == "day" else None
    if full is not None:
        # A one-digit slip in the year (family name kept) or in the day (given name kept).
        month_day = f"{full.month:02d}-{full.day:02d}"
        year_month = f"{full.year:04d}-{full.month:02d}"
        for g in given:
            add(BlockKey(BlockPass.PARTIAL_DOB, f"gym={g}|{year_month}"))
    for family in _family_sounds(f):
        if full is not None:
            add(BlockKey(BlockPass.PARTIAL_DOB, f"fmd={family}|{month_day}"))
        if year is not None:
            add(BlockKey(BlockPass.FAMILY_YEAR, f"fy={family}|{year}"))
        for g in given:
            add(BlockKey(BlockPass.FAMILY_GIVEN, f"fg={family}|{g}"))
    addresses = [f"pc={p}" for p in sorted(f.postcode_current)] or [f"uprn={u}" for u in sorted(f.uprn_current)]
    previous = [f"pc={p}" for p in sorted(f.postcode_previous)] or [f"uprn={u}" for u in sorted(f.uprn_previous)]
    families = _family_sounds(f)
    for address in (*addresses, *previous):
        if year is not None:
            add(BlockKey(BlockPass.POSTCODE_YEAR, f"py={address}|{year}"))
        for g in given:
            add(BlockKey(BlockPass.GIVEN_POSTCODE, f"gp={g}|{address}"))
        for family in families:
            add(BlockKey(BlockPass.FAMILY_POSTCODE, f"fp={family}|{address}"))
    if mother_record_id:
        add(mother_key(mother_record_id))
    family_now = f.registered_family or (min(f.family_current) if f.family_current else None)
    household = f"{addresses[0]}|{_sound(family_now)}" if addresses and family_now else None
    return keys, household


def mother_key(mother_record_id: str) -> BlockKey:
    """The key under which the index finds the children whose mother is this record."""
    return BlockKey(BlockPass.MOTHER, f"mo={mother_record_id}")


def household_key(person: Person) -> str | None:
    """A household: the first current address (postcode or UPRN) and the current family name's sound.

    Twins, siblings and a parent with a child's name usually share both. A different
    family name in one household (a mother who kept her name) is linked through the mother
    link instead, which the index also follows.
    """
    return blocking_profile(features(person))[1]
