"""A police team whose system only reads files: the outcome arrives as a file, with receipts.

The hub records a decision (real HubService and outbox relay); the police
agency's ``agency-events`` service consumes ``outcome.police-synth`` from the
broker (memory:// and RabbitMQ) and writes the rendered outcome into a real
folder; receipts come back on ``receipt.police-synth``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mashlink.connectors.events.channels import DropFolderEventChannel
from mashlink.connectors.events.options import DropFolderEventsOptions
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

AGENCY = "police-synth"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_outcome_file_written_then_acknowledged_when_moved_to_processed(tmp_path: Path, broker_url: str) -> None:
    root = tmp_path / "police-share"
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, DropFolderEventsOptions(channel="drop_folder", path=root, **FAST),
                               DropFolderEventChannel(root))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["delivered"], 20, "the delivered receipt")
            [written] = _files(root / "outbox")
            payload = json.loads(written.read_text(encoding="utf-8"))
            assert (payload["type"], payload["event"], payload["outcome_id"], payload["referral_id"]) == (
                "mashlink.agency_event", "outcome", outcome_id, "REF-0001")
            text = payload["text"]
            for expected in ("strategy discussion", "section 47", "Update the police record",
                             "A police representative is needed", "What happens next", "Who to contact",
                             "Synthshire MASH", "01632 960000", "REF-0001"):
                assert expected in text, expected
            assert payload["subject"] == "MASH outcome for referral REF-0001: strategy section 47"
            assert no_personal_data(written.read_text(encoding="utf-8")) == []
            receipt = tap.receipts()[0]
            assert (receipt.agency_id, receipt.outcome_id, receipt.referral_id, receipt.event_type,
                    receipt.channel) == (AGENCY, outcome_id, "REF-0001", "outcome", "drop-folder")
            assert receipt.detail == f"file written outbox/{written.name}"

            # The police system picks the file up: acknowledged on the next scan.
            os.replace(written, root / "processed" / written.name)
            wait_for(lambda: tap.statuses() == ["delivered", "acknowledged"], 20, "the acknowledged receipt")
            ack = tap.receipts()[1]
            assert ack.receipt_id != receipt.receipt_id and ack.event_message_id == receipt.event_message_id
            assert ack.detail == f"file moved to processed/{written.name}"
            assert parked(loop, AGENCY) == []
        finally:
            service.stop()
            tap.close()


def test_redelivered_outcome_is_written_once_and_its_receipt_is_the_same(tmp_path: Path, broker_url: str) -> None:
    root = tmp_path / "police-share"
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, DropFolderEventsOptions(channel="drop_folder", path=root, **FAST),
                               DropFolderEventChannel(root))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: len(tap.receipts()) == 1, 20, "the first receipt")
            [written] = _files(root / "outbox")
            first_mtime = written.stat().st_mtime_ns
            env, routing_key = outcome_envelope(hub, outcome_id)
            republish(loop, env, routing_key)
            wait_for(lambda: service.handler.stats.duplicates == 1, 20, "the repeat to be recognised")
            wait_for(lambda: len(tap.receipts()) == 2, 20, "the receipt published again")
            assert service.handler.stats.delivered == 1
            assert written.stat().st_mtime_ns == first_mtime and _files(root / "outbox") == [written]
            first, second = tap.receipts()
            assert first.receipt_id == second.receipt_id  # one effect at the hub
        finally:
            service.stop()
            tap.close()


def test_unwritable_folder_fails_and_parks_then_replays_once_fixed(tmp_path: Path, broker_url: str) -> None:
    root = tmp_path / "police-share"
    root.mkdir()
    (root / "outbox").write_text("not a folder: the share is broken\n", encoding="utf-8")
    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, DropFolderEventsOptions(channel="drop_folder", path=root, **FAST),
                               DropFolderEventChannel(root))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 30, "the failed receipt")
            failed = tap.receipts()[0]
            assert failed.outcome_id == outcome_id and failed.channel == "drop-folder"
            assert failed.detail.startswith("gave up after 3 attempt(s); last error: drop folder not writable")
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
            [message] = parked(loop, AGENCY)
            assert message.reason.value == "processing_failure" and "drop folder not writable" in message.detail
            assert service.handler.stats.retried == 2

            (root / "outbox").unlink()  # the share is fixed
            replay(loop, AGENCY, message.message_id)
            wait_for(lambda: tap.statuses() == ["failed", "delivered"], 20, "delivery after the replay")
            assert len(_files(root / "outbox")) == 1 and parked(loop, AGENCY) == []
            assert service.handler.stats.delivered == 1
        finally:
            service.stop()
            tap.close()
