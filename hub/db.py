"""Engines and sessions for the hub database: SQLite by default, PostgreSQL by URL.

SQLite is made safe for several writers in one process (and several
processes on one machine): WAL journal, a busy timeout, foreign keys on, and
every transaction opened with ``BEGIN IMMEDIATE`` so a writer takes the write
lock up front instead of failing half way with "database is locked"
(transactions marked :func:`read_only` use a plain ``BEGIN``: they never
write, so they need no lock). That is
also what serialises appends to the audit chain on SQLite. Driver-level
autocommit is switched off (pysqlite's own BEGIN handling is bypassed) so
SAVEPOINTs work, which the response consumer needs to reject one message of a
batch without losing the rest.

PostgreSQL gets an optional ``schema``: the connection's ``search_path`` is
pinned to it, so tests (and deployments that share a database) keep the hub's
tables apart without the models knowing about schemas. A separate process
(``mashlink hub``) selects a schema through the URL alone:
``postgresql+psycopg://host/db?options=-csearch_path%3Dmyschema`` (libpq's
``options``; the schema must exist and be migrated, or the hub migrates it).

Several hub processes may share one PostgreSQL database. Work that must run
once cluster-wide per tick (deadline scans, the audit self-check) takes
:func:`try_cluster_lock` at the start of its transaction: a transaction-scoped
advisory lock keyed by a name and the connection's current schema (so hubs in
different schemas, e.g. parallel tests, never contend). It is released at
commit or rollback, and by the server when a crashed hub's connection drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Execution option for a transaction that only reads: on SQLite it starts
#: with a plain (deferred) ``BEGIN`` instead of ``BEGIN IMMEDIATE``. Writing
#: in such a transaction may fail with "database is locked", so use it only
#: where nothing is written (see :func:`read_only`).
READ_ONLY_OPTION = "mashlink_read_only"


def read_only(session: Session) -> Session:
    """Mark a session's next transaction as read-only; call before its first statement."""
    session.connection(execution_options={READ_ONLY_OPTION: True})
    return session


def snapshot(session: Session) -> Session:
    """One consistent view for a multi-statement read (call before the first statement).

    PostgreSQL's default READ COMMITTED lets each statement see newer commits,
    so a page-by-page walk of the audit chain followed by a read of its head
    could see a head that moved on meanwhile and report a false mismatch.
    REPEATABLE READ fixes the view at the first statement. A SQLite read
    transaction (WAL) is already a snapshot from its first read.
    """
    options: dict[str, Any] = {READ_ONLY_OPTION: True}
    if not is_sqlite(session.get_bind()):
        options["isolation_level"] = "REPEATABLE READ"
    session.connection(execution_options=options)
    return session


def try_cluster_lock(session: Session, name: str) -> bool:
    """Take the cluster-wide lock ``name`` for the rest of this transaction, without waiting.

    PostgreSQL: ``pg_try_advisory_xact_lock(hashtext(name), hashtext(current_schema()))``;
    ``False`` means another hub instance (in the same schema) holds it now.
    SQLite: always ``True`` (one database file is one hub's; its writers are
    already serialised by ``BEGIN IMMEDIATE``).
    """
    if is_sqlite(session.get_bind()):
        return True
    return bool(session.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:name), hashtext(current_schema()))"),
        {"name": name},
    ).scalar_one())


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(database_url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """Create an engine configured for the hub's transaction discipline.

    ``schema`` (PostgreSQL only) must be a plain lower-case identifier; it is
    created if missing and put first on the ``search_path``.
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema is only supported on PostgreSQL")
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    if backend != "postgresql":
        raise ValueError(f"database_url must be sqlite or postgresql, not {backend!r}")
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if not _SCHEMA_RE.match(schema):
            raise ValueError(f"schema {schema!r} must match {_SCHEMA_RE.pattern}")
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, echo=echo, connect_args=connect_args, pool_pre_ping=True,
                           pool_size=10, max_overflow=10)
    if schema is not None:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def drop_schema(engine: Engine, schema: str) -> None:
    """Drop a PostgreSQL schema and everything in it (test teardown)."""
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: with NORMAL a power cut can undo a commit whose broker
        # message was already acknowledged (a lost answer). Measured within noise.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-only transaction takes no write lock (WAL readers see a
        # snapshot), so a reader such as the outbox relay's scan never queues
        # behind, or holds up, the writers.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with factory() as session:
        with session.begin():
            yield session
