"""check_lawful_basis: every agency kind x basis combination against the law the defaults encode."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mashlink.config.lawful_basis import LawfulBasisRules
from mashlink.config.settings import load_settings
from mashlink.connectors.police.referrals import CctnReferralBuilder
from mashlink.connectors.police.schema import EXAMPLES_DIR
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.simulators.referrals import bulk_referrals, demo_referrals
from mashlink.hub.lawful import basis_problems, check_lawful_basis
from mashlink.schemas.codes import AgencyKind as K, LawfulBasis as LB, Purpose as P
from mashlink.schemas.referral import Referral
from tests.hub.hub_support import referral_data
from tests.lawful_support import SAFEGUARDING_BASIS

RULES = LawfulBasisRules()
ALL_KINDS = list(K)
GATEWAYS = {LB.CHILDREN_ACT_1989_S17, LB.CHILDREN_ACT_1989_S47, LB.CHILDREN_ACT_2004_S10, LB.CHILDREN_ACT_2004_S11}
SAFEGUARDING_9 = {LB.UK_GDPR_9_2_G, LB.DPA_2018_SCH1_PARA18}
HEALTH_CARE_9 = {LB.UK_GDPR_9_2_H, LB.DPA_2018_SCH1_PARA2}


def unmet_by_law(basis: frozenset[LB], kind: K) -> set[str]:
    """The rule names a kind's enquiry fails, written out from the law (not from the rules data)."""
    unmet = set()
    gateways = GATEWAYS | ({LB.EDUCATION_ACT_2002_S175} if kind is K.EDUCATION else set())
    if not basis & gateways:
        unmet.add("statutory_gateway")
    if kind is K.POLICE:
        if not {LB.DPA_2018_S35, LB.DPA_2018_SCH8_PARA4} <= basis:
            unmet.add("dpa_part_3")
        return unmet
    if LB.UK_GDPR_6_1_E not in basis:
        unmet.add("article_6")
    # Art 9(2)(h) + Sch 1 para 2 is for health or social care purposes only.
    art9_routes = [SAFEGUARDING_9] + ([HEALTH_CARE_9] if kind in (K.HEALTH, K.SOCIAL_CARE) else [])
    if not any(route <= basis for route in art9_routes):
        unmet.add("special_category")
    return unmet


PURPOSE_NEEDS = {
    P.MASH_SCREENING: None, P.EARLY_HELP: LB.CHILDREN_ACT_2004_S10,
    P.SECTION_17_ASSESSMENT: LB.CHILDREN_ACT_1989_S17, P.STRATEGY_DISCUSSION: LB.CHILDREN_ACT_1989_S47,
    P.SECTION_47_ENQUIRY: LB.CHILDREN_ACT_1989_S47, P.IMMEDIATE_PROTECTION: LB.CHILDREN_ACT_1989_S47,
}


@cache
def all_bases() -> list[frozenset[LB]]:
    codes = list(LB)
    return [frozenset(c) for n in range(len(codes) + 1) for c in itertools.combinations(codes, n)]


def referral(basis: list[str] | list[LB], purpose: P = P.MASH_SCREENING) -> Referral:
    return Referral.model_validate({**referral_data(), "lawful_basis": [str(b) for b in basis],
                                    "purpose": purpose.value})


# ----------------------------------------------------------------------------- the whole table


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_basis_combination_for_every_kind_matches_the_law(kind: K) -> None:
    """All 2^12 subsets of the codes: sufficient ones pass, each unmet rule is one problem naming the kind."""
    for basis in all_bases():
        problems = basis_problems(basis, P.MASH_SCREENING, [kind], RULES)
        expected = unmet_by_law(basis, kind)
        assert {_rule_of(p) for p in problems} == expected, (kind, sorted(basis), problems)
        assert len(problems) == len(expected)
        for problem in problems:
            assert problem.startswith(f"lawful_basis: enquiries to {kind.value} need ")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_missing_code_is_named(kind: K) -> None:
    """From every minimal sufficient basis, dropping any one code names exactly that code as missing."""
    minimal = [b for b in all_bases() if not unmet_by_law(b, kind)
               and all(unmet_by_law(b - {code}, kind) for code in b)]
    assert minimal
    for basis in minimal:
        for code in basis:
            problems = basis_problems(basis - {code}, P.MASH_SCREENING, [kind], RULES)
            assert len(problems) == 1, problems
            options = problems[0].split("; missing ", 1)[1].rsplit(" [rule ", 1)[0].split(", or ")
            lacking = [option.split(" (with ")[0].split(" + ") for option in options]
            assert [code.value] in lacking, (sorted(basis), code, problems)  # an option is "add exactly this"


@pytest.mark.parametrize("purpose", list(P))
def test_purpose_needs_its_gateway(purpose: P) -> None:
    needed = PURPOSE_NEEDS[purpose]
    others = frozenset(SAFEGUARDING_BASIS) - {LB.CHILDREN_ACT_1989_S47} | {LB.CHILDREN_ACT_2004_S11}
    for basis in (others, others | {needed} if needed else others):
        problems = basis_problems(basis, purpose, ALL_KINDS, RULES)
        if needed is None or needed in basis:
            assert problems == []
        else:
            (problem,) = problems
            assert problem.startswith(f"lawful_basis: purpose {purpose.value} needs ")
            assert problem.endswith(f"missing {needed.value} [rule purpose_gateway]")


@settings(max_examples=300, deadline=None)
@given(basis=st.frozensets(st.sampled_from(list(LB))),
       kinds=st.lists(st.sampled_from(ALL_KINDS), max_size=6),
       purpose=st.sampled_from(list(P)))
def test_several_kinds_report_each_unmet_rule_once_naming_every_kind(basis: frozenset[LB], kinds: list[K],
                                                                     purpose: P) -> None:
    problems = basis_problems(basis, purpose, kinds, RULES)
    expected = {(kind, rule) for kind in kinds for rule in unmet_by_law(basis, kind)}
    reported = set()
    for problem in problems:
        if problem.startswith("lawful_basis: enquiries to "):
            named = problem.removeprefix("lawful_basis: enquiries to ").split(" need ", 1)[0]
            for name in named.replace(" and ", ", ").split(", "):
                assert (K(name), _rule_of(problem)) not in reported, problems  # reported once
                reported.add((K(name), _rule_of(problem)))
    assert reported == expected
    needed = PURPOSE_NEEDS[purpose]
    purpose_problems = [p for p in problems if p.startswith("lawful_basis: purpose ")]
    assert len(purpose_problems) == (1 if needed and needed not in basis else 0)
    assert check_lawful_basis(referral(sorted(basis) or [LB.CHILDREN_ACT_1989_S17], purpose), kinds, RULES) == \
        basis_problems(basis or {LB.CHILDREN_ACT_1989_S17}, purpose, kinds, RULES)


def _rule_of(problem: str) -> str:
    return problem.rsplit("[rule ", 1)[1].removesuffix("]")


# ----------------------------------------------------------------------------- messages


def test_message_names_field_kinds_rule_and_what_is_missing() -> None:
    problems = check_lawful_basis(referral(["children_act_1989_s47", "uk_gdpr_art6_1_e", "uk_gdpr_art9_2_g"]),
                                  [K.HEALTH, K.SOCIAL_CARE, K.EDUCATION], RULES)
    assert problems == [
        "lawful_basis: enquiries to health and social_care need a UK GDPR Article 9 condition with its "
        "DPA 2018 Schedule 1 condition for special-category data; missing dpa2018_sch1_para18 "
        "(with uk_gdpr_art9_2_g), or uk_gdpr_art9_2_h + dpa2018_sch1_para2 [rule special_category]",
        "lawful_basis: enquiries to education need a UK GDPR Article 9 condition with its DPA 2018 Schedule 1 "
        "condition for special-category data; missing dpa2018_sch1_para18 (with uk_gdpr_art9_2_g) "
        "[rule special_category]",
    ]


def test_police_need_the_part_3_route() -> None:
    (problem,) = check_lawful_basis(referral(["children_act_2004_s11", "uk_gdpr_art6_1_e", "dpa2018_sch8_para4"]),
                                    [K.POLICE], RULES)
    assert problem.startswith("lawful_basis: enquiries to police need the DPA 2018 Part 3 route")
    assert problem.endswith("missing dpa2018_s35 (with dpa2018_sch8_para4) [rule dpa_part_3]")


def test_no_kinds_and_no_purpose_rule_means_nothing_to_check() -> None:
    assert check_lawful_basis(referral(["children_act_1989_s17"]), [], RULES) == []


def test_configured_rules_apply() -> None:
    rules = LawfulBasisRules.model_validate({"agency_kinds": {"health": [
        {"rule": "special_category", "need": "Art 9(2)(g) with Sch 1 para 18",
         "any_of": [["uk_gdpr_art9_2_g", "dpa2018_sch1_para18"]]}]}})
    health_care_route = referral(["children_act_1989_s47", "uk_gdpr_art6_1_e", "uk_gdpr_art9_2_h", "dpa2018_sch1_para2"])
    assert check_lawful_basis(health_care_route, [K.SOCIAL_CARE], rules) == []
    (problem,) = check_lawful_basis(health_care_route, [K.HEALTH], rules)
    assert "missing uk_gdpr_art9_2_g + dpa2018_sch1_para18 [rule special_category]" in problem


# ----------------------------------------------------------------------------- shipped fixtures pass


def _shipped_referrals() -> list[tuple[str, Referral]]:
    now = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    population = generate_population()
    out = [("tests.hub.hub_support.referral_data", Referral.model_validate(referral_data()))]
    out += [(f"demo_referrals[{i}]", r) for i, r in enumerate(demo_referrals(population, now))]
    out += [(f"bulk_referrals[{i}]", r) for i, r in enumerate(bulk_referrals(population, 10, now))]
    store = PoleStore.load([EXAMPLES_DIR / "pole-example.json"])
    builder = CctnReferralBuilder(default_local_authority="999", clock=lambda: now)
    out += [(f"police CCTN {f.finding_id}", builder.build(record, f))
            for record in store.records for f in builder.cctn_findings(record) if not f.do_not_disseminate]
    return out


@pytest.mark.parametrize(("name", "shipped"), _shipped_referrals(), ids=lambda v: v if isinstance(v, str) else "")
def test_shipped_referrals_pass_for_all_four_kinds(name: str, shipped: Referral) -> None:
    rules = load_settings().lawful_basis_rules
    assert check_lawful_basis(shipped, ALL_KINDS, rules) == [], name
    assert shipped.consent.decided_by and shipped.consent.authorised_by and shipped.consent.decided_at
