"""Registers the ``pole`` format for ``mashlink translate pole FILE...``.

Found through the ``mashlink.formats`` entry point (pyproject.toml); one
format covers the JSON document and the CSV set, because the reader joins
both into the same person views and one spec maps them.
"""

from __future__ import annotations

from pathlib import Path

from .reader import read_pole
from ...mapping.formats import FormatRegistry, mappings_dir


def pole_spec_path() -> Path:
    return mappings_dir() / "pole.yaml"


def register(registry: FormatRegistry) -> None:
    registry.register("pole", read_pole, pole_spec_path(),
                      "POLE police export (mashlink-pole/1): a JSON document or a CSV set")
