"""The hub HTTP API over real HTTP (uvicorn on an ephemeral loopback port)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.hub.hub_support import referral_data
from mashlink.hub.api import create_app
from mashlink.hub.audit_watch import AuditWatch
from mashlink.hub.service import HubService


@pytest.fixture
def watch(hub: HubService) -> AuditWatch:
    return AuditWatch(hub)


@pytest.fixture
def api(hub: HubService, watch: AuditWatch) -> Iterator[httpx.Client]:
    app = create_app(hub, audit_check=lambda: watch.last)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client
    server.should_exit = True
    thread.join(timeout=10)


def test_referral_fan_out_status_and_linked_view(api: httpx.Client) -> None:
    created = api.post("/referrals", json=referral_data("REF-API-1", rag="red"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["rag"] == "red"
    agencies = {e["agency_id"] for e in body["enquiries"]}
    assert len(agencies) == 4

    status = api.get("/referrals/REF-API-1")
    assert status.status_code == 200
    assert {e["agency_id"] for e in status.json()["enquiries"]} == agencies
    assert all(e["status"] == "open" for e in status.json()["enquiries"])

    view = api.get("/referrals/REF-API-1/linked-view")
    assert view.status_code == 200
    assert set(view.json()["outstanding"]) == agencies

    stats = api.get("/enquiries/stats").json()
    assert sum(r["open"] for r in stats["rows"]) == 4


def test_invalid_referral_lists_every_field_error_and_stores_nothing(api: httpx.Client) -> None:
    data = referral_data("REF-API-BAD")
    data["subjects"][0]["birth_date"] = {"value": "2999-01-01"}
    data["consent"] = {"status": "not_sought"}
    del data["source"]
    response = api.post("/referrals", json=data)
    assert response.status_code == 422
    problems = response.json()["problems"]
    joined = "\n".join(problems)
    assert "subjects[0].birth_date" in joined
    assert "consent" in joined
    assert "source" in joined
    assert len(problems) >= 3
    assert api.get("/referrals/REF-API-BAD").status_code == 404
    assert api.get("/audit", params={"referral_id": "REF-API-BAD"}).json() == []


def test_duplicate_referral_is_a_conflict(api: httpx.Client) -> None:
    assert api.post("/referrals", json=referral_data("REF-API-DUP")).status_code == 201
    again = api.post("/referrals", json=referral_data("REF-API-DUP"))
    assert again.status_code == 409


def test_rerate_audit_verify_health_metrics_and_openapi(api: httpx.Client) -> None:
    assert api.post("/referrals", json=referral_data("REF-API-2", rag="green")).status_code == 201
    rerated = api.post("/referrals/REF-API-2/rerate",
                       json={"rag": "red", "by": "mash-lead", "reason": "new information"})
    assert rerated.status_code == 200, rerated.text
    assert rerated.json()["previous_rag"] == "green" and rerated.json()["rag"] == "red"

    actions = [e["action"] for e in api.get("/audit", params={"referral_id": "REF-API-2"}).json()]
    assert any(a.startswith("referral.") for a in actions)
    verify = api.get("/audit/verify").json()
    assert verify["ok"] is True
    anchor = api.get("/audit/anchor").json()
    assert anchor["sequence"] == verify["head_sequence"] and len(anchor["signature"]) == 64
    against = api.post("/audit/verify", json=[anchor]).json()
    assert against["ok"] is True and against["anchors_checked"] == 1
    forged = api.post("/audit/verify", json=[{**anchor, "hash": "0" * 64}]).json()
    assert forged["ok"] is False and forged["problems"][0]["kind"] == "anchor_signature"
    assert api.post("/audit/verify", json=[{"sequence": "x"}]).status_code == 422

    assert api.get("/health/live").json() == {"status": "ok"}
    assert api.get("/health/ready").status_code == 200
    metrics = api.get("/metrics").text
    assert 'mashlink_enquiries_open{agency=' in metrics
    spec = api.get("/openapi.json").json()
    assert "/referrals" in spec["paths"] and "/referrals/{referral_id}/linked-view" in spec["paths"]


def test_metrics_show_the_scheduled_audit_check(api: httpx.Client, hub: HubService, watch: AuditWatch) -> None:
    assert "mashlink_audit_chain_ok" not in api.get("/metrics").text  # no check has run yet
    assert api.post("/referrals", json=referral_data("REF-API-AUD")).status_code == 201
    watch.run_once()
    metrics = api.get("/metrics").text
    assert "mashlink_audit_chain_ok 1.0" in metrics
    assert f"mashlink_audit_chain_head_sequence {float(watch.last.head_sequence)}" in metrics  # type: ignore[union-attr]
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'someone-else' WHERE sequence = 1")
    hub.submit_referral(referral_data("REF-API-AUD2"))
    watch.anchor = None  # check from the start (a restarted hub without its anchor file)
    watch.run_once()
    assert "mashlink_audit_chain_ok 0.0" in api.get("/metrics").text


def test_unknown_referral_is_404(api: httpx.Client) -> None:
    response = api.get("/referrals/NOPE/linked-view")
    assert response.status_code == 404
    assert "NOPE" in response.json()["error"]
