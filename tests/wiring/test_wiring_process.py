"""``mashlink connector <id>`` for a ``ctf`` agency as a real process: drop-folder ingest while running,
an enquiry answered over RabbitMQ from the hub, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.topology import Topology
from mashlink.connectors.simulators.ctf_writer import ctf_from_population
from mashlink.connectors.simulators.population import Population, generate_population
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService, hub_codec
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.codes import ResponseStatus
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import BirthDate, HumanName, Person
from mashlink.schemas.referral import Referral

from tests.wiring.helpers import settings_for, wait_for, write_config
from tests.lawful_support import SAFEGUARDING_BASIS, consent_not_sought

MASHLINK = str(Path(sys.executable).with_name("mashlink"))
AGENCY = "edu-proc"


class ConnectorProcess:
    """``mashlink connector AGENCY`` with its stderr collected line by line."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([MASHLINK, "connector", AGENCY, "--file", str(config)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_running(self) -> None:
        wait_for(lambda: "running" in self.stderr or self.proc.poll() is not None, 90, "connector start")
        assert self.proc.poll() is None, self.stderr

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(4242, as_of=date.today())


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "mashlink.yaml", [{"id": AGENCY, "kind": "education", "connector": "ctf",
                                                      "options": {"drop_folder": "ctf", "ingest_interval_s": 0.1}}],
                        state_dir=str(tmp_path / "state"))


def _drop(tmp_path: Path, population: Population) -> tuple[Path, Path]:
    incoming = tmp_path / "state" / "ctf" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / "school.xml.part"
    tmp.write_bytes(ctf_from_population(population))
    placed = tmp.rename(incoming / "school.xml")
    return placed, tmp_path / "state" / "ctf" / "processed" / "school.xml"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[ConnectorProcess]]:
    started: list[ConnectorProcess] = []
    yield started
    for proc in started:
        proc.kill()


def test_ctf_connector_process_ingests_while_running_and_stops_on_sigterm(
        tmp_path: Path, population: Population, running: list[ConnectorProcess]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    proc = ConnectorProcess(_config(tmp_path), {**env, "MASHLINK_BROKER_URL": "memory://"})
    running.append(proc)
    proc.wait_running()
    assert "CTF pupil index (0 pupil(s))" in proc.stderr
    placed, processed = _drop(tmp_path, population)
    wait_for(processed.exists, 60, "the dropped CTF file ingested")
    assert not placed.exists()
    assert proc.terminate() == 0, proc.stderr
    assert f"connector {AGENCY} stopped" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.rabbitmq
def test_ctf_connector_process_answers_the_hub_over_rabbitmq(
        tmp_path: Path, population: Population, amqp_url: str, unique_name: str,
        running: list[ConnectorProcess]) -> None:
    namespace = f"twp{unique_name}"
    config = _config(tmp_path)
    settings = settings_for(config, tmp_path / "state", broker_url=amqp_url, broker_namespace=namespace)
    topology = Topology(namespace)
    service = HubService.open(settings, topology=topology)
    runtime = HubRuntime(service, hub_broker_factory(settings, topology), tick_interval_s=0.5)
    runtime.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    try:
        proc = ConnectorProcess(config, {**env, "MASHLINK_BROKER_URL": amqp_url,
                                         "MASHLINK_BROKER_NAMESPACE": namespace})
        running.append(proc)
        proc.wait_running()
        _, processed = _drop(tmp_path, population)
        wait_for(processed.exists, 60, "the dropped CTF file ingested")

        child = next(c for c in population.people() if c.upn and not c.unborn and c.birth_date)
        subject = Person(person_id="child-1", names=[HumanName(given=[child.given], family=child.family)],
                         birth_date=BirthDate(value=child.birth_date),
                         identifiers=[Identifier(system=IdentifierSystem.UPN, value=child.upn)])
        now = datetime.now(UTC).isoformat()
        referral_id = f"REF-{uuid.uuid4().hex[:10]}"
        service.submit_referral(Referral.model_validate({
            "referral_id": referral_id, "received_at": now, "local_authority": "999", "source": "2A",
            "referrer": "Synthtown Primary School", "concerns": ["neglect"], "narrative": "Synthetic referral.",
            "subjects": [subject.model_dump(mode="json")],
            "rag_history": [{"rag": "amber", "at": now, "by": "mash-screener"}],
            "lawful_basis": list(SAFEGUARDING_BASIS),
            "consent": consent_not_sought(now),
        }), agencies=[AGENCY])
        (response,) = wait_for(lambda: service.responses(referral_id), 60, "the education response in the hub")
        assert response.status is ResponseStatus.INFORMATION_FOUND and response.agency_id == AGENCY
        assert response.matches[0].method.value == "upn"
        assert proc.terminate() == 0, proc.stderr
        assert f"connector {AGENCY} stopped: answered 1" in proc.stderr
    finally:
        runtime.stop()
        service.close()
        broker = Broker(amqp_url, hub_codec(settings), topology)
        try:
            broker.delete_topology([AGENCY])
        finally:
            broker.close()
