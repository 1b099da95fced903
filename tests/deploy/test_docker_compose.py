"""docker-compose.yml is checked by Debian's docker-compose (no engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import services_required

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "POSTGRES_PASSWORD": "test-only",
    "RABBITMQ_ADMIN_PASSWORD": "test-only",
    "HUB_BROKER_PASSWORD": "test-only",
    "POLICE_BROKER_PASSWORD": "test-only",
    "HEALTH_BROKER_PASSWORD": "test-only",
    "EDUCATION_BROKER_PASSWORD": "test-only",
    "SOCIAL_CARE_BROKER_PASSWORD": "test-only",
}


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if services_required():
            pytest.fail("docker-compose is not installed (.ci/run installs Debian's package)")
        pytest.skip("docker-compose is not installed")
    return path


def test_compose_file_is_valid() -> None:
    exe = _docker_compose()
    result = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **SECRETS}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    services = rendered["services"]
    for name in ("rabbitmq", "postgres", "hub", "connector-police", "connector-health",
                 "connector-education", "connector-social-care"):
        assert name in services, name
    assert "healthcheck" in services["rabbitmq"] and "healthcheck" in services["postgres"]
    assert "healthcheck" in services["hub"]
    # Every connector has its own broker credentials, never the hub's or the admin's.
    users = {services[n]["environment"]["MASHLINK_BROKER_URL"].split("//")[1].split(":")[0]
             for n in services if n.startswith("connector-")}
    assert users == {"police-synth", "health-synth", "education-synth", "social-care-synth"}


def test_compose_refuses_missing_secrets() -> None:
    exe = _docker_compose()
    result = subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "RABBITMQ_ADMIN_PASSWORD" in result.stderr
