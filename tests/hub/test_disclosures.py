"""The disclosure log: one audited read event, one row per agency shown, in the caller's transaction.

On SQLite and PostgreSQL (``hub``/``hub_db`` fixtures), plus the migration
and ``mashlink audit disclosures``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from mashlink.config.settings import load_settings
from mashlink.hub.audit import check_detail
from mashlink.hub.db import make_engine
from mashlink.hub.disclosures import DisclosureEntry, DisclosureError, list_disclosures, record_disclosure
from mashlink.hub.migrate import alembic_config, migrate_engine
from mashlink.hub.models import DisclosureRow
from mashlink.hub.service import HubService
from tests.hub.test_hub_audit_anchor import _cli

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)


def _read(hub: HubService, *, at: datetime = T0, agencies: list[str] | None = None, **kwargs: object) -> None:
    args: dict[str, object] = dict(principal_subject="entra|7f3a", principal_name="Sam Worker",
                                   role="practitioner", purpose="mash_screening", referral_id="REF-1",
                                   agencies=agencies if agencies is not None else ["police-synth", "health-synth"],
                                   what="linked_view", lawful_basis=["children_act_1989_s47"])
    args.update(kwargs)
    with hub.store.unit(now=at) as uow:
        record_disclosure(uow, **args)  # type: ignore[arg-type]


def _rows(hub: HubService) -> int:
    with hub.store.read() as session:
        return int(session.execute(select(func.count()).select_from(DisclosureRow)).scalar_one())


def test_one_read_is_one_audit_event_and_one_row_per_agency(hub: HubService) -> None:
    _read(hub, agencies=["police-synth", "health-synth", "police-synth"])
    events = hub.audit_events(action="record.read")
    assert len(events) == 1
    event = events[0]
    assert event.actor == "entra|7f3a" and event.referral_id == "REF-1" and event.reason is None
    assert event.detail == {"role": "practitioner", "purpose": "mash_screening", "what": "linked_view",
                            "agencies_shown": ["police-synth", "health-synth"],
                            "lawful_basis": ["children_act_1989_s47"], "break_glass": False,
                            "actor_name": "Sam Worker"}
    check_detail(event.detail)
    with hub.store.read() as session:
        police = list_disclosures(session, agency_id="police-synth", since=None, until=None, limit=10)
        health = list_disclosures(session, agency_id="health-synth", since=None, until=None, limit=10)
        education = list_disclosures(session, agency_id="education-synth", since=None, until=None, limit=10)
    assert len(police) == 1 and len(health) == 1 and education == []
    assert police[0] == DisclosureEntry(
        id=police[0].id, at=T0, audit_event_id=event.event_id, principal_subject="entra|7f3a",
        principal_name="Sam Worker", role="practitioner", purpose="mash_screening", referral_id="REF-1",
        agency_id="police-synth", what="linked_view", lawful_basis=["children_act_1989_s47"], break_glass=False)
    assert health[0].audit_event_id == event.event_id
    assert hub.verify_audit().ok


def test_a_failed_unit_leaves_neither_event_nor_rows(hub: HubService) -> None:
    with pytest.raises(RuntimeError), hub.store.unit() as uow:
        record_disclosure(uow, principal_subject="entra|7f3a", principal_name=None, role="manager",
                          purpose=None, referral_id="REF-1", agencies=["police-synth"], what="chronology",
                          lawful_basis=[])
        raise RuntimeError("the view could not be rendered")
    with hub.store.unit() as uow:
        with pytest.raises(RuntimeError), uow.savepoint():
            record_disclosure(uow, principal_subject="entra|7f3a", principal_name=None, role="manager",
                              purpose=None, referral_id="REF-1", agencies=["police-synth"], what="chronology",
                              lawful_basis=[])
            raise RuntimeError("one item of a batch failed")
    assert _rows(hub) == 0 and hub.audit_events(action="record.read") == []


def test_break_glass_and_system_sends_are_recorded(hub: HubService) -> None:
    with pytest.raises(DisclosureError, match="reason: required for a break-glass read"):
        _read(hub, break_glass=True)
    _read(hub, break_glass=True, reason="child at immediate risk out of hours", principal_name=None)
    _read(hub, principal_subject="hub", principal_name=None, role="system", purpose=None,
          agencies=["police-synth"], what="enquiry", lawful_basis=["children_act_1989_s47", "consent"])
    glass, sent = hub.audit_events(action="record.read")
    assert glass.detail["break_glass"] is True and glass.reason == "child at immediate risk out of hours"
    assert "actor_name" not in glass.detail
    assert sent.actor == "hub" and sent.detail["what"] == "enquiry" and sent.detail["role"] == "system"
    with hub.store.read() as session:
        police = list_disclosures(session, agency_id="police-synth", since=None, until=None, limit=10)
    assert [(e.what, e.break_glass, e.role) for e in police] == [("linked_view", True, "practitioner"),
                                                                ("enquiry", False, "system")]
    assert police[1].lawful_basis == ["children_act_1989_s47", "consent"]


@pytest.mark.parametrize("bad, message", [
    ({"role": "superuser"}, "role: 'superuser'"),
    ({"what": "Linked View"}, "what: 'Linked View'"),
    ({"purpose": "because I wanted to"}, "purpose:"),
    ({"principal_subject": ""}, "principal_subject: required"),
])
def test_a_wrongly_described_read_is_refused_before_anything_is_written(hub: HubService, bad: dict,
                                                                        message: str) -> None:
    with pytest.raises(DisclosureError, match=message):
        _read(hub, **bad)
    assert _rows(hub) == 0 and hub.audit_events(action="record.read") == []


def test_listing_by_time_window_and_pages(hub: HubService) -> None:
    for day in range(5):
        _read(hub, at=T0 + timedelta(days=day), referral_id=f"REF-{day}")
    with hub.store.read() as session:
        window = list_disclosures(session, agency_id="police-synth", since=T0 + timedelta(days=1),
                                  until=T0 + timedelta(days=3), limit=100)
        assert [e.referral_id for e in window] == ["REF-1", "REF-2"]
        first = list_disclosures(session, agency_id="police-synth", since=None, until=None, limit=2)
        rest = list_disclosures(session, agency_id="police-synth", since=None, until=None, limit=100,
                                after_id=first[-1].id)
        assert [e.referral_id for e in first + rest] == [f"REF-{d}" for d in range(5)]
        with pytest.raises(DisclosureError, match="limit"):
            list_disclosures(session, agency_id="police-synth", since=None, until=None, limit=0)
        with pytest.raises(DisclosureError, match="since: must be timezone-aware"):
            list_disclosures(session, agency_id="police-synth", since=datetime(2025, 6, 1), until=None, limit=1)


def test_the_migration_adds_and_removes_the_table(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    try:
        migrate_engine(engine, "0001")
        assert "disclosures" not in inspect(engine).get_table_names()
        migrate_engine(engine)
        assert "disclosures" in inspect(engine).get_table_names()
        config = alembic_config()
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
            connection.commit()
        assert "disclosures" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_cli_lists_one_agencys_disclosures(tmp_path: Path) -> None:
    state = tmp_path / "state"
    hub = HubService.open(load_settings(state_dir=str(state), database_url=f"sqlite:///{state / 'hub.sqlite'}"))
    try:
        _read(hub, at=datetime(2025, 6, 1, 23, 30, tzinfo=timezone.utc), referral_id="REF-EARLY")
        _read(hub, at=datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc), referral_id="REF-MID",
              agencies=["police-synth"])
        _read(hub, at=datetime(2025, 6, 3, 0, 0, tzinfo=timezone.utc), referral_id="REF-LATE",
              agencies=["health-synth"])
    finally:
        hub.close()
    listed = _cli(state, "audit", "disclosures", "--agency", "police-synth", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["referral_id"] for e in json.loads(listed.stdout)] == ["REF-EARLY", "REF-MID"]
    day = _cli(state, "audit", "disclosures", "--agency", "police-synth", "--since", "2025-06-02",
               "--until", "2025-06-02", "--json")
    assert [e["referral_id"] for e in json.loads(day.stdout)] == ["REF-MID"]
    table = _cli(state, "audit", "disclosures", "--agency", "health-synth")
    assert table.returncode == 0 and "Sam Worker (entra|7f3a)" in table.stdout and "REF-LATE" in table.stdout
    unknown = _cli(state, "audit", "disclosures", "--agency", "nobody")
    assert unknown.returncode == 2 and "'nobody' is not a configured agency" in unknown.stderr
    bad_date = _cli(state, "audit", "disclosures", "--agency", "police-synth", "--since", "yesterday")
    assert bad_date.returncode == 2 and "--since: 'yesterday'" in bad_date.stderr
