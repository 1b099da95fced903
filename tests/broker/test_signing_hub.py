"""The hub's side of signing: whom it accepts a referrer receipt from, and stale messages audited.

A real hub (SQLite) and its runtime on memory://.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mashlink.broker import Broker, RejectReason, Topology, Verdict
from mashlink.config.settings import load_settings
from mashlink.connectors.wiring import connector_codec
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from tests.broker.broker_helpers import enquiry_envelope
from tests.hub.hub_support import FakeClock
from tests.hub.loop_support import decide, receipt

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)  # a working Monday


@pytest.fixture
def hub(tmp_path: Path, unique_name: str) -> Iterator[HubService]:
    service = HubService.open(load_settings(state_dir=str(tmp_path / "state")), clock=FakeClock(NOW),
                              topology=Topology(f"sig{unique_name}"))
    try:
        yield service
    finally:
        service.close()


def test_the_hub_refuses_a_referrer_receipt_signed_by_the_hub(hub: HubService) -> None:
    """Only ``referrer-notifier`` speaks for the referrer: any connector used to hold the hub's key."""
    referrer = decide(hub)["referrer"]
    as_hub = receipt(referrer, "acknowledged", receipt_id="R-HUB", sender="hub", channel="email")
    as_notifier = receipt(referrer, "delivered", receipt_id="R-N", sender="referrer-notifier", channel="email")
    first, second = hub.handle_events([as_hub, as_notifier])
    assert first.verdict is Verdict.REJECT and first.reason is RejectReason.INVALID_BODY
    assert "sender 'hub' may not send receipts for 'referrer' (only referrer-notifier)" in (first.detail or "")
    assert second.verdict is Verdict.ACK
    [rejected] = hub.audit_events(action="message.rejected")
    assert rejected.message_id == "m-R-HUB"


def test_a_stale_response_reaching_the_running_hub_is_parked_and_audited(hub: HubService) -> None:
    topology = hub.topology

    def factory() -> Broker:
        return Broker("memory://", hub.codec, topology)

    runtime = HubRuntime(hub, factory, tick_interval_s=0.2, audit_check_interval_s=0)
    runtime.start()
    police = Broker("memory://", connector_codec(hub.settings, "police-synth"), topology)
    try:
        stale = enquiry_envelope(sender="police-synth", recipient="hub").model_copy(
            update={"sent_at": NOW - timedelta(days=365)})  # validly signed, a year old by the hub's clock
        police.publish([topology.response(stale)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not hub.audit_events(action="message.stale"):
            time.sleep(0.05)
        [event] = hub.audit_events(action="message.stale")
        assert event.message_id == stale.message_id
        assert event.detail["sender"] == "police-synth" and event.detail["reason"] == "stale"
        assert "365 days old" in (event.reason or "")
        [parked] = police.dlq_list(topology.responses_queue)
        assert parked.message_id == stale.message_id and parked.reason is RejectReason.STALE
    finally:
        police.close()
        runtime.stop()
