"""FHIR R4 connector against the simulator over real HTTP: search, paging, retries, Tasks, errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mashlink.connectors.health.fhir_client import (
    FhirAuthError,
    FhirClient,
    FhirClientSettings,
    FhirError,
    FhirUnavailable,
    RetryPolicy,
    retry_after_seconds,
)
from mashlink.connectors.health.fhir_connector import (
    FhirConnectorOptions,
    FhirSearchConnector,
    FhirTaskDelivery,
    task_output,
)
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator, seed_patient
from mashlink.connectors.health.fhir_mapping import translate_document
from mashlink.connectors.health.fhir_validate import FhirValidationError, validate_resource
from mashlink.connectors.health.synthetic import corrupt_nhs_number, patient_person, synthetic_patients
from mashlink.schemas.codes import (
    AgencyKind,
    FindingCategory,
    LawfulBasis,
    MatchMethod,
    Rag,
    RelationshipType,
    ResponseStatus,
    Sensitivity,
)
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.identifiers import Identifier, IdentifierSystem

PATIENTS = synthetic_patients(30, seed=41)
CHILD = replace(PATIENTS[0], family="Kettering-Vale")
TWIN_A = replace(PATIENTS[1], family="Holloway", birth_date=PATIENTS[1].birth_date)
TWIN_B = replace(PATIENTS[2], family="Holloway", birth_date=PATIENTS[1].birth_date, postcode="SY9 9ZZ")
NOT_THERE = synthetic_patients(40, seed=99)[-1]
SLEEPS: list[float] = []


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    store = FhirStore()
    seed_patient(store, CHILD, flags=True, ed=3, cp=True, camhs=True, sexual_health=True)
    seed_patient(store, TWIN_A)
    seed_patient(store, TWIN_B)
    for p in PATIENTS[3:]:
        seed_patient(store, replace(p, family="Ashdown"))
    with ThreadedFhirSimulator(store) as server:
        yield server


@pytest.fixture
def client(sim):  # type: ignore[no-untyped-def]
    SLEEPS.clear()
    sim.store.faults.clear()
    settings = FhirClientSettings(base_url=sim.base_url, page_size=5, timeout=5,
                                  retry=RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05))
    with FhirClient(settings, sleep=lambda s: SLEEPS.append(s)) as c:
        yield c


def _enquiry(*people, release=None) -> Enquiry:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    return Enquiry(enquiry_id="ENQ-F1", referral_id="REF-F1", agency_id="synth-trust", agency_kind=AgencyKind.HEALTH,
                   subjects=list(people), questions=["Any ED attendances?", "Any safeguarding flags?"],
                   concerns=["neglect"], rag=Rag.AMBER, requested_at=now, due_at=now + timedelta(hours=24),
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="Synthshire MASH")


def test_search_by_nhs_number_finds_exactly_one(client) -> None:
    found = client.search_patient_by_nhs_number(CHILD.nhs_number)
    assert [p["id"] for p in found] == [f"pat-{CHILD.nhs_number}"]
    assert client.search_patient_by_nhs_number(NOT_THERE.nhs_number) == []


def test_paging_follows_next_links(client, sim) -> None:
    before = len(sim.store.requests)
    found = client.search("Patient", {"family": "Ashdown"})
    assert len(found) == len(PATIENTS) - 3
    pages = len(sim.store.requests) - before
    assert pages == -(-len(found) // 5)
    assert len({p["id"] for p in found}) == len(found)


def test_connector_nhs_number_match_with_findings_and_policy(client) -> None:
    conn = FhirSearchConnector("synth-trust", client)
    (resp,) = conn.handle(_enquiry(patient_person(CHILD, "child-1")))
    assert resp.status is ResponseStatus.INFORMATION_FOUND
    match = resp.matches[0]
    assert (match.method, match.confidence, match.candidate) == (MatchMethod.NHS_NUMBER, 1.0, False)
    cats = sorted(f.category.value for f in resp.findings)
    assert cats.count("health.ed_attendance") == 3
    assert "health.safeguarding_flag" in cats and "health.child_protection_flag" in cats
    assert "health.caseload" in cats
    assert all(f.sensitivity is Sensitivity.STANDARD for f in resp.findings)  # sensitive held back by default
    assert "3 sensitive finding(s) held" in (resp.note or "")
    types = {r.type for r in resp.relationships}
    assert {RelationshipType.MOTHER, RelationshipType.FATHER} <= types
    patient = next(p for p in resp.people if p.person_id == match.record_person_id)
    nhs = patient.identifier(IdentifierSystem.NHS_NUMBER)
    assert nhs is not None and nhs.verification is not None and nhs.verification.value == "01"
    assert patient.ethnicity is not None and patient.ethnicity.code == "A"


def test_policy_can_release_mental_health(client) -> None:
    opts = FhirConnectorOptions(release=frozenset({Sensitivity.STANDARD, Sensitivity.MENTAL_HEALTH}))
    (resp,) = FhirSearchConnector("synth-trust", client, opts).handle(_enquiry(patient_person(CHILD, "c")))
    sens = [f.sensitivity for f in resp.findings]
    assert Sensitivity.MENTAL_HEALTH in sens and Sensitivity.SEXUAL_HEALTH not in sens


def test_demographic_search_single_confident_match(client) -> None:
    subject = patient_person(CHILD, "child-1").model_copy(update={"identifiers": []})
    (resp,) = FhirSearchConnector("synth-trust", client).handle(_enquiry(subject))
    (match,) = resp.matches
    assert match.method is MatchMethod.DEMOGRAPHIC and match.confidence == 1.0 and not match.candidate
    assert resp.findings


def test_several_demographic_candidates_reported_never_guessed(client) -> None:
    # Twins share family name and date of birth; without a given name the referral fits both.
    subject = patient_person(TWIN_A, "twin").model_copy(update={"identifiers": []})
    subject = subject.model_copy(update={"names": [subject.names[0].model_copy(update={"given": []})]})
    (resp,) = FhirSearchConnector("synth-trust", client).handle(_enquiry(subject))
    assert len(resp.matches) == 2
    assert all(m.candidate for m in resp.matches)
    assert resp.findings == []
    assert resp.matches[0].confidence >= resp.matches[1].confidence
    # A clearly different given name is neither twin (the shared matcher's veto): nothing is shown.
    zed = subject.model_copy(update={"names": [subject.names[0].model_copy(update={"given": ["Zed"]})]})
    (resp,) = FhirSearchConnector("synth-trust", client).handle(_enquiry(zed))
    assert resp.status is ResponseStatus.NOT_KNOWN and resp.matches == []


def test_nhs_number_failing_mod11_is_not_used(client) -> None:
    subject = patient_person(CHILD, "child-1")
    bad = [Identifier(system=i.system, value=corrupt_nhs_number(i.value)) if i.system is IdentifierSystem.NHS_NUMBER else i
           for i in subject.identifiers]
    subject = subject.model_copy(update={"identifiers": bad})
    assert not subject.identifier(IdentifierSystem.NHS_NUMBER).trusted  # type: ignore[union-attr]
    (resp,) = FhirSearchConnector("synth-trust", client).handle(_enquiry(subject))
    assert "modulus 11" in (resp.note or "")
    assert resp.matches[0].method is MatchMethod.DEMOGRAPHIC


def test_unknown_patient_is_not_known(client) -> None:
    (resp,) = FhirSearchConnector("synth-trust", client).handle(_enquiry(patient_person(NOT_THERE, "x")))
    assert resp.status is ResponseStatus.NOT_KNOWN and resp.findings == [] and resp.matches == []


def test_404_read_is_none(client) -> None:
    assert client.read("Patient", "does-not-exist") is None


def test_retries_on_503_then_succeeds(client, sim) -> None:
    sim.store.inject(503, 2)
    before = client.attempts
    assert len(client.search_patient_by_nhs_number(CHILD.nhs_number)) == 1
    assert client.attempts - before == 3
    assert len(SLEEPS) == 2


def test_429_respects_retry_after(client, sim) -> None:
    sim.store.inject(429, 1, retry_after="0")
    assert len(client.search_patient_by_nhs_number(CHILD.nhs_number)) == 1
    assert SLEEPS == [0.0]
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_gives_up_after_max_attempts_with_operation_outcome(client, sim) -> None:
    sim.store.inject(503, 10)
    with pytest.raises(FhirUnavailable) as err:
        client.read("Patient", f"pat-{CHILD.nhs_number}")
    assert err.value.status == 503 and err.value.issues[0]["code"] == "transient"
    sim.store.faults.clear()


def test_auth_failure_is_not_retried(sim) -> None:
    sim.store.token = "s3cret"
    try:
        with FhirClient(FhirClientSettings(base_url=sim.base_url), sleep=lambda s: None) as c:
            with pytest.raises(FhirAuthError):
                c.read("Patient", "x")
            assert c.attempts == 1
        with FhirClient(FhirClientSettings(base_url=sim.base_url, bearer_token="s3cret")) as c:
            assert c.read("Patient", f"pat-{CHILD.nhs_number}") is not None
    finally:
        sim.store.token = None


def test_server_operation_outcome_on_bad_search(client) -> None:
    with pytest.raises(FhirError) as err:
        client.search("Patient", {"shoe-size": "9"})
    assert err.value.status == 400 and err.value.issues[0]["expression"] == ["shoe-size"]


def test_task_round_trip(client, sim) -> None:
    enquiry = _enquiry(patient_person(CHILD, "child-1"), patient_person(NOT_THERE, "child-2"))
    delivery = FhirTaskDelivery("synth-trust", client)
    ids = delivery.deliver(enquiry)
    assert len(ids) == 2
    assert delivery.deliver(enquiry) == ids  # redelivery does not create new Tasks
    first = client.read("Task", ids[0])
    assert first["for"] == {"reference": f"Patient/pat-{CHILD.nhs_number}"}
    assert first["priority"] == "asap" and first["status"] == "requested"
    assert [i["valueString"] for i in first["input"] if i["type"]["text"] == "question"] == enquiry.questions
    assert delivery.collect(enquiry) is None  # not finished yet
    # the trust works the Tasks in its own tool
    first.update(status="completed", output=[
        task_output(FindingCategory.HEALTH_ED_ATTENDANCE, "Three ED attendances in six weeks"),
        task_output(FindingCategory.HEALTH_CONDITION, "Under CAMHS", Sensitivity.MENTAL_HEALTH),
    ])
    client.update(first)
    second = client.read("Task", ids[1])
    second.update(status="completed")
    client.update(second)
    resp = delivery.collect(enquiry)
    assert resp is not None and resp.status is ResponseStatus.INFORMATION_FOUND
    assert [m.subject_person_id for m in resp.matches] == ["child-1"]
    assert [f.summary for f in resp.findings] == ["Three ED attendances in six weeks", "Under CAMHS"]
    assert resp.findings[1].sensitivity is Sensitivity.MENTAL_HEALTH


def test_invalid_task_write_rejected_with_element_path(client) -> None:
    with pytest.raises(FhirError) as err:
        client.create({"resourceType": "Task", "status": "requested", "intent": "order", "authoredOn": "yesterday"})
    assert err.value.status == 400
    assert "Task.authoredOn" in err.value.issues[0]["expression"]


def test_invalid_fhir_document_names_element_path() -> None:
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "2015-13-01"}}]}
    with pytest.raises(FhirValidationError) as err:
        translate_document(bundle)
    assert err.value.paths == ["Bundle.entry[0].resource.birthDate"]
    with pytest.raises(FhirValidationError, match="Patient.name\\[0\\].given"):
        validate_resource({"resourceType": "Patient", "name": [{"given": "Amelia"}]})


def test_r4_encounter_class_read_as_coding() -> None:
    enc = {"resourceType": "Encounter", "id": "e1", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
           "subject": {"reference": "Patient/p1"}, "period": {"start": "2024-03-01T10:00:00Z"}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Test"}],
                      "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870"}]}},
        {"resource": enc}]}
    (record,) = translate_document(bundle)
    assert [f.category for f in record.findings] == [FindingCategory.HEALTH_ED_ATTENDANCE]
    assert record.person.identifier(IdentifierSystem.NHS_NUMBER).trusted  # type: ignore[union-attr]


def test_a_code_changed_in_a_copied_fhir_spec_changes_what_the_live_connector_sends(client, tmp_path) -> None:
    """The live connector translates through config/mappings/fhir-r4.yaml (issue 17): a trust edits one file."""
    from mashlink.connectors.health.fhir_mapping import default_spec_path
    from mashlink.connectors.health.fhir_translate import FhirMappingOptions

    text = default_spec_path().read_text()
    assert "    FTH: father\n" in text and "    CAMHS: mental_health\n    Sexual health" in text
    spec = tmp_path / "trust-fhir.yaml"
    spec.write_text(text.replace("    FTH: father\n", "    FTH: guardian\n")
                    .replace("    CAMHS: mental_health\n    Sexual health", "    CAMHS: standard\n    Sexual health"))
    everything = frozenset(Sensitivity)
    shipped = FhirSearchConnector("synth-trust", client, FhirConnectorOptions(release=everything))
    trust = FhirSearchConnector("synth-trust", client, FhirConnectorOptions(
        release=everything, mapping=FhirMappingOptions(spec=spec)))
    (a,) = shipped.handle(_enquiry(patient_person(CHILD, "c")))
    (b,) = trust.handle(_enquiry(patient_person(CHILD, "c")))
    assert RelationshipType.FATHER in {r.type for r in a.relationships}
    assert RelationshipType.GUARDIAN in {r.type for r in b.relationships}
    assert RelationshipType.FATHER not in {r.type for r in b.relationships}
    caseload = [f.sensitivity for f in a.findings if f.category is FindingCategory.HEALTH_CASELOAD and f.summary == "CAMHS"]
    trust_caseload = [f.sensitivity for f in b.findings if f.category is FindingCategory.HEALTH_CASELOAD
                      and f.summary == "CAMHS"]
    assert caseload == [Sensitivity.MENTAL_HEALTH] and trust_caseload == [Sensitivity.STANDARD]
