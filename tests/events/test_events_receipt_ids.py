"""Receipt ids name the agency, so every agency's receipt is kept at the hub.

The hub keys receipts by ``receipt_id`` and takes a known id for a repeat. An
id derived from the event and status alone would collide whenever two
agencies report on events that share an id, keeping only the first agency's
receipt. The hub also checks that each receipt is for an event it sent to that
agency (``hub/receipts.py``), so the events here are staged in its outbox, one
per agency. Real hub (SQLite), real broker (memory:// and RabbitMQ), receipts
signed by each agency.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from mashlink.connectors.events.receipts import ReceiptPublisher, build_receipt, receipt_id
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.envelopes import hub_envelope
from mashlink.hub.models import ReceiptRow
from mashlink.schemas.codes import OutcomeType
from mashlink.schemas.decision import Decision
from mashlink.schemas.envelope import MessageType
from mashlink.schemas.receipt import ReceiptStatus
from tests.events.support import decide, events_loop, wait_for

EVENT = "fanned-out-alert-0001"
AGENCIES = ("police-synth", "education-synth", "social-care-synth")


def test_receipt_id_is_stable_per_event_agency_and_status() -> None:
    ids = {(a, s): receipt_id(EVENT, a, s) for a in AGENCIES for s in ReceiptStatus}
    assert len(set(ids.values())) == len(AGENCIES) * len(ReceiptStatus)  # all distinct
    assert receipt_id(EVENT, "police-synth", "delivered") == ids[("police-synth", ReceiptStatus.DELIVERED)]
    assert receipt_id(EVENT, "referrer", "failed") != receipt_id(EVENT, "police-synth", "failed")
    built = build_receipt(event_message_id=EVENT, event_type="alert", referral_id="REF-0001", outcome_id=None,
                          agency_id="education-synth", status=ReceiptStatus.DELIVERED, channel="webhook")
    assert built.receipt_id == ids[("education-synth", ReceiptStatus.DELIVERED)]


def test_every_agencys_receipt_is_stored_once(tmp_path: Path, broker_url: str) -> None:
    with events_loop(tmp_path, broker_url) as (loop, hub):
        decide(hub, "police-synth")  # the referral the events are about
        sent: dict[str, str] = {}
        for agency in AGENCIES:  # a decision event the hub sends each agency (staged in its outbox)
            decision = Decision(decision_id=f"D-{agency}", referral_id="REF-0001", outcome=OutcomeType.SECTION_17,
                                rationale="synthetic", decided_by="manager-1", decided_at=hub.clock())
            env = hub_envelope(MessageType.DECISION, decision, correlation_id="REF-0001", recipient=agency,
                               sent_at=hub.clock())
            with hub.store.unit() as uow:
                uow.send(hub.topology.event(env, f"decision.{agency}"))
            sent[agency] = env.message_id
        for agency in AGENCIES:
            publisher = ReceiptPublisher(connector_broker_factory(loop.settings, agency, topology=loop.topology),
                                         agency)
            try:
                for _ in range(2):  # a resent receipt stays one receipt
                    publisher.publish(build_receipt(
                        event_message_id=sent[agency], event_type="decision", referral_id="REF-0001",
                        outcome_id=None, agency_id=agency, status=ReceiptStatus.DELIVERED, channel="drop-folder",
                        detail="file written", at=datetime.now(UTC)))
            finally:
                publisher.close()

        def stored() -> list[tuple[str, str]]:
            with hub.factory() as session:
                rows = session.execute(select(ReceiptRow).where(ReceiptRow.event_message_id.in_(sent.values())))
                return sorted((r.agency_id, r.receipt_id) for r in rows.scalars())

        wait_for(lambda: len(stored()) == len(AGENCIES), 30, "one receipt per agency at the hub")
        assert stored() == sorted((a, receipt_id(sent[a], a, ReceiptStatus.DELIVERED)) for a in AGENCIES)
