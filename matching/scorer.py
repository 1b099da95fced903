"""Scoring a pair of people: calibrated probability, per-field contributions, vetoes, decision.

The evidence (see ``docs/matching.md``):

1. :func:`~mashlink.matching.comparisons.compare_features` puts each field at
   a comparison level.
2. Each level adds its learned weight ``log2(m / u)``; an exact agreement on
   given name, family name or postcode uses the value's own frequency instead
   of the average ``u`` (term-frequency adjustment), so "Oliver Smith" counts
   for less than a rare name. The prior's log-odds plus every contribution is
   the match weight; the probability is ``2**w / (1 + 2**w)``, calibrated.
3. Hard rules are **vetoes**: they never change the probability (it stays
   what the evidence says, so a reviewer can sort by it) but cap the
   decision. A different given name or clearly different date of birth
   caps at no match; a nickname, an uncertain spelling, a missing or partial
   date of birth, a sex conflict, or any identifier conflict caps at
   candidate; the same trusted identifier with a different name or date of
   birth is a candidate for a person, never a match.
4. The policy's thresholds turn the probability into match / candidate /
   no match, and the cap lowers it. One rule from the issue: when given name,
   family name and full date of birth agree and no trusted identifier
   conflicts, a different address is not held against an automatic link
   (``postcode_not_held_against``: the decision is taken as if the address
   were missing; families at risk move often). :mod:`mashlink.matching.decide` then
   looks across all candidates (near-ties, households).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from ..config.matching import MatchPolicy
from .comparisons import (
    FIELDS,
    ComparisonDetail,
    ComparisonVector,
    PersonFeatures,
    compare_features,
    features,
)
from .model import MatchModel
from .names import are_two_short_forms
from .policy import cap_decision, decision_for
from .rules import MatchDecision
from .term_frequency import TermFrequencies
from ..schemas.person import Person

#: Term-frequency adjustments are bounded: a tiny index must not make one rare
#: name outweigh a date of birth, nor a very common one erase a name.
TF_MAX_UP = 5.0
TF_MAX_DOWN = -8.0
_WEIGHT_LIMIT = 60.0

#: Stable veto codes and the decision each caps at.
VETO_CAPS: dict[str, MatchDecision] = {
    "given_name_different": MatchDecision.NO_MATCH,
    "date_of_birth_different": MatchDecision.NO_MATCH,
    "identifier_only": MatchDecision.NO_MATCH,
    "given_name_short_forms_differ": MatchDecision.NO_MATCH,
    "given_name_expanded": MatchDecision.NO_MATCH,
    "family_name_and_address_differ": MatchDecision.NO_MATCH,
    "unborn_mother_unknown": MatchDecision.NO_MATCH,
    "unborn_mother_different": MatchDecision.NO_MATCH,
    "unborn_edd_outside_window": MatchDecision.NO_MATCH,
    "identifier_equal_demographics_disagree": MatchDecision.CANDIDATE,
    "identifiers_contradict": MatchDecision.CANDIDATE,
    "nhs_number_conflict": MatchDecision.CANDIDATE,
    "identifier_conflict": MatchDecision.CANDIDATE,
    "local_identifier_conflict": MatchDecision.CANDIDATE,
    "given_name_missing": MatchDecision.CANDIDATE,
    "given_name_nickname_only": MatchDecision.CANDIDATE,
    "given_name_two_short_forms": MatchDecision.CANDIDATE,
    "given_name_not_confirmed": MatchDecision.CANDIDATE,
    "given_name_two_spellings": MatchDecision.CANDIDATE,
    "date_of_birth_not_confirmed": MatchDecision.CANDIDATE,
    "sex_conflict": MatchDecision.CANDIDATE,
    "unborn_born_near_edd": MatchDecision.CANDIDATE,
    "unborn_mother_not_confirmed": MatchDecision.CANDIDATE,
}

_POSTCODE = FIELDS.index("postcode")
_NAME_AGREES = frozenset({"exact", "variant"})
_FAMILY_AGREES = frozenset({"exact", "previous_name"})


def _moved_family(values: tuple[str, ...]) -> bool:
    """Given name, family name and full date of birth agree and no trusted identifier conflicts."""
    given, family, dob, _postcode, _sex, nhs, other, _unborn = values
    return (given in _NAME_AGREES and family in _FAMILY_AGREES and dob == "exact"
            and nhs != "different" and other not in ("different", "different_local"))


def _weak_pair(values: tuple[str, ...]) -> bool:
    """Family name different, address not agreeing, no trusted identifier equal (a born child)."""
    _given, family, _dob, postcode, _sex, nhs, other, unborn = values
    return (family == "different" and postcode in ("different", "missing") and nhs != "equal"
            and other != "equal" and unborn == "not_unborn")


_TF_LEVELS = frozenset({"exact", "full_or_uprn"})
_UNCERTAIN_GIVEN = frozenset({"jw_high", "phonetic", "jw_mid", "middle", "initial"})
_UNCONFIRMED_DOB = frozenset({"missing", "year", "year_month"})
#: A pair whose family name differs and whose address does not agree (different or missing), with no
#: trusted identifier in common, rests on the given name and date of birth alone, which strangers share
#: at population scale (a 200,000-person index: most non-members shown were such namesakes). It is
#: shown only at this probability or above (``family_name_and_address_differ``): an out-of-date
#: married surname with the same name and date of birth still reaches review.
WEAK_PAIR_REVIEW = 0.9
#: Vetoes that hide a record because its registered name is another form of the subject's: how a
#: twin the agency never met looks against the co-twin. The record still blocks an automatic link
#: to a member of its household (``decide``): the referrer may have expanded the twin's short name.
TWIN_NAME_FORM_VETOES = frozenset({"given_name_short_forms_differ", "given_name_expanded"})


class FieldContribution(BaseModel):
    """One field's part of the match weight, for the review screen.

    ``weight`` is in log2 units and includes ``tf_adjustment``; the row with
    field ``prior`` is the prior log-odds, so the rows add up to the match weight.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    level: str
    weight: float
    tf_adjustment: float = 0.0


class ScoredPair(BaseModel):
    """The scorer's verdict on one pair."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability that the pair is one person")
    match_weight: float = Field(description="log2 odds: prior plus every field's contribution")
    decision: MatchDecision
    contributions: list[FieldContribution]
    vetoes: list[str] = Field(default_factory=list, description="Stable codes of the rules that capped the decision")
    reasons: list[str] = Field(default_factory=list, description="Field levels then vetoes, as short codes")
    cap: MatchDecision | None = Field(default=None, description="The strictest cap the vetoes set")

    @property
    def levels(self) -> dict[str, str]:
        return {c.field: c.level for c in self.contributions if c.field != "prior"}

    def contribution(self, field: str) -> FieldContribution:
        for c in self.contributions:
            if c.field == field:
                return c
        raise KeyError(field)


def _build(cls: type[ScoredPair], values: dict[str, object]) -> ScoredPair:
    """A ScoredPair from values the scorer produced itself, without re-validating them.

    Why: per pair, validation (or even ``model_construct``) cost more than the
    comparison. The values come from this module and every field is given, so
    this sets exactly what ``model_construct`` would; ``tests/matching``
    checks the result equals a validated model and survives a JSON round trip.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def probability_from_weight(weight: float) -> float:
    """``2**w / (1 + 2**w)``, without overflow."""
    w = min(max(weight, -_WEIGHT_LIMIT), _WEIGHT_LIMIT)
    return 1.0 / (1.0 + 2.0 ** (-w))


def vetoes_for(
    vector: ComparisonVector,
    detail: ComparisonDetail | None = None,
    term_frequencies: TermFrequencies | None = None,
    policy: MatchPolicy | None = None,
) -> list[str]:
    """The veto codes a comparison triggers (see :data:`VETO_CAPS`), in a stable order."""
    given, family, dob, postcode, sex, nhs, other, unborn = vector.values
    out: list[str] = []
    identifier_equal = nhs == "equal" or other == "equal"
    if (nhs == "equal" and other in ("different", "different_local")) or (nhs == "different" and other == "equal"):
        out.append("identifiers_contradict")
    if nhs == "different":
        out.append("nhs_number_conflict")
    if other == "different":
        out.append("identifier_conflict")
    elif other == "different_local":
        out.append("local_identifier_conflict")
    if unborn != "not_unborn":
        code = {
            "mother_unknown": "unborn_mother_unknown",
            "mother_different": "unborn_mother_different",
            "edd_outside_window": "unborn_edd_outside_window",
            "born_near_edd": "unborn_born_near_edd",
            "mother_weak_and_edd": "unborn_mother_not_confirmed",
        }.get(unborn)
        if code:
            out.append(code)
        return out
    disagree = False
    if given == "different":
        if identifier_equal:
            disagree = True
        else:
            out.append("given_name_different")
    elif given == "missing":
        out.append("given_name_missing")
    elif given == "nickname" and identifier_equal and detail is not None and detail.given_pair is not None \
            and are_two_short_forms(*detail.given_pair):
        # Elsie and Libby are both Elizabeth: twins' names. An NHS number keyed from the other twin
        # must not make that a link (see names.are_two_short_forms).
        out.append("given_name_two_short_forms")
    elif not identifier_equal:
        if given == "nickname" and detail is not None and detail.given_pair is not None \
                and are_two_short_forms(*detail.given_pair):
            # Elsie against Libby: twins are registered that way; one child is rarely both.
            out.append("given_name_short_forms_differ")
        elif given == "nickname" and detail is not None and detail.given_expanded:
            # Theodore against a record registered as Theo: a referrer shortens a name, seldom
            # lengthens one; this is how the co-twin (or a sibling) the agency never met looks.
            out.append("given_name_expanded")
        elif given == "nickname":
            out.append("given_name_nickname_only")
        elif given in _UNCERTAIN_GIVEN:
            out.append("given_name_not_confirmed")
        elif given == "typo" and _established_pair(detail, term_frequencies, policy):
            out.append("given_name_two_spellings")
    if dob == "different":
        if identifier_equal:
            disagree = True
        else:
            out.append("date_of_birth_different")
    elif dob in _UNCONFIRMED_DOB:
        out.append("date_of_birth_not_confirmed")
    if disagree:
        out.append("identifier_equal_demographics_disagree")
        if given == "different" and dob == "different":
            # Only the number agrees: a sibling's NHS number keyed on the referral. Shown to nobody;
            # decide() still uses such a record to explain the best record's number conflict.
            out.append("identifier_only")

    if sex == "different":
        out.append("sex_conflict")
    return out


def _established_pair(detail: ComparisonDetail | None, tf: TermFrequencies | None, policy: MatchPolicy | None) -> bool:
    """Both spellings are names many people hold (Ana/Ann): two names, not a slip of the keyboard."""
    if detail is None or detail.given_pair is None or tf is None:
        return False
    minimum = (policy or MatchPolicy.default()).established_name_min_count
    a, b = detail.given_pair
    return tf.count("given", a) >= minimum and tf.count("given", b) >= minimum


def strictest(caps: list[str]) -> MatchDecision | None:
    """The strictest decision cap among veto codes (None when there are none)."""
    if not caps:
        return None
    return MatchDecision.NO_MATCH if any(VETO_CAPS[c] is MatchDecision.NO_MATCH for c in caps) \
        else MatchDecision.CANDIDATE


class Scorer:
    """Scores pairs with one agency's model, term frequencies and policy.

    Per-person features are cached (keyed by object identity while the
    object is held by the cache), so scoring one subject against hundreds of
    candidates normalises the subject once. The index can also pass stored
    :class:`~mashlink.matching.comparisons.PersonFeatures` to
    :meth:`score_features` directly.
    """

    CACHE_SIZE = 8192
    TF_CACHE_SIZE = 200_000

    def __init__(self, model: MatchModel, term_frequencies: TermFrequencies | None = None,
                 policy: MatchPolicy | None = None) -> None:
        self.model = model
        self.term_frequencies = term_frequencies
        self.policy = policy or MatchPolicy.default()
        self._weights = model.weights()
        self._table = tuple(self._weights[f] for f in FIELDS)
        self._prior_weight = model.prior_weight
        self._m_exact = {
            "given": model.fields["given"]["exact"].m,
            "family": model.fields["family"]["exact"].m,
            "postcode": model.fields["postcode"]["full_or_uprn"].m,
        }
        self._u_exact = {
            "given": model.fields["given"]["exact"].u,
            "family": model.fields["family"]["exact"].u,
            "postcode": model.fields["postcode"]["full_or_uprn"].u,
        }
        self._cache: dict[int, tuple[Person, PersonFeatures]] = {}
        # Contributions without a term-frequency adjustment are the same for every pair: built once
        # (they are frozen, so sharing them is safe) because building models dominated the time per pair.
        self._prior_row = FieldContribution(field="prior", level="prior", weight=round(self._prior_weight, 4))
        self._rows = tuple(
            {level: FieldContribution(field=f, level=level, weight=round(w, 4)) for level, w in self._weights[f].items()}
            for f in FIELDS
        )
        self._reason_codes = tuple({level: f"{f}_{level}" for level in self._weights[f]} for f in FIELDS)
        self._tf_rows: dict[tuple[int, str, str], tuple[float, FieldContribution]] = {}

    # ------------------------------------------------------------------ features

    def features(self, person: Person) -> PersonFeatures:
        """Cached :func:`~mashlink.matching.comparisons.features` (treat people as immutable once scored)."""
        key = id(person)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is person:
            return hit[1]
        computed = features(person)
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (person, computed)
        return computed

    # ------------------------------------------------------------------ scoring

    def tf_adjustment(self, field: str, value: str | None) -> float:
        """log2(u_exact / frequency of value), bounded; 0 without term frequencies."""
        if value is None or self.term_frequencies is None:
            return 0.0
        frequency = self.term_frequencies.frequency(field, value)
        if frequency is None:
            return 0.0
        adjustment = math.log2(self._u_exact[field] / frequency)
        return min(max(adjustment, TF_MAX_DOWN), TF_MAX_UP)

    def score(self, subject: Person, record: Person, *, subject_mother: Person | None = None,
              record_mother: Person | None = None) -> ScoredPair:
        return self.score_features(
            self.features(subject),
            self.features(record),
            self.features(subject_mother) if subject_mother is not None else None,
            self.features(record_mother) if record_mother is not None else None,
        )

    def score_features(self, subject: PersonFeatures, record: PersonFeatures,
                       subject_mother: PersonFeatures | None = None,
                       record_mother: PersonFeatures | None = None) -> ScoredPair:
        vector, detail = compare_features(subject, record, subject_mother, record_mother)
        return self.score_vector(vector, detail)

    def score_vector(self, vector: ComparisonVector, detail: ComparisonDetail | None = None) -> ScoredPair:
        """Score an already computed comparison (``detail`` enables term frequencies and twin checks)."""
        total = self._prior_weight
        contributions = [self._prior_row]
        # The values that agreed exactly, by field position (given, family, -, postcode).
        tf_values: tuple[str | None, ...] | None = (
            (detail.given_value, detail.family_value, None, detail.postcode_value)
            if detail is not None and self.term_frequencies is not None else None
        )
        values = vector.values
        for i, field in enumerate(FIELDS):
            level = values[i]
            value = tf_values[i] if tf_values is not None and i < 4 and level in _TF_LEVELS else None
            if value is not None:
                weight, row = self._tf_row(i, field, level, value)
            else:
                weight, row = self._table[i][level], self._rows[i][level]
            contributions.append(row)
            total += weight
        vetoes = vetoes_for(vector, detail, self.term_frequencies, self.policy)
        cap = strictest(vetoes)
        # The reported weight is rounded to 4 places; the probability and decision come from that same
        # weight, so a contribution added and taken off again (the household's) gives back exactly this pair.
        total = round(total, 4)
        probability = probability_from_weight(total)
        decision = decision_for(self.policy, probability)
        reasons = [self._reason_codes[i][level] for i, level in enumerate(values)]
        if decision is not MatchDecision.MATCH and _moved_family(values):
            # Families move: with given name, family name and full date of birth agreeing (and no trusted
            # identifier conflict) a different address is not held against the link; the reported
            # probability stays the model's.
            postcode_weight = self._table[_POSTCODE][values[_POSTCODE]]
            if postcode_weight < 0 and decision_for(self.policy, probability_from_weight(total - postcode_weight)) \
                    is MatchDecision.MATCH:
                decision = MatchDecision.MATCH
                reasons.append("postcode_not_held_against")
        if probability < WEAK_PAIR_REVIEW and _weak_pair(values):
            vetoes = [*vetoes, "family_name_and_address_differ"]
            cap = MatchDecision.NO_MATCH
        decision = cap_decision(decision, cap)
        reasons.extend(vetoes)
        return _build(ScoredPair, {
            "probability": probability,
            "match_weight": total,
            "decision": decision,
            "contributions": contributions,
            "vetoes": vetoes,
            "reasons": reasons,
            "cap": cap,
        })

    def _tf_row(self, i: int, field: str, level: str, value: str) -> tuple[float, FieldContribution]:
        """Weight and contribution row of an exact agreement on ``value`` (memoised: values repeat)."""
        key = (i, level, value)
        hit = self._tf_rows.get(key)
        if hit is None:
            adjustment = self.tf_adjustment(field, value)
            weight = self._table[i][level] + adjustment
            hit = (weight, FieldContribution(field=field, level=level, weight=round(weight, 4),
                                             tf_adjustment=round(adjustment, 4)))
            if len(self._tf_rows) >= self.TF_CACHE_SIZE:
                self._tf_rows.clear()
            self._tf_rows[key] = hit
        return hit
