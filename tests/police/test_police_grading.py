"""Police inputs as they come from the field (issue 18): unknown handling codes, 3x5x2 and 5x5x5
grading, and structure where a single value is expected."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mashlink.connectors.police.connector import PoliceConnector
from mashlink.connectors.police.reader import grading_of
from mashlink.connectors.police.release import INFORMATION_HELD_SUMMARY
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.police.schema import EXAMPLES_DIR, PoleExport
from mashlink.ops.cli import app
from mashlink.schemas.codes import AgencyKind, HandlingCode, Rag
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.finding import Finding, IntelligenceGrading, SourceRef
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import BirthDate, HumanName, Person

GRADED = Path(__file__).parent / "fixtures" / "pole-graded.json"
AGENCY = "police-field"
runner = CliRunner()


def translate(*args: str) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["translate", "pole", *args])
    records = json.loads(result.stdout) if result.stdout.strip() else []
    return result.exit_code, records, result.stderr + (repr(result.exception) if result.exception and
                                                        not isinstance(result.exception, SystemExit) else "")


@pytest.fixture(scope="module")
def graded() -> dict[str, dict]:
    code, records, err = translate(str(GRADED))
    assert code == 0, err
    assert "2 record(s) accepted, 0 rejected (1 kept with data-quality issues)" in err
    return {r["person"]["person_id"]: r for r in records}


def findings(record: dict) -> dict[str, dict]:
    return {f["finding_id"].split(":", 1)[1]: f for f in record["findings"]}


def test_fixture_is_a_valid_export_under_the_writer_schema() -> None:
    doc = json.loads(GRADED.read_text())
    doc["events"][3]["handling_code"] = "P"  # EV-24: the deliberately unknown code
    PoleExport.model_validate(doc)


def test_unknown_handling_code_keeps_the_person_and_withholds_only_that_finding(graded: dict[str, dict]) -> None:
    robin = graded["ZZP0000201"]
    by_event = findings(robin)
    assert set(by_event) == {"EV-21", "EV-22", "EV-23", "EV-24", "marker:WM-1"}
    assert by_event["EV-24"]["handling_code"] == "unrecognised"
    assert by_event["EV-24"]["sensitivity"] == "police_restricted"
    assert [f["handling_code"] for k, f in by_event.items() if k != "EV-24"] == ["C", "P", "P", "C"]
    assert robin["issues"] == [{"field": "findings[].attributes.handling", "rule": "code table police-handling-codes",
                                "detail": "unknown code 'Z9'"}]
    assert Finding.model_validate(by_event["EV-24"]).do_not_disseminate


def test_3x5x2_grades_are_read(graded: dict[str, dict]) -> None:
    by_event = findings(graded["ZZP0000201"])
    intel = by_event["EV-21"]
    assert intel["grading"] == {
        "scheme": "3x5x2", "source_evaluation": "2", "intelligence_assessment": "B", "handling_code": "C",
        "conditions": "Not to be disclosed to the family; contact the police MASH before any action."}
    assert intel["reliability"] == "untested" and intel["sensitivity"] == "police_restricted"
    assert by_event["EV-22"]["grading"]["scheme"] == "3x5x2" and by_event["EV-22"]["reliability"] == "reliable"
    assert by_event["EV-23"]["grading"]["intelligence_assessment"] == "E"
    assert by_event["EV-23"]["reliability"] == "not_reliable"
    marker = by_event["marker:WM-1"]
    assert marker["grading"]["conditions"] == "Share with the MASH for safeguarding only."
    assert marker["handling_code"] == "C"
    assert by_event["EV-24"]["grading"] is None


def test_legacy_5x5x5_grades_are_read_and_released_conservatively(graded: dict[str, dict]) -> None:
    by_event = findings(graded["ZZP0000202"])
    assert by_event["EV-31"]["grading"] == {"scheme": "5x5x5", "source_evaluation": "B",
                                            "intelligence_assessment": "2", "handling_code": "2", "conditions": None}
    assert by_event["EV-31"]["handling_code"] == "C" and by_event["EV-31"]["reliability"] == "mostly_reliable"
    # 5x5x5 code 1 is for law enforcement and prosecutors only: never to MASH partners.
    assert by_event["EV-32"]["handling_code"] == "DND"
    # A plain P code (no grade) is translated as before.
    assert by_event["EV-33"]["handling_code"] == "P" and by_event["EV-33"]["grading"] is None
    assert graded["ZZP0000202"]["issues"] == []


def test_legacy_example_export_still_translates_unchanged() -> None:
    code, records, err = translate(str(EXAMPLES_DIR / "pole-example.json"))
    assert code == 0 and "3 record(s) accepted, 0 rejected" in err
    found = [f for r in records for f in r["findings"]]
    assert {f["handling_code"] for f in found} == {"P", "C", "DND"}
    assert all(f["grading"] is None for f in found) and all(r["issues"] == [] for r in records)


def test_connector_answers_with_the_shareable_findings_and_one_information_held() -> None:
    store = PoleStore.load([GRADED])
    assert not store.rejected and len(store) == 2
    subject = Person(person_id="s1", names=[HumanName(given=["Robin"], family="Testfield")],
                     birth_date=BirthDate(value=date(2011, 4, 9)),
                     identifiers=[Identifier(system=IdentifierSystem.POLICE_PERSON_ID, value="ZZP0000201",
                                             scope="ZZ")])
    now = datetime.now(UTC)
    response = PoliceConnector(AGENCY, store).search_response(Enquiry(
        enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=AGENCY,
        agency_kind=AgencyKind.POLICE, subjects=[subject], rag=Rag.RED, requested_at=now,
        due_at=now + timedelta(hours=4), lawful_basis=["children_act_1989_s47"], requester="MASH"))
    assert response.status.value == "information_found"
    sent = {f.finding_id: f for f in response.findings}
    assert set(sent) == {"ZZP0000201:EV-21", "ZZP0000201:EV-22", "ZZP0000201:EV-23", "ZZP0000201:marker:WM-1",
                         "ZZP0000201:information-held"}
    held = sent["ZZP0000201:information-held"]
    assert held.summary == INFORMATION_HELD_SUMMARY and held.handling_code is HandlingCode.PERMITTED
    conditional = sent["ZZP0000201:EV-21"]
    assert conditional.contact and conditional.grading and conditional.grading.conditions
    wire = response.model_dump_json()
    assert "Domestic incident" not in wire and "EV-24" not in wire and "ZZ-2025-002104" not in wire


def test_grading_values_outside_the_scheme_are_left_out_and_flagged() -> None:
    issues: list[dict[str, str]] = []
    grade = grading_of({"handling_code": "P", "source_evaluation": "B", "intelligence_assessment": "A"},
                       "ZZP1:EV-1", issues)
    assert grade == {"scheme": "3x5x2", "conditions": None, "handling_code": "P", "intelligence_assessment": "A"}
    assert issues == [{"field": "findings[ZZP1:EV-1].grading.source_evaluation", "rule": "grading_scheme",
                       "detail": "not a 3x5x2 source evaluation (one of 1, 2, 3); left out"}]
    issues.clear()
    grade = grading_of({"handling_code": "C", "source_evaluation": ["1"], "intelligence_assessment": "B"},
                       "ZZP1:EV-2", issues)
    assert grade is not None and grade["handling_code"] == "C" and "source_evaluation" not in grade
    assert [i["rule"] for i in issues] == ["structure", "conditions_missing"]
    assert grading_of({"handling_code": "DND"}, "ZZP1:EV-3", issues) is None


def test_canonical_grading_checks_values_against_the_scheme() -> None:
    IntelligenceGrading(scheme="5x5x5", source_evaluation="E", intelligence_assessment="4", handling_code="5")
    with pytest.raises(ValueError, match="not a 3x5x2 source evaluation"):
        IntelligenceGrading(scheme="3x5x2", source_evaluation="A")
    source = SourceRef(agency_kind="education", system="MIS", record_id="x")
    with pytest.raises(ValueError, match="grading_police_only"):
        Finding(finding_id="f", subject_person_id="p", category="education.attendance", source=source,
                grading=IntelligenceGrading(scheme="3x5x2", source_evaluation="1"))


def _single_person_doc() -> dict:
    doc = json.loads(GRADED.read_text())
    doc["persons"] = doc["persons"][1:]
    doc["links"] = [lk for lk in doc["links"] if lk["from_id"] == "ZZP0000202"]
    return doc


@pytest.mark.parametrize("where, change, expect", [
    ("link", lambda d: d["links"][0].__setitem__("from_id", ["ZZP0000202"]),
     ("$.links[0]", "from_id: structure: a list where a single id is expected")),
    ("person id", lambda d: d["persons"][0].__setitem__("person_id", {"id": "ZZP0000202"}),
     ("$.persons[0]", "person_id: structure: an object where a single id is expected")),
    ("event field", lambda d: d["events"][4].__setitem__("handling_code", {"code": "2"}),
     ("$.persons[0]", "handling_code", "structure")),
])
def test_list_or_object_for_a_scalar_is_a_clear_error(tmp_path: Path, where: str, change, expect) -> None:
    doc = _single_person_doc()
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    code, records, err = translate("--strict", str(path))
    assert code == 1, err
    assert "Traceback" not in err and "TypeError" not in err and "unhashable" not in err
    for text in expect:
        assert text in err
    assert "Oldrecord" not in err and "Alex" not in err


def test_list_for_a_scalar_without_strict_names_the_path_and_keeps_the_rest(tmp_path: Path) -> None:
    doc = json.loads(GRADED.read_text())
    doc["links"][0]["to_id"] = ["EV-21", "EV-22"]   # the crash of issue 18: unhashable type in person_views
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    code, records, err = translate(str(path))
    assert code == 0 and len(records) == 2
    assert "id LK-21, $.links[0]" in err and "to_id: structure: a list where a single id is expected" in err
    only = _single_person_doc()
    only["persons"][0]["person_id"] = ["ZZP0000202"]
    path.write_text(json.dumps(only))
    code, records, err = translate(str(path))
    assert code == 1 and records == [] and "$.persons[0]" in err and "person_id: structure" in err


def test_graded_export_as_a_csv_set_translates_like_the_json(tmp_path: Path) -> None:
    from mashlink.connectors.police.export import write_csv_set, write_json

    doc = json.loads(GRADED.read_text())
    doc["events"][3]["handling_code"] = "P"
    export = PoleExport.model_validate(doc)
    json_path = write_json(export, tmp_path / "graded.json")
    csv_paths = write_csv_set(export, tmp_path / "csv", "graded-")
    header = (tmp_path / "csv" / "graded-events.csv").read_text().splitlines()[0]
    assert "source_evaluation" in header and "handling_conditions" in header
    code_j, from_json, err_j = translate(str(json_path))
    code_c, from_csv, err_c = translate(*map(str, csv_paths))
    assert code_j == 0 and code_c == 0, (err_j, err_c)
    assert from_csv == from_json
    graded = [f["grading"] for r in from_csv for f in r["findings"] if f["grading"]]
    assert {g["scheme"] for g in graded} == {"3x5x2", "5x5x5"}
