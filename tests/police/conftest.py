"""Fixtures for the police tests: the shipped example export and the simulated force."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from mashlink.connectors.police.export import write_csv_set, write_json
from mashlink.connectors.simulators.police_export import simulated_force_export
from mashlink.connectors.police.schema import EXAMPLES_DIR
from mashlink.connectors.simulators.population import Population, generate_population


@pytest.fixture(scope="session")
def population() -> Population:
    return generate_population(4242, as_of=date.today())


@pytest.fixture
def example_json() -> Path:
    return EXAMPLES_DIR / "pole-example.json"


@pytest.fixture
def example_doc(example_json: Path) -> dict:
    return json.loads(example_json.read_text())


@pytest.fixture
def force_files(tmp_path: Path, population: Population) -> dict[str, list[Path]]:
    export = simulated_force_export(population)
    return {"json": [write_json(export, tmp_path / "force.json")],
            "csv": write_csv_set(export, tmp_path / "csv", "zz-")}
