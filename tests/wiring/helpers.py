"""Shared helpers for the wiring tests: configuration files, building as ``mashlink connector`` does, enquiries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from mashlink.broker.topology import Topology
from mashlink.config.errors import ConfigError
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.factory import BuiltConnector, ConnectorContext, agency_index, build_connector
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.schemas.codes import AgencyKind, LawfulBasis, Rag
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.person import Person

POLICIES: dict[str, dict[str, Any]] = {
    "police": {"subject_fields": ["names", "birth_date", "sex", "addresses", "identifiers.police_person_id"],
               "finding_categories": "all", "sensitivities": ["standard", "police_restricted"],
               "receives_police_intelligence": True},
    "education": {"subject_fields": ["names", "birth_date", "sex", "addresses", "identifiers.upn"],
                  "finding_categories": ["education.attendance", "education.suspension_exclusion",
                                         "education.school_move", "education.in_care"],
                  "sensitivities": ["standard"]},
    "health": {"subject_fields": ["names", "birth_date", "sex", "addresses", "identifiers.nhs_number"],
               "finding_categories": "all", "sensitivities": ["standard"]},
    "social_care": {"subject_fields": ["names", "birth_date", "expected_birth_date", "sex", "addresses",
                                       "identifiers"],
                    "finding_categories": "all", "sensitivities": ["standard"]},
}


def write_config(path: Path, agencies: list[dict[str, Any]], **top: Any) -> Path:
    """A configuration file with these agencies (``kind`` required), a policy for each (development signing keys)."""
    data = {
        **top,
        "agencies": [{"name": f"Synthetic {a['id']}", **a} for a in agencies],
        "sharing_policies": {a["id"]: POLICIES[a["kind"]] for a in agencies},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def settings_for(config: Path, state_dir: Path, **overrides: Any) -> MashlinkSettings:
    return load_settings(config, broker_url=overrides.pop("broker_url", "memory://"), state_dir=str(state_dir),
                         database_url=f"sqlite:///{state_dir / 'hub.sqlite'}", **overrides)


def build(settings: MashlinkSettings, agency_id: str, topology: Topology | None = None) -> BuiltConnector:
    """Build the agency's connector exactly as ``mashlink connector`` does."""
    topology = topology or Topology(f"tw{uuid.uuid4().hex[:8]}")
    ctx = ConnectorContext(settings=settings, agency=settings.agency(agency_id),
                           agency_index=agency_index(settings, agency_id), topology=topology,
                           broker_factory=connector_broker_factory(settings, agency_id, topology=topology))
    return build_connector(ctx)


def issue_paths(exc: ConfigError) -> dict[str, str]:
    return {issue.path: issue.rule for issue in exc.issues}


def enquiry_for(agency_id: str, kind: AgencyKind, *subjects: Person, rag: Rag = Rag.AMBER) -> Enquiry:
    now = datetime.now(UTC)
    return Enquiry(enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=agency_id,
                   agency_kind=kind, subjects=list(subjects), rag=rag, requested_at=now,
                   due_at=now + timedelta(hours=24), lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47],
                   requester="Synthshire MASH")


def subject_like(person: Person, person_id: str = "child-1", *, identifiers: bool = True) -> Person:
    """An enquiry subject carrying what the MASH knows: names, date of birth, addresses (and ids)."""
    return Person(person_id=person_id, names=person.names, birth_date=person.birth_date, sex=person.sex,
                  addresses=person.addresses, identifiers=person.identifiers if identifiers else [])


def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def drop_topology(settings: MashlinkSettings, topology: Topology) -> None:
    """Delete a test's exchanges and queues (every configured agency's), as the hub's user."""
    from mashlink.hub.wiring import hub_broker_factory

    cleaner = hub_broker_factory(settings, topology)()
    try:
        cleaner.delete_topology([a.id for a in settings.agencies])
    finally:
        cleaner.close()
