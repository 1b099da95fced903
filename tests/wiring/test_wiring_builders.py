"""Each native connector built from a YAML configuration answers an Enquiry, as ``mashlink connector`` builds it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mashlink.config.errors import ConfigError
from mashlink.connectors.delivery.wiring import AnswerEndpointService, AnswerInboxService, PeriodicService, \
    SearchAndDeliverConnector
from mashlink.connectors.education.connector import EducationConnector
from mashlink.connectors.simulators.ctf_writer import ctf_from_population
from mashlink.connectors.factory import options_issues
from mashlink.connectors.police.export import write_json
from mashlink.connectors.simulators.police_export import simulated_force_export
from mashlink.connectors.police.wiring import ReloadingPoliceConnector
from mashlink.connectors.simulators.population import Population, generate_population
from mashlink.connectors.social_care.connector import SocialCareConnector
from mashlink.connectors.social_care.synthetic import write_cin_file
from mashlink.schemas.codes import AgencyKind, MatchMethod, ResponseStatus
from mashlink.schemas.identifiers import IdentifierSystem

from tests.wiring.helpers import build, enquiry_for, settings_for, subject_like, write_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "agencies-example.yaml"


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(4242, as_of=date.today())


def _place_ctf(folder: Path, population: Population, name: str = "school-2001.xml") -> Path:
    incoming = folder / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / (name + ".tmp")  # as a school's system does: write, then rename
    tmp.write_bytes(ctf_from_population(population))
    return tmp.rename(incoming / name)


def test_pole_answers_from_exports_and_reloads_when_they_change(tmp_path: Path, population: Population) -> None:
    exports = tmp_path / "state" / "police" / "exports"
    exports.mkdir(parents=True)
    write_json(simulated_force_export(population), exports / "force.json")
    config = write_config(tmp_path / "c.yaml", [{"id": "police-x", "kind": "police", "connector": "pole",
                                                 "options": {"exports": ["police/exports"], "contact": "Police MASH"}}])
    built = build(settings_for(config, tmp_path / "state"), "police-x")
    connector = built.connector
    assert isinstance(connector, ReloadingPoliceConnector) and [s.name for s in built.services] == ["agency-events"]
    assert "1 export file(s)" in built.description
    record = next(r for r in connector.store.records if r.findings)
    subject = subject_like(record.person, identifiers=False)
    (response,) = connector.handle(enquiry_for("police-x", AgencyKind.POLICE, subject))
    assert response.status is ResponseStatus.INFORMATION_FOUND
    assert any(m.record_person_id == record.person.person_id and not m.candidate for m in response.matches)
    assert response.findings and all(f.source.agency_id == "police-x" for f in response.findings)

    # A half-written replacement is refused: the previous export keeps answering.
    (exports / "force.json").write_text('{"export": {', encoding="utf-8")
    (again,) = connector.handle(enquiry_for("police-x", AgencyKind.POLICE, subject))
    assert again.status is ResponseStatus.INFORMATION_FOUND and connector.reloads == 0
    # The next export (another force's population) replaces it: the old person is no longer known.
    other = generate_population(777, as_of=date.today())
    write_json(simulated_force_export(other), exports / "force.json")
    (after,) = connector.handle(enquiry_for("police-x", AgencyKind.POLICE, subject))
    assert connector.reloads == 1
    assert record.person.person_id not in {m.record_person_id for m in after.matches}


def test_pole_interval_reload_is_a_background_service(tmp_path: Path, population: Population) -> None:
    export = write_json(simulated_force_export(population), tmp_path / "force.json")
    config = write_config(tmp_path / "c.yaml", [{"id": "police-x", "kind": "police", "connector": "pole",
                                                 "options": {"exports": [str(export)], "reload": "interval",
                                                             "reload_interval_s": 0.05}}])
    built = build(settings_for(config, tmp_path / "state"), "police-x")
    service = built.service("pole-reload")
    assert isinstance(service, PeriodicService) and not built.connector.check_on_enquiry
    before = len(built.connector.store)
    write_json(simulated_force_export(generate_population(99, as_of=date.today(), fillers=0)), export)
    built.start_services()
    try:
        service.wait_passes(3)
    finally:
        built.stop_services()
    assert built.connector.reloads == 1 and len(built.connector.store) != before


def test_ctf_ingests_the_drop_folder_in_the_background_and_answers(tmp_path: Path, population: Population) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": "edu-x", "kind": "education", "connector": "ctf",
                                                 "options": {"drop_folder": "ctf", "ingest_interval_s": 0.05}}])
    built = build(settings_for(config, tmp_path / "state"), "edu-x")
    connector = built.connector
    assert isinstance(connector, EducationConnector)
    assert connector.index.count() == 0
    ingest = built.service("ctf-ingest")
    assert isinstance(ingest, PeriodicService)
    built.start_services()
    try:
        ingest.wait_passes(1)
        placed = _place_ctf(tmp_path / "state" / "ctf", population)  # arrives while the loop runs
        ingest.wait_passes(ingest.passes + 2)
    finally:
        built.stop_services()
    assert not placed.exists() and (tmp_path / "state" / "ctf" / "processed" / placed.name).exists()
    child = next(c for c in population.people() if c.upn and not c.unborn)
    (record,) = connector.index.by_upn(child.upn)
    (response,) = connector.handle(enquiry_for("edu-x", AgencyKind.EDUCATION, subject_like(record.person)))
    assert response.status is ResponseStatus.INFORMATION_FOUND
    assert response.matches[0].method is MatchMethod.UPN and not response.matches[0].candidate
    assert {f.category.value for f in response.findings} >= {"education.attendance"}


@pytest.mark.parametrize("connector_name", ["cin", "ssda903"])
def test_social_care_loads_its_inbox_and_answers(tmp_path: Path, connector_name: str) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": "csc-x", "kind": "social_care", "connector": connector_name,
                                                 "options": {"inbox": "inbox", "settle_s": 0,
                                                             "ingest_interval_s": 0.05}}])
    settings = settings_for(config, tmp_path / "state")
    built = build(settings, "csc-x")
    connector = built.connector
    assert isinstance(connector, SocialCareConnector) and connector.la_code == "999"  # from local_authority.code
    inbox = tmp_path / "state" / "inbox"
    (inbox / "partial.xml.tmp").write_text("<Message><Children><Child>", encoding="utf-8")  # still being written
    write_cin_file(inbox / "cin-2024.xml", la_code="999", children=4)
    ingest = built.service("social-care-ingest")
    built.start_services()
    try:
        ingest.wait_passes(2)
    finally:
        built.stop_services()
    assert connector.index.count() == 4
    assert [p.name for p in inbox.iterdir()] == ["partial.xml.tmp"]  # the temporary file is left alone
    (child,) = connector.index.by_identifier(IdentifierSystem.LA_CHILD_ID, "CH0000001", scope="999")
    (response,) = connector.handle(enquiry_for("csc-x", AgencyKind.SOCIAL_CARE, subject_like(child.person)))
    assert response.status is ResponseStatus.INFORMATION_FOUND
    assert any(not m.candidate and m.record_person_id == child.person.person_id for m in response.matches)
    assert {f.category.value for f in response.findings} >= {"social_care.child_protection_plan"}


def test_example_configuration_is_valid_and_builds_all_three(tmp_path: Path, population: Population,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    (state / "police" / "exports").mkdir(parents=True)
    write_json(simulated_force_export(population), state / "police" / "exports" / "force.json")
    settings = settings_for(EXAMPLE, state)
    assert options_issues(settings) == []
    monkeypatch.delenv("SYNTH_EDUCATION_WEBHOOK_KEY", raising=False)
    with pytest.raises(ConfigError) as exc:
        build(settings, "education-synth")
    assert {i.path for i in exc.value.issues} == {"agencies[1].options.delivery.key_env"}
    assert "SYNTH_EDUCATION_WEBHOOK_KEY" in str(exc.value)
    monkeypatch.setenv("SYNTH_EDUCATION_WEBHOOK_KEY", "synthetic-webhook-key-01234x56789")

    police = build(settings, "police-synth")
    assert [s.name for s in police.services] == ["pole-reload", "cctn-intake", "agency-events"]
    education = build(settings, "education-synth")
    assert isinstance(education.connector, SearchAndDeliverConnector)
    assert [s.name for s in education.services] == ["ctf-ingest", "answer-server", "agency-events"]
    assert isinstance(education.service("answer-server"), AnswerEndpointService)
    social = build(settings, "social-care-synth")
    assert isinstance(social.connector, SearchAndDeliverConnector)
    assert [s.name for s in social.services] == ["social-care-ingest", "answer-inbox", "agency-events"]
    assert isinstance(social.service("answer-inbox"), AnswerInboxService)
    assert (state / "social-care" / "worklist" / "outbox").is_dir()
    assert (state / "education" / "ctf-drop" / "incoming").is_dir()
