"""A FHIR trust receives the outcome as a Communication; staff completing the acknowledgement Task is the receipt.

The FHIR simulator runs over real HTTP; the trust's enquiry was delivered as
a Task first (Model 3, ``FhirTaskConnector``), so the outcome also cancels
that open Task, links it from the Communication, and closes it locally (the
health connector's old events behaviour, now a local effect of the consumer).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mashlink.connectors.events.fhir_channel import ACK_TASK_SYSTEM, EVENT_SYSTEM, FhirEventChannel
from mashlink.connectors.events.options import FhirEventsOptions
from mashlink.connectors.health.adt_service import ReferralClosedEffect
from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings, RetryPolicy
from mashlink.connectors.health.fhir_connector import FhirTaskDelivery
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
from mashlink.connectors.health.fhir_tasks import FhirTaskConnector
from mashlink.connectors.health.simulators import seed_fhir_store, seeded_patients
from mashlink.connectors.health.state import HealthState
from mashlink.connectors.health.synthetic import patient_person
from mashlink.schemas.codes import AgencyKind, LawfulBasis, Rag
from mashlink.schemas.enquiry import Enquiry
from tests.events.support import (
    FAST,
    ReceiptTap,
    decide,
    events_loop,
    no_personal_data,
    outcome_envelope,
    parked,
    replay,
    republish,
    start_events,
    wait_for,
)

AGENCY = "health-synth"


@pytest.fixture
def fhir() -> Iterator[tuple[FhirStore, FhirClient]]:
    store = FhirStore()
    seed_fhir_store(store, 3)
    with ThreadedFhirSimulator(store) as sim:
        client = FhirClient(FhirClientSettings(base_url=sim.base_url, timeout=5,
                                               retry=RetryPolicy(max_attempts=1)))
        try:
            yield store, client
        finally:
            client.close()


def _resources(store: FhirStore, rtype: str, system: str) -> list[dict]:
    return [r for r in store.resources.get(rtype, {}).values()
            if any(i.get("system") == system for i in r.get("identifier", []))]


def _enquiry(referral_id: str) -> Enquiry:
    now = datetime.now(UTC)
    return Enquiry(enquiry_id="ENQ-FHIR-1", referral_id=referral_id, agency_id=AGENCY, agency_kind=AgencyKind.HEALTH,
                   subjects=[patient_person(seeded_patients(3)[0], "child-1")], rag=Rag.AMBER, requested_at=now,
                   due_at=now + timedelta(hours=24), lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47],
                   requester="Synthshire MASH")


def test_outcome_becomes_a_communication_cancels_the_open_task_and_is_acknowledged(
        tmp_path: Path, broker_url: str, fhir: tuple[FhirStore, FhirClient]) -> None:
    store, client = fhir
    state = HealthState(tmp_path / "health.sqlite")
    FhirTaskConnector(AGENCY, FhirTaskDelivery(AGENCY, client), state).handle(_enquiry("REF-0001"))
    [enquiry_task] = store.resources["Task"].values()
    assert enquiry_task["status"] == "requested"
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        effect = ReferralClosedEffect(state)
        service = start_events(loop, AGENCY, FhirEventsOptions(channel="fhir", **FAST),
                               FhirEventChannel(client, sender="Synthshire MASH", state=state), effects=[effect])
        try:
            outcome_id = decide(hub, AGENCY, outcome="section_17")
            wait_for(lambda: tap.statuses() == ["delivered"], 20, "the delivered receipt")
            [communication] = _resources(store, "Communication", EVENT_SYSTEM)
            receipt = tap.receipts()[0]
            assert communication["identifier"][0]["value"] == receipt.event_message_id
            assert communication["about"][0]["identifier"]["value"] == "REF-0001"
            assert communication["basedOn"] == [{"reference": f"Task/{enquiry_task['id']}"}]
            text = communication["payload"][0]["contentString"]
            assert text.startswith("MASH outcome for referral REF-0001: section 17")
            for expected in ("child in need assessment", "health record", "CP-IS", "Who to contact"):
                assert expected in text, expected
            assert no_personal_data(text) == []
            assert (receipt.channel, receipt.outcome_id, receipt.detail) == (
                "fhir-communication", outcome_id, f"fhir 201 Communication/{communication['id']}")
            # The enquiry's Task is cancelled on the server and no longer polled here.
            assert store.resources["Task"][enquiry_task["id"]]["status"] == "cancelled"
            assert effect.closed_referrals == ["REF-0001"] and state.open_tasks() == []

            # A person completes the acknowledgement Task in the trust's tool.
            [ack_task] = _resources(store, "Task", ACK_TASK_SYSTEM)
            assert ack_task["focus"] == {"reference": f"Communication/{communication['id']}"}
            store.put({**ack_task, "status": "completed"})
            wait_for(lambda: tap.statuses() == ["delivered", "acknowledged"], 20, "the acknowledged receipt")
            assert tap.receipts()[1].detail == f"Task/{ack_task['id']} completed"

            env, routing_key = outcome_envelope(hub, outcome_id)
            republish(loop, env, routing_key)
            wait_for(lambda: len(tap.receipts()) == 4, 20, "both receipts again for the repeat")
            assert len(_resources(store, "Communication", EVENT_SYSTEM)) == 1
            assert {r.receipt_id for r in tap.receipts()} == {r.receipt_id for r in tap.receipts()[:2]}
        finally:
            service.stop()
            tap.close()


def test_server_error_fails_parks_and_replays_once(tmp_path: Path, broker_url: str,
                                                   fhir: tuple[FhirStore, FhirClient]) -> None:
    store, client = fhir
    store.inject(500, 3)
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, FhirEventsOptions(channel="fhir", **FAST), FhirEventChannel(client))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 30, "the failed receipt")
            assert tap.receipts()[0].outcome_id == outcome_id
            assert tap.receipts()[0].detail == ("gave up after 3 attempt(s); last error: fhir 500: server "
                                                "unavailable")
            assert _resources(store, "Communication", EVENT_SYSTEM) == []
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
            [message] = parked(loop, AGENCY)
            replay(loop, AGENCY, message.message_id)
            wait_for(lambda: tap.statuses() == ["failed", "delivered"], 20, "delivery after the replay")
            assert len(_resources(store, "Communication", EVENT_SYSTEM)) == 1 and parked(loop, AGENCY) == []
        finally:
            service.stop()
            tap.close()
