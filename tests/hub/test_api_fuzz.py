"""A bounded, seeded schemathesis run against the hub's OpenAPI document, with a token for each role.

Generated requests (valid and invalid) go over real HTTP to the hub on
loopback; the hub must never answer 5xx, and every answer must match the
status codes, content types, headers and schemas the document declares.
Bounded (``MAX_EXAMPLES`` per operation, derandomised) so the suite stays
quick and repeatable.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mashlink.broker.topology import Topology
from mashlink.config.security import Role
from mashlink.hub.dead_letters import BrokerDeadLetters
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.hub.wiring import hub_broker_factory
from tests.hub.api_support import Tokens, serve
from tests.hub.hub_support import referral_data

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubService]:
    from mashlink.config.settings import load_settings

    state = tmp_path_factory.mktemp("fuzz-state")
    service = HubService.open(load_settings(state_dir=str(state)))
    service.submit_referral(referral_data("REF-0001"))  # a real id for generated paths to hit sometimes
    yield service
    service.close()


@pytest.fixture(scope="module")
def fuzz_client(fuzz_hub: HubService) -> Iterator[httpx.Client]:
    # Dead letters on the embedded broker (own namespace), so /dead-letters answers rather than 503.
    factory = hub_broker_factory(fuzz_hub.settings, Topology(f"fuzz-{uuid.uuid4().hex[:8]}"))
    dead_letters = BrokerDeadLetters(factory, [a.id for a in fuzz_hub.settings.agencies])
    with serve(build_hub_app(fuzz_hub, dead_letters=dead_letters)) as client:
        yield client


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_declared_answers_and_never_5xx(fuzz_hub: HubService, fuzz_client: httpx.Client,
                                                               mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(build_hub_app(fuzz_hub).openapi())
    tokens = Tokens(fuzz_hub.settings)
    headers_by_role = {role: tokens(role) for role in Role}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    unsatisfiable: list[str] = []
    for operation in operations:
        roles = itertools.cycle(list(Role))

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            headers = {**(case.headers or {}), **headers_by_role[next(roles)]}
            case.call_and_validate(base_url=str(fuzz_client.base_url), headers=headers, checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:
            # No invalid input exists for an operation without parameters or body (e.g. /health/live).
            assert mode is GenerationMode.NEGATIVE, operation.label
            unsatisfiable.append(operation.label)
    assert len(unsatisfiable) <= len(operations) // 2, unsatisfiable
