"""Least-privilege agency users on the real RabbitMQ: the connector works, and nothing else is allowed.

The users are created with ``rabbitmqctl`` from ``broker/permissions.py`` (the
same rules ``mashlink broker permissions`` prints and the deploy script sends),
then the loop runs with the agency's connector logged in as that user.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import amqp
import pytest

from mashlink.bench._loop import InstantConnector
from mashlink.broker.errors import BrokerError, PublishError
from mashlink.broker.permissions import agency_permissions
from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.runtime import ConnectorRunner, RunnerSettings
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.codes import AgencyKind
from mashlink.schemas.envelope import Envelope, MessageType
from tests.hub.hub_support import referral_data
from tests.restricted_broker_user import restricted_user
from tests.wiring.helpers import drop_topology, wait_for

pytestmark = pytest.mark.rabbitmq
AGENCY = "police-synth"



@pytest.fixture
def agency_user(amqp_url: str, unique_name: str) -> Iterator[tuple[str, Topology]]:
    """A broker user with exactly the agency's permissions; its URL and the topology it is scoped to."""
    topology = Topology(f"tperm{unique_name}")
    with restricted_user(amqp_url, agency_permissions(topology, AGENCY, user=f"tperm-{unique_name}")) as url:
        yield url, topology


def _settings(tmp_path: Path, url: str, topology: Topology) -> MashlinkSettings:
    return load_settings(state_dir=str(tmp_path / "state"), broker_url=url, broker_namespace=topology.namespace,
                         database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")


def test_least_privilege_connector_answers_and_may_do_nothing_else(
        tmp_path: Path, amqp_url: str, agency_user: tuple[str, Topology]) -> None:
    agency_url, topology = agency_user
    hub_settings = _settings(tmp_path, amqp_url, topology)
    agency_settings = hub_settings.model_copy(update={"broker_url": agency_url})
    factory = connector_broker_factory(agency_settings, AGENCY, topology=topology)
    # Before the hub has declared anything, the connector cannot and says which queue is missing.
    early = factory()
    try:
        with pytest.raises(BrokerError, match=r"enquiry\.police-synth\..*do not exist.*start the hub"):
            early.ensure_agency_queues(AGENCY)
    finally:
        early.close()
    hub = HubService.open(hub_settings, topology=topology)
    runtime = HubRuntime(hub, hub_broker_factory(hub_settings, topology))
    runtime.start()  # the hub declares every agency's queues and bindings
    runner = ConnectorRunner(InstantConnector(AGENCY, AgencyKind.POLICE), factory, RunnerSettings())
    runner.start()
    try:
        submitted = hub.submit_referral(referral_data("REF-PERM-1"), agencies=[AGENCY])
        status = wait_for(lambda: (s := hub.referral_status(submitted.referral_id)).status != "open" and s,
                          what="the least-privileged connector's answer committed by the hub")
        assert [str(e.status) for e in status.enquiries] == ["answered"]

        broker = factory()
        try:
            now = datetime.now(UTC)
            fake_outcome = Envelope(message_id="perm-fake-outcome", correlation_id="x", message_type=MessageType.OUTCOME,
                                    sender=AGENCY, recipient="health-synth", sent_at=now, body={})
            with pytest.raises(PublishError) as refused:  # topic permission: an agency cannot speak as the hub
                broker.publish([topology.event(fake_outcome, "outcome.health-synth")])
            assert "ACCESS_REFUSED" in str(refused.value) or "403" in str(refused.value), str(refused.value)
        finally:
            broker.close()
        with amqp.Connection(agency_url.split("://", 1)[1].split("@", 1)[1].rstrip("/"),
                             userid=agency_url.split("://", 1)[1].split(":", 1)[0],
                             password=agency_url.split("://", 1)[1].split(":", 1)[1].split("@", 1)[0]) as conn:
            for forbidden in (lambda ch: ch.basic_consume(topology.enquiry_queue("health-synth", "red"),
                                                          callback=lambda m: None),
                              lambda ch: ch.queue_bind(topology.enquiry_queue(AGENCY, "red"),
                                                       topology.enquiries_exchange, "health-synth.red"),
                              lambda ch: ch.queue_declare(f"{topology.namespace}.mine", durable=True)):
                with pytest.raises(amqp.exceptions.AccessRefused):
                    forbidden(conn.channel())
    finally:
        runner.stop(timeout_s=15)
        runtime.stop()
        drop_topology(hub_settings, topology)
        hub.close()
    assert not runtime.errors
