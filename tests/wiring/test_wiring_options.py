"""Option errors name ``agencies[i].options.<field>`` at build time and in ``mashlink config check``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mashlink.config.errors import ConfigError
from mashlink.config.settings import load_settings
from mashlink.connectors.factory import options_issues

from tests.wiring.helpers import build, issue_paths, settings_for, write_config

MASHLINK = str(Path(sys.executable).with_name("mashlink"))
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "agencies-example.yaml"

BAD = [
    {"id": "police-ok", "kind": "police", "connector": "pole", "options": {"exports": ["exports"]}},
    {"id": "police-bad", "kind": "police", "connector": "pole", "options": {
        "reload": "weekly", "reload_interval_s": 0, "colour": "blue"}},
    {"id": "edu-bad", "kind": "education", "connector": "ctf", "options": {
        "ingest_interval_s": -1, "la_code": "ABC",
        "delivery": {"mode": "webhook", "url": "ftp://tool.example", "answer_listen": "no-port",
                     "key_env": "1-not-a-name", "max_attempts": 0}}},
    {"id": "csc-bad", "kind": "social_care", "connector": "cin", "options": {
        "la_code": "12", "settle_s": -5, "delivery": {"mode": "email", "path": "x"}}},
    {"id": "csc-bad2", "kind": "social_care", "connector": "ssda903", "options": {
        "delivery": {"path": "x"}}},
]


def test_every_option_problem_is_named_with_its_key_path(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", BAD)
    settings = settings_for(config, tmp_path / "state")
    issues = {i.path: i.rule for i in options_issues(settings)}
    assert set(issues) == {
        "agencies[1].options.reload", "agencies[1].options.reload_interval_s", "agencies[1].options.colour",
        "agencies[2].options.ingest_interval_s", "agencies[2].options.la_code", "agencies[2].options.delivery.url",
        "agencies[2].options.delivery.answer_listen", "agencies[2].options.delivery.key_env",
        "agencies[2].options.delivery.max_attempts",
        "agencies[3].options.la_code", "agencies[3].options.settle_s", "agencies[3].options.delivery.mode",
        "agencies[4].options.delivery.mode",
    }
    assert "unknown key" in issues["agencies[1].options.colour"]
    assert "http" in issues["agencies[2].options.delivery.url"]
    assert "host:port" in issues["agencies[2].options.delivery.answer_listen"]
    assert "webhook, drop_folder" in issues["agencies[3].options.delivery.mode"]
    assert "'email'" in issues["agencies[3].options.delivery.mode"]
    # Building reports the same issues for that agency only, with the file's line numbers.
    with pytest.raises(ConfigError) as exc:
        build(settings, "edu-bad")
    assert {p for p in issue_paths(exc.value)} == {p for p in issues if p.startswith("agencies[2]")}
    assert all(i.origin.startswith("c.yaml:") for i in exc.value.issues)


def test_model_rules_and_files_checked_at_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "c.yaml", [
        {"id": "police-a", "kind": "police", "connector": "pole", "options": {}},
        {"id": "police-b", "kind": "police", "connector": "pole", "options": {"exports": ["nowhere/force.json"]}},
        {"id": "edu-a", "kind": "education", "connector": "ctf", "options": {
            "drop_folder": "drop", "delivery": {"mode": "webhook", "url": "http://127.0.0.1:9/t",
                                               "answer_listen": "0.0.0.0:0", "key_file": "hook.key"}}},
        {"id": "edu-b", "kind": "education", "connector": "ctf", "options": {
            "delivery": {"mode": "webhook", "url": "http://127.0.0.1:9/t", "answer_listen": "127.0.0.1:0",
                         "key_file": "missing.key"}}},
        {"id": "edu-c", "kind": "education", "connector": "ctf", "options": {"spec": "no-such-spec.yaml"}},
        {"id": "edu-d", "kind": "education", "connector": "ctf", "options": {
            "delivery": {"mode": "webhook", "url": "http://127.0.0.1:9/t", "answer_listen": "127.0.0.1:0",
                         "key_file": "missing.key", "answer_key_env": "TEST_UNSET_ANSWER_KEY"}}},
        {"id": "edu-e", "kind": "education", "connector": "ctf", "options": {
            "delivery": {"mode": "webhook", "url": "http://127.0.0.1:9/t", "answer_listen": "127.0.0.1:0",
                         "key_env": "A_KEY", "answer_key_env": "B_KEY", "answer_key_file": "b.key"}}},
    ])
    monkeypatch.delenv("TEST_UNSET_ANSWER_KEY", raising=False)
    settings = settings_for(config, tmp_path / "state")
    issues = {i.path: i.rule for i in options_issues(settings)}
    assert "exports is required" in issues["agencies[0].options"]
    assert "answer_url is required" in issues["agencies[2].options.delivery"]
    assert "at most one of answer_key_env or answer_key_file" in issues["agencies[6].options.delivery"]
    with pytest.raises(ConfigError) as exc:
        build(settings, "police-b")
    assert list(issue_paths(exc.value)) == ["agencies[1].options.exports[0]"]
    assert "no such file or folder" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        build(settings, "edu-b")
    assert "cannot read" in issue_paths(exc.value)["agencies[3].options.delivery.key_file"]
    with pytest.raises(ConfigError) as exc:
        build(settings, "edu-d")  # both keys unusable: both named, each at its own option
    named = issue_paths(exc.value)
    assert "cannot read" in named["agencies[5].options.delivery.key_file"]
    assert "TEST_UNSET_ANSWER_KEY is not set" in named["agencies[5].options.delivery.answer_key_env"]
    with pytest.raises(ConfigError) as exc:
        build(settings, "edu-c")
    assert "agencies[4].options.spec" in issue_paths(exc.value)


def _check(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MASHLINK, "config", "check", "--file", str(config)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "MASHLINK_STATE_DIR": str(tmp_path)})


def test_config_check_reports_connector_option_problems(tmp_path: Path) -> None:
    bad = _check(write_config(tmp_path / "bad.yaml", BAD), tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "OK" not in bad.stdout
    for path in ("agencies[1].options.reload", "agencies[2].options.delivery.url",
                 "agencies[3].options.delivery.mode", "agencies[4].options.delivery.mode"):
        assert path in bad.stderr
    assert "bad.yaml:" in bad.stderr  # with the line of each offending key
    good = _check(EXAMPLE, tmp_path)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("OK: configuration is valid")
    assert load_settings(EXAMPLE, state_dir=str(tmp_path)).agency("education-synth").options["delivery"]["mode"] \
        == "webhook"
