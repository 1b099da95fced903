"""The education connector answers MASH enquiries from CTF files dropped into its folder."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mashlink.connectors.base import AgencyConnector, PermanentEnquiryError, response_id_for
from mashlink.connectors.education.connector import EducationConnector
from mashlink.connectors.education.options import CtfOptions
from mashlink.schemas.codes import AgencyKind, MatchMethod, Rag, ResponseStatus
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.person import Person

FIXTURES = Path(__file__).parent / "fixtures"
AGENCY = "education-synth"


@pytest.fixture
def connector(tmp_path: Path) -> EducationConnector:
    drop = tmp_path / "drop"
    built = EducationConnector.from_options(AGENCY, CtfOptions(drop_folder=drop, ingest_on_enquiry=True),
                                            state_dir=tmp_path / "state")
    for name in ("ctf-standard.xml", "ctf-supplier-basicdetails.xml"):
        shutil.copy(FIXTURES / name, drop / "incoming" / name)
    return built


def enquiry(*subjects: dict, agency_id: str = AGENCY, kind: AgencyKind = AgencyKind.EDUCATION) -> Enquiry:
    now = datetime.now(timezone.utc)
    return Enquiry(
        enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=agency_id, agency_kind=kind,
        subjects=[Person.model_validate(s) for s in subjects], rag=Rag.RED, requested_at=now,
        due_at=now + timedelta(hours=4), lawful_basis=["children_act_1989_s47"], requester="Synthshire MASH",
    )


def test_is_an_agency_connector(connector: EducationConnector) -> None:
    assert isinstance(connector, AgencyConnector)


def test_answers_with_findings_people_and_relationships(connector: EducationConnector) -> None:
    ask = enquiry(
        {"person_id": "child-1", "names": [{"given": ["Ava"], "family": "Thornbury"}],
         "birth_date": {"value": "2012-03-14"}, "identifiers": [{"system": "upn", "value": "K999200124001"}]},
        {"person_id": "child-2", "names": [{"given": ["Noah"], "family": "Pemberton"}],
         "birth_date": {"value": "2011-11-02"}, "addresses": [{"postcode": "ZY2 5DQ"}]},
    )
    (response,) = connector.handle(ask)
    assert response.status is ResponseStatus.INFORMATION_FOUND
    assert response.response_id == response_id_for(ask.enquiry_id, AGENCY, 1)
    assert [(m.subject_person_id, m.record_person_id, m.method, m.candidate) for m in response.matches] == [
        ("child-1", "pupil-K999200124001", MatchMethod.UPN, False),
        ("child-2", "pupil-Z999200124002", MatchMethod.DEMOGRAPHIC, False),
    ]
    categories = {(f.subject_person_id, f.category.value) for f in response.findings}
    assert ("pupil-K999200124001", "education.attendance") in categories
    assert ("pupil-K999200124001", "education.sen_ehcp") in categories
    assert ("pupil-Z999200124002", "education.in_care") in categories
    assert ("pupil-Z999200124002", "education.suspension_exclusion") in categories
    assert all(f.source.agency_id == AGENCY for f in response.findings)
    assert {(r.from_person_id, r.type.value) for r in response.relationships} == {
        ("K999200124001-contact-1", "mother"), ("K999200124001-contact-2", "father"),
        ("Z999200124002-contact-1", "carer")}
    assert "K999200124001-contact-1" in {p.person_id for p in response.people}


def test_uncertain_matches_are_candidates_without_findings(connector: EducationConnector) -> None:
    # Surname one letter out and only the month of birth: no automatic link without a full date of birth.
    ask = enquiry({"person_id": "child-1", "names": [{"given": ["Ava"], "family": "Thornbery"}],
                   "birth_date": {"value": "2012-03-01", "precision": "month"}})
    (response,) = connector.handle(ask)
    assert [(m.record_person_id, m.candidate) for m in response.matches] == [("pupil-K999200124001", True)]
    assert response.findings == [] and response.relationships == []
    (view,) = response.people
    assert view.identifiers == [] and view.contacts == []  # minimal view until a person confirms
    assert response.note and "need confirmation" in response.note


def test_not_known(connector: EducationConnector) -> None:
    (response,) = connector.handle(enquiry({"person_id": "x", "names": [{"given": ["Nobody"], "family": "Known"}],
                                            "birth_date": {"value": "2015-01-01"}}))
    assert response.status is ResponseStatus.NOT_KNOWN and response.findings == [] and response.matches == []


def test_redelivery_gives_the_same_answer(connector: EducationConnector) -> None:
    ask = enquiry({"person_id": "c", "identifiers": [{"system": "upn", "value": "Z999200124002"}],
                   "names": [{"given": ["Noah"], "family": "Pemberton"}]})
    first, = connector.handle(ask)
    again, = connector.handle(ask)  # the drop folder is empty now: nothing re-ingested
    assert first.response_id == again.response_id
    assert first.model_dump(exclude={"responded_at"}) == again.model_dump(exclude={"responded_at"})


def test_refuses_enquiries_for_another_agency(connector: EducationConnector) -> None:
    with pytest.raises(PermanentEnquiryError):
        connector.handle(enquiry({"person_id": "x", "names": [{"family": "A"}]}, agency_id="police-synth"))
    with pytest.raises(PermanentEnquiryError):
        connector.handle(enquiry({"person_id": "x", "names": [{"family": "A"}]}, kind=AgencyKind.HEALTH))
