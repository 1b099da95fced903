"""The synthetic population and referrals: deterministic, valid identifiers, every scenario present."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mashlink.connectors.simulators import simulator_for
from mashlink.connectors.simulators.population import Population, Scenario, generate_population
from mashlink.connectors.simulators.referrals import bulk_referrals, demo_referrals
from mashlink.schemas.codes import AgencyKind, ConsentStatus, HandlingCode, Rag, Sensitivity
from mashlink.schemas.identifiers import nhs_number_is_valid, upn_is_valid
from mashlink.schemas.person import postcode_is_valid


def test_same_seed_same_population_and_different_seed_differs() -> None:
    day = date(2026, 3, 2)
    a = generate_population(7, as_of=day)
    b = generate_population(7, as_of=day)
    c = generate_population(8, as_of=day)
    assert a.model_dump() == b.model_dump()
    assert [p.nhs_number for p in a.people()] != [p.nhs_number for p in c.people()]


def test_identifiers_are_synthetic_valid_and_unique(population: Population) -> None:
    people = population.people()
    nhs = [p.nhs_number for p in people if p.nhs_number]
    assert nhs and all(n.startswith("999") and nhs_number_is_valid(n) for n in nhs)
    assert len(set(nhs)) == len(nhs)
    upns = [p.upn for p in people if p.upn]
    assert upns and all(upn_is_valid(u) and u[1:4] == population.la_code for u in upns)
    assert len(set(upns)) == len(upns)
    for family in population.families:
        assert postcode_is_valid(family.postcode) and family.postcode.startswith("ZY")


def test_scenarios_have_their_identity_problems(population: Population) -> None:
    unborn_family = population.by_scenario(Scenario.UNBORN)
    unborn = next(p for p in unborn_family.members if p.unborn)
    assert unborn.expected_birth_date and unborn.expected_birth_date > population.as_of
    assert unborn.birth_date is None and unborn_family.member(unborn.mother_key or "").role == "mother"

    twins = [p for p in population.by_scenario(Scenario.TWINS).members if p.twin_of]
    assert len(twins) == 2 and twins[0].birth_date == twins[1].birth_date and twins[0].given != twins[1].given

    renamed = population.by_scenario(Scenario.CHANGED_SURNAME).children[0]
    assert renamed.previous_family and renamed.previous_family != renamed.family

    nick = population.by_scenario(Scenario.NICKNAME).children[0]
    assert nick.nickname and nick.nickname != nick.given

    unknown = [f for f in population.families if not f.known_to]
    assert unknown, "some families must be known to no agency (not_known answers)"


def test_scoped_identifiers_carry_their_scope(population: Population) -> None:
    person = population.as_person(population.by_scenario(Scenario.RED_DOMESTIC_ABUSE).children[0].key,
                                  identifiers=("la_child_id", "police_person_id"))  # type: ignore[arg-type]
    scopes = {i.system.value: i.scope for i in person.identifiers}
    assert scopes == {"la_child_id": population.la_code, "police_person_id": population.force_code}


def test_agency_views_hold_their_special_records(population: Population) -> None:
    police = simulator_for(AgencyKind.POLICE, population, "police-synth")
    assert any(f.handling_code is HandlingCode.DO_NOT_DISSEMINATE for r in police.records for f in r.findings)
    health = simulator_for(AgencyKind.HEALTH, population, "health-synth")
    sensitivities = {f.sensitivity for r in health.records for f in r.findings}
    assert {Sensitivity.MENTAL_HEALTH, Sensitivity.SEXUAL_HEALTH} <= sensitivities
    typo_child = population.by_scenario(Scenario.TYPO).children[0]
    health_copy = next(r.person for r in health.records if r.record_id == f"hlth-{typo_child.nhs_number}")
    assert health_copy.names[0].given[0] != typo_child.given
    education = simulator_for(AgencyKind.EDUCATION, population, "education-synth")
    assert any(f.attributes.get("persistent_absence") is True for r in education.records for f in r.findings)
    social = simulator_for(AgencyKind.SOCIAL_CARE, population, "social-care-synth")
    codes = {c for r in social.records for f in r.findings for c in f.codes}
    assert {"3A", "EMO", "S47"} <= codes
    assert all(f.source.agency_id == "social-care-synth" for r in social.records for f in r.findings)


def test_demo_referrals_cover_red_unborn_amber_green(population: Population) -> None:
    now = datetime.now(UTC)
    refs = demo_referrals(population, now)
    assert refs[0].rag is Rag.RED
    assert {r.rag for r in refs} == {Rag.RED, Rag.AMBER, Rag.GREEN}
    unborn = [s for r in refs for s in r.subjects if s.unborn]
    assert len(unborn) == 1 and unborn[0].expected_birth_date
    for ref in refs:
        assert ref.household and ref.lawful_basis
        assert ref.consent.status is ConsentStatus.NOT_SOUGHT and ref.consent.reason
    # deterministic ids for the same population
    assert [r.referral_id for r in demo_referrals(population, now + timedelta(hours=1))] == [
        r.referral_id for r in refs
    ]
    assert len({r.referral_id for r in refs}) == len(refs)


def test_bulk_referrals_mix_and_ids(population: Population) -> None:
    refs = bulk_referrals(population, 50, datetime.now(UTC))
    assert len({r.referral_id for r in refs}) == 50
    rags = [r.rag for r in refs]
    assert rags.count(Rag.RED) == 5 and rags.count(Rag.AMBER) == 15 and rags.count(Rag.GREEN) == 30
    assert {r.rag for r in bulk_referrals(population, 5, datetime.now(UTC), rag=Rag.GREEN)} == {Rag.GREEN}
