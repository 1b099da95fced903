"""Under ``mashlink hub`` (a real process on RabbitMQ) the queue gauges are filled, scraped with the metrics token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings
from mashlink.hub.wiring import hub_broker_factory
from mashlink.hub.service import HubService

pytestmark = pytest.mark.rabbitmq
TOKEN = "synthetic-scraper-token-process"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mashlink_hub_fills_queue_depth_and_consumers(tmp_path: Path, amqp_url: str, unique_name: str) -> None:
    namespace = f"tmetproc{unique_name}"
    port = _free_port()
    env = {**os.environ, "MASHLINK_STATE_DIR": str(tmp_path), "MASHLINK_BROKER_URL": amqp_url,
           "MASHLINK_BROKER_NAMESPACE": namespace, "MASHLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}",
           "MASHLINK_AUDIT_CHECK_INTERVAL_S": "0", "MASHLINK_SECURITY__METRICS__TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "mashlink.ops.cli", "hub", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    topology = Topology(namespace)
    samples: dict[tuple[str, str], float] = {}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "the hub's consumers did not show in /metrics"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            assert response.status_code == 200, response.text
            samples = {(s.name, s.labels.get("queue", "")): s.value
                       for f in text_string_to_metric_families(response.text) for s in f.samples}
            if samples.get(("mashlink_queue_consumers", topology.responses_queue), 0) >= 1 \
                    and samples.get(("mashlink_queue_consumers", topology.events_queue), 0) >= 1:
                break
            time.sleep(0.3)
        assert samples[("mashlink_queue_messages", topology.enquiry_queue("police-synth", "red"))] == 0
        assert samples[("mashlink_queue_consumers", topology.enquiry_queue("police-synth", "red"))] == 0
        assert samples[("mashlink_queue_consumers", topology.referrer_outcomes_queue)] == 0
        assert ("mashlink_queue_messages", topology.dlq_for(topology.events_queue)) in samples
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        settings = load_settings(state_dir=str(tmp_path), broker_url=amqp_url, broker_namespace=namespace,
                                 database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
        service = HubService.open(settings, topology=topology)
        broker = hub_broker_factory(settings, topology)()
        try:
            broker.delete_topology([a.id for a in settings.agencies])
        finally:
            broker.close()
            service.close()
