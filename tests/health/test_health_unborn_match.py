"""Unborn children in health: found through the mother's record, over FHIR (real HTTP) and HL7 v2 (real MLLP).

A trust holds a pregnancy on the mother's record, so an unborn subject is
looked for through the mother the enquiry names and the woman the trust
returns is scored as that pregnancy's mother by the shared matcher.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings
from mashlink.connectors.health.fhir_connector import FhirSearchConnector
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator, seed_patient
from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector
from mashlink.connectors.health.hl7_peer import SyntheticTrustPeer
from mashlink.connectors.health.mllp import ThreadedMllpServer
from mashlink.connectors.health.synthetic import patient_person, synthetic_patients
from mashlink.schemas.codes import AgencyKind, LawfulBasis, Rag, RelationshipType, ResponseStatus
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.relationship import Relationship

_POOL = synthetic_patients(12, seed=1717, child_share=0.0)
MOTHER = replace(_POOL[0], given="Keira", family="Fenwick", sex="F", birth_date=date(1996, 5, 14))
# Another woman of the same name at the trust, born the same year (a different mother).
NAMESAKE = replace(_POOL[1], given="Keira", family="Fenwick", sex="F", birth_date=date(1996, 10, 29),
                   postcode="SY9 4QQ")
OTHERS = [replace(p, family="Ashdown") for p in _POOL[2:8]]
DUE = date.today() + timedelta(days=70)


def _unborn_enquiry(mother: Person, *, by_relationship: bool = False) -> Enquiry:
    """An enquiry about an unborn child and its mother (linked by mother_person_id or a relationship)."""
    unborn = Person(person_id="unborn-1", unborn=True, expected_birth_date=DUE,
                    mother_person_id=None if by_relationship else mother.person_id)
    relationships = [Relationship(from_person_id=mother.person_id, to_person_id="unborn-1",
                                  type=RelationshipType.MOTHER)] if by_relationship else []
    now = datetime.now(timezone.utc)
    return Enquiry(enquiry_id="ENQ-U1", referral_id="REF-U1", agency_id="synth-trust", agency_kind=AgencyKind.HEALTH,
                   subjects=[unborn, mother], relationships=relationships, questions=["Booked for maternity care?"],
                   concerns=["domestic abuse"], rag=Rag.AMBER, requested_at=now, due_at=now + timedelta(hours=24),
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="Synthshire MASH")


def _referred_mother(**changes: object) -> Person:
    """The mother as the referral gives her: name, date of birth and address, no NHS number."""
    person = patient_person(MOTHER, "mother-1")
    return person.model_copy(update={"identifiers": [], **changes})


def _different_mother() -> Person:
    """A woman of the same name and address whose date of birth differs (same year): not the trust's patient."""
    person = _referred_mother()
    assert person.birth_date is not None
    return person.model_copy(update={"birth_date": person.birth_date.model_copy(update={"value": date(1996, 11, 27)})})


# ----------------------------------------------------------------------------- FHIR over real HTTP


@pytest.fixture(scope="module")
def fhir():  # type: ignore[no-untyped-def]
    store = FhirStore()
    seed_patient(store, MOTHER, ed=1)
    seed_patient(store, NAMESAKE, flags=True)
    for p in OTHERS:
        seed_patient(store, p)
    with ThreadedFhirSimulator(store) as server:
        with FhirClient(FhirClientSettings(base_url=server.base_url, timeout=10)) as client:
            yield FhirSearchConnector("synth-trust", client)


def _unborn_match(response, subject_id: str = "unborn-1"):  # type: ignore[no-untyped-def]
    return [m for m in response.matches if m.subject_person_id == subject_id]


@pytest.mark.parametrize("by_relationship", [False, True])
def test_fhir_finds_an_unborn_child_through_the_mothers_record(fhir, by_relationship: bool) -> None:  # type: ignore[no-untyped-def]
    [response] = fhir.handle(_unborn_enquiry(_referred_mother(), by_relationship=by_relationship))
    [match] = _unborn_match(response)
    assert match.source.record_id == f"Patient/pat-{MOTHER.nhs_number}"
    assert not match.candidate  # the mother strongly confirmed: name and full date of birth
    # the record released for the unborn child is the mother's own
    held = next(p for p in response.people if p.person_id == match.record_person_id)
    assert held.birth_date is not None and held.birth_date.value == MOTHER.birth_date
    # the namesake (another Keira Fenwick) is not offered for the unborn child
    assert all(m.source.record_id != f"Patient/pat-{NAMESAKE.nhs_number}" for m in _unborn_match(response))


def test_fhir_scores_each_woman_as_the_pregnancys_mother(fhir) -> None:  # type: ignore[no-untyped-def]
    enquiry = _unborn_enquiry(_referred_mother())
    unborn, mother = enquiry.subjects
    outcome, _found, _notes = fhir.search_subject(unborn, mother=mother)
    best = outcome.results[0]
    assert best.record_id == f"Patient/pat-{MOTHER.nhs_number}"
    assert best.pair.levels["unborn_mother"] == "mother_and_edd"
    # the namesake was returned by the trust's search too, and is vetoed as a different mother
    assert f"Patient/pat-{NAMESAKE.nhs_number}" in _found
    assert [r.record_id for r in outcome.results] == [best.record_id]


def test_fhir_does_not_match_an_unborn_child_of_a_different_mother(fhir) -> None:  # type: ignore[no-untyped-def]
    enquiry = _unborn_enquiry(_different_mother())
    [response] = fhir.handle(enquiry)
    assert _unborn_match(response) == []
    unborn, mother = enquiry.subjects
    outcome, found, _notes = fhir.search_subject(unborn, mother=mother)
    assert f"Patient/pat-{MOTHER.nhs_number}" in found  # the trust returned her; the matcher vetoed her
    assert outcome.results == []


def test_fhir_unborn_child_without_a_mother_is_not_searched(fhir) -> None:  # type: ignore[no-untyped-def]
    unborn = Person(person_id="unborn-1", unborn=True, expected_birth_date=DUE)
    outcome, found, notes = fhir.search_subject(unborn, mother=None)
    assert outcome.results == [] and found == {} and "no mother" in notes[0]


# ----------------------------------------------------------------------------- HL7 v2 over real MLLP


@pytest.fixture(scope="module")
def hl7():  # type: ignore[no-untyped-def]
    peer = SyntheticTrustPeer([MOTHER, NAMESAKE, *OTHERS])
    with ThreadedMllpServer(peer) as srv:
        yield Hl7ReferralConnector("synth-trust", "127.0.0.1", srv.port, timeout=10)


def test_hl7_finds_an_unborn_child_through_the_mothers_record(hl7) -> None:  # type: ignore[no-untyped-def]
    """The REF^I12 for the unborn child carries the mother in PID; the trust answers with her record."""
    mother = _referred_mother(identifiers=patient_person(MOTHER).identifiers)
    [response] = hl7.handle(_unborn_enquiry(mother))
    assert response.status is ResponseStatus.INFORMATION_FOUND
    [match] = _unborn_match(response)
    assert not match.candidate
    held = next(p for p in response.people if p.person_id == match.record_person_id)
    nhs = held.identifier(IdentifierSystem.NHS_NUMBER)
    assert nhs is not None and nhs.value == MOTHER.nhs_number
    assert held.birth_date is not None and held.birth_date.value == MOTHER.birth_date


def test_hl7_does_not_confirm_an_unborn_child_of_a_different_mother(hl7) -> None:  # type: ignore[no-untyped-def]
    """The referral keys the trust patient's NHS number on another woman: the trust links on it, the re-check does not."""
    other = _different_mother().model_copy(update={"identifiers": patient_person(MOTHER).identifiers})
    [response] = hl7.handle(_unborn_enquiry(other))
    [match] = _unborn_match(response)
    assert match.candidate and match.confidence < 0.95


def test_ref_i12_for_an_unborn_child_names_the_mother_in_pid() -> None:
    from mashlink.mapping.paths.hl7_er7 import FastMessage
    from mashlink.connectors.health.referral import build_ref_i12

    enquiry = _unborn_enquiry(_referred_mother(identifiers=patient_person(MOTHER).identifiers))
    text = build_ref_i12(enquiry, enquiry.subjects[0])
    msg = FastMessage.parse(text)
    assert MOTHER.nhs_number in msg.raw("PID", 3)
    assert "unborn-1^MASHLINK-SUBJECT" in msg.raw("RF1", 11)
    assert f"Unborn child expected {DUE.isoformat()}; PID is the mother" in text
