"""Build the hub's moving parts from settings, once, for every command.

The CLI commands (hub, refer, status, dlq, demo) all need the same things:
settings loaded and checked, a HubService on the configured database, and a
factory of Broker instances (one per thread; kombu connections are not
thread-safe). Keeping that here means the commands stay small and agree.
The broker factory itself is :func:`mashlink.hub.wiring.hub_broker_factory`
and the logging pipeline :func:`mashlink.config.logging.configure_logging`:
the benchmarks use them too and may not import ops, so they live below it.

It is also where a command finds out, once and before any work, that what it
needs is not there: an unreachable or refusing database or broker is one
paragraph naming the address (password masked) and what to check, exit 2,
never a traceback; the broker gives up within ``PREFLIGHT_TIMEOUT_S``. The
commands that talk to other processes over the broker (``BROKER_COMMANDS``)
check it in ``settings_or_exit`` and warn when ``memory://`` cannot reach
other processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from ..broker.link import BrokerTlsError, Link
from ..config.errors import ConfigError
from ..config.settings import HUB_SENDER_ID, MashlinkSettings, broker_hosts, load_settings, mask_url
from ..config.logging import configure_logging
from ..hub.service import HubService

#: How long a command waits for the broker before saying it cannot be reached.
PREFLIGHT_TIMEOUT_S = 5.0
#: Top-level commands that expect other processes on the broker (a hub, connectors).
BROKER_COMMANDS = frozenset({"hub", "status", "dlq", "connector"})
#: Exit status when a service the command needs cannot be reached or refuses us.
UNREACHABLE_EXIT = 2


class Unreachable(Exception):
    """A database or broker that cannot be used; ``str()`` is the one-paragraph explanation."""


def _host_port(url: str, default_port: int) -> str:
    try:
        parts = urlsplit(url.replace("+psycopg", ""))
        return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"
    except ValueError:
        return "?"


def _user(url: str) -> str:
    try:
        return urlsplit(url).username or "(none)"
    except ValueError:
        return "(none)"


def _first_line(exc: BaseException, secret_url: str) -> str:
    """The driver's own words, one line, without the password it may echo."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    try:
        password = urlsplit(secret_url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "****")
    return text[:300]


def command_name() -> str | None:
    """The top-level ``mashlink`` command being run (``dlq`` for ``mashlink dlq list``), if any."""
    try:  # typer >= 0.20 runs commands on its own copy of click
        from typer.main import get_current_context
    except ImportError:  # pragma: no cover - older typer on the installed click
        from click import get_current_context
    ctx = get_current_context(silent=True)
    if ctx is None:
        return None
    while ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    return ctx.info_name


def warn_if_in_process(settings: MashlinkSettings, command: str) -> None:
    """memory:// lives inside one process: say so to a command that expects other processes."""
    if settings.broker_url.split("://", 1)[0].lower() == "memory":
        typer.echo(
            f"warning: broker_url is memory:// (in-process only), so `mashlink {command}` cannot reach a hub "
            "or connectors in other processes, and they cannot reach it. Set MASHLINK_BROKER_URL="
            "amqp://user:password@host:5672// (RabbitMQ) for every process; memory:// suits tests and "
            "`mashlink demo`, which keep everything in one process.",
            err=True,
        )


def database_problem(settings: MashlinkSettings, exc: BaseException) -> Unreachable:
    """One paragraph for a database that could not be opened: where, why, what to check."""
    url = settings.database_url
    said = _first_line(exc, url)
    low = said.lower()
    where = f"the hub database at {mask_url(url)}"
    if url.startswith("sqlite"):
        return Unreachable(f"cannot open {where}: {said}. Check that state_dir (MASHLINK_STATE_DIR) exists and "
                           "is writable by this user, or set MASHLINK_DATABASE_URL.")
    hp = _host_port(url, 5432)
    if "password authentication failed" in low or "authentication failed" in low or "no password" in low:
        return Unreachable(f"{where} ({hp}) refused the credentials of user {_user(url)!r}: {said}. Check the "
                           "user and password in MASHLINK_DATABASE_URL (database_url) against PostgreSQL's.")
    if "does not exist" in low:
        return Unreachable(f"{where} ({hp}) was reached but answered: {said}. Create the database and role "
                           "(createdb / createuser) or correct the name in MASHLINK_DATABASE_URL.")
    return Unreachable(f"cannot reach {where} ({hp}): {said}. Check that PostgreSQL is running and accepts "
                       f"TCP connections on {hp} from this host (firewall, pg_hba.conf), and that "
                       "MASHLINK_DATABASE_URL (database_url) names it.")


def broker_problem(settings: MashlinkSettings, exc: BaseException, timeout_s: float) -> Unreachable:
    """One paragraph for a broker that could not be used: where, why, what to check."""
    import amqp

    url = settings.broker_url
    hp = _host_port(url, 5672)
    said = _first_line(exc, url)
    where = f"the broker at {mask_url(url)} ({hp})"
    if isinstance(exc, BrokerTlsError):  # already one paragraph naming the broker_tls setting
        return Unreachable(str(exc))
    if isinstance(exc, amqp.exceptions.AccessRefused):
        return Unreachable(f"{where} refused the credentials of user {_user(url)!r} ({said}). Check the user and "
                           "password in MASHLINK_BROKER_URL (broker_url); broker users are created by "
                           "deploy/rabbitmq-init.sh, or by hand from `mashlink broker permissions`.")
    if isinstance(exc, amqp.exceptions.NotAllowed):
        return Unreachable(f"{where} refused this user its virtual host ({said}). Check the vhost at the end of "
                           "MASHLINK_BROKER_URL (// is the default vhost /) and the user's permissions on it.")
    return Unreachable(f"cannot reach {where} within {timeout_s:g} s: {said}. Check that RabbitMQ is running "
                       f"and accepts AMQP connections on {hp} from this host, and that MASHLINK_BROKER_URL "
                       "(broker_url) names it.")


def probe_broker(settings: MashlinkSettings, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Connect once (no retries) and disconnect; raise :class:`Unreachable` if that fails. memory:// passes.

    Connects as every Broker does (``Link``): each host of a failover URL once within ``timeout_s``
    in all, with the ``broker_tls`` options for amqps:// hosts.
    """
    if settings.broker_url.split("://", 1)[0].lower() == "memory":
        return
    per_host = max(timeout_s / max(len(broker_hosts(settings.broker_url)), 1), 1.0)
    link: Link | None = None
    try:
        link = Link(settings.broker_url, heartbeat_s=0, connect_timeout_s=per_host, tls=settings.broker_tls)
        link.connection  # noqa: B018 - connecting is the probe
    except Exception as exc:  # noqa: BLE001 - every failure becomes the one-paragraph explanation
        raise broker_problem(settings, exc, timeout_s) from None
    finally:
        if link is not None:
            link.close()


def require_broker(settings: MashlinkSettings, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Like :func:`probe_broker`, for a command: the paragraph on stderr and exit 2."""
    try:
        probe_broker(settings, timeout_s)
    except Unreachable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(UNREACHABLE_EXIT) from None


def broker_readiness(settings: MashlinkSettings, timeout_s: float = 2.0) -> Callable[[], None] | None:
    """For the hub's /health/ready: a check that raises when the broker cannot be reached (None: memory://)."""
    if settings.broker_url.split("://", 1)[0].lower() == "memory":
        return None
    return lambda: probe_broker(settings, timeout_s)


def settings_or_exit(config: Path | None = None, **overrides: object) -> MashlinkSettings:
    """Load settings; on a configuration error print the precise problems and exit 1.

    Run from a command in ``BROKER_COMMANDS``, it also warns when memory://
    cannot reach other processes and checks the broker answers (exit 2 with
    one paragraph otherwise, within ``PREFLIGHT_TIMEOUT_S``).
    """
    try:
        settings = load_settings(config, **overrides)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    configure_logging(settings.log_level, json=settings.log_json)
    for warning in settings.warnings():
        typer.echo(f"warning: {warning}", err=True)
    command = command_name()
    if command in BROKER_COMMANDS:
        warn_if_in_process(settings, command)
        require_broker(settings)
    return settings


def open_database(settings: MashlinkSettings, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> HubService:
    """The hub service on the configured database; raise :class:`Unreachable` if it cannot be used.

    PostgreSQL is tried first with a connect timeout, so a silent host is
    reported within ``timeout_s`` instead of hanging.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if settings.database_url.startswith("postgresql"):
            probe = create_engine(settings.database_url, connect_args={"connect_timeout": max(1, int(timeout_s))})
            try:
                with probe.connect() as conn:
                    conn.execute(text("SELECT 1"))
            finally:
                probe.dispose()
        return HubService.open(settings)
    except (SQLAlchemyError, OSError) as exc:
        raise database_problem(settings, exc) from None


def require_signing_key(settings: MashlinkSettings, sender: str) -> None:
    """This process's private key is ``sender``'s (or, in development, may be its development key); else exit 1.

    A key given to the wrong process, or none in production, is one
    paragraph naming the setting and the command that makes a key, not a
    traceback from the first codec built.
    """
    try:
        settings.signer_key(sender)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def open_hub(settings: MashlinkSettings) -> HubService:
    """The hub service on the configured database, migrated to the current schema.

    A database that cannot be reached, refuses the credentials or does not
    exist is one paragraph on stderr and exit 2; a private key that is not
    the hub's, exit 1.
    """
    require_signing_key(settings, HUB_SENDER_ID)
    try:
        return open_database(settings)
    except Unreachable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(UNREACHABLE_EXIT) from None
