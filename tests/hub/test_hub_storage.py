"""Schema migrations and the tamper-evident audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from mashlink.hub.audit import verify_audit_chain
from mashlink.hub.migrate import current_revision, head_revision, migrate_engine
from mashlink.hub.models import Base
from mashlink.hub.service import HubService

from tests.hub.hub_support import referral_data


def test_migrations_produce_the_models_schema(hub_db) -> None:  # type: ignore[no-untyped-def]
    with hub_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert current_revision(hub_db.engine) == head_revision()
    migrate_engine(hub_db.engine)  # idempotent at head
    assert current_revision(hub_db.engine) == head_revision()


def _chain(hub: HubService) -> None:
    hub.submit_referral(referral_data("REF-A"))
    hub.submit_referral(referral_data("REF-B"), agencies=["police-synth"])
    hub.rerate("REF-B", "red", by="mash-manager", reason="escalating")


def _tamper(hub: HubService, sql: str) -> None:
    with hub.engine.begin() as conn:
        conn.execute(text(sql))


def test_untouched_chain_verifies(hub: HubService) -> None:
    _chain(hub)
    result = hub.verify_audit()
    assert result.ok and result.events_checked == result.head_sequence == result.last_sequence >= 8


def test_edited_event_is_detected(hub: HubService) -> None:
    _chain(hub)
    _tamper(hub, "UPDATE audit_events SET actor = 'someone-else' WHERE sequence = 3")
    result = hub.verify_audit()
    assert not result.ok
    assert [(p.sequence, p.kind) for p in result.problems] == [(3, "hash_mismatch")]


def test_edited_detail_is_detected(hub: HubService) -> None:
    _chain(hub)
    with hub.factory() as session, session.begin():
        from mashlink.hub.models import AuditEventRow
        row = session.get(AuditEventRow, 2)
        row.detail = {**row.detail, "agency_id": "forged"}
    result = hub.verify_audit()
    assert [(p.sequence, p.kind) for p in result.problems] == [(2, "hash_mismatch")]


def test_deleted_event_is_detected(hub: HubService) -> None:
    _chain(hub)
    _tamper(hub, "DELETE FROM audit_events WHERE sequence = 4")
    kinds = {(p.sequence, p.kind) for p in hub.verify_audit().problems}
    assert (5, "gap") in kinds and (5, "broken_link") in kinds


def test_truncated_tail_is_detected(hub: HubService) -> None:
    _chain(hub)
    last = hub.verify_audit().last_sequence
    _tamper(hub, f"DELETE FROM audit_events WHERE sequence = {last}")
    problems = hub.verify_audit().problems
    assert [p.kind for p in problems] == ["head_mismatch"]


def test_reordered_events_are_detected(hub: HubService) -> None:
    _chain(hub)
    _tamper(hub, "UPDATE audit_events SET sequence = -1 WHERE sequence = 2")
    _tamper(hub, "UPDATE audit_events SET sequence = 2 WHERE sequence = 3")
    _tamper(hub, "UPDATE audit_events SET sequence = 3 WHERE sequence = -1")
    kinds = {p.kind for p in hub.verify_audit().problems}
    assert {"hash_mismatch", "broken_link"} <= kinds


def test_concurrent_writers_do_not_fork_the_chain(hub_db, hub_settings, topology, clock) -> None:  # type: ignore[no-untyped-def]
    services = [HubService(hub_settings, hub_db.engine, topology=topology, clock=clock) for _ in range(4)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                services[i].submit_referral(referral_data(f"REF-{i}-{j}"), agencies=["police-synth"])
                services[i].record_ops_action("ops", "dlq.replayed", f"m-{i}-{j}", None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with hub_db.engine.connect() as conn:
        sequences = [r[0] for r in conn.execute(text("SELECT sequence FROM audit_events ORDER BY sequence"))]
    assert sequences == list(range(1, 4 * 5 * 3 + 1))  # referral.received + enquiry.sent + ops per iteration
    with services[0].factory() as session:
        assert verify_audit_chain(session, key=services[0].store.audit_key).ok


def test_audit_detail_holds_no_personal_data(hub: HubService) -> None:
    data = referral_data()
    hub.submit_referral(data)
    nhs = data["subjects"][0]["identifiers"][0]["value"]
    for event in hub.audit_events(limit=1000):
        dumped = event.model_dump_json()
        assert nhs not in dumped and "Testchild" not in dumped and "ZZ99" not in dumped
