"""Public examples translate as expected (issue 18): counts, field values and data-quality flags.

Each file in ``tests/corpus/<format>/`` (sources and licences in SOURCES.md)
goes through the real ``mashlink translate``; the oracle of the fuzzing suite
holds (exit 0 or 1, no traceback, valid canonical output, no repr) and the
values below are what a practitioner would rely on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fuzz.oracle import Outcome, run_in_process

CORPUS = Path(__file__).parent


def _translate(fmt: str, *names: str, args: tuple[str, ...] = ()) -> tuple[Outcome, dict[str, dict]]:
    files: dict[str, bytes] = {}
    for name in names:
        path = CORPUS / fmt / name
        for member in (sorted(path.iterdir()) if path.is_dir() else [path]):
            files[member.name] = member.read_bytes()
    outcome = run_in_process(fmt, files, args)
    assert outcome.failure is None, str(outcome.failure)
    records = json.loads(outcome.stdout) if outcome.stdout.strip() else []
    return outcome, {r["source"]["record_id"]: r for r in records}


def _issues(record: dict) -> set[tuple[str, str]]:
    return {(i["field"], i["rule"]) for i in record["issues"]}


def test_every_corpus_file_is_listed_in_sources() -> None:
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for path in CORPUS.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".xml", ".hl7", ".csv"):
            assert path.name in sources, path


def test_uk_core_bundle() -> None:
    outcome, records = _translate("fhir", "uk-core-baby-bundle.json")
    assert outcome.exit_code == 0 and "1 record(s) accepted, 0 rejected" in outcome.stderr
    baby = records["Patient/UKCore-Patient-BabyPatient-Example"]
    assert baby["person"]["birth_date"]["value"] == "2021-02-11"
    [nhs] = [i for i in baby["person"]["identifiers"] if i["system"] == "nhs_number"]
    assert (nhs["value"], nhs["check"], nhs["verification"]) == ("9990000018", "passed", "01")
    assert baby["person"]["ethnicity"]["code"] == "A"
    findings = {f["finding_id"]: f for f in baby["findings"]}
    assert findings["Encounter/UKCore-Encounter-InpatientEncounter-Example"]["category"] == "health.admission"
    cp = findings["Flag/mashlink-corpus-Flag-LocalChildProtection"]
    assert cp["category"] == "health.child_protection_flag" and cp["attributes"]["matched_by"] == "text"
    diet = findings["Flag/UKCore-Flag-FoodAllergy-Example"]       # kept, for review, never dropped
    assert diet["attributes"]["flag_class"] == "unclassified" and diet["attributes"]["needs_review"] is True
    assert _issues(baby) == {("Flag/UKCore-Flag-FoodAllergy-Example.code", "flag.unclassified")}
    assert [r["type"] for r in baby["relationships"]] == ["mother"]


def test_hl7apy_a01_without_visit_number_keeps_the_admission() -> None:
    outcome, records = _translate("hl7v2", "hl7apy-adt-a01-no-pv1-19.hl7")
    assert outcome.exit_code == 0
    (record,) = records.values()
    [visit] = record["findings"]
    assert visit["finding_id"] == "visit-MSG0012345"              # PV1-19 empty: MSH-10
    assert visit["category"] == "health.admission" and visit["start"] is None
    assert ("findings[].start", "transform") in _issues(record)   # PV1-44 "2013" (year only): flagged
    assert record["person"]["names"][0]["family"] == "SURNAME"


def test_python_hl7_oru_keeps_the_patient_and_flags_the_unreadable_birth_date() -> None:
    outcome, records = _translate("hl7v2", "python-hl7-oru-r01.hl7")
    assert outcome.exit_code == 0
    (record,) = records.values()
    assert record["person"]["birth_date"] is None
    assert ("person.birth_date.value", "transform") in _issues(record)
    assert record["person"]["sex"] == "female" and record["findings"] == []


def test_vinah_batch_file_is_read_past_its_batch_envelope() -> None:
    """FHS/BHS/BTS/FTS no longer make the file unreadable; the outpatient visit (PV1-2 'O') is not a
    finding (as on the live feed) but an issue; the local sex code '1' is flagged; the patient is kept."""
    outcome, records = _translate("hl7v2", "python-hl7-vinah-batch-a04.hl7")
    assert outcome.exit_code == 0 and "1 record(s) accepted, 0 rejected" in outcome.stderr
    record = records["12334456778890"]
    assert record["findings"] == [] and record["person"]["sex"] is None
    assert {("PV1-2", "patient_class_not_a_finding"), ("person.sex", "code table hl7-sex")} <= _issues(record)
    detail = next(i["detail"] for i in record["issues"] if i["rule"] == "patient_class_not_a_finding")
    assert "patient class O" in detail
    assert record["person"]["identifiers"] == []          # no NHS number, no MR: no empty identifier either


def test_d2i_cin_census_fake_data() -> None:
    outcome, records = _translate("cin", "d2i-cin-census-2024.xml", args=("--la", "201"))
    assert outcome.exit_code == 0 and "2 record(s) accepted, 0 rejected" in outcome.stderr
    first = records["DfEX0000001"]
    assert first["person"]["birth_date"]["value"] == "2015-03-27" and first["person"]["sex"] == "male"
    upn = next(i for i in first["person"]["identifiers"] if i["system"] == "upn")
    assert upn["check"] == "failed"
    issues = _issues(first)
    assert ("ChildIdentifiers", "stray_text") in issues
    assert ("person.identifiers[upn]", "upn_check") in issues
    # the assessment authorised before it started: kept, the end left out and flagged
    assessment = next(f for f in first["findings"] if f["category"] == "social_care.assessment")
    index = first["findings"].index(assessment)
    assert (f"findings[{index}].end", "finding_order") in issues
    assert assessment["start"] == "2028-04-28" and assessment["end"] is None
    assert assessment["attributes"]["end_as_reported"] == "2020-09-19"
    referral = next(f for f in first["findings"] if f["category"] == "social_care.referral")
    assert (referral["start"], referral["end"]) == ("2022-10-06", "2023-02-27")
    second = records["child_fails_assessments"]
    assert second["person"]["sex"] == "male"                        # <Sex>M</Sex>, the 2024 element


def test_d2i_ssda903_csv_set() -> None:
    outcome, records = _translate("ssda903", "d2i-fake-903", args=("--la", "999"))
    assert outcome.exit_code == 0 and "6 record(s) accepted, 0 rejected" in outcome.stderr
    assert set(records) == {"566910", "384923", "709901", "550084", "710229", "733831"}
    child = records["550084"]
    assert child["person"]["birth_date"]["value"] == "2008-05-04" and child["person"]["sex"] == "female"
    episodes = [f for f in child["findings"] if f["category"] == "social_care.looked_after_episode"]
    assert [(e["start"], e["end"]) for e in episodes] == [
        ("2017-02-18", "2017-11-05"), ("2017-11-05", "2017-11-19"), ("2017-11-19", None)]
    assert ("person.identifiers[upn]", "upn_check") in _issues(child)   # the fake UPNs fail their check letter


@pytest.mark.parametrize("fmt", ["fhir", "hl7v2", "cin", "ssda903"])
def test_each_corpus_format_has_files(fmt: str) -> None:
    assert any((CORPUS / fmt).iterdir())
