"""Record issues reach the practitioner (issue 18): kept-and-flagged data travels with the answer.

A CIN child whose closure date is before the referral date is kept by the
social care connector with a data-quality issue on its record. The answer
carries it (``EnquiryResponse.record_issues``) and the linked view shows it
beside the finding: "closure date before referral date (kept as recorded...)"
in the chronology, the text rendering and the page's chronology table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mashlink.connectors.social_care.connector import SocialCareConnector
from mashlink.hub.linked_render import render_text
from mashlink.hub.linked_view import build_linked_view
from mashlink.ops.web.render import templates
from mashlink.ops.web.workspace.formatting import install
from mashlink.schemas.codes import (
    AgencyKind,
    ConcernCategory,
    ConsentStatus,
    LawfulBasis,
    Rag,
    ReferralSource,
)
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import BirthDate, HumanName, Person
from mashlink.schemas.referral import Consent, RagChange, Referral
from tests.social_care.sc_fixtures import BORN_CHILD, INCONSISTENT_CHILD, cin_file

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
PHRASE = "closure date before referral date"


def _subject() -> Person:
    return Person(person_id="child-1", names=[HumanName(given=["Leo"], family="Inglis")],
                  birth_date=BirthDate(value="2014-01-01"),
                  identifiers=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="LA0005", scope="999")])


def _referral(subject: Person) -> Referral:
    return Referral(referral_id="ref-dq", received_at=NOW, local_authority="999", source=ReferralSource.SCHOOLS,
                    referrer="School DSL", concerns=[ConcernCategory.NEGLECT], subjects=[subject],
                    rag_history=[RagChange(rag=Rag.AMBER, at=NOW, by="screener")],
                    lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], consent=Consent(status=ConsentStatus.GIVEN))


def _enquiry(subject: Person) -> Enquiry:
    return Enquiry(enquiry_id="enq-dq", referral_id="ref-dq", agency_id="csc-999", agency_kind=AgencyKind.SOCIAL_CARE,
                   subjects=[subject], rag=Rag.AMBER, requested_at=NOW, due_at=NOW + timedelta(hours=6),
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="MASH")


@pytest.fixture()
def answered(tmp_path: Path) -> tuple[Referral, Enquiry, EnquiryResponse]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cin.xml").write_text(cin_file("\n".join([INCONSISTENT_CHILD, BORN_CHILD])), encoding="utf-8")
    connector = SocialCareConnector.from_options("csc-999", {"la_code": "999", "inbox": inbox},
                                                 state_dir=tmp_path / "state")
    subject = _subject()
    enquiry = _enquiry(subject)
    [response] = connector.handle(enquiry)
    return _referral(subject), enquiry, response


def test_the_answer_carries_the_record_issue_naming_its_finding(answered) -> None:  # type: ignore[no-untyped-def]
    _referral_, _enquiry_, response = answered
    order = [i for i in response.record_issues if i.rule == "finding_order"]
    assert order, response.record_issues
    referral_finding = next(f for f in response.findings if f.category.value == "social_care.referral")
    issue = next(i for i in order if i.finding_id == referral_finding.finding_id)
    assert issue.field.endswith(".end") and issue.source.agency_id == "csc-999"
    assert issue.record_person_id in {p.person_id for p in response.people}
    # the response round-trips through JSON (the broker) with its issues
    again = EnquiryResponse.model_validate_json(response.model_dump_json())
    assert again.record_issues == response.record_issues


def test_the_linked_view_shows_the_issue_beside_the_finding(answered) -> None:  # type: ignore[no-untyped-def]
    referral, enquiry, response = answered
    view = build_linked_view(referral, [enquiry], [response], now=NOW)
    entry = next(e for e in view.chronology if e.category.value == "social_care.referral")
    assert len(entry.data_quality) == 1
    text = entry.data_quality[0]
    assert text.startswith(PHRASE) and "kept as recorded" in text
    assert "2023-02-01" in text and "2023-03-01" in text          # the dates as the agency recorded them
    assert any(n.text.startswith(PHRASE) and n.finding_id == entry.finding_id for n in view.record_issues)
    rendered = render_text(view)
    assert f"DATA QUALITY: {PHRASE}" in rendered
    install(templates)
    html = templates.get_template("workspace/chronology_table.html").render(
        chronology=view.chronology, agencies={"csc-999": "Children's social care"})
    assert "Data quality" in html and PHRASE in html


def test_issues_of_a_rejected_match_stay_withheld(answered) -> None:  # type: ignore[no-untyped-def]
    referral, enquiry, response = answered
    other = Person(person_id="child-1", names=[HumanName(given=["Zed"], family="Unrelated")],
                   birth_date=BirthDate(value=date(2001, 1, 1)),
                   identifiers=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value="LA9999", scope="999")])
    view = build_linked_view(_referral(other), [_enquiry(other)], [response], now=NOW)
    assert not any(PHRASE in q for e in view.chronology for q in e.data_quality)
    assert view.record_issues == []


def test_another_agencys_viewer_never_sees_the_record_issues(answered) -> None:  # type: ignore[no-untyped-def]
    from mashlink.config.settings import load_settings
    from mashlink.hub.release import ViewerScope, release_view

    referral, enquiry, response = answered
    view = build_linked_view(referral, [enquiry], [response], now=NOW)
    assert view.record_issues
    policies = dict(load_settings().sharing_policies)
    other = next(a for a in policies if a != "csc-999")
    assert release_view(view, ViewerScope(agency_id=other), policies).record_issues == []
    assert release_view(view, ViewerScope(), policies).record_issues == []
    assert release_view(view, ViewerScope(mash=True), policies).record_issues == view.record_issues
