"""An enquiry left unanswered: the hub's overdue escalation reaches the agency's own tool, with a receipt.

The hub's deadline tracker raises the escalation from its database when the
(movable) clock passes the enquiry's due time; the social care agency's
``agency-events`` service delivers the rendered escalation to its drop
folder and the hub records the receipt.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mashlink.connectors.events.channels import DropFolderEventChannel
from mashlink.connectors.events.options import DropFolderEventsOptions
from tests.e2e.loop import make_loop
from tests.events.support import FAST, ReceiptTap, no_personal_data, start_events, wait_for
from tests.hub.hub_support import referral_data

AGENCY = "social-care-synth"


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


def test_overdue_escalation_is_delivered_to_the_agency_that_has_not_answered(tmp_path: Path,
                                                                          broker_url: str) -> None:
    clock = Clock()
    root = tmp_path / "social-care-share"
    loop = make_loop(tmp_path / uuid.uuid4().hex[:6], broker_url=broker_url, clock=clock)
    try:
        hub = loop.start_hub(tick_interval_s=0.05)
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, DropFolderEventsOptions(channel="drop_folder", path=root, **FAST),
                               DropFolderEventChannel(root))
        try:
            sent = hub.submit_referral(referral_data("REF-0002", rag="red", received_at=clock.at))
            enquiry = sent.enquiry_for(AGENCY)
            clock.at = enquiry.due_at + timedelta(minutes=1)  # nobody answered in time
            def overdue_letter() -> dict | None:
                for path in sorted((root / "outbox").glob("*.json")):
                    letter = json.loads(path.read_text(encoding="utf-8"))
                    if letter["event"] == "escalation" and letter["facts"]["level"] == "overdue":
                        return letter
                return None

            wait_for(lambda: overdue_letter() is not None, 30, "the overdue letter in the agency's folder")
            letter = overdue_letter()
            assert letter is not None
            wait_for(lambda: letter["event_id"] in [r.event_message_id for r in tap.receipts()], 30,
                     "the escalation's receipt")
            assert letter["subject"] == f"OVERDUE: MASH enquiry {enquiry.enquiry_id} (red) for referral REF-0002"
            assert letter["enquiry_id"] == enquiry.enquiry_id and "has not been received" in letter["text"]
            assert "Answer the enquiry in your system now" in letter["text"]
            assert no_personal_data(json.dumps(letter)) == []
            receipt = next(r for r in tap.receipts() if r.event_message_id == letter["event_id"])
            assert (receipt.event_type, receipt.status.value, receipt.outcome_id) == ("escalation", "delivered", None)
        finally:
            service.stop()
            tap.close()
    finally:
        loop.close()
