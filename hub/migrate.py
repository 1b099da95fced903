"""Schema migrations: ``migrate(database_url)`` runs ``alembic upgrade head`` in-process.

The hub calls it at start, so a new version's schema changes are applied
before anything touches the tables. The Alembic environment lives in
``hub/migrations`` (packaged with mashlink); no alembic.ini is needed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from mashlink.hub.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` (its schema/search_path included)."""
    config = alembic_config()
    with engine.connect() as connection:
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
