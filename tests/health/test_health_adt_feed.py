"""ADT feed over real MLLP: canonical events, merges, and the ED-attendance alert (CP-IS style)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from mashlink.connectors.health.adt import AdtEvent, AdtEventKind, AdtFeed, InMemoryWatchList, WatchedSubject
from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.connectors.health.mllp import MllpClient, ThreadedMllpServer
from mashlink.connectors.health.synthetic import adt_message, corrupt_nhs_number, synthetic_patients
from mashlink.schemas.events import Alert, AlertKind
from mashlink.schemas.identifiers import Identifier, IdentifierSystem

BASE = synthetic_patients(4, seed=21)
CHILD = replace(BASE[0], birth_date=date.today() - timedelta(days=9 * 365))
CP_CHILD = replace(BASE[1], birth_date=date.today() - timedelta(days=3 * 365))
ADULT = replace(BASE[2], birth_date=date.today() - timedelta(days=40 * 365))
UNWATCHED_CHILD = replace(BASE[3], birth_date=date.today() - timedelta(days=5 * 365))


class Harness:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.events: list[AdtEvent] = []
        self.fail_publish = False
        self.watch = InMemoryWatchList()
        nhs = lambda p: Identifier(system=IdentifierSystem.NHS_NUMBER, value=p.nhs_number)  # noqa: E731
        self.watch.watch(nhs(CHILD), WatchedSubject("subj-child", "open_enquiry", "REF-1", "ENQ-1"))
        self.watch.watch(nhs(CP_CHILD), WatchedSubject("subj-cp", "child_protection_flag"))
        self.watch.watch(nhs(ADULT), WatchedSubject("subj-adult", "open_enquiry", "REF-2", "ENQ-2"))
        self.feed = AdtFeed(agency_id="synth-trust", watch_list=self.watch,
                            publish_alert=self._alert, publish_event=self.events.append)

    def _alert(self, alert: Alert) -> None:
        if self.fail_publish:
            raise ConnectionError("broker unavailable")
        self.alerts.append(alert)


@pytest.fixture
def harness():  # type: ignore[no-untyped-def]
    h = Harness()
    with ThreadedMllpServer(h.feed.receiver()) as srv:
        h.client = MllpClient("127.0.0.1", srv.port, timeout=10)
        yield h
        h.client.close()


def _send(h: Harness, text: str):  # type: ignore[no-untyped-def]
    return parse_ack(h.client.send(text))


def test_watched_child_attending_ed_raises_one_alert(harness) -> None:
    ack = _send(harness, adt_message(CHILD, "A04", control_id="ED000001", emergency=True))
    assert ack.code == "AA" and ack.control_id == "ED000001"
    assert len(harness.alerts) == 1
    alert = harness.alerts[0]
    assert alert.kind is AlertKind.UNSCHEDULED_CARE_ATTENDANCE
    assert (alert.person_ref, alert.referral_id, alert.enquiry_id) == ("subj-child", "REF-1", "ENQ-1")
    assert alert.location == "RXX01"
    assert CHILD.family not in alert.detail and CHILD.nhs_number not in alert.detail
    # the admission for the same visit does not alert twice
    assert _send(harness, adt_message(CHILD, "A01", control_id="ED000001", emergency=True)).code == "AA"
    assert len(harness.alerts) == 1
    assert [e.kind for e in harness.events] == [AdtEventKind.ATTENDANCE, AdtEventKind.ADMISSION]
    assert harness.events[0].emergency


def test_child_protection_flag_alerts_too(harness) -> None:
    assert _send(harness, adt_message(CP_CHILD, "A04", control_id="ED000002")).code == "AA"
    assert [a.person_ref for a in harness.alerts] == ["subj-cp"]
    assert "child_protection_flag" in harness.alerts[0].detail


@pytest.mark.parametrize(
    "patient, kwargs",
    [
        (ADULT, {"emergency": True}),
        (UNWATCHED_CHILD, {"emergency": True}),
        (CHILD, {"emergency": False}),
        (CHILD, {"emergency": True, "nhs_number": corrupt_nhs_number(CHILD.nhs_number)}),
    ],
    ids=["adult", "unwatched-child", "not-emergency", "nhs-number-fails-mod11"],
)
def test_no_alert_when_rule_not_met(harness, patient, kwargs) -> None:  # type: ignore[no-untyped-def]
    assert _send(harness, adt_message(patient, "A04", control_id="NOAL0001", **kwargs)).code == "AA"
    assert harness.alerts == []
    assert len(harness.events) == 1


def test_discharge_and_updates_are_events_without_alerts(harness) -> None:
    for trig in ("A03", "A08", "A28", "A31"):
        assert _send(harness, adt_message(CHILD, trig, control_id=f"UPD{trig}")).code == "AA"
    assert [e.kind for e in harness.events] == [
        AdtEventKind.DISCHARGE, AdtEventKind.UPDATE, AdtEventKind.PERSON_ADDED, AdtEventKind.PERSON_UPDATED
    ]
    assert harness.alerts == []


def test_merge_carries_prior_identifiers(harness) -> None:
    ack = _send(harness, adt_message(CHILD, "A40", control_id="MRG00001", merged_from="RXX0000042^^^RXX01^MR"))
    assert ack.code == "AA"
    event = harness.events[0]
    assert event.kind is AdtEventKind.MERGE
    assert [(i.system, i.value, i.scope) for i in event.merged_identifiers] == [
        (IdentifierSystem.HOSPITAL_MRN, "RXX0000042", "RXX01")
    ]


def test_merge_without_mrg_is_nakked(harness) -> None:
    text = adt_message(CHILD, "A40", control_id="MRG00002")
    text = "\r".join(s for s in text.split("\r") if not s.startswith("MRG"))
    ack = _send(harness, text)
    assert (ack.code, ack.error_code) == ("AE", "101")
    assert harness.events == []


def test_unsupported_messages_rejected(harness) -> None:
    ack = _send(harness, adt_message(CHILD, "A04").replace("ADT^A04^ADT_A01", "ADT^A99"))
    assert (ack.code, ack.error_code) == ("AR", "201")
    ack = _send(harness, adt_message(CHILD, "A04").replace("ADT^A04^ADT_A01", "ORU^R01"))
    assert (ack.code, ack.error_code) == ("AR", "200")


def test_publish_failure_naks_so_sender_retries(harness) -> None:
    harness.fail_publish = True
    ack = _send(harness, adt_message(CHILD, "A04", control_id="RETRY001"))
    assert (ack.code, ack.error_code, ack.control_id) == ("AE", "207", "RETRY001")
    harness.fail_publish = False
    assert _send(harness, adt_message(CHILD, "A04", control_id="RETRY001")).code == "AA"
    assert len(harness.alerts) == 1
