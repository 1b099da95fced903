"""The hub HTTP API over real HTTP (uvicorn on an ephemeral loopback port)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.hub.hub_support import referral_data
from mashlink.ops.web.hub_app import build_hub_app
from tests.hub.api_support import Tokens, serve
from mashlink.hub.audit_watch import AuditWatch
from mashlink.hub.service import HubService


@pytest.fixture
def watch(hub: HubService) -> AuditWatch:
    return AuditWatch(hub)


@pytest.fixture
def api(hub: HubService, watch: AuditWatch) -> Iterator[httpx.Client]:
    with serve(build_hub_app(hub, audit_check=lambda: watch.last)) as client:
        yield client


@pytest.fixture
def tokens(hub: HubService) -> Tokens:
    return Tokens(hub.settings)


def test_referral_fan_out_status_and_linked_view(api: httpx.Client, tokens: Tokens) -> None:
    practitioner = tokens("practitioner")
    created = api.post("/referrals", json=referral_data("REF-API-1", rag="red"), headers=practitioner)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["rag"] == "red"
    agencies = {e["agency_id"] for e in body["enquiries"]}
    assert len(agencies) == 4

    status = api.get("/referrals/REF-API-1", headers=practitioner)
    assert status.status_code == 200
    assert {e["agency_id"] for e in status.json()["enquiries"]} == agencies
    assert all(e["status"] == "open" for e in status.json()["enquiries"])

    view = api.get("/referrals/REF-API-1/linked-view", headers=practitioner)
    assert view.status_code == 200
    assert set(view.json()["outstanding"]) == agencies

    stats = api.get("/enquiries/stats", headers=tokens("ops")).json()
    assert sum(r["open"] for r in stats["rows"]) == 4


def test_invalid_referral_lists_every_field_error_and_stores_nothing(api: httpx.Client, tokens: Tokens) -> None:
    data = referral_data("REF-API-BAD")
    data["subjects"][0]["birth_date"] = {"value": "2999-01-01"}
    data["consent"] = {"status": "not_sought"}
    del data["source"]
    response = api.post("/referrals", json=data, headers=tokens("practitioner"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = response.json()["problems"]
    joined = "\n".join(problems)
    assert "subjects[0].birth_date" in joined
    assert "consent" in joined
    assert "source" in joined
    assert len(problems) >= 3
    assert api.get("/referrals/REF-API-BAD", headers=tokens("practitioner")).status_code == 404
    assert api.get("/audit", params={"referral_id": "REF-API-BAD"}, headers=tokens("auditor")).json() == []


def test_duplicate_referral_is_a_conflict(api: httpx.Client, tokens: Tokens) -> None:
    headers = tokens("practitioner")
    assert api.post("/referrals", json=referral_data("REF-API-DUP"), headers=headers).status_code == 201
    again = api.post("/referrals", json=referral_data("REF-API-DUP"), headers=headers)
    assert again.status_code == 409
    assert again.json()["status"] == 409 and again.json()["title"]


def test_rerate_audit_verify_health_metrics_and_openapi(api: httpx.Client, tokens: Tokens) -> None:
    manager, auditor = tokens("manager", user="mira"), tokens("auditor")
    assert api.post("/referrals", json=referral_data("REF-API-2", rag="green"), headers=manager).status_code == 201
    rerated = api.post("/referrals/REF-API-2/rerate", json={"rag": "red", "reason": "new information"},
                       headers=manager)
    assert rerated.status_code == 200, rerated.text
    assert rerated.json()["previous_rag"] == "green" and rerated.json()["rag"] == "red"
    # The actor is the signed-in manager; a self-declared one is refused, not recorded.
    spoof = api.post("/referrals/REF-API-2/rerate", json={"rag": "amber", "by": "someone", "reason": "x"},
                     headers=manager)
    assert spoof.status_code == 422 and "by" in spoof.text

    events = api.get("/audit", params={"referral_id": "REF-API-2"}, headers=auditor).json()
    rerate_events = [e for e in events if e["action"] == "referral.rerated"]
    assert [e["actor"] for e in rerate_events] == ["Test manager (mira)"]
    verify = api.get("/audit/verify", headers=auditor).json()
    assert verify["ok"] is True
    anchor = api.get("/audit/anchor", headers=auditor).json()
    assert anchor["sequence"] == verify["head_sequence"] and len(anchor["signature"]) == 64
    against = api.post("/audit/verify", json=[anchor], headers=auditor).json()
    assert against["ok"] is True and against["anchors_checked"] == 1
    forged = api.post("/audit/verify", json=[{**anchor, "hash": "0" * 64}], headers=auditor).json()
    assert forged["ok"] is False and forged["problems"][0]["kind"] == "anchor_signature"
    assert api.post("/audit/verify", json=[{"sequence": "x"}], headers=auditor).status_code == 422

    assert api.get("/health/live").json() == {"status": "ok"}
    assert api.get("/health/ready").status_code == 200
    metrics = api.get("/metrics", headers=tokens("ops")).text
    assert 'mashlink_enquiries_open{agency=' in metrics
    spec = api.get("/openapi.json").json()
    assert "/referrals" in spec["paths"] and "/referrals/{referral_id}/linked-view" in spec["paths"]


def test_metrics_show_the_scheduled_audit_check(api: httpx.Client, hub: HubService, watch: AuditWatch,
                                                tokens: Tokens) -> None:
    ops = tokens("ops")
    assert "mashlink_audit_chain_ok" not in api.get("/metrics", headers=ops).text  # no check has run yet
    assert api.post("/referrals", json=referral_data("REF-API-AUD"), headers=tokens("practitioner")).status_code == 201
    watch.run_once()
    metrics = api.get("/metrics", headers=ops).text
    assert "mashlink_audit_chain_ok 1.0" in metrics
    assert f"mashlink_audit_chain_head_sequence {float(watch.last.head_sequence)}" in metrics  # type: ignore[union-attr]
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'someone-else' WHERE sequence = 1")
    hub.submit_referral(referral_data("REF-API-AUD2"))
    watch.anchor = None  # check from the start (a restarted hub without its anchor file)
    watch.run_once()
    assert "mashlink_audit_chain_ok 0.0" in api.get("/metrics", headers=ops).text


def test_unknown_referral_is_404(api: httpx.Client, tokens: Tokens) -> None:
    response = api.get("/referrals/NOPE/linked-view", headers=tokens("practitioner"))
    assert response.status_code == 404
    assert "NOPE" in response.json()["error"]
