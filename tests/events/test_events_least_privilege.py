"""The events consumer as a least-privilege agency broker user: it consumes, delivers and sends receipts.

The user gets exactly ``broker/permissions.py``'s rules (what ``deploy/rabbitmq-init.sh``
sends): it may publish ``receipt.<itself>`` on the events exchange, and the
hub stores the receipt against the outcome; a receipt under another agency's
routing key is refused by RabbitMQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mashlink.broker.errors import PublishError
from mashlink.broker.permissions import agency_permissions
from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings
from mashlink.connectors.events.channels import DropFolderEventChannel
from mashlink.connectors.events.options import DropFolderEventsOptions
from mashlink.connectors.events.receipts import ReceiptPublisher, build_receipt
from mashlink.connectors.events.wiring import build_events_service
from mashlink.connectors.factory import ConnectorContext, agency_index
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.models import OutcomeRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.receipt import ReceiptStatus
from tests.restricted_broker_user import restricted_user
from tests.events.support import FAST, decide, wait_for
from tests.wiring.helpers import drop_topology

pytestmark = pytest.mark.rabbitmq
AGENCY = "police-synth"



@pytest.fixture
def agency_user(amqp_url: str, unique_name: str) -> Iterator[tuple[str, Topology]]:
    topology = Topology(f"evperm{unique_name}")
    with restricted_user(amqp_url, agency_permissions(topology, AGENCY, user=f"evperm-{unique_name}")) as url:
        yield url, topology


def test_restricted_agency_user_delivers_and_reports_only_its_own_receipts(
        tmp_path: Path, amqp_url: str, agency_user: tuple[str, Topology]) -> None:
    agency_url, topology = agency_user
    hub_settings = load_settings(state_dir=str(tmp_path / "state"), broker_url=amqp_url,
                                 broker_namespace=topology.namespace,
                                 database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
    agency_settings = hub_settings.model_copy(update={"broker_url": agency_url})
    hub = HubService.open(hub_settings, topology=topology)
    runtime = HubRuntime(hub, hub_broker_factory(hub_settings, topology), tick_interval_s=0.05)
    runtime.start()
    root = tmp_path / "police-share"
    ctx = ConnectorContext(settings=agency_settings, agency=agency_settings.agency(AGENCY),
                           agency_index=agency_index(agency_settings, AGENCY), topology=topology,
                           broker_factory=connector_broker_factory(agency_settings, AGENCY, topology=topology))
    service = build_events_service(ctx, DropFolderEventsOptions(channel="drop_folder", path=root, **FAST),
                                   DropFolderEventChannel(root))
    service.start()
    try:
        outcome_id = decide(hub, AGENCY)

        def delivery_status() -> str | None:
            with hub.factory() as session:
                row = session.execute(select(OutcomeRow).where(OutcomeRow.outcome_id == outcome_id)).scalar_one()
                return row.delivery_status

        wait_for(lambda: delivery_status() == "delivered", 30, "the hub to store the agency's receipt")
        [written] = (root / "outbox").glob("*.json")
        assert json.loads(written.read_text(encoding="utf-8"))["outcome_id"] == outcome_id

        forged = ReceiptPublisher(connector_broker_factory(agency_settings, AGENCY, topology=topology), AGENCY)
        try:
            receipt = build_receipt(event_message_id="x", event_type="outcome", referral_id="REF-0001",
                                    outcome_id=None, agency_id="health-synth", status=ReceiptStatus.DELIVERED,
                                    channel="webhook", at=datetime.now(UTC))
            with pytest.raises(PublishError) as refused:  # receipt.health-synth is not this user's to publish
                forged.publish(receipt)
            assert "ACCESS_REFUSED" in str(refused.value) or "403" in str(refused.value), str(refused.value)
        finally:
            forged.close()
    finally:
        service.stop()
        runtime.stop()
        drop_topology(hub_settings, topology)
        hub.close()
