"""Fixes from the security review of closing the loop, each as the behaviour a user or an auditor sees.

Real hub, real SQLite / PostgreSQL, the real web app on loopback; synthetic data only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from mashlink.config.security import Permission, Role
from mashlink.hub.access import AccessService
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.envelope import MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.loop_support import decide, delivery, receipt

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
