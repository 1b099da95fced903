"""``mashlink translate`` end to end: output, bad records, exit codes, --explain."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.ops.cli import app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_json_end_to_end() -> None:
    result = run("translate", "json", str(DATA / "cases.json"))
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 2
    first = records[0]
    assert first["source"] == {"agency_kind": "social_care", "agency_id": None, "system": "Synthetic Case System",
                               "record_id": "C-1001", "organisation": "999"}
    person = first["person"]
    assert person["names"][0]["given"] == ["Amy", "Jane"] and person["names"][0]["family"] == "Testerson"
    assert person["birth_date"]["value"] == "2015-04-03"
    assert person["sex"] == "female"
    assert person["ethnicity"] == {"code_set": "dfe", "code": "WBRI", "display": "White - British"}
    nhs = [i for i in person["identifiers"] if i["system"] == "nhs_number"][0]
    assert nhs["value"] == "9991000003" and nhs["check"] == "passed"
    assert not [i for i in person["identifiers"] if i["system"] == "upn"]  # empty UPN: no identifier
    assert person["addresses"][0]["postcode"] == "LS1 1AA"
    referral, plan = first["findings"]
    assert referral["category"] == "social_care.referral" and referral["codes"] == ["3A", "10A"]
    assert referral["attributes"] == {"referral_source": "2A", "primary_need": "N1"}
    assert referral["subject_person_id"] == "C-1001" and referral["source"]["record_id"] == "C-1001"
    assert plan["category"] == "social_care.child_protection_plan" and plan["start"] == "2024-02-12"
    assert plan["attributes"] == {"category_of_abuse": "neglect"}
    assert first["relationships"] == [{
        "from_person_id": "A-1", "to_person_id": "C-1001", "type": "mother", "parental_responsibility": True,
        "same_household": True, "period": None, "source_record_id": None}]
    assert records[1]["person"]["birth_date"]["value"] == "2016-07-11"
    assert "2 record(s) accepted, 0 rejected" in result.stderr


def test_csv_end_to_end_jsonl() -> None:
    result = run("translate", "csv", str(DATA / "cases.csv"), "--jsonl")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    second = json.loads(lines[1])
    assert second["person"]["birth_date"]["value"] == "2016-07-11"  # dd/mm/yy, pivot past
    assert second["person"]["ethnicity"]["display"] == "Not stated"
    assert second["person"]["addresses"][0] == {
        "lines": ["2 Sample Street", "Flat 3"], "town": "Testtown", "postcode": "M1 1AE",
        "postcode_valid": True, "uprn": None, "type": "home", "period": None}
    assert second["findings"][0]["attributes"] == {"referral_source": "6", "primary_need": "N4",
                                                   "child_protection_plan": False}
    assert second["findings"][0]["codes"] == []


def test_bad_records_reported_rest_translated() -> None:
    result = run("translate", "json", str(DATA / "bad_cases.json"))
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["source"]["record_id"] for r in records] == ["C-2001"]
    err = result.stderr
    assert "record 2, id C-2002" in err and "cases[1]" in err
    assert "person.birth_date.value" in err and "child.dob" in err and "sex-cin" in err and "'7'" in err
    assert "record 3" in err and "source.record_id" in err and "required" in err
    assert "record 4, id C-2004" in err and "findings[].category" in err and "records[0]" in err
    assert "1 record(s) accepted, 3 rejected" in err
    # no personal data in messages
    for secret in ("secretname", "hiddenfamily", "31/02/2014", "Secretname"):
        assert secret not in err


def test_strict_fails_on_any_rejection() -> None:
    result = run("translate", "json", str(DATA / "bad_cases.json"), "--strict")
    assert result.exit_code == 1 and result.stdout == ""


def test_nothing_usable_exits_1_without_output() -> None:
    result = run("translate", "json", str(DATA / "all_bad.json"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "0 record(s) accepted, 2 rejected" in result.stderr


def test_unparseable_file_alone_exits_1_with_position() -> None:
    result = run("translate", "json", str(DATA / "broken.json"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "broken.json line 3 column 1: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_unparseable_file_does_not_withhold_the_good_files_records() -> None:
    result = run("translate", "json", str(DATA / "broken.json"), str(DATA / "cases.json"))
    assert result.exit_code == 0
    assert json.loads(result.stdout)  # the good file's records
    assert "broken.json line 3 column 1: not valid JSON" in result.stderr
    assert "1 file(s) unreadable" in result.stderr
    strict = run("translate", "json", "--strict", str(DATA / "broken.json"), str(DATA / "cases.json"))
    assert strict.exit_code == 1 and strict.stdout == ""


def test_csv_bad_rows_with_line_numbers() -> None:
    result = run("translate", "csv", str(DATA / "bad_cases.csv"))
    assert result.exit_code == 0
    assert [r["source"]["record_id"] for r in json.loads(result.stdout)] == ["C-1"]
    err = result.stderr
    assert "record 2, id C-2, line 3" in err and "not a UK postcode" in err and "NOTAPOSTCODE" not in err
    assert "record 3, id C-3, line 4" in err and "required" in err and "not a boolean" in err
    assert "record 4, line 5" in err and "row has 5 fields, the header has 19" in err
    assert "1 record(s) accepted, 3 rejected" in err


def test_csv_missing_required_column() -> None:
    result = run("translate", "csv", str(DATA / "missing_column.csv"))
    assert result.exit_code == 1 and result.stdout == ""
    assert "required columns missing from the header" in result.stderr and "'child_id'" in result.stderr


def test_explain_lists_what_leaves() -> None:
    result = run("translate", "--explain", "json")
    assert result.exit_code == 0
    out = result.stdout
    assert "child.dob" in out and "-> person.birth_date.value" in out and "date(" in out
    assert "child.gender" in out and "code table sex-cin" in out
    assert "records[*]/factors" in out and "findings[].codes" in out
    assert "source.agency_kind = constant 'social_care'" in out
    explained = run("mapping", "explain", "csv", "--json")
    fields = json.loads(explained.stdout)["fields"]
    assert {"source": "postcode", "target": "person.addresses[].postcode"}.items() <= fields[14].items() or any(
        f["source"] == "postcode" and f["target"] == "person.addresses[].postcode" for f in fields)


def test_spec_override_and_unknown_format(tmp_path: Path) -> None:
    result = run("translate", "json", str(DATA / "patient.fhir.json"), "--spec", str(DATA / "fhir-person.yaml"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["identifiers"][0]["verification"] == "01"
    result = run("translate", "nope", str(DATA / "cases.json"))
    assert result.exit_code == 2 and "unknown format 'nope'" in result.stderr


def test_bad_spec_exit_2_names_line(tmp_path: Path) -> None:
    spec = tmp_path / "mine.yaml"
    text = (DATA.parent.parent.parent / "config" / "mappings" / "generic-json.yaml").read_text()
    spec.write_text(text.replace("code: sex-cin", "code: sex-cinn"), encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), start=1) if "code: sex-cin" in ln)
    result = run("translate", "json", str(DATA / "cases.json"), "--spec", str(spec))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"mine.yaml, line {line}:" in result.stderr and "sex-cinn" in result.stderr
    check = run("mapping", "check", str(spec))
    assert check.exit_code == 1 and f"line {line}:" in check.stderr


def test_xml_and_hl7_via_spec() -> None:
    xml = run("translate", "xml", str(DATA / "cin.xml"), "--spec", str(DATA / "cin-person.yaml"), "--jsonl")
    assert xml.exit_code == 0, xml.stderr
    people = [json.loads(line) for line in xml.stdout.splitlines()]
    assert [p["person_id"] for p in people] == ["LA-1", "LA-2"]
    assert people[0]["identifiers"][0]["scope"] == "999"
    hl7 = run("translate", "hl7v2", str(DATA / "adt.hl7"), "--spec", str(DATA / "hl7-person.yaml"))
    assert hl7.exit_code == 0, hl7.stderr
    person = json.loads(hl7.stdout)[0]
    assert person["names"][0] == {"use": "official", "given": ["Amy", "Jane"], "family": "Testerson",
                                  "prefix": None, "text": None}
    assert person["identifiers"][0]["value"] == "9434765870"
