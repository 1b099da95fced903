"""Export JSON Schema for every top-level canonical model into schemas/json/.

Agencies that do not run Python build against these files, so they are
checked in and a test fails when they are stale. Regenerate with
``python -m mashlink.schemas.export`` (or ``mashlink schemas export``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import SCHEMA_VERSION
from .registry import TOP_LEVEL_MODELS

JSON_DIR = Path(__file__).resolve().parent / "json"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text for every top-level model (deterministic)."""
    rendered: dict[str, str] = {}
    for name, model in sorted(TOP_LEVEL_MODELS.items()):
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://mashlink.example/schemas/{SCHEMA_VERSION}/{name}.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["x-mashlink-schema-version"] = SCHEMA_VERSION
        rendered[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return rendered


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Names of exported files that are missing, different or no longer produced."""
    rendered = render_schemas()
    stale = [n for n, text in rendered.items() if not (directory / n).exists() or (directory / n).read_text() != text]
    if directory.exists():
        stale += [p.name for p in directory.glob("*.json") if p.name not in rendered]
    return sorted(stale)


def write_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for old in directory.glob("*.json"):
        if old.name not in rendered:
            old.unlink()
    written = []
    for name, text in rendered.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas():
        print(path)
