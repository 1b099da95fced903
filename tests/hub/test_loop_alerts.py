"""Alerts about watched children reach the MASH team: a real local web hook and a real SMTP server (aiosmtpd).

The team is told the facts (when, where, which trust or force, why the child
is watched) and nothing more: no names, dates of birth, NHS numbers or the
partner's free text. A practitioner's acknowledgement is recorded and audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from mashlink.broker.client import Broker
from mashlink.broker.messages import Verdict
from mashlink.config.loop import AlertSettings, LoopSettings, TeamChannel, TeamChannels
from mashlink.config.referrer import SmtpSettings
from mashlink.config.security import Role
from mashlink.connectors.wiring import connector_codec
from mashlink.connectors.delivery.signing import verify
from mashlink.hub.models import TeamNotificationRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.envelope import Envelope, MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.conftest import HubDb
from tests.hub.hub_support import FakeClock, referral_data, synthetic_nhs_number
from tests.hub.loop_support import delivery
from tests.referrer.support import Hook, Inbox, smtp_server, webhook_server

SECRET = "team-hook-secret-01234x56789"
TRUST = "Synthshire Hospitals NHS Foundation Trust (synthetic)"
PERSONAL = ("Ada", "Testchild", "Beth", "Testparent", synthetic_nhs_number(123456), "2016-03-14")


def ed_alert(alert_id: str = "A-ED-1", referral_id: str | None = "REF-0001", **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
            "agency_kind": "health", "referral_id": referral_id, "person_ref": "hub-subject-c1",
            "occurred_at": "2025-06-02T08:40:00+00:00", "location": "RXX01", "organisation": TRUST,
            "detail": "Emergency department attendance (A04, patient class E) for Ada Testchild", **extra}


@pytest.fixture
def team() -> Iterator[tuple[str, Hook, int, Inbox]]:
    hook = Hook()
    with webhook_server(hook) as url, smtp_server() as (port, inbox):
        yield url, hook, port, inbox


def team_hub(hub_db: HubDb, hub: HubService, clock: FakeClock, url: str, smtp_port: int,
             channels: list[TeamChannel] | None = None) -> HubService:
    alerts = AlertSettings(
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, from_address="mash-alerts@synthshire.example",
                          timeout_s=5),
        channels=TeamChannels(default=channels if channels is not None else [
            TeamChannel(kind="webhook", url=url, secret=SecretStr(SECRET), timeout_s=5),
            TeamChannel(kind="email", to="mash-team@synthshire.example")]),
        max_attempts=3, retry_backoff_s=60)
    settings = hub.settings.model_copy(update={"loop": LoopSettings(alerts=alerts)})
    return HubService(settings, hub_db.engine, topology=hub.topology, clock=clock)


def test_an_ed_alert_reaches_the_team_web_hook_and_mailbox_with_the_facts_only(
        hub_db: HubDb, hub: HubService, clock: FakeClock, team: tuple[str, Hook, int, Inbox]) -> None:
    url, hook, port, inbox = team
    service = team_hub(hub_db, hub, clock, url, port)
    service.submit_referral(referral_data())
    [result] = service.handle_events([delivery("m-a1", MessageType.ALERT, ed_alert(), sender="health-synth")])
    assert result.verdict is Verdict.ACK
    notifier = service.team_notifier()
    sent = notifier.run_once()
    assert (sent.queued, sent.sent, sent.failed) == (2, 2, 0)

    [(headers, body)] = hook.requests
    verify(SECRET.encode(), headers, body)  # signed as every mashlink web hook is
    assert headers["Idempotency-Key"] == "A-ED-1:0"
    [payload] = hook.payloads()
    assert payload["type"] == "mashlink.alert" and payload["what"] == "Emergency department attendance"
    assert payload["occurred_at"] == "2025-06-02T08:40:00+00:00" and payload["location"] == "RXX01"
    assert payload["organisation"] == TRUST and payload["referral_id"] == "REF-0001"
    assert payload["watched_because"] == "open_referral" and payload["why_watched"] == "open MASH referral"
    [(mail_from, rcpts, mail)] = inbox.messages
    assert mail_from == "mash-alerts@synthshire.example" and rcpts == ["mash-team@synthshire.example"]
    text = mail.get_content()
    assert "Emergency department attendance" in mail["Subject"] and "REF-0001" in mail["Subject"]
    assert "Where: RXX01" in text and f"Reported by: {TRUST}" in text
    assert "Why the child is watched: open MASH referral" in text
    for secret in PERSONAL:
        assert secret not in body.decode() and secret not in text and secret not in mail["Subject"]

    again = notifier.run_once()
    assert (again.queued, again.sent) == (0, 0) and hook.count() == 1 and inbox.count() == 1
    assert [e.detail["channel"] for e in service.audit_events(action="alert.notified")] == [
        f"webhook:127.0.0.1:{url.split(':')[2].split('/')[0]}", "email:synthshire.example"]
    [alert] = service.referral_loop("REF-0001").alerts
    assert alert.acknowledged_at is None and len(alert.notified) == 2 and all("sent" in n for n in alert.notified)
    assert service.loop_counts().alerts_unacknowledged == 1
    assert service.loop_flags(["REF-0001"])["REF-0001"].alerts_unacknowledged == 1


def test_a_practitioner_acknowledges_an_alert_over_the_api_once_and_it_is_audited(
        hub: HubService) -> None:
    hub.submit_referral(referral_data())
    hub.handle_events([delivery("m-a1", MessageType.ALERT, ed_alert(), sender="health-synth")])
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        listed = client.get("/referrals/REF-0001/alerts", headers=tokens(Role.PRACTITIONER))
        assert listed.status_code == 200 and [a["alert_id"] for a in listed.json()] == ["A-ED-1"]
        assert listed.json()[0]["why_watched"] == "open MASH referral" and "Ada" not in listed.text
        refused = client.post("/alerts/A-ED-1/acknowledge", json={}, headers=tokens(Role.AGENCY_LIAISON))
        assert refused.status_code == 403
        out_of_scope = client.post("/alerts/A-ED-1/acknowledge", json={"note": "x"},
                                   headers=tokens(Role.PRACTITIONER, las=["998"]))
        assert out_of_scope.status_code == 403
        done = client.post("/alerts/A-ED-1/acknowledge", json={"note": "Rang the ward; strategy call at 2pm"},
                           headers=tokens(Role.PRACTITIONER, user="sw-jo"))
        assert done.status_code == 200, done.text
        assert done.json()["acknowledged_by"] and done.json()["acknowledgement_note"].startswith("Rang the ward")
        twice = client.post("/alerts/A-ED-1/acknowledge", json={}, headers=tokens(Role.MANAGER))
        assert twice.status_code == 409
        unknown = client.post("/alerts/nope/acknowledge", json={}, headers=tokens(Role.PRACTITIONER))
        assert unknown.status_code == 404
    [audited] = hub.audit_events(action="alert.acknowledged")
    assert audited.referral_id == "REF-0001" and audited.detail["alert_id"] == "A-ED-1"
    assert "sw-jo" in audited.actor and audited.reason == "Rang the ward; strategy call at 2pm"
    assert hub.loop_counts().alerts_unacknowledged == 0


def test_a_police_domestic_abuse_notification_about_a_cp_child_retries_then_fails_then_is_resent(
        hub_db: HubDb, hub: HubService, clock: FakeClock, team: tuple[str, Hook, int, Inbox]) -> None:
    url, hook, port, _inbox = team
    service = team_hub(hub_db, hub, clock, url, port,
                       channels=[TeamChannel(kind="webhook", url=url, secret=SecretStr(SECRET))])
    police = {"alert_id": "A-DA-1", "kind": "domestic_abuse_incident", "agency_id": "police-synth",
              "agency_kind": "police", "person_ref": "hub-subject-c9", "occurred_at": "2025-06-01T23:10:00+00:00",
              "location": "ZZ99 beat 4", "watched_because": "child_protection_plan",
              "detail": "Occurrence 123: partner assaulted mother"}
    service.handle_events([delivery("m-da", MessageType.ALERT, police, sender="police-synth")])
    hook.statuses.extend([503, 400])
    notifier = service.team_notifier()
    first = notifier.run_once()
    assert (first.sent, first.retried) == (0, 1)
    with service.factory() as session:
        [row] = session.execute(select(TeamNotificationRow)).scalars().all()
        assert (row.status, row.last_error, row.attempts) == ("pending", "webhook http 503", 1)
    assert service.alert("A-DA-1").team_la == service.settings.local_authority.code  # no referral: own team
    clock.advance(seconds=61)
    second = notifier.run_once()
    assert (second.sent, second.failed) == (0, 1)
    [failed] = service.audit_events(action="alert.notify_failed")
    assert failed.detail["result"] == "webhook http 400" and failed.referral_id is None
    assert service.loop_counts().notifications_failed == 1
    assert notifier.retry_failed("A-DA-1") == 1
    third = notifier.run_once()
    assert third.sent == 1 and hook.count() == 3
    payload = hook.payloads()[-1]
    assert payload["what"] == "Domestic abuse incident in the child's household"
    assert payload["why_watched"] == "child protection plan" and payload["organisation"] == \
        "Synthshire Constabulary (synthetic)"
    assert "assaulted" not in str(payload)  # the partner's free text stays out of the team channel
    assert service.loop_counts().notifications_failed == 0


def test_escalations_reach_the_team_channel_too(hub_db: HubDb, hub: HubService, clock: FakeClock,
                                                team: tuple[str, Hook, int, Inbox]) -> None:
    url, hook, port, _inbox = team
    service = team_hub(hub_db, hub, clock, url, port,
                       channels=[TeamChannel(kind="webhook", url=url, secret=SecretStr(SECRET))])
    service.submit_referral(referral_data())
    clock.now = datetime(2025, 6, 4, 9, tzinfo=timezone.utc)  # well past one working day
    service.deadline_tracker().tick()
    assert service.team_notifier().run_once().sent == 1
    [payload] = hook.payloads()
    assert payload["type"] == "mashlink.escalation" and payload["kind"] == "decision"
    assert payload["level"] == "overdue" and payload["referral_id"] == "REF-0001"


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


def _wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_an_alert_published_by_the_health_connector_reaches_the_team_hook_through_the_running_hub(
        hub_db: HubDb, hub: HubService, clock: FakeClock, team: tuple[str, Hook, int, Inbox],
        broker_url: str) -> None:
    url, hook, port, _inbox = team
    service = team_hub(hub_db, hub, clock, url, port,
                       channels=[TeamChannel(kind="webhook", url=url, secret=SecretStr(SECRET))])
    service.submit_referral(referral_data())
    topology = service.topology

    def factory() -> Broker:
        return Broker(broker_url, service.codec, topology, retry_backoff_s=0.05, retry_backoff_max_s=0.2)

    runtime = HubRuntime(service, factory, tick_interval_s=0.5, audit_check_interval_s=0)
    runtime.start()
    agency_codec = connector_codec(service.settings, "health-synth")
    health = Broker(broker_url, agency_codec, topology)
    try:
        env = Envelope(message_id="m-ed-live", correlation_id="REF-0001", message_type=MessageType.ALERT,
                       sender="health-synth", recipient="hub", sent_at=clock() - timedelta(minutes=1),
                       body=ed_alert("A-ED-LIVE"))
        health.publish([topology.event(env, "alert.unscheduled_care_attendance")])
        assert _wait_for(lambda: hook.count() >= 1), "the team web hook was not called"
    finally:
        health.close()
        runtime.stop()
        cleaner = factory()
        try:
            cleaner.delete_topology([a.id for a in service.settings.agencies])
        finally:
            cleaner.close()
    [payload] = hook.payloads()
    assert payload["alert_id"] == "A-ED-LIVE" and payload["organisation"] == TRUST
