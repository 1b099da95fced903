"""A database or broker that is not there is one clear paragraph and exit 2, never a traceback.

`mashlink hub`, `status`, `dlq` and `connector` are run against a closed port
(nothing listening), a database that does not exist, a broker that refuses the
credentials and a broker where the connector's queues were never declared.
The broker check gives up within 5 s. memory:// draws a warning from every
command that expects other processes. /health/ready names the broker when a
stopped broker stand-in cannot be reached.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mashlink.config.settings import load_settings
from mashlink.hub.api import create_app
from mashlink.hub.service import HubService
from mashlink.ops.cli import app
from mashlink.ops.wiring import broker_readiness, database_problem

MASHLINK = str(Path(sys.executable).with_name("mashlink"))
BROKER_COMMANDS = [["hub"], ["status"], ["dlq", "list"], ["connector", "police-synth", "--simulated"]]
DATABASE_COMMANDS = [["hub"], ["status"], ["dlq", "list"]]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    start = time.monotonic()
    result = CliRunner().invoke(app, args, env=env)
    elapsed = time.monotonic() - start
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.exit_code, result.stderr, elapsed


def error_paragraph(stderr: str) -> str:
    """The one ``error:`` paragraph (one line: a paragraph that wraps wherever the terminal does)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {"MASHLINK_STATE_DIR": str(tmp_path / "state"),
            "MASHLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}", **settings}


@pytest.mark.parametrize("args", BROKER_COMMANDS, ids=lambda a: a[0])
def test_broker_unreachable_is_one_paragraph_within_5_s(tmp_path: Path, args: list[str]) -> None:
    port = closed_port()
    code, stderr, elapsed = run(args, _env(tmp_path, MASHLINK_BROKER_URL=f"amqp://hub:s3cret-pw@127.0.0.1:{port}//"))
    assert code == 2
    paragraph = error_paragraph(stderr)
    assert f"127.0.0.1:{port}" in paragraph
    assert "amqp://hub:****@" in paragraph and "s3cret-pw" not in stderr
    assert "MASHLINK_BROKER_URL" in paragraph and "RabbitMQ is running" in paragraph
    assert elapsed < 5.0, elapsed


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda a: a[0])
def test_database_unreachable_is_one_paragraph(tmp_path: Path, args: list[str]) -> None:
    port = closed_port()
    url = f"postgresql+psycopg://mashlink:s3cret-pw@127.0.0.1:{port}/mashlink"
    code, stderr, _ = run(args, _env(tmp_path, MASHLINK_DATABASE_URL=url, MASHLINK_BROKER_URL="memory://"))
    assert code == 2
    paragraph = error_paragraph(stderr)
    assert f"127.0.0.1:{port}" in paragraph and "postgresql+psycopg://mashlink:****@" in paragraph
    assert "s3cret-pw" not in stderr
    assert "PostgreSQL is running" in paragraph and "MASHLINK_DATABASE_URL" in paragraph


def test_missing_database_is_named(tmp_path: Path, postgres_url: str) -> None:
    missing = f"nosuchdb_{uuid.uuid4().hex[:8]}"
    url = postgres_url.rsplit("/", 1)[0] + "/" + missing
    code, stderr, _ = run(["status"], _env(tmp_path, MASHLINK_DATABASE_URL=url, MASHLINK_BROKER_URL="memory://"))
    assert code == 2
    paragraph = error_paragraph(stderr)
    assert f'database "{missing}" does not exist' in paragraph and "createdb" in paragraph


def test_database_bad_credentials_paragraph() -> None:
    """PostgreSQL's own words for a wrong password (the local test server trusts every login)."""
    settings = load_settings(database_url="postgresql+psycopg://mashlink:s3cret-pw@db.example:5432/mashlink")
    error = RuntimeError('connection failed: FATAL:  password authentication failed for user "mashlink"')
    text = str(database_problem(settings, error))
    assert "refused the credentials of user 'mashlink'" in text and "db.example:5432" in text
    assert "s3cret-pw" not in text


def test_broker_bad_credentials_is_one_paragraph(tmp_path: Path, amqp_url: str) -> None:
    scheme, rest = amqp_url.split("://", 1)
    url = f"{scheme}://nobody-{uuid.uuid4().hex[:6]}:wrong-pw@{rest.split('@', 1)[1]}"
    code, stderr, _ = run(["status"], _env(tmp_path, MASHLINK_BROKER_URL=url))
    assert code == 2
    paragraph = error_paragraph(stderr)
    assert "refused the credentials of user 'nobody-" in paragraph and "wrong-pw" not in stderr


def test_connector_whose_queues_were_never_declared_says_so(tmp_path: Path, amqp_url: str) -> None:
    """A least-privilege agency user before the hub ever started: the missing queue is named."""
    from mashlink.broker.permissions import agency_permissions
    from mashlink.broker.topology import Topology

    tool = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    namespace = f"tclear{uuid.uuid4().hex[:8]}"
    user, password = f"tclear-{uuid.uuid4().hex[:6]}", f"synthetic-{uuid.uuid4().hex[:6]}"
    subprocess.run([tool, "add_user", user, password], check=True, capture_output=True, timeout=60)
    try:
        for command in agency_permissions(Topology(namespace), "police-synth", user=user).rabbitmqctl():
            subprocess.run([tool, *command], check=True, capture_output=True, timeout=60)
        url = f"amqp://{user}:{password}@{amqp_url.split('@', 1)[1]}"
        code, stderr, _ = run(["connector", "police-synth", "--simulated"],
                              _env(tmp_path, MASHLINK_BROKER_URL=url, MASHLINK_BROKER_NAMESPACE=namespace))
    finally:
        subprocess.run([tool, "delete_user", user], capture_output=True, timeout=60)
    assert code == 2
    paragraph = error_paragraph(stderr)
    assert f"{namespace}.enquiry.police-synth.red" in paragraph and "start the hub first" in paragraph
    assert password not in stderr


@pytest.mark.parametrize("args", BROKER_COMMANDS, ids=lambda a: a[0])
def test_memory_transport_warns_every_command_that_expects_other_processes(
        tmp_path: Path, args: list[str]) -> None:
    # A closed database port stops hub, status and dlq right after the warning; the connector's bad id too.
    url = f"postgresql+psycopg://mashlink:pw@127.0.0.1:{closed_port()}/mashlink"
    argv = args if args[0] != "connector" else ["connector", "no-such-agency"]
    code, stderr, _ = run(argv, _env(tmp_path, MASHLINK_BROKER_URL="memory://", MASHLINK_DATABASE_URL=url))
    assert code == 2
    assert "broker_url is memory:// (in-process only)" in stderr and "other processes" in stderr, stderr


def test_subprocess_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as an operator runs it."""
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **_env(tmp_path),
           "MASHLINK_BROKER_URL": "memory://",
           "MASHLINK_DATABASE_URL": f"postgresql+psycopg://mashlink:pw@127.0.0.1:{port}/mashlink"}
    result = subprocess.run([MASHLINK, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


# -- readiness ------------------------------------------------------------------------------------


def test_readiness_names_the_broker_when_it_is_down(tmp_path: Path) -> None:
    stopped = f"amqp://hub:pw@127.0.0.1:{closed_port()}//"  # a broker stand-in that is not running
    settings = load_settings(state_dir=str(tmp_path / "state"), database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}",
                             broker_url=stopped)
    service = HubService.open(settings)
    try:
        client = TestClient(create_app(service, broker_ready=broker_readiness(settings)))
        started = time.monotonic()
        reply = client.get("/health/ready")
        assert time.monotonic() - started < 3.0
        assert reply.status_code == 503
        assert reply.json()["status"] == "broker unavailable"
        assert reply.json()["unavailable"] == ["broker"]
        assert "pw" not in reply.text.replace("unavailable", "")
        # The same check set on a built app (how `mashlink hub` wires it).
        wired = TestClient(create_app(service, broker_ready=broker_readiness(settings)))
        assert wired.get("/health/ready").json()["unavailable"] == ["broker"]
        # memory:// has nothing to reach: ready.
        assert TestClient(create_app(service, broker_ready=broker_readiness(
            settings.model_copy(update={"broker_url": "memory://"})))).get("/health/ready").status_code == 200
    finally:
        service.close()


def test_readiness_with_a_running_broker(tmp_path: Path, amqp_url: str) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"), database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}",
                             broker_url=amqp_url)
    service = HubService.open(settings)
    try:
        reply = TestClient(create_app(service, broker_ready=broker_readiness(settings))).get("/health/ready")
        assert reply.status_code == 200 and reply.json() == {"status": "ready"}
    finally:
        service.close()
