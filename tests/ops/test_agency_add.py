"""``mashlink agency add``: one command prints configuration, broker permissions and compose service that work.

Each printed part is applied for real: the configuration block is merged into
the shipped configuration and loaded (the hub's own validation), the broker
commands are those ``broker/permissions.py`` defines (and the provisioning
script creates the same user from the printed agency list), and the compose
override passes ``docker-compose config`` on top of the deployment and gives
every queue of the new agency a consumer.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mashlink.config.signing import SignerKey
from mashlink.broker.permissions import agency_permissions
from mashlink.broker.topology import Topology
from mashlink.config.settings import load_settings
from mashlink.ops.cli import app
from mashlink.ops.commands.agency import split_sections
from tests.deploy.test_compose_consumers import consumed_by
from tests.deploy.test_docker_compose import _docker_compose
from tests.deploy.test_rabbitmq_init import RECORDER

ROOT = Path(__file__).resolve().parents[2]
NEW = "police-north"


def _add(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    result = CliRunner().invoke(app, ["agency", "add", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def printed() -> dict[int, str]:
    code, out, err = _add(NEW, "--kind", "police", "--name", "North Synthshire Police (synthetic)")
    assert code == 0, err
    parts = split_sections(out)
    assert sorted(parts) == [1, 2, 3, 4]
    return parts


def test_the_configuration_block_loads_into_the_shipped_configuration(
        printed: dict[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = yaml.safe_load(printed[1])
    shipped = yaml.safe_load((ROOT / "config" / "mashlink.yaml").read_text(encoding="utf-8"))
    shipped["agencies"] += block["agencies"]
    shipped["sharing_policies"].update(block["sharing_policies"])
    (tmp_path / "mashlink.yaml").write_text(yaml.safe_dump(shipped), encoding="utf-8")
    # The agency's signing key comes from the environment, as compose gives it (section 3).
    monkeypatch.setenv("MASHLINK_SIGNING__PRIVATE_KEY", SignerKey.development_key(NEW).text())
    settings = load_settings(tmp_path / "mashlink.yaml", state_dir=str(tmp_path / "state"))
    agency = next(a for a in settings.agencies if a.id == NEW)
    assert agency.kind.value == "police" and agency.name == "North Synthshire Police (synthetic)"
    assert NEW in settings.sharing_policies


def test_the_broker_commands_are_the_agencys_least_privilege(printed: dict[int, str]) -> None:
    lines = [shlex.split(line) for line in printed[2].splitlines() if line.strip()]
    assert all(line[0] == "rabbitmqctl" for line in lines)
    assert lines[0][1:3] == ["add_user", NEW] and lines[0][3] == "$POLICE_NORTH_BROKER_PASSWORD"
    assert [line[1:] for line in lines[1:]] == agency_permissions(Topology("mashlink"), NEW).rabbitmqctl()


def test_the_compose_override_validates_and_consumes_every_new_queue(printed: dict[int, str],
                                                                     tmp_path: Path) -> None:
    override = tmp_path / f"docker-compose.agency-{NEW}.yml"
    override.write_text(printed[3], encoding="utf-8")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    env_lines = [line for line in printed[4].splitlines() if "=" in line]
    assert env_lines == ["POLICE_NORTH_BROKER_PASSWORD=change-me-police-north-broker-password",
                         f"POLICE_NORTH_SIGNING_KEY={SignerKey.development_key(NEW).text()}"]
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8") + "\n".join(env_lines)
                                   + "\n", encoding="utf-8")
    done = subprocess.run([_docker_compose(), "-f", "docker-compose.yml", "-f", override.name, "config"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    connector = services[f"connector-{NEW}"]
    topology = Topology("mashlink")
    assert consumed_by(connector["command"], topology) == {*topology.enquiry_queues(NEW),
                                                            topology.agency_events_queue(NEW)}
    assert connector["environment"]["MASHLINK_BROKER_URL"].startswith(f"amqp://{NEW}:change-me-police-north-")
    assert not any("DATABASE" in key for key in connector["environment"])
    assert SignerKey.parse(connector["environment"]["MASHLINK_SIGNING__PRIVATE_KEY"]).sender == NEW
    hub_env = services["hub"]["environment"]
    assert SignerKey.parse(hub_env["MASHLINK_SIGNING__PRIVATE_KEY"]).sender == "hub"  # the hub's own, untouched
    assert connector["environment"]["MASHLINK_SIGNING__PUBLIC_KEYS"] == hub_env["MASHLINK_SIGNING__PUBLIC_KEYS"]
    init_env = services["rabbitmq-init"]["environment"]
    assert init_env["MASHLINK_AGENCIES"].split() == ["police-synth", "health-synth", "education-synth",
                                                     "social-care-synth", NEW]
    # The provisioning script, given that environment, creates the new user with exactly its permissions.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(RECORDER, encoding="utf-8")
    (bin_dir / "curl").chmod(0o755)
    record = tmp_path / "record.tsv"
    script_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(record), "HUB_BROKER_PASSWORD": "x",
                  **{k: str(v) for k, v in init_env.items()}}
    ran = subprocess.run(["sh", str(ROOT / "deploy" / "rabbitmq-init.sh")], env=script_env, capture_output=True,
                         text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    sent = dict(line.split("\t", 1) for line in record.read_text(encoding="utf-8").splitlines())
    expected = agency_permissions(topology, NEW)
    assert yaml.safe_load(sent[f"http://rabbitmq:15672/api/permissions/%2F/{NEW}"]) == {
        "configure": expected.configure, "write": expected.write, "read": expected.read}
    assert yaml.safe_load(sent[f"http://rabbitmq:15672/api/users/{NEW}"])["password"] == \
        "change-me-police-north-broker-password"


def test_bad_ids_kinds_and_connectors_are_refused_by_name() -> None:
    code, _out, err = _add("Police North", "--kind", "police")
    assert code == 2 and "ID" in err and "lower-case" in err
    code, _out, err = _add(NEW, "--kind", "probation")
    assert code == 2 and "--kind" in err and "social_care" in err
    code, _out, err = _add(NEW, "--kind", "health", "--connector", "pole")
    assert code == 2 and "connector" in err and "police" in err
    code, _out, err = _add("police-synth", "--kind", "police")
    assert code == 2 and "already configured" in err
