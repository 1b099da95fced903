"""``add_loop_metrics``: the loop's gauges, from a service or a session, match what the hub holds."""

from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mashlink.hub.loop_metrics import GAUGES, add_loop_metrics
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import MessageType
from tests.hub.hub_support import FakeClock, referral_data
from tests.hub.loop_support import decide, delivery, receipt


def _values(registry: CollectorRegistry) -> dict[str, float]:
    text = generate_latest(registry).decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_loop_gauges_count_undelivered_unacknowledged_alerts_and_late_decisions(hub: HubService,
                                                                               clock: FakeClock) -> None:
    outcomes = decide(hub)  # three outcomes: referrer, health, police
    hub.handle_events([receipt(outcomes["health-synth"], "acknowledged", receipt_id="R-1"),
                       receipt(outcomes["police-synth"], "failed", receipt_id="R-2", detail="MLLP AE"),
                       delivery("m-a", MessageType.ALERT, {
                           "alert_id": "A-1", "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
                           "agency_kind": "health", "person_ref": "hub-subject-c1",
                           "occurred_at": "2025-06-02T08:00:00+00:00"}, sender="health-synth")])
    hub.submit_referral(referral_data("REF-LATE"))  # received Monday 09:30 London: decision due Tuesday 09:30
    clock.now = datetime(2025, 6, 3, 12, tzinfo=timezone.utc)
    registry = CollectorRegistry()
    add_loop_metrics(registry, hub)
    values = _values(registry)
    assert {name for name, _h, _f in GAUGES} <= set(values)
    assert values["mashlink_outcomes_undelivered"] == 2  # referrer (no receipt) and police (failed)
    assert values["mashlink_outcomes_unacknowledged"] == 2
    assert values["mashlink_outcomes_failed"] == 1
    assert values["mashlink_outcomes_acknowledgement_overdue"] == 2  # one working day passed
    assert values["mashlink_alerts_unacknowledged"] == 1
    assert values["mashlink_decisions_overdue"] == 1 and values["mashlink_decisions_at_risk"] == 0
    hub.acknowledge_alert("A-1", actor="sw-1")
    with hub.factory() as session:
        from_session = CollectorRegistry()
        add_loop_metrics(from_session, session)
    assert _values(from_session)["mashlink_alerts_unacknowledged"] == 0
