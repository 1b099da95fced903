"""docker-compose.yml is checked by Debian's docker-compose (no engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mashlink.config.signing import SignerKey
from tests.conftest import services_required

ROOT = Path(__file__).resolve().parents[2]
CONNECTORS = ("connector-police", "connector-health", "connector-education", "connector-social-care")


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if services_required():
            pytest.fail("docker-compose is not installed (.ci/run installs Debian's package)")
        pytest.skip("docker-compose is not installed")
    return path


def _compose_config(env_file: str | None, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` in a copy of the deployment, with ``env_file`` as its .env (or none)."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    if env_file is not None:
        shutil.copy(ROOT / env_file, tmp_path / ".env")
    return subprocess.run(
        [_docker_compose(), "-f", str(tmp_path / "docker-compose.yml"), "config", *args],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=60,
    )


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_compose_file_is_valid_with_env_example(tmp_path: Path) -> None:
    """As documented: cp .env.example .env && docker-compose config."""
    result = _compose_config(".env.example", tmp_path)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    services = rendered["services"]
    for name in ("rabbitmq", "postgres", "hub", *CONNECTORS, "referrer-notifier", "prometheus", "grafana"):
        assert name in services, name
    assert "healthcheck" in services["rabbitmq"] and "healthcheck" in services["postgres"]
    assert "healthcheck" in services["hub"]
    # Every connector has its own broker credentials, never the hub's or the admin's.
    users = {services[n]["environment"]["MASHLINK_BROKER_URL"].split("//")[1].split(":")[0] for n in CONNECTORS}
    assert users == {"police-synth", "health-synth", "education-synth", "social-care-synth"}
    # Only the hub reaches the hub's database; no connector receives its URL or password.
    assert "MASHLINK_DATABASE_URL" in services["hub"]["environment"]
    postgres_password = _env_example()["POSTGRES_PASSWORD"]
    for name in CONNECTORS:
        env = services[name]["environment"]
        assert not any("DATABASE" in key for key in env), (name, sorted(env))
        assert not any(postgres_password in str(value) for value in env.values()), name
    # Signing keys come from .env: each process holds only its own private key, everyone the public keys.
    example = _env_example()
    for name, sender, var in (("hub", "hub", "HUB"), ("referrer-notifier", "referrer-notifier", "REFERRER_NOTIFIER"),
                              *zip(CONNECTORS, ("police-synth", "health-synth", "education-synth",
                                                "social-care-synth"),
                                   ("POLICE", "HEALTH", "EDUCATION", "SOCIAL_CARE"))):
        env = services[name]["environment"]
        assert not any(k.startswith("MASHLINK_SIGNING_KEYS__") for k in env), name  # no HMAC secrets left
        assert env["MASHLINK_SIGNING__PRIVATE_KEY"] == example[f"{var}_SIGNING_KEY"], name
        assert SignerKey.parse(env["MASHLINK_SIGNING__PRIVATE_KEY"]).sender == sender, name
        assert env["MASHLINK_SIGNING__PUBLIC_KEYS"] == example["SIGNING_PUBLIC_KEYS"], name
        others = [v for k, v in example.items() if k.endswith("_SIGNING_KEY") and k != f"{var}_SIGNING_KEY"]
        assert not any(other in str(value) for other in others for value in env.values()), name
    assert services["hub"]["environment"]["MASHLINK_ENVIRONMENT"] == "development"


def test_env_example_names_every_variable_compose_reads() -> None:
    """Every ${VAR} in docker-compose.yml is in .env.example, with a placeholder that is plainly not a secret."""
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    example = _env_example()
    assert used - set(example) == set(), "missing from .env.example"
    for name, value in example.items():
        if name.endswith("_SIGNING_KEY"):
            assert SignerKey.parse(value).development, name  # refused under environment: production
        elif name == "SIGNING_PUBLIC_KEYS":
            assert value == "{}", name  # public keys are not secret; {} = development keys
        elif "PASSWORD" in name or "KEY" in name or "TOKEN" in name:
            assert "change-me" in value, name


def test_compose_refuses_missing_secrets(tmp_path: Path) -> None:
    result = _compose_config(None, tmp_path, "-q")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "RABBITMQ_ADMIN_PASSWORD" in result.stderr


def test_compose_refuses_to_start_without_signing_keys(tmp_path: Path) -> None:
    """Passwords alone are not enough: without real signing keys there is no deployment."""
    env = "\n".join(f"{k}={v}" for k, v in _env_example().items() if "SIGNING_KEY" not in k)
    (tmp_path / "no-keys.env").write_text(env + "\n", encoding="utf-8")
    shutil.copy(tmp_path / "no-keys.env", tmp_path / ".env")
    result = _compose_config(None, tmp_path, "-q")
    assert result.returncode != 0
    assert "SIGNING_KEY" in result.stderr


def test_monitoring_and_the_notifier_are_deployed_with_only_what_they_need(tmp_path: Path) -> None:
    """Prometheus scrapes with the metrics token, Grafana is provisioned, images are pinned, no stray secrets."""
    result = _compose_config(".env.example", tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    example = _env_example()
    for name in ("prometheus", "grafana"):
        image = services[name]["image"]
        assert re.fullmatch(r"[a-z0-9./-]+:v?\d+\.\d+\.\d+", image), (name, image)  # a pinned release
    assert services["hub"]["environment"]["MASHLINK_SECURITY__METRICS__TOKEN"] == example["METRICS_TOKEN"]
    prometheus = services["prometheus"]
    assert prometheus["environment"] == {"METRICS_TOKEN": example["METRICS_TOKEN"]}  # and nothing else
    assert "/tmp/metrics-token" in " ".join(prometheus["entrypoint"])
    mounts = {str(v).split(":")[-2] if isinstance(v, str) else v["target"] for v in prometheus["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"} <= mounts
    grafana = services["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == example["GRAFANA_ADMIN_PASSWORD"]
    targets = {v["target"] if isinstance(v, dict) else str(v).split(":")[-2] for v in grafana["volumes"]}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"} <= targets
    # The notifier: no database, no agency's or the hub's private key, only its own.
    notifier = services["referrer-notifier"]
    assert notifier["command"] == ["notify-referrers"]
    env = notifier["environment"]
    assert not any("DATABASE" in key for key in env)
    assert SignerKey.parse(env["MASHLINK_SIGNING__PRIVATE_KEY"]).sender == "referrer-notifier"
    # Only the hub and Prometheus hold the metrics token; no mashlink process but the hub holds Grafana's.
    for name, service in services.items():
        values = " ".join(str(v) for v in (service.get("environment") or {}).values())
        if name not in ("hub", "prometheus"):
            assert example["METRICS_TOKEN"] not in values, name
        if name != "grafana":
            assert example["GRAFANA_ADMIN_PASSWORD"] not in values, name


def test_every_process_in_compose_starts_in_production_with_real_keys(tmp_path: Path) -> None:
    """With MASHLINK_ENVIRONMENT=production, OIDC and generated keys in .env, every service's settings load.

    Why: the environment used to reach only the hub; a connector given it
    failed for want of the hub's identity provider, so connectors ran on
    development settings. Now one environment (and the council's issuer, not a
    secret) is shared by every process, and each one's rendered environment
    passes the production rules: real keys only, its own private key, every
    sender's public key.
    """
    import json
    from datetime import UTC, datetime

    from mashlink.config.settings import load_settings
    from mashlink.config.signing import new_key_id, public_entry

    senders = {"HUB": "hub", "REFERRER_NOTIFIER": "referrer-notifier", "POLICE": "police-synth",
               "HEALTH": "health-synth", "EDUCATION": "education-synth", "SOCIAL_CARE": "social-care-synth"}
    now = datetime.now(UTC).replace(microsecond=0)
    keys = {var: SignerKey.generate(sender, new_key_id(sender, now)) for var, sender in senders.items()}
    values = dict(_env_example())
    values.update({f"{var}_SIGNING_KEY": key.text() for var, key in keys.items()})
    values["SIGNING_PUBLIC_KEYS"] = json.dumps({key.sender: [json.loads(json.dumps(public_entry(key, now, None),
                                                                                 default=str))]
                                                for key in keys.values()})
    values.update({"MASHLINK_ENVIRONMENT": "production", "OIDC_ISSUER": "https://idp.example.test/realms/mash",
                   "OIDC_AUDIENCE": "api://mashlink-hub"})
    (tmp_path / "production.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    shutil.copy(tmp_path / "production.env", tmp_path / ".env")
    result = _compose_config(None, tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("hub", *CONNECTORS, "referrer-notifier"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        assert env["MASHLINK_ENVIRONMENT"] == "production", name
        env["MASHLINK_CONFIG"] = str(ROOT / "config" / "mashlink.yaml")
        env["MASHLINK_STATE_DIR"] = str(tmp_path / name)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                if key.startswith("MASHLINK_"):
                    patch.setenv(key, value)
            settings = load_settings()
        assert settings.environment == "production" and settings.security.oidc is not None, name
        assert settings.signing.own_key is not None and not settings.signing.own_key.development, name
