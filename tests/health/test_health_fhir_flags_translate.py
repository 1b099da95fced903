"""`mashlink translate fhir` and the live FHIR connector classify every Flag the same way (issue 18).

Both read config/mappings/codes/fhir-flag-class.yaml through ``classify_flag``:
a child-protection Flag coded in a local or supplier code system (not SNOMED
CT) is child protection by its text, a safeguarding-category Flag is
safeguarding, and a Flag nothing recognises is kept with needs_review and a
flag.unclassified issue, on both paths.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.connectors.health.fhir_mapping import translate_document
from mashlink.connectors.health.fhir_translate import flag_class_lists
from mashlink.ops.cli import app

LOCAL = "https://synth-trust.example.nhs.uk/CodeSystem/alerts"
SUPPLIER = "http://supplier.example/fhir/CodeSystem/patient-alerts"


def _flag(fid: str, code: dict, **extra: object) -> dict:
    return {"resourceType": "Flag", "id": fid, "status": "active", "code": code,
            "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-01-05"}, **extra}


BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Okafor", "given": ["Amelia"]}],
     "birthDate": "2016-02-03",
     "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}]},
    _flag("f-local-cp", {"coding": [{"system": LOCAL, "code": "ALRT-17", "display": "Child Protection"}],
                         "text": "Child Protection"}),
    _flag("f-supplier-cp", {"coding": [{"system": SUPPLIER, "code": "X9", "display": "Child protection plan"}]}),
    _flag("f-sg", {"text": "Concern raised"},
          category=[{"coding": [{"code": "safeguarding", "display": "Safeguarding"}]}]),
    _flag("f-lac", {"coding": [{"system": LOCAL, "code": "LAC"}], "text": "Looked after child"}),
    _flag("f-unknown", {"coding": [{"system": LOCAL, "code": "ALRT-99", "display": "Alert 99"}],
                        "text": "Alert 99"}),
    _flag("f-bare", {"coding": [{"system": SUPPLIER, "code": "Z1"}]}),
]]}

EXPECTED = {
    "Flag/f-local-cp": ("health.child_protection_flag", "child_protection", "text"),
    "Flag/f-supplier-cp": ("health.child_protection_flag", "child_protection", "marker"),
    "Flag/f-sg": ("health.safeguarding_flag", "safeguarding", "marker"),
    "Flag/f-lac": ("health.child_protection_flag", "child_protection", "text"),
    "Flag/f-unknown": ("health.safeguarding_flag", "unclassified", None),
    "Flag/f-bare": ("health.safeguarding_flag", "unclassified", None),
}


def _classes(record: dict) -> dict[str, tuple]:
    return {f["finding_id"]: (f["category"], f["attributes"]["flag_class"], f["attributes"].get("matched_by"))
            for f in record["findings"] if f["finding_id"].startswith("Flag/")}


def _translated(tmp_path: Path) -> dict:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(BUNDLE), encoding="utf-8")
    result = CliRunner().invoke(app, ["translate", "fhir", str(path)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    return record


def test_translate_fhir_and_the_live_connector_classify_every_flag_alike(tmp_path: Path) -> None:
    translated = _translated(tmp_path)
    (live,) = translate_document(BUNDLE)
    live_json = json.loads(live.model_dump_json())
    assert _classes(translated) == EXPECTED
    assert _classes(live_json) == EXPECTED
    review = {f["finding_id"] for f in translated["findings"] if f["attributes"].get("needs_review")}
    assert review == {"Flag/f-unknown", "Flag/f-bare"}
    issues = sorted((i["field"], i["rule"]) for i in translated["issues"] if i["rule"] == "flag.unclassified")
    assert issues == sorted((i.field, i.rule) for i in live.issues if i.rule == "flag.unclassified")
    assert issues == [("Flag/f-bare.code", "flag.unclassified"), ("Flag/f-unknown.code", "flag.unclassified")]


def test_translated_flag_keeps_its_codes_text_and_code_system(tmp_path: Path) -> None:
    findings = {f["finding_id"]: f for f in _translated(tmp_path)["findings"]}
    local = findings["Flag/f-local-cp"]
    assert local["summary"] == "Child Protection"
    assert "ALRT-17" in local["codes"]
    assert local["attributes"]["code_text"] == "Child Protection"
    assert local["attributes"]["code_systems"] == LOCAL
    assert local["start"] == "2026-01-05"
    assert findings["Flag/f-unknown"]["summary"] == "Flag not classified (review): Alert 99"
    assert "Z1" in findings["Flag/f-bare"]["codes"]


def test_the_shared_table_is_what_both_paths_read() -> None:
    lists = flag_class_lists()
    assert "child protection" in lists.texts["child_protection"]
    assert "safeguarding" in lists.markers["safeguarding"]


def test_a_trust_code_in_the_table_classifies_on_both_paths(tmp_path: Path) -> None:
    """A code list entry (code:<system>|<code>) makes a text-less local code child protection."""
    from mashlink.connectors.health.fhir_translate import FhirMappingOptions, classify_flag

    table = tmp_path / "fhir-flag-class.yaml"
    table.write_text("table: fhir-flag-class\ncodes:\n  \"code:" + LOCAL + "|CPP\": child_protection\n",
                     encoding="utf-8")
    lists = flag_class_lists(table)
    options = FhirMappingOptions(child_protection_codes=lists.codes["child_protection"])
    assert classify_flag(_flag("f", {"coding": [{"system": LOCAL, "code": "CPP"}]}), options) == (
        "child_protection", "code")


def test_translate_fhir_reads_a_trusts_own_flag_table(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """MASHLINK_FHIR_FLAG_CLASS_TABLE: a trust's code list makes its text-less local code child protection."""
    bundle = {**BUNDLE, "entry": [BUNDLE["entry"][0], {"resource": _flag("f-trust", {"coding": [
        {"system": LOCAL, "code": "CPP"}]})}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    def classes() -> dict:
        result = CliRunner().invoke(app, ["translate", "fhir", str(path)])
        assert result.exit_code == 0, result.output
        return _classes(json.loads(result.stdout)[0])

    assert classes() == {"Flag/f-trust": ("health.safeguarding_flag", "unclassified", None)}
    table = tmp_path / "trust-flags.yaml"
    table.write_text("table: fhir-flag-class\ncodes:\n  \"code:" + LOCAL + "|CPP\": child_protection\n"
                     "  \"text:child protection\": child_protection\n", encoding="utf-8")
    monkeypatch.setenv("MASHLINK_FHIR_FLAG_CLASS_TABLE", str(table))
    assert classes() == {"Flag/f-trust": ("health.child_protection_flag", "child_protection", "code")}
    table.write_text("table: x\ncodes:\n  \"code:a|b\": not_a_class\n", encoding="utf-8")
    flag_class_lists.cache_clear()
    result = CliRunner().invoke(app, ["translate", "fhir", str(path)])
    assert result.exit_code == 1 and "MASHLINK_FHIR_FLAG_CLASS_TABLE" in result.stderr
