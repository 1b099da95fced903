"""End to end: hub + health connector built from configuration, over real HTTP and real MLLP.

* ``connector: fhir`` (Model 2) against the FHIR simulator: a referral about a
  seeded patient is answered with findings that reach the hub's linked view;
  an A04 ED attendance for that child, sent to the connector's ADT listener,
  becomes an Alert stored and audited by the hub; the hub's outcome takes the
  child off the watch list, so a later attendance raises nothing.
* ``connector: fhir`` with ``delivery: task`` (Model 3): the enquiry becomes a
  Task, completing it later publishes the answer out of band, once.
* ``connector: hl7v2``: REF^I12 to the MLLP peer simulator, RRI^I12 back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from mashlink.connectors.health.adt_service import AdtListener, AlertPublisher, WatchingConnector
from mashlink.connectors.health.fhir_connector import ENQUIRY_SYSTEM, task_output
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
from mashlink.connectors.health.fhir_tasks import ANSWER_SEQUENCE, TaskPoller, pending_for
from mashlink.connectors.health.mllp import MllpClient, ThreadedMllpServer
from mashlink.connectors.health.hl7_ack import parse_ack
from mashlink.connectors.health.simulators import seed_fhir_store, seeded_patients, seeded_trust_peer
from mashlink.connectors.health.synthetic import adt_message, synthetic_patients
from mashlink.schemas.codes import FindingCategory, MatchMethod, ResponseStatus

from .conftest import AGENCY, Running, referral_about, wait_for

#: One date for the patients referred here and the store seeded per test, so a run crossing midnight still agrees.
AS_OF = date.today()
PATIENTS = seeded_patients(as_of=AS_OF)
WATCHED = PATIENTS[0]  # seeded with ED attendances, safeguarding and child-protection flags
OTHER = PATIENTS[1]    # no history, never referred
UNKNOWN = synthetic_patients(1, seed=4242)[0]  # not known to the trust


@pytest.fixture
def fhir():  # type: ignore[no-untyped-def]
    store = FhirStore()
    seed_fhir_store(store, as_of=AS_OF)
    with ThreadedFhirSimulator(store) as sim:
        yield sim


def _send(port: int, message: str) -> str:
    with MllpClient("127.0.0.1", port, timeout=20) as client:
        return parse_ack(client.send(message)).code


def _alerts(hub: Running) -> list:  # type: ignore[type-arg]
    return hub.service.audit_events(action="alert.received")


def test_fhir_search_answer_then_ed_attendance_alert_until_the_outcome(hub_with, fhir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub: Running = hub_with([{"id": AGENCY, "connector": "fhir", "options": {
        "base_url": fhir.base_url, "ods_code": "RXX", "timeout_s": 5,
        "retry": {"max_attempts": 3, "backoff_base": 0.01, "backoff_max": 0.05},
        "adt_listen": {"host": "127.0.0.1", "port": 0},
    }}])
    built = hub.connect(AGENCY)
    assert isinstance(built.connector, WatchingConnector)
    listener = built.service("adt-listener")
    assert isinstance(listener, AdtListener)
    alerts = listener.feed.publish_alert
    assert isinstance(alerts, AlertPublisher)

    referral_id = f"REF-{uuid.uuid4().hex[:8]}"
    hub.service.submit_referral(referral_about(WATCHED, referral_id), agencies=[AGENCY])
    hub.settle(referral_id)

    (response,) = hub.service.responses(referral_id)
    assert response.status is ResponseStatus.INFORMATION_FOUND
    view = hub.service.linked_view(referral_id)
    (child,) = view.subjects
    assert [(m.agency_id, m.agency_method) for m in child.matches] == [(AGENCY, MatchMethod.NHS_NUMBER)]
    categories = {e.category for e in view.chronology if e.agency_id == AGENCY and e.subject_ref == "child-1"}
    assert {FindingCategory.HEALTH_ED_ATTENDANCE, FindingCategory.HEALTH_CHILD_PROTECTION_FLAG} <= categories
    assert all(e.organisation == "RXX" for e in view.chronology if e.agency_id == AGENCY)
    assert built.connector.state.watched_count() >= 1

    # An unwatched child's ED attendance: accepted, no alert (the ACK follows the decision to publish).
    assert _send(listener.port, adt_message(OTHER, "A04", control_id="ADT-OTHER-1")) == "AA"
    assert alerts.published == 0
    # The referred child attends ED: accepted, and the hub stores one alert about that subject.
    assert _send(listener.port, adt_message(WATCHED, "A04", control_id="ADT-W-1")) == "AA"
    (event,) = wait_for(lambda: _alerts(hub), what="alert.received in the hub audit")
    assert event.referral_id == referral_id
    assert event.detail["person_ref"] == "child-1" and event.detail["kind"] == "unscheduled_care_attendance"
    # The engine re-sends the same message (lost ACK): the same alert id, stored once.
    assert _send(listener.port, adt_message(WATCHED, "A04", control_id="ADT-W-1")) == "AA"

    # The MASH decides; the outcome reaches the trust's events queue and the child is no longer watched.
    hub.service.record_decision({
        "decision_id": f"DEC-{referral_id}", "referral_id": referral_id, "outcome": "early_help",
        "rationale": "Synthetic decision.", "decided_by": "mash-manager", "decided_at": datetime.now(UTC).isoformat(),
    })
    wait_for(lambda: built.connector.state.watched_count() == 0, what="watch list emptied by the outcome")
    before = alerts.published
    assert _send(listener.port, adt_message(WATCHED, "A04", control_id="ADT-W-2")) == "AA"
    assert alerts.published == before
    assert len(_alerts(hub)) == 1


def test_fhir_task_model3_answer_published_later_exactly_once(hub_with, fhir) -> None:  # type: ignore[no-untyped-def]
    hub: Running = hub_with([{"id": AGENCY, "connector": "fhir", "options": {
        "base_url": fhir.base_url, "delivery": "task", "task_poll_interval_s": 0.1,
    }}])
    built = hub.connect(AGENCY)
    poller = built.service("fhir-task-poller")
    assert isinstance(poller, TaskPoller)
    referral_id = f"REF-{uuid.uuid4().hex[:8]}"
    hub.service.submit_referral(referral_about(WATCHED, referral_id), agencies=[AGENCY])

    # The acknowledgement arrives first; the Task sits on the trust's server for staff to work.
    (ack,) = wait_for(lambda: hub.service.responses(referral_id), what="acknowledgement response")
    assert ack.status is ResponseStatus.PARTIAL and ack.more_to_follow and ack.sequence == 1
    (task,) = fhir.store.resources["Task"].values()
    assert task["status"] == "requested" and task["for"]["reference"] == f"Patient/pat-{WATCHED.nhs_number}"
    assert task["identifier"][0]["system"] == ENQUIRY_SYSTEM
    assert hub.service.referral_status(referral_id).outstanding

    # Trust staff complete the Task in their own tool.
    done = {**task, "status": "completed", "output": [
        task_output(FindingCategory.HEALTH_ED_ATTENDANCE, "Two ED attendances this year (wrist injury)")]}
    fhir.store.put(done)
    hub.settle(referral_id)
    responses = sorted(hub.service.responses(referral_id), key=lambda r: r.sequence)
    assert [r.sequence for r in responses] == [1, 2]
    assert responses[1].status is ResponseStatus.INFORMATION_FOUND
    assert [f.category for f in responses[1].findings] == [FindingCategory.HEALTH_ED_ATTENDANCE]

    # A re-poll publishes nothing. A crash between publishing and recording re-publishes the same answer
    # under the same envelope id, which the hub's inbox already holds (so it is dropped there).
    assert poller.poll_once() == 0
    (enquiry,) = hub.service.enquiries(referral_id)
    again = poller.delivery.collect(enquiry, sequence=ANSWER_SEQUENCE)
    assert again is not None and again.response_id == responses[1].response_id
    received = {e.detail["sequence"]: e.message_id
                for e in hub.service.audit_events(referral_id=referral_id, action="response.received")}
    assert poller.publisher.envelope(again, pending_for(enquiry, AGENCY)).message_id == received[2]
    assert received[1] != received[2]


def test_hl7v2_ref_rri_with_the_mllp_peer(hub_with) -> None:  # type: ignore[no-untyped-def]
    peer = seeded_trust_peer(as_of=AS_OF)
    with ThreadedMllpServer(peer) as server:
        hub: Running = hub_with([{"id": AGENCY, "connector": "hl7v2", "options": {
            "host": "127.0.0.1", "port": server.port, "timeout_s": 10, "receiving_facility": "RXX01",
        }}])
        hub.connect(AGENCY)
        found_id, unknown_id = f"REF-{uuid.uuid4().hex[:8]}", f"REF-{uuid.uuid4().hex[:8]}"
        hub.service.submit_referral(referral_about(WATCHED, found_id), agencies=[AGENCY])
        hub.service.submit_referral(referral_about(UNKNOWN, unknown_id), agencies=[AGENCY])
        hub.settle(found_id)
        hub.settle(unknown_id)
    (found,) = hub.service.responses(found_id)
    assert found.status is ResponseStatus.INFORMATION_FOUND
    view = hub.service.linked_view(found_id)
    assert {e.category for e in view.chronology} >= {FindingCategory.HEALTH_ED_ATTENDANCE,
                                                      FindingCategory.HEALTH_CHILD_PROTECTION_FLAG}
    assert view.subjects[0].matches[0].agency_method is MatchMethod.NHS_NUMBER
    (other,) = hub.service.responses(unknown_id)
    assert other.status is ResponseStatus.NOT_KNOWN and not other.findings
    assert len(peer.received) == 2
