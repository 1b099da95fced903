"""Education's release policy is declared (``linked_people: full`` for ``ctf``) and an agency may narrow it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mashlink.connectors.education.connector import EducationConnector
from mashlink.connectors.education.options import CtfOptions
from tests.education.test_education_connector import FIXTURES, enquiry

AGENCY = "education-synth"
AVA = {"person_id": "child-1", "names": [{"given": ["Ava"], "family": "Thornbury"}],
       "birth_date": {"value": "2012-03-14"}, "identifiers": [{"system": "upn", "value": "K999200124001"}]}


@pytest.fixture
def declared(tmp_path: Path) -> EducationConnector:
    drop = tmp_path / "drop"
    built = EducationConnector.from_options(AGENCY, CtfOptions(drop_folder=drop), state_dir=tmp_path / "state")
    shutil.copy(FIXTURES / "ctf-standard.xml", drop / "incoming" / "ctf-standard.xml")
    built.ingest_pending()
    return built


def test_a_pupil_s_contacts_are_released_in_full_by_default(declared: EducationConnector) -> None:
    (response,) = declared.handle(enquiry(AVA))
    contacts = [p for p in response.people if p.person_id.startswith("K999200124001-contact-")]
    assert contacts and any(p.contacts or p.identifiers or any(a.line for a in p.addresses) for p in contacts)


def test_an_agency_set_to_none_releases_the_pupil_alone(declared: EducationConnector) -> None:
    narrowed = EducationConnector(AGENCY, declared.index, mapping=declared.mapping, ingest_on_enquiry=False,
                                  linked_people="none")
    (response,) = narrowed.handle(enquiry(AVA))
    assert [p.person_id for p in response.people] == ["pupil-K999200124001"]
    assert response.relationships == [] and response.findings  # the pupil's own findings still go
