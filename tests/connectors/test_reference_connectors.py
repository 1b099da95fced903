"""Reference connectors answer from their simulated agency systems by the agency's rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mashlink.connectors.base import AgencyConnector, PermanentEnquiryError, response_id_for
from mashlink.config.settings import load_settings
from mashlink.connectors.reference import connector_from_config, reference_connector
from mashlink.connectors.reference.police import INFORMATION_HELD_SUMMARY, LIVE_INVESTIGATION_REASON
from mashlink.connectors.simulators.population import Population, Scenario
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.schemas.codes import (
    STATUTORY_AGENCY_KINDS,
    AgencyKind,
    FindingCategory,
    HandlingCode,
    MatchMethod,
    ResponseStatus,
    Sensitivity,
)
from mashlink.schemas.identifiers import IdentifierSystem

from .conftest import AGENCIES, enquiry_from_referral, make_enquiry


def connector(kind: AgencyKind, population: Population, **options: object):  # type: ignore[no-untyped-def]
    return reference_connector(AGENCIES[kind], kind, population=population, options=options)


def _demo(population: Population, name: str):  # type: ignore[no-untyped-def]
    order = ["red", "unborn", "amber", "green", "twin", "typo"]
    return demo_referrals(population, datetime.now(UTC))[order.index(name)]


def _unknown_subject(population: Population):  # type: ignore[no-untyped-def]
    family = next(f for f in population.families if not f.known_to)
    return population.as_person(family.children[0].key, identifiers=(IdentifierSystem.NHS_NUMBER,))


@pytest.mark.parametrize("kind", STATUTORY_AGENCY_KINDS)
def test_each_connector_finds_the_red_family_and_implements_the_protocol(kind: AgencyKind, population: Population) -> None:
    conn = connector(kind, population)
    assert isinstance(conn, AgencyConnector)
    enquiry = enquiry_from_referral(_demo(population, "red"), kind)
    responses = conn.handle(enquiry)
    first = responses[0]
    assert first.status in (ResponseStatus.INFORMATION_FOUND, ResponseStatus.PARTIAL)
    assert first.findings and all(f.source.agency_kind is kind for f in first.findings)
    matched = {m.subject_person_id for m in first.matches if not m.candidate}
    children = {s.person_id for s in enquiry.subjects if s.person_id.endswith(("C1", "C2"))}
    assert children <= matched
    assert all(m.method in MatchMethod and 0 < m.confidence <= 1 for m in first.matches)
    assert [r.response_id for r in responses] == [
        response_id_for(enquiry.enquiry_id, conn.agency_id, r.sequence) for r in responses
    ]


@pytest.mark.parametrize("kind", STATUTORY_AGENCY_KINDS)
def test_each_connector_answers_not_known(kind: AgencyKind, population: Population) -> None:
    responses = connector(kind, population).handle(make_enquiry(kind, [_unknown_subject(population)]))
    assert len(responses) == 1
    assert responses[0].status is ResponseStatus.NOT_KNOWN
    assert responses[0].findings == [] and responses[0].people == []


def test_police_never_sends_dnd_material(population: Population) -> None:
    conn = connector(AgencyKind.POLICE, population)
    sim_dnd = [f for r in conn.simulator.records for f in r.findings if f.do_not_disseminate]
    assert sim_dnd, "the simulator must hold DND material for this test to mean anything"
    response = conn.handle(enquiry_from_referral(_demo(population, "red"), AgencyKind.POLICE))[0]
    assert not any(f.handling_code is HandlingCode.DO_NOT_DISSEMINATE for f in response.findings)
    sent = response.model_dump_json()
    for finding in sim_dnd:
        assert finding.summary not in sent
        assert finding.finding_id not in sent
    held = [f for f in response.findings if f.category is FindingCategory.POLICE_INFORMATION_HELD]
    assert len(held) == 1
    assert held[0].subject_person_id == sim_dnd[0].subject_person_id
    assert held[0].summary == INFORMATION_HELD_SUMMARY and held[0].contact and held[0].attributes["reference"]


def test_police_declines_when_an_investigation_is_live(population: Population) -> None:
    child = population.by_scenario(Scenario.LOOKED_AFTER).children[0]
    enquiry = make_enquiry(AgencyKind.POLICE, [population.as_person(child.key)])
    response = connector(AgencyKind.POLICE, population).handle(enquiry)[0]
    assert response.status is ResponseStatus.DECLINED and response.declined_reason == LIVE_INVESTIGATION_REASON
    assert response.findings == []
    answered = connector(AgencyKind.POLICE, population, decline_live_investigations=False).handle(enquiry)[0]
    assert answered.status is ResponseStatus.INFORMATION_FOUND and answered.findings


def test_configured_decline_reason(population: Population) -> None:
    reason = "Records system unavailable; answer will be given by phone."
    conn = connector(AgencyKind.HEALTH, population, decline_reason=reason)
    response = conn.handle(enquiry_from_referral(_demo(population, "red"), AgencyKind.HEALTH))
    assert [(r.status, r.declined_reason) for r in response] == [(ResponseStatus.DECLINED, reason)]
    assert conn.simulator.worklist(), "a declined enquiry is still delivered to the agency's tool"


def test_education_answers_attendance_now_and_exclusions_in_a_follow_up(population: Population) -> None:
    enquiry = enquiry_from_referral(_demo(population, "red"), AgencyKind.EDUCATION)
    first, second = connector(AgencyKind.EDUCATION, population).handle(enquiry)
    assert (first.sequence, first.status, first.more_to_follow) == (1, ResponseStatus.PARTIAL, True)
    assert (second.sequence, second.status, second.more_to_follow) == (2, ResponseStatus.INFORMATION_FOUND, False)
    first_categories = {f.category for f in first.findings}
    assert FindingCategory.EDUCATION_ATTENDANCE in first_categories
    assert FindingCategory.EDUCATION_SUSPENSION_EXCLUSION not in first_categories
    assert {f.category for f in second.findings} == {FindingCategory.EDUCATION_SUSPENSION_EXCLUSION}
    assert first.response_id != second.response_id
    single = connector(AgencyKind.EDUCATION, population, follow_up_categories=[]).handle(enquiry)
    assert len(single) == 1 and single[0].status is ResponseStatus.INFORMATION_FOUND
    assert {f.finding_id for f in single[0].findings} == {f.finding_id for f in [*first.findings, *second.findings]}


def test_follow_up_is_configurable_for_any_agency(population: Population) -> None:
    conn = connector(AgencyKind.SOCIAL_CARE, population,
                     follow_up_categories=["social_care.child_protection_plan"])
    responses = conn.handle(enquiry_from_referral(_demo(population, "red"), AgencyKind.SOCIAL_CARE))
    assert [r.sequence for r in responses] == [1, 2]
    assert {f.category for f in responses[1].findings} == {FindingCategory.SOCIAL_CARE_CHILD_PROTECTION_PLAN}
    with pytest.raises(ValueError, match="not social_care categories"):
        connector(AgencyKind.SOCIAL_CARE, population, follow_up_categories=["police.arrest_charge"])


def test_health_findings_carry_their_sensitivity(population: Population) -> None:
    response = connector(AgencyKind.HEALTH, population).handle(
        enquiry_from_referral(_demo(population, "red"), AgencyKind.HEALTH)
    )[0]
    sensitivities = {f.sensitivity for f in response.findings}
    assert {Sensitivity.SEXUAL_HEALTH, Sensitivity.MENTAL_HEALTH} <= sensitivities


def test_changed_surname_is_a_candidate_without_findings(population: Population) -> None:
    enquiry = enquiry_from_referral(_demo(population, "amber"), AgencyKind.POLICE)
    child_id = population.by_scenario(Scenario.CHANGED_SURNAME).children[0].key
    # With the same given name, date of birth and address the shared matcher links a changed surname;
    # without the address to confirm it, a person decides.
    linked = connector(AgencyKind.POLICE, population).handle(enquiry)[0]
    assert [m.candidate for m in linked.matches if m.subject_person_id == child_id] == [False]
    enquiry = enquiry.model_copy(update={"subjects": [
        s.model_copy(update={"addresses": []}) if s.person_id == child_id else s for s in enquiry.subjects]})
    response = connector(AgencyKind.POLICE, population).handle(enquiry)[0]
    child_matches = [m for m in response.matches if m.subject_person_id == child_id]
    assert child_matches and all(m.candidate for m in child_matches)
    candidate_records = {m.record_person_id for m in child_matches}
    assert not any(f.subject_person_id in candidate_records for f in response.findings)
    assert response.note and "confirmation" in response.note
    # a candidate may be another family: only enough to confirm it, no identifiers or full address
    shown = [p for p in response.people if p.person_id in candidate_records]
    assert shown and all(not p.identifiers and all(not a.lines for a in p.addresses) for p in shown)


def test_connectors_from_the_default_configuration(population: Population) -> None:
    settings = load_settings()
    built = {a.kind: connector_from_config(a, population=population) for a in settings.enabled_agencies()}
    assert set(built) == set(STATUTORY_AGENCY_KINDS)
    for kind, conn in built.items():
        assert conn.agency_kind is kind and conn.simulator.records


def test_nickname_unborn_and_twin_are_matched_to_the_right_records(population: Population) -> None:
    nick = connector(AgencyKind.EDUCATION, population).handle(
        enquiry_from_referral(_demo(population, "green"), AgencyKind.EDUCATION)
    )[0]
    child = population.by_scenario(Scenario.NICKNAME).children[0]
    assert [m.record_person_id for m in nick.matches if not m.candidate] == [f"edu-{child.upn}"]

    unborn = connector(AgencyKind.HEALTH, population).handle(
        enquiry_from_referral(_demo(population, "unborn"), AgencyKind.HEALTH)
    )[0]
    family = population.by_scenario(Scenario.UNBORN).family_id
    unborn_match = [m for m in unborn.matches if m.subject_person_id == f"{family}-U1"]
    assert [(m.record_person_id, m.candidate) for m in unborn_match] == [(f"hlth-unborn-{family.lower()}", False)]

    twins = population.by_scenario(Scenario.TWINS)
    twin = next(p for p in twins.members if p.key.endswith("C1"))
    other = twins.member(twin.twin_of or "")
    response = connector(AgencyKind.EDUCATION, population).handle(
        make_enquiry(AgencyKind.EDUCATION, [population.as_person(twin.key)])
    )[0]
    records = {m.record_person_id for m in response.matches}
    assert f"edu-{twin.upn}" in records and f"edu-{other.upn}" not in records


def test_typo_in_health_copy_matches_by_nhs_number_else_candidate(population: Population) -> None:
    conn = connector(AgencyKind.HEALTH, population)
    child = population.by_scenario(Scenario.TYPO).children[0]
    with_nhs = conn.handle(make_enquiry(AgencyKind.HEALTH, [population.as_person(
        child.key, identifiers=(IdentifierSystem.NHS_NUMBER,))]))[0]
    assert [(m.method, m.candidate) for m in with_nhs.matches] == [(MatchMethod.NHS_NUMBER, False)]
    # A one-letter typo in the given name (same first letter) with family name, date of birth and address
    # agreeing: the shared matcher links it (the old rules sent it to a person).
    names_only = conn.handle(make_enquiry(AgencyKind.HEALTH, [population.as_person(child.key)]))[0]
    assert [(m.method, m.candidate) for m in names_only.matches] == [(MatchMethod.DEMOGRAPHIC, False)]
    # With only the month of birth to check the typo against, a person decides and nothing is released.
    subject = population.as_person(child.key)
    assert subject.birth_date is not None
    subject = subject.model_copy(update={"birth_date": subject.birth_date.model_copy(update={"precision": "month"})})
    month_only = conn.handle(make_enquiry(AgencyKind.HEALTH, [subject]))[0]
    assert month_only.matches and all(m.candidate for m in month_only.matches)
    assert month_only.findings == []


def test_handle_is_idempotent_and_delivers_one_task(population: Population) -> None:
    conn = connector(AgencyKind.SOCIAL_CARE, population)
    enquiry = enquiry_from_referral(_demo(population, "red"), AgencyKind.SOCIAL_CARE)
    a = conn.handle(enquiry)
    b = conn.handle(enquiry)
    strip = {"responded_at"}
    assert [r.model_dump(exclude=strip) for r in a] == [r.model_dump(exclude=strip) for r in b]
    assert [t.enquiry_id for t in conn.simulator.worklist()] == [enquiry.enquiry_id]


def test_enquiry_for_another_agency_is_a_permanent_error(population: Population) -> None:
    enquiry = make_enquiry(AgencyKind.HEALTH, [_unknown_subject(population)])
    with pytest.raises(PermanentEnquiryError, match="agency_id"):
        connector(AgencyKind.POLICE, population).handle(enquiry.model_copy(update={"agency_id": "health-synth"}))
    with pytest.raises(PermanentEnquiryError, match="agency_kind"):
        connector(AgencyKind.POLICE, population).handle(enquiry.model_copy(update={"agency_id": "police-synth"}))


def test_unknown_option_is_rejected_by_name(population: Population) -> None:
    with pytest.raises(ValueError, match="folow_up"):
        connector(AgencyKind.EDUCATION, population, folow_up=["education.attendance"])
