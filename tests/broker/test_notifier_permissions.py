"""The referrer notifier as its own least-privilege RabbitMQ user: consumes, delivers, reports, parks; nothing more.

The user is created with ``rabbitmqctl`` from
:func:`mashlink.broker.permissions.notifier_permissions` (the rules
``deploy/rabbitmq-init.sh`` sends, checked below against the script): it
declares nothing (it checks its queue passively), reads only
``referrer.outcomes``, publishes only ``receipt.referrer`` on the events
exchange and parks through the dead-letter exchange. The hub (SQLite, real
RabbitMQ, its own credentials) declares the topology and stores the
notifier's receipts; the referrer's web hook is a real HTTP server.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mashlink.broker.errors import BrokerError, PublishError
from mashlink.broker.messages import OutgoingMessage
from mashlink.broker.permissions import NOTIFIER_USER, notifier_permissions
from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings
from mashlink.connectors.events.receipts import ReceiptPublisher, build_receipt
from mashlink.connectors.referrer.notifier import (
    NotifierRunner,
    ReferrerNotifier,
    ensure_notifier_queue,
    notifier_broker_factory,
    receipt_broker_factory,
    receipt_signer,
)
from mashlink.hub.models import OutcomeRow
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.receipt import ReceiptStatus
from tests.e2e.loop import Loop, make_loop, wait_for
from tests.hub.hub_support import referral_data
from tests.referrer.support import Hook, free_port, webhook_server

from tests.restricted_broker_user import restricted_user

pytestmark = pytest.mark.rabbitmq
ROOT = Path(__file__).resolve().parents[2]
SECRET = "referrer-hook-secret-least-privilege-0a1b2c"



def _notify(url: str) -> dict[str, Any]:
    return {"smtp": {"host": "127.0.0.1", "port": free_port(), "from_address": "mash@synthshire.example"},
            "channels": {"default": {"kind": "webhook", "url": url, "secret": SECRET}},
            "max_attempts": 3, "retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2}


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    received = Hook()
    with webhook_server(received) as url:
        yield received, url


@pytest.fixture
def loop(tmp_path: Path, amqp_url: str, hook: tuple[Hook, str]) -> Iterator[Loop]:
    made = make_loop(tmp_path, broker_url=amqp_url, referrer_notify=_notify(hook[1]))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def notifier_settings(loop: Loop, amqp_url: str) -> Iterator[MashlinkSettings]:
    """The loop's settings with the broker URL of a fresh user holding exactly the notifier's permissions."""
    permissions = notifier_permissions(loop.topology, user=f"tnotifier-{uuid.uuid4().hex[:10]}")
    with restricted_user(amqp_url, permissions) as url:
        yield loop.settings.model_copy(update={"broker_url": url})


def _decide(hub: HubService, referral_id: str) -> str:
    hub.submit_referral(referral_data(referral_id))
    done = hub.record_decision({
        "decision_id": f"D-{referral_id}", "referral_id": referral_id, "outcome": "section_17",
        "rationale": "Synthetic rationale.", "decided_by": "mash-manager-2",
        "decided_at": "2025-06-02T15:00:00+00:00", "notify": ["referrer"],
    })
    return next(o.outcome_id for o in done.outcomes if o.recipient == "referrer")


def _status(hub: HubService, outcome_id: str) -> str:
    with hub.factory() as session:
        row = session.execute(select(OutcomeRow).where(OutcomeRow.outcome_id == outcome_id)).scalar_one()
        return row.delivery_status


def _refused(exc: BaseException) -> bool:
    text = f"{exc} {exc.__cause__!r}"
    return "ACCESS_REFUSED" in text or "403" in text


def test_notifier_user_delivers_reports_and_parks_and_may_not_publish_anything_else(
        loop: Loop, notifier_settings: MashlinkSettings, hook: tuple[Hook, str]) -> None:
    received, _url = hook
    hub = loop.start_hub(tick_interval_s=0.05)  # the hub's own user declares the topology
    notifier = ReferrerNotifier.from_settings(notifier_settings, topology=loop.topology)
    runner = NotifierRunner(notifier, notifier_broker_factory(notifier_settings, topology=loop.topology))
    runner.start()
    try:
        delivered = _decide(hub, "REF-0001")
        wait_for(lambda: _status(hub, delivered) == "delivered", 30, "the hub to store the notifier's receipt")
        assert received.count() == 1 and received.payloads()[0]["outcome_id"] == delivered
        assert runner.failures == 0  # consumed without declaring anything

        received.statuses.append(400)  # the referrer's web hook refuses the next outcome: parked
        refused = _decide(hub, "REF-0002")
        wait_for(lambda: _status(hub, refused) == "failed", 30, "the failed receipt at the hub")
        broker = loop.broker()
        try:
            wait_for(lambda: len(broker.dlq_list(loop.topology.referrer_outcomes_queue)) == 1, 20, "parked")
            [parked] = broker.dlq_list(loop.topology.referrer_outcomes_queue)
            assert parked.reason.value == "processing_failure" and "webhook http 400" in parked.detail
        finally:
            broker.close()
        assert notifier.stats["delivered"] == 1 and notifier.stats["parked"] == 1
    finally:
        runner.stop()

    # Everything else is refused by RabbitMQ itself.
    signer = receipt_signer(notifier_settings)
    other = ReceiptPublisher(receipt_broker_factory(notifier_settings, topology=loop.topology), signer)
    try:
        with pytest.raises(PublishError) as as_agency:  # a receipt in an agency's name
            other.publish(build_receipt(event_message_id="x", event_type="outcome", referral_id="REF-0001",
                                        outcome_id=None, agency_id="police-synth",
                                        status=ReceiptStatus.DELIVERED, channel="webhook", at=datetime.now(UTC)))
        assert _refused(as_agency.value), str(as_agency.value)
    finally:
        other.close()
    broker = receipt_broker_factory(notifier_settings, topology=loop.topology)()
    try:
        env = Envelope(message_id=uuid.uuid4().hex, correlation_id="REF-0001", message_type=MessageType.OUTCOME,
                      sender=signer, recipient="referrer", sent_at=datetime.now(UTC),
                      body={"synthetic": True})
        topology = loop.topology
        for target in (topology.event(env, "outcome.referrer"),  # an outcome that looks like the hub's
                       OutgoingMessage(envelope=env, exchange=topology.hub_exchange, routing_key="responses"),
                       OutgoingMessage(envelope=env, exchange=topology.replay_exchange,
                                       routing_key=topology.referrer_outcomes_queue)):
            with pytest.raises((PublishError, BrokerError)) as publish:
                broker.publish([target])
            assert _refused(publish.value), (target.exchange, target.routing_key, str(publish.value))
            broker.link.reset()
        with pytest.raises(Exception) as declare:  # noqa: PT011 - amqp's AccessRefused, whatever wraps it
            broker.declare([])
        assert _refused(declare.value), str(declare.value)
        broker.link.reset()
        ch = broker.link.channel()
        try:
            with pytest.raises(Exception) as read:  # noqa: PT011 - another queue is not the notifier's to read
                ch.basic_get(queue=topology.events_queue)
            assert _refused(read.value), str(read.value)
        finally:
            try:
                ch.close()
            except Exception:  # noqa: BLE001 - closed by the refusal
                pass
    finally:
        broker.close()


def test_notifier_checks_its_queue_and_names_it_when_the_hub_has_not_declared_it(
        tmp_path: Path, amqp_url: str) -> None:
    """Before the hub ever ran, the notifier's user cannot create the queue; the error says which and why."""
    topology = Topology(f"tnotq{uuid.uuid4().hex[:10]}")
    with restricted_user(amqp_url, notifier_permissions(topology, user=f"tnotq-{uuid.uuid4().hex[:10]}")) as url:
        made = make_loop(tmp_path, broker_url=url, referrer_notify=_notify("http://127.0.0.1:1/unused"))
        broker = notifier_broker_factory(made.settings, topology=topology)()
        try:
            with pytest.raises(BrokerError) as missing:
                ensure_notifier_queue(broker)
            assert topology.referrer_outcomes_queue in str(missing.value)
            assert "start the hub first" in str(missing.value)
        finally:
            broker.close()


RECORDER = """#!/bin/sh
url=""; body=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) body="$2"; shift 2 ;;
    http*) url="$1"; shift ;;
    *) shift ;;
  esac
done
printf '%s\\t%s\\n' "$url" "$body" >> "$RECORD"
"""


def _run_init(tmp_path: Path, **extra: str) -> dict[str, dict[str, Any]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    curl = bin_dir / "curl"
    curl.write_text(RECORDER, encoding="utf-8")
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / f"record-{uuid.uuid4().hex[:6]}.tsv"
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "RECORD": str(record),
           "RABBITMQ_ADMIN_USER": "admin", "RABBITMQ_ADMIN_PASSWORD": "test-only", "HUB_BROKER_PASSWORD": "test-hub",
           "MASHLINK_AGENCIES": "police-synth", "POLICE_SYNTH_BROKER_PASSWORD": "test-police", **extra}
    done = subprocess.run(["sh", str(ROOT / "deploy" / "rabbitmq-init.sh")], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    sent: dict[str, dict[str, Any]] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        url, body = line.split("\t", 1)
        sent[url.removeprefix("http://rabbitmq:15672/api/")] = json.loads(body)
    return sent


def test_init_script_gives_the_notifier_user_the_permissions_the_code_defines(tmp_path: Path) -> None:
    sent = _run_init(tmp_path, NOTIFIER_BROKER_PASSWORD="test-notifier")
    expected = notifier_permissions(Topology("mashlink"))
    assert sent[f"users/{NOTIFIER_USER}"]["password"] == "test-notifier"
    assert sent[f"permissions/%2F/{NOTIFIER_USER}"] == {
        "configure": expected.configure, "write": expected.write, "read": expected.read}
    (topic,) = expected.topic
    assert sent[f"topic-permissions/%2F/{NOTIFIER_USER}"] == topic.model_dump()
    # Without the password (a broker provisioned before the notifier had a user) the job still succeeds.
    assert not any(NOTIFIER_USER in url for url in _run_init(tmp_path))


def test_broker_permissions_command_prints_the_notifier_user(tmp_path: Path) -> None:
    """``mashlink broker permissions --json`` lists the notifier's rules, for provisioning by hand."""
    from typer.testing import CliRunner

    from mashlink.ops.cli import app

    result = CliRunner().invoke(app, ["broker", "permissions", "--json"],
                                env={"MASHLINK_STATE_DIR": str(tmp_path), "MASHLINK_BROKER_NAMESPACE": "tperm"})
    assert result.exit_code == 0, result.output
    printed = {entry["user"]: entry for entry in json.loads(result.stdout)}
    assert printed[NOTIFIER_USER] == notifier_permissions(Topology("tperm")).model_dump()
