"""Deciding for a subject across all its scored candidates: near-ties and households.

Why pairwise scores are not enough: a pair can look certain on its own while
another record is almost as good. Twins share a family name, date of birth
and address; a referral that calls Thomas "Tommy" fits Thomas and a twin
registered as Tommy; an agency may hold two records of one child. Linking
the top one automatically would, in the bad case, share one child's records
about another. So the automatic link is only made when the best candidate
stands clear of every other plausible candidate; otherwise the subject goes
to a person with all close candidates shown.

Rules (``policy`` thresholds):

- Candidates vetoed to no match (a clearly different given name or date of
  birth) or below ``review`` take no part: a twin whose registered name
  clearly differs is not a rival.
- The best candidate stays a match only if no other candidate is a near-tie
  (``near_tie``: the split of probability between the two is worse than
  ``1 - near_tie_margin``, or their weights are within
  ``near_tie_weight_margin``) and no other candidate at or above ``review``
  is of its household (``household_member_close``: the same household id,
  or the same family name with the same date of birth or postcode).
- Only the best candidate is linked; another at match level is shown as a
  candidate (``outranked``).
- A sibling's NHS number on the referral: when the best record agrees on
  given name, family name and full date of birth and its only veto is the NHS
  number conflict, and another record holds the referral's number with a
  different given name *and* date of birth, the number is explained
  (``nhs_number_conflict_explained``): the best record may match and the
  number's holder is shown but is no rival. Without such a record the
  conflict stands (a twin the agency never met carries their own number).
- An unexplained NHS number: when no candidate holds the referral's trusted
  number (the identifier blocking pass brings every holder, so none among the
  candidates means none in the index), a record whose different number is
  contradicted *and* whose given name agrees only as a nickname or short
  form (Millie against Amelia) is not shown (``nhs_number_unexplained``):
  the number most likely belongs to a child the agency never met, such as
  the co-twin of the record. Any other record with that conflict stays at
  most a candidate.
- The referral's other people (its other subjects and household, as the
  enquiry lists them; ``others``): a record that another person on the
  referral fits cleanly at match level, while a veto holds the subject's fit
  back and the other's given name agrees at least as well, is that person's
  record (``claimed_by_referral_person``): it is not shown for the subject
  and is no rival (the co-twin or sibling named on the same referral). A
  record another listed person fits at match level, or about as well as the
  subject without a veto, cannot be linked to the subject automatically
  (``referral_person_also_fits``): two people on one referral could be that
  record (a twin referred by the name the co-twin is registered under), and
  a person must choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ..config.matching import MatchPolicy
from .comparisons import LEVELS
from .names import split_tokens
from .rules import DECISION_RANK, MatchDecision
from .household_evidence import weighs_on, with_contribution, without_household
from .scorer import TWIN_NAME_FORM_VETOES, VETO_CAPS, FieldContribution, ScoredPair
from ..schemas.person import Person


class ScoredCandidate(BaseModel):
    """One agency record scored against the subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str = Field(min_length=1)
    person: Person
    pair: ScoredPair
    household_id: str | None = None


class SearchOutcome(BaseModel):
    """What a search concluded for the subject as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: MatchDecision
    results: list[ScoredCandidate] = Field(default_factory=list,
                                           description="Best first; only candidates shown to a person or matched")
    reasons: list[str] = Field(default_factory=list)


def _rank(candidate: ScoredCandidate) -> tuple[int, float, float]:
    pair = candidate.pair
    return (DECISION_RANK[pair.decision], pair.probability, pair.match_weight)


def _family_names(person: Person) -> set[str]:
    return {"".join(split_tokens(n.family)) for n in person.names if n.family}


def _related(a: ScoredCandidate, b: ScoredCandidate) -> bool:
    """Same household, or one family name plus a shared date of birth or address.

    What twins, siblings, a parent and child, and an agency's duplicate
    records look like. The index supplies household ids; without them the
    family name must come with a date of birth or a current postcode, because
    a common family name alone (thousands of Smiths) or a birthday alone
    (every child born that day is blocked together) ties strangers.
    """
    if a.household_id is not None and a.household_id == b.household_id:
        return True
    if not _family_names(a.person) & _family_names(b.person):
        return False
    if a.person.birth_date is not None and b.person.birth_date is not None \
            and a.person.birth_date.value == b.person.birth_date.value:
        return True
    return bool(_postcodes(a.person) & _postcodes(b.person))


def _postcodes(person: Person) -> set[str]:
    return {address.postcode for address in person.addresses if address.postcode}


_FULL_GIVEN = frozenset({"exact", "variant"})
_FULL_FAMILY = frozenset({"exact", "previous_name"})


def _full_demographics(candidate: ScoredCandidate) -> bool:
    levels = candidate.pair.levels
    return (levels.get("given") in _FULL_GIVEN and levels.get("family") in _FULL_FAMILY
            and levels.get("dob") == "exact")


def _near_tie(top: ScoredPair, other: ScoredPair, policy: MatchPolicy) -> bool:
    """Two candidates close enough that a person must choose.

    Probability is compared as the split between the two: if the subject is
    one of them, the top one is it with chance ``1 / (1 + 2**(w_other - w_top))``.
    A near-tie is a split worse than ``1 - near_tie_margin`` (about 4.25 bits
    apart at the default 0.05), or weights within ``near_tie_weight_margin``.
    Comparing raw probabilities instead would call every pair of strong
    candidates a tie (0.9999 and 0.998 differ by 0.002) however far apart the
    evidence puts them.
    """
    gap = top.match_weight - other.match_weight
    if gap <= policy.near_tie_weight_margin:
        return True
    share = 1.0 / (1.0 + 2.0 ** (-min(gap, 60.0)))
    return share < 1.0 - policy.near_tie_margin


def _wrong_number_holder(candidate: ScoredCandidate) -> bool:
    """A record found only by the subject's NHS number: given name and date of birth both clearly differ.

    The classic case is a sibling's NHS number keyed on the referral.
    """
    levels = candidate.pair.levels
    return (levels.get("nhs_number") == "equal" and levels.get("given") == "different"
            and levels.get("dob") == "different")


def _conflict_explained(top: ScoredCandidate, others: Sequence[ScoredCandidate], policy: MatchPolicy) -> bool:
    """The top record's only veto is an NHS number conflict that another record explains.

    The subject agrees with the top record on given name, family name and
    full date of birth, and the subject's NHS number belongs to another
    record whose given name and date of birth both differ: the number was
    keyed from a sibling, so it is no evidence against the top record. When
    no such record is in the index (a twin the agency has never met, say) the
    conflict stands.
    """
    pair = top.pair
    if pair.vetoes != ["nhs_number_conflict"] or pair.probability < policy.auto_match:
        return False
    return _full_demographics(top) and any(_wrong_number_holder(o) for o in others)


def _twin_name_form(candidate: ScoredCandidate, policy: MatchPolicy) -> bool:
    """Hidden only because its registered name is another form of the subject's (Theo for Theodore, Libby for Elsie).

    Alone it is no candidate (the co-twin of a twin the agency never met looks
    exactly like this), but beside a household member it still stops an
    automatic link: the referrer may have written the formal name of a twin
    registered under a short one.
    """
    pair = candidate.pair
    if pair.probability < policy.review or not TWIN_NAME_FORM_VETOES & set(pair.vetoes):
        return False
    return all(v in TWIN_NAME_FORM_VETOES for v in pair.vetoes if VETO_CAPS[v] is MatchDecision.NO_MATCH)


#: Given-name levels that, beside an NHS number nobody in the index holds, hide a record: how a
#: never-met twin's name looks against the co-twin's. A nickname or short form (Millie / Amelia), the
#: record's middle name (twins given each other's middle names), a name only loosely like it (Aurelia /
#: Amelia). Not a typo or a phonetic spelling: those are how the same child's name is mistyped.
_NAME_FORM_ONLY = frozenset({"nickname", "middle", "jw_mid"})


def number_held(candidates: Sequence[ScoredCandidate]) -> bool:
    """Some candidate holds the subject's trusted NHS number (then any number conflict is explained).

    No extra look-up: the identifier blocking pass already brings every record
    holding the number, and ``considered`` keeps each of them whatever its
    probability, so "no holder among the candidates" means "no holder in the
    index".
    """
    return any(c.pair.levels.get("nhs_number") == "equal" for c in candidates)


def _unexplained_name_forms(candidates: Sequence[ScoredCandidate], held: bool) -> set[str]:
    """Records hidden as ``nhs_number_unexplained``: nobody holds the referral's trusted NHS number
    (``held`` is ``number_held`` over the records the rules weigh), and the record has another one and
    a given name agreeing only as another form (``_NAME_FORM_ONLY``)."""
    if held:
        return set()
    return {c.record_id for c in candidates
            if "nhs_number_conflict" in c.pair.vetoes and c.pair.levels.get("given") in _NAME_FORM_ONLY}


def _hide(candidate: ScoredCandidate, reason: str) -> ScoredCandidate:
    pair = candidate.pair.model_copy(update={
        "decision": MatchDecision.NO_MATCH,
        "reasons": [*candidate.pair.reasons, reason],
    })
    return candidate.model_copy(update={"pair": pair})


def considered(pair: ScoredPair, policy: MatchPolicy) -> bool:
    """Whether ``decide``'s rules need this pair at all (callers may drop the rest before building
    candidates; ``MatchIndex`` also passes a record the referral's household was weighed on, which
    ``decide`` keeps apart from the rules and may only show).

    Pairs worth showing, plus two kinds hidden by a no-match veto that still
    bear on the others: the holder of the subject's NHS number whose name
    and date of birth both differ (it explains a sibling's number), and a
    twin-name form (it blocks an automatic link within its household). Every
    holder of the subject's NHS number is kept, even below review: whether
    one exists decides if another record's number conflict is explained
    (``number_held``); holders below review are still not shown.
    """
    levels = pair.levels
    if levels.get("nhs_number") == "equal":
        return True
    if pair.probability < policy.review:
        return False
    if pair.decision is not MatchDecision.NO_MATCH:
        return True
    return bool(TWIN_NAME_FORM_VETOES & set(pair.vetoes))


def _demote(candidate: ScoredCandidate, reasons: list[str]) -> ScoredCandidate:
    pair = candidate.pair.model_copy(update={
        "decision": MatchDecision.CANDIDATE,
        "reasons": [*candidate.pair.reasons, *reasons],
    })
    return candidate.model_copy(update={"pair": pair})


_GIVEN_RANK = {level: rank for rank, level in enumerate(LEVELS["given"])}


def _claims(other: ScoredPair, mine: ScoredPair) -> bool:
    """Another listed person plainly is this record and the subject plainly is not quite.

    The other's pair is a match with no veto; the subject's carries a veto
    (a nickname only, another form of a twin's name, a different given name
    or date of birth); and the other's given name agrees at least as well as
    the subject's. Weights are not compared: two pairs at match level are
    both certain on their own evidence, and a listed twin carrying the
    subject's NHS number by mistake scores higher than the subject without
    being the record, so such a pair contests the record instead.
    """
    if other.decision is not MatchDecision.MATCH or other.vetoes or not mine.vetoes:
        return False
    rank = len(_GIVEN_RANK)
    return _GIVEN_RANK.get(other.levels.get("given", ""), rank) <= _GIVEN_RANK.get(mine.levels.get("given", ""), rank)


def _referral_claims(ranked: Sequence[ScoredCandidate], others: Mapping[str, Sequence[ScoredPair]],
                     policy: MatchPolicy) -> tuple[set[str], set[str]]:
    """Records another person on the referral claims, and records they contest with the subject.

    ``others[record_id][k]`` is the k-th other person's pair with that record
    (the same k for every record).

    Claimed (``_claims``): the other person's pair is a clean match, the
    subject's is held back by a veto, and the other's given name agrees at
    least as well; the record is theirs.
    Contested: another person's pair is at match level, or shown (at or
    above ``review``), free of vetoes and a near-tie with the subject's or
    better, and that person is not plainly someone else's record (a match
    with another record): an automatic link to the subject would be a guess
    between two people on one referral. A vetoed fit (a nickname only, say:
    a listed Millie against a record registered as Amelia) contests nothing.
    """
    placed: dict[int, set[str]] = {}
    for record_id, pairs in others.items():
        for k, pair in enumerate(pairs):
            if pair.decision is MatchDecision.MATCH:
                placed.setdefault(k, set()).add(record_id)
    claimed: set[str] = set()
    contested: set[str] = set()
    for candidate in ranked:
        mine = candidate.pair
        for k, pair in enumerate(others.get(candidate.record_id, ())):
            if pair.decision is MatchDecision.NO_MATCH or pair.probability < policy.review:
                continue
            if placed.get(k, set()) - {candidate.record_id}:
                continue  # this person plainly is another record (or two): they neither claim nor contest
            if _claims(pair, mine):
                claimed.add(candidate.record_id)
            elif pair.decision is MatchDecision.MATCH or (
                    not pair.vetoes and (pair.match_weight >= mine.match_weight or _near_tie(mine, pair, policy))):
                contested.add(candidate.record_id)
    return claimed, contested - claimed


def decide(subject: Person, candidates: Sequence[ScoredCandidate], policy: MatchPolicy, *,
           others: Mapping[str, Sequence[ScoredPair]] | None = None) -> SearchOutcome:
    """The subject's outcome (match / candidate / no match) and the candidates to show, best first.

    ``subject`` is the person searched for; the decision itself rests on the
    scored pairs (a record id seen twice, e.g. from two blocking passes,
    counts once, at its best score). ``others``: per record id, the pairs of
    the referral's other people against that record, in the same order of
    people for every record (scored by the caller: ``MatchIndex.search`` does
    it for the records worth considering).

    A pair may carry the referral household's contribution
    (``matching.household_evidence``). Every rule here (ranking, near-ties,
    households, the sibling's number, claims) runs on each pair's own
    evidence, so the household can never make or enable an automatic link.
    The rules see exactly the records they would without the household
    (those ``considered``, and ``others`` only for those: an entry for a
    record that is not a candidate is ignored). When nothing is good enough to link
    (``review_needed``, or nothing at ``review`` on its own fields) the
    household decides which candidates a person is shown and in what order:
    a record it was weighed on is shown at ``review_household`` on the
    probability with it, which takes out a look-alike nobody listed lives
    with and brings in a record just under ``review`` whose household holds
    someone listed (never one a rule hid, one with another NHS number nobody
    holds and only another form of the name, or one another listed person
    fits). Any other outcome shows what the rules showed.
    """
    del subject  # the pairs already carry everything compared; kept for the contract and future checks
    parts: dict[str, FieldContribution] = {}
    own = []
    for candidate in candidates:
        pair, part = without_household(candidate.pair)
        if part is not None:
            parts[candidate.record_id] = part
            candidate = candidate.model_copy(update={"pair": pair})
        own.append(candidate)
    # The rules see exactly the records they would without the household; a record under review on its
    # own fields, there only because the household was weighed on it, is set aside for showing.
    main = [c for c in own if c.record_id not in parts or considered(c.pair, policy)]
    main_ids = {c.record_id for c in main}
    extra = [c for c in own if c.record_id not in main_ids]
    own_others = {rid: pairs for rid, pairs in others.items() if rid in main_ids} if others else others
    outcome, hidden = _decide_own(main, policy, own_others)
    if not parts:
        return outcome
    results = [r.model_copy(update={"pair": with_contribution(r.pair, parts[r.record_id])})
               if r.record_id in parts else r for r in outcome.results]
    if outcome.reasons not in (["review_needed"], ["no_candidate_above_review"]):
        # A link, or a review some record's own evidence called for (a near-tie, a household member):
        # everything the rules showed stays shown, so the person sees why.
        return outcome.model_copy(update={"results": results})
    # Nothing was good enough to link. A record the household was weighed on is shown at
    # review_household with it: look-alikes nobody listed lives with drop out, and a record just under
    # review whose household holds someone listed comes in. Any other keeps the rules' review.
    hidden |= _unexplained_name_forms(extra, number_held(main))
    lifted = [_lift(c, parts[c.record_id]) for c in _best(extra)
              if c.record_id not in hidden and weighs_on(c.pair)
              and not _fits_someone_listed((others or {}).get(c.record_id, ()), policy)]
    shown = [r for r in [*results, *lifted]
             if r.record_id not in parts or r.pair.probability >= policy.review_household]
    shown.sort(key=lambda r: r.record_id)
    shown.sort(key=_rank, reverse=True)
    if shown:
        return SearchOutcome(outcome=MatchDecision.CANDIDATE, results=shown, reasons=["review_needed"])
    if not results:
        return outcome
    return SearchOutcome(outcome=MatchDecision.NO_MATCH, results=[],
                         reasons=["no_candidate_above_review", "household_not_corroborated"])


def _fits_someone_listed(pairs: Sequence[ScoredPair], policy: MatchPolicy) -> bool:
    """Another listed person fits the record at review or better, with no veto to no match.

    Such a record is at least as likely theirs (a sibling the listed mother also lives with), so the
    household, which cannot tell them apart, does not bring it into view for the subject.
    """
    return any(p.decision is MatchDecision.MATCH or (p.cap is not MatchDecision.NO_MATCH and p.probability >= policy.review)
               for p in pairs)


def _lift(candidate: ScoredCandidate, part: FieldContribution) -> ScoredCandidate:
    """A record under review on its own fields, with the household's contribution, as a candidate to show
    (whether it is shown is ``review``'s call on the new probability)."""
    pair = with_contribution(candidate.pair, part)
    pair = pair.model_copy(update={"decision": MatchDecision.CANDIDATE,
                                   "reasons": [*pair.reasons, "shown_for_household"]})
    return candidate.model_copy(update={"pair": pair})


def _best(candidates: Sequence[ScoredCandidate]) -> list[ScoredCandidate]:
    """Each record once, at its best score (a record id seen twice, e.g. from two blocking passes),
    best first (ties: record id order, stable across runs)."""
    best: dict[str, ScoredCandidate] = {}
    for candidate in candidates:
        held = best.get(candidate.record_id)
        if held is None or _rank(candidate) > _rank(held):
            best[candidate.record_id] = candidate
    ranked = sorted(best.values(), key=lambda c: c.record_id)
    ranked.sort(key=_rank, reverse=True)
    return ranked


def _decide_own(candidates: Sequence[ScoredCandidate], policy: MatchPolicy,
                others: Mapping[str, Sequence[ScoredPair]] | None) -> tuple[SearchOutcome, set[str]]:
    """``decide`` on the pairs' own evidence; also the record ids a rule hid (never to be shown)."""
    ranked = _best(candidates)
    # Nobody in the index holds the referral's number: a record with another number agreeing only by
    # another form of the name is most likely the co-twin (or sibling) of a child the agency never met.
    hidden = _unexplained_name_forms(ranked, number_held(ranked))
    if hidden:
        ranked = [_hide(c, "nhs_number_unexplained")
                  if c.record_id in hidden and c.pair.decision is not MatchDecision.NO_MATCH else c for c in ranked]
        ranked.sort(key=_rank, reverse=True)
    claimed, contested = _referral_claims(ranked, others, policy) if others else (set(), set())
    hidden |= claimed
    if claimed:
        # Kept in ``ranked`` (a claimed holder of the subject's number still explains a conflict),
        # but hidden: the record is another referral person's.
        ranked = [_hide(c, "claimed_by_referral_person") if c.record_id in claimed else c for c in ranked]
        ranked.sort(key=_rank, reverse=True)
    shown = [c for c in ranked if c.pair.decision is not MatchDecision.NO_MATCH and c.pair.probability >= policy.review]
    if not shown:
        return SearchOutcome(outcome=MatchDecision.NO_MATCH, results=[], reasons=["no_candidate_above_review"]), hidden

    top = shown[0]
    reasons: list[str] = []
    rivals = shown[1:]
    # The holder of a sibling's number is vetoed to no match (``identifier_only``) and so is not shown,
    # but it still explains the best record's NHS number conflict.
    holders = [c for c in ranked if c is not top and _wrong_number_holder(c)]
    if top.pair.decision is MatchDecision.CANDIDATE and _conflict_explained(top, holders, policy):
        promoted = top.pair.model_copy(update={
            "decision": MatchDecision.MATCH,
            "reasons": [*top.pair.reasons, "nhs_number_conflict_explained"],
        })
        top = top.model_copy(update={"pair": promoted})
        shown = [top, *rivals]
        rivals = [o for o in rivals if not _wrong_number_holder(o)]
    if top.pair.decision is MatchDecision.MATCH:
        if _full_demographics(top):
            # A record found only through the subject's (mis-keyed) NHS number is no rival to one that
            # agrees on given name, family name and full date of birth.
            rivals = [o for o in rivals if not _wrong_number_holder(o)]
        for other in rivals:
            if _near_tie(top.pair, other.pair, policy) and "near_tie" not in reasons:
                reasons.append("near_tie")
            if _related(top, other) and "household_member_close" not in reasons:
                reasons.append("household_member_close")
        if top.record_id in contested:
            reasons.append("referral_person_also_fits")
        twins = [c for c in ranked if c.pair.decision is MatchDecision.NO_MATCH and _twin_name_form(c, policy)
                 and _related(top, c) and c.record_id not in claimed]
        if twins:
            reasons.append("household_twin_name_form")
            shown = [*shown, *(_demote(c, ["household_twin_name_form"]) for c in twins)]
        if reasons:
            shown = [_demote(c, reasons) if c.pair.decision is MatchDecision.MATCH else c for c in shown]
            return SearchOutcome(outcome=MatchDecision.CANDIDATE, results=shown, reasons=reasons), hidden
        # Only the best is linked: any other candidate at match level is shown as a candidate.
        shown = [shown[0], *(_demote(c, ["outranked"]) if c.pair.decision is MatchDecision.MATCH else c
                             for c in shown[1:])]
        return SearchOutcome(outcome=MatchDecision.MATCH, results=shown, reasons=["clear_match"]), hidden
    return SearchOutcome(outcome=MatchDecision.CANDIDATE, results=shown, reasons=["review_needed"]), hidden
