"""``mashlink connector AGENCY_ID --simulated`` as a real process against RabbitMQ.

A connector process killed mid-run (SIGKILL: no chance to ack) is restarted;
every enquiry gets answered, and an enquiry answered twice carries the same
response message id both times, so the hub drops the repeat. SIGTERM stops
the process cleanly with exit code 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings
from mashlink.connectors.base import response_message_id
from mashlink.connectors.reference import ReferenceOptions
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.simulators.referrals import bulk_referrals
from mashlink.schemas.codes import AgencyKind

from .conftest import ResponseCollector, enquiry_envelope, enquiry_from_referral

AGENCY = "police-synth"
MASHLINK = str(Path(sys.executable).with_name("mashlink"))


def _start(amqp_url: str, namespace: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MASHLINK_BROKER_URL": amqp_url, "MASHLINK_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [MASHLINK, "connector", AGENCY, "--simulated", "--namespace", namespace],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.rabbitmq
def test_killed_connector_restarts_and_answers_everything_with_stable_ids(amqp_url: str, unique_name: str) -> None:
    settings = load_settings()
    keys = {sender: settings.signing_key(sender) for sender in settings.signing_senders()}  # development keys
    topology = Topology(f"tcli{unique_name}")
    hub = Broker(amqp_url, EnvelopeCodec(keys), topology)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        hub.declare([AGENCY])
        population = generate_population(ReferenceOptions().population_seed)
        referrals = bulk_referrals(population, 800, datetime.now(UTC))
        requests = [enquiry_envelope(enquiry_from_referral(r, AgencyKind.POLICE)) for r in referrals]
        for start in range(0, len(requests), 500):
            hub.publish([topology.enquiry(e) for e in requests[start:start + 500]])
        collector = ResponseCollector(Broker(amqp_url, EnvelopeCodec(keys), topology))

        first = _start(amqp_url, topology.namespace)
        processes.append(first)
        collector.until(lambda envs: len(envs) >= 20, timeout_s=60)
        first.kill()  # no graceful shutdown: in-flight enquiries are neither acked nor lost
        first.wait(10)
        answered_before_kill = len({e.causation_id for e in collector.drain(0.5)})
        assert answered_before_kill < len(requests), "the kill must land mid-run for this test to mean anything"

        second = _start(amqp_url, topology.namespace)
        processes.append(second)
        wanted = {e.message_id for e in requests}
        collector.until(lambda envs: {e.causation_id for e in envs} >= wanted, timeout_s=180)
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (second.stderr.read() if second.stderr else b"").decode()[-2000:]
        collector.drain(0.5)
        collector.close()

        ids_by_request: dict[str, set[str]] = defaultdict(set)
        for env in collector.envelopes:
            ids_by_request[env.causation_id or ""].add(env.message_id)
        assert set(ids_by_request) == wanted
        for request_id, message_ids in ids_by_request.items():
            assert message_ids == {response_message_id(request_id, 1)}
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        hub.delete_topology([AGENCY])
        hub.close()


def test_unknown_agency_is_a_clear_error() -> None:
    result = subprocess.run([MASHLINK, "connector", "no-such-agency", "--simulated"], capture_output=True,
                            timeout=60)
    assert result.returncode == 2
    assert b"no-such-agency" in result.stderr and b"police-synth" in result.stderr
