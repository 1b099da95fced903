"""What must hold for an agency KIND holds on any channel; no finding about a person the policy withholds leaves.

Why: ``records`` serves every agency kind. Police rules (DND never leaves,
nobody else on a nominal's record by default, never ``full``) used to live in
the pole connector only, so a police agency on ``records`` lost them; and a
confirmed child's own record released findings about a sibling whom the
policy withholds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mashlink.config.connector_kinds import connector_kinds
from mashlink.config.settings import load_settings
from mashlink.connectors.answer_builder import AnswerBuilder, MatchVerdict, RecordHit
from mashlink.connectors.declared_channel import DeclaredChannel, ExportSource, RecordsIndex
from mashlink.connectors.factory import options_issues
from mashlink.connectors.police.release import INFORMATION_HELD_SUMMARY
from mashlink.mapping import load_spec
from mashlink.schemas.codes import AgencyKind, FindingCategory, HandlingCode, MatchMethod
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.record import AgencyRecord

from .test_answer_policy import CHILD, ENQUIRY, MOTHER, RECORD, SIBLING, SOURCE, _people
from .test_yaml_only_agency import DATA

POLICE_SOURCE = SourceRef(agency_kind=AgencyKind.POLICE, agency_id="force-999", system="POLE", record_id="c1")


def _police_finding(fid: str, about: str, code: HandlingCode, summary: str) -> Finding:
    return Finding(finding_id=fid, subject_person_id=about, category=FindingCategory.POLICE_WARNING_MARKER,
                   summary=summary, source=POLICE_SOURCE, handling_code=code)


POLICE_RECORD = AgencyRecord(
    source=POLICE_SOURCE, person=CHILD, related_people=[MOTHER, SIBLING], relationships=RECORD.relationships,
    findings=[_police_finding("p-ok", "c1", HandlingCode.PERMITTED, "shareable marker"),
              _police_finding("p-dnd", "c1", HandlingCode.DO_NOT_DISSEMINATE, "covert source detail")])


def _police_on_records(tmp_path: Path) -> DeclaredChannel:
    """A police agency given ``connector: records``: the channel as records_channel builds it."""
    return DeclaredChannel("force-999", AgencyKind.POLICE, ExportSource(tmp_path / "none.csv", "csv"),
                           load_spec(DATA / "housing-tenancies.yaml"), RecordsIndex(tmp_path / "idx.sqlite3"),
                           responder="Police MASH team")


def test_a_police_agency_on_records_withholds_dnd_and_releases_nobody_else(tmp_path: Path) -> None:
    channel = _police_on_records(tmp_path)
    assert channel.answers.linked_people == "none"  # the police kind's default, not records' minimal
    verdict = MatchVerdict(CHILD, True, MatchMethod.POLICE_ID, 0.99)
    answer = channel.answers.build(ENQUIRY, [RecordHit(ENQUIRY.subjects[0], POLICE_RECORD, verdict)])
    summaries = [f.summary for f in answer.findings]
    assert "covert source detail" not in summaries and INFORMATION_HELD_SUMMARY in summaries
    assert "shareable marker" in summaries
    assert set(_people(answer)) == {"c1"}


def test_any_builder_of_police_answers_applies_the_handling_codes() -> None:
    builder = AnswerBuilder("force-999", AgencyKind.POLICE, "Police MASH team", linked_people="none")
    verdict = MatchVerdict(CHILD, True, MatchMethod.POLICE_ID, 0.99)
    answer = builder.build(ENQUIRY, [RecordHit(ENQUIRY.subjects[0], POLICE_RECORD, verdict)])
    assert all(not f.do_not_disseminate for f in answer.findings)
    assert "covert source detail" not in answer.model_dump_json()


def test_a_police_answer_builder_refuses_full() -> None:
    with pytest.raises(ValueError, match=r"linked_people.*police.*at most.*minimal"):
        AnswerBuilder("force-999", AgencyKind.POLICE, "Police MASH team", linked_people="full")
    AnswerBuilder("force-999", AgencyKind.POLICE, "Police MASH team", linked_people="minimal")  # explicit: allowed


def _police_config(tmp_path: Path, connector: str, options: dict[str, object]) -> Path:
    agency = {"id": "force-999", "kind": "police", "name": "Synthshire Police", "connector": connector,
              "options": options}
    policy = {"subject_fields": ["names", "birth_date"], "finding_categories": ["other.concern"]}
    path = tmp_path / "mashlink.yaml"
    path.write_text(yaml.safe_dump({"agencies": [agency], "sharing_policies": {"force-999": policy}}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("connector, options", [
    ("records", {"records": "exports/x.csv", "spec": "spec.yaml", "linked_people": "full"}),
    ("pole", {"exports": ["exports/pole"], "linked_people": "full"}),
])
def test_config_check_refuses_full_for_a_police_agency_naming_the_field(
        tmp_path: Path, connector: str, options: dict[str, object]) -> None:
    settings = load_settings(_police_config(tmp_path, connector, options), state_dir=str(tmp_path / "state"))
    issues = {i.path: i.rule for i in options_issues(settings)}
    assert "agencies[0].options.linked_people" in issues, issues
    assert "at most linked_people: minimal" in issues["agencies[0].options.linked_people"]


def test_config_check_accepts_the_police_default_and_an_explicit_minimal(tmp_path: Path) -> None:
    for extra in ({}, {"linked_people": "minimal"}, {"linked_people": "none"}):
        options = {"exports": ["exports/pole"], **extra}
        settings = load_settings(_police_config(tmp_path, "pole", options), state_dir=str(tmp_path / "state"))
        assert options_issues(settings) == [], options


def test_the_kind_rules_are_declared_on_the_agency_kind() -> None:
    kinds = connector_kinds()
    assert kinds.linked_people("records", AgencyKind.POLICE) == "none"
    assert kinds.linked_people("records", AgencyKind.OTHER) == "minimal"
    assert kinds.linked_people("ctf", AgencyKind.EDUCATION) == "full"
    assert kinds.agency_kinds[AgencyKind.POLICE].release is not None


def test_an_other_partner_receiving_police_intelligence_is_warned(tmp_path: Path) -> None:
    agency = {"id": "housing-synth", "kind": "other", "name": "Synthshire Housing", "connector": "records",
              "options": {"records": "exports/x.csv", "spec": "spec.yaml"}}
    policy = {"subject_fields": ["names"], "finding_categories": ["other.concern"],
              "receives_police_intelligence": True}
    path = tmp_path / "mashlink.yaml"
    path.write_text(yaml.safe_dump({"agencies": [agency], "sharing_policies": {"housing-synth": policy}}),
                    encoding="utf-8")
    warnings = load_settings(path, state_dir=str(tmp_path / "state")).warnings()
    assert any("housing-synth: other receives police intelligence" in w for w in warnings), warnings


# A child's own record also holds findings about her mother and her sibling.
FAMILY_RECORD = RECORD.model_copy(update={"findings": [
    Finding(finding_id=f"f-{about}", subject_person_id=about, category=FindingCategory.SOCIAL_CARE_REFERRAL,
            summary=f"referral about {about}", source=SOURCE) for about in ("c1", "m1", "s1")]})


@pytest.mark.parametrize("policy, released", [
    ("none", {"f-c1"}),               # nobody else: only the child's findings
    ("minimal", {"f-c1", "f-m1"}),    # the mother is linked to the child; the sibling is not
    ("full", {"f-c1", "f-m1", "f-s1"}),
])
def test_a_confirmed_record_releases_no_findings_about_people_the_policy_withholds(
        policy: str, released: set[str]) -> None:
    builder = AnswerBuilder("csc-999", AgencyKind.SOCIAL_CARE, "CSC", linked_people=policy)  # type: ignore[arg-type]
    verdict = MatchVerdict(CHILD, True, MatchMethod.LA_CHILD_ID, 0.99)
    answer = builder.build(ENQUIRY, [RecordHit(ENQUIRY.subjects[0], FAMILY_RECORD, verdict)])
    assert {f.finding_id for f in answer.findings} == released
    assert {f.subject_person_id for f in answer.findings} <= set(_people(answer))
