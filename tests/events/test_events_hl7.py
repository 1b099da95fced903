"""An HL7 v2 trust receives the outcome as an MDM^T02 over MLLP; the ACK decides the receipt.

The peer is the simulated trust engine on a real TCP socket; AA is delivered,
AE is retried then failed and parked, AR is failed at once; a replay after
the engine is fixed delivers once. Hub and broker (memory:// and RabbitMQ) are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mashlink.connectors.events.hl7_channel import Hl7EventChannel, control_id_for
from mashlink.connectors.events.options import Hl7EventsOptions
from mashlink.connectors.health.hl7_ack import AckCode
from mashlink.connectors.health.hl7_peer import SyntheticTrustPeer
from mashlink.connectors.health.mllp import ThreadedMllpServer
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
def engine() -> Iterator[tuple[SyntheticTrustPeer, ThreadedMllpServer]]:
    peer = SyntheticTrustPeer([])
    with ThreadedMllpServer(peer) as server:
        yield peer, server


def _channel(server: ThreadedMllpServer) -> Hl7EventChannel:
    return Hl7EventChannel(server.host, server.port, timeout_s=5, sending_facility="MASH999",
                           receiving_facility="RXX")


def test_outcome_as_mdm_t02_acknowledged_aa_is_delivered_once(tmp_path: Path, broker_url: str,
                                                              engine: tuple[SyntheticTrustPeer,
                                                                            ThreadedMllpServer]) -> None:
    peer, server = engine
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, Hl7EventsOptions(channel="hl7v2", **FAST), _channel(server))
        try:
            outcome_id = decide(hub, AGENCY, outcome="early_help")
            wait_for(lambda: tap.statuses() == ["delivered"], 20, "the delivered receipt")
            [document] = peer.documents
            receipt = tap.receipts()[0]
            assert document.document_number == receipt.event_message_id
            assert document.control_id == control_id_for(receipt.event_message_id)
            assert (document.document_type, document.referral) == ("MASHOUT", "REF-0001")
            assert document.text.startswith("MASH outcome for referral REF-0001: early help")
            for expected in ("the family will be offered early help", "Record the MASH outcome in the child's "
                             "health record", "Who to contact", "Synthshire MASH"):
                assert expected in document.text, expected
            assert no_personal_data(document.text) == []
            assert (receipt.channel, receipt.outcome_id, receipt.detail) == (
                "hl7-mllp", outcome_id, f"hl7 AA {document.control_id}")

            env, routing_key = outcome_envelope(hub, outcome_id)
            republish(loop, env, routing_key)
            wait_for(lambda: len(tap.receipts()) == 2, 20, "the repeated receipt")
            assert len(peer.documents) == 1 and service.handler.stats.duplicates == 1
        finally:
            service.stop()
            tap.close()


def test_ae_retried_then_failed_parked_and_replayed_once_the_engine_is_fixed(
        tmp_path: Path, broker_url: str, engine: tuple[SyntheticTrustPeer, ThreadedMllpServer]) -> None:
    peer, server = engine
    peer.document_acks.extend([AckCode.ERROR] * 3)
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, Hl7EventsOptions(channel="hl7v2", **FAST), _channel(server))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 30, "the failed receipt")
            failed = tap.receipts()[0]
            assert failed.outcome_id == outcome_id and peer.documents == []
            assert failed.detail == ("gave up after 3 attempt(s); last error: hl7 AE 207 (application error; "
                                     "application internal error)")  # codes, never the engine's text
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
            [message] = parked(loop, AGENCY)
            assert "hl7 AE 207" in message.detail

            replay(loop, AGENCY, message.message_id)  # the engine answers AA again
            wait_for(lambda: tap.statuses() == ["failed", "delivered"], 20, "delivery after the replay")
            assert len(peer.documents) == 1 and parked(loop, AGENCY) == []
        finally:
            service.stop()
            tap.close()


def test_ar_is_failed_at_once_with_the_codes_and_their_meaning(tmp_path: Path, broker_url: str,
                                                     engine: tuple[SyntheticTrustPeer, ThreadedMllpServer]) -> None:
    peer, server = engine
    peer.document_acks.append(AckCode.REJECT)
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, Hl7EventsOptions(channel="hl7v2", **FAST), _channel(server))
        try:
            decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 20, "the failed receipt")
            assert tap.receipts()[0].detail == "hl7 AR 204 (application reject; unknown key identifier)"
            assert service.handler.stats.retried == 0
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
        finally:
            service.stop()
            tap.close()
