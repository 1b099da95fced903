"""The one answer builder's declared release policy (issue 17: one answer builder for every channel).

What a confirmed record releases about the other people on it is declared per
connector kind (``linked_people`` in ``config/connector_kinds.yaml``) and may
be overridden per agency; these tests pin what each policy releases, that the
default is the minimal one, and that a wrong value is refused naming where.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from mashlink.config.connector_kinds import DECLARATION_FILE, connector_kinds, load_connector_kinds
from mashlink.config.errors import ConfigError
from mashlink.connectors.answer_builder import AnswerBuilder, MatchVerdict, RecordHit, linked_people_for
from mashlink.connectors.channel_options import NativeChannelOptions
from mashlink.connectors.delivery.options import parse_connector_options
from mashlink.connectors.reference import reference_connector
from mashlink.connectors.reference.agencies import SocialCareReferenceConnector
from mashlink.connectors.registry import reference_connector_class
from mashlink.schemas.codes import (
    AgencyKind, FindingCategory, LawfulBasis, MatchMethod, Rag, RelationshipType, ResponseStatus,
)
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import BirthDate, HumanName, Person
from mashlink.schemas.record import AgencyRecord, RecordIssue
from mashlink.schemas.relationship import Relationship

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
AGENCY = "csc-999"


def _person(pid: str, given: str, born: str) -> Person:
    return Person(person_id=pid, names=[HumanName(given=[given], family="Testerton")],
                  birth_date=BirthDate(value=born),
                  identifiers=[Identifier(system=IdentifierSystem.LA_CHILD_ID, value=pid.upper(), scope="999")])


CHILD, MOTHER, SIBLING = _person("c1", "Ada", "2015-02-03"), _person("m1", "Beth", "1990-04-05"), \
    _person("s1", "Cal", "2018-06-07")
SOURCE = SourceRef(agency_kind=AgencyKind.SOCIAL_CARE, agency_id="export-said-otherwise", system="CIN",
                   record_id="c1")


def _finding(fid: str, about: str) -> Finding:
    return Finding(finding_id=fid, subject_person_id=about, category=FindingCategory.SOCIAL_CARE_REFERRAL,
                   summary="referral", source=SOURCE)


RECORD = AgencyRecord(
    source=SOURCE, person=CHILD, related_people=[MOTHER, SIBLING],
    relationships=[Relationship(from_person_id="m1", to_person_id="c1", type=RelationshipType.MOTHER),
                   Relationship(from_person_id="m1", to_person_id="s1", type=RelationshipType.MOTHER)],
    findings=[_finding("f-kept", "c1"), _finding("f-withheld", "c1")],
    issues=[RecordIssue(field="findings[0].end", rule="finding_order"),
            RecordIssue(field="findings[1].end", rule="finding_order")])

ENQUIRY = Enquiry(enquiry_id="enq-1", referral_id="ref-1", agency_id=AGENCY, agency_kind=AgencyKind.SOCIAL_CARE,
                  subjects=[Person(person_id="subj-1", names=[HumanName(given=["Ada"], family="Testerton")],
                                   birth_date=BirthDate(value="2015-02-03"))],
                  rag=Rag.AMBER, requested_at=NOW, due_at=NOW + timedelta(hours=6),
                  lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="MASH")


def _answer(policy: str | None, *, confirmed: bool = True, **kw):  # type: ignore[no-untyped-def]
    builder = (AnswerBuilder(AGENCY, AgencyKind.SOCIAL_CARE, "CSC", **kw) if policy is None
               else AnswerBuilder(AGENCY, AgencyKind.SOCIAL_CARE, "CSC", linked_people=policy, **kw))  # type: ignore[arg-type]
    verdict = MatchVerdict(CHILD, confirmed, MatchMethod.LA_CHILD_ID, 0.99 if confirmed else 0.7)
    return builder.build(ENQUIRY, [RecordHit(ENQUIRY.subjects[0], RECORD, verdict)], now=NOW)


def _people(response) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """person id -> released in full (identifiers kept) for every person in the answer."""
    return {p.person_id: bool(p.identifiers) for p in response.people}


def _links(response) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(r.from_person_id, r.to_person_id) for r in response.relationships}


def test_full_releases_everyone_on_the_own_record_with_every_relationship() -> None:
    response = _answer("full")
    assert _people(response) == {"c1": True, "m1": True, "s1": True}
    assert _links(response) == {("m1", "c1"), ("m1", "s1")}


def test_minimal_releases_only_people_linked_to_the_child_as_a_minimal_view() -> None:
    response = _answer("minimal")
    assert _people(response) == {"c1": True, "m1": False}  # the sibling is not linked to the child
    assert _links(response) == {("m1", "c1")}


def test_none_releases_nobody_else_and_no_relationship_to_them() -> None:
    response = _answer("none")
    assert _people(response) == {"c1": True}
    assert response.relationships == []


def test_the_default_policy_is_minimal() -> None:
    assert _people(_answer(None)) == _people(_answer("minimal"))
    assert linked_people_for("package.module:plugin_factory") == "minimal"


@pytest.mark.parametrize("policy", ["none", "minimal", "full"])
def test_a_candidate_releases_only_its_minimal_view_under_every_policy(policy: str) -> None:
    response = _answer(policy, confirmed=False)
    assert _people(response) == {"c1": False}
    assert response.findings == [] and response.relationships == [] and response.record_issues == []
    assert response.note and "1 possible record(s) need confirmation" in response.note


def test_findings_name_this_agency_and_the_release_filter_keeps_issues_with_withheld_findings() -> None:
    response = _answer("minimal", release=lambda fs: [f for f in fs if f.finding_id != "f-withheld"])
    assert [f.finding_id for f in response.findings] == ["f-kept"]
    assert {f.source.agency_id for f in response.findings} == {AGENCY}
    assert [i.finding_id for i in response.record_issues] == ["f-kept"]


def test_more_to_follow_makes_a_found_answer_partial() -> None:
    builder = AnswerBuilder(AGENCY, AgencyKind.SOCIAL_CARE, "CSC")
    hit = RecordHit(ENQUIRY.subjects[0], RECORD, MatchVerdict(CHILD, True, MatchMethod.LA_CHILD_ID, 0.99))
    assert builder.build(ENQUIRY, [hit], more_to_follow=True).status is ResponseStatus.PARTIAL
    assert builder.build(ENQUIRY, [], more_to_follow=True).status is ResponseStatus.NOT_KNOWN


def test_each_kind_declares_today_s_release_and_an_agency_overrides_it() -> None:
    declared = {name: kind.linked_people for name, kind in connector_kinds().connectors.items()}
    assert declared["ctf"] == "full" and declared["cin"] == declared["ssda903"] == "minimal"
    assert declared["pole"] == "none" and declared["records"] == "minimal"
    assert linked_people_for("ctf") == "full"
    assert linked_people_for("ctf", "minimal") == "minimal"


def test_a_wrong_policy_in_agency_options_names_the_field() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_connector_options(NativeChannelOptions, {"linked_people": "everyone"}, 2)
    assert [i.path for i in exc.value.issues] == ["agencies[2].options.linked_people"]
    assert "minimal" in str(exc.value)


def _load_edited(tmp_path: Path, section: str, name: str, key: str, value: object) -> None:
    """Load the shipped declaration with one value changed (raises what loading it raises)."""
    data = yaml.safe_load(DECLARATION_FILE.read_text(encoding="utf-8"))
    data[section][name][key] = value
    edited = tmp_path / "kinds.yaml"
    edited.write_text(yaml.safe_dump(data), encoding="utf-8")
    load_connector_kinds(edited)


def test_a_wrong_policy_in_the_declaration_names_the_connector(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"connectors\.ctf\.linked_people"):
        _load_edited(tmp_path, "connectors", "ctf", "linked_people", "everyone")


def test_reference_connector_classes_come_from_the_declaration(tmp_path: Path) -> None:
    assert reference_connector_class("social_care") is SocialCareReferenceConnector
    with pytest.raises(LookupError, match="no simulated other agency system"):
        reference_connector("housing-1", AgencyKind.OTHER)
    with pytest.raises(ValueError, match=r"agency_kinds\.health"):  # a simulator nobody answers from
        _load_edited(tmp_path, "agency_kinds", "health", "reference", None)
