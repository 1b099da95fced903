"""Person matching across agencies: method, confidence and decision, with reasons.

Why this matters
================
There is no shared key across agencies. A missed match hides risk (the police
incident about this child never reaches the MASH picture); a false match is a
data breach about another family (their records appear in this child's
chronology). So every comparison returns *how* it decided (``method``), *how
sure* it is (``confidence`` 0..1), *what* it decided (``decision``) and *why*
(``reasons``, short stable codes an information-governance officer can audit).
Uncertain results are ``candidate`` and go to a person; nothing here merges
silently.

How a pair of records is scored (for IG staff)
==============================================
1. **Identifiers first.** Only identifiers whose check passed and which are not
   temporary (``Identifier.trusted``) count. Scoped identifiers (LA child id,
   force person id) count only when the issuing organisation is the same too:
   LA child id ``12345`` in one council is a different child from ``12345`` in
   the next. A failed-check or temporary identifier is never used for an exact
   match (``<system>_not_trusted``); the pair is scored on demographics instead.
   The same holds for a placeholder NHS number (ten zeros, ten nines
   and the like: ``nhs_number_placeholder``) and for an NHS number whose
   verification status says it was not traced or the trace failed (02-08:
   ``nhs_number_untraced``): neither is ever an exact-match key nor a veto, so
   two unrelated children sharing ten zeros are compared on their names,
   dates of birth and addresses only.

   * Same trusted NHS number, UPN, LA child id (same LA) or police id (same
     force / PNC id): **match** (confidence 1.0 for NHS number and UPN, 0.99 for
     organisation-issued ids, which have more duplicate records), method is the
     identifier's system.
   * ...unless the demographics contradict it (date of birth clearly different,
     or a different given name: the classic case is a twin's NHS number keyed
     onto the other twin's record). Then it is a **candidate**
     (``identifier_equal_demographics_disagree``).
   * Two *different* trusted NHS numbers, UPNs or PNC ids: strong evidence that
     these are different people, e.g. siblings or twins with the same name,
     date of birth and address. **no_match** even if every name agrees
     (``nhs_number_conflict``), confidence at most 0.05. If another identifier
     is equal at the same time the records contradict each other and a person
     must look (**candidate**, ``identifiers_contradict``).
   * Two different ids from the *same* LA or force (``la_child_id_conflict``):
     case systems do hold duplicate records for one child, so this only caps
     the result at **candidate**.

2. **Demographics** when no identifier decides. Each part gives credit 0..1,
   weighted, and missing data gives half credit (neither for nor against):

   ============  ======  =========================================================
   part          weight  credit
   ============  ======  =========================================================
   given name     0.25   equal 1; nickname (Bill/William) 0.95; middle name used
                         as first 0.9*; typo (Jaro–Winkler >= 0.85) the similarity*;
                         initial only 0.75*; different 0 (**no_match**)
   family name    0.25   equal 1; equal to a previous/alias/maiden name 0.95;
                         one part of a double-barrelled name 0.9; typo (Jaro–
                         Winkler >= 0.85) the similarity; different 0
   date of birth  0.35   equal 1; day/month transposed 0.8; one digit wrong 0.7;
                         partial precision agreeing (year-month 0.75, year 0.6);
                         estimated and within a year 0.5*; missing 0.5*;
                         different 0 (**no_match**)
   postcode       0.15   same current address (postcode or UPRN) 1; same as a
                         previous address 0.8; same outward code (LS1) 0.5;
                         different 0 (people move, so this is not a veto)
   ============  ======  =========================================================

   A male/female conflict subtracts 0.15 and caps the result at candidate.
   Parts marked * cap the result at **candidate**: a given-name typo with the
   same surname, date of birth and address is exactly what a twin looks like,
   so only a person can tell. "Different" parts marked **no_match** cap the
   result below the candidate threshold: twins (same surname, date of birth
   and postcode, different given names) and a father and son with the same
   name at one address (different dates of birth) are never matched.
   Names are compared across *all* names a record holds (official, preferred,
   previous, alias, maiden), so a changed surname matches through the name
   history.

3. **Unborn children** are never matched on name (they rarely have one). An
   unborn child matches another unborn record when the *mothers* match (scored
   by these same rules) and the expected dates of birth are within
   ``edd_window_days`` (default 28). A born child against an unborn record
   (the baby has arrived since the enquiry) with a matching mother and a birth
   date plausibly near the expected date is at most a **candidate**
   (``born_near_edd``). Without the mothers there is no match
   (``unborn_mother_unknown``).

Decision: confidence >= ``match`` threshold (default 0.95) is a match,
>= ``candidate`` (default 0.70) a candidate, otherwise no match. Thresholds are
configuration (``MatchThresholds``). The decision is always consistent with the
confidence: the caps above lower the confidence rather than overriding the
decision, so a reviewer can sort by one number.

Every rule is symmetric: ``match_person(a, b)`` and ``match_person(b, a)``
give the same confidence and decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .names import are_nicknames, jaro_winkler, split_tokens
from ..schemas.codes import MatchMethod, Sex
from ..schemas.identifiers import IdentifierSystem
from ..schemas.person import AddressType, BirthDate, NameUse, Person


class MatchDecision(StrEnum):
    """What a comparison concluded; ``candidate`` means a person must decide."""

    MATCH = "match"
    CANDIDATE = "candidate"
    NO_MATCH = "no_match"


DECISION_RANK: dict[MatchDecision, int] = {
    MatchDecision.NO_MATCH: 0,
    MatchDecision.CANDIDATE: 1,
    MatchDecision.MATCH: 2,
}


class MatchThresholds(BaseModel):
    """Configurable decision thresholds and unborn-child windows.

    The gap between ``candidate`` and ``match`` is the band sent to a person.
    Raising ``match`` sends more to people (fewer false merges); lowering
    ``candidate`` shows more possible matches (fewer missed ones).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: float = Field(default=0.95, gt=0.0, le=1.0)
    candidate: float = Field(default=0.70, gt=0.0, le=1.0)
    edd_window_days: int = Field(default=28, ge=0, le=120, description="Unborn vs unborn: EDDs this close")
    born_before_edd_days: int = Field(default=84, ge=0, le=140, description="Born child vs unborn: earliest birth")
    born_after_edd_days: int = Field(default=21, ge=0, le=60, description="Born child vs unborn: latest birth")

    @model_validator(mode="after")
    def _ordered(self) -> "MatchThresholds":
        if self.match - self.candidate < 0.02:
            raise ValueError("match threshold must be at least 0.02 above the candidate threshold")
        if self.candidate < 0.02:
            raise ValueError("candidate threshold must be at least 0.02")
        return self

    def decide(self, confidence: float) -> MatchDecision:
        if confidence >= self.match:
            return MatchDecision.MATCH
        if confidence >= self.candidate:
            return MatchDecision.CANDIDATE
        return MatchDecision.NO_MATCH

    @property
    def candidate_cap(self) -> float:
        """Highest confidence that is still a candidate."""
        return round(self.match - 0.01, 4)

    @property
    def no_match_cap(self) -> float:
        """Highest confidence that is still no match."""
        return round(self.candidate - 0.01, 4)


DEFAULT_THRESHOLDS = MatchThresholds()


class MatchResult(BaseModel):
    """The hub's verdict on one pair of person records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: MatchMethod
    confidence: float = Field(ge=0.0, le=1.0)
    decision: MatchDecision
    reasons: list[str] = Field(default_factory=list, description="Short codes, e.g. nhs_number_equal")
    components: dict[str, float] = Field(
        default_factory=dict, description="Demographic credits per part (given, family, dob, postcode)"
    )

    @property
    def is_match(self) -> bool:
        return self.decision is MatchDecision.MATCH

    @property
    def is_candidate(self) -> bool:
        return self.decision is MatchDecision.CANDIDATE


# --------------------------------------------------------------------------- identifiers


@dataclass(frozen=True)
class _IdRule:
    system: IdentifierSystem
    method: MatchMethod
    confidence: float
    conflict_is_veto: bool  # national ids: two different values = two different people


_ID_RULES: tuple[_IdRule, ...] = (
    _IdRule(IdentifierSystem.NHS_NUMBER, MatchMethod.NHS_NUMBER, 1.0, True),
    _IdRule(IdentifierSystem.UPN, MatchMethod.UPN, 1.0, True),
    _IdRule(IdentifierSystem.LA_CHILD_ID, MatchMethod.LA_CHILD_ID, 0.99, False),
    _IdRule(IdentifierSystem.PNC_ID, MatchMethod.POLICE_ID, 0.99, True),
    _IdRule(IdentifierSystem.POLICE_PERSON_ID, MatchMethod.POLICE_ID, 0.99, False),
)


@dataclass
class _IdEvidence:
    equal: list[_IdRule] = field(default_factory=list)
    veto_conflicts: list[_IdRule] = field(default_factory=list)
    soft_conflicts: list[_IdRule] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _identifier_evidence(a: Person, b: Person) -> _IdEvidence:
    evidence = _IdEvidence()
    for rule in _ID_RULES:
        name = rule.system.value
        ids_a = [i for i in a.identifiers if i.system is rule.system]
        ids_b = [i for i in b.identifiers if i.system is rule.system]
        if any(not i.trusted for i in ids_a) or any(not i.trusted for i in ids_b):
            if ids_a and ids_b:
                evidence.reasons.append(f"{name}_not_trusted")
                untrusted = [i for i in (*ids_a, *ids_b) if not i.trusted]
                if any(i.check == "placeholder" for i in untrusted):
                    evidence.reasons.append(f"{name}_placeholder")
                if any(i.untraced for i in untrusted):
                    evidence.reasons.append(f"{name}_untraced")
        keys_a = {i.key for i in ids_a if i.trusted}
        keys_b = {i.key for i in ids_b if i.trusted}
        if not keys_a or not keys_b:
            continue
        if keys_a & keys_b:
            evidence.equal.append(rule)
            evidence.reasons.append(f"{name}_equal")
            continue
        scopes_a = {k[1] for k in keys_a}
        scopes_b = {k[1] for k in keys_b}
        if scopes_a & scopes_b:
            evidence.reasons.append(f"{name}_conflict")
            (evidence.veto_conflicts if rule.conflict_is_veto else evidence.soft_conflicts).append(rule)
        else:
            evidence.reasons.append(f"{name}_other_scope")
    return evidence


# --------------------------------------------------------------------------- demographics

_W_GIVEN, _W_FAMILY, _W_DOB, _W_POSTCODE = 0.25, 0.25, 0.35, 0.15
_SEX_PENALTY = 0.15
_FUZZY = 0.85
_PREVIOUS_USES = frozenset({NameUse.PREVIOUS, NameUse.ALIAS, NameUse.MAIDEN})


class _Cap(IntEnum):
    NONE = 0
    CANDIDATE = 1
    NO_MATCH = 2


@dataclass(frozen=True)
class _Part:
    credit: float
    reason: str
    cap: _Cap = _Cap.NONE


@dataclass(frozen=True)
class _Names:
    first: frozenset[str]
    given: frozenset[str]
    family_current: frozenset[str]
    family_all: frozenset[str]
    family_parts: frozenset[str]


def _names(person: Person) -> _Names:
    first: set[str] = set()
    given: set[str] = set()
    current: set[str] = set()
    every: set[str] = set()
    parts: set[str] = set()
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
        if family_tokens:
            full = "".join(family_tokens)
            every.add(full)
            parts.update(family_tokens)
            if name.use not in _PREVIOUS_USES:
                current.add(full)
    return _Names(frozenset(first), frozenset(given), frozenset(current), frozenset(every), frozenset(parts))


def _best_jw(xs: frozenset[str], ys: frozenset[str]) -> float:
    return max((jaro_winkler(x, y) for x in xs for y in ys), default=0.0)


def _compare_given(a: _Names, b: _Names) -> _Part:
    if not a.first or not b.first:
        return _Part(0.5, "given_name_missing", _Cap.CANDIDATE)
    if a.first & b.first:
        return _Part(1.0, "given_name_equal")
    if any(are_nicknames(x, y) for x in a.first for y in b.first):
        return _Part(0.95, "given_name_nickname")
    if (a.first & b.given) or (b.first & a.given):
        return _Part(0.9, "given_name_middle", _Cap.CANDIDATE)
    similarity = _best_jw(a.first, b.first)
    if similarity >= _FUZZY:
        return _Part(round(similarity, 4), "given_name_fuzzy", _Cap.CANDIDATE)
    if any(
        (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y)) for x in a.first for y in b.first
    ):
        return _Part(0.75, "given_name_initial", _Cap.CANDIDATE)
    return _Part(0.0, "given_name_differs", _Cap.NO_MATCH)


def _compare_family(a: _Names, b: _Names) -> _Part:
    if not a.family_all or not b.family_all:
        return _Part(0.5, "family_name_missing")
    if a.family_current & b.family_current:
        return _Part(1.0, "family_name_equal")
    if a.family_all & b.family_all:
        return _Part(0.95, "family_name_previous")
    if a.family_parts & b.family_parts:
        return _Part(0.9, "family_name_part")
    similarity = _best_jw(a.family_all, b.family_all)
    if similarity >= _FUZZY:
        return _Part(round(similarity, 4), "family_name_fuzzy")
    return _Part(0.0, "family_name_differs")


_PRECISION_RANK = {"year": 0, "month": 1, "day": 2}


def _compare_dob(a: BirthDate | None, b: BirthDate | None) -> _Part:
    if a is None or b is None:
        return _Part(0.5, "dob_missing", _Cap.CANDIDATE)
    precision = min(a.precision, b.precision, key=_PRECISION_RANK.__getitem__)
    x, y = a.value, b.value
    if precision == "year" and x.year == y.year:
        return _Part(0.6, "dob_partial_year")
    if precision == "month" and (x.year, x.month) == (y.year, y.month):
        return _Part(0.75, "dob_partial_month")
    if precision == "day":
        if x == y:
            return _Part(1.0, "dob_equal")
        if x.year == y.year and x.day == y.month and x.month == y.day:
            return _Part(0.8, "dob_transposed")
        if sum(p != q for p, q in zip(x.strftime("%Y%m%d"), y.strftime("%Y%m%d"))) == 1:
            return _Part(0.7, "dob_one_digit")
    if (a.estimated or b.estimated) and abs((x - y).days) <= 366:
        return _Part(0.5, "dob_estimated_close", _Cap.CANDIDATE)
    return _Part(0.0, "dob_differs", _Cap.NO_MATCH)


def _addresses(person: Person) -> tuple[set[str], set[str]]:
    """(current, previous) address keys: postcodes as 'pc:..', UPRNs as 'uprn:..'."""
    current: set[str] = set()
    previous: set[str] = set()
    for address in person.addresses:
        is_previous = address.type is AddressType.PREVIOUS or (
            address.period is not None and address.period.end is not None
        )
        keys = set()
        if address.postcode:
            keys.add(f"pc:{address.postcode}")
        if address.uprn:
            keys.add(f"uprn:{address.uprn}")
        (previous if is_previous else current).update(keys)
    return current, previous


def _outward(keys: set[str]) -> set[str]:
    return {k[3:].split(" ", 1)[0] for k in keys if k.startswith("pc:")}


def _compare_address(a: Person, b: Person) -> _Part:
    cur_a, prev_a = _addresses(a)
    cur_b, prev_b = _addresses(b)
    all_a, all_b = cur_a | prev_a, cur_b | prev_b
    if not all_a or not all_b:
        return _Part(0.5, "postcode_missing")
    if cur_a & cur_b:
        same = cur_a & cur_b
        return _Part(1.0, "postcode_equal" if any(k.startswith("pc:") for k in same) else "uprn_equal")
    if all_a & all_b:
        return _Part(0.8, "postcode_previous_address")
    if _outward(all_a) & _outward(all_b):
        return _Part(0.5, "postcode_outward_equal")
    return _Part(0.0, "postcode_differs")


_BINARY_SEX = frozenset({Sex.MALE, Sex.FEMALE})


@dataclass(frozen=True)
class _Demographic:
    score: float
    cap: _Cap
    reasons: list[str]
    components: dict[str, float]

    @property
    def disagrees(self) -> bool:
        """Contradicts an identifier match: different date of birth or given name."""
        return "dob_differs" in self.reasons or "given_name_differs" in self.reasons


def _demographic(a: Person, b: Person) -> _Demographic:
    names_a, names_b = _names(a), _names(b)
    parts = {
        "given": _compare_given(names_a, names_b),
        "family": _compare_family(names_a, names_b),
        "dob": _compare_dob(a.birth_date, b.birth_date),
        "postcode": _compare_address(a, b),
    }
    score = (
        _W_GIVEN * parts["given"].credit
        + _W_FAMILY * parts["family"].credit
        + _W_DOB * parts["dob"].credit
        + _W_POSTCODE * parts["postcode"].credit
    )
    reasons = [p.reason for p in parts.values()]
    cap = max((p.cap for p in parts.values()), default=_Cap.NONE)
    if a.sex in _BINARY_SEX and b.sex in _BINARY_SEX and a.sex is not b.sex:
        score -= _SEX_PENALTY
        reasons.append("sex_conflict")
        cap = max(cap, _Cap.CANDIDATE)
    if all(p.reason.endswith("_missing") for p in parts.values()):
        reasons.append("insufficient_data")
        cap = _Cap.NO_MATCH
    score = min(max(score, 0.0), 1.0)
    return _Demographic(round(score, 4), cap, reasons, {k: p.credit for k, p in parts.items()})


def _apply_cap(score: float, cap: _Cap, thresholds: MatchThresholds) -> float:
    if cap is _Cap.NO_MATCH:
        return min(score, thresholds.no_match_cap)
    if cap is _Cap.CANDIDATE:
        return min(score, thresholds.candidate_cap)
    return score


def _result(
    method: MatchMethod,
    confidence: float,
    reasons: list[str],
    thresholds: MatchThresholds,
    components: dict[str, float] | None = None,
) -> MatchResult:
    confidence = round(min(max(confidence, 0.0), 1.0), 4)
    return MatchResult(
        method=method,
        confidence=confidence,
        decision=thresholds.decide(confidence),
        reasons=reasons,
        components=components or {},
    )


# --------------------------------------------------------------------------- unborn


def _unborn(
    a: Person,
    b: Person,
    mother_a: Person | None,
    mother_b: Person | None,
    thresholds: MatchThresholds,
    reasons: list[str],
) -> MatchResult:
    """Unborn children: mother plus expected date of birth, never the name."""
    if mother_a is None or mother_b is None:
        return _result(MatchMethod.DEMOGRAPHIC, 0.0, [*reasons, "unborn_mother_unknown"], thresholds)
    mother = match_person(mother_a, mother_b, thresholds=thresholds)
    if mother.decision is MatchDecision.NO_MATCH:
        return _result(
            MatchMethod.DEMOGRAPHIC, min(mother.confidence, 0.05), [*reasons, "unborn_mother_differs"], thresholds
        )
    mother_reason = "unborn_mother_match" if mother.is_match else "unborn_mother_candidate"
    reasons = [*reasons, mother_reason]
    if a.unborn and b.unborn:
        assert a.expected_birth_date is not None and b.expected_birth_date is not None
        gap = abs((a.expected_birth_date - b.expected_birth_date).days)
        if gap > thresholds.edd_window_days:
            # A different pregnancy of the same mother: a sibling, never this child.
            return _result(MatchMethod.DEMOGRAPHIC, 0.05, [*reasons, "edd_outside_window"], thresholds)
        return _result(MatchMethod.DEMOGRAPHIC, mother.confidence, [*reasons, "edd_within_window"], thresholds)
    unborn, born = (a, b) if a.unborn else (b, a)
    assert unborn.expected_birth_date is not None
    if born.birth_date is None:
        return _result(MatchMethod.DEMOGRAPHIC, 0.0, [*reasons, "dob_missing"], thresholds)
    offset = (born.birth_date.value - unborn.expected_birth_date).days
    if -thresholds.born_before_edd_days <= offset <= thresholds.born_after_edd_days:
        confidence = min(mother.confidence, thresholds.candidate_cap)
        return _result(MatchMethod.DEMOGRAPHIC, confidence, [*reasons, "born_near_edd"], thresholds)
    return _result(MatchMethod.DEMOGRAPHIC, 0.05, [*reasons, "born_far_from_edd"], thresholds)


# --------------------------------------------------------------------------- entry point


def match_person(
    subject: Person,
    record: Person,
    *,
    subject_mother: Person | None = None,
    record_mother: Person | None = None,
    thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
) -> MatchResult:
    """Compare a referral/enquiry subject with an agency's record of a person.

    ``subject_mother`` / ``record_mother`` are the people each side's
    ``mother_person_id`` points at; they are only used for unborn children,
    whose identity is their mother plus an expected date of birth.
    """
    ids = _identifier_evidence(subject, record)
    reasons = list(ids.reasons)
    is_unborn = subject.unborn or record.unborn

    if ids.veto_conflicts:
        rule = ids.veto_conflicts[0]
        if ids.equal:
            equal = ids.equal[0]
            confidence = max(thresholds.candidate, thresholds.candidate_cap - 0.05)
            return _result(equal.method, confidence, [*reasons, "identifiers_contradict"], thresholds)
        demo_score = 0.0 if is_unborn else _demographic(subject, record).score
        return _result(rule.method, min(demo_score, 0.05), reasons, thresholds)

    if ids.equal:
        rule = ids.equal[0]
        confidence = rule.confidence
        if ids.soft_conflicts:
            reasons.append("identifiers_contradict")
            confidence = min(confidence, thresholds.candidate_cap)
        if not is_unborn:
            demo = _demographic(subject, record)
            if demo.disagrees:
                reasons.extend([*demo.reasons, "identifier_equal_demographics_disagree"])
                confidence = min(confidence, thresholds.candidate_cap)
                return _result(rule.method, confidence, reasons, thresholds, demo.components)
        return _result(rule.method, confidence, reasons, thresholds)

    if is_unborn:
        return _unborn(subject, record, subject_mother, record_mother, thresholds, reasons)

    demo = _demographic(subject, record)
    cap = demo.cap
    if ids.soft_conflicts:
        cap = max(cap, _Cap.CANDIDATE)
    confidence = _apply_cap(demo.score, cap, thresholds)
    return _result(MatchMethod.DEMOGRAPHIC, confidence, [*reasons, *demo.reasons], thresholds, demo.components)


def min_decision(a: MatchDecision, b: MatchDecision) -> MatchDecision:
    """The more cautious of two decisions."""
    return a if DECISION_RANK[a] <= DECISION_RANK[b] else b

