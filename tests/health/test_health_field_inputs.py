"""Health inputs as they come from the field (issue 18). All patients are synthetic.

* HL7 v2 ADT^A01 without PV1-19 (visit number): the attendance is kept with a
  derived, stable finding id on both paths (live MLLP record and
  ``translate hl7v2``), and the ED alert fires for a watched child.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from mashlink.connectors.health.adt import AdtFeed, InMemoryWatchList, WatchedSubject
from mashlink.connectors.health.formats import register
from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.mapping.paths.hl7_er7 import FastMessage
from mashlink.connectors.health.hl7_mapping import to_agency_record
from mashlink.connectors.health.mllp import MllpClient, ThreadedMllpServer
from mashlink.connectors.health.synthetic import adt_message, synthetic_patients
from mashlink.mapping import default_registry, load_spec, translate_files
from mashlink.schemas.codes import FindingCategory
from mashlink.schemas.events import Alert, AlertKind
from mashlink.schemas.identifiers import Identifier, IdentifierSystem

CHILD = replace(synthetic_patients(1, seed=181)[0], birth_date=date.today() - timedelta(days=7 * 365))


def _blank_pv1(text: str, *fields: int, control_id: str | None = None) -> str:
    """The message with the given PV1 fields emptied (and MSH-10 replaced when asked)."""
    out = []
    for segment in text.split("\r"):
        parts = segment.split("|")
        if parts[0] == "PV1":
            for i in fields:
                if i < len(parts):
                    parts[i] = ""
            segment = "|".join(parts).rstrip("|")
        elif parts[0] == "MSH" and control_id is not None:
            parts[9] = control_id
            segment = "|".join(parts)
        out.append(segment)
    return "\r".join(out)


def a01_without_visit_number(control_id: str = "EDNOVN01", *, no_admit_time: bool = True) -> str:
    text = adt_message(CHILD, "A01", control_id=control_id, emergency=True)
    return _blank_pv1(text, 19, *((44,) if no_admit_time else ()))


def test_a01_without_pv1_19_keeps_the_ed_attendance_with_the_control_id() -> None:
    text = a01_without_visit_number()
    assert FastMessage.parse(text).value("PV1", 19) == ""
    record = to_agency_record(text)
    [finding] = record.findings
    assert finding.category is FindingCategory.HEALTH_ED_ATTENDANCE
    assert finding.finding_id == "visit-EDNOVN01"
    assert to_agency_record(text).findings[0].finding_id == finding.finding_id  # stable


def test_a01_without_pv1_19_and_without_control_id_gets_a_stable_hash_id() -> None:
    text = _blank_pv1(a01_without_visit_number(), control_id="")
    first = to_agency_record(text).findings[0].finding_id
    assert first.startswith("visit-evt-") and len(first) > len("visit-evt-") + 10
    assert to_agency_record(text).findings[0].finding_id == first  # same event, same id
    other = _blank_pv1(a01_without_visit_number().replace("EVN|A01|", "EVN|A01|2019"), control_id="")
    assert to_agency_record(other).findings[0].finding_id != first


def test_translate_hl7v2_keeps_a01_without_pv1_19(tmp_path: Path) -> None:
    registry = default_registry(load_entry_points=False)
    register(registry)
    entry = registry.get("hl7v2")
    path = tmp_path / "ed.hl7"
    path.write_text(a01_without_visit_number("EDNOVN02", no_admit_time=False))
    result = translate_files(load_spec(entry.spec_path), entry.reader, [path])
    assert result.rejected == [] and len(result.records) == 1
    [finding] = result.records[0].findings
    assert finding.finding_id == "visit-EDNOVN02"  # the same id as the live feed gives
    assert finding.category is FindingCategory.HEALTH_ED_ATTENDANCE


def test_ed_alert_fires_for_a01_without_pv1_19_over_mllp() -> None:
    alerts: list[Alert] = []
    events: list = []
    watch = InMemoryWatchList()
    watch.watch(Identifier(system=IdentifierSystem.NHS_NUMBER, value=CHILD.nhs_number),
                WatchedSubject("subj-novn", "open_enquiry", "REF-9", "ENQ-9"))
    feed = AdtFeed(agency_id="synth-trust", watch_list=watch, publish_alert=alerts.append,
                   publish_event=events.append)
    with ThreadedMllpServer(feed.receiver()) as srv:
        client = MllpClient("127.0.0.1", srv.port, timeout=10)
        try:
            ack = parse_ack(client.send(a01_without_visit_number("EDNOVN03")))
            assert ack.code == "AA"
            # the same message re-sent after a lost ACK alerts once
            assert parse_ack(client.send(a01_without_visit_number("EDNOVN03"))).code == "AA"
        finally:
            client.close()
    assert [a.person_ref for a in alerts] == ["subj-novn"]
    assert alerts[0].kind is AlertKind.UNSCHEDULED_CARE_ATTENDANCE
    assert events[0].emergency
    assert [f.finding_id for f in events[0].record.findings] == ["visit-EDNOVN03"]


# --------------------------------------------------------------------------- FHIR Flag (local code systems)

from mashlink.connectors.health.adt_service import FhirCpFlagWatchList  # noqa: E402
from mashlink.connectors.health.fhir_mapping import translate_document  # noqa: E402
from mashlink.connectors.health.fhir_translate import FhirMappingOptions, classify_flag  # noqa: E402

LOCAL_ALERTS = "https://synth-trust.example.nhs.uk/CodeSystem/alerts"


def _flag(fid: str, code: dict, status: str = "active") -> dict:
    return {"resourceType": "Flag", "id": fid, "status": status, "code": code,
            "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-01-05"}}


def _bundle(*flags: dict) -> dict:
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Okafor", "given": ["Amelia"]}],
               "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870"}]}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": patient}, *({"resource": f} for f in flags)]}


def test_flag_with_local_code_and_text_child_protection_is_classified_cp() -> None:
    flag = _flag("f-local", {"coding": [{"system": LOCAL_ALERTS, "code": "ALRT-17", "display": "Child Protection"}],
                             "text": "Child Protection"})
    (record,) = translate_document(_bundle(flag))
    [finding] = record.findings
    assert finding.category is FindingCategory.HEALTH_CHILD_PROTECTION_FLAG
    assert finding.finding_id == "Flag/f-local"
    assert finding.summary == "Child Protection"
    assert "ALRT-17" in finding.codes
    assert finding.attributes["flag_class"] == "child_protection"
    assert finding.attributes["matched_by"] == "text"
    assert finding.attributes["code_systems"] == LOCAL_ALERTS
    assert not finding.attributes["needs_review"]
    assert record.issues == []


def test_flag_classified_by_a_configured_local_code_list() -> None:
    options = FhirMappingOptions.model_validate(
        {"child_protection_codes": {LOCAL_ALERTS: ["CPP"]}, "safeguarding_codes": {"*": ["SGC"]}})
    cp = _flag("f1", {"coding": [{"system": LOCAL_ALERTS, "code": "CPP"}]})  # no text at all
    sg = _flag("f2", {"coding": [{"system": "urn:other", "code": "SGC"}]})
    other_system = _flag("f3", {"coding": [{"system": "urn:other", "code": "CPP"}]})
    assert classify_flag(cp, options) == ("child_protection", "code")
    assert classify_flag(sg, options) == ("safeguarding", "code")
    assert classify_flag(other_system, options) == ("unclassified", None)


def test_unknown_flag_is_kept_and_flagged_for_review() -> None:
    flag = _flag("f-unknown", {"coding": [{"system": LOCAL_ALERTS, "code": "ALRT-99", "display": "Alert 99"}],
                               "text": "Alert 99"})
    (record,) = translate_document(_bundle(flag))
    [finding] = record.findings
    assert finding.finding_id == "Flag/f-unknown"
    assert finding.attributes["flag_class"] == "unclassified" and finding.attributes["needs_review"] is True
    assert "ALRT-99" in finding.codes and "Alert 99" in finding.summary
    assert [(i.field, i.rule) for i in record.issues] == [("Flag/f-unknown.code", "flag.unclassified")]


def test_snomed_style_markers_still_classify() -> None:
    sg = _flag("f-sg", {"text": "Concern"})
    sg["category"] = [{"coding": [{"code": "safeguarding"}]}]
    assert classify_flag(sg) == ("safeguarding", "marker")
    assert classify_flag(_flag("f-cp", {"coding": [{"code": "child-protection-plan"}]}))[0] == "child_protection"


def test_cp_watch_list_recognises_a_local_code_cp_flag() -> None:
    watch = FhirCpFlagWatchList(client=None, agency_id="trust")  # type: ignore[arg-type]
    local = _flag("f-local", {"coding": [{"system": LOCAL_ALERTS, "code": "ALRT-17"}], "text": "Child Protection"})
    assert watch._is_cp(local)
    assert not watch._is_cp(_flag("f-x", {"text": "Alert 99"}))
    assert not watch._is_cp(_flag("f-old", {"text": "Child Protection"}, status="inactive"))


# --------------------------------------------------------------------------- HL7 size: linear cost, documented caps

import tracemalloc  # noqa: E402

from mashlink.connectors.health.formats import MAX_HL7_FILE_BYTES, MAX_HL7_MESSAGE_BYTES  # noqa: E402


def _distinct_lists(path_message) -> int:  # type: ignore[no-untyped-def]
    seen: set[int] = set()
    for segment in path_message.segments:
        for field in segment.fields:
            for rep in field:
                seen.update((id(field), id(rep), *(id(comp) for comp in rep)))
    return len(seen)


def _empty_runs(n: int) -> str:
    base = adt_message(CHILD, "A01", control_id="RUNS0001", emergency=True)
    # empty fields, components and repetitions, as in the 3.7 MB field file
    return (base.replace("\rPD1", "|" * n + "\rPD1", 1).replace("^^^NHS^NH", "^^^NHS^NH" + "^" * n + "~" * n, 1)
            + "\rZXX" + "|" * n)


def test_long_runs_of_empty_fields_allocate_in_proportion_to_content() -> None:
    small = FastMessage.parse(_empty_runs(1_000)).to_path_message()
    large = FastMessage.parse(_empty_runs(100_000)).to_path_message()
    # 100x the empty fields, components and repetitions, (almost) no new list objects: they share one
    assert _distinct_lists(large) - _distinct_lists(small) < 50
    assert sum(len(s.fields) for s in large.segments) > 200_000  # the fields are still all there


def test_path_message_memory_is_linear_in_input_size() -> None:
    peaks = []
    for n in (50_000, 200_000):
        text = _empty_runs(n)
        tracemalloc.start()
        FastMessage.parse(text).to_path_message()
        peaks.append(tracemalloc.get_traced_memory()[1] / len(text))
        tracemalloc.stop()
    # bytes of memory per byte of input: bounded and not growing with size (was ~300 per empty field)
    assert all(p < 40 for p in peaks), peaks
    assert peaks[1] < peaks[0] * 1.5, peaks


def _translate(path: Path):  # type: ignore[no-untyped-def]
    registry = default_registry(load_entry_points=False)
    register(registry)
    entry = registry.get("hl7v2")
    return translate_files(load_spec(entry.spec_path), entry.reader, [path])


def test_hl7_file_over_the_cap_is_a_clear_input_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert MAX_HL7_FILE_BYTES == 64 * 1024 * 1024 and MAX_HL7_MESSAGE_BYTES == 1024 * 1024  # documented
    path = tmp_path / "big.hl7"
    path.write_text(_empty_runs(20_000))
    monkeypatch.setenv("MASHLINK_HL7_MAX_FILE_BYTES", "10000")
    result = _translate(path)
    assert result.records == []
    assert "10000 byte limit" in str(result.file_errors[0])


def test_hl7_message_over_the_cap_is_rejected_alone(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mixed.hl7"
    small = adt_message(CHILD, "A04", control_id="SMALL001", emergency=True)
    path.write_text(small + "\r" + _empty_runs(20_000))
    monkeypatch.setenv("MASHLINK_HL7_MAX_MESSAGE_BYTES", "10000")
    result = _translate(path)
    assert len(result.records) == 1 and len(result.rejected) == 1
    assert "MASHLINK_HL7_MAX_MESSAGE_BYTES" in str(result.rejected[0])
