"""The closing-the-loop routes follow the permission table: a role without the permission gets 403."""

from __future__ import annotations

from mashlink.config.security import Permission, Role
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.envelope import MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.hub_support import referral_data
from tests.hub.loop_support import decide, delivery, receipt


def test_receipts_and_alerts_routes_enforce_their_permissions(hub: HubService) -> None:
    health = decide(hub)["health-synth"]
    hub.handle_events([receipt(health, "failed", receipt_id="R-1", detail="FHIR server 500 after 8 attempts"),
                       delivery("m-a", MessageType.ALERT, {
                           "alert_id": "A-1", "kind": "hospital_admission", "agency_id": "health-synth",
                           "agency_kind": "health", "referral_id": "REF-0001", "person_ref": "hub-subject-c1",
                           "occurred_at": "2025-06-02T08:00:00+00:00", "location": "RXX02"},
                           sender="health-synth")])
    table = hub.settings.security.permissions
    assert Permission.RECEIPTS_READ not in table[Role.OPS] and Permission.ALERTS_READ not in table[Role.AUDITOR]
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        ok = client.get("/referrals/REF-0001/receipts", headers=tokens(Role.PRACTITIONER))
        assert ok.status_code == 200
        told = {r["recipient"]: r for r in ok.json()["recipients"]}
        assert told["health-synth"]["status"] == "failed"
        assert told["health-synth"]["reason"] == "FHIR server 500 after 8 attempts"
        assert "Ada" not in ok.text and "Testchild" not in ok.text
        for role in (Role.OPS, Role.AUDITOR, Role.AGENCY_LIAISON, Role.SYSTEM):
            for method, path, body in (("GET", "/referrals/REF-0001/receipts", None),
                                       ("GET", "/referrals/REF-0001/alerts", None),
                                       ("POST", "/alerts/A-1/acknowledge", {"note": "seen"})):
                response = client.request(method, path, json=body, headers=tokens(role))
                assert response.status_code == 403, (role, path, response.text)
                assert response.json()["title"] == "forbidden"
        # in the table but outside the LA: refused too (and audited as a denial)
        far = client.get("/referrals/REF-0001/receipts", headers=tokens(Role.MANAGER, las=["998"]))
        assert far.status_code == 403
    assert hub.alert("A-1").acknowledged_at is None


def test_a_narrower_table_takes_the_route_away(hub: HubService) -> None:
    table = {role.value: sorted(p.value for p in perms) for role, perms in hub.settings.security.permissions.items()}
    table["practitioner"] = [p for p in table["practitioner"] if p != Permission.ALERTS_ACKNOWLEDGE.value]
    settings = hub.settings.model_copy(update={"security": hub.settings.security.model_validate(
        {**hub.settings.security.model_dump(), "permissions": table})})
    narrow = HubService(settings, hub.engine, topology=hub.topology, clock=hub.clock)
    narrow.submit_referral(referral_data())
    tokens = Tokens(settings)
    with serve(build_hub_app(narrow)) as client:
        response = client.post("/alerts/A-1/acknowledge", json={}, headers=tokens(Role.PRACTITIONER))
        assert response.status_code == 403 and "alerts.acknowledge" in response.json()["detail"]
