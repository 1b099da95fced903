"""Dead letters over the hub's HTTP API: ops operate them without seeing personal data.

Real HTTP (uvicorn on loopback), real tokens from the development issuer, a
real broker (memory:// and RabbitMQ) holding a parked message that carries a
synthetic referral, and the hub's real audit chain and disclosure log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mashlink.broker import Topology
from mashlink.config.security import Permission, Role
from mashlink.hub.dead_letters import BODY_READ_ACTION, BrokerDeadLetters
from mashlink.hub.disclosures import READ_ACTION
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from tests.broker.broker_helpers import Recorder
from tests.hub.api_support import Tokens, serve
from tests.hub.dead_letter_support import PERSONAL, SENDER, delete_topology, hub_brokers, park_referral

ROUTES = [("GET", "/dead-letters/{id}", None), ("GET", "/dead-letters", None),
          ("POST", "/dead-letters/{id}/replay", {"reason": "fixed"}),
          ("POST", "/dead-letters/{id}/discard", {"reason": "garbage"})]


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


@dataclass
class Parked:
    hub: HubService
    client: httpx.Client
    tokens: Tokens
    message_id: str
    url: str
    topology: Topology


def _with_body_read_for_auditor(hub: HubService) -> HubService:
    """The shipped table grants dlq.body_read to nobody; a council may grant it (here: to auditors)."""
    table = {role.value: sorted(p.value for p in perms) for role, perms in hub.settings.security.permissions.items()}
    table[Role.AUDITOR.value] = sorted({*table[Role.AUDITOR.value], Permission.DLQ_BODY_READ.value})
    settings = hub.settings.model_copy(update={"security": hub.settings.security.model_validate(
        {**hub.settings.security.model_dump(), "permissions": table})})
    return HubService(settings, hub.engine, topology=hub.topology, clock=hub.clock)


def _serve(hub: HubService, broker_url: str, *, grant: bool = False) -> Iterator[Parked]:
    service = _with_body_read_for_auditor(hub) if grant else hub
    settings, topology = service.settings, service.topology
    message_id = park_referral(settings, broker_url, topology)
    dead_letters = BrokerDeadLetters(hub_brokers(settings, broker_url, topology), [a.id for a in settings.agencies])
    try:
        with serve(build_hub_app(service, dead_letters=dead_letters)) as client:
            yield Parked(service, client, Tokens(settings), message_id, broker_url, topology)
    finally:
        delete_topology(settings, broker_url, topology)


@pytest.fixture
def parked(hub: HubService, broker_url: str) -> Iterator[Parked]:
    yield from _serve(hub, broker_url)


@pytest.fixture
def parked_with_grant(hub: HubService, broker_url: str) -> Iterator[Parked]:
    yield from _serve(hub, broker_url, grant=True)


def _no_personal_data(text: str) -> None:
    leaked = [p for p in PERSONAL if p in text]
    assert leaked == [], f"personal data in an ops answer: {leaked}"


def test_ops_lists_and_reads_redacted_and_may_not_read_the_full_body(parked: Parked) -> None:
    ops = parked.tokens(Role.OPS, user="ops-1")
    listing = parked.client.get("/dead-letters", headers=ops)
    assert listing.status_code == 200, listing.text
    [item] = [p for p in listing.json() if p["message_id"] == parked.message_id]
    assert item["queue"] == parked.topology.events_queue and item["message_type"] == "referral"
    assert item["reason"] == "processing_failure" and "body" not in item and "raw" not in item
    _no_personal_data(listing.text)
    queue_only = parked.client.get("/dead-letters", params={"queue": parked.topology.events_queue}, headers=ops)
    assert [p["message_id"] for p in queue_only.json()] == [parked.message_id]

    shown = parked.client.get(f"/dead-letters/{parked.message_id}", headers=ops)
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["redacted"] is True
    assert view["body"]["message_id"] == parked.message_id and view["body"]["sender"] == SENDER
    assert view["body"]["body"]["referral_id"] == view["body"]["correlation_id"]
    assert view["body"]["body"]["subjects"][0]["names"][0]["given"] == ["[redacted: 3 chars]"]
    _no_personal_data(shown.text)

    full = parked.client.get(f"/dead-letters/{parked.message_id}", params={"full": "true", "reason": "diagnose"},
                             headers=ops)
    assert full.status_code == 403, full.text
    assert "dlq.body_read" in full.json()["detail"]
    _no_personal_data(full.text)
    assert parked.hub.audit_events(action=READ_ACTION) == []
    # Reading removed nothing.
    assert [p["message_id"] for p in parked.client.get("/dead-letters", headers=ops).json()] == [parked.message_id]
    missing = parked.client.get("/dead-letters/no-such-message", headers=ops)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


def test_ops_replay_is_audited_with_the_signed_in_user_as_actor(parked: Parked) -> None:
    ops = parked.tokens(Role.OPS, user="ops-7")
    refused = parked.client.post(f"/dead-letters/{parked.message_id}/replay", json={}, headers=ops)
    assert refused.status_code == 422  # a reason is required
    self_declared = parked.client.post(f"/dead-letters/{parked.message_id}/replay",
                                       json={"reason": "fixed", "actor": "someone-else"}, headers=ops)
    assert self_declared.status_code == 422  # the actor is the signed-in user, never a body field

    replayed = parked.client.post(f"/dead-letters/{parked.message_id}/replay",
                                  json={"reason": "hub restarted with the fix"}, headers=ops)
    assert replayed.status_code == 200, replayed.text
    result = replayed.json()
    assert result["action"] == "replayed" and result["queue"] == parked.topology.events_queue
    [event] = parked.hub.audit_events(action="dlq.replayed")
    assert event.event_id == result["audit_event_id"] and event.message_id == parked.message_id
    assert event.actor == "Test ops (ops-7)"
    assert (event.reason or "").startswith("hub restarted with the fix")
    assert parked.client.get("/dead-letters", headers=ops).json() == []
    # The message is back on the queue it came from.
    again = Recorder()
    broker = hub_brokers(parked.hub.settings, parked.url, parked.topology)()
    try:
        with broker.consumer([parked.topology.events_queue], again) as consumer:
            for _ in range(50):
                consumer.run_once(0.2)
                if parked.message_id in again.ids():
                    break
    finally:
        broker.close()
    assert parked.message_id in again.ids()
    assert parked.client.post(f"/dead-letters/{parked.message_id}/replay", json={"reason": "again"},
                              headers=ops).status_code == 404
    assert parked.hub.verify_audit().ok


def test_ops_discard_is_audited(parked: Parked) -> None:
    ops = parked.tokens(Role.OPS, user="ops-2")
    done = parked.client.post(f"/dead-letters/{parked.message_id}/discard", json={"reason": "test garbage"},
                              headers=ops)
    assert done.status_code == 200, done.text
    [event] = parked.hub.audit_events(action="dlq.discarded")
    assert event.actor == "Test ops (ops-2)" and event.message_id == parked.message_id
    assert parked.client.get("/dead-letters", headers=ops).json() == []


def test_other_roles_get_403_and_no_token_401_on_every_dead_letter_route(parked: Parked) -> None:
    for method, path, body in ROUTES:
        url = path.replace("{id}", parked.message_id)
        for role in (Role.PRACTITIONER, Role.MANAGER, Role.AGENCY_LIAISON, Role.SYSTEM):
            denied = parked.client.request(method, url, json=body, headers=parked.tokens(role))
            assert denied.status_code == 403, (role, method, path, denied.text)
            _no_personal_data(denied.text)
        anonymous = parked.client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
    auditor = parked.tokens(Role.AUDITOR)
    assert parked.client.get(f"/dead-letters/{parked.message_id}", headers=auditor).status_code == 200
    assert parked.client.post(f"/dead-letters/{parked.message_id}/replay", json={"reason": "x"},
                              headers=auditor).status_code == 403
    # Nothing was removed by the refused calls.
    assert [p["message_id"] for p in parked.client.get("/dead-letters", headers=auditor).json()] == [parked.message_id]


def test_a_granted_full_read_needs_a_reason_and_is_a_recorded_disclosure(parked_with_grant: Parked) -> None:
    p = parked_with_grant
    auditor = p.tokens(Role.AUDITOR, user="ig-1")
    no_reason = p.client.get(f"/dead-letters/{p.message_id}", params={"full": "true"}, headers=auditor)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert p.hub.audit_events(action=READ_ACTION) == []

    full = p.client.get(f"/dead-letters/{p.message_id}", params={"full": "true", "reason": "misrouting complaint"},
                        headers=auditor)
    assert full.status_code == 200, full.text
    view = full.json()
    assert view["redacted"] is False
    assert view["body"]["body"]["subjects"][0]["names"][0]["given"] == ["Ada"]

    [read] = p.hub.audit_events(action=READ_ACTION)
    assert read.actor == "Test auditor (ig-1)" and read.reason == "misrouting complaint"
    assert read.detail["what"] == "dlq_body" and read.detail["agencies_shown"] == [SENDER]
    [body_read] = p.hub.audit_events(action=BODY_READ_ACTION)
    assert body_read.message_id == p.message_id and body_read.detail["role"] == "auditor"
    log = p.client.get("/disclosures", params={"agency": SENDER}, headers=auditor)
    assert log.status_code == 200
    [entry] = [e for e in log.json() if e["what"] == "dlq_body"]
    assert entry["principal_subject"] == "Test auditor (ig-1)" and entry["role"] == "auditor"
    assert entry["audit_event_id"] == read.event_id
    assert p.hub.verify_audit().ok
    # Still parked: a read removes nothing; ops in the same hub still see it redacted only.
    ops = p.tokens(Role.OPS)
    assert p.client.get(f"/dead-letters/{p.message_id}", params={"full": "true", "reason": "x"},
                        headers=ops).status_code == 403


def test_without_a_broker_the_routes_answer_503(hub: HubService) -> None:
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        for method, path, body in ROUTES:
            response = client.request(method, path.replace("{id}", "m-1"), json=body, headers=tokens(Role.OPS))
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["title"] == "dead letters need the broker"
            assert response.headers["content-type"].startswith("application/problem+json")
        # Authorisation still comes first.
        assert client.get("/dead-letters", headers=tokens(Role.PRACTITIONER)).status_code == 403
