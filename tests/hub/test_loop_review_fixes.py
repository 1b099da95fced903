"""Fixes from the security review of closing the loop, each as the behaviour a user or an auditor sees.

Real hub, real SQLite / PostgreSQL, the real web app on loopback; synthetic data only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Verdict

from mashlink.config.errors import ConfigError
from mashlink.config.loop import AlertSettings, LoopSettings, TeamChannel, TeamChannels
from mashlink.config.referrer import SmtpSettings
from mashlink.config.security import Permission, Role
from mashlink.config.settings import load_settings
from mashlink.hub.access import AccessService
from mashlink.hub.envelopes import hub_envelope
from mashlink.hub.models import EscalationRow, ReceiptRow, TeamNotificationRow
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.codes import OutcomeType
from mashlink.schemas.decision import Decision
from mashlink.schemas.envelope import MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.conftest import HubDb
from tests.hub.hub_support import FakeClock, referral_data
from tests.hub.loop_support import SENT, decide, delivery, receipt
from tests.production_support import PRODUCTION_KEYS
from tests.referrer.support import Inbox, smtp_server

POLICE_ERROR = "drop folder /srv/police-synth/in not writable"


def _alert(alert_id: str = "A-1", referral_id: str = "REF-0001") -> object:
    return delivery(f"m-{alert_id}", MessageType.ALERT, {
        "alert_id": alert_id, "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
        "agency_kind": "health", "referral_id": referral_id, "person_ref": "hub-subject-c1",
        "occurred_at": "2025-06-02T08:00:00+00:00", "location": "RXX02"}, sender="health-synth",
        correlation_id=referral_id)


def _failed_police_outcome(hub: HubService) -> None:
    """REF-0001 decided; the outcome to the police failed (with its error); health's is unacknowledged."""
    outcomes = decide(hub, notify=("health-synth", "police-synth"))
    hub.handle_events([receipt(outcomes["police-synth"], "failed", receipt_id="R-police", channel="drop-folder",
                               detail=POLICE_ERROR), _alert()])


def _widened(hub: HubService, *extra: Permission) -> HubService:
    """The same hub with agency liaisons also granted ``extra`` (a council may choose to)."""
    table = {role.value: sorted(p.value for p in perms) for role, perms in hub.settings.security.permissions.items()}
    table[Role.AGENCY_LIAISON.value] = sorted({*table[Role.AGENCY_LIAISON.value], *(p.value for p in extra)})
    settings = hub.settings.model_copy(update={"security": hub.settings.security.model_validate(
        {**hub.settings.security.model_dump(), "permissions": table})})
    return HubService(settings, hub.engine, topology=hub.topology, clock=hub.clock)


@contextmanager
def _signed_in(hub: HubService, role: str, *, agency: str | None = None) -> Iterator[httpx.Client]:
    with serve(build_hub_app(hub)) as client:
        params = {"role": role, "user": "lee", "next": "/workspace/referrals"}
        if agency:
            params["agency"] = agency
        assert client.get("/sign-in/dev", params=params).status_code == 303
        yield client


# ---------------------------------------------------------------------- 1. reads of the loop routes are audited
def test_reading_receipts_and_alerts_is_recorded_as_a_disclosure(hub: HubService) -> None:
    _failed_police_outcome(hub)
    before = len(hub.audit_events(action="record.read"))
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        assert client.get("/referrals/REF-0001/receipts", headers=tokens(Role.PRACTITIONER, user="amy")) \
            .status_code == 200
        alerts = client.get("/referrals/REF-0001/alerts", headers=tokens(Role.PRACTITIONER, user="amy"))
        assert alerts.status_code == 200 and [a["alert_id"] for a in alerts.json()] == ["A-1"]
    reads = hub.audit_events(action="record.read")[before:]
    assert [(e.referral_id, e.detail["what"]) for e in reads] == [("REF-0001", "receipts"), ("REF-0001", "alerts")]
    assert all("amy" in e.actor for e in reads)
    # The alert is the health trust's record (an attendance at its hospital): its disclosure log shows the read.
    log = AccessService(hub).disclosures(agency_id="health-synth")
    assert [(d.what, d.referral_id, d.role) for d in log if d.what == "alerts"] == [("alerts", "REF-0001",
                                                                                    "practitioner")]


def test_a_refused_read_of_receipts_is_audited_as_a_denial_not_a_disclosure(hub: HubService) -> None:
    _failed_police_outcome(hub)
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        assert client.get("/referrals/REF-0001/receipts", headers=tokens(Role.MANAGER, las=["998"])).status_code == 403
    assert [e.detail["permission"] for e in hub.audit_events(action="access.denied")] == ["receipts.read"]
    assert [e for e in hub.audit_events(action="record.read") if e.detail["what"] == "receipts"] == []


# ---------------------------------------------------------------------- 2. liaisons see only their own follow-up
def test_a_liaison_does_not_see_another_agencys_failed_outcome_on_the_referral_page(hub: HubService) -> None:
    _failed_police_outcome(hub)
    with _signed_in(hub, "agency_liaison", agency="health-synth") as client:
        page = client.get("/workspace/referrals/REF-0001")
        assert page.status_code == 200, page.text
        assert POLICE_ERROR not in page.text
        assert "Outcome to Synthshire Constabulary" not in page.text
        listing = client.get("/workspace/referrals")
        assert listing.status_code == 200 and "REF-0001" in listing.text
        assert "delivery failed" not in listing.text and "not acknowledged" not in listing.text
    # The MASH still sees it all, on the page and in the worklist.
    with _signed_in(hub, "practitioner") as client:
        page = client.get("/workspace/referrals/REF-0001")
        assert POLICE_ERROR in page.text and "Outcome to Synthshire Constabulary" in page.text
        listing = client.get("/workspace/referrals")
        assert "1 delivery failed" in listing.text and "3 not acknowledged" in listing.text


def test_a_liaison_granted_receipts_sees_only_their_own_agencys_follow_up(hub: HubService) -> None:
    _failed_police_outcome(hub)
    wide = _widened(hub, Permission.RECEIPTS_READ, Permission.ALERTS_READ)
    with _signed_in(wide, "agency_liaison", agency="health-synth") as client:
        page = client.get("/workspace/referrals/REF-0001")
        assert POLICE_ERROR not in page.text and 'id="told-police-synth"' not in page.text
        assert 'id="told-health-synth"' in page.text and 'id="told-referrer"' not in page.text
        assert 'id="alert-A-1"' in page.text  # the health trust's own alert
        listing = client.get("/workspace/referrals")
        assert "delivery failed" not in listing.text and "1 not acknowledged" in listing.text
    with _signed_in(wide, "agency_liaison", agency="police-synth") as client:
        page = client.get("/workspace/referrals/REF-0001")
        assert POLICE_ERROR in page.text and 'id="told-health-synth"' not in page.text
        assert 'id="alert-A-1"' not in page.text  # another agency's record
        listing = client.get("/workspace/referrals")
        assert "1 delivery failed" in listing.text and "Decision" not in listing.text.split("<tbody")[-1]
    tokens = Tokens(wide.settings)
    with serve(build_hub_app(wide)) as client:
        body = client.get("/referrals/REF-0001/receipts",
                          headers=tokens(Role.AGENCY_LIAISON, agency="police-synth")).json()
        assert [r["recipient"] for r in body["recipients"]] == ["police-synth"]
        assert {e["recipient"] for e in body["escalations"]} == {"police-synth"}
        assert body["decision_deadline"] is None
        assert client.get("/referrals/REF-0001/alerts",
                          headers=tokens(Role.AGENCY_LIAISON, agency="police-synth")).json() == []


# ---------------------------------------------------------------------- 5. the channel chosen when queued
TEAM_A = TeamChannel(kind="email", to="mash-duty@synthshire.example")
TEAM_B = TeamChannel(kind="email", to="mash-manager@synthshire.example")  # same domain: same name()


def _team_hub(hub_db: HubDb, hub: HubService, clock: FakeClock, smtp_port: int,
              channels: list[TeamChannel]) -> HubService:
    """The hub with LA 999's team channels ``channels`` (a restart with changed configuration)."""
    alerts = AlertSettings(smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_s=5,
                                             from_address="mash-alerts@synthshire.example"),
                           channels=TeamChannels(by_local_authority={"999": channels}), max_attempts=3)
    settings = hub.settings.model_copy(update={"loop": LoopSettings(alerts=alerts)})
    return HubService(settings, hub_db.engine, topology=hub.topology, clock=clock)


def _queued(hub: HubService) -> list[tuple[int, str | None, str, str, str | None]]:
    with hub.factory() as session:
        rows = session.execute(select(TeamNotificationRow).order_by(TeamNotificationRow.channel_index)).scalars()
        return [(r.channel_index, r.team_la, r.channel_name, r.status, r.last_error) for r in rows]


def _sent_to(inbox: Inbox) -> dict[str, list[str]]:
    """Recipients of each email by its notification key (``<alert id>:<position when queued>``)."""
    return {mail["X-Mashlink-Notification"]: rcpts for _from, rcpts, mail in inbox.messages}


def test_a_reordered_channel_list_still_sends_each_notification_to_the_channel_it_was_queued_for(
        hub_db: HubDb, hub: HubService, clock: FakeClock) -> None:
    with smtp_server() as (port, inbox):
        before = _team_hub(hub_db, hub, clock, port, [TEAM_A, TEAM_B])
        before.submit_referral(referral_data())
        before.handle_events([_alert()])
        assert before.team_notifier().queue_new() == 2
        assert [(i, la, name) for i, la, name, _s, _e in _queued(before)] == [
            (0, "999", "email:synthshire.example"), (1, "999", "email:synthshire.example")]
        after = _team_hub(hub_db, hub, clock, port, [TEAM_B, TEAM_A])  # reordered before it was sent
        result = after.team_notifier().send_due()
        assert (result.sent, result.failed) == (2, 0)
        assert _sent_to(inbox) == {"A-1:0": ["mash-duty@synthshire.example"],
                                   "A-1:1": ["mash-manager@synthshire.example"]}


def test_a_channel_removed_before_sending_fails_with_the_reason_and_no_other_channel_gets_it_twice(
        hub_db: HubDb, hub: HubService, clock: FakeClock) -> None:
    with smtp_server() as (port, inbox):
        before = _team_hub(hub_db, hub, clock, port, [TEAM_A, TEAM_B])
        before.submit_referral(referral_data())
        before.handle_events([_alert()])
        before.team_notifier().queue_new()
        after = _team_hub(hub_db, hub, clock, port, [TEAM_B])  # the duty inbox was removed
        result = after.team_notifier().send_due()
        assert (result.sent, result.failed) == (1, 1)
        assert _sent_to(inbox) == {"A-1:1": ["mash-manager@synthshire.example"]}
        [(index, _la, _name, status, error), sent] = _queued(after)
        assert (index, status, sent[3]) == (0, "failed", "sent")
        assert error is not None and "no longer configured for local authority 999" in error
        assert "loop.alerts.channels.by_local_authority.999" in error
        [audited] = after.audit_events(action="alert.notify_failed")
        assert audited.detail["alert_id"] == "A-1" and audited.detail["result"] == error
        assert after.loop_counts().notifications_failed == 1
        # Configured again, the failed notification is retried to the channel it was meant for.
        again = _team_hub(hub_db, hub, clock, port, [TEAM_B, TEAM_A])
        notifier = again.team_notifier()
        assert notifier.retry_failed("A-1") == 1
        assert notifier.send_due().sent == 1
        assert _sent_to(inbox)["A-1:0"] == ["mash-duty@synthshire.example"] and inbox.count() == 2


def test_a_row_queued_before_migration_0006_is_sent_only_where_its_recorded_channel_still_is(
        hub_db: HubDb, hub: HubService, clock: FakeClock) -> None:
    other = TeamChannel(kind="email", to="duty@elsewhere.example")
    with smtp_server() as (port, inbox):
        before = _team_hub(hub_db, hub, clock, port, [TEAM_A, other])
        before.submit_referral(referral_data())
        before.handle_events([_alert()])
        before.team_notifier().queue_new()
        with before.factory() as session, session.begin():  # as a row written by the 0005 notifier
            for row in session.execute(select(TeamNotificationRow)).scalars():
                row.team_la, row.channel_ref = None, None
        # Position 0 still holds a channel of the recorded name; position 1 now holds another domain's.
        after = _team_hub(hub_db, hub, clock, port, [TEAM_A, TeamChannel(kind="email", to="x@another.example")])
        result = after.team_notifier().send_due()
        assert (result.sent, result.failed) == (1, 1)
        assert _sent_to(inbox) == {"A-1:0": ["mash-duty@synthshire.example"]}
        assert "channel email:elsewhere.example is no longer configured" in (_queued(after)[1][4] or "")


# ---------------------------------------------------------------------- 3. a future received_at
FRIDAY_3PM = datetime(2025, 8, 22, 14, 0, tzinfo=timezone.utc)  # then a weekend and the August bank holiday
TUESDAY_DUE = datetime(2025, 8, 26, 14, 0, tzinfo=timezone.utc)  # one working day later


def test_a_referral_dated_in_the_future_still_has_its_decision_due_one_working_day_after_it_arrived(
        hub: HubService, clock: FakeClock) -> None:
    clock.now = FRIDAY_3PM
    future = FRIDAY_3PM + timedelta(days=30)
    hub.submit_referral(referral_data("REF-0001", received_at=future))
    deadline = hub.referral_loop("REF-0001").decision_deadline
    assert deadline is not None and deadline.due_at == TUESDAY_DUE  # from when the hub had it, not 30 days on
    assert hub.referral("REF-0001").received_at == future  # the sender's own date is kept as sent
    [skew] = hub.audit_events(action="referral.received_at_in_future")
    assert skew.referral_id == "REF-0001" and skew.detail["ahead_s"] == 30 * 86400
    assert skew.detail["decision_clock_from"] == FRIDAY_3PM.isoformat()
    clock.now = TUESDAY_DUE
    tracker = hub.deadline_tracker()
    tracker.tick()
    assert tracker.loop_counts.decision_overdue == 1
    assert hub.loop_counts().decisions_overdue == 1


def test_a_referral_received_in_the_past_keeps_its_own_clock_and_records_no_discrepancy(
        hub: HubService, clock: FakeClock) -> None:
    clock.now = FRIDAY_3PM + timedelta(hours=1)
    hub.submit_referral(referral_data("REF-0001", received_at=FRIDAY_3PM))
    deadline = hub.referral_loop("REF-0001").decision_deadline
    assert deadline is not None and deadline.due_at == TUESDAY_DUE
    assert hub.audit_events(action="referral.received_at_in_future") == []


# ---------------------------------------------------------------------- 4. receipts name an event sent to them
def _receipt_for(event_message_id: str, *, agency: str, receipt_id: str, event_type: str = "outcome",
                 referral_id: str = "REF-0001", status: str = "delivered", outcome_id: str | None = None,
                 message_id: str | None = None) -> object:
    return delivery(message_id or f"m-{receipt_id}", MessageType.RECEIPT, {
        "receipt_id": receipt_id, "event_message_id": event_message_id, "event_type": event_type,
        "referral_id": referral_id, "outcome_id": outcome_id, "agency_id": agency, "status": status,
        "channel": "drop-folder", "detail": "", "at": SENT.isoformat()}, sender=agency, correlation_id=referral_id)


def test_a_receipt_must_name_an_event_the_hub_sent_to_that_agency_about_that_referral(hub: HubService) -> None:
    outcomes = decide(hub)
    decide(hub, "REF-0002")
    health, police = outcomes["health-synth"], outcomes["police-synth"]
    results = hub.handle_events([
        _receipt_for("never-sent", agency="police-synth", receipt_id="R-1"),
        _receipt_for(health.message_id, agency="police-synth", receipt_id="R-2"),  # health's outcome
        _receipt_for(police.message_id, agency="police-synth", receipt_id="R-3", referral_id="REF-0002"),
        _receipt_for("never-sent", agency="police-synth", receipt_id="R-4", outcome_id=police.outcome_id),
    ])
    assert [(r.verdict, r.reason) for r in results] == [(Verdict.REJECT, RejectReason.INVALID_BODY)] * 4
    details = [r.detail or "" for r in results]
    assert "body.event_message_id" in details[0] and "not an event the hub sent to 'police-synth'" in details[0]
    assert "body.agency_id 'police-synth'" in details[1] and "another recipient" in details[1]
    assert "body.referral_id" in details[2]
    assert "body.event_message_id" in details[3] and "outcome" in details[3]
    with hub.factory() as session:
        assert session.execute(select(func.count()).select_from(ReceiptRow)).scalar_one() == 0
    rejected = hub.audit_events(action="message.rejected")
    assert len(rejected) == 4 and all(e.detail["message_type"] == "receipt" for e in rejected)
    # Its own outcome, by message id alone: accepted and applied.
    [ok] = hub.handle_events([_receipt_for(police.message_id, agency="police-synth", receipt_id="R-5")])
    assert ok.verdict is Verdict.ACK
    assert {r.recipient: r.status for r in hub.referral_loop("REF-0001").recipients}["police-synth"] == "delivered"


def test_a_receipt_for_an_escalation_sent_to_the_agency_is_accepted(hub: HubService, clock: FakeClock) -> None:
    hub.submit_referral(referral_data())
    clock.advance(days=14)
    hub.deadline_tracker().tick()  # amber enquiries are overdue: an escalation goes to each agency
    with hub.factory() as session:
        escalations = {r.agency_id: r.message_id for r in session.execute(select(EscalationRow)).scalars()}
    assert "police-synth" in escalations and "health-synth" in escalations
    hub.submit_referral(referral_data("REF-0002"))
    results = hub.handle_events([
        _receipt_for(escalations["police-synth"], agency="police-synth", receipt_id="R-E1", event_type="escalation"),
        _receipt_for(escalations["health-synth"], agency="police-synth", receipt_id="R-E2", event_type="escalation"),
        _receipt_for(escalations["police-synth"], agency="police-synth", receipt_id="R-E3", event_type="escalation",
                     referral_id="REF-0002"),
    ])
    assert [r.verdict for r in results] == [Verdict.ACK, Verdict.REJECT, Verdict.REJECT]
    assert "sent to another agency" in (results[1].detail or "")
    assert "body.referral_id 'REF-0002'" in (results[2].detail or "")
    [stored] = hub.referral_loop("REF-0001").other_receipts
    assert (stored.receipt_id, stored.agency_id, stored.event_type) == ("R-E1", "police-synth", "escalation")


def test_a_repeated_receipt_id_with_other_content_is_refused_not_acknowledged(hub: HubService) -> None:
    police = decide(hub)["police-synth"]
    first = _receipt_for(police.message_id, agency="police-synth", receipt_id="R-1", status="delivered")
    same = _receipt_for(police.message_id, agency="police-synth", receipt_id="R-1", status="delivered",
                        message_id="m-resent")
    other_status = _receipt_for(police.message_id, agency="police-synth", receipt_id="R-1", status="acknowledged",
                                message_id="m-other-status")
    results = hub.handle_events([first, same, other_status])
    assert [r.verdict for r in results] == [Verdict.ACK, Verdict.ACK, Verdict.REJECT]
    assert results[2].reason is RejectReason.INVALID_BODY
    assert "body.receipt_id" in (results[2].detail or "") and "status" in (results[2].detail or "")
    told = {r.recipient: r for r in hub.referral_loop("REF-0001").recipients}["police-synth"]
    assert told.status == "delivered" and told.acknowledged_at is None  # the clash changed nothing
    [rejected] = hub.audit_events(action="message.rejected")
    assert rejected.message_id == "m-other-status"


def test_a_receipt_for_another_event_in_the_outbox_is_checked_against_its_envelope(hub: HubService) -> None:
    """A decision event (no row of its own) is known by the envelope the hub staged in its outbox."""
    hub.submit_referral(referral_data())
    decision = Decision(decision_id="D-1", referral_id="REF-0001", outcome=OutcomeType.SECTION_17,
                        rationale="synthetic", decided_by="manager-1", decided_at=hub.clock())
    env = hub_envelope(MessageType.DECISION, decision, correlation_id="REF-0001", recipient="police-synth",
                       sent_at=hub.clock())
    with hub.store.unit() as uow:
        uow.send(hub.topology.event(env, "decision.police-synth"))
    results = hub.handle_events([
        _receipt_for(env.message_id, agency="police-synth", receipt_id="R-D1", event_type="decision"),
        _receipt_for(env.message_id, agency="health-synth", receipt_id="R-D2", event_type="decision"),
    ])
    assert [r.verdict for r in results] == [Verdict.ACK, Verdict.REJECT]
    assert "not an event the hub sent to 'health-synth'" in (results[1].detail or "")
    assert [r.receipt_id for r in hub.referral_loop("REF-0001").other_receipts] == ["R-D1"]


# ---------------------------------------------------------------------- 6. team web hooks are https in production
HOOK_SECRET = "team-hook-secret-01234x56789"
OIDC = {"oidc": {"issuer": "https://idp.example.test/realms/mash", "audience": "hub"}}


def _hooks(*urls: str) -> dict[str, object]:
    return {"alerts": {"channels": {
        "default": [{"kind": "email", "to": "mash-team@synthshire.example"},
                    {"kind": "webhook", "url": urls[0], "secret": HOOK_SECRET}],
        "by_local_authority": {"998": [{"kind": "webhook", "url": u, "secret": HOOK_SECRET} for u in urls[1:]]}}}}


def test_a_plain_http_team_web_hook_is_refused_in_production_naming_the_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as refused:
        load_settings(state_dir=str(tmp_path), environment="production", signing=PRODUCTION_KEYS, security=OIDC,
                      loop=_hooks("http://chat.synthshire.example/hook", "https://ok.synthshire.example/h",
                                  "http://teams.synthshire.example/hook"))
    text = str(refused.value)
    assert "loop.alerts.channels.default[1].url is an http:// URL but environment is production" in text
    assert "loop.alerts.channels.by_local_authority.998[1].url" in text
    assert "by_local_authority.998[0]" not in text and "use an https:// URL" in text
    # https passes in production; http stays allowed in development (a receiver on the same machine).
    https = load_settings(state_dir=str(tmp_path), environment="production", signing=PRODUCTION_KEYS,
                          security=OIDC, loop=_hooks("https://chat.synthshire.example/hook"))
    assert https.loop.alerts.channels.default[1].url == "https://chat.synthshire.example/hook"
    development = load_settings(state_dir=str(tmp_path), loop=_hooks("http://127.0.0.1:9000/hook"))
    assert development.loop.alerts.channels.default[1].url == "http://127.0.0.1:9000/hook"
