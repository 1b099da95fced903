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
``identifier``     trusted-form NHS number, UPN, LA child id,      every name and date is wrong
                   police person id, PNC id, hospital MRN; the
                   issuing LA / force / trust is part of the key
                   for scoped systems (LA child id 12345 in one
                   council is another child in the next)
``dob``            full date of birth; the subject is also looked  surname changed or misspelt,
                   up under the day/month-swapped date             family moved
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
``mother``         the record id of the person's mother in this    an unborn child (no name, no
                   index (from ``mother_person_id`` or a           date of birth): found through
                   ``mother`` relationship)                        the mother's record
=================  ==============================================  ==============================

Phonetic codes (``phonetic``) fold spellings that sound alike (Smith/Smyth,
Kieran/Kyran, Mohammed/Muhammad) so that such variants share a key; plain
typos that change the sound are caught by the date-of-birth and postcode
passes instead.

Big blocks
==========
Some keys are shared by very many people (a default date of birth such as
1 January 2000 keyed for every unknown date). A search may skip a key shared
by more than ``max_block`` people **only** when the subject also has a key
from one of that pass's more selective passes (``MORE_SELECTIVE``) that was
read in full; otherwise the big block is read in full, however large. The
only records a skip can lose are those that share nothing with the subject
but the skipped key (for a skipped date of birth: a different-sounding given
name *and* family name *and* postcode on the same date), which the scoring
rules would not auto-match anyway (a different given name is a veto).

Every function here is pure: the same person always gives the same keys, and
keys are the same whichever side (stored record or subject) they come from,
except that a subject is also looked up under its swapped date of birth.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mashlink.matching.names import split_tokens
from mashlink.schemas.identifiers import SCOPED_SYSTEMS, IdentifierSystem
from mashlink.schemas.person import AddressType, NameUse, Person


class BlockPass(StrEnum):
    """One way of finding candidates; each stored key belongs to exactly one pass."""

    IDENTIFIER = "identifier"
    DOB = "dob"
    FAMILY_YEAR = "family_year"
    GIVEN_DOB = "given_dob"
    FAMILY_GIVEN = "family_given"
    POSTCODE_YEAR = "postcode_year"
    MOTHER = "mother"


#: For each pass, the more selective passes whose (fully read) keys let a search skip one of its
#: over-large blocks. Passes not listed here (identifiers, the mother link) are never skipped.
MORE_SELECTIVE: dict[BlockPass, tuple[BlockPass, ...]] = {
    BlockPass.DOB: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.POSTCODE_YEAR),
    BlockPass.FAMILY_YEAR: (BlockPass.GIVEN_DOB, BlockPass.POSTCODE_YEAR, BlockPass.IDENTIFIER),
    BlockPass.FAMILY_GIVEN: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
    BlockPass.GIVEN_DOB: (BlockPass.FAMILY_YEAR, BlockPass.POSTCODE_YEAR, BlockPass.IDENTIFIER),
    BlockPass.POSTCODE_YEAR: (BlockPass.GIVEN_DOB, BlockPass.FAMILY_YEAR, BlockPass.IDENTIFIER),
}

#: Identifier systems used as blocking keys (a school URN is a school, not a person).
BLOCKING_SYSTEMS: frozenset[IdentifierSystem] = frozenset({
    IdentifierSystem.NHS_NUMBER,
    IdentifierSystem.UPN,
    IdentifierSystem.LA_CHILD_ID,
    IdentifierSystem.POLICE_PERSON_ID,
    IdentifierSystem.PNC_ID,
    IdentifierSystem.HOSPITAL_MRN,
})

_PREVIOUS_USES = frozenset({NameUse.PREVIOUS, NameUse.ALIAS, NameUse.MAIDEN})


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

    Two different keys sharing a hash would only add a candidate (every candidate is scored), never
    lose one, so a collision cannot cause a missed or a false match.
    """
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


# --------------------------------------------------------------------------- phonetic code

_VOWELS = frozenset("aeiouy")
_FRONT = frozenset("eiy")
_START_RULES = (("kn", "n"), ("gn", "n"), ("pn", "n"), ("wr", "r"), ("ps", "s"), ("wh", "w"), ("x", "s"))


@functools.lru_cache(maxsize=65536)
def phonetic(token: str) -> str:
    """A sound-alike code for one normalised name token ("smyth" and "smith" -> "SMT").

    A small Metaphone-like code: the first letter's sound is kept (a leading vowel becomes
    ``A``), later vowels and silent letters are dropped, consonants that sound alike share a
    letter (C/K/Q, S/Z, D/T/TH, PH/F) and runs of the same code collapse. Deliberately
    coarse in the consonant classes that spellings vary in, and kept short (6 letters), so that
    ``Mohammed``/``Muhammad``/``Mohamed`` and ``Kieran``/``Kyran`` share a key.
    """
    s = token
    if not s:
        return ""
    for prefix, repl in _START_RULES:
        if s.startswith(prefix):
            s = repl + s[len(prefix):]
            break
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        nxt = s[i + 1] if i + 1 < n else ""
        code = ""
        step = 1
        if ch in _VOWELS:
            code = "A" if i == 0 else ""
        elif ch == "c":
            if nxt == "h":
                code, step = "X", 2
            elif nxt == "k":
                code, step = "K", 2
            elif nxt in _FRONT:
                code = "S"
            else:
                code = "K"
        elif ch == "s":
            if nxt == "h":
                code, step = "X", 2
            elif s.startswith("sch", i):
                code, step = "SK", 3
            else:
                code = "S"
        elif ch == "p":
            if nxt == "h":
                code, step = "F", 2
            else:
                code = "P"
        elif ch == "t":
            code, step = ("T", 2) if nxt == "h" else ("T", 1)
        elif ch == "d":
            if nxt == "g" and i + 2 < n and s[i + 2] in _FRONT:
                code, step = "J", 2
            else:
                code = "T"
        elif ch == "g":
            if nxt == "h":
                code, step = ("K" if i == 0 else ""), 2
            elif nxt in _FRONT:
                code = "J"
            else:
                code = "K"
        elif ch == "h":
            code = "H" if i == 0 and nxt in _VOWELS else ""  # only a leading H is kept ("Hannah": HN)
        elif ch == "w":
            code = "W" if i == 0 else ""
        elif ch == "q":
            code = "K"
        elif ch == "z":
            code = "S"
        elif ch == "x":
            code = "KS"
        elif ch == "j":
            code = "J"
        else:
            code = ch.upper()
        for c in code:
            if not out or out[-1] != c:
                out.append(c)
        i += step
    return "".join(out)[:6]


# --------------------------------------------------------------------------- name and address parts


@dataclass(frozen=True, slots=True)
class _NameParts:
    given_first: frozenset[str]  # phonetic codes of each name's first given token
    family: frozenset[str]  # phonetic codes of every family name (whole, joined) and each part
    family_current: str | None  # phonetic code of the current (official) family name, for households


@functools.lru_cache(maxsize=65536)
def _tokens(raw: str) -> tuple[str, ...]:
    return tuple(split_tokens(raw))


def _name_parts(person: Person) -> _NameParts:
    given: set[str] = set()
    family: set[str] = set()
    current: str | None = None
    for name in person.names:
        given_tokens = [tok for g in name.given for tok in _tokens(g)]
        family_tokens = _tokens(name.family) if name.family else []
        if not given_tokens and not family_tokens and name.text:
            text_tokens = _tokens(name.text)
            if len(text_tokens) >= 2:
                given_tokens, family_tokens = list(text_tokens[:-1]), text_tokens[-1:]
            else:
                family_tokens = text_tokens
        if given_tokens:
            code = phonetic(given_tokens[0])
            if code:
                given.add(code)
        if family_tokens:
            whole = phonetic("".join(family_tokens))
            if whole:
                family.add(whole)
                if current is None and name.use not in _PREVIOUS_USES:
                    current = whole
            if len(family_tokens) > 1:
                family.update(c for c in (phonetic(t) for t in family_tokens) if c)
    return _NameParts(frozenset(given), frozenset(family), current)


def _address_keys(person: Person) -> tuple[list[str], list[str]]:
    """(current, previous) address keys: the postcode, or the UPRN where there is no postcode."""
    current: list[str] = []
    previous: list[str] = []
    for address in person.addresses:
        if address.postcode:
            key = f"pc={address.postcode}"
        elif address.uprn:
            key = f"uprn={address.uprn}"
        else:
            continue
        is_previous = address.type is AddressType.PREVIOUS or (
            address.period is not None and address.period.end is not None)
        target = previous if is_previous else current
        if key not in target:
            target.append(key)
    return current, previous


def _identifier_keys(person: Person) -> Iterable[str]:
    for ident in person.identifiers:
        if ident.system not in BLOCKING_SYSTEMS or ident.check not in ("passed", "not_applicable"):
            continue  # placeholders, unknown codes and failed checks would join unrelated people
        scope = ident.scope if ident.system in SCOPED_SYSTEMS else ""
        yield f"id={ident.system.value}|{scope}|{ident.value}"


def _swapped(day: int, month: int, year: int) -> str | None:
    if day == month or day > 12:
        return None
    return f"{year:04d}-{day:02d}-{month:02d}"


def person_keys(person: Person, *, mother_record_id: str | None = None, subject: bool = False
                ) -> set[BlockKey]:
    """Every blocking key of a person.

    ``mother_record_id`` is the index record id of the person's mother (stored records only).
    ``subject=True`` adds the lookups a search makes that are not stored: the day/month-swapped
    date of birth (in the ``dob`` and ``given_dob`` passes).
    """
    return blocking_profile(person, mother_record_id=mother_record_id, subject=subject)[0]


def blocking_profile(person: Person, *, mother_record_id: str | None = None, subject: bool = False
                     ) -> tuple[set[BlockKey], str | None]:
    """``person_keys`` and ``household_key`` at once (names and addresses are read once: index loads)."""
    keys: set[BlockKey] = set()
    add = keys.add
    for text in _identifier_keys(person):
        add(BlockKey(BlockPass.IDENTIFIER, text))
    parts = _name_parts(person)
    birth = person.birth_date
    year: int | None = None
    dobs: list[str] = []
    if birth is not None:
        year = birth.value.year
        if birth.precision == "day":
            value = birth.value
            dobs.append(value.isoformat())
            if subject:
                swapped = _swapped(value.day, value.month, value.year)
                if swapped:
                    dobs.append(swapped)
    for dob in dobs:
        add(BlockKey(BlockPass.DOB, f"dob={dob}"))
        for given in parts.given_first:
            add(BlockKey(BlockPass.GIVEN_DOB, f"gd={given}|{dob}"))
    for family in parts.family:
        if year is not None:
            add(BlockKey(BlockPass.FAMILY_YEAR, f"fy={family}|{year}"))
        for given in parts.given_first:
            add(BlockKey(BlockPass.FAMILY_GIVEN, f"fg={family}|{given}"))
    current, previous = _address_keys(person)
    if year is not None:
        for address in (*current, *previous):
            add(BlockKey(BlockPass.POSTCODE_YEAR, f"py={address}|{year}"))
    if mother_record_id:
        add(mother_key(mother_record_id))
    household = f"{current[0]}|{parts.family_current}" if current and parts.family_current else None
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
    return blocking_profile(person)[1]
