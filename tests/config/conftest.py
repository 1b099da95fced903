"""Config tests read the environment: start each one from a clean MASHLINK_* slate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from mashlink.config.settings import default_config_path


@pytest.fixture(autouse=True)
def clean_mashlink_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("MASHLINK_") and not name.upper().startswith("MASHLINK_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def default_data() -> dict:
    """The packaged default configuration as plain data, for tests to break."""
    return yaml.safe_load(default_config_path().read_text(encoding="utf-8"))


@pytest.fixture
def write_config(tmp_path: Path):
    """Write data (or raw text) as a YAML file and return its path."""

    def write(data: dict | str, name: str = "mashlink-test.yaml") -> Path:
        path = tmp_path / name
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write
