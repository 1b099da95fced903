"""Two hubs starting at once on one PostgreSQL never run the migrations concurrently."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect, text

from mashlink.hub.db import drop_schema, make_engine
from mashlink.hub.migrate import LOCK_ARGS, MIGRATION_LOCK, current_revision, head_revision, migrate_engine
from tests.wiring.helpers import wait_for


@pytest.fixture
def fresh_schema(postgres_url: str, unique_name: str) -> Iterator[tuple[str, str]]:
    schema = f"miglock_{unique_name}"
    engine = make_engine(postgres_url, schema=schema)  # creates the (empty) schema
    try:
        yield postgres_url, schema
    finally:
        drop_schema(engine, schema)
        engine.dispose()


def _migrate_in_thread(engine: Engine, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            migrate_engine(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _waiting_on_advisory_lock(engine: Engine, schema: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = hashtext(:schema)::oid"
        ), {"schema": schema}).scalar_one())


def test_a_hub_waits_while_another_holds_the_migration_lock(fresh_schema: tuple[str, str]) -> None:
    url, schema = fresh_schema
    holder, migrating = make_engine(url, schema=schema), make_engine(url, schema=schema)
    errors: list[BaseException] = []
    try:
        with holder.connect() as lock:  # "the other hub", mid-migration
            lock.execute(text(f"SELECT pg_advisory_lock({LOCK_ARGS})"), {"name": MIGRATION_LOCK})
            lock.commit()
            thread = _migrate_in_thread(migrating, errors)
            wait_for(lambda: _waiting_on_advisory_lock(holder, schema), what="the second hub waiting on the lock")
            assert "alembic_version" not in inspect(holder).get_table_names(schema=schema)  # it has not started
            assert thread.is_alive()
            lock.execute(text(f"SELECT pg_advisory_unlock({LOCK_ARGS})"), {"name": MIGRATION_LOCK})
            lock.commit()
        thread.join(timeout=120)
        assert not thread.is_alive() and errors == []
        assert current_revision(migrating) == head_revision()
    finally:
        holder.dispose()
        migrating.dispose()


def test_two_hubs_migrating_a_fresh_database_at_once_both_succeed(fresh_schema: tuple[str, str]) -> None:
    url, schema = fresh_schema
    engines = [make_engine(url, schema=schema) for _ in range(3)]
    errors: list[BaseException] = []
    try:
        threads = [_migrate_in_thread(engine, errors) for engine in engines]
        for thread in threads:
            thread.join(timeout=180)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert {current_revision(engine) for engine in engines} == {head_revision()}
        with engines[0].connect() as conn:  # one alembic_version row, the lock released by everyone
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_ARGS})"),
                                {"name": MIGRATION_LOCK}).scalar_one() is True
    finally:
        for engine in engines:
            engine.dispose()


def test_sqlite_migrates_without_a_lock(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        migrate_engine(engine)
        migrate_engine(engine)  # idempotent
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
