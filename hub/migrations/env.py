"""Alembic environment for the hub database.

Run in-process by ``mashlink.hub.migrate`` with a live connection in
``config.attributes["connection"]`` (so the caller's engine settings, such as
a PostgreSQL search_path, apply). ``render_as_batch`` lets SQLite alter tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mashlink.hub.models import Base  # alembic loads this file by path, outside the package: absolute on purpose

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use mashlink.hub.migrate")
run_migrations_online()
