"""The acknowledgement scan looks at a capped page per pass and carries on from there, so every event is reached.

Before, each pass read "the oldest 500 delivered" and an unacknowledged
event keeps its place, so with more waiting than the cap the newer ones were
never checked. Here the cap is ``options.events.ack_scan_batch``; a real drop
folder (files the tool moved to ``processed/``), a real event store and a
real hub and broker (memory://) take the acknowledged receipts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mashlink.connectors.events.channels import DropFolderEventChannel
from mashlink.connectors.events.consumer import DEFAULT_ACK_SCAN_BATCH
from mashlink.connectors.events.options import DropFolderEventsOptions
from mashlink.connectors.events.store import EventStore, StoredEvent
from mashlink.connectors.events.wiring import build_events_service
from tests.events.support import ReceiptTap, context, decide, events_loop, wait_for

AGENCY = "police-synth"


class CountingFolder(DropFolderEventChannel):
    """The real drop-folder channel, remembering how many events each pass asked about."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pages: list[list[str]] = []

    def acknowledged(self, delivered: list[StoredEvent]) -> list[tuple[str, str]]:
        self.pages.append([row.message_id for row in delivered])
        return super().acknowledged(delivered)


def test_events_beyond_the_cap_are_reached_on_later_passes(tmp_path: Path) -> None:
    root = tmp_path / "share"
    channel = CountingFolder(root)
    with events_loop(tmp_path, "memory://") as (loop, hub):
        decide(hub, AGENCY)  # the referral the receipts are about
        tap = ReceiptTap(loop, AGENCY)
        options = DropFolderEventsOptions(channel="drop_folder", path=root, ack_scan_batch=3,
                                          ack_scan_interval_s=3600, state_file=tmp_path / "events.sqlite")
        service = build_events_service(context(loop, AGENCY), options, channel)  # scanned by hand below
        store: EventStore = service.handler.store
        ids = [f"event-{i:02d}" for i in range(8)]
        for message_id in ids:  # delivered oldest first
            store.record(message_id=message_id, kind="escalation", referral_id="REF-0001", outcome_id=None,
                         channel=channel.name, status="delivered", ref=f"{message_id}.json")
        root.joinpath("processed").mkdir(parents=True, exist_ok=True)
        for message_id in ids[-2:]:  # the tool read only the two newest: beyond a first page of 3
            root.joinpath("processed", f"{message_id}.json").write_text("{}\n", encoding="utf-8")
        try:
            done = [service.handler.scan_acknowledgements() for _ in range(3)]
            assert channel.pages == [ids[0:3], ids[3:6], [*ids[6:8], ids[0]]]  # round-robin, wrapping
            assert done == [0, 0, 2]
            assert {store.get(m).status for m in ids[-2:]} == {"acknowledged"}  # type: ignore[union-attr]
            wait_for(lambda: sorted(r.event_message_id for r in tap.receipts()) == ids[-2:], 20,
                     "the acknowledged receipts")
            assert {r.status.value for r in tap.receipts()} == {"acknowledged"}

            root.joinpath("processed", f"{ids[4]}.json").write_text("{}\n", encoding="utf-8")
            for _ in range(3):
                service.handler.scan_acknowledgements()
            assert store.get(ids[4]).status == "acknowledged"  # type: ignore[union-attr]
            assert all(len(page) <= 3 for page in channel.pages)
        finally:
            tap.close()
            service.handler.receipts.close()


def test_ack_scan_batch_defaults_and_bounds() -> None:
    assert DropFolderEventsOptions(channel="drop_folder").ack_scan_batch == DEFAULT_ACK_SCAN_BATCH == 500
    with pytest.raises(ValidationError) as bad:
        DropFolderEventsOptions(channel="drop_folder", ack_scan_batch=0)
    assert "ack_scan_batch" in str(bad.value)
