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
from mashlink.connectors.health.hl7_fast import FastMessage
from mashlink.connectors.health.hl7_record import to_agency_record
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
    assert finding.finding_id == "RXX01:EDNOVN01"
    assert to_agency_record(text).findings[0].finding_id == finding.finding_id  # stable


def test_a01_without_pv1_19_and_without_control_id_gets_a_stable_hash_id() -> None:
    text = _blank_pv1(a01_without_visit_number(), control_id="")
    first = to_agency_record(text).findings[0].finding_id
    assert first.startswith("RXX01:evt-") and len(first) > len("RXX01:evt-") + 10
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
    assert finding.finding_id == "visit-EDNOVN02"
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
    assert [f.finding_id for f in events[0].record.findings] == ["RXX01:EDNOVN03"]
