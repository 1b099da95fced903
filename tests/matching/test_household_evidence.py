"""The referral's listed household as evidence on a doubtful record (issue 16).

A candidate whose household holds someone listed on the referral is more
likely the child; one whose household holds nobody listed is less likely.
The evidence shows as the ``household`` contribution, never turns a
candidate into an automatic link, and weighs nothing when either side has
nobody. Synthetic people, 999-range numbers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mashlink.matching.decide import ScoredCandidate, considered, decide
from mashlink.matching.household_evidence import (
    could_be_shown,
    HouseholdEvidence,
    HouseholdLevel,
    household_level,
    with_household,
)
from mashlink.matching.index import MatchIndex
from mashlink.matching.model import LevelProbabilities, MatchModel
from mashlink.matching.policy import MatchPolicy
from mashlink.matching.rules import MatchDecision
from mashlink.matching.scorer import Scorer
from mashlink.schemas.codes import Sex

from tests.matching.index_people import nhs_id, person, population

#: The rules are relative to ``review``; these pairs were built around review 0.10 (the default is 0.40).
POLICY = MatchPolicy(review=0.10)
SCORER = Scorer(MatchModel.default(), policy=POLICY)
EVIDENCE = HouseholdEvidence()


def test_levels() -> None:
    mum = person("mum", "Kasia", "Wright", dob=date(1991, 6, 2), sex=Sex.FEMALE)
    listed_mum = person("ref-mum", "Kasia", "Wright", dob=date(1991, 6, 2), postcode=None, sex=Sex.FEMALE)
    listed_gran = person("ref-gran", "Ewa", "Wright", dob=date(1960, 2, 2), postcode=None, sex=Sex.FEMALE)
    review = POLICY.review
    assert household_level([SCORER.score(listed_gran, mum), SCORER.score(listed_mum, mum)], review) \
        is HouseholdLevel.CORROBORATED
    # People were listed and someone lives with the record, but nobody listed is among them.
    assert household_level([SCORER.score(listed_gran, mum)], review) is HouseholdLevel.NOT_CORROBORATED
    # Nobody listed, or nobody known to live with the record.
    assert household_level([], review) is HouseholdLevel.NOT_COMPARED
    assert EVIDENCE.weight(HouseholdLevel.CORROBORATED) == pytest.approx(3.807, abs=0.01)
    assert EVIDENCE.weight(HouseholdLevel.NOT_CORROBORATED) == pytest.approx(-1.663, abs=0.01)
    assert EVIDENCE.weight(HouseholdLevel.NOT_COMPARED) == 0.0


def _candidate_pair():
    """Jakub Wright with the day of birth two off and no address: a candidate on his own."""
    subject = person("ref", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    record = person("rec", "Jakub", "Wright", dob=date(2022, 10, 21))
    pair = SCORER.score(subject, record)
    assert pair.decision is MatchDecision.CANDIDATE
    return subject, record, pair


def test_the_household_moves_a_candidate_both_ways_and_shows_why() -> None:
    _s, _r, pair = _candidate_pair()
    up = with_household(pair, HouseholdLevel.CORROBORATED, EVIDENCE)
    down = with_household(pair, HouseholdLevel.NOT_CORROBORATED, EVIDENCE)
    assert down.probability < pair.probability < up.probability
    assert up.decision is MatchDecision.CANDIDATE and down.decision is MatchDecision.CANDIDATE
    assert up.contribution("household").level == "corroborated"
    assert up.match_weight == pytest.approx(pair.match_weight + EVIDENCE.weight(HouseholdLevel.CORROBORATED), abs=1e-3)
    assert "household_not_corroborated" in down.reasons
    assert with_household(pair, HouseholdLevel.NOT_COMPARED, EVIDENCE) is pair


def test_a_match_or_a_vetoed_pair_is_left_alone() -> None:
    subject = person("ref", "Amelia", "Okafor", dob=date(2017, 5, 2))
    match = SCORER.score(subject, person("rec", "Amelia", "Okafor", dob=date(2017, 5, 2)))
    assert match.decision is MatchDecision.MATCH
    assert with_household(match, HouseholdLevel.NOT_CORROBORATED, EVIDENCE) is match
    other = SCORER.score(subject, person("rec2", "Zofia", "Nowak", dob=date(2001, 1, 1)))
    assert other.decision is MatchDecision.NO_MATCH
    assert with_household(other, HouseholdLevel.CORROBORATED, EVIDENCE) is other


def test_a_corroborated_nhs_conflict_is_not_promoted_to_a_link() -> None:
    """Household evidence never makes an automatic link, even through the sibling's-number rule."""
    strict = MatchPolicy(auto_match=0.9999)
    scorer = Scorer(MatchModel.default(), policy=strict)
    subject = person("ref", "Amelia", "Okafor", dob=date(2017, 5, 2), postcode=None, ids=[nhs_id(440)])
    record = person("rec", "Amelia", "Okafor", dob=date(2017, 5, 2), postcode="ZZ9 9ZZ", ids=[nhs_id(110)])
    holder = person("leo", "Leo", "Okafor", dob=date(2012, 11, 30), ids=[nhs_id(440)])
    pair = scorer.score(subject, record)
    assert pair.vetoes == ["nhs_number_conflict"] and pair.probability < strict.auto_match
    raised = with_household(pair, HouseholdLevel.CORROBORATED, EVIDENCE)
    assert raised.probability >= strict.auto_match  # the household alone would cross the line...
    holder_pair = scorer.score(subject, holder)
    plain = decide(subject, [ScoredCandidate(record_id="rec", person=record, pair=pair),
                             ScoredCandidate(record_id="leo", person=holder, pair=holder_pair)], strict)
    outcome = decide(subject, [ScoredCandidate(record_id="rec", person=record, pair=raised),
                               ScoredCandidate(record_id="leo", person=holder, pair=holder_pair)], strict)
    assert plain.outcome is MatchDecision.CANDIDATE
    assert outcome.outcome is MatchDecision.CANDIDATE  # ...but does not
    assert "nhs_number_conflict_explained" not in outcome.results[0].pair.reasons


def test_a_search_with_a_listed_household(tmp_path: Path) -> None:
    """Through the index: the record living with the listed mother rises, a look-alike elsewhere falls."""
    mum = person("mum", "Kasia", "Wright", dob=date(1991, 6, 2), postcode="LS6 2QQ", sex=Sex.FEMALE)
    jakub = person("jakub", "Jakub", "Wright", dob=date(2022, 10, 21), postcode="LS6 2QQ")
    other = person("other", "Jakub", "Wright", dob=date(2022, 10, 3), postcode="BD3 9XX")
    other_dad = person("other-dad", "Piotr", "Wright", dob=date(1985, 3, 3), postcode="BD3 9XX")
    subject = person("ref", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    listed_mum = person("ref-mum", "Kasia", "Wright", dob=date(1991, 6, 2), postcode=None, sex=Sex.FEMALE)
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*population(400, seed=9), ("mum", mum), ("jakub", jakub), ("other", other),
                      ("other-dad", other_dad)])
        alone_outcome = idx.search(subject)
        alone = {r.record_id: r.pair for r in alone_outcome.results}
        listed = idx.search(subject, others=[listed_mum])
        pairs = {r.record_id: r.pair for r in listed.results}
        assert {"jakub", "other"} <= set(alone)
        assert "household" not in alone["jakub"].levels
        assert pairs["jakub"].levels["household"] == "corroborated"
        assert pairs["jakub"].probability > alone["jakub"].probability
        assert pairs["jakub"].decision is MatchDecision.CANDIDATE  # never an automatic link from the household
        assert [r.record_id for r in listed.results][0] == "jakub"
        assert pairs["other"].levels["household"] == "not_corroborated"
        assert pairs["other"].probability < alone["other"].probability


def test_a_mother_who_kept_her_name_corroborates_her_child(tmp_path: Path) -> None:
    """Everyone at the record's address counts, whatever their family name; a big shared postcode does not."""
    from mashlink.matching import index as index_module

    mum = person("mum", "Amy", "Paxerholm", dob=date(1999, 9, 14), postcode="HG1 3TT", sex=Sex.FEMALE)
    kai = person("kai", "Kai", "Parker", dob=date(2026, 4, 21), postcode="HG1 3TT")
    subject = person("ref", "Kai", "Parkre", dob=date(2026, 4, 22), postcode=None)
    listed_mum = person("ref-mum", "Amy", "Paxerholm", dob=date(1999, 9, 14), postcode=None, sex=Sex.FEMALE)
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*population(300, seed=4), ("mum", mum), ("kai", kai)])
        [kai_result] = [r for r in idx.search(subject, others=[listed_mum]).results if r.record_id == "kai"]
        assert kai_result.pair.levels["household"] == "corroborated"
        # Sixty strangers share the postcode (no UPRN): too wide to say who lives together, so only the
        # same address and family name count, and Kai has nobody there: nothing compared.
        idx.add_many([(f"flat{n}", person(f"flat{n}", "Lee", f"Flatt{chr(97 + n % 26)}{n}", dob=date(1980, 1, 1 + n % 28),
                                          postcode="HG1 3TT")) for n in range(index_module.MAX_ADDRESS_MATES)])
        [wide] = [r for r in idx.search(subject, others=[listed_mum]).results if r.record_id == "kai"]
        assert "household" not in wide.pair.levels


def _pair_like(pair, *, weight: float, decision: MatchDecision):
    from mashlink.matching.scorer import probability_from_weight

    return pair.model_copy(update={"match_weight": weight, "probability": probability_from_weight(weight),
                                   "decision": decision})


def test_the_household_never_clears_the_way_for_an_automatic_link() -> None:
    """A near-tie or household rival the listed household speaks against still sends the subject to a person."""
    subject = person("s", "Oliver", "Smith", dob=date(2015, 3, 14), postcode=None)
    top = SCORER.score(subject, person("a", "Oliver", "Smith", dob=date(2015, 3, 14), postcode="LS1 4AB"))
    assert top.decision is MatchDecision.MATCH
    near = _pair_like(top, weight=top.match_weight - 3.0, decision=MatchDecision.CANDIDATE)
    low = _pair_like(top, weight=-2.0, decision=MatchDecision.CANDIDATE)  # p 0.2, a household member
    for rival, household, reason in ((near, None, "near_tie"), (low, "h1", "household_member_close")):
        lowered = with_household(rival, HouseholdLevel.NOT_CORROBORATED, EVIDENCE)
        candidates = [ScoredCandidate(record_id="a", person=subject, pair=top, household_id="h1"),
                      ScoredCandidate(record_id="b", person=subject, pair=lowered, household_id=household)]
        outcome = decide(subject, candidates, POLICY)
        assert outcome.outcome is MatchDecision.CANDIDATE and reason in outcome.reasons
        assert [r.record_id for r in outcome.results] == ["a", "b"]  # the rival that called for review is shown
        assert outcome.results[1].pair.levels["household"] == "not_corroborated"


def test_with_nothing_to_link_the_household_thins_and_orders_the_candidates() -> None:
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    pair = SCORER.score(subject, person("r", "Jakub", "Wright", dob=date(2022, 10, 21)))
    weak = _pair_like(pair, weight=-2.0, decision=MatchDecision.CANDIDATE)  # p 0.2: 0.07 against, 0.78 for
    up = with_household(weak, HouseholdLevel.CORROBORATED, EVIDENCE)
    down = with_household(weak, HouseholdLevel.NOT_CORROBORATED, EVIDENCE)
    outcome = decide(subject, [ScoredCandidate(record_id="x", person=subject, pair=down),
                               ScoredCandidate(record_id="y", person=subject, pair=up)], POLICY)
    assert outcome.outcome is MatchDecision.CANDIDATE and [r.record_id for r in outcome.results] == ["y"]
    alone = decide(subject, [ScoredCandidate(record_id="x", person=subject, pair=down)], POLICY)
    assert alone.outcome is MatchDecision.NO_MATCH and "household_not_corroborated" in alone.reasons


def _below_review(subject):
    """A pair the scorer put under review (p 0.05): no match on its own fields, no veto."""
    pair = SCORER.score(subject, person("r", "Jakub", "Wright", dob=date(2022, 10, 21)))
    low = _pair_like(pair, weight=-4.25, decision=MatchDecision.NO_MATCH)
    assert low.probability < POLICY.review and low.cap is not MatchDecision.NO_MATCH
    return low


def test_a_record_just_under_review_that_lives_with_someone_listed_is_shown() -> None:
    """The household lifts a record into view: shown as a candidate, with why; never a link."""
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    low = _below_review(subject)
    up = with_household(low, HouseholdLevel.CORROBORATED, EVIDENCE)
    assert up.probability >= POLICY.review and up.decision is MatchDecision.NO_MATCH  # the scorer's call stands
    outcome = decide(subject, [ScoredCandidate(record_id="y", person=subject, pair=up)], POLICY)
    assert outcome.outcome is MatchDecision.CANDIDATE and outcome.reasons == ["review_needed"]
    [shown] = outcome.results
    assert shown.record_id == "y" and shown.pair.decision is MatchDecision.CANDIDATE
    assert shown.pair.levels["household"] == "corroborated" and "shown_for_household" in shown.pair.reasons
    # However strong the household, a record lifted into view is a candidate, never an automatic link.
    loud = HouseholdEvidence(corroborated=LevelProbabilities(m=0.999, u=1e-9))
    huge = with_household(low, HouseholdLevel.CORROBORATED, loud)
    assert huge.probability >= POLICY.auto_match
    outcome = decide(subject, [ScoredCandidate(record_id="y", person=subject, pair=huge)], POLICY)
    assert outcome.outcome is MatchDecision.CANDIDATE and outcome.results[0].pair.decision is MatchDecision.CANDIDATE
    # Nobody listed lives there: it stays out of view, and the search found nothing to show.
    down = with_household(low, HouseholdLevel.NOT_CORROBORATED, EVIDENCE)
    nothing = decide(subject, [ScoredCandidate(record_id="y", person=subject, pair=down)], POLICY)
    assert nothing.outcome is MatchDecision.NO_MATCH and nothing.reasons == ["no_candidate_above_review"]


def test_a_record_beside_a_link_is_not_lifted() -> None:
    """With a clear automatic link the rules decide what is shown; the household adds nobody."""
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    top = SCORER.score(subject, person("a", "Jakub", "Wright", dob=date(2022, 10, 19), postcode="LS1 4AB"))
    assert top.decision is MatchDecision.MATCH
    up = with_household(_below_review(subject), HouseholdLevel.CORROBORATED, EVIDENCE)
    outcome = decide(subject, [ScoredCandidate(record_id="a", person=subject, pair=top),
                               ScoredCandidate(record_id="y", person=subject, pair=up)], POLICY)
    assert outcome.outcome is MatchDecision.MATCH and [r.record_id for r in outcome.results] == ["a"]


def test_a_vetoed_or_rule_hidden_record_is_never_lifted() -> None:
    """A no-match veto is a rule the household cannot argue with; a record a rule hid stays hidden."""
    subject = person("s", "Amelia", "Okafor", dob=date(2017, 5, 2), postcode=None, ids=[nhs_id(440)])
    vetoed = SCORER.score(subject, person("z", "Zofia", "Okafor", dob=date(2017, 5, 2)))
    assert vetoed.cap is MatchDecision.NO_MATCH
    assert with_household(vetoed, HouseholdLevel.CORROBORATED, EVIDENCE) is vetoed
    assert not could_be_shown(vetoed, POLICY.review, EVIDENCE)
    # A nickname-only record holding another NHS number, when nobody holds the referral's: the co-twin
    # of a child the agency never met (``nhs_number_unexplained``), even with the household listed.
    subject = person("s", "Jake", "Okafor", dob=date(2017, 5, 2), postcode=None, ids=[nhs_id(440)])
    twin = SCORER.score(subject, person("t", "Jacob", "Okafor", dob=date(2017, 5, 2), ids=[nhs_id(110)]))
    assert "nhs_number_conflict" in twin.vetoes and twin.levels["given"] == "nickname"
    assert twin.cap is MatchDecision.CANDIDATE
    low = _pair_like(twin, weight=-4.25, decision=MatchDecision.NO_MATCH)
    up = with_household(low, HouseholdLevel.CORROBORATED, EVIDENCE)
    assert up.probability >= POLICY.review
    outcome = decide(subject, [ScoredCandidate(record_id="t", person=subject, pair=up)], POLICY)
    assert outcome.outcome is MatchDecision.NO_MATCH and outcome.results == []
    # The same record is lifted once someone in the index holds the referral's number (then the
    # conflict is explained, and the rule does not hide it).
    holder = SCORER.score(subject, person("h", "Ola", "Nowak", dob=date(1990, 1, 1), ids=[nhs_id(440)]))
    outcome = decide(subject, [ScoredCandidate(record_id="t", person=subject, pair=up),
                               ScoredCandidate(record_id="h", person=subject, pair=holder)], POLICY)
    assert [r.record_id for r in outcome.results] == ["t"]


def test_only_records_the_household_could_bring_to_review_are_worth_its_look_up() -> None:
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    low = _below_review(subject)
    assert could_be_shown(low, POLICY.review, EVIDENCE)
    far = _pair_like(low, weight=-9.0, decision=MatchDecision.NO_MATCH)  # 3.8 bits cannot bring p 0.002 to 0.10
    assert not could_be_shown(far, POLICY.review, EVIDENCE)
    match = SCORER.score(subject, person("a", "Jakub", "Wright", dob=date(2022, 10, 19), postcode="LS1 4AB"))
    assert not could_be_shown(match, POLICY.review, EVIDENCE)


def test_a_search_shows_a_record_under_review_that_lives_with_the_listed_mother(tmp_path: Path) -> None:
    """Through the index, at a strict review: the household lifts Jakub into view. The listed mother
    fits the woman at the address at the household's own level (``fits_at``), not at ``review``."""
    mum = person("mum", "Kasia", "Wright", dob=date(1991, 6, 2), postcode="LS6 2QQ", sex=Sex.FEMALE)
    jakub = person("jakub", "Jakub", "Wright", dob=date(2022, 10, 21), postcode="LS6 2QQ")
    subject = person("ref", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    # The referral has the mother's family name misspelt and her birthday a digit out.
    listed_mum = person("ref-mum", "Kasia", "Wrighte", dob=date(1991, 6, 9), postcode=None, sex=Sex.FEMALE)
    strict = MatchPolicy(auto_match=0.9999, review=0.997)
    with MatchIndex.create(tmp_path / "i.sqlite", policy=strict) as idx:
        idx.add_many([*population(400, seed=9), ("mum", mum), ("jakub", jakub)])
        own = idx.scorer().score(subject, jakub)
        mum_fit = idx.scorer().score(listed_mum, mum)
        assert own.probability < strict.review
        assert EVIDENCE.fits_at <= mum_fit.probability < strict.review
        assert mum_fit.decision is MatchDecision.NO_MATCH and mum_fit.cap is None  # under review, no veto
        assert all(r.record_id != "jakub" for r in idx.search(subject).results)  # alone: under review
        listed = idx.search(subject, others=[listed_mum])
        [lifted] = [r for r in listed.results if r.record_id == "jakub"]
        assert listed.outcome is MatchDecision.CANDIDATE
        assert lifted.pair.levels["household"] == "corroborated" and lifted.pair.probability >= strict.review
        assert lifted.pair.decision is MatchDecision.CANDIDATE and "shown_for_household" in lifted.pair.reasons


def test_a_record_there_only_for_the_household_changes_no_rule() -> None:
    """The rules see the records they would without the household. A listed person who also fits a
    record brought in for the household's sake is still 'placed' on the subject's record only by the
    records the rules weigh: the contest that keeps a link from a guess between two people stands,
    and so does a claim that hides a record."""
    subject = person("s", "Oliver", "Smith", dob=date(2015, 3, 14), postcode=None)
    listed = person("k", "Oliver", "Smith", dob=date(2015, 3, 14), postcode=None)
    record = person("t", "Oliver", "Smith", dob=date(2015, 3, 14))
    mine = SCORER.score(subject, record)
    theirs = SCORER.score(listed, record)
    assert mine.decision is MatchDecision.MATCH and theirs.decision is MatchDecision.MATCH
    # X: under review for the subject, corroborated by the household; the listed person fits it too.
    # (X's pair is built from another subject's: only its level, probability and household part matter.)
    jakub = person("j", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    low = with_household(_below_review(jakub), HouseholdLevel.CORROBORATED, EVIDENCE)
    rules_only = decide(subject, [ScoredCandidate(record_id="t", person=record, pair=mine)], POLICY,
                        others={"t": [theirs]})
    assert rules_only.outcome is MatchDecision.CANDIDATE and "referral_person_also_fits" in rules_only.reasons
    with_x = decide(subject, [ScoredCandidate(record_id="t", person=record, pair=mine),
                              ScoredCandidate(record_id="x", person=record, pair=low)], POLICY,
                    others={"t": [theirs], "x": [theirs]})
    assert with_x.outcome is MatchDecision.CANDIDATE and "referral_person_also_fits" in with_x.reasons
    # A claim: the subject referred by a nickname of the record's name, the listed person by its name.
    nick = person("s2", "Ollie", "Smith", dob=date(2015, 3, 14), postcode=None)
    claimed_pair = SCORER.score(nick, record)
    assert claimed_pair.vetoes and claimed_pair.decision is not MatchDecision.MATCH
    low_nick = low
    for candidates, others in (
        ([ScoredCandidate(record_id="t", person=record, pair=claimed_pair)], {"t": [theirs]}),
        ([ScoredCandidate(record_id="t", person=record, pair=claimed_pair),
          ScoredCandidate(record_id="x", person=record, pair=low_nick)], {"t": [theirs], "x": [theirs]}),
    ):
        outcome = decide(nick, candidates, POLICY, others=others)
        assert "t" not in [r.record_id for r in outcome.results]  # claimed: hidden, with or without X


def test_a_record_another_listed_person_fits_is_not_brought_into_view() -> None:
    """The listed mother lives with the subject and with the subject's sibling alike: a record the
    listed sibling fits is theirs as much as the subject's, and the household does not show it."""
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    up = with_household(_below_review(subject), HouseholdLevel.CORROBORATED, EVIDENCE)
    sibling_pair = SCORER.score(person("k", "Jakub", "Wright", dob=date(2022, 10, 21), postcode=None),
                                person("r", "Jakub", "Wright", dob=date(2022, 10, 21)))
    assert sibling_pair.decision is MatchDecision.MATCH
    alone = decide(subject, [ScoredCandidate(record_id="y", person=subject, pair=up)], POLICY, others={"y": []})
    assert [r.record_id for r in alone.results] == ["y"]
    fitted = decide(subject, [ScoredCandidate(record_id="y", person=subject, pair=up)], POLICY,
                    others={"y": [sibling_pair]})
    assert fitted.outcome is MatchDecision.NO_MATCH and fitted.results == []


def test_a_record_the_household_was_not_weighed_on_keeps_the_rules_review() -> None:
    """review_household applies only where the household was weighed; elsewhere review (0.10) stands."""
    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    pair = SCORER.score(subject, person("r", "Jakub", "Wright", dob=date(2022, 10, 21)))
    mid = _pair_like(pair, weight=-1.0, decision=MatchDecision.CANDIDATE)  # p 0.33: over review, under 0.40
    assert POLICY.review <= mid.probability < POLICY.review_household
    weighed = with_household(_below_review(subject), HouseholdLevel.CORROBORATED, EVIDENCE)
    outcome = decide(subject, [ScoredCandidate(record_id="plain", person=subject, pair=mid),
                               ScoredCandidate(record_id="weighed", person=subject, pair=weighed)], POLICY)
    assert sorted(r.record_id for r in outcome.results) == ["plain", "weighed"]
    down = with_household(mid, HouseholdLevel.NOT_CORROBORATED, EVIDENCE)
    outcome = decide(subject, [ScoredCandidate(record_id="plain", person=subject, pair=down)], POLICY)
    assert outcome.outcome is MatchDecision.NO_MATCH  # weighed, and under review_household with it


def test_taking_the_household_off_gives_back_the_pair_exactly() -> None:
    """decide() strips the household to run the rules on each pair's own evidence: the round trip must
    give back the very probability the scorer reported, or a pair exactly at an agency's review could
    drop out of the rules (a household rival lost, a review turned into a link)."""
    from mashlink.matching.household_evidence import without_household

    from datetime import timedelta

    subject = person("s", "Jakub", "Wright", dob=date(2022, 10, 19), postcode=None)
    records = [person(f"r{n}", given, family, dob=date(2022, 10, 19) + timedelta(days=days), postcode=postcode)
               for n, (given, family, days, postcode) in enumerate(
                   (g, f, d, pc) for g in ("Jakub", "Jakob", "Kuba", "Jacob") for f in ("Wright", "Wrigth", "Right")
                   for d in (0, 1, 2, 10, 31) for pc in (None, "LS6 2QQ", "BD3 9XX"))]
    checked = 0
    for record in records:
        pair = SCORER.score(subject, record)
        for level in (HouseholdLevel.CORROBORATED, HouseholdLevel.NOT_CORROBORATED):
            weighed = with_household(pair, level, EVIDENCE)
            if weighed is pair:
                continue
            back, part = without_household(weighed)
            assert part is not None
            assert back.probability == pair.probability and back.match_weight == pair.match_weight
            assert back.contributions == pair.contributions and back.reasons == pair.reasons
            at_edge = MatchPolicy(review=min(pair.probability, 0.99), auto_match=0.995)
            assert considered(back, at_edge) == considered(pair, at_edge)
            checked += 1
    assert checked > 100
