"""The social care connector answers enquiries from loaded CIN / SSDA903 extracts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from mashlink.connectors.base import AgencyConnector
from mashlink.connectors.social_care.connector import SocialCareConnector
from mashlink.connectors.social_care.index import SocialCareIndex
from mashlink.schemas.codes import AgencyKind, LawfulBasis, MatchMethod, Rag, ResponseStatus
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, HumanName, Person
from tests.social_care.sc_fixtures import (
    BAD_CHILD, BORN_CHILD, MESSY_CHILD, SSDA903_EPISODES, SSDA903_HEADER, UNBORN_CHILD, cin_file,
)


def _enquiry(*subjects: Person) -> Enquiry:
    now = datetime.now(timezone.utc)
    return Enquiry(enquiry_id="enq-1", referral_id="ref-1", agency_id="csc-999", agency_kind=AgencyKind.SOCIAL_CARE,
                   subjects=list(subjects), rag=Rag.AMBER, requested_at=now, due_at=now + timedelta(hours=6),
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="MASH")


def _connector(tmp_path: Path) -> SocialCareConnector:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cin.xml").write_text(cin_file("\n".join([BORN_CHILD, UNBORN_CHILD, MESSY_CHILD])), encoding="utf-8")
    (inbox / "header.csv").write_text(SSDA903_HEADER, encoding="utf-8")
    (inbox / "episodes.csv").write_text(SSDA903_EPISODES, encoding="utf-8")
    (inbox / "broken.xml").write_text(cin_file(BAD_CHILD), encoding="utf-8")
    (inbox / "notes.xml").write_text("<Notes/>", encoding="utf-8")
    return SocialCareConnector.from_options("csc-999", {"la_code": "999", "inbox": inbox},
                                            state_dir=tmp_path / "state")


def test_ingest_is_idempotent_and_moves_bad_files_aside(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    state = tmp_path / "state"
    assert connector.index.count() == 5                       # 3 CIN children + 2 SSDA903 children
    assert sorted(p.name for p in (state / "processed").iterdir()) == ["cin.xml", "episodes.csv", "header.csv"]
    rejected = sorted(p.name for p in (state / "rejected").iterdir())
    assert rejected == ["broken.xml", "broken.xml.reason.txt", "notes.xml", "notes.xml.reason.txt"]
    reason = (state / "rejected" / "broken.xml.reason.txt").read_text()
    assert "no usable record" in reason and "Secretname" not in reason
    index = SocialCareIndex(state, la_code="999")
    again = index.ingest([state / "processed" / "cin.xml"], "cin")
    assert again.skipped and index.count() == 5
    assert isinstance(connector, AgencyConnector)


def test_enquiry_by_la_child_id_returns_cin_and_looked_after_findings(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    subject = Person(person_id="s1", identifiers=[
        Identifier(system=IdentifierSystem.LA_CHILD_ID, value="LA0001", scope="999")],
        names=[HumanName(given=["Ava"], family="Testerson")], birth_date=BirthDate(value=date(2015, 6, 1)))
    [response] = connector.handle(_enquiry(subject))
    assert response.status is ResponseStatus.INFORMATION_FOUND
    [match] = response.matches
    assert (match.method, match.candidate, match.record_person_id) == (MatchMethod.LA_CHILD_ID, False, "LA0001")
    categories = {f.category.value for f in response.findings}
    assert {"social_care.referral", "social_care.assessment", "social_care.section_47",
            "social_care.child_protection_plan", "social_care.looked_after_episode"} <= categories
    assert all(f.source.agency_id == "csc-999" for f in response.findings)


def test_la_child_id_from_another_la_is_not_this_child(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    subject = Person(person_id="s1", identifiers=[
        Identifier(system=IdentifierSystem.LA_CHILD_ID, value="LA0001", scope="888")])
    [response] = connector.handle(_enquiry(subject))
    assert response.status is ResponseStatus.NOT_KNOWN and not response.findings


def test_demographic_enquiry_matches_and_returns_candidates_without_findings(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    exact = Person(person_id="s1", names=[HumanName(given=["Ava"], family="Testerson")],
                   birth_date=BirthDate(value=date(2015, 6, 1)), addresses=[Address(postcode="LS1 1AA")])
    [response] = connector.handle(_enquiry(exact))
    [match] = response.matches
    assert match.method is MatchMethod.DEMOGRAPHIC and not match.candidate
    assert response.findings

    # Same name and date of birth but no address to compare: families move, so the shared matcher links it.
    moved = Person(person_id="s2", names=[HumanName(given=["Ava"], family="Testerson")],
                   birth_date=BirthDate(value=date(2015, 6, 1)))
    [response] = connector.handle(_enquiry(moved))
    assert [m.candidate for m in response.matches] == [False]

    # Same name, only the month of birth known: plausible, not certain.
    unsure = Person(person_id="s2", names=[HumanName(given=["Ava"], family="Testerson")],
                    birth_date=BirthDate(value=date(2015, 6, 1), precision="month"))
    [response] = connector.handle(_enquiry(unsure))
    assert [m.candidate for m in response.matches] == [True]
    assert response.findings == []                              # nothing shared before a person confirms
    assert response.people[0].identifiers == []                 # minimal view of a candidate
    assert "need confirmation" in (response.note or "")

    stranger = Person(person_id="s3", names=[HumanName(given=["Zed"], family="Nobody")],
                      birth_date=BirthDate(value=date(2010, 1, 1)))
    [response] = connector.handle(_enquiry(stranger))
    assert response.status is ResponseStatus.NOT_KNOWN


def test_from_options_takes_the_configuration_s_own_options_model(tmp_path: Path) -> None:
    """Built without settings, the connector accepts exactly what ``connector: cin`` options may say."""
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValueError, match="la_code is required"):
        SocialCareConnector.from_options("csc-999", {}, state_dir=tmp_path)
    with pytest.raises(ValidationError, match="state_dir"):  # the state dir is the process's, not an option
        SocialCareConnector.from_options("csc-999", {"la_code": "999", "state_dir": str(tmp_path)},
                                         state_dir=tmp_path)
    built = SocialCareConnector.from_options("csc-999", {"la_code": "999", "index_dir": "idx",
                                                         "linked_people": "none"}, state_dir=tmp_path)
    assert built.index.count() == 0 and (tmp_path / "idx").is_dir()
    assert built.answers.linked_people == "none"
