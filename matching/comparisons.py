"""Field-by-field comparison of two people into a comparison vector (Fellegi–Sunter levels).

Why levels rather than one similarity number: each level ("given name is a
nickname", "date of birth has day and month swapped", "postcode is in the
same sector") has its own learned probability among true matches (``m``) and
among non-matches (``u``), so the evidence a level gives is measured on each
agency's own data instead of being guessed. The vector is a small, hashable
value so expectation maximisation can count distinct vectors instead of
iterating over millions of pairs.

Per-person work (normalising names, phonetic keys, splitting postcodes,
sorting trusted identifiers) happens once in :func:`features`; the candidate
search index can store or reuse those features, and :func:`compare_features`
only compares them. Every comparison is symmetric: swapping subject and
record gives the same vector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from .names import (
    FORMAL_NAMES,
    are_nicknames_extended,
    are_two_short_forms,
    are_spelling_variants,
    jaro_winkler,
    phonetic_key,
    split_tokens,
    within_one_edit,
)
from ..schemas.codes import Sex
from ..schemas.identifiers import IdentifierSystem
from ..schemas.person import AddressType, NameUse, Person

# --------------------------------------------------------------------------- fields and levels

#: Every comparison field and its levels, strongest agreement first. The last
#: levels listed in :data:`NEUTRAL_LEVELS` carry no evidence (weight 0).
LEVELS: dict[str, tuple[str, ...]] = {
    "given": ("exact", "variant", "nickname", "typo", "jw_high", "phonetic", "jw_mid", "middle", "initial",
              "different", "missing"),
    "family": ("exact", "previous_name", "part_of_double", "jw_high", "phonetic", "different", "missing"),
    "dob": ("exact", "swapped_day_month", "one_digit", "year_off", "year_month", "year", "different", "missing"),
    "postcode": ("full_or_uprn", "previous_address", "sector", "district", "different", "missing"),
    "sex": ("equal", "different", "missing"),
    "nhs_number": ("equal", "different", "missing_or_untrusted"),
    "other_id": ("equal", "different", "different_local", "missing"),
    "unborn_mother": ("mother_and_edd", "mother_weak_and_edd", "born_near_edd", "edd_outside_window",
                      "mother_different", "mother_unknown", "not_unborn"),
}

FIELDS: tuple[str, ...] = tuple(LEVELS)

#: Levels that are no evidence either way (missing data, not applicable): weight 0, not learned.
NEUTRAL_LEVELS: dict[str, frozenset[str]] = {
    "given": frozenset({"missing"}),
    "family": frozenset({"missing"}),
    "dob": frozenset({"missing"}),
    "postcode": frozenset({"missing"}),
    "sex": frozenset({"missing"}),
    "nhs_number": frozenset({"missing_or_untrusted"}),
    "other_id": frozenset({"missing"}),
    "unborn_mother": frozenset({"not_unborn", "mother_unknown"}),
}


@dataclass(frozen=True, slots=True)
class ComparisonVector:
    """One comparison level per field, in :data:`FIELDS` order; frozen and hashable.

    ``vector["given"]`` or ``vector.levels["given"]`` reads a level.
    """

    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(FIELDS):
            raise ValueError(f"a comparison vector needs {len(FIELDS)} levels ({', '.join(FIELDS)}), "
                             f"got {len(self.values)}")
        for field, level in zip(FIELDS, self.values):
            if level not in LEVELS[field]:
                raise ValueError(f"field {field!r}: unknown level {level!r} (one of {', '.join(LEVELS[field])})")

    @classmethod
    def from_levels(cls, levels: dict[str, str]) -> "ComparisonVector":
        """Build from a ``{field: level}`` mapping; a field left out is at its missing / not-applicable level."""
        unknown = set(levels) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown comparison field(s): {', '.join(sorted(unknown))}")
        return cls(tuple(levels.get(f, LEVELS[f][-1]) for f in FIELDS))

    @property
    def levels(self) -> dict[str, str]:
        return dict(zip(FIELDS, self.values))

    def __getitem__(self, field: str) -> str:
        return self.values[_FIELD_INDEX[field]]


_FIELD_INDEX = {f: i for i, f in enumerate(FIELDS)}

# --------------------------------------------------------------------------- per-person features

_PREVIOUS_USES = frozenset({NameUse.PREVIOUS, NameUse.ALIAS, NameUse.MAIDEN})
_BINARY_SEX = frozenset({Sex.MALE, Sex.FEMALE})
_NATIONAL_OTHER = (IdentifierSystem.UPN, IdentifierSystem.PNC_ID)
_LOCAL_OTHER = (IdentifierSystem.LA_CHILD_ID, IdentifierSystem.POLICE_PERSON_ID)


@dataclass(frozen=True, slots=True)
class PersonFeatures:
    """Everything the comparison needs from one person, computed once.

    Why: a search compares one subject with hundreds of candidates and the
    index keeps millions of people; normalising names and keys per pair would
    dominate the time. Immutable so it can be shared and cached.
    """

    first: frozenset[str]  # first given-name token of every name
    given: frozenset[str]  # every given-name token (middle names too)
    given_phonetic: frozenset[str]
    family_current: frozenset[str]
    family_all: frozenset[str]
    family_parts: frozenset[str]
    family_phonetic: frozenset[str]
    registered_first: str | None  # first given name of the official name, for term frequencies
    registered_family: str | None
    dob: date | None
    dob_precision: str | None
    dob_digits: str | None
    unborn: bool
    edd: date | None
    postcode_current: frozenset[str]
    postcode_previous: frozenset[str]
    uprn_current: frozenset[str]
    uprn_previous: frozenset[str]
    sectors: frozenset[str]
    districts: frozenset[str]
    sex: Sex | None
    nhs_trusted: frozenset[str]
    other_national: frozenset[tuple[str, str | None, str]]
    other_local: frozenset[tuple[str, str | None, str]]


def features(person: Person) -> PersonFeatures:
    """Normalised comparison features of a person (pure; cache or store the result freely)."""
    first: set[str] = set()
    given: set[str] = set()
    current: set[str] = set()
    every: set[str] = set()
    parts: set[str] = set()
    registered_first: str | None = None
    registered_family: str | None = None
    official = person.official_name
    for name in person.names:
        given_tokens = [tok for g in name.given for tok in split_tokens(g)]
        family_tokens = split_tokens(name.family) if name.family else []
        if not given_tokens and not family_tokens and name.text:
            text_tokens = split_tokens(name.text)
            if len(text_tokens) >= 2:
                given_tokens, family_tokens = text_tokens[:-1], text_tokens[-1:]
            else:
                family_tokens = text_tokens
        if given_tokens:
            first.add(given_tokens[0])
            given.update(given_tokens)
            if name is official:
                registered_first = given_tokens[0]
        if family_tokens:
            full = "".join(family_tokens)
            every.add(full)
            parts.update(family_tokens)
            if name.use not in _PREVIOUS_USES:
                current.add(full)
            if name is official:
                registered_family = full
    if registered_first is None and first:
        registered_first = min(first)
    if registered_family is None and current:
        registered_family = min(current)

    pc_cur: set[str] = set()
    pc_prev: set[str] = set()
    uprn_cur: set[str] = set()
    uprn_prev: set[str] = set()
    sectors: set[str] = set()
    districts: set[str] = set()
    for address in person.addresses:
        previous = address.type is AddressType.PREVIOUS or (address.period is not None and address.period.end is not None)
        if address.postcode:
            (pc_prev if previous else pc_cur).add(address.postcode)
            if " " in address.postcode:
                outward, inward = address.postcode.split(" ", 1)
                districts.add(outward)
                sectors.add(f"{outward} {inward[:1]}")
        if address.uprn:
            (uprn_prev if previous else uprn_cur).add(address.uprn)

    nhs: set[str] = set()
    national: set[tuple[str, str | None, str]] = set()
    local: set[tuple[str, str | None, str]] = set()
    for identifier in person.identifiers:
        if not identifier.trusted:
            continue
        if identifier.system is IdentifierSystem.NHS_NUMBER:
            nhs.add(identifier.value)
        elif identifier.system in _NATIONAL_OTHER:
            national.add(identifier.key)
        elif identifier.system in _LOCAL_OTHER:
            local.add(identifier.key)

    birth = person.birth_date
    return PersonFeatures(
        first=frozenset(first),
        given=frozenset(given),
        given_phonetic=frozenset(k for k in (phonetic_key(t) for t in first) if k),
        family_current=frozenset(current),
        family_all=frozenset(every),
        family_parts=frozenset(parts),
        family_phonetic=frozenset(k for k in (phonetic_key(t) for t in every) if k),
        registered_first=registered_first,
        registered_family=registered_family,
        dob=birth.value if birth else None,
        dob_precision=birth.precision if birth else None,
        dob_digits=birth.value.strftime("%Y%m%d") if birth else None,
        unborn=person.unborn,
        edd=person.expected_birth_date,
        postcode_current=frozenset(pc_cur),
        postcode_previous=frozenset(pc_prev),
        uprn_current=frozenset(uprn_cur),
        uprn_previous=frozenset(uprn_prev),
        sectors=frozenset(sectors),
        districts=frozenset(districts),
        sex=person.sex,
        nhs_trusted=frozenset(nhs),
        other_national=frozenset(national),
        other_local=frozenset(local),
    )


# --------------------------------------------------------------------------- field comparisons

#: Jaro–Winkler bands for the graded levels (no single cliff: each band has its own weight).
JW_HIGH = 0.92
JW_MID = 0.80
#: Same day and month with the year this far out is a keying slip worth showing a person.
YEAR_OFF_MAX = 2
#: Unborn children: expected dates of birth this close are one pregnancy; a born child this
#: many days before / after the expected date may be the same child.
EDD_WINDOW_DAYS = 28
BORN_BEFORE_EDD_DAYS = 84
BORN_AFTER_EDD_DAYS = 21


@dataclass(frozen=True, slots=True)
class ComparisonDetail:
    """What agreed, for term-frequency adjustment and twin safety (not part of the vector).

    ``given_value`` / ``family_value`` / ``postcode_value`` are the values that
    agreed exactly; ``given_pair`` the two names behind a typo- or nickname-level agreement.
    ``given_expanded``: at nickname level, the subject (first side) gives only the formal
    name of a short form the record holds (Theodore against a record registered as Theo),
    the way a twin the agency never met is named against the co-twin's record.
    """

    given_value: str | None = None
    family_value: str | None = None
    postcode_value: str | None = None
    given_pair: tuple[str, str] | None = None
    given_expanded: bool = False


#: Names repeat across a population (a few thousand distinct given names cover most children), so
#: Jaro–Winkler, the one costly step of a comparison, is memoised per pair of names.
_jaro_winkler_cached = functools.lru_cache(maxsize=1 << 18)(jaro_winkler)


def _best_jw(xs: frozenset[str], ys: frozenset[str]) -> float:
    best = 0.0
    for x in xs:
        for y in ys:
            s = _jaro_winkler_cached(x, y)
            if s > best:
                best = s
    return best


def _agreeing_value(same: frozenset[str], registered_a: str | None, registered_b: str | None) -> str:
    """The agreeing value whose frequency is used: a registered name when one agrees (symmetric choice)."""
    registered = same & {registered_a, registered_b}
    return min(registered) if registered else min(same)


def _given(a: PersonFeatures, b: PersonFeatures) -> tuple[str, str | None, tuple[str, str] | None, bool]:
    """Level, exactly agreeing value, the pair behind a nickname or typo, and ``given_expanded``."""
    if not a.first or not b.first:
        return "missing", None, None, False
    same = a.first & b.first
    if same:
        return "exact", _agreeing_value(same, a.registered_first, b.registered_first), None, False
    pairs = [(x, y) for x in a.first for y in b.first]
    if any(are_spelling_variants(x, y) for x, y in pairs):
        return "variant", None, None, False
    directed = [(x, y) for x, y in pairs if are_nicknames_extended(x, y)]
    nicknames = sorted((min(x, y), max(x, y)) for x, y in directed)
    if nicknames:
        # The pair shown to the scorer: one through a formal name when there is one (Libby/Elizabeth),
        # else two short forms (Elsie/Libby), which never link on an identifier alone.
        formal = [pair for pair in nicknames if not are_two_short_forms(*pair)]
        # Expanded: every nickname pair is the subject's formal name against the record's short form.
        expanded = all(x in FORMAL_NAMES and y not in FORMAL_NAMES for x, y in directed)
        return "nickname", None, (formal or nicknames)[0], expanded
    typos = [(min(x, y), max(x, y)) for x, y in pairs
             if len(x) >= 3 and len(y) >= 3 and x[0] == y[0] and within_one_edit(x, y)]
    if typos:
        return "typo", None, min(typos), False
    similarity = _best_jw(a.first, b.first)
    if similarity >= JW_HIGH:
        return "jw_high", None, None, False
    if a.given_phonetic & b.given_phonetic:
        return "phonetic", None, None, False
    if similarity >= JW_MID:
        return "jw_mid", None, None, False
    if (a.first & b.given) or (b.first & a.given):
        return "middle", None, None, False
    for x, y in pairs:
        if (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y)):
            return "initial", None, None, False
    return "different", None, None, False


def _family(a: PersonFeatures, b: PersonFeatures) -> tuple[str, str | None]:
    if not a.family_all or not b.family_all:
        return "missing", None
    same = a.family_current & b.family_current
    if same:
        return "exact", _agreeing_value(same, a.registered_family, b.registered_family)
    if a.family_all & b.family_all:
        return "previous_name", None
    if a.family_parts & b.family_parts:
        return "part_of_double", None
    if _best_jw(a.family_all, b.family_all) >= JW_HIGH:
        return "jw_high", None
    if a.family_phonetic & b.family_phonetic:
        return "phonetic", None
    return "different", None


def _dob(a: PersonFeatures, b: PersonFeatures) -> str:
    x, y = a.dob, b.dob
    if x is None or y is None:
        return "missing"
    pa, pb = a.dob_precision, b.dob_precision
    if pa == "day" and pb == "day":
        if x == y:
            return "exact"
        if x.year == y.year and x.day == y.month and x.month == y.day:
            return "swapped_day_month"
        assert a.dob_digits is not None and b.dob_digits is not None
        if sum(map(str.__ne__, a.dob_digits, b.dob_digits)) == 1:
            return "one_digit"
        if x.month == y.month and x.day == y.day and abs(x.year - y.year) <= YEAR_OFF_MAX:
            return "year_off"
        if x.year == y.year and x.month == y.month:
            return "year_month"
        return "different"
    # At least one side is partial: agree as far as both are known.
    if x.year != y.year:
        return "different"
    if "year" in (pa, pb):
        return "year"
    return "year_month" if x.month == y.month else "different"


def _postcode(a: PersonFeatures, b: PersonFeatures) -> tuple[str, str | None]:
    all_a = a.postcode_current | a.postcode_previous
    all_b = b.postcode_current | b.postcode_previous
    uprn_a = a.uprn_current | a.uprn_previous
    uprn_b = b.uprn_current | b.uprn_previous
    if not (all_a or uprn_a) or not (all_b or uprn_b):
        return "missing", None
    same = a.postcode_current & b.postcode_current
    if same:
        return "full_or_uprn", min(same)
    if a.uprn_current & b.uprn_current:
        return "full_or_uprn", None
    if (all_a & all_b) or (uprn_a & uprn_b):
        return "previous_address", None
    if a.sectors & b.sectors:
        return "sector", None
    if a.districts & b.districts:
        return "district", None
    return "different", None


def _sex(a: PersonFeatures, b: PersonFeatures) -> str:
    if a.sex not in _BINARY_SEX or b.sex not in _BINARY_SEX:
        return "missing"
    return "equal" if a.sex is b.sex else "different"


def _nhs(a: PersonFeatures, b: PersonFeatures) -> str:
    if not a.nhs_trusted or not b.nhs_trusted:
        return "missing_or_untrusted"
    return "equal" if a.nhs_trusted & b.nhs_trusted else "different"


def _other_id(a: PersonFeatures, b: PersonFeatures) -> str:
    if not (a.other_national or a.other_local) or not (b.other_national or b.other_local):
        return "missing"
    if (a.other_national & b.other_national) or (a.other_local & b.other_local):
        return "equal"
    # A conflict only counts within one namespace (and, for local ids, one issuing organisation).
    if _conflict(a.other_national, b.other_national):
        return "different"
    if _conflict(a.other_local, b.other_local):
        return "different_local"
    return "missing"


def _conflict(xs: frozenset[tuple[str, str | None, str]], ys: frozenset[tuple[str, str | None, str]]) -> bool:
    spaces_x = {(k[0], k[1]) for k in xs}
    spaces_y = {(k[0], k[1]) for k in ys}
    return bool(spaces_x & spaces_y)


def mother_agrees(vector: ComparisonVector) -> str:
    """How strongly two mothers' comparison says they are one woman: ``strong``, ``weak`` or ``different``.

    Strong: a trusted NHS number agrees with no demographic contradiction, or
    given name (exact, variant or typo) and full date of birth agree. Weak:
    some name agreement and a date of birth that is not clearly different.
    """
    given, dob, nhs = vector["given"], vector["dob"], vector["nhs_number"]
    if nhs == "different" or given == "different" or dob == "different":
        return "different"
    if nhs == "equal" and given != "missing":
        return "strong"
    if given in ("exact", "variant", "typo") and dob in ("exact", "swapped_day_month", "one_digit"):
        return "strong"
    if given == "missing" and dob == "missing":
        return "different"
    return "weak"


def _unborn(
    a: PersonFeatures, b: PersonFeatures, mother_a: PersonFeatures | None, mother_b: PersonFeatures | None
) -> str:
    if not a.unborn and not b.unborn:
        return "not_unborn"
    if mother_a is None or mother_b is None:
        return "mother_unknown"
    mother = mother_agrees(compare_features(mother_a, mother_b)[0])
    if mother == "different":
        return "mother_different"
    if a.unborn and b.unborn:
        assert a.edd is not None and b.edd is not None
        if abs((a.edd - b.edd).days) > EDD_WINDOW_DAYS:
            return "edd_outside_window"
        return "mother_and_edd" if mother == "strong" else "mother_weak_and_edd"
    unborn, born = (a, b) if a.unborn else (b, a)
    assert unborn.edd is not None
    if born.dob is None:
        return "mother_unknown"
    offset = (born.dob - unborn.edd).days
    if -BORN_BEFORE_EDD_DAYS <= offset <= BORN_AFTER_EDD_DAYS:
        return "born_near_edd"
    return "edd_outside_window"


#: Unborn levels saying the two records are the same mother's pregnancy due at the same time.
_SAME_PREGNANCY = frozenset({"mother_and_edd", "mother_weak_and_edd"})


def _under_mothers_name(a: PersonFeatures, b: PersonFeatures,
                        mother_a: PersonFeatures | None, mother_b: PersonFeatures | None) -> bool:
    """One side of an unborn pair carries the other side's mother's family name.

    Why: an unborn child's family name is not settled. A referral often gives
    the mother's while the agency registered the father's (or the reverse), so
    that difference is not compared (weight 0) rather than counted against
    the same pregnancy; the mother and the expected date decide.
    """
    def carries(child: PersonFeatures, mother: PersonFeatures | None) -> bool:
        return mother is not None and _family(child, mother)[0] in ("exact", "previous_name", "part_of_double")
    return carries(a, mother_b) or carries(b, mother_a)


def compare_features(
    a: PersonFeatures,
    b: PersonFeatures,
    mother_a: PersonFeatures | None = None,
    mother_b: PersonFeatures | None = None,
) -> tuple[ComparisonVector, ComparisonDetail]:
    """Compare precomputed features: the vector plus what agreed (for term frequencies)."""
    given, given_value, given_pair, given_expanded = _given(a, b)
    family, family_value = _family(a, b)
    postcode, postcode_value = _postcode(a, b)
    unborn = _unborn(a, b, mother_a, mother_b)
    if family == "different" and unborn in _SAME_PREGNANCY and _under_mothers_name(a, b, mother_a, mother_b):
        family, family_value = "missing", None
    vector = ComparisonVector.__new__(ComparisonVector)
    object.__setattr__(
        vector,
        "values",
        (given, family, _dob(a, b), postcode, _sex(a, b), _nhs(a, b), _other_id(a, b), unborn),
    )
    return vector, ComparisonDetail(given_value, family_value, postcode_value, given_pair, given_expanded)


def compare(
    subject: Person,
    record: Person,
    *,
    subject_mother: Person | None = None,
    record_mother: Person | None = None,
) -> ComparisonVector:
    """The comparison vector of a subject and a record (mothers are used for unborn children only)."""
    return compare_features(
        features(subject),
        features(record),
        features(subject_mother) if subject_mother is not None else None,
        features(record_mother) if record_mother is not None else None,
    )[0]
