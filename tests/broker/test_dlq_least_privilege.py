"""Dead-letter replay works as the hub's own least-privilege broker user, not only as an administrator.

The hub's user is created with ``rabbitmqctl`` from ``broker/permissions.py``
(the rules ``deploy/rabbitmq-init.sh`` sends): it may configure, write and
read only its own namespace. ``mashlink dlq replay`` runs as that user (a
real process, real RabbitMQ, a SQLite hub database for the audit record) and
the parked message returns to the queue it came from; nothing else on the
broker receives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mashlink.broker.permissions import hub_permissions
from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.service import HubService
from tests.hub.dead_letter_support import delete_topology, hub_brokers, park_referral
from tests.restricted_broker_user import restricted_user

pytestmark = pytest.mark.rabbitmq



@pytest.fixture
def hub_user(amqp_url: str, unique_name: str) -> Iterator[tuple[str, Topology]]:
    """A broker user with exactly the hub's permissions on a namespace of its own."""
    topology = Topology(f"tdlqlp{unique_name}")
    with restricted_user(amqp_url, hub_permissions(topology, user=f"tdlqlp-{unique_name}")) as url:
        yield url, topology


def _settings(tmp_path: Path, url: str, topology: Topology) -> MashlinkSettings:
    return load_settings(state_dir=str(tmp_path / "state"), broker_url=url, broker_namespace=topology.namespace,
                         database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")


def test_dlq_replay_as_the_hubs_restricted_user(tmp_path: Path, amqp_url: str,
                                                hub_user: tuple[str, Topology]) -> None:
    restricted_url, topology = hub_user
    settings = _settings(tmp_path, restricted_url, topology)
    HubService.open(settings).close()  # migrated, as `mashlink hub` leaves it
    message_id = park_referral(settings, restricted_url, topology)  # parked by the hub's consumer, as that user
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    env.update({"MASHLINK_STATE_DIR": settings.state_dir.as_posix(), "MASHLINK_BROKER_URL": restricted_url,
                "MASHLINK_BROKER_NAMESPACE": topology.namespace,
                "MASHLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}"})
    try:
        done = subprocess.run([sys.executable, "-m", "mashlink.ops.cli", "dlq", "replay", message_id,
                               "--reason", "mapping fixed (least-privilege test)"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ACCESS_REFUSED" not in done.stdout + done.stderr

        broker = hub_brokers(settings, restricted_url, topology)()
        try:
            broker.declare([a.id for a in settings.agencies])
            assert broker.dlq_get(message_id) is None  # gone from the DLQ
            stats = {s.name: s.messages for s in broker.queue_stats(
                [q.name for q in topology.queues([a.id for a in settings.agencies])])}
        finally:
            broker.close()
        # Back on the queue it was consumed from, and on no other queue of the namespace.
        assert {name: n for name, n in stats.items() if n} == {topology.events_queue: 1}
        hub = HubService.open(settings)
        try:
            [event] = hub.audit_events(action="dlq.replayed")
            assert event.message_id == message_id and topology.events_queue in (event.reason or "")
        finally:
            hub.close()
    finally:
        delete_topology(_settings(tmp_path, amqp_url, topology), amqp_url, topology)
