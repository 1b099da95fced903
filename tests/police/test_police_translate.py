"""POLE schema, readers and mapping: `mashlink translate pole` on JSON and CSV sets, bad records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from mashlink.connectors.police.schema import EXAMPLES_DIR, SCHEMA_FILE, PoleExport, json_schema
from mashlink.ops.cli import app

runner = CliRunner()


def translate(*files: Path) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["translate", "pole", *map(str, files)])
    records = json.loads(result.stdout) if result.exit_code == 0 else []
    return result.exit_code, records, result.stderr


def test_shipped_json_schema_is_current_and_example_is_valid(example_doc: dict) -> None:
    shipped = json.loads(SCHEMA_FILE.read_text())
    assert shipped == json.loads(json.dumps(json_schema())), "regenerate with schema.write_json_schema()"
    jsonschema.Draft202012Validator(shipped).validate(example_doc)
    PoleExport.model_validate(example_doc)
    broken = json.loads(json.dumps(example_doc))
    broken["events"][0]["handling_code"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(shipped).validate(broken)


def test_translate_example_json_gives_police_findings(example_json: Path) -> None:
    code, records, err = translate(example_json)
    assert code == 0, err
    assert "3 record(s) accepted, 0 rejected" in err
    by_id = {r["person"]["person_id"]: r for r in records}
    carl = by_id["ZZP0000102"]
    assert {(i["system"], i["value"], i["scope"], i["check"]) for i in carl["person"]["identifiers"]} == {
        ("police_person_id", "ZZP0000102", "ZZ", "not_applicable"), ("pnc_id", "08/123456K", None, "passed")}
    cats = {f["category"]: f for f in carl["findings"]}
    assert set(cats) == {"police.domestic_abuse_incident", "police.arrest_charge", "police.information_held",
                         "police.warning_marker"}
    assert cats["police.domestic_abuse_incident"]["attributes"]["role"] == "suspect"
    assert cats["police.information_held"]["handling_code"] == "DND"
    assert cats["police.warning_marker"]["handling_code"] == "C"
    assert cats["police.warning_marker"]["sensitivity"] == "police_restricted"
    mia = by_id["ZZP0000103"]
    cctn = next(f for f in mia["findings"] if f["category"] == "police.child_coming_to_notice")
    assert cctn["attributes"]["ppn_risk_grading"] == "high" and cctn["attributes"]["ppn_concerns"] == "DA"
    assert cctn["source"]["record_id"] == "ZZ-2025-000103"
    assert any(f["category"] == "police.missing_episode" and f["end"] == "2025-04-03" for f in mia["findings"])
    rel = mia["relationships"][0]
    assert (rel["from_person_id"], rel["to_person_id"], rel["type"], rel["parental_responsibility"],
            rel["same_household"]) == ("ZZP0000101", "ZZP0000103", "parent", True, True)


def test_csv_set_translates_to_the_same_records_as_json(force_files: dict[str, list[Path]]) -> None:
    code_j, from_json, err_j = translate(*force_files["json"])
    code_c, from_csv, err_c = translate(*force_files["csv"])
    assert code_j == 0 and code_c == 0, (err_j, err_c)
    assert len(from_json) > 5
    assert from_csv == from_json
    # The simulated force holds the population's police view: DND intelligence and CCTN records exist.
    findings = [f for r in from_json for f in r["findings"]]
    assert any(f["handling_code"] == "DND" for f in findings)
    assert any(f["category"] == "police.child_coming_to_notice" for f in findings)


def test_example_csv_set_matches_example_json(example_json: Path) -> None:
    _, from_json, _ = translate(example_json)
    _, from_csv, err = translate(*sorted((EXAMPLES_DIR / "csv").glob("*.csv")))
    assert from_csv == from_json, err


def test_bad_records_are_named_by_id_and_the_rest_translated(example_doc: dict, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(example_doc))
    doc["events"][3]["handling_code"] = "MAYBE"      # Mia's missing episode: unknown handling code
    doc["persons"][0]["birth_date"] = "14/13/1990"    # Jodie: impossible date
    doc["links"].append({"link_id": "LK-99", "type": "victim", "from_kind": "person", "from_id": "ZZP0000102",
                         "to_kind": "event", "to_id": "EV-404"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    code, records, err = translate(path)
    assert code == 0
    # An unknown handling code no longer drops the person (issue 18): Mia is kept, that one
    # finding is withheld ('unrecognised', like DND) and flagged; see test_police_grading.py.
    assert [r["person"]["person_id"] for r in records] == ["ZZP0000102", "ZZP0000103"]
    assert "2 record(s) accepted, 2 rejected" in err
    mia = records[1]
    missing = next(f for f in mia["findings"] if f["category"] == "police.missing_episode")
    assert missing["handling_code"] == "unrecognised"
    assert {"field": "findings[].attributes.handling", "rule": "code table police-handling-codes",
            "detail": "unknown code 'MAYBE'"} in mia["issues"]
    assert "id ZZP0000101" in err and "birth_date" in err
    assert "id LK-99" in err and "to_id: unknown_reference" in err
    for name in ("Jodie", "Mia", "Examplesmith", "Samplesworth"):
        assert name not in err


def test_bad_csv_rows_do_not_stop_the_set(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    shutil.copytree(EXAMPLES_DIR / "csv", folder)
    persons = folder / "example-persons.csv"
    lines = persons.read_text().splitlines()
    lines[1] = lines[1] + ",extra"                  # wrong field count for the first person
    persons.write_text("\r\n".join(lines) + "\r\n")
    events = folder / "example-events.csv"
    events.write_text(events.read_text().replace("2025-04-02", "31/02/2025"))  # Mia's missing episode
    code, records, err = translate(*sorted(folder.glob("*.csv")))
    assert code == 0
    assert [r["person"]["person_id"] for r in records] == ["ZZP0000102"]
    assert "example-persons.csv record 1" in err and "line 2" in err and "fields, the header has" in err
    assert "id ZZP0000103" in err and "start" in err


def test_exit_status_nonzero_only_when_nothing_usable(tmp_path: Path, example_doc: dict) -> None:
    doc = json.loads(json.dumps(example_doc))
    for event in doc["events"]:
        event["occurred_from"] = "not a date"
    doc["persons"] = [p for p in doc["persons"] if p["person_id"] != "ZZP0000101"]
    doc["links"] = [lk for lk in doc["links"] if "ZZP0000101" not in (lk["from_id"], lk["to_id"])]
    for person in doc["persons"]:
        person["warning_markers"] = []
    path = tmp_path / "all-bad.json"
    path.write_text(json.dumps(doc))
    code, _records, err = translate(path)
    assert code == 1
    assert "0 record(s) accepted, 2 rejected" in err
    not_pole = tmp_path / "other.json"
    not_pole.write_text("[1, 2]")
    code, _r, err = translate(not_pole)
    assert code == 1 and "not a POLE export" in err
