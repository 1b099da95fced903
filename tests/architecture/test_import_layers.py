"""Imports run one way: schemas <- config, mapping, matching, broker <- connectors, hub <- ops, bench.

Why a test: a layer that imports upward cannot be reused or tested below it
(a connector importing the hub drags the hub's database into every agency's
process). The walk reads every module's import statements, lazy imports inside
functions and ``TYPE_CHECKING`` blocks included, so a new upward import fails
here instead of being found in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What each part may import from the other mashlink parts (itself is always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "config": frozenset({"schemas"}),
    "mapping": frozenset({"schemas", "config"}),
    "matching": frozenset({"schemas", "config"}),
    "broker": frozenset({"schemas", "config"}),
    "connectors": frozenset({"schemas", "config", "mapping", "matching", "broker"}),
    "hub": frozenset({"schemas", "config", "mapping", "matching", "broker"}),
    # The application layer: the command line, web pages and benchmarks drive everything below.
    "ops": frozenset({"schemas", "config", "mapping", "matching", "broker", "connectors", "hub", "bench"}),
    "bench": frozenset({"schemas", "config", "mapping", "matching", "broker", "connectors", "hub", "ops"}),
}


def _imported_parts(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "mashlink":
                names = [f"mashlink.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mashlink" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _violations(part: str) -> list[str]:
    allowed = ALLOWED[part] | {part}
    bad: list[str] = []
    for path in sorted((ROOT / part).rglob("*.py")):
        for line, target in _imported_parts(path):
            if target in ALLOWED and target not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports mashlink.{target}")
    return bad


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_no_part_imports_a_layer_above_it(part: str) -> None:
    assert (ROOT / part).is_dir(), f"{part}/ is a layer in ALLOWED but not a directory"
    assert _violations(part) == []


def test_the_walk_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function or TYPE_CHECKING block still counts."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mashlink.hub.service import HubService\n"
        "def f():\n    import mashlink.connectors.base\n    from mashlink import ops\n"
    )
    assert _imported_parts(module) == [(3, "hub"), (5, "connectors"), (6, "ops")]
