"""The exported JSON Schema files are current, and the CLI exports and checks them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.ops.cli import app
from mashlink.schemas.export import JSON_DIR, render_schemas, stale_files, write_schemas
from mashlink.schemas.registry import TOP_LEVEL_MODELS

REGENERATE = "python -m mashlink.schemas.export"


def test_exported_json_schema_is_current() -> None:
    stale = stale_files()
    assert not stale, (
        f"schemas/json is stale ({', '.join(stale)}): the pydantic models changed without re-exporting. "
        f"Regenerate with `.venv/bin/{REGENERATE}` or `mashlink schemas export` and commit the files."
    )


def test_one_file_per_top_level_model() -> None:
    assert {p.stem for p in JSON_DIR.glob("*.json")} == set(TOP_LEVEL_MODELS)


def test_render_is_deterministic() -> None:
    assert render_schemas() == render_schemas()


def test_stale_files_detects_changed_missing_and_extra(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert stale_files(tmp_path) == []
    (tmp_path / "Person.json").write_text("{}\n")
    (tmp_path / "Alert.json").unlink()
    (tmp_path / "Retired.json").write_text("{}\n")
    assert stale_files(tmp_path) == ["Alert.json", "Person.json", "Retired.json"]
    write_schemas(tmp_path)
    assert stale_files(tmp_path) == []
    assert not (tmp_path / "Retired.json").exists()


def test_stale_files_when_directory_missing(tmp_path: Path) -> None:
    assert set(stale_files(tmp_path / "nowhere")) == {f"{n}.json" for n in TOP_LEVEL_MODELS}


def test_cli_export_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["schemas", "export", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {p.stem for p in tmp_path.glob("*.json")} == set(TOP_LEVEL_MODELS)
    schema = json.loads((tmp_path / "Referral.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert str(tmp_path / "Referral.json") in result.stdout

    result = runner.invoke(app, ["schemas", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout


def test_cli_check_fails_listing_stale_files(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["schemas", "export", "--dir", str(tmp_path)])
    (tmp_path / "Enquiry.json").write_text("{}\n")
    (tmp_path / "Finding.json").unlink()
    result = runner.invoke(app, ["schemas", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "stale: Enquiry.json" in result.stdout
    assert "stale: Finding.json" in result.stdout
    assert "stale: Person.json" not in result.stdout
    assert "mashlink schemas export" in result.stderr


def test_cli_check_default_directory_is_current() -> None:
    result = CliRunner().invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
