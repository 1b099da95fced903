"""``translate hl7v2`` / ``translate fhir``: the formats, their YAML specs, and agreement with the live paths."""

from __future__ import annotations

import json
from pathlib import Path

from mashlink.bench.fhir import _bundles
from mashlink.connectors.health.fhir_mapping import translate_document
from mashlink.connectors.health.formats import register
from mashlink.connectors.health.hl7_mapping import to_agency_record
from mashlink.connectors.health.synthetic import adt_message, corrupt_nhs_number, synthetic_patients
from mashlink.mapping import default_registry, load_spec, translate_files
from mashlink.schemas.identifiers import IdentifierSystem


def _registry():  # type: ignore[no-untyped-def]
    registry = default_registry(load_entry_points=False)
    register(registry)
    return registry


def _run(fmt: str, path: Path):  # type: ignore[no-untyped-def]
    entry = _registry().get(fmt)
    return translate_files(load_spec(entry.spec_path), entry.reader, [path])


def test_hl7v2_spec_agrees_with_live_feed(tmp_path: Path) -> None:
    patients = synthetic_patients(6, seed=8)
    triggers = ["A04", "A01", "A28", "A08", "A03", "A31"]
    texts = [adt_message(p, t, control_id=f"TR{i:04d}") for i, (p, t) in enumerate(zip(patients, triggers))]
    texts[3] = adt_message(patients[3], "A08", control_id="TR0003", nhs_number=corrupt_nhs_number(patients[3].nhs_number))
    path = tmp_path / "feed.hl7"
    path.write_text("\n".join(t.replace("\r", "\r\n") for t in texts))
    result = _run("hl7v2", path)
    assert result.rejected == [] and result.file_errors == []
    assert len(result.records) == len(texts)
    for spec_rec, text in zip(result.records, texts):
        live = to_agency_record(text)
        for system in (IdentifierSystem.NHS_NUMBER, IdentifierSystem.HOSPITAL_MRN):
            a, b = spec_rec.person.identifier(system), live.person.identifier(system)
            assert (a.value, a.check, a.scope) == (b.value, b.check, b.scope)
        assert spec_rec.person.birth_date == live.person.birth_date
        assert spec_rec.person.sex == live.person.sex
        assert [r.type for r in spec_rec.relationships] == [r.type for r in live.relationships]
        assert [f.category for f in spec_rec.findings] == [f.category for f in live.findings]


def test_hl7v2_bad_message_rejected_not_fatal(tmp_path: Path) -> None:
    p = synthetic_patients(1, seed=9)[0]
    path = tmp_path / "mixed.hl7"
    path.write_text(adt_message(p, "A04") + "\r" + "MSH|^~A&|bad" + "\r" + adt_message(p, "A08", control_id="OK2"))
    result = _run("hl7v2", path)
    assert len(result.records) == 2 and len(result.rejected) == 1
    assert "encoding characters" in str(result.rejected[0])


def test_fhir_spec_agrees_with_direct_translation(tmp_path: Path) -> None:
    bundle = _bundles(4)[0]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = _run("fhir", path)
    assert result.rejected == [] and result.file_errors == []
    (spec_rec,) = result.records
    (direct,) = translate_document(bundle)
    assert spec_rec.person.identifier(IdentifierSystem.NHS_NUMBER) == direct.person.identifier(IdentifierSystem.NHS_NUMBER)
    assert sorted(f.category.value for f in spec_rec.findings) == sorted(f.category.value for f in direct.findings)
    assert sorted(f.sensitivity.value for f in spec_rec.findings) == sorted(f.sensitivity.value for f in direct.findings)
    assert {r.type for r in spec_rec.relationships} <= {r.type for r in direct.relationships}


def test_fhir_invalid_document_is_input_error_with_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "2015-13-01"}},
        {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": [{"code": "EMER"}]}},
    ]}))
    result = _run("fhir", path)
    assert result.records == []
    (error,) = result.file_errors
    assert "Bundle.entry[0].resource.birthDate" in str(error)
    assert "Bundle.entry[1].resource.class" in str(error)  # R5-shaped class is wrong in R4
