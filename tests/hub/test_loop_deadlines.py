"""Outcome acknowledgement windows and the decision deadline escalate in working hours, like enquiries.

The clock is injected. Friday 22 August 2025, 15:00 London (14:00 UTC), is
followed by the weekend and the August bank holiday (Monday 25): one working
day (8 hours, 09:00-17:00) from then is Friday 15-17 (2 h) plus Tuesday
09:00-15:00 (6 h), so the deadline is Tuesday 26 August 15:00 London (14:00
UTC) and the at-risk moment (75 %, 6 h) Tuesday 13:00 London (12:00 UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone

from mashlink.config.loop import LoopSettings
from mashlink.hub.service import HubService
from tests.hub.hub_support import FakeClock, referral_data
from tests.hub.loop_support import decide, receipt

FRIDAY_3PM = datetime(2025, 8, 22, 14, 0, tzinfo=timezone.utc)
BANK_HOLIDAY_NOON = datetime(2025, 8, 25, 11, 0, tzinfo=timezone.utc)
TUESDAY_AT_RISK = datetime(2025, 8, 26, 12, 0, tzinfo=timezone.utc)
TUESDAY_DUE = datetime(2025, 8, 26, 14, 0, tzinfo=timezone.utc)


def test_an_unacknowledged_outcome_goes_at_risk_then_overdue_across_a_weekend_and_bank_holiday(
        hub: HubService, clock: FakeClock) -> None:
    clock.now = FRIDAY_3PM
    outcomes = decide(hub, received_at=FRIDAY_3PM)
    police, health = outcomes["police-synth"], outcomes["health-synth"]
    assert police.ack_due_at == TUESDAY_DUE and police.ack_at_risk_at == TUESDAY_AT_RISK
    # health acknowledges; police's tool only reports delivery (a FHIR Task, which can acknowledge: not settled)
    hub.handle_events([receipt(health, "acknowledged", receipt_id="R-H"),
                       receipt(police, "delivered", receipt_id="R-P", channel="fhir-task")])
    tracker = hub.deadline_tracker()

    for quiet in (datetime(2025, 8, 22, 20, tzinfo=timezone.utc), BANK_HOLIDAY_NOON,
                  datetime(2025, 8, 26, 11, 59, tzinfo=timezone.utc)):
        clock.now = quiet
        tracker.tick()
        assert tracker.loop_counts.raised == 0, quiet
    clock.now = TUESDAY_AT_RISK
    tracker.tick()
    assert tracker.loop_counts.acknowledgement_at_risk == 2  # police (delivered only) and the referrer (nothing)
    assert {e.detail["recipient"] for e in hub.audit_events(action="outcome.acknowledgement_at_risk")} == {
        "police-synth", "referrer"}
    loop = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}
    assert loop["police-synth"].acknowledgement == "at_risk" and loop["health-synth"].acknowledgement == "settled"
    assert hub.loop_counts().outcomes_acknowledgement_at_risk == 2

    clock.now = TUESDAY_DUE
    tracker.tick()
    assert tracker.loop_counts.acknowledgement_overdue == 2
    tracker.tick()
    assert tracker.loop_counts.raised == 0  # each level is raised once
    loop_view = hub.referral_loop("REF-0001")
    assert {r.recipient: r.acknowledgement for r in loop_view.recipients} == {
        "referrer": "overdue", "police-synth": "overdue", "health-synth": "settled"}
    assert [(e.kind, e.level) for e in loop_view.escalations if e.recipient == "police-synth"] == [
        ("outcome", "at_risk"), ("outcome", "overdue")]
    assert hub.loop_flags(["REF-0001"])["REF-0001"].unacknowledged == 2
    counts = hub.loop_counts()
    assert counts.outcomes_acknowledgement_overdue == 2 and counts.outcomes_unacknowledged == 2
    # a late acknowledgement settles it; nothing more is raised
    hub.handle_events([receipt(police, "acknowledged", receipt_id="R-P2")])
    assert hub.loop_counts().outcomes_acknowledgement_overdue == 1


def test_a_late_acknowledgement_before_the_window_stops_escalation(hub: HubService, clock: FakeClock) -> None:
    clock.now = FRIDAY_3PM
    police = decide(hub, received_at=FRIDAY_3PM)["police-synth"]
    hub.handle_events([receipt(police, "acknowledged", receipt_id="R-1")])
    clock.now = TUESDAY_DUE
    tracker = hub.deadline_tracker()
    tracker.tick()
    assert not any(e.detail.get("recipient") == "police-synth"
                   for e in hub.audit_events(action="outcome.acknowledgement_*"))


def test_the_decision_deadline_escalates_to_the_manager_across_a_weekend_and_bank_holiday(
        hub: HubService, clock: FakeClock) -> None:
    clock.now = FRIDAY_3PM
    hub.submit_referral(referral_data("REF-0001", received_at=FRIDAY_3PM))
    tracker = hub.deadline_tracker()
    assert tracker.next_escalation_at() is not None
    for quiet in (datetime(2025, 8, 23, 10, tzinfo=timezone.utc), BANK_HOLIDAY_NOON):
        clock.now = quiet
        tracker.tick()
        assert tracker.loop_counts.decision_at_risk == tracker.loop_counts.decision_overdue == 0
    assert hub.referral_loop("REF-0001").decision_deadline.state == "on_time"  # type: ignore[union-attr]
    clock.now = TUESDAY_AT_RISK
    tracker.tick()
    assert tracker.loop_counts.decision_at_risk == 1
    assert hub.loop_flags(["REF-0001"])["REF-0001"].decision == "at_risk"
    assert hub.loop_counts().decisions_at_risk == 1
    clock.now = TUESDAY_DUE
    tracker.tick()
    assert tracker.loop_counts.decision_overdue == 1
    [at_risk] = hub.audit_events(action="decision.at_risk")
    [overdue] = hub.audit_events(action="decision.overdue")
    assert at_risk.referral_id == overdue.referral_id == "REF-0001"
    assert overdue.detail["due_at"] == TUESDAY_DUE.isoformat() and overdue.actor == "deadline-tracker"
    deadline = hub.referral_loop("REF-0001").decision_deadline
    assert deadline is not None and deadline.state == "overdue" and deadline.due_at == TUESDAY_DUE
    assert hub.loop_counts().decisions_overdue == 1
    # the late decision is recorded as late, and nothing more is raised for it
    clock.now = datetime(2025, 8, 26, 15, 0, tzinfo=timezone.utc)
    decide(hub, submit=False)
    deadline = hub.referral_loop("REF-0001").decision_deadline
    assert deadline is not None and deadline.state == "decided_late"
    [recorded] = hub.audit_events(action="decision.recorded")
    assert recorded.detail["late"] is True
    assert hub.loop_counts().decisions_overdue == 0


def test_the_decision_deadline_is_configurable_per_local_authority(hub: HubService, clock: FakeClock) -> None:
    loop = LoopSettings.model_validate({"decision": {"working_hours": 8,
                                                     "by_local_authority": {999: {"working_hours": 4}}}})
    local = HubService(hub.settings.model_copy(update={"loop": loop}), hub.engine, topology=hub.topology,
                       clock=clock)
    clock.now = FRIDAY_3PM
    local.submit_referral(referral_data("REF-LA", received_at=FRIDAY_3PM))
    deadline = local.referral_loop("REF-LA").decision_deadline
    # 4 working hours from Friday 15:00: Friday 2 h, Tuesday 09:00 + 2 h = 11:00 London (10:00 UTC)
    assert deadline is not None and deadline.due_at == datetime(2025, 8, 26, 10, 0, tzinfo=timezone.utc)
