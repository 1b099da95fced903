"""The live HL7 v2 feed translates through the YAML spec: a trust adapts codes in one place (issue 17)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from mashlink.connectors.health.adt import AdtEvent, AdtEventKind, AdtFeed, InMemoryWatchList, WatchedSubject
from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.mapping.paths.hl7_er7 import FastMessage
from mashlink.connectors.health.hl7_mapping import LiveOptions, default_spec_path, to_agency_record
from mashlink.connectors.health.mllp import MllpClient, ThreadedMllpServer
from mashlink.connectors.health.synthetic import adt_message, synthetic_patients
from mashlink.schemas.codes import FindingCategory, RelationshipType
from mashlink.schemas.events import Alert
from mashlink.schemas.identifiers import Identifier, IdentifierSystem

PATIENT = synthetic_patients(1, seed=1717)[0]


def _feed(spec: Path | None) -> AdtFeed:
    events: list[AdtEvent] = []
    return AdtFeed(agency_id="synth-trust", watch_list=InMemoryWatchList(), publish_alert=lambda a: None,
                   publish_event=events.append, options=LiveOptions(agency_id="synth-trust", spec=spec))


def test_a_code_changed_in_a_copied_spec_changes_what_the_live_feed_sends(tmp_path: Path) -> None:
    text = default_spec_path().read_text()
    assert "    MTH: mother\n" in text and "label: Emergency department attendance}" in text
    edited = (text.replace("    MTH: mother\n", "    MTH: guardian\n")
              .replace("label: Emergency department attendance}", "label: Seen in the children's ED}"))
    spec = tmp_path / "trust-adt.yaml"
    spec.write_text(edited)
    message = FastMessage.parse(adt_message(PATIENT, "A04", control_id="SPEC0001", emergency=True))

    shipped = _feed(None).handle(message).record
    trust = _feed(spec).handle(message).record

    assert [r.type for r in shipped.relationships] == [RelationshipType.MOTHER]
    assert [r.type for r in trust.relationships] == [RelationshipType.GUARDIAN]
    assert [f.summary for f in shipped.findings] == ["Emergency department attendance"]
    assert [f.summary for f in trust.findings] == ["Seen in the children's ED"]
    assert trust.source.agency_id == "synth-trust" and trust.findings[0].source.agency_id == "synth-trust"


def test_an_inpatient_visit_at_a_configured_emergency_location_is_an_ed_attendance() -> None:
    text = adt_message(PATIENT, "A04", control_id="SPEC0002", emergency=False).replace("WARD7^BED2", "PAEDS-AE^BED2")
    plain = to_agency_record(text)
    trust = to_agency_record(text, LiveOptions(ed_locations=frozenset({"PAEDS-AE"})))
    assert [f.category for f in plain.findings] == [FindingCategory.HEALTH_ADMISSION]
    assert [f.category for f in trust.findings] == [FindingCategory.HEALTH_ED_ATTENDANCE]


def test_person_only_and_unplaced_updates_are_not_visits() -> None:
    a28 = to_agency_record(adt_message(PATIENT, "A28", control_id="SPEC0003"))
    assert a28.findings == [] and a28.issues == []
    a08 = adt_message(PATIENT, "A08", control_id="SPEC0004")
    pv1 = next(s for s in a08.split("\r") if s.startswith("PV1"))
    parts = pv1.split("|")
    parts[19] = parts[44] = ""
    unplaced = to_agency_record(a08.replace(pv1, "|".join(parts)))
    assert unplaced.findings == []  # an A08 that cannot say which visit adds none
    assert len(to_agency_record(a08).findings) == 1


def test_hl7_times_are_read_as_the_feed_sends_them() -> None:
    text = adt_message(PATIENT, "A04", control_id="SPEC0005", emergency=True)
    pv1 = next(s for s in text.split("\r") if s.startswith("PV1"))
    parts = pv1.split("|")
    parts[44] = "202403011015"  # no offset: Europe/London (GMT in March)
    record = to_agency_record(text.replace(pv1, "|".join(parts)))
    assert record.findings[0].start is not None and record.findings[0].start.isoformat() == "2024-03-01T10:15:00+00:00"
    parts[44] = "2013"  # year only: the visit kept, its time flagged rather than placed on 1 January
    record = to_agency_record(text.replace(pv1, "|".join(parts)))
    assert record.findings[0].start is None
    assert ("findings[].start", "transform") in {(i.field, i.rule) for i in record.issues}
    partial = to_agency_record(text.replace(f"|{PATIENT.birth_date:%Y%m%d}|", f"|{PATIENT.birth_date:%Y}|"))
    assert partial.person.birth_date is not None and partial.person.birth_date.precision == "year"


def _with_next_of_kin(text: str, *set_ids: str) -> str:
    """The message with its one NK1 replaced by one NK1 per given set id (mother first, then father)."""
    nk1 = next(s for s in text.split("\r") if s.startswith("NK1|"))
    codes = ["MTH^Mother", "FTH^Father"]
    rebuilt = [nk1.replace("NK1|1|", f"NK1|{set_id}|", 1).replace("MTH^Mother", codes[i % 2])
               for i, set_id in enumerate(set_ids)]
    return text.replace(nk1, "\r".join(rebuilt))


@pytest.mark.parametrize(("set_ids", "expected"), [
    ((" ",), [("nk1-1", RelationshipType.MOTHER)]),
    (("",), [("nk1-1", RelationshipType.MOTHER)]),
    (("1", "1"), [("nk1-1", RelationshipType.MOTHER), ("nk1-2", RelationshipType.FATHER)]),
    (("", ""), [("nk1-1", RelationshipType.MOTHER), ("nk1-2", RelationshipType.FATHER)]),
    (("7", "2"), [("nk1-1", RelationshipType.MOTHER), ("nk1-2", RelationshipType.FATHER)]),
])
def test_next_of_kin_ids_come_from_the_nk1_position_not_its_set_id(set_ids, expected) -> None:  # type: ignore[no-untyped-def]
    record = to_agency_record(_with_next_of_kin(adt_message(PATIENT, "A04", control_id="SPEC0006"), *set_ids))
    assert [p.person_id for p in record.related_people] == [pid for pid, _ in expected]
    assert [(r.from_person_id, r.type) for r in record.relationships] == expected
    assert all(r.to_person_id == record.person.person_id for r in record.relationships)
    assert len(record.findings) == 1


CHILD = replace(synthetic_patients(1, seed=1818)[0], birth_date=date.today() - timedelta(days=6 * 365))


def test_an_ed_attendance_whose_nk1_set_ids_are_empty_or_repeated_is_accepted_over_mllp() -> None:
    """The live receiver answers AA, keeps the attendance and alerts for a watched child (it used to AE)."""
    alerts: list[Alert] = []
    events: list[AdtEvent] = []
    watch = InMemoryWatchList()
    watch.watch(Identifier(system=IdentifierSystem.NHS_NUMBER, value=CHILD.nhs_number),
                WatchedSubject("subj-nk1", "open_enquiry", "REF-NK1", "ENQ-NK1"))
    feed = AdtFeed(agency_id="synth-trust", watch_list=watch, publish_alert=alerts.append,
                   publish_event=events.append)
    empty = _with_next_of_kin(adt_message(CHILD, "A04", control_id="NK1EMPTY", emergency=True), "")
    repeated = _with_next_of_kin(adt_message(CHILD, "A04", control_id="NK1TWICE", emergency=True), "1", "1")
    with ThreadedMllpServer(feed.receiver()) as server, MllpClient("127.0.0.1", server.port, timeout=10) as client:
        acks = [parse_ack(client.send(empty)), parse_ack(client.send(repeated))]
    assert [(a.code, a.control_id) for a in acks] == [("AA", "NK1EMPTY"), ("AA", "NK1TWICE")]
    assert [(e.kind, e.control_id) for e in events] == [(AdtEventKind.ATTENDANCE, "NK1EMPTY"),
                                                       (AdtEventKind.ATTENDANCE, "NK1TWICE")]
    assert all([f.category for f in e.record.findings] == [FindingCategory.HEALTH_ED_ATTENDANCE] for e in events)
    assert [p.person_id for p in events[1].record.related_people] == ["nk1-1", "nk1-2"]
    assert alerts and {a.person_ref for a in alerts} == {"subj-nk1"}
