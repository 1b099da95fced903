"""``mashlink config check|show`` through the real CLI app."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from mashlink.config.signing import SignerKey
from mashlink.ops.cli import app

runner = CliRunner()


def test_check_default_is_ok() -> None:
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "OK: configuration is valid" in result.output
    assert "agencies: 4 (4 enabled" in result.output


def test_check_reports_every_error_without_traceback(default_data: dict, write_config) -> None:
    default_data["agencies"][2]["kind"] = "fire_service"
    default_data["sharing_policies"]["ghost"] = {"subject_fields": ["names"]}
    path = write_config(default_data)
    result = runner.invoke(app, ["config", "check", "--file", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.output
    assert "agencies[2].kind" in result.output and "sharing_policies.ghost" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_warns_about_dev_keys_on_a_real_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0
    assert "warning: development signing keys" in result.output
    assert "guest:guest" not in result.output


def test_show_masks_secrets_and_reflects_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = SignerKey.from_secret("hub", b"production-secret-value-42", key_id="hub-20261207-0a1b2c")
    monkeypatch.setenv("MASHLINK_SIGNING__PRIVATE_KEY", key.text())
    monkeypatch.setenv("MASHLINK_HUB_HTTP_PORT", "9191")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["hub_http_port"] == 9191
    assert data["signing"]["private_key"] == "hub/hub-20261207-0a1b2c ********"
    assert key.text().rsplit(":", 1)[1] not in result.output
    assert "dev-insecure-" not in result.output


def test_show_json() -> None:
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert {a["id"] for a in data["agencies"]} == {
        "police-synth", "health-synth", "education-synth", "social-care-synth",
    }
    assert data["rag"]["998"]["red"] == {"hours": 2.0, "out_of_hours": True}


def test_show_bad_file_exits_1(tmp_path) -> None:
    result = runner.invoke(app, ["config", "show", "--file", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "not found" in result.output
