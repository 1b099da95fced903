"""A running hub and health connector for end-to-end tests of the trust wiring.

The hub (``HubService`` + ``HubRuntime``) runs on a SQLite file and the
embedded ``memory://`` broker with a unique topology namespace; the health
connector is built from configuration by ``build_connector`` exactly as
``mashlink connector`` builds it, its background services started, its
runner consuming. Simulators (FHIR server, MLLP peer) are real servers on
127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.factory import BuiltConnector, ConnectorContext, agency_index, build_connector
from mashlink.connectors.health.synthetic import SyntheticPatient, patient_person
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.referral import Referral
from tests.lawful_support import SAFEGUARDING_BASIS, consent_not_sought

AGENCY = "health-x"


def health_config(path: Path, agencies: list[dict[str, Any]]) -> Path:
    """A configuration file with the given health agencies (policies for each; development signing keys)."""
    data = {
        "agencies": [{"kind": "health", "name": f"Synthetic trust {a['id']}", **a} for a in agencies],
        "sharing_policies": {a["id"]: {
            "subject_fields": ["names", "birth_date", "sex", "addresses", "identifiers.nhs_number",
                               "identifiers.hospital_mrn"],
            "finding_categories": ["health.ed_attendance", "health.admission", "health.safeguarding_flag",
                                   "health.child_protection_flag"],
            "sensitivities": ["standard"],
        } for a in agencies},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def referral_about(patient: SyntheticPatient, referral_id: str, person_id: str = "child-1") -> Referral:
    now = datetime.now(UTC)
    return Referral.model_validate({
        "referral_id": referral_id, "received_at": now.isoformat(), "local_authority": "999", "source": "2A",
        "referrer": "Synthtown Primary School", "concerns": ["neglect"],
        "narrative": "Synthetic test referral.",
        "subjects": [patient_person(patient, person_id).model_dump(mode="json")],
        "rag_history": [{"rag": "amber", "at": now.isoformat(), "by": "mash-screener"}],
        "lawful_basis": list(SAFEGUARDING_BASIS),
        "consent": consent_not_sought(now),
    })


def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Running:
    settings: MashlinkSettings
    topology: Topology
    service: HubService
    runtime: HubRuntime
    built: dict[str, BuiltConnector] = field(default_factory=dict)
    runners: list[ConnectorRunner] = field(default_factory=list)

    def connect(self, agency_id: str) -> BuiltConnector:
        """Build, start services and run the connector of ``agency_id`` (as ``mashlink connector`` does)."""
        agency = self.settings.agency(agency_id)
        factory = connector_broker_factory(self.settings, agency_id, topology=self.topology)
        ctx = ConnectorContext(settings=self.settings, agency=agency,
                               agency_index=agency_index(self.settings, agency_id), topology=self.topology,
                               broker_factory=factory)
        built = build_connector(ctx)
        built.start_services()
        self.built[agency_id] = built
        runner = ConnectorRunner(built.connector, factory)
        runner.start()
        self.runners.append(runner)
        return built

    def settle(self, referral_id: str, timeout_s: float = 30.0) -> None:
        wait_for(lambda: not self.service.referral_status(referral_id).outstanding, timeout_s,
                 f"every enquiry of {referral_id} answered")

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()
        for built in self.built.values():
            built.stop_services()
        self.runtime.stop()
        self.service.close()


@pytest.fixture
def hub_with(tmp_path: Path, unique_name: str) -> Iterator[Callable[[list[dict[str, Any]]], Running]]:
    """``hub_with(agencies)`` -> a running hub configured with those health agencies."""
    started: list[Running] = []

    def start(agencies: list[dict[str, Any]]) -> Running:
        config = health_config(tmp_path / "mashlink.yaml", agencies)
        settings = load_settings(config, broker_url="memory://", state_dir=str(tmp_path / "state"),
                                 database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}")
        topology = Topology(f"th{unique_name}")
        service = HubService.open(settings, topology=topology)
        runtime = HubRuntime(service, hub_broker_factory(settings, topology), tick_interval_s=0.5)
        runtime.start()
        running = Running(settings, topology, service, runtime)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
