"""Who may call what: every route x every role, from the permission table, over real HTTP.

The matrix is generated from the app's routes and ``security.permissions``:
a new route without a declared permission, or without a sample request
here, fails the suite, so nothing reaches a council network unguarded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from mashlink.config.security import Permission, Role
from mashlink.hub.api import PERMISSION_KEY, PUBLIC
from mashlink.hub.dead_letters import BrokerDeadLetters
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.hub.wiring import hub_broker_factory
from tests.hub.api_support import LIAISON_AGENCY, Tokens, serve
from tests.hub.hub_support import referral_data

_ids = itertools.count(1)

#: A request that each route would accept from an authorised caller: {(method, path): (params, json)}.
SAMPLES: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {
    ("POST", "/referrals"): ({}, None),  # body made per call (unique id)
    ("GET", "/referrals/{referral_id}"): ({}, None),
    ("GET", "/referrals/{referral_id}/linked-view"): ({}, None),
    ("POST", "/referrals/{referral_id}/rerate"): ({}, {"rag": "red", "reason": "matrix test"}),
    ("POST", "/referrals/{referral_id}/decision"): ({}, {"outcome": "early_help", "rationale": "matrix test"}),
    # The matrix referral has no agency responses, so a well-formed decision is refused 422 once allowed.
    ("POST", "/referrals/{referral_id}/matches/confirm"): ({}, {"subject_person_id": "c1", "agency_id": "health-synth",
                                                               "source_system": "synth", "record_id": "R1",
                                                               "reason": "matrix test"}),
    ("POST", "/referrals/{referral_id}/matches/reject"): ({}, {"subject_person_id": "c1", "agency_id": "health-synth",
                                                              "source_system": "synth", "record_id": "R1",
                                                              "reason": "matrix test"}),
    ("GET", "/referrals/{referral_id}/receipts"): ({}, None),
    ("GET", "/referrals/{referral_id}/alerts"): ({}, None),
    ("POST", "/alerts/{alert_id}/acknowledge"): ({}, {"note": "matrix test"}),  # no such alert: 404 once allowed
    ("GET", "/enquiries/stats"): ({}, None),
    ("GET", "/audit"): ({"limit": 5}, None),
    ("GET", "/audit/verify"): ({}, None),
    ("POST", "/audit/verify"): ({}, []),
    ("GET", "/audit/anchor"): ({}, None),
    ("GET", "/disclosures"): ({"agency": LIAISON_AGENCY[Role.AGENCY_LIAISON]}, None),
    ("GET", "/metrics"): ({}, None),
    ("GET", "/dead-letters"): ({}, None),
    ("GET", "/dead-letters/{message_id}"): ({}, None),  # no such parked message: 404 once allowed
    ("POST", "/dead-letters/{message_id}/replay"): ({}, {"reason": "matrix test"}),
    ("POST", "/dead-letters/{message_id}/discard"): ({}, {"reason": "matrix test"}),
    ("GET", "/health/live"): ({}, None),
    ("GET", "/health/ready"): ({}, None),
}


def guarded_routes(app: Any) -> list[tuple[str, str, str]]:
    out = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            permission = (route.openapi_extra or {}).get(PERMISSION_KEY)
            out.append((method, route.path, permission))
    return out


@pytest.fixture
def served(hub: HubService) -> Iterator[httpx.Client]:
    # Dead letters over the embedded broker, so the /dead-letters routes answer (not 503) once allowed.
    dead_letters = BrokerDeadLetters(hub_broker_factory(hub.settings, hub.topology),
                                     [a.id for a in hub.settings.agencies])
    with serve(build_hub_app(hub, dead_letters=dead_letters)) as client:
        yield client


def _request(client: httpx.Client, method: str, path: str, headers: dict[str, str],
             referral_id: str) -> httpx.Response:
    params, body = SAMPLES[(method, path)]
    if (method, path) == ("POST", "/referrals"):
        body = referral_data(f"REF-MATRIX-{next(_ids)}")
    return client.request(method, path.replace("{referral_id}", referral_id), params=params, json=body,
                          headers=headers)


def test_every_route_declares_a_permission_and_has_a_sample(hub: HubService) -> None:
    app = build_hub_app(hub)
    routes = guarded_routes(app)
    assert routes, "no routes found"
    undeclared = [(m, p) for m, p, perm in routes if perm is None]
    assert undeclared == [], f"routes without {PERMISSION_KEY}: {undeclared}"
    for _m, _p, perm in routes:
        assert perm == PUBLIC or perm in Permission._value2member_map_, perm
    missing = [(m, p) for m, p, _ in routes if (m, p) not in SAMPLES]
    assert missing == [], f"add a sample request for {missing}"
    public = sorted(p for _m, p, perm in routes if perm == PUBLIC)
    assert public == ["/health/live", "/health/ready"]


def test_every_route_refuses_a_missing_or_garbage_token_with_401(served: httpx.Client, hub: HubService) -> None:
    referral_id = "REF-MATRIX-401"
    hub.submit_referral(referral_data(referral_id))
    for method, path, perm in guarded_routes(build_hub_app(hub)):
        if perm == PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
            response = _request(served, method, path, headers, referral_id)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"].startswith('Bearer realm="mashlink"')
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "Ada" not in response.text and "Testchild" not in response.text


@pytest.mark.parametrize("role", list(Role))
def test_every_route_for_every_role_follows_the_permission_table(served: httpx.Client, hub: HubService,
                                                                 role: Role) -> None:
    referral_id = f"REF-MATRIX-{role.value}"
    hub.submit_referral(referral_data(referral_id))
    table = hub.settings.security.permissions
    headers = Tokens(hub.settings)(role)
    # Decide last: a decision closes the referral, which later calls would see as 409 (still allowed).
    routes = sorted(guarded_routes(build_hub_app(hub)), key=lambda r: r[1].endswith("/decision"))
    for method, path, perm in routes:
        response = _request(served, method, path, headers, referral_id)
        if perm == PUBLIC or Permission(perm) in table[role]:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
            assert response.status_code < 500, (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code, response.text)
            assert response.json()["title"] == "forbidden"


def test_a_narrower_permission_table_in_configuration_is_what_the_routes_enforce(hub: HubService) -> None:
    """The table is the single source: take linked_view.read away from practitioners and they lose it."""
    table = {role.value: sorted(p.value for p in perms) for role, perms in hub.settings.security.permissions.items()}
    table["practitioner"] = [p for p in table["practitioner"] if p != Permission.LINKED_VIEW_READ.value]
    settings = hub.settings.model_copy(update={"security": hub.settings.security.model_validate(
        {**hub.settings.security.model_dump(), "permissions": table})})
    narrowed = HubService(settings, hub.engine, topology=hub.topology, clock=hub.clock)
    narrowed.submit_referral(referral_data("REF-NARROW"))
    with serve(build_hub_app(narrowed)) as client:
        headers = Tokens(settings)("practitioner")
        assert client.get("/referrals/REF-NARROW", headers=headers).status_code == 200
        denied = client.get("/referrals/REF-NARROW/linked-view", headers=headers)
        assert denied.status_code == 403 and "linked_view.read" in denied.json()["detail"]
