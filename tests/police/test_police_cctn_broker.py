"""A police connector with ``cctn_intake`` sends CCTN/PPN notices to the hub over the broker (memory:// and RabbitMQ)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mashlink.broker.topology import Topology
from mashlink.connectors.police.referrals import CctnForwarder, CctnReferralBuilder
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.referral_sender import BrokerReferralSink
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.models import EnquiryRow, ReferralRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.events import Alert
from tests.wiring.helpers import build, drop_topology, settings_for, wait_for, write_config


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


def _referrals(hub: HubService) -> list[tuple[str, str]]:
    with hub.factory() as session:
        return [(r.referral_id, r.submitted_by) for r in session.execute(select(ReferralRow)).scalars()]


def _barrier(settings, topology: Topology) -> None:  # type: ignore[no-untyped-def]
    """An alert from the force after the re-sent notice: the hub's events queue is FIFO, so once the alert
    is recorded the notice sent before it has been processed."""
    now = datetime.now(UTC)
    alert = Alert(alert_id="barrier-1", kind="child_coming_to_notice", agency_id="police-x", agency_kind="police",
                  person_ref="hub-subject-barrier", occurred_at=now)
    env = Envelope(message_id="barrier-msg-1", correlation_id="barrier", message_type=MessageType.ALERT,
                   sender="police-x", recipient="hub", sent_at=now, body=alert.model_dump(mode="json"))
    broker = connector_broker_factory(settings, "police-x", topology=topology)()
    try:
        broker.publish([topology.event(env, "alert.child_coming_to_notice")])
    finally:
        broker.close()


def test_cctn_records_become_hub_referrals_once(tmp_path: Path, broker_url: str, unique_name: str,
                                                example_json: Path) -> None:
    config = write_config(tmp_path / "c.yaml", [
        {"id": "police-x", "kind": "police", "connector": "pole",
         "options": {"exports": [str(example_json)], "cctn_intake": True, "cctn_interval_s": 0.1}},
        {"id": "sc-x", "kind": "social_care", "connector": "reference"},
    ])
    settings = settings_for(config, tmp_path / "state", broker_url=broker_url)
    topology = Topology(f"tcctn{unique_name}")
    hub = HubService.open(settings, topology=topology)
    runtime = HubRuntime(hub, hub_broker_factory(settings, topology))
    runtime.start()
    built = build(settings, "police-x", topology)
    try:
        built.start_services()
        (referral_id, submitted_by), = wait_for(lambda: _referrals(hub), what="the CCTN referral in the hub")
        assert submitted_by == "police-x"
        with hub.factory() as session:
            agencies = set(session.execute(select(EnquiryRow.agency_id)
                                           .where(EnquiryRow.referral_id == referral_id)).scalars())
        assert agencies == {"police-x", "sc-x"}  # fanned out by the hub like any referral
        # A restarted connector (nothing remembered) sends the notice again: the hub keeps one.
        fresh = CctnForwarder(lambda: PoleStore.load([example_json]).records,
                              BrokerReferralSink(connector_broker_factory(settings, "police-x", topology=topology),
                                                 "police-x"),
                              CctnReferralBuilder(default_local_authority="999"))
        assert fresh.run_once().submitted == [referral_id]
        assert fresh.run_once().submitted == []  # remembered within a process
        fresh.sink.close()  # type: ignore[attr-defined]
        _barrier(settings, topology)
        wait_for(lambda: hub.audit_events(action="alert.received"), what="the barrier alert (so the re-sent "
                 "notice queued before it was processed)")
    finally:
        built.stop_services()
        runtime.stop()
        drop_topology(settings, topology)
        hub.close()
    assert len(_referrals(hub)) == 1
    assert [e.referral_id for e in hub.audit_events(action="referral.received")] == [referral_id]
    assert not runtime.errors
