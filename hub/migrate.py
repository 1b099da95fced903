"""Schema migrations: ``migrate(database_url)`` runs ``alembic upgrade head`` in-process.

The hub calls it at start, so a new version's schema changes are applied
before anything touches the tables. The Alembic environment lives in
``hub/migrations`` (packaged with mashlink); no alembic.ini is needed.

Several hubs may start at once on one PostgreSQL (a rolling restart, or
``docker-compose up --scale hub=3``): without care two of them would run the
same ``CREATE TABLE`` / ``ALTER`` concurrently and one would crash, or worse,
half-apply a data migration. So on PostgreSQL ``migrate_engine`` holds a
session-level advisory lock, keyed on ``MIGRATION_LOCK`` and the current
schema, around the whole upgrade, taken on a connection of its own (so the
migration's own transaction sees what the previous holder committed,
whatever its isolation level). The second hub waits, then finds the schema
at head and does nothing. The lock goes with the connection, so a hub killed
mid-migration does not leave it held. SQLite needs nothing: one database
file is one hub process's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
import structlog
from sqlalchemy import Engine, text

from .db import is_sqlite, make_engine

log = structlog.get_logger(__name__)

#: Name of the advisory lock every hub takes around ``alembic upgrade`` (with the schema as second key).
MIGRATION_LOCK = "mashlink.hub.migrate"
LOCK_ARGS = "hashtext(:name), hashtext(current_schema())"

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the cluster-wide migration lock of ``engine``'s schema (PostgreSQL); nothing on SQLite."""
    if is_sqlite(engine):
        yield
        return
    with engine.connect() as holder:
        if not holder.execute(text(f"SELECT pg_try_advisory_lock({LOCK_ARGS})"),
                              {"name": MIGRATION_LOCK}).scalar_one():
            log.info("hub.migrate_waiting", reason="another hub is migrating this database")
            holder.execute(text(f"SELECT pg_advisory_lock({LOCK_ARGS})"), {"name": MIGRATION_LOCK})
        holder.commit()  # a session lock outlives the transaction; end it so no snapshot is held
        try:
            yield
        finally:
            holder.execute(text(f"SELECT pg_advisory_unlock({LOCK_ARGS})"), {"name": MIGRATION_LOCK})
            holder.commit()


def migrate_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` (its schema/search_path included), one hub at a time."""
    config = alembic_config()
    with migration_lock(engine), engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def migrate(database_url: str, *, schema: str | None = None) -> None:
    """``alembic upgrade head`` on ``database_url`` (PostgreSQL ``schema`` optional)."""
    engine = make_engine(database_url, schema=schema)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
